# torch.autograd.gradcheck / gradgradcheck as the "Extending PyTorch" docs and custom-op
# tests use them: double-precision inputs, a custom autograd.Function with a correct and a
# wrong backward (raise_exception=False, and the GradcheckError raised), several inputs,
# non-tensor arguments, a function returning a tuple, eps / atol, and nn.functional ops.
import torch
import torch.nn.functional as F
from torch.autograd import Function, gradcheck, gradgradcheck


class MyCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x**2


class WrongCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 2 * x**2


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


torch.manual_seed(0)
x = torch.randn(4, dtype=torch.double, requires_grad=True)
print("cube:", gradcheck(MyCube.apply, (x,), eps=1e-6, atol=1e-4))
print("wrong cube:", gradcheck(WrongCube.apply, (x,), raise_exception=False))
try:
    gradcheck(WrongCube.apply, (x,))
except Exception as e:
    print("raised:", type(e).__name__, isinstance(e, RuntimeError), "Jacobian mismatch" in str(e))
inp = (
    torch.randn(5, 3, dtype=torch.double, requires_grad=True),
    torch.randn(2, 3, dtype=torch.double, requires_grad=True),
    torch.randn(2, dtype=torch.double, requires_grad=True),
)
print("linear:", gradcheck(LinearFunction.apply, inp, eps=1e-6, atol=1e-4))
print("linear no bias:", gradcheck(LinearFunction.apply, inp[:2]))
print("mul constant:", gradcheck(MulConstant.apply, (x, 2.5)))
print("gradgrad cube:", gradgradcheck(MyCube.apply, (x,)))
print(
    "tuple output:",
    gradcheck(lambda a, b: (a * b, a + b.sin()), (x, x.detach().clone().requires_grad_())),
)
a = torch.randn(2, 3, 5, dtype=torch.double, requires_grad=True)
print("softmax:", gradcheck(lambda t: F.log_softmax(t, dim=-1), (a,)))
print(
    "conv1d:",
    gradcheck(F.conv1d, (a, torch.randn(4, 3, 2, dtype=torch.double, requires_grad=True))),
)
print("gradgrad tanh:", gradgradcheck(torch.tanh, (a,)))
print(
    "gradgrad matmul:", gradgradcheck(torch.matmul, (inp[0], inp[1].t().detach().requires_grad_()))
)
print("mse:", gradcheck(F.mse_loss, (x, torch.zeros(4, dtype=torch.double))))
print("layer_norm:", gradcheck(lambda t: F.layer_norm(t, (5,)), (a,)))
print("partial inputs:", gradcheck(lambda t, c: t * c, (x, torch.randn(4, dtype=torch.double))))
try:
    gradcheck(torch.sin, (torch.randn(3, requires_grad=True),))
    print("float32: passed")
except Exception as e:
    print("float32:", type(e).__name__)
