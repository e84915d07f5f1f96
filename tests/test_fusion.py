"""Fusion: which nodes share a kernel, and that every partition is legal.

Kernel counts for the patterns fusion exists for (an elementwise chain, softmax,
layernorm, ``relu(x @ w + b)``), what must *not* fuse (a merge that would create a cycle,
a value that leaves the group with a smaller shape), and that the fused graph and the
memory-plan stage still ``verify()``.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from test_codegen_cpu import (
    F32,
    build,
    check_against_interpreter,
    const,
    layernorm,
    normal,
    softmax,
)

from kiln.compiler.compile import compile_graph
from kiln.compiler.passes.fuse import fuse, group_graph
from kiln.compiler.passes.pipeline import optimize


def kinds(graph):
    return [group.kind for group in fuse(optimize(graph)[0]).groups]


def gelu(g, x):
    cube = g.add_node("mul", [g.add_node("mul", [x, x]), x])
    inner = g.add_node(
        "mul",
        [
            g.add_node("add", [x, g.add_node("mul", [cube, const(g, 0.044715)])]),
            const(g, 0.7978845608),
        ],
    )
    half = g.add_node("mul", [x, const(g, 0.5)])
    return g.add_node(
        "mul", [half, g.add_node("add", [const(g, 1.0), g.add_node("tanh", [inner])])]
    )


def test_elementwise_chain_is_exactly_one_kernel():
    def seed(g, a, b):
        two = const(g, 2.0)
        total = g.add_node("add", [g.add_node("pow", [a, two]), g.add_node("pow", [b, two])])
        return g.add_node("pow", [total, const(g, 0.5)])

    graph = build(seed, ((100,), F32), ((100,), F32))
    assert kinds(graph) == ["loop"]
    executable = check_against_interpreter(graph, normal((100,), (100,)))
    assert len(executable.kernels) == 1


def test_gelu_with_broadcast_bias_is_one_kernel():
    graph = build(lambda g, x, b: gelu(g, g.add_node("add", [x, b])), ((8, 16), F32), ((16,), F32))
    executable = check_against_interpreter(graph, normal((8, 16), (16,)), rtol=1e-5)
    assert len(executable.kernels) == 1


def test_softmax_is_one_row_kernel():
    graph = build(softmax, ((32, 64), F32))
    assert kinds(graph) == ["row"]
    group = fuse(graph).groups[0]
    assert (group.rows, group.row_length) == (32, 64)


def test_layernorm_is_one_row_kernel():
    assert kinds(build(layernorm, ((8, 32), F32), ((32,), F32), ((32,), F32))) == ["row"]


def test_prologue_fuses_into_a_reduction():
    graph = build(
        lambda g, x, y: g.add_node(
            "sum", [g.add_node("mul", [x, y])], {"axes": (0, 1), "keepdims": False}
        ),
        ((4, 5), F32),
        ((4, 5), F32),
    )
    assert kinds(graph) == ["row"]


def test_matmul_bias_relu_is_matmul_plus_one_epilogue():
    def make(g, x, w, b):
        return g.add_node(
            "maximum", [g.add_node("add", [g.add_node("matmul", [x, w]), b]), const(g, 0.0)]
        )

    graph = build(make, ((8, 5), F32), ((5, 3), F32), ((3,), F32))
    fused = fuse(graph)
    assert [g.kind for g in fused.groups] == ["matmul"]
    assert [n.op for n in fused.groups[0].nodes] == ["matmul", "add", "maximum"]
    assert len(compile_graph(graph).kernels) == 1


def test_work_before_a_matmul_is_not_its_epilogue():
    def make(g, x, w):
        return g.add_node("exp", [g.add_node("matmul", [g.add_node("neg", [x]), w])])

    graph = build(make, ((4, 4), F32), ((4, 4), F32))
    assert kinds(graph) == ["loop", "matmul"]
    check_against_interpreter(graph, normal((4, 4), (4, 4)), rtol=1e-5)


def test_merge_that_would_create_a_cycle_is_refused():
    # a -> (sum over axis 0: NumPy) -> c, and a -> c directly: a and c may not share a
    # group, since the NumPy reduction must run between them.
    def make(g, x):
        a = g.add_node("exp", [x])
        b = g.add_node("sum", [a], {"axes": (0,), "keepdims": True})
        return g.add_node("add", [a, b])

    graph = build(make, ((6, 4), F32))
    fused = fuse(graph)
    assert [g.kind for g in fused.groups] == ["loop", "library", "loop"]
    check_against_interpreter(graph, normal((6, 4)))


def test_smaller_value_that_leaves_the_group_is_not_recomputed_in_a_bigger_loop():
    def make(g, x, b):
        scaled = g.add_node("exp", [b])  # f32[4], used by the big loop and returned
        return g.add_node("mul", [x, scaled]), scaled

    graph = build(make, ((3, 4), F32), ((4,), F32))
    fused = fuse(graph)
    assert [tuple(g.shape) for g in fused.groups] == [(4,), (3, 4)]
    check_against_interpreter(graph, normal((3, 4), (4,)))


def test_small_producer_used_only_inside_is_recomputed():
    graph = build(
        lambda g, x, b: g.add_node("mul", [x, g.add_node("exp", [b])]), ((3, 4), F32), ((4,), F32)
    )
    assert kinds(graph) == ["loop"]


def test_non_trailing_reductions_and_movement_run_in_numpy():
    def make(g, x):
        t = g.add_node("permute", [x], {"axes": (1, 0)})
        return g.add_node("sum", [t], {"axes": (0,), "keepdims": False})

    graph = build(make, ((3, 5), F32))
    assert kinds(graph) == ["library", "library"]
    check_against_interpreter(graph, normal((3, 5)))


@pytest.mark.parametrize(
    "make,types",
    [
        (softmax, [((4, 6), F32)]),
        (layernorm, [((4, 6), F32), ((6,), F32), ((6,), F32)]),
        (lambda g, x, w: gelu(g, g.add_node("matmul", [x, w])), [((3, 4), F32), ((4, 5), F32)]),
    ],
)
def test_every_stage_verifies_and_the_group_graph_is_acyclic(make, types):
    graph = build(make, *types)
    executable = compile_graph(graph)
    for _name, stage in executable.stages:
        stage.verify()
    fused = dict(executable.stages)["fuse"]
    assert nx.is_directed_acyclic_graph(group_graph(fused))
    order = {n: k for k, n in enumerate(fused.nodes)}
    for node in fused.nodes:  # group order is a topological order of the nodes
        assert all(order[i] < order[node] for i in node.inputs)


def test_fused_graph_prints_its_groups():
    text = str(fuse(build(softmax, ((4, 6), F32))))
    assert "group 0: row kernel: 4 rows of 6 {" in text
    assert text.count("}") >= 2


def test_memory_stage_shows_where_values_live():
    graph = build(
        lambda g, x, w: g.add_node("exp", [g.add_node("matmul", [x, w])]),
        ((4, 4), F32),
        ((4, 4), F32),
    )
    memory = dict(compile_graph(graph).stages)["memory"]
    text = str(memory)
    assert "pool" in text and "arena:" in text


def test_float16_is_left_to_numpy():
    graph = build(lambda g, x: g.add_node("exp", [x]), ((5,), "float16"))
    assert kinds(graph) == ["library"]
    check_against_interpreter(graph, [np.linspace(-1, 1, 5).astype(np.float16)], rtol=1e-3)


def test_fused_graph_dot_draws_one_cluster_per_group():
    fused = fuse(
        build(
            lambda g, x, w: g.add_node("exp", [g.add_node("matmul", [g.add_node("neg", [x]), w])]),
            ((4, 4), F32),
            ((4, 4), F32),
        )
    )
    dot = fused.to_dot()
    assert dot.count("subgraph cluster_") == len(fused.groups) == 2
    assert dot.rstrip().endswith("}") and "matmul (BLAS) + epilogue kernel" in dot


def test_fused_graph_copy_has_its_own_nodes():
    fused = fuse(build(softmax, ((4, 6), F32)))
    copied = fused.copy().verify()
    assert str(copied) == str(fused)
    assert not set(copied.nodes) & set(fused.nodes)
    assert set(copied.groups[0].nodes) <= set(copied.nodes)


def test_transposed_matmul_results_are_computed_directly():
    # the weight gradient of a (out, in) Linear: (x^T @ g)^T, then an SGD update
    def make(g, x, grad, w):
        gw = g.add_node(
            "permute",
            [g.add_node("matmul", [g.add_node("permute", [x], {"axes": (1, 0)}), grad])],
            {"axes": (1, 0)},
        )
        return g.add_node("sub", [w, g.add_node("mul", [gw, const(g, 0.1)])])

    graph = build(make, ((8, 6), F32), ((8, 5), F32), ((5, 6), F32))
    executable = check_against_interpreter(graph, normal((8, 6), (8, 5), (5, 6)), rtol=1e-5)
    assert [name for name, _ in executable.stages][-3:] == ["layout", "fuse", "memory"]
    fused = dict(executable.stages)["fuse"]
    assert [g.kind for g in fused.groups] == ["library", "matmul"]  # g^T view; matmul+update
    assert len(executable.kernels) == 1


def test_a_transposed_matmul_of_a_transposed_matmul():
    # permute -> matmul -> permute -> matmul -> permute: both products are rewritten, and
    # the second reads the first's rewritten result (it raised KeyError: the first matmul
    # was looked up after the pass had dropped it)
    def make(g, x, w, v):
        inner = g.add_node("permute", [g.add_node("matmul", [x, w])], {"axes": (1, 0)})
        return g.add_node("permute", [g.add_node("matmul", [inner, v])], {"axes": (1, 0)})

    graph = build(make, ((4, 6), F32), ((6, 5), F32), ((4, 3), F32))
    check_against_interpreter(graph, normal((4, 6), (6, 5), (4, 3)), rtol=1e-5)


def test_sibling_reductions_share_one_column_group():
    def make(g, grad, xhat):
        dgamma = g.add_node(
            "sum", [g.add_node("mul", [grad, xhat])], {"axes": (0,), "keepdims": False}
        )
        return dgamma, g.add_node("sum", [grad], {"axes": (0,), "keepdims": False})

    graph = build(make, ((8, 4), F32), ((8, 4), F32))
    assert [g.kind for g in fuse(graph, columns=True).groups] == ["column"]
    assert [g.kind for g in fuse(graph).groups] == ["loop", "library", "library"]


def test_independent_siblings_merge_but_dependent_ones_do_not():
    def make(g, x):
        a = g.add_node("exp", [x])
        b = g.add_node("sin", [x])  # shares x with a: merges
        c = g.add_node("sum", [a], {"axes": (0,), "keepdims": True})  # NumPy (columns off)
        d = g.add_node("mul", [x, c])  # depends on a through c: must stay apart from a
        return a, b, d

    fused = fuse(build(make, ((5, 3), F32)))
    assert [sorted(n.op for n in g.nodes) for g in fused.groups] == [
        ["exp", "sin"],
        ["sum"],
        ["mul"],
    ]


def test_softmax_and_log_softmax_of_the_same_logits_share_a_kernel_and_are_right():
    # one row kernel with two outputs: x - max lives in the log_softmax output row, and
    # exp(x - max) in the softmax row, each until its own output overwrites it (a row kept
    # in an output that does not read it back was overwritten before its last use)
    import kiln
    import kiln.nn.functional as F

    kiln.manual_seed(0)
    z = kiln.randn(4, 10)
    both = kiln.jit(lambda z: (F.softmax(z, -1), F.log_softmax(z, -1)))
    soft, log_soft = both(z)
    np.testing.assert_allclose(soft.numpy(), F.softmax(z, -1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_soft.numpy(), F.log_softmax(z, -1).numpy(), rtol=1e-5, atol=1e-6)
    assert len(both.inspect(z).kernels) == 1
