"""Elementwise operations: primitives with PyTorch's dtype promotion, and composites.

>>> add(tensor([1, 2]), 0.5)
tensor([1.5000, 2.5000])
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import numpy as np

from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes
from ..autograd import fused
from ..autograd.tape import keep_result, rename
from ..context import current_trace, is_grad_enabled
from ..dispatch import bind, computes_in_float32, constant
from ..memory_format import contiguous_result, iterator_layout
from ..tensor import SPARSE_SEEN, Tensor, graph_node
from .reuse import bind_into, reusable_operand

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
abs absolute acos acosh add addcdiv addcmul arccos arccosh arcsin arcsinh arctan arctanh asin
asinh atan atan2 atanh bitwise_and bitwise_left_shift bitwise_not bitwise_or
bitwise_right_shift bitwise_xor ceil clamp clamp_max clamp_min clip copysign cos cosh digamma
div divide eq erf erfinv exp exp2 expm1 floor floor_divide fmod frac ge greater greater_equal
gt hypot isfinite isinf isnan le lerp less less_equal lgamma log log10 log1p log2 logaddexp
logical_and logical_not logical_or logical_xor logsigmoid lt maximum minimum mul multiply
nan_to_num ne neg negative not_equal pow reciprocal relu remainder round rsqrt sigmoid sign
signbit sin sinh softplus sqrt square sub subtract tan tanh true_divide trunc where xlogy
""".split()


_CAST = P["cast"]


def cast(x: Tensor, dtype) -> Tensor:
    dtype = dtypes.as_dtype(dtype)
    if x.dtype is dtype:
        return x
    if dtype is _BF16 and not _BF16_ON[0]:
        dtypes._load_bfloat16()
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
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            da, db = a.dtype, b.dtype
            if da is db:
                return a, b, da
        elif type(b) is float or type(b) is int:  # the common case first: a weak scalar
            da = a.dtype  # of a category no higher than the tensor's takes its dtype
            if da._category >= _SCALAR_CATEGORY[type(b)]:
                return a, constant(b, da), da
    elif (type(a) is float or type(a) is int) and isinstance(b, Tensor):
        db = b.dtype
        if db._category >= _SCALAR_CATEGORY[type(a)]:
            return constant(a, db), b, db
    _check_operand(op, a)
    _check_operand(op, b)
    dtype = dtypes.result_type(a, b)
    return as_operand(a, dtype), as_operand(b, dtype), dtype


_SCALAR_CATEGORY = {int: dtypes.int64._category, float: dtypes.float32._category}


def _opmath_scalar(prim, a, b):
    """PyTorch's CPU ``mul`` and ``div`` compute a float16/bfloat16 tensor with a scalar
    operand (a Python number, or a 0-d tensor that does not win promotion) in float32, the
    scalar held at float32 precision, and round once: ``bf16 * 1.3`` multiplies by 1.3f, not
    by bfloat16(1.3), and ``float16 * 1e10`` of 0 is 0, not NaN. (Its ``add``/``sub`` round
    the scalar to the tensor's dtype first, as kiln's promotion does.) The result (its
    ``grad_fn`` named as PyTorch's), or None when this is not such a case."""
    if isinstance(a, Tensor) and a.dtype in _LOW:
        t, s = a, b
    elif isinstance(b, Tensor) and b.dtype in _LOW:
        t, s = b, a
    else:
        return None
    dt = t.dtype
    if isinstance(s, Tensor):
        if s.dtype is dt:
            return None
        if s.ndim or not (s.dtype._category <= 2 and dtypes.result_type(t, s) is dt):
            return None
    elif type(s) is not float and type(s) is not int:
        return None
    f32 = dtypes.float32
    out = cast(bind(prim, (as_operand(a, f32), as_operand(b, f32))), dt)
    if out.grad_fn is not None:
        from ..autograd.tape import node_class

        out.grad_fn.__class__ = node_class("MulBackward0" if prim is _MUL else "DivBackward0")
    return out


def _binary(prim, reuses=False):
    def op(a, b):
        if prim is _MUL:
            if SPARSE_SEEN and (getattr(a, "is_sparse", False) or getattr(b, "is_sparse", False)):
                from ..sparse import mul as sparse_mul  # (Parameter * sparse, torch.mul)

                return sparse_mul(a, b) if getattr(a, "is_sparse", False) else sparse_mul(b, a)
            low = _opmath_scalar(prim, a, b)
            if low is not None:
                return low
        if reuses:  # a large temporary operand lends its buffer (see ops/reuse.py)
            donor = reusable_operand(a, b)
            a, b, _ = promote_pair(prim.name, a, b)
            return bind_into(prim, a, b, donor)
        a, b, _ = promote_pair(prim.name, a, b)
        return bind(prim, (a, b))

    op.__name__ = prim.name
    op.__doc__ = f"Elementwise ``{prim.name}`` with broadcasting and type promotion."
    return op


_MUL = P["mul"]
_BF16 = dtypes.bfloat16
_BF16_ON = dtypes.BFLOAT16_ON
_LOW = (dtypes.bfloat16, dtypes.float16)
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
    if SPARSE_SEEN and (getattr(a, "is_sparse", False) or getattr(b, "is_sparse", False)):
        from ..sparse import add as sparse_add

        return sparse_add(a, b, alpha=alpha)
    donor = reusable_operand(a, b)
    alpha = _checked_alpha(a, b, alpha)
    if alpha != 1:
        b = mul(b, alpha)
    a, b, _ = promote_pair("add", a, b)
    return bind_into(P["add"], a, b, donor)


