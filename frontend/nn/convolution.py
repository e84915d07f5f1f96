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

from ..dispatch import autocast_op
from ..memory_format import writes_contiguous

__all__ = [
    "conv1d",
    "conv2d",
    "unfold",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "max_pool1d",
    "avg_pool1d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "max_pool3d",
    "avg_pool3d",
    "max_unpool2d",
    "fold",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "interpolate",
    "upsample",
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
    if name == "max_pool2d":
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    raise RuntimeError(
        f"Expected 3D (unbatched) or 4D (batched) input to {name}, but got "
        f"input of size: {list(input.shape)}"
    )


def _check_conv_args(input, bias, padding):
    """PyTorch's refusals: a bias of another dtype than the input, a negative padding."""
    if bias is not None and bias.dtype is not input.dtype:
        raise RuntimeError(
            f"Input type ({input.dtype.name}) and bias type ({bias.dtype.name}) should be the same"
        )
    if not isinstance(padding, str):
        values = (padding,) if isinstance(padding, int) else tuple(padding)
        if any(p < 0 for p in values):
            raise RuntimeError("negative padding is not supported")


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


@autocast_op("lower")
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
    _check_conv_args(input, bias, padding)
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


@autocast_op("lower")
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


def _check_pool_args(kernel, stride, padding, dilation):
    """PyTorch's argument checks (RuntimeError) before any size arithmetic."""
    if any(k <= 0 for k in kernel):
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kernel: {list(kernel)}"
        )
    if any(st <= 0 for st in stride):
        raise RuntimeError(f"stride must be greater than zero, but got {min(stride)}")
    if any(p < 0 for p in padding):
        raise RuntimeError("pad must be non-negative")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")


def _pool_geometry(name, input, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride)
    padding, dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
    _check_pool_args(kernel, stride, padding, dilation)
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
    _nonempty_pool_input("max_pool2d", input, 2)
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


def _float16_in_float32(fn):
    """Run ``fn`` on a float16 input in float32 and round the result once, as PyTorch's
    CPU kernels accumulate float16 windows (a float16 running sum drifts)."""
    import functools

    @functools.wraps(fn)
    def wrapper(input, *args, **kwargs):
        if isinstance(input, kiln.Tensor) and input.dtype is kiln.float16:
            return ops.cast(fn(ops.cast(input, kiln.float32), *args, **kwargs), kiln.float16)
        return fn(input, *args, **kwargs)

    return wrapper


@_float16_in_float32
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
    _avg_check("avg_pool2d", input, divisor_override)
    kernel, stride, padding, dilation, out, pads = _pool_geometry(
        "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode
    )
    padded = (
        ops.pad_axes(input, [(0, 0), (0, 0)] + pads, 0.0)
        if any(p for pair in pads for p in pair)
        else input
    )
    total = ops.sum(_windows(padded, kernel, stride, dilation, out), 2)
    if divisor_override is not None:
        divisor = np.full(out, float(divisor_override))
    else:
        divisor = _avg_divisor(input.shape[2:], kernel, stride, padding, out, count_include_pad)
    result = _avg_divide(total, divisor)
    return ops.squeeze(result, 0) if unbatched else result


def _avg_check(name, input, divisor_override):
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{name}(): divisor must be not zero")
    dt = input.dtype
    if not (dt.is_floating_point or dt is kiln.int64):
        raise NotImplementedError(f"\"{name}\" not implemented for '{dt.name}'")


def _avg_divide(total, divisor):
    """``total / divisor``; an int64 pool divides as PyTorch's CPU kernel (truncating,
    int64 result)."""
    if total.dtype.is_floating_point:
        return ops.div(total, ops.constant(divisor, total.dtype, like=total))
    d = ops.constant(divisor.astype(np.int64), kiln.int64, like=total)
    return ops.div(total, d, rounding_mode="trunc")


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


@_float16_in_float32
def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (any input size), as ``A @ x @ B.T``.

    >>> adaptive_avg_pool2d(kiln.arange(16.0).reshape(1, 1, 4, 4), 1).tolist()
    [[[[7.5]]]]
    """
    _check_adaptive_size("adaptive_avg_pool2d", input, 2, output_size)
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


# ------------------------------------------------------------------------------ N-d


def _ntuple(value, n: int, name: str = "argument") -> tuple:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value}")
    return value


def _nonempty_pool_input(name, input, nd):
    """PyTorch's max pools take an empty batch only: an unbatched input, or a batched
    one's channel or spatial dimension, of size 0 is refused."""
    shape = tuple(input.shape)
    inner = shape if len(shape) == nd + 1 else shape[1:]
    if len(shape) in (nd + 1, nd + 2) and 0 in inner:
        raise RuntimeError(
            f"{name}: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with optional 0 dim "
            f"batch size for input, but got: {list(shape)}"
        )


