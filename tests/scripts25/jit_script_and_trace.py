# torch.jit.script / torch.jit.trace as the TorchScript tutorial uses them: a scripted
# function (torch.where for the choice), a traced module (same outputs as eager), tracing a
# function, script on an nn.Module with a loop, and the results of calling them; then
# saving / loading with torch.jit.save / load through a buffer where supported.
import io

import torch
from torch import nn


@torch.jit.script
def clipped_relu_sum(x: torch.Tensor, limit: float) -> torch.Tensor:
    y = torch.where(x > 0, torch.clamp(x, 0.0, limit), -x)
    return y.sum()


print("script fn:", clipped_relu_sum(torch.tensor([1.0, 5.0, -2.0]), 2.0).item())
print("script fn 2:", clipped_relu_sum(torch.tensor([-1.0, -5.0]), 3.0).item())


class MyCell(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x, h):
        new_h = torch.tanh(self.linear(x) + h)
        return new_h, new_h


cell = MyCell()
with torch.no_grad():
    cell.linear.weight.copy_(torch.arange(16.0).view(4, 4) / 20 - 0.4)
    cell.linear.bias.fill_(0.1)
x, h = torch.linspace(-1, 1, 12).view(3, 4), torch.zeros(3, 4)
traced = torch.jit.trace(cell, (x, h))
out_t, _ = traced(x, h)
out_e, _ = cell(x, h)
print("traced:", out_t[0])
print("traced == eager:", torch.allclose(out_t, out_e, atol=1e-6))
x2 = torch.linspace(0, 2, 12).view(3, 4)
print("traced new input:", torch.allclose(traced(x2, h)[0], cell(x2, h)[0], atol=1e-6))


def scale_shift(a, b):
    return a * 2 + b


traced_fn = torch.jit.trace(scale_shift, (torch.ones(2), torch.ones(2)))
print("traced fn:", traced_fn(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5])))


class Loop(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = MyCell()

    def forward(self, xs):
        h = torch.zeros(xs.size(1), 4)
        for i in range(xs.size(0)):
            y, h = self.cell(xs[i], h)
        return h


loop = Loop()
loop.cell.load_state_dict(cell.state_dict())
scripted = torch.jit.script(loop)
xs = torch.linspace(-1, 1, 24).view(2, 3, 4)
print("scripted loop:", torch.allclose(scripted(xs), loop(xs), atol=1e-6), scripted(xs)[1])
print("scripted params:", [n for n, _ in scripted.named_parameters()])
buf = io.BytesIO()
try:
    torch.jit.save(traced, buf)
    buf.seek(0)
    loaded = torch.jit.load(buf)
    print("jit.load:", torch.allclose(loaded(x, h)[0], out_e, atol=1e-6))
except Exception as e:
    print("jit.load: unsupported", type(e).__name__)
