"""Sparse COO tensors (``torch.sparse_coo_tensor``, ``Tensor.to_sparse``, ``torch.sparse``).

A ``SparseTensor`` keeps PyTorch's COO representation: ``indices`` (int64, ``[sparse_dim,
nnz]``) and ``values`` (``[nnz, *dense_shape]``), a shape and an ``is_coalesced`` flag. Every
operation on it is a composite of dense kiln ops on ``values`` (gathers with
``index_select``, scatter-adds with ``index_add``), so autograd reaches ``values`` and the
dense operands, and under ``kiln.jit`` a sparse constant lowers to a gather/scatter-add.
The indices are data (NumPy) the operations read eagerly.

What PyTorch has no sparse kernel for raises ``NotImplementedError`` (a ``RuntimeError``)
naming the op and the layout: a sparse tensor is never densified behind the user's back.
Its ``_data`` is a placeholder (shape and dtype, NaN values) that no op may read: a device
handler of ``kiln.dispatch`` refuses every primitive that gets a sparse input.

>>> import kiln
>>> s = kiln.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3.0, 4.0, 5.0], (2, 3))
>>> kiln.sparse.mm(s, kiln.ones(3, 1)).tolist()
[[3.0], [9.0]]
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from . import dispatch, dtypes, printing
from .context import current_trace
from .tensor import SPARSE_SEEN, Tensor, _wrap

__all__ = [
    "SparseTensor",
    "sparse_bsc",
    "sparse_bsr",
    "sparse_csc",
    "sparse_csr",
    "addmm",
    "layout",
    "log_softmax",
    "mm",
    "softmax",
    "sparse_coo",
    "sparse_coo_tensor",
    "spmm",
    "strided",
    "sum",
]


class layout:  # noqa: N801  (torch.layout)
    """A tensor's memory layout: ``kiln.strided`` (dense) or ``kiln.sparse_coo``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"kiln.{self.name}"

    def __reduce__(self):
        return (_layout_named, (self.name,))


strided = layout("strided")
sparse_coo = layout("sparse_coo")
# PyTorch's compressed layouts: named (``layout == torch.sparse_csr`` reads), not supported
sparse_csr = layout("sparse_csr")
sparse_csc = layout("sparse_csc")
sparse_bsr = layout("sparse_bsr")
sparse_bsc = layout("sparse_bsc")
_LAYOUTS = {
    x.name: x for x in (strided, sparse_coo, sparse_csr, sparse_csc, sparse_bsr, sparse_bsc)
}


def _layout_named(name: str) -> layout:
    return _LAYOUTS[name]


def _kiln():
    import kiln

    return kiln


def _unsupported(op: str, detail: str = "") -> NotImplementedError:
    return NotImplementedError(
        f"Could not run '{op}' with arguments from the 'SparseCPU' backend: kiln has no "
        f"kernel of it for layout kiln.sparse_coo{detail}. Convert with .to_dense() first "
        "if a dense result is meant."
    )


