# torch.jit.trace + torch.jit.save / torch.jit.load round trips as the TorchScript and
# "Saving and loading models" tutorials do: trace a small CNN with an example input, save
# to a file and to a BytesIO, load back (eval mode, same outputs, the loaded module's
# state_dict keys and parameter values), trace a function, and check that a traced
# module follows the code path of its example input.
import io
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


model = SmallCNN()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.7 + i).view_as(p) * 0.4)
model.eval()
example = torch.linspace(-1, 1, 64).view(1, 1, 8, 8)
traced = torch.jit.trace(model, example)
print("traced output:", traced(example).detach())
print("equal eager:", torch.allclose(traced(example), model(example), atol=1e-6))
batch = torch.linspace(0, 1, 3 * 64).view(3, 1, 8, 8)
print("new batch equal:", torch.allclose(traced(batch), model(batch), atol=1e-6))

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "model_scripted.pt")
    torch.jit.save(traced, path)
    loaded = torch.jit.load(path)
    loaded.eval()
    print("file loaded equal:", torch.allclose(loaded(batch), model(batch), atol=1e-6))
    print("loaded keys:", list(loaded.state_dict().keys()))
    print("loaded fc bias:", loaded.state_dict()["fc.bias"])

buffer = io.BytesIO()
torch.jit.save(traced, buffer)
buffer.seek(0)
loaded2 = torch.jit.load(buffer)
print("buffer loaded equal:", torch.allclose(loaded2(example), traced(example), atol=1e-6))


def fn(a, b):
    return (a * b).sum(dim=1) + a.max()


traced_fn = torch.jit.trace(fn, (torch.ones(2, 3), torch.ones(2, 3)))
print("traced fn:", traced_fn(torch.arange(6.0).view(2, 3), torch.full((2, 3), 0.5)))


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return -x


try:
    traced_gate = torch.jit.trace(Gate(), torch.ones(3))
    print("gate positive:", traced_gate(torch.tensor([1.0, 2.0, 3.0])).tolist())
    print("gate negative follows trace:", traced_gate(torch.tensor([-1.0, -2.0, -3.0])).tolist())
except Exception as e:
    print("gate positive:", type(e).__name__)
    print("gate negative follows trace:", type(e).__name__)
