# torch.nn.init as model code calls it: calculate_gain, fan in / out, deterministic
# initializers (constant_, zeros_, ones_, eye_, dirac_), the random ones (uniform_,
# normal_, xavier_*, kaiming_*, trunc_normal_, orthogonal_, sparse_) checked by their
# statistics and invariants, init inside model.apply(), and reseeding reproducibility.
import math

import torch
from torch import nn

print(
    "gains:",
    [round(nn.init.calculate_gain(n), 6) for n in ("linear", "sigmoid", "tanh", "relu", "selu")],
)
print(
    "leaky gain:",
    round(nn.init.calculate_gain("leaky_relu", 0.2), 6),
    nn.init.calculate_gain("conv2d"),
)
w = torch.empty(6, 4, 3, 3)
print("fans:", nn.init._calculate_fan_in_and_fan_out(w))
print("constant:", nn.init.constant_(torch.empty(2, 2), 0.3))
print("zeros/ones:", nn.init.zeros_(torch.empty(3)), nn.init.ones_(torch.empty(2)))
print("eye:", nn.init.eye_(torch.empty(2, 3)))
d = nn.init.dirac_(torch.empty(2, 2, 3))
print("dirac:", d.tolist())
print("dirac groups:", nn.init.dirac_(torch.empty(4, 2, 3), groups=2).sum().item())
torch.manual_seed(0)
big = torch.empty(400, 500)
nn.init.uniform_(big, -0.5, 0.5)
print(
    "uniform range:", big.min().item() >= -0.5, big.max().item() <= 0.5, round(big.mean().item(), 1)
)
nn.init.normal_(big, mean=1.0, std=0.1)
print("normal stats:", round(big.mean().item(), 2), round(big.std().item(), 2))
nn.init.xavier_uniform_(big)
bound = math.sqrt(6 / (400 + 500))
print(
    "xavier bound:",
    big.abs().max().item() <= bound,
    round(big.std().item() / (bound / math.sqrt(3)), 1),
)
nn.init.xavier_normal_(big, gain=2.0)
print("xavier normal std:", round(big.std().item() / (2 * math.sqrt(2 / 900)), 1))
nn.init.kaiming_uniform_(big, a=math.sqrt(5))
print("kaiming a=sqrt5 bound:", big.abs().max().item() <= 1 / math.sqrt(500))
nn.init.kaiming_normal_(big, mode="fan_out", nonlinearity="relu")
print("kaiming normal std:", round(big.std().item() / math.sqrt(2 / 400), 1))
nn.init.trunc_normal_(big, std=0.02, a=-0.04, b=0.04)
print("trunc range:", big.abs().max().item() <= 0.04)
q = nn.init.orthogonal_(torch.empty(3, 5))
print("orthogonal:", torch.allclose(q @ q.T, torch.eye(3), atol=1e-5))
q = nn.init.orthogonal_(torch.empty(6, 2), gain=2.0)
print("orthogonal tall:", torch.allclose(q.T @ q, 4 * torch.eye(2), atol=1e-4))
s = nn.init.sparse_(torch.empty(10, 4), sparsity=0.3)
print("sparse zeros per column:", (s == 0).sum(0).tolist())
torch.manual_seed(3)
a = nn.init.normal_(torch.empty(5))
torch.manual_seed(3)
b = nn.init.normal_(torch.empty(5))
print("reseeded equal:", torch.equal(a, b))
print("rng values:", a.tolist())


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.weight, 0.01)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        nn.init.ones_(m.weight)
        nn.init.constant_(m.bias, -0.1)


net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))
net.apply(init_weights)
out = net(torch.ones(1, 1, 4, 4))
print("apply init:", out.tolist(), net[0].bias.shape)
with torch.no_grad():
    returned = nn.init.constant_(net[2].weight, 0.5)
print("returns same tensor:", returned is net[2].weight, net[2].weight.requires_grad)
