"""Elementwise operations: primitives with PyTorch's dtype promotion, and composites.

>>> add(tensor([1, 2]), 0.5)
tensor([1.5000, 2.5000])
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes
from ..dispatch import bind, constant
from ..tensor import Tensor
from .reuse import bind_into, reusable_operand

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
abs absolute add addcdiv addcmul asinh atan atan2 bitwise_and bitwise_not bitwise_or
bitwise_xor ceil clamp clamp_max clamp_min clip copysign cos cosh div divide eq erf erfinv exp
exp2 expm1 floor floor_divide fmod frac ge greater greater_equal gt hypot isfinite isinf isnan
le lerp less less_equal log log10 log1p log2 logical_and logical_not logical_or logical_xor
logsigmoid lt maximum minimum mul multiply nan_to_num ne neg negative not_equal pow reciprocal
relu remainder round rsqrt sigmoid sign sin sinh softplus sqrt square sub subtract tan tanh
true_divide trunc where
""".split()


_CAST = P["cast"]


def cast(x: Tensor, dtype) -> Tensor:
    dtype = dtypes.as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return bind(_CAST, (x,), {"dtype": dtype.name})


def as_operand(value, dtype) -> Tensor:
    """A Python scalar, list or array as a tensor of ``dtype``; tensors are cast."""
    if isinstance(value, Tensor):
        return cast(value, dtype)
    return constant(value, dtype)


def _check_operand(op, value):
    if not isinstance(value, (Tensor, numbers.Number)):
        if not isinstance(value, (np.ndarray, np.generic)):
            raise TypeError(f"{op}: unsupported operand type {type(value).__name__}")