# ---------------------------------------------------------------------- the tensor
class SparseTensor(Tensor):
    """A COO sparse tensor (``layout == kiln.sparse_coo``); build one with
    ``kiln.sparse_coo_tensor`` or ``Tensor.to_sparse``."""

    __slots__ = ()
    is_sparse = True
    layout = sparse_coo

    # -------------------------------------------------------------- structure
    @property
    def dtype(self):
        return self._sp_values.dtype

    def sparse_dim(self) -> int:
        return self._sp_indices.shape[0]

    def dense_dim(self) -> int:
        return self._sp_values.ndim - 1

    def _nnz(self) -> int:
        return self._sp_indices.shape[1]

    def is_coalesced(self) -> bool:
        return self._sp_coalesced

    def _indices(self) -> Tensor:
        return _wrap(self._sp_indices)

    def _values(self) -> Tensor:
        return self._sp_values

    def indices(self) -> Tensor:
        if not self._sp_coalesced:
            raise RuntimeError(
                "Cannot get indices on an uncoalesced tensor, please call .coalesce() first"
            )
        return self._indices()

    def values(self) -> Tensor:
        if not self._sp_coalesced:
            raise RuntimeError(
                "Cannot get values on an uncoalesced tensor, please call .coalesce() first"
            )
        return self._sp_values

    def coalesce(self) -> SparseTensor:
        return coalesce(self)

    def to_dense(self, dtype=None, *, masked_grad=None) -> Tensor:
        out = to_dense(self)
        return out if dtype is None else out.to(dtype)

    def to_sparse(self, *args, layout=None, **kwargs) -> SparseTensor:
        sparse_dim = args[0] if args else kwargs.get("sparse_dim")
        if layout not in (None, sparse_coo) or kwargs.get("blocksize") is not None:
            raise NotImplementedError(
                f"to_sparse: layout {layout} is not supported by kiln (only kiln.sparse_coo)"
            )
        if sparse_dim is not None and sparse_dim != self.sparse_dim():
            raise RuntimeError(
                "to_sparse: conversion from Sparse to Sparse with sparse_dim argument "
                "!=self.sparse_dim() is not supported"
            )
        return self

    def to_sparse_coo(self) -> SparseTensor:
        return self

    # -------------------------------------------------------------- autograd
    @property
    def requires_grad(self) -> bool:
        return self._sp_values.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self._sp_values.requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> SparseTensor:
        self._sp_values.requires_grad_(requires_grad)
        return self

    @property
    def grad_fn(self):
        return self._sp_values.grad_fn

    @grad_fn.setter
    def grad_fn(self, value) -> None:
        if value is not None:
            raise RuntimeError("a sparse tensor's grad_fn is its values' (kiln)")

    @property
    def is_leaf(self) -> bool:
        return self._sp_leaf or not self.requires_grad

    @property
    def grad(self):
        """A leaf's gradient: sparse, on its coalesced pattern (PyTorch's masked gradient:
        every copy of a duplicated index receives the same gradient, which is read once)."""
        g = self._sp_values.grad
        if g is None or not self._sp_leaf:
            return None
        linear = _linear(self._sp_indices, self.shape[: self.sparse_dim()])
        unique, first = np.unique(linear, return_index=True)
        indices = self._sp_indices[:, first]
        values = g.index_select(0, _wrap(first.astype(np.int64))) if g.ndim else g
        return _make(indices, values, self.shape, coalesced=True)

    @grad.setter
    def grad(self, value) -> None:
        if value is None:
            self._sp_values.grad = None
        elif isinstance(value, SparseTensor):
            self._sp_values.grad = _values_on_pattern(value, self)
        else:
            raise RuntimeError("assigned grad has data of a different layout (strided)")

    def detach(self) -> SparseTensor:
        return _make(self._sp_indices, self._sp_values.detach(), self.shape, self._sp_coalesced)

    @property
    def data(self) -> SparseTensor:
        return self.detach()

    def clone(self, memory_format=None) -> SparseTensor:
        return _make(
            self._sp_indices.copy(), self._sp_values.clone(), self.shape, self._sp_coalesced
        )

    def backward(self, *args, **kwargs):
        raise _unsupported("backward", " (call backward on a dense result)")

    # -------------------------------------------------------------- conversion
    def to(self, *args, **kwargs) -> SparseTensor:
        dtype = kwargs.get("dtype")
        target = kwargs.get("device")
        for a in args:
            if isinstance(a, dtypes.dtype):
                dtype = a
            elif isinstance(a, Tensor):
                dtype, target = a.dtype, a.device
            else:
                target = a
        if target is not None and str(target).split(":")[0] != "cpu":
            raise _unsupported("to", f" (to device {target})")
        if dtype is None or dtypes.as_dtype(dtype) is self.dtype:
            return self
        values = self._sp_values.to(dtypes.as_dtype(dtype))
        return _make(self._sp_indices, values, self.shape, self._sp_coalesced)

    def type(self, dtype=None):
        if dtype is None:
            return Tensor.type(self._sp_values).replace("kiln.", "kiln.sparse.")
        return self.to(dtypes.as_dtype(dtype))

    def numpy(self, *, force: bool = False):
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def __array__(self, dtype=None, copy=None):
        self.numpy()

    def tolist(self):
        raise RuntimeError("tolist: not supported for sparse tensors; use .to_dense().tolist()")

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar"
            )
        return self.to_dense().item()

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    def is_contiguous(self, memory_format=None) -> bool:
        return False

    def zero_(self) -> SparseTensor:
        """No entries left (``optimizer.zero_grad(set_to_none=False)`` of a sparse grad)."""
        if self.requires_grad and self.is_leaf and _kiln().is_grad_enabled():
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        self._sp_indices = np.zeros((self.sparse_dim(), 0), np.int64)
        self._sp_values = self._sp_values.detach().new_zeros((0, *self.shape[self.sparse_dim() :]))
        self._sp_coalesced = True
        return self

    def __del__(self):
        try:
            _released()
        except Exception:  # noqa: S110  (interpreter shutdown: the module is gone)
            pass

    def __reduce_ex__(self, protocol):
        # copy, deepcopy and pickle rebuild through _make (which counts live tensors)
        state = (self._sp_indices, self._sp_values, tuple(self.shape), self._sp_coalesced)
        return (_rebuild, (*state, self._sp_leaf))

    def __repr__(self) -> str:
        return _repr(self)

    # -------------------------------------------------------------- arithmetic
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def add(self, other, *, alpha=1):
        return add(self, other, alpha=alpha)

    def __sub__(self, other):
        return add(self, other, alpha=-1, op="sub")

    def __rsub__(self, other):
        return add(other, self, alpha=-1, op="sub")

    def sub(self, other, *, alpha=1):
        return add(self, other, alpha=-alpha, op="sub")

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(self, other)

    def mul(self, other):
        return mul(self, other)

    def __truediv__(self, other):
        return div(self, other)

    def div(self, other):
        return div(self, other)

    def __neg__(self):
        return _with_values(self, -self._sp_values)

    def neg(self):
        return -self

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def matmul(self, other):
        return matmul(self, other)

    def mm(self, other):
        return matmul(self, other, op="mm")  # (Tensor.mm: torch.mm's dense gradient)

    def t(self):
        if self.sparse_dim() > 2 or self.dense_dim() > 0:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 sparse and 0 dense dimensions, but got "
                f"{self.sparse_dim()} sparse and {self.dense_dim()} dense dimensions"
            )
        return self if self.ndim < 2 else self.transpose(0, 1)

    def transpose(self, dim0: int, dim1: int):
        return transpose(self, dim0, dim1)

    def sum(self, dim=None, keepdim: bool = False, *, dtype=None):
        if keepdim:
            raise _unsupported("sum", " (keepdim=True)")
        return sum(self, dim, dtype=dtype)

    def index_select(self, dim: int, index: Tensor):
        return index_select(self, dim, index)

    def softmax(self, dim: int, dtype=None):
        return softmax(self, dim, dtype)

    def log_softmax(self, dim: int, dtype=None):
        return log_softmax(self, dim, dtype)


