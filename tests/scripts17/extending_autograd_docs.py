# "Extending PyTorch" (docs notes): LinearFunction with ctx.needs_input_grad, MulConstant
# with a non-tensor argument, the separate setup_context style, mark_non_differentiable,
# set_materialize_grads, and torch.autograd.gradcheck on double inputs.
import torch
from torch.autograd import Function, gradcheck


class LinearFunction(Function):
    @staticmethod
    def forward(input, weight, bias):
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class MulConstant(Function):
    @staticmethod
    def forward(tensor, constant):
        return tensor * constant

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, constant = inputs
        ctx.constant = constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


class MyCube(Function):
    @staticmethod
    def forward(x):
        result = x**3
        dx = 3 * x**2
        return result, dx

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        result, dx = output
        ctx.save_for_backward(x, dx)

    @staticmethod
    def backward(ctx, grad_output, grad_dx):
        x, dx = ctx.saved_tensors
        result = grad_output * dx + grad_dx * 6 * x
        return result


class SortValues(Function):
    @staticmethod
    def forward(ctx, x):
        values, indices = x.sort()
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx, g, g_indices):
        (indices,) = ctx.saved_tensors
        grad_input = torch.zeros_like(g)
        grad_input.index_add_(0, indices, g)
        return grad_input


class SimpleFunc(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        return x.clone(), x.clone()

    @staticmethod
    def backward(ctx, g1, g2):
        grad = torch.zeros(3, dtype=torch.double) if g1 is None else g1.clone()
        if g2 is not None:
            grad = grad + g2
        return grad


def linear(input, weight, bias=None):
    return LinearFunction.apply(input, weight, bias)


inp = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=torch.double, requires_grad=True)
w = torch.tensor([[0.1, 0.2, 0.3], [-0.4, 0.5, -0.6]], dtype=torch.double, requires_grad=True)
b = torch.tensor([0.01, -0.02], dtype=torch.double, requires_grad=True)
out = linear(inp, w, b)
print("linear out:", out.detach().numpy().round(6).tolist())
out.sum().backward()
print("grad input:", inp.grad.numpy().round(6).tolist())
print("grad weight:", w.grad.numpy().round(6).tolist())
print("grad bias:", b.grad.tolist())
print("gradcheck linear:", gradcheck(LinearFunction.apply, (inp, w, b), eps=1e-6, atol=1e-4))
frozen = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.double)
o = linear(frozen, w)
print("no bias:", o.detach().tolist(), o.requires_grad)

x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
y = MulConstant.apply(x, 5.5)
y.backward(torch.ones(3))
print("mul constant:", y.tolist(), x.grad.tolist())

c = torch.tensor([0.5, -1.5, 2.0], dtype=torch.double, requires_grad=True)
cube, dx = MyCube.apply(c)
print("cube:", cube.tolist(), dx.tolist())
(cube.sum() + dx.sum()).backward()
print("cube grad:", c.grad.tolist())
print("gradcheck cube:", gradcheck(lambda t: MyCube.apply(t)[0], (c,)))

v = torch.tensor([3.0, 1.0, 2.0], requires_grad=True)
values, indices = SortValues.apply(v)
print("sorted:", values.tolist(), indices.tolist(), indices.requires_grad)
(values * torch.tensor([1.0, 10.0, 100.0])).sum().backward()
print("sort grad:", v.grad.tolist())

s = torch.tensor([1.0, 2.0, 3.0], dtype=torch.double, requires_grad=True)
a1, a2 = SimpleFunc.apply(s)
a1.sum().backward()
print("materialize off:", s.grad.tolist())
print("grad_fn class:", type(out.grad_fn).__name__, out.grad_fn.name())
print("outputs share grad_fn:", a1.grad_fn is a2.grad_fn)
