"""Convolution and pooling of ``kiln.nn.functional``, built from slices and one matmul.

``conv2d`` is im2col: every kernel offset ``(i, j)`` is one strided slice of the padded
input; stacking the slices gives the columns ``(N, C, kh*kw, Ho, Wo)``, and a (grouped,
batched) matmul with the reshaped weight gives the output. Pooling takes the same slices
and reduces over the stacked axis. All of it is ordinary ops, so gradients and tracing
come for free.

>>> import kiln
>>> x = kiln.ones(1, 1, 3, 3)
>>> conv2d(x, kiln.ones(1, 1, 2, 2)).tolist()
[[[[4.0, 4.0], [4.0, 4.0]]]]
"""

from __future__ import annotations

import math

import numpy as np

import kiln
from kiln import ops

__all__ = [
    "conv1d",
    "conv2d",
    "unfold",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "max_pool1d",
    "avg_pool1d",
]


def _pair(value, name: str = "argument") -> tuple:
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) == 1:
        return (value[0], value[0])
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value}")
    return value


def _batched(input, name: str):
    """``(input as 4-D, whether it was unbatched)`` with PyTorch's error for other ranks."""
    if input.ndim == 4:
        return input, False
    if input.ndim == 3:
        return ops.unsqueeze(input, 0), True
    raise RuntimeError(
        f"Expected 3D (unbatched) or 4D (batched) input to {name}, but got "
        f"input of size: {list(input.shape)}"
    )


