"""Tiered execution (compiler/compile.py, ``Executable``): while LLVM compiles a jitted
function's new kernels, a call the reference interpreter finishes sooner runs there; the
compiled tier takes over once the kernels are ready.

The compile threads are held back on purpose (``_held``) so that which tier runs is
decided by the test, not by the machine's speed. Every result is compared with the
untiered compiled run and with eager kiln.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from kiln.compiler import compile as compile_module
from kiln.jit import config
from kiln.runtime import native


@pytest.fixture
def tiered(monkeypatch):
    monkeypatch.setattr(config, "tiered", True)


@pytest.fixture
def held(monkeypatch, tmp_path):
    """LLVM's threads wait until ``release()``: new kernels stay compiling (only in this
    process: a forked child compiles at once)."""
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_loaded", {})  # (no kernel of an earlier test is found)
    # LLVM is expected to take a minute a kernel (no measurement of an earlier test is
    # believed): calls interpret while it is held, whatever a call measures
    monkeypatch.setattr(native, "_kernel_seconds", [])
    monkeypatch.setattr(compile_module, "KERNEL_SECONDS", 60.0)
    gate = threading.Event()
    parent = os.getpid()
    original = native._compile_object

    def slow(*args, **kwargs):
        if os.getpid() == parent:
            gate.wait(timeout=60)
        return original(*args, **kwargs)

    monkeypatch.setattr(native, "_compile_object", slow)
    yield gate
    gate.set()


def _chain(x, y):
    return ((x * y + 1.0).tanh() * 0.5 - y.exp() * 0.25).sum(1)


def test_a_first_call_runs_in_the_interpreter_while_llvm_compiles(tiered, held):
    rng = np.random.default_rng(0)
    x = kiln.tensor(rng.standard_normal((32, 50)).astype(np.float32))
    y = kiln.tensor(rng.standard_normal((32, 50)).astype(np.float32))
    f = kiln.jit(_chain)
    first = f(x, y)
    executable = f.inspect(x, y).executable
    assert f.inspect(x, y).tiers == {"interpreter": 1, "compiled": 0}
    assert executable.compiling()
    np.testing.assert_allclose(first.numpy(), _chain(x, y).numpy(), rtol=1e-5, atol=1e-5)
    f(x, y)
    assert f.inspect(x, y).tiers == {"interpreter": 2, "compiled": 0}
    held.set()
    executable.wait()
    assert not executable.compiling()
    third = f(x, y)
    assert f.inspect(x, y).tiers == {"interpreter": 2, "compiled": 1}
    assert f.trace_count == 1
    np.testing.assert_allclose(third.numpy(), first.numpy(), rtol=1e-5, atol=1e-5)


def test_the_interpreted_tier_warns_no_more_than_the_kernels(tiered, held):
    import warnings

    x = kiln.tensor(np.array([np.inf, 1.0, -1.0, 0.0], np.float32))
    f = kiln.jit(lambda x: (x - x) / (x * 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(x)
    assert f.inspect(x).tiers["interpreter"] == 1
    assert np.isnan(out.numpy()).all()


def test_a_call_the_interpreter_would_take_longer_on_waits_for_the_compiler(
    tiered, held, monkeypatch
):
    # 2^22 elements through a dozen ops: far longer interpreted than one kernel compiles
    # (a kernel's compile time is fixed here: one measured by another test's compile still
    # finishing in the background, on a loaded machine, made this call interpret once)
    monkeypatch.setattr(compile_module, "_kernel_seconds", lambda: 0.03)
    x = kiln.ones(1 << 22)

    def fn(x):
        for _ in range(6):
            x = (x * 1.0001).sin() + 0.5
        return x

    assert compile_module.interpret_seconds(kiln.trace(fn, x)) > 0.05
    f = kiln.jit(fn)
    threading.Timer(0.2, held.set).start()
    out = f(x)
    assert f.inspect(x).tiers == {"interpreter": 0, "compiled": 1}
    np.testing.assert_allclose(out.numpy()[:5], fn(x).numpy()[:5], rtol=1e-5)


def test_the_interpreted_tier_ends_when_the_compile_is_overdue(tiered, held):
    """Interpreted calls may starve LLVM's threads (a small training step's OpenBLAS
    threads spin between calls): past the compile's expected time a call waits for the
    kernels instead of interpreting forever (the demo's step once ran interpreted for all
    of its 220 steps)."""
    import time

    x = kiln.randn(8, 50)
    f = kiln.jit(_chain)
    f(x, x)
    executable = f.inspect(x, x).executable
    assert f.inspect(x, x).tiers == {"interpreter": 1, "compiled": 0}
    executable._compile_expected = 0.0  # (as if the expected time had passed)
    threading.Timer(0.3, held.set).start()
    started = time.perf_counter()
    out = f(x, x)
    assert time.perf_counter() - started > 0.2  # it waited for LLVM
    assert f.inspect(x, x).tiers == {"interpreter": 1, "compiled": 1}
    np.testing.assert_allclose(out.numpy(), _chain(x, x).numpy(), rtol=1e-5, atol=1e-5)


def test_untiered_calls_never_interpret(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "tiered", False)
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    x = kiln.randn(8, 50)
    f = kiln.jit(_chain)
    f(x, x)
    assert f.inspect(x, x).tiers == {"interpreter": 0, "compiled": 1}


def test_a_training_step_moves_from_the_interpreter_to_kernels(tiered, held):
    """The same parameters as eager, step after step, across the switch of tiers."""

    def build():
        kiln.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.25), nn.Linear(16, 3))
        opt = kiln.optim.Adam(model.parameters(), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, step

    rng = np.random.default_rng(1)
    batches = [
        (
            kiln.tensor(rng.standard_normal((12, 6)).astype(np.float32)),
            kiln.tensor(rng.integers(0, 3, 12)),
        )
        for _ in range(5)
    ]
    eager_model, eager_step = build()
    kiln.manual_seed(7)
    eager_losses = [eager_step(x, y).item() for x, y in batches]
    model, step = build()
    f = kiln.jit(step)
    kiln.manual_seed(7)
    losses = []
    for k, (x, y) in enumerate(batches):
        if k == 2:
            held.set()
            f.inspect(x, y).executable.wait()  # (the compiled tier from now on)
        losses.append(f(x, y).item())
    assert f.inspect(*batches[0]).tiers == {"interpreter": 2, "compiled": 3}
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_dropout_draws_the_same_mask_in_both_tiers(tiered, held):
    x = kiln.ones(64, 64)
    f = kiln.jit(lambda x: F.dropout(x, 0.5, training=True))
    kiln.manual_seed(3)
    interpreted = f(x).numpy()
    assert f.inspect(x).tiers["interpreter"] == 1
    held.set()
    f.inspect(x).executable.wait()
    kiln.manual_seed(3)
    compiled = f(x).numpy()
    assert f.inspect(x).tiers["compiled"] == 1
    np.testing.assert_array_equal(interpreted, compiled)
    kiln.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=True).numpy(), compiled)


_EXITS_EARLY = """
import numpy as np, kiln
from kiln.runtime import native
f = kiln.jit(lambda x, y: ((x * y + 1.0).tanh() * 0.5 - y.exp() * 0.25).sum(1))
x = kiln.ones(16, 40)
f(x, x)
print(f.inspect(x, x).tiers["interpreter"], native.native_stats["compiled"],
      native.native_stats["disk"])
