"""The cache key of a call: its argument tree flattened into leaves, each leaf described.

The key covers the argument tree: tensors by shape, dtype, device and ``requires_grad``
(and a non-contiguous one by its strides, one with attributes set on it by those, a
``Parameter`` or subclass by its class);
Python ``int``/``float`` by type (they become 0-d graph inputs); every other leaf
(``bool``, strings, ``None``, modules) and static arguments by value; and the modes a
trace reads (``modes()``: grad mode, the default dtype and device). Two calls with equal
keys run the same compiled variant.

>>> leaves = []
>>> flatten({"x": [1.0, "a"]}, leaves, "args")
('dict', (('x', ('list', ('*', '*'))),))
>>> leaves
[("args['x'][0]", 1.0), ("args['x'][1]", 'a')]
>>> [leaf_key(v) for _, v in leaves]
[('scalar', 'float'), ('static', 'str', 'a')]
"""

from __future__ import annotations

import numpy as np

from kiln.compiler.primitives import DTYPE_SHORT
from kiln.runtime.buffers import memory_owner

from .. import dtypes
from ..autograd.grad_mode import is_grad_enabled
from ..compat import _FLAGS
from ..device import _default as _default_device
from ..memory_format import element_strides
from ..tensor import Tensor

# Python numbers that become 0-d graph inputs: a new value does not retrace
DYNAMIC_SCALARS = (int, float)


def modes() -> tuple:
    """What a trace depends on besides its arguments: whether grad mode is on, the default
    dtype (``kiln.ones(3)`` in the function), the default device, and the global switches
    torch.compile's global-state guard holds that a function may read
    (``use_deterministic_algorithms`` with ``warn_only``, ``set_float32_matmul_precision``)."""
    return (
        is_grad_enabled(),
        dtypes._default_float,
        _default_device.get(),
        _FLAGS["deterministic"],
        _FLAGS["deterministic_warn_only"],
        _FLAGS["matmul_precision"],
    )


def restore_modes(saved) -> None:
    """Set the modes ``modes()`` returned back (a traced function changed one for good)."""
    from .. import context

    grad, dtype, device, deterministic, warn_only, precision = saved
    context.set_grad_enabled(grad)
    dtypes._default_float = dtype
    _default_device.set(device)
    _FLAGS["deterministic"], _FLAGS["deterministic_warn_only"] = deterministic, warn_only
    _FLAGS["matmul_precision"] = precision


def describe_modes(old, new) -> str:
    names = (
        "grad mode",
        "the default dtype",
        "the default device",
        "use_deterministic_algorithms",
        "use_deterministic_algorithms' warn_only",
        "the float32 matmul precision",
    )
    changes = [f"{n} changed from {a} to {b}" for n, a, b in zip(names, old, new) if a != b]
    return "; ".join(changes)


def flatten(tree, leaves: list, path: str):
    """Flatten ``tree`` into ``leaves`` [(path, value)] and return its hashable structure.

    A dict's keys are kept in their order (the function may iterate over them: ``{"a": x,
    "b": y}`` and ``{"b": y, "a": x}`` are different keys, as torch.compile's guards on dict
    keys); a named tuple is a node whose kind is its class (``d.a`` reads a field).
    """
    if isinstance(tree, (list, tuple)):
        if hasattr(tree, "_fields"):
            if type(tree).__new__ is tuple.__new__ or not hasattr(type(tree), "_make"):
                leaves.append((path, tree))  # (not a collections.namedtuple: a leaf)
                return "*"
            fields = type(tree)._fields
            kids = tuple(flatten(v, leaves, f"{path}.{f}") for f, v in zip(fields, tree))
            return (type(tree), kids)
        kids = tuple(flatten(v, leaves, f"{path}[{i}]") for i, v in enumerate(tree))
        if isinstance(tree, tuple) and type(tree) is not tuple:  # kiln.Size (x.shape)
            return (("tuple of", type(tree)), kids)
        return (type(tree).__name__, kids)
    if isinstance(tree, dict):
        return ("dict", tuple((k, flatten(v, leaves, f"{path}[{k!r}]")) for k, v in tree.items()))
    leaves.append((path, tree))
    return "*"


