# Weight initialization as tutorials do it: model.apply(init_weights) with
# nn.init.xavier_uniform_ / kaiming_normal_ / normal_ / zeros_ / constant_, calculate_gain
# for each nonlinearity, fan-in / fan-out, orthogonal_ (rows orthonormal), eye_, dirac_,
# trunc_normal_ bounds, uniform_ bounds, sparse_ column sparsity, and the default
# Linear / Conv initialisation bounds (kaiming_uniform with a=sqrt(5)).
import math

import torch
import torch.nn as nn

torch.manual_seed(0)
for nl in ["linear", "conv2d", "sigmoid", "tanh", "relu", "selu"]:
    print(f"gain {nl}:", round(nn.init.calculate_gain(nl), 6))
print("gain leaky_relu:", round(nn.init.calculate_gain("leaky_relu", 0.2), 6))
w = torch.empty(64, 128)
fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
print("fans linear:", fan_in, fan_out)
print("fans conv:", nn.init._calculate_fan_in_and_fan_out(torch.empty(16, 8, 3, 3)))


def init_weights(m):
    if isinstance(m, nn.Linear):
        torch.nn.init.xavier_uniform_(m.weight)
        m.bias.data.fill_(0.01)
    elif isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.constant_(m.weight, 1)
        nn.init.constant_(m.bias, 0)


net = nn.Sequential(
    nn.Conv2d(3, 32, 3),
    nn.BatchNorm2d(32),
    nn.ReLU(),
    nn.Flatten(),
    nn.Linear(32 * 4, 256),
    nn.Linear(256, 10),
)
net.apply(init_weights)
bound = math.sqrt(6.0 / (32 * 4 + 256))
print("xavier bound respected:", bool(net[4].weight.abs().max() <= bound), round(bound, 6))
print("bias filled:", net[4].bias[:3].tolist(), net[0].bias.abs().sum().item())
std = net[0].weight.std().item()
print("rng kaiming std:", round(std, 3), "expected", round(math.sqrt(2.0 / (32 * 9)), 3))
print("kaiming std close:", abs(std - math.sqrt(2.0 / (32 * 9))) < 0.02)
print("batchnorm:", net[1].weight.unique().tolist(), net[1].bias.unique().tolist())

w = torch.empty(200, 300)
nn.init.normal_(w, mean=1.0, std=0.02)
print("normal_ mean:", abs(w.mean().item() - 1.0) < 0.01, abs(w.std().item() - 0.02) < 0.002)
nn.init.uniform_(w, a=-0.1, b=0.2)
print("uniform_ bounds:", bool(w.min() >= -0.1), bool(w.max() <= 0.2))
nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
print("trunc_normal_ bounds:", bool(w.min() >= -0.5), bool(w.max() <= 0.5))
q = torch.empty(6, 10)
nn.init.orthogonal_(q)
print("orthogonal rows:", torch.allclose(q @ q.T, torch.eye(6), atol=1e-5))
q2 = torch.empty(10, 4)
nn.init.orthogonal_(q2, gain=2.0)
print("orthogonal cols gain 2:", torch.allclose(q2.T @ q2, 4 * torch.eye(4), atol=1e-4))
e = torch.empty(3, 5)
nn.init.eye_(e)
print("eye_:", e.tolist())
d = torch.empty(2, 2, 3)
nn.init.dirac_(d)
print("dirac_:", d.tolist())
conv = nn.Conv1d(2, 2, 3, padding=1, bias=False)
nn.init.dirac_(conv.weight)
sig = torch.arange(10.0).view(1, 2, 5)
print("dirac conv is identity:", torch.equal(conv(sig), sig))
s = torch.empty(10, 6)
nn.init.sparse_(s, sparsity=0.3)
print("sparse_ zeros per column:", (s == 0).sum(0).tolist())
nn.init.ones_(s)
print("ones_:", s.sum().item())
c = torch.empty(4, 4)
nn.init.constant_(c, 0.3)
print("constant_:", c[0].tolist())
xn = torch.empty(100, 400)
nn.init.xavier_normal_(xn, gain=nn.init.calculate_gain("tanh"))
print("xavier_normal std close:", abs(xn.std().item() - 5 / 3 * math.sqrt(2 / 500)) < 0.01)
ku = torch.empty(50, 40)
nn.init.kaiming_uniform_(ku, a=math.sqrt(5))
print("kaiming_uniform bound:", bool(ku.abs().max() <= 1 / math.sqrt(40)))
lin = nn.Linear(40, 50)
print(
    "default Linear bounds:",
    bool(lin.weight.abs().max() <= 1 / math.sqrt(40)),
    bool(lin.bias.abs().max() <= 1 / math.sqrt(40)),
)
cv = nn.Conv2d(4, 8, 3)
print("default Conv bounds:", bool(cv.weight.abs().max() <= 1 / math.sqrt(36)))
emb = nn.Embedding(1000, 8)
print("embedding N(0,1):", abs(emb.weight.std().item() - 1) < 0.05)
with torch.no_grad():
    ret = nn.init.zeros_(lin.weight)
print("init returns tensor:", ret is lin.weight, lin.weight.requires_grad)
