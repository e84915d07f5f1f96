"""PyTorch's remaining elementwise, special-function and statistics surface.

Every function here is a composite of kiln's differentiable ops (so autograd, ``kiln.func``
and ``kiln.jit`` work without new primitives). Special functions compute in float64 and cast
the result back to the input's floating dtype; their approximations are Cephes' (Stephen L.
Moshier, BSD licence), as PyTorch's and SciPy's are, with the accuracy documented on each.

>>> import kiln
>>> kiln.fmax(kiln.tensor([1.0, float("nan")]), kiln.tensor([float("nan"), 2.0])).tolist()
[1.0, 2.0]
>>> kiln.quantile(kiln.tensor([1.0, 2.0, 3.0, 4.0]), 0.5).item()
2.5
"""

from __future__ import annotations

import builtins
import math
import numbers

import numpy as np

from .. import dtypes, ops
from ..context import current_trace
from ..dispatch import autocast_op, computes_in_float32, constant
from ..return_types import return_type
from ..tensor import Tensor
from . import tie_order
from .dims import normalize_axes, normalize_dim

__all__ = """
fmax fmin logit float_power erfc sinc deg2rad rad2deg heaviside gcd lcm i0 isin isneginf
isposinf isreal frexp ldexp nextafter logaddexp2 fix positive polygamma mvlgamma
arctan2 nansum nanmean count_nonzero aminmax mode histc histogram bincount diff quantile
nanquantile cov corrcoef renorm gradient hash_tensor
""".split()

F64 = dtypes.float64


# ----------------------------------------------------------------------------- helpers