# Tensor methods that read only a tensor's shape, dtype or class, or that SparseTensor
# reroutes to its own ``to``: they stay; every other method of Tensor is refused below.
_KEEP = set(SparseTensor.__dict__) | {
    "size",
    "dim",
    "ndimension",
    "numel",
    "nelement",
    "element_size",
    "is_floating_point",
    "is_complex",
    "is_signed",
    "get_device",
    "float",
    "double",
    "half",
    "bfloat16",
    "long",
    "int",
    "short",
    "bool",
    "byte",
    "char",
    "cpu",
    "__len__",
    "__hash__",
    "__format__",
    "__init__",
    "__class__",
    "__dir__",
    "__sizeof__",
    "__init_subclass__",
    "__subclasshook__",
    "__getattribute__",
    "__setattr__",
    "__delattr__",
    "__str__",
}


def _refusal(name: str):
    def refused(self, *args, **kwargs):
        raise _unsupported(name.strip("_"))

    refused.__name__ = name
    return refused


def _install_refusals() -> None:
    for name, value in list(vars(Tensor).items()):
        if name in _KEEP or not callable(value) or isinstance(value, (type, staticmethod)):
            continue
        if isinstance(value, classmethod):
            continue
        setattr(SparseTensor, name, _refusal(name))


_install_refusals()


def _refuse_primitives(prim, inputs, params):
    """The device handler: a primitive never reads a sparse tensor's placeholder data."""
    for x in inputs:
        if type(x) is SparseTensor:
            raise _unsupported(prim.name)
    return NotImplemented


def _enable() -> None:
    """Count one more live sparse tensor; the first registers the handler (a registered
    handler takes eager ops off ``bind``'s fastest path: a program pays for it only while
    it holds a sparse tensor)."""
    _LIVE[0] += 1
    if not _ENABLED:
        dispatch.register_device(_refuse_primitives)
        _ENABLED.append(True)


def _released() -> None:
    """A sparse tensor died (``SparseTensor.__del__``); after the last, no operand can be
    sparse: the handler goes and the ops' tests of ``SPARSE_SEEN`` skip again."""
    _LIVE[0] -= 1
    if _LIVE[0] == 0 and _ENABLED:
        _ENABLED.clear()
        if _refuse_primitives in dispatch._device_handlers:
            dispatch._device_handlers.remove(_refuse_primitives)


_ENABLED = SPARSE_SEEN
_LIVE = [0]  # sparse tensors alive (each made by _make, each counted down by __del__)


