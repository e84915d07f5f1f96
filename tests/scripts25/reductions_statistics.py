# Reductions and statistics as data-analysis code uses them: sum / mean over several
# dims with keepdim, sum with dtype, mean of an integer tensor (an error), std / var with
# unbiased and correction, var_mean / std_mean, median (the lower one) and nanmedian, mode,
# quantile, logsumexp, prod, cumprod / cummax, aminmax, count_nonzero, argmax ties,
# standardization (z-scores) and min-max scaling, and a covariance / correlation matrix.
import numpy as np
import torch

rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal((4, 5)).astype(np.float32))
print("sum dims:", x.sum((0, 1)), x.sum(dim=(0,), keepdim=True).shape, x.sum(-1))
print("mean dims:", x.mean(dim=[0, 1]), x.mean(1, keepdim=True).shape)
ints = torch.tensor([[1, 2], [3, 4]])
print(
    "int sum dtype:",
    ints.sum().dtype,
    ints.sum(dtype=torch.float32),
    torch.tensor([True, True]).sum(),
)
try:
    ints.mean()
except RuntimeError as e:
    print("int mean:", type(e).__name__, "Long" in str(e))
print("int mean with dtype:", ints.mean(dtype=torch.float64), ints.float().mean())
print("std/var:", x.std(), x.var(unbiased=False), x.std(1, correction=0), x.var(0, correction=2))
print("var_mean:", torch.var_mean(x, dim=1), torch.std_mean(x, unbiased=False))
v = torch.tensor([1.0, 5.0, 2.0, 8.0])
print("median even:", v.median(), torch.quantile(v, 0.5))
print("median dim:", x.median(dim=1))
print(
    "nanmedian:",
    torch.tensor([1.0, float("nan"), 3.0, 2.0]).nanmedian(),
    torch.tensor([1.0, float("nan")]).median(),
)
print(
    "mode:",
    torch.tensor([1, 2, 2, 3, 3]).mode(),
    torch.tensor([[1, 1, 2], [5, 4, 4]]).mode(1).values,
)
print("quantile dim:", torch.quantile(x, torch.tensor([0.1, 0.9]), dim=1, keepdim=True).shape)
print("logsumexp:", torch.logsumexp(x, 1), torch.logsumexp(torch.tensor([1000.0, 1000.0]), 0))
print("prod:", torch.tensor([1.0, 2.0, 3.0, 4.0]).prod(), ints.prod(1), ints.prod().dtype)
print(
    "cumprod/cummax:",
    torch.cumprod(torch.tensor([1.0, 2.0, 3.0]), 0),
    torch.cummax(torch.tensor([1, 3, 2, 5, 4]), 0),
)
print("aminmax:", torch.aminmax(x), torch.aminmax(x, dim=0).max)
print("amax vs max:", x.amax(dim=(0, 1)), x.max())
print(
    "count_nonzero:",
    torch.count_nonzero(torch.tensor([[0, 1], [2, 0]])),
    torch.count_nonzero(torch.tensor([[0, 1], [2, 0]]), dim=0),
)
print(
    "argmax ties:",
    torch.tensor([1, 3, 3, 2]).argmax(),
    torch.tensor([[1, 1], [0, 2]]).argmax(),
    torch.tensor([2, 1, 1]).argmin(),
)
mean, std = x.mean(0, keepdim=True), x.std(0, keepdim=True)
z = (x - mean) / std
print("z-scores:", z.mean(0).abs().max().item() < 1e-6, z.std(0))
mn, mx = x.min(0, keepdim=True).values, x.max(0, keepdim=True).values
scaled = (x - mn) / (mx - mn)
print("min-max:", scaled.min(0).values, scaled.max(0).values)
data = torch.from_numpy(rng.standard_normal((50, 3))).double()
data[:, 2] = data[:, 0] * 0.8 + data[:, 2] * 0.2
cov = torch.cov(data.T)
print("cov:", cov)
corr = torch.corrcoef(data.T)
print("corrcoef:", corr)
centered = data - data.mean(0)
print("cov by hand:", torch.allclose(centered.T @ centered / (len(data) - 1), cov))
print("cov weights:", torch.cov(data.T, correction=0, fweights=torch.arange(1, 51)).diagonal())
print("all/any dims:", (x > -3).all(), (x > 1).any(dim=1), (x > 0).sum(1))
print("norm stats:", x.norm(), x.norm(dim=1), torch.linalg.norm(x, ord="fro"), x.abs().sum(1))
print("mean of empty:", torch.tensor([]).mean(), torch.tensor([]).sum())