def promote_pair(op, a, b):
    """Both operands as tensors of their PyTorch result dtype."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        da, db = a.dtype, b.dtype
        if da is db:
            return a, b, da
    _check_operand(op, a)
    _check_operand(op, b)
    dtype = dtypes.result_type(a, b)
    return as_operand(a, dtype), as_operand(b, dtype), dtype


def _binary(prim, reuses=False):
    def op(a, b):
        if reuses:  # a large temporary operand lends its buffer (see ops/reuse.py)
            donor = reusable_operand(a, b)
            a, b, _ = promote_pair(prim.name, a, b)
            return bind_into(prim, a, b, donor)
        a, b, _ = promote_pair(prim.name, a, b)
        return bind(prim, (a, b))

    op.__name__ = prim.name
    op.__doc__ = f"Elementwise ``{prim.name}`` with broadcasting and type promotion."
    return op


_add = _binary(P["add"])
_sub = _binary(P["sub"])
mul = _binary(P["mul"], reuses=True)
maximum = _binary(P["maximum"])
minimum = _binary(P["minimum"])
eq = _binary(P["eq"])
ne = _binary(P["ne"])
lt = _binary(P["lt"])
le = _binary(P["le"])
gt = _binary(P["gt"])
ge = _binary(P["ge"])
multiply = mul
greater, greater_equal, less, less_equal = gt, ge, lt, le
not_equal = ne


def add(a, b, *, alpha=1):
    donor = reusable_operand(a, b)
    if alpha != 1:
        b = mul(b, alpha)
    a, b, _ = promote_pair("add", a, b)
    return bind_into(P["add"], a, b, donor)


def _is_bool(v) -> bool:
    return isinstance(v, bool) or (isinstance(v, Tensor) and v.dtype is dtypes.bool_)


def sub(a, b, *, alpha=1):
    donor = reusable_operand(a, b)
    if _is_bool(a) or _is_bool(b):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not "
            "supported. If you are trying to invert a mask, use the `~` or "
            "`logical_not()` operator instead."
        )
    if alpha != 1:
        b = mul(b, alpha)
    a, b, _ = promote_pair("sub", a, b)
    return bind_into(P["sub"], a, b, donor)


subtract = sub


def _float_dtype_for(dt):
    return dt if dt.is_floating_point else dtypes.get_default_dtype()


def div(a, b, *, rounding_mode=None):
    """True division (integers give floats), or floor/trunc division with ``rounding_mode``."""
    a, b, dt = promote_pair("div", a, b)
    if rounding_mode is None:
        fdt = _float_dtype_for(dt)
        return bind(P["div"], (cast(a, fdt), cast(b, fdt)))
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        q = div(a, b)
        return cast(where(lt(q, 0), neg(floor(neg(q))), floor(q)), dt)
    raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")


true_divide = divide = div


def floor_divide(a, b):
    a, b, dt = promote_pair("floor_divide", a, b)
    if dt.is_floating_point:
        return floor(bind(P["div"], (a, b)))
    fdt = dtypes.float64
    q = floor(bind(P["div"], (cast(a, fdt), cast(b, fdt))))
    return cast(q, dt)


def remainder(a, b):
    """Python-style modulo (the sign of the divisor), as ``torch.remainder``."""
    a, b, dt = promote_pair("remainder", a, b)
    return sub(a, mul(floor_divide(a, b), b))


def fmod(a, b):
    """C-style remainder (the sign of the dividend), as ``torch.fmod``."""
    a, b, dt = promote_pair("fmod", a, b)
    return sub(a, mul(div(a, b, rounding_mode="trunc"), b))


def pow(a, b):  # noqa: A001 - PyTorch's name
    donor = reusable_operand(a, None)
    if isinstance(a, Tensor) and isinstance(b, numbers.Number) and not isinstance(b, bool):
        dt = dtypes.result_type(a, b)
        if dt is dtypes.bool_:
            dt = dtypes.int64
        if not dt.is_floating_point and b < 0:
            raise RuntimeError("pow: Integers to negative integer powers are not allowed.")
        return bind_into(P["pow"], cast(a, dt), constant(b, dt), donor)
    a, b, _ = promote_pair("pow", a, b)
    return bind(P["pow"], (a, b))


def _unary(prim, float_only):
    def op(x):
        if not isinstance(x, Tensor):
            raise TypeError(
                f"{prim.name}(): argument 'input' must be Tensor, not {type(x).__name__}"
            )
        if float_only and not x.dtype.is_floating_point:
            x = cast(x, dtypes.get_default_dtype())
        return bind(prim, (x,))

    op.__name__ = prim.name
    op.__doc__ = f"Elementwise ``{prim.name}``."
    return op


neg = _unary(P["neg"], False)
exp = _unary(P["exp"], True)
log = _unary(P["log"], True)
sqrt = _unary(P["sqrt"], True)
sin = _unary(P["sin"], True)
cos = _unary(P["cos"], True)
tanh = _unary(P["tanh"], True)
erf = _unary(P["erf"], True)
atan = _unary(P["atan"], True)
abs = _unary(P["abs"], False)  # noqa: A001
sign = _unary(P["sign"], False)
reciprocal = _unary(P["reciprocal"], True)
_floor = _unary(P["floor"], True)
negative = neg
absolute = abs


def floor(x):
    return x if not x.dtype.is_floating_point else _floor(x)


def ceil(x):
    return neg(floor(neg(x)))


def round(x, decimals=0):  # noqa: A001
    """Round half to even, as PyTorch."""
    if not x.dtype.is_floating_point:
        return x
    scale = 10.0**decimals
    y = mul(x, scale) if decimals else x
    f = floor(y)
    diff = sub(y, f)
    half_even = eq(remainder(f, 2.0), 0.0)
    r = where(gt(diff, 0.5), add(f, 1.0), where(lt(diff, 0.5), f, where(half_even, f, add(f, 1.0))))
    return div(r, scale) if decimals else r


def trunc(x):
    return where(lt(x, 0), ceil(x), floor(x)) if x.dtype.is_floating_point else x


def frac(x):
    return sub(x, trunc(x))


def square(x):
    return mul(x, x)


def rsqrt(x):
    return reciprocal(sqrt(x))


def log2(x):
    return mul(log(x), 1.0 / math.log(2.0))


def log10(x):
    return mul(log(x), 1.0 / math.log(10.0))


def log1p(x):
    """``log(1 + x)``, exact for tiny ``x``: Goldberg's ``log(u) * x / (u - 1)``, u = 1 + x.

    Each branch of a ``where`` only sees inputs where it is finite, so no gradient is NaN.
    """
    x = _to_float(x)
    near = lt(abs(x), 0.5)
    xs = where(near, x, 0.25)
    us = add(xs, 1.0)
    tiny = eq(us, 1.0)  # 1 + x rounded to 1: log1p(x) is x to working precision
    corrected = where(tiny, xs, div(mul(log(us), xs), where(tiny, 1.0, sub(us, 1.0))))
    return where(near, corrected, log(where(near, 1.0, add(x, 1.0))))


def expm1(x):
    """``exp(x) - 1``, exact for tiny ``x``: Kahan's ``(u - 1) * x / log(u)``, u = exp(x)."""
    x = _to_float(x)
    near = lt(abs(x), 0.5)
    xs = where(near, x, 0.25)
    us = exp(xs)
    tiny = eq(us, 1.0)
    corrected = where(tiny, xs, div(mul(sub(us, 1.0), xs), where(tiny, 1.0, log(us))))
    return where(near, corrected, sub(exp(where(near, 0.0, x)), 1.0))


