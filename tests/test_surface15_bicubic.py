"""F.interpolate(mode="bicubic") against PyTorch: values and input gradients, with and
without align_corners, up and down, by size and by scale factor, and under kiln.jit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(5)

CASES = [
    {"size": (9, 4)},
    {"size": (1, 1)},
    {"size": (2, 3)},
    {"size": (5, 7)},
    {"scale_factor": 2},
    {"scale_factor": (1.5, 0.7)},
    {"scale_factor": 0.5},
    {"scale_factor": 3, "recompute_scale_factor": True},
]


def _run(lib, x, w, align_corners, kwargs):
    t = lib.tensor(x, requires_grad=True)
    out = lib.nn.functional.interpolate(t, mode="bicubic", align_corners=align_corners, **kwargs)
    (out * lib.tensor(w[..., : out.shape[-2], : out.shape[-1]])).sum().backward()
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 3e-6)])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_bicubic_matches_torch(kwargs, align_corners, dtype, tol):
    x = RNG.standard_normal((2, 3, 5, 7)).astype(dtype)
    w = RNG.standard_normal((2, 3, 21, 21)).astype(dtype)
    out_t, grad_t = _run(torch, x, w, align_corners, kwargs)
    out_k, grad_k = _run(kiln, x, w, align_corners, kwargs)
    assert out_k.shape == out_t.shape and out_k.dtype == out_t.dtype
    np.testing.assert_allclose(out_k, out_t, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_k, grad_t, rtol=tol * 10, atol=tol * 10)


def test_bicubic_module_and_jit():
    x = RNG.standard_normal((1, 2, 4, 4)).astype(np.float32)
    up_t = torch.nn.Upsample(scale_factor=2, mode="bicubic", align_corners=True)
    up_k = kiln.nn.Upsample(scale_factor=2, mode="bicubic", align_corners=True)
    expected = up_t(torch.tensor(x)).numpy()
    np.testing.assert_allclose(up_k(kiln.tensor(x)).numpy(), expected, atol=3e-6)
    jitted = kiln.jit(lambda t: up_k(t))
    np.testing.assert_allclose(jitted(kiln.tensor(x)).numpy(), expected, atol=3e-6)


def test_bicubic_needs_4d_input_like_torch():
    with pytest.raises(NotImplementedError, match="bicubic"):
        kiln.nn.functional.interpolate(kiln.zeros(1, 2, 5), size=3, mode="bicubic")
    with pytest.raises(NotImplementedError):
        torch.nn.functional.interpolate(torch.zeros(1, 2, 5), size=3, mode="bicubic")
