"""Fault injection, round two: scenarios tests/test_faults.py does not cover.

Each test injects a fault the way a PyTorch user meets one (bad input on the 100th call
of a compiled function, an exception from a training step, a hook, an optimizer closure
or a dataset, ``KeyboardInterrupt`` from a timer, ``MemoryError`` from NumPy, NaN in
training, a full disk under the kernel cache, threads and ``fork``) and checks what the
user sees against PyTorch (the oracle wherever it applies): the exception's class and
gist, the state left behind (grad and autocast mode, anomaly mode, parameters, optimizer
state, hooks, the tracing state), and a correct later call. Scenarios that need a fresh
process run in a subprocess with a timeout, so a deadlock fails instead of hanging.

Where kiln does not yet behave as PyTorch and the fix lies outside this battery's files,
the test is ``xfail(strict=True)`` with the reason: it fails loudly once fixed.
"""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import kiln
from kiln.dispatch import current_trace

torch = pytest.importorskip("torch")

nn = kiln.nn
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_close(a, b, tol=1e-5):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def assert_clean_state():
    """What no failed call may leave behind in this thread."""
    assert kiln.is_grad_enabled()
    assert current_trace() is None
    assert not kiln.is_anomaly_enabled()
    assert not kiln.is_autocast_enabled("cpu")
    assert kiln.get_default_dtype() is kiln.float32


def outcome(fn):
    """``fn()``'s result as ("ok", value) or its exception as (class name, message)."""
    try:
        value = fn()
    except Exception as error:  # noqa: BLE001 - the class is compared
        # (the builtin class a user catches: kiln's ShapeError is a RuntimeError)
        builtin = next(c for c in type(error).__mro__ if c.__module__ == "builtins")
        return builtin.__name__, str(error)
    return "ok", value


def torch_compile(fn):
    return torch.compile(fn, backend="eager")


# ------------------------------------------------- bad input on a late call, under trace


def _warm(g, *args, calls=99):
    for _ in range(calls):
        out = g(*args)
    return out


def test_wrong_shape_on_the_100th_call_raises_as_eager():
    w = kiln.randn(4, 3)

    def f(x):
        return (x @ w).relu() + 1

    g = kiln.jit(f)
    good = kiln.randn(2, 4)
    expected = f(good)
    assert_close(_warm(g, good), expected)
    bad = kiln.randn(2, 5)
    with pytest.raises(RuntimeError) as expected_error:
        torch.randn(2, 5) @ torch.randn(4, 3)
    with pytest.raises(RuntimeError) as eager_error:
        f(bad)
    with pytest.raises(RuntimeError) as info:
        g(bad)
    assert "(2x5 and 4x3)" in str(expected_error.value)
    for error in (eager_error, info):  # (kiln's words: "... [2, 5] @ [4, 3] (5 != 4)")
        assert "[2, 5]" in str(error.value) and "[4, 3]" in str(error.value)
    assert_clean_state()
    assert_close(g(good), expected)


def test_dtype_change_on_a_late_call_follows_eager_promotion():
    def f(lib, x):
        return x * 2 + x.sum()

    g = kiln.jit(lambda x: f(kiln, x))
    _warm(g, kiln.ones(3), calls=20)
    for dtype in ("int64", "float64", "int32", "bool", "float32"):
        t = getattr(torch, dtype)
        k = getattr(kiln, dtype)
        want = f(torch, torch.ones(3, dtype=t))
        got = g(kiln.ones(3, dtype=k))
        assert str(got.dtype) == str(want.dtype).replace("torch", "kiln")
        assert_close(got, want.numpy())


INDEX_OPS = {
    "gather": lambda lib, x, i: lib.gather(x, 1, i.reshape(1, -1).expand(4, -1)) * 2,
    "index_select": lambda lib, x, i: lib.index_select(x, 0, i) + 1,
    "index_select_dim1": lambda lib, x, i: lib.index_select(x, 1, i) + 1,
    "embedding": lambda lib, x, i: lib.nn.functional.embedding(i, x) * 3,
    "getitem": lambda lib, x, i: x[i] - 1,
    "take": lambda lib, x, i: lib.take(x, i) * 2,
    "index_fill": lambda lib, x, i: x.index_fill(0, i, -1.0) * 2,
    "index_add": lambda lib, x, i: x.index_add(0, i, lib.ones(2, 3)) * 2,
    "scatter": lambda lib, x, i: x.scatter(0, i.reshape(1, 2).expand(1, 2), 5.0) + 1,
}
# (not take_along_dim: torch reads its out-of-range indices unchecked, kiln raises)


def _index_case(name, lib, bad):
    x = lib.arange(12.0).reshape(4, 3)
    index = lib.tensor(bad)
    return INDEX_OPS[name](lib, x, index)


