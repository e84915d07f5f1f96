"""First-call compile latency in fresh processes: kiln.jit beside jax.jit and torch.compile.

    python bench/compile_latency.py                      # every framework, 3 repeats
    python bench/compile_latency.py --repeats 1 --only kiln,jax
    python bench/compile_latency.py --markdown out.md    # also write the table as Markdown

Frameworks (``--only`` takes these names): ``kiln`` (``kiln.jit``, the native LLVM back
end, tiered as by default: a call runs through the reference interpreter while LLVM
compiles, when that is sooner), ``kiln-untiered`` (the same with ``KILN_TIERED=0``: the
first call waits for every kernel), ``kiln-numba`` (``kiln.jit`` with
``KILN_CPU_BACKEND=numba``, the old back end),
``jax`` (``jax.jit``) and ``torch`` (``torch.compile``, default inductor back end). One not
importable is skipped with a note.

Workloads (``--workloads``), the definitions of the other benchmarks, imported:

* ``mlp``: the MLP 784-512-512-10 training step, batch 256, SGD with momentum 0.9
  (``bench/training.py``: ``kiln_mlp_step``, ``torch_mlp_step``; the jax step is
  ``jax_mlp_step`` below: ``jax.value_and_grad`` and the momentum update under one
  ``jax.jit``);
* ``gelu``: the tanh-GELU of ``bench/run.py`` (``_gelu``), built for torch and jax the way
  ``competitors.frameworks`` builds them, on 2^20 float32 instead of run.py's 2^24 so that
  the run time of a call does not hide the compile time.

Every measurement is a new Python process. ``cold``: all caches empty (a new temporary
folder for ``KILN_CACHE_DIR`` and ``NUMBA_CACHE_DIR``, for torch
``TORCHINDUCTOR_CACHE_DIR`` and ``TRITON_CACHE_DIR``, for jax the persistent compilation
cache, enabled in that folder with ``jax_persistent_cache_min_compile_time_secs=0`` and
``jax_persistent_cache_min_entry_size_bytes=0``). ``warm``: a second new process on the
same folders. Each process reports

* import: ``import`` of the framework, first thing in the process (the benchmark modules
  that define the workloads are imported after it and are not counted);
* build: making the model / inputs and wrapping the function (``kiln.jit``, ``jax.jit``,
  ``torch.compile``);
* first call, second call (an SGD step with momentum changes the optimizer's state after
  the first step, which may compile again), steady (the median of 20 calls after those two)
  and first-call overhead = first - steady.

The numbers are medians over ``--repeats`` pairs of processes. The result of each process
is checked (the MLP's first loss is near ln 10; the GELU against NumPy), so a framework that
returns garbage fast is reported, not ranked.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
GELU_N = 1 << 20
STEADY_CALLS = 20

# name -> (module that must be importable, label in the table, extra environment)
FRAMEWORKS = {
    "kiln": ("kiln", "kiln.jit (native)", {"KILN_CPU_BACKEND": "native"}),
    "kiln-untiered": (
        "kiln",
        "kiln.jit (untiered)",
        {"KILN_CPU_BACKEND": "native", "KILN_TIERED": "0"},
    ),
    "kiln-numba": ("kiln", "kiln.jit (numba)", {"KILN_CPU_BACKEND": "numba", "KILN_TIERED": "0"}),
    "jax": ("jax", "jax.jit", {}),
    "torch": ("torch", "torch.compile", {}),
}
WORKLOADS = {
    "mlp": "MLP 784-512-512-10 training step, batch 256, SGD momentum",
    "gelu": "tanh-GELU on 2^20 float32",
}


# ------------------------------------------------------------------ the jax MLP step


def jax_mlp_step(jax, jnp, lr=0.01):
    """The training step of ``bench/training.py`` in jax: forward, ``jax.value_and_grad``
    and SGD with momentum (PyTorch's rule: v = 0.9 v + g; p -= lr v) under one ``jax.jit``.
    Weights are drawn like ``nn.Linear``'s (uniform in +-1/sqrt(fan_in))."""
    import numpy as np
    from training import SIZES

    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(
            (
                jnp.asarray(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)),
                jnp.asarray(rng.uniform(-bound, bound, fan_out).astype(np.float32)),
            )
        )
    velocity = jax.tree_util.tree_map(jnp.zeros_like, params)

    def loss_fn(params, x, y):
        h = x
        for k, (w, b) in enumerate(params):
            h = h @ w + b
            if k < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=-1)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    @jax.jit
    def update(params, velocity, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        velocity = jax.tree_util.tree_map(lambda v, g: 0.9 * v + g, velocity, grads)
        params = jax.tree_util.tree_map(lambda p, v: p - lr * v, params, velocity)
        return params, velocity, loss

    state = [params, velocity]

    def step(x, y):
        state[0], state[1], loss = update(state[0], state[1], x, y)
        return loss

    return step


# ------------------------------------------------------------ one process, one result


def _import(framework: str):
    if framework.startswith("kiln"):
        import kiln

        return kiln
    if framework == "jax":
        import jax
        import jax.numpy  # noqa: F401

        return jax
    import torch

    return torch


def _workload_module(workload: str):
    """bench/training.py or bench/run.py (both import kiln; run.py also Numba)."""
    sys.path.insert(0, BENCH)
    if workload == "mlp":
        import training

        return training
    import run

    return run


def _build(framework: str, workload: str, module, bench, cache: str):
    """(call, check): ``call()`` runs the compiled workload once and waits for it;
    ``check(result)`` is the MLP's loss or the GELU's largest error against NumPy."""
    import numpy as np

    if framework == "jax":
        module.config.update("jax_compilation_cache_dir", os.path.join(cache, "jax"))
        module.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        module.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if framework == "torch":
        # as competitors._torch: every core this process may use
        module.set_num_threads(max(1, len(os.sched_getaffinity(0))))

    if workload == "mlp":
        x, y = bench._data()
        if framework.startswith("kiln"):
            step = module.jit(bench.kiln_mlp_step())
            args = module.from_numpy(x), module.from_numpy(y)
            return (lambda: step(*args)), (lambda r: float(r.item()))
        if framework == "jax":
            step = jax_mlp_step(module, module.numpy)
            args = module.device_put(x), module.device_put(y.astype(np.int32))
            return (lambda: step(*args).block_until_ready()), float
        step = bench.torch_mlp_step(module, compiled=True)
        args = module.from_numpy(x), module.from_numpy(y)
        return (lambda: step(*args)), (lambda r: float(r.item()))

    x = bench._random(GELU_N)
    expected = bench._gelu(np, x.astype(np.float64))

    def error(result):
        return float(np.max(np.abs(np.asarray(result, dtype=np.float64) - expected)))

    if framework.startswith("kiln"):
        compiled = module.jit(lambda x: bench._gelu(module, x))
        kx = module.from_numpy(x)
        return (lambda: compiled(kx)), (lambda r: error(r.numpy()))
    if framework == "jax":
        jnp = module.numpy
        jitted = module.jit(lambda x: bench._gelu(jnp, x))
        dx = module.device_put(x)
        return (lambda: jitted(dx).block_until_ready()), error
    torch = module
    compiled = torch.compile(lambda x: bench._gelu(torch, x))
    tx = torch.from_numpy(x)

    def call():
        with torch.no_grad():
            return compiled(tx)

    return call, lambda r: error(r.numpy())


def child(framework: str, workload: str, cache: str) -> dict:
    """Time one framework on one workload in this (new) process."""
    t0 = time.perf_counter()
    module = _import(framework)
    t1 = time.perf_counter()
    bench = _workload_module(workload)
    t2 = time.perf_counter()
    call, check = _build(framework, workload, module, bench, cache)
    t3 = time.perf_counter()
    first = call()
    t4 = time.perf_counter()
    call()
    t5 = time.perf_counter()
    times = []
    for _ in range(STEADY_CALLS):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return {
        "import_s": t1 - t0,
        "build_s": t3 - t2,
        "first_s": t4 - t3,
        "second_s": t5 - t4,
        "steady_s": statistics.median(times),
        "check": check(first),
    }


# ------------------------------------------------------------------------ the parent


def _environment(framework: str, cache: str) -> dict:
    env = dict(os.environ, **FRAMEWORKS[framework][2])
    env.update(
        KILN_CACHE_DIR=os.path.join(cache, "kiln"),
        NUMBA_CACHE_DIR=os.path.join(cache, "numba"),
        TORCHINDUCTOR_CACHE_DIR=os.path.join(cache, "inductor"),
        TRITON_CACHE_DIR=os.path.join(cache, "triton"),
    )
    return env


def _spawn(framework: str, workload: str, cache: str) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--child", framework, workload, cache]
    try:
        done = subprocess.run(
            command,
            env=_environment(framework, cache),
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        return {"failed": "timed out after 900 s"}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return {"failed": lines[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _verdict(workload: str, check: float) -> str | None:
    """Why a result is wrong, or None."""
    if workload == "mlp":
        if not (math.isfinite(check) and abs(check - math.log(10)) < 0.3):
            return f"first loss {check!r}, expected about ln 10 = 2.30"
    elif not check <= 1e-4:
        return f"max |gelu - numpy| = {check!r}"
    return None


KEYS = ("import_s", "build_s", "first_s", "second_s", "steady_s")


def measure(frameworks, workloads, repeats: int) -> list[dict]:
    """One row per (workload, framework, cold / warm): the medians over ``repeats``."""
    rows = []
    for workload in workloads:
        for framework in frameworks:
            runs = {"cold": [], "warm": []}
            failed = {}
            for _ in range(repeats):
                with tempfile.TemporaryDirectory(prefix="kiln-latency-") as cache:
                    for state in ("cold", "warm"):
                        result = _spawn(framework, workload, cache)
                        if "failed" not in result:
                            wrong = _verdict(workload, result["check"])
                            if wrong:
                                result = {"failed": "wrong result: " + wrong}
                        if "failed" in result:
                            failed[state] = result["failed"]
                        else:
                            runs[state].append(result)
            for state in ("cold", "warm"):
                row = {"workload": workload, "framework": framework, "state": state}
                if state in failed:
                    row["failed"] = failed[state]
                else:
                    for key in KEYS:
                        row[key] = statistics.median(r[key] for r in runs[state])
                    row["check"] = runs[state][0]["check"]
                rows.append(row)
                print(_line(row), flush=True)
    return rows


def _line(row: dict) -> str:
    head = f"{row['workload']:<5} {FRAMEWORKS[row['framework']][1]:<20} {row['state']:<4}"
    if "failed" in row:
        return f"{head} FAILED: {row['failed']}"
    return (
        f"{head} import {row['import_s']:6.2f} s  build {row['build_s']:6.2f} s  "
        f"first {row['first_s']:7.2f} s  second {row['second_s']:7.3f} s  "
        f"steady {row['steady_s'] * 1e3:8.2f} ms  "
        f"overhead {row['first_s'] - row['steady_s']:7.2f} s"
    )


def table(rows: list[dict], header: str) -> str:
    lines = [
        header,
        "",
        "| workload | framework | cache | import (s) | build (s) | first call (s) "
        "| second call (s) | steady call (ms) | first-call overhead (s) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = FRAMEWORKS[row["framework"]][1]
        if "failed" in row:
            lines.append(
                f"| {row['workload']} | {name} | {row['state']} | failed: {row['failed']} "
                "| | | | | |"
            )
            continue
        lines.append(
            f"| {row['workload']} | {name} | {row['state']} | {row['import_s']:.2f} "
            f"| {row['build_s']:.2f} | {row['first_s']:.2f} | {row['second_s']:.3f} "
            f"| {row['steady_s'] * 1e3:.2f} | {row['first_s'] - row['steady_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for package in ("torch", "jax", "jaxlib", "llvmlite"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


def _names(text: str, known: dict, what: str, parser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="process pairs (median)")
    parser.add_argument("--only", default=",".join(FRAMEWORKS), help="frameworks, comma list")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma list")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    frameworks = _names(args.only, FRAMEWORKS, "framework(s)", parser)
    workloads = _names(args.workloads, WORKLOADS, "workload(s)", parser)
    available = []
    for name in frameworks:
        if importlib.util.find_spec(FRAMEWORKS[name][0]) is None:
            print(f"note: {name} skipped ({FRAMEWORKS[name][0]} is not importable)")
        else:
            available.append(name)

    sys.path.insert(0, BENCH)
    import run

    load_before = os.getloadavg()
    started = time.perf_counter()
    print(f"Machine: {run.machine()}; {_versions()}", flush=True)
    rows = measure(available, workloads, args.repeats)
    load_after = os.getloadavg()
    header = (
        f"Machine: {run.machine()}; {_versions()}.\n"
        f"First-call latency in fresh processes, median of {args.repeats} cold/warm pair(s); "
        f"workloads: {'; '.join(f'{w}: {WORKLOADS[w]}' for w in workloads)}. "
        f"Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        f"({time.perf_counter() - started:.0f} s): a shared machine, other jobs ran at the "
        "same time."
    )
    text = table(rows, header)
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