def _checked_alpha(a, b, alpha):
    """PyTorch's ``alpha_check``: an alpha of a higher category than the result is an error
    (a float alpha made ``int_tensor + int_tensor`` a float, silently); with a bool result
    a number alpha is a bool (``bool + bool * 2`` stays bool)."""
    if type(alpha) is int and alpha == 1:
        return alpha
    if isinstance(alpha, Tensor):
        category = alpha.dtype._category
    elif isinstance(alpha, (bool, np.bool_)):
        category = 0
    elif isinstance(alpha, complex):
        category = 3
    else:
        category = 2 if isinstance(alpha, (float, np.floating)) else 1
    result = dtypes.result_type(a, b)._category
    if category == 0 and result != 0:
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if category == 2 and result < 2:
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )
    if category == 3 and result < 3:
        raise RuntimeError(
            "For non-complex input tensors, argument alpha must not be a complex number."
        )
    return bool(alpha) if result == 0 and not isinstance(alpha, Tensor) else alpha


def _is_bool(v) -> bool:
    return isinstance(v, bool) or (isinstance(v, Tensor) and v.dtype is dtypes.bool_)


def sub(a, b, *, alpha=1):
    if SPARSE_SEEN and (getattr(a, "is_sparse", False) or getattr(b, "is_sparse", False)):
        from ..sparse import add as sparse_add

        return sparse_add(a, b, alpha=-alpha, op="sub")
    donor = reusable_operand(a, b)
    if _is_bool(a) or _is_bool(b):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not "
            "supported. If you are trying to invert a mask, use the `~` or "
            "`logical_not()` operator instead."
        )
    alpha = _checked_alpha(a, b, alpha)
    if alpha != 1:
        b = mul(b, alpha)
    a, b, _ = promote_pair("sub", a, b)
    return bind_into(P["sub"], a, b, donor)


subtract = sub


def _float_dtype_for(dt):
    return dt if dt.is_floating_point or dt.is_complex else dtypes.get_default_dtype()


def div(a, b, *, rounding_mode=None):
    """True division (integers give floats), or floor/trunc division with ``rounding_mode``."""
    if rounding_mode is None:
        low = _opmath_scalar(P["div"], a, b)
        if low is not None:
            return low
    if rounding_mode is None:
        # each operand goes straight to the float dtype, as in PyTorch: an integer scalar
        # divides as a float (int8 / 300 is 5 / 300.0, not 5 / 44), and so does a 0-d
        # tensor (a uint8 tensor / tensor(-1, dtype=int32) divides by -1.0, not by 255)
        _check_operand("div", a)
        _check_operand("div", b)
        fdt = _float_dtype_for(dtypes.result_type(a, b))
        return bind(P["div"], (as_operand(a, fdt), as_operand(b, fdt)))
    a, b, dt = promote_pair("div", a, b)
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        if not dt.is_floating_point:
            _check_integer_divisor(b, a)
            # exact: the floor quotient, one up where it rounded down (a float32 quotient
            # would round int32 2147483647 / 4 to 536870912)
            q = _int_floor_div(a, b, dt)
            r = bind(P["sub"], (a, bind(P["mul"], (q, b))))
            zero = constant(0, dt)
            up = logical_and(ne(r, zero), ne(lt(a, zero), lt(b, zero)))
            return where(up, bind(P["add"], (q, constant(1, dt))), q)
        q = div(a, b)
        return cast(where(lt(q, 0), neg(floor(neg(q))), floor(q)), dt)
    raise RuntimeError(
        f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
        f"'{rounding_mode}'"
    )


true_divide = divide = div


@iterator_layout
@computes_in_float32
def floor_divide(a, b):
    """``floor(a / b)``, computed as PyTorch does for floats: from ``fmod``, so the
    quotient is the exact one rounded down (``7.5 // 2.5`` is 3, not 2)."""
    a, b, dt = promote_pair("floor_divide", a, b)
    _not_bool("div_floor_cpu", dt)
    if dt.is_floating_point:
        mod = bind(P["fmod"], (a, b))
        q = div(sub(a, mod), b)
        q = where(logical_and(ne(mod, 0.0), ne(lt(b, 0.0), lt(mod, 0.0))), sub(q, 1.0), q)
        f = floor(q)
        f = where(gt(sub(q, f), 0.5), add(f, 1.0), f)
        f = where(eq(q, 0.0), copysign(constant(0.0, dt), div(a, b)), f)
        return where(eq(b, 0.0), div(a, b), f)
    _check_integer_divisor(b, a)
    return _int_floor_div(a, b, dt)


def _int_floor_div(a, b, dt):
    """Exact floor division of integer tensors: a float64 quotient (exact below 2**53),
    for int64 refined with the remainder in integer arithmetic so that ``(2**62 + 1) // 3``
    is exact rather than the float64 quotient's nearest."""
    fdt = dtypes.float64
    q = cast(floor(bind(P["div"], (cast(a, fdt), cast(b, fdt)))), dt)
    if dt is not dtypes.int64:
        return q
    r = bind(P["sub"], (a, bind(P["mul"], (q, b))))
    q = bind(P["add"], (q, cast(floor(bind(P["div"], (cast(r, fdt), cast(b, fdt)))), dt)))
    r = bind(P["sub"], (a, bind(P["mul"], (q, b))))
    zero = constant(0, dt)
    one = constant(1, dt)
    # the remainder takes the divisor's sign and is smaller than it
    low = logical_and(ne(r, zero), ne(lt(r, zero), lt(b, zero)))
    q = where(low, bind(P["sub"], (q, one)), q)
    r = where(low, bind(P["add"], (r, b)), r)
    # (|r| >= |b| with the same sign, without abs(): abs(INT64_MIN) overflows)
    high = logical_or(logical_and(gt(b, zero), ge(r, b)), logical_and(lt(b, zero), le(r, b)))
    return where(high, bind(P["add"], (q, one)), q)


def _not_bool(kernel: str, dt) -> None:
    if dt is dtypes.bool_:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")  # PyTorch's