@pytest.mark.parametrize("bad", [[0, 4], [0, -5], [0, 2**40], [-1, 0]], ids=str)
@pytest.mark.parametrize("name", sorted(INDEX_OPS))
def test_out_of_range_index_on_a_late_compiled_call_raises_as_torch(name, bad):
    """An index that torch rejects is rejected by the compiled function too (never read
    out of bounds or wrapped into a silently wrong position), after 99 good calls; an
    index torch accepts (a negative one for ``x[i]``) gives torch's values."""
    torch_class, torch_message = outcome(lambda: _index_case(name, torch, bad))
    eager_class, eager_message = outcome(lambda: _index_case(name, kiln, bad))
    if torch_class == "ok":
        want = torch_message.numpy()
        assert eager_class == "ok", eager_message
        assert_close(eager_message, want)
    g = kiln.jit(lambda x, i: INDEX_OPS[name](kiln, x, i))
    x = kiln.arange(12.0).reshape(4, 3)
    good = kiln.tensor([0, 2])
    expected = INDEX_OPS[name](kiln, x, good)
    assert_close(_warm(g, x, good), expected)
    got_class, got_message = outcome(lambda: g(x, kiln.tensor(bad)))
    if torch_class == "ok":
        assert got_class == "ok", got_message
        assert_close(got_message, want)
    else:
        assert got_class != "ok", f"{name}{bad}: no error, returned {got_message}"
        assert got_class in ("IndexError", "RuntimeError"), got_message
        assert "out of" in got_message and "range" in got_message or "bounds" in got_message
    assert_clean_state()
    assert_close(g(x, good), expected)


@pytest.mark.parametrize(
    "rows, cols",
    [([0], [3]), ([0], [-4]), ([4], [0]), ([-5], [0]), ([-1], [-3]), ([1, 2], [2, -1])],
)
def test_two_traced_index_tensors_out_of_range_raise_as_torch(rows, cols):
    """``x[i, j]`` combines both into one position: each must be checked on its own (a
    column past the end once read the next row's first element)."""

    def f(lib, x, i, j):
        y = x * 1
        y[i, j] = -1.0
        return x[i, j] * 2, y

    torch_class, torch_value = outcome(
        lambda: f(torch, torch.arange(12.0).reshape(4, 3), torch.tensor(rows), torch.tensor(cols))
    )
    g = kiln.jit(lambda x, i, j: f(kiln, x, i, j))
    x = kiln.arange(12.0).reshape(4, 3)
    _warm(g, x, kiln.tensor([1]), kiln.tensor([2]), calls=10)
    got_class, got_value = outcome(lambda: g(x, kiln.tensor(rows), kiln.tensor(cols)))
    assert got_class == torch_class, got_value
    if torch_class == "ok":
        for a, b in zip(got_value, torch_value):
            assert_close(a, b.numpy())
    assert_clean_state()


INTEGER_DIVISIONS = {
    "floor_divide": lambda lib, a, b: a // b,
    "remainder": lambda lib, a, b: a % b,
    "fmod": lambda lib, a, b: lib.fmod(a, b),
    "div_trunc": lambda lib, a, b: lib.div(a, b, rounding_mode="trunc"),
    "div_floor": lambda lib, a, b: lib.div(a, b, rounding_mode="floor"),
}


@pytest.mark.parametrize("name", sorted(INTEGER_DIVISIONS))
def test_integer_division_by_a_zero_known_at_trace_time_raises_as_torch(name):
    op = INTEGER_DIVISIONS[name]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        op(torch, torch.tensor([4, 5]), 0)
    zero = kiln.tensor([0, 2])  # captured: a constant of the trace
    for divisor in (0, zero):
        g = kiln.jit(lambda a, d=divisor: op(kiln, a, d) + 1)
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            g(kiln.tensor([4, 5]))
        assert_clean_state()
    g = kiln.jit(lambda a: op(kiln, a, 3) + 1)
    a = kiln.tensor([-7, 5, 9])
    assert g(a).tolist() == (op(torch, torch.tensor([-7, 5, 9]), 3) + 1).tolist()


@pytest.mark.parametrize("name", ["floor_divide", "remainder"])
def test_integer_division_by_a_traced_zero_raises_as_torch(name):
    op = INTEGER_DIVISIONS[name]
    g = kiln.jit(lambda a, b: op(kiln, a, b) + 1)
    _warm(g, kiln.tensor([4, 5]), kiln.tensor([2, 2]), calls=5)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        g(kiln.tensor([4, 5]), kiln.tensor([0, 2]))


# ------------------------------------------------- exceptions inside compiled training


def _regression(lib):
    lib.manual_seed(0)
    model = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 1))
    with lib.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(lib.linspace(-1, 1, p.numel()).reshape(p.shape) * (0.5 + k / 10))
    x = lib.linspace(-1, 1, 16).reshape(4, 4)
    y = lib.linspace(0, 1, 4).reshape(4, 1)
    return model, x, y


def _adam_steps(lib, compile_, failures):
    """Adam steps of a compiled training step that raises where ``failures`` say: the
    losses or errors, then the parameters and Adam's step count after each call."""
    model, x, y = _regression(lib)
    opt = lib.optim.Adam(model.parameters(), lr=0.01)

    def step(x, y, fail):
        opt.zero_grad()
        out = model(x)
        if fail == "forward":
            out = out @ lib.ones(3, 3)  # a shape error in the forward
        loss = ((out - y) ** 2).mean()
        loss.backward()
        if fail == "after backward":
            raise ValueError("after backward")
        opt.step()
        if fail == "after step":
            raise ValueError("after step")
        return loss

    compiled = compile_(step)
    seen = []
    for fail in failures:
        kind, value = outcome(lambda fail=fail: float(compiled(x, y, fail)))
        seen.append(round(value, 5) if kind == "ok" else kind)
        seen.append([round(float(p.detach().sum()), 4) for p in model.parameters()])
        state = opt.state.get(model[0].weight, {})
        seen.append(float(state["step"]) if "step" in state else None)
    return seen


