"""The COO tensor: ``SparseTensor`` (indices, values, shape, coalesced flag), the layout
objects, the placeholder ``_data`` that refuses to be read, the device handler that
refuses every primitive with a sparse input, and PyTorch's ``repr``. Its operations are
in ``kiln.sparse.ops``."""

from __future__ import annotations

import builtins

import numpy as np

from .. import dispatch, dtypes, printing
from ..memory_format import (  # noqa: F401 - the one set of layout objects (torch.layout)
    _LAYOUTS,
    _layout_named,
    layout,
    sparse_bsc,
    sparse_bsr,
    sparse_coo,
    sparse_csc,
    sparse_csr,
    strided,
)
from ..tensor import SPARSE_SEEN, NoValues, Tensor, _wrap, refuse_methods


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

    def to_sparse(self, *args, layout=None, **kwargs) -> SparseTensor:  # noqa: F811
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

    def select(self, dim: int, index: int):
        return select(self, dim, index)

    def __getitem__(self, key):
        return getitem(self, key)

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


refuse_methods(SparseTensor, _KEEP, _unsupported)


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
def _placeholder(shape, dtype) -> NoValues:
    """A sparse tensor's ``_data``: its shape and dtype, no values (``tensor.NoValues``)."""
    return NoValues(shape, dtype.np, _unsupported)


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


# the operations the methods above call (after the class: ops imports it)
from .ops import (  # noqa: E402
    _linear,
    _values_on_pattern,
    add,
    coalesce,
    div,
    getitem,
    index_select,
    log_softmax,
    matmul,
    mul,
    select,
    softmax,
    sum,  # noqa: A004
    to_dense,
    transpose,
)
