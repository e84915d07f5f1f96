"""Constant folding: a node whose operands are all ``const`` nodes becomes a ``const``.

The value is computed with the op table's NumPy implementation, the same code the reference
interpreter runs, so folding never changes a result. Three things stay unfolded:

* ``random`` primitives (``uniform``): random draws belong to run time (and to the seed
  the caller passes);
* results larger than ``MAX_FOLDED_ELEMENTS`` that are also larger than every operand, so
  that ``expand`` of a scalar to a big shape stays a cheap broadcast instead of becoming a
  megabyte constant baked into the graph;
* nodes whose implementation raises (an out-of-range ``take``, an integer to a negative
  power): the error is left for run time, where it names the user's line.

>>> from kiln.compiler.ir import Graph
>>> g = Graph("three")
>>> two = g.add_const(np.float32(2.0))
>>> g.outputs = [g.add_node("add", [two, g.add_const(np.float32(1.0))])]
>>> print(fold_constants(g).format(with_source=False))
graph three() {
  %0: f32[] = const {value=2.0}
  %1: f32[] = const {value=1.0}
  %2: f32[] = const {value=3.0}
  return %2
}
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Node
from ..primitives import PRIMITIVES, has_property

MAX_FOLDED_ELEMENTS = 1 << 16


def should_fold(node: Node) -> bool:
    """Whether ``node`` (operands already known to be constants) is worth folding."""
    if node.op in ("input", "const") or has_property(node, "random") or not node.inputs:
        return False
    size = math.prod(node.shape)
    largest_operand = max(math.prod(i.shape) for i in node.inputs)
    return size <= MAX_FOLDED_ELEMENTS or size <= largest_operand


def evaluate(node: Node) -> np.ndarray | None:
    """The value of ``node`` from its constant operands, or ``None`` if computing it fails."""
    operands = [i.params["value"] for i in node.inputs]
    try:
        with np.errstate(all="ignore"):
            value = PRIMITIVES[node.op].impl(*operands, **node.params)
    except Exception:  # left for run time, where the error names the user's line
        return None
    # A fresh, writable, contiguous array of exactly the node's type (broadcast_to and
    # reshape give views of the operands).
    value = np.array(value, dtype=node.dtype, copy=True, order="C")
    if value.shape != node.shape:
        return None
    return value


def fold_constants(graph: Graph) -> Graph:
    """Return a copy of ``graph`` with every foldable all-constant node replaced by a const."""
    out = graph.copy()
    for node in out.nodes:
        if not all(i.op == "const" for i in node.inputs) or not should_fold(node):
            continue
        value = evaluate(node)
        if value is None:
            continue
        # Rewrite the copied node in place: its users keep pointing at it.
        node.op = "const"
        node.inputs = ()
        node.params = {"value": value}
    return out
