"""Memory shared between a compiled function's inputs and what it returns or saves for
backward, against eager PyTorch semantics."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

VIEWS = [
    lambda x: x[0:2],
    lambda x: x.t(),
    lambda x: x.reshape(-1),
    lambda x: x[:, 1],
    lambda x: (x[1:], x * 2),
]


@pytest.mark.parametrize("function", VIEWS)
@pytest.mark.parametrize("wrap", [kiln.jit, lambda f: kiln.compile(f, fullgraph=True)])
def test_a_returned_view_of_an_input_aliases_it(function, wrap):
    compiled = wrap(function)
    x = kiln.arange(6.0).reshape(3, 2)
    result = compiled(x)
    result = result[0] if isinstance(result, tuple) else result
    x.add_(10)  # (eagerly, the view sees it)
    expected = function(x)
    expected = expected[0] if isinstance(expected, tuple) else expected
    np.testing.assert_array_equal(result.numpy(), expected.numpy())


@pytest.mark.parametrize("wrap", [kiln.jit, kiln.compile])
def test_a_saved_input_changed_in_place_before_backward_raises(wrap):
    torch = pytest.importorskip("torch")
    for lib, w in ((torch, lambda f: f), (kiln, wrap)):
        a = lib.ones(3, requires_grad=True)
        b = a * 1
        out = w(lambda x: (x * x).sum())(b)  # saves x
        b.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()


@pytest.mark.parametrize("wrap", [kiln.jit, kiln.compile])
def test_an_input_backward_does_not_read_may_change(wrap):
    a = kiln.ones(3, requires_grad=True)
    b = a * 1
    out = wrap(lambda x: x.sum() * 2)(b)
    b.mul_(2)
    out.backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0, 2.0])


def test_a_saved_captured_tensor_changed_in_place_raises():
    scale = kiln.full((3,), 3.0)
    a = kiln.ones(3, requires_grad=True)
    out = kiln.jit(lambda x: (x * scale).sum())(a * 1)  # saves scale
    scale.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


DIFFERENTIABLE_VIEWS = [
    lambda x: x[0:1],
    lambda x: x.t(),
    lambda x: x.t()[1],
    lambda x: x.reshape(-1)[::2],
    lambda x: x[:, 1:],
    lambda x: x.view(3, 2)[1:, :1],
]


@pytest.mark.parametrize("wrap", [kiln.jit, kiln.compile])
@pytest.mark.parametrize("function", DIFFERENTIABLE_VIEWS)
def test_in_place_through_a_differentiable_returned_view_reaches_the_input(wrap, function):
    """The view is the input's (PyTorch's torch.compile regenerates it eagerly): writes
    through it change the input and its gradient, as the same code in PyTorch."""
    torch = pytest.importorskip("torch")
    got = []
    for lib, compiled in ((kiln, wrap(function)), (torch, function)):
        a = lib.arange(6.0).reshape(2, 3).requires_grad_()
        b = a * 1
        view = compiled(b)
        assert view.requires_grad
        view.mul_(3)
        (b * lib.arange(6.0).reshape(2, 3) ** 2).sum().backward()
        got.append((b.detach().numpy().copy(), a.grad.numpy().copy()))
    np.testing.assert_array_equal(got[0][0], got[1][0])
    np.testing.assert_array_equal(got[0][1], got[1][1])


def test_a_returned_view_of_a_computed_value_is_still_its_own():
    """Only views of an argument are replayed: a view of a value the function computed
    has the compiled backward's history."""
    a = kiln.arange(6.0).requires_grad_()
    out = kiln.jit(lambda x: (x * 2)[1:4])(a)
    assert out.grad_fn.name() == "CompiledFunctionBackward"
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0, 2, 2, 2, 0, 0])


STRIDED_UPDATES = [
    lambda e: e[::2].mul_(3),
    lambda e: e[1::3].add_(1),
    lambda e: e[1:5:2].mul_(-2),
    lambda e: e.view(2, 3)[:, ::2].add_(1),
    lambda e: e.view(2, 3)[::1, 1::2].mul_(5),
    lambda e: e[5:6:2].mul_(7),
    lambda e: e[6:6:2].mul_(7),  # empty
]


@pytest.mark.parametrize("wrap", [None, kiln.jit, kiln.compile])
@pytest.mark.parametrize("update", STRIDED_UPDATES)
def test_in_place_update_of_a_strided_slice_with_autograd(wrap, update):
    """``x[::2].mul_(3)`` where autograd records it (eagerly it raised NotImplementedError
    naming a CUDA tensor; under kiln.jit a TraceError): values and gradients as PyTorch's."""
    torch = pytest.importorskip("torch")

    def step(lib):
        def f(x):
            e = x * 1
            update(e)
            return (e * lib.arange(6.0) ** 2).sum(), e

        return f

    results = []
    for lib in (kiln, torch):
        f = step(lib)
        if lib is kiln and wrap is not None:
            f = wrap(f)
        a = lib.arange(6.0).requires_grad_()
        loss, e = f(a)
        loss.backward()
        results.append((loss.item(), e.detach().numpy().copy(), a.grad.numpy().copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])
