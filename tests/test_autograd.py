"""The tape: accumulation, retain_graph, higher order, long chains, memory, errors."""

import gc
import tracemalloc

import numpy as np
import pytest

import kiln


def test_gradient_accumulates_across_backward_calls():
    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_shared_subexpression_gets_both_paths():
    x = kiln.tensor(2.0, requires_grad=True)
    y = x * x
    z = y * y + y  # dz/dx = 4x^3 + 2x
    z.backward()
    assert x.grad.item() == pytest.approx(4 * 8 + 4)


def test_backward_twice_without_retain_graph_is_an_error():
    x = kiln.tensor([1.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp(1.0), rtol=1e-6)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_nonscalar_backward_needs_gradient():
    x = kiln.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        y.backward()
    y.backward(kiln.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_backward_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        kiln.ones(2).sum().backward()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        kiln.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        kiln.arange(3).requires_grad_()


def test_inplace_on_leaf_requiring_grad_is_an_error():
    w = kiln.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.add_(1)
    with kiln.no_grad():
        w.add_(1)
    np.testing.assert_allclose(w.numpy() if not w.requires_grad else w.detach().numpy(), [2, 2])


def test_modified_saved_tensor_is_detected():
    a = kiln.ones(2, requires_grad=True)
    b = a * 1.0
    c = (b * b).sum()
    b.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.backward()


def test_no_grad_and_enable_grad():
    x = kiln.ones(2, requires_grad=True)
    with kiln.no_grad():
        y = x * 2
        with kiln.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert kiln.is_grad_enabled()

    @kiln.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_grad_function_and_higher_order():
    x = kiln.tensor(1.5, requires_grad=True)
    y = x**3
    (g,) = kiln.autograd.grad(y, x, create_graph=True)
    assert g.item() == pytest.approx(3 * 1.5**2)
    (g2,) = kiln.autograd.grad(g, x, create_graph=True)
    assert g2.item() == pytest.approx(6 * 1.5)
    (g3,) = kiln.autograd.grad(g2, x)
    assert g3.item() == pytest.approx(6.0)
    assert x.grad is None  # grad() returns, it does not accumulate


def test_higher_order_through_tanh_matches_finite_differences():
    def second(v):
        x = kiln.tensor(v, dtype=kiln.float64, requires_grad=True)
        (g,) = kiln.autograd.grad(kiln.tanh(x * 2).sum(), x, create_graph=True)
        return g

    x = kiln.tensor(0.3, dtype=kiln.float64, requires_grad=True)
    (g,) = kiln.autograd.grad(kiln.tanh(x * 2), x, create_graph=True)
    (h,) = kiln.autograd.grad(g, x)
    eps = 1e-6
    fd = (second(0.3 + eps).item() - second(0.3 - eps).item()) / (2 * eps)
    assert h.item() == pytest.approx(fd, rel=1e-6)


def test_grad_allow_unused():
    x, y = kiln.ones(1, requires_grad=True), kiln.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        kiln.autograd.grad((x * 2).sum(), [x, y])
    gx, gy = kiln.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)
    assert gx.item() == 2.0 and gy is None


def test_hundred_thousand_op_chain():
    x = kiln.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_retain_grad_on_intermediate():
    x = kiln.tensor([2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    assert y.grad.item() == 12.0
    assert x.grad.item() == 36.0


def test_register_hook_changes_gradient():
    x = kiln.tensor([1.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    assert x.grad.item() == 20.0


def test_detach_and_grad_fn_names():
    x = kiln.ones(2, requires_grad=True)
    y = (x * 2).sum()
    assert y.grad_fn.name() == "SumBackward0"
    assert not y.detach().requires_grad
    assert x.is_leaf and not y.is_leaf
    assert "grad_fn=<SumBackward0>" in repr(y)


def test_training_loop_memory_does_not_grow():
    w = kiln.randn(64, 64, requires_grad=True)
    x = kiln.randn(32, 64)

    def step():
        loss = ((x @ w).tanh() ** 2).mean()
        loss.backward()
        with kiln.no_grad():
            w.sub_(w.grad * 0.01)
        w.grad = None

    for _ in range(200):
        step()
    gc.collect()
    tracemalloc.start()
    first = tracemalloc.take_snapshot()
    for _ in range(2_000):  # (~10 kB of noise; a leak of 100 bytes a step would show)
        step()
    gc.collect()
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(first, "filename"))
    tracemalloc.stop()
    assert grown < 200_000, f"memory grew by {grown} bytes over 2,000 steps"


def test_a_contiguous_parameter_gets_a_contiguous_grad_as_in_torch():
    """PyTorch's gradient layout contract: ``.grad`` has its parameter's strides. A
    Linear's weight gradient is computed transposed, and kiln stored that view."""
    import torch

    strides = {}
    for lib in (kiln, torch):
        lib.manual_seed(0)
        lin = lib.nn.Linear(4, 3)
        lin(lib.randn(5, 4)).sum().backward()
        lin(lib.randn(5, 4)).sum().backward()  # (accumulated: the layout stays)
        strides[lib.__name__] = (lin.weight.grad.stride(), lin.weight.grad.is_contiguous())
    assert strides["kiln"] == strides["torch"] == ((4, 1), True)


def test_a_linear_weight_gradient_is_computed_as_torch_does_without_a_copy():
    """``y = x @ W^T``: the weight's gradient is ``g^T @ x`` (the matmul rule computes it
    transposed when its operand is a transposed view), contiguous as it is made."""
    rng = np.random.default_rng(3)
    x = kiln.tensor(rng.standard_normal((7, 5)).astype(np.float32))
    w = kiln.tensor(rng.standard_normal((3, 5)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((7, 3)).astype(np.float32)
    (x @ w.t()).backward(kiln.tensor(g))
    np.testing.assert_array_equal(w.grad.numpy(), g.T @ x.numpy())
    assert w.grad.numpy().flags.c_contiguous


def test_a_relaid_gradient_keeps_its_dtype_and_values():
    """The layout contract copies a strided gradient into its parameter's layout; that
    copy once went through ``Tensor(...)`` and came back float32 (a float64 parameter got
    a float32-rounded gradient). Here the gradient is a transposed view of a float64
    product, so it is copied."""
    rng = np.random.default_rng(4)
    w = kiln.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    x = kiln.tensor(rng.standard_normal((5, 3)))
    (w * x.t()).sum().backward()  # d/dw = x^T: a transposed view
    assert w.grad.dtype == kiln.float64 and w.grad.numpy().flags.c_contiguous
    np.testing.assert_array_equal(w.grad.numpy(), x.numpy().T)


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "trunc", "round", "frac"])
def test_piecewise_constant_ops_have_pytorchs_zero_gradients(name):
    """PyTorch's sign/floor/ceil/trunc/round results require grad and give a zero
    gradient (kiln's did not require grad: ``backward`` raised)."""
    import torch

    grads = []
    for lib in (kiln, torch):
        x = lib.tensor([1.5, -2.0, 0.0, -0.5, 3.25], requires_grad=True)
        y = getattr(lib, name)(x)
        assert y.requires_grad
        (y * lib.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])

    def f(v):
        return (getattr(kiln, name)(v) * v).sum()

    results = []
    for run in (f, kiln.jit(f)):  # eager, then the compiled backward
        x = kiln.tensor([1.5, -2.0, 0.0, -0.5, 3.25], requires_grad=True)
        run(x).backward()
        results.append(x.grad.numpy())
    np.testing.assert_array_equal(results[0], results[1])


def test_copysign_gives_its_sign_argument_a_zero_gradient_as_torch():
    import torch

    grads = []
    for lib in (kiln, torch):
        a = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        b = lib.tensor([-1.0, float("inf"), float("nan")], requires_grad=True)
        lib.copysign(a, b).sum().backward()
        grads.append((a.grad.numpy(), b.grad.numpy()))
    for k, t in zip(*grads):
        np.testing.assert_array_equal(k, t)
