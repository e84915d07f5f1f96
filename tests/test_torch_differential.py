"""Differential test: kiln against PyTorch on drawn ops, shapes, dtypes and values.

Hypothesis draws an op from the table below, input shapes (0-d and empty included, and
broadcasting pairs), dtypes (floats, integers, bool) and values (with ``inf``, ``nan``,
``-0.0``, integer extremes), runs the op eagerly in kiln and in torch, and requires the
same outcome: the same result dtype, shape and values (NaN where NaN, the sign of a zero
where it is zero), or an exception of PyTorch's class. Deterministic (``derandomize``)
and bounded (``max_examples``), so it is an ordinary CI test.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kiln

FLOATS = ("float32", "float64")
INTS = ("int32", "int64", "uint8", "int8")
ALL = FLOATS + INTS + ("bool",)

SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -3.0, 1e-30, 1e30, math.inf, -math.inf]
SPECIAL_FLOATS += [math.nan, 0.25, 7.5, -100.0]


def _unary(name, dtypes=FLOATS, **kw):
    return (name, 1, dtypes, lambda lib, x: getattr(lib, name)(x, **kw))


def _binary(name, dtypes=FLOATS):
    return (name, 2, dtypes, lambda lib, a, b: getattr(lib, name)(a, b))


def _dim(name, dtypes=FLOATS, **kw):
    return (name, 1, dtypes, lambda lib, x, dim: getattr(lib, name)(x, dim, **kw))


# name, arity, dtypes, call; a call with a ``dim`` parameter gets a valid dim drawn
OPS = [
    *(
        _unary(n)
        for n in (
            "neg abs exp log sqrt sin cos tanh atan asin acos atanh acosh asinh sinh erf "
            "expm1 log1p sigmoid floor ceil trunc reciprocal lgamma digamma exp2 square "
            "isnan isinf isfinite signbit"
        ).split()
    ),
    _unary("round"),
    ("relu", 1, FLOATS, lambda lib, x: lib.relu(x)),
    *(_unary(n, INTS + ("bool",)) for n in ("bitwise_not", "logical_not", "abs", "neg")),
    *(_binary(n, ALL) for n in ("add", "mul", "maximum", "minimum", "eq", "lt", "ge")),
    _binary("sub", FLOATS + INTS),
    *(_binary(n) for n in ("div", "atan2", "copysign", "logaddexp", "xlogy", "hypot", "fmod")),
    _binary("remainder", FLOATS),
    *(_binary(n, INTS + ("bool",)) for n in ("bitwise_and", "bitwise_or", "bitwise_xor")),
    *(_binary(n, INTS[:2] + ("int8",)) for n in ("bitwise_left_shift", "bitwise_right_shift")),
    ("isclose", 2, FLOATS, lambda lib, a, b: lib.isclose(a, b)),
    ("isclose_nan", 2, FLOATS, lambda lib, a, b: lib.isclose(a, b, equal_nan=True)),
    ("div_floor", 2, FLOATS, lambda lib, a, b: lib.div(a, b, rounding_mode="floor")),
    ("div_trunc", 2, FLOATS, lambda lib, a, b: lib.div(a, b, rounding_mode="trunc")),
    ("clamp", 1, FLOATS + INTS, lambda lib, x: lib.clamp(x, -1, 2)),
    ("sum", 1, ALL, lambda lib, x: lib.sum(x)),
    ("prod", 1, FLOATS + INTS, lambda lib, x: lib.prod(x)),
    ("amax_all", 1, FLOATS + INTS, lambda lib, x: lib.amax(x)),
    ("min_all", 1, FLOATS + INTS, lambda lib, x: lib.min(x)),
    ("argmax_all", 1, FLOATS + INTS, lambda lib, x: lib.argmax(x)),
    ("argmin_all", 1, FLOATS + INTS, lambda lib, x: lib.argmin(x)),
    ("all", 1, ALL, lambda lib, x: lib.all(x)),
    ("any", 1, ALL, lambda lib, x: lib.any(x)),
    _dim("sum", ALL),
    _dim("mean"),
    _dim("prod", FLOATS + INTS),
    _dim("amax", FLOATS + INTS),
    _dim("amin", FLOATS + INTS),
    _dim("argmax", FLOATS + INTS),
    _dim("argmin", FLOATS + INTS),
    ("max_dim", 1, FLOATS + INTS, lambda lib, x, dim: lib.max(x, dim)),
    ("min_dim", 1, FLOATS + INTS, lambda lib, x, dim: lib.min(x, dim)),
    _dim("cumsum", FLOATS + INTS),
    _dim("cumprod", FLOATS + INTS),
    _dim("cummax", FLOATS + INTS),
    _dim("cummin", FLOATS + INTS),
    _dim("logcumsumexp"),
    _dim("softmax"),
    _dim("log_softmax"),
    _dim("logsumexp"),
    ("sort", 1, FLOATS + INTS, lambda lib, x, dim: lib.sort(x, dim=dim, stable=True)),
    ("flip", 1, ALL, lambda lib, x, dim: lib.flip(x, (dim,))),
    ("roll", 1, ALL, lambda lib, x, dim: lib.roll(x, 2, dim)),
    ("nonzero", 1, ALL, lambda lib, x: lib.nonzero(x)),
    ("normalize", 1, FLOATS, lambda lib, x, dim: lib.nn.functional.normalize(x, dim=dim)),
]

SHAPES = [(), (0,), (1,), (3,), (2, 3), (0, 3), (3, 1), (1, 4), (2, 0, 2), (2, 2, 3)]


def _values(draw, shape, dtype):
    n = math.prod(shape)
    if dtype == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool).reshape(shape)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        special = st.sampled_from(
            sorted(
                {0, 1, 2, 3, 7, int(info.max), int(info.min), -1 % 256 if dtype == "uint8" else -1}
            )
        )
        element = st.one_of(special, st.integers(int(max(info.min, -20)), int(min(info.max, 20))))
        values = draw(st.lists(element, min_size=n, max_size=n))
        return np.array([v for v in values], dtype=dtype).reshape(shape)
    element = st.one_of(
        st.sampled_from(SPECIAL_FLOATS), st.floats(-5, 5, allow_nan=False, width=32)
    )
    return np.array(draw(st.lists(element, min_size=n, max_size=n)), dtype=dtype).reshape(shape)


@st.composite
def cases(draw):
    name, arity, allowed, call = draw(st.sampled_from(OPS))
    shape = draw(st.sampled_from(SHAPES))
    dtype = draw(st.sampled_from(allowed))
    arrays = [_values(draw, shape, dtype)]
    if arity == 2:
        other_shape = draw(st.sampled_from([shape, shape[1:], (1,) * len(shape), (3,), ()]))
        other_dtype = draw(st.sampled_from([dtype, dtype, *allowed]))
        arrays.append(_values(draw, other_shape, other_dtype))
    extra = []
    if "dim" in call.__code__.co_varnames[: call.__code__.co_argcount]:
        ndim = max(len(shape), 1)
        extra.append(draw(st.integers(-ndim, ndim - 1)))
    return name, call, arrays, extra


def _outcome(lib, call, arrays, extra):
    tensors = [lib.tensor(a) for a in arrays]
    try:
        out = call(lib, *tensors, *extra)
    except Exception as exc:  # noqa: BLE001 - the exception's class is the outcome
        return exc
    parts = tuple(out) if isinstance(out, tuple) else (out,)
    return [(str(p.dtype).split(".")[-1], tuple(p.shape), p.detach().numpy()) for p in parts]


def _builtin_class(exc):
    return next(c for c in type(exc).__mro__ if c.__module__ == "builtins")


# Which of two equal zeros comes out: PyTorch's maximum/minimum give the first operand,
# NumPy's (and kiln's, commutative for CSE) the second; a min/max reduction returns
# whichever its order of accumulation meets first. The only differences left here.
ZERO_SIGN_FREE = {"maximum", "minimum", "amin", "amax", "amax_all", "min_all", "min_dim"}
ZERO_SIGN_FREE |= {"max_dim"}


def _same(name, arrays, got, want):
    shown = f"{name} on {[(a.dtype.name, a.shape) for a in arrays]}: {arrays}"
    if isinstance(want, Exception):
        assert isinstance(got, Exception), f"{shown}: torch raised {want!r}, kiln returned {got}"
        assert isinstance(got, _builtin_class(want)), f"{shown}: kiln {got!r}, torch {want!r}"
        return
    if isinstance(got, Exception):
        raise AssertionError(f"{shown}: kiln raised {got!r}, torch returned {want}") from got
    assert len(got) == len(want), shown
    for (gd, gs, gv), (wd, ws, wv) in zip(got, want):
        assert (gd, gs) == (wd, ws), f"{shown}: kiln {gd}{list(gs)}, torch {wd}{list(ws)}"
        if wv.dtype.kind == "f":
            tol = 1e-6 if wv.dtype == np.float64 else 2e-5
            np.testing.assert_allclose(gv, wv, rtol=tol, atol=tol, equal_nan=True, err_msg=shown)
            zero = (wv == 0) & (gv == 0) & (name not in ZERO_SIGN_FREE)
            assert np.array_equal(np.signbit(gv[zero]), np.signbit(wv[zero])), (
                f"{shown}: signs of zeros differ: kiln {gv}, torch {wv}"
            )
        else:
            np.testing.assert_array_equal(gv, wv, err_msg=shown)


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_kiln_agrees_with_torch(case):
    name, call, arrays, extra = case
    with np.errstate(all="ignore"):
        want = _outcome(torch, call, arrays, extra)
        got = _outcome(kiln, call, arrays, extra)
    _same(name, arrays, got, want)


@pytest.mark.parametrize("name", sorted({op[0] for op in OPS}))
def test_every_op_of_the_table_runs_in_both(name):
    """A table row whose call fails in torch itself would test nothing."""
    row = next(op for op in OPS if op[0] == name)
    _, arity, allowed, call = row
    arrays = [np.ones((2, 3), allowed[0])] * arity
    extra = [1] if "dim" in call.__code__.co_varnames[: call.__code__.co_argcount] else []
    assert not isinstance(_outcome(torch, call, arrays, extra), Exception)


# ------------------------------------------------------------------ dtypes and scalars

# Every dtype PyTorch's CPU promotion meets, and Python scalars as second operands (bool,
# int, float; out-of-range ints wrap into small integer dtypes, as PyTorch's).
ALL_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16")
ALL_DTYPES += ("float32", "float64")
SCALARS = [True, False, 0, 1, -1, 2, 3, 7, 300, -129, 2**40, 0.5, -0.0, 2.5, 1.3, 1e10]
SCALARS += [math.inf, -math.inf, math.nan]

# name, call; each runs on (tensor, tensor-or-scalar)
PROMOTING = [
    ("add", lambda lib, a, b: lib.add(a, b)),
    ("sub", lambda lib, a, b: lib.sub(a, b)),
    ("mul", lambda lib, a, b: lib.mul(a, b)),
    ("div", lambda lib, a, b: lib.div(a, b)),
    ("floor_divide", lambda lib, a, b: lib.floor_divide(a, b)),
    ("remainder", lambda lib, a, b: lib.remainder(a, b)),
    ("pow", lambda lib, a, b: lib.pow(a, b)),
    ("eq", lambda lib, a, b: lib.eq(a, b)),
    ("lt", lambda lib, a, b: lib.lt(a, b)),
    ("maximum", lambda lib, a, b: lib.maximum(a, b if isinstance(b, lib.Tensor) else a)),
    ("bitwise_and", lambda lib, a, b: lib.bitwise_and(a, b)),
    ("bitwise_or", lambda lib, a, b: lib.bitwise_or(a, b)),
    ("where", lambda lib, a, b: lib.where(a > 0, a, b)),
    ("rsub", lambda lib, a, b: b - a),
    ("rmul", lambda lib, a, b: b * a),
]


def _make(lib, array, dtype):
    if dtype == "bfloat16":
        return lib.tensor(array.astype(np.float32)).to(lib.bfloat16)
    return lib.tensor(array)


def _values_any(draw, shape, dtype):
    return _values(draw, shape, "float32" if dtype in ("float16", "bfloat16") else dtype)


@st.composite
def promotion_cases(draw):
    name, call = draw(st.sampled_from(PROMOTING))
    shape = draw(st.sampled_from([(), (3,), (2, 3), (0,)]))
    dtype = draw(st.sampled_from(ALL_DTYPES))
    if draw(st.booleans()):
        other = ("scalar", draw(st.sampled_from(SCALARS)))
    else:
        other_dtype = draw(st.sampled_from(ALL_DTYPES))
        other_shape = draw(st.sampled_from([shape, (), (1,)]))
        other = (other_dtype, _values_any(draw, other_shape, other_dtype))
    first = _values_any(draw, shape, dtype)
    if dtype in ("float16",):
        first = first.astype(np.float16)
    return name, call, (dtype, first), other


def _outcome_any(lib, call, first, other):
    dtype, array = first
    a = _make(lib, array, dtype)
    if other[0] == "scalar":
        b = other[1]
    else:
        b = _make(lib, other[1] if other[0] != "float16" else other[1].astype(np.float16), other[0])
    try:
        out = call(lib, a, b)
    except Exception as exc:  # noqa: BLE001 - the exception's class is the outcome
        return exc
    d = str(out.dtype).split(".")[-1]
    values = out.detach().float().numpy() if d == "bfloat16" else out.detach().numpy()
    return [(d, tuple(out.shape), values)]


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(promotion_cases())
def test_dtypes_and_scalars_agree_with_torch(case):
    """Result dtypes exactly PyTorch's over all ten dtypes and Python scalar operands;
    values exact for integers and bool, within one ulp of float16/bfloat16 results."""
    name, call, first, other = case
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _outcome_any(torch, call, first, other)
        got = _outcome_any(kiln, call, first, other)
    shown = f"{name} on {first[0]}{list(first[1].shape)} and {other[0]}: {first[1]}, {other[1]}"
    if isinstance(want, Exception):
        assert isinstance(got, Exception), f"{shown}: torch raised {want!r}, kiln returned {got}"
        assert isinstance(got, _builtin_class(want)), f"{shown}: kiln {got!r}, torch {want!r}"
        return
    if isinstance(got, Exception):
        raise AssertionError(f"{shown}: kiln raised {got!r}, torch returned {want}") from got
    (gd, gs, gv), (wd, ws, wv) = got[0], want[0]
    assert (gd, gs) == (wd, ws), f"{shown}: kiln {gd}{list(gs)}, torch {wd}{list(ws)}"
    if wv.dtype.kind == "f":
        tol = {"bfloat16": 2**-7, "float16": 2**-10, "float32": 2e-6}.get(wd, 1e-12)
        np.testing.assert_allclose(gv, wv, rtol=tol, atol=0, equal_nan=True, err_msg=shown)
    else:
        np.testing.assert_array_equal(gv, wv, err_msg=shown)
