"""Benchmarks of whole programs: an MLP training step, eager dispatch, compile latency.

``register(benchmark)`` adds the timed benchmarks to ``bench/run.py``'s table;
``compile_latency()`` measures first-call latency in fresh processes (cold and warm kernel
cache) and returns its own rows.

    python bench/training.py            # only these
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import kiln
import kiln.nn as nn
import kiln.nn.functional as F

BATCH, SIZES = 256, (784, 512, 512, 10)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return x, y


def kiln_mlp_step(lr=0.01):
    """A kiln model, optimizer and step function (the same code eager and jitted)."""
    kiln.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(SIZES[0], SIZES[1]),
        nn.ReLU(),
        nn.Linear(SIZES[1], SIZES[2]),
        nn.ReLU(),
        nn.Linear(SIZES[2], SIZES[3]),
    )
    opt = kiln.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def numpy_mlp_step(lr=0.01):
    """The same step written by hand in NumPy (forward, backward, SGD with momentum)."""
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(
            [
                rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32),
                rng.uniform(-bound, bound, fan_out).astype(np.float32),
            ]
        )
    velocity = [[np.zeros_like(w), np.zeros_like(b)] for w, b in params]

    def step(x, y):
        acts = [x]
        h = x
        for k, (w, b) in enumerate(params):
            h = h @ w + b
            if k < len(params) - 1:
                h = np.maximum(h, 0)
            acts.append(h)
        m = h.max(1, keepdims=True)
        e = np.exp(h - m)
        p = e / e.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y]).mean()
        g = p
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        for k in range(len(params) - 1, -1, -1):
            w, b = params[k]
            gw, gb = acts[k].T @ g, g.sum(0)
            if k:
                g = (g @ w.T) * (acts[k] > 0)
            for param, grad, vel in ((w, gw, velocity[k][0]), (b, gb, velocity[k][1])):
                vel *= 0.9
                vel += grad
                param -= lr * vel
        return loss

    return step


def torch_mlp_step(torch, compiled=False, lr=0.01):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(SIZES[1], SIZES[2]),
        torch.nn.ReLU(),
        torch.nn.Linear(SIZES[2], SIZES[3]),
    )
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return torch.compile(step) if compiled else step


def register(benchmark):
    @benchmark("mlp step", f"MLP {'-'.join(map(str, SIZES))} training step, batch {BATCH}")
    def mlp_step():
        x, y = _data()
        kx, ky = kiln.from_numpy(x), kiln.from_numpy(y)
        eager = kiln_mlp_step()
        jitted = kiln.jit(kiln_mlp_step())
        candidates = {
            "numpy": lambda: numpy_mlp_step_cached(x, y),
            "kiln eager": lambda: eager(kx, ky),
            "kiln.jit": lambda: jitted(kx, ky),
        }
        try:
            import torch

            tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            t_eager = torch_mlp_step(torch)
            candidates["torch eager"] = lambda: t_eager(tx, ty)
            t_compiled = torch_mlp_step(torch, compiled=True)
            candidates["torch.compile"] = lambda: t_compiled(tx, ty)
        except ImportError:
            pass
        try:
            import jax
            import jax.numpy as jnp
            from compile_latency import jax_mlp_step

            jx, jy = jnp.asarray(x), jnp.asarray(y)
            j_step = jax_mlp_step(jax, jnp)
            # (block: jax dispatches asynchronously; the others return finished work)
            candidates["jax.jit"] = lambda: j_step(jx, jy).block_until_ready()
        except ImportError:
            pass
        return candidates

    numpy_step = numpy_mlp_step()

    def numpy_mlp_step_cached(x, y):
        return numpy_step(x, y)

    @benchmark("dispatch", "one eager op on 4x4 float32 (a + b), autograd off")
    def dispatch():
        a = np.ones((4, 4), np.float32)
        b = np.ones((4, 4), np.float32)
        ka, kb = kiln.from_numpy(a), kiln.from_numpy(b)
        loop = range(1000)

        def kiln_ops():
            for _ in loop:
                ka + kb

        def numpy_ops():
            for _ in loop:
                a + b  # noqa: B018

        candidates = {"numpy": numpy_ops, "kiln eager": kiln_ops}
        try:
            import torch

            ta, tb = torch.from_numpy(a), torch.from_numpy(b)

            def torch_ops():
                for _ in loop:
                    ta + tb  # noqa: B018

            candidates["torch eager"] = torch_ops
        except ImportError:
            pass
        return candidates


_LATENCY_SCRIPT = """
import time, sys
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
import numpy as np, kiln
from training import kiln_mlp_step, _data
x, y = _data()
step = kiln.jit(kiln_mlp_step())
t1 = time.perf_counter()
step(kiln.from_numpy(x), kiln.from_numpy(y))
t2 = time.perf_counter()
print(f"{{t2 - t1:.4f}} {{t1 - t0:.4f}}")
"""


def compile_latency(repeats: int = 3):
    """First call of the jitted MLP step in new processes: (cold s, warm s, import s)."""
    bench = os.path.dirname(os.path.abspath(__file__))
    script = _LATENCY_SCRIPT.format(bench=bench)

    def first_call(cache_dir):
        env = dict(os.environ, KILN_CACHE_DIR=cache_dir)
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        call, imports = map(float, out.stdout.split())
        return call, imports

    cold, warm, imports = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            c, i = first_call(cache)
            w, _ = first_call(cache)
        cold.append(c)
        warm.append(w)
        imports.append(i)
    return float(np.median(cold)), float(np.median(warm)), float(np.median(imports))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run

    register(run.benchmark)
    rows = run.run(["mlp step", "dispatch"], repeats=20)
    print(run.table(rows, "training and dispatch"))
    started = time.perf_counter()
    cold, warm, imports = compile_latency()
    print(
        f"compile latency of the jitted MLP step: cold {cold:.2f} s, warm cache {warm:.3f} s "
        f"(import kiln + build model {imports:.2f} s)"
    )
