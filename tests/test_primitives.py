"""The op table's records are consistent: every fact a pass or back end asks for holds.

Properties are checked against the NumPy implementations (a ``view`` shares memory, a
``writes_out`` op writes into ``out=``, an accumulating reduction's identity is neutral),
and every scalar expression of every backend is evaluated in Python against ``impl``.
"""

from __future__ import annotations

import functools
import math
import re
import string
from pathlib import Path

import numpy as np
import pytest

from kiln.compiler import primitives
from kiln.compiler.codegen import fastmath, kernel_helpers
from kiln.compiler.errors import ShapeError
from kiln.compiler.ir import Graph
from kiln.compiler.primitives import (
    DTYPE_SHORT,
    KNOWN_PROPERTIES,
    PRIMITIVES,
    has_property,
    is_accumulating_reduction,
)

BACKENDS = ("default", "cpu", "cuda")
COMPILER = Path(primitives.__file__).parent


def with_property(prop):
    return sorted(name for name, prim in PRIMITIVES.items() if prop in prim.properties)


# ----------------------------------------------------------------------- the vocabulary


def test_every_property_is_known_documented_and_used():
    for name, prim in PRIMITIVES.items():
        assert prim.properties <= set(KNOWN_PROPERTIES), name
    for prop in KNOWN_PROPERTIES:
        assert f"``{prop}``" in primitives.__doc__, f"{prop} is not in primitives' docstring"
        assert with_property(prop), f"no primitive has {prop}"


def test_the_compiler_asks_only_for_known_properties():
    patterns = [
        r'has_property\([^,()]+,\s*"(\w+)"\)',
        r'\.has\("(\w+)"\)',
        r'"(\w+)" in [\w\[\]."]*properties',
    ]
    asked = set()
    for path in COMPILER.rglob("*.py"):
        text = path.read_text()
        for pattern in patterns:
            asked |= set(re.findall(pattern, text))
    assert asked, "the scan found no property queries: the patterns are stale"
    assert asked <= set(KNOWN_PROPERTIES), asked - set(KNOWN_PROPERTIES)


def test_an_unknown_property_is_an_error():
    g = Graph()
    x = g.add_input((2,), "float32")
    with pytest.raises(KeyError, match="unknown primitive property 'veiw'"):
        has_property(g.add_node("neg", [x]), "veiw")
    with pytest.raises(KeyError, match="veiw"):
        PRIMITIVES["neg"].has("veiw")
    with pytest.raises(ValueError, match="unknown properties"):
        primitives._register("bogus", "elementwise", None, None, properties=("fast",))
    assert "bogus" not in PRIMITIVES
    assert has_property(x, "view") is False  # a graph input is no primitive


def test_the_vocabulary_names_the_expected_primitives():
    assert with_property("view") == ["expand", "permute", "reshape", "slice"]
    assert with_property("writable_view") == ["permute", "reshape", "slice"]
    assert with_property("accumulating_reduction") == ["max", "sum"]
    assert with_property("writes_out") == ["matmul", "max", "sum"]


def test_property_implications():
    for name in with_property("writable_view"):
        assert PRIMITIVES[name].has("view"), name
    for prop in ("loop_alias", "keeps_order"):
        for name in with_property(prop):
            assert PRIMITIVES[name].has("view"), f"{name}: {prop} without view"
    for name in with_property("rounds"):
        assert PRIMITIVES[name].has("accumulating_reduction"), name
    for name, prim in PRIMITIVES.items():
        reduction = prim.has("accumulating_reduction")
        assert (prim.identity is not None) == reduction, name
        assert (prim.combine is not None) == reduction, name
        if reduction:
            assert prim.kind == "reduction", name


# -------------------------------------------------------------- views and out= against NumPy

VIEW_CASES = {
    "reshape": {"shape": (3, 4)},
    "permute": {"axes": (1, 0)},
    "expand": {"shape": (5, 4, 3)},
    "slice": {"starts": (1, 0), "stops": (4, 3), "steps": (2, 1)},
}


@pytest.mark.parametrize("name", with_property("view"))
def test_a_view_shares_memory_and_a_writable_view_writes_through(name):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    impl = PRIMITIVES[name].impl
    result = impl(x, **VIEW_CASES[name])
    assert np.shares_memory(result, x)
    if PRIMITIVES[name].has("writable_view"):
        result[...] = -1.0
        assert np.all(impl(x, **VIEW_CASES[name]) == -1.0)  # the input's elements changed
    else:
        assert not result.flags.writeable


def test_view_cases_cover_every_view():
    assert set(VIEW_CASES) == set(with_property("view"))


def test_a_keeps_order_result_of_a_contiguous_array_is_contiguous():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for name in with_property("keeps_order"):
        result = PRIMITIVES[name].impl(x, shape=(6, 4))
        assert result.flags.c_contiguous
        assert result.ravel().tolist() == x.ravel().tolist()


WRITES_OUT_CASES = {
    "sum": ((np.ones((3, 4), np.float32),), {"axes": (1,), "keepdims": False}, (3,)),
    "max": ((np.arange(12.0).reshape(3, 4),), {"axes": (0, 1), "keepdims": True}, (1, 1)),
    "matmul": ((np.ones((2, 3)), np.ones((3, 4))), {}, (2, 4)),
}


