"""Tensors print exactly as PyTorch prints them (``kiln.printing``).

Every case builds the same values in kiln and in PyTorch and requires ``str`` and ``repr``
to agree character for character, under PyTorch's default print options and under
``set_printoptions`` variations applied to both. The one deliberate difference: kiln's
dtypes are named ``kiln.float16`` where PyTorch's are ``torch.float16`` (the repr of a
kiln dtype), so PyTorch's text is compared with ``torch.`` read as ``kiln.``.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch

import kiln
from kiln import printing

DTYPES = {
    "float16": (kiln.float16, torch.float16),
    "float32": (kiln.float32, torch.float32),
    "float64": (kiln.float64, torch.float64),
    "int8": (kiln.int8, torch.int8),
    "uint8": (kiln.uint8, torch.uint8),
    "int16": (kiln.int16, torch.int16),
    "int32": (kiln.int32, torch.int32),
    "int64": (kiln.int64, torch.int64),
    "bool": (kiln.bool, torch.bool),
    "complex64": (kiln.complex64, torch.complex64),
    "complex128": (kiln.complex128, torch.complex128),
}


@pytest.fixture(autouse=True)
def _default_options():
    """Every test starts and ends with the default options on both sides."""
    yield
    kiln.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    kiln.set_default_dtype(kiln.float32)
    torch.set_default_dtype(torch.float32)


def torch_text(text: str) -> str:
    return text.replace("torch.", "kiln.")


def pair(array: np.ndarray, dtype: str | None = None, requires_grad: bool = False):
    array = np.asarray(array)
    if dtype is None:
        dtype = array.dtype.name
    kd, td = DTYPES[dtype]
    k = kiln.tensor(array.astype(kd.np), dtype=kd, requires_grad=requires_grad)
    t = torch.tensor(array.astype(kd.np), dtype=td, requires_grad=requires_grad)
    return k, t


def check(k, t):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings (float16) while printing
        kr, ks = repr(k), str(k)
    assert kr == torch_text(repr(t))
    assert ks == torch_text(str(t))


def check_array(array, dtype=None, requires_grad=False):
    check(*pair(array, dtype, requires_grad))


# ------------------------------------------------------------------------- value cases

rng = np.random.default_rng(0)


def _values():
    cases = {}
    for exp in (-12, -8, -5, -4, -3, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 30):
        scale = 10.0**exp
        cases[f"normal_1e{exp}"] = rng.standard_normal(7) * scale
        cases[f"uniform_2d_1e{exp}"] = rng.uniform(0, scale, (3, 4))
    cases["ints_as_float"] = np.array([1.0, -2.0, 30.0, 400.0])
    cases["ints_as_float_big"] = np.array([1.0, 2.0, 3e9])
    cases["ints_as_float_ratio"] = np.array([1.0, 2000.0])
    cases["ints_huge"] = np.array([1e20, -3e12])
    cases["tiny"] = np.array([1e-30, 2e-30, -5e-31])
    cases["ratio_sci"] = np.array([0.001, 1.5, 12.0])
    cases["boundary_1e-4"] = np.array([1e-4, 0.05])
    cases["boundary_1e8"] = np.array([1e8, 1.5e8])
    cases["zeros"] = np.zeros(5)
    cases["neg_zero"] = np.array([-0.0, 0.0, 1.0])
    cases["only_neg_zero"] = np.array([-0.0, -0.0])
    cases["inf_nan"] = np.array([np.inf, -np.inf, np.nan, 1.5, -2.25])
    cases["inf_nan_ints"] = np.array([np.inf, np.nan, 3.0])
    cases["only_nonfinite"] = np.array([np.inf, np.nan, -np.inf])
    cases["nan_zero"] = np.array([np.nan, 0.0])
    cases["sci_with_inf"] = np.array([1e-9, np.inf, -1.0])
    cases["rounding"] = np.array([0.99995, 9.99995, 0.00015, 123.45675])
    cases["round_to_next_exp"] = np.array([9.99996e4, 1e-6])
    cases["mixed_sign_width"] = np.array([99.5, -10.0, 3.25])
    cases["3d"] = rng.standard_normal((2, 3, 4))
    cases["4d"] = rng.standard_normal((2, 2, 2, 3))
    cases["5d"] = rng.integers(-5, 5, (2, 1, 2, 1, 2)).astype(np.float64)
    cases["long_row"] = rng.standard_normal(40)
    cases["wide_2d"] = rng.standard_normal((3, 25)) * 100
    cases["scalar"] = np.array(3.14159)
    cases["scalar_int_valued"] = np.array(-7.0)
    cases["scalar_nan"] = np.array(np.nan)
    cases["scalar_tiny"] = np.array(1e-7)
    cases["singleton_2d"] = np.array([[2.5]])
    return cases


VALUES = _values()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name", sorted(VALUES))
def test_floats(name, dtype):
    values = VALUES[name]
    if dtype == "float16":
        with np.errstate(over="ignore"):
            values = values.astype(np.float16)
    check_array(values, dtype)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64"])
@pytest.mark.parametrize(
    "values",
    [
        [1, 2, 3],
        [0, -1, 100, -128],
        [[5, -17], [120, 0]],
        [7],
        5,
        "extremes",
        "random_3d",
    ],
    ids=str,
)
def test_integers(values, dtype):
    info = np.iinfo(DTYPES[dtype][0].np)
    if values == "extremes":
        values = np.array([info.min, 0, info.max])
    elif values == "random_3d":
        values = rng.integers(info.min, info.max, (2, 3, 5), endpoint=True)
    values = np.asarray(values)
    if dtype == "uint8":
        values = np.abs(values) % 256
    values = np.clip(values, info.min, info.max)
    check_array(values, dtype)


@pytest.mark.parametrize(
    "values", [[True, False, True], [True, True], [[False], [True]], True, False], ids=str
)
def test_bool(values):
    check_array(np.array(values), "bool")


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize(
    "values",
    [
        [1 + 2j, 3 - 0.5j],
        [1 + 2j, -3 - 4j],
        [0.001 + 1e5j, -2j],
        [complex(0, -0.0), complex(-0.0, 0.0)],
        [complex(np.inf, np.nan), 1 + 1j],
        2.5 - 1j,
        "random_2d",
        "long",
    ],
    ids=str,
)
def test_complex(values, dtype):
    if values == "random_2d":
        values = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4)) * 100
    elif values == "long":
        values = rng.standard_normal(1500) + 1j * rng.standard_normal(1500)
    check_array(np.array(values), dtype)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 4), (3, 0)], ids=str)
def test_empty(shape, dtype):
    check_array(np.zeros(shape), dtype)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_each_dtype_2d_and_scalar(dtype):
    values = rng.integers(0, 100, (3, 4)) * (1.5 if dtype[0] in "fc" else 1)
    check_array(values, dtype)
    check_array(np.array(values[0, 0]), dtype)


@pytest.mark.parametrize(
    "shape",
    [
        (1001,),
        (5000,),
        (6,),
        (7,),
        (1001, 1),
        (1, 1001),
        (40, 40),
        (3, 400),
        (12, 12, 12),
        (5, 5, 5, 10),
        (2, 1000),
        (3, 3, 3, 3, 20),
    ],
    ids=str,
)
@pytest.mark.parametrize("kind", ["float", "int", "sci", "bool"])
def test_summarized(shape, kind):
    n = math.prod(shape)
    if kind == "float":
        values = rng.standard_normal(n).reshape(shape)
    elif kind == "int":
        values = np.arange(n).reshape(shape) - n // 2
    elif kind == "sci":
        values = np.logspace(-6, 6, n).reshape(shape)
    else:
        values = (np.arange(n) % 3 == 0).reshape(shape)
    check_array(values)


# --------------------------------------------------------------------------- options

OPTIONS = [
    dict(precision=0),
    dict(precision=2),
    dict(precision=8),
    dict(threshold=5),
    dict(threshold=0),
    dict(threshold=math.inf),
    dict(edgeitems=0),
    dict(edgeitems=0, threshold=5),
    dict(edgeitems=1, threshold=5),
    dict(edgeitems=5, threshold=10),
    dict(linewidth=20),
    dict(linewidth=200),
    dict(linewidth=1),
    dict(profile="short"),
    dict(profile="full"),
    dict(profile="short", precision=6),
    dict(sci_mode=True),
    dict(sci_mode=False),
    dict(sci_mode=True, precision=1),
]

OPTION_VALUES = {
    "float": rng.standard_normal((4, 6)) * 10,
    "tiny": np.array([1e-9, 2.5e-7, 3.0]),
    "int_float": np.array([1.0, 20.0, -300.0]),
    "ints": np.arange(-20, 20),
    "long": rng.standard_normal(2000),
    "cube": rng.standard_normal((10, 10, 10)),
    "scalar": np.array(1.23456789),
    "complex": rng.standard_normal(8) + 1j * rng.standard_normal(8),
    "bool": np.arange(30) % 2 == 0,
    "int32": np.arange(12, dtype=np.int32).reshape(3, 4),
    "nonfinite": np.array([np.inf, -1.5, np.nan]),
}


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
@pytest.mark.parametrize("name", sorted(OPTION_VALUES))
def test_printoptions(options, name):
    kiln.set_printoptions(**options)
    torch.set_printoptions(**options)
    check_array(OPTION_VALUES[name])
    check_array(OPTION_VALUES[name], requires_grad=OPTION_VALUES[name].dtype.kind in "fc")


def test_get_printoptions_and_context():
    assert printing.get_printoptions() == torch._tensor_str.get_printoptions()
    with printing.printoptions(precision=2, threshold=5):
        with torch._tensor_str.printoptions(precision=2, threshold=5):
            assert printing.get_printoptions() == torch._tensor_str.get_printoptions()
            check_array(np.linspace(0, 1, 10))
    assert printing.get_printoptions() == torch._tensor_str.get_printoptions()
    check_array(np.linspace(0, 1, 10))
    kiln.set_printoptions(precision=3, sci_mode=True)
    kiln.set_printoptions(linewidth=100)  # sci_mode goes back to None, as in PyTorch
    torch.set_printoptions(precision=3, sci_mode=True)
    torch.set_printoptions(linewidth=100)
    assert printing.get_printoptions() == torch._tensor_str.get_printoptions()


def test_precision_changes_printing():
    """The gap the scripts showed: ``set_printoptions(precision=2)`` used to do nothing."""
    kiln.set_printoptions(precision=2)
    assert str(kiln.tensor([1.23456, 2.5])) == "tensor([1.23, 2.50])"


# ----------------------------------------------------------------- dtype= and defaults


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_default_dtype_float64(dtype):
    kiln.set_default_dtype(kiln.float64)
    torch.set_default_dtype(torch.float64)
    check_array(np.array([1.5, 2.0, 3.0]), dtype)
    check_array(np.zeros((0, 2)), dtype)


# -------------------------------------------------------------------- autograd suffixes


# kiln names a node after its primitive (``grad_fn.name()``), and a composite's output node
# after the composite's last primitive: where PyTorch has an op of its own the names differ
# (``mean`` ends in DivBackward0, ``relu`` in WhereBackward0, ``x @ w`` is MatmulBackward0,
# PyTorch's MmBackward0). The repr prints kiln's name; these tests require everything else
# to be PyTorch's text, and the names to agree for the ops where kiln's graph is PyTorch's.
GRAPH = {
    "add": (lambda m, a, b: a + b, True),
    "mul": (lambda m, a, b: a * b, True),
    "sub": (lambda m, a, b: a - b, True),
    "div": (lambda m, a, b: a / b, True),
    "neg": (lambda m, a, b: -a, True),
    "exp": (lambda m, a, b: a.exp(), True),
    "log": (lambda m, a, b: (a * a + b).log(), True),
    "sin": (lambda m, a, b: a.sin(), True),
    "sum": (lambda m, a, b: a.sum(), True),
    "pow": (lambda m, a, b: a**3, True),
    "tanh": (lambda m, a, b: m.tanh(a), True),
    "abs": (lambda m, a, b: a.abs(), True),
    "sqrt": (lambda m, a, b: a.abs().sqrt(), True),
    "T": (lambda m, a, b: a.T, True),
    "permute": (lambda m, a, b: a.permute(1, 0), True),
    "slice": (lambda m, a, b: a[:, 1:], True),
    "where": (lambda m, a, b: m.where(a > 0, a, b), True),
    "maximum": (lambda m, a, b: m.maximum(a, b), True),
    "mean": (lambda m, a, b: a.mean(), True),
    "sigmoid": (lambda m, a, b: m.sigmoid(a), True),
    "relu": (lambda m, a, b: m.relu(a), True),
    "matmul": (lambda m, a, b: a @ b.T, True),
    "reshape": (lambda m, a, b: a.reshape(3, 2), True),
    "softmax": (lambda m, a, b: a.softmax(1), True),
    "sum_dim": (lambda m, a, b: a.sum(1), True),
    "cat": (lambda m, a, b: m.cat([a, b]), True),
}


def check_graph(k, t, same_name: bool):
    """``check``, with PyTorch's grad_fn name read as kiln's ``grad_fn.name()``."""
    k_name, t_name = k.grad_fn.name(), type(t.grad_fn).__name__
    assert (k_name == t_name) is same_name, (k_name, t_name)
    kr, ks = repr(k), str(k)
    expected = torch_text(repr(t)).replace(f"<{t_name}>", f"<{k_name}>")
    if not same_name:  # names of other lengths break the suffixes' line elsewhere
        kr, expected = _one_line_suffixes(kr), _one_line_suffixes(expected)
    assert kr == expected
    assert ks == repr(k)


def _one_line_suffixes(text: str) -> str:
    return re.sub(r",\n *(?=(dtype|grad_fn|requires_grad|device|size)=)", ", ", text)


@pytest.mark.parametrize("op", sorted(GRAPH))
def test_grad_fn(op):
    a = rng.standard_normal((2, 3))
    b = rng.uniform(1, 2, (2, 3))
    fn, same_name = GRAPH[op]
    for dtype in ("float32", "float64"):
        ka, ta = pair(a, dtype, requires_grad=True)
        kb, tb = pair(b, dtype)
        check_graph(fn(kiln, ka, kb), fn(torch, ta, tb), same_name)


def test_requires_grad_and_detach():
    k, t = pair(np.array([1.0, 2.0]), requires_grad=True)
    check(k, t)
    check(k.detach(), t.detach())
    with kiln.no_grad(), torch.no_grad():
        check(k * 2, t * 2)
    k, t = pair(np.array(3.0), requires_grad=True)
    check(k, t)


def test_suffix_wraps_at_linewidth():
    """A long last line moves ``dtype=`` / ``grad_fn=`` to a line of their own."""
    values = rng.standard_normal((2, 8)) * 1000
    for dtype in ("float64", "float16"):
        k, t = pair(values, dtype, requires_grad=True)
        check(k * 3, t * 3)
    check_array(np.arange(11, dtype=np.int32) * 10**8, "int32")


def test_parameter():
    values = rng.standard_normal((3, 2))
    kp = kiln.nn.Parameter(kiln.tensor(values.astype(np.float32)))
    tp = torch.nn.Parameter(torch.tensor(values.astype(np.float32)))
    check(kp, tp)
    kp = kiln.nn.Parameter(kiln.tensor([1.0, 2.0]), requires_grad=False)
    tp = torch.nn.Parameter(torch.tensor([1.0, 2.0]), requires_grad=False)
    check(kp, tp)
    kiln.manual_seed(0)
    layer = kiln.nn.Linear(3, 2)
    check(layer.bias.detach(), torch.tensor(layer.bias.detach().numpy()))


def test_meta():
    for shape, kd, td in [
        ((2, 3), kiln.float32, torch.float32),
        ((), kiln.float32, torch.float32),
        ((4,), kiln.int64, torch.int64),
        ((0, 2), kiln.float16, torch.float16),
    ]:
        k = kiln.empty(shape, dtype=kd, device="meta")
        t = torch.empty(shape, dtype=td, device="meta")
        check(k, t)
    k = kiln.nn.Parameter(kiln.zeros(2, 3, device="meta"))
    t = torch.nn.Parameter(torch.zeros(2, 3, device="meta"))
    check(k, t)
    kl = kiln.nn.Linear(3, 2, device="meta")
    tl = torch.nn.Linear(3, 2, device="meta")
    check(kl.weight, tl.weight)
    k = kl(kiln.empty(4, 3, device="meta"))
    t = tl(torch.empty(4, 3, device="meta"))
    check_graph(k, t, same_name=True)  # AddmmBackward0
    check_graph(k * 2, t * 2, same_name=True)


def test_subclass_prints_its_name():
    class MyTensor(kiln.Tensor):
        pass

    class TorchTensor(torch.Tensor):
        pass

    k = kiln.tensor([1.0, 2.0])
    k.__class__ = MyTensor
    t = torch.tensor([1.0, 2.0]).as_subclass(TorchTensor)
    assert repr(k) == repr(t).replace("TorchTensor", "MyTensor")


def test_format():
    k, t = pair(np.array(2.5))
    for spec in ("", ".2f", "8.3e", ">10"):
        assert format(k, spec) == format(t, spec)
        assert f"{k:{spec}}" == f"{t:{spec}}"
    k, t = pair(np.array(7), "int64")
    assert format(k, "04d") == format(t, "04d")
    k, t = pair(np.array(2.5), requires_grad=True)
    assert format(k, ".1f") == format(t, ".1f")
    k, t = pair(np.array([2.5, 1.0]))
    assert format(k, "") == torch_text(format(t, "")) == f"{k}" == str(k)
    with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
        format(k, ".2f")
    with pytest.raises(TypeError, match="unsupported format string"):
        format(t, ".2f")
    kp = kiln.nn.Parameter(kiln.tensor(1.5))
    tp = torch.nn.Parameter(torch.tensor(1.5))
    assert format(kp, "") == format(tp, "")
    with pytest.raises(TypeError):
        format(kp, ".1f")
    with pytest.raises(TypeError):
        format(tp, ".1f")


def test_views_and_non_contiguous():
    a = rng.standard_normal((4, 5))
    k, t = pair(a)
    check(k.T, t.T)
    check(k[::2, 1:], t[::2, 1:])
    check(k[1], t[1])
    check(k[1, 2], t[1, 2])


def test_float16_no_overflow_warning():
    k, t = pair(np.array([60000.0, 1e-3, 0.5]), "float16")
    check(k, t)  # check() turns warnings into errors


# ------------------------------------------------------------------------ random cases

SPECIALS = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0])


def _random_case(seed: int):
    """A random shape, dtype, values (magnitudes, integers, inf/nan/-0.0) and options."""
    r = np.random.default_rng(seed)
    ndim = int(r.integers(0, 5))
    big = r.random() < 0.2
    shape = tuple(
        int(r.integers(0 if r.random() < 0.1 else 1, 30 if big else 6)) for _ in range(ndim)
    )
    n = math.prod(shape)
    dtype = str(r.choice(sorted(DTYPES)))
    if dtype in ("float16", "float32", "float64", "complex64", "complex128"):
        exponents = r.integers(-10, 11, n) if r.random() < 0.5 else np.full(n, r.integers(-6, 9))
        values = r.standard_normal(n) * 10.0 ** exponents.astype(float)
        if r.random() < 0.3:
            values = np.round(values)
        if r.random() < 0.3 and n:
            where = r.random(n) < 0.3
            values[where] = r.choice(SPECIALS, int(where.sum()))
        if dtype.startswith("complex"):
            parts = values
            values = np.empty(n, np.complex128)
            values.real, values.imag = parts, r.permutation(parts)
        elif dtype == "float16":
            values = np.clip(values, -65504, 65504)
    elif dtype == "bool":
        values = r.random(n) < 0.5
    else:
        info = np.iinfo(DTYPES[dtype][0].np)
        values = r.integers(max(info.min, -(10 ** r.integers(1, 12))), info.max, n, endpoint=True)
    options = {}
    if r.random() < 0.5:
        options = {
            "precision": int(r.integers(0, 9)),
            "threshold": int(r.choice([0, 5, 50, 1000, 10**6])),
            "edgeitems": int(r.integers(0, 5)),
            "linewidth": int(r.choice([10, 40, 80, 120])),
            "sci_mode": r.choice([None, True, False]),
        }
    return values.reshape(shape), dtype, bool(r.random() < 0.3), options


@pytest.mark.parametrize("seed", range(300))
def test_random(seed):
    values, dtype, requires_grad, options = _random_case(seed)
    kiln.set_printoptions(**options)
    torch.set_printoptions(**options)
    requires_grad = requires_grad and dtype[0] in "fc"
    check_array(values, dtype, requires_grad)