# ---------------------------------------------------------------------- construction
class _NoValues(np.ndarray):
    """A sparse tensor's ``_data``: its shape and dtype, no values. Zero-strided and
    read-only (one element: NaN where a float can say so); NumPy's ufuncs and functions
    refuse it, so a dense code path that reads a tensor's array directly raises instead of
    computing with the placeholder."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise _unsupported(getattr(ufunc, "__name__", "ufunc"))

    def __array_function__(self, func, types, args, kwargs):
        raise _unsupported(getattr(func, "__name__", "function"))

    def _refused(self, *args, **kwargs):
        raise _unsupported("reading the values")

    tolist = item = copy = astype = tobytes = __getitem__ = __iter__ = _refused
    __float__ = __int__ = __bool__ = __index__ = _refused


def _placeholder(shape, dtype) -> np.ndarray:
    dt = dtype.np
    fill = np.nan if dt.kind in "fc" else 0
    return np.broadcast_to(np.array(fill, dtype=dt), tuple(shape)).view(_NoValues)


def _make(indices: np.ndarray, values: Tensor, shape, coalesced: bool) -> SparseTensor:
    held = values.dtype if values.dtype is not dtypes.bfloat16 else dtypes.float32
    t = _wrap(np.zeros(0))
    t._data = _placeholder(shape, held)
    _enable()
    t.__class__ = SparseTensor
    t._sp_indices = indices
    t._sp_values = values
    t._sp_coalesced = builtins.bool(coalesced)
    t._sp_leaf = False  # (sparse_coo_tensor(..., requires_grad=True) makes a leaf)
    return t


def _rebuild(indices, values, shape, coalesced, leaf) -> SparseTensor:
    out = _make(indices, values, shape, coalesced)
    out._sp_leaf = leaf
    return out


def _with_values(s: SparseTensor, values: Tensor, coalesced=None) -> SparseTensor:
    return _make(
        s._sp_indices, values, s.shape, s._sp_coalesced if coalesced is None else coalesced
    )


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


# ---------------------------------------------------------------------- embeddings
def sparse_embedding(weight: Tensor, flat: Tensor, padding_idx, scale_grad_by_freq) -> Tensor:
    """``weight``'s rows at ``flat`` whose gradient reaches ``weight.grad`` as a COO tensor
    (``nn.Embedding(sparse=True)``): one entry per index, ``padding_idx`` left out, added to
    an earlier gradient (uncoalesced), as PyTorch's ``embedding_sparse_backward``."""
    from .autograd.function import Function

    if _traced(weight, flat):
        raise NotImplementedError(
            "embedding(sparse=True): kiln.jit cannot produce a sparse gradient; use "
            "sparse=False inside a compiled function (the same values, as a dense gradient)"
        )

    class EmbeddingSparse(Function):
        @staticmethod
        def forward(ctx, w):
            return w.index_select(0, flat)

        @staticmethod
        def backward(ctx, grad):
            if scale_grad_by_freq:
                raise RuntimeError(
                    "embedding_backward: scale_grad_by_freq not supported with sparse gradients"
                )
            rows = np.asarray(flat._data).astype(np.int64)
            values = grad.detach()
            if padding_idx is not None:
                keep = rows != padding_idx
                rows = rows[keep]
                values = values.index_select(0, _wrap(np.nonzero(keep)[0].astype(np.int64)))
            coo = _make(rows.reshape(1, -1), values, weight.shape, coalesced=len(rows) <= 1)
            old = weight.grad
            if isinstance(old, SparseTensor) and old.dtype is coo.dtype:  # in place, as
                total = add(old, coo)  # PyTorch's AccumulateGrad of a sparse gradient
                old._sp_indices, old._sp_values = total._sp_indices, total._sp_values
                old._sp_coalesced = total._sp_coalesced
            else:
                weight.grad = coo if old is None else old + coo
            return None

    return EmbeddingSparse.apply(weight)


def _traced(*tensors) -> bool:
    return current_trace() is not None or any(t._node is not None for t in tensors)


# ---------------------------------------------------------------------- printing
def _repr(s: SparseTensor) -> str:
    """PyTorch's ``repr`` of a COO tensor: indices, values, size, nnz, dtype, layout."""
    prefix = "tensor("
    indent = len(prefix)
    suffixes = [f"size={tuple(s.shape)}", f"nnz={s._nnz()}"]
    dtype = s.dtype
    if not (
        dtype is dtypes.get_default_dtype()
        or dtype is dtypes.get_default_complex_dtype()
        or dtype is dtypes.int64
        or dtype is dtypes.bool_
    ):
        suffixes.append(f"dtype={dtype!r}")
    suffixes.append(f"layout={sparse_coo!r}")
    parts = []
    for label, data in (("indices=tensor(", s._sp_indices), ("values=tensor(", None)):
        if data is None:
            values = s._sp_values.detach()
            data = np.asarray(values.float()._data if dtype is dtypes.bfloat16 else values._data)
        text = printing._tensor_str(data, indent + len(label)) if data.size else "[]"
        if data.size == 0:
            text += f", size={tuple(data.shape)}"
        parts.append(label + text + ")")
    grad_fn = s.grad_fn
    if grad_fn is not None:
        name = s.__dict__.get("_sp_grad_name") or grad_fn.name()
        suffixes.append(f"grad_fn=<{name}>")
    elif s.requires_grad:
        suffixes.append("requires_grad=True")
    # the first suffix on a line of its own (PyTorch's force_newline for sparse tensors)
    body = parts[0] + ",\n" + " " * indent + parts[1] + ",\n" + " " * indent + suffixes[0]
    return printing._add_suffixes(prefix + body, suffixes[1:], indent)
