"""What PyTorch computes on COO tensors, as composites of dense kiln ops on the values
(gathers with ``index_select``, scatter-adds with ``index_add``: autograd and kiln.jit
come with them): construction, coalesce, to_dense, transpose, index_select, arithmetic,
sparse @ dense products, sums and the sparse softmax."""

from __future__ import annotations

import builtins
import math

import numpy as np

from .. import dtypes
from ..tensor import Tensor, _wrap
from .coo import SparseTensor, _kiln, _make, _unsupported, _with_values, sparse_coo


def _index_array(indices) -> np.ndarray:
    if isinstance(indices, Tensor):
        if indices._node is not None:
            raise RuntimeError(
                "sparse_coo_tensor: the indices are a traced value; kiln.jit needs a sparse "
                "tensor's indices as data (build it outside the compiled function)"
            )
        if isinstance(indices, SparseTensor):
            raise RuntimeError("sparse_coo_tensor: indices must be a dense tensor")
        arr = np.asarray(indices._data)
    else:
        arr = np.asarray(indices)
    if arr.dtype.kind not in "iu" and arr.size:
        raise RuntimeError(f"indices must be an int64 tensor (got {arr.dtype})")
    return np.ascontiguousarray(arr, dtype=np.int64)


def sparse_coo_tensor(
    indices,
    values,
    size=None,
    *,
    dtype=None,
    device=None,
    pin_memory=False,
    requires_grad=False,
    check_invariants=None,
    is_coalesced=None,
) -> SparseTensor:
    """``torch.sparse_coo_tensor``: a COO tensor with ``values[k]`` at ``indices[:, k]``.

    >>> sparse_coo_tensor([[0, 1], [1, 0]], [2.0, 3.0], (2, 2)).to_dense().tolist()
    [[0.0, 2.0], [3.0, 0.0]]
    """
    kiln = _kiln()
    if device is not None and str(device).split(":")[0] != "cpu":
        raise _unsupported("sparse_coo_tensor", f" (on device {device})")
    idx = _index_array(indices)
    if not isinstance(values, Tensor):
        values = kiln.tensor(values, dtype=dtype)
    elif dtype is not None:
        values = values.to(dtype)
    if isinstance(values, SparseTensor):
        raise RuntimeError("sparse_coo_tensor: values must be a dense tensor")
    if idx.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(idx.shape)}")
    if values.ndim == 0:
        raise RuntimeError("values must be at least 1-dimensional (nnz x dense dims)")
    if idx.shape[1] != values.shape[0]:
        raise RuntimeError(
            f"indices and values must have same nnz, but got nnz from indices: {idx.shape[1]}"
            f", nnz from values: {values.shape[0]}"
        )
    sparse_dim = idx.shape[0]
    if idx.size and idx.min() < 0:  # (PyTorch checks only with check_invariants=True)
        d = int(np.nonzero(idx.min(axis=1) < 0)[0][0])
        raise RuntimeError(f"found negative index {idx[d].min()} for dim {d}")
    if size is None:
        highest = idx.max(axis=1) + 1 if idx.shape[1] else np.zeros(sparse_dim, np.int64)
        size = tuple(int(n) for n in highest) + tuple(values.shape[1:])
    else:
        size = tuple(int(n) for n in size)
        if len(size) != sparse_dim + values.ndim - 1:
            raise RuntimeError(
                f"number of dimensions must be sparse_dim ({sparse_dim}) + dense_dim "
                f"({values.ndim - 1}), but got {len(size)}"
            )
        for d in range(sparse_dim):
            if idx.shape[1] and idx[d].max() >= size[d]:
                raise RuntimeError(
                    f"size is inconsistent with indices: for dim {d}, size is {size[d]} but "
                    f"found index {idx[d].max()}"
                )
        if tuple(values.shape[1:]) != size[sparse_dim:]:
            raise RuntimeError(
                f"values has incorrect size, expected {[values.shape[0], *size[sparse_dim:]]}"
                f", got {list(values.shape)}"
            )
    if requires_grad:
        if values.requires_grad and not values.is_leaf:
            raise RuntimeError("sparse_coo_tensor: requires_grad=True on non-leaf values")
        values = values.detach().requires_grad_(True)
        values.__dict__["_sparse_leaf_values"] = True  # (see _refuse_dense_gradient)
    out = _make(idx, values, size, builtins.bool(is_coalesced) or idx.shape[1] <= 1)
    out._sp_leaf = requires_grad
    if values.requires_grad and not requires_grad:  # PyTorch's node of the construction
        out._sp_grad_name = "SparseCooTensorWithDimsAndTensorsBackward0"
    return out


