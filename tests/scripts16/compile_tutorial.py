# "Introduction to torch.compile" beyond the basics: compile modes ("default",
# "reduce-overhead", "max-autotune"), fullgraph=True, dynamic=True with several input
# shapes, torch.compile on a module and model.compile(), torch._dynamo.reset(), a graph
# break (a print / .item() inside the function) and training with a compiled model; every
# result must equal eager execution.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(7)


def timed(fn):
    return fn(), 0.0  # (the tutorial times with CUDA events; only the result is compared)


def foo(x, y):
    a = torch.sin(x)
    b = torch.cos(y)
    return a + b


x = torch.from_numpy(rng.standard_normal((10, 10)).astype(np.float32))
y = torch.from_numpy(rng.standard_normal((10, 10)).astype(np.float32))
for mode in ("default", "reduce-overhead", "max-autotune"):
    opt = torch.compile(foo, mode=mode)
    print(f"mode {mode}:", torch.allclose(opt(x, y), foo(x, y), atol=1e-6))
full = torch.compile(foo, fullgraph=True)
print("fullgraph:", full(x, y).sum().item().__round__(4))


def f(x):
    return x * 2 + x.sum(0, keepdim=True)


dyn = torch.compile(f, dynamic=True)
for n in (2, 3, 5, 8):
    inp = torch.arange(n * 3, dtype=torch.float32).reshape(n, 3)
    out = dyn(inp)
    print(f"dynamic n={n}:", list(out.shape), out.sum().item())


class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(16, 8)

    def forward(self, x):
        return F.relu(self.lin(x))


mod = MyModule()
with torch.no_grad():
    mod.lin.weight.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, (8, 16)).astype(np.float32)))
    mod.lin.bias.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, 8).astype(np.float32)))
opt_mod = torch.compile(mod)
t = torch.from_numpy(rng.standard_normal((4, 16)).astype(np.float32))
print("compiled module:", torch.allclose(opt_mod(t), mod(t), atol=1e-6), type(opt_mod(t)).__name__)
print(
    "compiled module params:",
    [n for n, _ in opt_mod.named_parameters()] == [n for n, _ in mod.named_parameters()]
    or [n for n, _ in opt_mod.named_parameters()],
)
mod2 = MyModule()
mod2.load_state_dict(mod.state_dict())
mod2.compile()
print("model.compile():", torch.allclose(mod2(t), mod(t), atol=1e-6), type(mod2).__name__)

torch.compiler.reset()  # (torch._dynamo.reset(): known_gaps.py)


def bar(a, b):
    x = a / (torch.abs(a) + 1)
    print("graph break: b.sum() < 0 is", bool(b.sum() < 0))
    if b.sum() < 0:
        b = b * -1
    return x * b


opt_bar = torch.compile(bar)
a = torch.from_numpy(rng.standard_normal(10).astype(np.float32))
b = torch.from_numpy(rng.standard_normal(10).astype(np.float32))
for _ in range(2):
    print(
        "bar:",
        opt_bar(a, b).numpy().round(5)[:3].tolist(),
        torch.allclose(opt_bar(a, b), bar(a, b)),
    )
print("bar negated:", torch.allclose(opt_bar(a, -b), bar(a, -b)))


def item_fn(x):
    s = x.sum().item()
    return x / s


opt_item = torch.compile(item_fn)
print("item break:", opt_item(torch.tensor([1.0, 3.0])).tolist())

# training a compiled model
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.2, 0.2, tuple(p.shape)).astype(np.float32)))
eager_model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
eager_model.load_state_dict(model.state_dict())
opt_model = torch.compile(model)
optimizer = torch.optim.SGD(opt_model.parameters(), lr=0.05)
eager_opt = torch.optim.SGD(eager_model.parameters(), lr=0.05)
data = torch.from_numpy(rng.standard_normal((8, 16)).astype(np.float32))
target = torch.from_numpy(rng.integers(0, 4, 8))


def train(mod, optimizer, data):
    optimizer.zero_grad(True)
    pred = mod(data)
    loss = torch.nn.CrossEntropyLoss()(pred, target)
    loss.backward()
    optimizer.step()
    return loss.item()


for i in range(5):
    loss_c = train(opt_model, optimizer, data)
    loss_e = train(eager_model, eager_opt, data)
    print(f"step {i}: compiled {loss_c:.5f} eager {loss_e:.5f}")
print("same weights:", torch.allclose(model[0].weight, eager_model[0].weight, atol=1e-5))


@torch.compile(fullgraph=True, dynamic=False)
def decorated(x):
    return torch.nn.functional.gelu(x) * 2


print("decorated options:", decorated(torch.linspace(-2, 2, 5)).numpy().round(5).tolist())