def test_compiled_training_step_raising_in_the_forward_changes_nothing():
    failures = ["", "", "forward", "", "forward", ""]
    expected = _adam_steps(torch, lambda f: f, failures)
    assert expected[6] == "RuntimeError"
    assert _adam_steps(kiln, kiln.jit, failures) == expected
    assert_clean_state()


@pytest.mark.xfail(
    strict=True,
    reason="an exception raised while tracing drops the tensor side effects made before it "
    "(gradients written by backward, opt.step's parameter and state updates): kiln.jit "
    "advances only the RNG (frontend/jit/function.py trace_and_compile), where "
    "torch.compile runs the code before the raise as eager code would (a graph break); "
    "the training then continues from other parameters than PyTorch's",
)
def test_compiled_training_step_raising_after_optimizer_step_keeps_the_step_as_torch():
    failures = ["", "after step", "", ""]
    expected = _adam_steps(torch, lambda f: torch.compile(f, backend="eager"), failures)
    assert expected == _adam_steps(torch, lambda f: f, failures)
    assert _adam_steps(kiln, kiln.jit, failures) == expected


def test_exception_under_autocast_and_anomaly_mode_restores_both():
    lin = nn.Linear(4, 4)

    def f(x):
        y = lin(x)
        if x.shape[0] == 3:
            raise ValueError("inside autocast")
        return y.float().sum()

    g = kiln.compile(f)
    for _ in range(2):  # the first call traces, the second runs a cached variant
        with kiln.autocast("cpu", dtype=kiln.bfloat16):
            assert g(kiln.ones(2, 4)).dtype is kiln.float32
            with pytest.raises(ValueError, match="inside autocast"):
                g(kiln.ones(3, 4))
            assert kiln.is_autocast_enabled("cpu")
        assert_clean_state()
    with pytest.warns(UserWarning, match="Anomaly Detection"):
        anomaly = kiln.autograd.detect_anomaly()
    with anomaly, pytest.raises(ValueError):
        g(kiln.ones(3, 4))
    assert_clean_state()
    assert_close(g(kiln.ones(2, 4)), f(kiln.ones(2, 4)))
    with kiln.autocast("cpu", dtype=kiln.bfloat16):
        x = kiln.ones(2, 4)
        assert_close(g(x), f(x), tol=1e-2)


def test_module_state_and_hook_lists_after_a_failing_compiled_call():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    calls = []
    model[0].register_forward_hook(lambda m, i, o: calls.append("hook"))

    def failing(module, inputs):
        if inputs[0].shape[0] == 5:
            raise RuntimeError("pre-hook refused a batch of 5")

    model[2].register_forward_pre_hook(failing)
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model]
    c = kiln.compile(model)
    model.eval()
    x = kiln.randn(2, 3)
    expected = model(x)
    assert_close(c(x), expected)
    with pytest.raises(RuntimeError, match="pre-hook refused"):
        c(kiln.randn(5, 3))
    assert not model.training and not any(m.training for m in model)
    assert [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model] == hooks
    assert_clean_state()
    calls.clear()
    assert_close(c(x), expected)
    assert calls == ["hook"]  # the hook runs once a call (not twice, not dropped)
    model.train()
    with pytest.raises(RuntimeError, match="pre-hook refused"):
        c(kiln.randn(5, 3))
    assert model.training and all(m.training for m in model)


# ------------------------------------------------- numerical faults in training


def _nan_at_step(lib, compile_, bad_step=2, steps=4):
    """SGD on a model whose input turns NaN at ``bad_step``, under detect_anomaly: the
    error each step gave and the parameters after it."""
    model, x, y = _regression(lib)
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    forward = compile_(model)
    seen = []
    for step in range(steps):
        inputs = x.sqrt() if step == bad_step else x.abs()  # sqrt of negatives: NaN
        opt.zero_grad()
        kind, message = outcome(lambda i=inputs: ((forward(i) - y) ** 2).mean().backward())
        if kind == "ok":
            opt.step()
        seen.append((kind, message))
        seen.append([round(float(p.detach().sum()), 4) for p in model.parameters()])
    return seen


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_nan_mid_training_under_detect_anomaly_as_torch(compiled):
    """NaN in the forward makes a backward function return NaN: detect_anomaly raises
    RuntimeError naming it; the step is skipped, training goes on afterwards."""
    with pytest.warns(UserWarning, match="Anomaly Detection"):
        with torch.autograd.detect_anomaly():
            expected = _nan_at_step(torch, lambda m: m)
    compile_ = kiln.compile if compiled else (lambda m: m)
    with pytest.warns(UserWarning, match="Anomaly Detection"):
        with kiln.autograd.detect_anomaly():
            got = _nan_at_step(kiln, compile_)
    assert_clean_state()
    assert [s for s in got if not isinstance(s[0], str)] == [
        s for s in expected if not isinstance(s[0], str)
    ]
    kinds = [s for s in got if isinstance(s[0], str)]
    assert [k for k, _ in kinds] == ["ok", "ok", "RuntimeError", "ok"]
    message = kinds[2][1]
    assert "returned nan values in its" in message
    # (the first node to return NaN is the loss's, eager in both cases)
    assert message == expected[4][1]


def test_set_detect_anomaly_off_lets_nan_through_and_clip_grad_norm_refuses_it():
    def run(lib):
        model, x, y = _regression(lib)
        with lib.autograd.set_detect_anomaly(False):
            ((model(x.sqrt()) - y) ** 2).mean().backward()
        before = [p.grad.clone() for p in model.parameters()]
        kind, message = outcome(
            lambda: lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)
        )
        unchanged = all(
            bool(((a == p.grad) | (a.isnan() & p.grad.isnan())).all())
            for a, p in zip(before, model.parameters())
        )
        return kind, message, unchanged

    expected = run(torch)
    assert run(kiln) == expected
    assert expected[0] == "RuntimeError" and expected[2]


