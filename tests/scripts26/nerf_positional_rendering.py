# NeRF's numerical pieces as written in the PyTorch re-implementations: the positional
# encoding [x, sin(2^k x), cos(2^k x)], ray generation from a camera-to-world matrix with
# torch.meshgrid(indexing="xy"), stratified sample depths (fixed offsets here), and
# volume rendering: deltas with a 1e10 tail, alpha = 1 - exp(-sigma * delta), exclusive
# cumprod transmittance (torch.cumprod + torch.roll / cat of ones), weights, rgb, depth
# and accumulated opacity, and hierarchical sampling with torch.searchsorted on the CDF.
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def positional_encoding(x, num_freqs=4):
    out = [x]
    for k in range(num_freqs):
        out += [torch.sin((2.0**k) * x), torch.cos((2.0**k) * x)]
    return torch.cat(out, dim=-1)


pts = torch.tensor([[0.1, -0.2, 0.3], [1.0, 0.5, -0.5]])
enc = positional_encoding(pts)
print("encoding shape:", enc.shape)
print("encoding row 0:", enc[0, :9])

H, W, focal = 3, 4, 2.0
c2w = torch.tensor([[1.0, 0.0, 0.0, 0.5], [0.0, 0.8, -0.6, 0.0], [0.0, 0.6, 0.8, 2.0]])
i, j = torch.meshgrid(
    torch.arange(W, dtype=torch.float64), torch.arange(H, dtype=torch.float64), indexing="xy"
)
dirs = torch.stack([(i - W * 0.5) / focal, -(j - H * 0.5) / focal, -torch.ones_like(i)], -1)
rays_d = torch.sum(dirs[..., None, :] * c2w[:3, :3], -1)
rays_o = c2w[:3, -1].expand(rays_d.shape)
print("rays shape:", rays_d.shape, rays_o.shape)
print("ray (1, 2):", rays_d[1, 2], rays_o[1, 2])

near, far, n_samples = 2.0, 6.0, 8
t_vals = torch.linspace(0.0, 1.0, n_samples)
z_vals = near * (1.0 - t_vals) + far * t_vals
mids = 0.5 * (z_vals[1:] + z_vals[:-1])
upper = torch.cat([mids, z_vals[-1:]], -1)
lower = torch.cat([z_vals[:1], mids], -1)
offsets = torch.linspace(0.1, 0.9, n_samples)
z_vals = lower + (upper - lower) * offsets
rays_d = rays_d.reshape(-1, 3)
z_vals = z_vals.expand(rays_d.shape[0], n_samples)
points = rays_o.reshape(-1, 3)[..., None, :] + rays_d[..., None, :] * z_vals[..., :, None]
print("points shape:", points.shape)

raw_sigma = torch.sin(points.sum(-1)) * 2.0
raw_rgb = torch.sigmoid(points)
dists = z_vals[..., 1:] - z_vals[..., :-1]
dists = torch.cat([dists, torch.tensor([1e10]).expand(dists[..., :1].shape)], -1)
dists = dists * torch.norm(rays_d[..., None, :], dim=-1)
alpha = 1.0 - torch.exp(-F.relu(raw_sigma) * dists)
trans = torch.cumprod(torch.cat([torch.ones((alpha.shape[0], 1)), 1.0 - alpha + 1e-10], -1), -1)[
    :, :-1
]
weights = alpha * trans
rgb_map = torch.sum(weights[..., None] * raw_rgb, -2)
depth_map = torch.sum(weights * z_vals, -1)
acc_map = torch.sum(weights, -1)
print("rgb[0]:", rgb_map[0])
print("depth:", depth_map)
print("acc:", acc_map)

bins = 0.5 * (z_vals[..., 1:] + z_vals[..., :-1])
w = weights[..., 1:-1] + 1e-5
pdf = w / torch.sum(w, -1, keepdim=True)
cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1)
u = torch.linspace(0.0, 1.0, 5).expand(cdf.shape[0], 5).contiguous()
inds = torch.searchsorted(cdf, u, right=True)
below = torch.max(torch.zeros_like(inds - 1), inds - 1)
above = torch.min((cdf.shape[-1] - 1) * torch.ones_like(inds), inds)
inds_g = torch.stack([below, above], -1)
matched_shape = [inds_g.shape[0], inds_g.shape[1], cdf.shape[-1]]
cdf_g = torch.gather(cdf.unsqueeze(1).expand(matched_shape), 2, inds_g)
bins_g = torch.gather(bins.unsqueeze(1).expand(matched_shape), 2, inds_g)
denom = cdf_g[..., 1] - cdf_g[..., 0]
denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
t = (u - cdf_g[..., 0]) / denom
samples = bins_g[..., 0] + t * (bins_g[..., 1] - bins_g[..., 0])
print("importance samples[0]:", samples[0])
print("inds[3]:", inds[3].tolist())
