"""Automatic dynamic shapes in ``kiln.jit``: a dimension seen at a second size goes dynamic.

Every test compares with eager kiln (and the training tests with eager parameters and the
random number generator's state after each step); the counters say how often a call was
traced (``trace_count``), how often the Python code was traced at a size no call had, for
the fit only (``synthetic_trace_count``), and how often a variant was specialized from a
dynamic dimension's symbolic graph (``specialize_count``).
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from kiln.jit import config


def _mlp(seed=0):
    kiln.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def _check(f, fn, x, **kw):
    got = f(x)
    want = fn(x)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5, **kw)


def test_a_stream_of_batch_sizes_traces_twice_then_specializes():
    model = _mlp()

    def fn(x):
        return model(x).mean(0)  # the mean divides by the batch: a constant that follows it

    f = kiln.jit(fn)
    rng = np.random.default_rng(0)
    with kiln.no_grad():
        for size in (2, 3, 4, 5, 6, 9, 3, 2):
            _check(f, fn, kiln.tensor(rng.standard_normal((size, 5)).astype(np.float32)))
        # 2, then 3 made it dynamic (fitted with a synthetic trace at 4)
        assert f.trace_count == 2 and f.synthetic_trace_count == 1
        assert f.specialize_count == 4  # 4, 5, 6, 9; 3 and 2 kept their traced variants
        # sizes 0 and 1 get their own trace (broadcasting makes their graphs differ)
        _check(f, fn, kiln.randn(1, 5))
        assert f.trace_count == 3
        _check(f, fn, kiln.zeros(0, 5), equal_nan=True)
        assert f.trace_count == 4
        _check(f, fn, kiln.randn(17, 5))
        assert f.trace_count == 4 and f.specialize_count == 5
        assert f.synthetic_trace_count == 1


def test_the_recompile_log_names_the_dimension(caplog):
    old = config.log_recompiles
    config.log_recompiles = True
    try:
        f = kiln.jit(lambda x, y: (x * y[:, None]).sum(1))
        with caplog.at_level(logging.INFO, logger="kiln.jit"):
            for size in (32, 17, 9, 5):
                f(kiln.ones(size, 3), kiln.ones(size))
    finally:
        config.log_recompiles = old
    assert (
        "x.shape[0] and y.shape[0] changed 32 -> 17: made dynamic (fitted from the traces at "
        "17, 18 (synthetic), 32;" in caplog.text
    )
    assert "specializing <lambda> for x.shape[0] and y.shape[0] = 5" in caplog.text
    assert f.trace_count == 2 and f.synthetic_trace_count == 1


def test_a_python_branch_on_the_size_is_guarded():
    def fn(x):
        if x.shape[0] > 16:
            return x * 2
        return x * 3

    f = kiln.jit(fn)
    for size in (32, 17, 20):
        _check(f, fn, kiln.randn(size, 3))
    assert f.trace_count == 2 and f.specialize_count == 1
    _check(f, fn, kiln.randn(40, 3))  # the branch holds: specialized
    assert f.trace_count == 2 and f.specialize_count == 2
    _check(f, fn, kiln.randn(8, 3))  # the guard n > 16 fails: traced for this size
    assert f.trace_count == 3
    _check(f, fn, kiln.randn(8, 3))
    assert f.trace_count == 3


def test_a_second_size_across_a_python_branch_is_fitted_on_its_own_side():
    def fn(x):
        if x.shape[0] > 16:
            return x * 2
        return x * 3

    f = kiln.jit(fn)
    for size in (20, 16):  # 20 took the other branch: synthetic traces at 15 and 14
        _check(f, fn, kiln.randn(size, 3))
    assert f.trace_count == 2 and f.synthetic_trace_count == 2
    for size in (12, 2, 15):
        _check(f, fn, kiln.randn(size, 3))
    assert f.trace_count == 2 and f.specialize_count == 3
    _check(f, fn, kiln.randn(30, 3))  # n > 16 again: its own trace
    assert f.trace_count == 3


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda x: x * (x.shape[0] // 2), id="floordiv"),
        pytest.param(lambda x: x * 2 if len(x) % 2 == 0 else x * 3, id="len-parity"),
        pytest.param(lambda x: x * 2 if x.size(0) % 2 == 0 else x * 3, id="size-parity"),
        pytest.param(lambda x: x + kiln.arange(x.shape[0]).float()[:, None], id="arange"),
        pytest.param(lambda x: sum(x[i] for i in range(x.shape[0])), id="unrolled"),
        pytest.param(lambda x: x * float(x.shape[0]) ** 0.5, id="sqrt"),
    ],
)
def test_sizes_used_in_ways_a_symbolic_graph_cannot_follow_stay_right(fn):
    f = kiln.jit(fn)
    for size in (32, 18, 20, 7, 9, 6, 33):
        _check(f, fn, kiln.randn(size, 3))


def test_a_size_read_as_a_plain_int_keeps_the_dimension_static_without_synthetic_traces(
    caplog,
):
    def fn(x):
        return x * len(x)  # len() leaves SymInt: the graph holds for this size only

    f = kiln.jit(fn)
    old = config.log_recompiles
    config.log_recompiles = True
    try:
        with caplog.at_level(logging.INFO, logger="kiln.jit"):
            for size in (5, 6, 7):
                _check(f, fn, kiln.randn(size, 3))
    finally:
        config.log_recompiles = old
    assert "x.shape[0] changed 5 -> 6: kept static" in caplog.text
    assert "no size near 6 decides alike ((x.shape[0] == 6) is False at 5, was True)" in caplog.text
    assert f.trace_count == 3 and f.synthetic_trace_count == 0 and f.specialize_count == 0


def test_a_python_branch_on_an_even_size_is_guarded():
    def fn(x):
        n = x.shape[0]
        return x * 2 if n % 2 == 0 else x * 3

    f = kiln.jit(fn)
    for size in (32, 18, 20, 7, 9, 6, 33):
        _check(f, fn, kiln.randn(size, 3))
    assert f.specialize_count >= 1  # 6 comes from the dynamic variant (even, like 20)


def test_flatten_with_the_batch_from_the_shape():
    conv = nn.Conv2d(2, 3, 3)

    def fn(x):
        h = conv(x)
        return h.view(h.size(0), -1).sum(1)

    f = kiln.jit(fn)
    with kiln.no_grad():
        for size in (4, 3, 2, 6, 5):
            _check(f, fn, kiln.randn(size, 2, 6, 6))
    assert f.trace_count == 2 and f.specialize_count == 3  # 2, 6, 5


def test_gradients_through_a_specialized_variant():
    model = _mlp(1)
    f = kiln.jit(lambda x: (model(x) ** 2).sum())
    for size in (3, 4, 5, 7, 2):
        x = kiln.randn(size, 5, requires_grad=True)
        xe = x.detach().clone().requires_grad_(True)
        model.zero_grad()
        f(x).backward()
        got = [p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy()]
        model.zero_grad()
        (model(xe) ** 2).sum().backward()
        want = [p.grad.numpy() for p in model.parameters()] + [xe.grad.numpy()]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    assert f.trace_count == 2 and f.specialize_count == 3  # 5, 7, 2


def _step_for(model):
    opt = kiln.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def test_a_training_step_whose_last_batches_are_smaller():
    eager_model, jit_model = _mlp(2), _mlp(2)
    eager, jitted = _step_for(eager_model), kiln.jit(_step_for(jit_model))
    rng = np.random.default_rng(1)
    for size in (8, 8, 5, 8, 3, 8, 6, 7, 8, 1):
        x = rng.standard_normal((size, 5)).astype(np.float32)
        y = rng.integers(0, 3, size)
        a = eager(kiln.tensor(x), kiln.tensor(y)).item()
        b = jitted(kiln.tensor(x), kiln.tensor(y)).item()
        assert abs(a - b) < 1e-5
        for p, q in zip(eager_model.parameters(), jit_model.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert jitted.trace_count == 3  # 8, 5 (made dynamic), 1 (its own)
    assert jitted.specialize_count == 3  # 3, 6, 7
    assert jitted.synthetic_trace_count == 1  # at 6, for the fit


def test_train_and_eval_keep_separate_dynamic_variants():
    model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.Linear(6, 2))
    f = kiln.jit(lambda x: model(x))
    model.eval()
    with kiln.no_grad():
        for size in (2, 3, 4, 5):
            _check(f, model, kiln.randn(size, 4))
        model.train()
        for size in (6, 7):
            kiln.manual_seed(3)
            got = f(kiln.randn(size, 4)).numpy()
            assert got.shape == (size, 2)
        model.eval()
        _check(f, model, kiln.randn(9, 4))
    assert f.specialize_count >= 2


def test_dynamic_false_and_the_config_switch():
    sizes = (2, 3, 4, 5)
    f = kiln.compile(lambda x: x * 2, dynamic=False)
    for size in sizes:
        _check(f, lambda x: x * 2, kiln.randn(size))
    assert f.jitted.trace_count == len(sizes)
    old = config.automatic_dynamic_shapes
    config.automatic_dynamic_shapes = False
    try:
        g = kiln.jit(lambda x: x + 1)
        for size in sizes:
            _check(g, lambda x: x + 1, kiln.randn(size))
        assert g.trace_count == len(sizes) and g.specialize_count == 0
    finally:
        config.automatic_dynamic_shapes = old
    h = kiln.compile(lambda x: x - 1)
    for size in sizes:
        _check(h, lambda x: x - 1, kiln.randn(size))
    assert h.jitted.trace_count == 2


def test_a_specialized_size_is_no_recompile_for_the_stance():
    f = kiln.compile(lambda x: x * 2)
    for size in (2, 3, 4):
        f(kiln.ones(size))
    with kiln.compiler.set_stance("fail_on_recompile"):
        np.testing.assert_allclose(f(kiln.ones(6)).numpy(), [2.0] * 6)
        with pytest.raises(RuntimeError, match="fail_on_recompile"):
            f(kiln.ones(1))  # size 1 is always traced on its own
    kiln.compiler.reset()
    assert f.jitted._families == []


def test_independent_sizes_are_not_tied():
    def fn(x, y):
        return x.sum() + y.sum()

    f = kiln.jit(fn)
    for a, b in ((2, 3), (3, 5), (4, 4), (5, 2), (6, 7)):
        got = f(kiln.ones(a), kiln.ones(b)).item()
        assert got == a + b


# ------------------------------------------------------------------ at most two traces
@pytest.mark.parametrize("first", [1, 2, 7])
def test_a_stream_of_batch_sizes_compiles_at_most_twice(first):
    model = _mlp(4)

    def fn(x):
        return F.softmax(model(x), dim=1).sum(0) / x.shape[0]

    f = kiln.jit(fn)
    rng = np.random.default_rng(first)
    with kiln.no_grad():
        for size in range(first, 65):
            _check(f, fn, kiln.tensor(rng.standard_normal((size, 5)).astype(np.float32)))
    assert f.trace_count == 2  # the first size, and the second (made dynamic)
    # the fit's third point: a synthetic trace (and a second one when the first size was
    # 1, which is its own specialization and no point of the fit)
    assert f.synthetic_trace_count == (2 if first == 1 else 1)
    assert f.specialize_count == 64 - first - 1


def _training_step(dropout):
    """bench/training.py's kiln_mlp_step (smaller), with dropout when asked."""
    kiln.manual_seed(0)
    layers = [nn.Linear(12, 16), nn.ReLU()]
    layers += [nn.Dropout(0.3)] if dropout else []
    model = nn.Sequential(*layers, nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    opt = kiln.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


@pytest.mark.parametrize("dropout", [False, True], ids=["mlp", "dropout"])
def test_training_epochs_whose_last_batch_is_smaller_compile_twice(dropout):
    eager_model, eager = _training_step(dropout)
    jit_model, step = _training_step(dropout)
    jitted = kiln.jit(step)
    rng = np.random.default_rng(5)
    data = rng.standard_normal((75, 12)).astype(np.float32)
    labels = rng.integers(0, 4, 75)
    kiln.manual_seed(11)
    # three epochs of batches 16, 16, 16, 16, 11, then one of batches 13 (specialized)
    batches = [(start, 16) for _ in range(3) for start in range(0, 75, 16)]
    batches += [(start, 13) for start in range(0, 75, 13)]
    for start, size in batches:
        x = kiln.tensor(data[start : start + size])
        y = kiln.tensor(labels[start : start + size])
        before = kiln.get_rng_state()
        a = eager(x, y).item()
        after_eager = kiln.get_rng_state()
        kiln.set_rng_state(before)
        b = jitted(x, y).item()
        np.testing.assert_array_equal(kiln.get_rng_state().numpy(), after_eager.numpy())
        assert abs(a - b) < 1e-5
        for p, q in zip(eager_model.parameters(), jit_model.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert jitted.trace_count == 2  # 16, then 11 (made dynamic)
    assert jitted.synthetic_trace_count == 1  # at 12
    assert jitted.specialize_count == 2  # 13 and the last batch's 10


# ------------------------------------------------------------------ synthetic traces
def test_a_synthetic_trace_leaves_no_trace_in_program_state(capsys):
    w = kiln.ones(3)

    def draw_in_another_thread():
        thread = threading.Thread(target=lambda: kiln.rand(()))
        thread.start()
        thread.join()

    def fn(x):
        print("tracing", tuple(x.shape))  # runs once per trace, synthetic ones included
        with kiln.escape_trace():
            # drawn when traced: a real trace advances the generator, a synthetic one must
            # not, but another thread's draw meanwhile stands
            kiln.rand(())
            draw_in_another_thread()
        w.add_(1.0)  # an in-place update: written back by calls, never by a synthetic trace
        return (x * w).sum(1)

    f = kiln.jit(fn)
    kiln.manual_seed(0)
    start = int(kiln.get_rng_state().numpy().view(np.uint64)[1])
    for calls, size in enumerate((1, 2), 1):
        x = kiln.ones(size, 3)
        np.testing.assert_allclose(f(x).numpy(), [3.0 * (1 + calls)] * size)
        np.testing.assert_allclose(w.numpy(), [1.0 + calls] * 3)
    assert f.trace_count == 2 and f.synthetic_trace_count == 2
    # two draws per real trace, one (the other thread's) per synthetic trace
    assert int(kiln.get_rng_state().numpy().view(np.uint64)[1]) == start + 2 * 2 + 2
    printed = capsys.readouterr().out.split("\n")
    assert printed[:4] == ["tracing (1, 3)", "tracing (2, 3)", "tracing (3, 3)", "tracing (4, 3)"]
    np.testing.assert_allclose(f(kiln.ones(5, 3)).numpy(), [12.0] * 5)
    assert f.trace_count == 2 and f.specialize_count == 1
    assert int(kiln.get_rng_state().numpy().view(np.uint64)[1]) == start + 6


def test_a_reseed_in_a_synthetic_trace_is_undone():
    def fn(x):
        with kiln.escape_trace():
            # when traced only (unlike eagerly, every call): a real trace reseeds, a
            # synthetic one's reseed is undone
            kiln.manual_seed(100 + x.shape[0])
        return x * 2

    f = kiln.jit(fn)
    _check(f, lambda x: x * 2, kiln.ones(2, 3))
    f(kiln.ones(3, 3))  # traced (reseeds to 103) and made dynamic: synthetic at 4 (undone)
    np.testing.assert_array_equal(kiln.get_rng_state().numpy().view(np.uint64), [103, 0])
    np.testing.assert_array_equal(
        np.random.get_state()[1], np.random.RandomState(103).get_state()[1]
    )
    assert f.synthetic_trace_count == 1
    kiln.manual_seed(7)
    kiln.rand(4)
    before = kiln.get_rng_state().numpy()
    f(kiln.ones(5, 3))  # specialized: no trace, no reseed
    np.testing.assert_array_equal(kiln.get_rng_state().numpy(), before)


def test_a_synthetic_trace_that_raises_keeps_the_dimension_static(caplog):
    def fn(x):
        return x.reshape(4, -1).sum(0)  # 4 rows: the batch must be a multiple of 2

    f = kiln.jit(fn)
    old = config.log_recompiles
    config.log_recompiles = True
    try:
        with caplog.at_level(logging.INFO, logger="kiln.jit"):
            for size in (4, 2):  # the synthetic trace at 3 raises: no error here
                _check(f, fn, kiln.randn(size, 2))
    finally:
        config.log_recompiles = old
    assert "changed 4 -> 2: kept static" in caplog.text
    assert "the synthetic trace at size 3 raised" in caplog.text
    assert f.trace_count == 2 and f.synthetic_trace_count == 1
    for size in (6, 8):
        _check(f, fn, kiln.randn(size, 2))
    assert f.trace_count == 4 and f.specialize_count == 0
    with pytest.raises(RuntimeError):
        f(kiln.randn(3, 2))  # a size the reshape refuses, as eagerly
    with pytest.raises(RuntimeError):
        fn(kiln.randn(3, 2))