def _tensor_arg(op, x, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")
    return x


def _float_out(x):
    """The floating dtype a unary float function of ``x`` returns (ints and bool: default)."""
    return x.dtype if x.dtype.is_floating_point else dtypes.get_default_dtype()


def _f64(x):
    return ops.cast(x, F64)


def _in64(op, x):
    """``x`` as float64 (computation dtype) and the dtype to return."""
    _tensor_arg(op, x)
    if x.dtype.is_complex:
        raise NotImplementedError(f'"{op}" not implemented for {x.dtype.name} tensors')
    return _f64(x), _float_out(x)


def _promote_float(op, a, b):
    """Both operands promoted as PyTorch's binary float ops do, and the output dtype."""
    a, b, dt = ops.elementwise.promote_pair(op, a, b)
    out = dt if dt.is_floating_point else dtypes.get_default_dtype()
    return _f64(a), _f64(b), out


def _safe(mask, x, value):
    """``x`` where ``mask``, else a harmless ``value``: keeps NaN out of unused branches'
    gradients (``where`` differentiates both sides)."""
    return ops.where(mask, x, value)


def _poly(x, coeffs):
    """Horner: ``coeffs[0] * x^n + ... + coeffs[n]``."""
    r = constant(coeffs[0], x.dtype, like=x)
    for c in coeffs[1:]:
        r = ops.add(ops.mul(r, x), c)
    return r


def _poly1(x, coeffs):
    """Horner with an implicit leading coefficient 1 (Cephes' ``p1evl``)."""
    r = ops.add(x, coeffs[0])
    for c in coeffs[1:]:
        r = ops.add(ops.mul(r, x), c)
    return r


def _chbevl(x, coeffs):
    """Cephes' Chebyshev series ``sum' c_i T_i(x / 2)`` (Clenshaw's recurrence)."""
    b0 = constant(coeffs[0], x.dtype, like=x)
    b1 = constant(0.0, x.dtype, like=x)
    b2 = b1
    for c in coeffs[1:]:
        b2 = b1
        b1 = b0
        b0 = ops.add(ops.sub(ops.mul(x, b1), b2), c)
    return ops.mul(ops.sub(b0, b2), 0.5)


def _traced(*xs) -> bool:
    return current_trace() is not None or builtins.any(
        isinstance(x, Tensor) and x._node is not None for x in xs
    )


# ----------------------------------------------------------------------------- elementwise


def _binary_tensors(op, input, other):  # noqa: A002
    """PyTorch's binary ops without a Scalar overload take two tensors."""
    for pos, (name, v) in enumerate((("input", input), ("other", other)), 1):
        if not isinstance(v, Tensor):
            raise TypeError(
                f"{op}(): argument '{name}' (position {pos}) must be Tensor, not {type(v).__name__}"
            )


def fmax(input, other):  # noqa: A002
    """The larger of two values, ignoring a NaN (NaN only where both are). PyTorch's
    gradient rule: ties and a NaN ``other`` send the gradient to ``input``."""
    _binary_tensors("fmax", input, other)
    a, b, dt = ops.elementwise.promote_pair("fmax", input, other)
    if not dt.is_floating_point:
        return ops.maximum(a, b)
    return ops.where(ops.logical_or(ops.ge(a, b), ops.isnan(b)), a, b)


def fmin(input, other):  # noqa: A002
    """The smaller of two values, ignoring a NaN (NaN only where both are)."""
    _binary_tensors("fmin", input, other)
    a, b, dt = ops.elementwise.promote_pair("fmin", input, other)
    if not dt.is_floating_point:
        return ops.minimum(a, b)
    return ops.where(ops.logical_or(ops.le(a, b), ops.isnan(b)), a, b)


def logit(input, eps=None):  # noqa: A002
    """``log(x / (1 - x))``, with ``x`` first clamped to ``[eps, 1 - eps]`` when ``eps`` is
    given (its gradient is then 0 outside that interval, as PyTorch's)."""
    x = _tensor_arg("logit", input)
    x = x if x.dtype.is_floating_point else ops.cast(x, dtypes.get_default_dtype())
    if eps is not None:
        x = ops.clamp(x, eps, 1.0 - eps)
    return ops.log(ops.div(x, ops.sub(1.0, x)))


def float_power(input, exponent):  # noqa: A002
    """``input ** exponent`` in double precision (complex128 when either is complex)."""
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError("float_power(): expected at least one Tensor argument")
    cplx = builtins.any(
        (isinstance(v, Tensor) and v.dtype.is_complex) or isinstance(v, complex)
        for v in (input, exponent)
    )
    dt = dtypes.complex128 if cplx else F64
    a = ops.cast(input, dt) if isinstance(input, Tensor) else input
    b = ops.cast(exponent, dt) if isinstance(exponent, Tensor) else exponent
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        b = constant(b, dt, like=a)
    if isinstance(b, Tensor) and not isinstance(a, Tensor):
        a = constant(a, dt, like=b)
    return ops.pow(a, b)


# erfc(x) = exp(-x^2) P(x) / Q(x) on [1, 8) and exp(-x^2) R(x) / S(x) from 8 (Cephes ndtr.c;
# relative error 5.7e-14 peak over [0, 26.6]).
_ERFC_P = (
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
)
_ERFC_Q = (
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
)
_ERFC_R = (
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
)
_ERFC_S = (
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
)
_INV_SQRT_PI = 0.56418958354775628694807945156


def _erfcx_pos(x):
    """``exp(x^2) erfc(x)`` for float64 ``x >= 1`` (other lanes: any finite value)."""
    mid = ops.lt(x, 8.0)
    xm = _safe(mid, x, 1.0)
    rational_mid = ops.div(_poly(xm, _ERFC_P), _poly1(xm, _ERFC_Q))
    far = ops.gt(x, 50.0)
    xf = _safe(ops.logical_or(mid, far), 10.0, x)
    rational_far = ops.div(_poly(xf, _ERFC_R), _poly1(xf, _ERFC_S))
    # x > 50: the continued fraction's 5-term expansion (1/(sqrt(pi) x) beyond 5e7)
    xc = _safe(far, x, 100.0)
    x2 = ops.mul(xc, xc)
    cf = ops.div(
        ops.mul(ops.add(ops.mul(x2, ops.add(x2, 4.5)), 2.0), _INV_SQRT_PI),
        ops.mul(xc, ops.add(ops.mul(x2, ops.add(x2, 5.0)), 3.75)),
    )
    huge = ops.gt(x, 5e7)
    cf = ops.where(huge, ops.div(_INV_SQRT_PI, _safe(huge, x, 1.0)), cf)
    return ops.where(mid, rational_mid, ops.where(far, cf, rational_far))


def _erfc64(x):
    """``1 - erf(x)`` without cancellation (float64)."""
    small = ops.lt(x, 1.0)
    direct = ops.sub(1.0, ops.erf(_safe(small, x, 0.0)))
    xl = _safe(small, 2.0, x)
    big = ops.gt(xl, 27.3)  # erfc underflows to 0
    xl = _safe(big, 27.0, xl)
    tail = ops.mul(ops.exp(ops.neg(ops.mul(xl, xl))), _erfcx_pos(xl))
    return ops.where(small, direct, ops.where(big, 0.0, tail))


def erfc(input):  # noqa: A002
    """Complementary error function ``1 - erf(x)``, accurate in the right tail (Cephes'
    rational approximations: relative error below 1e-13 up to the underflow at 27.3)."""
    x, out = _in64("erfc", input)
    return ops.cast(_erfc64(x), out)


def _erfcx64(x):
    """``exp(x^2) erfc(x)``: Cephes' rational approximations from 1, ``exp(x^2)(1 - erf x)``
    below; for ``x < 0``, ``2 exp(x^2) - erfcx(-x)`` (inf below -26.7)."""
    ax = ops.abs(x)
    small = ops.lt(ax, 1.0)
    xs = _safe(small, x, 0.0)
    direct = ops.mul(ops.exp(ops.mul(xs, xs)), ops.sub(1.0, ops.erf(xs)))
    xl = _safe(small, 2.0, ax)
    pos = _erfcx_pos(xl)
    neg = ops.lt(x, 0.0)
    very = ops.lt(x, -26.7)
    xn = _safe(ops.logical_and(neg, ops.logical_not(very)), x, -2.0)
    neg_val = ops.sub(ops.mul(ops.exp(ops.mul(xn, xn)), 2.0), pos)
    big = ops.where(neg, ops.where(very, math.inf, neg_val), pos)
    return ops.where(ops.isnan(x), x, ops.where(small, direct, big))


@computes_in_float32
def sinc(input):  # noqa: A002
    """``sin(pi x) / (pi x)``, 1 at 0 (where its gradient is 0)."""
    x = _tensor_arg("sinc", input)
    x = x if x.dtype.is_floating_point else ops.cast(x, dtypes.get_default_dtype())
    zero = ops.eq(x, 0.0)
    px = ops.mul(_safe(zero, 1.0, x), math.pi)
    return ops.where(zero, 1.0, ops.div(ops.sin(px), px))


def deg2rad(input):  # noqa: A002
    x = _tensor_arg("deg2rad", input)
    x = x if x.dtype.is_floating_point else ops.cast(x, dtypes.get_default_dtype())
    return ops.mul(x, math.pi / 180.0)


def rad2deg(input):  # noqa: A002
    x = _tensor_arg("rad2deg", input)
    x = x if x.dtype.is_floating_point else ops.cast(x, dtypes.get_default_dtype())
    return ops.mul(x, 180.0 / math.pi)


def heaviside(input, values):  # noqa: A002
    """0 where ``input < 0`` (or NaN), ``values`` where it is 0, 1 where it is positive.
    PyTorch has no gradient for it, nor does kiln (the result is detached)."""
    _tensor_arg("heaviside", input)
    if not isinstance(values, Tensor):
        raise TypeError(
            f"heaviside(): argument 'values' must be Tensor, not {type(values).__name__}"
        )
    if input.dtype is not values.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    if input.dtype.is_complex:
        raise RuntimeError("heaviside is not yet implemented for complex tensors.")
    x, v = input.detach(), values.detach()
    zero = constant(0, x.dtype, like=x)
    pos = ops.cast(ops.gt(x, zero), x.dtype)
    return ops.where(ops.eq(x, zero), v, pos)


def _check_integral(op, a, b):
    a, b, dt = ops.elementwise.promote_pair(op, a, b)
    if dt.is_floating_point or dt.is_complex or dt is dtypes.bool_:
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for '{_torch_name(dt)}'")
    return a, b, dt


_torch_name = dtypes.torch_name


# Euclid's algorithm needs at most this many steps for the dtype's values (the Fibonacci
# worst case); the loop is unrolled so it traces.
_GCD_STEPS = {"uint8": 13, "int8": 12, "int16": 24, "int32": 46, "int64": 92}


def gcd(input, other):  # noqa: A002
    """Greatest common divisor of integers (non-negative; ``gcd(0, 0) = 0``)."""
    a, b, dt = _check_integral("gcd", input, other)
    a, b = ops.abs(a.detach()), ops.abs(b.detach())
    a, b = ops.broadcast_tensors(a, b)
    zero = constant(0, dt, like=a)
    one = constant(1, dt, like=a)
    for _ in range(_GCD_STEPS.get(dt.name, 92)):
        done = ops.eq(b, zero)
        r = _int_mod(a, ops.where(done, one, b))
        a, b = ops.where(done, a, b), ops.where(done, zero, r)
    return a


def _int_mod(a, b):
    """``a % b`` of non-negative integers, exact over the whole int64 range."""
    from kiln.compiler.primitives import PRIMITIVES as P

    from ..dispatch import bind

    if _traced(a, b):  # (the fmod primitive is for floats: a trace refuses it on integers)
        from .elementwise import _int_floor_div

        return bind(P["sub"], (a, bind(P["mul"], (_int_floor_div(a, b, a.dtype), b))))
    return bind(P["fmod"], (a, b))


def lcm(input, other):  # noqa: A002
    """Least common multiple of integers (``|a / gcd * b|``, wrapping as PyTorch's)."""
    a, b, dt = _check_integral("lcm", input, other)
    g = gcd(a, b)
    zero = constant(0, dt, like=g)
    q = ops.floor_divide(a.detach(), ops.where(ops.eq(g, zero), constant(1, dt, like=g), g))
    return ops.where(ops.eq(g, zero), zero, ops.abs(ops.mul(q, b.detach())))


# exp(-x) I0(x) on [0, 8] and exp(-x) sqrt(x) I0(x) beyond (Cephes i0.c; relative error
# 6e-16 rms), and the same for I1 (i1.c).
_I0_A = (
    -4.41534164647933937950e-18, 3.33079451882223809783e-17, -2.43127984654795469359e-16,
    1.71539128555513303061e-15, -1.16853328779934516808e-14, 7.67618549860493561688e-14,
    -4.85644678311192946090e-13, 2.95505266312963983461e-12, -1.72682629144155570723e-11,
    9.67580903537323691224e-11, -5.18979560163526290666e-10, 2.65982372468238665035e-9,
    -1.30002500998624804212e-8, 6.04699502254191894932e-8, -2.67079385394061173391e-7,
    1.11738753912010371815e-6, -4.41673835845875056359e-6, 1.64484480707288970893e-5,
    -5.75419501008210370398e-5, 1.88502885095841655729e-4, -5.76375574538582365885e-4,
    1.63947561694133579842e-3, -4.32430999505057594430e-3, 1.05464603945949983183e-2,
    -2.37374148058994688156e-2, 4.93052842396707084878e-2, -9.49010970480476444210e-2,
    1.71620901522208775349e-1, -3.04682672343198398683e-1, 6.76795274409476084995e-1,
)  # fmt: skip
_I0_B = (
    -7.23318048787475395456e-18, -4.83050448594418207126e-18, 4.46562142029675999901e-17,
    3.46122286769746109310e-17, -2.82762398051658348494e-16, -3.42548561967721913462e-16,
    1.77256013305652638360e-15, 3.81168066935262242075e-15, -9.55484669882830764870e-15,
    -4.15056934728722208663e-14, 1.54008621752140982691e-14, 3.85277838274214270114e-13,
    7.18012445138366623367e-13, -1.79417853150680611778e-12, -1.32158118404477131188e-11,
    -3.14991652796324136454e-11, 1.18891471078464383424e-11, 4.94060238822496958910e-10,
    3.39623202570838634515e-9, 2.26666899049817806459e-8, 2.04891858946906374183e-7,
    2.89137052083475648297e-6, 6.88975834691682398426e-5, 3.36911647825569408990e-3,
    8.04490411014108831608e-1,
)  # fmt: skip
_I1_A = (
    2.77791411276104639959e-18, -2.11142121435816608115e-17, 1.55363195773620046921e-16,
    -1.10559694773538630805e-15, 7.60068429473540693410e-15, -5.04218550472791168711e-14,
    3.22379336594557470981e-13, -1.98397439776494371520e-12, 1.17361862988909016308e-11,
    -6.66348972350202774223e-11, 3.62559028155211703701e-10, -1.88724975172282928790e-9,
    9.38153738649577178388e-9, -4.44505912879632808065e-8, 2.00329475355213526229e-7,
    -8.56872026469545474066e-7, 3.47025130813767847674e-6, -1.32731636560394358279e-5,
    4.78156510755005422638e-5, -1.61760815825896745588e-4, 5.12285956168575772895e-4,
    -1.51357245063125314899e-3, 4.15642294431288815669e-3, -1.05640848946261981558e-2,
    2.47264490306265168283e-2, -5.29459812080949914269e-2, 1.02643658689847095384e-1,
    -1.76416518357834055153e-1, 2.52587186443633654823e-1,
)  # fmt: skip
_I1_B = (
    7.51729631084210481353e-18, 4.41434832307170791151e-18, -4.65030536848935832153e-17,
    -3.20952592199342395980e-17, 2.96262899764595013876e-16, 3.30820231092092828324e-16,
    -1.88035477551078244854e-15, -3.81440307243700780478e-15, 1.04202769841288027642e-14,
    4.27244001671195135429e-14, -2.10154184277266431302e-14, -4.08355111109219731823e-13,
    -7.19855177624590851209e-13, 2.03562854414708950722e-12, 1.41258074366137813316e-11,
    3.25260358301548823856e-11, -1.89749581235054123450e-11, -5.58974346219658380687e-10,
    -3.83538038596423702205e-9, -2.63146884688951950684e-8, -2.51223623787020892529e-7,
    -3.88256480887769039346e-6, -1.10588938762623716291e-4, -9.76109749136146840777e-3,
    7.78576235018280120474e-1,
)  # fmt: skip


def _bessel_scaled(x, a, b, odd):
    """``exp(-|x|) I_n(x)`` (n = 0, or 1 when ``odd``) in float64."""
    # |x| spelled as a choice (abs has no slope at 0, I1 has); + 0.0 turns -0.0 into +0.0
    # (I0 is even: there abs, whose zero slope at 0 gives PyTorch's i0'(0) = i0e'(0) = 0)
    ax = ops.add(ops.where(ops.lt(x, 0.0), ops.neg(x), x), 0.0) if odd else ops.abs(x)
    near = ops.le(ax, 8.0)
    xn = _safe(near, ax, 0.0)
    lo = _chbevl(ops.sub(ops.mul(xn, 0.5), 2.0), a)
    if odd:
        lo = ops.mul(lo, xn)
    xf = _safe(near, 16.0, ax)
    inf = ops.eq(xf, math.inf)
    xf = _safe(inf, 16.0, xf)
    hi = ops.div(_chbevl(ops.sub(ops.div(32.0, xf), 2.0), b), ops.sqrt(xf))
    hi = ops.where(inf, 0.0, hi)
    r = ops.where(near, lo, hi)
    if odd:
        r = ops.where(ops.lt(x, 0.0), ops.neg(r), r)
    return ops.where(ops.isnan(x), x, r)


def _bessel(x, a, b, odd):
    """``I_n(x)``: the scaled series times ``exp(|x|)`` (NaN at infinities, as PyTorch)."""
    return ops.mul(_bessel_scaled(x, a, b, odd), ops.exp(ops.abs(x)))


def i0(input):  # noqa: A002
    """Modified Bessel function of the first kind, order 0 (Cephes' Chebyshev series)."""
    x, out = _in64("i0", input)
    return ops.cast(_bessel(x, _I0_A, _I0_B, False), out)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each of ``elements`` is among ``test_elements`` (either may be a scalar)."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin(): expected at least one of elements and test_elements a Tensor")
    like = elements if isinstance(elements, Tensor) else test_elements
    dt = dtypes.result_type(elements, test_elements)
    e = (
        ops.cast(elements, dt)
        if isinstance(elements, Tensor)
        else constant(elements, dt, like=like)
    )
    t = ops.cast(test_elements, dt) if isinstance(test_elements, Tensor) else None
    if t is None:
        t = constant(test_elements, dt, like=like)
    t = ops.reshape(t.detach(), (-1,))
    e = e.detach()
    if t.shape[0] == 0:
        hit = ops.zeros(tuple(e.shape), dtype=dtypes.bool_)
    elif not _traced(e, t) and type(e._data) is np.ndarray and type(t._data) is np.ndarray:
        hit = constant(np.isin(e._data, t._data), dtypes.bool_, like=e)  # O(n log n)
    else:  # traced: pairwise comparison (memory n * m)
        hit = ops.any(ops.eq(ops.unsqueeze(e, -1), t), -1)
    return ops.logical_not(hit) if invert else hit