def _check_integer_divisor(b, a=None):
    """PyTorch raises on an integer division by zero; kiln does too when it can see the
    divisor (an eager tensor), rather than return a wrapped garbage value."""
    if a is not None and 0 in np.broadcast_shapes(tuple(a.shape), tuple(b.shape)):
        return  # nothing is divided
    data = b._data
    node = graph_node(b)
    if node is not None and node.op == "const":  # (a trace's constant: known now)
        data = np.asarray(node.params["value"])
    elif b._node is not None:
        _check_traced_divisor(b)
        return
    if type(data) is np.ndarray and data.size and not np.all(data != 0):
        raise RuntimeError("ZeroDivisionError")


def _check_traced_divisor(b) -> None:
    """A traced divisor's values are known only when the compiled function runs: the
    trace outputs whether any is zero, and the compiled call raises PyTorch's
    RuntimeError then, before it writes any result (jit/compiled.py)."""
    trace = current_trace()
    checks = getattr(trace, "runtime_checks", None)
    if checks is None or graph_node(b) is None:
        return  # (a torch.func level's wrapper, another interpreter: not read)
    zero = cast(eq(b, constant(0, b.dtype)), dtypes.int8)
    if zero.ndim:
        zero = bind(P["max"], (zero,), {"axes": tuple(range(zero.ndim)), "keepdims": False})
    checks.append((zero._node, "ZeroDivisionError"))


@iterator_layout
@computes_in_float32(round_scalars=True)
def remainder(a, b):
    """Python-style modulo (the sign of the divisor), as ``torch.remainder``."""
    a, b, dt = promote_pair("remainder", a, b)
    _not_bool("remainder_cpu", dt)
    if dt.is_floating_point:
        mod = bind(P["fmod"], (a, b))
        return where(logical_and(ne(mod, 0.0), ne(lt(b, 0.0), lt(mod, 0.0))), add(mod, b), mod)
    return sub(a, mul(floor_divide(a, b), b))


@iterator_layout
def fmod(a, b):
    """C-style remainder (the sign of the dividend), as ``torch.fmod``."""
    a, b, dt = promote_pair("fmod", a, b)
    if dt.is_floating_point:
        return bind(P["fmod"], (a, b))
    return sub(a, mul(div(a, b, rounding_mode="trunc"), b))


def pow(a, b):  # noqa: A001 - PyTorch's name
    donor = reusable_operand(a, None)  # (first: it reads its caller's frames)
    if isinstance(a, numbers.Number) and isinstance(b, Tensor):
        return contiguous_result(_pow(a, b), b)  # (PyTorch's pow(Scalar, Tensor): C order)
    return _pow(a, b, donor)


def _pow(a, b, donor=None):
    if isinstance(a, Tensor) and isinstance(b, numbers.Number) and not isinstance(b, bool):
        dt = dtypes.result_type(a, b)
        if dt is dtypes.bool_:  # bool ** True is the tensor, bool ** False all True
            return cast(
                bind_into(P["pow"], cast(a, dtypes.int64), constant(b, dtypes.int64), donor), dt
            )
        if not (dt.is_floating_point or dt.is_complex) and b < 0:
            raise RuntimeError("pow: Integers to negative integer powers are not allowed.")
        if dt._category == 1:
            dtypes.check_fits(b, dt)  # (an int8 tensor ** 300: PyTorch's overflow error)
        elif dt in (dtypes.float16, dtypes.bfloat16):  # (an exponent must fit a float)
            dtypes.check_fits(b, dtypes.float32)
        if b == -0.5 and dt.is_floating_point:  # PyTorch's rsqrt: (-inf) ** -0.5 is NaN
            return rsqrt(cast(a, dt))
        if b == 3 and dt.is_floating_point:
            return _cube(cast(a, dt))
        return bind_into(P["pow"], cast(a, dt), constant(b, dt), donor)
    if isinstance(a, Tensor) and a.dtype is dtypes.bool_ and type(b) is bool:
        return logical_or(a, not b)  # bool ** True is the tensor, bool ** False all True
    a, b, dt = promote_pair("pow", a, b)
    _not_bool("pow", dt)
    if dt._category == 1 and dt.is_signed:
        # a tensor of negative integer exponents: PyTorch gives 1 ** -n = 1,
        # (-1) ** -n = +-1 and 0 for any other base (no error, unlike a scalar exponent)
        zero, one = constant(0, dt), constant(1, dt)
        neg = lt(b, zero)
        power = bind(P["pow"], (a, where(neg, zero, b)))
        odd = ne(bind(P["bitwise_and"], (b, one)), zero)
        minus_one = where(odd, constant(-1, dt), one)
        special = where(eq(a, one), one, where(eq(a, constant(-1, dt)), minus_one, zero))
        return where(neg, special, power)
    return bind(P["pow"], (a, b))


def _cube(x):
    """PyTorch's ``x ** 3`` is ``x * x * x`` (float16: in float32, rounded once; bfloat16:
    rounded after each product); NumPy's power differed from it in the last bit on 30% of
    float32 elements."""
    half = x.dtype is dtypes.float16
    y = cast(x, dtypes.float32) if half else x
    out = mul(mul(y, y), y)
    return _node_named(cast(out, dtypes.float16) if half else out, "PowBackward0", x)


def _unary(prim, float_only):
    def op(x):
        if not isinstance(x, Tensor):
            raise TypeError(
                f"{prim.name}(): argument 'input' must be Tensor, not {type(x).__name__}"
            )
        if float_only and not (x.dtype.is_floating_point or x.dtype.is_complex):
            x = cast(x, dtypes.get_default_dtype())
        return bind(prim, (x,))

    op.__name__ = prim.name
    op.__doc__ = f"Elementwise ``{prim.name}``."
    return op


_neg = _unary(P["neg"], False)


def neg(x):
    if isinstance(x, Tensor) and x.dtype is dtypes.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
            "to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return _neg(x)


