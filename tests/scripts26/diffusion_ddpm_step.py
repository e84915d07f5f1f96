# DDPM training and sampling pieces as in "The Annotated Diffusion Model" and similar
# tutorials: linear and cosine beta schedules, alphas_cumprod with torch.cumprod and
# F.pad(..., (1, 0), value=1.0), the extract() helper (gather + reshape to broadcast),
# q_sample, the sinusoidal time embedding, a tiny noise-prediction network trained a few
# steps with MSE (noise and timesteps drawn in NumPy), and one reverse p_sample mean with
# posterior variance.
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(0)


def cosine_beta_schedule(timesteps, s=0.008):
    steps = timesteps + 1
    x = torch.linspace(0, timesteps, steps, dtype=torch.float64)
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    betas = 1 - (alphas_cumprod[1:] / alphas_cumprod[:-1])
    return torch.clip(betas, 0.0001, 0.9999)


def linear_beta_schedule(timesteps):
    return torch.linspace(0.0001, 0.02, timesteps)


T = 50
print("cosine betas:", cosine_beta_schedule(T)[[0, 10, 25, 49]])
betas = linear_beta_schedule(T)
alphas = 1.0 - betas
alphas_cumprod = torch.cumprod(alphas, axis=0)
alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
sqrt_recip_alphas = torch.sqrt(1.0 / alphas)
sqrt_alphas_cumprod = torch.sqrt(alphas_cumprod)
sqrt_one_minus_alphas_cumprod = torch.sqrt(1.0 - alphas_cumprod)
posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
print("alphas_cumprod:", alphas_cumprod[[0, 24, 49]])
print("posterior variance:", posterior_variance[[0, 1, 49]])


def extract(a, t, x_shape):
    batch_size = t.shape[0]
    out = a.gather(-1, t.cpu())
    return out.reshape(batch_size, *((1,) * (len(x_shape) - 1))).to(t.device)


def q_sample(x_start, t, noise):
    return (
        extract(sqrt_alphas_cumprod, t, x_start.shape) * x_start
        + extract(sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise
    )


class SinusoidalPositionEmbeddings(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, time):
        half_dim = self.dim // 2
        embeddings = math.log(10000) / (half_dim - 1)
        embeddings = torch.exp(torch.arange(half_dim, device=time.device) * -embeddings)
        embeddings = time[:, None] * embeddings[None, :]
        return torch.cat((embeddings.sin(), embeddings.cos()), dim=-1)


emb = SinusoidalPositionEmbeddings(8)
print("time embedding:", emb(torch.tensor([0.0, 10.0]))[1])


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.time = nn.Sequential(SinusoidalPositionEmbeddings(8), nn.Linear(8, 16), nn.GELU())
        self.inp = nn.Linear(4, 16)
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(16, 4))

    def forward(self, x, t):
        return self.out(self.inp(x) + self.time(t.float()))


model = Denoiser()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.61 + i).view_as(p) * 0.3)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x_start = torch.tensor([[1.0, -1.0, 0.5, 0.0], [0.2, 0.4, -0.6, 0.8], [-1.0, 1.0, -1.0, 1.0]])
for step in range(6):
    t = torch.from_numpy(rng.integers(0, T, (3,))).long()
    noise = torch.from_numpy(rng.standard_normal((3, 4)).astype(np.float32))
    x_noisy = q_sample(x_start, t, noise)
    loss = F.mse_loss(noise, model(x_noisy, t))
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("step", step, "t:", t.tolist(), "loss:", round(loss.item(), 5))


@torch.no_grad()
def p_sample_mean(x, t, t_index):
    betas_t = extract(betas, t, x.shape)
    sqrt_one_minus_alphas_cumprod_t = extract(sqrt_one_minus_alphas_cumprod, t, x.shape)
    sqrt_recip_alphas_t = extract(sqrt_recip_alphas, t, x.shape)
    return sqrt_recip_alphas_t * (x - betas_t * model(x, t) / sqrt_one_minus_alphas_cumprod_t)


xt = torch.tensor([[0.3, -0.3, 0.1, 0.9]])
print("p_sample mean:", p_sample_mean(xt, torch.tensor([T - 1]), T - 1))
print("extract shape:", extract(betas, torch.tensor([1, 2]), (2, 3, 8, 8)).shape)
