"""Vectorizable float32 ``exp``, ``log``, ``tanh`` and ``erf`` for generated CPU kernels.

Numba on this platform has no SVML (Intel's short-vector math library), so a call to
``math.tanh`` inside a ``prange`` loop stays a scalar libm call and blocks LLVM's loop
vectorizer. The functions here are written only with ``+ - * /``, ``np.floor``,
comparisons, selects and integer/float bit casts, all of which LLVM vectorizes, so a fused
float32 kernel that uses them runs as SIMD code.

Each function is a Numba ``njit`` function of one float32 returning float32; a code
generator imports them where a kernel calls them: the op table's CPU float32 expressions
(``PRIMITIVES["tanh"].exprs["cpu:float32"] == "fast_tanh({0})"``) name them, in place of
the default ``math.tanh(x)`` (``FAST_FUNCTIONS`` lists them; CUDA keeps ``math.*``):

>>> import numpy as np
>>> float(fast_exp(np.float32(1.0)))
2.7182817459106445

Accuracy: the largest error over *every* finite float32 input (exhaustive runs against
float64 ``math`` functions), in units in the last place of the float32 result; a correctly
rounded function would score 0.5. The functions are inlined into the caller and take its
fastmath flags, so the error is given for a caller compiled without flags ("strict") and
with ``{"contract"}`` or ``{"arcp", "contract"}`` (these two gave identical numbers).
``MAX_ULP`` holds the bounds that ``tests/test_fastmath.py`` checks on a dense sweep.

=========  ======  ========  =======  ================================================
function   strict  contract  MAX_ULP  method
=========  ======  ========  =======  ================================================
fast_exp   0.99    1.01      1.5      Cody-Waite reduction ``x = k*ln2 + r``, Cephes
                                      polynomial, ``2**k`` built from exponent bits
                                      (two factors: subnormal results round once)
fast_log   0.83    0.83      1.0      exponent/mantissa split by bits, Cephes
                                      polynomial
fast_tanh  1.33    1.33      1.5      odd minimax polynomial for ``|x| < 0.625``,
                                      ``1 - 2/(exp(2|x|) + 1)`` above
fast_erf   1.32    1.13      1.5      ``x + x*P(x*x)`` for ``|x| < 1``,
                                      ``1 - exp(-Q(|x|))`` above (P, Q: minimax fits
                                      made for this module)
=========  ======  ========  =======  ================================================

float64 versions (``fast_exp64``, ``fast_log64``, ``fast_tanh64``: the op table's
``cpu:float64`` expressions; float64 ``erf`` keeps libm) use the same methods in double
precision; largest error against NumPy (itself within 1 ulp) over 1.2 million values
across every exponent, subnormals and dense samples at each method's boundaries
(``tests/test_fastmath64.py``, ``MAX_ULP_64``): exp 1 ulp, log 1 ulp, tanh 3 ulp (2 ulp
from 0.18 on, 3 in a few places up to 9.5: ``-e / (2 + e)`` rounds three times). On
2**22 float64 in a kernel: exp 11.7 ms, log 13.4 ms, tanh 13.4 ms, against NumPy's 29.5,
25.7 and 84.5 ms (loaded 2-core machine, best of 5).

IEEE special values are exact: ``exp(inf) = inf``, ``exp(-inf) = 0``, ``log(0) = -inf``,
``log(x < 0) = nan``, ``log(inf) = inf``, ``tanh(+-inf) = +-1``, ``erf(+-inf) = +-1``,
``-0.0`` keeps its sign in ``tanh``/``erf``, and nan propagates everywhere.

**Callers must not compile with ``fastmath=True``**: its ``nnan``/``ninf`` flags let LLVM
delete the selects that give the special values. ``fastmath={"contract"}`` (fused
multiply-add) is safe; that is what these functions use themselves.

Which LLVM fast-math flags keep special values (inf, nan, -0.0, subnormals) as NumPy has
them; checked by ``tests/test_edge_values.py`` (every primitive, every op-table row):

========  ========================================================================
flag      on special values
========  ========================================================================
contract  safe: only rounding changes (an FMA may keep finite what ``a*b`` rounded
          to inf first); used by every kernel
reassoc   safe on a sum (any order of ``inf + -inf`` is nan; rounding changes, a zero
          sum may flip sign); unsafe on other math: LLVM factors ``0.5*v - v``
          into ``-0.5*v``, +inf where it was nan. The native back end puts it on
          reductions' accumulating adds only; Numba (per function) on whole row
          kernels
nsz       unsafe: -0.0 may become +0.0 (``x * 0``, ``-(a - b)``)
arcp      unsafe: ``1 / sqrt(x)`` becomes a reciprocal-sqrt estimate, NaN at 0 and inf
afn       unsafe: ``x ** 1.5`` becomes ``x * sqrt(x)`` (NaN at -inf), ``pow`` loses its
          special values
nnan      unsafe: selects and comparisons that test for nan are deleted
ninf      unsafe: the same for inf (``exp`` overflow, ``log(0)``)
========  ========================================================================

Speed (``python -m kiln.compiler.codegen.fastmath``): a ``prange`` loop over 2**24 float32,
2-core AMD EPYC (AVX-512, FMA), Numba 0.68, best of 5 runs; typical of three runs on a
machine shared with other jobs (spread about +-30%). "packed" counts SIMD float32
arithmetic instructions in the loop: 0 means it did not vectorize.

==========  ==================  ===================  =======
loop body   math.* (packed)     fast_* (packed)      speedup
==========  ==================  ===================  =======
exp         16.6 ms (0)         3.7 ms (52)          4.5x
log         16.5 ms (0)         3.3 ms (72)          5.0x
tanh        107.0 ms (0)        3.4 ms (100)         31x
erf         122.3 ms (0)        4.6 ms (120)         26x
tanh-GELU   122.7 ms (28)       4.1 ms (128)         30x
==========  ==================  ===================  =======

The functions are ``inline="always"``: Numba pastes their body into the caller, where
LLVM can vectorize it. A helper that wraps a call in an ordinary (not inlined) ``njit``
function blocks that again, so generated kernels should call ``fast_tanh`` directly in
the loop body (or mark their helpers ``inline="always"`` too).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba import types
from numba.extending import intrinsic

# Each op's fast function, as the op table's "cpu:float32" expressions call it (float32
# only; tests/test_primitives.py checks that the two agree).
from .helper_names import (  # noqa: E402,F401  (defined where Numba is not needed)
    FAST_FUNCTIONS,
    FAST_FUNCTIONS_64,
)

# Bounds on the error in float32 ulp against float64 (measured: module docstring).
MAX_ULP = {"exp": 1.5, "log": 1.0, "tanh": 1.5, "erf": 1.5}
# Bounds on the float64 functions' error in ulp against NumPy (itself within 1 ulp).
MAX_ULP_64 = {"exp": 2.0, "log": 2.0, "tanh": 3.0}
# In row kernels (``reassoc``, so that reductions vectorize) LLVM may regroup the
# polynomials: fast_log reaches 1.42 ulp there on the test sweep.
MAX_ULP_REASSOC = {**MAX_ULP, "log": 1.5}

# Flags for these functions: fused multiply-add only. nnan/ninf would break special values.
_FLAGS = {"contract"}

_jit = numba.njit(fastmath=_FLAGS, cache=True, inline="always")


# ----------------------------------------------------------------------------- bit casts


@intrinsic
def float32_from_bits(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as a float32 (``0x3F800000`` -> 1.0)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        # Numba widens int32 arithmetic to int64; keep the low 32 bits.
        low = args[0]
        if bits.bitwidth > 32:
            low = builder.trunc(low, llvm_ir.IntType(32))
        elif bits.bitwidth < 32:
            low = builder.zext(low, llvm_ir.IntType(32))
        return builder.bitcast(low, llvm_ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def bits_from_float32(typingctx, value):
    """Reinterpret a float32 as the int32 with the same bits (1.0 -> ``0x3F800000``)."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(32))

    return types.int32(types.float32), codegen


