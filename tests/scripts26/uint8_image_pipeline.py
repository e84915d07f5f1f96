# Image preprocessing done by hand on uint8 arrays, as data pipelines without torchvision
# do it: HWC uint8 -> CHW float in [0, 1] via permute(2, 0, 1).float().div(255),
# per-channel normalisation with mean / std views, back to uint8 with mul(255).round()
# .clamp(0, 255).to(torch.uint8), uint8 arithmetic wrapping (a + 200) and its promotion
# with Python floats and int64 tensors, .float().mean() vs the error of a uint8 mean,
# a horizontal flip and crop by slicing, and a histogram with torch.bincount.
import numpy as np
import torch

rng = np.random.default_rng(0)
img = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
t = torch.from_numpy(img)
print("dtype / shape:", t.dtype, t.shape)
chw = t.permute(2, 0, 1).float().div(255)
print("chw:", chw.shape, round(chw.max().item(), 6), chw.dtype)
mean = torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
normed = (chw - mean) / std
print("normalized channel means:", [round(v, 5) for v in normed.mean(dim=(1, 2)).tolist()])
back = (normed * std + mean).mul(255).round().clamp(0, 255).to(torch.uint8)
print("round trip exact:", torch.equal(back.permute(1, 2, 0), t))
wrapped = t[0, 0] + 200
print("uint8 + 200:", t[0, 0].tolist(), "->", wrapped.tolist(), wrapped.dtype)
print(
    "uint8 * 1.5:",
    (t[0, 0] * 1.5).dtype,
    "uint8 + int64:",
    (t[0, 0] + torch.tensor([1, 2, 3])).dtype,
)
print(
    "uint8 - uint8 wraps:",
    (torch.tensor([10], dtype=torch.uint8) - torch.tensor([20], dtype=torch.uint8)).tolist(),
)
print("float mean:", round(t.float().mean().item(), 4))
try:
    t.mean()
except RuntimeError as e:
    print("uint8 mean:", "could not infer output dtype" in str(e))
print("sum dtype:", t.sum().dtype, t.sum().item())
flipped = t.flip(1)
print("flip:", flipped[0, 0].tolist(), t[0, -1].tolist())
crop = t[1:3, 1:4]
print("crop:", crop.shape, crop.is_contiguous())
hist = torch.bincount(t[..., 0].flatten().long() // 64, minlength=4)
print("histogram:", hist.tolist())
gray = (t.float() * torch.tensor([0.299, 0.587, 0.114])).sum(-1)
print("gray:", gray.round().to(torch.uint8)[0].tolist())
print(
    "to uint8 from negative float:",
    torch.tensor([-1.0, 255.5, 300.0]).clamp(0, 255).to(torch.uint8).tolist(),
)
print("bool to uint8:", (t > 128).to(torch.uint8).sum().item())
