# k-means clustering in plain tensor ops, as the "k-means in PyTorch" notebooks write it:
# k-means++-style deterministic seeding (farthest point), assignment by cdist + argmin,
# centroid update by index_add_ / bincount (and scatter_reduce mean), inertia, convergence
# check with torch.allclose, and the silhouette-like ratio of distances; plus the same
# update by one_hot matrix multiplication.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
centers_true = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 6.0]])
X = torch.from_numpy(
    (centers_true[rng.integers(0, 3, 150)] + rng.standard_normal((150, 2)) * 0.7).astype(np.float32)
)
k = 3
idx = [0]
for _ in range(k - 1):
    d = torch.cdist(X, X[idx]).min(1).values
    idx.append(int(d.argmax()))
centroids = X[idx].clone()
print("seeds:", idx, centroids)
for it in range(20):
    dist = torch.cdist(X, centroids)
    labels = dist.argmin(1)
    sums = torch.zeros(k, 2).index_add_(0, labels, X)
    counts = torch.bincount(labels, minlength=k).float().unsqueeze(1)
    new = sums / counts.clamp(min=1)
    if torch.allclose(new, centroids, atol=1e-6):
        print("converged at", it)
        break
    centroids = new
inertia = (torch.cdist(X, centroids).min(1).values ** 2).sum()
print("centroids:", centroids)
print("sizes:", torch.bincount(labels, minlength=k).tolist(), "inertia:", round(inertia.item(), 3))
one_hot = F.one_hot(labels, k).float()
by_matmul = (one_hot.T @ X) / one_hot.sum(0, keepdim=True).T
print("matmul update:", torch.allclose(by_matmul, centroids, atol=1e-5))
by_scatter = torch.zeros(k, 2).scatter_reduce(
    0, labels.unsqueeze(1).expand(-1, 2), X, reduce="mean", include_self=False
)
print("scatter_reduce mean:", torch.allclose(by_scatter, centroids, atol=1e-5))
d_all = torch.cdist(X, X)
same = labels[:, None] == labels[None, :]
a = (d_all * same).sum(1) / (same.sum(1) - 1).clamp(min=1)
b = torch.stack([(d_all[:, labels == c]).mean(1) for c in range(k)], 1)
b = b.masked_fill(F.one_hot(labels, k).bool(), float("inf")).min(1).values
sil = ((b - a) / torch.maximum(a, b)).mean()
print("silhouette:", round(sil.item(), 4))
print("sorted centroids:", centroids[centroids[:, 0].argsort()].round(decimals=2))