def test_grad_scaler_skips_steps_with_inf_in_a_compiled_model_as_torch():
    def run(lib, compile_):
        model, x, y = _regression(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.05)
        scaler = lib.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
        forward = compile_(model)
        seen = []
        for step in range(6):
            inputs = x * (float("inf") if step in (1, 2) else 1.0)
            opt.zero_grad()
            scaler.scale(((forward(inputs) - y) ** 2).mean()).backward()
            scaler.step(opt)
            scaler.update()
            seen.append(scaler.get_scale())
            seen.append([round(float(p.detach().sum()), 4) for p in model.parameters()])
        return seen

    expected = run(torch, lambda m: m)
    assert run(kiln, kiln.compile) == expected
    assert expected[2] == expected[0] / 2  # (the step with inf halved the scale)


def test_nan_inside_a_compiled_graph_under_detect_anomaly_names_the_compiled_backward():
    """torch.compile (backend aot_eager or inductor) names the node of a compiled graph
    'CompiledFunctionBackward' in this error; kiln's compiled backward is that node."""
    g = kiln.jit(lambda x: x.sqrt().mul(0.0).sum() * 2)
    x = kiln.tensor([0.0, 1.0], requires_grad=True)
    g(x).backward()  # anomaly mode off: NaN flows
    assert x.grad.isnan().any()
    x.grad = None
    with pytest.warns(UserWarning), kiln.autograd.detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            g(x).backward()
    assert str(info.value) == (
        "Function 'CompiledFunctionBackward' returned nan values in its 0th output."
    )
    assert x.grad is None
    assert_clean_state()
    y = kiln.tensor([4.0, 1.0], requires_grad=True)
    g(y).backward()
    assert_close(y.grad, [0.0, 0.0])


# ------------------------------------------------- optimizer closures, data loading


@pytest.mark.parametrize("fail_at", [1, 3])
def test_lbfgs_closure_raising_on_a_later_evaluation_as_torch(fail_at):
    """LBFGS evaluates its closure several times a step; one raising mid-step leaves the
    parameters and the optimizer's state as PyTorch's, and the next step goes on alike."""

    def run(lib, compile_):
        model, x, y = _regression(lib)
        opt = lib.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)
        forward = compile_(model)
        calls = {"n": 0, "fail": True}

        def closure():
            calls["n"] += 1
            opt.zero_grad()
            loss = ((forward(x) - y) ** 2).mean()
            loss.backward()
            if calls["fail"] and calls["n"] == fail_at + 1:
                raise ArithmeticError("closure failed")
            return loss

        seen = [outcome(lambda: opt.step(closure))[0]]
        seen.append([round(float(p.detach().sum()), 4) for p in model.parameters()])
        state = opt.state[opt._params[0]]
        seen.append((state.get("func_evals"), state.get("n_iter")))
        calls["fail"] = False
        kind, value = outcome(lambda: float(opt.step(closure)))
        # (PyTorch's LBFGS is not resumable after a closure failed mid-step: TypeError)
        seen.append(round(value, 4) if kind == "ok" else kind)
        seen.append([round(float(p.detach().sum()), 4) for p in model.parameters()])
        return seen

    expected = run(torch, lambda m: m)
    assert expected[0] == "ArithmeticError"
    assert run(kiln, lambda m: m) == expected
    assert run(kiln, kiln.compile) == expected


class FlakyItems(kiln.utils.data.Dataset):
    """Item 5 raises on its first read only (a file that was not there yet)."""

    def __init__(self, exception=IndexError):
        self.failed = False
        self.exception = exception

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5 and not self.failed:
            self.failed = True
            raise self.exception(f"item {i} not ready")
        return kiln.full((2,), float(i))


def test_dataloader_iterated_again_after_an_item_failed():
    data = FlakyItems()
    loader = kiln.utils.data.DataLoader(data, batch_size=2)
    batches = []
    with pytest.raises(IndexError, match="item 5 not ready"):
        for batch in loader:
            batches.append(batch[:, 0].tolist())
    assert batches == [[0.0, 1.0], [2.0, 3.0]]
    again = [batch[:, 0].tolist() for batch in loader]  # a fresh epoch works
    assert again == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]


def test_keyboard_interrupt_from_a_dataset_in_a_compiled_training_loop():
    model, _, _ = _regression(kiln)
    opt = kiln.optim.SGD(model.parameters(), lr=0.1)
    step_fn = kiln.compile(model)
    loader = kiln.utils.data.DataLoader(FlakyItems(KeyboardInterrupt), batch_size=2)

    def train():
        for batch in loader:
            opt.zero_grad()
            step_fn(batch.repeat(1, 2)).sum().backward()
            opt.step()

    with pytest.raises(KeyboardInterrupt):
        train()
    after_interrupt = [p.detach().clone() for p in model.parameters()]
    assert_clean_state()
    train()  # the user resumes: a full epoch
    eager, _, _ = _regression(kiln)
    eager_opt = kiln.optim.SGD(eager.parameters(), lr=0.1)
    pairs = [(0, 1), (2, 3)] + [(i, i + 1) for i in range(0, 8, 2)]  # (interrupted at 4, 5)
    for batch in [
        kiln.stack([kiln.full((2,), float(i)), kiln.full((2,), float(j))]) for i, j in pairs
    ]:
        eager_opt.zero_grad()
        eager(batch.repeat(1, 2)).sum().backward()
        eager_opt.step()
    for p, q in zip(model.parameters(), eager.parameters()):
        assert_close(p, q)
    assert any(not kiln.equal(a, p) for a, p in zip(after_interrupt, model.parameters()))