"""


def test_kernels_compiled_behind_interpreted_calls_reach_the_disk_cache(tmp_path):
    """A process that exits right after an interpreted first call still leaves its
    kernels: the compile threads store them (and the process waits for them at exit)."""
    env = {**os.environ, "KILN_CACHE_DIR": str(tmp_path), "KILN_TIERED": "1"}
    env.pop("KILN_DISABLE_JIT", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", _EXITS_EARLY], env=env, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    second = runs[1].stdout.split()
    assert second[0] == "0" and second[1] == "0" and int(second[2]) >= 1, runs[1].stdout
    assert list((tmp_path / "kernels" / "native").glob("*.o"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_compiles_the_kernels_its_parent_was_waiting_for(tiered, held):
    x = kiln.randn(10, 30)
    f = kiln.jit(_chain)
    expected = _chain(x, x).numpy()
    f(x, x)  # interpreted: LLVM is held in this process
    assert f.inspect(x, x).executable.compiling()
    pid = os.fork()  # (the child has none of the parent's compile threads)
    if pid == 0:  # pragma: no cover (the child reports through its exit status)
        status = 1
        try:
            f.inspect(x, x).executable.wait()  # compiled again, in the child
            out = f(x, x).numpy()
            ok = f.inspect(x, x).tiers["compiled"] == 1 and np.allclose(out, expected, 1e-5)
            status = 0 if ok else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    held.set()
    np.testing.assert_allclose(f(x, x).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread priority is Linux's")
@pytest.mark.parametrize("nice", ["0", "5"])
def test_compile_threads_priority_follows_kiln_compile_nice(monkeypatch, nice):
    """``KILN_COMPILE_NICE`` (0 by default) lowers LLVM's threads' priority by that much."""
    monkeypatch.setenv("KILN_COMPILE_NICE", nice)
    job = native.compile_later('define void @"kiln_probe_nice"() {\nentry:\n  ret void\n}\n')
    job.result()

    def probe():
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        native._local.niced = False  # (as a compile thread before its first job)
        native._lower_priority()
        after = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(
            os.PRIO_PROCESS, threading.get_native_id(), before
        ) if after == before else None
        return before, after

    before, after = native._compilers.submit(probe).result()
    assert after == min(19, before + int(nice))


def test_the_tier_estimates_become_measurements(tiered, held):
    """The interpreter's time is estimated until a call measures it; LLVM's time a kernel
    is ``KERNEL_SECONDS`` until this process has compiled one."""
    import time

    from kiln.runtime import native

    x = kiln.randn(8, 50)
    f = kiln.jit(_chain)
    started = time.perf_counter()
    f(x, x)
    elapsed = time.perf_counter() - started
    executable = f.inspect(x, x).executable
    estimate = compile_module.interpret_seconds(executable.optimized)
    measured = executable._interpret_seconds
    assert measured != estimate and 0 < measured < elapsed
    held.set()
    executable.wait()
    assert native.kernel_seconds(-1.0) > 0  # (the compile threads measured theirs)
