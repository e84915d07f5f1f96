"""``kiln.nn.grad`` (``torch.nn.grad``): a convolution's input and weight gradients from its
output gradient, against PyTorch: values, differentiability, the shape check, and the
tutorial that builds a fused conv + batch-norm backward from them."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

CASES = [  # (dims, input, weight, stride, padding, dilation, groups)
    (1, (2, 4, 9), (6, 2, 3), 2, 1, 1, 2),
    (2, (2, 3, 7, 6), (4, 3, 3, 2), 1, 0, 1, 1),
    (2, (1, 4, 8, 8), (4, 1, 3, 3), (2, 1), (1, 2), (1, 2), 4),
    (3, (1, 2, 5, 4, 5), (3, 2, 2, 2, 3), 1, (1, 0, 1), 1, 1),
]


def _conv(lib, dims):
    return getattr(lib.nn.functional, f"conv{dims}d")


def test_input_and_weight_gradients_equal_torchs():
    rng = np.random.default_rng(0)
    for dims, xs, ws, stride, padding, dilation, groups in CASES:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        out = _conv(torch, dims)(
            torch.tensor(x), torch.tensor(w), None, stride, padding, dilation, groups
        )
        go = rng.standard_normal(tuple(out.shape))
        args = (stride, padding, dilation, groups)
        for lib in (kiln, torch):
            grad = getattr(lib.nn.grad, f"conv{dims}d_input")(
                xs, lib.tensor(w), lib.tensor(go), *args
            )
            if lib is kiln:
                gi = grad.numpy()
            else:
                want_i = grad.numpy()
            grad = getattr(lib.nn.grad, f"conv{dims}d_weight")(
                lib.tensor(x), ws, lib.tensor(go), *args
            )
            if lib is kiln:
                gw = grad.numpy()
            else:
                want_w = grad.numpy()
        np.testing.assert_allclose(gi, want_i, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gw, want_w, rtol=1e-10, atol=1e-12)
        assert gi.dtype == want_i.dtype and gw.shape == tuple(ws)


def test_the_gradients_are_differentiable_as_torchs():
    rng = np.random.default_rng(1)
    x, w, go = (
        rng.standard_normal((1, 2, 5, 5)),
        rng.standard_normal((3, 2, 3, 3)),
        rng.standard_normal((1, 3, 3, 3)),
    )

    def second(lib):
        tw, tgo, tx = (lib.tensor(a, requires_grad=True) for a in (w, go, x))
        gi = lib.nn.grad.conv2d_input((1, 2, 5, 5), tw, tgo)
        gw = lib.nn.grad.conv2d_weight(tx, (3, 2, 3, 3), tgo)
        assert gi.requires_grad and gw.requires_grad
        ((gi * gi).sum() + (gw * gw).sum()).backward()
        return tw.grad.numpy(), tgo.grad.numpy(), tx.grad.numpy()

    for mine, theirs in zip(second(kiln), second(torch)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    with kiln.no_grad():
        tw = kiln.tensor(w, requires_grad=True)
        assert not kiln.nn.grad.conv2d_input((1, 2, 5, 5), tw, kiln.tensor(go)).requires_grad


def test_a_grad_output_of_the_wrong_size_is_refused_as_torch():
    w = np.ones((3, 2, 3, 3))
    bad = np.ones((1, 3, 2, 2))
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.grad.conv2d_input((1, 2, 5, 5), torch.tensor(w), torch.tensor(bad))
    with pytest.raises(RuntimeError) as mine:
        kiln.nn.grad.conv2d_input((1, 2, 5, 5), kiln.tensor(w), kiln.tensor(bad))
    assert str(mine.value) == str(theirs.value)


def _fused_conv_bn(lib):
    """The tutorial's custom Function: conv2d then batch norm (no running stats), with a
    hand-written backward built on ``torch.nn.grad``."""

    class FusedConvBN2DFunction(lib.autograd.Function):
        @staticmethod
        def forward(ctx, X, conv_weight, eps=1e-3):
            ctx.save_for_backward(X, conv_weight)
            X = lib.nn.functional.conv2d(X, conv_weight)
            sum = X.sum(dim=(0, 2, 3))
            var = X.var(unbiased=True, dim=(0, 2, 3))
            N = X.numel() / X.size(1)
            sqrt_var = lib.sqrt(var)
            ctx.eps = eps
            ctx.sum, ctx.N, ctx.sqrt_var = sum, N, sqrt_var
            mean = sum / N
            denom = sqrt_var + eps
            out = (X - mean.view(1, -1, 1, 1)) / denom.view(1, -1, 1, 1)
            ctx.conv_out = X
            return out

        @staticmethod
        def backward(ctx, grad_out):
            X, conv_weight = ctx.saved_tensors
            conv_out = ctx.conv_out
            # batch norm backward (unbiased variance, as the tutorial)
            N, sqrt_var, eps = ctx.N, ctx.sqrt_var, ctx.eps
            mean = (ctx.sum / N).view(1, -1, 1, 1)
            denom = (sqrt_var + eps).view(1, -1, 1, 1)
            centered = conv_out - mean
            g_denom = -(grad_out * centered).sum(dim=(0, 2, 3), keepdim=True) / denom**2
            g_var = g_denom / (2 * sqrt_var.view(1, -1, 1, 1))
            g_conv = grad_out / denom + g_var * 2 * centered / (N - 1)
            g_conv = g_conv - (g_conv.sum(dim=(0, 2, 3), keepdim=True) / N)
            grad_X = lib.nn.grad.conv2d_input(X.shape, conv_weight, g_conv)
            grad_w = lib.nn.grad.conv2d_weight(X, conv_weight.shape, g_conv)
            return grad_X, grad_w, None

    return FusedConvBN2DFunction


def test_the_fused_conv_bn_tutorial_gives_torchs_gradients():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))

    def grads(lib):
        tx, tw = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        out = _fused_conv_bn(lib).apply(tx, tw)
        (out * lib.tensor(np.arange(out.numel()).reshape(out.shape) % 5)).sum().backward()
        return out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()

    for mine, theirs in zip(grads(kiln), grads(torch)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-11)
