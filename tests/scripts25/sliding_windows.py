# Moving averages and sliding windows on time series: cumsum-based moving average,
# Tensor.unfold windows (size / step), avg_pool1d and conv1d with a box kernel, an
# exponential moving average loop and its closed form, F.unfold / F.fold (im2col and
# back, overlap counts), rolling max / min via unfold, lag features and differences.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
series = torch.from_numpy(np.cumsum(rng.standard_normal(20)).astype(np.float32))
w = 4
cs = torch.cumsum(series, 0)
cs = torch.cat([torch.zeros(1), cs])
ma_cumsum = (cs[w:] - cs[:-w]) / w
print("cumsum MA:", ma_cumsum[:5])
windows = series.unfold(0, w, 1)
print("unfold windows:", windows.shape, windows[0].tolist() == series[:4].tolist())
print("unfold MA:", torch.allclose(windows.mean(1), ma_cumsum, atol=1e-5))
print(
    "step 3:",
    series.unfold(0, 5, 3).shape,
    series.unfold(0, 5, 3)[:, 0].tolist() == series[[0, 3, 6, 9, 12, 15]].tolist(),
)
print(
    "avg_pool1d:",
    torch.allclose(F.avg_pool1d(series.view(1, 1, -1), w, stride=1).view(-1), ma_cumsum, atol=1e-5),
)
box = torch.full((1, 1, w), 1.0 / w)
print(
    "conv1d box:",
    torch.allclose(F.conv1d(series.view(1, 1, -1), box).view(-1), ma_cumsum, atol=1e-5),
)
print("rolling max:", windows.max(1).values[:5])
print("rolling min/std:", windows.min(1).values[:3], windows.std(1)[:3])
alpha = 0.3
ema = torch.empty_like(series)
ema[0] = series[0]
for i in range(1, len(series)):
    ema[i] = alpha * series[i] + (1 - alpha) * ema[i - 1]
print("ema:", ema[-3:])
k = torch.arange(len(series) - 1, -1, -1, dtype=torch.float32)
weights = alpha * (1 - alpha) ** k
weights[0] = (1 - alpha) ** (len(series) - 1)
print("ema closed form:", round((weights * series).sum().item(), 4), round(ema[-1].item(), 4))
print("diff:", torch.diff(series)[:3], torch.diff(series, n=2).shape)
lags = torch.stack([series.roll(i) for i in range(3)], 1)[2:]
print("lag features:", lags[:2])
img = torch.arange(2 * 4 * 5, dtype=torch.float32).view(1, 2, 4, 5)
cols = F.unfold(img, kernel_size=(2, 3), stride=1, padding=0)
print("im2col:", cols.shape, cols[0, :, 0].tolist())
folded = F.fold(cols, output_size=(4, 5), kernel_size=(2, 3))
counts = F.fold(F.unfold(torch.ones_like(img), (2, 3)), (4, 5), (2, 3))
print("fold overlap counts:", counts[0, 0])
print("fold / counts == img:", torch.allclose(folded / counts, img))
wconv = torch.from_numpy(rng.standard_normal((3, 2, 2, 3)).astype(np.float32))
via_unfold = (wconv.view(3, -1) @ cols).view(1, 3, 3, 3)
print("conv via unfold:", torch.allclose(via_unfold, F.conv2d(img, wconv), atol=1e-4))
patches = img.unfold(2, 2, 2).unfold(3, 2, 2)
print("2-d tensor.unfold:", patches.shape, patches[0, 0, 1, 1].tolist())
seq = torch.arange(10.0)
X = seq.unfold(0, 3, 1)[:-1]
Y = seq[3:]
print("supervised windows:", X[:2].tolist(), Y[:2].tolist(), X.shape, Y.shape)
