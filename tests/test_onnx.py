"""ONNX export: every primitive, run by onnxruntime, agrees with kiln's eager result.

Two tables drive the tests. Here, a row is a primitive name, a small function that applies
it (through ``bind_name``, so exactly that primitive is exercised) and its example inputs.
The op table (``tests/op_table.py``) adds the user-level ops and composites: each row is
exported and run by onnxruntime, except rows marked ``onnx=False``, which export refuses.
"""

import io

import numpy as np
import pytest

import kiln
from kiln.compiler.primitives import PRIMITIVES
from kiln.dispatch import bind_name

onnx = pytest.importorskip("onnx", reason="kiln[onnx] extra not installed (pip install onnx)")
ort = pytest.importorskip(
    "onnxruntime", reason="kiln[onnx] extra not installed (pip install onnxruntime)"
)

from kiln.onnx import UnsupportedPrimitiveError, export  # noqa: E402
from op_table import OPS, make_inputs, primitives_of, rows  # noqa: E402

rng = np.random.default_rng(0)


def f32(*shape, low=-2.0, high=2.0):
    return kiln.tensor(rng.uniform(low, high, shape).astype(np.float32))


def i64(values):
    return kiln.tensor(np.asarray(values, dtype=np.int64))


def prim(name, **params):
    return lambda *xs: bind_name(name, xs, params)


UNARY_INPUT = {"log": dict(low=0.1), "sqrt": dict(low=0.1), "reciprocal": dict(low=0.5)}
UNARY = [
    "neg",
    "exp",
    "log",
    "sqrt",
    "sin",
    "cos",
    "tanh",
    "erf",
    "abs",
    "sign",
    "reciprocal",
    "floor",
]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"]

CASES = [
    (name, prim(name), lambda n=name: (f32(3, 4, **UNARY_INPUT.get(n, {})),)) for name in UNARY
]
CASES += [(name, prim(name), lambda: (f32(3, 4), f32(4))) for name in BINARY]
CASES += [
    ("pow", prim("pow"), lambda: (f32(3, 4, low=0.5), f32(3, 4))),
    (
        "where",
        lambda c, a, b: bind_name("where", (bind_name("gt", (c, a)), a, b)),
        lambda: (f32(3, 4), f32(3, 4), f32(4)),
    ),
    ("cast", prim("cast", dtype="int64"), lambda: (f32(3, 4, low=0, high=9),)),
    ("cast", prim("cast", dtype="bool"), lambda: (f32(3, 4).relu(),)),
    ("sum", prim("sum", axes=(1,), keepdims=False), lambda: (f32(3, 4, 5),)),
    ("sum", prim("sum", axes=(0, 2), keepdims=True), lambda: (f32(3, 4, 5),)),
    ("sum", prim("sum", axes=(), keepdims=False), lambda: (f32(3, 4),)),
    ("max", prim("max", axes=(0,), keepdims=True), lambda: (f32(3, 4),)),
    ("max", prim("max", axes=(0, 1), keepdims=False), lambda: (f32(3, 4),)),
    ("argmax", prim("argmax", axis=1, keepdims=False), lambda: (f32(3, 4),)),
    ("argmax", prim("argmax", axis=0, keepdims=True), lambda: (f32(3, 4),)),
    ("reshape", prim("reshape", shape=(6, 2)), lambda: (f32(3, 4),)),
    ("reshape", prim("reshape", shape=(0, 3)), lambda: (f32(0, 3, 1),)),
    ("permute", prim("permute", axes=(2, 0, 1)), lambda: (f32(2, 3, 4),)),
    ("expand", prim("expand", shape=(2, 3, 4)), lambda: (f32(3, 1),)),
    ("slice", prim("slice", starts=(1, 0), stops=(3, 4), steps=(1, 2)), lambda: (f32(4, 4),)),
    ("slice", prim("slice", starts=(3,), stops=(0,), steps=(-1,)), lambda: (f32(4),)),
    ("pad", prim("pad", pads=((1, 0), (2, 3)), value=0.5), lambda: (f32(2, 3),)),
    ("concat", prim("concat", axis=1), lambda: (f32(2, 3), f32(2, 1), f32(2, 2))),
    ("take", prim("take", axis=0), lambda: (f32(5, 3), i64([[0, 4], [-1, 2]]))),
    ("take", prim("take", axis=1), lambda: (f32(2, 5), i64([3, 3, 0]))),
    ("take_grad", prim("take_grad", axis=0, size=5), lambda: (f32(2, 2, 3), i64([[0, 4], [4, 1]]))),
    ("take_grad", prim("take_grad", axis=1, size=4), lambda: (f32(2, 3, 2), i64([3, 3, 0]))),
    ("gather", prim("gather", axis=1), lambda: (f32(3, 4), i64([[0, 3], [1, 1], [2, 0]]))),
    (
        "scatter_add",
        prim("scatter_add", axis=1, size=4),
        lambda: (f32(3, 2), i64([[0, 3], [1, 1], [2, 0]])),
    ),
    ("matmul", prim("matmul"), lambda: (f32(3, 4), f32(4, 2))),
    ("matmul", prim("matmul"), lambda: (f32(2, 3, 4), f32(4, 5))),
    ("cumsum", prim("cumsum", axis=1), lambda: (f32(3, 4),)),
    ("cumsum", prim("cumsum", axis=0), lambda: (f32(5),)),
    ("argsort", prim("argsort", axis=1, descending=False), lambda: (f32(3, 6),)),
    (
        "argsort",
        prim("argsort", axis=0, descending=True),
        lambda: (kiln.tensor([[1.0, 2.0], [3.0, 2.0], [1.0, 5.0], [3.0, 0.0]]),),
    ),
    (
        "argsort",
        prim("argsort", axis=0, descending=False),
        lambda: (kiln.tensor([3.0, 1.0, 3.0, 1.0, 2.0]),),
    ),
    ("const", lambda x: x + kiln.tensor([[1.0, 2.0, 3.0]]), lambda: (f32(2, 3),)),
]