def empty_sparse(shape, dtype, layout_) -> SparseTensor:
    """``zeros(shape, layout=kiln.sparse_coo)``, ``zeros_like(sparse)``: no entries."""
    if layout_ is not sparse_coo:
        raise NotImplementedError(f"layout {layout_} is not supported by kiln (only sparse_coo)")
    dt = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    values = _kiln().zeros((0,), dtype=dt)
    return _make(np.zeros((len(shape), 0), np.int64), values, tuple(shape), coalesced=True)


def _linear(indices: np.ndarray, sparse_shape) -> np.ndarray:
    """Each entry's row-major position among the sparse dims (the coalesced order)."""
    if indices.shape[0] == 0:
        return np.zeros(indices.shape[1], np.int64)
    return np.ravel_multi_index(tuple(indices), tuple(sparse_shape)).astype(np.int64)


def to_sparse(x: Tensor, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    """``Tensor.to_sparse``: the nonzero entries of a dense tensor (whole slices of its last
    ``ndim - sparse_dim`` dims), coalesced."""
    if layout not in (None, sparse_coo) or blocksize is not None:
        raise NotImplementedError(
            f"to_sparse: layout {layout} is not supported by kiln (only kiln.sparse_coo)"
        )
    if x._node is not None:
        raise RuntimeError("to_sparse: the nonzero pattern of a traced tensor is not known")
    if sparse_dim is None:
        sparse_dim = x.ndim if dense_dim is None else x.ndim - dense_dim
    if not 0 <= sparse_dim <= x.ndim:
        raise RuntimeError(f"sparse_dim must be in [0, {x.ndim}], but got {sparse_dim}")
    data = np.asarray(x.detach().to_dense()._data) if x.dtype is not dtypes.bfloat16 else None
    if data is None:
        data = np.asarray(x.detach().float()._data)
    nonzero = data != 0
    if sparse_dim < x.ndim:
        nonzero = nonzero.reshape(*x.shape[:sparse_dim], -1).any(axis=-1)
    idx = (
        np.stack(np.nonzero(nonzero)).astype(np.int64) if sparse_dim else np.zeros((0, 1), np.int64)
    )
    if sparse_dim == 0:
        values = x.unsqueeze(0)
    else:
        values = (
            x[tuple(_wrap(i) for i in idx)]
            if idx.shape[1]
            else x.new_zeros((0, *x.shape[sparse_dim:]))
        )
    return _make(idx.reshape(sparse_dim, -1), values, x.shape, coalesced=True)


# ---------------------------------------------------------------------- structure
def coalesce(s: SparseTensor) -> SparseTensor:
    """Entries sorted by index, duplicates summed (in their order, as PyTorch)."""
    if s._sp_coalesced:
        return s
    sparse_shape = s.shape[: s.sparse_dim()]
    linear = _linear(s._sp_indices, sparse_shape)
    unique, inverse = np.unique(linear, return_inverse=True)
    indices = np.stack(np.unravel_index(unique, sparse_shape)).astype(np.int64)
    indices = indices.reshape(s.sparse_dim(), -1)
    if len(unique) == len(linear):  # a permutation: moved, not added
        order = np.argsort(linear, kind="stable").astype(np.int64)
        values = s._sp_values.index_select(0, _wrap(order))
    else:
        values = _scatter_add(len(unique), inverse.reshape(-1), s._sp_values)
    return _make(indices, values, s.shape, coalesced=True)


def _scatter_add(rows: int, index: np.ndarray, src: Tensor) -> Tensor:
    """``zeros(rows, ...).index_add(0, index, src)``: the rows of ``src`` added in order."""
    out = src.new_zeros((rows, *src.shape[1:]))
    return out.index_add(0, _wrap(index.astype(np.int64)), src)


def to_dense(s: SparseTensor) -> Tensor:
    sparse_shape = s.shape[: s.sparse_dim()]
    rows = math.prod(sparse_shape)
    flat = _scatter_add(rows, _linear(s._sp_indices, sparse_shape), s._sp_values)
    return flat.reshape(s.shape)


def _values_on_pattern(source: SparseTensor, pattern: SparseTensor) -> Tensor:
    """``source``'s values at each entry of ``pattern`` (zero where it has none)."""
    sparse_shape = pattern.shape[: pattern.sparse_dim()]
    dense = to_dense(coalesce(source)).reshape(-1, *pattern.shape[pattern.sparse_dim() :])
    return dense.index_select(0, _wrap(_linear(pattern._sp_indices, sparse_shape)))


def transpose(s: SparseTensor, dim0: int, dim1: int) -> SparseTensor:
    n = s.ndim
    d0, d1 = dim0 % n, dim1 % n
    if d0 >= s.sparse_dim() or d1 >= s.sparse_dim():
        raise RuntimeError(
            f"sparse transpose: transposed dimensions must be sparse Got sparse_dim: "
            f"{s.sparse_dim()}, d0: {d0}, d1: {d1}"
        )
    indices = s._sp_indices.copy()
    indices[[d0, d1]] = indices[[d1, d0]]
    shape = list(s.shape)
    shape[d0], shape[d1] = shape[d1], shape[d0]
    return _make(indices, s._sp_values, shape, coalesced=d0 == d1 and s._sp_coalesced)


def index_select(s: SparseTensor, dim: int, index: Tensor) -> SparseTensor:
    d = dim % s.ndim
    if d >= s.sparse_dim():
        raise _unsupported("index_select", " (along a dense dimension)")
    picks = np.asarray(index._data).reshape(-1).astype(np.int64)
    if picks.size and (picks.min() < -s.shape[d] or picks.max() >= s.shape[d]):
        raise IndexError(f"index_select(): index out of range for dim {d} of size {s.shape[d]}")
    picks = picks % max(s.shape[d], 1)
    entry, position = np.nonzero(s._sp_indices[d][:, None] == picks[None, :])
    order = np.lexsort((entry, position))  # the output position, then the entry
    entry, position = entry[order], position[order]
    indices = s._sp_indices[:, entry].copy()
    indices[d] = position
    shape = list(s.shape)
    shape[d] = len(picks)
    values = s._sp_values.index_select(0, _wrap(entry.astype(np.int64)))
    return _make(indices.reshape(s.sparse_dim(), -1), values, shape, coalesced=False)


def select(s: SparseTensor, dim: int, index: int):
    """``s.select(dim, index)`` and ``s[index]``: along a sparse dim, the entries there
    (sparse, or dense once no sparse dim is left: their sum, zeros where none); along a
    dense dim, a slice of every value."""
    if not -s.ndim <= dim < max(s.ndim, 1):
        raise IndexError(f"select(): dimension {dim} out of range for a {s.ndim}-D tensor")
    d = dim % s.ndim
    size = s.shape[d]
    if not -size <= index < size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(s.shape)} at "
            f"dimension {d}"
        )
    index %= size
    shape = [n for k, n in enumerate(s.shape) if k != d]
    if d >= s.sparse_dim():
        values = s._sp_values.select(d - s.sparse_dim() + 1, index)
        return _make(s._sp_indices, values, shape, s._sp_coalesced)
    keep = np.nonzero(s._sp_indices[d] == index)[0].astype(np.int64)
    values = s._sp_values.index_select(0, _wrap(keep))
    if s.sparse_dim() == 1:  # no sparse dim left: the (summed) entries, dense
        return _scatter_add(1, np.zeros(len(keep), np.int64), values)[0]
    indices = np.delete(s._sp_indices[:, keep], d, axis=0)
    return _make(indices, values, shape, coalesced=s._sp_coalesced and d == 0)