def isneginf(input):  # noqa: A002
    x = _tensor_arg("isneginf", input)
    if not x.dtype.is_floating_point:
        return ops.ne(x, x) if x.dtype is not dtypes.bool_ else ops.logical_and(x, False)
    return ops.eq(x.detach(), -math.inf)


def isposinf(input):  # noqa: A002
    x = _tensor_arg("isposinf", input)
    if not x.dtype.is_floating_point:
        return ops.ne(x, x) if x.dtype is not dtypes.bool_ else ops.logical_and(x, False)
    return ops.eq(x.detach(), math.inf)


def isreal(input):  # noqa: A002
    x = _tensor_arg("isreal", input)
    if x.dtype.is_complex:
        return ops.eq(ops.imag(x.detach()), 0.0)
    return ops.eq(ops.zeros_like(x, dtype=dtypes.bool_), False)


frexp_result = return_type("frexp", ["mantissa", "exponent"])


def frexp(input):  # noqa: A002
    """``input = mantissa * 2**exponent`` with ``|mantissa|`` in ``[0.5, 1)`` (int32
    exponent; 0, inf and NaN give themselves and exponent 0, as C's frexp)."""
    x = _tensor_arg("frexp", input)
    if not x.dtype.is_floating_point:
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    x64 = _f64(x)
    special = ops.logical_or(ops.eq(x64, 0.0), ops.logical_not(ops.isfinite(x64)))
    ax = ops.abs(_safe(special, 1.0, x64)).detach()
    e = ops.add(ops.floor(ops.div(ops.log(ax), math.log(2.0))), 1.0)
    for _ in range(2):  # log's rounding can leave e off by one
        m = _scale2(ax, ops.neg(e))
        e = ops.where(
            ops.ge(m, 1.0), ops.add(e, 1.0), ops.where(ops.lt(m, 0.5), ops.sub(e, 1.0), e)
        )
    e = ops.where(special, 0.0, e)
    mantissa = _scale2(x64, ops.neg(e))
    return frexp_result(ops.cast(mantissa, x.dtype), ops.cast(e, dtypes.int32))


def _scale2(x, k):
    """``x * 2 ** k`` for integer-valued float64 ``k``, exact while the result is: two
    steps, so that neither power overflows (``k`` up to 2046)."""
    half = ops.floor(ops.mul(k, 0.5))
    return ops.mul(ops.mul(x, ops.pow(2.0, half)), ops.pow(2.0, ops.sub(k, half)))


def _exp2_exact(k):
    """``2 ** k`` for integer-valued float64 ``k`` in [-2148, 2046], exactly, as a product
    of two powers (each one representable)."""
    half = ops.floor(ops.mul(k, 0.5))
    return ops.mul(ops.pow(2.0, half), ops.pow(2.0, ops.sub(k, half)))


def ldexp(input, other):  # noqa: A002
    """``input * 2 ** other`` (PyTorch's composite, float result)."""
    _tensor_arg("ldexp", input)
    # PyTorch's result type: the operands' (a float16 input stays float16; it was float32)
    dt = dtypes.result_type(input, other)
    dt = dt if dt.is_floating_point or dt.is_complex else dtypes.get_default_dtype()
    wide = dtypes.float32 if dt in (dtypes.float16, dtypes.bfloat16) else dt
    two = constant(2.0, wide.to_real() if wide.is_complex else wide, like=input)
    if isinstance(other, Tensor) and other.dtype.is_floating_point:
        other = ops.cast(other, two.dtype)
    return ops.cast(ops.mul(ops.cast(input, wide), ops.pow(two, other)), dt)


