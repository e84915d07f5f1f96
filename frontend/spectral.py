"""``kiln.stft`` / ``kiln.istft``: PyTorch's short-time Fourier transform and its inverse.

Written in kiln ops (``pad``, ``unfold``, ``kiln.fft``, ``index_add``), so they run eagerly
with gradients, as the FFTs do (complex tensors and FFTs are eager-only: under ``kiln.jit``
they raise). PyTorch's conventions: ``hop_length`` defaults to ``n_fft // 4``, a window
shorter than ``n_fft`` is centred in it, ``center`` pads ``n_fft // 2`` on both sides with
``pad_mode``, ``normalized`` scales by ``n_fft ** -0.5``, real input needs
``return_complex`` and gives the one-sided spectrum. ``istft`` overlap-adds the windowed
inverse frames and divides by the summed squared window (PyTorch's "window overlap add
min" error where that envelope vanishes).

>>> import kiln
>>> x = kiln.sin(kiln.arange(64.0) / 3)
>>> spectrum = stft(x, 16, window=kiln.hann_window(16), return_complex=True)
>>> spectrum.shape
kiln.Size([9, 17])
>>> back = istft(spectrum, 16, window=kiln.hann_window(16), length=64)
>>> float((back - x).abs().max()) < 1e-5
True
"""

from __future__ import annotations

import warnings

import numpy as np

from . import dtypes, ops
from .tensor import Tensor

__all__ = ["istft", "stft"]


def _window(op: str, window, win_length: int, n_fft: int, like: Tensor) -> Tensor:
    real = like.dtype.to_real() if like.dtype.is_complex else like.dtype
    if window is None:
        window = ops.ones(win_length, dtype=real)
    elif window.ndim != 1 or window.shape[0] != win_length:
        raise RuntimeError(
            f"{op}: expected a 1D window tensor of size equal to win_length={win_length}, "
            f"but got window with size {list(window.shape)}"
        )
    if win_length < n_fft:  # centred in n_fft, as PyTorch pads it
        left = (n_fft - win_length) // 2
        window = ops.pad_axes(window, [(left, n_fft - win_length - left)], 0)
    return window


def _lengths(op: str, n_fft: int, hop_length, win_length):
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)
    if n_fft <= 0:
        raise RuntimeError(f"{op}: expected 0 < n_fft, but got n_fft={n_fft}")
    if hop <= 0:
        raise RuntimeError(f"{op}: expected hop_length > 0, but got hop_length={hop}")
    if not 0 < win <= n_fft:
        raise RuntimeError(f"{op}: expected 0 < win_length <= n_fft, but got win_length={win}")
    return hop, win


def stft(
    input,  # noqa: A002 (PyTorch's name)
    n_fft: int,
    hop_length=None,
    win_length=None,
    window=None,
    center: bool = True,
    pad_mode: str = "reflect",
    normalized: bool = False,
    onesided=None,
    return_complex=None,
):
    """The STFT of a 1-D ``(L,)`` or 2-D ``(B, L)`` signal: ``(B?, freqs, frames)``."""
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"stft(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x.ndim not in (1, 2):
        raise RuntimeError(f"stft: expected a 1D or 2D tensor, but got {x.ndim}D")
    complex_input = x.dtype.is_complex or (window is not None and window.dtype.is_complex)
    if return_complex is None:
        if not complex_input:
            raise RuntimeError(
                "stft requires the return_complex parameter be given for real inputs, and "
                "will further require that return_complex=True in a future PyTorch release."
            )
        return_complex = True
    if window is None:
        warnings.warn(
            "A window was not provided. A rectangular window will be applied,which is known "
            "to cause spectral leakage. Other windows such as torch.hann_window or "
            "torch.hamming_window are recommended to reduce spectral leakage.To suppress "
            "this warning and use a rectangular window, explicitly set "
            "`window=torch.ones(n_fft, device=<device>)`.",
            UserWarning,
            stacklevel=2,
        )
    if not x.dtype.is_floating_point and not x.dtype.is_complex:
        x = ops.cast(x, dtypes.get_default_dtype())
    hop, win = _lengths("stft", n_fft, hop_length, win_length)
    batched = x.ndim == 2
    if not batched:
        x = ops.unsqueeze(x, 0)
    if center:
        import kiln.nn.functional as F

        half = n_fft // 2
        x = ops.squeeze(F.pad(ops.unsqueeze(x, 1), (half, half), mode=pad_mode), 1)
    if x.shape[-1] < n_fft:
        raise RuntimeError(
            f"stft: expected 0 < n_fft <= {x.shape[-1]} (the padded length), but got n_fft={n_fft}"
        )
    frames = ops.mul(x.unfold(-1, n_fft, hop), _window("stft", window, win, n_fft, x))
    onesided = (not complex_input) if onesided is None else bool(onesided)
    if onesided and complex_input:
        raise RuntimeError("stft: onesided=True requires a real input and window")
    from . import fft

    norm = "ortho" if normalized else "backward"
    spectrum = fft.rfft(frames, dim=-1, norm=norm) if onesided else fft.fft(frames, norm=norm)
    spectrum = ops.transpose(spectrum, -1, -2)  # (B, freqs, frames)
    if not batched:
        spectrum = ops.squeeze(spectrum, 0)
    if not return_complex:
        warnings.warn(
            "stft with return_complex=False is deprecated. In a future pytorch release, stft "
            "will return complex tensors for all inputs, and return_complex=False will raise "
            "an error.\nNote: you can still call torch.view_as_real on the complex output to "
            "recover the old return format.",
            UserWarning,
            stacklevel=2,
        )
        import kiln

        return kiln.view_as_real(spectrum)
    return spectrum