def getitem(s: SparseTensor, key):
    """``s[i]`` and ``s[i, j, ...]`` with integers (PyTorch's sparse indexing); other keys
    raise, as PyTorch's."""
    keys = key if isinstance(key, tuple) else (key,)
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys):
        raise _unsupported("index", f" (key {key!r}: only integers index a sparse tensor)")
    out = s
    for k in keys:
        out = out.select(0, int(k))
    return out


# ---------------------------------------------------------------------- arithmetic
def _check_same_shape(op, a, b):
    if tuple(a.shape) != tuple(b.shape):
        raise RuntimeError(
            f"{op}: expected sizes to match, got {list(a.shape)} and {list(b.shape)}"
        )


def add(a, b, *, alpha=1, op="add"):
    """``a + alpha * b`` with a sparse operand: sparse + sparse is sparse (the entries of
    both), dense + sparse is dense; sparse + dense raises, as in PyTorch."""
    a_sparse, b_sparse = isinstance(a, SparseTensor), isinstance(b, SparseTensor)
    if a_sparse and b_sparse:
        _check_same_shape(op, a, b)
        if a.sparse_dim() != b.sparse_dim():
            raise RuntimeError(
                f"{op}: expected same sparse_dim, got {a.sparse_dim()} and {b.sparse_dim()}"
            )
        dtype = dtypes.result_type(a._sp_values, b._sp_values)
        bv = b._sp_values if alpha == 1 else b._sp_values * alpha
        values = _kiln().cat([a._sp_values.to(dtype), bv.to(dtype)])
        indices = np.concatenate([a._sp_indices, b._sp_indices], axis=1)
        out = _make(indices, values, a.shape, coalesced=False)
        return coalesce(out) if a._sp_coalesced and b._sp_coalesced else out
    if b_sparse and isinstance(a, Tensor):  # dense + sparse: scattered into a copy of a
        # (entry by entry as PyTorch; its kernel fuses alpha * v + r into one rounding, an
        # FMA that NumPy has not: with alpha != 1 a result may differ in the last bit)
        _check_same_shape(op, a, b)
        bv = b._sp_values if alpha == 1 else b._sp_values * alpha
        dtype = dtypes.result_type(a, bv)
        sparse_shape = b.shape[: b.sparse_dim()]
        flat = a.to(dtype).reshape(-1, *b.shape[b.sparse_dim() :])
        linear = _wrap(_linear(b._sp_indices, sparse_shape))
        return flat.index_add(0, linear, bv.to(dtype)).reshape(a.shape)
    raise RuntimeError(
        f"{op}(sparse, dense) is not supported. Use {op}(dense, sparse) instead."
        if a_sparse
        else f"{op}: unsupported operands {type(a).__name__} and {type(b).__name__}"
    )


