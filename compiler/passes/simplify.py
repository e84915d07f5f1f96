"""Algebraic simplification: rewrite nodes into cheaper nodes that compute the same values.

The rules (the numbers stand for a ``const`` node whose elements all equal that number):

===============================  ===============================
pattern                          becomes
===============================  ===============================
``x * 1``, ``1 * x``             ``x``
``x + 0``, ``0 + x``, ``x - 0``  ``x`` (see "Signed zero" below)
``x / 1``, ``x ** 1``            ``x``
``-(-x)``                        ``x``
``x * -1``, ``-1 * x``           ``-x``
``x + (-y)``, ``x - (-y)``       ``x - y``, ``x + y``
``x ** 2``, ``x ** 3``           ``x * x``, ``x * x * x``
``x ** 0.5``                     ``sqrt(x)`` (see "Pow" below)
``x ** -1``                      ``reciprocal(x)``
reshape/expand to x's shape      ``x``
``permute`` by (0, 1, ...)       ``x``
reshape of reshape               one reshape
permute of permute               one permute
expand of expand                 one expand
sum/max over no axes             ``x``
cast to x's dtype                ``x``
cast to a wider type and back    ``x`` (when the wider type holds every value)
===============================  ===============================

A rewrite applies only if the new value has exactly the shape and dtype of the old one:
``x * 1`` where the constant broadcasts ``x`` to a bigger shape keeps its ``mul``. Rules
that are wrong for nan or inf are absent: ``x * 0`` is not ``0`` (``nan * 0`` is ``nan``)
and ``x - x`` is not ``0``. Every new node keeps the ``source`` of the node it replaces.

Signed zero: ``-0.0 + 0.0`` is ``+0.0``, so ``x + 0 -> x`` turns that one result into
``-0.0`` (which compares equal to it; only a division by it tells them apart). Graph
compilers such as XLA make the same trade. ``x - 0`` and ``x * 1`` are exact for every x.

Pow: with a single-number exponent the reference interpreter's ``np.power`` itself
computes ``x ** 0.5`` as ``sqrt(x)``, ``x ** 2`` as ``x * x`` and ``x ** -1`` as ``1 / x``,
so those rewrites change no bit of it. (C's ``pow`` differs from ``sqrt`` at ``-inf`` and
``-0.0``, and so does ``np.power`` with an array of exponents, which is why the pow rules
need a one-element constant.) ``x ** 3 -> x * x * x`` rounds twice, so it may differ from
``pow`` in the last bit.

>>> from kiln.compiler.ir import Graph
>>> g = Graph("cube")
>>> x = g.add_input((3,), "float32")
>>> g.outputs = [g.add_node("pow", [x, g.add_const(np.float32(3.0))])]
>>> print(simplify(g).format(with_source=False))
graph cube(%0: f32[3]) {
  %1: f32[] = const {value=3.0}
  %2: f32[3] = mul %0, %0
  %3: f32[3] = mul %2, %0
  return %3
}
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..primitives import FLOAT_DTYPES, infer, is_accumulating_reduction


def is_constant(node: Node, number: float) -> bool:
    """Whether ``node`` is a ``const`` whose every element equals ``number`` (never nan)."""
    if node.op != "const":
        return False
    value = node.params["value"]
    return value.size > 0 and bool(np.all(value == number))


def holds_every_value(wide: str, narrow: str) -> bool:
    """Whether every value of dtype ``narrow`` converts to ``wide`` and back unchanged.

    (NumPy's ``can_cast(..., "safe")`` says yes for int64 -> float64, which rounds.)

    >>> holds_every_value("float64", "int32"), holds_every_value("float64", "int64")
    (True, False)
    """
    wide_type, narrow_type = np.dtype(wide), np.dtype(narrow)
    if narrow_type.kind == "b":
        return True
    if wide_type.kind == "f" and narrow_type.kind in "iu":
        significant_bits = np.finfo(wide_type).nmant + 1
        return significant_bits >= np.iinfo(narrow_type).bits - (narrow_type.kind == "i")
    if wide_type.kind == "f" and narrow_type.kind == "f":
        return wide_type.itemsize >= narrow_type.itemsize
    if wide_type.kind in "iu" and narrow_type.kind in "iu":
        return bool(np.can_cast(narrow_type, wide_type, "safe"))
    return False


class _Builder:
    """Appends nodes to the graph being built; the rules call ``emit`` to make new ones."""

    def __init__(self, graph: Graph, source):
        self.graph = graph
        self.source = source

    def emit(self, op, inputs, params=None) -> Node:
        return self.graph.add_node(op, list(inputs), params or {}, self.source)


# A rule looks at one node (its operands already simplified) and returns an existing node
# that replaces it, a new (op, inputs, params) to simplify further, or None. Rules name the
# ops they rewrite: each is a pattern over those ops' parameters (``x + 0``, the axes of
# ``permute(permute(x))``), not a property shared by a family of primitives.


def _arithmetic_identity(node: Node, build: _Builder):
    op, inputs = node.op, node.inputs
    if op in ("add", "sub", "mul", "div", "pow"):
        left, right = inputs
        identity = {"add": 0, "sub": 0, "mul": 1, "div": 1, "pow": 1}[op]
        if is_constant(right, identity):
            return left
        if op in ("add", "mul") and is_constant(left, identity):
            return right
    if op == "neg" and inputs[0].op == "neg":
        return inputs[0].inputs[0]
    if op == "mul":  # x * -1 is exactly -x (nan stays nan, zeros flip sign as they should)
        left, right = inputs
        if is_constant(right, -1):
            return ("neg", [left], {})
        if is_constant(left, -1):
            return ("neg", [right], {})
    if op in ("add", "sub") and inputs[1].op == "neg":  # IEEE: a + (-b) is exactly a - b
        return ("sub" if op == "add" else "add", [inputs[0], inputs[1].inputs[0]], {})
    return None


def _power(node: Node, build: _Builder):
    if node.op != "pow":
        return None
    base, exponent = node.inputs
    # Only a single-number exponent, as in ``x ** 2``: NumPy's power computes exactly these
    # shortcuts then, but a real pow for a whole array of exponents.
    if exponent.op != "const" or exponent.params["value"].size != 1:
        return None
    if node.shape != base.shape:  # the exponent broadcasts: the rewrites below would not
        return None
    if is_constant(exponent, 2):
        return ("mul", [base, base], {})
    if is_constant(exponent, 3):
        return ("mul", [build.emit("mul", [base, base]), base], {})
    if base.dtype in FLOAT_DTYPES:
        if is_constant(exponent, 0.5):
            return ("sqrt", [base], {})
        if is_constant(exponent, -1):
            return ("reciprocal", [base], {})
    return None


def _empty_reduction(node: Node, build: _Builder):
    if is_accumulating_reduction(node) and not node.params["axes"]:
        return node.inputs[0]
    return None


def _movement_and_cast(node: Node, build: _Builder):
    op = node.op
    source = node.inputs[0] if node.inputs else None
    if op in ("reshape", "expand") and node.shape == source.shape:
        return source
    if op in ("reshape", "expand") and source.op == op:  # broadcasting is transitive too
        return (op, [source.inputs[0]], {"shape": node.params["shape"]})
    if op == "permute":
        axes = tuple(node.params["axes"])
        if axes == tuple(range(len(axes))):
            return source
        if source.op == "permute":
            inner = tuple(source.params["axes"])
            return ("permute", [source.inputs[0]], {"axes": tuple(inner[a] for a in axes)})
    if op == "cast" and node.params["dtype"] == source.dtype:
        return source
    if op == "cast" and source.op == "cast":
        original = source.inputs[0]
        wider = source.params["dtype"]
        if node.params["dtype"] == original.dtype and holds_every_value(wider, original.dtype):
            return original
    return None


RULES = [_arithmetic_identity, _power, _empty_reduction, _movement_and_cast]


def _simplify_node(node: Node, build: _Builder) -> Node:
    """Apply ``RULES`` to ``node`` (not yet in the graph) until none applies."""
    for _ in range(16):  # each rewrite removes or shrinks a node, so this bound is slack
        for rule in RULES:
            result = rule(node, build)
            if result is None:
                continue
            if isinstance(result, Node):
                if result.shape == node.shape and result.dtype == node.dtype:
                    return result
                continue
            op, inputs, params = result
            shape, dtype = infer(op, [i.shape for i in inputs], [i.dtype for i in inputs], params)
            if tuple(shape) == node.shape and dtype == node.dtype:
                node = Node(op, inputs, params, shape, dtype, node.source)
                break
        else:
            break
    build.graph.nodes.append(node)
    return node


def simplify(graph: Graph) -> Graph:
    """Return a simplified copy of ``graph`` (dead nodes are left for DCE to remove)."""
    out = Graph(graph.name)
    replacement: dict[Node, Node] = {}
    for node in graph.nodes:
        inputs = [replacement[i] for i in node.inputs]
        new = Node(
            node.op, inputs, dict(node.params), node.shape, node.dtype, node.source, node.name
        )
        if node.op == "input":
            out.nodes.append(new)
        else:
            new = _simplify_node(new, _Builder(out, node.source))
        replacement[node] = new
    out.inputs = [replacement[n] for n in graph.inputs]
    out.outputs = [replacement[n] for n in graph.outputs]
    return out
