"""From a traced graph to something that runs: passes, then an executable.

``compile_graph(graph)`` is the one entry point the frontend's ``jit`` uses. The executable
it returns is called with one NumPy array per graph input and returns one array per output.
"""

from __future__ import annotations

import numpy as np

from .interpret import interpret
from .ir import Graph
from .passes.pipeline import optimize


class Executable:
    """A compiled graph. ``run(arrays) -> arrays``; ``stages``/``kernels`` for inspection."""

    def __init__(self, traced: Graph, optimized: Graph, stages, kernels=(), device="cpu"):
        self.traced = traced
        self.optimized = optimized
        self.stages = stages
        self.kernels = list(kernels)
        self.device = device

    def run(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return interpret(self.optimized, args)


def compile_graph(graph: Graph, device: str = "cpu") -> Executable:
    optimized, stages = optimize(graph)
    return Executable(graph, optimized, stages, device=device)
