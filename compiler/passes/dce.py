"""Dead-code elimination: drop nodes no output depends on (graph inputs always stay)."""

from __future__ import annotations

from ..ir import Graph


def dead_code_elimination(graph: Graph) -> Graph:
    live = set(graph.outputs)
    for node in reversed(graph.nodes):
        if node in live:
            live.update(node.inputs)
    out = graph.copy()
    keep = {n for n, m in zip(graph.nodes, out.nodes) if n in live or n.op == "input"}
    out.nodes = [m for n, m in zip(graph.nodes, out.nodes) if n in keep]
    return out
