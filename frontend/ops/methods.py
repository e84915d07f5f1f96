"""Attach the ``Tensor`` methods and operators: each forwards to a function in ``kiln.ops``.

Kept in one table so that the method surface is easy to read and to extend.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import dtypes, ops
from .. import memory_format as _mf
from ..autograd.tape import rename
from ..tensor import Size, Tensor

_OPERAND_TYPES = (Tensor, numbers.Number, np.ndarray, np.generic)


def _operator(fn):
    """A binary operator: ``NotImplemented`` for operands kiln does not know (``x == None``)."""

    def op(self, other):
        if not isinstance(other, _OPERAND_TYPES):
            return NotImplemented
        return fn(self, other)

    return op


def _reflected(fn):
    def op(self, other):
        if not isinstance(other, _OPERAND_TYPES):
            return NotImplemented
        return fn(other, self)

    return op


def _rsub(self, other):
    """``number - tensor``: PyTorch's ``RsubBackward1`` node (one edge, to the tensor)."""
    if not isinstance(other, _OPERAND_TYPES):
        return NotImplemented
    out = ops.sub(other, self)
    if not isinstance(other, Tensor) and out.grad_fn is not None:
        rename(out, "RsubBackward1", self)
    return out


def _rdiv(self, other):
    """``number / tensor`` as PyTorch computes it: ``reciprocal(tensor) * number`` (its
    ``__rtruediv__``: two roundings, ``MulBackward0`` over ``ReciprocalBackward0``); an
    array or a tensor divides."""
    if not isinstance(other, _OPERAND_TYPES):
        return NotImplemented
    if isinstance(other, (Tensor, np.ndarray)):
        return ops.div(other, self)
    return ops.mul(ops.reciprocal(self), other)


