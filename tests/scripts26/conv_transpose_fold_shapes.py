# Upsampling layers' shape arithmetic as decoder / GAN / segmentation code relies on it:
# ConvTranspose2d with stride, padding, output_padding and dilation (the docs' output-size
# formula), forward(x, output_size=...) choosing among the ambiguous sizes, the docs'
# example "exact output size can be also specified as an argument", ConvTranspose1d /
# 3d, and F.unfold / F.fold round trips (fold(unfold(x)) == x * overlap counts).
import torch
import torch.nn as nn
import torch.nn.functional as F


def fill(m, phase=0.0):
    with torch.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.3 + i + phase).view_as(p)
                * 0.5
            )


def out_size(n, k, s, p, op, d):
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


x = torch.linspace(-1, 1, 1 * 2 * 5 * 4).view(1, 2, 5, 4)
for k, s, p, op, d in [(3, 2, 1, 1, 1), (4, 2, 1, 0, 1), (3, 3, 0, 2, 1), (3, 2, 2, 0, 2)]:
    m = nn.ConvTranspose2d(2, 3, k, stride=s, padding=p, output_padding=op, dilation=d)
    fill(m)
    y = m(x)
    print(
        "convT",
        (k, s, p, op, d),
        tuple(y.shape),
        (out_size(5, k, s, p, op, d), out_size(4, k, s, p, op, d)),
        round(y.sum().item(), 4),
    )

downsample = nn.Conv2d(2, 2, 3, stride=2, padding=1)
upsample = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
fill(downsample)
fill(upsample, 1.0)
inp = torch.linspace(0, 1, 1 * 2 * 12 * 12).view(1, 2, 12, 12)
h = downsample(inp)
print("down:", h.size())
output = upsample(h, output_size=inp.size())
print("up with output_size:", output.size())
print("up without:", upsample(h).size())
print("output_size values:", round(output.sum().item(), 4))
try:
    upsample(h, output_size=(20, 20))
except ValueError as e:
    print("bad output_size:", type(e).__name__)

t1 = nn.ConvTranspose1d(2, 1, 4, stride=2, padding=1)
fill(t1)
print("1d:", t1(torch.ones(1, 2, 6)).shape, t1(torch.ones(1, 2, 6)).sum().item())
t3 = nn.ConvTranspose3d(1, 1, 2, stride=2)
fill(t3)
print("3d:", t3(torch.ones(1, 1, 2, 3, 2)).shape)

img = torch.arange(1 * 2 * 5 * 6, dtype=torch.float32).view(1, 2, 5, 6)
cols = F.unfold(img, kernel_size=(2, 3), padding=1, stride=(1, 2))
print("unfold:", cols.shape)
back = F.fold(cols, output_size=(5, 6), kernel_size=(2, 3), padding=1, stride=(1, 2))
counts = F.fold(
    F.unfold(torch.ones_like(img), (2, 3), padding=1, stride=(1, 2)),
    (5, 6),
    (2, 3),
    padding=1,
    stride=(1, 2),
)
print("fold round trip:", torch.allclose(back, img * counts))
print("counts:", counts[0, 0])