_INF = np.float32(np.inf)
_NAN = np.float32(np.nan)


# ---------------------------------------------------------------------------------- exp

_LOG2E = np.float32(1.44269504088896341)
# ln 2 split so that k * _LN2_HI is exact for |k| < 2**9 (Cody-Waite reduction).
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_EXP_OVERFLOW = np.float32(88.72283935546875)  # above: exp(x) > float32 max
_EXP_UNDERFLOW = np.float32(-103.972084045410)  # below: exp(x) < half the smallest subnormal


@_jit
def fast_exp(x):
    """``exp`` of a float32 (max 1 ulp): ``fast_exp(np.float32(0)) == 1``."""
    # Clamp first so that the integer exponent below stays in range; the selects at the end
    # restore inf/0/nan.
    clamped = min(max(x, np.float32(-104.0)), np.float32(89.0))
    k = np.floor(clamped * _LOG2E + np.float32(0.5))
    r = clamped - k * _LN2_HI
    r = r - k * _LN2_LO
    r2 = r * r
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r2 + r + np.float32(1.0)
    # 2**k as two normal factors, so that results in the subnormal range round only once.
    ki = np.int32(k)
    half = ki >> np.int32(1)
    scale1 = float32_from_bits((half + np.int32(127)) << np.int32(23))
    scale2 = float32_from_bits((ki - half + np.int32(127)) << np.int32(23))
    result = p * scale1 * scale2
    result = _INF if x > _EXP_OVERFLOW else result
    result = np.float32(0.0) if x < _EXP_UNDERFLOW else result
    return x if x != x else result