# ------------------------------------------------- KeyboardInterrupt from another thread


def test_interrupt_main_during_compiled_training_steps_leaves_a_working_function():
    """``_thread.interrupt_main`` from a timer lands wherever the main thread is (tracing,
    compiling, a compiled forward or backward, the tape): afterwards the same compiled
    function gives eager's gradients and nothing is half-installed."""
    kiln.manual_seed(0)
    w = kiln.randn(64, 64, requires_grad=True)

    def loss(x):
        for _ in range(4):
            x = (x @ w * 0.1).tanh()
        return x.sum()

    x = kiln.randn(64, 64)
    loss(x).backward()
    expected = w.grad.clone()
    interrupted = 0
    # A Python-level handler doing what the default one does: on a machine loaded with
    # other processes, CPython lost the default handler's interrupt_main even in a loop of
    # plain NumPy calls without kiln (seen at a load average of 10), never a Python one's
    previous = signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    try:
        interrupted = _interrupt_compiled_training(loss, w, x, expected)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert interrupted == 3


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _interrupt_compiled_training(loss, w, x, expected) -> int:
    """How many of the three delays' interrupts landed (each delay tried up to five times:
    under load an interrupt is sometimes lost), checking the function after each try."""
    landed = 0
    for delay in (0.0005, 0.003, 0.02):
        for _ in range(5):
            w.grad = None
            g = kiln.jit(loss)
            timer = threading.Timer(delay, _thread.interrupt_main)
            interrupted = False
            try:  # (the interrupt may land while start() waits for the timer's thread)
                timer.start()
                for _ in range(2000):
                    g(x).backward()
                    w.grad = None
                timer.join()  # (an interrupt after the loop lands here)
            except KeyboardInterrupt:
                interrupted = True
            timer.join()
            w.grad = None
            assert_clean_state()
            for _ in range(2):
                g(x).backward()
                assert_close(w.grad, expected, tol=1e-4)
                w.grad = None
            if interrupted:
                landed += 1
                break
    return landed


# ------------------------------------------------- threads and fork


def _join_all(threads, seconds=120):
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds)
    assert not any(t.is_alive() for t in threads), "deadlock"


def test_retraces_racing_in_four_threads_with_grad_mode_per_thread_and_thread_count_changes():
    """Four threads call one compiled function with new shapes (retraces race), two of
    them under no_grad, while another thread changes kiln.set_num_threads: each result is
    eager's, with the grad mode of the thread that asked."""
    w = kiln.randn(3, 3, requires_grad=True)
    f = kiln.jit(lambda x: ((x @ w).sin() * 2).sum(0) + x.mean())
    inputs = {k: [kiln.randn(n, 3) for n in (2 + k, 6 + k, 2000 + k)] for k in range(4)}
    errors = []
    stop = threading.Event()
    previous = kiln.get_num_threads()
    barrier = threading.Barrier(4)

    def caller(k):
        try:
            barrier.wait()
            for _ in range(3):
                for x in inputs[k]:
                    if k % 2:
                        with kiln.no_grad():
                            out = f(x)
                        assert not out.requires_grad
                    else:
                        out = f(x)
                        assert out.requires_grad
                    assert kiln.is_grad_enabled()
                    with kiln.no_grad():
                        want = ((x @ w).sin() * 2).sum(0) + x.mean()
                    assert_close(out, want, tol=1e-4)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def changer():
        n = 0
        while not stop.is_set():
            kiln.set_num_threads(n % 3 + 1)
            n += 1
            stop.wait(0.001)

    turner = threading.Thread(target=changer)
    turner.start()
    try:
        _join_all([threading.Thread(target=caller, args=(k,)) for k in range(4)])
    finally:
        stop.set()
        turner.join()
        kiln.set_num_threads(previous)
    assert not errors, errors
    assert_clean_state()


FORK_DURING_CALLS = textwrap.dedent(
    """
    import os, signal, sys, threading
    import numpy as np
    import kiln

    kiln.set_num_threads(2)
    f = kiln.jit(lambda x: (x * 1.5).tanh().sum(0) + 1)
    big = kiln.randn(1 << 14, 64)  # (large: parallel chunks on the native pool)
    expected = f(big).numpy()
    stop = threading.Event()

    def busy():  # another thread keeps the pool and the compiler busy at fork time
        n = 0
        while not stop.is_set():
            f(big)
            kiln.jit(lambda x, n=n: x * n + 1)(kiln.ones(3))
            n += 1

    thread = threading.Thread(target=busy)
    thread.start()
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # the child: compiled calls, old and new, must work
            signal.alarm(60)  # (a hung child ends itself: SIGALRM's default action)
            try:
                ok = np.allclose(f(big).numpy(), expected, rtol=1e-5, atol=1e-5)
                g = kiln.jit(lambda x: x.cos() * 2)
                ok = ok and np.allclose(g(kiln.zeros(5)).numpy(), 2.0)
                os._exit(0 if ok else 3)
            except BaseException:
                os._exit(4)
        children.append(pid)
    stop.set()
    thread.join()
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print(codes)
    """
)


