"""Regression tests for op gaps found by PyTorch's OpInfo database (each against torch)."""

import numpy as np
import pytest
import torch

import kiln


def _same(k, t, **tol):
    """kiln tensor ``k`` equals torch tensor ``t``: dtype, shape and values."""
    assert str(k.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], (k.dtype, t.dtype)
    assert tuple(k.shape) == tuple(t.shape)
    np.testing.assert_allclose(k.numpy(), t.numpy(), equal_nan=True, **tol)


# 1. erfinv at the ends of its domain


def test_erfinv_ends_are_infinite():
    for dt in ("float32", "float64"):
        vals = [1.0, -1.0, 0.5, -0.3, 0.0, 1.5]
        _same(
            kiln.erfinv(kiln.tensor(vals, dtype=dt)),
            torch.erfinv(torch.tensor(vals, dtype=getattr(torch, dt))),
            rtol=1e-6,
        )


def test_erfinv_float16_rounds_once():
    vals = [1.0, -1.0, 0.5, 0.9, -0.25, 0.999]
    k = kiln.erfinv(kiln.tensor(vals, dtype=kiln.float16))
    t = torch.erfinv(torch.tensor(vals, dtype=torch.float16))
    _same(k, t, rtol=0)


def test_erfinv_gradient_at_ends():
    kx = kiln.tensor([0.5, 1.0, -1.0], requires_grad=True)
    tx = torch.tensor([0.5, 1.0, -1.0], requires_grad=True)
    kiln.erfinv(kx).sum().backward()
    torch.erfinv(tx).sum().backward()
    _same(kx.grad, tx.grad, rtol=1e-5)


# 2. unary float ops of integer and bool tensors compute in float32

_FLOAT_UNARY = """cosh sinh exp log sqrt tanh sigmoid erf erfc erfinv cos sin tan exp2 expm1 log2
log10 log1p rsqrt atan asin acos asinh acosh atanh reciprocal lgamma digamma""".split()


@pytest.mark.parametrize("op", _FLOAT_UNARY)
@pytest.mark.parametrize("dt", ["uint8", "int8", "bool", "int32", "int64"])
def test_float_unary_of_integers(op, dt):
    vals = [True, False, True] if dt == "bool" else [5, 0, 1, 2]
    if dt in ("int8", "int32", "int64"):
        vals = vals + [-3, -1]
    k = getattr(kiln, op)(kiln.tensor(vals, dtype=getattr(kiln, dt)))
    t = getattr(torch, op)(torch.tensor(vals, dtype=getattr(torch, dt)))
    _same(k, t, rtol=1e-5, atol=1e-6)


# 3. square, sign, sgn, nan_to_num and isclose of bool and integer tensors


def test_square_of_bool_is_int64():
    _same(kiln.square(kiln.tensor([True, False])), torch.square(torch.tensor([True, False])))
    _same(kiln.tensor([True, False]).square(), torch.tensor([True, False]).square())


@pytest.mark.parametrize("op", ["sign", "sgn"])
def test_sign_of_bool(op):
    _same(
        getattr(kiln, op)(kiln.tensor([True, False])),
        getattr(torch, op)(torch.tensor([True, False])),
    )


@pytest.mark.parametrize("dt", ["int64", "uint8", "int8", "bool"])
def test_nan_to_num_of_integers_is_a_copy(dt):
    vals = [1, 0, 1] if dt == "bool" else [1, 2, 0]
    k = kiln.tensor(vals, dtype=getattr(kiln, dt))
    out = kiln.nan_to_num(k, nan=3.0, posinf=1.0)
    _same(out, torch.nan_to_num(torch.tensor(vals, dtype=getattr(torch, dt)), nan=3.0, posinf=1.0))


@pytest.mark.parametrize("atol", [1e-8, 1.0])
def test_isclose_of_bool(atol):
    a, b = [True, False, True, False], [True, True, False, False]
    k = kiln.isclose(kiln.tensor(a), kiln.tensor(b), atol=atol)
    _same(k, torch.isclose(torch.tensor(a), torch.tensor(b), atol=atol))


# 4. uint8 tensors with negative Python ints wrap as PyTorch's


def _both(fn):
    """``fn(kiln)`` and ``fn(torch)``: both results, or both exception classes."""
    out = []
    for m in (kiln, torch):
        try:
            out.append(fn(m))
        except Exception as e:  # noqa: BLE001 - the class is compared below
            out.append(type(e))
    return out


