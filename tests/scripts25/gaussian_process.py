# Gaussian-process regression from scratch, as GP tutorials write it in PyTorch: an RBF
# kernel via cdist, the Cholesky factor with jitter, alpha by cholesky_solve, the posterior
# mean and variance at test points, the log marginal likelihood, and fitting the kernel's
# log length-scale / log variance / log noise with Adam (float64 throughout).
import math

import numpy as np
import torch

rng = np.random.default_rng(0)
X = torch.from_numpy(np.sort(rng.uniform(-3, 3, 20))).unsqueeze(1)
y = torch.sin(X).squeeze(1) + 0.1 * torch.from_numpy(rng.standard_normal(20))
Xs = torch.linspace(-3, 3, 7, dtype=torch.float64).unsqueeze(1)


def rbf(a, b, log_ls, log_var):
    d2 = torch.cdist(a, b) ** 2
    return torch.exp(log_var) * torch.exp(-0.5 * d2 / torch.exp(log_ls) ** 2)


def posterior(log_ls, log_var, log_noise):
    K = rbf(X, X, log_ls, log_var) + (torch.exp(log_noise) + 1e-8) * torch.eye(
        len(X), dtype=torch.float64
    )
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(y.unsqueeze(1), L)
    Ks = rbf(Xs, X, log_ls, log_var)
    mean = (Ks @ alpha).squeeze(1)
    v = torch.linalg.solve_triangular(L, Ks.T, upper=False)
    var = torch.exp(log_var) - (v**2).sum(0)
    nll = (
        0.5 * (y.unsqueeze(1) * alpha).sum()
        + torch.log(torch.diagonal(L)).sum()
        + 0.5 * len(X) * math.log(2 * math.pi)
    )
    return mean, var, nll


params = [torch.tensor(0.0, dtype=torch.float64, requires_grad=True) for _ in range(2)]
params.append(torch.tensor(-2.0, dtype=torch.float64, requires_grad=True))
mean, var, nll = posterior(*params)
print("initial nll:", round(nll.item(), 6))
print("initial mean:", mean)
print("initial var:", var)
opt = torch.optim.Adam(params, lr=0.05)
for step in range(40):
    opt.zero_grad()
    _, _, nll = posterior(*params)
    nll.backward()
    opt.step()
    if step % 10 == 0:
        print("step", step, round(nll.item(), 6), [round(p.item(), 5) for p in params])
with torch.no_grad():
    mean, var, nll = posterior(*params)
print("fitted nll:", round(nll.item(), 5))
print("fitted mean:", mean)
print("fitted std:", var.clamp(min=0).sqrt())
print("true:", torch.sin(Xs).squeeze(1))
print(
    "logdet check:",
    torch.allclose(
        2
        * torch.log(
            torch.diagonal(
                torch.linalg.cholesky(
                    rbf(X, X, *params[:2]) + 0.1 * torch.eye(20, dtype=torch.float64)
                )
            )
        ).sum(),
        torch.logdet(rbf(X, X, *params[:2]) + 0.1 * torch.eye(20, dtype=torch.float64)),
    ),
)