FORK_WITH_LOCKS_HELD = textwrap.dedent(
    """
    import gc, os, signal, threading, time
    import numpy as np
    import kiln
    from kiln.runtime import kernel_cache

    f = kiln.jit(lambda x: (x * 1.5).tanh() + 1)
    x = kiln.ones(4)
    f(x)
    # another thread inside a compiled call (the generated run function's lock), inside
    # a trace of f (its lock) and loading a kernel (the kernel cache's lock) at fork
    runs = [o for o in gc.get_objects() if type(o).__name__ == "function"
            and o.__name__ == "run" and "_lock" in o.__globals__ and "_check" in o.__globals__]
    assert runs
    locks = [r.__globals__["_lock"] for r in runs] + [f._lock, kernel_cache._lock]
    held, release = threading.Event(), threading.Event()

    def holder():
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait()
        for lock in locks:
            lock.release()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait()
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)  # (a hung child ends itself: SIGALRM's default action)
        ok = np.allclose(f(x).numpy(), np.tanh(1.5) + 1)  # the compiled variant
        ok = ok and np.allclose(f(kiln.ones(7)).numpy(), np.tanh(1.5) + 1)  # a new trace
        ok = ok and kernel_cache.load_kernel("def kernel(x):\\n    return x + 1\\n")(1) == 2
        os._exit(0 if ok else 3)
    for _ in range(300):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        status = None
    release.set()
    thread.join()
    print("hung" if status is None else os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
@pytest.mark.parametrize("scenario", ["busy thread", "locks held"])
def test_fork_while_another_thread_runs_compiled_calls(tmp_path, scenario):
    """A child forked while another thread was inside kiln (a compiled call, a trace, a
    kernel being compiled or loaded) inherits that thread's locks held, without the
    thread: it once waited forever for the executable's compile (compiler/compile.py) and
    for a compiled function's run lock (runtime/executor.py)."""
    script = FORK_DURING_CALLS if scenario == "busy thread" else FORK_WITH_LOCKS_HELD
    env = {**os.environ, "KILN_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = "[0, 0, 0]" if scenario == "busy thread" else "0"
    assert done.stdout.strip().splitlines()[-1] == expected, done.stdout + done.stderr[-2000:]


# ------------------------------------------------- memory faults


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.ones(1).expand(2**40).contiguous(),
        lambda lib: lib.ones(1).expand(2**40).clone(),
        lambda lib: lib.arange(0, 2**62),
        lambda lib: lib.ones(2).repeat(2**62),
        lambda lib: lib.eye(2**20),
        lambda lib: lib.ones(1, 1).expand(2**20, 2**20).tril(),
    ],
    ids=["contiguous", "clone", "arange", "repeat", "eye", "tril"],
)
def test_huge_results_of_views_and_ranges_raise_runtime_error_as_torch(make):
    with pytest.raises(RuntimeError):
        make(torch)
    with pytest.raises(RuntimeError) as info:
        make(kiln)
    assert "allocate" in str(info.value) or "overflow" in str(info.value)
    assert_close(kiln.ones(3).sum(), 3.0)


def test_memory_error_inside_an_eager_op_and_inside_backward(monkeypatch):
    """NumPy's MemoryError from an op's kernel becomes PyTorch's RuntimeError naming the
    op; the graph built before stays usable: backward fails the same way, then (memory
    back) the retained graph gives the right gradient."""
    from kiln import dispatch

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 2.00 GiB for an array")

    x = kiln.tensor([0.5, 1.0, 2.0], requires_grad=True)
    monkeypatch.setitem(dispatch._EAGER_IMPLS, "exp", no_memory)
    with pytest.raises(RuntimeError, match="exp: DefaultCPUAllocator: can't allocate memory"):
        x.exp()
    monkeypatch.undo()
    y = (x.exp() * x).sum()
    monkeypatch.setitem(dispatch._EAGER_IMPLS, "mul", no_memory)
    with pytest.raises(RuntimeError, match="can't allocate memory"):
        y.backward(retain_graph=True)
    assert x.grad is None and kiln.is_grad_enabled()
    monkeypatch.undo()
    y.backward()
    tx = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    (tx.exp() * tx).sum().backward()
    assert_close(x.grad, tx.grad.numpy())


# ------------------------------------------------- the kernel cache on a full disk


DISK_FULL = textwrap.dedent(
    """
    import errno, os, pathlib, tempfile, warnings
    import numpy as np
    import kiln
    from kiln.runtime import kernel_cache, native

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    # the whole disk is full: every file kiln writes (the cache folder, the fallback
    # folder under the temp dir, a scratch folder) fails
    kernel_cache.atomic_write = native.atomic_write = full
    pathlib.Path.write_text = pathlib.Path.write_bytes = full
    tempfile.mkstemp = full
    a = np.arange(6.0, dtype=np.float32)
    results = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(4):
            f = kiln.jit(lambda x, k=k: (x * (k + 1.5)).sin() + k)
            for _ in range(2):
                got = f(kiln.arange(6.0)).numpy()
                results.append(bool(np.allclose(got, np.sin(a * (k + 1.5)) + k, rtol=1e-5)))
    print(results, len([w for w in caught if "kiln" in str(w.message)]))
    """
)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_kernels_compile_in_memory_when_the_whole_disk_is_full(tmp_path, backend):
    """No file can be written anywhere: kernels still compile and run (Numba's: without
    its disk cache, once the temp dir fails too), with at most one warning."""
    env = {
        **os.environ,
        "KILN_CACHE_DIR": str(tmp_path),
        "KILN_CPU_BACKEND": backend,
        "KILN_TIERED": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", DISK_FULL],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results, warned = done.stdout.strip().splitlines()[-1].rsplit("] ", 1)
    assert results == "[" + ", ".join(["True"] * 8)
    assert int(warned) <= 1


