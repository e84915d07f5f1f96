# torch.compile with the options the docs list: mode="reduce-overhead" / "max-autotune",
# fullgraph=True, dynamic=True / False, backend="eager", compiling a module in place
# (module.compile()), a function with a data-dependent Python branch, a training step,
# torch._dynamo.reset(), and disable; results compared with eager.
import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)


def f(x, y):
    a = torch.sin(x)
    b = torch.cos(y)
    return a + b


x = torch.from_numpy(rng.standard_normal(10).astype(np.float32))
y = torch.from_numpy(rng.standard_normal(10).astype(np.float32))
expected = f(x, y)
for kwargs in (
    {},
    {"mode": "reduce-overhead"},
    {"mode": "max-autotune"},
    {"fullgraph": True},
    {"dynamic": True},
    {"dynamic": False},
    {"backend": "eager"},
    {"mode": "default", "fullgraph": True, "dynamic": True},
):
    cf = torch.compile(f, **kwargs)
    print("compile", sorted(kwargs.items()), torch.allclose(cf(x, y), expected, atol=1e-6))
dyn = torch.compile(f, dynamic=True)
for n in (3, 5, 8):
    print("dynamic n", n, torch.allclose(dyn(x[:n], y[:n]), expected[:n], atol=1e-6))


@torch.compile
def branchy(x):
    if x.sum() > 0:
        return x * 2
    return x - 1


print("branch pos:", branchy(torch.tensor([1.0, 2.0])))
print("branch neg:", branchy(torch.tensor([-1.0, -2.0])))


@torch.compile(fullgraph=True)
def gelu_like(x):
    return 0.5 * x * (1 + torch.tanh(0.79788456 * (x + 0.044715 * x**3)))


print(
    "decorator with args:",
    torch.allclose(gelu_like(x), nn.functional.gelu(x, approximate="tanh"), atol=1e-5),
)
model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 1))
with torch.no_grad():
    for prm in model.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.3))
ref = model(x.view(1, 10)).item()
cmodel = torch.compile(model, mode="reduce-overhead")
print("module:", round(cmodel(x.view(1, 10)).item(), 5), round(ref, 5))
print("compiled state_dict keys:", list(cmodel.state_dict())[:2])
print("orig_mod:", type(cmodel._orig_mod).__name__)
model.compile()
print("module.compile():", round(model(x.view(1, 10)).item(), 5))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
X = torch.from_numpy(rng.standard_normal((16, 10)).astype(np.float32))
Y = X.sum(1, keepdim=True)


@torch.compile
def train_step(xb, yb):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(xb), yb)
    loss.backward()
    return loss


losses = [train_step(X, Y).item() for _ in range(3)]
for _ in range(2):
    opt.step()
    losses.append(train_step(X, Y).item())
print("train step:", [round(v, 4) for v in losses])
torch._dynamo.reset()


@torch.compiler.disable
def not_compiled(x):
    return x + 1


print("disable:", torch.compile(lambda t: not_compiled(t) * 2)(torch.tensor([1.0])))
print("is_compiling:", torch.compiler.is_compiling())
