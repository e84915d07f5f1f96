# Normalization layers' bookkeeping as the nn docs describe it: BatchNorm's running
# mean / var with momentum, momentum=None (cumulative average), num_batches_tracked,
# eval() using the running statistics, track_running_stats=False, affine=False,
# reset_running_stats, BatchNorm2d on images, LayerNorm / GroupNorm / InstanceNorm /
# RMSNorm against their formulas, and the unbiased variance in running_var.
import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)
batches = [
    torch.from_numpy(rng.standard_normal((8, 3)).astype(np.float32) * 2 + 1) for _ in range(4)
]
bn = nn.BatchNorm1d(3, momentum=0.1)
print(bn, bn.running_mean, bn.running_var, bn.num_batches_tracked)
for b in batches:
    out = bn(b)
print("running:", bn.running_mean, bn.running_var, bn.num_batches_tracked)
print("train output stats:", out.mean(0), out.var(0, unbiased=False))
manual_mean = torch.zeros(3)
manual_var = torch.ones(3)
for b in batches:
    manual_mean = 0.9 * manual_mean + 0.1 * b.mean(0)
    manual_var = 0.9 * manual_var + 0.1 * b.var(0, unbiased=True)
print(
    "matches formula:",
    torch.allclose(manual_mean, bn.running_mean, atol=1e-6),
    torch.allclose(manual_var, bn.running_var, atol=1e-6),
)
bn.eval()
print("eval:", bn(batches[0])[:2])
print(
    "eval formula:",
    torch.allclose(
        bn(batches[0]),
        (batches[0] - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps),
        atol=1e-5,
    ),
)
cum = nn.BatchNorm1d(3, momentum=None)
for b in batches:
    cum(b)
print(
    "cumulative:",
    torch.allclose(cum.running_mean, torch.stack([b.mean(0) for b in batches]).mean(0), atol=1e-6),
    cum.num_batches_tracked,
)
free = nn.BatchNorm1d(3, track_running_stats=False)
print("no tracking:", free.running_mean, free(batches[0]).mean(0).abs().max().item() < 1e-6)
free.eval()
print("no tracking eval uses batch stats:", free(batches[1]).mean(0).abs().max().item() < 1e-6)
plain = nn.BatchNorm1d(3, affine=False)
print("affine False:", plain.weight, [n for n, _ in plain.named_buffers()])
bn.reset_running_stats()
print("reset:", bn.running_mean, bn.running_var, bn.num_batches_tracked)
img = torch.from_numpy(rng.standard_normal((4, 2, 3, 3)).astype(np.float32))
bn2 = nn.BatchNorm2d(2)
o = bn2(img)
print("bn2d per channel:", o.mean((0, 2, 3)).abs().max().item() < 1e-6, bn2.running_var)
x = torch.from_numpy(rng.standard_normal((2, 3, 4)).astype(np.float32))
ln = nn.LayerNorm(4)
print(
    "layernorm:",
    torch.allclose(
        ln(x),
        (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5),
        atol=1e-5,
    ),
)
ln2 = nn.LayerNorm([3, 4], elementwise_affine=False)
print("layernorm 2 dims:", ln2(x).mean((1, 2)).abs().max().item() < 1e-6, list(ln2.parameters()))
gn = nn.GroupNorm(num_groups=1, num_channels=3)
print(
    "groupnorm(1) == layernorm over C,L:",
    torch.allclose(gn(x), nn.functional.layer_norm(x, (3, 4)), atol=1e-5),
)
gn3 = nn.GroupNorm(3, 3)
inorm = nn.InstanceNorm1d(3)
print("groupnorm(C) == instancenorm:", torch.allclose(gn3(x), inorm(x), atol=1e-5))
inorm_t = nn.InstanceNorm1d(3, track_running_stats=True)
inorm_t(x)
print("instancenorm running:", inorm_t.running_mean)
rms = nn.RMSNorm(4, eps=1e-6)
print(
    "rmsnorm:",
    torch.allclose(rms(x), x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6), atol=1e-5),
    rms,
)
print("state_dict keys:", list(nn.BatchNorm1d(2).state_dict()))
