"""Random graphs: whatever fusion, memory planning and codegen do, the numbers match.

Hypothesis builds graphs directly with the Graph API: a few inputs whose shapes broadcast
against each other, then a random sequence of elementwise ops (unary and binary, with
broadcasting), reductions (trailing or not, keepdims or not), matmuls, reshapes,
permutes and expands, drawing operands from everything built so far (so values are shared
between several users), and a few random outputs. Each graph is compiled and run, and its
results must match the reference interpreter. Every stage must ``verify()``.

The example count is small because each new kernel costs Numba compile time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.compiler.compile import compile_graph
from kiln.compiler.interpret import interpret
from kiln.compiler.ir import Graph

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

F32 = "float32"
UNARY = ["neg", "abs", "tanh", "sin", "exp_tanh", "sqrt_abs"]
BINARY = ["add", "sub", "mul", "maximum", "minimum", "safe_div"]


def _const(g, value):
    return g.add_const(np.asarray(value, dtype=np.float32))


def _unary(g, name, x):
    if name == "exp_tanh":  # exp of a bounded value: no overflow to compare
        return g.add_node("exp", [g.add_node("tanh", [x])])
    if name == "sqrt_abs":
        return g.add_node("sqrt", [g.add_node("abs", [x])])
    return g.add_node(name, [x])


def _binary(g, name, a, b):
    if name == "safe_div":  # a / (1.5 + |b|): well conditioned
        return g.add_node("div", [a, g.add_node("add", [_const(g, 1.5), g.add_node("abs", [b])])])
    return g.add_node(name, [a, b])


def _broadcastable(a, b) -> bool:
    for x, y in zip(a[::-1], b[::-1]):
        if x != y and 1 not in (x, y):
            return False
    return True


@st.composite
def shapes(draw, ndim_max=3):
    ndim = draw(st.integers(1, ndim_max))
    return tuple(draw(st.integers(1, 5)) for _ in range(ndim))


def _variant(draw, shape):
    """A shape that broadcasts to ``shape``: some dims set to 1, maybe fewer dims."""
    drop = draw(st.integers(0, len(shape) - 1))
    kept = shape[drop:]
    return tuple(1 if draw(st.booleans()) and draw(st.booleans()) else d for d in kept)


def _step(draw, g: Graph, values: list, counter):
    choice = draw(
        st.sampled_from(["unary", "binary", "binary", "reduce", "matmul", "move", "scalar", "row"])
    )
    x = draw(st.sampled_from(values))
    if choice == "row" and x.shape:  # a reduction broadcast back: softmax-like rows
        ndim = len(x.shape)
        axes = tuple(range(draw(st.integers(0, ndim - 1)), ndim))
        op = draw(st.sampled_from(["sum", "max"]))
        reduced = g.add_node(op, [x], {"axes": axes, "keepdims": True})
        return _binary(g, draw(st.sampled_from(BINARY)), x, reduced)
    if choice == "unary":
        return _unary(g, draw(st.sampled_from(UNARY)), x)
    if choice == "scalar":
        return _binary(
            g, draw(st.sampled_from(BINARY)), x, _const(g, draw(st.sampled_from([0.5, 2.0, -1.0])))
        )
    if choice == "binary":
        partners = [v for v in values if _broadcastable(v.shape, x.shape)]
        return _binary(g, draw(st.sampled_from(BINARY)), x, draw(st.sampled_from(partners)))
    if choice == "reduce":
        if not x.shape:
            return None
        ndim = len(x.shape)
        if draw(st.booleans()):  # trailing axes: the row kernels
            start = draw(st.integers(0, ndim - 1))
            axes = tuple(range(start, ndim))
        else:
            axes = tuple(sorted(draw(st.sets(st.integers(0, ndim - 1), min_size=1))))
        op = draw(st.sampled_from(["sum", "max"]))
        return g.add_node(op, [x], {"axes": axes, "keepdims": draw(st.booleans())})
    if choice == "matmul":
        if len(x.shape) < 2:
            return None
        w = g.add_input((x.shape[-1], draw(st.integers(1, 4))), F32, name=f"w{counter}")
        return g.add_node("matmul", [x, w])
    # movement
    kind = draw(st.sampled_from(["reshape", "permute", "expand"]))
    if kind == "reshape":
        return g.add_node("reshape", [x], {"shape": (math.prod(x.shape),)})
    if kind == "permute" and len(x.shape) >= 2:
        axes = tuple(draw(st.permutations(range(len(x.shape)))))
        return g.add_node("permute", [x], {"axes": axes})
    if kind == "expand" and 1 in x.shape:
        target = tuple(3 if d == 1 else d for d in x.shape)
        return g.add_node("expand", [x], {"shape": target})
    return None


@st.composite
def random_graphs(draw):
    g = Graph("random")
    base = draw(shapes())
    values = [g.add_input(base, F32, name="x0")]
    for k in range(draw(st.integers(0, 2))):
        values.append(g.add_input(_variant(draw, base), F32, name=f"x{k + 1}"))
    for k in range(draw(st.integers(1, 8))):
        node = _step(draw, g, values, k)
        if node is not None:
            values.append(node)
    computed = [v for v in values if v.op != "input"] or values
    count = draw(st.integers(1, min(3, len(computed))))
    g.outputs = [computed[-1]] + [draw(st.sampled_from(computed)) for _ in range(count - 1)]
    return g.verify()


def _inputs(graph, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n.shape).astype(np.float32) for n in graph.inputs]


def _compare(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    finite = np.abs(want[np.isfinite(want)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale, equal_nan=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=random_graphs(), seed=st.integers(0, 3))
def test_compiled_random_graph_matches_interpreter(graph, seed):
    executable = compile_graph(graph)
    for _name, stage in executable.stages:
        stage.verify()
    arrays = _inputs(graph, seed)
    want = interpret(graph, arrays)
    got = executable.run([a.copy() for a in arrays])
    for g_value, w_value in zip(got, want):
        _compare(g_value, w_value)
    # a second call (pooled outputs, reused arena) gives the same numbers
    again = executable.run([a.copy() for a in arrays])
    for g_value, w_value in zip(again, want):
        _compare(g_value, w_value)
    for g_value, w_value in zip(got, want):  # and did not overwrite the first results
        _compare(g_value, w_value)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=random_graphs())
def test_random_graph_results_survive_later_calls(graph):
    executable = compile_graph(graph)
    first_inputs, second_inputs = _inputs(graph, 0), _inputs(graph, 1)
    first = executable.run(first_inputs)
    kept = [np.array(a) for a in first]
    executable.run(second_inputs)
    for held, copy in zip(first, kept):
        np.testing.assert_array_equal(held, copy)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(graph=random_graphs())
def test_random_graphs_with_threaded_kernels(graph, monkeypatch):
    # tiny shapes normally run the single-threaded kernels; force the threaded ones (and
    # the split-row reductions) so their index arithmetic is checked too
    import kiln.compiler.codegen.cpu as cpu

    monkeypatch.setattr(cpu, "PARALLEL_THRESHOLD", 1)
    executable = compile_graph(graph)
    arrays = _inputs(graph, 2)
    for got, want in zip(executable.run([a.copy() for a in arrays]), interpret(graph, arrays)):
        _compare(got, want)