def mul(a: SparseTensor, b):
    """Sparse times a number, a 0-d tensor, a dense tensor (its values at the entries) or a
    sparse tensor (the entries both have)."""
    if isinstance(b, SparseTensor):
        _check_same_shape("mul", a, b)
        a, b = coalesce(a), coalesce(b)
        shape = a.shape[: a.sparse_dim()]
        common, ia, ib = np.intersect1d(
            _linear(a._sp_indices, shape), _linear(b._sp_indices, shape), return_indices=True
        )
        values = a._sp_values.index_select(0, _wrap(ia.astype(np.int64))) * (
            b._sp_values.index_select(0, _wrap(ib.astype(np.int64)))
        )
        return _make(a._sp_indices[:, ia], values, a.shape, coalesced=True)
    if isinstance(b, Tensor) and b.ndim > 0:
        kiln = _kiln()
        if kiln.broadcast_shapes(tuple(b.shape), tuple(a.shape)) != tuple(a.shape):
            raise RuntimeError(
                f"mul: a dense operand of shape {list(b.shape)} does not broadcast to the "
                f"sparse tensor's shape {list(a.shape)}"
            )
        dense = b.expand(a.shape).reshape(-1, *a.shape[a.sparse_dim() :])
        linear = _wrap(_linear(a._sp_indices, a.shape[: a.sparse_dim()]))
        return _with_values(a, a._sp_values * dense.index_select(0, linear))
    if not isinstance(b, (Tensor, int, float, builtins.bool, complex)):
        return NotImplemented
    return _with_values(a, a._sp_values * b)


def div(a: SparseTensor, b):
    if isinstance(b, Tensor) and (b.ndim > 0 or isinstance(b, SparseTensor)):
        raise RuntimeError(
            "Sparse division requires a scalar or zero-dim dense tensor divisor (got shape "
            f"{list(b.shape)} for divisor)"
        )
    return _with_values(a, a._sp_values / b)