def exp2(x):
    return exp(mul(x, math.log(2.0)))


def tan(x):
    return div(sin(x), cos(x))


def sigmoid(x):
    """``1 / (1 + exp(-x))``, written so that large ``|x|`` never overflows."""
    x = _to_float(x)
    nonnegative = ge(x, 0.0)
    # exp(-|x|), with -|x| spelled as a choice: abs has no slope at 0, sigmoid does (1/4)
    e = exp(where(nonnegative, neg(x), x))
    pos = reciprocal(add(e, 1.0))
    return where(nonnegative, pos, mul(e, pos))


def logsigmoid(x):
    x = _to_float(x)
    return sub(minimum(x, 0.0), log1p(exp(neg(abs(x)))))


def relu(x):
    """``max(x, 0)`` as PyTorch computes it: ``x < 0 ? 0 : x`` (NaN and -0.0 pass through).

    The gradient is PyTorch's too: 0 where ``x <= 0`` (a zero passes through detached),
    else 1 (NaN included).
    """
    if x.dtype is dtypes.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    zero = constant(0, x.dtype)
    return where(le(x, zero), where(lt(x, zero), zero, x.detach()), x)


def erfinv(x):
    """Inverse error function: Giles' single-precision approximation + two Newton steps."""
    x = _to_float(x)
    w = neg(log(mul(sub(1.0, x), add(1.0, x))))
    small = lt(w, 5.0)
    ws = sub(w, 2.5)
    p1 = 2.81022636e-08
    for c in (
        3.43273939e-07,
        -3.5233877e-06,
        -4.39150654e-06,
        0.00021858087,
        -0.00125372503,
        -0.00417768164,
        0.246640727,
        1.50140941,
    ):
        p1 = add(mul(p1, ws), c)
    wl = sub(sqrt(where(small, 5.0, w)), 3.0)
    p2 = -0.000200214257
    for c in (
        0.000100950558,
        0.00134934322,
        -0.00367342844,
        0.00573950773,
        -0.0076224613,
        0.00943887047,
        1.00167406,
        2.83297682,
    ):
        p2 = add(mul(p2, wl), c)
    y = mul(where(small, p1, p2), x)
    two_over_sqrt_pi = 2.0 / math.sqrt(math.pi)
    for _ in range(2):  # Newton: y -= (erf(y) - x) / erf'(y)
        y = sub(y, div(sub(erf(y), x), mul(exp(neg(mul(y, y))), two_over_sqrt_pi)))
    return y


def clamp(x, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    if min is not None:
        x = maximum(x, min if isinstance(min, Tensor) else constant(min, _clamp_dtype(x, min)))
    if max is not None:
        x = minimum(x, max if isinstance(max, Tensor) else constant(max, _clamp_dtype(x, max)))
    return x


def clamp_min(x, min):  # noqa: A002
    return clamp(x, min=min)


def clamp_max(x, max):  # noqa: A002
    return clamp(x, max=max)


def _clamp_dtype(x, bound):
    return dtypes.result_type(x, bound)


clip = clamp


def _to_float(x):
    return x if x.dtype.is_floating_point else cast(x, dtypes.get_default_dtype())


def where(condition, x=None, y=None):
    """``x`` where ``condition`` holds, else ``y`` (broadcasting, with type promotion)."""
    if x is None and y is None:
        from .index import nonzero

        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor):  # on the device of the tensor among x and y
        like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
        condition = constant(condition, dtypes.bool_, like=like)
    elif condition.dtype is not dtypes.bool_:
        condition = cast(condition, dtypes.bool_)
    x, y, _ = promote_pair("where", x, y)
    return bind(P["where"], (condition, x, y))


