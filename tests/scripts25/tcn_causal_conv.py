# A temporal convolutional network as forecasting code builds it: causal Conv1d by left
# padding (F.pad) and by padding both sides then chomping, dilations 1 / 2 / 4 and the
# receptive field, weight_norm'd convs (parametrizations), residual blocks with a 1x1
# downsample, a check that outputs never see the future, and a few training steps on a
# sine series.
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

rng = np.random.default_rng(0)


class Chomp1d(nn.Module):
    def __init__(self, chomp):
        super().__init__()
        self.chomp = chomp

    def forward(self, x):
        return x[:, :, : -self.chomp].contiguous()


class TemporalBlock(nn.Module):
    def __init__(self, cin, cout, k, dilation):
        super().__init__()
        pad = (k - 1) * dilation
        self.conv1 = weight_norm(nn.Conv1d(cin, cout, k, padding=pad, dilation=dilation))
        self.chomp1 = Chomp1d(pad)
        self.conv2 = weight_norm(nn.Conv1d(cout, cout, k, padding=pad, dilation=dilation))
        self.chomp2 = Chomp1d(pad)
        self.down = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        out = torch.relu(self.chomp1(self.conv1(x)))
        out = torch.relu(self.chomp2(self.conv2(out)))
        res = x if self.down is None else self.down(x)
        return torch.relu(out + res)


net = nn.Sequential(
    TemporalBlock(1, 4, 3, 1),
    TemporalBlock(4, 4, 3, 2),
    TemporalBlock(4, 4, 3, 4),
    nn.Conv1d(4, 1, 1),
)
with torch.no_grad():
    for _name, prm in net.named_parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.3))
print("param names:", [n for n, _ in net.named_parameters()][:4])
rf = 1 + sum(2 * (3 - 1) * d for d in (1, 2, 4))
print("receptive field:", rf)
x = torch.from_numpy(rng.standard_normal((1, 1, 40)).astype(np.float32))
y = net(x)
print("shape:", y.shape, y[0, 0, :4])
x2 = x.clone()
x2[0, 0, 30:] += 5.0
y2 = net(x2)
print("causal:", torch.equal(y[..., :30], y2[..., :30]), not torch.equal(y[..., 30:], y2[..., 30:]))
w = torch.from_numpy(rng.standard_normal((2, 1, 3)).astype(np.float32))
left = F.conv1d(F.pad(x, (4, 0)), w, dilation=2)
chomped = F.conv1d(x, w, padding=4, dilation=2)[:, :, :-4]
print("left pad == chomp:", torch.allclose(left, chomped, atol=1e-6), left.shape)
conv = net[0].conv1
print("weight_norm:", sorted(n for n, _ in conv.named_parameters()), conv.weight.shape)
g = conv.parametrizations.weight.original0
v = conv.parametrizations.weight.original1
print(
    "w = g v / |v|:",
    torch.allclose(conv.weight, g * v / v.norm(dim=(1, 2), keepdim=True), atol=1e-6),
)
t = torch.linspace(0, 8 * np.pi, 81)
series = torch.sin(t).view(1, 1, -1)
inp, target = series[..., :-1], series[..., 1:]
opt = torch.optim.Adam(net.parameters(), lr=0.01)
for step in range(6):
    opt.zero_grad()
    loss = F.mse_loss(net(inp), target)
    loss.backward()
    opt.step()
    print("step", step, round(loss.item(), 5))
