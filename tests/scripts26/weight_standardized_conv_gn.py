# Weight Standardization with Group Normalization as in BiT / ResNet-GN code: a Conv2d
# subclass whose forward standardises its weight (mean / var over (1, 2, 3) with
# keepdim, unbiased=False, eps inside rsqrt) before F.conv2d, nn.GroupNorm(32 // 4 groups),
# a pre-activation bottleneck block with a projection shortcut, gradients through the
# standardisation, and a few SGD steps with nesterov momentum.
import torch
import torch.nn as nn
import torch.nn.functional as F


class StdConv2d(nn.Conv2d):
    def forward(self, x):
        w = self.weight
        v, m = torch.var_mean(w, dim=[1, 2, 3], keepdim=True, unbiased=False)
        w = (w - m) / torch.sqrt(v + 1e-10)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


def conv3x3(cin, cout, stride=1, groups=1, bias=False):
    return StdConv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=bias, groups=groups)


def conv1x1(cin, cout, stride=1, bias=False):
    return StdConv2d(cin, cout, kernel_size=1, stride=stride, padding=0, bias=bias)


class PreActBottleneck(nn.Module):
    def __init__(self, cin, cout=None, cmid=None, stride=1):
        super().__init__()
        cout = cout or cin
        cmid = cmid or cout // 4
        self.gn1 = nn.GroupNorm(4, cin)
        self.conv1 = conv1x1(cin, cmid)
        self.gn2 = nn.GroupNorm(4, cmid)
        self.conv2 = conv3x3(cmid, cmid, stride)
        self.gn3 = nn.GroupNorm(4, cmid)
        self.conv3 = conv1x1(cmid, cout)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or cin != cout:
            self.downsample = conv1x1(cin, cout, stride)

    def forward(self, x):
        out = self.relu(self.gn1(x))
        residual = x
        if hasattr(self, "downsample"):
            residual = self.downsample(out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.gn2(out)))
        out = self.conv3(self.relu(self.gn3(out)))
        return out + residual


block = PreActBottleneck(8, 16, 4, stride=2)
with torch.no_grad():
    for i, p in enumerate(block.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.7 + i).view_as(p) * 0.5
            + (1.0 if p.ndim == 1 and i % 2 == 0 else 0.0)
        )
x = torch.cos(torch.arange(2 * 8 * 6 * 6, dtype=torch.float32) * 0.13).view(2, 8, 6, 6)
out = block(x)
print("out shape:", out.shape)
print("out stats:", round(out.mean().item(), 5), round(out.std().item(), 5))
w = block.conv2.weight
v, m = torch.var_mean(w, dim=[1, 2, 3], keepdim=True, unbiased=False)
ws = (w - m) / torch.sqrt(v + 1e-10)
print(
    "standardised mean / var:",
    ws.mean(dim=[1, 2, 3]).abs().max().item() < 1e-5,
    ws.var(dim=[1, 2, 3], unbiased=False)[:2],
)
opt = torch.optim.SGD(block.parameters(), lr=0.01, momentum=0.9, nesterov=True)
target = torch.zeros_like(out)
for step in range(4):
    loss = F.mse_loss(block(x), target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("step", step, "loss:", round(loss.item(), 6))
print("conv1 grad norm:", round(block.conv1.weight.grad.norm().item(), 6))
print("gn1 weight:", block.gn1.weight[:4])