def logical_not(x):
    return eq(cast(x, dtypes.bool_), False)


def logical_and(a, b):
    return mul(cast(as_bool(a), dtypes.bool_), cast(as_bool(b), dtypes.bool_))


def logical_or(a, b):
    return maximum(cast(as_bool(a), dtypes.bool_), cast(as_bool(b), dtypes.bool_))


def logical_xor(a, b):
    return ne(cast(as_bool(a), dtypes.bool_), cast(as_bool(b), dtypes.bool_))


def as_bool(v):
    return v if isinstance(v, Tensor) else constant(v, dtypes.bool_)


def bitwise_and(a, b):
    if _both_bool(a, b):
        return logical_and(a, b)
    raise TypeError("bitwise_and: kiln supports & on bool tensors only")


def bitwise_or(a, b):
    if _both_bool(a, b):
        return logical_or(a, b)
    raise TypeError("bitwise_or: kiln supports | on bool tensors only")


def bitwise_xor(a, b):
    if _both_bool(a, b):
        return logical_xor(a, b)
    raise TypeError("bitwise_xor: kiln supports ^ on bool tensors only")


def bitwise_not(x):
    if x.dtype is dtypes.bool_:
        return logical_not(x)
    return sub(neg(x), 1)


def _both_bool(a, b):
    def is_bool(v):
        return (isinstance(v, Tensor) and v.dtype is dtypes.bool_) or isinstance(v, bool)

    return is_bool(a) and is_bool(b)


def isnan(x):
    return ne(x, x)


def isinf(x):
    return eq(abs(x), math.inf) if x.dtype.is_floating_point else ne(x, x)


def isfinite(x):
    return logical_not(logical_or(isnan(x), isinf(x))) if x.dtype.is_floating_point else eq(x, x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    info = __import__("numpy").finfo(x.dtype.np)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = where(isnan(x), nan, x)
    x = where(eq(x, math.inf), posinf, x)
    return where(eq(x, -math.inf), neginf, x)


def lerp(start, end, weight):
    return add(start, mul(weight, sub(end, start)))


def addcmul(x, t1, t2, *, value=1):
    return add(x, mul(mul(t1, t2), value))


def addcdiv(x, t1, t2, *, value=1):
    return add(x, mul(div(t1, t2), value))


def hypot(a, b):
    return sqrt(add(mul(a, a), mul(b, b)))


def copysign(a, b):
    return where(lt(b, 0), neg(abs(a)), abs(a))


def atan2(y, x):
    base = atan(div(y, x))
    return where(
        gt(x, 0),
        base,
        where(
            lt(x, 0),
            where(ge(y, 0), add(base, math.pi), sub(base, math.pi)),
            mul(sign(y), math.pi / 2),
        ),
    )


def sinh(x):
    """``(e^x - e^-x) / 2`` through ``expm1``: exact for tiny ``x``, keeps the sign of a zero."""
    x = _to_float(x)
    return mul(sub(expm1(x), expm1(neg(x))), 0.5)


def cosh(x):
    return mul(add(exp(x), exp(neg(x))), 0.5)


def asinh(x):
    """``sign(x) * log(|x| + sqrt(x^2 + 1))``: exact for tiny ``x``, slope 1 at 0, no overflow."""
    x = _to_float(x)
    negative = lt(x, 0.0)
    ax = where(negative, neg(x), x)  # |x| with a slope at 0
    big = gt(ax, 1e18)  # x^2 would overflow: asinh is log(2|x|) there
    small = where(big, 1.0, ax)
    square = mul(small, small)
    # log(a + sqrt(a^2 + 1)) = log1p(a + a^2 / (1 + sqrt(a^2 + 1)))
    moderate = log1p(add(small, div(square, add(sqrt(add(square, 1.0)), 1.0))))
    large = add(log(where(big, ax, 1.0)), math.log(2.0))
    magnitude = where(big, large, moderate)
    signed = where(negative, neg(magnitude), magnitude)
    return where(eq(x, 0.0), x, signed)  # keeps the sign of a zero


def softplus(x, beta=1.0, threshold=20.0):
    bx = mul(x, beta)
    soft = div(add(maximum(bx, 0.0), log1p(exp(neg(abs(bx))))), beta)
    return where(gt(bx, threshold), x, soft)
