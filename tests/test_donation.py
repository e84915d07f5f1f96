"""A compiled function that updates a tensor in place (an optimizer's parameters) writes the
new values into that tensor's own array, as the eager update does, when it safely can: the
memory plan's ``donated`` outputs (compiler/passes/memory.py) and the executor's checks
(runtime/executor.py: writable, no other input sharing the memory, else a copy first)."""

from __future__ import annotations

import numpy as np
import pytest

import kiln
import kiln.nn as nn
import kiln.nn.functional as F


def _model_and_step(momentum=0.9):
    kiln.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = kiln.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def _data():
    rng = np.random.default_rng(1)
    return (
        kiln.from_numpy(rng.standard_normal((5, 6)).astype(np.float32)),
        kiln.from_numpy(rng.integers(0, 3, 5)),
    )


def _memory_stage(jitted, *args) -> str:
    return str(dict(jitted.inspect(*args).stages)["memory"])


def test_a_training_step_updates_the_parameters_in_their_own_arrays():
    x, y = _data()
    model, step = _model_and_step()
    eager_model, eager_step = _model_and_step()
    jitted = kiln.jit(step)
    assert "in the array of input" in _memory_stage(jitted, x, y)
    arrays = [p._data for p in model.parameters()]
    held = model[0].weight.detach().numpy()  # a NumPy view of the weight, held across steps
    versions = [p._version for p in model.parameters()]
    for _ in range(4):
        got, want = jitted(x, y), eager_step(x, y)
        assert got.item() == pytest.approx(want.item(), rel=1e-6)
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)
    # the weights and biases (loop kernels and matmul epilogues) were written in place
    assert sum(p._data is a for p, a in zip(model.parameters(), arrays)) >= 2
    assert model[0].weight._data is arrays[0]
    np.testing.assert_array_equal(held, model[0].weight.detach().numpy())  # as eagerly
    assert all(p._version > v for p, v in zip(model.parameters(), versions))


def test_a_read_only_array_is_copied_not_written():
    w = np.arange(6, dtype=np.float32)
    w.flags.writeable = False
    t = kiln.from_numpy(w.copy())
    t._data = w  # (a tensor over memory that may not be written)

    @kiln.jit
    def f(t, g):
        t.sub_(g * 0.5)
        return g.sum()

    g = kiln.ones(6)
    assert "in the array of input" in _memory_stage(f, t, g)
    out = f(t, g)
    np.testing.assert_array_equal(w, np.arange(6, dtype=np.float32))  # untouched
    np.testing.assert_array_equal(t.numpy(), np.arange(6) - 0.5)
    assert out.item() == 6.0


def test_an_input_sharing_memory_with_the_donor_still_reads_the_old_values():
    buf = np.arange(8, dtype=np.float32)

    def f(a, b):
        a.mul_(2)
        return (b * 1).sum()

    for wrap in (kiln.jit, kiln.compile):
        a = kiln.from_numpy(buf.copy())
        base = a._data
        first, second = kiln.from_numpy(base[:4]), kiln.from_numpy(base[4:])
        eager_base = buf.copy()
        ea, eb = kiln.from_numpy(eager_base[:4]), kiln.from_numpy(eager_base[4:])
        want = f(ea, eb)
        got = wrap(f)(first, second)
        assert got.item() == want.item()
        np.testing.assert_array_equal(first.numpy(), ea.numpy())
        np.testing.assert_array_equal(base, eager_base)


def test_no_donation_when_the_input_is_read_after_the_update_or_returned():
    @kiln.jit
    def later_read(w, g):
        new = w - g  # the update
        w.copy_(new)
        return w * 3  # reads the updated tensor: the plan sees the new value, not the input

    w, g = kiln.arange(4.0), kiln.ones(4)
    out = later_read(w, g)
    np.testing.assert_array_equal(w.numpy(), [-1, 0, 1, 2])
    np.testing.assert_array_equal(out.numpy(), [-3, 0, 3, 6])

    @kiln.jit
    def returns_old(w, g):
        old = w * 1
        w.add_(g)
        return old

    w = kiln.arange(4.0)
    old = returns_old(w, g)
    np.testing.assert_array_equal(old.numpy(), [0, 1, 2, 3])
    np.testing.assert_array_equal(w.numpy(), [1, 2, 3, 4])


def test_the_same_tensor_passed_twice_is_updated_once_as_eagerly():
    def f(a, b):
        a.add_(1)
        return b * 2

    for wrap in (kiln.jit, kiln.compile):
        t = kiln.arange(3.0)
        e = kiln.arange(3.0)
        want = f(e, e)
        got = wrap(f)(t, t)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        np.testing.assert_array_equal(t.numpy(), e.numpy())


FRESH = [
    (lambda x: x * 1, False),
    (lambda x: x.clone(), False),
    (lambda x: x + 0, False),
    (lambda x: (x * 1).reshape(2, 2), False),
    (lambda x: x.contiguous(), True),  # PyTorch returns the tensor itself
    (lambda x: x.float(), True),
    (lambda x: x[1:], True),  # views share the memory eagerly too
    (lambda x: x.view(2, 2), True),
]


@pytest.mark.parametrize("wrap", [kiln.jit, kiln.compile])
@pytest.mark.parametrize("function,shares", FRESH)
def test_a_computed_output_never_shares_an_inputs_memory(wrap, function, shares):
    """``x * 1`` simplifies to ``x``: the output was the input's own array, and a later
    in-place update of the input changed it (eagerly it is a new tensor)."""
    x, e = kiln.arange(4.0), kiln.arange(4.0)
    got, want = wrap(function)(x), function(e)
    x.add_(1)
    e.add_(1)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert np.shares_memory(got.numpy(), x.numpy()) == shares


def test_a_copy_returned_before_an_in_place_update_keeps_the_old_values():
    def f(w, g):
        old = w.clone()
        w.add_(g)
        return old, w * 1

    for wrap in (kiln.jit, kiln.compile):
        w, e = kiln.arange(4.0), kiln.arange(4.0)
        got, want = wrap(f)(w, kiln.ones(4)), f(e, kiln.ones(4))
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(w.numpy(), e.numpy())


def test_a_gradient_equal_to_an_input_does_not_share_its_memory():
    """d(sum(x * w))/dw is x: the compiled gradient was x's own array, so w.grad changed
    with a later in-place update of x."""

    def f(x, w):
        (x * w).sum().backward()

    for wrap in (kiln.jit, kiln.compile):
        x, w = kiln.arange(3.0), kiln.ones(3, requires_grad=True)
        wrap(f)(x, w)
        x.add_(10)
        np.testing.assert_array_equal(w.grad.numpy(), [0, 1, 2])
