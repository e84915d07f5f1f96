"""Every row of the op table: eager against NumPy, gradients against finite differences."""

import numpy as np
import pytest

import kiln
from op_table import OPS, float_positions, make_inputs


def _as_np(out):
    return out.detach().numpy() if isinstance(out, kiln.Tensor) else np.asarray(out)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eager_matches_numpy(op, dtype):
    arrays = make_inputs(op, dtype)
    got = op.fn(*[kiln.from_numpy(a) for a in arrays])
    want = op.ref(*arrays)
    got_np = _as_np(got)
    assert got_np.shape == np.shape(want), f"{op.name}: shape {got_np.shape} != {np.shape(want)}"
    if np.asarray(want).dtype.kind == "f":
        want_dtype = np.asarray(want).dtype
        assert got_np.dtype == want_dtype, f"{op.name}: dtype {got_np.dtype}, want {want_dtype}"
        tol = (
            dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=op.rtol, atol=op.atol)
        )
        np.testing.assert_allclose(got_np, want, **tol)
    else:
        np.testing.assert_array_equal(got_np, want)


def numeric_grad(f, arrays, k, eps=1e-6):
    """Central finite differences of sum(f * weights) w.r.t. input k (float64)."""
    base = [a.copy() for a in arrays]
    x = base[k]
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + eps
        plus = f(base)
        x[idx] = old - eps
        minus = f(base)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("op", [o for o in OPS if o.grad], ids=lambda op: op.name)
def test_gradients_match_finite_differences(op):
    arrays = make_inputs(op, np.float64, seed=1)
    probe = None

    def scalar(arrs):
        out = op.fn(*[kiln.from_numpy(a) for a in arrs])
        return float((out.detach().numpy() * probe).sum())

    tensors = [kiln.tensor(a, requires_grad=k in float_positions(op)) for k, a in enumerate(arrays)]
    out = op.fn(*tensors)
    rng = np.random.default_rng(2)
    probe = rng.standard_normal(tuple(out.shape))
    (out * kiln.from_numpy(probe)).sum().backward()
    for k in float_positions(op):
        want = numeric_grad(scalar, arrays, k)
        got = tensors[k].grad
        assert got is not None, f"{op.name}: no gradient for input {k}"
        np.testing.assert_allclose(
            got.numpy(), want, rtol=1e-5, atol=1e-6, err_msg=f"{op.name} input {k}"
        )
