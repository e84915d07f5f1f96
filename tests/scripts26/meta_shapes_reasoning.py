# "Reasoning about Shapes in PyTorch" recipe: tensors and modules on the meta device
# (the printed meta tensor, conv output shapes without computing), a forward hook that
# prints every layer's output shape for a LeNet-like model on meta inputs, the conv
# output-size formula checked against meta results over several strides / paddings /
# dilations, and to_empty + explicit init to materialise a meta model.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

t = torch.rand(2, 3, 10, 10, device="meta")
conv = torch.nn.Conv2d(3, 5, 2, device="meta")
print("meta conv:", conv(t))
print("is_meta:", t.is_meta, conv.weight.is_meta, conv(t).shape)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def fw_hook(module, input, output):
    print(f"Shape of output to {module} is {output.shape}.")


with torch.device("meta"):
    net = Net()
    inp = torch.randn((1024, 3, 32, 32))
for _name, layer in net.named_modules():
    layer.register_forward_hook(fw_hook)
out = net(inp)
print("meta params:", all(p.is_meta for p in net.parameters()))


def conv_out(n, k, s, p, d):
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s + 1)


for k, s, p, d in [(3, 1, 0, 1), (3, 2, 1, 1), (5, 2, 2, 2), (4, 3, 1, 1)]:
    c = nn.Conv2d(2, 2, k, stride=s, padding=p, dilation=d, device="meta")
    got = c(torch.empty(1, 2, 17, 13, device="meta")).shape
    print("conv", (k, s, p, d), tuple(got), (conv_out(17, k, s, p, d), conv_out(13, k, s, p, d)))

print(
    "pool meta:",
    F.avg_pool2d(torch.empty(2, 3, 9, 9, device="meta"), 3, stride=2, ceil_mode=True).shape,
)
print("matmul meta:", (torch.empty(4, 5, device="meta") @ torch.empty(5, 7, device="meta")).shape)

small = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
small = (
    small.to(torch.device("meta"))
    if False
    else nn.Sequential(nn.Linear(3, 2, device="meta"), nn.Tanh())
)
small.to_empty(device="cpu")
print("materialised device:", small[0].weight.device, small[0].weight.is_meta)
with torch.no_grad():
    small[0].weight.fill_(0.5)
    small[0].bias.zero_()
print("after init:", small(torch.ones(1, 3)))