def _batched_nd(input, nd: int, name: str):
    if input.ndim == nd + 2:
        return input, False
    if input.ndim == nd + 1:
        return ops.unsqueeze(input, 0), True
    raise RuntimeError(
        f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
        f"input of size: {list(input.shape)}"
    )


def _windows_nd(x, kernel, stride, dilation, out_size):
    """``(N, C, prod(kernel), *out)``: one strided slice of ``x`` per kernel offset."""
    slices = []
    for offset in np.ndindex(*kernel):
        y = x
        for axis, (i, s, d, o) in enumerate(zip(offset, stride, dilation, out_size)):
            y = ops.slice_axis(y, 2 + axis, i * d, i * d + s * (o - 1) + 1, s)
        slices.append(y)
    return ops.stack(slices, 2)


def _convnd(name, nd, input, weight, bias, stride, padding, dilation, groups):
    input, unbatched = _batched_nd(input, nd, name)
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{name}: expected a {nd + 2}-D weight, got size {list(weight.shape)}")
    n, c = input.shape[:2]
    out_channels, c_per_group = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    _check_conv_args(input, bias, padding)
    if c != c_per_group * groups or out_channels % groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {c_per_group * groups} channels, but got "
            f"{c} channels instead"
        )
    stride, dilation = _ntuple(stride, nd, "stride"), _ntuple(dilation, nd, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = _same_padding(kernel, dilation)
        else:
            raise ValueError(
                f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}"
            )
    else:
        pads = [(p, p) for p in _ntuple(padding, nd, "padding")]
    if any(p for pair in pads for p in pair):
        input = ops.pad_axes(input, [(0, 0), (0, 0)] + pads, 0.0)
    spatial = input.shape[2:]
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if any(s < e for s, e in zip(spatial, effective)):
        raise RuntimeError(
            f"{name}: Calculated padded input size per channel: {tuple(spatial)}. Kernel "
            f"size: {tuple(effective)}. Kernel size can't be greater than actual input size"
        )
    out = tuple((s - e) // st + 1 for s, e, st in zip(spatial, effective, stride))
    k = math.prod(kernel)
    columns = _windows_nd(input, kernel, stride, dilation, out)
    columns = ops.reshape(columns, (n, groups, c_per_group * k, math.prod(out)))
    w = ops.reshape(weight, (groups, out_channels // groups, c_per_group * k))
    result = ops.reshape(ops.matmul(w, columns), (n, out_channels, *out))
    if bias is not None:
        result = ops.add(result, ops.reshape(bias, (1, out_channels) + (1,) * nd))
    return ops.squeeze(result, 0) if unbatched else result


@autocast_op("lower")
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """3-D cross-correlation of ``(N, C, D, H, W)`` with ``(O, C/groups, kd, kh, kw)``.

    >>> conv3d(kiln.ones(1, 1, 3, 3, 3), kiln.ones(1, 1, 2, 2, 2)).shape
    kiln.Size([1, 1, 2, 2, 2])
    """
    return _convnd("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


_CONV = {1: conv1d, 2: conv2d, 3: conv3d}


def _conv_transpose(
    nd, input, weight, bias, stride, padding, output_padding, groups, dilation, name
):
    """The gradient of a convolution with respect to its input, written as a convolution:
    insert ``stride - 1`` zeros between inputs, pad by ``dilation * (k - 1) - padding``
    (``output_padding`` more on the far side) and correlate with the flipped kernel whose
    in/out channels are swapped per group."""
    input, unbatched = _batched_nd(input, nd, name)
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{name}: expected a {nd + 2}-D weight, got size {list(weight.shape)}")
    c_in, c_out_per_group = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if input.shape[1] != c_in or c_in % groups:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {c_in} channels, but got {input.shape[1]} "
            "channels instead"
        )
    stride = _ntuple(stride, nd, "stride")
    padding = _ntuple(padding, nd, "padding")
    output_padding = _ntuple(output_padding, nd, "output_padding")
    dilation = _ntuple(dilation, nd, "dilation")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise RuntimeError(
                f"output padding must be smaller than either stride or dilation, but got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    x = input
    for axis, s in enumerate(stride):
        if s > 1:  # zero-insertion: (.., L) -> (.., L, s) -> (.., L*s) -> drop the tail
            a = 2 + axis
            length = x.shape[a]
            y = ops.unsqueeze(x, a + 1)
            pads = [(0, 0)] * y.ndim
            pads[a + 1] = (0, s - 1)
            y = ops.pad_axes(y, pads, 0.0)
            shape = list(x.shape)
            shape[a] = length * s
            x = ops.slice_axis(ops.reshape(y, shape), a, 0, max((length - 1) * s + 1, 0))
    flat_pads = []
    for k, d, p, op in reversed(list(zip(kernel, dilation, padding, output_padding))):
        edge = d * (k - 1) - p
        flat_pads += [edge, edge + op]
    x = _pad_constant_nd(x, flat_pads)
    g = groups
    w = ops.reshape(weight, (g, c_in // g, c_out_per_group, *kernel))
    w = ops.transpose(w, 1, 2)
    w = ops.reshape(w, (g * c_out_per_group, c_in // g, *kernel))
    w = ops.flip(w, tuple(range(2, 2 + nd)))
    out = _CONV[nd](x, w, bias, 1, 0, dilation, groups)
    return ops.squeeze(out, 0) if unbatched else out


def _pad_constant_nd(x, flat_pads):
    """``F.pad`` with constant zeros (negative pads crop), without importing functional."""
    pairs = [(0, 0)] * x.ndim
    for k in range(len(flat_pads) // 2):
        pairs[x.ndim - 1 - k] = (flat_pads[2 * k], flat_pads[2 * k + 1])
    for axis, (left, right) in enumerate(pairs):
        if left < 0 or right < 0:
            n = x.shape[axis]
            x = ops.slice_axis(x, axis, max(-left, 0), n - max(-right, 0))
    positive = [(max(a, 0), max(b, 0)) for a, b in pairs]
    if any(a or b for a, b in positive):
        x = ops.pad_axes(x, positive, 0.0)
    return x


@autocast_op("lower")
def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed 1-D convolution; weight ``(in, out/groups, k)``.

    >>> conv_transpose1d(kiln.ones(1, 1, 3), kiln.ones(1, 1, 2), stride=2).tolist()
    [[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]]
    """
    return _conv_transpose(
        1,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        "conv_transpose1d",
    )


@autocast_op("lower")
def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed 2-D convolution; weight ``(in, out/groups, kh, kw)``."""
    return _conv_transpose(
        2,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        "conv_transpose2d",
    )


@autocast_op("lower")
def conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed 3-D convolution; weight ``(in, out/groups, kd, kh, kw)``."""
    return _conv_transpose(
        3,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        "conv_transpose3d",
    )


def _pool_geometry_nd(name, input, nd, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = _ntuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None or stride in ([], ()) else _ntuple(stride, nd, "stride")
    padding, dilation = _ntuple(padding, nd, "padding"), _ntuple(dilation, nd, "dilation")
    _check_pool_args(kernel, stride, padding, dilation)
    for p, k, d in zip(padding, kernel, dilation):
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got "
                f"pad={p}, kernel_size={k} and dilation={d}"
            )
    spatial = input.shape[2:]
    out = tuple(
        _pool_size(s, k, st, p, d, ceil_mode)
        for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation)
    )
    if any(o <= 0 for o in out):
        raise RuntimeError(
            f"{name}: Given input size: {tuple(input.shape[1:])}. Calculated output size: "
            f"{(input.shape[1], *out)}. Output size is too small"
        )
    pads = []
    for s, k, st, p, d, o in zip(spatial, kernel, stride, padding, dilation, out):
        reach = (o - 1) * st + d * (k - 1) + 1
        pads.append((p, max(reach - s - p, 0)))
    return kernel, stride, padding, dilation, out, pads


@autocast_op("fp32")
def max_pool3d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """The maximum of each ``(kd, kh, kw)`` window of ``(N, C, D, H, W)``.

    >>> max_pool3d(kiln.arange(8.0).reshape(1, 1, 2, 2, 2), 2).tolist()
    [[[[[7.0]]]]]
    """
    _nonempty_pool_input("max_pool3d", input, 3)
    input, unbatched = _batched_nd(input, 3, "max_pool3d")
    kernel, stride, padding, dilation, out, pads = _pool_geometry_nd(
        "max_pool3d", input, 3, kernel_size, stride, padding, dilation, ceil_mode
    )
    lowest = -math.inf if input.dtype.is_floating_point else int(np.iinfo(input.dtype.np).min)
    padded = input
    if any(p for pair in pads for p in pair):
        padded = ops.pad_axes(input, [(0, 0), (0, 0)] + pads, lowest)
    windows = _windows_nd(padded, kernel, stride, dilation, out)
    best = ops.argmax(windows, 2, keepdim=True)
    values = ops.squeeze(ops.gather(windows, 2, best), 2)
    if return_indices:
        positions = _window_positions_nd(input.shape[2:], kernel, stride, padding, dilation, out)
        table = ops.expand(ops.constant(positions, kiln.int64, like=input), windows.shape)
        indices = ops.squeeze(ops.gather(table, 2, best), 2)
        if unbatched:
            values, indices = ops.squeeze(values, 0), ops.squeeze(indices, 0)
        return values, indices
    return ops.squeeze(values, 0) if unbatched else values


def _window_positions_nd(size, kernel, stride, padding, dilation, out) -> np.ndarray:
    """``(prod(kernel), *out)``: the flat input position each window element reads."""
    table = np.zeros((math.prod(kernel), *out), np.int64)
    grids = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
    for k, offset in enumerate(np.ndindex(*kernel)):
        flat = np.zeros(out, np.int64)
        for axis, (i, s, p, d, n) in enumerate(zip(offset, stride, padding, dilation, size)):
            flat = flat * n + grids[axis] * s - p + i * d
        table[k] = flat
    return table


@autocast_op("fp32")
@_float16_in_float32
@writes_contiguous
def avg_pool3d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """The mean of each ``(kd, kh, kw)`` window (PyTorch's divisor rules)."""
    input, unbatched = _batched_nd(input, 3, "avg_pool3d")
    _avg_check("avg_pool3d", input, divisor_override)
    kernel, stride, padding, dilation, out, pads = _pool_geometry_nd(
        "avg_pool3d", input, 3, kernel_size, stride, padding, 1, ceil_mode
    )
    padded = input
    if any(p for pair in pads for p in pair):
        padded = ops.pad_axes(input, [(0, 0), (0, 0)] + pads, 0.0)
    total = ops.sum(_windows_nd(padded, kernel, stride, dilation, out), 2)
    if divisor_override is not None:
        divisor = np.full(out, float(divisor_override))
    else:
        counts = []
        for axis in range(3):
            start = np.arange(out[axis]) * stride[axis] - padding[axis]
            end = np.minimum(start + kernel[axis], input.shape[2 + axis] + padding[axis])
            inside = np.minimum(end, input.shape[2 + axis]) - np.maximum(start, 0)
            counts.append(end - start if count_include_pad else inside)
        divisor = np.einsum("i,j,k->ijk", *counts).astype(np.float64)
    result = _avg_divide(total, divisor)
    return ops.squeeze(result, 0) if unbatched else result


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of ``max_pool2d(return_indices=True)``: each value goes back to its
    position in a zero ``(N, C, H, W)``."""
    input, unbatched = _batched(input, "max_unpool2d")
    if unbatched:
        indices = ops.unsqueeze(indices, 0)
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    n, c, h, w = input.shape
    if output_size is None:
        size = tuple((d - 1) * s - 2 * p + k for d, s, p, k in zip((h, w), stride, padding, kernel))
    else:
        size = tuple(output_size)[-2:]
    flat_values = ops.reshape(input, (n, c, h * w))
    flat_indices = ops.reshape(indices, (n, c, h * w))
    zeros = kiln.zeros(n, c, size[0] * size[1], dtype=input.dtype, device=input.device)
    out = ops.reshape(ops.scatter(zeros, 2, flat_indices, flat_values), (n, c, *size))
    return ops.squeeze(out, 0) if unbatched else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of ``unfold``: ``(N, C*kh*kw, L)`` -> ``(N, C, H, W)``, summing
    where windows overlap."""
    unbatched = input.ndim == 2
    if unbatched:
        input = ops.unsqueeze(input, 0)
    if input.ndim != 3:
        raise RuntimeError(
            f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
            f"(got {input.ndim}D)"
        )
    size, kernel = _pair(output_size), _pair(kernel_size)
    dilation, padding, stride = _pair(dilation), _pair(padding), _pair(stride)
    n, ckk, length = input.shape
    k = kernel[0] * kernel[1]
    if ckk % k:
        raise RuntimeError(
            f"Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={ckk} and kernel_size={kernel}"
        )
    c = ckk // k
    padded = [s + 2 * p for s, p in zip(size, padding)]
    out = [
        (pd - d * (kk - 1) - 1) // st + 1 for pd, d, kk, st in zip(padded, dilation, kernel, stride)
    ]
    if out[0] * out[1] != length:
        raise RuntimeError(
            f"Given output_size={size}, kernel_size={kernel}, dilation={dilation}, "
            f"padding={padding}, stride={stride}, expected size of input's dimension 2 to "
            f"match the calculated number of sliding blocks {out[0]} * {out[1]} = "
            f"{out[0] * out[1]}, but got input.size(2)={length}."
        )
    cols = ops.reshape(input, (n, c, kernel[0], kernel[1], out[0], out[1]))
    total = None
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            piece = cols[:, :, i, j]
            placed = _place_strided(piece, (i * dilation[0], j * dilation[1]), stride, padded)
            total = placed if total is None else ops.add(total, placed)
    total = ops.slice_axis(total, 2, padding[0], padding[0] + size[0])
    total = ops.slice_axis(total, 3, padding[1], padding[1] + size[1])
    return ops.squeeze(total, 0) if unbatched else total


def _place_strided(piece, start, stride, size):
    """A zero ``(N, C, *size)`` holding ``piece`` at ``start + stride * position``."""
    x = piece
    for axis in range(2):
        a = 2 + axis
        s, length = stride[axis], x.shape[a]
        if s > 1:
            y = ops.unsqueeze(x, a + 1)
            pads = [(0, 0)] * y.ndim
            pads[a + 1] = (0, s - 1)
            shape = list(x.shape)
            shape[a] = length * s
            x = ops.reshape(ops.pad_axes(y, pads, 0.0), shape)
            x = ops.slice_axis(x, a, 0, (length - 1) * s + 1)
        pads = [(0, 0)] * x.ndim
        pads[a] = (start[axis], size[axis] - start[axis] - x.shape[a])
        x = ops.pad_axes(x, pads, 0.0)
    return x


# ------------------------------------------------------------------------------ adaptive


def _check_adaptive_size(name, input, nd, output_size):
    """PyTorch's refusals of an output size: a list as long as the input's dimensions
    (ValueError, from F's ``_list_with_default``), of the wrong length, or negative."""
    if not isinstance(output_size, (list, tuple)):
        if isinstance(output_size, int) and output_size < 0:
            raise RuntimeError(
                f"{name}: elements of output_size must be greater than or equal to 0 but "
                f"received {output_size}"
            )
        return
    if nd > 1 and isinstance(input, kiln.Tensor) and input.ndim <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
    if len(output_size) not in ((1, nd) if nd == 1 else (nd,)):
        raise RuntimeError(f"{name}: output_size must be {nd}, got {len(output_size)}")
    if any(s is not None and s < 0 for s in output_size):
        raise RuntimeError(
            f"{name}: elements of output_size must be greater than or equal to 0 but "
            f"received {list(output_size)}"
        )


def _adaptive_size(name, input, nd, output_size):
    size = _ntuple(output_size, nd, "output_size") if output_size is not None else None
    if size is None or len(size) != nd:
        raise ValueError(f"{name}: output_size must have {nd} elements, got {output_size}")
    return tuple(input.shape[2 + i] if s is None else s for i, s in enumerate(size))


def _adaptive_avg(name, input, nd, output_size):
    if isinstance(input, kiln.Tensor) and input.dtype is kiln.float16:  # float32 accumulation
        wide = _adaptive_avg(name, ops.cast(input, kiln.float32), nd, output_size)
        return ops.cast(wide, kiln.float16)
    _check_adaptive_size(name, input, nd, output_size)
    input, unbatched = _batched_nd(input, nd, name)
    size = _adaptive_size(name, input, nd, output_size)
    dtype = input.dtype if input.dtype.is_floating_point else kiln.get_default_dtype()
    x = ops.cast(input, dtype)
    for axis, o in enumerate(size):
        a = 2 + axis
        matrix = ops.constant(_adaptive_matrix(x.shape[a], o).T, dtype, like=x)
        x = ops.movedim(ops.matmul(ops.movedim(x, a, -1), matrix), -1, a)
    return ops.squeeze(x, 0) if unbatched else x


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of ``(N, C, L)`` to ``output_size`` (PyTorch's bins)."""
    return _adaptive_avg("adaptive_avg_pool1d", input, 1, output_size)


@autocast_op("fp32")
def adaptive_avg_pool3d(input, output_size):
    """Average pooling of ``(N, C, D, H, W)`` to ``output_size`` (PyTorch's bins)."""
    return _adaptive_avg("adaptive_avg_pool3d", input, 3, output_size)


def _adaptive_max(name, input, nd, output_size, return_indices):
    """The maximum over each adaptive bin: one bin per output position, reduced axis by
    axis (a box maximum is separable); indices come from comparing with the input."""
    _check_adaptive_size(name, input, nd, output_size)
    input, unbatched = _batched_nd(input, nd, name)
    size = _adaptive_size(name, input, nd, output_size)
    if any(input.shape[2 + i] == 0 for i in range(nd)):
        raise RuntimeError(f"{name}: input of size {list(input.shape)} has an empty dimension")
    x = input
    for axis, o in enumerate(size):
        a = 2 + axis
        n = x.shape[a]
        bins = []
        for i in range(o):
            start, end = (i * n) // o, -(-((i + 1) * n) // o)
            bins.append(ops.amax(ops.slice_axis(x, a, start, end), a, keepdim=True))
        x = ops.cat(bins, a)
    values = ops.squeeze(x, 0) if unbatched else x
    if not return_indices:
        return values
    indices = _adaptive_max_indices(input, size, x)
    return values, ops.squeeze(indices, 0) if unbatched else indices


def _adaptive_max_indices(input, size, values):
    """The flat position of the first maximum in each bin, as PyTorch returns."""
    nd = len(size)
    spatial = input.shape[2:]
    lead = tuple(input.shape[:2])
    flat_in = ops.reshape(input, lead + (-1,))
    positions = np.arange(math.prod(spatial)).reshape(spatial)
    picks = []
    for out_index in np.ndindex(*size):
        box = tuple(
            slice((i * n) // o, -(-((i + 1) * n) // o)) for i, n, o in zip(out_index, spatial, size)
        )
        members = positions[box].reshape(-1)
        taken = ops.index_select(flat_in, 2, ops.constant(members, kiln.int64, like=input))
        best = ops.argmax(taken, 2, keepdim=True)
        table = ops.expand(ops.constant(members, kiln.int64, like=input), taken.shape)
        picks.append(ops.gather(table, 2, best))
    del nd, values
    return ops.reshape(ops.cat(picks, 2), lead + tuple(size))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling of ``(N, C, L)`` to ``output_size``."""
    return _adaptive_max("adaptive_max_pool1d", input, 1, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling of ``(N, C, H, W)`` to ``output_size``."""
    return _adaptive_max("adaptive_max_pool2d", input, 2, output_size, return_indices)


@autocast_op("fp32")
def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling of ``(N, C, D, H, W)`` to ``output_size``."""
    return _adaptive_max("adaptive_max_pool3d", input, 3, output_size, return_indices)


# ------------------------------------------------------------------------------ resize

_INTERPOLATE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3, "lanczos": 2}


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    """Resize the spatial axes of ``(N, C, *spatial)``: ``nearest``, ``nearest-exact``,
    ``linear``/``bilinear``/``trilinear``/``bicubic`` (``align_corners``) and ``area``,
    with PyTorch's source-index rules (a given ``scale_factor`` sets the scale unless
    recomputed).

    Each axis is resized on its own (these modes are separable): ``nearest`` takes
    indices, the linear and cubic modes multiply by an ``(out, in)`` interpolation matrix.
    ``antialias=True`` (``bilinear``, ``bicubic`` and ``lanczos``, 4-D float input) uses
    PyTorch's (PIL's) antialiased weights: when downsampling, the filter is widened by the
    scale factor so every input contributes. The matrices are constants, so gradients and
    ``kiln.jit`` come from the matmul.

    >>> interpolate(kiln.tensor([[[1.0, 2.0]]]), scale_factor=2, mode="linear").tolist()
    [[[1.0, 1.25, 1.75, 2.0]]]
    """
    if input.dtype is kiln.float16 and mode in ("bilinear", "area") and not antialias:
        # PyTorch's CPU kernels for these compute float16 in float32 and round once
        wide = interpolate(
            ops.cast(input, kiln.float32), size, scale_factor, mode, align_corners,
            recompute_scale_factor, antialias,
        )  # fmt: skip
        return ops.cast(wide, kiln.float16)
    nd = input.ndim - 2
    if nd < 1:
        raise ValueError(f"interpolate: expected a batched input of 3 to 5 dims, got {input.ndim}")
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
            "requires a 4-D tensor as input"
        )
    if mode in _INTERPOLATE_DIMS and _INTERPOLATE_DIMS[mode] != nd:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs {_INTERPOLATE_DIMS[mode] + 2}D input"
        )
    if mode not in ("nearest", "nearest-exact", "area", *_INTERPOLATE_DIMS):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported by kiln")
    if mode == "lanczos" and align_corners:
        raise ValueError("Lanczos mode does not support align_corners=True")
    if mode == "lanczos" and not antialias:
        raise ValueError("Lanczos mode requires antialias=True")
    fixed_point = input.dtype is kiln.uint8 and mode in ("bilinear", "bicubic") and nd == 2
    if not input.dtype.is_floating_point and not mode.startswith("nearest") and not fixed_point:
        # PyTorch refuses these too, but for uint8 (bi)linear/bicubic, which it computes
        # in fixed point: an integer interpolation matrix would silently truncate weights
        what = f"{mode}{' with antialias=True' if antialias else ''}"
        raise NotImplementedError(
            f"interpolate: mode {what} of {input.dtype.name} tensors is not supported by "
            "kiln (PyTorch computes uint8 in fixed point, other integers not at all); cast "
            "the input to a floating point dtype"
        )
    if align_corners is not None and mode not in _INTERPOLATE_DIMS:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    align_corners = bool(align_corners)
    spatial = tuple(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        out = _ntuple(size, nd, "size")
        scales = [None] * nd
    else:
        factors = (
            (float(scale_factor),) * nd
            if isinstance(scale_factor, (int, float))
            else tuple(map(float, scale_factor))
        )
        if len(factors) != nd:
            raise ValueError(f"scale_factor must have {nd} elements, got {scale_factor}")
        out = tuple(int(math.floor(s * f)) for s, f in zip(spatial, factors))
        scales = [None if recompute_scale_factor else f for f in factors]
    if mode == "area":
        if any(n == 0 for n in spatial):
            empty = next(i for i, n in enumerate(spatial) if n == 0) + 2
            raise RuntimeError(
                f"adaptive_avg_pool{nd}d(): Expected input to have non-zero size for non-batch "
                f"dimensions, but input has sizes {list(input.shape)} with dimension {empty} "
                "being empty"
            )
        return _adaptive_avg("interpolate", input, nd, out)
    if any(n <= 0 for n in spatial) or any(o <= 0 for o in out):
        names = "DHW"[3 - nd :]
        shown_in = ", ".join(f"{c}: {n}" for c, n in zip(names, spatial))
        shown_out = ", ".join(f"{c}: {o}" for c, o in zip(names, out))
        raise RuntimeError(
            "Input and output sizes should be greater than 0, but got input "
            f"({shown_in}){' and' if nd == 1 else ''} output ({shown_out})"
        )
    # PyTorch leaves an axis whose size does not change as it is, whatever scale_factor
    # says, in these modes (not in bicubic without antialias, nearest-exact, or nearest
    # of 1 or 3 spatial axes)
    keeps = (
        antialias or mode in ("linear", "bilinear", "trilinear") or (mode == "nearest" and nd == 2)
    )
    if fixed_point:  # PyTorch's uint8 kernels round after each axis, in fixed point
        from .extra_functional import _interpolate_uint8

        return _interpolate_uint8(input, spatial, out, scales, align_corners, mode, antialias)
    x = input
    for axis in range(nd):
        a = 2 + axis
        n, o = spatial[axis], out[axis]
        if keeps and n == o:
            continue
        if mode.startswith("nearest"):
            index = _nearest_index(n, o, scales[axis], mode == "nearest-exact")
            x = ops.index_select(x, a, ops.constant(index, kiln.int64, like=x))
        else:
            if antialias:
                matrix = _antialias_matrix(n, o, scales[axis], align_corners, mode, x.dtype)
            else:
                make = _cubic_matrix if mode == "bicubic" else _linear_matrix
                matrix = make(n, o, scales[axis], align_corners)
            # the last two axes multiply in place (no transposes around the matmul)
            if a == x.ndim - 1:
                x = ops.matmul(x, ops.constant(matrix.T, x.dtype, like=x))
            elif a == x.ndim - 2:
                x = ops.matmul(ops.constant(matrix, x.dtype, like=x), x)
            else:
                m = ops.constant(matrix.T, x.dtype, like=x)
                x = ops.movedim(ops.matmul(ops.movedim(x, a, -1), m), -1, a)
    return x


def _scale(n, o, scale, align_corners):
    if align_corners:
        return (n - 1) / (o - 1) if o > 1 else 0.0
    return 1.0 / scale if scale else n / o


def _nearest_index(n, o, scale, exact) -> np.ndarray:
    s = np.float32(_scale(n, o, scale, False))  # PyTorch computes the index in float
    dst = np.arange(o, dtype=np.float32)
    src = np.floor((dst + np.float32(0.5)) * s) if exact else np.floor(dst * s)
    return np.minimum(src.astype(np.int64), n - 1)


def _linear_matrix(n, o, scale, align_corners) -> np.ndarray:
    s = _scale(n, o, scale, align_corners)
    dst = np.arange(o, dtype=np.float64)
    src = dst * s if align_corners else np.maximum((dst + 0.5) * s - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    frac = src - lo
    matrix = np.zeros((o, n))
    np.add.at(matrix, (np.arange(o), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(o), hi), frac)
    return matrix


# PyTorch's cubic convolution kernel (Keys, a = -0.75, as OpenCV)
_CUBIC_A = -0.75


def _cubic_near(x):
    """The kernel for ``|x| <= 1``."""
    a = _CUBIC_A
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic_far(x):
    """The kernel for ``1 < |x| < 2``."""
    a = _CUBIC_A
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _cubic_matrix(n, o, scale, align_corners) -> np.ndarray:
    """PyTorch's bicubic weights along one axis: the four taps around the source position
    (not clamped below 0, unlike the linear modes), indices clamped to the edges."""
    s = _scale(n, o, scale, align_corners)
    dst = np.arange(o, dtype=np.float64)
    src = dst * s if align_corners else (dst + 0.5) * s - 0.5
    floor = np.floor(src)
    t = src - floor
    weights = np.stack([_cubic_far(t + 1), _cubic_near(t), _cubic_near(1 - t), _cubic_far(2 - t)])
    matrix = np.zeros((o, n))
    for k in range(4):
        index = np.clip(floor.astype(np.int64) - 1 + k, 0, n - 1)
        np.add.at(matrix, (np.arange(o), index), weights[k])
    return matrix


def _aa_linear(x):
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0).astype(x.dtype)


def _aa_cubic(x):
    """Keys' kernel with ``a = -0.5`` (PyTorch's antialiased bicubic, as PIL)."""
    x = np.abs(x)
    a = x.dtype.type(-0.5)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0)).astype(x.dtype)


def _aa_lanczos(x):
    """Lanczos-3, ``sinc(x) sinc(x / 3)`` on ``[-3, 3)`` (PIL's, as PyTorch)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        px = np.pi * x.astype(np.float64)
        sinc = np.where(x == 0, 1.0, np.sin(px) / px)
        sinc3 = np.where(x == 0, 1.0, np.sin(px / 3) / (px / 3))
    return np.where((x >= -3.0) & (x < 3.0), sinc * sinc3, 0.0).astype(x.dtype)


def _antialias_matrix(n, o, scale, align_corners, mode, dtype) -> np.ndarray:
    """PyTorch's ``_upsample_{bilinear,bicubic,lanczos}2d_aa`` weights along one axis (PIL's
    resampling): output ``i`` averages the inputs within ``support`` of the center
    ``scale * (i + 0.5)``, weighted by the filter stretched by ``scale`` when
    downsampling, and normalized to sum to 1. Computed in the input's precision (float32
    below float64), as PyTorch does, so the windows' integer bounds agree."""
    real = np.float64 if dtype.itemsize >= 8 else np.float32
    s = real(_scale(n, o, scale, align_corners))
    taps, kernel = {
        "bilinear": (2, _aa_linear),
        "bicubic": (4, _aa_cubic),
        "lanczos": (6, _aa_lanczos),
    }[mode]
    support = real(taps * 0.5) * s if s >= 1.0 else real(taps * 0.5)
    invscale = real(1.0) / s if s >= 1.0 else real(1.0)
    max_size = int(math.ceil(support)) * 2 + 1
    half = real(0.5)
    matrix = np.zeros((o, n), dtype=np.float64)
    for i in range(o):
        center = s * (real(i) + half)
        lo = max(int(center - support + half), 0)
        size = min(int(center + support + half), n) - lo
        size = min(max(size, 0), max_size)
        j = np.arange(size).astype(real)
        w = kernel((j + real(lo) - center + half) * invscale)
        total = real(0.0)
        for value in w:  # summed in order, as the kernel does
            total = real(total + value)
        if total != 0.0:
            w = w / total
        matrix[i, lo : lo + size] = w
    return matrix


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)