def nextafter(input, other):  # noqa: A002
    """The next representable value after ``input`` towards ``other``."""
    a, b, dt = ops.elementwise.promote_pair("nextafter", input, other)
    if not dt.is_floating_point:
        raise NotImplementedError(f"\"nextafter_cpu\" not implemented for '{_torch_name(dt)}'")
    info = np.finfo(dt.np)
    digits, tiny_exp = info.nmant + 1, int(np.log2(info.smallest_subnormal))
    a64, b64 = _f64(a.detach()), _f64(b.detach())
    m, e = frexp(a64)
    e = _f64(e)
    away = ops.eq(ops.lt(a64, b64), ops.gt(a64, 0.0))  # moving away from zero
    power_of_two = ops.eq(ops.abs(m), 0.5)
    step_e = ops.where(
        ops.logical_and(ops.logical_not(away), power_of_two),
        ops.sub(e, digits + 1),
        ops.sub(e, digits),
    )
    step = _exp2_exact(ops.maximum(step_e, float(tiny_exp)))
    r = ops.add(a64, ops.where(ops.lt(a64, b64), step, ops.neg(step)))
    tiny = constant(float(info.smallest_subnormal), F64, like=a64)
    big = constant(float(info.max), F64, like=a64)
    r = ops.where(ops.eq(a64, 0.0), ops.where(ops.lt(a64, b64), tiny, ops.neg(tiny)), r)
    r = ops.where(ops.isinf(a64), ops.where(ops.gt(a64, 0.0), big, ops.neg(big)), r)
    r = ops.where(ops.eq(a64, b64), b64, r)
    r = ops.where(ops.logical_or(ops.isnan(a64), ops.isnan(b64)), math.nan, r)
    r = ops.cast(r, dt)
    if a.requires_grad:  # PyTorch's gradient: 1 for input (finite ones here), 0 for other
        ad = a.detach()
        r = ops.add(r, ops.where(ops.isfinite(ad), ops.sub(a, ad), 0.0))
    return r


def logaddexp2(input, other):  # noqa: A002
    """``log2(2**a + 2**b)`` without overflow."""
    a, b, dt = ops.elementwise.promote_pair("logaddexp2", input, other)
    if not dt.is_floating_point:
        raise NotImplementedError(f"\"logaddexp2_cpu\" not implemented for '{_torch_name(dt)}'")
    ln2 = math.log(2.0)
    if dt in (dtypes.float16, dtypes.bfloat16):  # in float32, rounded once (as PyTorch)
        return ops.cast(logaddexp2(ops.cast(a, dtypes.float32), ops.cast(b, dtypes.float32)), dt)
    return ops.div(ops.logaddexp(ops.mul(a, ln2), ops.mul(b, ln2)), ln2)


def _to_float(x):
    return x if x.dtype.is_floating_point else ops.cast(x, dtypes.get_default_dtype())


def fix(input):  # noqa: A002
    """Alias of ``trunc``."""
    return ops.trunc(input)


def positive(input):  # noqa: A002
    x = _tensor_arg("positive", input)
    if x.dtype is dtypes.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return x


def arctan2(input, other):  # noqa: A002
    """Alias of ``atan2``."""
    return ops.atan2(input, other)


# ----------------------------------------------------------------------------- gamma family


def _trigamma64(x):
    """``psi'(x)`` (PyTorch's algorithm: reflection below 1/2, six recurrence steps and the
    asymptotic series; relative error ~1e-15 away from the poles)."""
    reflect = ops.lt(x, 0.5)
    xr = _safe(reflect, x, 0.25)
    s = ops.sin(ops.mul(xr, math.pi))
    refl = ops.neg(ops.div(math.pi * math.pi, ops.mul(s, s)))
    z = ops.where(reflect, ops.sub(1.0, x), x)
    res = constant(0.0, F64, like=x)
    for _ in range(6):
        res = ops.add(res, ops.reciprocal(ops.mul(z, z)))
        z = ops.add(z, 1.0)
    ixx = ops.reciprocal(ops.mul(z, z))
    tail = ops.mul(ixx, ops.sub(1.0 / 6, ops.mul(ixx, ops.sub(1.0 / 30, ops.mul(ixx, 1.0 / 42)))))
    res = ops.add(res, ops.div(ops.add(ops.add(1.0, ops.div(0.5, z)), tail), z))
    res = ops.where(reflect, ops.neg(ops.add(res, refl)), res)
    pole = ops.logical_and(ops.le(x, 0.0), ops.eq(x, ops.floor(x)))
    return ops.where(pole, math.inf, res)


# Euler-Maclaurin coefficients of Cephes' zeta.c
_ZETA_A = (
    12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
    -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
    1.8152105401943546773e17, -7.1661652561756670113e18,
)  # fmt: skip


def _zeta64(x, q, terms=10):
    """Hurwitz zeta ``sum_k (k + q)^-x`` (Cephes: ``terms`` direct terms, then the
    Euler-Maclaurin tail with 12 Bernoulli terms; relative error ~1e-15 for q > 0)."""
    s = constant(0.0, F64, like=x)
    for k in range(terms):
        s = ops.add(s, ops.pow(ops.add(q, float(k)), ops.neg(x)))
    w = ops.add(q, float(terms))  # the next point: the tail starts here
    b = ops.pow(w, ops.neg(x))
    s = ops.add(s, ops.div(ops.mul(b, w), ops.sub(x, 1.0)))
    s = ops.add(s, ops.mul(b, 0.5))  # the term at w itself is not in the direct sum
    a = constant(1.0, F64, like=x)
    k = 0.0
    for coeff in _ZETA_A:
        a = ops.mul(a, ops.add(x, k))
        b = ops.div(b, w)
        s = ops.add(s, ops.div(ops.mul(a, b), coeff))
        k += 1.0
        a = ops.mul(a, ops.add(x, k))
        b = ops.div(b, w)
        k += 1.0
    return s


def zeta64_untraceable(x, q):
    """Where ``zeta64`` under tracing gives NaN for want of terms (``q <= -1`` away from the
    special values): a bool tensor. Eagerly the number of terms follows the data."""
    bad_q = ops.logical_and(ops.le(q, 0.0), ops.eq(q, ops.floor(q)))
    bad_x = ops.logical_and(ops.lt(q, 0.0), ops.ne(x, ops.floor(x)))
    special = ops.logical_or(
        ops.logical_or(bad_q, bad_x), ops.logical_or(ops.eq(x, 1.0), ops.lt(x, 1.0))
    )
    return ops.logical_and(ops.le(q, -1.0), ops.logical_not(special))


def zeta64(x, q):
    """Hurwitz zeta with Cephes' special values: inf at ``x = 1`` and at non-positive
    integer ``q``; NaN for ``x < 1`` and for non-integer ``x`` with ``q < 0``."""
    terms = 10
    if not _traced(x, q):  # enough direct terms that q + terms > 9 for negative q too
        qmin = np.nanmin(np.asarray(q._data)) if q.numel() else 0.0
        if np.isfinite(qmin) and qmin < 0:
            terms = builtins.min(10 + int(math.ceil(-qmin)), 2000)  # beyond: NaN below
    bad_q = ops.logical_and(ops.le(q, 0.0), ops.eq(q, ops.floor(q)))
    bad_x = ops.logical_and(ops.lt(q, 0.0), ops.ne(x, ops.floor(x)))
    x_one = ops.eq(x, 1.0)
    x_low = ops.lt(x, 1.0)
    skip = ops.logical_or(ops.logical_or(bad_q, bad_x), ops.logical_or(x_one, x_low))
    xs = _safe(skip, 2.0, x)
    qs = _safe(skip, 1.0, q)
    s = _zeta64(xs, qs, terms)
    s = ops.where(ops.le(ops.add(qs, float(terms)), 9.0), math.nan, s)  # traced, q < -1
    s = ops.where(ops.logical_or(ops.isnan(x), ops.isnan(q)), math.nan, s)
    s = ops.where(bad_q, math.inf, ops.where(bad_x, math.nan, s))
    return ops.where(x_one, math.inf, ops.where(x_low, math.nan, s))


