# Audio feature extraction written with torch ops as in the audio tutorials (without
# torchaudio): a synthetic chirp, torch.hann_window, torch.stft(return_complex=True) with
# center / reflect padding, power spectrogram with .abs().pow(2), a mel filterbank built
# by hand (torch.linspace, torch.clamp, torch.min of slopes), log-mel with clamp(min=1e-10),
# torch.istft round trip, and other windows (also torch.signal.windows).
import math

import torch

sample_rate = 800
t = torch.arange(0, 0.5, 1 / sample_rate)
waveform = torch.sin(2 * math.pi * (50 + 200 * t) * t)
n_fft, hop = 64, 16
window = torch.hann_window(n_fft)
print("hann:", window[:4].numpy().round(6).tolist(), window.shape)
spec = torch.stft(
    waveform,
    n_fft=n_fft,
    hop_length=hop,
    window=window,
    return_complex=True,
    center=True,
    pad_mode="reflect",
)
print("stft:", list(spec.shape), spec.dtype)
power = spec.abs().pow(2)
print("power frame 3 top bins:", power[:, 3].topk(3).indices.tolist())
print("energy:", round(power.sum().item(), 2))


def hz_to_mel(f):
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_filterbank(n_freqs, n_mels, sr):
    all_freqs = torch.linspace(0, sr // 2, n_freqs)
    m_pts = torch.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down_slopes = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up_slopes = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1), torch.min(down_slopes, up_slopes))


fb = mel_filterbank(n_fft // 2 + 1, 8, sample_rate)
mel = torch.matmul(power.transpose(-1, -2), fb).transpose(-1, -2)
log_mel = torch.log10(torch.clamp(mel, min=1e-10)) * 10
print("mel:", list(mel.shape), log_mel[:, 5].numpy().round(3).tolist())
recon = torch.istft(spec, n_fft=n_fft, hop_length=hop, window=window, length=waveform.shape[0])
print("istft round trip:", torch.allclose(recon, waveform, atol=1e-5))
print("hamming:", torch.hamming_window(8).numpy().round(6).tolist())
print("periodic=False hann:", torch.hann_window(5, periodic=False).tolist())
print("blackman:", torch.blackman_window(6).numpy().round(6).tolist())
print(
    "signal.windows.gaussian:", torch.signal.windows.gaussian(7, std=1.5).numpy().round(6).tolist()
)
print(
    "signal.windows.kaiser periodic:",
    torch.signal.windows.kaiser(6, beta=8.0, sym=False).numpy().round(6).tolist(),
)
print(
    "signal.windows.hann equals hann_window:",
    torch.allclose(torch.signal.windows.hann(64, sym=False), window),
)
print("rfft peak:", torch.fft.rfft(waveform[:128]).abs().argmax().item())
