"""Gaps found by running other frameworks' PyTorch-side tests with ``import kiln as torch``
(tinygrad's test_dtype.py / test_dtype_alu.py / test/models/test_end2end.py, PyTorch's
test_type_promotion.py, mlx's python/tests/test_conv*.py and test_upsample.py), each
checked against torch here."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _values(t):
    return t.detach().numpy().tolist()


# ----------------------------------------------------------------------------- tensor()
# Python ints beyond 2**53 mixed with floats (or beyond int64, for uint64) went through
# float64 in np.asarray: tensor([2**62 + 1, 2.0], dtype=int64) lost the low bits and
# tensor([2**64 - 1, 5], dtype=uint64) gave 0 (silently wrong values).


@pytest.mark.parametrize(
    "data, dtype",
    [
        ([2**62 + 1, 2.0], "int64"),
        ([2**53 + 1, 1.0], "int64"),
        ([[2**62, -2.7], [3, -(2**62) - 1]], "int64"),
        ([2**64 - 1, 5], "uint64"),
        ([16032061635748372028, 5, 2**64 - 1], "uint64"),
        ([[2**63 + 1], [3]], "uint64"),
        ([2**63 + 1, True], "uint64"),
        (2**64 - 1, "uint64"),
        ([2**63], "uint64"),
    ],
)
def test_tensor_keeps_large_python_ints_exact(data, dtype):
    want = torch.tensor(data, dtype=getattr(torch, dtype))
    got = kiln.tensor(data, dtype=getattr(kiln, dtype))
    assert str(got.dtype).split(".")[-1] == dtype
    assert _values(got) == want.tolist()
    if dtype == "int64":  # jitted: the same constant inside a compiled function
        jitted = kiln.jit(lambda x: x + kiln.tensor(data, dtype=kiln.int64))
        assert _values(jitted(kiln.zeros((), dtype=kiln.int64))) == want.tolist()


@pytest.mark.parametrize(
    "data, dtype, error",
    [
        ([2**62, float("nan")], "int64", RuntimeError),
        ([2**62, 1e30], "int64", RuntimeError),
        ([2**62 + 1, 2.0], "int32", RuntimeError),
        ([2**63], "int64", ValueError),
        ([2**64], "uint64", OverflowError),
    ],
)
def test_tensor_large_python_ints_out_of_range_raise_as_torch(data, dtype, error):
    with pytest.raises(error):
        torch.tensor(data, dtype=getattr(torch, dtype))
    with pytest.raises(error):
        kiln.tensor(data, dtype=getattr(kiln, dtype))


# ----------------------------------------------------------------------------- cat()
# cat skips legacy empty 1-D tensors for the shape check, but PyTorch still promotes with
# their dtypes: cat([int8 tensor, empty float64 tensor]) is float64; kiln returned int8.


@pytest.mark.parametrize(
    "first, empty",
    [
        ("int8", "int16"),
        ("int8", "float64"),
        ("float32", "float64"),
        ("int64", "bool"),
        ("float16", "float32"),
        ("uint8", "int8"),
        ("bool", "complex64"),
    ],
)
def test_cat_promotes_with_skipped_empty_tensors(first, empty):
    def run(lib):
        x = lib.tensor([[1, 0, 3]], dtype=getattr(lib, first))
        e = lib.tensor([], dtype=getattr(lib, empty))
        return lib.cat([x, e]), lib.cat([e, x]), lib.hstack([x[0], e])

    for want, got in zip(run(torch), run(kiln)):
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    if empty != "complex64":  # (complex tensors run eagerly only)
        x = kiln.tensor([[1, 0, 3]], dtype=getattr(kiln, first))
        jitted = kiln.jit(lambda x, e: kiln.cat([x, e]))(
            x, kiln.tensor([], dtype=getattr(kiln, empty))
        )
        assert str(jitted.dtype).split(".")[-1] == str(run(torch)[0].dtype).split(".")[-1]


def test_cat_with_skipped_empty_float64_tensor_gradient():
    def run(lib):
        w = lib.tensor([[0.5, -1.0, 2.0]], dtype=lib.float32, requires_grad=True)
        e = lib.tensor([], dtype=lib.float64)
        out = lib.cat([w, e])
        (out * out).sum().backward()
        return out, w.grad

    (want, want_grad), (got, got_grad) = run(torch), run(kiln)
    assert got.dtype == kiln.float64 and want.dtype == torch.float64
    assert got_grad.dtype == kiln.float32
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy())


# ----------------------------------------------------------------------------- x[idx] = v
# PyTorch's index_put_ takes a value tensor of the destination's own dtype only (its
# RuntimeError); a basic index (a copy_) and one mask with one value (a masked_fill_)
# convert. kiln converted everywhere.


def _setitem(lib, statement, dtype="float32"):
    r = lib.arange(9, dtype=lib.float32).reshape(3, 3).to(getattr(lib, dtype))
    m = r > 3
    exec(statement.replace("torch.", "lib."), {"r": r, "m": m, "lib": lib})
    return r


@pytest.mark.parametrize(
    "statement",
    [
        "r[[0]] = torch.tensor(2.5, dtype=torch.float64)",
        "r[m] = torch.zeros(5, dtype=torch.float64)",
        "r[0, [1]] = torch.zeros(1, dtype=torch.float64)",
        "r[..., [0]] = torch.zeros(3, 1, dtype=torch.int64)",
        "r[torch.tensor([0])] = torch.ones(3, dtype=torch.float64)",
        "r[torch.tensor(True)] = torch.tensor(1, dtype=torch.int64)",
        "r[[0, 1], [1, 2]] = torch.tensor([1, 2])",
        "r.index_put_((torch.tensor([0]),), torch.tensor(2))",
        "r.index_put_((m,), torch.tensor(1.0, dtype=torch.float64), accumulate=True)",
        "r.index_put_((torch.tensor([0]),), torch.ones(3, dtype=torch.float64), accumulate=True)",
    ],
)
def test_index_put_refuses_a_value_of_another_dtype(statement):
    with pytest.raises(RuntimeError, match="dtypes match"):
        _setitem(torch, statement)
    with pytest.raises(RuntimeError, match="dtypes match"):
        _setitem(kiln, statement)


@pytest.mark.parametrize(
    "statement",
    [
        "r[m] = torch.tensor(2.5, dtype=torch.float64)",
        "r[m] = torch.tensor([2.5], dtype=torch.float64)",
        "r[0] = torch.zeros(3, dtype=torch.float64)",
        "r[torch.tensor(1)] = torch.ones(3, dtype=torch.float64)",
        "r[None] = torch.zeros(3, 3, dtype=torch.int64) + 4",
        "r[[True, False, True]] = torch.tensor(7, dtype=torch.int64)",
        "r[[0]] = 2",
        "r[[0, 2], [1, 1]] = torch.tensor([-1.5, 8.0])",
        "r.index_put_((torch.tensor([True, False, True]),), torch.tensor(5, dtype=torch.int64))",
        "r.index_put_((torch.tensor(True),), torch.tensor(1.0, dtype=torch.float64))",
    ],
)
def test_index_put_converts_where_torch_does(statement):
    want, got = _setitem(torch, statement), _setitem(kiln, statement)
    assert got.dtype == kiln.float32
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_index_put_same_dtype_gradient_float64():
    def run(lib):
        base = lib.tensor(np.linspace(-1, 1, 9).reshape(3, 3), requires_grad=True)
        v = lib.tensor([[0.5, -2.0, 3.0]], dtype=lib.float64, requires_grad=True)
        r = base * 2
        r[[0, 2]] = v * v
        (r * lib.arange(9, dtype=lib.float64).reshape(3, 3)).sum().backward()
        return r, base.grad, v.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "dtype, statement",
    [
        ("uint8", "r[1] = -129"),
        ("uint8", "r[[1], [1]] = -3"),
        ("int8", "r[0, 0] = -128"),
        ("int32", "r[:, 1] = 2**31 - 1"),
    ],
)
def test_setitem_python_int_wraps_or_fits_as_torch(dtype, statement):
    want, got = _setitem(torch, statement, dtype), _setitem(kiln, statement, dtype)
    assert str(got.dtype).split(".")[-1] == dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize(
    "dtype, statement",
    [("int8", "r[1] = -129"), ("int8", "r[[1], [1]] = 1000"), ("uint8", "r[0] = 256")],
)
def test_setitem_python_int_overflow_raises_runtime_error(dtype, statement):
    with pytest.raises(RuntimeError):
        _setitem(torch, statement, dtype)
    with pytest.raises(RuntimeError, match="without overflow"):
        _setitem(kiln, statement, dtype)


def test_empty_list_index_is_an_empty_long_index():
    def run(lib):
        r = lib.arange(27.0).reshape(3, 3, 3)
        got = r[[]]
        r[[]] = lib.tensor(5.0)
        return got, r

    for want, got in zip(run(torch), run(kiln)):
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


# ----------------------------------------------------------------------------- views
# kiln.diagonal (the function) returned a copy, while Tensor.diagonal and PyTorch's
# torch.diagonal are views: kiln.diagonal(a).fill_(0) left ``a`` unchanged, and a later
# change of ``a`` did not show in it (silently stale values).


@pytest.mark.parametrize("offset, dim1, dim2", [(0, 0, 1), (-1, 0, 1), (2, 1, 0), (1, 0, 2)])
def test_diagonal_function_is_a_view(offset, dim1, dim2):
    def run(lib):
        t = lib.arange(60.0).reshape(3, 4, 5)
        base = t[0] if dim2 < 2 else t
        d = lib.diagonal(base, offset, dim1, dim2)
        stride, shift = d.stride(), d.storage_offset()
        d.mul_(-1)
        t.add_(1000)
        return t, d, stride, shift

    (t1, d1, s1, o1), (t2, d2, s2, o2) = run(torch), run(kiln)
    assert (tuple(s2), o2) == (tuple(s1), o1)
    np.testing.assert_array_equal(t2.numpy(), t1.numpy())
    np.testing.assert_array_equal(d2.numpy(), d1.numpy())


def test_diagonal_function_float64_gradient_and_jit():
    def run(lib):
        x = lib.tensor(np.linspace(-2, 2, 12).reshape(3, 4), requires_grad=True)
        y = lib.diagonal(x * x, -1).sin().sum()
        y.backward()
        return y, x.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    x = kiln.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(
        kiln.jit(lambda x: kiln.diagonal(x, 1) * 2)(x).numpy(), (kiln.diagonal(x, 1) * 2).numpy()
    )


# A 0-dim integer tensor index is a number to PyTorch (a select): kiln read it as an
# advanced index, so x[t1, :, [0, 2]] had NumPy's shape (2, 3) instead of (3, 2), and
# x.view(-1)[t5] was a copy, not a view.


@pytest.mark.parametrize(
    "expression",
    [
        "x[i, :, [0, 2]]",
        "x[:, j, [0, 2]]",
        "x[[1], :, i]",
        "x[i, j]",
        "x[i]",
        "x[..., j, None]",
        "x[i, [[0], [2]], 1:]",
    ],
)
def test_zero_dim_integer_tensor_index_is_a_number(expression):
    def run(lib):
        x = lib.tensor(np.linspace(-1, 1, 24).reshape(2, 3, 4), requires_grad=True)
        i, j = lib.tensor(1), lib.tensor(-1, dtype=lib.int32)
        out = eval(expression, {"x": x, "i": i, "j": j})
        (out * out).sum().backward()
        return out, x.grad

    (want, want_grad), (got, got_grad) = run(torch), run(kiln)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-12)
    f = kiln.jit(lambda x, i, j: eval(expression, {"x": x, "i": i, "j": j}) * 1)
    x = kiln.tensor(np.linspace(-1, 1, 24).reshape(2, 3, 4))
    jitted = f(x, kiln.tensor(1), kiln.tensor(-1, dtype=kiln.int32))
    np.testing.assert_allclose(jitted.numpy(), want.detach().numpy(), rtol=1e-12)


def test_zero_dim_integer_tensor_index_is_a_view():
    def run(lib):
        t = lib.arange(12.0).reshape(3, 4)
        v = t.view(-1)[lib.tensor(5)]
        row = t[lib.tensor(2)]
        t.add_(100)
        row.mul_(-1)
        return t, v, row.storage_offset()

    (t1, v1, o1), (t2, v2, o2) = run(torch), run(kiln)
    np.testing.assert_array_equal(t2.numpy(), t1.numpy())
    assert v2.item() == v1.item() and o2 == o1


# ----------------------------------------------------------------------------- alpha, value
# add/sub/rsub multiplied by any alpha: add(int, int, alpha=1.1) was a float tensor (PyTorch
# refuses a float alpha for an integer result), add(bool, bool, alpha=2) was int64 (PyTorch:
# bool). addcmul(int, int, int, value=1.5) was a float32 2.5 (PyTorch converts value to the
# integer result type: int64 2); addcdiv of two integer tensors divided as floats (PyTorch
# refuses integer division there).

_ALPHA_CASES = [
    "torch.add(torch.ones(2, dtype=torch.int32), torch.ones(2, dtype=torch.int32), alpha=1.1)",
    "torch.sub(torch.ones(2, dtype=torch.int64), torch.ones(2, dtype=torch.int64), alpha=0.5)",
    "torch.rsub(torch.ones(2, dtype=torch.int32), torch.ones(2, dtype=torch.int32), alpha=1.5)",
    "torch.ones(2, dtype=torch.int32).add_(torch.ones(2, dtype=torch.int32), alpha=0.5)",
    "torch.add(torch.ones(2, dtype=torch.int32), torch.ones(2, dtype=torch.int32), "
    "alpha=torch.tensor(2.5))",
    "torch.add(torch.ones(2), torch.ones(2), alpha=True)",
    "torch.add(torch.ones(2, dtype=torch.int64), torch.ones(2, dtype=torch.int64), alpha=True)",
    "torch.add(torch.ones(2), torch.ones(2), alpha=1j)",
    "torch.add(torch.ones(2, dtype=torch.int32), torch.ones(2), alpha=1.1)",
    "torch.add(torch.ones(2), 2, alpha=1.5)",
    "torch.add(torch.ones(2, dtype=torch.int32), 2.5, alpha=2)",
    "torch.add(torch.tensor([True, False]), torch.tensor([False, True]), alpha=2)",
    "torch.add(torch.tensor([True, False]), torch.tensor([True, True]), alpha=0)",
    "torch.add(torch.tensor(True), torch.tensor(True), alpha=True)",
    "torch.sub(torch.ones(2), torch.ones(2, dtype=torch.float64), alpha=0.5)",
    "torch.addcdiv(torch.ones(2, dtype=torch.int64), torch.ones(2, dtype=torch.int64), "
    "torch.ones(2, dtype=torch.int64))",
    "torch.addcdiv(torch.ones(2), torch.ones(2, dtype=torch.int64), "
    "torch.ones(2, dtype=torch.int32))",
    "torch.addcdiv(torch.ones(2, dtype=torch.int64), torch.ones(2), torch.ones(2) * 4)",
    "torch.addcmul(torch.ones(2, dtype=torch.int64), 3 * torch.ones(2, dtype=torch.int64), "
    "torch.ones(2, dtype=torch.int64), value=1.5)",
    "torch.addcmul(torch.ones(2, dtype=torch.int64), 3 * torch.ones(2, dtype=torch.int64), "
    "torch.ones(2, dtype=torch.int64), value=-1.5)",
    "torch.ones(2, dtype=torch.int32).addcmul_(torch.ones(2, dtype=torch.int32), "
    "torch.ones(2, dtype=torch.int32), value=2.7)",
    "torch.addcmul(torch.ones(2), torch.ones(2, dtype=torch.int64), torch.ones(2), value=0.5)",
]


@pytest.mark.parametrize("expression", _ALPHA_CASES)
def test_alpha_and_value_as_torch(expression):
    def run(lib):
        try:
            return eval(expression.replace("torch.", "lib."), {"lib": lib})
        except RuntimeError as exc:
            return exc

    want, got = run(torch), run(kiln)
    if isinstance(want, Exception):
        assert isinstance(got, RuntimeError), got
        return
    assert not isinstance(got, Exception), got
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_alpha_float64_gradients_and_jit():
    def run(lib):
        a = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        b = lib.tensor([1.5, 0.25, -3.0], dtype=lib.float64, requires_grad=True)
        out = lib.add(a, b * b, alpha=-2.5) + lib.addcmul(a, a, b, value=0.5)
        out = out + lib.addcdiv(b, a, b, value=1.5)
        out.pow(2).sum().backward()
        return out, a.grad, b.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    f = kiln.jit(lambda a, b: kiln.add(a, b, alpha=3) - kiln.sub(b, a, alpha=2))
    a, b = kiln.tensor([1, 2], dtype=kiln.int32), kiln.tensor([5, -7], dtype=kiln.int32)
    np.testing.assert_array_equal(
        f(a, b).numpy(), (kiln.add(a, b, alpha=3) - kiln.sub(b, a, alpha=2)).numpy()
    )
    with pytest.raises(RuntimeError, match="alpha"):
        kiln.jit(lambda a, b: kiln.add(a, b, alpha=1.5))(a, b)


# ----------------------------------------------------------------------------- checked numbers
# PyTorch converts a fill / bound / where number to the result type with an overflow check:
# fill_(1e40) on float32, clamp(max=1e5) on float16, clamp(int8, max=300) and
# where(c, float32, 1e40) are RuntimeErrors; kiln stored inf or wrapped, silently.

_OVERFLOWS = [
    "torch.ones(2).fill_(1e40)",
    "torch.ones(2).fill_(-1e40)",
    "torch.ones(2, dtype=torch.float16).fill_(65505.0)",
    "torch.ones(2, dtype=torch.float16).fill_(70000)",
    "torch.full((2,), 1e40)",
    "torch.full((2,), 1e39, dtype=torch.bfloat16)",
    "torch.full_like(torch.ones(2), 1e40)",
    "torch.ones(2).new_full((2,), 1e40)",
    "torch.where(c, torch.ones(2), 1e40)",
    "torch.where(c, torch.ones(2, dtype=torch.int8), 1e40)",
    "torch.ones(2).clamp(max=1e40)",
    "torch.ones(2).clamp(min=-1e40)",
    "torch.ones(2).clamp_max(1e40)",
    "torch.ones(2, dtype=torch.float16).clamp(max=1e5)",
    "torch.ones(2, dtype=torch.int8).clamp(max=300)",
    "torch.ones(2, dtype=torch.int8).clamp(max=1e40)",
    "torch.ones(2).masked_fill(c, 1e40)",
    "torch.ones(2, dtype=torch.float16).masked_fill(c, -1e9)",
    "torch.ones(2, dtype=torch.float16) ** 1e40",
]
_FITS = [
    "torch.ones(2, dtype=torch.float16).fill_(65504.0)",
    "torch.where(c, torch.ones(2, dtype=torch.float16), 1e5)",
    "torch.where(c, torch.ones(2, dtype=torch.float16), 1e40)",
    "torch.where(c, -1e300, torch.ones(2, dtype=torch.bfloat16))",
    "torch.where(c, torch.ones(2, dtype=torch.float64), 1e300)",
    "torch.ones(2) ** 1e40",
    "torch.ones(2) + 1e40",
    "torch.ones(2, dtype=torch.float16) * 1e5",
    "torch.ones(2).clamp(max=float('inf'))",
    "torch.ones(2).fill_(float('nan'))",
    "torch.ones(2, dtype=torch.float16).masked_fill(c, float('-inf'))",
    "torch.ones(2, dtype=torch.uint8).clamp(min=-1)",
    "torch.full((2,), torch.finfo(torch.float32).min)",
]


def _numbers(lib, expression):
    return eval(expression.replace("torch.", "lib."), {"lib": lib, "c": lib.tensor([True, False])})


@pytest.mark.parametrize("expression", _OVERFLOWS)
def test_number_beyond_the_result_type_raises(expression):
    with pytest.raises(RuntimeError, match="without overflow"):
        _numbers(torch, expression)
    with pytest.raises(RuntimeError, match="without overflow"):
        _numbers(kiln, expression)


@pytest.mark.parametrize("expression", _FITS)
def test_number_within_the_result_type_converts(expression):
    want, got = _numbers(torch, expression), _numbers(kiln, expression)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


# ----------------------------------------------------------------------------- out=
# abs/neg/floor/ceil/frac/bitwise_not/signbit/fix keep their input's dtype and PyTorch
# requires out= of exactly that dtype (kiln cast into any wider out); deg2rad, rad2deg,
# signbit and fix had no out= keyword at all (TypeError).

_OUT_OPS = ["abs", "absolute", "neg", "negative", "floor", "ceil", "frac", "bitwise_not"]
_OUT_OPS += ["signbit", "fix", "deg2rad", "rad2deg", "exp", "sqrt", "sign", "trunc"]


@pytest.mark.parametrize("name", _OUT_OPS)
@pytest.mark.parametrize(
    "source, target",
    [
        ("float32", "float32"),
        ("float32", "float64"),
        ("int32", "float32"),
        ("int32", "int64"),
        ("int32", "int32"),
        ("float64", "float32"),
        ("float32", "bool"),
    ],
)
def test_unary_out_dtype_as_torch(name, source, target):
    def run(lib):
        x = lib.tensor([1.5, -2.25, 0.0]).to(getattr(lib, source))
        out = lib.empty(3, dtype=getattr(lib, target))
        try:
            returned = getattr(lib, name)(x, out=out)
        except (RuntimeError, NotImplementedError, TypeError) as exc:
            return type(exc)
        assert returned is out
        return out

    want, got = run(torch), run(kiln)
    if isinstance(want, type):
        assert isinstance(got, type), got  # (bitwise_not of a float: either refusal)
        assert got in ((want,) if want is not RuntimeError else (want, NotImplementedError))
        return
    assert not isinstance(got, type), got
    assert str(got.dtype).split(".")[-1] == target
    np.testing.assert_allclose(got.double().numpy(), want.double().numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------- reductions
# sort of a 0-dim tensor took any dim (PyTorch: only -1 and 0, else IndexError).


@pytest.mark.parametrize("dim", [0, -1, 1, -2])
def test_sort_of_a_zero_dim_tensor_checks_dim(dim):
    def run(lib):
        try:
            values, indices = lib.tensor(1.5).sort(dim)
        except IndexError:
            return None
        return values.item(), indices.item()

    assert run(kiln) == run(torch)


# ----------------------------------------------------------------------------- norm / cdist
# Tensor.norm(p) for p other than 0, 1, 2, inf was pow(sum(pow(|x|, p)), 1/p): NaN gradient
# at a zero vector (and at a zero element when p < 1), so cdist(a, a, p=3).sum().backward()
# gave NaN everywhere (silently wrong gradients); PyTorch's rule gives 0 there.


@pytest.mark.parametrize("p", [0.5, 1.5, 3.0, -1.0, -2.5])
def test_norm_general_p_gradient_at_zeros(p):
    data = [[0.0, 2.0, -1.0], [0.0, 0.0, 0.0], [1.0, -3.0, 0.5]]

    def run(lib):
        x = lib.tensor(data, dtype=lib.float64, requires_grad=True)
        y = x.norm(p, dim=-1)
        (y * lib.tensor([1.0, 2.0, -0.5], dtype=lib.float64)).sum().backward()
        return y, x.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10)
    f = kiln.jit(lambda x: x.norm(p, dim=-1))
    x = kiln.tensor(data, dtype=kiln.float64)
    np.testing.assert_allclose(f(x).numpy(), x.norm(p, dim=-1).numpy(), rtol=1e-12)


@pytest.mark.parametrize("p", [0.5, 1.5, 3.0])
def test_cdist_gradient_with_zero_distances(p):
    rows = [[0.0, 2.0, 1.0], [1.0, 1.0, -1.0], [0.0, 2.0, 3.0]]

    def run(lib):
        a = lib.tensor(rows, dtype=lib.float64, requires_grad=True)
        d = lib.cdist(a, a.detach().clone(), p=p)
        d.sum().backward()
        return d, a.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10)


# ----------------------------------------------------------------------------- einsum
# PyTorch's sublist form einsum(a, [0, 1, 2], b, [0, 2, 3], [0, 1, 3]) raised AttributeError.


@pytest.mark.parametrize(
    "arguments",
    [
        "c, [0, 1, 2], d, [0, 2, 3], [0, 1, 3]",
        "c, [0, 1, 2], d, [0, 2, 1]",
        "c, [Ellipsis, 2]",
        "c, [Ellipsis, 27], [27]",
        "c, [0, 1, 2], [2, 0]",
    ],
)
def test_einsum_sublist_form(arguments):
    rng = np.random.default_rng(0)
    c, d = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 3))

    def run(lib):
        a = lib.tensor(c, requires_grad=True)
        b = lib.tensor(d, requires_grad=True)
        out = eval(f"lib.einsum({arguments})", {"lib": lib, "c": a, "d": b, "Ellipsis": ...})
        (out * out).sum().backward()
        return out, a.grad

    for want, got in zip(run(torch), run(kiln)):
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64"])
def test_index_tensor_dtypes_as_torch(dtype):
    def run(lib):
        r = lib.arange(9.0).reshape(3, 3)
        try:
            return r[lib.tensor([2, 0]).to(getattr(lib, dtype))]
        except IndexError:
            return None

    want, got = run(torch), run(kiln)
    assert (got is None) == (want is None)
    if want is not None:
        np.testing.assert_array_equal(got.numpy(), want.numpy())


# ----------------------------------------------------------------------------- Tensor.type
# x.type("torch.DoubleTensor") and x.type(torch.DoubleTensor), PyTorch's legacy spellings,
# raised TypeError.


@pytest.mark.parametrize(
    "target",
    [
        "torch.DoubleTensor",
        "torch.IntTensor",
        "torch.BoolTensor",
        "torch.HalfTensor",
        "torch.ShortTensor",
        "torch.ByteTensor",
        "torch.LongTensor",
        "torch.BFloat16Tensor",
        "torch.CharTensor",
        "DoubleTensor",
        "LongTensor",
        "FloatTensor",
        "torch.FooTensor",
    ],
)
def test_type_with_legacy_tensor_type_names(target):
    def run(lib):
        x = lib.tensor([1.5, -2.0, 0.25], requires_grad=True) * 1
        arg = getattr(lib, target) if "." not in target else target
        try:
            return x.type(arg)
        except ValueError:
            return None

    want, got = run(torch), run(kiln)
    assert (got is None) == (want is None)
    if want is not None:
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.detach().float().numpy(), want.detach().float().numpy())
        assert got.requires_grad == want.requires_grad


# ----------------------------------------------------------------------------- ldexp, logaddexp2
# ldexp(float16 x, int tensor) was float32 (PyTorch: the operands' type, float16), and
# logaddexp2 of float16/bfloat16 computed in 16 bits (bfloat16 logaddexp2(0, 0) was 0.996).


@pytest.mark.parametrize(
    "x_dtype, y_dtype",
    [
        ("float16", "int64"),
        ("bfloat16", "int32"),
        ("float16", "float16"),
        ("float16", "float32"),
        ("float32", "int64"),
        ("float64", "int64"),
        ("int64", "int64"),
        ("int32", "float16"),
    ],
)
def test_ldexp_result_dtype(x_dtype, y_dtype):
    def run(lib):
        x = lib.tensor([1.5, -3.0, 0.25]).to(getattr(lib, x_dtype))
        return lib.ldexp(x, lib.tensor([2, -1, 5]).to(getattr(lib, y_dtype)))

    want, got = run(torch), run(kiln)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_ldexp_float64_gradient():
    def run(lib):
        x = lib.tensor([1.5, -3.0, 0.25], dtype=lib.float64, requires_grad=True)
        # (non-negative exponents: PyTorch's own backward gives 0 for a negative one)
        y = lib.ldexp(x, lib.tensor([2, 0, 5]))
        (y * y).sum().backward()
        return y, x.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_logaddexp2_16_bit_rounds_once(dtype):
    values = [0.0, 1.0, -1.0, 2.5, -2.5, 7.0, 0.125]
    a, b = np.meshgrid(values, values)

    def run(lib):
        x = lib.tensor(a.ravel()).to(getattr(lib, dtype))
        y = lib.tensor(b.ravel()).to(getattr(lib, dtype))
        return lib.logaddexp2(x, y)

    want, got = run(torch), run(kiln)
    assert got.dtype == getattr(kiln, dtype)
    # (PyTorch's logaddexp2(-1, -1) is -1e-8, not 0: an absolute slack far below one ulp)
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=0, atol=1e-7)


# ----------------------------------------------------------------------------- lgamma
# float32 lgamma ran its Stirling series in float32: lgamma(2.5) was 0.28468418 (PyTorch
# 0.28468287, 40 ulps off), and lgamma(1) was -2e-12 instead of 0.


def test_lgamma_float32_accuracy_and_exact_zeros():
    values = [0.5, 1.0, 2.0, 1.5, 2.5, -2.5, 3.0, 7.3, 30.0, -0.3, 1e-3, 100.0, 1e20, 4.0, -1.0]
    values += [float("inf"), float("-inf"), float("nan"), 0.0]
    want = torch.tensor(values).lgamma().numpy()
    got = kiln.tensor(values).lgamma().numpy()
    np.testing.assert_allclose(got, want, rtol=3e-7, atol=0)
    assert got[1] == 0.0 and got[2] == 0.0
    jitted = kiln.jit(lambda x: x.lgamma())(kiln.tensor(values)).numpy()
    np.testing.assert_allclose(jitted, want, rtol=3e-7, atol=0)


def test_lgamma_gradients():
    def run(lib, dtype):
        x = lib.tensor([2.5, -2.5, 0.7, 1.0, 2.0, 12.25], dtype=getattr(lib, dtype))
        x.requires_grad_(True)
        y = x.lgamma()
        (y * y).sum().backward()
        return y, x.grad

    for dtype, rtol in (("float64", 1e-9), ("float32", 3e-6)):
        for want, got in zip(run(torch, dtype), run(kiln, dtype)):
            np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=rtol)


# ----------------------------------------------------------------------------- exp2
# exp2 was exp(x * ln 2): exp2(100.0) in float32 was 1.2676533e30, 36 ulps from 2**100.


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int64"])
def test_exp2_is_exact_at_integers(dtype):
    values = [0.0, 1.0, -1.0, 0.5, 2.5, 100.0, 127.0, 128.0, -149.0, -126.5, 20.3, -5.0]
    values += [float("inf"), float("-inf"), float("nan")] if dtype != "int64" else []
    want = torch.tensor(values).to(getattr(torch, dtype)).exp2()
    got = kiln.tensor(values).to(getattr(kiln, dtype)).exp2()
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
    if dtype == "float32":
        jitted = kiln.jit(lambda x: x.exp2())(kiln.tensor(values))
        np.testing.assert_array_equal(jitted.numpy(), want.numpy())


def test_exp2_float64_gradient():
    def run(lib):
        x = lib.tensor([2.5, -1.0, 10.0, 0.0], dtype=lib.float64, requires_grad=True)
        y = x.exp2()
        (y * y).sum().backward()
        return y, x.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-14)


# ----------------------------------------------------------------------------- digamma
# float32 digamma summed its series in float32: near the root 1.4616 it was hundreds of
# ulps off (PyTorch's float32 kernel is too there, so the oracle is its float64 result).


def test_digamma_float32_near_its_root_matches_float64_rounded():
    values = np.float32([1.4542204, 1.4632474, 1.46163, 1.47, 1.44, 2.5, 0.3, -0.5, 7.25, 40.0])
    want = torch.tensor(values, dtype=torch.float64).digamma().float().numpy()
    got = kiln.tensor(values).digamma()
    assert got.dtype == kiln.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=2.5e-7, atol=0)


def test_digamma_float64_gradient():
    def run(lib):
        x = lib.tensor([1.45, 2.5, -0.5, 7.25], dtype=lib.float64, requires_grad=True)
        y = x.digamma()
        y.sum().backward()
        return y, x.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-9)


# ----------------------------------------------------------------------------- index_add_
# index_add_/index_copy_ converted a source of another dtype (PyTorch: RuntimeError).


@pytest.mark.parametrize(
    "statement",
    [
        "x.index_add_(0, lib.tensor([0]), lib.ones(1, 3, dtype=lib.float64))",
        "x.index_copy_(0, lib.tensor([0]), lib.ones(1, 3, dtype=lib.int64))",
        "x.index_add_(0, lib.tensor([0]), source=lib.ones(1, 3, dtype=lib.float16))",
        "x.index_add_(0, lib.tensor([0, 0]), lib.ones(2, 3), alpha=2)",
        "x.index_copy_(0, lib.tensor([1]), lib.ones(1, 3) * 4)",
    ],
)
def test_index_add_and_copy_source_dtype(statement):
    def run(lib):
        x = lib.zeros(2, 3)
        try:
            eval(statement, {"x": x, "lib": lib})
        except RuntimeError:
            return None
        return x

    want, got = run(torch), run(kiln)
    assert (got is None) == (want is None)
    if want is not None:
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("dtype", ["float32", "int16", "uint8", "bool", "int32", "int64"])
def test_index_select_index_dtype(dtype):
    def run(lib):
        try:
            return (
                lib.arange(6.0)
                .reshape(2, 3)
                .index_select(1, lib.tensor([2, 0]).to(getattr(lib, dtype)))
            )
        except RuntimeError:
            return None

    want, got = run(torch), run(kiln)
    assert (got is None) == (want is None)
    if want is not None:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
