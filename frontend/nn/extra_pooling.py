"""The rest of PyTorch's pooling functions: power-average (``lp_pool1d/2d/3d``), the
inverses of max pooling (``max_unpool1d/3d``), the ``*_with_indices`` spellings, and
fractional max pooling (``fractional_max_pool2d/3d``, Graham 2014).

All are composites of kiln ops (pooling, ``gather``, ``scatter``), so they differentiate
and trace under ``kiln.jit``. Fractional max pooling draws its window offsets with kiln's
RNG unless ``_random_samples`` is given; with the same samples it picks exactly PyTorch's
windows (its interval formula, computed in the input's precision as PyTorch's kernel).

>>> import kiln
>>> lp_pool1d(kiln.tensor([[[3.0, 4.0]]]), 2, 2).tolist()
[[[5.0]]]
"""

from __future__ import annotations

import math

import numpy as np

import kiln
from kiln import ops
from kiln.memory_format import keeps_input_memory_format
from kiln.tracing import is_tracing

from . import convolution as C
from .activations import relu

__all__ = [
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_unpool1d",
    "max_unpool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]


# ------------------------------------------------------------------------------ lp pool


def _lp_finish(out, norm_type, count):
    """PyTorch's ``(sign(out) * relu(|out|)) * count) ** (1 / p)`` after the average."""
    out = ops.mul(ops.mul(ops.sign(out), relu(ops.abs(out))), count)
    return ops.pow(out, 1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
    """``(sum over each window of x ** p) ** (1 / p)`` over the last axis of ``(N, C, L)``.

    >>> lp_pool1d(kiln.tensor([[[1.0, 1.0, 2.0, 2.0]]]), 1, 2).tolist()
    [[[2.0, 4.0]]]
    """
    kernel = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
    out = C.avg_pool1d(ops.pow(input, norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, kernel)


@keeps_input_memory_format
def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
    """Power-average pooling over ``(kh, kw)`` windows of ``(N, C, H, W)``."""
    kh, kw = C._pair(kernel_size, "kernel_size")
    out = C.avg_pool2d(ops.pow(input, norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, kh * kw)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
    """Power-average pooling over ``(kd, kh, kw)`` windows of ``(N, C, D, H, W)``."""
    kernel = C._ntuple(kernel_size, 3, "kernel_size")
    out = C.avg_pool3d(ops.pow(input, norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, math.prod(kernel))


# ------------------------------------------------------------------------------ unpool


def _unpool_output_size(input, kernel, stride, padding, output_size):
    """PyTorch's ``_unpool_output_size`` (and its ``ValueError`` messages)."""
    nd = len(kernel)
    spatial = input.shape[-nd:]
    default = [(spatial[d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(nd)]
    if output_size is None:
        return default
    output_size = list(output_size)
    if len(output_size) == nd + 2:
        output_size = output_size[2:]
    if len(output_size) != nd:
        raise ValueError(
            f"output_size should be a sequence containing {nd} or {nd + 2} elements, but it "
            f"has a length of '{len(output_size)}'"
        )
    for d in range(nd):
        low, high = default[d] - stride[d], default[d] + stride[d]
        if not low < output_size[d] < high:
            raise ValueError(
                f'invalid output_size "{output_size}" (dim {d} must be between {low} and {high})'
            )
    return output_size


def _max_unpool(name, nd, input, indices, kernel_size, stride, padding, output_size):
    kernel = C._ntuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None else C._ntuple(stride, nd, "stride")
    padding = C._ntuple(padding, nd, "padding")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{name}: expected {nd + 1}D or {nd + 2}D input, but got input of size "
            f"{list(input.shape)}"
        )
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(
            f"{name}: expected shape of indices to be same as that of the input tensor "
            f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}"
        )
    if indices.dtype != kiln.int64:
        raise RuntimeError(f"{name}: expected indices to have type int64 but got {indices.dtype}")
    size = _unpool_output_size(input, kernel, stride, padding, output_size)
    unbatched = input.ndim == nd + 1
    if unbatched:
        input, indices = ops.unsqueeze(input, 0), ops.unsqueeze(indices, 0)
    n, c = input.shape[0], input.shape[1]
    length = math.prod(input.shape[2:])
    flat_values = ops.reshape(input, (n, c, length))
    flat_indices = ops.reshape(indices, (n, c, length))
    if not is_tracing() and length:  # the values are known: refuse what PyTorch refuses
        flat_known = flat_indices.detach().numpy()
        bad = flat_known[(flat_known < 0) | (flat_known >= math.prod(size))]
        if bad.size:
            raise RuntimeError(
                f"{name}: Found an invalid max index: {int(bad[0])} (output volumes are of "
                f"size {'x'.join(map(str, size))})"
            )
    zeros = kiln.zeros(n, c, math.prod(size), dtype=input.dtype, device=input.device)
    out = ops.reshape(ops.scatter(zeros, 2, flat_indices, flat_values), (n, c, *size))
    return ops.squeeze(out, 0) if unbatched else out


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of ``max_pool1d(return_indices=True)``: values back at their positions
    in a zero ``(N, C, L)``.

    >>> max_unpool1d(kiln.tensor([[[5.0]]]), kiln.tensor([[[1]]]), 2).tolist()
    [[[0.0, 5.0]]]
    """
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of ``max_pool3d(return_indices=True)``."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


# ------------------------------------------------------------------------ with indices


def max_pool1d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """``(values, indices)`` of ``max_pool1d`` (always both, as PyTorch)."""
    return C.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """``(values, indices)`` of ``max_pool2d`` (always both, as PyTorch)."""
    return C.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """``(values, indices)`` of ``max_pool3d`` (always both, as PyTorch)."""
    return C.max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """``(values, indices)`` of ``adaptive_max_pool1d``."""
    return C.adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """``(values, indices)`` of ``adaptive_max_pool2d``."""
    return C.adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    """``(values, indices)`` of ``adaptive_max_pool3d``."""
    return C.adaptive_max_pool3d(input, output_size, True)


# -------------------------------------------------------------------------- fractional


def _interval_starts(samples, size, out, kernel):
    """``(N, C, out)`` window starts along one axis: PyTorch's ``generate_intervals``,
    ``int((i + u) * alpha) - int(u * alpha)`` with ``alpha = (size - kernel) / (out - 1)``
    in the samples' precision, and the last window flush with the end."""
    n, c = samples.shape[0], samples.shape[1]
    last = ops.constant(np.full((n, c, 1), size - kernel, np.int64), kiln.int64, like=samples)
    if out == 1:
        return last
    real = np.dtype(samples.dtype.np).type
    alpha = real(size - kernel) / real(out - 1)
    steps = ops.constant(np.arange(out - 1, dtype=real), samples.dtype, like=samples)
    u = ops.unsqueeze(samples, -1)
    # the products are >= 0, so floor is C's truncation
    moved = ops.floor(ops.mul(ops.add(steps, u), ops.constant(alpha, samples.dtype)))
    offset = ops.floor(ops.mul(u, ops.constant(alpha, samples.dtype)))
    starts = ops.cast(ops.sub(moved, offset), kiln.int64)
    return ops.cat([starts, last], -1)


def _fractional_max_pool(name, nd, input, kernel_size, output_size, output_ratio, samples):
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    kernel = C._ntuple(kernel_size, nd, "kernel_size")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{name}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: {list(input.shape)}"
        )
    if output_size is None:
        ratio = (output_ratio,) * nd if isinstance(output_ratio, (int, float)) else output_ratio
        output_size = [int(input.shape[-nd + d] * float(ratio[d])) for d in range(nd)]
    out = C._ntuple(output_size, nd, "output_size")
    unbatched = input.ndim == nd + 1
    x = ops.unsqueeze(input, 0) if unbatched else input
    n, c, spatial = x.shape[0], x.shape[1], tuple(x.shape[2:])
    for d in range(nd):
        if out[d] + kernel[d] - 1 > spatial[d]:
            raise RuntimeError(
                f"{name}(): pool size {kernel[d]} too large relative to input size "
                f"{spatial[d]} and output size {out[d]} along spatial dimension {d}"
            )
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"\"{name}\" not implemented for '{x.dtype}'")
    if samples is None:
        samples = kiln.rand(n, c, nd, dtype=x.dtype)
    elif samples.ndim != 3 or samples.shape[0] < n or samples.shape[1:] != (c, nd):
        # (PyTorch takes the first N rows of a larger batch of samples)
        raise RuntimeError(
            f"{name}(): expected _random_samples of shape [>={n}, {c}, {nd}], "
            f"got {list(samples.shape)}"
        )
    elif samples.dtype != x.dtype:
        raise RuntimeError(
            f"{name}(): expected _random_samples of dtype {x.dtype}, got {samples.dtype}"
        )
    if samples.shape[0] > n:
        samples = samples[:n]
    # PyTorch's sample order: 2-D (w, h); 3-D (t, h, w)
    order = (1, 0) if nd == 2 else (0, 1, 2)
    flat = None
    for d in range(nd):
        starts = _interval_starts(samples[:, :, order[d]], spatial[d], out[d], kernel[d])
        # (N, C, *out, *kernel) positions along axis d, then flattened row-major
        shape = [n, c] + [out[a] if a == d else 1 for a in range(nd)] + [1] * nd
        along = ops.reshape(starts, shape)
        offsets = np.arange(kernel[d]).reshape(
            [1, 1] + [1] * nd + [-1 if a == d else 1 for a in range(nd)]
        )
        along = ops.add(along, ops.constant(offsets, kiln.int64, like=x))
        flat = along if flat is None else ops.add(ops.mul(flat, spatial[d]), along)
    positions = ops.reshape(
        ops.expand(flat, (n, c, *out, *kernel)), (n, c, math.prod(out) * math.prod(kernel))
    )
    values = ops.gather(ops.reshape(x, (n, c, math.prod(spatial))), 2, positions)
    values = ops.reshape(values, (n, c, math.prod(out), math.prod(kernel)))
    positions = ops.reshape(positions, values.shape)
    best = ops.argmax(values, 3, keepdim=True)
    result = ops.reshape(ops.squeeze(ops.gather(values, 3, best), 3), (n, c, *out))
    indices = ops.reshape(ops.squeeze(ops.gather(positions, 3, best), 3), (n, c, *out))
    if unbatched:
        result, indices = ops.squeeze(result, 0), ops.squeeze(indices, 0)
    return result, indices


def fractional_max_pool2d_with_indices(
    input,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
):
    """``(values, indices)`` of fractional max pooling over ``(N, C, H, W)``: windows of
    ``kernel_size`` at pseudo-random, increasing offsets giving ``output_size`` (or
    ``output_ratio`` of the input size)."""
    return _fractional_max_pool(
        "fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio, _random_samples
    )


def fractional_max_pool2d(
    input,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
):
    """Fractional max pooling of ``(N, C, H, W)``; ``(values, indices)`` with
    ``return_indices``."""
    values, indices = fractional_max_pool2d_with_indices(
        input, kernel_size, output_size, output_ratio, True, _random_samples
    )
    return (values, indices) if return_indices else values


def fractional_max_pool3d_with_indices(
    input,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
):
    """``(values, indices)`` of fractional max pooling over ``(N, C, D, H, W)``."""
    return _fractional_max_pool(
        "fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio, _random_samples
    )


def fractional_max_pool3d(
    input,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
):
    """Fractional max pooling of ``(N, C, D, H, W)``; ``(values, indices)`` with
    ``return_indices``."""
    values, indices = fractional_max_pool3d_with_indices(
        input, kernel_size, output_size, output_ratio, True, _random_samples
    )
    return (values, indices) if return_indices else values
