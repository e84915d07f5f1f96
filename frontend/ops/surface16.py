"""PyTorch's smaller shape, index and scatter functions, composed from kiln's own ops.

Each is a composite of differentiable, traceable ops (``slice``, ``reshape``, ``pad``,
``where``, ``take``), so autograd and ``kiln.jit`` work without new rules. Where PyTorch
returns a view (``select``, ``ravel`` of a contiguous tensor, ``split_with_sizes``,
``hsplit``), so does kiln: the result shares the NumPy buffer and the version counter.

>>> x = arange(6).reshape(2, 3)
>>> select(x, 1, -1)
tensor([2, 5])
>>> rot90(x).tolist()
[[2, 5], [1, 4], [0, 3]]
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from kiln.compiler.errors import TraceError
from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes
from ..context import current_trace, is_grad_enabled
from ..dispatch import bind, constant, with_out
from ..tensor import Tensor, _wrap, graph_node
from .dims import normalize_dim
from .elementwise import add, cast, lt, where
from .index import index_put, scatter_reduce
from .reduce import sum as sum_
from .shape import (
    cat,
    chunk,
    flip,
    hstack,
    movedim,
    narrow,
    pad_axes,
    reshape,
    slice_axis,
    split,
    squeeze_axes,
    tensor_split,
    transpose,
    unsqueeze,
    vstack,
)
from .sorting import diagonal

__all__ = """
as_strided as_strided_scatter column_stack combinations diag_embed diagflat diagonal_scatter
dsplit dstack fliplr flipud hsplit index_reduce is_inference is_nonzero is_same_size is_signed
narrow_copy put ravel rot90 row_stack select select_scatter slice_scatter split_with_sizes
sum_to_size to_dlpack tril_indices triu_indices unsafe_chunk unsafe_split vsplit
""".split()


# ------------------------------------------------------------------ views and splits
def ravel(x: Tensor) -> Tensor:
    """The elements as one axis: a view when ``x`` is contiguous, else a copy (PyTorch)."""
    return reshape(x, (-1,))


def select(x: Tensor, dim: int, index: int) -> Tensor:
    """``x`` indexed by ``index`` along ``dim`` (that axis removed): a view."""
    if x.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = normalize_dim("select", dim, x.ndim)
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(x.shape)} "
            f"at dimension {dim}"
        )
    index %= n
    return squeeze_axes(slice_axis(x, d, index, index + 1), (d,))


def narrow_copy(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``narrow`` as a new tensor (no storage shared with ``x``)."""
    from . import clone

    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if dim >= x.ndim:  # (PyTorch's narrow_copy: a RuntimeError here; IndexError below -ndim)
        raise RuntimeError(
            f"narrow_copy: dim {dim} out of range for a tensor of {x.ndim} dimensions"
        )
    d = normalize_dim("narrow_copy", dim, x.ndim)
    n = x.shape[d]
    if not -n <= start <= n:
        raise IndexError(
            f"start out of range (expected to be in range of [{-n}, {n}], but got {start})"
        )
    begin = start + n if start < 0 else start
    if begin < 0 or length < 0 or begin + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return clone(narrow(x, d, begin, length))


def split_with_sizes(x: Tensor, split_sizes, dim: int = 0):
    """Views of consecutive pieces of ``split_sizes`` along ``dim`` (they must sum to its size)."""
    return split(x, [int(s) for s in split_sizes], dim)


def unsafe_split(x: Tensor, split_size: int, dim: int = 0):
    """``split`` (PyTorch's "unsafe" variant skips view tracking; kiln's views are safe)."""
    return split(x, split_size, dim)


def unsafe_chunk(x: Tensor, chunks: int, dim: int = 0):
    """``chunk`` (see ``unsafe_split``)."""
    return chunk(x, chunks, dim)