def _windows(x, kernel, stride, dilation, out_size):
    """``(N, C, kh*kw, Ho, Wo)``: one strided slice of ``x`` per kernel offset."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_size
    slices = []
    for i in range(kh):
        rows = ops.slice_axis(x, 2, i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            slices.append(ops.slice_axis(rows, 3, j * dw, j * dw + sw * (wo - 1) + 1, sw))
    return ops.stack(slices, 2)


def _same_padding(kernel, dilation):
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return pads


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D cross-correlation of ``input (N, C, H, W)`` with ``weight (O, C/groups, kh, kw)``.

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1 only).

    >>> conv2d(kiln.ones(1, 1, 4, 4), kiln.ones(2, 1, 3, 3), padding=1).shape
    kiln.Size([1, 2, 4, 4])
    """
    input, unbatched = _batched(input, "conv2d")
    if weight.ndim != 4:
        raise RuntimeError(
            f"conv2d: expected a 4-D weight (out_channels, in_channels/groups, "
            f"kH, kW), got size {list(weight.shape)}"
        )
    n, c, h, w = input.shape
    out_channels, c_per_group, kh, kw = weight.shape
    if c != c_per_group * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, "
            f"expected input{list(input.shape)} to have "
            f"{c_per_group * groups} channels, but got {c} channels instead"
        )
    if out_channels % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by "
            f"{groups} at dimension 0, but got weight of size "
            f"{list(weight.shape)} instead"
        )
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0), (0, 0)]
        elif padding == "same":
            if stride != (1, 1):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = _same_padding((kh, kw), dilation)
        else:
            raise ValueError(
                f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}"
            )
    else:
        ph, pw = _pair(padding, "padding")
        pads = [(ph, ph), (pw, pw)]
    if any(p for pair in pads for p in pair):
        input = ops.pad_axes(input, [(0, 0), (0, 0)] + pads, 0.0)
    hp, wp = input.shape[2], input.shape[3]
    eff_h, eff_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if hp < eff_h or wp < eff_w:
        raise RuntimeError(
            f"Calculated padded input size per channel: ({hp} x {wp}). Kernel "
            f"size: ({eff_h} x {eff_w}). Kernel size can't be greater than "
            "actual input size"
        )
    ho, wo = (hp - eff_h) // stride[0] + 1, (wp - eff_w) // stride[1] + 1
    columns = _windows(input, (kh, kw), stride, dilation, (ho, wo))
    columns = ops.reshape(columns, (n, groups, c_per_group * kh * kw, ho * wo))
    kernel = ops.reshape(weight, (groups, out_channels // groups, c_per_group * kh * kw))
    out = ops.reshape(ops.matmul(kernel, columns), (n, out_channels, ho, wo))
    if bias is not None:
        out = ops.add(out, ops.reshape(bias, (1, out_channels, 1, 1)))
    return ops.squeeze(out, 0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """1-D convolution of ``(N, C, L)`` with ``(O, C/groups, k)``, as a ``conv2d`` of height 1.

    >>> conv1d(kiln.ones(1, 1, 5), kiln.ones(1, 1, 3)).tolist()
    [[[3.0, 3.0, 3.0]]]
    """
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2D (unbatched) or 3D (batched) input to conv1d, but got "
            f"input of size: {list(input.shape)}"
        )

    def one(v):
        if isinstance(v, str):
            return v
        return (1, v) if isinstance(v, int) else (1, tuple(v)[0])

    pad = padding if isinstance(padding, str) else (0, _pair(padding)[0])
    out = conv2d(
        ops.unsqueeze(input, -2),
        ops.unsqueeze(weight, -2),
        bias,
        one(stride),
        pad,
        one(dilation),
        groups,
    )
    return ops.squeeze(out, -2)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: ``(N, C, H, W)`` -> ``(N, C*kh*kw, L)``, one column per output position.

    >>> unfold(kiln.ones(1, 2, 3, 3), 2).shape
    kiln.Size([1, 8, 4])
    """
    if input.ndim != 4:
        raise NotImplementedError(
            f"Input Error: Only 4D input Tensors are supported (got {input.ndim}D)"
        )
    kernel, dilation = _pair(kernel_size), _pair(dilation)
    padding, stride = _pair(padding), _pair(stride)
    if any(padding):
        input = ops.pad_axes(input, [(0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2], 0.0)
    n, c, hp, wp = input.shape
    ho = (hp - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wo = (wp - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    columns = _windows(input, kernel, stride, dilation, (ho, wo))
    return ops.reshape(columns, (n, c * kernel[0] * kernel[1], ho * wo))


# ------------------------------------------------------------------------------ pooling


def _pool_size(size, kernel, stride, pad, dilation, ceil_mode) -> int:
    """PyTorch's ``pooling_output_shape``."""
    numerator = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_geometry(name, input, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride)
    padding, dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
    for p, k, d in zip(padding, kernel, dilation):
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got "
                f"pad={p}, kernel_size={k} and dilation={d}"
            )
    h, w = input.shape[2], input.shape[3]
    out = tuple(
        _pool_size(s, k, st, p, d, ceil_mode)
        for s, k, st, p, d in zip((h, w), kernel, stride, padding, dilation)
    )
    if out[0] <= 0 or out[1] <= 0:
        raise RuntimeError(
            f"{name}: Given input size: ({input.shape[1]}x{h}x{w}). Calculated "
            f"output size: ({input.shape[1]}x{out[0]}x{out[1]}). Output size is "
            "too small"
        )
    # pad on the right as far as the last window reaches (ceil_mode may need more than p)
    pads = []
    for s, k, st, p, d, o in zip((h, w), kernel, stride, padding, dilation, out):
        reach = (o - 1) * st + d * (k - 1) + 1
        pads.append((p, max(reach - s - p, 0)))
    return kernel, stride, padding, dilation, out, pads


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """The maximum of each window; the gradient goes to the first maximum, as PyTorch.

    >>> max_pool2d(kiln.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    input, unbatched = _batched(input, "max_pool2d")
    kernel, stride, padding, dilation, out, pads = _pool_geometry(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    lowest = -math.inf if input.dtype.is_floating_point else int(np.iinfo(input.dtype.np).min)
    padded = (
        ops.pad_axes(input, [(0, 0), (0, 0)] + pads, lowest)
        if any(p for pair in pads for p in pair)
        else input
    )
    windows = _windows(padded, kernel, stride, dilation, out)  # (N, C, K, Ho, Wo)
    best = ops.argmax(windows, 2, keepdim=True)
    values = ops.squeeze(ops.gather(windows, 2, best), 2)
    if unbatched:
        values = ops.squeeze(values, 0)
    if not return_indices:
        return values
    positions = _window_positions(input.shape[2:], kernel, stride, padding, dilation, out)
    table = ops.expand(ops.constant(positions, kiln.int64, like=input), windows.shape)
    indices = ops.squeeze(ops.gather(table, 2, best), 2)
    return values, ops.squeeze(indices, 0) if unbatched else indices


def _window_positions(size, kernel, stride, padding, dilation, out) -> np.ndarray:
    """``(kh*kw, Ho, Wo)``: the flat input position ``row * W + col`` each window reads."""
    rows = (
        np.arange(out[0])[None, :] * stride[0]
        - padding[0]
        + np.arange(kernel[0])[:, None] * dilation[0]
    )  # (kh, Ho)
    cols = (
        np.arange(out[1])[None, :] * stride[1]
        - padding[1]
        + np.arange(kernel[1])[:, None] * dilation[1]
    )  # (kw, Wo)
    flat = rows[:, None, :, None] * size[1] + cols[None, :, None, :]
    return flat.reshape(kernel[0] * kernel[1], out[0], out[1])


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """The mean of each window (PyTorch's divisor rules for padding and ``ceil_mode``).

    >>> avg_pool2d(kiln.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    input, unbatched = _batched(input, "avg_pool2d")
    kernel, stride, padding, dilation, out, pads = _pool_geometry(
        "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode
    )
    padded = (
        ops.pad_axes(input, [(0, 0), (0, 0)] + pads, 0.0)
        if any(p for pair in pads for p in pair)
        else input
    )
    total = ops.sum(_windows(padded, kernel, stride, dilation, out), 2)
    if divisor_override:
        divisor = np.full(out, float(divisor_override))
    else:
        divisor = _avg_divisor(input.shape[2:], kernel, stride, padding, out, count_include_pad)
    result = ops.div(total, ops.constant(divisor, total.dtype, like=total))
    return ops.squeeze(result, 0) if unbatched else result


def _avg_divisor(size, kernel, stride, padding, out, count_include_pad) -> np.ndarray:
    """The divisor of every output position, exactly as PyTorch's CPU kernel computes it."""
    counts = []
    for axis in range(2):
        start = np.arange(out[axis]) * stride[axis] - padding[axis]
        end = np.minimum(start + kernel[axis], size[axis] + padding[axis])
        with_pad = end - start
        inside = np.minimum(end, size[axis]) - np.maximum(start, 0)
        counts.append(with_pad if count_include_pad else inside)
    return np.outer(counts[0], counts[1]).astype(np.float64)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """``(out, size)``: row ``i`` averages input ``[floor(i*size/out), ceil((i+1)*size/out))``."""
    matrix = np.zeros((out, size))
    for i in range(out):
        start = (i * size) // out
        end = -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (any input size), as ``A @ x @ B.T``.

    >>> adaptive_avg_pool2d(kiln.arange(16.0).reshape(1, 1, 4, 4), 1).tolist()
    [[[[7.5]]]]
    """
    input, unbatched = _batched(input, "adaptive_avg_pool2d")
    h, w = input.shape[2], input.shape[3]
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be 2, got {len(size)}")
    ho = h if size[0] is None else size[0]
    wo = w if size[1] is None else size[1]
    dtype = input.dtype if input.dtype.is_floating_point else kiln.get_default_dtype()
    rows = ops.constant(_adaptive_matrix(h, ho), dtype, like=input)
    cols = ops.constant(_adaptive_matrix(w, wo).T, dtype, like=input)
    out = ops.matmul(ops.matmul(rows, input), cols)
    return ops.squeeze(out, 0) if unbatched else out


def _as_2d_pool(fn, input, kernel_size, stride, padding, **kwargs):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{fn.__name__[:-2]}1d: expected 2D or 3D input, got {input.ndim}D")
    first = lambda v: v if isinstance(v, int) else tuple(v)[0]  # noqa: E731
    stride = None if stride is None else (1, first(stride))
    out = fn(
        ops.unsqueeze(input, -2), (1, first(kernel_size)), stride, (0, first(padding)), **kwargs
    )
    if isinstance(out, tuple):
        return tuple(ops.squeeze(o, -2) for o in out)
    return ops.squeeze(out, -2)


def max_pool1d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """``max_pool2d`` over the last axis of ``(N, C, L)``."""
    return _as_2d_pool(
        max_pool2d,
        input,
        kernel_size,
        stride,
        padding,
        dilation=(1, dilation if isinstance(dilation, int) else dilation[0]),
        ceil_mode=ceil_mode,
        return_indices=return_indices,
    )


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """``avg_pool2d`` over the last axis of ``(N, C, L)``."""
    return _as_2d_pool(
        avg_pool2d,
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )
