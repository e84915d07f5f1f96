# "PyTorch: Defining new autograd functions" (LegendrePolynomial3) and "Extending
# PyTorch" (a custom Exp / Linear Function with save_for_backward, needs_input_grad,
# once_differentiable), checked with torch.autograd.gradcheck.
import math

import torch
from torch.autograd import Function


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input**3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input**2 - 1)


dtype = torch.float
device = torch.device("cpu")
x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)

learning_rate = 5e-6
for t in range(2000):
    P3 = LegendrePolynomial3.apply
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    if t % 400 == 99:
        print(t, f"loss: {loss.item():.5f}")
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
print(f"Result: y = {a.item():.5f} + {b.item():.5f} * P3({c.item():.5f} + {d.item():.5f} x)")


class Exp(Function):
    @staticmethod
    def forward(ctx, i):
        result = i.exp()
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad_output):
        (result,) = ctx.saved_tensors
        return grad_output * result


class LinearFunction(Function):
    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

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
    def forward(ctx, tensor, constant):
        ctx.constant = constant
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x**2


class Linear(torch.nn.Module):
    def __init__(self, input_features, output_features, bias=True):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(output_features, input_features))
        self.bias = torch.nn.Parameter(torch.empty(output_features)) if bias else None
        with torch.no_grad():
            self.weight.copy_(
                torch.linspace(-0.5, 0.5, output_features * input_features).view(
                    output_features, input_features
                )
            )
            if self.bias is not None:
                self.bias.fill_(0.1)

    def forward(self, input):
        return LinearFunction.apply(input, self.weight, self.bias)


t = torch.tensor([0.0, 0.5, 1.0], requires_grad=True)
e = Exp.apply(t)
e.sum().backward()
print("Exp:", e.detach().numpy().round(6).tolist(), t.grad.numpy().round(6).tolist())

lin = Linear(3, 2)
inp = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]], requires_grad=True)
out = lin(inp)
out.pow(2).sum().backward()
print("LinearFunction out:", out.detach().numpy().round(6).tolist())
print(
    "grads:",
    inp.grad.numpy().round(6).tolist(),
    lin.weight.grad.numpy().round(6).tolist(),
    lin.bias.grad.tolist(),
)

m = torch.tensor([1.0, 2.0], requires_grad=True)
MulConstant.apply(m, 2.5).sum().backward()
print("MulConstant grad:", m.grad.tolist())
k = torch.tensor([1.0, -2.0], requires_grad=True)
Cube.apply(k).sum().backward()
print("Cube grad:", k.grad.tolist())

input = (
    torch.randn(20, 20, dtype=torch.double, requires_grad=True),
    torch.randn(30, 20, dtype=torch.double, requires_grad=True),
)
test = torch.autograd.gradcheck(LinearFunction.apply, input, eps=1e-6, atol=1e-4)
print("gradcheck LinearFunction:", test)
print(
    "gradcheck Exp:",
    torch.autograd.gradcheck(Exp.apply, (torch.randn(5, dtype=torch.double, requires_grad=True),)),
)
print(
    "gradcheck P3:",
    torch.autograd.gradcheck(
        LegendrePolynomial3.apply, (torch.randn(4, dtype=torch.double, requires_grad=True),)
    ),
)
