# "Pruning tutorial" (torch.nn.utils.prune: random/l1 unstructured, ln_structured, global
# pruning, remove) and "Parametrizations tutorial" (register_parametrization with a
# symmetric / orthogonal constraint, cached, remove_parametrizations), plus
# parameters_to_vector and weight_norm / spectral_norm.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.parametrize as parametrize
import torch.nn.utils.prune as prune
from torch.nn.utils import parameters_to_vector, vector_to_parameters


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, int(x.nelement() / x.shape[0]))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


model = LeNet()
rng = np.random.default_rng(0)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
module = model.conv1
print("before:", [n for n, _ in module.named_parameters()], list(module.named_buffers()))
prune.random_unstructured(module, name="weight", amount=0.3)
print(
    "after random:",
    [n for n, _ in module.named_parameters()],
    [n for n, _ in module.named_buffers()],
)
print("rng mask zeros:", int((module.weight_mask == 0).sum()), "of", module.weight_mask.numel())
print("weight = orig * mask:", torch.equal(module.weight, module.weight_orig * module.weight_mask))
print("forward pre hooks:", len(module._forward_pre_hooks))
prune.l1_unstructured(module, name="bias", amount=3)
print("l1 bias mask:", module.bias_mask.tolist())
prune.ln_structured(model.conv2, name="weight", amount=0.5, n=2, dim=0)
kept = (model.conv2.weight.flatten(1).abs().sum(1) != 0).tolist()
print("ln_structured kept channels:", kept)
prune.remove(model.conv2, "weight")
print(
    "after remove:",
    [n for n, _ in model.conv2.named_parameters()],
    [n for n, _ in model.conv2.named_buffers()],
)

model = LeNet()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
parameters_to_prune = (
    (model.conv1, "weight"),
    (model.conv2, "weight"),
    (model.fc1, "weight"),
    (model.fc2, "weight"),
    (model.fc3, "weight"),
)
prune.global_unstructured(parameters_to_prune, pruning_method=prune.L1Unstructured, amount=0.2)
for m, name in parameters_to_prune:
    w = getattr(m, name)
    sparsity = 100.0 * float(torch.sum(w == 0)) / float(w.nelement())
    print(f"Sparsity in {type(m).__name__}: {sparsity:.2f}%")
total = sum(float(torch.sum(getattr(m, n) == 0)) for m, n in parameters_to_prune)
numel = sum(getattr(m, n).nelement() for m, n in parameters_to_prune)
print(f"Global sparsity: {100.0 * total / numel:.2f}%")
x = torch.from_numpy(rng.standard_normal((2, 1, 28, 28)).astype(np.float32))
print("pruned output:", model(x).detach().numpy().round(5)[0].tolist())


# parametrizations
class Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)


layer = nn.Linear(3, 3)
with torch.no_grad():
    layer.weight.copy_(torch.arange(9.0).view(3, 3) / 10)
parametrize.register_parametrization(layer, "weight", Symmetric())
A = layer.weight
print("symmetric:", torch.allclose(A, A.T), A.tolist())
print("parametrized names:", [n for n, _ in layer.named_parameters()])
print(
    "is_parametrized:",
    parametrize.is_parametrized(layer),
    parametrize.is_parametrized(layer, "bias"),
)
print(layer.parametrizations.weight.original.tolist())
with parametrize.cached():
    print("cached same object:", layer.weight is layer.weight)


class NoiseParametrization(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, X):
        return X * self.scale


parametrize.register_parametrization(layer, "weight", NoiseParametrization(2.0))
print("chained:", layer.weight.tolist(), len(layer.parametrizations.weight))
out = layer(torch.ones(1, 3)).sum()
out.backward()
print("grad to original:", layer.parametrizations.weight.original.grad.tolist())
parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
print("removed:", [n for n, _ in layer.named_parameters()], layer.weight.tolist())

lin = nn.Linear(4, 4)
with torch.no_grad():
    lin.weight.copy_(torch.from_numpy(rng.standard_normal((4, 4)).astype(np.float32)))
orth = nn.utils.parametrizations.orthogonal(lin)
Q = orth.weight
print("orthogonal:", torch.allclose(Q @ Q.T, torch.eye(4), atol=1e-5))

vec = parameters_to_vector(model.fc3.parameters())
print("parameters_to_vector:", list(vec.shape), round(vec.sum().item(), 4))
vector_to_parameters(torch.zeros_like(vec), model.fc3.parameters())
print("vector_to_parameters:", float(model.fc3.bias.abs().sum()))

wn = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2))
print("weight_norm names:", [n for n, _ in wn.named_parameters()])
with torch.no_grad():
    wn.parametrizations.weight.original0.copy_(torch.tensor([[2.0], [3.0]]))
    wn.parametrizations.weight.original1.copy_(torch.tensor([[3.0, 0.0, 4.0], [1.0, 0.0, 0.0]]))
print("weight_norm weight:", wn.weight.tolist())

# structured pruning along each axis, applied twice (the second prunes among the slices
# the first kept), and its errors
for n, dim, amount in [(2, 0, 0.5), (1, 1, 2), (float("inf"), -1, 0.34), (2, 2, 1)]:
    conv = nn.Conv2d(4, 6, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(rng.standard_normal((6, 4, 3, 3)).astype(np.float32)))
    prune.ln_structured(conv, "weight", amount=amount, n=n, dim=dim)
    first = conv.weight_mask.sum().item()
    prune.ln_structured(conv, "weight", amount=0.5, n=n, dim=dim)
    print(
        f"ln_structured n={n} dim={dim}:",
        first,
        conv.weight_mask.sum().item(),
        conv.weight_mask.flatten()[:12].tolist(),
    )
lin = nn.Linear(5, 4)
prune.random_structured(lin, "weight", amount=2, dim=0)
print("random_structured rows kept:", int((lin.weight_mask.sum(1) != 0).sum()))
for args in (("bias", 1, 2, 0), ("weight", 1, 2, 3), ("weight", 9, 2, 0)):
    try:
        prune.ln_structured(nn.Linear(5, 4), args[0], amount=args[1], n=args[2], dim=args[3])
    except Exception as e:  # noqa: BLE001 - the class is compared
        print(f"ln_structured{args} raises:", type(e).__name__)
