"""Per-call cost of checking a compiled function's guards: kiln.jit next to torch.compile.

    python bench/guards.py                  # about a minute: forward of a 100-tensor model
    python bench/guards.py --rounds 100     # quicker, noisier

The model is ``nn.Sequential`` of 50 ``nn.Linear(8, 8)`` (100 parameter tensors) on a
4x8 input, built the same way in both libraries and called under ``no_grad``. The inputs
are tiny on purpose: every figure is dominated by per-call bookkeeping, not arithmetic.

What each row times (one call; the table gives the median and the 10th/90th percentiles).
Every row is timed warm (one untimed call, then a batch of calls: the call's data is in
the CPU caches, as in a tight loop); rows ending in ", cold" time a single call right after
rewriting 48 MiB of unrelated memory (nothing of the call is cached: the worst case,
where a real step, whose other work evicts part of the caches, lies in between):

kiln
  guard check      ``c.stale_reason()`` on the cached variant ``c`` (a ``Compiled``): the
                   captured-tensor epoch, the traced guards and the Python guards (the
                   ``GuardSet``); None when all hold, which is the case here.
  key              ``jf._key((x,), {})``: the cache key of the arguments (their tree,
                   shapes, dtypes, devices) and their flattened leaves.
  key + guards     ``jf._find(jf._key((x,), {})[0])``: everything a call does to pick a
                   variant (the argument signature, then the guard check). This is what
                   torch's guard check covers: dynamo has no separate key, the input
                   tensors' shapes, dtypes and strides are guards of the entry.
  executable.run   the compiled graph alone, on the arrays a call would fetch.
  jf(x)            the whole call.
  jf(x), graph stubbed
                   the whole call with ``c.executable`` swapped (between batches) for an
                   object whose ``run`` returns the saved results at once: the per-call
                   overhead (key, guards, fetching 101 input arrays, wrapping the output)
                   measured directly, not as a difference of two noisy medians.

torch.compile
  guard check      ``RootGuardManager.check(f_locals)`` of the frame's dynamo cache entry
                   (found with ``torch._dynamo.eval_frame._debug_get_cache_entry_list``),
                   called from Python on a dict of the frame's locals. A real call runs
                   the same guard tree from C++ on the frame's own locals (by slot, not by
                   dict key) and without the pybind call, so this row is slightly high.
  graph            the FX graph dynamo produced, called on the tensors dynamo passes it
                   (a recording backend: ``gm.forward``, what the ``"eager"`` backend
                   returns, behind a one-line Python function that the stubbed row swaps).
  compiled(x)      the whole ``torch.compile(model)(x)`` call.
  compiled(x), graph stubbed
                   the whole call with the graph swapped for a function returning the
                   saved results: OptimizedModule's wrappers, setting the frame evaluator,
                   the guard check and the call into the transformed frame.
  eager model(x)   the uncompiled module, for scale.

Guards do not depend on the backend: dynamo builds the same guard tree whatever compiles
the graph, so the ``eager`` backend used here only saves inductor's compile time.

Not measured: a training step. kiln compiles the jitted step of this model (forward,
backward, SGD) in minutes on a small machine, and torch.compile splits such a step into
several frames (a graph break at ``loss.backward()``, the optimizer's own frame), each
with its own guards, so there is no single guard check to time.

How to read it: torch's "guard check" compares with kiln's "key + guards" (torch's guards
include the input checks); the two "graph stubbed" rows are each library's whole per-call
overhead. Warm and cold differ several times over, most for the check that touches most
memory (torch's walks a tree of 318 guard managers and 101 tensors; kiln's, while the
module-structure and tensor-metadata epochs are unchanged, reads those two counters and
runs three guards): compare warm with warm and cold with cold.

Timings interleave all candidates round by round in shuffled order, so slow phases of a
loaded machine hit every row alike; p10/p90 show how noisy the run was. Both libraries run
on one thread: the model is far too small to parallelise, and a worker pool left spinning
by one library's kernels would slow down the other's rows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import kiln
import kiln.nn as knn

LAYERS, WIDTH, BATCH = 50, 8, 4
SAMPLE_S = 200e-6  # each warm sample times a batch of calls lasting about this long
EVICT_BYTES = 48 << 20  # rewritten before each cold sample: more than most L3 caches


# ------------------------------------------------------------------------------ timing


def batch_size(function: Callable[[], object]) -> int:
    """How many calls of ``function`` make one sample of about ``SAMPLE_S``."""
    for _ in range(3):
        function()
    t = time.perf_counter()
    for _ in range(5):
        function()
    per_call = (time.perf_counter() - t) / 5
    return max(1, min(1000, round(SAMPLE_S / max(per_call, 1e-9))))


def sample(function: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``function`` over one batch of ``calls``."""
    loop = range(calls)
    t = time.perf_counter()
    for _ in loop:
        function()
    return (time.perf_counter() - t) / calls


