"""Attach the ``Tensor`` methods and operators: each forwards to a function in ``kiln.ops``.

Kept in one table so that the method surface is easy to read and to extend.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes, ops
from ..tensor import Tensor

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
    "__rsub__": _reflected(ops.sub),
    "__mul__": ops.mul,
    "__rmul__": _reflected(ops.mul),
    "__truediv__": ops.div,
    "__rtruediv__": _reflected(ops.div),
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
gather scatter_add index_select take masked_fill masked_select nonzero argwhere
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
    """``meta`` for a meta tensor (its random fill costs nothing); else the default."""
    return "meta" if getattr(t, "is_meta", False) else None


def _T(self):  # noqa: N802
    return ops.permute(self, tuple(reversed(range(self.ndim))))


def _mT(self):  # noqa: N802
    return ops.transpose(self, -2, -1)


def _type_as(self, other):
    return self.to(other.dtype)


def _index_put_(self, indices, values, accumulate=False):
    return ops.assign(self, ops.index_put(self, indices, values, accumulate), "index_put_")


def _unfold(self, dimension, size, step):
    return ops.shape.unfold(self, dimension, size, step)


# math16: the elementwise, special-function and statistics methods (ops/math16.py).
_MATH16_METHODS = """
fmax fmin logit float_power erfc sinc deg2rad rad2deg heaviside gcd lcm i0 isneginf isposinf
isreal frexp ldexp nextafter logaddexp2 fix positive nansum nanmean count_nonzero aminmax
mode histc histogram bincount diff quantile nanquantile cov corrcoef renorm arctan2 greater
less greater_equal less_equal not_equal
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
    Tensor.index_put_ = _index_put_
    Tensor.unfold = _unfold
    Tensor.uniform_ = _uniform_
    Tensor.normal_ = _normal_
    Tensor.bernoulli_ = _bernoulli_
    Tensor.exponential_ = _exponential_
    Tensor.view_as = _view_as
    Tensor.reshape_as = _view_as
    Tensor.type_as = _type_as
    Tensor.T = property(_T)
    Tensor.mT = property(_mT)
    Tensor.H = property(_T)
    Tensor.new_zeros = _new_factory(ops.zeros)
    Tensor.new_ones = _new_factory(ops.ones)
    Tensor.new_empty = _new_factory(ops.empty)
    Tensor.new_full = _new_full
    Tensor.new_tensor = _new_tensor
    _install_math16()  # math16


def _iter0d():
    raise TypeError("iteration over a 0-d tensor")