@pytest.mark.parametrize(
    "fn",
    [
        lambda m: m.add(m.tensor([0, 5, 250], dtype=m.uint8), 1, alpha=-3),
        lambda m: m.full_like(m.tensor([0, 5], dtype=m.uint8), -9),
        lambda m: m.scalar_tensor(-5, dtype=m.uint8),
        lambda m: m.eq(m.tensor([0, 255], dtype=m.uint8), -1),
        lambda m: m.lt(m.tensor([0, 255], dtype=m.uint8), -1),
        lambda m: m.tensor(-5, dtype=m.uint8),
        lambda m: m.tensor([[-1, 2], [-255, 4]], dtype=m.uint8),
        lambda m: m.as_tensor([-1], dtype=m.uint8),
        lambda m: m.tensor([1.7, -2.9], dtype=m.int8),
        lambda m: m.tensor([-256], dtype=m.uint8),
        lambda m: m.tensor([300], dtype=m.uint8),
        lambda m: m.tensor([-0.5], dtype=m.uint8),
        lambda m: m.tensor([200], dtype=m.int8),
        lambda m: m.tensor([2**31], dtype=m.int32),
        lambda m: m.tensor([float("nan")], dtype=m.int64),
        lambda m: m.tensor([2**63], dtype=m.int64),
    ],
)
def test_negative_ints_into_unsigned(fn):
    k, t = _both(fn)
    if isinstance(t, type):
        assert k is t
    else:
        _same(k, t)


# 5. linspace, logspace and arange with integer dtypes


def _cmp_or_raise(fn, exact=True):
    k, t = _both(fn)
    if isinstance(t, type) or isinstance(k, type):
        assert k is t, (k, t)
        return
    if exact:
        assert k.dtype.name == str(t.dtype).split(".")[-1]
        assert np.array_equal(k.numpy(), t.numpy()), (k, t)
    else:
        _same(k, t, rtol=1e-6)


_STARTS = [0, 1, -3, 2.5, -7.2, -0.5, -100]
_ENDS = [0, 5, -4, 7.7, 7, 100, -20.5]


@pytest.mark.parametrize("dt", ["int64", "int32", "uint8", "int8", "int16"])
def test_integer_linspace(dt):
    for s in _STARTS:
        for e in _ENDS:
            for n in (0, 1, 2, 3, 4, 7, 13, 100):
                _cmp_or_raise(lambda m, s=s, e=e, n=n: m.linspace(s, e, n, dtype=getattr(m, dt)))


@pytest.mark.parametrize("dt", ["int64", "int32", "uint8"])
def test_integer_logspace(dt):
    assert kiln.logspace(0, 1.2, 2, dtype=kiln.int64).tolist() == [1, 10]
    for s in (0, 1, -3, 2.5, 0.3):
        for e in (0, 1.2, 2, -4, 3.7):
            for n in (0, 1, 2, 3, 5):
                for b in (10, 2, 3.5):
                    _cmp_or_raise(
                        lambda m, s=s, e=e, n=n, b=b: m.logspace(
                            s, e, n, base=b, dtype=getattr(m, dt)
                        )
                    )


@pytest.mark.parametrize("dt", [None, "int64", "int32", "uint8", "float32"])
@pytest.mark.parametrize(
    "args",
    [
        (0.0, -8.000001, -4.0),
        (0, 3, 0.5),
        (0.5, 5.7, 1.5),
        (-1.5, 3, 1),
        (0, float("inf"), 1),
        (0, float("nan"), 1),
        (0, 10**19, 1),
        (0, 3, 0),
        (5, 0.5, 1),
        (10, 0, -3),
        (1, 2.5, 0.5),
    ],
)
def test_arange_sizes_and_errors(args, dt):
    _cmp_or_raise(lambda m: m.arange(*args, dtype=None if dt is None else getattr(m, dt)))


# 6. out= of the wrong dtype

_X = [[1.0, 5.0], [3.0, 2.0]]
_OUT_CASES = {
    "gather": lambda m, o: m.gather(m.tensor(_X), 0, m.tensor([[0, 1], [1, 0]]), out=o),
    "index_select": lambda m, o: m.index_select(m.tensor(_X), 0, m.tensor([0]), out=o),
    "take": lambda m, o: m.take(m.tensor(_X), m.tensor([0, 3]), out=o),
    "masked_select": lambda m, o: m.masked_select(m.tensor(_X), m.tensor(_X) > 2, out=o),
    "mm": lambda m, o: m.mm(m.tensor(_X), m.tensor(_X), out=o),
    "matmul": lambda m, o: m.matmul(m.tensor(_X), m.tensor(_X), out=o),
    "tril": lambda m, o: m.tril(m.tensor(_X), out=o),
    "softmax": lambda m, o: m.softmax(m.tensor(_X), 0, out=o),
    "amax": lambda m, o: m.amax(m.tensor(_X), 0, out=o),
    "where": lambda m, o: m.where(m.tensor(_X) > 2, m.tensor(_X), m.tensor(0.0), out=o),
    "clamp": lambda m, o: m.clamp(m.tensor(_X), 0, 1, out=o),
    "round": lambda m, o: m.round(m.tensor(_X), out=o),
    "nan_to_num": lambda m, o: m.nan_to_num(m.tensor(_X), out=o),
    "outer": lambda m, o: m.outer(m.tensor([1.0, 2.0]), m.tensor([1.0, 2.0]), out=o),
    "add": lambda m, o: m.add(m.tensor(_X), 1, out=o),
    "exp": lambda m, o: m.exp(m.tensor(_X), out=o),
    "sum": lambda m, o: m.sum(m.tensor(_X), 0, out=o),
    "cumsum": lambda m, o: m.cumsum(m.tensor(_X), 0, out=o),
    "linspace": lambda m, o: m.linspace(0, 3, 4, out=o),
    "arange": lambda m, o: m.arange(0, 4.5, out=o),
    "full": lambda m, o: m.full((2,), 1.5, out=o),
    "cat": lambda m, o: m.cat([m.tensor(_X), m.tensor(_X)], out=o),
    "stack": lambda m, o: m.stack([m.tensor(_X), m.tensor(_X)], out=o),
    "vstack": lambda m, o: m.vstack([m.tensor(_X), m.tensor(_X)], out=o),
}