def run_onnx(fn, args, **kwargs):
    buffer = io.BytesIO()
    model = export(fn, args, buffer, **kwargs)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)}
    return model, session.run(None, feeds)


def test_every_primitive_is_exported_by_a_case_or_an_op_table_row():
    covered = {name for name, _, _ in CASES} | primitives_of(op for op in OPS if op.onnx)
    # uniform: see test_uniform_is_refused; the bitwise ops: UNSUPPORTED says why
    assert set(PRIMITIVES) - covered == {"uniform", *BITWISE}


BITWISE = {"bitwise_and", "bitwise_or", "bitwise_xor", "lshift", "rshift"}


@pytest.mark.parametrize(
    "name,fn,make_args", CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)]
)
def test_primitive_matches_eager(name, fn, make_args):
    args = make_args()
    expected = fn(*args).numpy()
    model, (got,) = run_onnx(fn, args)
    assert name in {n.op for n in kiln.trace(fn, *args).nodes}
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", rows("onnx", [op for op in OPS if op.onnx]))
def test_op_table_row_matches_eager(op):
    args = tuple(kiln.from_numpy(a) for a in make_inputs(op, np.float32, seed=3))
    expected = op.fn(*args).numpy()
    _, (got,) = run_onnx(op.fn, args)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=max(op.rtol, 1e-5), atol=max(op.atol, 1e-6))


def test_op_table_rows_marked_without_converter_are_refused():
    """``onnx=False`` is a claim: export must refuse the row (once it does not, flip the flag)."""
    for op in [op for op in OPS if not op.onnx]:
        args = tuple(kiln.from_numpy(a) for a in make_inputs(op, np.float32, seed=3))
        with pytest.raises(UnsupportedPrimitiveError):
            export(op.fn, args, io.BytesIO())


def test_composites_and_names():
    def f(x, y):
        return kiln.softmax(x @ y, dim=-1), (x.mean(0) - y.sum(1)).abs().sqrt()

    x, y = f32(4, 4), f32(4, 4)
    model, got = run_onnx(f, (x, y), input_names=["a"], output_names=["probs"])
    assert [i.name for i in model.graph.input] == ["a", "y"]
    assert [o.name for o in model.graph.output] == ["probs", "output_1"]
    for g, e in zip(got, f(x, y)):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-5, atol=1e-6)


def test_captured_tensors_become_initializers():
    w = f32(4, 3)
    model, (got,) = run_onnx(lambda x: (x @ w).tanh(), (f32(2, 4),))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    assert any(np.array_equal(v, w.numpy()) for v in inits.values())
    assert [i.name for i in model.graph.input] == ["x"]


def test_mlp_module():
    nn = pytest.importorskip("kiln.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("kiln.nn.Linear not available yet")
    kiln.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    x = f32(5, 8)
    onnx_model, (got,) = run_onnx(model, (x,))
    with kiln.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    names = {i.name for i in onnx_model.graph.initializer}
    assert {name for name, _ in model.named_parameters()} <= names


def test_uniform_is_refused_with_its_name():
    def noisy(x):
        return x + kiln.rand(3)

    with pytest.raises(UnsupportedPrimitiveError, match=r"uniform.*test_onnx.py"):
        export(noisy, (f32(3),), io.BytesIO())


def test_old_opset_is_refused():
    with pytest.raises(ValueError, match="opset_version 13"):
        export(lambda x: x, (f32(3),), io.BytesIO(), opset_version=13)


def test_newer_opset_reduce_max_axes_input():
    fn = prim("max", axes=(1,), keepdims=False)
    x = f32(3, 4)
    model, (got,) = run_onnx(fn, (x,), opset_version=18)
    np.testing.assert_allclose(got, fn(x).numpy())
