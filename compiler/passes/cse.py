"""Common-subexpression elimination: identical ``(op, inputs, params)`` become one node.

Two nodes are identical when they run the same primitive on the same (already merged) input
nodes with equal parameters. Constants compare by dtype, shape and bytes, so ``-0.0`` and
``0.0`` stay apart while two ``nan`` constants merge. Inputs of commutative primitives
(``add``, ``mul``, ...) are compared as a set, so ``a + b`` and ``b + a`` merge.

Graph inputs are never merged. ``uniform`` is a pure function of its seed operand, so two
draws merge only when they read the very same seed node (and then they are equal anyway).

>>> from kiln.compiler.ir import Graph
>>> g = Graph("twice")
>>> x = g.add_input((2,), "float32")
>>> y = g.add_input((2,), "float32")
>>> g.outputs = [g.add_node("mul", [g.add_node("add", [x, y]), g.add_node("add", [y, x])])]
>>> print(common_subexpression_elimination(g).format(with_source=False))
graph twice(%0: f32[2], %1: f32[2]) {
  %2: f32[2] = add %0, %1
  %3: f32[2] = mul %2, %2
  return %3
}
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..primitives import PRIMITIVES


def freeze(value):
    """A hashable key for a parameter value that is equal only for equal values.

    Arrays key on dtype, shape and bytes; floats on their bit pattern (so ``0.0`` and
    ``-0.0`` differ and ``nan`` equals ``nan``); every key records the value's type, so
    that ``1``, ``1.0`` and ``True`` (equal in Python) stay different.

    >>> freeze((1, 2.0)) == freeze((1, 2.0)), freeze(1) == freeze(1.0)
    (True, False)
    """
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, np.generic):
        return freeze(np.asarray(value))
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, freeze(v)) for k, v in value.items())))
    return (type(value).__name__, value)


def node_key(node: Node, numbers: dict[Node, int]) -> tuple:
    """What makes ``node`` interchangeable with another: op, operands, parameters."""
    operands = [numbers[i] for i in node.inputs]
    if "commutative" in PRIMITIVES[node.op].properties:
        operands.sort()
    params = tuple(sorted((name, freeze(value)) for name, value in node.params.items()))
    return (node.op, tuple(operands), params)


def common_subexpression_elimination(graph: Graph) -> Graph:
    """Return a copy of ``graph`` in which no two nodes compute the same value."""
    out = Graph(graph.name)
    replacement: dict[Node, Node] = {}
    numbers: dict[Node, int] = {}  # new node -> position, for order-independent keys
    seen: dict[tuple, Node] = {}
    for node in graph.nodes:
        inputs = [replacement[i] for i in node.inputs]
        new = Node(
            node.op, inputs, dict(node.params), node.shape, node.dtype, node.source, node.name
        )
        if node.op != "input":
            key = node_key(new, numbers)
            if key in seen:
                replacement[node] = seen[key]
                continue
            seen[key] = new
        numbers[new] = len(out.nodes)
        out.nodes.append(new)
        replacement[node] = new
    out.inputs = [replacement[n] for n in graph.inputs]
    out.outputs = [replacement[n] for n in graph.outputs]
    return out
