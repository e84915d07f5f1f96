# The sampling half of "Spatial Transformer Networks" on its own: F.affine_grid for
# identity, rotation, scaling and translation thetas (align_corners True / False), 3-D
# grids for 5-D volumes, F.grid_sample with mode bilinear / nearest / bicubic and
# padding_mode zeros / border / reflection, and gradients flowing to theta through the
# grid (what the localisation network learns from).
import math

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
img = torch.arange(1 * 2 * 5 * 6, dtype=torch.float64).view(1, 2, 5, 6) / 10


def theta_of(angle=0.0, sx=1.0, sy=1.0, tx=0.0, ty=0.0):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[[c * sx, -s * sy, tx], [s * sx, c * sy, ty]]])


for align in (True, False):
    grid = F.affine_grid(theta_of(), img.size(), align_corners=align)
    same = F.grid_sample(img, grid, align_corners=align)
    print("identity align", align, torch.allclose(same, img), grid[0, 0, :2].tolist())

cases = {
    "rotate": theta_of(angle=0.3),
    "scale": theta_of(sx=0.7, sy=1.3),
    "shift": theta_of(tx=0.25, ty=-0.4),
}
for name, theta in cases.items():
    grid = F.affine_grid(theta, img.size(), align_corners=False)
    for mode in ("bilinear", "nearest", "bicubic"):
        for pad in ("zeros", "border", "reflection"):
            out = F.grid_sample(img, grid, mode=mode, padding_mode=pad, align_corners=False)
            print(name, mode, pad, "sum:", round(out.sum().item(), 6))

vol = torch.arange(1 * 1 * 3 * 4 * 4, dtype=torch.float64).view(1, 1, 3, 4, 4)
theta3 = torch.tensor([[[1.0, 0.0, 0.0, 0.1], [0.0, 0.9, 0.0, 0.0], [0.0, 0.0, 1.0, -0.2]]])
grid3 = F.affine_grid(theta3, vol.size(), align_corners=False)
print("grid3 shape:", grid3.shape)
print("vol sample:", F.grid_sample(vol, grid3, align_corners=False).sum().item())

theta = theta_of(angle=0.2, tx=0.1).requires_grad_()
grid = F.affine_grid(theta, img.size(), align_corners=False)
out = F.grid_sample(img, grid, align_corners=False, padding_mode="border")
out.pow(2).mean().backward()
print("theta grad:", theta.grad)
