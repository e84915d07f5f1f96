"""Code the garbage collector runs while kiln traces (``gc.callbacks`` of monitoring
libraries, ``__del__`` methods, weakref callbacks) is not the traced function's: its side
effects and clock reads neither make kiln.jit raise nor get guarded."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import time
import weakref

import numpy as np
import pytest

import kiln

COUNT = [0]


def _count_collections(phase, info):
    COUNT[0] += 1  # a side effect, and a clock read, as a monitoring library's callback
    time.perf_counter()


@pytest.fixture
def frequent_collections():
    threshold = gc.get_threshold()
    gc.set_threshold(20)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def _step_and_eager():
    kiln.manual_seed(0)
    model = kiln.nn.Sequential(kiln.nn.Linear(6, 8), kiln.nn.Tanh(), kiln.nn.Linear(8, 1))
    x, y = kiln.randn(16, 6), kiln.randn(16, 1)

    def step(x, y):
        loss = ((model(x) - y) ** 2).mean()
        return loss, kiln.autograd.grad(loss, list(model.parameters()))

    return step, x, y


@pytest.mark.parametrize("wrap", [kiln.jit, kiln.compile])
def test_a_gc_callback_with_side_effects_during_tracing(wrap, frequent_collections):
    step, x, y = _step_and_eager()
    want_loss, want_grads = step(x, y)
    gc.callbacks.append(_count_collections)
    try:
        before = COUNT[0]
        compiled = wrap(step)
        for _ in range(2):
            loss, grads = compiled(x, y)
        assert COUNT[0] > before  # the callback ran, during the trace too
    finally:
        gc.callbacks.remove(_count_collections)
    np.testing.assert_allclose(
        loss.detach().numpy(), want_loss.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    for g, w in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-6)


FREED = []
NOTES = []


def _note(value):
    NOTES.append(value)


class _Cyclic:
    def __init__(self):
        self.me = self

    def __del__(self):
        FREED.append(time.perf_counter())


def test_finalizers_and_weakref_callbacks_run_by_the_collector_during_tracing(
    frequent_collections,
):
    def traced(x):
        for _ in range(30):  # garbage cycles whose collection runs user code mid-trace
            obj = _Cyclic()
            weakref.finalize(obj, _note, 1)
            x = x * 1.01 + 0.5
        return x

    x = kiln.randn(5)
    want = traced(x)
    FREED.clear()
    NOTES.clear()
    got = kiln.jit(traced)(x)
    gc.collect()
    assert FREED and NOTES
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_the_traced_functions_own_side_effects_are_still_refused():
    calls = [0]

    def bumps(x):
        calls[0] += 1
        return x + 1

    with pytest.raises(kiln.compiler.errors.TraceError, match="calls"):
        kiln.jit(bumps)(kiln.ones(3))


def test_a_callback_calling_c_functions_during_tracing_does_not_crash(tmp_path):
    """Before the fix this scenario ended the process with a segmentation fault."""
    script = textwrap.dedent(
        """
        import gc, resource
        import kiln
        n = [0]
        def callback(phase, info):
            n[0] += 1
            resource.getrusage(resource.RUSAGE_SELF)
        gc.callbacks.append(callback)
        gc.set_threshold(50)
        m = kiln.nn.Sequential(kiln.nn.Linear(8, 16), kiln.nn.Tanh(), kiln.nn.Linear(16, 1))
        opt = kiln.optim.Adam(m.parameters(), lr=0.01)
        @kiln.jit
        def step(x, y):
            opt.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        x, y = kiln.randn(32, 8), kiln.randn(32, 1)
        losses = [step(x, y).item() for _ in range(3)]
        assert losses[2] < losses[0] and n[0] > 0
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
