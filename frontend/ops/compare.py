"""Whole-tensor comparisons: ``isclose``, ``allclose``, ``equal``.

>>> allclose(tensor([1.0, 2.0]), tensor([1.0, 2.0 + 1e-9]))
True
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from .elementwise import abs, add, eq, isfinite, isnan, le, logical_and, logical_or, mul, sub
from .reduce import all

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
allclose equal finfo iinfo isclose
""".split()


def isclose(
    a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype is not b.dtype:
        raise RuntimeError(
            f"isclose: expected both tensors to have the same dtype, but got "
            f"{a.dtype.name} and {b.dtype.name}"
        )
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if tol < 0:
            raise RuntimeError(
                f"isclose: {name} must be greater than or equal to zero, but got {tol}"
            )
    if a.dtype is dtypes.bool_:  # PyTorch measures a bool tensor's error in the default dtype
        eq_ab = eq(a, b)
        a, b = a.to(dtypes.get_default_dtype()), b.to(dtypes.get_default_dtype())
        within = le(abs(sub(a, b)), add(mul(abs(b), rtol), atol))
        return logical_or(eq_ab, within)
    if not (a.dtype.is_floating_point or a.dtype.is_complex):
        # integers: equality without tolerances, else the error in the default dtype, as
        # PyTorch's (a - b would wrap: 0 and INT64_MIN were "close")
        if rtol == 0 and atol == 0:
            return eq(a, b)
        fa, fb = a.to(dtypes.get_default_dtype()), b.to(dtypes.get_default_dtype())
        return logical_or(eq(a, b), le(abs(sub(fa, fb)), add(mul(abs(fb), rtol), atol)))
    # infinities are close only to themselves (inf - inf is NaN, inf <= inf would hold)
    finite = logical_and(isfinite(a), isfinite(b))
    within = le(abs(sub(a, b)), add(mul(abs(b), rtol), atol))
    close = logical_or(eq(a, b), logical_and(finite, within))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close


def allclose(
    a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    return bool(all(isclose(a, b, rtol, atol, equal_nan)).item())


def equal(a: Tensor, b: Tensor) -> bool:
    if tuple(a.shape) != tuple(b.shape):
        return False
    if a.numel() == 0:
        return True
    return bool(all(eq(a, b)).item())


class finfo:  # noqa: N801 - PyTorch's name
    """Floating point limits: ``kiln.finfo(kiln.float32).eps``."""

    def __init__(self, dtype=None):

        d = dtypes.as_dtype(dtype)
        info = np.finfo(d.np)
        self.bits = info.bits
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = float(info.tiny)
        self.smallest_normal = float(info.tiny)
        self.resolution = 10.0**-info.precision  # PyTorch's: 0.01 for bfloat16, not 0.01001
        self.dtype = d.name

    def __repr__(self) -> str:  # (PyTorch's fields, in its order and %g format)
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
            f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
            f"tiny={self.tiny:g}, dtype={self.dtype})"
        )


class iinfo:  # noqa: N801
    def __init__(self, dtype):

        d = dtypes.as_dtype(dtype)
        info = np.iinfo(d.np)
        self.bits = info.bits
        self.max = int(info.max)
        self.min = int(info.min)
        self.dtype = d.name

    def __repr__(self) -> str:
        return f"iinfo(min={float(self.min):g}, max={float(self.max):g}, dtype={self.dtype})"
