"""Where ``kiln.jit``'s compile time goes: CPU seconds per phase over representative graphs.

    python bench/compile_profile.py                  # every workload, phases + cProfile top 25
    python bench/compile_profile.py --top 0          # phases only
    python bench/compile_profile.py --only mlp,adam  # some workloads
    python bench/compile_profile.py --no-verify      # as a user compiles (no per-pass verify)
    python bench/compile_profile.py --warm           # kernels found in the disk cache

CPU time (``time.thread_time`` on the thread that does the work, ``time.process_time`` for
the total), so that the figures say something on a loaded, shared machine where wall time
does not. The process starts with an empty kernel cache (``KILN_CACHE_DIR`` a new temporary
folder) and untiered (``KILN_TIERED=0``): every kernel of every workload is generated and
compiled by LLVM. Passes are verified after each (``KILN_VERIFY_PASSES=1``, as the test
suite runs) unless ``--no-verify``.

Workloads (each jitted and called once; its result is checked against the eager call):
``mlp`` (MLP 64-128-128-10 training step, SGD with momentum), ``adam`` (an Adam step over
10 parameters), ``conv`` (a small conv net, forward and backward), ``layernorm``,
``softmax``, ``gelu`` (tanh GELU), ``lstm`` (an LSTM cell step, forward and backward).

Phases (exclusive: a phase nested in another is not counted twice):

* trace: the first call less the compile (running the function on tracers, guards,
  autograd), main thread;
* pass:NAME: each pipeline pass (simplify, fold, cse, dce), the pipeline's own change test
  (``pipeline``), layout, fuse, memory;
* verify: ``Graph.verify`` wherever called;
* codegen: lowering (kernel sources, LLVM IR text), main thread;
* llvm: LLVM's optimisation and code emission, on its compile threads; ``llvm (quick)``
  that of the kernels over at most ``runtime.native.QUICK_WORK`` elements and of the
  shared CPython entries (the quick pipeline), ``llvm`` the rest (the full pipeline);
* load: linking the object code into the engine, waiting excluded.

``--warm`` first runs the workloads in another process on the same cache folder, so that
the profiled process finds every kernel on disk (as a second run of the test suite does):
what is left is what every compile pays.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict

WORKLOADS = ["mlp", "adam", "conv", "layernorm", "softmax", "gelu", "lstm"]

_totals: dict[str, float] = defaultdict(float)
_counts: dict[str, int] = defaultdict(int)
_local = threading.local()


def _timed(phase: str, function):
    """``function`` whose CPU time on its thread, less that of timed calls inside it, is
    added to ``_totals[phase]``."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        started = time.thread_time()
        stack.append(0.0)
        try:
            return function(*args, **kwargs)
        finally:
            elapsed = time.thread_time() - started
            inner = stack.pop()
            _totals[phase] += elapsed - inner
            _counts[phase] += 1
            if stack:
                stack[-1] += elapsed

    return wrapper


def _instrument() -> None:
    """Wrap the compiler's phases in ``_timed`` (module attributes, looked up at call time)."""
    import kiln.compiler.codegen.schedule as schedule
    import kiln.compiler.compile as compile_module
    import kiln.compiler.ir as ir
    import kiln.compiler.passes.fuse as fuse
    import kiln.compiler.passes.layout as layout
    import kiln.compiler.passes.memory as memory
    import kiln.compiler.passes.pipeline as pipeline
    import kiln.runtime.native as native

    compile_module.compile_graph = _timed("compile", compile_module.compile_graph)
    import kiln.jit.autograd_bridge as bridge
    import kiln.jit.function as jit_function

    # (``from ... import compile_graph`` copies)
    jit_function.compile_graph = compile_module.compile_graph
    bridge.compile_graph = compile_module.compile_graph
    pipeline.DEFAULT_PASSES[:] = [
        (name, _timed(f"pass:{name}", run)) for name, run in pipeline.DEFAULT_PASSES
    ]
    pipeline.optimize = _timed("pass:pipeline", pipeline.optimize)
    layout.transpose_matmul_results = _timed("pass:layout", layout.transpose_matmul_results)
    fuse.fuse = _timed("pass:fuse", fuse.fuse)
    memory.plan_memory = _timed("pass:memory", memory.plan_memory)
    memory.describe = _timed("pass:memory", memory.describe)
    ir.Graph.verify = _timed("verify", ir.Graph.verify)
    schedule.lower = _timed("codegen", schedule.lower)
    compile_full = _timed("llvm", native._compile_object)
    compile_quick = _timed("llvm (quick)", native._compile_object)

    def compile_object(ir_text, *args, **kwargs):
        quick = ir_text.startswith(native.QUICK_MARK)
        return (compile_quick if quick else compile_full)(ir_text, *args, **kwargs)

    native._compile_object = compile_object
    native._link = _timed("load", native._link)