def polygamma(n, input):  # noqa: A002
    """The ``n``-th derivative of the digamma function: ``digamma`` for n = 0, PyTorch's
    trigamma for 1, ``(-1)^(n+1) n! zeta(n + 1, x)`` above."""
    x = _tensor_arg("polygamma", input)
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"polygamma(): argument 'n' must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    if x.dtype.is_complex:
        raise NotImplementedError(f'"polygamma" not implemented for {x.dtype.name} tensors')
    out = _float_out(x)
    if n == 0:
        return ops.digamma(x)
    x64 = _f64(x)
    if n == 1:
        return ops.cast(_trigamma64(x64), out)
    sign = 1.0 if n % 2 else -1.0
    fact = math.exp(math.lgamma(n + 1.0))
    s = constant(float(n + 1), F64, like=x64)
    z = ops.mul(zeta64(s, x64), sign * fact)
    if _traced(x64):  # (a traced zeta's direct sum stops at q > -1: NaN below; reflect)
        reflect = ops.logical_and(ops.lt(x64, -0.5), ops.ne(x64, ops.floor(x64)))
        xr = _safe(reflect, x64, -0.5)
        mirrored = ops.mul(zeta64(s, ops.sub(1.0, xr)), sign * fact)  # psi_n(1 - x)
        cot = ops.reciprocal(ops.tan(ops.mul(xr, math.pi)))
        shift = ops.mul(_poly(cot, _cot_derivative(n)[::-1]), math.pi ** (n + 1))
        z = ops.where(reflect, ops.sub(ops.mul(mirrored, (-1.0) ** n), shift), z)
    return ops.cast(z, out)


def _cot_derivative(n: int) -> list:
    """Coefficients (constant first) of ``P_n``: ``d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x))``
    (``P_0(c) = c``, ``P_k+1(c) = -(1 + c^2) P_k'(c)``), for the reflection
    ``psi_n(x) = (-1)^n psi_n(1 - x) - pi^(n+1) P_n(cot(pi x))``."""
    p = [0.0, 1.0]
    for _ in range(n):
        d = [k * p[k] for k in range(1, len(p))]
        p = [0.0] * (len(d) + 2)
        for k, a in enumerate(d):
            p[k] -= a
            p[k + 2] -= a
    return p


def mvlgamma(input, p):  # noqa: A002
    """Multivariate log-gamma ``p(p-1)/4 log(pi) + sum_i lgamma(x - i/2)``, i < p."""
    x = _tensor_arg("mvlgamma", input)
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = _to_float(x)
    if not _traced(x) and x.numel():
        if not bool(np.all(np.asarray(x._data) > 0.5 * (p - 1))):
            raise RuntimeError("All elements must be greater than (p-1)/2")
    total = None
    for i in range(p):
        term = ops.lgamma(ops.sub(x, i * 0.5))
        total = term if total is None else ops.add(total, term)
    return ops.add(total, p * (p - 1) * math.log(math.pi) / 4)


# ----------------------------------------------------------------------------- statistics


def nansum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    x = _tensor_arg("nansum", input)
    if x.dtype.is_floating_point:
        x = ops.where(ops.isnan(x), 0.0, x)
    return ops.sum(x, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    x = _tensor_arg("nanmean", input)
    if dtype is not None:
        x = ops.cast(x, dtype)
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{_torch_name(x.dtype)}"
        )
    valid = ops.logical_not(ops.isnan(x))
    count = ops.sum(ops.cast(valid, x.dtype), dim, keepdim)
    return ops.div(nansum(x, dim, keepdim), count)


def count_nonzero(input, dim=None):  # noqa: A002
    x = _tensor_arg("count_nonzero", input)
    axes = normalize_axes("count_nonzero", dim, x.ndim)
    return ops.sum(ops.cast(ops.ne(x.detach(), 0), dtypes.int64), axes if axes else None)


aminmax_result = return_type("aminmax", ["min", "max"])


def aminmax(input, *, dim=None, keepdim=False):  # noqa: A002
    x = _tensor_arg("aminmax", input)
    if dim is not None and x.ndim and x.shape[normalize_dim("aminmax", dim, x.ndim)] == 0:
        d = normalize_dim("aminmax", dim, x.ndim)
        raise IndexError(f"aminmax: Expected reduction dim {d} to have non-zero size.")
    if x.numel() == 0 and (
        dim is None or x.ndim == 0 or x.shape[normalize_dim("aminmax", dim, x.ndim)] == 0
    ):
        raise RuntimeError(
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has "
            "no identity."
        )
    if dim is None:
        if keepdim:
            d = tuple(range(x.ndim))
            return aminmax_result(ops.amin(x, d, True), ops.amax(x, d, True))
        return aminmax_result(ops.amin(x), ops.amax(x))
    return aminmax_result(ops.amin(x, dim, keepdim), ops.amax(x, dim, keepdim))


mode_result = return_type("mode", ["values", "indices"])