@dataclass
class Candidate:
    """One row: ``function`` is timed with ``context()`` entered around each sample.

    A warm sample makes one untimed call, then times a batch of calls; a cold sample
    evicts the CPU caches (``evict``), then times a single call.
    """

    function: Callable[[], object]
    context: Callable = contextlib.nullcontext
    cold: bool = False


EVICTION = np.zeros(EVICT_BYTES // 8)


def evict() -> None:
    """Push what the last calls left in the CPU caches out (rewrite a buffer past L3)."""
    np.add(EVICTION, 1.0, out=EVICTION)


def measure(candidates: dict, rounds: int, budget: float) -> dict[str, list[float]]:
    """Per-call seconds of each ``Candidate``: one sample each per round, in shuffled order
    (so that no row always follows the same one).
    """
    names = list(candidates)
    calls = {}
    for name, c in candidates.items():
        with c.context():
            calls[name] = 1 if c.cold else batch_size(c.function)
    times: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(0)
    started = time.perf_counter()
    for r in range(rounds):
        order.shuffle(names)
        for name in names:
            c = candidates[name]
            with c.context():
                if c.cold:
                    evict()
                else:
                    c.function()
                times[name].append(sample(c.function, calls[name]))
        if time.perf_counter() - started > budget and r >= 20:
            break
    return times


def stats(seconds: list[float]) -> tuple[float, float, float]:
    """(median, p10, p90) in microseconds."""
    us = np.asarray(seconds) * 1e6
    return float(np.median(us)), float(np.percentile(us, 10)), float(np.percentile(us, 90))


# ------------------------------------------------------------------------------ kiln


class SavedResults:
    """Stands for a kiln executable: ``run`` returns results computed once, instantly."""

    def __init__(self, results):
        self.results = results

    def run(self, arrays):
        return self.results


def kiln_candidates():
    """kiln's timed callables and guard counts, for the jitted 50-layer model."""
    kiln.manual_seed(0)
    model = knn.Sequential(*[knn.Linear(WIDTH, WIDTH) for _ in range(LAYERS)])
    x = kiln.randn(BATCH, WIDTH)
    jf = kiln.jit(model)
    started = time.perf_counter()
    with kiln.no_grad():
        jf(x)
        jf(x)
    compile_s = time.perf_counter() - started
    assert jf.trace_count == 1 and len(jf.cache) == 1
    c = next(iter(jf.cache.values()))[0]
    assert c.stale_reason() is None, c.stale_reason()
    with kiln.no_grad():  # the key includes grad mode: the timings run under no_grad too
        assert jf._find(jf._key((x,), {})[0]) is c
    arrays = [fetch([x]) for fetch in c.fetchers]
    run = c.executable.run
    args: tuple = (x,)
    kwargs: dict = {}
    guards = c.python_guards
    counts = {
        "parameters": len(list(model.parameters())),
        "python guards": f"{len(guards)} ({len(guards.free)} checked per call, "
        f"{len(guards.covered)} covered by the module structure epoch)",
        "captured tensors": f"{len(c.captured)} (re-checked only when a tensor's "
        "metadata epoch moved)",
        "traced guards": len(c.guards),
        "graph inputs": len(c.fetchers),
    }
    saved = SavedResults(run(arrays))

    @contextlib.contextmanager
    def stubbed():
        executable, c.executable = c.executable, saved
        try:
            yield
        finally:
            c.executable = executable

    def call():
        return jf(x)

    def key_and_guards():
        return jf._find(jf._key(args, kwargs)[0])

    candidates = {
        "guard check": Candidate(c.stale_reason),
        "guard check, cold": Candidate(c.stale_reason, cold=True),
        "key": Candidate(lambda: jf._key(args, kwargs)),
        "key + guards": Candidate(key_and_guards),
        "key + guards, cold": Candidate(key_and_guards, cold=True),
        "executable.run": Candidate(lambda: run(arrays)),
        "jf(x)": Candidate(call),
        "jf(x), graph stubbed": Candidate(call, stubbed),
        "jf(x), graph stubbed, cold": Candidate(call, stubbed, cold=True),
    }
    return candidates, counts, compile_s


# ------------------------------------------------------------------------------ torch


def count_guards(manager) -> tuple[int, int, int]:
    """(leaf guards, the checks they print, guard managers) in a dynamo guard tree."""
    from torch._C._dynamo.guards import DictGuardManager

    leaf_guards = manager.get_leaf_guards()
    leaves, managers = len(leaf_guards), 1
    checks = sum(len(g.verbose_code_parts()) for g in leaf_guards)
    children = list(manager.get_child_managers())
    if isinstance(manager, DictGuardManager):
        for key, value in manager.get_key_value_managers().values():
            children += [m for m in (key, value) if m is not None]
    for child in children:
        n, k, m = count_guards(child)
        leaves, checks, managers = leaves + n, checks + k, managers + m
    return leaves, checks, managers


def torch_candidates():
    """torch's timed callables and guard counts, or a reason why there are none."""
    try:
        import torch
        from torch._dynamo.eval_frame import _debug_get_cache_entry_list, innermost_fn
    except ImportError as e:
        return None, f"torch is not importable ({e})", 0.0
    torch.set_num_threads(1)  # before compiling: the guards include the thread count
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS)])
    x = torch.randn(BATCH, WIDTH)
    graphs = []
    target = [None]  # what the graph function dynamo calls runs: the graph, or a stub

    def recording(gm, example_inputs):
        """The "eager" backend, keeping the tensors dynamo passed the graph."""
        target[0] = gm.forward

        def graph(*tensors):
            return target[0](*tensors)

        graphs.append((graph, list(example_inputs)))
        return graph

    torch._dynamo.reset()
    compiled = torch.compile(model, backend=recording)
    started = time.perf_counter()
    with torch.no_grad():
        compiled(x)
        compiled(x)
    compile_s = time.perf_counter() - started
    if len(graphs) != 1:
        return None, f"expected one graph, dynamo made {len(graphs)}", compile_s

    # torch.compile(module) wraps a torch.nn module in an extra frame
    # (external_utils.wrap_inline: ``inner(*args, **kwargs)`` closing over ``fn``, the
    # module) and compiles that frame; other modules get ``forward`` / ``_call_impl``.
    frames = [
        innermost_fn(compiled.forward),
        type(model).forward,
        torch.nn.Module._call_impl,
        torch.nn.Module._wrapped_call_impl,
    ]
    for frame in frames:
        entries = _debug_get_cache_entry_list(frame.__code__)
        if entries:
            break
    else:
        return None, "no dynamo cache entry found on the candidate frames", compile_s
    if len(entries) != 1:
        return None, f"expected one cache entry, found {len(entries)}", compile_s
    code = frame.__code__

    def frame_locals(tensor) -> dict:
        """The locals of the compiled frame when the model is called on ``tensor``."""
        if code.co_name == "inner":  # inner(*args, **kwargs)
            f_locals = {"args": (tensor,), "kwargs": {}}
        else:  # forward(self, input)
            f_locals = {code.co_varnames[0]: model, code.co_varnames[1]: tensor}
        for name, cell in zip(code.co_freevars, frame.__closure__ or ()):
            f_locals[name] = cell.cell_contents  # the free variables are locals too
        return f_locals

    f_locals = frame_locals(x)
    check = entries[0].guard_manager.root.check
    with torch.no_grad():  # the guards include grad mode
        if not check(f_locals):
            return None, "the guard check fails on the frame's locals", compile_s
        if check(frame_locals(torch.randn(BATCH + 1, WIDTH))):
            return None, "the guard check passes a changed input", compile_s
    leaves, checks, managers = count_guards(entries[0].guard_manager.root)
    graph, inputs = graphs[0]
    with torch.no_grad():
        results = graph(*inputs)

    @contextlib.contextmanager
    def stubbed():
        function, target[0] = target[0], lambda *tensors: results
        try:
            yield
        finally:
            target[0] = function

    where = os.path.relpath(code.co_filename, torch.__path__[0])
    counts = {
        "parameters": len(list(model.parameters())),
        "frame compiled": f"{code.co_name} (torch/{where}:{code.co_firstlineno})",
        "guards": f"{leaves} leaf guards ({checks} checks) in {managers} guard managers",
        "graph inputs": len(inputs),
    }

    def guard_check():
        return check(f_locals)

    def call():
        return compiled(x)

    candidates = {
        "guard check": Candidate(guard_check),
        "guard check, cold": Candidate(guard_check, cold=True),
        "graph": Candidate(lambda: graph(*inputs)),
        "compiled(x)": Candidate(call),
        "compiled(x), graph stubbed": Candidate(call, stubbed),
        "compiled(x), graph stubbed, cold": Candidate(call, stubbed, cold=True),
        "eager model(x)": Candidate(lambda: model(x)),
    }
    return candidates, counts, compile_s