@pytest.mark.parametrize("dt", ["float32", "float64", "float16", "int64"])
@pytest.mark.parametrize("op", sorted(_OUT_CASES))
def test_out_dtype_rule(op, dt):
    _cmp_or_raise(lambda m: _OUT_CASES[op](m, m.empty(0, dtype=getattr(m, dt))), exact=False)


# 7. Tensor methods and small API gaps


@pytest.mark.parametrize("method", ["short", "byte", "char", "cfloat", "cdouble"])
def test_conversion_methods(method):
    vals = [1.5, -1.5, 0.0, 7.9]
    _same(getattr(kiln.tensor(vals), method)(), getattr(torch.tensor(vals), method)())


def test_rdiv():
    _same(kiln.tensor([4, 8]).__rdiv__(2), torch.tensor([4, 8]).__rdiv__(2))
    _same(kiln.tensor([4.0]).__rdiv__(3.0), torch.tensor([4.0]).__rdiv__(3.0))


def test_resize_as_():
    k = kiln.tensor([1.0, 2.0, 3.0]).resize_as_(kiln.zeros(2, 2))
    assert tuple(k.shape) == tuple(
        torch.tensor([1.0, 2.0, 3.0]).resize_as_(torch.zeros(2, 2)).shape
    )


def test_numpy_force():
    k = kiln.tensor([1.0, 2.0], requires_grad=True)
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(k.numpy(force=True), t.numpy(force=True))
    with pytest.raises(RuntimeError):
        k.numpy()
    with pytest.raises(RuntimeError):
        t.numpy()


def test_generator_device():
    assert str(kiln.Generator().device) == str(torch.Generator().device) == "cpu"
    assert kiln.Generator().device.type == "cpu"


def test_from_numpy_negative_strides():
    a = np.arange(4.0)[::-1]
    with pytest.raises(ValueError):
        torch.from_numpy(a)
    with pytest.raises(ValueError, match="negative"):
        kiln.from_numpy(a)
    shared = np.arange(6.0)[::2]  # positive strides still share memory
    k = kiln.from_numpy(shared)
    shared[0] = 9.0
    assert k[0].item() == 9.0


# 8. an in-place overwrite ends the autograd history


@pytest.mark.parametrize(
    "write",
    [
        lambda m, y: y.zero_(),
        lambda m, y: y.fill_(2.0),
        lambda m, y: y.fill_(m.tensor(2.0)),
        lambda m, y: y.copy_(m.ones(2)),
        lambda m, y: y[0:1].zero_(),
    ],
)
def test_overwrite_passes_zero_gradient(write):
    grads = []
    for m in (kiln, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x.clone() * 2
        write(m, y)
        assert y.requires_grad
        (y * 3).sum().backward()
        grads.append(x.grad)
    _same(*grads)


def test_copy_from_a_leaf_that_requires_grad():
    out = []
    for m in (kiln, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([5.0, 6.0], requires_grad=True)
        y = x.clone().copy_(w)
        (y * 3).sum().backward()
        z = m.zeros(2)
        v = m.tensor([1.0, 2.0], requires_grad=True)
        z.copy_(v)
        (z * z).sum().backward()
        out.append((x.grad, w.grad, v.grad, type(y.grad_fn).__name__))
    (kx, kw, kv, kn), (tx, tw, tv, tn) = out
    _same(kx, tx)
    _same(kw, tw)
    _same(kv, tv)
    assert kn == tn == "CopyBackwards"


# 9. unravel_index exact in int64 (no float64 rounding)


@pytest.mark.parametrize(
    "idx, shape",
    [
        (2**63 - 2, (1, 2**63 - 1)),
        ([2**63 - 2, 2**62 + 1], (2**63 - 1,)),
        ([2**63 - 2], (3, 2**61, 1)),
        ([-(2**63), -3], (7, 2**60)),
    ],
)
def test_unravel_index_large(idx, shape):
    k = kiln.unravel_index(kiln.tensor(idx), shape)
    t = torch.unravel_index(torch.tensor(idx), shape)
    assert [a.tolist() for a in k] == [b.tolist() for b in t]
    traced = kiln.jit(lambda x: kiln.unravel_index(x, shape))(kiln.tensor(idx))
    assert [a.tolist() for a in traced] == [b.tolist() for b in t]
