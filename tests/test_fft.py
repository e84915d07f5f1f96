"""kiln.fft against torch.fft: values, dtypes, gradients (and finite differences), errors,
and the refusal under kiln.jit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(1)
X = RNG.standard_normal((4, 6)).astype(np.float32)
Z = (RNG.standard_normal((4, 6)) + 1j * RNG.standard_normal((4, 6))).astype(np.complex64)
X3 = RNG.standard_normal((3, 4, 5)).astype(np.float64)


def _numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().resolve_conj().numpy()
    return t.detach().numpy()


def _dtype_name(t):
    return t.dtype.name if isinstance(t, kiln.Tensor) else str(t.dtype).removeprefix("torch.")


ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
TWO_D = ["fft2", "ifft2", "rfft2", "irfft2"]
N_D = ["fftn", "ifftn", "rfftn", "irfftn"]
REAL_ONLY = {"rfft", "ihfft", "rfft2", "rfftn"}

_ONE_D_ARGS = [{}, {"n": 3}, {"n": 9}, {"dim": 0}, {"n": 5, "dim": 0}, {"n": 1}]
_TWO_D_ARGS = [{}, {"s": (3, 8)}, {"s": (5, 5)}, {"dim": (0, 1)}, {"s": (2, 3), "dim": (1, 0)}]
_N_D_ARGS = [{}, {"s": (3, 8)}, {"dim": (0,)}, {"dim": (1, 0)}, {"s": (-1, 4), "dim": (0, 1)}]


def _cases():
    for name in ONE_D + TWO_D + N_D:
        table = _ONE_D_ARGS if name in ONE_D else _TWO_D_ARGS if name in TWO_D else _N_D_ARGS
        inputs = ["real"] if name in REAL_ONLY else ["real", "complex"]
        for kind in inputs:
            for norm in (None, "backward", "ortho", "forward"):
                for i, kwargs in enumerate(table):
                    yield pytest.param(name, kind, norm, kwargs, id=f"{name}-{kind}-{norm}-{i}")


def _array(kind):
    return X if kind == "real" else Z


@pytest.mark.parametrize("name,kind,norm,kwargs", list(_cases()))
def test_transform_matches_torch(name, kind, norm, kwargs):
    a = _array(kind)
    got = getattr(kiln.fft, name)(kiln.tensor(a), norm=norm, **kwargs)
    expected = getattr(torch.fft, name)(torch.tensor(a), norm=norm, **kwargs)
    assert _dtype_name(got) == _dtype_name(expected)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,kind,norm,kwargs", list(_cases()))
def test_gradient_matches_torch(name, kind, norm, kwargs):
    a = _array(kind)
    x = kiln.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    y = getattr(kiln.fft, name)(x, norm=norm, **kwargs)
    yt = getattr(torch.fft, name)(xt, norm=norm, **kwargs)
    weights = RNG.standard_normal(tuple(yt.shape)).astype(np.float32)
    # a real loss that reads both parts of a complex result
    if yt.is_complex():
        loss = (y.abs() * kiln.tensor(weights)).sum() + y.imag.sum()
        loss_t = (yt.abs() * torch.tensor(weights)).sum() + yt.imag.sum()
    else:
        loss = (y * kiln.tensor(weights)).sum()
        loss_t = (yt * torch.tensor(weights)).sum()
    loss.backward()
    loss_t.backward()
    assert _dtype_name(x.grad) == _dtype_name(xt.grad)
    np.testing.assert_allclose(_numpy(x.grad), _numpy(xt.grad), rtol=2e-3, atol=2e-3)


def test_float64_gives_complex128():
    x = kiln.tensor(X3)
    assert kiln.fft.fftn(x).dtype is kiln.complex128
    assert kiln.fft.rfftn(x).dtype is kiln.complex128
    assert kiln.fft.irfftn(kiln.fft.rfftn(x), s=x.shape).dtype is kiln.float64
    np.testing.assert_allclose(
        _numpy(kiln.fft.irfftn(kiln.fft.rfftn(x), s=x.shape)), X3, rtol=1e-12, atol=1e-12
    )


def test_integer_input_gives_complex64():
    got = kiln.fft.fft(kiln.tensor([1, 2, 3]))
    expected = torch.fft.fft(torch.tensor([1, 2, 3]))
    assert got.dtype is kiln.complex64
    np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=1e-6)


def test_three_d_transforms_match_torch():
    for name, kwargs in [("fftn", {}), ("rfftn", {"dim": (0, 2)}), ("irfftn", {"s": (3, 4, 6)})]:
        got = getattr(kiln.fft, name)(kiln.tensor(X3), **kwargs)
        expected = getattr(torch.fft, name)(torch.tensor(X3), **kwargs)
        np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------ finite differences


def _numeric_gradient(loss, a, eps=1e-6):
    parts = [1.0, 1j] if np.iscomplexobj(a) else [1.0]
    g = np.zeros(a.shape, dtype=a.dtype)
    for index in np.ndindex(a.shape):
        for unit in parts:
            plus, minus = a.copy(), a.copy()
            plus[index] += unit * eps
            minus[index] -= unit * eps
            g[index] += (loss(plus) - loss(minus)) / (2 * eps) * unit
    return g


_FD_CASES = {
    "fft": (lambda x: kiln.fft.fft(x, n=7).abs().sum(), "real"),
    "fft_complex": (lambda x: (kiln.fft.fft(x, norm="ortho") * (1 + 2j)).real.sum(), "complex"),
    "ifft": (lambda x: kiln.fft.ifft(x, n=3, dim=0).abs().sum(), "complex"),
    "rfft": (lambda x: kiln.fft.rfft(x, norm="forward").abs().sum(), "real"),
    "irfft": (lambda x: (kiln.fft.irfft(x, n=9) ** 2).sum(), "complex"),
    "irfft_even": (lambda x: (kiln.fft.irfft(x) * kiln.arange(10.0)).sum(), "complex"),
    "fft2": (lambda x: kiln.fft.fft2(x).abs().sum(), "real"),
    "rfft2_irfft2": (lambda x: kiln.fft.irfft2(kiln.fft.rfft2(x) * 1j).abs().sum(), "real"),
    "hfft": (lambda x: (kiln.fft.hfft(x, n=6) ** 2).sum(), "complex"),
    "ihfft": (lambda x: kiln.fft.ihfft(x).imag.sum(), "real"),
}


@pytest.mark.parametrize("name", sorted(_FD_CASES))
def test_gradient_matches_finite_differences(name):
    fn, kind = _FD_CASES[name]
    a = RNG.standard_normal((3, 6))
    if kind == "complex":
        a = a + 1j * RNG.standard_normal((3, 6))

    def loss(values):
        with kiln.no_grad():
            return fn(kiln.tensor(values)).item()

    x = kiln.tensor(a, requires_grad=True)
    fn(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), _numeric_gradient(loss, a), rtol=1e-5, atol=1e-6)


def test_double_backward_matches_torch():
    def f(lib, x):
        return (lib.fft.rfft(x * x).abs() ** 2).sum()

    x = kiln.tensor(X, requires_grad=True)
    xt = torch.tensor(X, requires_grad=True)
    (g,) = kiln.autograd.grad(f(kiln, x), x, create_graph=True)
    (gt,) = torch.autograd.grad(f(torch, xt), xt, create_graph=True)
    np.testing.assert_allclose(_numpy(g), _numpy(gt), rtol=1e-3, atol=1e-3)
    (g * g).sum().backward()
    (gt * gt).sum().backward()
    np.testing.assert_allclose(_numpy(x.grad), _numpy(xt.grad), rtol=1e-3, atol=1e-2)


# ------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize("n", [0, 1, 4, 5])
@pytest.mark.parametrize("d", [1.0, 0.1])
def test_frequencies_match_torch(n, d):
    for name in ("fftfreq", "rfftfreq"):
        got = getattr(kiln.fft, name)(n, d)
        expected = getattr(torch.fft, name)(n, d)
        assert _dtype_name(got) == _dtype_name(expected)
        np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=1e-6)
    assert kiln.fft.fftfreq(n, d, dtype=kiln.float64).dtype is kiln.float64


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), (-1,)])
@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
def test_shifts_match_torch(name, dim):
    for a in (RNG.standard_normal((5, 4)).astype(np.float32), Z[:3, :5]):
        got = getattr(kiln.fft, name)(kiln.tensor(a), dim=dim)
        expected = getattr(torch.fft, name)(torch.tensor(a), dim=dim)
        np.testing.assert_array_equal(_numpy(got), _numpy(expected))


def test_shift_gradient():
    x = kiln.tensor(X, requires_grad=True)
    xt = torch.tensor(X, requires_grad=True)
    w = RNG.standard_normal(X.shape).astype(np.float32)
    (kiln.fft.fftshift(x) * kiln.tensor(w)).sum().backward()
    (torch.fft.fftshift(xt) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(_numpy(x.grad), _numpy(xt.grad))


# ------------------------------------------------------------------------------ errors

_ERRORS = {
    "n_zero": lambda lib: lib.fft.fft(lib.ones(4), n=0),
    "bad_norm": lambda lib: lib.fft.fft(lib.ones(4), norm="foo"),
    "rfft_of_complex": lambda lib: lib.fft.rfft(lib.ones(4, dtype=lib.complex64)),
    "dim_out_of_range": lambda lib: lib.fft.fft(lib.ones(4), dim=3),
    "fft2_of_1d": lambda lib: lib.fft.fft2(lib.ones(3)),
    "dims_not_unique": lambda lib: lib.fft.fftn(lib.ones(2, 2), dim=(0, 0)),
    "s_dim_lengths": lambda lib: lib.fft.fftn(lib.ones(4, 3), s=(2,), dim=(0, 1)),
    "irfft_of_one_bin": lambda lib: lib.fft.irfft(lib.ones(1, dtype=lib.complex64)),
    "half_precision": lambda lib: lib.fft.fft(lib.ones(4, dtype=lib.float16)),
}


@pytest.mark.parametrize("name", sorted(_ERRORS))
def test_errors_raise_torchs_class(name):
    with pytest.raises(Exception) as expected:
        _ERRORS[name](torch)
    with pytest.raises(expected.type):
        _ERRORS[name](kiln)


# ------------------------------------------------------------------------------ kiln.jit


@pytest.mark.parametrize("name", ["fft", "rfft", "irfft", "fftn", "hfft", "ihfft"])
@pytest.mark.parametrize("mode", ["jit", "trace"])
def test_transforms_under_tracing_raise(name, mode):
    def f(x):
        return getattr(kiln.fft, name)(x).abs()

    with pytest.raises(NotImplementedError, match=f"fft.{name}.*eagerly only"):
        if mode == "jit":
            kiln.jit(f)(kiln.ones(4))
        else:
            kiln.trace(f, kiln.ones(4))


def test_transform_under_vmap_raises():
    with pytest.raises(NotImplementedError, match="fft.fft"):
        kiln.vmap(kiln.fft.fft)(kiln.ones(3, 4))


def test_eager_use_after_a_refused_trace_still_works():
    with pytest.raises(NotImplementedError):
        kiln.jit(lambda x: kiln.fft.fft(x).abs())(kiln.ones(4))
    got = kiln.fft.fft(kiln.tensor(X)).abs()
    np.testing.assert_allclose(_numpy(got), np.abs(np.fft.fft(X)), rtol=1e-5)


def test_gradcheck_through_transforms():
    x = kiln.tensor(X3[0], requires_grad=True)
    assert kiln.autograd.gradcheck(lambda t: kiln.view_as_real(kiln.fft.rfft2(t)), (x,))
    assert kiln.autograd.gradgradcheck(lambda t: kiln.fft.irfft(kiln.fft.fft(t * t)), (x,))


def test_gradcheck_refuses_complex_outputs():
    # its Jacobians are real: a complex output would go unchecked, so it says so
    x = kiln.tensor(X3[0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="complex128"):
        kiln.autograd.gradcheck(kiln.fft.fft, (x,))