exp = _unary(P["exp"], True)
log = _unary(P["log"], True)
sqrt = _unary(P["sqrt"], True)
sin = _unary(P["sin"], True)
cos = _unary(P["cos"], True)
tanh = _unary(P["tanh"], True)
erf = _unary(P["erf"], True)
atan = _unary(P["atan"], True)
asin = _unary(P["asin"], True)
acos = _unary(P["acos"], True)
atanh = _unary(P["atanh"], True)
acosh = _unary(P["acosh"], True)
_abs = _unary(P["abs"], False)


def abs(x):  # noqa: A001
    if isinstance(x, Tensor) and x.dtype is dtypes.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return _abs(x)


_sign = _unary(P["sign"], False)


def sign(x):
    """-1, 0 or 1 by the sign of each element; a bool tensor's sign is itself (PyTorch's)."""
    if isinstance(x, Tensor) and x.dtype is dtypes.bool_:
        return x.clone()
    return _sign(x)


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
    r = where(eq(r, 0.0), mul(y, 0.0), r)  # -0.4 rounds to -0.0, as in PyTorch
    return div(r, scale) if decimals else r


def trunc(x):
    return where(lt(x, 0), ceil(x), floor(x)) if x.dtype.is_floating_point else x


@computes_in_float32
def frac(x):
    if isinstance(x, Tensor) and x.dtype._category <= 1:  # (kiln returned zeros)
        name = _TORCH_NAME.get(x.dtype.name, x.dtype.name)
        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{name}'")
    return sub(x, trunc(x))


def square(x):
    if isinstance(x, Tensor) and x.dtype is dtypes.bool_:  # PyTorch: pow(bool, 2) is int64
        x = cast(x, dtypes.int64)
    return _node_named(mul(x, x), "PowBackward0", x)  # PyTorch's square is pow(x, 2)


def rsqrt(x):
    return _node_named(_rsqrt(x), "RsqrtBackward0", x, keeps_result=True)


@computes_in_float32
def _rsqrt(x):
    return reciprocal(sqrt(x))


def _node_named(out, name, x, keeps_result=False):
    """``out``, a composite's result, with PyTorch's node name and ``x`` as its one edge
    (``tape.rename``); ``keeps_result``: its node keeps the result, as PyTorch's saves it
    (``_saved_result``; changing ``out`` in place then makes backward raise, as PyTorch's).
    The composite's inner nodes still compute the gradient."""
    if out.grad_fn is None or out is x:
        return out
    rename(out, name, x)
    if keeps_result and type(out.grad_fn).__name__ == name:
        keep_result(out)
    return out


@computes_in_float32
def log2(x):
    return mul(log(x), 1.0 / math.log(2.0))


@computes_in_float32
def log10(x):
    return mul(log(x), 1.0 / math.log(10.0))


@computes_in_float32
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
    return _node_named(_expm1(x), "Expm1Backward0", x, keeps_result=True)


@computes_in_float32
def _expm1(x):
    """``exp(x) - 1``, exact for tiny ``x``: Kahan's ``(u - 1) * x / log(u)``, u = exp(x)."""
    x = _to_float(x)
    near = lt(abs(x), 0.5)
    xs = where(near, x, 0.25)
    us = exp(xs)
    tiny = eq(us, 1.0)
    corrected = where(tiny, xs, div(mul(sub(us, 1.0), xs), where(tiny, 1.0, log(us))))
    return where(near, corrected, sub(exp(where(near, 0.0, x)), 1.0))


@computes_in_float32
def exp2(x):
    # pow(2, x), not exp(x * ln 2): the rounded product's error grew with x (exp2(100.0)
    # was 36 float32 ulps off; PyTorch's is exact at integers)
    return rename(_pow(2.0, _to_float(x)), "Exp2Backward0", x)


@computes_in_float32
def tan(x):
    return div(sin(x), cos(x))


def sigmoid(x):
    """``1 / (1 + exp(-x))``, written so that large ``|x|`` never overflows."""
    out = fused.sigmoid(x)  # eagerly on NumPy: the same values, one node
    if out is not None:
        return out
    return _node_named(_sigmoid(x), "SigmoidBackward0", x, keeps_result=True)


@computes_in_float32
def _sigmoid(x):
    x = _to_float(x)
    nonnegative = ge(x, 0.0)
    # exp(-|x|), with -|x| spelled as a choice: abs has no slope at 0, sigmoid does (1/4)
    e = exp(where(nonnegative, neg(x), x))
    pos = reciprocal(add(e, 1.0))
    return where(nonnegative, pos, mul(e, pos))


@computes_in_float32
def logsigmoid(x):
    x = _to_float(x)
    return sub(minimum(x, 0.0), log1p(exp(neg(abs(x)))))


@iterator_layout
def relu(x):
    """``max(x, 0)`` as PyTorch computes it: ``x < 0 ? 0 : x`` (NaN and -0.0 pass through).

    The gradient is PyTorch's too: 0 where ``x <= 0`` (a zero passes through detached),
    else 1 (NaN included).
    """
    if x.dtype is dtypes.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    out = fused.relu(x)  # eagerly on NumPy: the same values, one select each way
    if out is not None:
        return out
    zero = constant(0, x.dtype)
    if not (x.requires_grad and is_grad_enabled()) and current_trace() is None:
        return where(lt(x, zero), zero, x)  # eagerly, without autograd: the same values
    from ..autograd.vjp import zero_linked

    return where(zero_linked(le(x, zero), x), where(lt(x, zero), zero, x.detach()), x)


@computes_in_float32
def erfinv(x):
    """Inverse error function: Giles' single-precision approximation + two Newton steps."""
    if isinstance(x, Tensor) and x.dtype is dtypes.float16:  # PyTorch: in float32, one rounding
        return cast(erfinv(cast(x, dtypes.float32)), dtypes.float16)
    x = _to_float(x)
    # erfinv(+-1) is +-inf with an infinite slope, as PyTorch: ``x / (1 - x^2)`` there; the
    # approximation sees 0 instead (its polynomial and Newton steps give NaN at the ends)
    end = eq(abs(x), 1.0)
    edge = div(x, sub(1.0, mul(x, x)))
    x = where(end, 0.0, x)
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
    return where(end, edge, y)


