# Signal processing with torch.fft as the docs and audio notebooks do it: a noisy sum of
# sines, rfft magnitudes and the dominant frequencies via rfftfreq, a low-pass filter by
# zeroing bins then irfft, fft / ifft round trip, fftshift, a 2-D fft of an image with a
# centred low-pass mask, convolution by FFT against F.conv1d, and norm="ortho" energy.
import math

import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
fs, n = 100.0, 200
t = torch.arange(n, dtype=torch.float64) / fs
clean = torch.sin(2 * math.pi * 5 * t) + 0.5 * torch.sin(2 * math.pi * 12 * t)
signal = (
    clean + 0.8 * torch.sin(2 * math.pi * 40 * t) + 0.05 * torch.from_numpy(rng.standard_normal(n))
)
spec = torch.fft.rfft(signal)
freqs = torch.fft.rfftfreq(n, d=1 / fs)
print("bins:", spec.shape, spec.dtype, freqs[:4], freqs[-1].item())
mag = spec.abs()
top = mag.topk(3).indices
print("dominant Hz:", sorted(freqs[top].tolist()))
filtered_spec = spec.clone()
filtered_spec[freqs > 20] = 0
filtered = torch.fft.irfft(filtered_spec, n=n)
print(
    "low-pass error:",
    round((filtered - clean).abs().max().item(), 3),
    filtered.dtype,
    filtered.shape,
)
z = torch.fft.fft(signal)
print("fft round trip:", torch.allclose(torch.fft.ifft(z).real, signal), z[1])
print("hermitian:", torch.allclose(z[1], z[-1].conj()))
print("fftfreq:", torch.fft.fftfreq(6), torch.fft.fftshift(torch.fft.fftfreq(6)))
print("ifftshift:", torch.fft.ifftshift(torch.fft.fftshift(torch.arange(5))).tolist())
energy_t = (signal**2).sum()
energy_f = (torch.fft.fft(signal, norm="ortho").abs() ** 2).sum()
print("parseval:", torch.allclose(energy_t, energy_f))
img = torch.from_numpy(rng.standard_normal((16, 16))).float()
img = img + torch.linspace(0, 3, 16)[None, :]
F2 = torch.fft.fftshift(torch.fft.fft2(img))
yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
mask = ((yy - 8) ** 2 + (xx - 8) ** 2) <= 9
smooth = torch.fft.ifft2(torch.fft.ifftshift(F2 * mask)).real
print("2-d low-pass:", smooth.shape, round(smooth.std().item(), 4), round(img.std().item(), 4))
print("rfft2:", torch.fft.rfft2(img).shape, torch.fft.fftn(img, dim=(0,)).shape)
x = torch.from_numpy(rng.standard_normal(32))
k = torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64)
m = x.numel() + k.numel() - 1
fft_conv = torch.fft.irfft(torch.fft.rfft(x, m) * torch.fft.rfft(k, m), m)
direct = F.conv1d(x.view(1, 1, -1), k.flip(0).view(1, 1, -1), padding=2).view(-1)
print("fft conv == conv1d:", torch.allclose(fft_conv, direct), fft_conv[:3])
xr = torch.randn(8, dtype=torch.float32)
print(
    "float32 fft dtype:",
    torch.fft.fft(xr).dtype,
    torch.fft.rfft(xr).dtype,
    torch.fft.hfft(torch.fft.rfft(xr)).dtype,
)
print("norm forward:", torch.fft.rfft(torch.ones(4), norm="forward"))