# ---------------------------------------------------------------------------------- log

_SQRT_HALF = np.float32(0.707106781186547524)


@_jit
def fast_log(x):
    """Natural ``log`` of a float32 (max 1 ulp): ``fast_log(np.float32(1)) == 0``."""
    # Subnormals: scale by 2**23 into the normal range, and remember it in the exponent.
    is_subnormal = x < np.float32(1.17549435e-38)
    scaled = x * np.float32(8388608.0) if is_subnormal else x
    bits = bits_from_float32(scaled)
    # x = m * 2**e with m in [0.5, 1): exponent field minus 126, mantissa with exponent -1.
    e = np.float32((bits >> np.int32(23)) - np.int32(126))
    e = e - np.float32(23.0) if is_subnormal else e
    m = float32_from_bits((bits & np.int32(0x007FFFFF)) | np.int32(0x3F000000))
    # Move m into [sqrt(1/2), sqrt(2)) so that f = m - 1 is small.
    small = m < _SQRT_HALF
    e = e - np.float32(1.0) if small else e
    f = (m + m if small else m) - np.float32(1.0)
    z = f * f
    y = np.float32(7.0376836292e-2)
    y = y * f - np.float32(1.1514610310e-1)
    y = y * f + np.float32(1.1676998740e-1)
    y = y * f - np.float32(1.2420140846e-1)
    y = y * f + np.float32(1.4249322787e-1)
    y = y * f - np.float32(1.6668057665e-1)
    y = y * f + np.float32(2.0000714765e-1)
    y = y * f - np.float32(2.4999993993e-1)
    y = y * f + np.float32(3.3333331174e-1)
    y = y * f * z
    y = y + e * _LN2_LO
    y = y - np.float32(0.5) * z
    result = f + y
    result = result + e * _LN2_HI
    result = _INF if x == _INF else result
    result = -_INF if x == np.float32(0.0) else result
    result = _NAN if x < np.float32(0.0) else result
    return x if x != x else result


# --------------------------------------------------------------------------------- tanh


@_jit
def fast_tanh(x):
    """``tanh`` of a float32 (max 2 ulp): ``fast_tanh(np.float32(np.inf)) == 1``."""
    a = abs(x)
    # |x| < 0.625: tanh(x) = x + x**3 * P(x**2), a minimax fit of (tanh(x) - x) / x**3.
    s = x * x
    p = np.float32(1.9776534754782915e-3)
    p = p * s - np.float32(8.053073659539223e-3)
    p = p * s + np.float32(2.1677624434232712e-2)
    p = p * s - np.float32(5.394829064607620e-2)
    p = p * s + np.float32(1.3333266973495483e-1)
    p = p * s - np.float32(3.333333432674408e-1)
    near_zero = p * s * x + x
    # Below 2**-12 tanh(x) rounds to x; returning x itself also keeps the sign of -0.0.
    near_zero = x if a < np.float32(2.44140625e-4) else near_zero
    # Otherwise 1 - 2 / (exp(2|x|) + 1): no cancellation, as the result is above 0.55;
    # exp overflows to inf for large |x|, which gives exactly 1.
    far = np.float32(1.0) - np.float32(2.0) / (fast_exp(a + a) + np.float32(1.0))
    far = -far if x < np.float32(0.0) else far
    return near_zero if a < np.float32(0.625) else far


