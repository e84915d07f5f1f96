"""What kiln is measured against: hand-written Numba loops (the roofline) and, when they
are importable, PyTorch eager, ``torch.compile`` and ``jax.jit`` (never kiln dependencies).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from kiln.compiler.codegen.fastmath import fast_exp, fast_tanh
from kiln.compiler.codegen.kernel_helpers import row_max_float32

# ------------------------------------------------------------- hand-written Numba loops


@njit(parallel=True, fastmath={"contract", "afn", "arcp"}, cache=True)
def hand_hypot(a, b, out):
    for i in prange(a.shape[0]):
        out[i] = math.sqrt(a[i] * a[i] + b[i] * b[i])
    return out


@njit(parallel=True, fastmath={"contract", "afn", "arcp"}, cache=True)
def hand_gelu(x, out):
    c = np.float32(0.7978845608)
    k = np.float32(0.044715)
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = np.float32(0.5) * v * (np.float32(1) + fast_tanh(c * (v + k * v * v * v)))
    return out


@njit(parallel=True, fastmath={"contract", "afn", "arcp", "reassoc", "nsz"}, cache=True)
def hand_softmax(x, out):
    for r in prange(x.shape[0]):
        m = row_max_float32(x[r])
        s = np.float32(0)
        for j in range(x.shape[1]):
            e = fast_exp(x[r, j] - m)
            out[r, j] = e
            s += e
        inv = np.float32(1) / s
        for j in range(x.shape[1]):
            out[r, j] *= inv
    return out


# --------------------------------------------------------------------- other frameworks


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(max(1, len(__import__("os").sched_getaffinity(0))))
    return torch


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None, None
    return jax, jnp


def frameworks(expression, *arrays, kind: str = "expression") -> dict:
    """Candidates for torch eager, torch.compile and jax.jit computing the same thing.

    ``kind`` is ``"expression"`` (``expression(module, *arrays)`` with ``torch`` or
    ``jax.numpy`` as the module), ``"softmax"`` or ``"layernorm"`` (each library's own).
    """
    candidates = {}
    torch = _torch()
    if torch is not None:
        tensors = [torch.from_numpy(a) for a in arrays]
        if kind == "softmax":

            def function(x):
                return torch.softmax(x, -1)
        elif kind == "layernorm":

            def function(x, w, b):
                return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, 1e-5)
        else:

            def function(*xs):
                return expression(torch, *xs)

        with torch.no_grad():
            candidates["torch eager"] = _no_grad(torch, lambda: function(*tensors))
            try:
                compiled = torch.compile(function)
                candidates["torch.compile"] = _no_grad(torch, lambda: compiled(*tensors))
            except Exception:  # pragma: no cover - no compiler toolchain
                pass
    jax, jnp = _jax()
    if jax is not None:
        device_arrays = [jax.device_put(a) for a in arrays]
        if kind == "softmax":
            jitted = jax.jit(lambda x: jax.nn.softmax(x, axis=-1))
        elif kind == "layernorm":

            def layernorm(x, w, b):
                mean = x.mean(-1, keepdims=True)
                var = ((x - mean) ** 2).mean(-1, keepdims=True)
                return (x - mean) / jnp.sqrt(var + 1e-5) * w + b

            jitted = jax.jit(layernorm)
        else:
            jitted = jax.jit(lambda *xs: expression(jnp, *xs))
        candidates["jax.jit"] = lambda: jitted(*device_arrays).block_until_ready()
    return candidates


def _no_grad(torch, function):
    def run():
        with torch.no_grad():
            return function()

    return run
