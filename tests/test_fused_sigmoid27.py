"""Eager ``sigmoid`` as one fused node (kiln/autograd/fused.py): the composite's values and
gradients bit for bit (the composite is what kiln.jit traces), one ``SigmoidBackward0``
node as PyTorch's (which saves the result), and PyTorch's values and second-order
gradients."""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln.autograd import fused


def _special(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray((rng.standard_normal(shape) * 6).astype(dtype))
    flat = x.reshape(-1)
    values = [np.nan, -0.0, 0.0, np.inf, -np.inf, 40.0, -40.0, 90.0, -800.0, 1e-40, -1e-300]
    for k, v in enumerate(values):
        if k < flat.size:
            flat[(k * 7) % flat.size] = v
    return x


def _run(fast, fn, x, g, monkeypatch):
    monkeypatch.setattr(fused, "ENABLED", fast)
    try:
        t = kiln.tensor(x, requires_grad=True)
        y = fn(t)
        y.backward(kiln.tensor(g))
        return y.detach().numpy().copy(), t.grad.numpy().copy(), y.grad_fn.name()
    finally:
        monkeypatch.setattr(fused, "ENABLED", True)


def _bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), np.argwhere(a.view(np.uint8) != b.view(np.uint8))[:5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_sigmoid_is_the_composite_bit_for_bit(dtype, monkeypatch):
    functions = {
        "sigmoid": kiln.sigmoid,
        "used twice": lambda t: kiln.sigmoid(t) * t,  # x's gradient sums two arrivals
        "functional": kiln.nn.functional.sigmoid,
        "method": lambda t: (t * 1).sigmoid(),
    }
    for shape in [(), (0,), (7,), (300, 100), (3, 4, 5)]:
        x = _special(shape, dtype, 1)
        g = _special(shape, dtype, 2)  # NaN, inf and -0.0 gradients too
        for name, fn in functions.items():
            fast = _run(True, fn, x, g, monkeypatch)
            slow = _run(False, fn, x, g, monkeypatch)
            _bits(fast[0], slow[0])
            _bits(fast[1], slow[1])
            assert fast[2] == slow[2], (name, shape)
        assert _run(True, kiln.sigmoid, x, g, monkeypatch)[2] == "SigmoidBackward0"


def test_fused_sigmoid_without_autograd_gives_the_same_bits(monkeypatch):
    x = _special((50, 9), np.float32, 3)
    fast = kiln.sigmoid(kiln.tensor(x)).numpy()
    monkeypatch.setattr(fused, "ENABLED", False)
    _bits(fast, kiln.sigmoid(kiln.tensor(x)).numpy())


def test_fused_sigmoid_matches_torch_and_jit():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((16, 8)) * 4).astype(np.float32)
    k = kiln.tensor(x, requires_grad=True)
    y = kiln.sigmoid(k)
    (y * y).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    ty = torch.sigmoid(t)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-7)
    # (atol: PyTorch's float32 rule, g * (1 - y) * y, cancels where y is near 1; kiln's
    # composite, from exp(-|x|), does not: they differ by up to 1.4e-7 there)
    np.testing.assert_allclose(k.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=3e-7)
    assert y.grad_fn.name() == ty.grad_fn.name()

    w = kiln.tensor(x, requires_grad=True)

    @kiln.jit
    def step():
        out = kiln.sigmoid(w)
        (out * out).sum().backward()
        return out

    np.testing.assert_allclose(step().numpy(), y.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), k.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_fused_sigmoid_second_order_gradients_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(6).standard_normal((4, 5)) * 3

    def grads(lib):
        a = lib.tensor(x, requires_grad=True)
        loss = (lib.sigmoid(a) * a).sum()
        (g,) = lib.autograd.grad(loss, a, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), a)
        return g.detach().numpy(), gg.numpy()

    for mine, theirs in zip(grads(kiln), grads(torch)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)


def test_fused_sigmoid_saves_its_result_and_falls_back_where_it_must():
    from kiln.autograd import graph

    x = kiln.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    y = kiln.sigmoid(x)
    y.mul_(2)  # PyTorch saves the result: backward must refuse it changed
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    x.grad = None
    h = x * 1
    y = kiln.sigmoid(h)
    h.add_(1)  # the input is not what the rule reads: fine, as in PyTorch
    y.sum().backward()
    s = 1 / (1 + np.exp(-np.array([-1.0, 0.5, 2.0])))
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s), rtol=1e-6)
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        assert kiln.sigmoid(x).grad_fn.name() == "SigmoidBackward0"  # (the composite's)
    half = kiln.tensor([-1.0, 2.0], dtype=kiln.float16, requires_grad=True)
    assert kiln.sigmoid(half).dtype == kiln.float16
    with kiln.no_grad():
        assert kiln.sigmoid(x).grad_fn is None
