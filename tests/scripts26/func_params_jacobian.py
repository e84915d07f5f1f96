# torch.func with a model's parameters as a dict, as the torch.func docs and "model
# ensembling" / "NTK" tutorials use them: functional_call with dict(model.named_parameters())
# (detached), jacrev with respect to the parameter dict (one Jacobian per name),
# grad of a loss w.r.t. the dict matching loss.backward(), linearize around the
# parameters (jvp_fn agreeing with jvp), vjp with a dict of cotangents, and vmap over
# several parameter sets stacked with torch.func.stack_module_state.
import copy

import torch
import torch.nn as nn
from torch.func import functional_call, grad, jacrev, jvp, linearize, stack_module_state, vjp, vmap

torch.set_default_dtype(torch.float64)
model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float64) * 0.8 + i).view_as(p) * 0.6)
params = {k: v.detach() for k, v in model.named_parameters()}
x = torch.linspace(-1, 1, 6).view(2, 3)


def f(p, x):
    return functional_call(model, p, (x,))


print("functional == module:", torch.allclose(f(params, x), model(x)))
jac = jacrev(f)(params, x)
for k, v in jac.items():
    print("jac", k + ":", tuple(v.shape))
print("jac 2.bias:", jac["2.bias"][0])


def loss_fn(p, x):
    return f(p, x).pow(2).sum()


g = grad(loss_fn)(params, x)
model.zero_grad()
model(x).pow(2).sum().backward()
print(
    "grad matches backward:", all(torch.allclose(g[k], p.grad) for k, p in model.named_parameters())
)

tangent = {k: torch.ones_like(v) * 0.1 for k, v in params.items()}
out, jvp_fn = linearize(lambda p: f(p, x), params)
_, jvp_out = jvp(lambda p: f(p, x), (params,), (tangent,))
print("linearize == jvp:", torch.allclose(jvp_fn(tangent), jvp_out))
print("jvp:", jvp_out)
_, vjp_fn = vjp(lambda p: f(p, x), params)
(cot,) = vjp_fn(torch.ones(2, 2))
print("vjp keys:", sorted(cot.keys()))
print("vjp 0.bias:", cot["0.bias"])

models = [copy.deepcopy(model) for _ in range(3)]
with torch.no_grad():
    for i, m in enumerate(models):
        for p in m.parameters():
            p.mul_(1 + 0.1 * i)
stacked_params, stacked_buffers = stack_module_state(models)
print("stacked:", {k: tuple(v.shape) for k, v in stacked_params.items()})
base = copy.deepcopy(models[0]).to("meta")


def fmodel(p, b, x):
    return functional_call(base, (p, b), (x,))


ens = vmap(fmodel, in_dims=(0, 0, None))(stacked_params, stacked_buffers, x)
print("ensemble shape:", ens.shape)
print("ensemble matches:", all(torch.allclose(ens[i], models[i](x)) for i in range(3)))