def _split_along(op: str, x: Tensor, sections, dim: int, min_dims: int):
    if x.ndim < min_dims:
        raise RuntimeError(
            f"torch.{op} requires a tensor with at least {min_dims} dimension, but got a "
            f"tensor with {x.ndim} dimensions!"
        )
    if isinstance(sections, (str, bytes, float, bool)) or (
        isinstance(sections, (list, tuple)) and not all(isinstance(i, int) for i in sections)
    ):
        raise TypeError(
            f"{op}() received an invalid combination of arguments: sections must be an int "
            f"or a tuple of ints, got {type(sections).__name__} {sections!r}"
        )
    if isinstance(sections, int):
        size = x.shape[dim]
        if sections == 0 or size % sections:
            raise RuntimeError(
                f"torch.{op} attempted to split along dimension {dim}, but the size of the "
                f"dimension {size} is not divisible by the split_size {sections}!"
            )
    return tensor_split(x, sections, dim)


def hsplit(x: Tensor, indices_or_sections):
    """``tensor_split`` along dim 1 (dim 0 for a 1-D tensor); an int must divide evenly."""
    return _split_along("hsplit", x, indices_or_sections, 0 if x.ndim == 1 else 1, 1)


def vsplit(x: Tensor, indices_or_sections):
    """``tensor_split`` along dim 0 of a tensor of at least 2 dimensions."""
    return _split_along("vsplit", x, indices_or_sections, 0, 2)


def dsplit(x: Tensor, indices_or_sections):
    """``tensor_split`` along dim 2 of a tensor of at least 3 dimensions."""
    return _split_along("dsplit", x, indices_or_sections, 2, 3)


