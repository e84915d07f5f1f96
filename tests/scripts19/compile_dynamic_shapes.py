# torch.compile and dynamic shapes as the "Dynamic Shapes" docs and the compile tutorial
# show them, on a CPU: a compiled MLP called with several batch sizes after
# torch._dynamo.mark_dynamic(x, 0), dynamic=True, torch.compiler.is_compiling inside the
# function, torch.compiler.reset(), a compiled training step, and fine-tuning surgery with
# Module.set_submodule before compiling; every result must equal eager execution.
import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 16), nn.GELU())
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.body(x))


model = MLP()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.29 + i).reshape(p.shape)
            * 0.4
        )
model.set_submodule("head", nn.Linear(16, 2))  # replace the classifier head
with torch.no_grad():
    model.head.weight.copy_(torch.cos(torch.arange(32.0)).reshape(2, 16) * 0.3)
    model.head.bias.fill_(0.1)
print("head:", model.head)
compiled = torch.compile(model)
for batch in (4, 7, 16):
    x = torch.linspace(-2, 2, batch * 6).reshape(batch, 6)
    torch._dynamo.mark_dynamic(x, 0)
    eager = model(x)
    out = compiled(x)
    print("batch", batch, "equal to eager:", torch.allclose(out, eager, atol=1e-6), list(out.shape))


@torch.compile(dynamic=True)
def normalize(x):
    if torch.compiler.is_compiling():
        pass
    return (x - x.mean(dim=-1, keepdim=True)) / (x.std(dim=-1, keepdim=True) + 1e-5)


for n in (3, 5, 8):
    x = torch.arange(2.0 * n).reshape(2, n) ** 1.5
    ref = (x - x.mean(dim=-1, keepdim=True)) / (x.std(dim=-1, keepdim=True) + 1e-5)
    print("dynamic", n, torch.allclose(normalize(x), ref, atol=1e-5))
print("is_compiling outside:", torch.compiler.is_compiling())
torch.compiler.reset()

opt = torch.optim.SGD(model.parameters(), lr=0.05)
eager_model = MLP()
eager_model.set_submodule("head", nn.Linear(16, 2))
eager_model.load_state_dict(model.state_dict())
eager_opt = torch.optim.SGD(eager_model.parameters(), lr=0.05)
x = torch.linspace(-1, 1, 10 * 6).reshape(10, 6)
y = torch.tensor([0, 1] * 5)


@torch.compile
def train_step(x, y):
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss


for step in range(3):
    opt.zero_grad()
    loss = train_step(x, y)
    opt.step()
    eager_opt.zero_grad()
    eager_loss = nn.functional.cross_entropy(eager_model(x), y)
    eager_loss.backward()
    eager_opt.step()
    print("step", step, round(loss.item(), 6), round(eager_loss.item(), 6))
print(
    "weights agree:",
    all(
        torch.allclose(a, b, atol=1e-6)
        for a, b in zip(model.parameters(), eager_model.parameters())
    ),
)
