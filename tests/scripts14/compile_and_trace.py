# "Introduction to torch.compile" and TorchScript tracing: compile a model and a plain
# function, trace a model with torch.jit.trace, and train a compiled model; the results
# must equal eager execution.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def foo(x, y):
    a = torch.sin(x)
    b = torch.cos(y)
    return a + b


opt_foo1 = torch.compile(foo)
x = torch.linspace(-2, 2, 20).view(4, 5)
y = torch.linspace(0, 1, 20).view(4, 5)
print("compiled fn:", opt_foo1(x, y).numpy().round(6)[0].tolist())
print("compiled == eager:", torch.allclose(opt_foo1(x, y), foo(x, y), atol=1e-6))


@torch.compile
def opt_foo2(x, y):
    a = torch.sin(x)
    b = torch.cos(y)
    return a + b


print("decorated:", torch.allclose(opt_foo2(x, y), foo(x, y), atol=1e-6))


class MyModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(100, 10)

    def forward(self, x):
        return torch.nn.functional.relu(self.lin(x))


def deterministic_init(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(
                torch.from_numpy(rng.uniform(-0.1, 0.1, size=tuple(p.shape)).astype(np.float32))
            )


mod = MyModule()
deterministic_init(mod, 0)
opt_mod = torch.compile(mod)
inp = torch.from_numpy(np.random.default_rng(1).standard_normal((10, 100)).astype(np.float32))
print("compiled module:", opt_mod(inp)[0].detach().numpy().round(5).tolist())
print("compiled module == eager:", torch.allclose(opt_mod(inp), mod(inp), atol=1e-5))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1))


net = Net()
deterministic_init(net, 2)
example = torch.from_numpy(
    np.random.default_rng(3).standard_normal((2, 1, 8, 8)).astype(np.float32)
)
traced = torch.jit.trace(net, example)
out_traced = traced(example)
print("traced:", out_traced.detach().numpy().round(5).tolist())
print("traced == eager:", torch.allclose(out_traced, net(example), atol=1e-5))
other = torch.from_numpy(np.random.default_rng(4).standard_normal((2, 1, 8, 8)).astype(np.float32))
print("traced on new input == eager:", torch.allclose(traced(other), net(other), atol=1e-5))

# training a compiled model
model = Net()
deterministic_init(model, 5)
compiled = torch.compile(model)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
target = torch.tensor([0, 2])
for step in range(5):
    optimizer.zero_grad()
    loss = F.cross_entropy(compiled(example), target)
    loss.backward()
    optimizer.step()
    print(f"compiled step {step} loss {loss.item():.5f}")
reference = Net()
deterministic_init(reference, 5)
optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
for _ in range(5):
    optimizer.zero_grad()
    F.cross_entropy(reference(example), target).backward()
    optimizer.step()
print(
    "compiled training == eager training:",
    torch.allclose(reference.fc.weight, model.fc.weight, atol=1e-5),
)

# torch.compile with a mode string, and under no_grad for inference
fast = torch.compile(net, mode="reduce-overhead")
with torch.no_grad():
    print("inference:", torch.allclose(fast(example), net(example), atol=1e-5))