@iterator_layout
def clamp(x, min=None, max=None):  # noqa: A002
    """``x`` limited to ``[min, max]`` (``max`` wins when ``min > max``; NaN stays NaN).

    A selection, not ``maximum``/``minimum``: at the boundary the gradient goes to ``x``
    (PyTorch's rule), where a tie of ``maximum`` would split it.
    """
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    x0, nans = x, []
    if min is not None:
        lo = min if isinstance(min, Tensor) else _bound(x, min)
        lo_dt = dtypes.result_type(x, lo)
        x, lo = cast(x, lo_dt), cast(lo, lo_dt)
        below = lt(x, lo) if not lo_dt.is_floating_point else logical_or(lt(x, lo), isnan(lo))
        nans += [x, lo] if lo_dt.is_floating_point else []
        x = where(below, lo, x)
    if max is not None:
        hi = max if isinstance(max, Tensor) else _bound(x, max)
        hi_dt = dtypes.result_type(x, hi)
        x, hi = cast(x, hi_dt), cast(hi, hi_dt)
        above = gt(x, hi) if not hi_dt.is_floating_point else logical_or(gt(x, hi), isnan(hi))
        nans += ([] if nans else [x]) + [hi] if hi_dt.is_floating_point else []
        x = where(above, hi, x)
    if x.grad_fn is None or x is x0:
        return x
    # PyTorch's rule sends no gradient through a NaN (of x or of a bound): the same values,
    # detached there
    nans = nans[:1] + [t for t in nans[1:] if t.requires_grad]
    nan = functools.reduce(logical_or, [isnan(t) for t in nans])
    x = where(nan, x.detach(), x)
    tensors = [t if isinstance(t, Tensor) else None for t in (min, max)]
    if tensors == [None, None]:
        return rename(x, "ClampBackward1", x0)
    return rename(x, "ClampBackward0", x0, *tensors)


def clamp_min(x, min):  # noqa: A002
    out = clamp(x, min=min)
    if isinstance(min, Tensor):
        return rename(out, "ClampMinBackward1", x, min) if out is not x else out
    return rename(out, "ClampMinBackward0", x) if out is not x else out


def clamp_max(x, max):  # noqa: A002
    out = clamp(x, max=max)
    if isinstance(max, Tensor):
        return rename(out, "ClampMaxBackward1", x, max) if out is not x else out
    return rename(out, "ClampMaxBackward0", x) if out is not x else out


def _clamp_dtype(x, bound):
    return dtypes.result_type(x, bound)


def _bound(x, value):
    """A Python bound as a tensor of the promoted dtype; an integer out of its range wraps
    (``clamp(uint8, -1)`` bounds at 255), as PyTorch's conversion does."""
    dt = _clamp_dtype(x, value)
    dtypes.check_fits(value, dt)  # (clamp(int8, max=300), clamp(max=1e40): PyTorch's error)
    if not dt.is_floating_point and dt is not dtypes.bool_:
        value = np.array(int(value)).astype(dt.np)
    return constant(value, dt)


clip = clamp


def _to_float(x):
    return x if x.dtype.is_floating_point else cast(x, dtypes.get_default_dtype())


@iterator_layout
def where(condition, x=None, y=None):
    """``x`` where ``condition`` holds, else ``y`` (broadcasting, with type promotion)."""
    if x is None and y is None:
        from .index import nonzero

        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor):  # on the device of the tensor among x and y
        like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
        condition = constant(condition, dtypes.bool_, like=like)
    elif condition.dtype is not dtypes.bool_:
        if condition.dtype is not dtypes.uint8:
            raise RuntimeError(
                "where expected condition to be a boolean tensor, but got a tensor with dtype "
                + _TORCH_NAME.get(condition.dtype.name, condition.dtype.name)
            )
        warnings.warn(
            "where received a uint8 condition tensor. This behavior is deprecated and will be "
            "removed in a future version of PyTorch. Use a boolean condition instead.",
            UserWarning,
            stacklevel=2,
        )
        condition = cast(condition, dtypes.bool_)
    for v in (x, y):  # a number must fit the result (PyTorch's checked conversion)
        dt = dtypes.result_type(x, y)
        if type(v) in (int, float) and dt not in (dtypes.float16, dtypes.bfloat16):
            dtypes.check_fits(v, dt)  # (a 16-bit result is not checked: 1e40 is inf)
    x, y, _ = promote_pair("where", x, y)
    return bind(P["where"], (condition, x, y))


# PyTorch's ScalarType names, as its error messages print them
_TORCH_NAME = dtypes.SCALAR_TYPE_NAMES


def logical_not(x):
    return eq(cast(x, dtypes.bool_), False)


@iterator_layout
def logical_and(a, b):
    return mul(cast(as_bool(a), dtypes.bool_), cast(as_bool(b), dtypes.bool_))


@iterator_layout
def logical_or(a, b):
    return maximum(cast(as_bool(a), dtypes.bool_), cast(as_bool(b), dtypes.bool_))


@iterator_layout
def logical_xor(a, b):
    return ne(cast(as_bool(a), dtypes.bool_), cast(as_bool(b), dtypes.bool_))


def as_bool(v):
    return v if isinstance(v, Tensor) else constant(v, dtypes.bool_)


def _bitwise(prim, name, allow_bool=True):
    def op(a, b):
        a, b, dt = promote_pair(name, a, b)
        if dt.is_floating_point or (dt is dtypes.bool_ and not allow_bool):
            raise NotImplementedError(f'"{name}" not implemented for {dt.name} tensors')
        return bind(prim, (a, b))

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}`` of integer or bool tensors."
    return op