def mode(input, dim=-1, keepdim=False):  # noqa: A002
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the
    index of one occurrence: PyTorch's CPU kernel picks the last of its run after an
    unstable sort (``std::sort``), which kiln reruns eagerly on rows over 16 values without
    NaN (``tie_order``); rows up to 16 (insertion sort: the last occurrence) count pairwise,
    which is traceable (traced, longer rows give the last occurrence too)."""
    x = _tensor_arg("mode", input)
    d = normalize_dim("mode", dim, x.ndim)
    if x.ndim == 0:
        return mode_result(x, constant(0, dtypes.int64, like=x))
    if x.shape[d] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    xm = ops.movedim(x, d, -1)
    v = xm.detach()
    n = v.shape[-1]
    # NaN != NaN: each NaN counts once, as PyTorch's run lengths over its sort see them
    if n > 16 and not _traced(v) and type(v._data) is np.ndarray:
        idx = constant(_mode_index_host(v._data), dtypes.int64, like=v)
    else:
        same = ops.eq(ops.unsqueeze(v, -1), ops.unsqueeze(v, -2))
        counts = ops.sum(ops.cast(same, dtypes.int64), -1)
        best = ops.eq(counts, ops.amax(counts, -1, True))
        big = _largest(v.dtype)
        value = ops.amin(ops.where(best, v, constant(big, v.dtype, like=v)), -1, True)
        pos = arange_like(n, v)
        match = ops.eq(v, value)
        if v.dtype.is_floating_point:
            match = ops.logical_or(match, ops.logical_and(ops.isnan(v), ops.isnan(value)))
        idx = ops.amax(ops.where(match, pos, constant(-1, dtypes.int64, like=v)), -1, True)
    values = ops.gather(xm, -1, idx)
    if keepdim:
        return mode_result(ops.movedim(values, -1, d), ops.movedim(idx, -1, d))
    return mode_result(ops.squeeze(values, -1), ops.squeeze(idx, -1))


def _mode_index_host(data):
    """``mode``'s index (last occurrence of the smallest most frequent value) per row of the
    last axis, by sorting: for long rows, where pairwise counting would not fit."""
    rows = data.reshape(-1, data.shape[-1])
    out = np.empty((rows.shape[0], 1), dtype=np.int64)
    from .sorting import INTROSORT_LIMIT

    emulate = data.size <= INTROSORT_LIMIT  # (Python's introsort: seconds past it)
    for r, row in enumerate(rows):
        if emulate and (row.dtype.kind != "f" or not np.isnan(row).any()):
            # which occurrence: the one PyTorch's introsort leaves last of its run
            out[r, 0] = tie_order.mode_index(row.tolist())
            continue
        values, counts = np.unique(row, return_counts=True)  # NaNs: each once (equal_nan)
        best = values[np.argmax(counts)]  # the first of the sorted maxima: the smallest
        hits = np.nonzero(row == best)[0] if best == best else np.nonzero(row != row)[0]
        out[r, 0] = hits[-1]
    return out.reshape(data.shape[:-1] + (1,))


def _largest(dt):
    if dt.is_floating_point:
        return math.inf
    if dt is dtypes.bool_:
        return True
    return int(np.iinfo(dt.np).max)


def arange_like(n, like):
    return ops.arange(
        n, dtype=dtypes.int64, device="meta" if getattr(like, "is_meta", False) else None
    )


def _bin_positions(x, lo, hi, bins, dt):
    """Bin index of each value for ``bins`` equal bins over ``[lo, hi]`` (the last bin
    closed), and whether the value falls inside; PyTorch's arithmetic, then corrected
    against the bin edges as linspace computes them."""
    edges = constant(_linspace_like_torch(lo, hi, bins + 1, dt.np), dt, like=x)
    pos = ops.floor(ops.div(ops.mul(ops.sub(x, lo), float(bins)), hi - lo))
    inside = ops.logical_and(ops.ge(x, lo), ops.le(x, hi))
    pos = ops.cast(ops.clamp(ops.where(inside, pos, 0.0), 0.0, float(bins - 1)), dtypes.int64)
    left = ops.take(edges, pos)
    right = ops.take(edges, ops.add(pos, 1))
    pos = ops.where(ops.logical_and(ops.lt(x, left), ops.gt(pos, 0)), ops.sub(pos, 1), pos)
    up = ops.logical_and(ops.ge(x, right), ops.lt(pos, bins - 1))
    pos = ops.where(up, ops.add(pos, 1), pos)
    return pos, inside, edges


def _linspace_like_torch(start, end, steps, npdtype):
    """PyTorch's CPU linspace in the dtype: from the start for the first half, from the
    end for the second (so both ends are exact)."""
    start, end = npdtype.type(start), npdtype.type(end)
    step = (end - start) / npdtype.type(steps - 1) if steps > 1 else npdtype.type(0)
    i = np.arange(steps)
    half = steps // 2
    lo = start + step * i[:half].astype(npdtype)
    hi = end - step * (steps - 1 - i[half:]).astype(npdtype)
    return np.concatenate([lo, hi]).astype(npdtype)


def _host_range(x):
    if _traced(x):
        from kiln.compiler.errors import TraceError

        raise TraceError("histc/histogram without an explicit range read the data: eager only")
    data = np.asarray(x._data)
    if data.size == 0:
        return 0.0, 1.0  # PyTorch's range for no data
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    if finite.size != data.size:
        raise RuntimeError(f"range of [{data.min()}, {data.max()}] is not finite")
    return float(data.min()), float(data.max())


def histc(input, bins=100, min=0, max=0):  # noqa: A002
    """Histogram of ``bins`` equal bins over ``[min, max]`` (the data's range when both are
    0); values outside are ignored. Float tensors only, no gradient (as PyTorch)."""
    x = _tensor_arg("histc", input)
    if not x.dtype.is_floating_point:
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{_torch_name(x.dtype)}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for dimension 0")
    lo, hi = float(min), float(max)
    if lo == hi and x.numel():
        lo, hi = _host_range(x)
    if lo == hi:
        lo, hi = lo - 1.0, hi + 1.0
    if lo > hi:
        raise RuntimeError(f"torch.histc: max must be larger than min, but got min {lo} max {hi}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    flat = ops.reshape(x.detach(), (-1,))
    pos, inside, _ = _bin_positions(flat, lo, hi, bins, x.dtype)
    ones = ops.cast(inside, x.dtype)
    return ops.scatter_add(ops.zeros((bins,), dtype=x.dtype), 0, pos, ones)


histogram_result = return_type("histogram", ["hist", "bin_edges"])


def histogram(input, bins=100, *, range=None, weight=None, density=False):  # noqa: A002
    """``(hist, bin_edges)``: ``bins`` equal bins over ``range`` (else the data's range),
    or the given 1-D tensor of increasing edges; optional ``weight`` per value; ``density``
    divides by the total and the bin widths."""
    x = _tensor_arg("histogram", input)
    if not x.dtype.is_floating_point:
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{_torch_name(x.dtype)}'")
    flat = ops.reshape(x.detach(), (-1,))
    if isinstance(bins, Tensor):
        if bins.dtype is not x.dtype:
            raise RuntimeError(
                "torch.histogramdd: input tensor and bins tensors should have the same dtype, "
                f"but got input with dtype {x.dtype.name} and bins for dimension 0 with dtype "
                f"{bins.dtype.name}"
            )
        if bins.ndim != 1 or bins.shape[0] < 1:
            raise RuntimeError(
                "torch.histogramdd: bins tensor should have one dimension and at least 1 element"
            )
        edges = bins.detach()
        n = edges.shape[0] - 1
        ge_ = ops.ge(ops.unsqueeze(flat, -1), edges)
        pos = ops.sub(ops.sum(ops.cast(ge_, dtypes.int64), -1), 1)
        inside = ops.logical_and(ops.ge(flat, edges[0]), ops.le(flat, edges[-1]))
        pos = ops.clamp(pos, 0, builtins.max(n - 1, 0))
    else:
        n = int(bins)
        if n <= 0:
            raise RuntimeError(f"torch.histogramdd: bins must be > 0, but got {n} for dimension 0")
        if range is not None:
            lo, hi = float(range[0]), float(range[1])
        else:
            lo, hi = _host_range(x)
        if lo > hi:
            raise RuntimeError(
                f"torch.histogramdd: min should not exceed max, but got min {lo} max {hi} "
                "for dimension 0"
            )
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        pos, inside, edges = _bin_positions(flat, lo, hi, n, x.dtype)
    w = ops.cast(inside, x.dtype)
    if weight is not None:
        if tuple(weight.shape) != tuple(x.shape):
            raise RuntimeError(
                "torch.histogramdd: if weight tensor is provided it should have the same "
                f"shape as the input tensor excluding its innermost dimension, but got input "
                f"with shape {list(x.shape)} and weight with shape {list(weight.shape)}"
            )
        w = ops.mul(w, ops.reshape(ops.cast(weight.detach(), x.dtype), (-1,)))
    hist = (
        ops.scatter_add(ops.zeros((builtins.max(n, 0),), dtype=x.dtype), 0, pos, w)
        if n
        else ops.zeros((0,), dtype=x.dtype)
    )
    if density and n:
        widths = ops.sub(edges[1:], edges[:-1])
        hist = ops.div(ops.div(hist, ops.sum(hist)), widths)
    return histogram_result(hist, edges)


def bincount(input, weights=None, minlength=0):  # noqa: A002
    """Counts of each non-negative integer (weighted sums with ``weights``). The length
    depends on the data, so it runs eagerly (under ``kiln.jit`` it raises)."""
    x = _tensor_arg("bincount", input)
    if x.dtype.is_floating_point or x.dtype.is_complex:
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_torch_name(x.dtype)}'")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if x.ndim != 1:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if _traced(x):
        from kiln.compiler.errors import TraceError

        raise TraceError("bincount's output length depends on the data: eager only in kiln")
    data = np.asarray(x._data).astype(np.int64)
    if data.size and data.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is not None and (weights.ndim != 1 or weights.shape[0] != x.shape[0]):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    length = builtins.max(int(data.max()) + 1 if data.size else 0, int(minlength))
    index = ops.cast(x, dtypes.int64)
    if weights is None:
        ones = ops.ones((x.shape[0],), dtype=dtypes.int64)
        return ops.scatter_add(ops.zeros((length,), dtype=dtypes.int64), 0, index, ones)
    wdt = weights.dtype if weights.dtype.is_floating_point else F64
    w = ops.cast(weights, wdt)
    return ops.scatter_add(ops.zeros((length,), dtype=wdt), 0, index, w)


def diff(input, n=1, dim=-1, prepend=None, append=None):  # noqa: A002
    """The ``n``-th forward difference along ``dim`` (``!=`` for bool tensors), after
    concatenating ``prepend`` and ``append``."""
    x = _tensor_arg("diff", input)
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = normalize_dim("diff", dim, x.ndim)
    if n == 0:
        return x  # PyTorch: the input itself, prepend/append ignored
    parts = []
    if prepend is not None:
        parts.append(_diff_part(prepend, x, d))
    parts.append(x)
    if append is not None:
        parts.append(_diff_part(append, x, d))
    if len(parts) > 1:
        x = ops.cat(parts, d)
    for _ in range(n):
        size = x.shape[d]
        if size == 0:
            break
        hi = ops.narrow(x, d, 1, size - 1)
        lo = ops.narrow(x, d, 0, size - 1)
        x = ops.logical_xor(hi, lo) if x.dtype is dtypes.bool_ else ops.sub(hi, lo)
    return x


def gradient(input, *, spacing=1, dim=None, edge_order=1):  # noqa: A002
    """``torch.gradient``: central differences inside, one-sided (``edge_order`` 1 or 2)
    at the edges, along each of ``dim`` (all by default); ``spacing`` a number, one number
    per dimension, or one coordinate tensor per dimension. A tuple, one tensor per dim."""
    x = _tensor_arg("gradient", input)
    dims = list(range(x.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    dims = [normalize_dim("gradient", d, x.ndim) for d in dims]
    if edge_order not in (1, 2):
        raise RuntimeError(
            f"torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}"
        )
    steps = list(spacing) if isinstance(spacing, (list, tuple)) else [spacing] * len(dims)
    if len(steps) != len(dims):
        raise RuntimeError(
            f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and "
            f"dim arguments to have the same length, but got a spacing argument of length "
            f"{len(steps)} and a dim argument of length {len(dims)}."
        )
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = ops.cast(x, dtypes.get_default_dtype())
    out = []
    for d, h in zip(dims, steps, strict=True):
        size = x.shape[d]
        if size < edge_order + 1:
            raise RuntimeError(
                "torch.gradient expected each dimension size to be at least edge_order+1"
            )

        def at(start, length=1, d=d):
            return ops.narrow(x, d, start, length)

        if isinstance(h, Tensor):  # coordinates: NumPy's non-uniform formulas
            if x.requires_grad or h.requires_grad:
                raise NotImplementedError("kiln.gradient: coordinate spacing is not differentiable")
            g = np.gradient(np.asarray(x._data), np.asarray(h._data), axis=d, edge_order=edge_order)
            out.append(ops.tensor(np.ascontiguousarray(g).astype(np.asarray(x._data).dtype)))
            continue
        inner = ops.div(ops.sub(at(2, size - 2), at(0, size - 2)), 2 * h)
        if edge_order == 1:
            first = ops.div(ops.sub(at(1), at(0)), h)
            last = ops.div(ops.sub(at(size - 1), at(size - 2)), h)
        else:
            first = ops.div(
                ops.add(ops.sub(ops.mul(at(1), 4.0), ops.mul(at(0), 3.0)), ops.neg(at(2))), 2 * h
            )
            last = ops.div(
                ops.sub(
                    ops.add(ops.mul(at(size - 1), 3.0), at(size - 3)), ops.mul(at(size - 2), 4.0)
                ),
                2 * h,
            )
        out.append(ops.cat([first, inner, last], d))
    return tuple(out)


def _diff_part(extra, x, d):
    if not isinstance(extra, Tensor):
        shape = list(x.shape)
        shape[d] = 1
        return ops.full(tuple(shape), extra, dtype=x.dtype)
    if extra.ndim != x.ndim:
        raise RuntimeError("diff expects prepend or append to be the same dimension as input")
    return extra


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op, input, q, dim, keepdim, interpolation, ignore_nan):  # noqa: A002
    x = _tensor_arg(op, input)
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            f"{op}() interpolation must be one of linear, lower, higher, midpoint or "
            f"nearest, but got {interpolation}"
        )
    scalar_q = not isinstance(q, Tensor)
    if scalar_q:
        qv = float(q)
        if not 0 <= qv <= 1:
            raise RuntimeError(f"{op}() q must be in the range [0, 1] but got {qv}")
        qt = constant(np.array([qv]), x.dtype, like=x)
    else:
        if q.ndim > 1:
            raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
        if q.dtype is not x.dtype:
            raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
        scalar_q = q.ndim == 0
        qt = ops.reshape(q, (-1,))  # q gets PyTorch's gradient through the linear weights
        if not _traced(q):
            qd = np.asarray(q._data)
            if qd.size and not (np.all(qd >= 0) and np.all(qd <= 1)):
                raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
    if dim is None:
        xs = ops.reshape(x, (-1,))
        out_shape = (1,) * x.ndim if keepdim else ()
        d = 0
    else:
        d = normalize_dim(op, dim, x.ndim)
        if x.ndim == 0:
            xs = ops.reshape(x, (1,))
            d = 0
            out_shape = ()
        else:
            xs = ops.movedim(x, d, -1)
            out_shape = tuple(s if i != d else 1 for i, s in enumerate(x.shape))
            if not keepdim:
                out_shape = tuple(s for i, s in enumerate(x.shape) if i != d)
    if x.numel() == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    srt = ops.sort(xs, -1, stable=True).values
    n = srt.shape[-1]
    lead = tuple(srt.shape[:-1])
    nan_mask = ops.isnan(srt.detach())
    nq = qt.shape[0]
    qb = ops.reshape(qt, (nq,) + (1,) * len(lead))  # (nq, *lead)
    if ignore_nan:
        k = ops.sum(ops.cast(ops.logical_not(nan_mask), x.dtype), -1)  # (*lead)
        ranks = ops.mul(qb, ops.sub(k, 1.0))
        ranks = ops.where(ops.lt(ranks, 0.0), 0.0, ranks)
    else:
        ranks = ops.mul(qb, float(n - 1))
        ranks = ops.add(ranks, ops.zeros(lead, dtype=x.dtype)) if lead else ranks
        anynan = ops.any(nan_mask, -1)
        ranks = ops.where(anynan, float(n - 1), ranks)
    if interpolation == "lower":
        ranks = ops.floor(ranks)
    elif interpolation == "higher":
        ranks = ops.ceil(ranks)
    elif interpolation == "nearest":
        ranks = ops.round(ranks)
    rd = ranks.detach()
    below = ops.cast(rd, dtypes.int64)  # (nq, *lead)
    srt_b = ops.expand(ops.unsqueeze(srt, 0), (nq,) + lead + (n,))
    v_below = ops.squeeze(ops.gather(srt_b, -1, ops.unsqueeze(below, -1)), -1)
    if interpolation in ("linear", "midpoint"):
        weights = (
            constant(0.5, x.dtype, like=x)
            if interpolation == "midpoint"
            else ops.sub(ranks, ops.cast(below, x.dtype))
        )
        above = ops.cast(ops.ceil(rd), dtypes.int64)
        v_above = ops.squeeze(ops.gather(srt_b, -1, ops.unsqueeze(above, -1)), -1)
        result = _torch_lerp(v_below, v_above, weights)
    else:
        result = v_below
    if scalar_q:
        return ops.reshape(ops.squeeze(result, 0), out_shape)
    return ops.reshape(result, (nq,) + out_shape)


def _torch_lerp(a, b, w):
    """PyTorch's lerp: ``a + w (b - a)`` for ``|w| < 1/2``, else ``b - (b - a)(1 - w)``."""
    delta = ops.sub(b, a)
    small = ops.lt(ops.abs(w), 0.5)
    return ops.where(
        small, ops.add(a, ops.mul(w, delta)), ops.sub(b, ops.mul(delta, ops.sub(1.0, w)))
    )


@autocast_op("fp32")
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):  # noqa: A002
    """The ``q``-th quantiles (a number or a 1-D tensor, prepended as a dimension) along
    ``dim`` (the flattened input by default); any NaN in a slice gives NaN."""
    r = _quantile("quantile", input, q, dim, keepdim, interpolation, False)
    return _out(r, out, "quantile")


