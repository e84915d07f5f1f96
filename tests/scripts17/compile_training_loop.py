# "Introduction to torch.compile": a model compiled with mode="reduce-overhead" in a
# training loop (eager and compiled training agree), the compiled module's state_dict and
# _orig_mod, and torch.compile as a decorator with fullgraph=True.
import torch
import torch.nn as nn


def init(model):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.57 + i).reshape(p.shape)
                * 0.3
            )


def make_model():
    model = nn.Sequential(
        nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 3)
    )
    init(model)
    return model


X = torch.cos(torch.arange(64 * 10, dtype=torch.float32) * 0.05).reshape(64, 10)
y = torch.arange(64) % 3


def train(model, opt, steps=12):
    losses = []
    for step in range(steps):
        xb, yb = X[(step % 4) * 16 : (step % 4 + 1) * 16], y[(step % 4) * 16 : (step % 4 + 1) * 16]
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


eager_model = make_model()
eager_losses = train(eager_model, torch.optim.Adam(eager_model.parameters(), lr=1e-2))
model = make_model()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
compiled_model = torch.compile(model, mode="reduce-overhead")
compiled_losses = train(compiled_model, opt)
print("eager losses:", [round(v, 5) for v in eager_losses[::3]])
print("compiled losses:", [round(v, 5) for v in compiled_losses[::3]])
print("same weights:", torch.allclose(model[0].weight, eager_model[0].weight, atol=1e-5))
print("state_dict keys:", list(compiled_model.state_dict())[:2])
print("orig_mod:", type(compiled_model._orig_mod).__name__, compiled_model._orig_mod is model)


@torch.compile(fullgraph=True)
def foo(x, y):
    a = torch.sin(x)
    b = torch.cos(y)
    return a + b


t = torch.linspace(-1, 1, 20).reshape(4, 5)
print("fullgraph fn:", torch.allclose(foo(t, t), torch.sin(t) + torch.cos(t)))
