"""Eager kiln against NumPy (and torch eager when importable), side by side in one run.

    python bench/eager.py                # every workload
    python bench/eager.py seed demo      # only these
    python bench/eager.py --repeats 30

The workloads are bench/run.py's (the seed expression, tanh-GELU, row softmax, layer norm,
the MLP training step) written once per library with the same operations, plus the demo's
training step (``python -m kiln demo``: MLP 64-128-10 with dropout, cross entropy, Adam,
batch 64) in steps per second, and one 4x4 add (the dispatch cost of one op). Each time is
the median of several runs; the ratio is kiln's time over NumPy's (or torch's, for the demo,
which has no NumPy version), so lower is better and 1.20 is the goal.

On a shared machine, compare with ``OPENBLAS_NUM_THREADS=1 python bench/eager.py --cpu``:
with OpenBLAS's default threads, its idle workers spin after each matrix product and take
the cores from the Python code between products (kiln's step has more of it than the
hand-written NumPy step), so the MLP and demo ratios then measure the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import training  # noqa: E402  (bench/training.py: the MLP step in kiln, NumPy and torch)

import kiln  # noqa: E402

# torch's OpenMP threads would spin after each torch call, slowing what runs next
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

N = 1 << 24
ROWS, COLS = 4096, 1024
DEMO_STEPS = 20  # demo steps per timed call


CLOCK = time.perf_counter  # --cpu: time.process_time (this process's CPU seconds)


def measure(functions: dict, repeats: int, budget: float = 6.0) -> dict:
    """Median seconds of each of ``functions`` (two warm-up calls each, then rounds that
    call every function once, interleaved, so a change in the machine's load hits all)."""
    for function in functions.values():
        function()
        function()
    times = {name: [] for name in functions}
    started = time.perf_counter()
    for _ in range(repeats):
        for name, function in functions.items():
            t = CLOCK()
            function()
            times[name].append(CLOCK() - t)
        if time.perf_counter() - started > budget and len(times[name]) >= 5:
            break
    return {name: statistics.median(ts) for name, ts in times.items()}


def _random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------ the workloads
# Each returns {library: zero-argument callable}; the code is the same in every library.


def seed():
    a, b = _random(N), _random(N, seed=1)
    ka, kb = kiln.from_numpy(a), kiln.from_numpy(b)
    out = {"numpy": lambda: (a**2 + b**2) ** 0.5, "kiln": lambda: (ka**2 + kb**2) ** 0.5}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out["torch"] = lambda: (ta**2 + tb**2) ** 0.5
    return out


def gelu():
    def f(m, x):
        return 0.5 * x * (1 + m.tanh(0.7978845608 * (x + 0.044715 * x**3)))

    x = _random(N)
    kx = kiln.from_numpy(x)
    out = {"numpy": lambda: f(np, x), "kiln": lambda: f(kiln, kx)}
    if torch is not None:
        tx = torch.from_numpy(x)
        out["torch"] = lambda: f(torch, tx)
    return out


def softmax():
    x = _random(ROWS, COLS)
    kx = kiln.from_numpy(x)

    def np_softmax():
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def kiln_softmax():
        e = (kx - kx.amax(-1, keepdim=True)).exp()
        return e / e.sum(-1, keepdim=True)

    out = {"numpy": np_softmax, "kiln": kiln_softmax}
    if torch is not None:
        tx = torch.from_numpy(x)

        def torch_softmax():
            e = (tx - tx.amax(-1, keepdim=True)).exp()
            return e / e.sum(-1, keepdim=True)

        out["torch"] = torch_softmax
    return out


def layernorm():
    x, w, b = _random(ROWS, COLS), _random(COLS, seed=1), _random(COLS, seed=2)
    kx, kw, kb = (kiln.from_numpy(v) for v in (x, w, b))

    def np_layernorm():
        mean = x.mean(-1, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(-1, keepdims=True)
        return centered / np.sqrt(var + 1e-5) * w + b

    def make(x, w, b):
        def layernorm():
            mean = x.mean(-1, keepdim=True)
            centered = x - mean
            var = (centered * centered).mean(-1, keepdim=True)
            return centered / (var + 1e-5).sqrt() * w + b

        return layernorm

    out = {"numpy": np_layernorm, "kiln": make(kx, kw, kb)}
    if torch is not None:
        out["torch"] = make(*(torch.from_numpy(v) for v in (x, w, b)))
    return out


def mlp_step():
    x, y = training._data()
    kx, ky = kiln.from_numpy(x), kiln.from_numpy(y)
    numpy_step, kiln_step = training.numpy_mlp_step(), training.kiln_mlp_step()
    out = {"numpy": lambda: numpy_step(x, y), "kiln": lambda: kiln_step(kx, ky)}
    if torch is not None:
        t_step = training.torch_mlp_step(torch)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        out["torch"] = lambda: t_step(tx, ty)
    return out


def demo_step():
    """The demo's step on one batch of 64 digits-sized inputs (random data, same shapes)."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 64), dtype=np.float32)
    y = rng.integers(0, 10, 64)

    def make(lib, x, y):
        lib.manual_seed(0)
        nn = lib.nn
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))
        opt = lib.optim.Adam(model.parameters(), lr=1e-2)
        cross_entropy = lib.nn.functional.cross_entropy

        def step():
            opt.zero_grad()
            loss = cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        def steps():
            for _ in range(DEMO_STEPS):
                step()

        return steps

    out = {"kiln": make(kiln, kiln.from_numpy(x), kiln.from_numpy(y))}
    if torch is not None:
        out["torch"] = make(torch, torch.from_numpy(x), torch.from_numpy(y))
    return out


def dispatch():
    """One 4x4 float32 add (no autograd): the cost of dispatching an op."""
    a = np.ones((4, 4), np.float32)
    b = np.ones((4, 4), np.float32)
    ka, kb = kiln.from_numpy(a), kiln.from_numpy(b)
    loop = range(1000)

    def numpy_ops():
        for _ in loop:
            a + b  # noqa: B018

    def kiln_ops():
        for _ in loop:
            ka + kb  # noqa: B018

    out = {"numpy": numpy_ops, "kiln": kiln_ops}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)

        def torch_ops():
            for _ in loop:
                ta + tb  # noqa: B018

        out["torch"] = torch_ops
    return out


WORKLOADS = {
    "seed": (seed, "(a**2 + b**2) ** 0.5, 2^24 float32"),
    "gelu": (gelu, "tanh-GELU, 2^24 float32"),
    "softmax": (softmax, "row softmax, 4096x1024 float32"),
    "layernorm": (layernorm, "layer norm with weight and bias, 4096x1024 float32"),
    "mlp": (mlp_step, "MLP 784-512-512-10 SGD-momentum train step, batch 256"),
    "demo": (demo_step, "demo step: MLP 64-128-10, dropout, Adam, batch 64"),
    "dispatch": (dispatch, "1000 x (4x4 float32 add), autograd off"),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"workloads: {', '.join(WORKLOADS)}")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time CPU seconds of this process (steadier on a shared machine; run with "
        "OPENBLAS_NUM_THREADS=1 so that NumPy's matmul is one thread, as the rest)",
    )
    args = parser.parse_args(argv)
    if args.cpu:
        global CLOCK
        CLOCK = time.process_time
    names = args.names or list(WORKLOADS)
    print(f"{'workload':<10} {'numpy':>10} {'kiln':>10} {'torch':>10} {'kiln/base':>10}   what")
    for name in names:
        build, what = WORKLOADS[name]
        functions = build()
        torch_step = functions.pop("torch", None)
        times = measure(functions, args.repeats)
        if torch_step is not None:  # alone: torch's idle threads spin and slow the others
            times.update(measure({"torch": torch_step}, args.repeats))
        base = times.get("numpy", times.get("torch"))
        cells = []
        for lib in ("numpy", "kiln", "torch"):
            t = times.get(lib)
            if t is None:
                cells.append(f"{'-':>10}")
            elif name == "demo":
                cells.append(f"{DEMO_STEPS / t:7.0f}/s ")  # steps per second
            elif name == "dispatch":
                cells.append(f"{t * 1e3:7.2f} us")  # per op: 1000 ops per call
            else:
                cells.append(f"{t * 1e3:7.2f} ms")
        ratio = times["kiln"] / base
        print(f"{name:<10} {' '.join(cells)} {ratio:9.2f}x   {what}", flush=True)


if __name__ == "__main__":
    main()
