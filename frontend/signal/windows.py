"""``kiln.signal.windows``: the window functions of ``torch.signal.windows`` (SciPy's
definitions). ``sym=False`` gives the periodic window (the symmetric one of length ``M + 1``
without its last point), for spectral analysis."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "bartlett",
    "blackman",
    "cosine",
    "exponential",
    "gaussian",
    "general_cosine",
    "general_hamming",
    "hamming",
    "hann",
    "kaiser",
    "nuttall",
]


def _make(name, M, sym, formula, dtype, device, requires_grad, one=1.0):
    import kiln

    if not isinstance(M, int) or isinstance(M, bool):
        raise TypeError(f"{name}: M must be an int, got {type(M).__name__}")
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    dtype = kiln.get_default_dtype() if dtype is None else dtype
    if not dtype.is_floating_point:
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: {dtype}")
    if M == 0:
        values = np.zeros(0)
    elif M == 1:
        values = np.full(1, one)
    else:
        n = M if sym else M + 1
        values = formula(np.arange(n, dtype=np.float64), n)[:M]
    return kiln.tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def _cosine_sum(a):
    def formula(k, n):
        return sum((-1) ** i * c * np.cos(2 * math.pi * i * k / (n - 1)) for i, c in enumerate(a))

    return formula


def general_cosine(M, *, a, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    a = list(a)
    if not a:
        raise ValueError("general_cosine: coefficients a must be a non-empty iterable")
    return _make("general_cosine", M, sym, _cosine_sum(a), dtype, device, requires_grad)


def general_hamming(
    M, *, alpha=0.54, sym=True, dtype=None, layout=None, device=None, requires_grad=False
):
    return _make(
        "general_hamming", M, sym, _cosine_sum([alpha, 1.0 - alpha]), dtype, device, requires_grad
    )


def hamming(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    return _make("hamming", M, sym, _cosine_sum([0.54, 0.46]), dtype, device, requires_grad)


def hann(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    return _make("hann", M, sym, _cosine_sum([0.5, 0.5]), dtype, device, requires_grad)


def blackman(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    return _make("blackman", M, sym, _cosine_sum([0.42, 0.5, 0.08]), dtype, device, requires_grad)


def nuttall(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    a = [0.3635819, 0.4891775, 0.1365995, 0.0106411]
    return _make("nuttall", M, sym, _cosine_sum(a), dtype, device, requires_grad)


def bartlett(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    def formula(k, n):
        return 1.0 - np.abs(2.0 * k / (n - 1) - 1.0)

    return _make("bartlett", M, sym, formula, dtype, device, requires_grad)


def cosine(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    def formula(k, n):
        return np.sin(math.pi * (k + 0.5) / n)

    return _make("cosine", M, sym, formula, dtype, device, requires_grad)


def gaussian(M, *, std=1.0, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    if std <= 0:
        raise ValueError(f"gaussian: Standard deviation must be positive, got: {std} instead.")

    def formula(k, n):
        return np.exp(-((k - (n - 1) / 2.0) ** 2) / (2 * std**2))

    return _make("gaussian", M, sym, formula, dtype, device, requires_grad)


def exponential(
    M, *, center=None, tau=1.0, sym=True, dtype=None, layout=None, device=None, requires_grad=False
):
    if tau <= 0:
        raise ValueError(f"exponential: Tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("exponential: Center must be None for symmetric windows")

    def formula(k, n):
        c = (n - 1) / 2.0 if center is None else center
        return np.exp(-np.abs(k - c) / tau)

    one = 1.0 if center is None else math.exp(-abs(center) / tau)  # M == 1: at distance center
    return _make("exponential", M, sym, formula, dtype, device, requires_grad, one=one)


def kaiser(M, *, beta=12.0, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    if beta < 0:
        raise ValueError(f"kaiser: beta must be non-negative, got: {beta} instead.")

    def formula(k, n):
        return np.kaiser(n, beta)

    return _make("kaiser", M, sym, formula, dtype, device, requires_grad)
