"""kiln's benchmarks: one command, one table, every competitor measured in the same run.

    python bench/run.py                 # everything
    python bench/run.py softmax gelu    # only these
    python bench/run.py --markdown bench/RESULTS.md   # also write the table as Markdown

Each benchmark is one function registered with ``@benchmark``: it builds its inputs and
returns ``{candidate name: zero-argument callable}``; the runner warms each callable up,
times it (median of repeats) and prints milliseconds and the speedup over NumPy. Optional
competitors (torch eager, ``torch.compile``, ``jax.jit``) appear when importable. Adding a
benchmark::

    @benchmark("my op", "what it computes, on what shapes")
    def my_op():
        x = ...
        return {"numpy": lambda: ..., "kiln.jit": lambda: ...}
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import competitors  # noqa: E402  (bench/competitors.py: optional torch / jax / numba loops)

import kiln  # noqa: E402


@dataclass
class Benchmark:
    name: str
    description: str
    build: Callable[[], dict[str, Callable[[], object]]]


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, description: str):
    """Register ``build() -> {candidate: callable}`` under ``name``."""

    def register(build):
        BENCHMARKS[name] = Benchmark(name, description, build)
        return build

    return register


def measure(function: Callable[[], object], repeats: int, budget: float = 3.0) -> float:
    """Median seconds of ``function()`` over ``repeats`` calls (fewer if over ``budget``)."""
    function()
    function()
    times = []
    started = time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        function()
        times.append(time.perf_counter() - t)
        if time.perf_counter() - started > budget and len(times) >= 5:
            break
    return statistics.median(times)


# ---------------------------------------------------------------------------- the set

N = 1 << 24
ROWS, COLS = 4096, 1024


def _random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@benchmark("seed", "(a**2 + b**2) ** 0.5 on 2^24 float32")
def seed():
    a, b = _random(N), _random(N, seed=1)
    ka, kb = kiln.from_numpy(a), kiln.from_numpy(b)

    @kiln.jit
    def hypot(a, b):
        return (a**2 + b**2) ** 0.5

    out = np.empty_like(a)
    candidates = {
        "numpy": lambda: (a**2 + b**2) ** 0.5,
        "kiln eager": lambda: (ka**2 + kb**2) ** 0.5,
        "kiln.jit": lambda: hypot(ka, kb),
        "numba hand loop": lambda: competitors.hand_hypot(a, b, out),
    }
    candidates.update(competitors.frameworks(lambda m, a, b: (a**2 + b**2) ** 0.5, a, b))
    return candidates


def _gelu(module, x):
    return 0.5 * x * (1 + module.tanh(0.7978845608 * (x + 0.044715 * x**3)))


@benchmark("gelu", "tanh-GELU on 2^24 float32")
def gelu():
    x = _random(N)
    kx = kiln.from_numpy(x)
    compiled = kiln.jit(lambda x: _gelu(kiln, x))
    out = np.empty_like(x)
    candidates = {
        "numpy": lambda: _gelu(np, x),
        "kiln.jit": lambda: compiled(kx),
        "numba hand loop": lambda: competitors.hand_gelu(x, out),
    }
    candidates.update(competitors.frameworks(lambda m, x: _gelu(m, x), x))
    return candidates


def _softmax_numpy(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@benchmark("softmax", "row softmax on 4096x1024 float32")
def softmax():
    x = _random(ROWS, COLS)
    kx = kiln.from_numpy(x)

    @kiln.jit
    def kiln_softmax(x):
        e = (x - x.amax(-1, keepdim=True)).exp()
        return e / e.sum(-1, keepdim=True)

    out = np.empty_like(x)
    candidates = {
        "numpy": lambda: _softmax_numpy(x),
        "kiln.jit": lambda: kiln_softmax(kx),
        "numba hand loop": lambda: competitors.hand_softmax(x, out),
    }
    candidates.update(
        competitors.frameworks(
            lambda m, x: m.softmax(x, -1) if m is not None else None, x, kind="softmax"
        )
    )
    return candidates


def _layernorm_numpy(x, w, b):
    mean = x.mean(-1, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(-1, keepdims=True)
    return centered / np.sqrt(var + 1e-5) * w + b


@benchmark("layernorm", "layer norm (with weight and bias) over rows of 4096x1024 float32")
def layernorm():
    x, w, b = _random(ROWS, COLS), _random(COLS, seed=1), _random(COLS, seed=2)
    kx, kw, kb = (kiln.from_numpy(v) for v in (x, w, b))

    @kiln.jit
    def kiln_layernorm(x, w, b):
        mean = x.mean(-1, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(-1, keepdim=True)
        return centered / (var + 1e-5).sqrt() * w + b

    candidates = {
        "numpy": lambda: _layernorm_numpy(x, w, b),
        "kiln.jit": lambda: kiln_layernorm(kx, kw, kb),
    }
    candidates.update(competitors.frameworks(None, x, w, b, kind="layernorm"))
    return candidates


# benchmarks of whole programs (MLP step, eager dispatch) live in bench/training.py
try:
    import training  # noqa: E402
except ImportError as exc:  # pragma: no cover - a missing optional dependency
    print(f"bench/training.py not loaded: {exc}", file=sys.stderr)
else:
    training.register(benchmark)


# ---------------------------------------------------------------------------- the runner


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba

    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"NumPy {np.__version__}, Numba {numba.__version__} "
        f"(threading layer {numba.threading_layer() if _ran_parallel() else '?'})"
    )


def _ran_parallel() -> bool:
    try:
        import numba

        numba.threading_layer()
        return True
    except ValueError:
        return False


def run(names, repeats: int) -> list[tuple]:
    rows = []
    for name in names:
        bench = BENCHMARKS[name]
        candidates = bench.build()
        timings = {}
        for candidate, function in candidates.items():
            try:
                timings[candidate] = measure(function, repeats)
            except Exception as exc:  # a competitor that cannot run this is reported, not fatal
                print(
                    f"  {name}/{candidate}: skipped ({type(exc).__name__}: {exc})"[:200],
                    file=sys.stderr,
                )
        base = timings.get("numpy")
        for candidate, seconds in timings.items():
            ratio = base / seconds if base else math.nan
            rows.append((name, candidate, seconds * 1e3, ratio))
            print(
                f"{name:<10} {candidate:<18} {seconds * 1e3:9.3f} ms  {ratio:6.2f}x numpy",
                flush=True,
            )
    return rows


def table(rows, header: str) -> str:
    lines = [
        header,
        "",
        "| benchmark | candidate | time (ms, median) | speedup vs NumPy |",
        "|---|---|---:|---:|",
    ]
    for name, candidate, ms, ratio in rows:
        lines.append(f"| {name} | {candidate} | {ms:.3f} | {ratio:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    rows = run(names, args.repeats)
    text = table(rows, f"Machine: {machine()}")
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
