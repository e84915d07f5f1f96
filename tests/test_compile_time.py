"""Compile time linear in graph size (issue 17): long unrolled chains are split into
kernels of bounded size (``fuse.MAX_KERNEL_WEIGHT``), and the passes do not recurse or
go quadratic over the graph. (Timings of the long cases: ``bench/compile_time.py``.)"""

from __future__ import annotations

import sys
import time

import numpy as np

import kiln
from kiln.compiler.passes import fuse as fuse_module
from kiln.compiler.passes.fuse import MAX_KERNEL_WEIGHT, fuse, node_weight
from kiln.compiler.passes.pipeline import optimize
from kiln.jit.function import trace


def _chain(steps):
    def chain(h, x):
        for _ in range(steps):
            h = kiln.abs(h * 0.5 + x) - 0.25
        return h

    return chain


def test_long_elementwise_chain_compiles_and_matches_eager():
    """1,000 steps (4,000 nodes) under a recursion limit far below the chain length: no
    step may recurse per node, and the value must match eager execution."""
    h = kiln.from_numpy(np.linspace(-1, 1, 48, dtype=np.float32).reshape(6, 8))
    x = kiln.from_numpy(np.linspace(0.5, -0.5, 48, dtype=np.float32).reshape(6, 8))
    chain = _chain(1000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(600)
    try:
        start = time.perf_counter()
        result = kiln.jit(chain)(h, x)
        seconds = time.perf_counter() - start
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(result.numpy(), chain(h, x).numpy(), rtol=1e-5, atol=1e-6)
    assert seconds < 60  # (a few seconds with a warm kernel cache; cold, a few kernels)


def test_fused_groups_are_bounded_and_repeat():
    graph, _ = optimize(trace(_chain(200), kiln.zeros(4, 4), kiln.zeros(4, 4)))
    fused = fuse(graph, columns=True)
    weights = [sum(node_weight(n) for n in g.nodes) for g in fused.groups]
    assert max(weights) <= MAX_KERNEL_WEIGHT
    assert len(fused.groups) <= 2 * 800 // MAX_KERNEL_WEIGHT + 2  # not one kernel per node


def test_fusion_work_grows_linearly(monkeypatch):
    """Count the nodes every merge looks at (sorted into group order): linear in the
    chain's length, where unbounded groups made it quadratic."""
    seen = []
    real = fuse_module._in_order

    def counting(order, nodes):
        nodes = real(order, nodes)
        seen.append(len(nodes))
        return nodes

    monkeypatch.setattr(fuse_module, "_in_order", counting)

    def work(steps):
        graph, _ = optimize(trace(_chain(steps), kiln.zeros(4, 4), kiln.zeros(4, 4)))
        seen.clear()
        fuse(graph, columns=True)
        return sum(seen)

    small, large = work(60), work(480)
    assert large < 8 * small * 1.5  # 8x the nodes: linear 8x, quadratic 64x