# ------------------------------------------------- faults on later calls of compiled code


def _calls(lib, compiled, eager, make_input, n=6):
    """Each call's rounded sum or exception class (and, for a result, eager's too)."""
    seen = []
    for i in range(n):
        kind, value = outcome(lambda i=i: compiled(make_input(i)))
        if kind == "ok":
            assert_close(value, eager(make_input(i)))
            seen.append("ok")
        else:
            seen.append(kind)
    return seen


def test_data_dependent_raise_on_the_fourth_call_as_torch_compile():
    def f(lib, x):
        y = x * 2
        if (y < 0).any():
            raise ValueError("negative input")
        return y.sqrt()

    def make(lib):
        return lambda i: lib.ones(3) * (-1 if i == 3 else 1) * (i + 1)

    expected = _calls(
        torch, torch_compile(lambda x: f(torch, x)), lambda x: f(torch, x), make(torch)
    )
    assert expected == ["ok", "ok", "ok", "ValueError", "ok", "ok"]
    assert _calls(kiln, kiln.compile(lambda x: f(kiln, x)), lambda x: f(kiln, x), make(kiln)) == (
        expected
    )
    assert_clean_state()


@pytest.mark.parametrize("fault", ["hook raises", "hook raises KeyboardInterrupt"])
def test_forward_hook_faulting_on_a_later_call_of_a_compiled_module_as_torch(fault):

    def run(lib, compile_):
        lin = lib.nn.Linear(2, 2)
        state = {"call": 0}

        def hook(module, inputs, output):
            state["call"] += 1
            if state["call"] == 4:
                if fault == "hook raises":
                    raise RuntimeError("hook says no")
                # what Ctrl-C's default handler raises (signal.raise_signal was lost at
                # times on a loaded machine, in torch's run as in kiln's)
                raise KeyboardInterrupt
            return output * 2

        lin.register_forward_hook(hook)
        compiled = compile_(lin)
        seen = []
        for _ in range(6):
            try:
                seen.append(outcome(lambda: compiled(lib.ones(1, 2)))[0])
            except KeyboardInterrupt:
                seen.append("KeyboardInterrupt")
        x = lib.ones(1, 2)
        assert_close(compiled(x), lin(x))
        return seen, state["call"]

    expected = run(torch, torch_compile)
    assert expected[0][3] in ("RuntimeError", "KeyboardInterrupt")
    assert run(kiln, kiln.compile) == expected
    assert_clean_state()


def test_nan_float_index_under_trace_raises_index_error_as_eager_torch():
    with pytest.raises(IndexError, match="tensors used as indices must be long"):
        torch.ones(4)[torch.tensor([0.0, float("nan")])]
    g = kiln.jit(lambda x, i: x[i] * 2)
    _warm(g, kiln.ones(4), kiln.tensor([0, 1]), calls=5)
    with pytest.raises(IndexError, match="tensors used as indices must be long"):
        g(kiln.ones(4), kiln.tensor([0.0, float("nan")]))
    assert_clean_state()
    assert_close(g(kiln.ones(4), kiln.tensor([3])), [2.0])


MODE_CONTEXTS = {
    "no_grad": lambda lib: lib.no_grad(),
    "inference_mode": lambda lib: lib.inference_mode(),
    "autocast": lambda lib: lib.autocast("cpu"),
    "set_detect_anomaly": lambda lib: lib.autograd.set_detect_anomaly(True),
    "set_grad_enabled": lambda lib: lib.set_grad_enabled(False),
}


@pytest.mark.parametrize("context", sorted(MODE_CONTEXTS))
def test_modes_entered_inside_a_compiled_function_are_left_on_exception_as_torch(context):
    """The function enters a mode and raises inside it, called under no_grad, plainly and
    under inference_mode: every mode is as PyTorch's eager code leaves it, each time."""

    def states(lib, g):
        def state():
            return (
                lib.is_grad_enabled(),
                lib.is_inference_mode_enabled(),
                lib.is_autocast_enabled("cpu"),
                lib.is_anomaly_enabled(),
            )

        seen = []
        for outer in (lib.no_grad, lambda: lib.set_grad_enabled(True), lib.inference_mode):
            with outer():
                for _ in range(2):
                    seen.append(outcome(lambda: g(lib.ones(3)))[0])
                    seen.append(state())
            seen.append(state())
        return seen

    def make(lib):
        def f(x):
            with MODE_CONTEXTS[context](lib):
                y = x * 2
                if x.shape[0] == 3:
                    raise ValueError("inside the mode")
            return y

        return f

    expected = states(torch, make(torch))
    assert expected[0] == "ValueError"
    assert states(kiln, kiln.compile(make(kiln))) == expected
    assert_clean_state()


RACING_COMPILES = textwrap.dedent(
    """
    import threading, warnings
    import numpy as np
    import kiln

    results, errors = {}, []
    barrier = threading.Barrier(4)

    def work(k):
        try:
            barrier.wait()
            f = kiln.jit(lambda x: (x * (k + 0.5)).cos() - k)
            expected = np.cos(np.arange(5.0) * (k + 0.5)) - k
            results[k] = bool(np.allclose(f(kiln.arange(5.0)).numpy(), expected, rtol=1e-5))
        except BaseException as error:
            errors.append(repr(error))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    warned = [str(w.message) for w in caught if "kiln" in str(w.message)]
    print(sorted(results.items()), errors, warned)
    """
)


