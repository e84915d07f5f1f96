"""``kiln.special``: PyTorch's ``torch.special`` names over kiln's ops.

Each function is a composite of differentiable kiln ops, so gradients, ``kiln.func`` and
``kiln.jit`` come with it. They compute in float64 and return the input's floating dtype
(integer inputs give the default float dtype). The approximations are Cephes' (Stephen L.
Moshier, BSD licence), the ones PyTorch and SciPy use; accuracy is documented per function.

>>> import kiln
>>> kiln.special.expit(kiln.tensor([0.0])).tolist()
[0.5]
>>> kiln.special.ndtr(kiln.tensor([0.0, -float("inf")])).tolist()
[0.5, 0.0]
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from . import dtypes, ops
from .dispatch import constant
from .ops import math16 as _m
from .ops.math16 import _in64, _poly, _promote_float, _safe
from .tensor import Tensor

__all__ = [
    "digamma",
    "psi",
    "gammaln",
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "expit",
    "logit",
    "exp2",
    "expm1",
    "log1p",
    "xlogy",
    "xlog1py",
    "logsumexp",
    "softmax",
    "log_softmax",
    "ndtr",
    "ndtri",
    "log_ndtr",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "entr",
    "sinc",
    "round",
    "polygamma",
    "multigammaln",
    "gammainc",
    "gammaincc",
    "zeta",
]

digamma = psi = ops.digamma
gammaln = ops.lgamma
erf = ops.erf
erfc = ops.erfc
erfinv = ops.erfinv
expit = ops.sigmoid
logit = ops.logit
exp2 = ops.exp2
expm1 = ops.expm1
log1p = ops.log1p
xlogy = ops.xlogy
logsumexp = ops.logsumexp
softmax = ops.softmax
log_softmax = ops.log_softmax
i0 = ops.i0
sinc = ops.sinc
round = ops.round  # noqa: A001 - PyTorch's name
polygamma = ops.polygamma
multigammaln = ops.mvlgamma

_SQRT1_2 = math.sqrt(0.5)


def ndtr(input):  # noqa: A002
    """Standard normal CDF ``erfc(-x / sqrt 2) / 2`` (relative error below 1e-13 in both
    tails)."""
    x, out = _in64("ndtr", input)
    return ops.cast(ops.mul(_m._erfc64(ops.mul(ops.neg(x), _SQRT1_2)), 0.5), out)


def erfcx(input):  # noqa: A002
    """Scaled complementary error function ``exp(x^2) erfc(x)`` (relative error ~1e-13;
    ``1 / (sqrt(pi) x)`` beyond 5e7, inf below -26.7)."""
    x, out = _in64("erfcx", input)
    return ops.cast(_m._erfcx64(x), out)


def log_ndtr(input):  # noqa: A002
    """``log(ndtr(x))``, accurate for very negative ``x`` (through ``erfcx``) and close to 0
    for large ``x`` (through ``log1p``)."""
    x, out = _in64("log_ndtr", input)
    t = ops.mul(x, _SQRT1_2)
    low = ops.lt(x, -1.0)
    tl = _safe(low, t, -1.0)
    left = ops.sub(ops.log(ops.mul(_m._erfcx64(ops.neg(tl)), 0.5)), ops.mul(tl, tl))
    th = _safe(low, 0.0, t)
    right = ops.log1p(ops.mul(_m._erfc64(th), -0.5))
    r = ops.where(low, left, right)
    return ops.cast(ops.where(ops.isnan(x), x, r), out)


# Cephes ndtri.c: a rational function of y - 1/2 in the centre, of 1 / sqrt(-2 log y) in the
# tails (relative error ~1e-16 over (0, 1)).
_P0 = (-5.99633501014107895267e1, 9.80010754185999661536e1, -5.66762857469070293439e1,
       1.39312609387279679503e1, -1.23916583867381258016e0)  # fmt: skip
_Q0 = (1.95448858338141759834e0, 4.67627912898881538453e0, 8.63602421390890590575e1,
       -2.25462687854119370527e2, 2.00260212380060660359e2, -8.20372256168333339912e1,
       1.59056225126211695515e1, -1.18331621121330003142e0)  # fmt: skip
_P1 = (4.05544892305962419923e0, 3.15251094599893866154e1, 5.71628192246421288162e1,
       4.40805073893200834700e1, 1.46849561928858024014e1, 2.18663306850790267539e0,
       -1.40256079171354495875e-1, -3.50424626827848203418e-2,
       -8.57456785154685413611e-4)  # fmt: skip
_Q1 = (1.57799883256466749731e1, 4.53907635128879210584e1, 4.13172038254672030440e1,
       1.50425385692907503408e1, 2.50464946208309415979e0, -1.42182922854787788574e-1,
       -3.80806407691578277194e-2, -9.33259480895457427372e-4)  # fmt: skip
_P2 = (3.23774891776946035970e0, 6.91522889068984211695e0, 3.93881025292474443415e0,
       1.33303460815807542389e0, 2.01485389549179081538e-1, 1.23716634817820021358e-2,
       3.01581553508235416007e-4, 2.65806974686737550832e-6, 6.23974539184983293730e-9)  # fmt: skip
_Q2 = (6.02427039364742014255e0, 3.67983563856160859403e0, 1.37702099489081330271e0,
       2.16236993594496635890e-1, 1.34204006088543189037e-2, 3.28014464682127739104e-4,
       2.89247864745380683936e-6, 6.79019408009981274425e-9)  # fmt: skip
_EXP_M2 = 0.13533528323661269189


def ndtri(input):  # noqa: A002
    """Inverse of the standard normal CDF (``-inf`` at 0, ``inf`` at 1, NaN outside)."""
    y0, out = _in64("ndtri", input)
    upper = ops.gt(y0, 1.0 - _EXP_M2)
    y = ops.where(upper, ops.sub(1.0, y0), y0)
    central = ops.gt(y, _EXP_M2)
    yc = ops.sub(_safe(central, y, 0.5), 0.5)
    y2 = ops.mul(yc, yc)
    ratio = ops.div(_poly(y2, _P0), _m._poly1(y2, _Q0))
    x_central = ops.mul(ops.add(yc, ops.mul(yc, ops.mul(y2, ratio))), 2.50662827463100050242)
    ok = ops.logical_and(ops.gt(y, 0.0), ops.logical_not(central))
    yt = _safe(ok, y, 0.01)
    z = ops.sqrt(ops.mul(ops.log(yt), -2.0))
    x0 = ops.sub(z, ops.div(ops.log(z), z))
    inv = ops.reciprocal(z)
    near = ops.lt(z, 8.0)
    x1 = ops.where(
        near,
        ops.mul(inv, ops.div(_poly(inv, _P1), _m._poly1(inv, _Q1))),
        ops.mul(inv, ops.div(_poly(inv, _P2), _m._poly1(inv, _Q2))),
    )
    x_tail = ops.sub(x0, x1)
    x_tail = ops.where(upper, x_tail, ops.neg(x_tail))
    r = ops.where(central, x_central, x_tail)
    r = ops.where(ops.eq(y0, 0.0), -math.inf, ops.where(ops.eq(y0, 1.0), math.inf, r))
    bad = ops.logical_or(ops.lt(y0, 0.0), ops.gt(y0, 1.0))
    return ops.cast(ops.where(ops.logical_or(bad, ops.isnan(y0)), math.nan, r), out)


def i0e(input):  # noqa: A002
    """Exponentially scaled ``exp(-|x|) I0(x)`` (Cephes' Chebyshev series, ~1e-16)."""
    x, out = _in64("i0e", input)
    return ops.cast(_m._bessel_scaled(x, _m._I0_A, _m._I0_B, False), out)


def i1(input):  # noqa: A002
    """Modified Bessel function of the first kind, order 1 (Cephes, ~1e-16)."""
    x, out = _in64("i1", input)
    return ops.cast(_m._bessel(x, _m._I1_A, _m._I1_B, True), out)


def i1e(input):  # noqa: A002
    """Exponentially scaled ``exp(-|x|) I1(x)``."""
    x, out = _in64("i1e", input)
    return ops.cast(_m._bessel_scaled(x, _m._I1_A, _m._I1_B, True), out)


def entr(input):  # noqa: A002
    """Elementwise entropy ``-x log x`` (0 at 0, ``-inf`` for negative ``x``)."""
    x = input if input.dtype.is_floating_point else ops.cast(input, dtypes.get_default_dtype())
    pos = ops.gt(x, 0.0)
    xs = _safe(pos, x, 1.0)
    r = ops.where(pos, ops.neg(ops.mul(xs, ops.log(xs))), ops.where(ops.eq(x, 0.0), 0.0, -math.inf))
    return ops.where(ops.isnan(x), x, r)


def xlog1py(input, other):  # noqa: A002
    """``x * log1p(y)``, 0 where ``x`` is 0 (unless ``y`` is NaN)."""
    x, y, dt = ops.elementwise.promote_pair("xlog1py", input, other)
    if not dt.is_floating_point:
        dt = dtypes.get_default_dtype()
        x, y = ops.cast(x, dt), ops.cast(y, dt)
    zero = ops.logical_and(ops.eq(x, 0.0), ops.logical_not(ops.isnan(y)))
    return ops.where(zero, 0.0, ops.mul(x, ops.log1p(_safe(zero, 0.0, y))))


def zeta(input, other):  # noqa: A002
    """Hurwitz zeta ``sum_k (k + q)^-x`` (Cephes' Euler-Maclaurin: relative error ~1e-15
    for ``q > 0``; negative ``q`` takes more direct terms, read from the data eagerly;
    under ``kiln.jit`` a ``q`` below -1 gives NaN rather than a wrong value)."""
    x, q, out = _promote_float("zeta", input, other)
    return ops.cast(_m.zeta64(x, q), out)


def _igam_prefactor(a, x):
    """``x^a e^-x / Gamma(a)``, through logs."""
    return ops.exp(ops.sub(ops.sub(ops.mul(a, ops.log(x)), x), ops.lgamma(a)))


_TRACED_TERMS = 100  # under kiln.jit: enough for a up to _TRACED_MAX_A to double precision
_TRACED_MAX_A = 130.0


def _igam_terms(a, x) -> int:
    """Series/continued-fraction steps: near ``x = a`` both need about ``8.6 sqrt(a)`` for
    double precision. Eagerly the count follows the data's largest ``a``; traced it is
    fixed, and larger ``a`` give NaN rather than a truncated value."""
    if _m._traced(a, x):
        return _TRACED_TERMS
    av = np.asarray(a._data)
    av = av[np.isfinite(av)] if av.size else av
    amax = float(av.max()) if av.size else 1.0
    return int(builtins.min(builtins.max(60, 12 * math.sqrt(builtins.max(amax, 1.0)) + 40), 4000))


def _igam_series(a, x, n):
    """Regularized lower gamma ``P(a, x)`` by its power series (for ``x < a + 1``)."""
    term = ops.reciprocal(a)
    total = term
    r = a
    for _ in range(n):
        r = ops.add(r, 1.0)
        term = ops.mul(term, ops.div(x, r))
        total = ops.add(total, term)
    return ops.mul(total, _igam_prefactor(a, x))


def _igamc_cf(a, x, n):
    """Regularized upper gamma ``Q(a, x)`` by Legendre's continued fraction (modified
    Lentz, for ``x >= a + 1``)."""
    tiny = 1e-300
    b = ops.sub(ops.add(x, 1.0), a)
    c = constant(1.0 / tiny, dtypes.float64, like=x)
    d = ops.reciprocal(b)
    h = d
    for i in range(1, n + 1):
        an = ops.mul(ops.sub(a, float(i)), float(i))  # -i (i - a)
        b = ops.add(b, 2.0)
        d = ops.add(ops.mul(an, d), b)
        d = ops.where(ops.lt(ops.abs(d), tiny), tiny, d)
        c = ops.add(b, ops.div(an, c))
        c = ops.where(ops.lt(ops.abs(c), tiny), tiny, c)
        d = ops.reciprocal(d)
        h = ops.mul(h, ops.mul(d, c))
    return ops.mul(h, _igam_prefactor(a, x))


def _igamma(a, x, upper):
    n = _igam_terms(a, x)
    use_series = ops.lt(x, ops.add(a, 1.0))
    good = ops.logical_and(ops.gt(a, 0.0), ops.gt(x, 0.0))
    good = ops.logical_and(good, ops.logical_and(ops.isfinite(a), ops.isfinite(x)))
    s_ok = ops.logical_and(good, use_series)
    c_ok = ops.logical_and(good, ops.logical_not(use_series))
    p = _igam_series(_safe(s_ok, a, 1.0), _safe(s_ok, x, 0.5), n)
    q = _igamc_cf(_safe(c_ok, a, 1.0), _safe(c_ok, x, 3.0), n)
    if upper:
        r = ops.where(use_series, ops.sub(1.0, p), q)
    else:
        r = ops.where(use_series, p, ops.sub(1.0, q))
    if n == _TRACED_TERMS and _m._traced(a, x):
        r = ops.where(ops.logical_and(ops.gt(a, _TRACED_MAX_A), ops.isfinite(a)), math.nan, r)
    # special values, in Cephes' order (a NaN passes the checks before it)
    lower_val, upper_val = (0.0, 1.0) if not upper else (1.0, 0.0)
    r = ops.where(ops.logical_or(ops.isnan(a), ops.isnan(x)), math.nan, r)
    r = ops.where(ops.eq(x, math.inf), upper_val, r)
    r = ops.where(ops.eq(a, math.inf), ops.where(ops.eq(x, math.inf), math.nan, lower_val), r)
    r = ops.where(ops.eq(x, 0.0), lower_val, r)
    r = ops.where(ops.eq(a, 0.0), ops.where(ops.gt(x, 0.0), upper_val, math.nan), r)
    return ops.where(ops.logical_or(ops.lt(a, 0.0), ops.lt(x, 0.0)), math.nan, r)


def _igamma_args(op, input, other):  # noqa: A002
    _m._binary_tensors(f"special_{op}", input, other)
    dt = dtypes.result_type(input, other)
    if not dt.is_floating_point:
        raise NotImplementedError(f"\"igamma_cpu\" not implemented for '{_m._torch_name(dt)}'")
    return _promote_float(op, input, other)


def gammainc(input, other):  # noqa: A002
    """Regularized lower incomplete gamma ``P(a, x)``: power series below ``x = a + 1``,
    Legendre's continued fraction above. Accuracy: the ``x^a e^-x / Gamma(a)`` factor goes
    through ``lgamma``, so the relative error grows with ``a`` (~1e-12 at a = 1, ~1e-9 at
    a = 300); ``gammaincc`` from ``1 - P`` for small ``x`` keeps ~1e-12 absolute. Under
    ``kiln.jit`` the iteration count is fixed (100): ``a`` above 130 gives NaN there."""
    a, x, out = _igamma_args("gammainc", input, other)
    return ops.cast(_igamma(a, x, False), out)


def gammaincc(input, other):  # noqa: A002
    """Regularized upper incomplete gamma ``Q(a, x) = 1 - P(a, x)``."""
    a, x, out = _igamma_args("gammaincc", input, other)
    return ops.cast(_igamma(a, x, True), out)


# ----------------------------------------------------------------------------- polynomials


def _poly_args(op, input, n):  # noqa: A002
    """``(x, n, out dtype, N)``: float64 ``x``, ``n`` truncated to integers (as PyTorch's
    cast), and the largest degree ``N`` the recurrence must reach."""
    if not isinstance(input, Tensor) and not isinstance(n, Tensor):
        raise TypeError(f"{op}(): expected a Tensor for input or n")
    like = input if isinstance(input, Tensor) else n
    dt = dtypes.result_type(input, n)
    out = dt if dt.is_floating_point else dtypes.get_default_dtype()
    x = ops.cast(input, dtypes.float64) if isinstance(input, Tensor) else None
    if x is None:
        x = constant(float(input), dtypes.float64, like=like)
    if isinstance(n, Tensor):
        nf = ops.trunc(ops.cast(n.detach(), dtypes.float64))
        if _m._traced(n):
            from kiln.compiler.errors import TraceError

            raise TraceError(
                f"{op}: the recurrence runs to n's largest value, which a traced n hides; "
                "pass n as a Python int under kiln.jit"
            )
        data = np.asarray(nf._data)
        finite = data[np.isfinite(data)]
        top = int(finite.max()) if finite.size else 0
    else:
        top = int(n)
        nf = constant(float(top), dtypes.float64, like=like)
    if top > 1_000_000:
        raise RuntimeError(f"{op}: n = {top} is too large for kiln's unrolled recurrence")
    x, nf = ops.broadcast_tensors(x.detach(), nf)
    return x, nf, out, builtins.max(top, 1)


def _recurrence(x, nf, top, p0, p1, step):
    """``P_n(x)`` per element from ``P_0 = p0``, ``P_1 = p1`` and
    ``P_{k+1} = step(k, x, P_{k-1}, P_k)``, read off where ``k == n``."""
    result = ops.where(ops.eq(nf, 0.0), p0, p1)
    p, q = p0, p1
    for k in range(1, top):
        p, q = q, step(float(k), x, p, q)
        result = ops.where(ops.eq(nf, float(k + 1)), q, result)
    return result


def _odd(nf):
    return ops.ne(ops.remainder(nf, 2.0), 0.0)


def _finish(r, x, nf, out, unit=None, trig=None):
    """PyTorch's branch order: ``n < 0`` gives 0, then the values at ``|x| = 1``, then a
    closed form for large ``n`` inside (-1, 1), then the recurrence ``r``."""
    if trig is not None:
        threshold, closed = trig
        use = ops.logical_and(ops.gt(nf, threshold), ops.lt(ops.abs(x), 1.0))
        r = ops.where(use, closed(_safe(use, x, 0.5), nf), r)
    if unit is not None:
        r = ops.where(ops.eq(ops.abs(x), 1.0), unit(x, nf), r)
    r = ops.where(ops.lt(nf, 0.0), 0.0, r)
    return ops.cast(r, out)


def _sign_unit(x, nf, value_pos, value_neg_even, value_neg_odd):
    return ops.where(ops.gt(x, 0.0), value_pos, ops.where(_odd(nf), value_neg_odd, value_neg_even))


def chebyshev_polynomial_t(input, n):  # noqa: A002
    """Chebyshev polynomial of the first kind ``T_n(x)`` (``cos(n acos x)`` for n > 6
    inside (-1, 1), as PyTorch)."""
    x, nf, out, top = _poly_args("chebyshev_polynomial_t", input, n)
    one = ops.ones_like(x)
    r = _recurrence(x, nf, top, one, x, lambda k, x, p, q: ops.sub(ops.mul(ops.add(x, x), q), p))

    def unit(x, nf):
        return _sign_unit(x, nf, 1.0, 1.0, -1.0)

    def closed(x, nf):
        return ops.cos(ops.mul(nf, ops.acos(x)))

    return _finish(r, x, nf, out, unit, (6.0, closed))


def chebyshev_polynomial_u(input, n):  # noqa: A002
    """Chebyshev polynomial of the second kind ``U_n(x)``."""
    x, nf, out, top = _poly_args("chebyshev_polynomial_u", input, n)
    one = ops.ones_like(x)
    r = _recurrence(
        x, nf, top, one, ops.add(x, x), lambda k, x, p, q: ops.sub(ops.mul(ops.add(x, x), q), p)
    )

    def unit(x, nf):
        n1 = ops.add(nf, 1.0)
        return _sign_unit(x, nf, n1, n1, ops.neg(n1))

    def closed(x, nf):
        t = ops.acos(x)
        s = ops.sin(t)
        zero = ops.eq(s, 0.0)
        n1 = ops.add(nf, 1.0)
        return ops.where(
            zero,
            ops.mul(ops.mul(n1, ops.cos(ops.mul(n1, t))), x),
            ops.div(ops.sin(ops.mul(n1, t)), _safe(zero, 1.0, s)),
        )

    return _finish(r, x, nf, out, unit, (8.0, closed))


def chebyshev_polynomial_v(input, n):  # noqa: A002
    """Chebyshev polynomial of the third kind ``V_n(x)``."""
    x, nf, out, top = _poly_args("chebyshev_polynomial_v", input, n)
    one = ops.ones_like(x)
    r = _recurrence(
        x,
        nf,
        top,
        one,
        ops.sub(ops.add(x, x), 1.0),
        lambda k, x, p, q: ops.sub(ops.mul(ops.add(x, x), q), p),
    )

    def unit(x, nf):
        m = ops.add(ops.add(nf, nf), 1.0)
        return _sign_unit(x, nf, 1.0, m, ops.neg(m))

    def closed(x, nf):
        t = ops.acos(x)
        c = ops.cos(ops.mul(t, 0.5))
        return ops.div(ops.cos(ops.mul(ops.add(nf, 0.5), t)), c)

    return _finish(r, x, nf, out, unit, (8.0, closed))


def chebyshev_polynomial_w(input, n):  # noqa: A002
    """Chebyshev polynomial of the fourth kind ``W_n(x)``."""
    x, nf, out, top = _poly_args("chebyshev_polynomial_w", input, n)
    one = ops.ones_like(x)
    r = _recurrence(
        x,
        nf,
        top,
        one,
        ops.add(ops.add(x, x), 1.0),
        lambda k, x, p, q: ops.sub(ops.mul(ops.add(x, x), q), p),
    )

    def unit(x, nf):
        m = ops.add(ops.add(nf, nf), 1.0)
        return _sign_unit(x, nf, m, 1.0, -1.0)

    def closed(x, nf):
        t = ops.acos(x)
        s = ops.sin(ops.mul(t, 0.5))
        return ops.div(ops.sin(ops.mul(ops.add(nf, 0.5), t)), s)

    return _finish(r, x, nf, out, unit, (8.0, closed))


def hermite_polynomial_h(input, n):  # noqa: A002
    """Physicists' Hermite polynomial ``H_n(x)`` (``H_{k+1} = 2x H_k - 2k H_{k-1}``)."""
    x, nf, out, top = _poly_args("hermite_polynomial_h", input, n)
    r = _recurrence(
        x, nf, top, ops.ones_like(x), ops.add(x, x),
        lambda k, x, p, q: ops.sub(ops.mul(ops.add(x, x), q), ops.mul(p, 2.0 * k)),
    )  # fmt: skip
    return _finish(r, x, nf, out)


def hermite_polynomial_he(input, n):  # noqa: A002
    """Probabilists' Hermite polynomial ``He_n(x)`` (``He_{k+1} = x He_k - k He_{k-1}``)."""
    x, nf, out, top = _poly_args("hermite_polynomial_he", input, n)
    r = _recurrence(
        x, nf, top, ops.ones_like(x), x, lambda k, x, p, q: ops.sub(ops.mul(x, q), ops.mul(p, k))
    )
    return _finish(r, x, nf, out)


def laguerre_polynomial_l(input, n):  # noqa: A002
    """Laguerre polynomial ``L_n(x)`` (1 at x = 0)."""
    x, nf, out, top = _poly_args("laguerre_polynomial_l", input, n)

    def step(k, x, p, q):
        return ops.div(ops.sub(ops.mul(ops.sub(2.0 * k + 1.0, x), q), ops.mul(p, k)), k + 1.0)

    r = _recurrence(x, nf, top, ops.ones_like(x), ops.sub(1.0, x), step)
    r = ops.where(ops.eq(x, 0.0), 1.0, r)
    return _finish(r, x, nf, out)


def legendre_polynomial_p(input, n):  # noqa: A002
    """Legendre polynomial ``P_n(x)``."""
    x, nf, out, top = _poly_args("legendre_polynomial_p", input, n)

    def step(k, x, p, q):
        return ops.div(ops.sub(ops.mul(ops.mul(x, q), 2.0 * k + 1.0), ops.mul(p, k)), k + 1.0)

    r = _recurrence(x, nf, top, ops.ones_like(x), x, step)

    def unit(x, nf):
        return _sign_unit(x, nf, 1.0, 1.0, -1.0)

    return _finish(r, x, nf, out, unit)


def _shifted(fn):
    def shifted(input, n):  # noqa: A002
        x = input
        if isinstance(x, Tensor):
            x = ops.sub(ops.mul(ops.cast(x, dtypes.float64), 2.0), 1.0)
            out = dtypes.result_type(input, n)
            out = out if out.is_floating_point else dtypes.get_default_dtype()
            return ops.cast(fn(x, n), out)
        return fn(2.0 * float(x) - 1.0, n)

    shifted.__name__ = "shifted_" + fn.__name__
    shifted.__doc__ = f"``{fn.__name__}(2x - 1, n)``."
    return shifted


shifted_chebyshev_polynomial_t = _shifted(chebyshev_polynomial_t)
shifted_chebyshev_polynomial_u = _shifted(chebyshev_polynomial_u)
shifted_chebyshev_polynomial_v = _shifted(chebyshev_polynomial_v)
shifted_chebyshev_polynomial_w = _shifted(chebyshev_polynomial_w)


def spherical_bessel_j0(input):  # noqa: A002
    """``sin(x) / x`` (1 at 0)."""
    x, out = _in64("spherical_bessel_j0", input)
    zero = ops.eq(x, 0.0)
    xs = _safe(zero, 1.0, x)
    r = ops.where(zero, 1.0, ops.div(ops.sin(xs), xs))
    return ops.cast(ops.where(ops.isinf(x), 0.0, r), out)


modified_bessel_i0 = i0


def modified_bessel_i1(input):  # noqa: A002
    """``I1(x)`` (as ``i1``)."""
    return i1(input)


__all__ += [
    "chebyshev_polynomial_t",
    "chebyshev_polynomial_u",
    "chebyshev_polynomial_v",
    "chebyshev_polynomial_w",
    "shifted_chebyshev_polynomial_t",
    "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w",
    "hermite_polynomial_h",
    "hermite_polynomial_he",
    "laguerre_polynomial_l",
    "legendre_polynomial_p",
    "spherical_bessel_j0",
    "modified_bessel_i0",
    "modified_bessel_i1",
]
