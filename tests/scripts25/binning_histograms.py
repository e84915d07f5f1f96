# Binning and counting idioms: torch.bucketize (right=False / True) into fixed
# boundaries (age groups, quantile bins), searchsorted on sorted sequences and its side
# argument, histc, histogram with bin edges and density, bincount with weights, quantile
# boundaries, unique with counts, and a digitize-then-aggregate (mean per bin).
import numpy as np
import torch

rng = np.random.default_rng(0)
ages = torch.tensor([3, 17, 18, 25, 40, 64, 65, 90])
boundaries = torch.tensor([18, 30, 65])
print("bucketize:", torch.bucketize(ages, boundaries).tolist())
print("bucketize right:", torch.bucketize(ages, boundaries, right=True).tolist())
print(
    "bucketize 2-d:",
    torch.bucketize(torch.tensor([[0.5, 2.5], [1.0, 9.0]]), torch.tensor([1.0, 2.0, 3.0])),
)
print("bucketize int32:", torch.bucketize(ages, boundaries, out_int32=True).dtype)
seq = torch.tensor([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]])
vals = torch.tensor([[3, 6, 9], [3, 6, 9]])
print("searchsorted:", torch.searchsorted(seq, vals).tolist())
print("searchsorted right:", torch.searchsorted(seq, vals, right=True).tolist())
print("searchsorted side:", torch.searchsorted(seq, vals, side="right").tolist())
unsorted = torch.tensor([5.0, 1.0, 3.0])
print(
    "sorter:",
    torch.searchsorted(unsorted, torch.tensor([2.0, 4.0]), sorter=torch.argsort(unsorted)).tolist(),
)
x = torch.from_numpy(rng.standard_normal(1000).astype(np.float32))
print("histc:", torch.histc(x, bins=8, min=-3, max=3))
print("histc auto range:", torch.histc(torch.tensor([1.0, 2.0, 1.0, 4.0]), bins=4))
h = torch.histogram(x, bins=5)
print("histogram:", h.hist, h.bin_edges)
h2 = torch.histogram(
    torch.tensor([1.0, 2.0, 1.0]), bins=torch.tensor([0.0, 1.0, 2.0, 3.0]), density=True
)
print("histogram edges density:", h2)
print(
    "histogram range weight:",
    torch.histogram(
        torch.tensor([1.0, 2.0, 1.0]),
        bins=4,
        range=(0.0, 3.0),
        weight=torch.tensor([1.0, 2.0, 4.0]),
    ).hist,
)
labels = torch.tensor([0, 2, 2, 1, 2, 0])
print("bincount:", torch.bincount(labels), torch.bincount(labels, minlength=5))
print(
    "bincount weights:",
    torch.bincount(labels, weights=torch.tensor([0.5, 1.0, 1.0, 2.0, 0.5, 0.5])),
)
qs = torch.quantile(x, torch.tensor([0.25, 0.5, 0.75]))
print("quantiles:", qs)
qbins = torch.bucketize(x, qs)
print("quantile bins counts:", torch.bincount(qbins).tolist())
print(
    "quantile interpolation:",
    torch.quantile(torch.arange(5.0), 0.4, interpolation="lower"),
    torch.quantile(torch.arange(5.0), 0.4, interpolation="midpoint"),
    torch.nanquantile(torch.tensor([1.0, float("nan"), 3.0]), 0.5),
)
u, counts = torch.unique(labels, return_counts=True)
print("unique counts:", u.tolist(), counts.tolist())
y = torch.from_numpy(rng.standard_normal(1000).astype(np.float32)) + 2 * x
bins = torch.bucketize(x, torch.linspace(-2, 2, 5))
sums = torch.zeros(6).scatter_add_(0, bins, y)
cnt = torch.bincount(bins, minlength=6).float()
print("mean per bin:", sums / cnt.clamp(min=1))
print("index_reduce mean:", torch.zeros(6).index_reduce_(0, bins, y, "mean", include_self=False))
print(
    "scatter_reduce amax:",
    torch.zeros(6).scatter_reduce(0, bins, y, reduce="amax", include_self=False),
)
