"""The pass pipeline: runs named ``Graph -> Graph`` passes, verifying and recording each."""

from __future__ import annotations

from collections.abc import Callable

from ..ir import Graph
from .dce import dead_code_elimination

Pass = Callable[[Graph], Graph]

DEFAULT_PASSES: list[tuple[str, Pass]] = [
    ("dce", dead_code_elimination),
]


def optimize(graph: Graph, passes=None, verify: bool = True):
    """Run ``passes`` (default: ``DEFAULT_PASSES``) over ``graph``.

    Returns ``(optimized_graph, stages)`` where ``stages`` is a list of
    ``(pass_name, graph_after_pass)``, starting with ``("traced", graph)``.
    """
    stages = [("traced", graph)]
    for name, run in DEFAULT_PASSES if passes is None else passes:
        graph = run(graph)
        if verify:
            graph.verify()
        stages.append((name, graph))
    return graph, stages
