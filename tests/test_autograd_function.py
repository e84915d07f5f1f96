"""Custom autograd Functions, gradcheck and double backward, against PyTorch."""

import numpy as np
import pytest
import torch

import kiln


def _both(cls_factory):
    """The same Function class body, built once over kiln and once over torch."""
    return cls_factory(kiln), cls_factory(torch)


def _legendre(lib):
    # PyTorch's tutorial example ("Defining new autograd functions").
    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * (5 * x**3 - 3 * x)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * x**2 - 1)

    return LegendrePolynomial3


def _scaled_split(lib):
    # Several outputs, a non-tensor argument, a non-differentiable output, ctx attributes.
    class ScaledSplit(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, k):
            ctx.k = k
            ctx.save_for_backward(x, w)
            idx = (x > 0).long()
            ctx.mark_non_differentiable(idx)
            return x[:k] * w, x[k:] * 3, idx

        @staticmethod
        def backward(ctx, ga, gb, gidx):
            x, w = ctx.saved_tensors
            gx = lib.cat([ga * w, gb * 3])
            gw = (ga * x[: ctx.k]).sum() if ctx.needs_input_grad[1] else None
            return gx, gw, None

    return ScaledSplit


def test_tutorial_function_matches_torch_forward_and_grad():
    kf, tf = _both(_legendre)
    data = np.linspace(-1, 1, 7)
    kx = kiln.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    ky, ty = kf.apply(kx), tf.apply(tx)
    np.testing.assert_allclose(ky.detach().numpy(), ty.detach().numpy())
    assert ky.grad_fn.name() == "LegendrePolynomial3Backward" == ty.grad_fn.name()
    (ky * ky).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(kx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_multiple_outputs_non_tensor_args_and_non_differentiable():
    kf, tf = _both(_scaled_split)
    data = np.array([1.0, -2.0, 3.0, 0.5])
    kx, tx = kiln.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    kw, tw = kiln.tensor(2.0, requires_grad=True), torch.tensor(2.0, requires_grad=True)
    ka, kb, kidx = kf.apply(kx, kw, 2)
    ta, tb, tidx = tf.apply(tx, tw, 2)
    assert not kidx.requires_grad and not tidx.requires_grad
    assert kidx.tolist() == tidx.tolist()
    # only `a` is used: `b`'s gradient is materialized as zeros for backward
    (ka**2).sum().backward()
    (ta**2).sum().backward()
    np.testing.assert_allclose(kx.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(kw.grad.numpy(), tw.grad.numpy())


def test_needs_input_grad_and_wrong_gradient_count():
    seen = []

    class F(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            seen.append(ctx.needs_input_grad)
            return x * y

        @staticmethod
        def backward(ctx, g):
            return (g,)  # one gradient for two inputs

    x = kiln.ones(2, requires_grad=True)
    out = F.apply(x, kiln.ones(2))
    assert seen == [(True, False)]
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        out.sum().backward()


def test_wrong_gradient_shape_raises_and_broadcastable_one_is_summed():
    class Bad(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return kiln.ones(5)

    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        Bad.apply(kiln.ones(3, requires_grad=True)).sum().backward()

    class Expanding(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.expand(4, 3)  # sums back to (3,), as torch does

    x = kiln.ones(3, requires_grad=True)
    Expanding.apply(x).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0, 4.0]


def test_mark_dirty_inplace_and_set_materialize_grads():
    got = []

    class AddOneInplace(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            ctx.set_materialize_grads(False)
            return x.add_(1)

        @staticmethod
        def backward(ctx, g):
            got.append(g)
            return g

    leaf = kiln.tensor([1.0, 2.0], requires_grad=True)
    y = leaf * 3
    z = AddOneInplace.apply(y)
    assert z is y and z.grad_fn.name() == "AddOneInplaceBackward"
    assert y.tolist() == [4.0, 7.0]
    z.sum().backward()
    assert leaf.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        AddOneInplace.apply(kiln.ones(2, requires_grad=True))


def test_saved_tensor_modified_in_place_is_an_error():
    kf = _legendre(kiln)
    x = kiln.tensor([0.5, 1.0], requires_grad=True)
    h = x * 1
    y = kf.apply(h)
    with kiln.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_gradcheck_and_gradgradcheck():
    kf = _legendre(kiln)
    x = kiln.tensor([0.3, -0.7, 1.2], dtype=kiln.float64, requires_grad=True)
    assert kiln.autograd.gradcheck(kf.apply, (x,))
    assert kiln.autograd.gradgradcheck(kf.apply, (x,))

    class Wrong(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            return g  # should be g * cos(x)

    assert not kiln.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False)
    with pytest.raises(kiln.autograd.GradcheckError, match="Jacobian mismatch"):
        kiln.autograd.gradcheck(Wrong.apply, (x,))


def test_double_backward_through_function_matches_torch():
    kf, tf = _both(_legendre)
    data = np.array([0.3, -0.7, 1.2])
    kx, tx = kiln.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    (kg,) = kiln.autograd.grad(kf.apply(kx).sum(), kx, create_graph=True)
    (tg,) = torch.autograd.grad(tf.apply(tx).sum(), tx, create_graph=True)
    (kg * kg).sum().backward()
    (tg * tg).sum().backward()
    np.testing.assert_allclose(kx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_once_differentiable_refuses_double_backward():
    class Cube(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        @kiln.autograd.function.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    x = kiln.tensor([2.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    assert x.grad.tolist() == [12.0]
    # (as in torch, an error only when the incoming gradient itself requires grad)
    (g,) = kiln.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert not g.requires_grad
    gy = kiln.ones(1, requires_grad=True)
    (g,) = kiln.autograd.grad(Cube.apply(x), x, gy, create_graph=True)
    assert g.tolist() == [12.0] and g.grad_fn.name() == "Error"
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_setup_context_style_and_old_module_path():
    from kiln.autograd.function import Function, FunctionCtx

    class Mul(Function):
        @staticmethod
        def forward(x, y):
            return x * y

        @staticmethod
        def setup_context(ctx, inputs, output):
            assert isinstance(ctx, FunctionCtx)
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y, g * x

    x = kiln.tensor([2.0, 3.0], requires_grad=True)
    y = kiln.tensor([5.0, 7.0], requires_grad=True)
    Mul.apply(x, y).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0] and y.grad.tolist() == [2.0, 3.0]


def test_function_under_jit_matches_eager():
    kf = _legendre(kiln)
    w = kiln.tensor([0.3, -0.7, 1.2], requires_grad=True)

    def step():
        loss = (kf.apply(w * 2) ** 2).sum()
        loss.backward()
        return loss

    eager_loss = step()
    eager_grad = w.grad.numpy().copy()
    w.grad = None
    jit_loss = kiln.jit(step)()
    np.testing.assert_allclose(jit_loss.item(), eager_loss.item(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), eager_grad, rtol=1e-6)
    # a jitted forward called from eager autograd: the Function's backward is compiled
    w.grad = None
    kiln.jit(lambda: kf.apply(w).sum())().backward()
    np.testing.assert_allclose(w.grad.numpy(), 1.5 * (5 * w.detach().numpy() ** 2 - 1), rtol=1e-6)
