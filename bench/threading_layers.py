"""Which Numba threading layer lets parallel kernels and BLAS matmuls take turns well?

Runs the same workload in one subprocess per configuration (the layer is fixed when
Numba first runs a parallel kernel, so each needs a fresh process):

* ``kernel``: a parallel elementwise kernel alone (bias + relu over 128x512);
* ``matmul``: ``np.matmul`` (OpenBLAS) alone, 128x784 @ 784x512;
* ``mixed``: an MLP-like step, matmul -> kernel -> matmul -> kernel, as kiln schedules run.

    python bench/threading_layers.py

The decision it informs is in ``runtime/threads.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CONFIGURATIONS = {
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
    "omp": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "ACTIVE"},
    "omp + OMP_WAIT_POLICY=PASSIVE": {
        "NUMBA_THREADING_LAYER": "omp",
        "OMP_WAIT_POLICY": "PASSIVE",
        "KMP_BLOCKTIME": "0",
    },
}

WORKER = r"""
import json, statistics, time
import numpy as np
from numba import njit, prange

@njit(parallel=True, fastmath={"contract"})
def bias_relu(h, b, out):
    for i in prange(h.shape[0]):
        for j in range(h.shape[1]):
            v = h[i, j] + b[j]
            out[i, j] = v if v > 0 else np.float32(0)

rng = np.random.default_rng(0)
x = rng.standard_normal((128, 784)).astype(np.float32)
w1 = rng.standard_normal((784, 512)).astype(np.float32)
w2 = rng.standard_normal((512, 512)).astype(np.float32)
b = rng.standard_normal(512).astype(np.float32)
h1 = np.empty((128, 512), np.float32); a1 = np.empty_like(h1)
h2 = np.empty_like(h1); a2 = np.empty_like(h1)

def kernel():
    bias_relu(h1, b, a1)

def matmul():
    np.matmul(x, w1, out=h1)

def mixed():
    np.matmul(x, w1, out=h1); bias_relu(h1, b, a1)
    np.matmul(a1, w2, out=h2); bias_relu(h2, b, a2)

def median_us(f, n=300):
    for _ in range(20):
        f()
    times = []
    for _ in range(n):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6

import numba
result = {name: median_us(f) for name, f in
          (("kernel", kernel), ("matmul", matmul), ("mixed", mixed))}
result["layer"] = numba.threading_layer()
print(json.dumps(result))
"""


def measure(environment: dict) -> dict:
    env = dict(os.environ)
    for key in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "KMP_BLOCKTIME"):
        env.pop(key, None)
    env.update(environment)
    out = subprocess.run(
        [sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"{'configuration':<32} {'kernel':>10} {'matmul':>10} {'mixed step':>11}  steps/s")
    for name, environment in CONFIGURATIONS.items():
        r = measure(environment)
        print(
            f"{name:<32} {r['kernel']:8.1f}us {r['matmul']:8.1f}us {r['mixed']:9.1f}us"
            f"  {1e6 / r['mixed']:7.0f}"
        )


if __name__ == "__main__":
    main()
