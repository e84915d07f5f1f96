"""``kiln.signal.windows``: PyTorch's ``torch.signal.windows`` window functions.

Each returns a 1-D tensor of length ``M`` (float32 by default, float32 or float64 allowed),
built with the same formula as PyTorch: a ``linspace`` of sample positions through an
elementwise kiln function, so ``requires_grad=True`` gives a leaf tensor as there.
``sym=False`` gives the periodic window (for spectral analysis).

>>> import kiln
>>> kiln.signal.windows.hann(5).tolist()
[0.0, 0.5, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import kiln

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


def _checks(name, M, dtype, layout):
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    # kiln has only strided tensors; a layout object of another library names itself
    if layout is not None and not str(layout).endswith("strided"):
        raise ValueError(f"{name} is implemented for strided tensors only, got: {layout}")
    if dtype not in (kiln.float32, kiln.float64):
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: {dtype}")


def _start(name, M, dtype, layout):
    """Checks the arguments; returns the dtype and, for M of 0 or 1, the finished window."""
    dtype = kiln.get_default_dtype() if dtype is None else dtype
    _checks(name, M, dtype, layout)
    if M == 0:
        return dtype, kiln.empty((0,), dtype=dtype)
    return dtype, None


def _finish(window, requires_grad):
    window = window.detach()
    return window.requires_grad_(True) if requires_grad else window


def _linspace(start, end, M, dtype):
    return kiln.linspace(start, end, steps=M, dtype=dtype)


def exponential(
    M,
    *,
    center=None,
    tau=1.0,
    sym=True,
    dtype=None,
    layout=None,
    device=None,
    requires_grad=False,
):
    """exp(-|n - center| / tau)."""
    dtype = kiln.get_default_dtype() if dtype is None else dtype
    _checks("exponential", M, dtype, layout)
    if tau <= 0:
        raise ValueError(f"Tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("Center must be None for symmetric windows")
    if M == 0:
        return _finish(kiln.empty((0,), dtype=dtype), requires_grad)
    if center is None:
        center = (M if not sym and M > 1 else M - 1) / 2.0
    c = 1 / tau
    k = _linspace(-center * c, (-center + (M - 1)) * c, M, dtype)
    return _finish(kiln.exp(-kiln.abs(k)), requires_grad)


def cosine(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """sin(pi (n + 0.5) / M)."""
    dtype, done = _start("cosine", M, dtype, layout)
    if done is not None:
        return _finish(done, requires_grad)
    c = math.pi / (M + 1 if not sym and M > 1 else M)
    k = _linspace(0.5 * c, (0.5 + (M - 1)) * c, M, dtype)
    return _finish(kiln.sin(k), requires_grad)


def gaussian(M, *, std=1.0, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """exp(-(n - (M - 1) / 2)^2 / (2 std^2))."""
    dtype = kiln.get_default_dtype() if dtype is None else dtype
    _checks("gaussian", M, dtype, layout)
    if std <= 0:
        raise ValueError(f"Standard deviation must be positive, got: {std} instead.")
    if M == 0:
        return _finish(kiln.empty((0,), dtype=dtype), requires_grad)
    start = -(M if not sym and M > 1 else M - 1) / 2.0
    c = 1 / (std * math.sqrt(2))
    k = _linspace(start * c, (start + (M - 1)) * c, M, dtype)
    return _finish(kiln.exp(-(k**2)), requires_grad)


def kaiser(M, *, beta=12.0, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """I0(beta sqrt(1 - (2n / (M - 1) - 1)^2)) / I0(beta)."""
    dtype = kiln.get_default_dtype() if dtype is None else dtype
    _checks("kaiser", M, dtype, layout)
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got: {beta} instead.")
    if M == 0:
        return _finish(kiln.empty((0,), dtype=dtype), requires_grad)
    if M == 1:
        return _finish(kiln.ones((1,), dtype=dtype), requires_grad)
    b = kiln.tensor(beta, dtype=dtype)
    c = 2.0 * b / (M if not sym else M - 1)
    end = kiln.minimum(b, -b + (M - 1) * c)
    k = _linspace(-float(beta), float(end), M, dtype)
    return _finish(kiln.i0(kiln.sqrt(b * b - k**2)) / kiln.i0(b), requires_grad)


def bartlett(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """The triangular window 1 - |2n / (M - 1) - 1|."""
    dtype, done = _start("bartlett", M, dtype, layout)
    if done is not None:
        return _finish(done, requires_grad)
    if M == 1:
        return _finish(kiln.ones((1,), dtype=dtype), requires_grad)
    c = 2 / (M if not sym else M - 1)
    k = _linspace(-1, -1 + (M - 1) * c, M, dtype)
    return _finish(1 - kiln.abs(k), requires_grad)


def general_cosine(M, *, a, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """sum_i (-1)^i a_i cos(2 pi i n / (M - 1))."""
    dtype, done = _start("general_cosine", M, dtype, layout)
    if done is not None:
        return _finish(done, requires_grad)
    if M == 1:
        return _finish(kiln.ones((1,), dtype=dtype), requires_grad)
    if not isinstance(a, Iterable):
        raise TypeError("Coefficients must be a list/tuple")
    if not a:
        raise ValueError("Coefficients cannot be empty")
    c = 2 * math.pi / (M if not sym else M - 1)
    k = _linspace(0, (M - 1) * c, M, dtype)
    a_i = kiln.tensor([(-1) ** i * w for i, w in enumerate(a)], dtype=dtype)
    i = kiln.arange(a_i.shape[0], dtype=dtype)
    return _finish((a_i.unsqueeze(-1) * kiln.cos(i.unsqueeze(-1) * k)).sum(0), requires_grad)


def general_hamming(
    M, *, alpha=0.54, sym=True, dtype=None, layout=None, device=None, requires_grad=False
):
    """alpha - (1 - alpha) cos(2 pi n / (M - 1))."""
    return general_cosine(
        M,
        a=[alpha, 1.0 - alpha],
        sym=sym,
        dtype=dtype,
        layout=layout,
        requires_grad=requires_grad,
    )


def hamming(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """The Hamming window (general_hamming with alpha 0.54)."""
    return general_hamming(M, sym=sym, dtype=dtype, layout=layout, requires_grad=requires_grad)


def hann(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """The Hann window (general_hamming with alpha 0.5)."""
    return general_hamming(
        M, alpha=0.5, sym=sym, dtype=dtype, layout=layout, requires_grad=requires_grad
    )


def blackman(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """The Blackman window (general_cosine with a = [0.42, 0.5, 0.08])."""
    dtype = kiln.get_default_dtype() if dtype is None else dtype
    _checks("blackman", M, dtype, layout)
    return general_cosine(
        M, a=[0.42, 0.5, 0.08], sym=sym, dtype=dtype, layout=layout, requires_grad=requires_grad
    )


def nuttall(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """The minimum 4-term Blackman-Harris window of Nuttall."""
    return general_cosine(
        M,
        a=[0.3635819, 0.4891775, 0.1365995, 0.0106411],
        sym=sym,
        dtype=dtype,
        layout=layout,
        requires_grad=requires_grad,
    )