def _check(name, eager, compiled) -> None:
    import numpy as np

    eager = eager if isinstance(eager, (tuple, list)) else [eager]
    compiled = compiled if isinstance(compiled, (tuple, list)) else [compiled]
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(
            b.detach().numpy(), a.detach().numpy(), rtol=1e-3, atol=1e-4, err_msg=name
        )


def build(name: str):
    """(step, arguments, fresh) for a workload: ``fresh()`` rebuilds it for the eager
    check (a training step changes its parameters)."""
    import kiln
    import kiln.nn as nn
    import kiln.nn.functional as F

    kiln.manual_seed(0)
    if name == "mlp":
        model = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )
        opt = kiln.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step, (kiln.randn(32, 64), kiln.randint(0, 10, (32,)))
    if name == "adam":
        params = [
            kiln.randn(*shape, requires_grad=True)
            for shape in [(16, 8), (8,), (8, 4), (4,), (32,), (3, 3), (5, 7), (7,), (2, 2), (9,)]
        ]
        for p in params:
            p.grad = kiln.randn(*p.shape)
        opt = kiln.optim.Adam(params, lr=1e-3)

        def step():
            opt.step()
            return params[0] * 1

        return step, ()
    if name == "conv":
        model = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(8 * 4 * 4, 10),
        )

        def step(x):
            out = model(x).sum()
            out.backward()
            return out

        return step, (kiln.randn(2, 3, 8, 8),)
    if name == "layernorm":
        norm = nn.LayerNorm(64)
        return (lambda x: norm(x)), (kiln.randn(16, 64),)
    if name == "softmax":
        return (lambda x: F.softmax(x, dim=-1)), (kiln.randn(16, 64),)
    if name == "gelu":
        return (lambda x: F.gelu(x, approximate="tanh")), (kiln.randn(1024),)
    if name == "lstm":
        cell = nn.LSTMCell(16, 32)

        def step(x, h, c):
            h, c = cell(x, (h, c))
            loss = (h * c).sum()
            loss.backward()
            return loss

        return step, (kiln.randn(4, 16), kiln.randn(4, 32), kiln.randn(4, 32))
    raise ValueError(f"unknown workload {name!r} (expected one of {WORKLOADS})")


def run(names, top: int, sort: str = "tottime") -> None:
    import kiln

    _instrument()
    profiler = cProfile.Profile(time.thread_time) if top else None  # (CPU time: a loaded machine)
    total_started = time.process_time()
    rows = []
    for name in names:
        step, args = build(name)
        jitted = kiln.jit(step)
        before = dict(_totals)
        started, started_thread = time.process_time(), time.thread_time()
        if profiler:
            profiler.enable()
        result = jitted(*args)
        if profiler:
            profiler.disable()
        thread_seconds = time.thread_time() - started_thread
        seconds = time.process_time() - started
        compile_seconds = sum(_totals[k] - before.get(k, 0.0) for k in _totals if k != "llvm")
        _totals["trace"] += thread_seconds - compile_seconds
        rows.append((name, seconds))
        eager_step, eager_args = build(name)
        _check(name, eager_step(*eager_args), result)
    total = time.process_time() - total_started
    print(f"CPU seconds (process_time) of each first call, {len(names)} workloads:")
    for name, seconds in rows:
        print(f"  {name:<10} {seconds:7.3f}")
    print(f"  {'sum':<10} {sum(s for _, s in rows):7.3f}   (with the eager checks: {total:.3f})")
    print("\nper phase (CPU seconds, exclusive; calls):")
    order = sorted(_totals, key=lambda k: -_totals[k])
    for phase in order:
        if phase == "compile":
            continue
        print(f"  {phase:<16} {_totals[phase]:7.3f}  {_counts.get(phase, '')}")
    print(f"  {'compile (rest)':<16} {_totals['compile']:7.3f}")
    if profiler:
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats(sort).print_stats(top)
        print(stream.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--top", type=int, default=25, help="cProfile rows (0: none)")
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--sort", default="tottime", help="cProfile order (tottime, cumtime)")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="a first process fills the kernel cache: only trace, passes and lookups remain",
    )
    parser.add_argument("--cache", help=argparse.SUPPRESS)  # (the --warm child's folder)
    arguments = parser.parse_args()
    cache = arguments.cache or tempfile.mkdtemp(prefix="kiln-compile-profile-")
    if arguments.warm:
        command = [sys.executable, __file__, "--top", "0", "--cache", cache]
        command += ["--only", arguments.only] + (["--no-verify"] if arguments.no_verify else [])
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    os.environ["KILN_CACHE_DIR"] = cache
    os.environ["KILN_TIERED"] = "0"
    os.environ["KILN_NATIVE_SHARED"] = "0"
    os.environ["KILN_VERIFY_PASSES"] = "0" if arguments.no_verify else "1"
    run([n for n in arguments.only.split(",") if n], arguments.top, arguments.sort)


if __name__ == "__main__":
    main()
