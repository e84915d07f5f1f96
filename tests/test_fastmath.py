"""Fast float32 math: error bounds against float64 references, exact special values.

Each function runs through a tiny ``njit`` loop over arrays. The sweep walks float32 bit
patterns with a stride (every sign, exponent and mantissa region, subnormals included) and
adds dense samples around each function's range boundaries.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
import pytest

from kiln.compiler.codegen import fastmath
from kiln.compiler.codegen.cpu import LOOP_FLAGS, ROW_FLAGS
from kiln.compiler.codegen.fastmath import FAST_FUNCTIONS, FUNCTIONS, MAX_ULP, MAX_ULP_REASSOC

REFERENCES = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "erf": lambda x: np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64),
}

# Where each implementation switches method or leaves the normal range.
BOUNDARIES = {
    "exp": [0.0, 0.34657359, 1.0, 80.0, 88.7228, -87.3365, -103.972, -103.0],
    "log": [1.0, 0.70710678, 1.41421356, 2.0, 1.17549435e-38, 1e-45, 3.4e38],
    "tanh": [0.0, 0.625, -0.625, 2.44140625e-4, 5.0, 9.0],
    "erf": [0.0, 1.0, -1.0, 3.9, 4.0, 1e-20],
}


# The functions are inlined into the caller and take its fastmath flags, so they are
# checked under each flag set a kernel might use (never nnan/ninf: see fastmath.py).
FLAG_SETS = {
    "strict": set(),
    "contract": {"contract"},
    "arcp": {"arcp", "contract"},
    "loop kernels": set(LOOP_FLAGS),
    "row kernels": set(ROW_FLAGS),
}


def _compiled(function, flags):
    @numba.njit(fastmath=flags)
    def apply(values):
        out = np.empty_like(values)
        for i in range(values.shape[0]):
            out[i] = function(values[i])
        return out

    return apply


APPLY = {
    (name, flags): _compiled(function, FLAG_SETS[flags])
    for name, function in FUNCTIONS.items()
    for flags in FLAG_SETS
}


@functools.cache
def sweep(name) -> np.ndarray:
    """Finite float32 test points: a strided walk over all bit patterns plus boundaries."""
    bits = np.arange(0, 2**32, 4093, dtype=np.uint64).astype(np.uint32)
    strided = bits.view(np.float32)
    near = [
        np.float32(b)
        + np.arange(-2000, 2001, dtype=np.float32)
        * np.spacing(np.float32(max(abs(b), 1e-38)), dtype=np.float32)
        for b in BOUNDARIES[name]
    ]
    dense = np.linspace(-120, 120, 200_001, dtype=np.float32)
    points = np.concatenate([strided, dense, *near, -np.concatenate(near)])
    return points[np.isfinite(points)]


@functools.cache
def reference(name) -> np.ndarray:
    with np.errstate(all="ignore"):
        return REFERENCES[name](sweep(name).astype(np.float64))


def ulp_errors(name, flags):
    """|fast(x) - exact(x)| in float32 ulps of the exact result, over ``sweep(name)``."""
    out = APPLY[name, flags](sweep(name)).astype(np.float64)
    exact = reference(name)
    with np.errstate(all="ignore"):
        representable = np.isfinite(exact) & (np.abs(exact) <= np.finfo(np.float32).max)
        ulp = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
        errors = np.abs(out - exact) / ulp
    return np.where(representable, errors, 0.0), out, exact


@pytest.mark.parametrize("flags", list(FLAG_SETS))
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_max_ulp_error_within_documented_bound(name, flags):
    x = sweep(name)
    errors, out, exact = ulp_errors(name, flags)
    worst = int(np.argmax(errors))
    bound = (MAX_ULP_REASSOC if "reassoc" in FLAG_SETS[flags] else MAX_ULP)[name]
    assert errors[worst] <= bound, (
        f"fast_{name}({x[worst]!r}) = {out[worst]!r}, exact {exact[worst]!r}: "
        f"{errors[worst]:.3f} ulp > {bound}"
    )
    # nan exactly where the reference is nan (log of negatives), nowhere else.
    np.testing.assert_array_equal(np.isnan(out), np.isnan(exact))
    # Results that overflow float32 are inf, with the right sign.
    overflow = np.isfinite(exact) & (np.abs(exact) > np.finfo(np.float32).max)
    assert np.all(np.isinf(out[overflow]) & (np.sign(out[overflow]) == np.sign(exact[overflow])))


SPECIAL = [
    # name, input, exact output
    ("exp", np.inf, np.inf),
    ("exp", -np.inf, 0.0),
    ("exp", np.nan, np.nan),
    ("exp", 0.0, 1.0),
    ("exp", -0.0, 1.0),
    ("exp", 89.0, np.inf),
    ("exp", -104.0, 0.0),
    ("exp", 1e-45, 1.0),
    ("exp", -103.9, 1e-45),
    ("log", 0.0, -np.inf),
    ("log", -0.0, -np.inf),
    ("log", -1.0, np.nan),
    ("log", -np.inf, np.nan),
    ("log", np.inf, np.inf),
    ("log", np.nan, np.nan),
    ("log", 1.0, 0.0),
    ("tanh", np.inf, 1.0),
    ("tanh", -np.inf, -1.0),
    ("tanh", np.nan, np.nan),
    ("tanh", 0.0, 0.0),
    ("tanh", -0.0, -0.0),
    ("tanh", 20.0, 1.0),
    ("tanh", -20.0, -1.0),
    ("tanh", 1e-30, 1e-30),
    ("erf", np.inf, 1.0),
    ("erf", -np.inf, -1.0),
    ("erf", np.nan, np.nan),
    ("erf", 0.0, 0.0),
    ("erf", -0.0, -0.0),
    ("erf", 5.0, 1.0),
    ("erf", -5.0, -1.0),
]


@pytest.mark.parametrize("flags", list(FLAG_SETS))
@pytest.mark.parametrize("name, value, expected", SPECIAL, ids=[f"{n}({v})" for n, v, _ in SPECIAL])
def test_special_values_are_exact(name, value, expected, flags):
    (result,) = APPLY[name, flags](np.array([value], np.float32))
    expected = np.float32(expected)
    if np.isnan(expected):
        assert np.isnan(result)
    else:
        assert result == expected and np.signbit(result) == np.signbit(expected)


def test_table_names_the_functions():
    assert set(FAST_FUNCTIONS) == set(MAX_ULP) == set(FUNCTIONS)
    for name, function_name in FAST_FUNCTIONS.items():
        assert getattr(fastmath, function_name) is FUNCTIONS[name]
        assert MAX_ULP[name] <= 2


def test_fast_tanh_vectorizes_in_a_prange_loop():
    # The point of the module: LLVM turns this loop into SIMD code (math.tanh it cannot).
    loop = fastmath._make_loop(fastmath.fast_tanh)
    values = np.linspace(-5, 5, 64, dtype=np.float32)
    out = np.empty_like(values)
    loop(values, out)
    np.testing.assert_allclose(out, np.tanh(values), rtol=3e-7)
    assert fastmath.packed_instruction_count(loop) > 0