# ------------------------------------------------------------------------------ main


def versions() -> str:
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"({len(os.sched_getaffinity(0))} usable), load average "
        f"{os.getloadavg()[0]:.1f}; Python {platform.python_version()}\n"
        f"kiln {kiln.__version__}, torch {torch_version}; one thread each"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="samples per row (max)")
    parser.add_argument("--budget", type=float, default=40.0, help="seconds of timing (max)")
    args = parser.parse_args(argv)

    kiln.set_num_threads(1)
    print(versions())
    print(f"model: Sequential of {LAYERS} Linear({WIDTH}, {WIDTH}), input {BATCH}x{WIDTH}, no_grad")
    k_candidates, k_counts, k_compile = kiln_candidates()
    t_candidates, t_counts, t_compile = torch_candidates()
    print(f"\nkiln.jit (first two calls {k_compile:.1f} s)")
    for name, value in k_counts.items():
        print(f"  {name:17} {value}")
    print(f"torch.compile, eager backend, recording (first two calls {t_compile:.1f} s)")
    if t_candidates is None:
        print(f"  not measured: {t_counts}")
        t_candidates = {}
    else:
        for name, value in t_counts.items():
            print(f"  {name:17} {value}")

    candidates = {f"kiln  {k}": f for k, f in k_candidates.items()}
    candidates |= {f"torch {k}": f for k, f in t_candidates.items()}
    with contextlib.ExitStack() as grad_off:  # every call runs under no_grad, as compiled
        grad_off.enter_context(kiln.no_grad())
        if t_candidates:
            import torch

            grad_off.enter_context(torch.no_grad())
        times = measure(candidates, args.rounds, args.budget)

    rows = {name: stats(ts) for name, ts in times.items()}
    rounds = min(len(ts) for ts in times.values())
    print(f"\nmicroseconds per call ({rounds} interleaved samples per row)")
    print(f"  {'':38} {'median':>9} {'p10':>9} {'p90':>9}")
    for name, (median, p10, p90) in rows.items():
        print(f"  {name:38} {median:9.2f} {p10:9.2f} {p90:9.2f}")


if __name__ == "__main__":
    main()