def test_two_processes_of_four_threads_compile_into_a_missing_cache_folder(tmp_path):
    """The cache folder does not exist yet: eight threads in two processes create it
    and compile the same Numba kernels into it at once; all correct, no warning, and
    every entry is sound afterwards."""
    from kiln.runtime import kernel_cache

    folder = tmp_path / "not" / "yet"
    env = {**os.environ, "KILN_CACHE_DIR": str(folder), "KILN_CPU_BACKEND": "numba"}
    env["KILN_TIERED"] = "0"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACING_COMPILES],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        assert out.strip().splitlines()[-1] == (
            "[(0, True), (1, True), (2, True), (3, True)] [] []"
        ), out + err[-2000:]
    info = kernel_cache.cache_info(folder / "kernels")
    assert info["entries"] >= 4 and info["damaged"] == 0 and info["stale"] == 0


def test_compiled_calls_on_inf_and_nan_do_not_warn_where_torch_does_not():
    """PyTorch computes inf - inf and 0 * inf silently; kiln silences NumPy's warnings
    from its own modules, which once missed the executor's generated run function
    (``<kiln executor ...>: RuntimeWarning: invalid value encountered in matmul`` in a
    GradScaler step with inf gradients). (In a script: pytest drops import-time filters.)"""
    script = textwrap.dedent(
        """
        import numpy as np
        import kiln

        lin = kiln.nn.Linear(3, 3)
        f = kiln.jit(lambda x: (lin(x) @ lin.weight).sum() + (x - x).mean())
        x = kiln.full((2, 3), float("inf"))
        for _ in range(3):
            out = f(x)
            (f(x * -1)).item()
        print(bool(out.isnan()))
        np.array([np.inf]) - np.array([np.inf])  # the user's own NumPy code still warns
        """
    )
    for tiered in ("0", "1"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "KILN_TIERED": tiered},
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip() == "True"
        warned = [line for line in done.stderr.splitlines() if "RuntimeWarning" in line]
        assert len(warned) == 1 and "<string>:12" in warned[0], done.stderr


def test_memory_error_inside_a_compiled_backward(monkeypatch):
    """The compiled backward's output pool cannot allocate: PyTorch's RuntimeError, no
    gradient written; the retained graph's backward then works, and so do new calls."""
    from kiln.runtime import buffers

    monkeypatch.setattr(kiln.jit.config, "tiered", False)  # (the compiled tier's pools)
    w = kiln.randn(8, 8, requires_grad=True)
    f = kiln.jit(lambda x: ((x @ w).tanh() * 2).sum())
    x = kiln.randn(4, 8)
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    ((torch.tensor(x.numpy()) @ tw).tanh() * 2).sum().backward()
    f(x).backward()
    assert_close(w.grad, tw.grad.numpy(), tol=1e-5)
    w.grad = None
    out = f(x)
    original = buffers.OutputPool.take

    def take(self):
        raise MemoryError("Unable to allocate 8.00 EiB for an array")

    monkeypatch.setattr(buffers.OutputPool, "take", take)
    with pytest.raises(RuntimeError, match="can't allocate memory"):
        out.backward(retain_graph=True)
    assert w.grad is None
    assert_clean_state()
    monkeypatch.setattr(buffers.OutputPool, "take", original)
    out.backward()
    assert_close(w.grad, tw.grad.numpy(), tol=1e-5)
    w.grad = None
    f(x).backward()
    assert_close(w.grad, tw.grad.numpy(), tol=1e-5)


@pytest.mark.parametrize("name", ["gather", "scatter"])
def test_out_of_range_gather_and_scatter_under_trace_raise_runtime_error_as_torch(name):
    torch_class, _ = outcome(lambda: _index_case(name, torch, [0, 4]))
    eager_class, _ = outcome(lambda: _index_case(name, kiln, [0, 4]))
    assert torch_class == eager_class == "RuntimeError"
    g = kiln.jit(lambda x, i: INDEX_OPS[name](kiln, x, i))
    x = kiln.arange(12.0).reshape(4, 3)
    _warm(g, x, kiln.tensor([0, 2]), calls=3)
    with pytest.raises(RuntimeError):
        g(x, kiln.tensor([0, 4]))


def test_custom_function_backward_faults_under_anomaly_mode_as_torch():
    """A custom Function's backward raising passes through anomaly mode unchanged; one
    returning NaN is named by its class, as PyTorch's 'GBackward'."""

    def run(lib):
        class Raising(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                raise ArithmeticError("bad backward")

        class G(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad * float("nan")

        x = lib.ones(3, requires_grad=True)
        seen = []
        for anomaly in (False, True):
            with lib.autograd.set_detect_anomaly(anomaly):
                seen.append(outcome(lambda: Raising.apply(x).sum().backward()))
                seen.append(outcome(lambda: G.apply(x).sum().backward()))
                seen.append(lib.is_anomaly_enabled())
        seen.append((x.grad.isnan().all().item(), lib.is_anomaly_enabled()))
        return seen

    expected = run(torch)
    assert expected[4] == (
        "RuntimeError",
        "Function 'GBackward' returned nan values in its 0th output.",
    )
    assert run(kiln) == expected
    assert_clean_state()
