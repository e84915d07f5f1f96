"""Complex tensors (eager): dtypes, promotion, values, printing, refusals and gradients,
each against PyTorch (the oracle) and, for gradients, central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(0)


def _complex_array(shape, dtype=np.complex64):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def _numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().resolve_conj().numpy()
    return t.detach().numpy()


def _same_dtype(k, t):
    return k.dtype.name == str(t.dtype).removeprefix("torch.")


# ------------------------------------------------------------------------------ dtypes


def test_dtype_objects():
    assert kiln.cfloat is kiln.complex64 and kiln.cdouble is kiln.complex128
    assert kiln.complex64.is_complex and not kiln.complex64.is_floating_point
    assert kiln.complex128.itemsize == 16
    assert kiln.complex64.to_real() is kiln.float32
    assert kiln.float64.to_complex() is kiln.complex128
    assert not kiln.float32.is_complex
    assert repr(kiln.complex128) == "kiln.complex128"


def test_creation_infers_complex():
    assert kiln.tensor([1 + 2j, 3]).dtype is kiln.complex64
    assert kiln.tensor(np.array([1j])).dtype is kiln.complex128  # NumPy's dtype is kept
    assert kiln.zeros(2, dtype=kiln.cfloat).dtype is kiln.complex64
    z = kiln.tensor([1j], requires_grad=True)
    assert z.requires_grad and z.is_complex() and not z.is_floating_point()
    previous = kiln.get_default_dtype()
    kiln.set_default_dtype(kiln.float64)
    try:
        assert kiln.tensor([1j]).dtype is kiln.complex128
        assert (kiln.ones(2) + 1j).dtype is kiln.complex128
    finally:
        kiln.set_default_dtype(previous)


_PROMOTION_OPERANDS = {
    "f32": lambda lib: lib.ones(2),
    "f64": lambda lib: lib.ones(2, dtype=lib.float64),
    "i64": lambda lib: lib.ones(2, dtype=lib.int64),
    "bool": lambda lib: lib.ones(2, dtype=lib.bool),
    "c64": lambda lib: lib.ones(2, dtype=lib.complex64),
    "c128": lambda lib: lib.ones(2, dtype=lib.complex128),
    "0d_f64": lambda lib: lib.tensor(1.0, dtype=lib.float64),
    "0d_c64": lambda lib: lib.tensor(1j, dtype=lib.complex64),
    "0d_c128": lambda lib: lib.tensor(1j, dtype=lib.complex128),
    "py_complex": lambda lib: 2j,
    "py_float": lambda lib: 2.5,
}

_PROMOTION_PAIRS = [
    ("f32", "c64"),
    ("f64", "c64"),
    ("c64", "f64"),
    ("i64", "c64"),
    ("bool", "c128"),
    ("c64", "c128"),
    ("f64", "0d_c64"),
    ("f32", "0d_c128"),
    ("i64", "0d_c128"),
    ("c64", "0d_f64"),
    ("c64", "0d_c128"),
    ("f32", "py_complex"),
    ("f64", "py_complex"),
    ("i64", "py_complex"),
    ("c128", "py_float"),
    ("0d_f64", "py_complex"),
]


@pytest.mark.parametrize("left,right", _PROMOTION_PAIRS)
@pytest.mark.parametrize("op", ["add", "mul"])
def test_promotion_matches_torch(left, right, op):
    expected = getattr(torch, op)(
        _PROMOTION_OPERANDS[left](torch), _PROMOTION_OPERANDS[right](torch)
    )
    got = getattr(kiln, op)(_PROMOTION_OPERANDS[left](kiln), _PROMOTION_OPERANDS[right](kiln))
    assert _same_dtype(got, expected), (left, right, got.dtype, expected.dtype)
    np.testing.assert_allclose(_numpy(got), _numpy(expected))


def test_float16_with_complex_is_refused():
    # PyTorch gives complex32, which kiln does not have: an error, not another dtype
    with pytest.raises(TypeError, match="complex32"):
        kiln.ones(2, dtype=kiln.float16) + 1j


# ------------------------------------------------------------------------------ values

Z = _complex_array((3, 4))
W = _complex_array((3, 4))
R = RNG.standard_normal((3, 4)).astype(np.float32)
M = _complex_array((4, 2))

# name: (function of (lib, z, w, r, m), needs)
_VALUE_CASES = {
    "add": lambda lib, z, w, r, m: z + w,
    "sub": lambda lib, z, w, r, m: z - w,
    "mul": lambda lib, z, w, r, m: z * w,
    "div": lambda lib, z, w, r, m: z / w,
    "mixed_add": lambda lib, z, w, r, m: z + r,
    "mixed_mul": lambda lib, z, w, r, m: r * z,
    "mixed_div": lambda lib, z, w, r, m: r / z,
    "scalar": lambda lib, z, w, r, m: (z * (2 - 1j) + 3) / 2j,
    "neg": lambda lib, z, w, r, m: -z,
    "matmul": lambda lib, z, w, r, m: z @ m,
    "sum": lambda lib, z, w, r, m: z.sum(),
    "sum_dim": lambda lib, z, w, r, m: z.sum(dim=1, keepdim=True),
    "mean": lambda lib, z, w, r, m: z.mean(),
    "mean_dim": lambda lib, z, w, r, m: z.mean(0),
    "abs": lambda lib, z, w, r, m: z.abs(),
    "angle": lambda lib, z, w, r, m: z.angle(),
    "angle_real": lambda lib, z, w, r, m: lib.angle(r),
    "real": lambda lib, z, w, r, m: z.real,
    "imag": lambda lib, z, w, r, m: z.imag,
    "real_of_real": lambda lib, z, w, r, m: lib.real(r),
    "conj": lambda lib, z, w, r, m: z.conj(),
    "conj_of_real": lambda lib, z, w, r, m: lib.conj(r),
    "sgn": lambda lib, z, w, r, m: z.sgn(),
    "exp": lambda lib, z, w, r, m: lib.exp(z),
    "log": lambda lib, z, w, r, m: lib.log(z),
    "sqrt": lambda lib, z, w, r, m: lib.sqrt(z),
    "sin_cos_tanh": lambda lib, z, w, r, m: lib.sin(z) + lib.cos(z) * lib.tanh(z),
    "square": lambda lib, z, w, r, m: z**2,
    "reciprocal": lambda lib, z, w, r, m: lib.reciprocal(z),
    "reshape_t": lambda lib, z, w, r, m: z.reshape(4, 3).t(),
    "index": lambda lib, z, w, r, m: z[1:, ::2],
    "cat": lambda lib, z, w, r, m: lib.cat([z, w], 0),
    "stack": lambda lib, z, w, r, m: lib.stack([z, w]),
    "where": lambda lib, z, w, r, m: lib.where(lib.tensor(R > 0), z, w),
    "eq": lambda lib, z, w, r, m: z == z.conj(),
    "H": lambda lib, z, w, r, m: z.H,
    "mH": lambda lib, z, w, r, m: z.mH,
    "complex": lambda lib, z, w, r, m: lib.complex(r, r * 2),
    "polar": lambda lib, z, w, r, m: lib.polar(lib.abs(r), r),
    "view_as_real": lambda lib, z, w, r, m: lib.view_as_real(z),
    "view_as_complex": lambda lib, z, w, r, m: lib.view_as_complex(r.reshape(3, 2, 2)),
    "to_complex128": lambda lib, z, w, r, m: z.to(lib.complex128),
    "pow_complex_exponent": lambda lib, z, w, r, m: z ** (1 + 1j),
    "pow_negative": lambda lib, z, w, r, m: z**-2,
    "pow_tensors": lambda lib, z, w, r, m: z**w,
    "real_to_complex_power": lambda lib, z, w, r, m: lib.abs(r) ** 1j,
    "isnan": lambda lib, z, w, r, m: lib.isnan(z / 0 * 0),
    "masked_fill": lambda lib, z, w, r, m: z.masked_fill(lib.tensor(R > 0), 2j),
    "roll_flip": lambda lib, z, w, r, m: lib.roll(z, 1, 0).flip(1),
    "index_select_gather": lambda lib, z, w, r, m: (
        z.index_select(1, lib.tensor([2, 0])) + z.gather(1, lib.tensor([[1, 0]] * 3))
    ),
    "split_chunk_narrow": lambda lib, z, w, r, m: lib.cat(
        [*z.split(2, 1), z.chunk(3, 0)[0].reshape(2, 2), z.narrow(1, 1, 2)], 0
    ),
    "repeat_tile_movedim": lambda lib, z, w, r, m: z.repeat(2, 1).tile((1, 2)).movedim(0, 1),
    "outer_mv_bmm": lambda lib, z, w, r, m: (
        lib.outer(z[0], w[1]) @ (z.t() @ w)[:, :1] + lib.bmm(z[None], m[None])[0].sum()
    ),
    "einsum": lambda lib, z, w, r, m: lib.einsum("ij,jk->ik", z, m),
    "float_to_complex": lambda lib, z, w, r, m: r.to(lib.complex64),
}


def _inputs(lib):
    return tuple(lib.tensor(a) for a in (Z, W, R, M))


@pytest.mark.parametrize("name", sorted(_VALUE_CASES))
def test_values_match_torch(name):
    fn = _VALUE_CASES[name]
    got = fn(kiln, *_inputs(kiln))
    expected = fn(torch, *_inputs(torch))
    assert _same_dtype(got, expected), (got.dtype, expected.dtype)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=2e-5, atol=2e-6)


def test_double_precision_values():
    z, w = _complex_array((5,), np.complex128), _complex_array((5,), np.complex128)
    got = kiln.tensor(z) * kiln.tensor(w) / (kiln.tensor(z) + 1)
    expected = torch.tensor(z) * torch.tensor(w) / (torch.tensor(z) + 1)
    assert got.dtype is kiln.complex128
    np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=1e-12)


def test_random_complex_tensors():
    z = kiln.randn(20000, dtype=kiln.complex64)
    assert z.dtype is kiln.complex64
    # PyTorch's complex normal: unit variance in all, 1/2 in each part
    assert abs(z.real.std().item() - 0.5**0.5) < 0.02
    assert abs(z.imag.std().item() - 0.5**0.5) < 0.02
    u = kiln.rand(20000, dtype=kiln.complex128)
    assert u.dtype is kiln.complex128
    for part in (u.real, u.imag):
        assert 0 <= part.min().item() and part.max().item() < 1
        assert abs(part.mean().item() - 0.5) < 0.02
    assert kiln.randn_like(z[:3]).dtype is kiln.complex64


def test_type_names():
    assert kiln.tensor([1j]).type() == "kiln.ComplexFloatTensor"
    assert kiln.tensor([1j], dtype=kiln.complex128).type() == "kiln.ComplexDoubleTensor"


def test_real_and_imag_are_views():
    z = kiln.tensor([1 + 2j, 3 - 1j])
    assert z.real._version == z._version
    assert np.shares_memory(z.real.numpy(), z.numpy())
    assert np.shares_memory(kiln.view_as_real(z).numpy(), z.numpy())


def test_explicit_cast_to_real_warns_and_keeps_real_part():
    z = kiln.tensor([1 + 2j, 0j])
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        assert z.float().tolist() == [1.0, 0.0]
    assert z.to(kiln.bool).tolist() == [True, False]


@pytest.mark.parametrize(
    "values",
    [
        [1 + 2j, 3 - 1j],
        [2 + 4j, 1.5 - 0.5j],
        [[1.5 + 2j, 3e-5]],
        [1e9 + 1j, 2],
        [[1 + 2j], [-30.5 + 1j]],
    ],
)
def test_printing_matches_torch(values):
    assert repr(kiln.tensor(values)) == repr(torch.tensor(values))


def test_printing_non_default_complex_dtype():
    z = kiln.tensor([1j], dtype=kiln.complex128)
    assert repr(z) == "tensor([0.+1.j], dtype=kiln.complex128)"


# ------------------------------------------------------------------------------ refusals

_REFUSED = {
    "lt": lambda lib, z: z < z,
    "gt": lambda lib, z: lib.gt(z, 1),
    "ge": lambda lib, z: z >= 1j,
    "max": lambda lib, z: z.max(),
    "maximum": lambda lib, z: lib.maximum(z, z),
    "relu": lambda lib, z: lib.relu(z),
    "clamp": lambda lib, z: lib.clamp(z, 0),
    "argmax": lambda lib, z: z.argmax(),
    "sort": lambda lib, z: z.sort(),
    "sign": lambda lib, z: z.sign(),
    "floor": lambda lib, z: z.floor(),
    "imag_of_real": lambda lib, z: lib.imag(lib.ones(2)),
    "view_as_real_of_real": lambda lib, z: lib.view_as_real(lib.ones(2)),
    "view_as_complex_bad_shape": lambda lib, z: lib.view_as_complex(lib.ones(3)),
    "complex_mixed_dtypes": lambda lib, z: lib.complex(lib.ones(2), lib.ones(2, dtype=lib.float64)),
    "backward_of_complex_scalar": lambda lib, z: (z.requires_grad_() * 2).sum().backward(),
}


@pytest.mark.parametrize("name", sorted(_REFUSED))
def test_refusals_raise_torchs_error_class(name):
    fn = _REFUSED[name]
    with pytest.raises(Exception) as expected:
        fn(torch, torch.tensor([1 + 2j, 3j]))
    with pytest.raises(expected.type):
        fn(kiln, kiln.tensor([1 + 2j, 3j]))


@pytest.mark.parametrize("op", ["floor_divide", "remainder", "norm", "softmax", "var", "cumsum"])
def test_ops_without_complex_support_refuse_it(op):
    # kiln would answer these wrongly (they treat "not floating point" as integer): an
    # error naming the op instead
    z = kiln.tensor([1 + 2j, 3j])
    args = {"floor_divide": (2,), "remainder": (2,), "softmax": (0,), "cumsum": (0,)}.get(op, ())
    with pytest.raises(RuntimeError, match=op):
        getattr(kiln, op)(z, *args)
    with pytest.raises(RuntimeError, match=op):
        getattr(z, op)(*args)


def test_implicit_complex_to_real_cast_raises():
    # gelu casts its input to float internally: that would drop the imaginary part
    with pytest.raises(RuntimeError, match="imaginary part"):
        kiln.nn.functional.gelu(kiln.tensor([1 + 2j, 3j]))


def test_assigning_complex_into_real_keeps_the_real_part_as_torch():
    x, t = kiln.ones(2), torch.ones(2)
    with pytest.warns(Warning, match="discards the imaginary part"):
        x[0] = kiln.tensor(2 + 1j)
    with pytest.warns(Warning, match="discards the imaginary part"):
        t[0] = torch.tensor(2 + 1j)
    assert x.tolist() == t.tolist()


# ------------------------------------------------------------------------------ gradients

_WEIGHTS = RNG.standard_normal((3, 4)).astype(np.float32)

# real losses of complex (z, w) and real (r) leaves: name -> function of (lib, z, w, r)
_GRAD_CASES = {
    "abs_sum": lambda lib, z, w, r: z.abs().sum(),
    "mul_abs": lambda lib, z, w, r: (z * w).abs().sum(),
    "div_real": lambda lib, z, w, r: (z / w).real.sum(),
    "add_sub_imag": lambda lib, z, w, r: ((z + w) * 2 - w * 1j).imag.sum(),
    "mixed_real_complex": lambda lib, z, w, r: (r * z + r).abs().sum(),
    "mixed_div": lambda lib, z, w, r: (r / z).imag.sum(),
    "matmul": lambda lib, z, w, r: (z @ w.t()).abs().sum(),
    "matmul_H": lambda lib, z, w, r: (z @ w.mH).real.sum(),
    "sum_mean": lambda lib, z, w, r: (z.sum(0) * w.mean(0)).abs().sum(),
    "exp_log_sqrt": lambda lib, z, w, r: (lib.exp(z) + lib.log(w) * lib.sqrt(z)).abs().sum(),
    "sin_cos_tanh": lambda lib, z, w, r: (lib.sin(z) * lib.cos(w) + lib.tanh(z)).real.sum(),
    "square_reciprocal": lambda lib, z, w, r: (z**2 + lib.reciprocal(w)).abs().sum(),
    "conj": lambda lib, z, w, r: (z.conj() * w).imag.sum(),
    "angle": lambda lib, z, w, r: z.angle().sum(),
    "weighted_abs": lambda lib, z, w, r: (z.abs() * lib.tensor(_WEIGHTS)).sum(),
    "view_as_real": lambda lib, z, w, r: (lib.view_as_real(z * w) * lib.tensor(R[..., None])).sum(),
    "view_as_complex": lambda lib, z, w, r: (
        lib.view_as_complex(lib.stack([r, r * r], -1)).abs().sum()
    ),
    "complex_polar": lambda lib, z, w, r: (lib.complex(r, r * 3) * lib.polar(r * r, r)).abs().sum(),
    "movement": lambda lib, z, w, r: (z.reshape(4, 3).t()[1:] * w[1:]).abs().sum(),
    "cat_where": lambda lib, z, w, r: (
        lib.where(lib.tensor(R > 0), z, w).abs().sum() + lib.cat([z, w]).real.sum()
    ),
    "sgn": lambda lib, z, w, r: (z.sgn() * w).real.sum(),
    "to_complex128": lambda lib, z, w, r: (z.to(lib.complex128) * r).abs().sum(),
    "broadcast": lambda lib, z, w, r: ((z * w[0, 0] + r[0]) / (r[:, :1] + 1j)).abs().sum(),
    "pow": lambda lib, z, w, r: (z**3 + w**-1 + z**w).abs().sum(),
    "pow_complex_exponent": lambda lib, z, w, r: (z ** (0.5 + 1j)).real.sum(),
    "index_ops": lambda lib, z, w, r: (
        (z.index_select(1, lib.tensor([2, 0, 2])).sum() * z.gather(1, lib.tensor([[1, 1]] * 3)))
        .abs()
        .sum()
    ),
    "masked_fill_roll": lambda lib, z, w, r: (
        lib.roll(z.masked_fill(lib.tensor(R > 0), 2j), 1, 1).mul(w).imag.sum()
    ),
    "einsum_outer": lambda lib, z, w, r: (
        (lib.einsum("ij,kj->ik", z, w) + lib.outer(z[:, 0], w[:, 1])).abs().sum()
    ),
}


def _leaves(lib):
    return [lib.tensor(a, requires_grad=True) for a in (Z, W, R)]


@pytest.mark.parametrize("name", sorted(_GRAD_CASES))
def test_gradients_match_torch(name):
    fn = _GRAD_CASES[name]
    kiln_leaves, torch_leaves = _leaves(kiln), _leaves(torch)
    got, expected = fn(kiln, *kiln_leaves), fn(torch, *torch_leaves)
    np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=1e-4)
    got.backward()
    expected.backward()
    for k, t in zip(kiln_leaves, torch_leaves):
        if t.grad is None:
            assert k.grad is None or not np.any(_numpy(k.grad))
            continue
        assert k.grad is not None and _same_dtype(k.grad, t.grad)
        np.testing.assert_allclose(_numpy(k.grad), _numpy(t.grad), rtol=1e-3, atol=1e-4)


def numeric_gradient(loss, arrays, eps=1e-6):
    """d loss / d x for each array: real arrays by central differences, complex ones as
    dL/d(real) + i dL/d(imag) (PyTorch's convention for a real loss)."""
    grads = []
    for i, a in enumerate(arrays):
        parts = [1.0, 1j] if np.iscomplexobj(a) else [1.0]
        g = np.zeros(a.shape, dtype=a.dtype)
        for index in np.ndindex(a.shape):
            for unit in parts:
                plus = [b.copy() for b in arrays]
                minus = [b.copy() for b in arrays]
                plus[i][index] += unit * eps
                minus[i][index] -= unit * eps
                slope = (loss(plus) - loss(minus)) / (2 * eps)
                g[index] += slope * unit
        grads.append(g)
    return grads


@pytest.mark.parametrize(
    "name", ["mul_abs", "div_real", "matmul", "angle", "exp_log_sqrt", "mixed_real_complex"]
)
def test_gradients_match_finite_differences(name):
    fn = _GRAD_CASES[name]
    arrays = [Z[:2, :2].astype(np.complex128), W[:2, :2].astype(np.complex128)]
    arrays.append(R[:2, :2].astype(np.float64))

    def loss(values):
        with kiln.no_grad():
            return fn(kiln, *[kiln.tensor(v) for v in values]).item()

    leaves = [kiln.tensor(a, requires_grad=True) for a in arrays]
    fn(kiln, *leaves).backward()
    for leaf, numeric in zip(leaves, numeric_gradient(loss, arrays)):
        got = np.zeros_like(numeric) if leaf.grad is None else leaf.grad.numpy()
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-7)