@autocast_op("fp32")
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):  # noqa: A002
    """``quantile`` ignoring NaN values (all-NaN slices give NaN)."""
    r = _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)
    return _out(r, out, "nanquantile")


def _out(result, out, op):
    if out is None:
        return result
    return (
        ops.assign(out, result, op)
        if tuple(out.shape) == tuple(result.shape)
        else _resize(out, result)
    )


def _resize(out, result):
    out._data = np.array(result._data)
    out._version += 1
    return out


def cov(input, *, correction=1, fweights=None, aweights=None):  # noqa: A002
    """Covariance of the rows (variables) over the columns (observations), with optional
    integer frequency weights and float observation weights (PyTorch's formula)."""
    x = _tensor_arg("cov", input)
    if x.ndim > 2:
        raise RuntimeError(
            "cov(): expected input to have two or fewer dimensions but got an input with "
            f"{x.ndim} dimensions"
        )
    if x.ndim < 2:
        x = ops.reshape(x, (1, -1))
    n_obs = x.shape[1]
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = ops.cast(x, dtypes.get_default_dtype())
    w = None
    if fweights is not None:
        w = _check_cov_weights("fweights", fweights, n_obs)
    if aweights is not None:
        aw = _check_cov_weights("aweights", aweights, n_obs)
        w = aw if w is None else ops.mul(w, aw)
    if w is not None:
        w = ops.reshape(w, (-1,))
        if not w.dtype.is_floating_point:
            w = ops.cast(w, x.dtype)
        w_sum = ops.sum(w)
        avg = ops.div(ops.sum(ops.mul(x, w), 1), w_sum)
    else:
        w_sum = float(n_obs)
        avg = ops.mean(x, 1)
    if w is not None and correction != 0:
        if aweights is not None:
            norm = ops.sub(
                w_sum, ops.div(ops.mul(ops.sum(ops.mul(w, aweights)), correction), w_sum)
            )
        else:
            norm = ops.sub(w_sum, correction)
    elif w is not None:
        norm = w_sum
    else:
        norm = float(n_obs - correction)
    if isinstance(norm, Tensor):
        norm = ops.where(ops.le(norm, 0.0), 0.0, norm)
    else:
        norm = builtins.max(norm, 0.0)
    xc = ops.sub(x, ops.unsqueeze(avg, 1))
    xw = ops.mul(xc, w) if w is not None else xc
    xt = ops.transpose(xw, 0, 1)
    if xt.dtype.is_complex:
        xt = xt.conj()
    c = ops.matmul(xc, xt)
    c = ops.div(c, norm)
    return ops.squeeze(c) if c.shape == (1, 1) else c


