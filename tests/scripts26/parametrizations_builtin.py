# torch.nn.utils.parametrizations: orthogonal (the default and the "matrix_exp" /
# "cayley" maps), weight_norm (original0 = g, original1 = v, dim=0 and dim=None) and
# spectral_norm (power iterations; only converged values are printed), as the
# parametrizations tutorial and the docs use them: the parametrized weight, its
# constraint, training through it, and remove_parametrizations keeping the value.
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as P
from torch.nn.utils import parametrizations


def fill(m, scale=0.3):
    with torch.no_grad():
        for i, p in enumerate(m.parameters()):
            k = torch.arange(p.numel(), dtype=torch.float32)
            p.copy_(torch.sin(k * 0.7 + i + 1).view_as(p) * scale)


for ortho_map in ("matrix_exp", "cayley", "householder"):
    lin = nn.Linear(4, 4)
    fill(lin)
    parametrizations.orthogonal(lin, orthogonal_map=ortho_map)
    Q = lin.weight
    eye = torch.eye(4)
    print(ortho_map, "orthogonal:", torch.allclose(Q.T @ Q, eye, atol=1e-5))
    print(ortho_map, "parametrized:", P.is_parametrized(lin), P.is_parametrized(lin, "bias"))

rect = nn.Linear(5, 3)
fill(rect)
parametrizations.orthogonal(rect)
W = rect.weight
print("rect shape:", tuple(W.shape), torch.allclose(W @ W.T, torch.eye(3), atol=1e-5))
print("rect keys:", sorted(rect.state_dict().keys()))

# weight_norm: w = g * v / ||v||
lin = nn.Linear(3, 2)
fill(lin, 0.5)
w_before = lin.weight.detach().clone()
wn = parametrizations.weight_norm(lin)
print("wn keys:", sorted(wn.state_dict().keys()))
g = wn.parametrizations.weight.original0
v = wn.parametrizations.weight.original1
print("g:", g.shape, g.view(-1))
print("v == w:", torch.allclose(v, w_before))
print("w unchanged:", torch.allclose(wn.weight, w_before, atol=1e-6))
with torch.no_grad():
    g.mul_(2.0)
print("w doubled:", torch.allclose(wn.weight, 2 * w_before, atol=1e-6))

lin2 = nn.Linear(3, 2)
fill(lin2, 0.5)
wn2 = parametrizations.weight_norm(lin2, dim=None)
print("g dim None:", wn2.parametrizations.weight.original0.shape)

# training through weight_norm: gradients reach g and v
opt = torch.optim.SGD(wn.parameters(), lr=0.1)
x = torch.linspace(-1, 1, 12).view(4, 3)
for step in range(3):
    opt.zero_grad()
    loss = wn(x).pow(2).sum()
    loss.backward()
    opt.step()
    print("wn step", step, "loss:", round(loss.item(), 5))
print("grad shapes:", tuple(g.grad.shape), tuple(v.grad.shape))
P.remove_parametrizations(wn, "weight")
print("removed:", P.is_parametrized(wn), type(wn.weight).__name__, sorted(wn.state_dict().keys()))

# spectral_norm: after enough power iterations the largest singular value is 1
sn = nn.Linear(6, 4)
fill(sn, 0.8)
parametrizations.spectral_norm(sn, n_power_iterations=50)
sn.train()
for _ in range(5):
    w = sn.weight
sigma = torch.linalg.matrix_norm(w.detach(), ord=2)
print("spectral sigma:", round(sigma.item(), 3))
print("sn keys:", sorted(sn.state_dict().keys()))
print("sn buffers:", sorted(n for n, _ in sn.named_buffers()))
