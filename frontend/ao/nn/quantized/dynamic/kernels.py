"""The arithmetic of PyTorch's dynamic quantized linear layer (fbgemm, the x86 engine's):
the input is quantized to quint8 with a scale and zero point chosen from its own min and
max on every call, multiplied by the int8 weight with integer accumulation, rescaled to
float and the float bias added.

Reproducing fbgemm's steps (``ChooseQuantizationParams`` with ``reduce_range``, its
rounding, exact integer sums) gives PyTorch's outputs up to float32 rounding of the final
rescale (``acc * (input_scale * weight_scale) + bias``).
"""

from __future__ import annotations

import numpy as np

from ....quantized_tensor import fused_round

_SMALL_SCALE_THRESHOLD = 6.1e-5  # fbgemm's smallest input scale


def choose_quantization_params(x_min: float, x_max: float, qmin: int, qmax: int, reduce_range):
    """fbgemm's ``ChooseQuantizationParams`` (quant_utils.h): the (scale, zero_point) that
    maps ``[min(x_min, 0), max(x_max, 0)]`` onto ``[qmin, qmax]`` (halved with
    ``reduce_range``), scale computed in double and kept as float32, the zero point taken
    from whichever end loses less and rounded half to even."""
    if reduce_range:
        qmin, qmax = qmin // 2, qmax // 2
    low = min(np.float32(x_min), np.float32(0))
    high = max(np.float32(x_max), np.float32(0))
    scale = (float(high) - float(low)) / (qmax - qmin)
    if np.float32(scale) == 0 or np.isinf(np.float32(1) / np.float32(scale)):
        scale = 0.1
    if scale < _SMALL_SCALE_THRESHOLD:
        original = scale
        scale = _SMALL_SCALE_THRESHOLD
        if low == 0:
            high = np.float32(_SMALL_SCALE_THRESHOLD * (qmax - qmin))
        elif high == 0:
            low = np.float32(-_SMALL_SCALE_THRESHOLD * (qmax - qmin))
        else:
            amplifier = np.float32(_SMALL_SCALE_THRESHOLD / original)
            low, high = low * amplifier, high * amplifier
    scale32 = float(np.float32(scale))
    from_min = qmin - float(low) / scale
    from_max = qmax - float(high) / scale
    from_min_error = abs(qmin) - abs(float(low) / scale)
    from_max_error = abs(qmax) - abs(float(high) / scale)
    initial = from_min if from_min_error < from_max_error else from_max
    if initial < qmin:
        zero_point = qmin
    elif initial > qmax:
        zero_point = qmax
    else:
        zero_point = int(np.rint(initial))
    return scale32, zero_point


def quantize_input(rows: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """fbgemm's ``Quantize<uint8_t>`` of the input (as its A-matrix packing calls it):
    ``round_half_even(zero_point + x * (1 / scale))`` fused (``fused_round``), clamped
    to 0..255."""
    inverse = np.float32(1) / np.float32(scale)
    with np.errstate(invalid="ignore", over="ignore"):
        out = fused_round(rows, inverse, zero_point)
    return np.clip(out, 0, 255).astype(np.int64)


def linear_dynamic(x: np.ndarray, weight_int, weight_scale, weight_zero, bias, reduce_range):
    """``y = dequant(quant(x) @ weight_int.T) + bias`` over the last dimension of ``x``
    (float32); ``weight_scale``/``weight_zero`` are scalars or per output channel."""
    x = np.asarray(x, dtype=np.float32)
    flat = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
    if flat.size:
        x_min, x_max = float(flat.min()), float(flat.max())
    else:
        x_min = x_max = 0.0
    scale, zero = choose_quantization_params(x_min, x_max, 0, 255, reduce_range)
    xq = quantize_input(flat, scale, zero)
    wq = weight_int.astype(np.int64) - np.asarray(weight_zero, dtype=np.int64).reshape(-1, 1)
    acc = (xq - zero) @ wq.T  # exact: int64
    multiplier = (np.float32(scale) * np.asarray(weight_scale, dtype=np.float32)).astype(np.float32)
    out = acc.astype(np.float32) * multiplier
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float32)
    return out.astype(np.float32).reshape(*x.shape[:-1], weight_int.shape[0])
