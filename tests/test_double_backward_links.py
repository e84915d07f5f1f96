"""A gradient penalty (WGAN-GP) differentiates a gradient: PyTorch's backward of relu-like
activations reads their input, so the parameters before the activation get a *zero*
gradient from the penalty, not ``None`` (which an optimizer skips: Adam's moments and
weight decay then differ). kiln's masks of relu, leaky_relu and hardtanh/relu6 are linked
to the input (relu's eager fused node: to its output) with a zero derivative under
``create_graph`` (``vjp.zero_linked``, ``vjp.linked``)."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

ACTIVATIONS = {
    "relu": lambda lib: lib.relu,
    "ReLU": lambda lib: lib.nn.ReLU(),
    "leaky_relu": lambda lib: lambda t: lib.nn.functional.leaky_relu(t, 0.2),
    "LeakyReLU": lambda lib: lib.nn.LeakyReLU(0.2),
    "hardtanh": lambda lib: lib.nn.functional.hardtanh,
    "relu6": lambda lib: lib.nn.functional.relu6,
}


def _penalty_grads(lib, activation, weights):
    l1, l2 = lib.nn.Linear(3, 4), lib.nn.Linear(4, 1)
    with lib.no_grad():
        for p, w in zip([*l1.parameters(), *l2.parameters()], weights):
            p.copy_(lib.tensor(w))
    x = lib.tensor(np.linspace(-2, 2, 15, dtype=np.float32).reshape(5, 3), requires_grad=True)
    out = l2(activation(lib)(l1(x)))
    (g,) = lib.autograd.grad(out.sum(), x, create_graph=True)
    ((g.norm(2, dim=1) - 1) ** 2).mean().backward()
    params = [*l1.parameters(), *l2.parameters()]
    return [None if p.grad is None else p.grad.numpy() for p in params]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradient_penalty_gives_the_same_zero_and_none_gradients_as_pytorch(name):
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (4,), (1, 4), (1,)]]
    got = _penalty_grads(kiln, ACTIVATIONS[name], weights)
    want = _penalty_grads(torch, ACTIVATIONS[name], weights)
    assert [g is None for g in got] == [w is None for w in want]
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_the_link_does_not_change_first_order_gradients_or_values():
    x = kiln.tensor([-2.0, -0.0, 0.5, 3.0], requires_grad=True)
    y = kiln.nn.functional.leaky_relu(x, 0.1)
    (g,) = kiln.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), np.float32([0.1, 0.1, 1.0, 1.0]))
    assert g.requires_grad  # connected to x (with a zero derivative)
    (gg,) = kiln.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(gg.numpy(), [0.0, 0.0, 0.0, 0.0])


def test_the_composite_relu_links_too():
    """Under a profiler kiln.relu runs its composite (not the fused eager node)."""
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (4,), (1, 4), (1,)]]
    want = _penalty_grads(torch, ACTIVATIONS["relu"], weights)
    with kiln.profiler.profile():
        got = _penalty_grads(kiln, ACTIVATIONS["relu"], weights)
    assert [g is None for g in got] == [w is None for w in want]
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
