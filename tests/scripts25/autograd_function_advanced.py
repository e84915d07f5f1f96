# Custom autograd.Function features from the "Extending PyTorch" docs: the setup_context
# style (forward without ctx), mark_non_differentiable for an index output,
# set_materialize_grads(False) with None gradients, once_differentiable, mark_dirty for
# an in-place function, several outputs, needs_input_grad, non-tensor arguments, and a
# double backward through a Function whose backward is differentiable.
import torch
from torch.autograd import Function
from torch.autograd.function import once_differentiable


class SortValues(Function):
    @staticmethod
    def forward(x):
        values, idx = x.sort()
        return values, idx

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        _, idx = output
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        ctx.n = x.shape[0]

    @staticmethod
    def backward(ctx, g_values, g_idx):
        (idx,) = ctx.saved_tensors
        grad = torch.zeros(ctx.n, dtype=g_values.dtype)
        grad[idx] = g_values
        return grad


x = torch.tensor([3.0, 1.0, 2.0], requires_grad=True)
values, idx = SortValues.apply(x)
print("setup_context:", values, idx, idx.requires_grad)
(values * torch.tensor([1.0, 10.0, 100.0])).sum().backward()
print("grad:", x.grad)


class TwoOutputs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x)
        return x * 2, x**2

    @staticmethod
    def backward(ctx, g1, g2):
        (x,) = ctx.saved_tensors
        grad = torch.zeros_like(x)
        if g1 is not None:
            grad = grad + 2 * g1
        if g2 is not None:
            grad = grad + 2 * x * g2
        return grad


x = torch.tensor([1.0, 2.0], requires_grad=True)
a, b = TwoOutputs.apply(x)
a.sum().backward()
print("only first output used:", x.grad)
x.grad = None
a, b = TwoOutputs.apply(x)
(a.sum() + b.sum()).backward()
print("both:", x.grad)


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


x = torch.tensor([0.0, 1.0], requires_grad=True)
y = Exp.apply(x)
(g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
print("once_differentiable:", g, g.requires_grad)
try:
    g.sum().backward()
    print("double backward: allowed")
except RuntimeError as e:
    print("double backward:", type(e).__name__)


class AddOneInplace(Function):
    @staticmethod
    def forward(ctx, x):
        x.add_(1)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, g):
        return g


base = torch.tensor([1.0, 2.0], requires_grad=True)
t = base.clone()
out = AddOneInplace.apply(t)
print("mark_dirty:", out is t, out, type(out.grad_fn).__name__)
(out * 3).sum().backward()
print("grad through dirty:", base.grad)


class ScaledSquare(Function):
    @staticmethod
    def forward(ctx, x, w, scale):
        ctx.save_for_backward(x, w)
        ctx.scale = scale
        return scale * x * x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = 2 * ctx.scale * x * w * g if ctx.needs_input_grad[0] else None
        gw = ctx.scale * x * x * g if ctx.needs_input_grad[1] else None
        return gx, gw, None


x = torch.tensor([1.0, 2.0], requires_grad=True)
w = torch.tensor([3.0, 4.0])
out = ScaledSquare.apply(x, w, 0.5)
(g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
print("first:", g)
(g2,) = torch.autograd.grad(g.sum(), x)
print("double backward:", g2)
print("needs_input_grad path:", ScaledSquare.apply(x, w, 2.0).grad_fn.name())