def _sparse_times_dense(s: SparseTensor, d: Tensor, op: str) -> Tensor:
    """``s @ d`` for a 2-D sparse ``s``: the rows of ``d`` at each entry's column, scaled by
    the entry's value, added into the entry's row (in entry order, as PyTorch's kernel)."""
    if s.sparse_dim() != 2 or s.dense_dim() != 0:
        raise RuntimeError(
            f"{op}: expected a 2-D sparse matrix with 0 dense dimensions, got sparse_dim "
            f"{s.sparse_dim()}, dense_dim {s.dense_dim()}"
        )
    if d.ndim not in (1, 2):
        raise RuntimeError(f"{op}: expected a 1-D or 2-D dense operand, got {d.ndim}-D")
    if s.shape[1] != d.shape[0]:
        raise RuntimeError(
            f"{op}: mat1 and mat2 shapes cannot be multiplied ({s.shape[0]}x{s.shape[1]} and "
            f"{'x'.join(str(n) for n in d.shape)})"
        )
    if s.dtype is not d.dtype:
        raise RuntimeError(
            f"{op}: expected mat1 and mat2 to have the same dtype, but got: {s.dtype.name} != "
            f"{d.dtype.name}"
        )
    rows, cols = s._sp_indices
    picked = d.index_select(0, _wrap(cols))
    values = s._sp_values if d.ndim == 1 else s._sp_values.unsqueeze(1)
    out = d.new_zeros((s.shape[0], *d.shape[1:]))
    return out.index_add(0, _wrap(rows), values * picked)


def _sparse_times_sparse(a: SparseTensor, b: SparseTensor, op: str) -> SparseTensor:
    for s in (a, b):
        if s.sparse_dim() != 2 or s.dense_dim() != 0:
            raise RuntimeError(f"{op}: expected 2-D sparse matrices, got shape {list(s.shape)}")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(
            f"{op}: mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
            f"{b.shape[0]}x{b.shape[1]})"
        )
    a, b = coalesce(a), coalesce(b)
    ka, kb = np.nonzero(a._sp_indices[1][:, None] == b._sp_indices[0][None, :])
    indices = np.stack([a._sp_indices[0][ka], b._sp_indices[1][kb]]).astype(np.int64)
    values = a._sp_values.index_select(0, _wrap(ka.astype(np.int64))) * b._sp_values.index_select(
        0, _wrap(kb.astype(np.int64))
    )
    return coalesce(_make(indices, values, (a.shape[0], b.shape[1]), coalesced=False))


def matmul(a, b, op="matmul", masked_grad=False):
    """``sparse @ dense`` (dense), ``dense @ sparse`` (dense), ``sparse @ sparse`` (sparse).

    ``masked_grad``: the product is ``torch.sparse.mm`` / ``addmm``, whose gradient of a
    sparse leaf stays on its pattern (kiln's only kind of sparse gradient)."""
    if isinstance(a, SparseTensor) and isinstance(b, SparseTensor):
        return _sparse_times_sparse(a, b, op)
    if not masked_grad:
        _refuse_dense_gradient(a, op)
        _refuse_dense_gradient(b, op)
    if isinstance(a, SparseTensor):
        return _sparse_times_dense(a, b, op)
    if a.ndim != 2:
        raise RuntimeError(f"{op}: dense @ sparse needs a 2-D dense operand, got {a.ndim}-D")
    return _sparse_times_dense(b.t(), a.t(), op).t()