# ---------------------------------------------------------------------------------- erf


@_jit
def fast_erf(x):
    """The error function of a float32 (max 2 ulp): ``fast_erf(np.float32(0)) == 0``."""
    a = abs(x)
    # |x| < 1: erf(x) = x * P(x**2), a minimax fit of erf(x)/x, evaluated as x + x*(P - 1)
    # so that the rounding errors of the polynomial shrink by (P - 1) / P < 1/8.
    s = x * x
    p = np.float32(7.853982242522761e-05)
    p = p * s - np.float32(8.010233286768198e-4)
    p = p * s + np.float32(5.188332870602608e-3)
    p = p * s - np.float32(2.6853814721107483e-2)
    p = p * s + np.float32(1.128358542919159e-1)
    p = p * s - np.float32(3.761262595653534e-1)
    p = p * s + np.float32(1.2837916709551257e-1)
    near_zero = p * x + x
    # |x| >= 1: erf(x) = 1 - exp(-Q(|x|)), Q a minimax fit of -log(erfc(x)) on [1, 4];
    # erf rounds to 1 in float32 from 3.92 on, so |x| is clamped to 4 (nan passes through).
    t = np.float32(4.0) if a > np.float32(4.0) else a
    q = np.float32(-1.6432223901574616e-06)
    q = q * t + np.float32(4.616554724634625e-05)
    q = q * t - np.float32(5.975966341793537e-4)
    q = q * t + np.float32(4.762717988342047e-3)
    q = q * t - np.float32(2.6428230106830597e-2)
    q = q * t + np.float32(1.100892722606659e-1)
    q = q * t + np.float32(6.318199038505554e-1)
    q = q * t + np.float32(1.1302348375320435)
    q = q * t - np.float32(3.19941493216902e-4)
    far = np.float32(1.0) - fast_exp(-q)
    far = -far if x < np.float32(0.0) else far
    return near_zero if a < np.float32(1.0) else far


FUNCTIONS = {"exp": fast_exp, "log": fast_log, "tanh": fast_tanh, "erf": fast_erf}


# ------------------------------------------------------------------------------ float64
#
# The same methods in double precision, for float64 kernels: exp (Cody-Waite reduction,
# Taylor polynomial of degree 13, whose truncation error 3.6e-7/14! ~ 4e-18 is below half
# an ulp), log (fdlibm's ``log(1 + f) = f - (hfsq - s*(hfsq + R))`` with R's Taylor series
# in ``s**2`` to 11 terms: truncation below 2**-60), tanh (``-e / (2 + e)`` with
# ``e = expm1(-2|x|)``, expm1 by the same reduction and a degree-14 Taylor polynomial, so
# no cancellation near 0). erf keeps libm in float64. Bounds: ``MAX_ULP_64``, checked by
# tests/test_fastmath64.py against NumPy over every exponent, specials and subnormals.


@intrinsic
def float64_from_bits(typingctx, bits):
    """Reinterpret a 64-bit integer as a float64 (``0x3FF0000000000000`` -> 1.0)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth < 64:
            value = builder.sext(value, llvm_ir.IntType(64))
        return builder.bitcast(value, llvm_ir.DoubleType())

    return types.float64(bits), codegen


@intrinsic
def bits_from_float64(typingctx, value):
    """Reinterpret a float64 as the int64 with the same bits."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(64))

    return types.int64(types.float64), codegen


