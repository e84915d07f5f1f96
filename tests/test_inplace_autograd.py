"""In-place updates under autograd, against PyTorch: of a non-leaf, and of a view of one.

An in-place update overwrites its tensor, so autograd must keep the old values its rules
read (``mul_``, ``exp_``) and, for a view, rewrite the base's history (PyTorch's
CopySlices): ``y[0].zero_()`` stops the gradient of row 0, ``y[0].mul_(2)`` doubles it.
"""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

UPDATES = {
    "mul_ scalar": lambda y: y.mul_(2.0),
    "exp_": lambda y: y.exp_(),
    "add_ tensor": lambda y: y.add_(y.detach() * 3),
    "sigmoid_": lambda y: y.sigmoid_(),
    "row mul_": lambda y: y[0].mul_(2.0),
    "row zero_": lambda y: y[0].zero_(),
    "column fill_": lambda y: y[:, 1].fill_(7.0),
    "slice add_ of another slice": lambda y: y[:, 1:].add_(y[:, :2] * 3),
    "transposed row neg_": lambda y: y.t()[1].neg_(),
    "view of a view": lambda y: y[1][1:].mul_(5.0),
    "reshape then slice": lambda y: y.reshape(6)[2:4].fill_(1.0),
}


def _run(lib, update, jit=False):
    x = lib.tensor(np.linspace(-1.0, 1.5, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)

    def step(x):
        y = x * 1.5
        update(y)
        return (y * y).sum(), y

    loss, y = (kiln.jit(step) if jit else step)(x)
    loss.backward()
    return y.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("name", sorted(UPDATES))
def test_inplace_update_values_and_gradients_match_pytorch(name):
    want_y, want_grad = _run(torch, UPDATES[name])
    got_y, got_grad = _run(kiln, UPDATES[name])
    np.testing.assert_allclose(got_y, want_y, rtol=1e-6)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5)


@pytest.mark.parametrize("name", ["row mul_", "row zero_", "column fill_", "mul_ scalar"])
def test_inplace_update_under_jit_matches_pytorch(name):
    want_y, want_grad = _run(torch, UPDATES[name])
    got_y, got_grad = _run(kiln, UPDATES[name], jit=True)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-6)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5)


def test_a_rule_that_read_the_overwritten_values_still_refuses():
    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = y.sin()  # sin's rule reads y (exp's reads its result, as PyTorch's)
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