def column_stack(tensors) -> Tensor:
    """0-d and 1-d tensors become columns, then ``hstack``."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("column_stack expects a non-empty TensorList")
    return hstack([reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in tensors])


def row_stack(tensors) -> Tensor:
    """``vstack`` (its older name)."""
    return vstack(tensors)


def dstack(tensors) -> Tensor:
    """Stack along the third axis, after ``atleast_3d``."""
    from ..functional import atleast_3d

    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("dstack expects a non-empty TensorList")
    return cat([atleast_3d(t) for t in tensors], 2)


# ------------------------------------------------------------------ diagonals and rotations
def diag_embed(x: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Square matrices with ``x``'s last axis on their ``offset`` diagonal, the two new axes
    at ``dim1`` and ``dim2`` of the result (zeros elsewhere, exactly: no multiplication)."""
    out_ndim = x.ndim + 1
    d1 = normalize_dim("diag_embed", dim1, out_ndim)
    d2 = normalize_dim("diag_embed", dim2, out_ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    k = x.shape[-1]
    lead = tuple(x.shape[:-1])
    # v[i] followed by k zeros, read back k at a time, puts v on the diagonal of a k x k
    # matrix: a pad and reshapes, so the zeros are exact and the gradient is a slice.
    rows = pad_axes(unsqueeze(x, -1), [(0, 0)] * len(lead) + [(0, 0), (0, k)])
    flat = reshape(rows, lead + (k * (k + 1),))
    square = reshape(slice_axis(flat, len(lead), 0, k * k), lead + (k, k))
    if offset:
        shift = abs(offset)
        pads = [(0, shift), (shift, 0)] if offset > 0 else [(shift, 0), (0, shift)]
        square = pad_axes(square, [(0, 0)] * len(lead) + pads)
    if d1 > d2:  # the rows axis lands at dim1 and the columns at dim2, whichever is first
        square = transpose(square, -1, -2)
        d1, d2 = d2, d1
    return movedim(square, (out_ndim - 2, out_ndim - 1), (d1, d2))


def diagflat(x: Tensor, offset: int = 0) -> Tensor:
    """A 2-D matrix with the flattened ``x`` on its ``offset`` diagonal."""
    return diag_embed(reshape(x, (-1,)), offset, 0, 1)


def _scatter_shape_check(src: Tensor, slice_shape) -> None:
    if tuple(src.shape) != tuple(slice_shape):
        raise RuntimeError(
            "expected src to have a size equal to the slice of self. src size = "
            f"{list(src.shape)}, slice size = {list(slice_shape)}"
        )


def _merge(x: Tensor, placed: Tensor, mask: np.ndarray) -> Tensor:
    """``x`` with the positions ``mask`` marks taken from ``placed`` (both of x's shape)."""
    return where(constant(mask, dtypes.bool_, like=x), cast(placed, x.dtype), x)


def diagonal_scatter(
    x: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1
) -> Tensor:
    """``x`` with its ``offset`` diagonal over ``(dim1, dim2)`` replaced by ``src``."""
    slice_shape = diagonal(x, offset, dim1, dim2).shape
    _scatter_shape_check(src, slice_shape)
    d1 = normalize_dim("diagonal_scatter", dim1, x.ndim)
    d2 = normalize_dim("diagonal_scatter", dim2, x.ndim)
    rows, cols = x.shape[d1], x.shape[d2]
    placed = diag_embed(src, offset, -2, -1)  # (..., n, n) with n = len + |offset|
    n = placed.shape[-1]
    # trim or pad the square to the (rows, cols) plane; outside the diagonal it is masked
    placed = slice_axis(placed, placed.ndim - 2, 0, min(n, rows))
    placed = slice_axis(placed, placed.ndim - 1, 0, min(n, cols))
    lead = [(0, 0)] * (placed.ndim - 2)
    placed = pad_axes(placed, lead + [(0, rows - placed.shape[-2]), (0, cols - placed.shape[-1])])
    rest = [a for a in range(x.ndim) if a not in (d1, d2)]
    order = rest + [d1, d2]
    inverse = [order.index(a) for a in range(x.ndim)]
    from .shape import permute

    placed = permute(placed, inverse)
    plane = np.eye(rows, cols, k=offset, dtype=bool).reshape((rows, cols) + (1,) * (x.ndim - 2))
    mask = np.broadcast_to(np.moveaxis(plane, (0, 1), (d1, d2)), tuple(x.shape))
    return _merge(x, placed, mask)


def select_scatter(x: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """``x`` with ``select(x, dim, index)`` replaced by ``src``."""
    slice_shape = select(x, dim, index).shape
    _scatter_shape_check(src, slice_shape)
    d = normalize_dim("select_scatter", dim, x.ndim)
    n = x.shape[d]
    index %= n
    return slice_scatter(x, unsqueeze(src, d), d, index, index + 1)


def slice_scatter(
    x: Tensor, src: Tensor, dim: int = 0, start=None, end=None, step: int = 1
) -> Tensor:
    """``x`` with ``x[..., start:end:step, ...]`` (on ``dim``) replaced by ``src``."""
    if x.ndim == 0:
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    d = normalize_dim("slice_scatter", dim, x.ndim)
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    n = x.shape[d]
    positions = range(n)[slice(start, end, step)]
    slice_shape = list(x.shape)
    slice_shape[d] = len(positions)
    _scatter_shape_check(src, slice_shape)
    if not len(positions):
        return where(constant(True, dtypes.bool_), x, x)  # a new tensor, x's values
    m, first = len(positions), positions.start
    placed = cast(src, x.dtype)
    if step > 1:  # each value followed by step - 1 fillers: src at every step-th place
        gaps = [(0, 0)] * (x.ndim + 1)
        gaps[d + 1] = (0, step - 1)
        spaced = pad_axes(unsqueeze(placed, d + 1), gaps)
        merged = list(placed.shape)
        merged[d] = m * step
        placed = slice_axis(reshape(spaced, merged), d, 0, (m - 1) * step + 1)
    pads = [(0, 0)] * x.ndim
    pads[d] = (first, n - first - placed.shape[d])
    placed = pad_axes(placed, pads)
    mask_line = np.zeros(n, dtype=bool)
    mask_line[list(positions)] = True
    shape = [1] * x.ndim
    shape[d] = n
    mask = np.broadcast_to(mask_line.reshape(shape), tuple(x.shape))
    return _merge(x, placed, mask)


def rot90(x: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane ``dims``, from the first axis towards
    the second."""
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {x.ndim}")
    a, b = (normalize_dim("rot90", d, x.ndim) for d in dims)
    if a == b:
        raise RuntimeError(
            f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}"
        )
    k %= 4
    if k == 1:
        return transpose(flip(x, [b]), a, b)
    if k == 2:
        return flip(x, [a, b])
    if k == 3:
        return transpose(flip(x, [a]), a, b)
    return where(constant(True, dtypes.bool_), x, x)  # a copy, as PyTorch's clone


def fliplr(x: Tensor) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(x, [1])


def flipud(x: Tensor) -> Tensor:
    if x.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(x, [0])


# ------------------------------------------------------------------ combinatorics
def combinations(x: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """Length-``r`` combinations of a 1-D tensor's elements, one per row (``itertools``)."""
    if x.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(x.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return _wrap(np.empty((0,), dtype=x.dtype.np))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = np.array(list(pick(range(x.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    taken = bind(P["take"], (x, constant(rows.reshape(-1), dtypes.int64, like=x)), {"axis": 0})
    return reshape(taken, rows.shape)


def _triangle_indices(op, row, col, offset, dtype, lower):
    dt = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    if dt not in (dtypes.int32, dtypes.int64):
        raise RuntimeError(f"\"{op}\" not implemented for '{dt.name}'")
    if row < 0 or col < 0:
        raise RuntimeError(
            f"row must be non-negative, got {row}"
            if row < 0
            else f"col must be non-negative, got {col}"
        )
    if lower:
        r, c = np.tril_indices(row, offset, col)
    else:
        r, c = np.triu_indices(row, offset, col)
    return _wrap(np.stack([r, c]).astype(dt.np).reshape(2, -1))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None):
    """The (row, column) coordinates of the lower triangle, as a ``2 x N`` tensor."""
    return _triangle_indices("tril_indices", row, col, offset, dtype, lower=True)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None):
    """The (row, column) coordinates of the upper triangle, as a ``2 x N`` tensor."""
    return _triangle_indices("triu_indices", row, col, offset, dtype, lower=False)


# ------------------------------------------------------------------ put / index_reduce
def put(x: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """``x`` with the elements at flat positions ``index`` set to (or increased by) ``source``."""
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"put_(): Expected a long tensor for index, but got {index.dtype.name}")
    if index.numel() != source.numel():
        raise RuntimeError(
            f"put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source.numel()}, index.numel() = {index.numel()}"
        )
    if source.dtype is not x.dtype:
        raise RuntimeError(
            f"put_(): self and source expected to have the same dtype, but got "
            f"self.dtype = {x.dtype.name} and source.dtype = {source.dtype.name}"
        )
    n = x.numel()
    if index._node is None and current_trace() is None and index.numel():
        values = np.asarray(index._data)
        bad = values[(values >= n) | (values < -n)]
        if bad.size:
            raise IndexError(
                f"out of range: tried to access index {int(bad[0])} on a tensor of {n} elements."
            )
    flat_index = reshape(index, (-1,))
    flat_index = where(lt(flat_index, 0), add(flat_index, n), flat_index)
    flat = index_put(reshape(x, (-1,)), (flat_index,), reshape(source, (-1,)), accumulate)
    return reshape(flat, x.shape)


def index_reduce(
    x: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """``x`` with the slices of ``source`` reduced into the slices ``index`` names along
    ``dim`` (``prod``, ``mean``, ``amax``, ``amin``)."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(
            f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got "
            f"{reduce}."
        )
    if index.ndim > 1:
        raise IndexError("index_reduce_(): Index is supposed to be a vector")
    if index.dtype not in (dtypes.int64, dtypes.int32):
        raise RuntimeError(
            f"index_reduce_(): Expected dtype int32/int64 for index but got: {index.dtype.name}"
        )
    if x.dtype is not source.dtype:
        raise RuntimeError(
            f"index_reduce_(): self ({x.dtype.name}) and source ({source.dtype.name}) must "
            "have the same scalar type"
        )
    d = normalize_dim("index_reduce", dim, max(x.ndim, 1))
    src = reshape(source, (1,)) if source.ndim == 0 else source
    target = reshape(x, (1,)) if x.ndim == 0 else x
    index = reshape(index, (-1,))
    if src.shape[d] != index.shape[0]:
        raise RuntimeError(
            f"index_reduce_(): Number of indices ({index.shape[0]}) should be equal to "
            f"source.size(dim) ({src.shape[d]})"
        )
    shape = [1] * src.ndim
    shape[d] = index.shape[0]
    from .shape import expand

    spread = expand(reshape(cast(index, dtypes.int64), shape), src.shape)
    out = scatter_reduce(target, d, spread, src, reduce, include_self=include_self)
    return reshape(out, x.shape)


# ------------------------------------------------------------------ sizes and predicates
def sum_to_size(x: Tensor, *size) -> Tensor:
    """Sum ``x`` down to ``size`` (which must expand to ``x``'s shape): the reverse of
    ``expand``, as autograd reduces a broadcast gradient."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    size = tuple(int(s) for s in size)
    lead = x.ndim - len(size)
    if lead < 0 or any(s != 1 and s != n for s, n in zip(size, x.shape[lead:])):
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(x.shape)}}}.")
    if not size:  # ATen's sum_to: an empty size is the full sum (int widening to int64)
        return sum_(x)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(size) if s == 1 and x.shape[lead + i] != 1
    )
    if not axes:
        return x
    return reshape(sum_(x, axes, keepdim=True), size)


def is_same_size(x: Tensor, other: Tensor) -> bool:
    return tuple(x.shape) == tuple(other.shape)


def is_nonzero(x: Tensor) -> bool:
    """``bool(x)`` of a one-element tensor (PyTorch's errors for more or fewer)."""
    n = x.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(x.item())


def is_inference(x: Tensor) -> bool:
    """Whether ``x`` was made inside ``inference_mode`` (PyTorch's inference tensor)."""
    return "_inference" in x.__dict__


def is_signed(x: Tensor) -> bool:
    """Whether the dtype holds negative numbers (not ``bool`` nor ``uint8``)."""
    return x.dtype.np.kind in "fic"


# ------------------------------------------------------------------ as_strided
class _StridedCopy(dict):
    """The ``_view_of`` record of a differentiable ``as_strided`` result: it is a copy
    under autograd and tracing, so writing into it must fail rather than lose the write."""

    def __getitem__(self, key):
        raise RuntimeError(
            "as_strided: an in-place update of an as_strided result that autograd or "
            "kiln.jit recorded is not supported (kiln cannot write it back to the input's "
            "storage); compute the new tensor out of place instead"
        )


def _root(array: np.ndarray) -> np.ndarray:
    """The ndarray at the bottom of ``array``'s chain of bases (its storage); through the
    wrapper NumPy's ``as_strided`` puts between a strided view and its base."""
    while True:
        base = array.base
        if not isinstance(base, np.ndarray):
            base = getattr(base, "base", None)  # np.lib.stride_tricks.DummyArray
            if not isinstance(base, np.ndarray):
                return array
        array = base


def _storage_offset(x: Tensor) -> int:
    """Elements between the start of ``x``'s storage and its first element."""
    data = x._data
    if graph_node(x) is not None:  # (not a kiln.func level's wrapper)
        return x.storage_offset()  # a traced view's, as the eager call's (tracing.layout)
    if type(data) is not np.ndarray:
        return 0
    root = _root(data)
    start = root.__array_interface__["data"][0]
    return (data.__array_interface__["data"][0] - start) // data.itemsize


def _storage_positions(x: Tensor) -> tuple[np.ndarray, int]:
    """For each element of ``x`` (C order), its position in the storage; and the
    storage's length in elements."""
    if graph_node(x) is not None:  # a traced view: where the eager
        # call's elements lie
        strides = x.stride()
        length = None
    elif type(x._data) is not np.ndarray:
        return np.arange(x.numel()), x.numel()
    else:
        data = x._data
        root = _root(data)
        length = root.nbytes // data.itemsize if root.dtype.itemsize else 0
        strides = [s // data.itemsize for s in data.strides]
    pos = np.full(x.shape, _storage_offset(x), dtype=np.int64)
    for axis, (n, s) in enumerate(zip(x.shape, strides)):
        shape = [1] * x.ndim
        shape[axis] = n
        pos = pos + (np.arange(n) * s).reshape(shape)
    if length is None:  # (the traced storage holds at least the elements of x)
        length = int(pos.max()) + 1 if pos.size else 0
    return pos.reshape(-1), length


def as_strided(x: Tensor, size, stride, storage_offset=None) -> Tensor:
    """The elements of ``x``'s storage at ``offset + sum(i_k * stride_k)``, shaped ``size``.

    Eagerly it is a true view (NumPy ``as_strided`` over the storage: writes go through).
    When autograd records it or ``kiln.jit`` traces it, the values come from ``take`` on
    ``x`` (so the gradient is exact); storage elements outside ``x`` (``x`` a view) are
    read as constants eagerly, while a trace must read ``x``'s own elements only; writing
    into such a result raises instead of losing the write.
    """
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape: {len(size)} != {len(stride)}")
    if any(s < 0 for s in stride):
        raise RuntimeError(
            "as_strided: Negative strides are not supported at the moment, "
            f"got strides: {list(stride)}"
        )
    offset = _storage_offset(x) if storage_offset is None else int(storage_offset)
    positions, length = _storage_positions(x)
    numel = math.prod(size)
    if numel:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if offset < 0 or last >= length:
            needed = (last + 1) * x.dtype.itemsize
            raise RuntimeError(
                f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
                f"{offset}, and itemsize {x.dtype.itemsize} requiring a storage size of "
                f"{needed} are out of bounds for storage of size {length * x.dtype.itemsize}"
            )
    traced = x._node is not None or current_trace() is not None
    recorded = traced or (x.requires_grad and is_grad_enabled())
    if not recorded:
        return _strided_view(x, size, stride, offset)
    # where in x each storage element is (-1: not in x)
    where_in_x = np.full(max(length, 1), -1, dtype=np.int64)
    where_in_x[positions] = np.arange(positions.size)
    grid = np.full(size, offset, dtype=np.int64)
    for axis, (n, s) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[axis] = n
        grid = grid + (np.arange(n) * s).reshape(shape)
    picks = where_in_x[grid.reshape(-1)] if numel else grid.reshape(-1)
    flat = reshape(x, (-1,))
    if (picks < 0).any() and not traced:
        # eager autograd over a view: the storage elements outside x are constants (their
        # gradient belongs to no input), as PyTorch's as_strided of a partial view
        outside = picks < 0
        storage = _strided_array(x, (length,), (1,), 0)
        extra = constant(storage[grid.reshape(-1)[outside]], x.dtype, like=x)
        flat = cat([flat, extra])
        picks = picks.copy()
        picks[outside] = x.numel() + np.arange(int(outside.sum()))
    if (picks < 0).any():
        raise RuntimeError(
            f"as_strided: sizes {list(size)}, strides {list(stride)} and offset {offset} read "
            f"storage elements outside the input of shape {list(x.shape)}; autograd and "
            "kiln.jit can only differentiate reads of the input's own elements"
        )
    out = reshape(bind(P["take"], (flat, constant(picks, dtypes.int64, like=x)), {"axis": 0}), size)
    if not traced:
        out._data = _strided_array(x, size, stride, offset)  # the same values, shared
        out._vc = x._vc
    elif out._node is not None:
        from ..tracing import set_layout

        set_layout(out, stride, offset, view_of=x)
    out._view_of = (x, "as_strided", _StridedCopy())
    return out


def as_strided_scatter(input: Tensor, src: Tensor, size, stride, storage_offset=None) -> Tensor:  # noqa: A002
    """A copy of ``input`` (read as contiguous) whose elements at ``offset + sum(i_k *
    stride_k)`` are replaced by ``src`` (shape ``size``): the out-of-place inverse of
    ``as_strided``, differentiable in both tensors."""
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape: {len(size)} != {len(stride)}")
    if tuple(src.shape) != size:
        raise RuntimeError(
            f"as_strided_scatter: expected src to have a size equal to the slice of self. src "
            f"size = {list(src.shape)}, slice size = {list(size)}"
        )
    offset = 0 if storage_offset is None else int(storage_offset)
    grid = np.full(size, offset, dtype=np.int64)
    for axis, (n, s) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[axis] = n
        grid = grid + (np.arange(n) * s).reshape(shape)
    if grid.size and (grid.min() < 0 or grid.max() >= input.numel()):
        raise RuntimeError(
            f"as_strided_scatter: sizes {list(size)}, strides {list(stride)} and offset {offset} "
            f"reach outside the input's {input.numel()} elements"
        )
    flat = reshape(input, (-1,))
    if grid.size:
        index = constant(grid.reshape(-1), dtypes.int64, like=input)
        flat = index_put(flat, (index,), reshape(cast(src, input.dtype), (-1,)))
    return reshape(flat, tuple(input.shape))


def _strided_array(x: Tensor, size, stride, offset) -> np.ndarray:
    data = x._data
    root = _root(data)
    flat = root.reshape(-1) if root.flags.c_contiguous else root.ravel(order="K")
    if root.size and not np.may_share_memory(flat, root):
        raise NotImplementedError(
            "as_strided: the tensor's storage is not one dense block (kiln cannot view it)"
        )
    flat = flat.view(data.dtype) if flat.dtype != data.dtype else flat
    itemsize = data.itemsize
    return np.lib.stride_tricks.as_strided(
        flat[offset:] if flat.size else flat,
        shape=size,
        strides=tuple(s * itemsize for s in stride),
        writeable=root.flags.writeable,
    )


def _strided_view(x: Tensor, size, stride, offset) -> Tensor:
    if type(x._data) is not np.ndarray:
        raise NotImplementedError(f"as_strided: not supported on a {x.device} tensor")
    out = _wrap(_strided_array(x, size, stride, offset))
    out._vc = x._vc
    return out


def as_strided_(x: Tensor, size, stride, storage_offset=None) -> Tensor:
    """``x`` re-pointed, in place, at ``as_strided(x, ...)``; eager, untracked tensors only."""
    if x._node is not None or current_trace() is not None:
        raise TraceError("as_strided_: changing a tensor's geometry in place cannot be traced")
    if x.requires_grad and is_grad_enabled():
        raise RuntimeError(
            "as_strided_: kiln does not record in-place geometry changes of a tensor that "
            "requires grad; use as_strided (out of place)"
        )
    x._data = as_strided(x.detach(), size, stride, storage_offset)._data
    return x


def to_dlpack(tensor: Tensor):
    """A DLPack capsule over ``tensor``'s memory (NumPy's), for another framework's
    ``from_dlpack`` (``torch.from_dlpack(kiln.to_dlpack(x))`` shares the memory)."""
    return tensor.__dlpack__()


# PyTorch's ``out=`` keyword on the functions whose torch.* binding takes it
for _name in "column_stack dstack index_reduce narrow_copy row_stack slice_scatter".split():
    globals()[_name] = with_out(globals()[_name])