@pytest.mark.parametrize("name", with_property("writes_out"))
def test_writes_out_writes_into_the_given_array(name):
    arrays, params, shape = WRITES_OUT_CASES[name]
    impl = PRIMITIVES[name].impl
    out = np.full(shape, np.nan, dtype=arrays[0].dtype)
    result = impl(*arrays, **params, out=out)
    assert result is out
    np.testing.assert_array_equal(out, impl(*arrays, **params))


# ------------------------------------------------------------------ accumulating reductions

REDUCTION_DTYPES = ("float32", "float64", "int32", "int64", "int8", "bool")


def _samples(dtype):
    if dtype == "bool":
        return np.array([True, False, True])
    if np.dtype(dtype).kind == "f":
        return np.array([3.5, -2.0, 0.0, -np.inf, 7.25, -0.0], dtype=dtype)
    info = np.iinfo(dtype)
    return np.array([3, -2, 0, info.min, info.max, 1], dtype=dtype)


@pytest.mark.parametrize("dtype", REDUCTION_DTYPES)
@pytest.mark.parametrize("name", with_property("accumulating_reduction"))
def test_identity_is_neutral_and_the_impl_folds_with_combine(name, dtype):
    prim = PRIMITIVES[name]
    combine = PRIMITIVES[prim.combine]
    assert combine.kind == "elementwise" and combine.has("commutative")
    identity = prim.identity_for(dtype)
    assert identity.dtype == np.dtype(dtype)
    x = _samples(dtype)
    if name == "sum" and dtype != "bool":
        x = x[np.abs(x.astype(np.float64)) < 100]  # no integer overflow in the fold
    for value in x:
        assert combine.impl(identity, value) == value
    folded = functools.reduce(lambda acc, item: combine.impl(item, acc), x, identity)
    reduced = prim.impl(x, axes=(0,), keepdims=False)
    if dtype == "bool" and name == "sum":
        return  # NumPy sums bools as ints; the frontend casts first
    np.testing.assert_array_equal(np.asarray(folded, dtype), reduced)


@pytest.mark.parametrize("name", with_property("accumulating_reduction"))
def test_the_impl_on_empty_input_gives_the_identity_or_the_shape_rule_refuses(name):
    prim = PRIMITIVES[name]
    for dtype in ("float32", "int64"):
        empty = np.zeros((2, 0), dtype)
        params = {"axes": (1,), "keepdims": False}
        try:
            prim.shape_rule([empty.shape], [dtype], **params)
        except ShapeError:
            continue  # max of nothing: refused before any kernel runs
        result = prim.impl(empty, **params)
        np.testing.assert_array_equal(result, np.full(2, prim.identity_for(dtype)))


def test_is_accumulating_reduction_asks_the_record():
    g = Graph()
    x = g.add_input((2, 3), "float32")
    assert is_accumulating_reduction(g.add_node("sum", [x], {"axes": (1,), "keepdims": False}))
    assert not is_accumulating_reduction(g.add_node("argmax", [x], {"axis": 1, "keepdims": False}))
    assert not is_accumulating_reduction(x)


# ------------------------------------------------------------------------ scalar expressions


def _fields(template: str) -> set:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def _parse_key(key: str):
    backend, _, dtype = key.partition(":")
    return backend, dtype or None


def test_expression_keys_are_backends_and_dtypes():
    for name, prim in PRIMITIVES.items():
        for key in prim.exprs:
            backend, dtype = _parse_key(key)
            assert backend in BACKENDS, f"{name}: unknown backend in {key!r}"
            assert dtype is None or dtype in DTYPE_SHORT, f"{name}: unknown dtype in {key!r}"


def test_every_elementwise_primitive_has_a_default_expression():
    for name, prim in PRIMITIVES.items():
        if prim.kind == "elementwise":
            assert "default" in prim.exprs, name
            arity = len(_fields(prim.exprs["default"]) - {"dtype"})
            for key, template in prim.exprs.items():
                assert _fields(template) - {"dtype"} == {str(k) for k in range(arity)}, (
                    f"{name} {key}: {template!r} does not use its {arity} inputs"
                )
        elif prim.kind != "reduction":
            assert not prim.exprs, f"{name} ({prim.kind}) has scalar expressions"


def test_a_backend_overrides_the_default_and_never_another_backend():
    assert PRIMITIVES["exp"].expression("cpu", "float32") == "fast_exp({0})"
    assert PRIMITIVES["exp"].expression("cpu", "float64") == "fast_exp64({0})"
    assert PRIMITIVES["erf"].expression("cpu", "float64") == "math.erf({0})"
    assert PRIMITIVES["exp"].expression("cuda", "float32") == "math.exp({0})"
    assert PRIMITIVES["exp"].expression("cuda", "float64") == "math.exp({0})"
    assert PRIMITIVES["floor"].expression("cpu", "float32") == "np.floor({0})"
    assert PRIMITIVES["floor"].expression("cuda", "float32") == "math.floor({0})"
    assert PRIMITIVES["cast"].expression("cuda", "bool") == "({0} != 0)"
    assert PRIMITIVES["cast"].expression("cpu", "int32") == "{0}"
    assert PRIMITIVES["sum"].expression("cpu", "float32") is None


