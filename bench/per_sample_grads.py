"""Per-sample gradients of a small MLP over a batch of 256: ``vmap(grad)`` against a loop.

Candidates: kiln's Python loop of ``kiln.func.grad`` (one sample at a time), kiln's
``vmap(grad)`` eagerly and under ``kiln.jit``, PyTorch's loop and ``torch.func.vmap(grad)``,
and ``jax.jit(jax.vmap(jax.grad))`` when JAX is importable. Every candidate's gradients are
checked against kiln's loop before it is timed.

    python bench/per_sample_grads.py [--repeat N]   (N rounds, candidates interleaved)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import kiln
import kiln.nn.functional as F
from kiln.func import functional_call, grad, vmap

BATCH, IN, HIDDEN, OUT = 256, 32, 64, 10


class MLP(kiln.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = kiln.nn.Linear(IN, HIDDEN)
        self.fc2 = kiln.nn.Linear(HIDDEN, HIDDEN)
        self.fc3 = kiln.nn.Linear(HIDDEN, OUT)

    def forward(self, x):
        return self.fc3(kiln.tanh(self.fc2(kiln.tanh(self.fc1(x)))))


def interleaved_ms(candidates, repeat):
    """``{name: (median, best)}`` over ``repeat`` rounds that time every candidate once
    (the slow loops every fifth round): on a shared machine the load then falls on all
    candidates alike, and the best is the closer estimate of an undisturbed run."""
    for fn in candidates.values():
        fn()  # warm up (and compile)
    times: dict = {name: [] for name in candidates}
    for r in range(repeat):
        for name, fn in candidates.items():
            if "loop" in name and r % 5:
                continue
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def kiln_candidates(model, x, y):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xb, yb):
        out = functional_call(model, p, (xb.unsqueeze(0),))
        return F.cross_entropy(out, yb.unsqueeze(0))

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    jitted = kiln.jit(per_sample)
    one = grad(loss)

    def loop():
        grads = [one(params, x[i], y[i]) for i in range(BATCH)]
        return {k: kiln.stack([g[k] for g in grads]) for k in params}

    return {
        "kiln loop (eager grad per sample)": loop,
        "kiln vmap(grad) eager": lambda: per_sample(params, x, y),
        "kiln jit(vmap(grad))": lambda: jitted(params, x, y),
    }


def torch_candidates(model, x, y):
    try:
        import torch
        import torch.func as tf
    except ImportError:
        return {}
    tm = torch.nn.Sequential(
        torch.nn.Linear(IN, HIDDEN),
        torch.nn.Tanh(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.Tanh(),
        torch.nn.Linear(HIDDEN, OUT),
    )
    names = [k for k, _ in model.named_parameters()]
    with torch.no_grad():
        for dst, src in zip(tm.parameters(), model.parameters()):
            dst.copy_(torch.from_numpy(src.detach().numpy()))
    tnames = [k for k, _ in tm.named_parameters()]
    params = {k: v.detach() for k, v in tm.named_parameters()}
    tx, ty = torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())

    def loss(p, xb, yb):
        out = tf.functional_call(tm, p, (xb.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, yb.unsqueeze(0))

    per_sample = tf.vmap(tf.grad(loss), in_dims=(None, 0, 0))

    def loop():
        grads = []
        for i in range(BATCH):
            tm.zero_grad()
            loss(dict(tm.named_parameters()), tx[i], ty[i]).backward()
            grads.append([p.grad.clone() for p in tm.parameters()])
        return {k: torch.stack([g[j] for g in grads]) for j, k in enumerate(tnames)}

    def rename(fn):
        return lambda: {names[tnames.index(k)]: v for k, v in fn().items()}

    return {
        "torch loop (backward per sample)": rename(loop),
        "torch.func vmap(grad)": rename(lambda: per_sample(params, tx, ty)),
    }


def jax_candidates(model, x, y):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    params = {k: jnp.asarray(v.detach().numpy()) for k, v in model.named_parameters()}

    def loss(p, xb, yb):
        h = jnp.tanh(p["fc1.weight"] @ xb + p["fc1.bias"])
        h = jnp.tanh(p["fc2.weight"] @ h + p["fc2.bias"])
        out = p["fc3.weight"] @ h + p["fc3.bias"]
        return jax.nn.logsumexp(out) - out[yb]

    per_sample = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))
    jx, jy = jnp.asarray(x.numpy()), jnp.asarray(y.numpy())

    def run():
        out = per_sample(params, jx, jy)
        jax.block_until_ready(out)
        return out

    return {"jax.jit(jax.vmap(jax.grad))": run}


def main(repeat: int = 20):
    kiln.manual_seed(0)
    model = MLP()
    rng = np.random.default_rng(0)
    x = kiln.from_numpy(rng.standard_normal((BATCH, IN)).astype(np.float32))
    y = kiln.from_numpy(rng.integers(0, OUT, BATCH).astype(np.int64))
    candidates = {
        **kiln_candidates(model, x, y),
        **torch_candidates(model, x, y),
        **jax_candidates(model, x, y),
    }
    reference = None
    for name, fn in candidates.items():
        got = {k: np.asarray(v) for k, v in fn().items()}
        if reference is None:
            reference = got
        for k, want in reference.items():
            np.testing.assert_allclose(got[k], want, rtol=2e-4, atol=2e-6, err_msg=name)
    measured = interleaved_ms(candidates, repeat)
    rows = [(name, *measured[name]) for name in candidates]
    base = rows[0][1]
    print(f"per-sample gradients, MLP {IN}-{HIDDEN}-{HIDDEN}-{OUT}, batch {BATCH}, float32")
    print("| candidate | time (ms, median) | best (ms) | speedup vs kiln loop (median) |")
    print("|---|---:|---:|---:|")
    for name, median, best in rows:
        print(f"| {name} | {median:.2f} | {best:.2f} | {base / median:.1f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    main(parser.parse_args().repeat)