def _check_cov_weights(name, w, n_obs):
    """PyTorch's checks of ``cov``'s ``fweights`` (integral) and ``aweights`` (floating)."""
    if w.ndim > 1:
        raise RuntimeError(
            f"cov(): expected {name} to have one or fewer dimensions but got {name} with "
            f"{w.ndim} dimensions"
        )
    integral = name == "fweights"
    if (w.dtype.is_floating_point or w.dtype.is_complex) == integral:
        kind = "integral" if integral else "floating point"
        raise RuntimeError(
            f"cov(): expected {name} to have {kind} dtype but got {name} with "
            f"{_torch_name(w.dtype)} dtype"
        )
    if w.numel() != n_obs:
        raise RuntimeError(
            f"cov(): expected {name} to have the same numel as there are observations in the "
            f"input but got {w.numel()} != {n_obs}"
        )
    if not _traced(w) and w.numel() and np.asarray(w._data).min() < 0:
        raise RuntimeError(f"cov(): {name} cannot be negative")
    return w


def corrcoef(input):  # noqa: A002
    """Pearson correlation coefficients of the rows, clipped to [-1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return ops.div(c, c)
    d = ops.diagonal(c)
    std = ops.sqrt(d)
    c = ops.div(c, ops.unsqueeze(std, 1))
    c = ops.div(c, ops.unsqueeze(std, 0))
    return ops.clamp(c, -1.0, 1.0) if not c.dtype.is_complex else c


def renorm(input, p, dim, maxnorm):  # noqa: A002
    """Each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to
    ``maxnorm`` (PyTorch's factor ``maxnorm / (norm + 1e-7)``)."""
    x = _tensor_arg("renorm", input)
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        raise RuntimeError(
            f"renorm: expected a floating point or complex input, got {x.dtype.name}"
        )
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if x.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {x.ndim} dimensions")
    d = normalize_dim("renorm", dim, x.ndim)
    axes = tuple(a for a in range(x.ndim) if a != d)
    nrm = _vector_norm(x, p, axes)
    big = ops.gt(nrm, maxnorm)
    factor = ops.where(big, ops.div(maxnorm, ops.add(_safe(big, nrm, 1.0), 1e-7)), 1.0)
    return ops.mul(x, factor)


def _vector_norm(x, p, axes):
    a = ops.abs(x)
    if p == math.inf:
        return ops.amax(a, axes, True)
    if p == 2:
        return ops.norm(x, 2, axes, True)
    if p == 1:
        return ops.sum(a, axes, True)
    return ops.pow(ops.sum(ops.pow(a, float(p)), axes, True), 1.0 / p)


# ----------------------------------------------------------------------------- in place


def float_power_(x, exponent):
    """In place ``float_power``: the tensor must already be float64 (complex128)."""
    want = dtypes.complex128 if (x.dtype.is_complex or isinstance(exponent, complex)) else F64
    if isinstance(exponent, Tensor) and exponent.dtype.is_complex:
        want = dtypes.complex128
    if x.dtype is not want:
        raise RuntimeError(
            f"the base given to float_power_ has dtype {_torch_name(x.dtype)} but the "
            f"operation's result requires dtype {_torch_name(want)}"
        )
    return ops.inplace(x, "float_power_", exponent)


def _custom_inplace(x, name, fn):
    """``x`` updated to ``fn(x)`` with ``ops.inplace``'s rules (leaf check, version bump,
    the old values saved for autograd), for functions ``ops.inplace`` cannot look up."""
    from .inplace import assign, check_leaf

    check_leaf(x, name)
    operand = ops.clone(x) if x.requires_grad else x
    return assign(x, fn(operand), name)


def polygamma_(x, n):
    """In place ``x.polygamma(n)`` (the method's argument order)."""
    return _custom_inplace(x, "polygamma_", lambda v: polygamma(n, v))


def sgn_(x):
    """In place ``sgn`` (``sign`` of a real tensor)."""
    from ..complex_tensors import sgn

    return _custom_inplace(x, "sgn_", sgn)


def mvlgamma_(x, p):
    return ops.inplace(x, "mvlgamma_", p)


def renorm_(x, p, dim, maxnorm):
    return ops.inplace(x, "renorm_", p, dim, maxnorm)


# PyTorch's namespace has these in-place functions too (``torch.acos_(x)``).
_NAMESPACE_INPLACE = """
abs_ acos_ acosh_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ asin_ asinh_ atan_
atanh_ ceil_ clamp_max_ clamp_min_ clip_ cos_ cosh_ deg2rad_ erf_ erfc_ exp2_ expm1_ fix_
floor_ frac_ gcd_ i0_ lcm_ ldexp_ log10_ log1p_ log2_ log_ logit_ nan_to_num_ neg_ negative_
rad2deg_ reciprocal_ round_ rsqrt_ sin_ sinc_ sinh_ sqrt_ square_ tan_ trunc_ xlogy_
""".split()


def _install_namespace_inplace():
    from .inplace import _namespace_inplace

    for name in _NAMESPACE_INPLACE:
        globals()[name] = _namespace_inplace(name)


_install_namespace_inplace()
__all__ += _NAMESPACE_INPLACE

# The Tensor methods that update in place through ``ops.inplace`` (methods.py's math16 block).
INPLACE_METHODS = """
absolute_ acos_ acosh_ arccos_ arccosh_ arcsin_ arcsinh_ arctan2_ arctan_ arctanh_ asin_
asinh_ atan2_ atan_ atanh_ bitwise_and_ bitwise_left_shift_ bitwise_not_ bitwise_or_
bitwise_right_shift_ bitwise_xor_ ceil_ copysign_ cosh_ cumsum_ deg2rad_ digamma_ divide_ eq_
erfc_ erfinv_ exp2_ expm1_ fix_ floor_divide_ fmod_ frac_ gcd_ ge_ greater_ greater_equal_
gt_ heaviside_ hypot_ i0_ lcm_ ldexp_ le_ less_ less_equal_ lgamma_ log10_ log1p_ log2_
logical_and_ logical_or_ logical_xor_ logit_ lt_ multiply_ nan_to_num_ ne_ negative_
nextafter_ not_equal_ rad2deg_ rsqrt_ sinc_ sinh_ subtract_ tan_ true_divide_ trunc_
xlogy_
""".split()


def hash_tensor(input, dim=None, *, keepdim=False, mode=0):  # noqa: A002
    """An XOR of the elements' bits over ``dim`` (all dimensions by default), as uint64:
    each element first widened to float64 (floating dtypes) or int64 (the others, bool
    too), as PyTorch's ``hash_tensor`` (``mode=0``, its only mode). Eager only.

    >>> hash_tensor(kiln.tensor([1, 2, 3])).item()
    0
    """
    x = _tensor_arg("hash_tensor", input)
    if mode != 0:
        raise RuntimeError(f"Unknown hash_tensor mode: {mode}")
    if x.dtype.is_complex:
        raise NotImplementedError(f'"xor_sum_cpu" not implemented for {x.dtype.name}')
    if _traced(x):
        from kiln.compiler.errors import TraceError

        raise TraceError("hash_tensor reads the values' bits (uint64): eager only in kiln")
    axes = normalize_axes("hash_tensor", dim, x.ndim)
    if dim is None and x.numel() == 0:
        raise RuntimeError(
            "hash_tensor: Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )
    for a in axes:
        if x.shape[a] == 0:
            raise IndexError(f"hash_tensor: Expected reduction dim {a} to have non-zero size.")
    data = np.asarray(x.detach().numpy())
    wide = data.astype(np.float64 if x.dtype.is_floating_point else np.int64)
    bits = wide.view(np.uint64)
    out = np.bitwise_xor.reduce(bits, axis=axes, keepdims=bool(keepdim)) if axes else bits
    return constant(np.asarray(out, dtype=np.uint64), dtypes.uint64, like=x)
