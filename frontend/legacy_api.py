"""PyTorch's top-level names that older scripts still call: ``set_default_tensor_type``,
``set_flush_denormal``, the ``has_*`` build flags, ``get_device``, ``newaxis`` and
``binomial``.

>>> import kiln
>>> kiln.get_device(kiln.zeros(2)), kiln.newaxis is None
(-1, True)
"""

from __future__ import annotations

import warnings

import numpy as np

from . import compat, dtypes

__all__ = [
    "binomial",
    "get_device",
    "has_lapack",
    "has_mkl",
    "has_mkldnn",
    "has_openmp",
    "has_spectral",
    "newaxis",
    "set_default_tensor_type",
    "set_flush_denormal",
]

newaxis = None  # (NumPy's and PyTorch's: ``x[:, kiln.newaxis]``)

# What the build offers, answered for kiln so that a script takes a path that works:
# LAPACK (NumPy's linalg) and the FFT (kiln.fft) are there; MKL, oneDNN (mkldnn) and
# OpenMP are not (kiln's kernels are NumPy's and Numba's)
has_lapack = True
has_spectral = True
has_mkl = False
has_mkldnn = False
has_openmp = False

_TENSOR_TYPES = {
    "torch.FloatTensor": dtypes.float32,
    "torch.DoubleTensor": dtypes.float64,
    "torch.HalfTensor": dtypes.float16,
    "torch.BFloat16Tensor": dtypes.bfloat16,
}


_WARNED: list = []


def set_default_tensor_type(t) -> None:
    """Deprecated (PyTorch 2.1): ``set_default_tensor_type(torch.DoubleTensor)`` or
    ``("torch.DoubleTensor")`` sets the default dtype; use ``set_default_dtype``."""
    if not _WARNED:  # (once a process, as PyTorch's TORCH_WARN_ONCE)
        _WARNED.append(True)
        warnings.warn(
            "torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
            "torch.set_default_dtype() and torch.set_default_device() as alternatives.",
            UserWarning,
            stacklevel=2,
        )
    if isinstance(t, str):
        if t.startswith("torch.cuda."):
            raise TypeError(f"type {t} not available. Torch not compiled with CUDA enabled.")
        if t not in _TENSOR_TYPES:
            raise TypeError("only floating-point types are supported as the default type")
        dtype = _TENSOR_TYPES[t]
    elif t is compat.FloatTensor:
        dtype = dtypes.float32
    elif t is compat.DoubleTensor:
        dtype = dtypes.float64
    elif t in (compat.LongTensor, compat.IntTensor, compat.BoolTensor, compat.ByteTensor):
        raise TypeError("only floating-point types are supported as the default type")
    else:
        raise TypeError(
            "invalid type object: only floating-point types are supported as the default type"
        )
    dtypes.set_default_dtype(dtype)


def set_flush_denormal(mode: bool) -> bool:
    """PyTorch's: whether the CPU flushes denormal floats to zero; returns whether that
    setting is in effect. kiln computes with NumPy, which keeps denormals: turning flushing
    on is not possible (False), leaving it off is (True)."""
    return not mode


def get_device(input) -> int:  # noqa: A002 - PyTorch's name
    """The CUDA device index of ``input``, -1 for a CPU tensor."""
    return input.get_device()


def binomial(count, prob, generator=None):
    """Draws of the binomial distribution: ``count`` trials of probability ``prob`` each
    (floating tensors of one dtype, broadcast; the result has their shape and dtype)."""
    from .creation import default_generator
    from .tensor import _wrap

    if not count.dtype.is_floating_point:
        raise ValueError(
            f"binomial only supports floating-point dtypes for count, got: {count.dtype.name}"
        )
    if prob.dtype is not count.dtype:
        raise RuntimeError(
            f"binomial: found dtype {prob.dtype.name} but expected {count.dtype.name} "
            "(count and prob must have one dtype)"
        )
    trials = np.asarray(count.detach()._data, dtype=np.float64)
    p = np.asarray(prob.detach()._data, dtype=np.float64)
    trials, p = np.broadcast_arrays(trials, p)
    if np.any(trials < 0) or np.any((p < 0) | (p > 1)):
        raise RuntimeError("binomial: count must be >= 0 and prob in [0, 1]")
    rng = (generator or default_generator).numpy_generator()
    draws = rng.binomial(trials.astype(np.int64), p)
    return _wrap(draws.astype(count.dtype.np))
