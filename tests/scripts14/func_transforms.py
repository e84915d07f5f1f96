# "Jacobians, Hessians, hvp, vhp, and more: composing function transforms", "Per-sample
# gradients" and "Forward-mode automatic differentiation": torch.func.grad / vmap /
# jacrev / jacfwd / hessian / functional_call, torch.autograd.functional and forward_ad.
import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, hessian, jacfwd, jacrev, vjp, vmap

rng = np.random.default_rng(0)


def predict(weight, bias, x):
    return F.linear(x, weight, bias).tanh()


D = 4
weight = torch.from_numpy(rng.standard_normal((D, D)).astype(np.float32))
bias = torch.from_numpy(rng.standard_normal(D).astype(np.float32))
x = torch.from_numpy(rng.standard_normal(D).astype(np.float32))

jacobian = jacrev(predict, argnums=2)(weight, bias, x)
print("jacrev:", list(jacobian.shape), jacobian.numpy().round(5)[0].tolist())
jac_fwd = jacfwd(predict, argnums=2)(weight, bias, x)
print("jacfwd == jacrev:", torch.allclose(jac_fwd, jacobian, atol=1e-6))
ft_jacobian = jacrev(predict, argnums=(0, 1))(weight, bias, x)
print("jac wrt params:", list(ft_jacobian[0].shape), list(ft_jacobian[1].shape))
batch = torch.from_numpy(rng.standard_normal((3, D)).astype(np.float32))
batched = vmap(jacrev(predict, argnums=2), in_dims=(None, None, 0))(weight, bias, batch)
print("vmap jacrev:", list(batched.shape), round(batched.sum().item(), 5))
hess = hessian(lambda v: predict(weight, bias, v).sum())(x)
print("hessian:", list(hess.shape), hess.numpy().round(5)[0].tolist())


def hvp(f, primals, tangents):
    return torch.func.jvp(grad(f), primals, tangents)[1]


f = lambda v: v.sin().sum()  # noqa: E731
print("hvp:", hvp(f, (x,), (torch.ones(D),)).numpy().round(5).tolist())
_, vjp_fn = vjp(torch.sin, x)
print("vjp:", vjp_fn(torch.ones(D))[0].numpy().round(5).tolist())

# per-sample gradients
model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, tuple(p.shape)).astype(np.float32)))
data = torch.from_numpy(rng.standard_normal((4, 3)).astype(np.float32))
targets = torch.tensor([0, 1, 1, 0])
params = {k: v.detach() for k, v in model.named_parameters()}
buffers = {k: v.detach() for k, v in model.named_buffers()}


def compute_loss(params, buffers, sample, target):
    batch = sample.unsqueeze(0)
    targets = target.unsqueeze(0)
    predictions = functional_call(model, (params, buffers), (batch,))
    return F.cross_entropy(predictions, targets)


ft_compute_grad = grad(compute_loss)
ft_compute_sample_grad = vmap(ft_compute_grad, in_dims=(None, None, 0, 0))
ft_per_sample_grads = ft_compute_sample_grad(params, buffers, data, targets)
for name, g in ft_per_sample_grads.items():
    print(f"per-sample {name}:", list(g.shape), round(g.sum().item(), 5))
manual = []
for i in range(4):
    model.zero_grad()
    F.cross_entropy(model(data[i : i + 1]), targets[i : i + 1]).backward()
    manual.append(model[0].weight.grad.clone())
print(
    "matches loop:", torch.allclose(torch.stack(manual), ft_per_sample_grads["0.weight"], atol=1e-6)
)

# torch.autograd.functional
print(
    "autograd.functional.jacobian:",
    torch.autograd.functional.jacobian(lambda v: v**2, torch.tensor([1.0, 2.0])).tolist(),
)
print(
    "autograd.functional.hessian:",
    torch.autograd.functional.hessian(lambda v: (v**3).sum(), torch.tensor([1.0, 2.0])).tolist(),
)
_, vhp_out = torch.autograd.functional.vhp(
    lambda v: (v**3).sum(), torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0])
)
print("autograd.functional.vhp:", vhp_out.tolist())

# forward-mode AD with dual tensors
primal = torch.tensor([0.5, 1.0, 2.0])
tangent = torch.tensor([1.0, 0.0, 1.0])
with fwAD.dual_level():
    dual_input = fwAD.make_dual(primal, tangent)
    dual_output = (dual_input.sin() * dual_input).sum()
    jvp_val = fwAD.unpack_dual(dual_output).tangent
print("forward AD jvp:", round(jvp_val.item(), 6))