def _from_a_sparse_leaf(values: Tensor) -> bool:
    """Whether ``values`` are (computed from) the values of a sparse leaf that requires
    grad: a walk of their autograd graph (small: the ops since the leaf)."""
    if values.__dict__.get("_sparse_leaf_values"):
        return True
    seen, stack = set(), [values.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        leaf = getattr(node, "variable", None)
        if leaf is not None and leaf.__dict__.get("_sparse_leaf_values"):
            return True
        stack.extend(n for n, _ in getattr(node, "next_functions", ()))
    return False


def _refuse_dense_gradient(x, op: str) -> None:
    if isinstance(x, SparseTensor) and x.requires_grad and _kiln().is_grad_enabled():
        if _from_a_sparse_leaf(x._sp_values):
            raise NotImplementedError(
                f"{op}: PyTorch gives a sparse matrix that requires grad a dense gradient "
                f"through {op} (grad @ other.T at every entry, off its pattern too); kiln keeps "
                "a sparse tensor's gradient on its pattern: use torch.sparse.mm or "
                "torch.sparse.addmm (that gradient in PyTorch too), or multiply its to_dense()"
            )


def mm(mat1, mat2) -> Tensor:
    """``torch.sparse.mm``: a sparse matrix times a dense (or sparse) one. A sparse
    operand that requires grad gets a sparse gradient on its own pattern."""
    return matmul(mat1, mat2, op="mm", masked_grad=True)


def spmm(mat1, mat2) -> Tensor:
    return matmul(mat1, mat2, op="spmm")


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``torch.sparse.addmm``: ``beta * input + alpha * (mat1 @ mat2)``."""
    product = matmul(mat1, mat2, op="addmm", masked_grad=True)
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return product
    return (input if beta == 1 else input * beta) + product


def sum(input, dim=None, dtype=None) -> Tensor:  # noqa: A001, A002
    """``torch.sparse.sum``: all entries (a dense 0-d tensor), or over ``dim``: sparse over
    the sparse dims that remain, dense when no sparse dim remains."""
    s = input
    if dtype is not None:
        s = s.to(dtype)
    elif not (s.dtype.is_floating_point or s.dtype.is_complex):
        s = s.to(dtypes.int64)
    if dim is None:
        return s._sp_values.sum()
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = sorted({d % s.ndim for d in dims})
    sparse_dims = [d for d in dims if d < s.sparse_dim()]
    dense_axes = tuple(d - s.sparse_dim() + 1 for d in dims if d >= s.sparse_dim())
    values = s._sp_values.sum(dense_axes) if dense_axes else s._sp_values
    kept = [d for d in range(s.sparse_dim()) if d not in sparse_dims]
    dense_shape = [n for i, n in enumerate(s.shape[s.sparse_dim() :]) if i + 1 not in dense_axes]
    if not kept:
        return values.sum(0) if sparse_dims else values
    shape = [s.shape[d] for d in kept] + dense_shape
    out = _make(s._sp_indices[kept], values, shape, coalesced=False)
    return coalesce(out) if sparse_dims or not s._sp_coalesced else _with_values(out, values, True)


def _softmax_parts(input: SparseTensor, dim: int, dtype, op: str):
    s = input
    if dtype is not None:
        s = s.to(dtype)
    d = dim % s.ndim
    if s.dense_dim() > 0 or d >= s.sparse_dim():
        raise _unsupported(op, " (over a dense dimension)")
    s = coalesce(s)
    kept = [i for i in range(s.sparse_dim()) if i != d]
    group_shape = [s.shape[i] for i in kept]
    linear = _linear(s._sp_indices[kept], group_shape) if kept else np.zeros(s._nnz(), np.int64)
    unique, group = np.unique(linear, return_inverse=True)
    group = _wrap(group.reshape(-1).astype(np.int64))
    v = s._sp_values
    # the shift by each group's maximum cancels in the result: no gradient flows through it
    m = v.new_zeros(len(unique)).scatter_reduce(0, group, v.detach(), "amax", include_self=False)
    shifted = v - m.index_select(0, group)
    e = shifted.exp()
    total = e.new_zeros(len(unique)).index_add(0, group, e).index_select(0, group)
    return s, shifted, e, total


def softmax(input, dim: int, dtype=None) -> SparseTensor:  # noqa: A002
    """``torch.sparse.softmax``: a softmax over the specified entries along ``dim`` (the
    unspecified ones count as -inf, so they stay unspecified)."""
    s, _, e, total = _softmax_parts(input, dim, dtype, "softmax")
    return _with_values(s, e / total, True)


def log_softmax(input, dim: int, dtype=None) -> SparseTensor:  # noqa: A002
    s, shifted, _, total = _softmax_parts(input, dim, dtype, "log_softmax")
    return _with_values(s, shifted - total.log(), True)