def istft(
    input,  # noqa: A002 (PyTorch's name)
    n_fft: int,
    hop_length=None,
    win_length=None,
    window=None,
    center: bool = True,
    normalized: bool = False,
    onesided=None,
    length=None,
    return_complex: bool = False,
):
    """The inverse of ``stft``: ``(B?, freqs, frames)`` complex -> ``(B?, L)``."""
    spectrum = input
    if not isinstance(spectrum, Tensor) or not spectrum.dtype.is_complex:
        raise RuntimeError("istft requires a complex-valued input tensor")
    if spectrum.ndim not in (2, 3):
        raise RuntimeError(
            f"istft: expected a tensor with 2 or 3 dimensions of complex dtype, "
            f"but got {spectrum.ndim}D"
        )
    hop, win = _lengths("istft", n_fft, hop_length, win_length)
    if window is None:
        warnings.warn(
            "A window was not provided. A rectangular window will be applied.Please provide "
            "the same window used by stft to make the inversion lossless.To suppress this "
            "warning and use a rectangular window, explicitly set "
            "`window=torch.ones(n_fft, device=<device>)`.",
            UserWarning,
            stacklevel=2,
        )
    batched = spectrum.ndim == 3
    if not batched:
        spectrum = ops.unsqueeze(spectrum, 0)
    freqs, count = spectrum.shape[-2], spectrum.shape[-1]
    onesided = (freqs != n_fft) if onesided is None else bool(onesided)
    expected = n_fft // 2 + 1 if onesided else n_fft
    if freqs != expected:
        raise RuntimeError(
            f"istft: expected the frequency dimension (size {freqs}) of the input to be "
            f"{expected} (n_fft={n_fft}, onesided={onesided})"
        )
    from . import fft

    norm = "ortho" if normalized else "backward"
    columns = ops.transpose(spectrum, -1, -2)  # (B, frames, freqs)
    if onesided and not return_complex:
        frames = fft.irfft(columns, n=n_fft, dim=-1, norm=norm)
    else:
        frames = fft.ifft(columns, n=n_fft, dim=-1, norm=norm)
        if not return_complex:
            frames = frames.real
    w = _window("istft", window, win, n_fft, frames)
    frames = ops.mul(frames, w)
    total = n_fft + hop * (count - 1)
    positions = (np.arange(count)[:, None] * hop + np.arange(n_fft)[None, :]).reshape(-1)
    index = ops.constant(positions, dtypes.int64, like=frames)
    zeros = ops.zeros((frames.shape[0], total), dtype=frames.dtype)
    signal = zeros.index_add(1, index, ops.reshape(frames, (frames.shape[0], -1)))
    envelope_w = w.detach().numpy() if not w.dtype.is_complex else np.abs(w.detach().numpy())
    envelope = np.zeros(total, dtype=np.float64)
    np.add.at(envelope, positions, np.tile(envelope_w.astype(np.float64) ** 2, count))
    start = n_fft // 2 if center else 0
    end = total - (n_fft // 2 if center else 0) if length is None else start + int(length)
    used = envelope[start : min(end, total)]
    if used.size and used.min() < 1e-11:
        raise RuntimeError(
            f"istft(n_fft={n_fft}, hop_length={hop}, win_length={win}, center={int(center)}"
            f", normalized={int(normalized)}, onesided={onesided}, length={length}, "
            f"return_complex={int(return_complex)}) window overlap add min: "
            f"{int(np.argmin(used)) + 1}"
        )
    real = frames.dtype.to_real() if frames.dtype.is_complex else frames.dtype
    signal = ops.div(
        ops.narrow(signal, 1, start, min(end, total) - start),
        ops.constant(used.astype(real.np), real, like=frames),
    )
    if length is not None and signal.shape[-1] < int(length):
        signal = ops.pad_axes(signal, [(0, 0), (0, int(length) - signal.shape[-1])], 0)
    if not batched:
        signal = ops.squeeze(signal, 0)
    return signal
