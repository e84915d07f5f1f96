"""One compile per dynamic dimension: a new size reuses the fused graphs (kiln.compiler.specialize).

Once a dimension of a jitted function is dynamic (tests/test_auto_dynamic.py), each new
size is *specialized*: the passes and fusion ran once, at three sizes whose fused graphs
were fitted, and only the memory plan, the lowering and the run function are made at the
new size (``family.compiles["shared"]``). The three sizes are the template's (the trace
that made the dimension dynamic) and the first two specializations, which compile in full
(``family.compiles["full"]``); so does a size at which a size-dependent choice of the
passes could go the other way, until three such sizes fit a new range. Every test
compares with eager kiln.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from kiln.compiler import specialize
from kiln.compiler.codegen import cpu, native, schedule
from kiln.compiler.passes import fold
from kiln.jit import auto_dynamic, config


def _family(f):
    (family,) = f._families
    return family


def _code(executable) -> tuple:
    """The kernels' code (their docstrings list the fused IR, with its sizes) and the
    native back end's symbols."""
    return tuple(native._code(k) for k in executable.kernels), tuple(
        None if k is None else k.symbol for k in executable.native_kernels
    )


def _close(got, want):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def _mlp(seed=0):
    kiln.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 4))


def test_every_specialized_size_of_a_forward_equals_eager_and_shares_its_kernels():
    model = _mlp()
    f = kiln.jit(model)
    with kiln.no_grad():
        for size in (5, 6, *range(7, 30, 3), 64):
            x = kiln.randn(size, 6)
            _close(f(x), model(x))
        family = _family(f)
        assert family.compiles == {"shared": 7, "full": 2}  # 7 and 10 in full
        assert len(family.shared) == 1 and family.shared[0].sizes == (6, 7, 10)
        sources = {_code(c.executable)[0] for c in family.variants.values()}
        assert len(sources) == 1  # the same kernels at every size, fitted or not
        assert len(next(iter(sources))) > 0
        # each compiled once per pipeline: a kernel over at most native.QUICK_WORK elements
        # is compiled by the quick pipeline (another symbol), a larger one by the full one
        variants = list(family.variants.values())
        for position in range(len(variants[0].executable.native_kernels)):
            symbols = {c.executable.native_kernels[position].symbol for c in variants}
            assert 1 <= len(symbols) <= 2


