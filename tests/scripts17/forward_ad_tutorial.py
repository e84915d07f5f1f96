# "Forward-mode Automatic Differentiation (Beta)" tutorial: dual tensors with
# torch.autograd.forward_ad, unpack_dual, forward AD through modules (functional_call),
# a custom Function with jvp, and the functional API torch.func.jvp / linearize.
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn as nn
from torch.func import functional_call, jvp, linearize

primal = torch.linspace(-1.0, 1.0, 10).reshape(2, 5)
tangent = torch.linspace(0.5, 1.5, 10).reshape(2, 5)


def fn(x, y):
    return x**2 + y**2


with fwAD.dual_level():
    dual_input = fwAD.make_dual(primal, tangent)
    print("tangent kept:", torch.equal(fwAD.unpack_dual(dual_input).tangent, tangent))
    plain_tensor = torch.ones(2, 5)
    dual_output = fn(dual_input, plain_tensor)
    jvp_out = fwAD.unpack_dual(dual_output).tangent
    print("jvp:", jvp_out.numpy().round(5).tolist())
    print("unpack fields:", fwAD.unpack_dual(dual_output)._fields)
    print("plain has no tangent:", fwAD.unpack_dual(plain_tensor).tangent is None)
print("expected:", torch.allclose(jvp_out, 2 * primal * tangent))

# forward AD through a module: replace its parameters with dual tensors
model = nn.Linear(5, 5)
with torch.no_grad():
    model.weight.copy_(torch.linspace(-0.5, 0.5, 25).reshape(5, 5))
    model.bias.copy_(torch.linspace(0.1, 0.5, 5))
inp = torch.linspace(-2, 2, 80).reshape(16, 5)
params = {name: p for name, p in model.named_parameters()}
tangents = {name: torch.full_like(p, 0.1) for name, p in params.items()}
with fwAD.dual_level():
    dual_params = {name: fwAD.make_dual(p, tangents[name]) for name, p in params.items()}
    out = functional_call(model, dual_params, inp)
    jvp_mod = fwAD.unpack_dual(out).tangent
print(
    "module jvp:",
    list(jvp_mod.shape),
    round(jvp_mod.sum().item(), 4),
    jvp_mod[0].detach().numpy().round(5).tolist(),
)


class ExpFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, foo):
        result = torch.exp(foo)
        ctx.result = result
        return result

    @staticmethod
    def jvp(ctx, gI):
        gO = gI * ctx.result
        del ctx.result
        return gO


x = torch.tensor([0.0, 0.5, 1.0], dtype=torch.double)
t = torch.tensor([1.0, 2.0, 3.0], dtype=torch.double)
with fwAD.dual_level():
    dual = fwAD.make_dual(x, t)
    dual_out = ExpFn.apply(dual)
    print("custom jvp:", fwAD.unpack_dual(dual_out).tangent.numpy().round(6).tolist())

# the functional API
x = torch.linspace(0.1, 1.0, 4)
out, jvp_val = jvp(torch.sin, (x,), (torch.ones(4),))
print("func.jvp:", out.numpy().round(5).tolist(), jvp_val.numpy().round(5).tolist())


def f(x, y):
    return x * y.exp()


out, jvp_val = jvp(f, (x, x * 2), (torch.ones(4), torch.zeros(4)))
print("func.jvp two primals:", jvp_val.numpy().round(5).tolist())
out, jvp_fn = linearize(torch.tanh, x)
print("linearize:", jvp_fn(torch.ones(4)).numpy().round(5).tolist())
print("linearize again:", jvp_fn(torch.full((4,), 2.0)).numpy().round(5).tolist())