_LOG2E_64 = 1.4426950408889634
# ln 2 split as fdlibm does: k * _LN2_HI_64 is exact for |k| < 2**11
_LN2_HI_64 = 6.93147180369123816490e-01
_LN2_LO_64 = 1.90821492927058770002e-10
_EXP_OVERFLOW_64 = 709.782712893384  # above: exp(x) > float64 max
_EXP_UNDERFLOW_64 = -745.1332191019412  # below: exp(x) < half the smallest subnormal
_SQRT_HALF_64 = 0.7071067811865476


@_jit
def fast_exp64(x):
    """``exp`` of a float64 (max ``MAX_ULP_64["exp"]`` ulp)."""
    clamped = min(max(x, -746.0), 710.0)
    k = np.floor(clamped * _LOG2E_64 + 0.5)
    r = clamped - k * _LN2_HI_64
    r = r - k * _LN2_LO_64
    p = 1.6059043836821613e-10
    p = p * r + 2.08767569878681e-09
    p = p * r + 2.505210838544172e-08
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.7557319223985893e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 0.0001984126984126984
    p = p * r + 0.001388888888888889
    p = p * r + 0.008333333333333333
    p = p * r + 0.041666666666666664
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ki = np.int64(k)
    half = ki >> 1
    scale1 = float64_from_bits((half + 1023) << 52)
    scale2 = float64_from_bits((ki - half + 1023) << 52)
    result = p * scale1 * scale2
    result = math.inf if x > _EXP_OVERFLOW_64 else result
    result = 0.0 if x < _EXP_UNDERFLOW_64 else result
    return x if x != x else result


@_jit
def fast_log64(x):
    """Natural ``log`` of a float64 (max ``MAX_ULP_64["log"]`` ulp)."""
    is_subnormal = x < 2.2250738585072014e-308
    scaled = x * 18014398509481984.0 if is_subnormal else x  # (2**54)
    bits = bits_from_float64(scaled)
    e = np.float64((bits >> 52) - 1022)
    e = e - 54.0 if is_subnormal else e
    m = float64_from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FE0000000000000)
    small = m < _SQRT_HALF_64
    e = e - 1.0 if small else e
    f = (m + m if small else m) - 1.0
    s = f / (2.0 + f)
    z = s * s
    q = 0.08695652173913043
    q = q * z + 0.09523809523809523
    q = q * z + 0.10526315789473684
    q = q * z + 0.11764705882352941
    q = q * z + 0.13333333333333333
    q = q * z + 0.15384615384615385
    q = q * z + 0.18181818181818182
    q = q * z + 0.2222222222222222
    q = q * z + 0.2857142857142857
    q = q * z + 0.4
    q = q * z + 0.6666666666666666
    q = q * z
    hfsq = 0.5 * f * f
    result = e * _LN2_HI_64 - ((hfsq - (s * (hfsq + q) + e * _LN2_LO_64)) - f)
    result = math.inf if x == math.inf else result
    result = -math.inf if x == 0.0 else result
    result = math.nan if x < 0.0 else result
    return x if x != x else result


@_jit
def fast_tanh64(x):
    """``tanh`` of a float64 (max ``MAX_ULP_64["tanh"]`` ulp)."""
    a = abs(x)
    y = -2.0 * min(a, 40.0)  # (tanh rounds to 1 from |x| = 19.1 on)
    k = np.floor(y * _LOG2E_64 + 0.5)
    r = y - k * _LN2_HI_64
    r = r - k * _LN2_LO_64
    p = 1.1470745597729725e-11
    p = p * r + 1.6059043836821613e-10
    p = p * r + 2.08767569878681e-09
    p = p * r + 2.505210838544172e-08
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.7557319223985893e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 0.0001984126984126984
    p = p * r + 0.001388888888888889
    p = p * r + 0.008333333333333333
    p = p * r + 0.041666666666666664
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1.0
    em = p * r  # expm1(r)
    scale = float64_from_bits((np.int64(k) + 1023) << 52)
    e = scale * em + (scale - 1.0)  # expm1(y) = 2**k * expm1(r) + (2**k - 1)
    t = -e / (2.0 + e)
    t = -t if x < 0.0 else t
    # below 2**-28 tanh(x) rounds to x (which also keeps the sign of -0.0)
    t = x if a < 3.725290298461914e-09 else t
    return x if x != x else t


