"""Normalization of ``kiln.nn.functional``: ``layer_norm``, ``batch_norm``, ``group_norm``.

``batch_norm`` in training mode updates the running statistics *in place* under
``no_grad`` (``running_mean.mul_(1 - m).add_(m * mean)``): eagerly that writes the buffer,
and under ``kiln.jit`` the in-place update of a captured tensor becomes a write-back, so a
compiled training step keeps the buffers current too.

>>> import kiln
>>> layer_norm(kiln.tensor([[1.0, 3.0]]), (2,), eps=0.0).tolist()
[[-1.0, 1.0]]
"""

from __future__ import annotations

import math

import numpy as np

import kiln
from kiln import ops
from kiln.dispatch import computes_in_float32
from kiln.memory_format import writes_contiguous

__all__ = ["layer_norm", "batch_norm", "group_norm"]


def _in_input_dtype(input, out):
    """PyTorch's CPU norms take float32 parameters with a bfloat16 (float16) input ("mixed
    dtype") and give the input's dtype, where promotion would say float32."""
    low = (kiln.float16, kiln.bfloat16)
    if input.dtype in low and out.dtype is not input.dtype and out.dtype is kiln.float32:
        return ops.cast(out, input.dtype)
    return out


def normalize_over(input, axes, eps: float):
    """``(x - mean) / sqrt(var + eps)`` over ``axes`` (biased variance); also the stats.

    >>> y, mean, var = normalize_over(kiln.tensor([1.0, 3.0]), (0,), 0.0)
    >>> y.tolist(), mean.item(), var.item()
    ([-1.0, 1.0], 2.0, 1.0)
    """
    mean = ops.mean(input, axes, keepdim=True)
    centered = ops.sub(input, mean)
    var = ops.mean(ops.mul(centered, centered), axes, keepdim=True)
    return ops.mul(centered, ops.rsqrt(ops.add(var, eps))), mean, var


@computes_in_float32
@writes_contiguous
def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalize over the last ``len(normalized_shape)`` axes, then scale and shift.

    >>> layer_norm(kiln.tensor([[0.0, 2.0, 4.0]]), [3]).shape
    kiln.Size([1, 3])
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in shape)}], but got input of size"
            f"{list(input.shape)}"
        )
    axes = tuple(range(input.ndim - k, input.ndim))
    out, _, _ = normalize_over(input, axes, eps)
    if weight is not None:
        out = ops.mul(out, weight)
    if bias is not None:
        out = ops.add(out, bias)
    return _in_input_dtype(input, out)


def _channel_shape(input):
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)


def batch_norm(
    input,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Normalize each channel (axis 1) by batch statistics (training) or running ones.

    In training, ``running_mean``/``running_var`` (if given) are updated in place with the
    batch mean and the unbiased batch variance. ``momentum`` may be a 0-d tensor (the
    cumulative average of ``BatchNorm(momentum=None)``).

    >>> rm, rv = kiln.zeros(2), kiln.ones(2)
    >>> y = batch_norm(kiln.tensor([[1.0, 2.0], [3.0, 6.0]]), rm, rv, training=True)
    >>> rm.tolist()
    [0.20000000298023224, 0.4000000059604645]
    """
    if input.ndim < 2 and input.numel() == 0:
        return ops.mul(input, 1.0)  # PyTorch returns the empty input's copy
    if input.ndim < 2:
        raise ValueError(
            f"batch_norm: expected an input with a channel axis (N, C, ...), got "
            f"size {list(input.shape)}"
        )
    shape = _channel_shape(input)
    count = input.shape[0] * math.prod(input.shape[2:])  # values per channel
    if training and count == 1:  # (an empty batch gives an empty output, as PyTorch's)
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {input.shape!r}"
        )
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if training:
        axes = (0,) + tuple(range(2, input.ndim))
        if count == 0:  # nothing to normalize; the running statistics stay
            out = ops.mul(input, 1.0)
        else:
            out, mean, var = normalize_over(input, axes, eps)
        if count and (running_mean is not None or running_var is not None):
            with kiln.no_grad():
                _update_running(running_mean, running_var, mean, var, count, momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError(
                "batch_norm: running_mean and running_var must be defined in evaluation mode"
            )
        mean = ops.reshape(running_mean, shape)
        var = ops.reshape(running_var, shape)
        out = ops.mul(ops.sub(input, mean), ops.rsqrt(ops.add(var, eps)))
    if weight is not None:
        out = ops.mul(out, ops.reshape(weight, shape))
    if bias is not None:
        out = ops.add(out, ops.reshape(bias, shape))
    return _in_input_dtype(input, out)


def _update_running(running_mean, running_var, mean, var, count, momentum):
    keep = ops.sub(1.0, momentum) if isinstance(momentum, kiln.Tensor) else 1.0 - momentum
    if running_mean is not None:
        batch_mean = ops.reshape(mean.detach(), running_mean.shape)
        running_mean.mul_(keep).add_(ops.mul(batch_mean, momentum))
    if running_var is not None:
        unbiased = ops.mul(ops.reshape(var.detach(), running_var.shape), count / (count - 1))
        running_var.mul_(keep).add_(ops.mul(unbiased, momentum))


@computes_in_float32
def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalize groups of channels of ``(N, C, ...)`` per sample.

    >>> group_norm(kiln.ones(2, 4, 3), 2).shape
    kiln.Size([2, 4, 3])
    """
    if input.ndim < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.ndim}"
        )
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by "
            f"num_groups, but got input of shape {list(input.shape)} and "
            f"num_groups={num_groups}"
        )
    per_group = (c // num_groups) * int(np.prod(input.shape[2:], dtype=np.int64))
    grouped = ops.reshape(input, (n, num_groups, per_group))  # explicit: n may be 0
    out, _, _ = normalize_over(grouped, (2,), eps)
    out = ops.reshape(out, input.shape)
    shape = _channel_shape(input)
    if weight is not None:
        out = ops.mul(out, ops.reshape(weight, shape))
    if bias is not None:
        out = ops.add(out, ops.reshape(bias, shape))
    return _in_input_dtype(input, out)
