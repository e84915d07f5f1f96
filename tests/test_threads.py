"""Grad mode and tracing are per thread (``kiln.context``), as PyTorch's grad mode is.

Each test makes the threads overlap on purpose (events, barriers, a tiny switch interval),
so a state shared between threads would show up as a wrong answer, not as luck.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import kiln


@pytest.fixture(autouse=True)
def _frequent_switches():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def _run(*targets):
    """Run each target in its own thread; re-raise the first failure in the test thread."""
    errors = []

    def guarded(target):
        def run():
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_leaves_autograd_on_in_another():
    entered, checked = threading.Event(), threading.Event()
    seen = {}

    def holder():
        with kiln.no_grad():
            entered.set()
            assert checked.wait(10)
            seen["holder"] = (kiln.ones(2, requires_grad=True) * 2).requires_grad

    def other():
        assert entered.wait(10)
        x = kiln.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        seen["other"] = (kiln.is_grad_enabled(), y.requires_grad)
        y.backward()
        seen["grad"] = x.grad.numpy()
        checked.set()

    _run(holder, other)
    assert seen["holder"] is False
    assert seen["other"] == (True, True)
    np.testing.assert_allclose(seen["grad"], [2.0, 4.0])


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with kiln.no_grad():
        _run(lambda: seen.append(kiln.is_grad_enabled()))
        assert not kiln.is_grad_enabled()
    assert seen == [True]
    assert kiln.is_grad_enabled()


def test_set_grad_enabled_as_a_call_is_per_thread():
    done = threading.Event()
    seen = {}

    def switcher():
        kiln.set_grad_enabled(False)
        seen["switcher"] = kiln.is_grad_enabled()
        done.set()

    def other():
        assert done.wait(10)
        seen["other"] = kiln.is_grad_enabled()

    _run(switcher, other)
    assert seen == {"switcher": False, "other": True}


def test_set_grad_enabled_decorator_sets_the_mode_per_call_only():
    @kiln.set_grad_enabled(False)
    def inside():
        return kiln.is_grad_enabled()

    assert kiln.is_grad_enabled()  # decorating changed nothing
    assert inside() is False
    assert kiln.is_grad_enabled()


def test_eager_ops_of_another_thread_stay_out_of_a_trace():
    tracing_started, eager_done = threading.Event(), threading.Event()
    seen = {}

    def traced(x):
        y = x * 2
        tracing_started.set()
        assert eager_done.wait(10)  # the other thread runs eager ops while this one traces
        return y + 1

    fast = kiln.jit(traced)

    def compiler():
        seen["jit"] = fast(kiln.tensor([1.0, 2.0])).numpy()

    def eager():
        assert tracing_started.wait(10)
        z = kiln.tensor([3.0, 4.0]) * 10  # must run now, not become a node of the trace
        seen["eager"] = z.numpy()
        eager_done.set()

    _run(compiler, eager)
    np.testing.assert_allclose(seen["jit"], [3.0, 5.0])
    np.testing.assert_allclose(seen["eager"], [30.0, 40.0])
    graph = fast.inspect(kiln.tensor([1.0, 2.0])).traced
    assert [n.op for n in graph.nodes if n.op not in ("const", "input")] == ["mul", "add"]


def test_trace_time_gradients_are_not_visible_to_other_threads():
    """A traced training step stores ``.grad`` in the trace, never on the shared parameter."""
    w = kiln.nn.Parameter(kiln.tensor([1.0, 2.0]))
    tracing_started, looked = threading.Event(), threading.Event()
    seen = {}

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        tracing_started.set()
        assert looked.wait(10)
        return loss

    fast = kiln.jit(step)

    def compiler():
        fast(kiln.tensor([3.0, 4.0]))

    def reader():
        assert tracing_started.wait(10)
        seen["grad"] = w.grad  # the trace has set w.grad to a tracer: this thread sees None
        looked.set()

    _run(compiler, reader)
    assert seen["grad"] is None
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 4.0])  # the compiled call wrote it back


def test_many_threads_mixing_grad_modes_get_their_own_answers():
    def worker(k):
        def run():
            for i in range(30):
                x = kiln.tensor([float(k), float(i)], requires_grad=True)
                if (k + i) % 2:
                    with kiln.no_grad():
                        y = x * x
                    assert not y.requires_grad
                else:
                    y = (x * x).sum()
                    y.backward()
                    np.testing.assert_allclose(x.grad.numpy(), [2.0 * k, 2.0 * i])

        return run

    _run(*[worker(k) for k in range(6)])
    assert kiln.is_grad_enabled()