FUNCTIONS_64 = {"exp": fast_exp64, "log": fast_log64, "tanh": fast_tanh64}


# ---------------------------------------------------------------------------- benchmark


# inline="always" like the fast functions: a call that LLVM does not inline blocks SIMD.
@numba.njit(fastmath=_FLAGS, inline="always")
def _gelu_with_math_tanh(x):
    inner = np.float32(0.7978845608) * (x + np.float32(0.044715) * x * x * x)
    return np.float32(0.5) * x * (np.float32(1.0) + math.tanh(inner))


@numba.njit(fastmath=_FLAGS, inline="always")
def _gelu_with_fast_tanh(x):
    inner = np.float32(0.7978845608) * (x + np.float32(0.044715) * x * x * x)
    return np.float32(0.5) * x * (np.float32(1.0) + fast_tanh(inner))


def _make_loop(function):
    @numba.njit(parallel=True, fastmath=_FLAGS)
    def loop(values, out):
        for i in numba.prange(values.shape[0]):
            out[i] = function(values[i])

    return loop


def packed_instruction_count(loop) -> int:
    """How many packed (SIMD) float32 arithmetic instructions a compiled ``prange`` loop has.

    The loop body lives in a separate "parfor gufunc" library that ``inspect_asm`` does not
    show, so this reads the assembly of the libraries the loop links in. Zero means LLVM did
    not vectorize it (a libm call in the body, typically).
    """
    import re

    count = 0
    for overload in loop.overloads.values():
        for library in overload.library._linking_libraries:
            asm = library.get_asm_str()
            count += len(re.findall(r"\bv?(?:fn?madd\w*|mul|add|sub|div)ps\b", asm))
    return count


def benchmark(size: int = 1 << 24, repeats: int = 5) -> dict[str, tuple[float, float, int, int]]:
    """Time a ``prange`` loop over ``size`` float32 with ``math.<name>`` and ``fast_<name>``.

    The extra row ``gelu`` is the tanh approximation of GELU written with each ``tanh``.

    Returns ``{name: (math_seconds, fast_seconds, math_packed, fast_packed)}`` (best of
    ``repeats``; ``*_packed`` from ``packed_instruction_count``). Not a test: the numbers
    depend on the machine; ``python -m kiln.compiler.codegen.fastmath`` prints them.
    """
    import time

    rng = np.random.default_rng(0)
    inputs = {
        "exp": rng.uniform(-80, 80, size).astype(np.float32),
        "log": rng.uniform(1e-30, 1e30, size).astype(np.float32),
        "tanh": rng.uniform(-6, 6, size).astype(np.float32),
        "erf": rng.uniform(-4, 4, size).astype(np.float32),
    }
    inputs["gelu"] = inputs["tanh"]
    references = {
        "exp": math.exp,
        "log": math.log,
        "tanh": math.tanh,
        "erf": math.erf,
        "gelu": _gelu_with_math_tanh,
    }
    results = {}
    for name, fast in [*FUNCTIONS.items(), ("gelu", _gelu_with_fast_tanh)]:
        values = inputs[name]
        out = np.empty_like(values)
        times, packed = [], []
        for function in (references[name], fast):
            loop = _make_loop(function)
            loop(values[:16], out[:16])  # compile
            best = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                loop(values, out)
                best = min(best, time.perf_counter() - start)
            times.append(best)
            packed.append(packed_instruction_count(loop))
        results[name] = (times[0], times[1], packed[0], packed[1])
    return results


if __name__ == "__main__":
    print(
        f"prange over 2**24 float32, {numba.get_num_threads()} threads (best of 5); "
        "packed = SIMD float32 arithmetic instructions in the loop"
    )
    for name, (slow, fast, slow_packed, fast_packed) in benchmark().items():
        print(
            f"{name:5s} math.{name:5s} {slow * 1e3:6.1f} ms (packed {slow_packed:3d})   "
            f"fast_{name:5s} {fast * 1e3:5.1f} ms (packed {fast_packed:3d})   "
            f"{slow / fast:5.1f}x"
        )
