"""Sorting and scans: ``sort``, ``argsort``, ``topk``, ``cumsum`` and friends.

``argsort`` and ``cumsum`` are primitives; values come from ``gather`` so that gradients
flow to the chosen elements.

>>> sort(tensor([3.0, 1.0, 2.0])).values
tensor([1., 2., 3.])
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from kiln.compiler.errors import TraceError
from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes
from ..dispatch import bind, constant, current_trace
from ..tensor import Tensor
from .dims import normalize_dim
from .elementwise import abs as abs_
from .elementwise import cast, eq, exp, log, lt, mul, remainder, sub, where
from .elementwise import round as round_
from .index import gather, host_data
from .reduce import sum as sum_
from .shape import reshape, slice_axis, squeeze_axes

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
argsort bucketize cummax cumprod cumsum diag diagonal kthvalue msort searchsorted sort topk
trace unique
""".split()

values_indices = namedtuple("values_indices", ["values", "indices"])


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    axis = normalize_dim("argsort", dim, x.ndim)
    if x.ndim == 0:
        return constant(0, dtypes.int64, like=x)
    return bind(P["argsort"], (x,), {"axis": axis, "descending": bool(descending)})


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    if x.ndim == 0:
        return values_indices(x, constant(0, dtypes.int64, like=x))
    idx = argsort(x, dim, descending)
    return values_indices(gather(x, dim, idx), idx)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    axis = normalize_dim("topk", dim, x.ndim)
    n = x.shape[axis] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k={k} out of range for dimension of size {n}")
    idx = slice_axis(argsort(x, axis, descending=largest), axis, 0, k)
    return values_indices(gather(x, axis, idx), idx)


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False):

    axis = normalize_dim("kthvalue", dim, x.ndim)
    idx = slice_axis(argsort(x, axis), axis, k - 1, k)
    values = gather(x, axis, idx)
    if not keepdim:
        values, idx = squeeze_axes(values, (axis,)), squeeze_axes(idx, (axis,))
    return values_indices(values, idx)


def msort(x: Tensor) -> Tensor:
    return sort(x, 0).values


def cumsum(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    elif not x.dtype.is_floating_point:
        x = cast(x, dtypes.int64)
    axis = normalize_dim("cumsum", dim, x.ndim)
    return bind(P["cumsum"], (x,), {"axis": axis})


def cumprod(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative product (eager and traced; gradients where no element is zero)."""

    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    out_dtype = x.dtype if x.dtype.is_floating_point else dtypes.int64
    xf = cast(x, dtypes.float64)
    zero_seen = cumsum(cast(eq(xf, 0.0), dtypes.float64), dim)
    mag = exp(cumsum(log(where(eq(xf, 0.0), 1.0, abs_(xf))), dim))
    negs = cumsum(cast(lt(xf, 0.0), dtypes.float64), dim)
    signed = where(eq(remainder(negs, 2.0), 1.0), mul(mag, -1.0), mag)
    out = where(eq(zero_seen, 0.0), signed, sub(signed, signed))
    if out_dtype.is_floating_point:
        return cast(out, out_dtype)

    return cast(round_(out), out_dtype)


def cummax(x: Tensor, dim: int):
    if x._node is not None or current_trace() is not None:
        raise TraceError("cummax is eager-only in kiln")
    axis = normalize_dim("cummax", dim, x.ndim)
    values = np.maximum.accumulate(host_data(x), axis=axis)
    return values_indices(constant(values, x.dtype, like=x), None)


def unique(
    x: Tensor,
    sorted: bool = True,
    return_inverse: bool = False,  # noqa: A002
    return_counts: bool = False,
    dim=None,
):
    """Eager only: the output's shape depends on the data."""
    if x._node is not None or current_trace() is not None:
        raise TraceError("unique gives a data-dependent shape and cannot be traced")
    values, inverse, counts = np.unique(host_data(x), return_inverse=True, return_counts=True)
    out = [constant(values, x.dtype, like=x)]
    if return_inverse:
        out.append(constant(inverse.reshape(x.shape), dtypes.int64, like=x))
    if return_counts:
        out.append(constant(counts, dtypes.int64, like=x))
    return out[0] if len(out) == 1 else tuple(out)


def searchsorted(sorted_sequence: Tensor, values, *, right: bool = False):
    if sorted_sequence._node is not None or current_trace() is not None:
        raise TraceError("searchsorted is eager-only in kiln")
    v = host_data(values) if isinstance(values, Tensor) else np.asarray(values)
    side = "right" if right else "left"
    out = np.searchsorted(host_data(sorted_sequence), v, side=side)
    return constant(out, dtypes.int64, like=sorted_sequence)


def bucketize(values, boundaries: Tensor, *, right: bool = False):
    return searchsorted(boundaries, values, right=right)


def diag(x: Tensor, diagonal: int = 0) -> Tensor:  # noqa: F811 - PyTorch's argument name

    if x.ndim == 1:
        offset = diagonal
        n = x.shape[0] + abs(offset)
        eye = np.eye(n, k=offset, dtype=bool)
        idx = np.cumsum(eye.reshape(-1)).reshape(n, n) - 1
        idx = np.where(eye, idx, 0)
        taken = bind(P["take"], (x, constant(idx, dtypes.int64, like=x)), {"axis": 0})
        return mul(taken, constant(eye, x.dtype, like=x))
    return _diagonal(x, diagonal) if x.ndim == 2 else sum_(x)


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    return _diagonal(x, offset, dim1, dim2)


def _diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    rows, cols = x.shape[dim1], x.shape[dim2]
    r = np.arange(max(0, -offset), min(rows, cols - offset))
    flat = reshape(x, (-1,)) if x.ndim == 2 else None
    if flat is None:
        raise RuntimeError("diagonal: only 2-D tensors are supported")
    positions = r * cols + (r + offset)
    return bind(P["take"], (flat, constant(positions, dtypes.int64, like=x)), {"axis": 0})


def trace(x: Tensor) -> Tensor:

    return sum_(_diagonal(x))
