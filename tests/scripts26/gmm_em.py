# Fitting a Gaussian mixture with expectation-maximisation in torch, as in the
# "GMM from scratch" notebooks: data drawn in NumPy from three 2-D clusters, the E step
# with MultivariateNormal(...).log_prob over broadcast components and torch.logsumexp
# responsibilities, the M step (weighted means, covariances with einsum and a small
# diagonal jitter, mixing weights), the log-likelihood increasing every iteration, and
# hard assignments compared with the true labels (up to permutation).
import numpy as np
import torch
from torch.distributions import MultivariateNormal

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(0)
centers = np.array([[0.0, 0.0], [4.0, 4.0], [-4.0, 3.0]])
labels = np.repeat(np.arange(3), 40)
data = centers[labels] + rng.normal(0, 0.8, (120, 2))
X = torch.from_numpy(data)
K = 3
means = X[[0, 50, 100]].clone()
covs = torch.eye(2).repeat(K, 1, 1)
weights = torch.full((K,), 1.0 / K)
history = []
for _it in range(8):
    dist = MultivariateNormal(means, covariance_matrix=covs)
    log_probs = dist.log_prob(X[:, None, :]) + torch.log(weights)
    log_norm = torch.logsumexp(log_probs, dim=1, keepdim=True)
    resp = torch.exp(log_probs - log_norm)
    history.append(log_norm.sum().item())
    nk = resp.sum(dim=0)
    means = (resp.T @ X) / nk[:, None]
    diff = X[:, None, :] - means[None]
    covs = torch.einsum("nk,nki,nkj->kij", resp, diff, diff) / nk[:, None, None] + 1e-6 * torch.eye(
        2
    )
    weights = nk / X.shape[0]
print("log-likelihood:", [round(h, 4) for h in history])
print("increasing:", all(b >= a - 1e-9 for a, b in zip(history, history[1:])))
print("means:", means)
print("weights:", weights)
print("cov 0:", covs[0])
assign = resp.argmax(dim=1)
print("assignments match:", (assign == torch.from_numpy(labels)).all().item())
print("resp row sums:", torch.allclose(resp.sum(dim=1), torch.ones(120)))