def unflatten(structure, leaves):
    """Rebuild the tree ``flatten`` described from an iterator over new leaf values."""
    if structure == "*":
        return next(leaves)
    kind, kids = structure
    if kind == "dict":
        return {k: unflatten(s, leaves) for k, s in kids}
    items = [unflatten(s, leaves) for s in kids]
    if isinstance(kind, type):  # a named tuple
        return kind._make(items)
    if isinstance(kind, tuple):  # another tuple subclass: kiln.Size
        return kind[1](items)
    return tuple(items) if kind == "tuple" else items


def leaf_key(value):
    """What of one leaf the cache key holds (see the module docstring)."""
    if isinstance(value, Tensor):
        data = value._data
        cpu = type(data) is np.ndarray
        # ``t.scale = 4.0``: a trace reads them as constants (``_hooks`` and other
        # ``_``-named attributes are kiln's own, not the trace's)
        attrs = value.__dict__
        return (
            "tensor",
            data.shape,
            value.dtype.name,
            # 1: requires grad; 2: and has a history (``x.is_leaf`` is False)
            (2 if value.grad_fn is not None else 1) if value._requires_grad else 0,
            "cpu" if cpu else str(value.device),
            # a non-contiguous input's strides (``x.stride()``, ``x.is_contiguous()`` in the
            # trace read them); None when contiguous
            None if not cpu or data.flags.c_contiguous else element_strides(data),
            tuple((k, hashable_static(v)) for k, v in attrs.items() if k[:1] != "_")
            if attrs
            else (),
            # a Parameter or a user's subclass (whose methods a trace cannot follow)
            None if type(value) is Tensor else type(value),
        )
    if type(value) in DYNAMIC_SCALARS:
        return ("scalar", type(value).__name__)
    if by_identity(value):
        return ("static-id", type(value).__name__, id(value))
    return ("static", type(value).__name__, value)


def by_identity(value) -> bool:
    """Whether ``value`` enters the key by its id (unhashable, or hashed by identity, such
    as a module): the key must not keep it alive, and the variant dies with it."""
    try:
        hash(value)
    except TypeError:
        return True
    return type(value).__hash__ is object.__hash__


def hashable_static(value):
    """A static argument as it enters the key: itself when hashed by value, else its id."""
    return ("id", id(value)) if by_identity(value) else value


def identity_objects(args, kwargs, leaves, static_argnums, static_argnames) -> list:
    """The objects of one call that its key holds by id (see ``by_identity``)."""
    found = [v for _, v in leaves if not isinstance(v, Tensor) and by_identity(v)]
    found += [a for i, a in enumerate(args) if i in static_argnums and by_identity(a)]
    found += [v for k, v in kwargs.items() if k in static_argnames and by_identity(v)]
    return found


_NAMES: dict = {}


def argument_names(signature, count: int) -> list[str]:
    """Names for the first ``count`` positional arguments (``args[i]`` past the named ones)."""
    cached = _NAMES.get((id(signature), count))  # hashing a Signature is slow: by id
    if cached is not None and cached[0] is signature:
        return cached[1]
    names = []
    params = list(signature.parameters.values()) if signature else []
    for i in range(count):
        if i < len(params) and params[i].kind in (
            params[i].POSITIONAL_ONLY,
            params[i].POSITIONAL_OR_KEYWORD,
        ):
            names.append(params[i].name)
        else:
            names.append(f"args[{i}]")
    _NAMES[(id(signature), count)] = (signature, names)  # stored whole: threads read it
    return names


def make_key(args, kwargs, static_argnums, static_argnames, signature):
    """``(key, leaves)`` of one call; ``leaves`` are the ``(path, value)`` of dynamic leaves."""
    if not kwargs and not static_argnums:  # the common call: positional arguments only
        names = argument_names(signature, len(args))
        leaves = []
        structure = ("args", tuple(flatten(a, leaves, names[i]) for i, a in enumerate(args)), ())
        return (structure, (), tuple(leaf_key(v) for _, v in leaves), modes()), leaves
    leaves: list = []
    static = []
    dyn_args = []
    for i, a in enumerate(args):
        if i in static_argnums:
            static.append((i, hashable_static(a)))
            dyn_args.append(None)
        else:
            dyn_args.append(a)
    dyn_kwargs = {}
    for k, v in kwargs.items():
        if k in static_argnames:
            static.append((k, hashable_static(v)))
        else:
            dyn_kwargs[k] = v
    names = argument_names(signature, len(dyn_args))
    structure = (
        "args",
        tuple(flatten(a, leaves, names[i]) for i, a in enumerate(dyn_args)),
        # in the call's order: ``**kwargs`` iterates over them in it
        tuple((k, flatten(v, leaves, k)) for k, v in dyn_kwargs.items()),
    )
    key = (
        structure,
        tuple(static),
        tuple(leaf_key(v) for _, v in leaves),
        modes(),
    )
    return key, leaves


