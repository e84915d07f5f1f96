"""The reference interpreter: runs any graph node by node with the op table's NumPy code.

It is the oracle the compiled executables are tested against. Values are freed after
their last use; an error names the failing node's IR line.

>>> from kiln.compiler.ir import Graph
>>> g = Graph(); x = g.add_input((2,), "float32"); g.outputs = [g.add_node("exp", [x])]
>>> interpret(g, [np.zeros(2, np.float32)])
[array([1., 1.], dtype=float32)]
"""

from __future__ import annotations

from time import perf_counter

import numpy as np

from .errors import ShapeError
from .ir import Graph, Node
from .primitives import PRIMITIVES


def last_uses(graph: Graph) -> dict[Node, list[Node]]:
    """For each node, the values whose last use it is (outputs are never freed)."""
    last: dict[Node, Node] = {}
    for n in graph.nodes:
        for i in n.inputs:
            last[i] = n
    keep = set(graph.outputs)
    frees: dict[Node, list[Node]] = {}
    for value, user in last.items():
        if value not in keep:
            frees.setdefault(user, []).append(value)
    return frees


def interpret(graph: Graph, args, clock: list | None = None) -> list[np.ndarray]:
    """Run ``graph`` on NumPy arrays ``args`` (one per graph input). ``clock``: a list
    that receives ``perf_counter()`` before the first node and after each node run (for
    profilers: ``Executable.run``)."""
    if len(args) != len(graph.inputs):
        raise TypeError(
            f"interpret: graph {graph.name} takes {len(graph.inputs)} inputs, got {len(args)}"
        )
    env: dict[Node, np.ndarray] = {}
    for node, value in zip(graph.inputs, args):
        value = np.asarray(value)
        if value.shape != node.shape or value.dtype.name != node.dtype:
            raise ShapeError(
                f"interpret: input {node.name or ''} expects {node.type_str}, got "
                f"{value.dtype.name}{list(value.shape)}"
            )
        env[node] = value
    frees = last_uses(graph)
    if clock is not None:
        clock.append(perf_counter())
    for node in graph.nodes:
        if node.op == "input":
            continue
        try:
            out = PRIMITIVES[node.op].impl(*(env[i] for i in node.inputs), **node.params)
        except Exception as exc:
            raise type(exc)(f"{exc}\n  while running: {graph.node_line(node)}") from exc
        out = np.asarray(out)
        if out.dtype.name != node.dtype:
            out = out.astype(node.dtype)
        env[node] = out
        for dead in frees.get(node, ()):
            del env[dead]
        if clock is not None:
            clock.append(perf_counter())
    return [env[n] for n in graph.outputs]
