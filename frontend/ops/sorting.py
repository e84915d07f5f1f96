"""Sorting and scans: ``sort``, ``argsort``, ``topk``, ``cumsum`` and friends.

``argsort`` and ``cumsum`` are primitives; values come from ``gather`` so that gradients
flow to the chosen elements.

>>> sort(tensor([3.0, 1.0, 2.0])).values
tensor([1., 2., 3.])
"""

from __future__ import annotations

import math

import numpy as np

from kiln.compiler.errors import TraceError
from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes
from ..autograd.tape import rename
from ..creation import arange
from ..dispatch import autocast_op, bind, constant, current_trace
from ..memory_format import contiguous_result, lay_out, preserve_format
from ..return_types import return_type
from ..tensor import Tensor
from . import tie_order
from .dims import normalize_dim
from .elementwise import (
    add,
    cast,
    eq,
    floor_divide,
    isnan,
    logaddexp,
    maximum,
    mul,
    reverse_order,
    where,
)
from .index import gather, host_data
from .reduce import _axis_alias
from .reduce import sum as sum_
from .shape import pad_axes, permute, reshape, slice_axis, squeeze_axes

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
argsort bucketize cummax cummin cumprod cumsum diag diagonal kthvalue logcumsumexp median
msort nanmedian searchsorted sort topk trace unique
""".split()

values_indices = return_type  # (``values_indices("sort")(values, indices)``)


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """The permutation that sorts ``x`` along ``dim``. With ``stable`` equal elements keep
    their order; without, an eager CPU tensor's equal elements come in the order PyTorch's
    CPU sort (introsort) leaves them (see ``tie_order``); traced, the stable order."""
    axis = normalize_dim("argsort", dim, x.ndim)
    if x.ndim == 0:
        return constant(0, dtypes.int64, like=x)
    order = _unstable_order(x, axis, bool(descending)) if not stable else None
    if order is None:
        order = bind(P["argsort"], (x,), {"axis": axis, "descending": bool(descending)})
    return lay_out(order, preserve_format, like=x)  # (PyTorch's: x's strides where dense)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    if x.ndim == 0:
        normalize_dim("sort", dim, 1)  # (a 0-dim tensor has dims -1 and 0, as PyTorch's)
        return values_indices("sort")(x, constant(0, dtypes.int64, like=x))
    idx = argsort(x, dim, descending, stable)
    values = lay_out(gather(x, dim, idx), preserve_format, like=x)
    return values_indices("sort")(rename(values, "SortBackward0", x), idx)


# the most elements (of rows where equal values make a difference) that sort, topk,
# kthvalue and mode order as PyTorch's CPU kernels do, in Python (up to about 0.3 s):
# past it, NumPy's stable order (mode: the last occurrence), in milliseconds
INTROSORT_LIMIT = 1 << 16


def _host_rows(x: Tensor, axis: int):
    """An eager CPU tensor's values with ``axis`` last (for PyTorch's tie order); None
    when traced or on another device."""
    if x._node is not None or current_trace() is not None or type(x._data) is not np.ndarray:
        return None
    if x.dtype.is_complex or x.numel() == 0:
        return None
    return np.moveaxis(x._data, axis, -1)


def _ascending(rows: np.ndarray):
    """NumPy's stable ascending order of each row (NaN last: PyTorch's orderings put NaN
    above every number) and where neighbours in it are equal (-0.0 and 0.0, NaN and NaN
    too): ``touches[..., i]`` says the i-th sorted element has an equal neighbour."""
    data = rows.astype(np.int8) if rows.dtype.kind == "b" else rows
    order = np.argsort(data, axis=-1, kind="stable")
    ordered = np.take_along_axis(data, order, axis=-1)
    same = ordered[..., 1:] == ordered[..., :-1]
    if data.dtype.kind == "f":
        nan = np.isnan(ordered)
        same |= nan[..., 1:] & nan[..., :-1]
    touches = np.zeros(ordered.shape, dtype=bool)
    touches[..., 1:] |= same
    touches[..., :-1] |= same
    return order, touches


def _rerun(tied: np.ndarray, rows: np.ndarray, out: np.ndarray, pick) -> bool:
    """Fill the tied rows of ``out`` (rows, last axis) with ``pick(ranks of the row)``;
    False, leaving ``out`` alone, where that is more Python work than INTROSORT_LIMIT."""
    n = rows.shape[-1]
    if int(tied.sum()) * n > INTROSORT_LIMIT:
        return False
    flat_rows, flat_out = rows.reshape(-1, n), out.reshape(-1, out.shape[-1])
    for r in np.flatnonzero(tied.reshape(-1)):
        flat_out[r] = pick(tie_order.ranks(flat_rows[r]).tolist())
    return True


def _unstable_order(x: Tensor, axis: int, descending: bool):
    rows = _host_rows(x, axis)
    if rows is None or rows.shape[-1] < 2:
        return None
    n = rows.shape[-1]
    if x.ndim == 1 and not descending and x.dtype.np.kind in "iu" and n >= 32768:
        return None  # PyTorch sorts these with a (stable) radix sort
    order, touches = _ascending(rows)
    tied = touches.any(axis=-1)
    if descending:  # (untied rows: no equal values, any descending order is the order)
        order = np.ascontiguousarray(order[..., ::-1])
    if not _rerun(tied, rows, order, lambda r: tie_order.sort_indices(r, descending)):
        return None
    return constant(np.moveaxis(order, -1, axis), dtypes.int64, like=x)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    axis = normalize_dim("topk", dim, x.ndim)
    n = x.shape[axis] if x.ndim else 1
    if x.ndim == 0 and k in (0, 1):  # PyTorch: the element and index 0 (even for k=0)
        return values_indices("topk")(x, constant(0, dtypes.int64, like=x))
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k={k} out of range for dimension of size {n}")
    idx = _topk_host(x, axis, k, bool(largest), bool(sorted))
    if idx is None:
        idx = slice_axis(argsort(x, axis, descending=largest, stable=True), axis, 0, k)
    idx = contiguous_result(idx, x)  # (PyTorch's layout: C order; gather follows idx)
    return values_indices("topk")(rename(gather(x, axis, idx), "TopkBackward0", x), idx)


def _topk_host(x: Tensor, axis: int, k: int, largest: bool, in_order: bool):
    """topk's indices as PyTorch's CPU kernel picks them among equal values (eager CPU
    tensors; None otherwise): rows whose chosen values are all distinct and unequal to the
    rest take NumPy's order, the others rerun PyTorch's selection (``tie_order``)."""
    rows = _host_rows(x, axis)
    if rows is None or k == 0:
        return None
    n = rows.shape[-1]
    order, touches = _ascending(rows)
    if largest:
        picks = np.ascontiguousarray(order[..., ::-1][..., :k])
        tied = touches[..., n - k :].any(axis=-1)
    else:
        picks = order[..., :k].copy()
        tied = touches[..., :k].any(axis=-1)
    if not in_order and n < 64 * k:  # PyTorch's unsorted topk: the order nth_element leaves
        tied = np.ones(tied.shape, dtype=bool)
    if not _rerun(tied, rows, picks, lambda r: tie_order.topk_indices(r, k, largest, in_order)):
        return None
    return constant(np.moveaxis(picks, -1, axis), dtypes.int64, like=x)


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False):

    axis = normalize_dim("kthvalue", dim, x.ndim)
    n = x.shape[axis] if x.ndim else 1
    if n == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {axis} to have non-zero size.")
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim}")
    if x.ndim == 0:
        return values_indices("kthvalue")(x, constant(0, dtypes.int64, like=x))
    idx = _kthvalue_host(x, axis, k)
    if idx is None:
        idx = slice_axis(argsort(x, axis, stable=True), axis, k - 1, k)
    values = gather(x, axis, idx)
    if not keepdim:
        values, idx = squeeze_axes(values, (axis,)), squeeze_axes(idx, (axis,))
    return values_indices("kthvalue")(values, idx)


def _kthvalue_host(x: Tensor, axis: int, k: int):
    """kthvalue's index (keepdim) as PyTorch's quickselect picks it among equal values, for
    eager CPU tensors (None otherwise); rows whose k-th value is unique need no select."""
    rows = _host_rows(x, axis)
    if rows is None:
        return None
    order, touches = _ascending(rows)
    pick = order[..., k - 1 : k].copy()
    tied = touches[..., k - 1]
    if not _rerun(tied, rows, pick, lambda r: tie_order.kthvalue_index(r, k)):
        return None
    return constant(np.moveaxis(pick, -1, axis), dtypes.int64, like=x)


def median(x: Tensor, dim=None, keepdim: bool = False):
    """The lower median (the ``(n - 1) // 2``-th smallest); NaN if the row holds a NaN.

    ``median(x)`` is a value whose gradient ties share evenly, as in PyTorch;
    ``median(x, dim)`` gives ``(values, indices)`` (the index of the first NaN where there
    is one) and its gradient goes to that index. Among equal values PyTorch's index comes
    from a quickselect (unspecified); kiln's is the first of them in sorted order.

    >>> median(tensor([3.0, 1.0, 2.0, 4.0]))
    tensor(2.)
    """
    return _median("median", x, dim, keepdim, skip_nan=False)


def nanmedian(x: Tensor, dim=None, keepdim: bool = False):
    """``median`` of the values that are not NaN (NaN where a row holds only NaN)."""
    return _median("nanmedian", x, dim, keepdim, skip_nan=True)


def _median(name, x, dim, keepdim, skip_nan):
    if dim is None:
        if x.numel() == 0:  # NaN; in an integer dtype NaN converted as C does, as PyTorch's
            with np.errstate(invalid="ignore"):
                return constant(np.array(math.nan).astype(x.dtype.np), x.dtype, like=x)
        flat = reshape(x, (-1,))
        value = _median(name, flat.detach() if flat._node is None else flat, 0, False, skip_nan)
        # differentiated (reverse mode, or a traced/transformed tensor: forward mode too):
        # the ties share the derivative, as PyTorch's evenly_distribute/evenly_read
        if x.dtype.is_floating_point and (x.requires_grad or x._node is not None):
            from .reduce import evenly_distributed  # reduce imports this module

            return evenly_distributed(flat, value.values)
        return value.values
    axis = normalize_dim(name, dim, x.ndim)
    if x.ndim == 0:
        return values_indices(name)(x, constant(0, dtypes.int64, like=x))
    n = x.shape[axis]
    if n == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    order = argsort(x, axis, stable=True)  # NaN last, in input order
    if x.dtype.is_floating_point:
        nans = sum_(isnan(x), axis, keepdim=True)
        if skip_nan:  # the lower median of the numbers; the first NaN where all are NaN
            position = where(eq(nans, n), 0, floor_divide(n - nans - 1, 2))
        else:  # the first NaN (sorted after the numbers, in input order), or the median
            position = where(eq(nans, 0), (n - 1) // 2, n - nans)
    else:
        shape = list(x.shape)
        shape[axis] = 1
        position = constant(np.full(shape, (n - 1) // 2), dtypes.int64, like=x)
    indices = gather(order, axis, cast(position, dtypes.int64))
    values = gather(x, axis, indices)
    if not keepdim:
        values, indices = squeeze_axes(values, (axis,)), squeeze_axes(indices, (axis,))
    return values_indices(name)(values, indices)


def msort(x: Tensor) -> Tensor:
    return sort(x, 0, stable=True).values  # (equal values: any order)


# PyTorch's CPU scans (cumsum, cumprod, logcumsumexp) accumulate in ``acc_type``: half
# and bfloat16 in float32, float32 in float64 (complex64 in complex128), each output
# rounded once. A float32 running sum of 1e5 terms of 0.1 is 10000.0 there, 9998.56 in
# float32 arithmetic.
_ACCUMULATOR = {
    "float16": "float32",
    "bfloat16": "float32",
    "float32": "float64",
    "complex64": "complex128",
}


def _accumulator(x: Tensor):
    wide = _ACCUMULATOR.get(x.dtype.name)
    return None if wide is None else dtypes.as_dtype(wide)


def cumsum(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    elif not x.dtype.is_floating_point and not x.dtype.is_complex:
        x = cast(x, dtypes.int64)
    axis = normalize_dim("cumsum", dim, x.ndim)
    wide = _accumulator(x)
    if wide is not None:
        return rename(cast(_cumsum(cast(x, wide), axis), x.dtype), "CumsumBackward0", x)
    return rename(_cumsum(x, axis), "CumsumBackward0", x)


def _cumsum(x: Tensor, axis: int) -> Tensor:
    if x.ndim == 0:
        out = reshape(bind(P["cumsum"], (reshape(x, (1,)),), {"axis": 0}), ())
    else:
        out = bind(P["cumsum"], (x,), {"axis": axis})
    # PyTorch accumulates from +0.0, so a leading -0.0 sums to +0.0 (x + 0.0 does that);
    # a 0-d input it copies (-0.0 stays)
    return add(out, 0.0) if out.dtype.is_floating_point and x.ndim else out


def scan(x: Tensor, axis: int, combine, identity) -> Tensor:
    """The inclusive scan of ``combine`` along ``axis`` in ``log2 n`` whole-tensor steps
    (Hillis-Steele): each step combines every element with the one ``shift`` before it."""
    n = x.shape[axis]
    shift = 1
    given = x
    while shift < n:
        before = slice_axis(x, axis, 0, n - shift)
        pads = [(0, 0)] * x.ndim
        pads[axis] = (shift, 0)
        x = combine(x, pad_axes(before, pads, identity))
        shift *= 2
    return x if x is given else contiguous_result(x, given)  # (PyTorch's layout)


def _as_1d(fn, x, dim, *args):
    """Run a scan of a 0-d tensor as one of shape (1,)."""
    normalize_dim(fn.__name__, dim, 0)
    out = fn(reshape(x, (1,)), 0, *args)
    if isinstance(out, tuple):
        return type(out)(*(reshape(o, ()) for o in out))
    return reshape(out, ())


def cumprod(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative product as a scan of ``mul``: exact for integers, and the gradient is
    right where elements are zero."""
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    elif not x.dtype.is_floating_point:
        x = cast(x, dtypes.int64)
    wide = _accumulator(x)  # (PyTorch's acc_type: see cumsum)
    out = _cumprod(x, dim) if wide is None else cast(_cumprod(cast(x, wide), dim), x.dtype)
    return rename(out, "CumprodBackward0", x)


def _cumprod(x: Tensor, dim: int) -> Tensor:
    if x.ndim == 0:
        return _as_1d(cumprod, x, dim)
    return scan(x, normalize_dim("cumprod", dim, x.ndim), mul, 1)


def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` as a scan of ``logaddexp``: no overflow, no underflow of
    early terms far below the running maximum."""
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        raise NotImplementedError(
            f'logcumsumexp: "logcumsumexp_out_cpu" not implemented for {x.dtype.name} input '
            f"of size {list(x.shape)}"
        )
    wide = _accumulator(x)  # (PyTorch's acc_type: see cumsum)
    if wide is not None and x.ndim:
        out = cast(_logcumsumexp(cast(x, wide), dim), x.dtype)
    else:
        out = _logcumsumexp(x, dim)
    return rename(out, "LogcumsumexpBackward0", x)


def _logcumsumexp(x: Tensor, dim: int) -> Tensor:
    if x.ndim == 0:  # PyTorch copies a 0-d input (-0.0 stays)
        normalize_dim("logcumsumexp", dim, 0)
        return mul(x, 1.0)
    out = scan(x, normalize_dim("logcumsumexp", dim, x.ndim), logaddexp, -math.inf)
    return add(out, 0.0)  # a lone -0.0 comes out +0.0: PyTorch folds it into -inf


def _cumulative_extreme(name, x, dim, key):
    if x.ndim == 0:
        normalize_dim(name, dim, 0)
        return values_indices(name)(x, constant(0, dtypes.int64, like=x))
    axis = normalize_dim(name, dim, x.ndim)
    k = key(x.detach() if x._node is None else x)
    running = scan(k, axis, maximum, _lowest(k.dtype))
    # PyTorch's index is the last one reaching the running extreme (>=), or the last NaN
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    positions = reshape(arange(x.shape[axis]), shape)
    hits = where(eq(k, running), positions, constant(0, dtypes.int64))
    if k.dtype.is_floating_point:
        hits = where(isnan(k), positions, hits)
    indices = scan(hits, axis, maximum, 0)
    return values_indices(name)(gather(x, axis, indices), indices)


def _lowest(dtype):
    return -math.inf if dtype.is_floating_point else int(np.iinfo(dtype.np).min)


def cummax(x: Tensor, dim: int):
    """Running maximum and the index it comes from; the gradient goes to that element."""
    if x.dtype is dtypes.bool_:
        out = cummax(cast(x, dtypes.int64), dim)
        return values_indices("cummax")(cast(out.values, dtypes.bool_), out.indices)
    return _cumulative_extreme("cummax", x, dim, lambda v: v)


def cummin(x: Tensor, dim: int):
    """Running minimum (``cummax`` of an order-reversed key: ``-x``, or ``~x`` for ints)."""
    if x.dtype is dtypes.bool_:
        out = cummin(cast(x, dtypes.int64), dim)
        return values_indices("cummin")(cast(out.values, dtypes.bool_), out.indices)
    return _cumulative_extreme("cummin", x, dim, reverse_order)


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
    data = host_data(x)
    if dim is None:
        # PyTorch keeps every NaN apart (NaN != NaN)
        values, inverse, counts = np.unique(
            data, return_inverse=True, return_counts=True, equal_nan=False
        )
        inverse = inverse.reshape(x.shape)
    else:
        axis = normalize_dim("unique", dim, x.ndim)
        zero_sized = [a for a, n in enumerate(x.shape) if n == 0]
        if len(zero_sized) > 1:
            raise RuntimeError(
                "Number of zero sized dimensions is more than one, so unique cannot be applied "
            )
        if zero_sized and zero_sized != [axis]:
            raise RuntimeError(
                "There are 0 sized dimensions, and they aren't selected, so unique cannot be "
                "applied"
            )
        if data.shape[axis] == 0:
            values = data
            inverse = np.zeros(0, np.int64)
            counts = np.zeros(0, np.int64)
        else:
            values, inverse, counts = np.unique(
                data, return_inverse=True, return_counts=True, axis=axis, equal_nan=False
            )
            inverse = inverse.reshape(-1)
    out = [constant(values, x.dtype, like=x)]
    if return_inverse:
        out.append(constant(inverse, dtypes.int64, like=x))
    if return_counts:
        out.append(constant(counts, dtypes.int64, like=x))
    return out[0] if len(out) == 1 else tuple(out)


def searchsorted(
    sorted_sequence: Tensor,
    values,
    *,
    out_int32: bool = False,
    right: bool = False,
    side=None,
    sorter=None,
):
    """torch.searchsorted: 1-D or batched (leading dims shared) boundaries, side/sorter."""
    if sorted_sequence._node is not None or current_trace() is not None:
        raise TraceError("searchsorted is eager-only in kiln")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(
                f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}"
            )
        if right and side == "left":
            raise RuntimeError(
                "torch.searchsorted(): side and right can't be set to opposites, got side of "
                "left while right was True"
            )
        right = side == "right"
    seq = host_data(sorted_sequence)
    scalar = not isinstance(values, Tensor)
    v = np.asarray(values) if scalar else host_data(values)
    if sorter is not None:
        srt = host_data(sorter) if isinstance(sorter, Tensor) else np.asarray(sorter)
        if srt.shape != seq.shape:
            raise RuntimeError(
                "torch.searchsorted(): boundary and sorter must have the same size, but got "
                f"boundary tensor {list(seq.shape)} and got sorter tensor {list(srt.shape)}"
            )
        seq = np.take_along_axis(seq, srt.astype(np.int64), axis=-1)
    if seq.ndim == 0:
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
            "dimension"
        )
    how = "right" if right else "left"
    if seq.ndim == 1:
        res = np.searchsorted(seq, v, side=how)
    else:
        if scalar or v.ndim != seq.ndim or v.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(
                "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                "dimensions of boundaries tensor and input value tensor must match, but we got "
                f"boundaries tensor {list(seq.shape)} and input value tensor {list(v.shape)}"
            )
        res = np.zeros(v.shape, np.int64)
        for i in np.ndindex(*seq.shape[:-1]):
            res[i] = np.searchsorted(seq[i], v[i], side=how)
    res = np.asarray(res)
    return constant(res, dtypes.int32 if out_int32 else dtypes.int64, like=sorted_sequence)


def bucketize(values, boundaries: Tensor, *, out_int32: bool = False, right: bool = False):
    if boundaries.ndim != 1:
        raise RuntimeError(
            f"bucketize(): boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})"
        )
    return searchsorted(boundaries, values, out_int32=out_int32, right=right)


def diag(x: Tensor, diagonal: int = 0) -> Tensor:  # noqa: F811 - PyTorch's argument name

    if x.ndim == 1:
        offset = diagonal
        n = x.shape[0] + abs(offset)
        eye = np.eye(n, k=offset, dtype=bool)
        idx = np.cumsum(eye.reshape(-1)).reshape(n, n) - 1
        idx = np.where(eye, idx, 0)
        taken = bind(P["take"], (x, constant(idx, dtypes.int64, like=x)), {"axis": 0})
        # a select, not a product with the identity: inf * 0 would put nan off the diagonal
        zero = constant(0, x.dtype, like=x)
        return where(constant(eye, dtypes.bool_, like=x), taken, zero)
    if x.ndim != 2:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")
    return _diagonal(x, diagonal)


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    return rename(_diagonal(x, offset, dim1, dim2), "DiagonalBackward0", x)


def _diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the ``(dim1, dim2)`` planes, appended as the last axis (PyTorch)."""
    if x.ndim < 2:
        raise RuntimeError(f"diagonal(): input must be at least 2-D, got {x.ndim}-D")
    d1, d2 = normalize_dim("diagonal", dim1, x.ndim), normalize_dim("diagonal", dim2, x.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rest = [a for a in range(x.ndim) if a not in (d1, d2)]
    x = permute(x, rest + [d1, d2])
    rows, cols = x.shape[-2:]
    r = np.arange(max(0, -offset), max(min(rows, cols - offset), max(0, -offset)))
    flat = reshape(x, tuple(x.shape[:-2]) + (rows * cols,))
    positions = r * cols + (r + offset)
    return bind(
        P["take"], (flat, constant(positions, dtypes.int64, like=x)), {"axis": flat.ndim - 1}
    )


@autocast_op("fp32")
def trace(x: Tensor) -> Tensor:
    if x.ndim != 2:  # the diagonal of a batch would be summed into one number
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return sum_(_diagonal(x))


# NumPy's ``axis=`` for ``dim=`` (``torch.cumprod(alphas, axis=0)``, diffusion code)
cumsum, cumprod, logcumsumexp, cummax, cummin = (
    _axis_alias(f) for f in (cumsum, cumprod, logcumsumexp, cummax, cummin)
)
