# Convolution and pooling arithmetic as the nn docs give it: the output-size formula
# checked against Conv2d with stride / padding / dilation, padding="same" and "valid",
# depthwise (groups=C) and grouped convs, ConvTranspose2d with output_padding and the
# output_size argument, MaxPool2d(return_indices) + MaxUnpool2d, ceil_mode,
# count_include_pad, adaptive pools with uneven bins, and F.interpolate modes.
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal((1, 4, 9, 11)).astype(np.float32))


def out_size(n, k, s=1, p=0, d=1):
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s + 1)


def init(m):
    with torch.no_grad():
        for prm in m.parameters():
            prm.copy_(
                torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.2)
            )
    return m


for k, s, p, d in [(3, 1, 0, 1), (3, 2, 1, 1), (5, 3, 2, 2), (2, 2, 0, 1)]:
    conv = init(nn.Conv2d(4, 2, k, stride=s, padding=p, dilation=d))
    y = conv(x)
    print(
        "conv",
        k,
        s,
        p,
        d,
        tuple(y.shape),
        (out_size(9, k, s, p, d), out_size(11, k, s, p, d)),
        y.sum().item(),
    )
same = init(nn.Conv2d(4, 3, (3, 4), padding="same", dilation=2))
print("same:", same(x).shape, same(x)[0, 0, 0, :3])
print("valid:", init(nn.Conv2d(4, 3, 3, padding="valid"))(x).shape)
print(
    "reflect padding:", init(nn.Conv2d(4, 1, 3, padding=1, padding_mode="reflect"))(x)[0, 0, 0, :3]
)
print(
    "circular padding:",
    init(nn.Conv2d(4, 1, 3, padding=1, padding_mode="circular"))(x)[0, 0, -1, -3:],
)
dw = init(nn.Conv2d(4, 4, 3, groups=4, bias=False))
print(
    "depthwise:",
    dw.weight.shape,
    torch.allclose(dw(x)[:, 1:2], F.conv2d(x[:, 1:2], dw.weight[1:2]), atol=1e-5),
)
grouped = init(nn.Conv2d(4, 6, 1, groups=2))
print("grouped:", grouped.weight.shape, grouped(x).shape)
pw = init(nn.Conv2d(4, 8, 1))
print(
    "depthwise separable params:",
    sum(p.numel() for p in dw.parameters()) + sum(p.numel() for p in pw.parameters()),
)
up = init(nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1))
print("transpose:", up(x).shape, up(x)[0, 1, :2, :2])
up2 = init(nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1))
print("output_size:", up2(x).shape, up2(x, output_size=[18, 22]).shape)
pool = nn.MaxPool2d(2, stride=2, return_indices=True)
pooled, idx = pool(x)
print("maxpool:", pooled.shape, idx[0, 0, 0])
unpool = nn.MaxUnpool2d(2, stride=2)
restored = unpool(pooled, idx, output_size=x.shape)
print(
    "unpool:",
    restored.shape,
    (restored != 0).sum().item(),
    torch.equal(restored.amax((2, 3)), x[:, :, :8, :10].amax((2, 3))),
)
print("ceil_mode:", nn.MaxPool2d(2, ceil_mode=True)(x).shape, nn.MaxPool2d(2)(x).shape)
print(
    "avg count_include_pad:",
    F.avg_pool2d(x, 3, 1, 1)[0, 0, 0, 0],
    F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)[0, 0, 0, 0],
)
print(
    "avg divisor_override:",
    F.avg_pool2d(x, 2, divisor_override=1)[0, 0, 0, 0],
    x[0, 0, :2, :2].sum(),
)
print("adaptive avg:", F.adaptive_avg_pool2d(x, (2, 3))[0, 0])
print("adaptive max:", F.adaptive_max_pool2d(x, 4, return_indices=True)[1][0, 0, 0])
print("adaptive None:", F.adaptive_avg_pool2d(x, (None, 2)).shape)
print("lp pool:", F.lp_pool2d(x.abs(), 2, 2)[0, 0, 0, :2])
small = torch.arange(1.0, 7.0).view(1, 1, 2, 3)
for mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area"):
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    print("interpolate", mode, F.interpolate(small, scale_factor=2, mode=mode, **kwargs)[0, 0, 1])
print(
    "align_corners:",
    F.interpolate(small, size=(3, 5), mode="bilinear", align_corners=True)[0, 0, 1],
)
print("1-d linear:", F.interpolate(torch.arange(4.0).view(1, 1, 4), size=7, mode="linear")[0, 0])
print("upsample module:", nn.Upsample(scale_factor=(1, 2), mode="nearest")(small)[0, 0, 0])
