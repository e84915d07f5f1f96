# torch.autograd.functional (jacobian, hessian, vjp, jvp, hvp, vhp; create_graph,
# vectorize, strategy="forward-mode", strict) and the "Double Backward with Custom
# Functions" tutorial: Square (saving the input), Exp (saving the output), Sinh (saving an
# intermediate via mark_non_differentiable / returned outputs), a once_differentiable
# function failing double backward, gradcheck and gradgradcheck.
import torch
import torch.autograd.functional as AF
from torch.autograd.function import once_differentiable


def exp_reducer(x):
    return x.exp().sum(dim=1)


inputs = torch.linspace(-1, 1, 8, dtype=torch.float64).view(2, 4)
print(
    "jacobian:",
    list(AF.jacobian(exp_reducer, inputs).shape),
    AF.jacobian(exp_reducer, inputs)[0, 0].tolist(),
)
print("jacobian create_graph:", AF.jacobian(exp_reducer, inputs, create_graph=True).requires_grad)
print(
    "jacobian vectorize:",
    torch.allclose(
        AF.jacobian(exp_reducer, inputs, vectorize=True), AF.jacobian(exp_reducer, inputs)
    ),
)
print(
    "jacobian forward-mode:",
    torch.allclose(
        AF.jacobian(exp_reducer, inputs, vectorize=True, strategy="forward-mode"),
        AF.jacobian(exp_reducer, inputs),
    ),
)


def exp_adder(x, y):
    return 2 * x.exp() + 3 * y


x, y = torch.linspace(0, 1, 2, dtype=torch.float64), torch.linspace(1, 2, 2, dtype=torch.float64)
jx, jy = AF.jacobian(exp_adder, (x, y))
print("jacobian tuple:", jx.tolist(), jy.tolist())


def pow_reducer(x):
    return x.pow(3).sum()


h = AF.hessian(pow_reducer, torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64))
print("hessian:", list(h.shape), h.reshape(4, 4).diagonal().tolist())


def pow_adder_reducer(x, y):
    return (2 * x.pow(2) + 3 * y.pow(2)).sum()


hs = AF.hessian(
    pow_adder_reducer, (torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
)
print("hessian tuple:", [[t.tolist() for t in row] for row in hs])
v = torch.ones(2, dtype=torch.float64)
print("vjp:", [t.tolist() for t in AF.vjp(exp_reducer, inputs, v)])
print(
    "jvp:", [t.tolist() for t in AF.jvp(exp_reducer, inputs, torch.ones(2, 4, dtype=torch.float64))]
)
print(
    "hvp:",
    [
        t.tolist()
        for t in AF.hvp(
            pow_reducer,
            torch.tensor([1.0, 2.0], dtype=torch.float64),
            torch.ones(2, dtype=torch.float64),
        )
    ],
)
print(
    "vhp:",
    [
        t.tolist()
        for t in AF.vhp(
            pow_reducer,
            torch.tensor([1.0, 2.0], dtype=torch.float64),
            torch.ones(2, dtype=torch.float64),
        )
    ],
)
try:
    AF.jacobian(lambda x: torch.ones(3, dtype=torch.float64), inputs, strict=True)
    print("strict: no error")
except RuntimeError:
    print("strict: RuntimeError")
print(
    "independent output:",
    AF.jacobian(
        lambda x: torch.ones(3, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    ).tolist(),
)


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        # Because we are saving one of the inputs use `save_for_backward`
        # Save non-tensors and non-inputs/non-outputs directly on ctx
        ctx.save_for_backward(x)
        return x**2

    @staticmethod
    def backward(ctx, grad_out):
        # A function support double backward automatically if autograd
        # is able to record the computations performed in backward
        (x,) = ctx.saved_tensors
        return grad_out * 2 * x


# Use double precision because finite differencing method magnifies errors
x = torch.rand(3, 3, requires_grad=True, dtype=torch.double)
print(
    "Square gradcheck:",
    torch.autograd.gradcheck(Square.apply, x),
    torch.autograd.gradgradcheck(Square.apply, x),
)
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=torch.double)
(g,) = torch.autograd.grad(Square.apply(x).sum(), x, create_graph=True)
(gg,) = torch.autograd.grad(g.sum(), x)
print("Square grads:", g.tolist(), gg.tolist())


class Exp(torch.autograd.Function):
    # Simple case where everything goes well
    @staticmethod
    def forward(ctx, x):
        # This time we save the output
        result = torch.exp(x)
        # Note that we should use `save_for_backward` here when
        # the tensor saved is an ouptut (or an input).
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad_out):
        (result,) = ctx.saved_tensors
        return result * grad_out


x = torch.tensor(1.0, requires_grad=True, dtype=torch.double).clone()
print(
    "Exp gradcheck:",
    torch.autograd.gradcheck(Exp.apply, x),
    torch.autograd.gradgradcheck(Exp.apply, x),
)
(g,) = torch.autograd.grad(Exp.apply(x), x, create_graph=True)
(gg,) = torch.autograd.grad(g, x)
print("Exp grads:", round(g.item(), 6), round(gg.item(), 6))


class Sinh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        expx = torch.exp(x)
        expnegx = torch.exp(-x)
        ctx.save_for_backward(expx, expnegx)
        # In order to be able to save the intermediate results, a trick is to
        # include them as our outputs, so that the backward graph is constructed
        return (expx - expnegx) / 2, expx, expnegx

    @staticmethod
    def backward(ctx, grad_out, _grad_out_exp, _grad_out_negexp):
        expx, expnegx = ctx.saved_tensors
        grad_input = grad_out * (expx + expnegx) / 2
        # We cannot skip accumulating these even though we won't use the outputs
        # directly. They will be used later in the second backward.
        grad_input += _grad_out_exp * expx
        grad_input -= _grad_out_negexp * expnegx
        return grad_input


def sinh(x):
    # Create a wrapper that only returns the first output
    return Sinh.apply(x)[0]


x = torch.rand(3, 3, requires_grad=True, dtype=torch.double)
print("Sinh gradcheck:", torch.autograd.gradcheck(sinh, x), torch.autograd.gradgradcheck(sinh, x))
x = torch.tensor([0.5, -1.0], requires_grad=True, dtype=torch.double)
(g,) = torch.autograd.grad(sinh(x).sum(), x, create_graph=True)
(gg,) = torch.autograd.grad(g.sum(), x)
print("Sinh grads:", [round(v, 6) for v in g.tolist()], [round(v, 6) for v in gg.tolist()])


class SinhBad(torch.autograd.Function):
    # This is an example of what NOT to do!
    @staticmethod
    def forward(ctx, x):
        expx = torch.exp(x)
        expnegx = torch.exp(-x)
        ctx.expx = expx
        ctx.expnegx = expnegx
        return (expx - expnegx) / 2

    @staticmethod
    def backward(ctx, grad_out):
        expx = ctx.expx
        expnegx = ctx.expnegx
        grad_input = grad_out * (expx + expnegx) / 2
        return grad_input


x = torch.tensor([0.5, -1.0], requires_grad=True, dtype=torch.double)
(g,) = torch.autograd.grad(SinhBad.apply(x).sum(), x, create_graph=True)
print(
    "SinhBad first grad:", [round(v, 6) for v in g.tolist()], "second-order graph:", g.requires_grad
)


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * 3 * x**2


x = torch.tensor([1.0, 2.0], requires_grad=True, dtype=torch.double)
(g,) = torch.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
print("Cube grad:", g.tolist())
try:
    torch.autograd.grad(g.sum(), x)
    print("Cube double backward: ran")
except RuntimeError:
    print("Cube double backward: RuntimeError")