def _method(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


_OPERATORS = {
    "__add__": ops.add,
    "__radd__": _reflected(ops.add),
    "__sub__": ops.sub,
    "__rsub__": lambda self, other: _rsub(self, other),
    "__mul__": ops.mul,
    "__rmul__": _reflected(ops.mul),
    "__truediv__": ops.div,
    "__rtruediv__": _rdiv,
    "__rdiv__": _rdiv,
    "__floordiv__": ops.floor_divide,
    "__rfloordiv__": _reflected(ops.floor_divide),
    "__mod__": ops.remainder,
    "__rmod__": _reflected(ops.remainder),
    "__pow__": ops.pow,
    "__rpow__": _reflected(ops.pow),
    "__matmul__": ops.matmul,
    "__rmatmul__": _reflected(ops.matmul),
    "__neg__": ops.neg,
    "__abs__": ops.abs,
    "__pos__": lambda self: self,
    "__invert__": ops.bitwise_not,
    "__and__": ops.bitwise_and,
    "__rand__": _reflected(ops.bitwise_and),
    "__or__": ops.bitwise_or,
    "__ror__": _reflected(ops.bitwise_or),
    "__xor__": ops.bitwise_xor,
    "__rxor__": _reflected(ops.bitwise_xor),
    "__lshift__": ops.bitwise_left_shift,
    "__rlshift__": _reflected(ops.bitwise_left_shift),
    "__rshift__": ops.bitwise_right_shift,
    "__rrshift__": _reflected(ops.bitwise_right_shift),
    "__eq__": ops.eq,
    "__ne__": ops.ne,
    "__lt__": ops.lt,
    "__le__": ops.le,
    "__gt__": ops.gt,
    "__ge__": ops.ge,
    "__getitem__": ops.getitem,
    "__setitem__": ops.setitem,
}

_METHODS = """
add sub mul div pow neg exp log sqrt sin cos tan tanh erf abs sign reciprocal floor ceil round
trunc frac square rsqrt log2 log10 log1p expm1 sigmoid relu clamp clip maximum minimum
eq ne lt le gt ge logical_not logical_and logical_or logical_xor isnan isinf isfinite
nan_to_num lerp addcmul addcdiv remainder fmod floor_divide true_divide multiply subtract
divide negative absolute sinh cosh atan sum mean amax amin argmax argmin var std
logsumexp softmax log_softmax all any prod norm max min reshape view permute transpose t
unsqueeze squeeze flatten unflatten expand expand_as broadcast_to narrow split chunk unbind
flip repeat tile roll tril triu movedim swapaxes matmul mm bmm mv dot outer
gather scatter_add index_select take masked_fill masked_select nonzero argwhere nonzero_static
sort argsort topk kthvalue median nanmedian msort cumsum cumprod unique diag diagonal trace
isclose allclose equal
scatter index_add index_fill repeat_interleave softplus clamp_min clamp_max erfinv
asin acos atanh acosh asinh arcsin arccos arctan arcsinh arccosh arctanh exp2 lgamma digamma
xlogy copysign signbit bitwise_and bitwise_or bitwise_xor bitwise_not bitwise_left_shift
bitwise_right_shift hypot atan2 logaddexp cummax cummin logcumsumexp scatter_reduce
take_along_dim index_copy index_put masked_scatter pixel_shuffle pixel_unshuffle
svd qr det logdet slogdet inverse cholesky matrix_exp
""".split()


def _view_as(self, other):
    return ops.view(self, tuple(other.shape))


def _untyped_storage(self):
    from ..storage import untyped_storage

    return untyped_storage(self)


def _typed_storage(self):
    from ..storage import typed_storage

    return typed_storage(self)


def _reshape_as(self, other):
    return ops.reshape(self, other.shape)


def _new_factory(fn):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return fn(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    return method


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return ops.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    return ops.full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _inplace(name):
    def method(self, *args, **kwargs):
        return ops.inplace(self, name, *args, **kwargs)

    method.__name__ = name
    return method


def _forward_to(name: str):
    def method(self, *args, **kwargs):
        return getattr(ops, name)(self, *args, **kwargs)

    method.__name__ = name
    return method


def _unique_consecutive(self, return_inverse=False, return_counts=False, dim=None):
    from ..functional import unique_consecutive

    return unique_consecutive(self, return_inverse, return_counts, dim)


def _fill_diagonal_(self, fill_value, wrap=False):
    """PyTorch's ``fill_diagonal_``: the main diagonal (``x[i, i, ..., i]``) set to a number;
    a tall matrix with ``wrap=True`` starts the diagonal again every ``cols + 1`` rows."""
    if self.ndim < 2:
        raise RuntimeError("fill_diagonal_: dimensions must larger than 1")
    if self.ndim > 2 and len(set(self.shape)) > 1:
        raise RuntimeError("fill_diagonal_: all dimensions of input must be of equal length")
    mask = np.zeros(tuple(self.shape), dtype=bool)
    np.fill_diagonal(mask, True, wrap=bool(wrap))
    where = ops.constant(mask, dtypes.bool_, like=self)
    fill = ops.full((), fill_value, dtype=self.dtype)
    return ops.assign(self, ops.where(where, fill, self), "fill_diagonal_")


def _uniform_(self, a=0.0, b=1.0, *, generator=None):
    r = ops.rand(self.shape, dtype=self.dtype, generator=generator, device=_device_of(self))
    return ops.assign(self, ops.add(ops.mul(r, b - a), a), "uniform_")


def _normal_(self, mean=0.0, std=1.0, *, generator=None):
    r = ops.randn(self.shape, dtype=self.dtype, generator=generator, device=_device_of(self))
    return ops.assign(self, ops.add(ops.mul(r, std), mean), "normal_")


def _bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 1 (probability ``p``, a number or a tensor broadcast to ``self``) or 0."""
    u = ops.rand(self.shape, dtype=dtypes.float64, generator=generator, device=_device_of(self))
    p = ops.cast(p, dtypes.float64) if isinstance(p, Tensor) else float(p)
    return ops.assign(self, ops.cast(ops.lt(u, p), self.dtype), "bernoulli_")


def _exponential_(self, lambd=1.0, *, generator=None):
    """Fill with draws of the exponential distribution of rate ``lambd``."""
    u = ops.rand(self.shape, dtype=dtypes.float64, generator=generator, device=_device_of(self))
    draw = ops.div(ops.neg(ops.log1p(ops.neg(u))), float(lambd))
    return ops.assign(self, ops.cast(draw, self.dtype), "exponential_")


def _device_of(t):
    """``meta`` for a meta tensor (its random fill costs nothing); ``cpu`` for a CPU tensor
    (filled from the CPU generator, also inside a ``kiln.device('meta')`` block, where
    ``nn.Linear(3, 4, device='cpu')`` drew meta numbers and failed to copy them); else the
    default."""
    if getattr(t, "is_meta", False):
        return "meta"
    return "cpu" if type(t._data) is np.ndarray else None


def _T(self):  # noqa: N802
    return ops.permute(self, tuple(reversed(range(self.ndim))))


def _mT(self):  # noqa: N802
    return ops.transpose(self, -2, -1)


def _type_as(self, other):
    return self.to(other.dtype)


def _index_put_(self, indices, values, accumulate=False):
    return ops.assign(self, ops.index_put(self, indices, values, accumulate), "index_put_")


def _strided_result(x: Tensor, out: Tensor, size, stride, offset: int, name: str) -> Tensor:
    """``out`` (a composite's result: its values and its graph) made a view of ``x``'s
    storage, eagerly, as PyTorch's: ``size``/``stride`` elements from ``offset`` elements
    past ``x``'s first. A write through it reaches ``x``; where autograd recorded it, an
    in-place update of it raises (kiln cannot write the history back), as ``as_strided``."""
    from ..context import current_trace
    from .surface16 import _storage_offset, _strided_array, _StridedCopy

    if out.grad_fn is not None:
        rename(out, name, x)
    eager = type(x._data) is np.ndarray and x._node is None and not x.is_meta
    if not eager or current_trace() is not None:
        # traced, or on a device: a copy, which an in-place update would not write back
        out._view_of = (x, "as_strided", _StridedCopy())
        if out._node is not None:  # it reports the view's strides, as eagerly
            from ..tracing import set_layout

            set_layout(out, stride, x.storage_offset() + offset, view_of=x)
        return out
    out._data = _strided_array(x, size, stride, _storage_offset(x) + offset)
    out._vc = x._vc
    if out.grad_fn is not None:
        out._view_of = (x, "as_strided", _StridedCopy())
    return out


def _refuse_requires_grad(x, name: str) -> None:
    if x.requires_grad:
        raise RuntimeError(
            f"Can't call {name}() on Variable that requires grad. Use var.detach().{name}() "
            "instead."
        )


def _apply_(self, callable):  # noqa: A002 - PyTorch's name
    """``Tensor.apply_``: ``callable`` on every element, in place (a Python loop, as
    PyTorch's; for CPU tensors, and slow)."""
    _refuse_requires_grad(self, "apply_")
    values = [callable(v) for v in self._data.reshape(-1).tolist()]
    return self.copy_(ops.tensor(np.array(values).reshape(self._data.shape)))


def _map_(self, tensor, callable):  # noqa: A002 - PyTorch's name
    """``Tensor.map_``: ``callable(a, b)`` of each element of ``self`` and of ``tensor``
    (broadcast to ``self``), in place."""
    _refuse_requires_grad(self, "map_")
    other = ops.broadcast_to(tensor, self.shape)._data.reshape(-1).tolist()
    values = [callable(a, b) for a, b in zip(self._data.reshape(-1).tolist(), other)]
    return self.copy_(ops.tensor(np.array(values).reshape(self._data.shape)))


def _unfold(self, dimension, size, step):
    """``Tensor.unfold``: every window as a view of ``self`` (strides ``step * s, s``)."""
    out = ops.shape.unfold(self, dimension, size, step)
    if self.ndim == 0:
        return out
    d = dimension % self.ndim
    strides = self.stride()
    shape = list(out.shape)
    new_strides = list(strides)
    new_strides[d] = strides[d] * step
    return _strided_result(self, out, shape, new_strides + [strides[d]], 0, "UnfoldBackward0")


def _diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """``Tensor.diagonal``: a view of ``self`` (stride ``s1 + s2``), as PyTorch's."""
    out = ops.sorting.diagonal(self, offset, dim1, dim2)
    d1, d2 = dim1 % self.ndim, dim2 % self.ndim
    strides = self.stride()
    rest = [a for a in range(self.ndim) if a not in (d1, d2)]
    start = offset * strides[d2] if offset >= 0 else -offset * strides[d1]
    if out.shape[-1] == 0:
        start = 0
    stride = [strides[a] for a in rest] + [strides[d1] + strides[d2]]
    return _strided_result(self, out, list(out.shape), stride, start, "DiagonalBackward0")


def diagonal_view(input, offset: int = 0, dim1: int = 0, dim2: int = 1):  # noqa: A002
    """``kiln.diagonal``: a view of ``input``, as ``Tensor.diagonal`` and PyTorch's (it was
    the composite ``ops.sorting.diagonal``, a copy: ``kiln.diagonal(a).fill_(0)`` left ``a``
    unchanged)."""
    return _diagonal(input, offset, dim1, dim2)


# math16: the elementwise, special-function and statistics methods (ops/math16.py).
_MATH16_METHODS = """
fmax fmin logit float_power erfc sinc deg2rad rad2deg heaviside gcd lcm i0 isneginf isposinf
isreal frexp ldexp nextafter logaddexp2 fix positive nansum nanmean count_nonzero aminmax
mode histc histogram bincount diff quantile nanquantile cov corrcoef renorm arctan2 greater
less greater_equal less_equal not_equal hash_tensor
""".split()


def _polygamma_method(self, n):
    return ops.polygamma(n, self)


def _install_math16() -> None:
    from .math16 import INPLACE_METHODS, float_power_, mvlgamma_, polygamma_, renorm_, sgn_

    for name in _MATH16_METHODS:
        setattr(Tensor, name, _method(getattr(ops, name)))
    for name in INPLACE_METHODS:
        setattr(Tensor, name, _inplace(name))
    Tensor.polygamma = _polygamma_method
    Tensor.mvlgamma = _method(ops.mvlgamma)
    Tensor.float_power_ = float_power_
    Tensor.polygamma_ = polygamma_
    Tensor.mvlgamma_ = mvlgamma_
    Tensor.renorm_ = renorm_
    Tensor.sgn_ = sgn_


# end math16


def _inplace_dunder(dunder: str, name: str):
    def method(self, other):
        return getattr(self, name)(other)

    method.__name__ = dunder
    return method


def install() -> None:
    for name, fn in _OPERATORS.items():
        binary = name.startswith("__") and name not in (
            "__neg__",
            "__abs__",
            "__pos__",
            "__invert__",
            "__getitem__",
            "__setitem__",
        )
        if binary and not name.startswith("__r"):
            fn = _operator(fn)
        setattr(Tensor, name, fn)
    Tensor.__iter__ = lambda self: iter(ops.unbind(self, 0)) if self.ndim else _iter0d()
    for name in _METHODS:
        setattr(Tensor, name, _method(getattr(ops, name)))
    for name in (
        "add_",
        "sub_",
        "mul_",
        "div_",
        "pow_",
        "clamp_",
        "copy_",
        "zero_",
        "fill_",
        "neg_",
        "exp_",
        "log_",
        "sqrt_",
        "abs_",
        "relu_",
        "sigmoid_",
        "tanh_",
        "floor_",
        "round_",
        "masked_fill_",
        "clip_",
        "lerp_",
        "addcmul_",
        "addcdiv_",
        "maximum_",
        "minimum_",
        "remainder_",
        "square_",
        "reciprocal_",
        "sign_",
        "scatter_add_",
        "index_put_",
        "scatter_",
        "index_add_",
        "index_fill_",
        "clamp_min_",
        "clamp_max_",
        "logical_not_",
        "sin_",
        "cos_",
        "erf_",
        "tril_",
        "triu_",
        "cumprod_",
        "index_copy_",
        "scatter_reduce_",
    ):
        if name != "index_put_":
            setattr(Tensor, name, _inplace(name))
    # ``x += y`` updates x in place (PyTorch): without these, Python would rebind the name
    # to a new tensor, and ``for p in model.parameters(): p -= lr * p.grad`` would train
    # nothing.
    for dunder, name in (
        ("__iadd__", "add_"),
        ("__isub__", "sub_"),
        ("__imul__", "mul_"),
        ("__itruediv__", "div_"),
        ("__ipow__", "pow_"),
        ("__imod__", "remainder_"),
    ):
        setattr(Tensor, dunder, getattr(Tensor, name))
    # The same for //=, &=, |=, ^=, <<=, >>= (their in-place methods come from the math16
    # block below, hence the lookup at call time): a view or a shared tensor updated with
    # them must change in place, as in PyTorch.
    for dunder, name in (
        ("__ifloordiv__", "floor_divide_"),
        ("__iand__", "bitwise_and_"),
        ("__ior__", "bitwise_or_"),
        ("__ixor__", "bitwise_xor_"),
        ("__ilshift__", "bitwise_left_shift_"),
        ("__irshift__", "bitwise_right_shift_"),
    ):
        setattr(Tensor, dunder, _inplace_dunder(dunder, name))
    Tensor.index_put_ = _index_put_
    Tensor.fill_diagonal_ = _fill_diagonal_
    # torch.* functions that are Tensor methods in PyTorch too
    for name in ("prelu", "hardshrink", "resolve_neg", "is_neg"):
        setattr(Tensor, name, _forward_to(name))
    Tensor.unique_consecutive = _unique_consecutive
    for name in ("igamma", "igammac"):
        setattr(Tensor, name, _forward_to(name))
        setattr(Tensor, name + "_", _inplace(name + "_"))
    Tensor.unfold = _unfold
    Tensor.apply_ = _apply_
    Tensor.map_ = _map_
    Tensor.layout = property(lambda self: _mf.strided)
    Tensor.uniform_ = _uniform_
    Tensor.normal_ = _normal_
    Tensor.bernoulli_ = _bernoulli_
    Tensor.exponential_ = _exponential_
    Tensor.view_as = _view_as
    Tensor.reshape_as = _reshape_as
    Tensor.untyped_storage = _untyped_storage
    Tensor.storage = _typed_storage
    Tensor.diagonal = _diagonal
    ops.diagonal = diagonal_view
    Tensor.type_as = _type_as
    Tensor.T = property(_T)
    Tensor.mT = property(_mT)
    Tensor.H = property(_T)
    Tensor.new_zeros = _new_factory(ops.zeros)
    Tensor.new_ones = _new_factory(ops.ones)
    Tensor.new_empty = _new_factory(ops.empty)
    Tensor.new_full = _new_full
    Tensor.new_tensor = _new_tensor
    # linalg16: the linear-algebra methods and their in-place forms (kiln.ops.linalg16)
    for name in (
        "addmm addbmm baddbmm addmv addr ger inner vdot kron cross dist matrix_power "
        "pinverse cholesky_solve cholesky_inverse lu lu_solve triangular_solve"
    ).split():
        setattr(Tensor, name, _method(getattr(ops, name)))
    for name in ("addmm_", "addbmm_", "baddbmm_", "addmv_", "addr_"):
        setattr(Tensor, name, _inplace(name))
    _install_surface16()  # surface16
    _install_math16()  # math16


# surface16 ------------------------------------------------------------------------------
# Tensor methods of kiln.ops.surface16 and friends; the in-place metadata changes (``t_``,
# ``unsqueeze_``, ...), ``resize_``, the storage questions (``data_ptr``, ``storage_offset``)
# and the random fills. One block, so that it merges as one piece.
_SURFACE16_METHODS = """
ravel select swapdims moveaxis narrow_copy tensor_split hsplit vsplit dsplit split_with_sizes
unsafe_split unsafe_chunk diag_embed diagflat diagonal_scatter select_scatter slice_scatter
rot90 fliplr flipud put index_reduce sum_to_size as_strided is_same_size is_nonzero is_signed
""".split()


def _where_method(self, condition, other):
    """``x.where(condition, y)`` is ``kiln.where(condition, x, y)``."""
    return ops.where(condition, self, other)


def _assigning(name, fn):
    def method(self, *args, **kwargs):
        return ops.assign(self, fn(self, *args, **kwargs), name)

    method.__name__ = name
    return method


def _metadata_inplace(name, fn):
    """``x.t_()``, ``x.unsqueeze_(0)``, ...: the same Tensor object takes the view's shape.

    Autograd sees it as PyTorch does: the tensor's history gains the view op (a leaf that
    requires grad refuses, with grad mode on), and its version counter moves, so a backward
    pass that saved the old tensor refuses to use it."""

    def method(self, *args):
        from ..context import current_trace, is_grad_enabled

        if self.requires_grad and self.grad_fn is None and is_grad_enabled():
            raise RuntimeError(
                f"{name}: a leaf Variable that requires grad is being used in an in-place "
                "operation."
            )
        traced = self._node is not None or current_trace() is not None
        if traced and not hasattr(self, "_trace"):
            from kiln.compiler.errors import TraceError

            raise TraceError(
                f"{name}: changing the shape, in place, of a tensor from outside the traced "
                f"function cannot be traced; use the out-of-place {name[:-1]}"
            )
        alias = _alias(self)  # the tensor as it was: the view op's input
        view = fn(alias, *args)
        if view is alias:  # nothing to change (``t_()`` of a 1-D tensor)
            self._version += 1
            return self
        if traced:
            self._node = view._node
            self._view_of = view._view_of
            from ..tracing import share_layout

            share_layout(self, view)
        else:
            self._data = view._data
            if "_view_of" in view.__dict__:
                self._view_of = view._view_of  # an in-place update still reaches the base
            else:
                self.__dict__.pop("_view_of", None)
        if view.grad_fn is not None:
            self.grad_fn = view.grad_fn
            self._requires_grad = True
        self._version += 1
        return self

    method.__name__ = name
    return method


def _alias(t):
    """A second Tensor object for ``t``'s current value, storage and history."""
    if hasattr(t, "_trace"):  # a tracer tensor
        alias = type(t)(t._trace, t._node, t._requires_grad)
        alias._view_of = t._view_of
        from ..tracing import share_layout

        share_layout(alias, t)
    else:
        alias = Tensor.__new__(type(t))
        alias.__dict__.update(t.__dict__)
        alias._data, alias._node = t._data, None
        alias._requires_grad, alias._grad, alias._retain = t._requires_grad, None, False
    alias.grad_fn = t.grad_fn
    alias._vc = t._vc  # one storage, one version counter
    return alias


def _resize_(self, *sizes, memory_format=None):
    """Give ``x`` the shape ``sizes`` over its storage, from its first element on, as
    PyTorch does: a smaller size keeps the storage (a view of it), a larger one moves to a
    new storage holding the old elements first (the rest zeros; PyTorch's are
    uninitialized)."""
    from ..context import current_trace
    from ..creation import _size
    from .surface16 import _root, _storage_offset

    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    if self._node is not None or current_trace() is not None:
        from kiln.compiler.errors import TraceError

        raise TraceError("resize_: a tensor's storage cannot be resized under kiln.jit")
    size = _size(sizes, None, "resize_")
    if size == tuple(self.shape):
        return self
    if type(self._data) is not np.ndarray:
        raise NotImplementedError(f"resize_: not supported on a {self.device} tensor")
    n = math.prod(size)
    root = _root(self._data)
    flat = np.ravel(root, order="K")
    if not np.may_share_memory(flat, root):
        raise NotImplementedError("resize_: the tensor's storage is not laid out in one block")
    offset = _storage_offset(self)
    if offset + n > flat.size:
        grown = np.zeros(offset + n, dtype=flat.dtype)
        grown[: flat.size] = flat
        flat = grown
    self._data = flat[offset : offset + n].reshape(size)
    return self


def _resize_as_(self, other, memory_format=None):
    return _resize_(self, tuple(other.shape))


def _as_strided_(self, size, stride, storage_offset=None):
    from .surface16 import as_strided_

    return as_strided_(self, size, stride, storage_offset)


def _new(self, *args, dtype=None, device=None, requires_grad=False):
    """The legacy constructor ``x.new(...)``: ``x.new()`` an empty tensor, ``x.new(2, 3)``
    one of that size (zeros), ``x.new([1, 2])`` one holding the data; ``x``'s dtype."""
    dt = dtype or self.dtype
    if not args:
        return ops.empty((0,), dtype=dt, requires_grad=requires_grad)
    if len(args) == 1 and isinstance(args[0], Tensor):
        if args[0].dtype is not dt:
            raise TypeError(f"expected {dt.name} (got {args[0].dtype.name}) in x.new(tensor)")
        return args[0].detach()
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args) or (
        len(args) == 1 and isinstance(args[0], Size)
    ):
        return ops.empty(*args, dtype=dt, requires_grad=requires_grad)
    if len(args) == 1:
        return ops.tensor(args[0], dtype=dt, requires_grad=requires_grad)
    raise TypeError(f"new(): invalid arguments {args!r}")


def _new_empty_strided(
    self, size, stride, *, dtype=None, device=None, requires_grad=False, **layout
):
    return ops.empty_strided(
        size, stride, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad
    )


def _data_ptr(self) -> int:
    """The address of the first element (NumPy's buffer address; 0 for an empty tensor):
    equal for a tensor and a view that starts where it starts."""
    if self._node is not None or type(self._data) is not np.ndarray:
        raise RuntimeError(
            f"data_ptr: a {'traced' if self._node is not None else 'device'} "
            "tensor has no host address"
        )
    if self._data.size == 0:
        return 0
    return self._data.__array_interface__["data"][0]


def _storage_offset_method(self) -> int:
    from ..context import current_trace
    from .surface16 import _storage_offset

    read = getattr(current_trace(), "read_layout", None)
    if read is not None and self._node is None:  # a traced function reads a tensor's offset
        read(self)
    return _storage_offset(self)


def _dim_order(self, *, ambiguity_check=False):
    """The dims from outermost to innermost in memory (``(0, 1, ..., n-1)`` when
    contiguous)."""
    strides = self.stride()
    return tuple(sorted(range(self.ndim), key=lambda d: -strides[d]))


def _get_device(self) -> int:
    device = self.device
    return -1 if device.type == "cpu" else (device.index or 0)


def _random_bounds(self, low, high):
    if high is None and low is not None and not isinstance(low, Tensor):
        low, high = 0, low  # random_(to)
    if low is None:
        low = 0
    if high is None:  # [0, the largest integer the dtype holds exactly]
        dt = self.dtype
        if dt.is_floating_point:
            high = 2 ** {2: 11, 4: 24, 8: 53}[dt.itemsize] + 1
        elif dt is dtypes.bool_:
            high = 2
        else:
            high = int(np.iinfo(dt.np).max) + (1 if dt.itemsize < 8 else 0)
    if high <= low:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    return low, high


def _random_(self, *args, generator=None, **kwargs):
    """``random_()``, ``random_(to)`` or ``random_(from, to)``: integers in ``[from, to)``
    (by default every integer the dtype holds exactly, from 0)."""
    low, high = (list(args) + [None, None])[:2]
    low, high = kwargs.get("from", low), kwargs.get("to", high)
    low, high = _random_bounds(self, low, high)
    u = _uniform(self, generator)
    draw = ops.floor(ops.add(ops.mul(u, float(high - low)), float(low)))
    cap = float(high - 1)
    if int(cap) > high - 1:  # float64 rounds ranges past 2**53 up: stay below ``high``
        cap = float(np.nextafter(cap, -np.inf))
    draw = ops.minimum(draw, cap)
    return ops.assign(self, ops.cast(draw, self.dtype), "random_")


def _uniform(self, generator):
    return ops.rand(self.shape, dtype=dtypes.float64, generator=generator, device=_device_of(self))


def _cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    """Draws of the Cauchy distribution: ``median + sigma * tan(pi * (u - 1/2))``."""
    u = _uniform(self, generator)
    draw = ops.add(ops.mul(ops.tan(ops.mul(ops.sub(u, 0.5), math.pi)), float(sigma)), median)
    return ops.assign(self, ops.cast(draw, self.dtype), "cauchy_")


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    """``exp`` of normal draws of mean ``mean`` and standard deviation ``std``."""
    z = ops.randn(self.shape, dtype=dtypes.float64, generator=generator, device=_device_of(self))
    draw = ops.exp(ops.add(ops.mul(z, float(std)), float(mean)))
    return ops.assign(self, ops.cast(draw, self.dtype), "log_normal_")


def _geometric_(self, p, *, generator=None):
    """The number of Bernoulli(``p``) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    u = ops.sub(1.0, _uniform(self, generator))  # (0, 1]
    draw = ops.add(ops.floor(ops.div(ops.log(u), math.log1p(-p))), 1.0)
    return ops.assign(self, ops.cast(draw, self.dtype), "geometric_")


def _bernoulli_method(self, p=None, *, generator=None):
    """``x.bernoulli()``: 1 with probability ``x`` (each element); ``x.bernoulli(p)``: with
    probability ``p``, in ``x``'s shape and dtype."""
    if p is None:
        return ops.bernoulli(self, generator=generator)
    u = ops.rand(self.shape, dtype=dtypes.float64, generator=generator, device=_device_of(self))
    return ops.cast(ops.lt(u, float(p)), self.dtype)


def _tile_method(self, *dims):
    """``x.tile(2, 1)`` or ``x.tile((2, 1))``: the method takes the repetitions spread out
    too, as PyTorch's (``torch.tile`` itself takes one sequence)."""
    if not dims:
        raise TypeError('tile() missing 1 required positional arguments: "dims"')
    if len(dims) == 1 and not isinstance(dims[0], int):
        dims = dims[0]
    return ops.tile(self, dims)


def _multinomial_method(self, num_samples, replacement=False, *, generator=None):
    return ops.multinomial(self, num_samples, replacement, generator=generator)


def _dlpack(self, *args, **kwargs):
    if self.requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    return np.asarray(self._data).__dlpack__(*args, **kwargs)


def _dlpack_device(self):
    return np.asarray(self._data).__dlpack_device__()


def _install_surface16() -> None:
    for name in _SURFACE16_METHODS:
        setattr(Tensor, name, _method(getattr(ops, name)))
    Tensor.swapaxes = Tensor.swapdims  # (kiln's swapaxes already; the same function)
    Tensor.where = _where_method
    Tensor.put_ = _assigning("put_", ops.put)
    Tensor.index_reduce_ = _assigning("index_reduce_", ops.index_reduce)
    Tensor.masked_scatter_ = _assigning("masked_scatter_", ops.masked_scatter)
    Tensor.t_ = _metadata_inplace("t_", ops.t)
    Tensor.transpose_ = _metadata_inplace("transpose_", ops.transpose)
    Tensor.swapdims_ = _metadata_inplace("swapdims_", ops.transpose)
    Tensor.swapaxes_ = _metadata_inplace("swapaxes_", ops.transpose)
    Tensor.unsqueeze_ = _metadata_inplace("unsqueeze_", ops.unsqueeze)
    Tensor.squeeze_ = _metadata_inplace("squeeze_", ops.squeeze)
    Tensor.resize_ = _resize_
    Tensor.resize_as_ = _resize_as_
    Tensor.as_strided_ = _as_strided_
    Tensor.new = _new
    Tensor.new_empty_strided = _new_empty_strided
    Tensor.is_inference = lambda self: "_inference" in self.__dict__  # (inference_mode's)
    Tensor.is_cpu = property(lambda self: self.device.type == "cpu")
    Tensor.get_device = _get_device
    Tensor.data_ptr = _data_ptr
    Tensor.storage_offset = _storage_offset_method
    Tensor.nbytes = property(lambda self: self.numel() * self.dtype.itemsize)
    Tensor.itemsize = property(lambda self: self.dtype.itemsize)
    Tensor.dim_order = _dim_order
    Tensor.random_ = _random_
    Tensor.cauchy_ = _cauchy_
    Tensor.log_normal_ = _log_normal_
    Tensor.geometric_ = _geometric_
    Tensor.bernoulli = _bernoulli_method
    Tensor.multinomial = _multinomial_method
    Tensor.tile = _tile_method
    Tensor.__dlpack__ = _dlpack
    Tensor.__dlpack_device__ = _dlpack_device


# ------------------------------------------------------------------------------ surface16 end


def _iter0d():
    raise TypeError("iteration over a 0-d tensor")