def test_a_training_step_with_dropout_specializes_without_recompiling():
    def setup():
        kiln.manual_seed(0)
        model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4))
        opt = kiln.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, step

    eager_model, eager = setup()
    jit_model, step = setup()
    jitted = kiln.jit(step)
    rng = np.random.default_rng(3)
    kiln.manual_seed(7)
    for size in (16, 11, 9, 13, 7, 20, 2, 31):
        x = kiln.tensor(rng.standard_normal((size, 12)).astype(np.float32))
        y = kiln.tensor(rng.integers(0, 4, size))
        before = kiln.get_rng_state()
        a = eager(x, y).item()
        after = kiln.get_rng_state()
        kiln.set_rng_state(before)
        b = jitted(x, y).item()
        np.testing.assert_array_equal(kiln.get_rng_state().numpy(), after.numpy())
        assert abs(a - b) < 1e-5
        for p, q in zip(eager_model.parameters(), jit_model.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    family = _family(jitted)
    assert jitted.trace_count == 2
    assert family.compiles == {"shared": 4, "full": 2}  # 9, 13 in full; 7, 20, 2, 31


def test_a_mean_over_the_batch_and_a_reshape_holding_it():
    conv = nn.Conv2d(2, 3, 3)

    def fn(x):
        h = conv(x).relu()
        flat = h.reshape(h.shape[0], -1)  # the batch is in the reshape's target
        return flat.mean(0), (flat - flat.mean()).pow(2).sum(1)

    f = kiln.jit(fn)
    with kiln.no_grad():
        for size in (4, 3, 2, 6, 5, 11, 17):
            x = kiln.randn(size, 2, 6, 6)
            for got, want in zip(f(x), fn(x)):
                _close(got, want)
    family = _family(f)
    assert family.compiles == {"shared": 3, "full": 2}  # 2, 6 in full; 5, 11, 17


def test_gradients_through_a_shared_specialization():
    model = _mlp(1)
    f = kiln.jit(lambda x: (model(x) ** 2).mean())
    for size in (3, 4, 5, 7, 2, 12):
        x = kiln.randn(size, 6, requires_grad=True)
        xe = x.detach().clone().requires_grad_(True)
        model.zero_grad()
        f(x).backward()
        got = [p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy()]
        model.zero_grad()
        (model(xe) ** 2).mean().backward()
        want = [p.grad.numpy() for p in model.parameters()] + [xe.grad.numpy()]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    family = _family(f)
    assert family.compiles == {"shared": 2, "full": 2}  # 5, 7 in full; 2, 12
    assert family.template.backward is not None
    kernels = {_code(c.backward.executable) for c in family.variants.values()}
    assert len(kernels) == 1  # the backward's kernels are shared too


def _stream(f, fn, sizes):
    with kiln.no_grad():
        for size in sizes:
            x = kiln.randn(size, 4)
            _close(f(x), fn(x))


def test_a_size_across_the_folding_threshold_compiles_in_full(monkeypatch):
    # the passes fold results of at most MAX_FOLDED_ELEMENTS: lowered to 40, the values
    # of 4 * size elements cross it between 10 and 11
    monkeypatch.setattr(fold, "MAX_FOLDED_ELEMENTS", 40)
    w = kiln.randn(4)

    def fn(x):
        return (x * w).exp().sum(1) + x.mean(0).sum()

    f = kiln.jit(fn)
    _stream(f, fn, (5, 6, 7, 8))
    family = _family(f)
    assert family.compiles == {"shared": 0, "full": 2} and len(family.shared) == 1
    (first,) = family.shared
    assert first.covers(9) and not first.covers(10) and not first.covers(12)
    _stream(f, fn, (9, 12, 20, 13, 30, 10))
    # 9 fitted; 12, 20 and 13 past the threshold in full (then fitted), 30 fitted; 10, at
    # the threshold, in full
    assert family.compiles == {"shared": 2, "full": 6}
    assert len(family.shared) == 2 and family.shared[1].sizes == (12, 20, 13)
    second = family.shared[1]
    assert second.covers(39) and not second.covers(9) and not second.covers(40)
    assert not second.covers(41)  # the mean's value of size elements passes 40 there


def test_lowering_decides_threads_at_each_size(monkeypatch):
    # the kernels' threads are lowering's choice, made again at each size: sizes on both
    # sides of PARALLEL_THRESHOLD share one fit and stay right
    monkeypatch.setattr(cpu, "PARALLEL_THRESHOLD", 64)
    monkeypatch.setattr(schedule, "PARALLEL_THRESHOLD", 64)
    w = kiln.randn(4)

    def fn(x):
        return ((x * w).exp() + 1).log().sum(1)

    f = kiln.jit(fn)
    _stream(f, fn, (5, 6, 7, 9, 40, 200, 3))
    family = _family(f)
    assert family.compiles == {"shared": 3, "full": 2} and len(family.shared) == 1
    entries = {
        size: [call.function for call in c.executable.program.schedule.calls]
        for size, c in family.variants.items()
    }
    assert entries[3] != entries[200]  # serial at 3 rows, threaded at 200 (both fitted)


def test_fused_graphs_that_do_not_fit_compile_each_size_in_full(monkeypatch):
    # (as a fused graph holding a constant that follows the size would)
    def with_a_scale(fused):
        return {**specialize.fused_json(fused), "scale": 1 / fused.inputs[0].shape[0]}

    monkeypatch.setattr(auto_dynamic, "fused_json", with_a_scale)
    model = _mlp(2)
    f = kiln.jit(model)
    with kiln.no_grad():
        for size in (5, 6, 7, 8, 9, 10):
            x = kiln.randn(size, 6)
            _close(f(x), model(x))
    family = _family(f)
    assert family.compiles == {"shared": 0, "full": 4}
    assert not family.shared and not family.points
    assert "not an integer" in family.shared_refused


def test_classes_put_sizes_on_their_side_of_each_threshold(monkeypatch):
    monkeypatch.setattr(fold, "MAX_FOLDED_ELEMENTS", 100)
    graph = {
        "nodes": [
            {"op": "input", "params": {}, "shape": [{"__sym__": [[1, ["s"]]]}, 10]},
            {"op": "input", "params": {}, "shape": [{"__sym__": [[1, ["s"]], [-1, []]]}]},
            {"op": "input", "params": {}, "shape": [3, 5]},
        ]
    }
    classes = specialize.Classes([graph])
    assert classes.signature(3) == classes.signature(9)
    assert classes.signature(9) != classes.signature(10)  # 10 * s reaches 100
    assert classes.signature(3) != classes.signature(2)  # s - 1 reaches 1
    with pytest.raises(ValueError, match="expected only 's'"):
        specialize.Classes([{"nodes": [{"params": {}, "shape": [{"__sym__": [[1, ["t"]]]}]}]}])


def test_the_recompile_log_says_when_the_compiles_are_fitted(caplog, monkeypatch):
    monkeypatch.setattr(config, "log_recompiles", True)
    model = _mlp(3)
    f = kiln.jit(model)
    with caplog.at_level(logging.INFO, logger="kiln.jit"), kiln.no_grad():
        for size in (8, 5, 9, 12, 4):
            x = kiln.randn(size, 6)
            _close(f(x), model(x))
    assert (
        "args[0].shape[0]: the compiles at 5, 9 and 12 fitted; sizes in their range are "
        "specialized without the passes and fusion" in caplog.text
    )
    assert _family(f).compiles == {"shared": 1, "full": 2}


def test_ops_whose_sizes_follow_the_batch_in_other_ways():
    norm = nn.LayerNorm(4)

    def fn(x):
        both = kiln.cat([x, x * 2], 0)  # 2 * size rows
        gram = x.t() @ x  # the batch summed by the matmul
        tail = x[1:] - x[:-1]  # size - 1 rows
        weights = F.softmax(x, dim=0)
        return both.sum(0), gram, norm(tail).sum(1), (weights * x).sum(0), both.view(-1, 8)

    f = kiln.jit(fn)
    with kiln.no_grad():
        for size in (6, 5, 7, 9, 12, 30, 2, 3):
            x = kiln.randn(size, 4)
            for got, want in zip(f(x), fn(x)):
                _close(got, want)
    family = _family(f)
    # 7, 9 in full; 12, 30, 3 fitted; 2 (a value of size - 1 = 1 row) in full
    assert family.compiles == {"shared": 3, "full": 3}


def test_a_fitted_fused_graph_is_the_one_a_full_compile_makes():
    from kiln.compiler.compile import front_end

    model = _mlp(4)
    f = kiln.jit(lambda x, y: F.cross_entropy(model(x), y))
    for size in (8, 5, 9, 12):
        x, y = kiln.randn(size, 6, requires_grad=True), kiln.randint(0, 4, (size,))
        f(x, y).backward()
    family = _family(f)
    (shared,) = family.shared
    assert len(shared.templates) == 2  # the forward and the backward
    for size in (3, 10, 17, 40):
        graph, backward = family._graph_at(size)
        graph.outputs = list(graph.outputs) + backward.grad_nodes
        from kiln.compiler.partition import split_joint

        pieces = split_joint(graph, family.template.backward.n_outputs, backward.cotangent_nodes)
        for template, piece in zip(shared.templates, pieces[:2]):
            want = specialize.fused_json(front_end(piece)[2])
            assert specialize.fused_json(template.instantiate(size)) == want


def test_fitted_sizes_on_two_sides_of_a_threshold_cover_no_size(monkeypatch):
    from kiln.compiler.compile import front_end
    from kiln.compiler.ir import Graph

    def fused_at(n):
        g = Graph("f")
        x = g.add_input((n, 4), "float32")
        g.outputs = [g.add_node("exp", [g.add_node("neg", [x])])]
        return specialize.fused_json(front_end(g)[2])

    symbolic = auto_dynamic._dynamic().fit(
        [fused_at(9), fused_at(10)], [{"s": 9}, {"s": 10}], (fused_at(11), {"s": 11})
    )
    monkeypatch.setattr(fold, "MAX_FOLDED_ELEMENTS", 40)  # 4 * 10 elements: the threshold
    shared = specialize.Shared([symbolic], specialize.Classes([symbolic]), (9, 10, 11))
    assert shared.signature is None
    assert not any(shared.covers(n) for n in (2, 9, 10, 11, 12, 100))
    monkeypatch.setattr(fold, "MAX_FOLDED_ELEMENTS", 1000)
    shared = specialize.Shared([symbolic], specialize.Classes([symbolic]), (9, 10, 11))
    assert shared.covers(2) and shared.covers(249) and not shared.covers(250)
    assert shared.compile(37)[0].run([np.ones((37, 4), np.float32)])[0].shape == (37, 4)


def test_a_size_compiled_again_after_an_eviction_is_no_second_point(monkeypatch):
    monkeypatch.setattr(auto_dynamic, "SPECIALIZATIONS", 1)
    monkeypatch.setattr(fold, "MAX_FOLDED_ELEMENTS", 40)  # sizes up to 9, and from 11
    w = kiln.randn(4)

    def fn(x):
        return (x * w).sin().sum(1)

    f = kiln.jit(fn)
    _stream(f, fn, (8, 5, 12, 9, 12, 20, 13, 30))
    family = _family(f)
    # 12 (evicted by 9), 9, 12 again, 20 and 13 in full: fitted at 12, 20, 13; 30 fitted
    assert family.compiles == {"shared": 1, "full": 5}
    assert [s.sizes for s in family.shared] == [(12, 20, 13)]