bitwise_and = _bitwise(P["bitwise_and"], "bitwise_and")
bitwise_or = _bitwise(P["bitwise_or"], "bitwise_or")
bitwise_xor = _bitwise(P["bitwise_xor"], "bitwise_xor")
bitwise_left_shift = _bitwise(P["lshift"], "bitwise_left_shift", allow_bool=False)
bitwise_right_shift = _bitwise(P["rshift"], "bitwise_right_shift", allow_bool=False)


def bitwise_not(x):
    """``~x``: two's complement ``-x - 1`` wraps exactly as the bit flip does."""
    if x.dtype is dtypes.bool_:
        return logical_not(x)
    if x.dtype.is_floating_point:
        raise NotImplementedError(f'"bitwise_not" not implemented for {x.dtype.name} tensors')
    return sub(neg(x), constant(1, x.dtype))


def isnan(x):
    return ne(x, x)


def isinf(x):
    return eq(abs(x), math.inf) if x.dtype.is_floating_point else ne(x, x)


def isfinite(x):
    return logical_not(logical_or(isnan(x), isinf(x))) if x.dtype.is_floating_point else eq(x, x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        return x.clone()  # no NaN or infinity to replace: a copy, as PyTorch
    info = __import__("numpy").finfo(x.dtype.np)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = where(isnan(x), nan, x)
    x = where(eq(x, math.inf), posinf, x)
    return where(eq(x, -math.inf), neginf, x)


@iterator_layout
def lerp(start, end, weight):
    """``start + weight * (end - start)``; PyTorch's kernel takes one floating dtype for
    ``start``, ``end`` and a dimensioned ``weight`` (no promotion)."""
    if isinstance(start, Tensor) and isinstance(end, Tensor):
        if not (start.dtype.is_floating_point or start.dtype.is_complex):
            raise NotImplementedError(f'"lerp_kernel" not implemented for {start.dtype.name}')
        if end.dtype is not start.dtype:
            raise RuntimeError(
                f"lerp: expected dtype {start.dtype.name} for `end` but got dtype {end.dtype.name}"
            )
        if isinstance(weight, Tensor) and weight.ndim and weight.dtype is not start.dtype:
            raise RuntimeError(
                f"lerp: expected dtype {start.dtype.name} for `weight` but got dtype "
                f"{weight.dtype.name}"
            )
    return _lerp(start, end, weight)


@computes_in_float32
def _lerp(start, end, weight):
    # PyTorch's CPU kernel: ``start + w (end - start)`` for ``|w| < 1/2``, else
    # ``end + (w - 1)(end - start)``, each one fused multiply-add (one rounding). In
    # float32 that is the float64 product and sum rounded once (a float32 product is exact
    # in float64); one-rounding-per-step differed in the last bit on 25-50% of elements.
    wide = isinstance(start, Tensor) and start.dtype is dtypes.float32
    wide = wide and (not isinstance(end, Tensor) or end.dtype is dtypes.float32)
    if not wide:
        small = lt(abs(weight), 0.5) if isinstance(weight, Tensor) else -0.5 < weight < 0.5
        low = add(start, mul(weight, sub(end, start)))
        rest = sub(1.0, weight) if isinstance(weight, Tensor) else 1.0 - weight
        high = sub(end, mul(sub(end, start), rest))
        return where(small, low, high) if isinstance(small, Tensor) else low if small else high
    f64 = dtypes.float64
    diff = cast(sub(end, start), f64)
    if isinstance(weight, Tensor):
        w = weight if weight.dtype is dtypes.float32 else cast(weight, dtypes.float32)
        coeff = where(lt(abs(w), 0.5), w, sub(w, 1.0))  # (w - 1 rounded to float32)
        base = where(lt(abs(w), 0.5), start, end)
        return cast(add(cast(base, f64), mul(cast(coeff, f64), diff)), dtypes.float32)
    w = float(np.float32(weight))
    coeff = w if -0.5 < w < 0.5 else float(np.float32(w - 1.0))
    base = start if -0.5 < w < 0.5 else end
    return cast(add(cast(base, f64), mul(diff, coeff)), dtypes.float32)


@iterator_layout
@computes_in_float32
def addcmul(x, t1, t2, *, value=1):
    # PyTorch's CPU kernel: fma(value * t1, t2, x), one rounding after the scaled t1 (in
    # float32 the float64 product and sum are that rounding); (t1 * t2) * value differed
    # in the last bit on a quarter of float32 elements
    if isinstance(value, (float, np.floating)) and _integral(x, t1, t2):
        value = int(value)  # (PyTorch converts value to an integer result's type: 1.5 is 1)
    scaled = mul(t1, value)
    tensors = [a for a in (x, scaled, t2) if isinstance(a, Tensor)]
    if tensors and all(a.dtype is dtypes.float32 for a in tensors):
        f64 = dtypes.float64
        wide = add(
            cast(x, f64) if isinstance(x, Tensor) else x, mul(cast(scaled, f64), cast(t2, f64))
        )
        return cast(wide, dtypes.float32)
    return add(x, mul(scaled, t2))


@iterator_layout
@computes_in_float32
def addcdiv(x, t1, t2, *, value=1):
    if _integral(t1, t2):  # (kiln divided them as floats: a float result, silently)
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future release "
            "addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv "
            "behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2))"
            ".to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) "
            "for float inputs. The future addcdiv behavior is just the latter implementation: "
            "(input + value * tensor1 / tensor2), for all dtypes."
        )
    return add(x, div(mul(t1, value), t2))  # (PyTorch's order: x + (value * t1) / t2)


def _integral(*operands) -> bool:
    """Whether the operands' result type is an integer or bool type."""
    tensors = [a for a in operands if isinstance(a, Tensor)]
    return bool(tensors) and dtypes.result_type(*tensors)._category <= 1