def test_fast_functions_agree_with_fastmath():
    used, used64 = {}, {}
    for name, prim in PRIMITIVES.items():
        for key, template in prim.exprs.items():
            for function in re.findall(r"\b(fast_\w+)\(", template):
                (used64 if key.endswith("float64") else used)[name] = function
    assert used == fastmath.FAST_FUNCTIONS
    assert used64 == fastmath.FAST_FUNCTIONS_64
    for function in used.values():
        assert getattr(fastmath, function) in fastmath.FUNCTIONS.values()
    for function in used64.values():
        assert getattr(fastmath, function) in fastmath.FUNCTIONS_64.values()


_NAMESPACE = {
    "math": math,
    "np": np,
    **{name: getattr(fastmath, name) for name in fastmath.FAST_FUNCTIONS.values()},
    **{name: getattr(fastmath, name) for name in fastmath.FAST_FUNCTIONS_64.values()},
    **{name: getattr(kernel_helpers, name) for name in kernel_helpers.HELPERS},
}


def _inputs(name: str, dtype: str):
    """A few sample operands per primitive, in its domain."""
    if name in _INTEGER_ONLY:
        ints = np.array([3, 7, 12, 0, 5, 1, 100], dtype)
        if np.dtype(dtype).kind == "i":
            ints = ints * np.array([1, -1, 1, 1, -1, -1, 1], dtype)
        counts = np.array([1, 2, 0, 5, 70, 7, 1] if dtype == "uint8" else [1, 2, 0, 5, 70, 63, -1])
        return (ints, counts.astype(dtype) if "shift" in name else ints[::-1].copy())
    values = np.array([0.25, 0.5, 1.5, 2.0, -0.75, -3.0, 0.0], dtype=dtype)
    positive = np.abs(values) + np.array(0.5, dtype)
    other = np.array([0.5, -1.0, 1.5, 4.0, -0.75, 2.0, 3.0], dtype=dtype)
    if name in ("log", "sqrt", "reciprocal", "pow"):
        return (positive, other) if name == "pow" else (positive,)
    if name in ("asin", "acos", "atanh"):
        return (values / np.array(4, dtype),)
    if name == "acosh":
        return (positive + np.array(1, dtype),)
    if name == "where":
        return (values > 0, values, other)
    if name == "cast":
        return (values,)
    arity = len(_fields(PRIMITIVES[name].exprs["default"]))
    return (values, other)[:arity]


_INTEGER_ONLY = ("bitwise_and", "bitwise_or", "bitwise_xor", "lshift", "rshift")


def _cases():
    for name, prim in PRIMITIVES.items():
        if prim.kind != "elementwise":
            continue
        for key in prim.exprs:
            backend, dtype = _parse_key(key)
            yield name, backend, dtype


@pytest.mark.parametrize("name, backend, dtype", list(_cases()))
def test_every_expression_computes_what_the_impl_computes(name, backend, dtype):
    prim = PRIMITIVES[name]
    default = "int64" if name in _INTEGER_ONLY else "float32"
    operand_dtype = dtype if dtype and name != "cast" else default
    result_dtype = dtype or default
    arrays = _inputs(name, operand_dtype)
    params = {"dtype": result_dtype} if name == "cast" else {}
    expected = np.asarray(prim.impl(*arrays, **params))
    template = prim.expression(backend, result_dtype)
    for k in range(len(arrays[0])):
        args = [f"a{i}[{k}]" for i in range(len(arrays))]
        text = template.format(*args, dtype=result_dtype)
        scope = dict(_NAMESPACE, **{f"a{i}": a for i, a in enumerate(arrays)})
        got = eval(text, scope)  # noqa: S307  (our own table's expressions)
        np.testing.assert_allclose(
            np.asarray(got, dtype=expected.dtype), expected[k], rtol=2e-6, err_msg=text
        )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_expressions_reduce_a_row_as_the_impl_does(dtype):
    row = np.array([1.5, -2.0, 7.0, np.nan, 3.0], dtype=dtype)
    for name in with_property("accumulating_reduction"):
        for backend in BACKENDS:
            template = PRIMITIVES[name].expression(backend, dtype)
            if template is None:
                continue
            for values in (row, row[~np.isnan(row)]):
                got = eval(template.format("values", dtype=dtype), dict(_NAMESPACE, values=values))
                expected = PRIMITIVES[name].impl(values, axes=(0,), keepdims=False)
                np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_and_minimum_expressions_propagate_nan_like_numpy(name):
    template = PRIMITIVES[name].expression("cpu", "float32")
    nan, one = np.float32(np.nan), np.float32(1.0)
    for a, b in ((nan, one), (one, nan), (nan, nan)):
        assert np.isnan(eval(template.format("a", "b"), {"a": a, "b": b}))  # noqa: S307
        assert np.isnan(PRIMITIVES[name].impl(a, b))
