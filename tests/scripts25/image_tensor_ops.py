# Image preprocessing with plain tensor ops, as data pipelines without torchvision do it:
# HWC uint8 -> CHW float in [0, 1] (permute, float, div 255), normalization with
# per-channel mean / std broadcasting, uint8 arithmetic (wrapping, true division to
# float), center / corner crops by slicing, horizontal flip, rot90, resize with
# interpolate (antialias too), grayscale by weighted sum, clamp-based brightness /
# contrast, back to uint8 with round and clamp, and batch statistics per channel.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
hwc = torch.from_numpy(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
print("uint8:", hwc.dtype, hwc.shape, hwc[0, 0].tolist())
chw = hwc.permute(2, 0, 1).float().div(255)
print("to float:", chw.shape, chw.dtype, chw[:, 0, 0])
print("uint8 wraps:", (hwc[0, 0] + 250).tolist(), (hwc[0, 0] * 2).tolist())
print("uint8 true div:", (hwc[0, 0] / 2).dtype, (hwc[0, 0] // 3).tolist())
print("uint8 sub:", (hwc[0, 0] - hwc[0, 1]).tolist(), (hwc[0, 0].int() - hwc[0, 1].int()).tolist())
mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
norm = (chw - mean) / std
print("normalized:", norm[:, 1, 1], norm.mean((1, 2)))
print("denormalized:", torch.allclose(norm * std + mean, chw, atol=1e-6))
h, w = chw.shape[1:]
crop = chw[:, (h - 4) // 2 : (h - 4) // 2 + 4, (w - 4) // 2 : (w - 4) // 2 + 4]
print("center crop:", crop.shape, crop[0, 0])
print("flip:", torch.equal(chw.flip(-1)[:, :, 0], chw[:, :, -1]), torch.rot90(chw, 1, (1, 2)).shape)
batch = chw.unsqueeze(0)
print(
    "resize bilinear:",
    F.interpolate(batch, size=(3, 4), mode="bilinear", align_corners=False)[0, 0],
)
print(
    "resize antialias:", F.interpolate(batch, size=(3, 4), mode="bilinear", antialias=True)[0, 0, 0]
)
print(
    "resize nearest uint8:",
    F.interpolate(hwc.permute(2, 0, 1).unsqueeze(0), scale_factor=0.5, mode="nearest")[
        0, 0
    ].tolist(),
)
gray = (chw * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
print("gray:", gray.shape, gray[0, 0, :3])
bright = (chw * 1.5).clamp(0, 1)
contrast = ((chw - chw.mean()) * 2 + chw.mean()).clamp_(0.0, 1.0)
print("brightness/contrast:", bright[0, 0, :3], contrast[0, 0, :3], (bright == 1).sum().item())
back = (chw * 255).round().clamp(0, 255).to(torch.uint8)
print("back to uint8:", torch.equal(back.permute(1, 2, 0), hwc))
imgs = torch.from_numpy(rng.random((4, 3, 5, 5)).astype(np.float32))
print("channel mean/std:", imgs.mean(dim=(0, 2, 3)), imgs.std(dim=(0, 2, 3)))
print("to_tensor of float64 array:", torch.from_numpy(rng.random((2, 2))).float().dtype)
print("pad to square:", F.pad(chw, (0, 0, 1, 1), mode="constant", value=0.5).shape)
print("random crop via numpy offsets:", chw[:, 1:5, 2:6].shape, chw[:, 1:5, 2:6].sum().item() > 0)
patches = chw.unfold(1, 2, 2).unfold(2, 2, 2)
print("2x2 patches:", patches.shape, patches.mean((-1, -2))[0, 0])