def aliasing(leaves) -> tuple:
    """Which tensor arguments share memory (the same tensor twice, overlapping views of one
    base): ``()`` when none do, else ``(("aliasing of the tensor arguments", (i, j, ...)),)``
    naming for each tensor leaf the first leaf it overlaps. A function that updates one
    argument in place and reads another computes differently when they alias
    (torch.compile guards on it too)."""
    groups: dict = {}  # id(the array owning the memory) -> [(tensor index, array)]
    pattern = []
    shared = False
    k = 0
    for _, v in leaves:
        if not isinstance(v, Tensor):
            continue
        data = v._data
        root = memory_owner(data)
        first = k
        same = groups.get(id(root))
        if same is None:
            groups[id(root)] = [(k, data)]
        else:
            for m, other in same:
                if other is data or (
                    type(data) is np.ndarray
                    and type(other) is np.ndarray
                    and data.size
                    and other.size
                    and np.may_share_memory(data, other)
                ):
                    first = pattern[m]
                    shared = True
                    break
            same.append((k, data))
        pattern.append(first)
        k += 1
    return (("aliasing of the tensor arguments", tuple(pattern)),) if shared else ()


def substitute(args, kwargs, arg_map, static_argnums=(), static_argnames=()):
    """``args``/``kwargs`` with each dynamic leaf replaced by ``arg_map[id(leaf)]`` (a tracer)."""

    def sub(tree):
        if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
            return type(tree)(sub(v) for v in tree)
        if isinstance(tree, tuple) and hasattr(type(tree), "_make"):
            if type(tree).__new__ is not tuple.__new__:
                return type(tree)._make(sub(v) for v in tree)
        if isinstance(tree, dict):
            return {k: sub(v) for k, v in tree.items()}
        if isinstance(tree, Tensor) or type(tree) in DYNAMIC_SCALARS:
            return arg_map.get(id(tree), tree)
        return tree

    new_args = tuple(a if i in static_argnums else sub(a) for i, a in enumerate(args))
    new_kwargs = {k: v if k in static_argnames else sub(v) for k, v in kwargs.items()}
    return new_args, new_kwargs


def describe(key) -> str:
    """One leaf key as a reader says it: ``tensor f32[3], requires_grad``, ``Python int``."""
    if key[0] == "tensor":
        grad = ", requires_grad" if key[3] else ""
        grad += ", not a leaf" if key[3] == 2 else ""
        strides = "" if key[5] is None else f", strides {key[5]}"
        attrs = "".join(f", .{k}={v!r}" for k, v in key[6])
        attrs += "" if key[7] is None else f", a {key[7].__qualname__}"
        return f"tensor {DTYPE_SHORT.get(key[2], key[2])}{list(key[1])}{grad}{strides}{attrs}"
    if key[0] == "scalar":
        return f"Python {key[1]}"
    return f"{key[1]} {key[2]!r}"


def diff_keys(old, new, leaves) -> str:
    """Why ``new`` is not ``old``: the first part of the key that differs, in words."""
    if old[0] != new[0]:
        return "the structure of the arguments changed"
    if old[1] != new[1]:
        changes = [
            f"static argument {k} changed from {a!r} to {b!r}"
            for (k, a), (_, b) in zip(old[1], new[1])
            if a != b
        ]
        return "; ".join(changes) or "static arguments changed"
    changes = []
    for (path, _), a, b in zip(leaves, old[2], new[2]):
        if a != b:
            changes.append(f"argument {path!r}: {describe(a)} -> {describe(b)}")
    if old[3] != new[3]:
        changes.append(describe_modes(old[3], new[3]))
    return "; ".join(changes) or "new signature"