@iterator_layout
@computes_in_float32(round_scalars=True)
def hypot(a, b):
    """``sqrt(a^2 + b^2)`` scaled by the larger magnitude (no overflow); an infinite side
    gives inf even against NaN, as C's hypot."""
    a, b, _ = promote_pair("hypot", a, b)
    a, b = _to_float(abs(a)), _to_float(abs(b))
    big, small = maximum(a, b), minimum(a, b)
    safe = where(logical_or(eq(big, 0.0), isinf(big)), 1.0, big)
    ratio = div(small, safe)
    r = mul(safe, sqrt(add(mul(ratio, ratio), 1.0)))
    r = where(eq(big, 0.0), 0.0, r)
    return where(logical_or(isinf(a), isinf(b)), math.inf, r)


def signbit(x):
    """Whether the sign bit is set: true for -0.0 too (``1 / -0.0`` is ``-inf``)."""
    if not x.dtype.is_floating_point:
        return lt(x, constant(0, x.dtype))
    if type(x._data) is np.ndarray and current_trace() is None:  # eager: NaN's sign bit too
        return _bool_result(x)
    return logical_or(lt(x, 0.0), logical_and(eq(x, 0.0), lt(reciprocal(x), 0.0)))


def _bool_result(x):
    from ..tensor import _wrap

    return _wrap(np.signbit(x._data))


@iterator_layout
def copysign(a, b):
    """``|a|`` with the sign bit of ``b`` (signed zeros included; a NaN ``b`` counts as +)."""
    a = as_operand(a, _float_dtype_for(dtypes.result_type(a, b)))
    b = as_operand(b, a.dtype)
    out = where(signbit(b), neg(abs(a)), abs(a))
    if b.requires_grad:  # PyTorch's gradient for ``b``: zeros (never selected: no NaN)
        out = where(constant(False, dtypes.bool_), b, out)
    return out


@iterator_layout
@computes_in_float32(round_scalars=True)
def atan2(y, x):
    """The angle of ``(x, y)`` in ``[-pi, pi]``, with C's special values: signed zeros pick
    the side (``atan2(0, -0) = pi``), two infinities give odd multiples of ``pi/4``."""
    y, x, _ = promote_pair("atan2", y, x)
    y, x = _to_float(y), _to_float(x)
    q = atan(div(y, x))
    y_negative = signbit(y)
    left = signbit(x)
    r = where(left, where(y_negative, sub(q, math.pi), add(q, math.pi)), q)
    both_zero = logical_and(eq(x, 0.0), eq(y, 0.0))
    r = where(both_zero, where(left, copysign(constant(math.pi, r.dtype), y), y), r)
    both_inf = logical_and(isinf(x), isinf(y))
    quarter = constant(math.pi / 4, r.dtype)  # (two Python floats would make a float32)
    corner = where(gt(x, 0.0), quarter, mul(quarter, 3.0))
    r = where(both_inf, where(y_negative, neg(corner), corner), r)
    if y.requires_grad or x.requires_grad or y._node is not None or x._node is not None:
        r = sub(r.detach(), _atan2_slope(y, x))
    return r


def _atan2_slope(y, x):
    """+0.0 in value, with PyTorch's gradient of atan2: ``x / (x^2 + y^2)`` for ``y``,
    ``-y / (x^2 + y^2)`` for ``x``, 0 at the origin. Through ``atan(y / x)`` alone it is NaN
    where ``x`` is 0; ``atan(y / x)`` where ``|y| <= |x|``, else ``-atan(x / y)`` (equal to
    atan2 up to a constant in each region) have the right slope everywhere else."""
    steep = gt(abs(y), abs(x))
    origin = logical_and(eq(x, 0.0), eq(y, 0.0))
    flat = atan(div(y, where(logical_or(steep, origin), 1.0, x)))
    surrogate = where(steep, neg(atan(div(x, where(steep, y, 1.0)))), flat)
    # (two infinities make atan(inf / inf) NaN: the value must stay r's corner)
    surrogate = where(logical_or(origin, isnan(surrogate)), 0.0, surrogate)
    return sub(surrogate.detach(), surrogate)  # r - (+0.0) keeps a -0.0 of r


def _half_exp_squared(ax, big):
    """``e^|x| / 2`` as ``(e^(|x|/2) / 2) * e^(|x|/2)`` where ``big``: finite up to the largest
    ``|x|`` whose result is (``e^|x|`` alone overflows first: float32 ``sinh(89)`` is
    2.2e38). ``ax`` is ``|x|``; elsewhere the branch sees 0, so its gradient stays 0."""
    half = exp(mul(where(big, ax, 0.0), 0.5))
    return mul(mul(half, 0.5), half)


@computes_in_float32
def sinh(x):
    """``(e^x - e^-x) / 2`` through ``expm1``: exact for tiny ``x``, keeps the sign of a zero;
    from ``|x| > 20`` (where ``e^-|x|`` is below the last bit) ``sign(x) e^|x| / 2``."""
    x = _to_float(x)
    negative = lt(x, 0.0)
    big = gt(where(negative, neg(x), x), 20.0)
    small = where(big, 0.0, x)
    moderate = mul(sub(expm1(small), expm1(neg(small))), 0.5)
    large = _half_exp_squared(where(negative, neg(x), x), big)
    return where(big, where(negative, neg(large), large), moderate)


@computes_in_float32
def cosh(x):
    """``(e^x + e^-x) / 2``; from ``|x| > 20`` ``e^|x| / 2``, finite wherever cosh is."""
    x = _to_float(x)  # (an unsigned or bool tensor cannot be negated)
    ax = where(lt(x, 0.0), neg(x), x)
    big = gt(ax, 20.0)
    small = where(big, 0.0, x)
    moderate = mul(add(exp(small), exp(neg(small))), 0.5)
    return where(big, _half_exp_squared(ax, big), moderate)


@computes_in_float32
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


@computes_in_float32
def softplus(x, beta=1.0, threshold=20.0):
    bx = mul(x, beta)
    soft = div(add(maximum(bx, 0.0), log1p(exp(neg(abs(bx))))), beta)
    return where(gt(bx, threshold), x, soft)


arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh


_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680)
_LGAMMA_SHIFT = 8


@computes_in_float32
def lgamma(x):
    """``log|Gamma(x)|``: Stirling's series after shifting ``x`` up by 8, and the
    reflection ``log(pi / |sin(pi x)|) - lgamma(1 - x)`` below 1/2 (inf at 0, -1, -2, ...)."""
    x = _to_float(x)
    if x.dtype in (dtypes.float32, dtypes.float16, dtypes.bfloat16):
        # the series cancels digits (lgamma(2.5) was off by 40 float32 ulps): in float64,
        # rounded once
        return rename(cast(lgamma(cast(x, dtypes.float64)), x.dtype), "LgammaBackward0", x)
    reflect = lt(x, 0.5)
    finite = isfinite(x)
    z = where(reflect, sub(1.0, where(finite, x, 0.0)), where(finite, x, 1.0))
    small = lt(z, 10.0)
    y = where(small, add(z, float(_LGAMMA_SHIFT)), z)
    zs = where(small, z, 1.0)
    shift_product = zs
    for k in range(1, _LGAMMA_SHIFT):
        shift_product = mul(shift_product, add(zs, float(k)))
    inv = reciprocal(y)
    inv2 = mul(inv, inv)
    series = constant(_STIRLING[-1], x.dtype)
    for c in reversed(_STIRLING[:-1]):
        series = add(mul(series, inv2), c)
    stirling = add(
        sub(mul(sub(y, 0.5), log(y)), y), add(0.5 * math.log(2 * math.pi), mul(series, inv))
    )
    value = where(small, sub(stirling, log(where(small, shift_product, 1.0))), stirling)
    xr = where(logical_and(reflect, finite), x, 0.5)
    nearest = sub(xr, floor(add(xr, 0.5)))  # |sin(pi x)| = |sin(pi t)|, exact for tiny x
    pole = eq(nearest, 0.0)
    s = abs(sin(mul(where(pole, 0.5, nearest), math.pi)))
    reflected = sub(log(div(math.pi, where(pole, 1.0, s))), value)
    out = where(reflect, where(pole, math.inf, reflected), value)
    # exactly 0 at 1 and 2, as PyTorch's (the series left 2e-12), keeping the gradient
    out = where(logical_or(eq(x, 1.0), eq(x, 2.0)), sub(out, out.detach()), out)
    return rename(where(isinf(x), math.inf, where(isnan(x), x, out)), "LgammaBackward0", x)


_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132)


@computes_in_float32
def digamma(x):
    """``d/dx log Gamma(x)``: the asymptotic series after shifting ``x`` up by 8, and the
    reflection ``psi(1 - x) - pi / tan(pi x)`` below 1/2 (PyTorch's -inf at 0, +inf at
    -0.0, NaN at the negative integers and -inf)."""
    x = _to_float(x)
    if x.dtype is dtypes.float32:  # (near its root 1.4616 the float32 sums cancelled:
        # 1156 ulps off; in float64, rounded once)
        return rename(cast(digamma(cast(x, dtypes.float64)), x.dtype), "DigammaBackward0", x)
    reflect = lt(x, 0.5)
    finite = isfinite(x)
    z = where(reflect, sub(1.0, where(finite, x, 0.0)), where(finite, x, 1.0))
    y = add(z, float(_LGAMMA_SHIFT))
    inv = reciprocal(y)
    inv2 = mul(inv, inv)
    series = constant(_DIGAMMA_SERIES[-1], x.dtype)
    for c in reversed(_DIGAMMA_SERIES[:-1]):
        series = add(mul(series, inv2), c)
    value = sub(log(y), add(mul(inv, 0.5), mul(series, inv2)))
    for k in range(_LGAMMA_SHIFT):
        value = sub(value, reciprocal(add(z, float(k))))
    xf = where(finite, x, 0.5)
    nearest = sub(xf, floor(add(xf, 0.5)))  # in [-1/2, 1/2]: exact, even for tiny x
    integer = eq(nearest, 0.0)
    t = where(integer, 0.5, nearest)  # tan has period pi: tan(pi x) = tan(pi t)
    reflected = sub(value, div(mul(cos(mul(t, math.pi)), math.pi), sin(mul(t, math.pi))))
    pole = logical_or(integer, logical_not(finite))
    out = where(reflect, where(pole, math.nan, reflected), value)
    out = where(eq(x, 0.0), where(signbit(x), math.inf, -math.inf), out)
    return where(eq(x, math.inf), math.inf, where(isnan(x), x, out))


@iterator_layout
def xlogy(x, y):
    """``x * log(y)``, 0 where ``x`` is 0 (unless ``y`` is NaN). (Not computed in float32
    on 16-bit floats: PyTorch's kernel rounds ``log(y)`` to the 16-bit type first.)"""
    x, y, dt = promote_pair("xlogy", x, y)
    x, y = _to_float(x), _to_float(y)
    zero = logical_and(eq(x, 0.0), logical_not(isnan(y)))
    return where(zero, 0.0, mul(x, log(where(zero, 1.0, y))))


@iterator_layout
@computes_in_float32(round_scalars=True)
def logaddexp(a, b):
    """``log(exp(a) + exp(b))`` without overflow; equal infinities give themselves."""
    a, b, _ = promote_pair("logaddexp", a, b)
    a, b = _to_float(a), _to_float(b)
    m = maximum(a, b)
    same = eq(a, b)
    gap = where(same, 0.0, neg(abs(sub(a, b))))
    return add(m, log1p(exp(gap)))


def reverse_order(x):
    """An order-reversing map that cannot overflow: ``-x`` for floats, ``~x`` for integers
    (``-x`` of int32's least value is itself, and of a uint8 wraps)."""
    return neg(x) if x.dtype.is_floating_point else bitwise_not(x)
