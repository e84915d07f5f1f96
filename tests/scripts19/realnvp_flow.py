# A RealNVP normalizing flow on 2-D data as in flow tutorials: affine coupling layers
# with alternating binary masks (register_buffer), scale / translation networks with
# tanh-bounded scales, forward (x -> z) with the log-determinant sum, the inverse
# (z -> x) round trip, the density under a standard MultivariateNormal prior from
# torch.distributions, maximum-likelihood training, and torch.distributions
# TransformedDistribution with an AffineTransform for comparison.
import numpy as np
import torch
import torch.nn as nn
from torch.distributions import AffineTransform, MultivariateNormal, Normal, TransformedDistribution

rng = np.random.default_rng(31)
theta = rng.uniform(0, 2 * np.pi, 64)
data = torch.from_numpy(
    np.stack([np.cos(theta), np.sin(theta)], 1) * 2 + 0.1 * rng.standard_normal((64, 2))
).float()


class Coupling(nn.Module):
    def __init__(self, mask):
        super().__init__()
        self.register_buffer("mask", mask)
        self.s = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(), nn.Linear(16, 2), nn.Tanh())
        self.t = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(), nn.Linear(16, 2))

    def forward(self, x):
        x_m = x * self.mask
        s = self.s(x_m) * (1 - self.mask)
        t = self.t(x_m) * (1 - self.mask)
        z = x_m + (1 - self.mask) * (x * torch.exp(s) + t)
        return z, s.sum(dim=1)

    def inverse(self, z):
        z_m = z * self.mask
        s = self.s(z_m) * (1 - self.mask)
        t = self.t(z_m) * (1 - self.mask)
        return z_m + (1 - self.mask) * ((z - t) * torch.exp(-s))


class RealNVP(nn.Module):
    def __init__(self, n_layers=4):
        super().__init__()
        masks = [
            torch.tensor([1.0, 0.0]) if i % 2 == 0 else torch.tensor([0.0, 1.0])
            for i in range(n_layers)
        ]
        self.layers = nn.ModuleList([Coupling(m) for m in masks])
        self.prior = MultivariateNormal(torch.zeros(2), torch.eye(2))

    def forward(self, x):
        log_det = torch.zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z):
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x):
        z, log_det = self(x)
        return self.prior.log_prob(z) + log_det


flow = RealNVP()
with torch.no_grad():
    for i, p in enumerate(flow.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.67 + i).reshape(p.shape)
            * 0.3
        )
print("buffers:", [n for n, _ in flow.named_buffers()][:2])
z, log_det = flow(data[:4])
print("z:", z.detach().numpy().round(5).tolist())
print("log_det:", log_det.detach().numpy().round(5).tolist())
print("inverse round trip:", torch.allclose(flow.inverse(z), data[:4], atol=1e-5))
optimizer = torch.optim.Adam(flow.parameters(), lr=5e-3)
for step in range(10):
    loss = -flow.log_prob(data).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 3 == 0:
        print("nll", step, round(loss.item(), 5))
with torch.no_grad():
    grid = torch.tensor([[2.0, 0.0], [0.0, 0.0], [-1.4, 1.4]])
    print("density:", flow.log_prob(grid).exp().numpy().round(5).tolist())
    samples = flow.inverse(torch.tensor([[0.5, -0.5], [1.0, 1.0]]))
    print("samples from fixed z:", samples.numpy().round(5).tolist())

affine = TransformedDistribution(
    Normal(torch.zeros(2), torch.ones(2)),
    [AffineTransform(torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.5]))],
)
pt = torch.tensor([0.5, 0.0])
print(
    "affine flow log_prob:",
    affine.log_prob(pt).numpy().round(6).tolist(),
    Normal(torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.5]))
    .log_prob(pt)
    .numpy()
    .round(6)
    .tolist(),
)
