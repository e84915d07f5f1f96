"""Nested tuples, lists and dicts of tensors ("pytrees"), flattened to a list of leaves.

The transforms take and return such structures (``vmap``'s ``in_dims`` mirror the
arguments, ``jacrev`` of a function returning a tuple returns a tuple).

>>> leaves, spec = flatten((1, [2, {"a": 3}]))
>>> leaves, unflatten(spec, [4, 5, 6])
([1, 2, 3], (4, [5, {'a': 6}]))
"""

from __future__ import annotations

_LEAF = "*"


def flatten(tree, is_leaf=None):
    """``(leaves, spec)``; ``spec`` is hashable and compares equal for equal structures."""
    leaves: list = []
    spec = _flatten(tree, leaves, is_leaf)
    return leaves, spec


def _flatten(tree, leaves, is_leaf):
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return _LEAF
    if isinstance(tree, (tuple, list)):
        kind = "tuple" if isinstance(tree, tuple) else "list"
        return (kind, tuple(_flatten(x, leaves, is_leaf) for x in tree))
    if isinstance(tree, dict):
        keys = tuple(tree)
        return ("dict", keys, tuple(_flatten(tree[k], leaves, is_leaf) for k in keys))
    leaves.append(tree)
    return _LEAF


def unflatten(spec, leaves):
    """The structure ``spec`` with ``leaves`` in order."""
    it = iter(leaves)
    return _build(spec, it)


def _build(spec, it):
    if spec == _LEAF:
        return next(it)
    if spec[0] == "dict":
        return {k: _build(s, it) for k, s in zip(spec[1], spec[2])}
    items = [_build(s, it) for s in spec[1]]
    return tuple(items) if spec[0] == "tuple" else items