def test_complex_leaf_gradient_with_explicit_grad_output():
    z = kiln.tensor(Z, requires_grad=True)
    zt = torch.tensor(Z, requires_grad=True)
    g = _complex_array(Z.shape)
    (z * z).backward(kiln.tensor(g))
    (zt * zt).backward(torch.tensor(g))
    np.testing.assert_allclose(_numpy(z.grad), _numpy(zt.grad), rtol=1e-5)


def test_double_backward_through_complex():
    def f(lib, x):
        return (lib.complex(x, x * x) ** 2).abs().sum()

    x = kiln.tensor(R, requires_grad=True)
    xt = torch.tensor(R, requires_grad=True)
    (gx,) = kiln.autograd.grad(f(kiln, x), x, create_graph=True)
    (gxt,) = torch.autograd.grad(f(torch, xt), xt, create_graph=True)
    np.testing.assert_allclose(_numpy(gx), _numpy(gxt), rtol=1e-4)
    gx.sum().backward()
    gxt.sum().backward()
    np.testing.assert_allclose(_numpy(x.grad), _numpy(xt.grad), rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------------ kiln.jit

_TRACED = {
    "complex_argument": (lambda z: z * 2, "argument"),
    "complex_argument_returned": (lambda z: z, "argument"),
    "real_part": (lambda x: kiln.complex(x, x).real, "complex"),
    "python_complex_scalar": (lambda x: (x + 1j).abs(), "cast"),
    "complex_constant": (lambda x: x * kiln.tensor([1j, 2, 3]), "cast"),
    "view_as_complex": (lambda x: kiln.view_as_complex(kiln.stack([x, x], -1)), "view_as_complex"),
}


@pytest.mark.parametrize("name", sorted(_TRACED))
@pytest.mark.parametrize("mode", ["jit", "trace"])
def test_complex_under_tracing_raises(name, mode):
    fn, op = _TRACED[name]
    arg = kiln.tensor([1 + 2j, 3j, 1]) if "argument" in name else kiln.ones(3)
    with pytest.raises(NotImplementedError, match=f"{op}.*eagerly only"):
        if mode == "jit":
            kiln.jit(fn)(arg)
        else:
            kiln.trace(fn, arg)


def test_captured_complex_tensor_under_jit_raises():
    z = kiln.tensor([1 + 2j, 3j, 1])

    @kiln.jit
    def f(x):
        return (x + z).abs()

    with pytest.raises(NotImplementedError, match="eagerly only"):
        f(kiln.ones(3))


def test_forward_mode_through_complex_raises():
    # kiln's forward-mode rules would drop the tangent at the cast to complex: an error
    x = kiln.randn(3)
    with pytest.raises(NotImplementedError, match="forward-mode AD"):
        kiln.func.jvp(lambda x: (x * (1 + 1j)).abs(), (x,), (kiln.ones_like(x),))


def test_vmap_of_complex_primitives_matches_a_loop():
    z = kiln.tensor(Z)
    got = kiln.vmap(lambda row: (row * (2 - 1j)).abs())(z)
    expected = kiln.stack([(row * (2 - 1j)).abs() for row in z])
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
