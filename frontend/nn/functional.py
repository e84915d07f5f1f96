"""``kiln.nn.functional``: stateless layers, activations and losses, with PyTorch's names.

Everything here is a composite over ``kiln.ops``, so it runs eagerly, differentiates and
traces under ``kiln.jit`` without special cases. Activations, losses, convolution/pooling
and normalization live in their own files and are re-exported here; this file holds the
rest (``linear``, ``embedding``, ``dropout``, ``pad``, ``one_hot``, ...).

>>> import kiln
>>> import kiln.nn.functional as F
>>> F.linear(kiln.ones(1, 3), kiln.ones(2, 3)).tolist()
[[3.0, 3.0]]
"""

from __future__ import annotations

import functools

import numpy as np

import kiln
from kiln import ops
from kiln.autograd import fused
from kiln.autograd.tape import rename

from ..dispatch import autocast_op, computes_in_float32, current_trace
from ..memory_format import contiguous_result, keeps_input_memory_format
from .activations import *  # noqa: F403
from .activations import __all__ as _activations
from .convolution import *  # noqa: F403
from .convolution import __all__ as _convolution
from .ctc import ctc_loss
from .extra_functional import *  # noqa: F403
from .extra_functional import __all__ as _extra
from .extra_pooling import *  # noqa: F403
from .extra_pooling import __all__ as _extra_pooling
from .losses import *  # noqa: F403
from .losses import __all__ as _losses
from .normalization import *  # noqa: F403
from .normalization import __all__ as _normalization

__all__ = [
    *_activations,
    *_convolution,
    *_extra,
    *_extra_pooling,
    "ctc_loss",
    *_losses,
    *_normalization,
    "linear",
    "bilinear",
    "embedding",
    "embedding_bag",
    "dropout",
    "dropout1d",
    "dropout2d",
    "pad",
    "one_hot",
    "flatten",
    "normalize",
    "cosine_similarity",
    "pairwise_distance",
    "scaled_dot_product_attention",
    "pixel_shuffle",
    "pixel_unshuffle",
    "affine_grid",
    "grid_sample",
    "linear_cross_entropy",
]

pixel_shuffle = ops.pixel_shuffle
pixel_unshuffle = ops.pixel_unshuffle


def _one_node(fn, name: str, *params):
    """``fn`` whose result's ``grad_fn`` reads as PyTorch's one node ``name``, with edges
    to the tensor arguments ``params`` (``(position, keyword)`` pairs), as a printed graph
    shows them: kiln composes these ops of several nodes."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out = fn(*args, **kwargs)
        inputs = [args[i] if i < len(args) else kwargs.get(k) for i, k in params]
        values = out[0] if isinstance(out, tuple) else out
        if isinstance(values, kiln.Tensor) and values.grad_fn is not None:
            rename(values, name, *inputs)
        return out

    return wrapper


_IN, _W, _B = (0, "input"), (1, "weight"), (2, "bias")
conv1d = _one_node(conv1d, "ConvolutionBackward0", _IN, _W, _B)  # noqa: F405
conv2d = _one_node(conv2d, "ConvolutionBackward0", _IN, _W, _B)  # noqa: F405
conv3d = _one_node(conv3d, "ConvolutionBackward0", _IN, _W, _B)  # noqa: F405
max_pool2d = _one_node(max_pool2d, "MaxPool2DWithIndicesBackward0", _IN)  # noqa: F405
avg_pool2d = _one_node(avg_pool2d, "AvgPool2DBackward0", _IN)  # noqa: F405
layer_norm = _one_node(layer_norm, "NativeLayerNormBackward0", _IN, (2, "weight"), (3, "bias"))  # noqa: F405
batch_norm = _one_node(batch_norm, "NativeBatchNormBackward0", _IN, (3, "weight"), (4, "bias"))  # noqa: F405


# ------------------------------------------------------------------------------ linear


@autocast_op("lower")
@computes_in_float32
def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` over the last axis of ``input``.

    >>> linear(kiln.tensor([1.0, 2.0]), kiln.tensor([[1.0, 1.0]]), kiln.tensor([0.5])).tolist()
    [3.5]
    """
    if weight.ndim == 2 and (input.ndim == 0 or input.shape[-1] != weight.shape[1]):
        rows = input.numel() // input.shape[-1] if input.ndim and input.shape[-1] else 1
        cols = input.shape[-1] if input.ndim else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} and "
            f"{weight.shape[1]}x{weight.shape[0]})"
        )
    fast = fused.linear(input, weight, bias)  # (eagerly on NumPy: one node, as PyTorch)
    if fast is not None:
        return fast
    wt = ops.t(weight)
    out = ops.matmul(input, wt)
    if bias is None or input.ndim != 2:
        return out if bias is None else ops.add(out, bias)
    return rename(ops.add(out, bias), "AddmmBackward0", bias, input, wt)


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = input1 @ weight[o] @ input2 + bias[o]`` with ``weight (O, I1, I2)``.

    >>> bilinear(kiln.ones(1, 2), kiln.ones(1, 3), kiln.ones(4, 2, 3)).tolist()
    [[6.0, 6.0, 6.0, 6.0]]
    """
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(
            f"bilinear(): input batch dimensions do not match: got "
            f"{list(input1.shape[:-1])} and {list(input2.shape[:-1])}"
        )
    if input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(
            f"bilinear(): input sizes {input1.shape[-1]} and "
            f"{input2.shape[-1]} do not match weight of size "
            f"{list(weight.shape)}"
        )
    lead = tuple(input1.shape[:-1])
    x1 = ops.reshape(input1, (-1, 1, 1, input1.shape[-1]))  # (B, 1, 1, I1)
    x2 = ops.reshape(input2, (-1, 1, input2.shape[-1]))  # (B, 1, I2)
    left = ops.squeeze(ops.matmul(x1, ops.unsqueeze(weight, 0)), 2)  # (B, O, I2)
    prod = ops.mul(left, x2)
    out = ops.sum(prod, -1, dtype=prod.dtype)  # an int32 bilinear stays int32 (PyTorch)
    if bias is not None:
        out = ops.add(out, bias)
    return ops.reshape(out, lead + (weight.shape[0],))


# ------------------------------------------------------------------------------ embedding


def _check_indices(input, size: int, what: str) -> None:
    if input.dtype.is_floating_point or input.dtype is kiln.bool:
        raise RuntimeError(
            f"Expected tensor for argument #1 '{what}' to have one of the "
            f"following scalar types: Long, Int; but got {input.type()} instead "
            "(while checking arguments for embedding)"
        )
    if kiln.is_tracing() or input.numel() == 0:
        return
    if int(ops.amin(input)) < 0 or int(ops.amax(input)) >= size:
        raise IndexError("index out of range in self")


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
):
    """Rows of ``weight`` picked by the integer ``input``: shape ``input.shape + (dim,)``.

    The row ``padding_idx`` gets no gradient; ``max_norm`` renormalizes the rows used, in
    place; ``scale_grad_by_freq`` divides each row's gradient by its count in ``input``.

    >>> embedding(kiln.tensor([2, 0]), kiln.arange(6.0).reshape(3, 2)).tolist()
    [[4.0, 5.0], [0.0, 1.0]]
    """
    if weight.ndim != 2:
        raise RuntimeError(f"'weight' must be 2-D, got a {weight.ndim}-D weight")
    num_embeddings = weight.shape[0]
    if padding_idx is not None:
        if not -num_embeddings <= padding_idx < num_embeddings:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= num_embeddings
    _check_indices(input, num_embeddings, "indices")
    flat = ops.reshape(ops.cast(input, kiln.int64), (-1,))
    if max_norm is not None:
        _renorm_rows(weight, flat, max_norm, norm_type)
    out = ops.index_select(weight, 0, flat)  # (M, D)
    if scale_grad_by_freq:
        counts = ops.sum(
            ops.cast(ops.eq(ops.unsqueeze(flat, 1), ops.unsqueeze(flat, 0)), out.dtype),
            1,
            keepdim=True,
        )
        frozen = out.detach()
        out = ops.add(frozen, ops.div(ops.sub(out, frozen), counts))
    if padding_idx is not None:
        out = ops.where(ops.unsqueeze(ops.eq(flat, padding_idx), 1), out.detach(), out)
    if sparse and weight.requires_grad and kiln.is_grad_enabled():  # a COO gradient
        from ..sparse import sparse_embedding

        out = sparse_embedding(weight, flat, padding_idx, scale_grad_by_freq)
    out = ops.reshape(out, tuple(input.shape) + (weight.shape[1],))
    return rename(out, "EmbeddingBackward0", weight)


def _renorm_rows(weight, flat_indices, max_norm: float, norm_type: float) -> None:
    """Scale the referenced rows whose norm exceeds ``max_norm`` down to it (in place)."""
    with kiln.no_grad():
        rows = ops.constant(np.arange(weight.shape[0]), kiln.int64, like=weight)
        used = ops.any(ops.eq(ops.unsqueeze(rows, 1), ops.unsqueeze(flat_indices, 0)), 1)
        norms = ops.norm(weight.detach(), norm_type, 1)
        scale = ops.where(
            ops.logical_and(used, ops.gt(norms, max_norm)),
            ops.div(max_norm, ops.add(norms, 1e-7)),
            ops.constant(1, weight.dtype),
        )
        weight.mul_(ops.unsqueeze(scale, 1))


def embedding_bag(
    input,
    weight,
    offsets=None,
    max_norm=None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights=None,
    include_last_offset: bool = False,
    padding_idx=None,
):
    """Sums, means or maxima of "bags" of ``weight``'s rows, without the
    ``(bags, length, dim)`` intermediate: shape ``(bags, dim)``.

    A 2-D ``input`` is one bag per row; a 1-D ``input`` is cut into bags at ``offsets``
    (``offsets[0] == 0``; with ``include_last_offset`` the last offset ends the last bag).
    Entries equal to ``padding_idx`` are left out (and not counted by ``"mean"``); an empty
    bag gives zeros. ``per_sample_weights`` (``input``'s shape) scales each row, with
    ``mode="sum"`` only. The bags' boundaries are read on the host: under ``kiln.jit`` the
    indices and offsets must be constants.

    >>> w = kiln.arange(6.0).reshape(3, 2)
    >>> embedding_bag(kiln.tensor([0, 2, 1]), w, kiln.tensor([0, 2]), mode="sum").tolist()
    [[4.0, 6.0], [2.0, 3.0]]
    """
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, but got {mode!r}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                f"supported for mode='sum' (got mode='{mode}')."
            )
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(
                f"embedding_bag: per_sample_weights has shape {tuple(per_sample_weights.shape)}"
                f" but input has shape {tuple(input.shape)}; they must be the same"
            )
    if weight.ndim != 2:
        raise ValueError(
            f"embedding_bag: weight has to be a 2D Tensor, but got a {weight.ndim}D Tensor"
        )
    num_embeddings = weight.shape[0]
    if padding_idx is not None:
        if not -num_embeddings <= padding_idx < num_embeddings:
            raise AssertionError("padding_idx must be within the number of embeddings")
        padding_idx %= num_embeddings
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a "
                "mini-batch of fixed length sequences. However, found offsets of type "
                f"{type(offsets).__name__}"
            )
        bags, length = input.shape
        starts = np.arange(bags, dtype=np.int64) * length
        ends = starts + length
        input = ops.reshape(input, (-1,))
        if per_sample_weights is not None:
            per_sample_weights = ops.reshape(per_sample_weights, (-1,))
    elif input.ndim == 1:
        if offsets is None or offsets.ndim != 1:
            raise ValueError(
                "offsets has to be a 1D Tensor but got "
                + ("None" if offsets is None else f"a {offsets.ndim}D Tensor")
            )
        if offsets.dtype.is_floating_point or offsets.dtype is kiln.bool:
            raise RuntimeError(
                f"embedding_bag: offsets must be an integer tensor, got {offsets.dtype}"
            )
        bounds = _host_ints(offsets, "offsets")
        n = input.shape[0]
        if len(bounds) and bounds[0] != 0:
            raise RuntimeError(
                "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                f"start from position 0. However, got {bounds[0]}"
            )
        if include_last_offset:
            if len(bounds) == 0:
                raise RuntimeError("embedding_bag: include_last_offset needs at least one offset")
            starts, ends = bounds[:-1], np.minimum(bounds[1:], n)
        else:
            starts, ends = bounds, np.append(bounds[1:], n)
        if np.any(np.diff(bounds) < 0) or (len(bounds) and bounds[-1] > n):
            raise RuntimeError(
                f"embedding_bag: offsets must be non-decreasing and at most the input's "
                f"length {n}, got {bounds.tolist()}"
            )
    else:
        raise ValueError(
            f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}"
        )
    bags = len(starts)
    seg = np.repeat(np.arange(bags, dtype=np.int64), np.maximum(ends - starts, 0))
    positions = np.concatenate(
        [np.arange(a, b, dtype=np.int64) for a, b in zip(starts, ends, strict=True)]
        or [np.zeros(0, np.int64)]
    )
    if padding_idx is not None:
        keep = _host_ints(input, "input")[positions] != padding_idx
        seg, positions = seg[keep], positions[keep]
    if sparse and mode == "max":  # (PyTorch's check)
        raise ValueError("max mode does not support sparse weights")
    rows = embedding(
        ops.index_select(input, 0, ops.constant(positions, kiln.int64, like=input)),
        weight,
        None,
        max_norm,
        norm_type,
        scale_grad_by_freq,
        sparse,  # (a COO gradient: one entry per index of the bags, as PyTorch's)
    )  # (entries, dim)
    dim = weight.shape[1]
    index = ops.constant(seg, kiln.int64, like=input)
    zeros = ops.zeros((bags, dim), dtype=weight.dtype, device=weight.device)
    if mode == "max":
        spread = ops.expand(ops.unsqueeze(index, 1), (len(seg), dim))
        return ops.scatter_reduce(zeros, 0, spread, rows, "amax", include_self=False)
    if per_sample_weights is not None:
        chosen = ops.index_select(
            per_sample_weights, 0, ops.constant(positions, kiln.int64, like=input)
        )
        rows = ops.mul(rows, ops.unsqueeze(chosen, 1))
    out = ops.index_add(zeros, 0, index, rows)
    if mode == "mean":
        counts = np.maximum(np.bincount(seg, minlength=bags), 1).astype(np.float64)
        out = ops.div(out, ops.constant(counts[:, None], weight.dtype, like=weight))
    return out


def _host_ints(t, what: str) -> np.ndarray:
    if kiln.is_tracing() and getattr(t, "_node", None) is not None:
        raise RuntimeError(
            f"embedding_bag: {what} must be known when tracing (kiln.jit): pass it as a "
            "constant, not an input of the jitted function"
        )
    return np.asarray(t.numpy(), dtype=np.int64).reshape(-1)


def one_hot(tensor, num_classes: int = -1):
    """``(*, num_classes)`` int64 tensor with a 1 at each index.

    >>> one_hot(kiln.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    if tensor.dtype.is_floating_point or tensor.dtype is kiln.bool:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    concrete = not kiln.is_tracing()
    if num_classes == -1:
        if not concrete:
            raise kiln.TraceError(
                "one_hot: num_classes=-1 needs the tensor's values; pass "
                "num_classes explicitly inside kiln.jit"
            )
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(ops.amax(tensor)) + 1
    if concrete and tensor.numel():
        if int(ops.amin(tensor)) < 0:
            raise RuntimeError("Class values must be non-negative.")
        if int(ops.amax(tensor)) >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    classes = ops.constant(np.arange(num_classes), kiln.int64, like=tensor)
    return ops.cast(ops.eq(ops.unsqueeze(ops.cast(tensor, kiln.int64), -1), classes), kiln.int64)


# ------------------------------------------------------------------------------ dropout


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _drop(input, p: float, mask_shape, inplace: bool, name: str):
    if p == 1.0:
        out = ops.mul(input, 0.0)
    else:
        # kiln.rand is traceable: under kiln.jit the draw reads a fresh RNG input per call,
        # so jitted and eager runs agree under the same kiln.manual_seed.
        dtype = input.dtype if input.dtype.is_floating_point else kiln.get_default_dtype()
        device = "meta" if input.is_meta else None
        keep = ops.ge(kiln.rand(mask_shape, dtype=dtype, device=device), p)
        out = ops.mul(input, ops.mul(ops.cast(keep, dtype), 1.0 / (1.0 - p)))
    return ops.assign(input, out, name) if inplace else out


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    >>> x = kiln.ones(4)
    >>> dropout(x, 0.5, training=False) is x
    True
    """
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _drop(input, p, tuple(input.shape), inplace, "dropout_")


def _channel_dropout(input, p, training, inplace, name, feature_ndim):
    _check_p(p)
    if input.ndim not in (feature_ndim + 1, feature_ndim + 2):
        raise RuntimeError(
            f"{name}: Expected {feature_ndim + 1}D or {feature_ndim + 2}D input, "
            f"but received a {input.ndim}D input"
        )
    if not training or p == 0.0:
        return input
    channel_axes = input.ndim - feature_ndim
    mask_shape = tuple(input.shape[:channel_axes]) + (1,) * feature_ndim
    return _drop(input, p, mask_shape, inplace, name + "_")


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of ``(N, C, L)`` with probability ``p``."""
    return _channel_dropout(input, p, training, inplace, "dropout1d", 1)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of ``(N, C, H, W)`` with probability ``p``.

    As in PyTorch, another rank only warns (the "Defining a Neural Network" recipe applies
    ``Dropout2d`` to ``(N, F)`` features) and axes 0 and 1 are always ``(N, C)``: a 3-D
    input (warned about too) drops ``(N, C)`` rows of ``(N, C, L)``, a 2-D one single
    elements.
    """
    if input.ndim not in (3, 4):
        import warnings

        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead.",
            stacklevel=2,
        )
    if input.ndim == 3:
        import warnings

        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    if input.ndim < 2:
        raise RuntimeError("dropout2d: Feature dropout requires at least 2 dimensions in the input")
    return _channel_dropout(input, p, training, inplace, "dropout2d", input.ndim - 2)


# ------------------------------------------------------------------------------ shapes


def pad(input, pad, mode: str = "constant", value=None):
    """Pad the last ``len(pad) // 2`` axes; ``pad = (left, right, top, bottom, ...)``.

    Modes: ``'constant'`` (negative pads crop), ``'reflect'``, ``'replicate'``,
    ``'circular'``.

    >>> pad(kiln.tensor([1.0, 2.0]), (1, 2)).tolist()
    [0.0, 1.0, 2.0, 0.0, 0.0]
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length too large")
    if mode != "constant" and value not in (None, 0, 0.0):
        raise RuntimeError(f'pad: Padding mode "{mode}" doesn\'t take in value argument.')
    pairs = [(0, 0)] * input.ndim
    for k in range(len(pad) // 2):
        pairs[input.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    if mode == "constant":
        return _pad_constant(input, pairs, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if len(pad) not in (2, 4, 6) or input.ndim not in (len(pad) // 2 + 1, len(pad) // 2 + 2):
        raise NotImplementedError(
            f"pad: padding size {len(pad)} is not supported for {input.ndim}D input tensor "
            f"in mode '{mode}' (PyTorch pads the last 1, 2 or 3 dimensions of a 2D/3D, "
            f"3D/4D or 4D/5D input)"
        )
    padded = range(input.ndim - len(pad) // 2, input.ndim)
    out_sizes = [input.shape[a] + pairs[a][0] + pairs[a][1] for a in padded]
    if mode != "circular" and all(size < 1 for size in out_sizes):
        raise RuntimeError(
            f"pad: input of size {list(input.shape)} is too small for {mode} padding "
            f"{list(pad)}: calculated output sizes {out_sizes}"
        )
    out = input
    for axis, (left, right) in enumerate(pairs):
        if left or right:
            out = _pad_axis(out, axis, left, right, mode)
    return contiguous_result(out, input) if mode == "circular" else out


def _circular(input, pad, mode: str = "constant", value=None) -> bool:
    return mode == "circular"  # (PyTorch's circular pad writes C order: no channels_last)


def _crop_axis(x, axis: int, left: int, right: int):
    """Drop ``-left`` leading and ``-right`` trailing entries where a pad is negative."""
    n = x.shape[axis]
    start, stop = max(-left, 0), n - max(-right, 0)
    if stop < start:
        raise RuntimeError(
            f"pad: negative padding ({left}, {right}) at dimension {axis} leaves a negative "
            f"size for input of size {n}"
        )
    if start == 0 and stop == n:
        return x
    return ops.slice_axis(x, axis, start, stop)


def _pad_constant(input, pairs, value):
    for axis, (left, right) in enumerate(pairs):  # negative pads crop first
        if left < 0 or right < 0:
            n = input.shape[axis]
            input = ops.slice_axis(input, axis, max(-left, 0), n - max(-right, 0))
    positive = [(max(left, 0), max(right, 0)) for left, right in pairs]
    if not any(left or right for left, right in positive):
        return input
    return ops.pad_axes(input, positive, value)


def _pad_axis(x, axis: int, left: int, right: int, mode: str):
    n = x.shape[axis]
    if mode == "reflect" and (left >= n or right >= n):
        raise RuntimeError(
            f"Argument #4: Padding size should be less than the corresponding "
            f"input dimension, but got: padding ({left}, {right}) at dimension "
            f"{axis} of input {list(x.shape)}"
        )
    if mode == "circular" and (left > n or right > n):
        raise RuntimeError("Padding value causes wrapping around more than once.")
    if n + left + right < 0 or (mode != "circular" and n == 0):
        raise RuntimeError(
            f"pad: padding ({left}, {right}) at dimension {axis} is invalid for input of "
            f"size {list(x.shape)} in mode '{mode}'"
        )
    if left < 0 or right < 0:
        if mode == "circular":  # PyTorch crops first, then wraps the cropped part
            cropped = _crop_axis(x, axis, min(left, 0), min(right, 0))
            return _pad_axis(cropped, axis, max(left, 0), max(right, 0), mode)
        # output[i] = input[map(i - left)]: pad the positive sides, then crop
        padded = _pad_axis(x, axis, max(left, 0), max(right, 0), mode)
        return _crop_axis(padded, axis, min(left, 0), min(right, 0))
    parts = []
    if left:
        if mode == "reflect":
            parts.append(ops.flip(ops.slice_axis(x, axis, 1, left + 1), axis))
        elif mode == "replicate":
            parts.append(ops.expand(ops.slice_axis(x, axis, 0, 1), _with(x.shape, axis, left)))
        else:
            parts.append(ops.slice_axis(x, axis, n - left, n))
    parts.append(x)
    if right:
        if mode == "reflect":
            parts.append(ops.flip(ops.slice_axis(x, axis, n - 1 - right, n - 1), axis))
        elif mode == "replicate":
            parts.append(ops.expand(ops.slice_axis(x, axis, n - 1, n), _with(x.shape, axis, right)))
        else:
            parts.append(ops.slice_axis(x, axis, 0, right))
    return ops.cat(parts, axis)


def _with(shape, axis, size):
    shape = list(shape)
    shape[axis] = size
    return tuple(shape)


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge the axes ``start_dim..end_dim`` into one.

    >>> flatten(kiln.zeros(2, 3, 4), 1).shape
    kiln.Size([2, 12])
    """
    return ops.flatten(input, start_dim, end_dim)


# ------------------------------------------------------------------------------ distances


def _norm(x, p, dim):
    """``||x||_p`` along ``dim`` (keepdim); for p=2 the gradient at 0 is 0, not NaN."""
    if p in (2, 2.0):
        squares = ops.sum(ops.mul(x, x), dim, keepdim=True)
        zero = ops.eq(squares, 0)  # (NaN is not zero: it stays NaN, as in PyTorch)
        root = ops.sqrt(ops.where(zero, ops.constant(1, squares.dtype), squares))
        return ops.where(zero, ops.constant(0, squares.dtype), root)
    return ops.norm(x, p, dim, keepdim=True)


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim``.

    >>> normalize(kiln.tensor([[3.0, 4.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    return ops.div(input, ops.clamp(_norm(input, p, dim), min=eps))


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """``sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps))`` along ``dim`` (broadcast).

    >>> cosine_similarity(kiln.tensor([[1.0, 0.0]]), kiln.tensor([[1.0, 1.0]])).tolist()
    [0.7071067690849304]
    """
    x1, x2 = ops.broadcast_tensors(x1, x2)
    n1 = ops.clamp(_norm(x1, 2, dim), min=eps)
    n2 = ops.clamp(_norm(x2, 2, dim), min=eps)
    return ops.sum(ops.mul(ops.div(x1, n1), ops.div(x2, n2)), dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """``||x1 - x2 + eps||_p`` along the last axis."""
    d = _norm(ops.add(ops.sub(x1, x2), eps), p, -1)
    return d if keepdim else ops.squeeze(d, -1)


@autocast_op("lower")
@computes_in_float32
def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale=None,
    enable_gqa: bool = False,
):
    """``softmax(q @ k.T * scale + mask) @ v`` over the last two axes.

    With ``enable_gqa``, ``key``/``value`` may have fewer heads (axis -3) than ``query``:
    each is shared by ``query_heads // kv_heads`` consecutive query heads.

    >>> q = kiln.ones(1, 2, 4)
    >>> scaled_dot_product_attention(q, q, q).shape
    kiln.Size([1, 2, 4])
    """
    import math

    from .attention import _check_backend

    _check_backend(query, key, value, dropout_p)
    if is_causal and attn_mask is not None and attn_mask.requires_grad:
        # PyTorch applies both, except on its path for a mask that requires grad
        raise RuntimeError(
            "scaled_dot_product_attention: Explicit attn_mask should not be set when "
            f"is_causal=True (got an attn_mask of shape {list(attn_mask.shape)} that "
            "requires grad)"
        )
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if heads % kv_heads or value.shape[-3] != kv_heads:
            raise RuntimeError(
                f"scaled_dot_product_attention: query heads ({heads}) must be a multiple of "
                f"key/value heads ({kv_heads}, {value.shape[-3]}) with enable_gqa"
            )
        key = ops.repeat_interleave(key, heads // kv_heads, dim=-3)
        value = ops.repeat_interleave(value, heads // kv_heads, dim=-3)
    scores = ops.mul(ops.matmul(query, ops.transpose(key, -2, -1)), scale)
    if is_causal:
        rows, cols = query.shape[-2], key.shape[-2]
        causal = ops.constant(np.tri(rows, cols, dtype=bool), kiln.bool, like=query)
        scores = ops.masked_fill(scores, ops.logical_not(causal), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype is kiln.bool:
            scores = ops.masked_fill(scores, ops.logical_not(attn_mask), float("-inf"))
        else:
            scores = ops.add(scores, attn_mask)
    dead = None
    if attn_mask is not None or is_causal:
        # a query that the mask lets see no key gets zeros (and zero gradients), as
        # PyTorch's CPU kernel, not the NaN of a softmax over -inf alone
        dead = ops.all(ops.eq(scores, float("-inf")), -1, keepdim=True)
        scores = ops.where(dead, 0.0, scores)
    weights = ops.softmax(scores, -1)
    if dead is not None:
        weights = ops.where(dead, 0.0, weights)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    out = ops.matmul(weights, value)
    # PyTorch's result is laid out as the query is: a query made by transposing heads and
    # sequence (``x.view(b, t, h, d).transpose(1, 2)``) gives a result whose
    # ``.transpose(1, 2).view(b, t, h * d)`` is allowed (eagerly; traced values have no
    # strides)
    if current_trace() is None and query.ndim == out.ndim and query.ndim > 1:
        strides = query.stride()
        order = sorted(range(query.ndim), key=lambda k: -strides[k])
        if order != list(range(query.ndim)):
            inverse = [order.index(k) for k in range(query.ndim)]
            out = ops.permute(ops.permute(out, order).contiguous(), inverse)
    return out


# ------------------------------------------------------------------------------ sampling


def affine_grid(theta, size, align_corners=None):
    """The sampling grid ``(N, H, W, 2)`` of the affine maps ``theta (N, 2, 3)`` over the
    normalized output coordinates ``[-1, 1]`` (pixel centres unless ``align_corners``).

    >>> affine_grid(kiln.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]), (1, 1, 1, 2), True).tolist()
    [[[[-1.0, 0.0], [1.0, 0.0]]]]
    """
    volume = len(size) == 5  # (N, C, D, H, W) with theta (N, 3, 4): a grid (N, D, H, W, 3)
    want = (3, 4) if volume else (2, 3)
    if len(size) not in (4, 5) or theta.ndim != 3 or tuple(theta.shape[1:]) != want:
        raise ValueError(
            f"affine_grid: expected theta (N, 2, 3) and a 4-D size or theta (N, 3, 4) and "
            f"a 5-D size, got theta of size {list(theta.shape)} and size {list(size)}"
        )
    n, h, w = size[0], size[-2], size[-1]
    if theta.shape[0] != n:
        raise ValueError(f"affine_grid: theta has {theta.shape[0]} maps for a batch of {n}")

    dtype = theta.dtype
    real = np.dtype(dtype.np) if dtype.is_floating_point else np.dtype(np.float32)

    def line(k):
        # PyTorch's arithmetic, in theta's precision, so that the points (which decide
        # which pixels a bilinear sample mixes at exact pixel centres) agree bit for bit:
        # linspace(-1, 1, k) from both ends, then * (k - 1) / k without align_corners
        if k <= 1:
            return np.zeros(max(k, 0), dtype=real)
        step = np.float64(real.type(2.0) / real.type(k - 1))
        i = np.arange(k, dtype=np.float64)
        # each value rounded once from the exact start + step * i (PyTorch's fused
        # multiply-add), counted from the nearer end
        a = np.where(i < k // 2, -1.0 + step * i, 1.0 - step * (k - 1 - i)).astype(real)
        if not align_corners:
            a = ((a * real.type(k - 1)) / real.type(k)).astype(real)
        return a

    if volume:
        d = size[2]
        zs, ys, xs = np.meshgrid(line(d), line(h), line(w), indexing="ij")
        base = np.stack([xs, ys, zs, np.ones_like(xs)], -1).reshape(1, d * h * w, 4)
        out_shape = (n, d, h, w, 3)
    else:
        ys, xs = np.meshgrid(line(h), line(w), indexing="ij")
        base = np.stack([xs, ys, np.ones_like(xs)], -1).reshape(1, h * w, 3)
        out_shape = (n, h, w, 2)
    grid = ops.matmul(ops.constant(base, dtype, like=theta), ops.transpose(theta, 1, 2))
    return ops.reshape(grid, out_shape)


def _reflect(coord, twice_low: int, twice_high: int):
    """PyTorch's ``reflect_coordinates``: fold ``coord`` into ``[low, high]`` by mirroring."""
    if twice_low == twice_high:
        return ops.mul(coord, 0.0)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    shifted = ops.abs(ops.sub(coord, low))
    extra = ops.fmod(shifted, span)
    flips = ops.floor(ops.div(shifted, span)).detach()
    even = ops.eq(ops.remainder(flips, 2.0), 0.0)
    return ops.where(even, ops.add(extra, low), ops.add(ops.sub(span, extra), low))


def _grid_tap(input, ho, wo):
    """``tap(yi, xi)``: the pixels of ``input`` at integer ``(yi, xi)`` (N, Ho, Wo), 0
    outside the image: (N, C, Ho, Wo)."""
    n, c, h, w = input.shape
    flat = ops.reshape(input, (n, c, h * w))

    def tap(yi, xi):
        inside = ops.logical_and(
            ops.logical_and(ops.ge(xi, 0), ops.le(xi, w - 1)),
            ops.logical_and(ops.ge(yi, 0), ops.le(yi, h - 1)),
        )
        xc = ops.clamp(xi, 0, w - 1)
        yc = ops.clamp(yi, 0, h - 1)
        index = ops.cast(ops.add(ops.mul(yc, w), xc), kiln.int64)  # (N, Ho, Wo)
        index = ops.expand(ops.reshape(index, (n, 1, ho * wo)), (n, c, ho * wo))
        values = ops.reshape(ops.gather(flat, 2, index), (n, c, ho, wo))
        return ops.where(ops.unsqueeze(inside, 1), values, ops.constant(0, input.dtype))

    return tap


def _cubic_coefficients(t):
    """PyTorch's ``get_cubic_upsample_coefficients`` (Keys' kernel, ``A = -0.75``) of the
    fractional offset ``t``: the weights of the taps at -1, 0, +1, +2."""
    a = -0.75

    def near(v):  # |v| <= 1
        return ops.add(ops.mul(ops.mul(ops.sub(ops.mul(v, a + 2), a + 3), v), v), 1.0)

    def far(v):  # 1 < |v| < 2
        inner = ops.add(ops.mul(ops.sub(ops.mul(v, a), 5 * a), v), 8 * a)
        return ops.sub(ops.mul(inner, v), 4 * a)

    rest = ops.sub(1.0, t)
    return [far(ops.add(t, 1.0)), near(t), near(rest), far(ops.add(rest, 1.0))]


def _grid_sample_bicubic(input, x, y, padding_mode, align_corners):
    """Bicubic sampling at the unnormalized ``(x, y)``: 4x4 taps around ``floor``, each
    tap's integer position padded (``border`` clamps, ``reflection`` mirrors) and read as
    0 outside, combined row by row as PyTorch's ``cubic_interp1d`` does."""
    n, c, h, w = input.shape
    _, ho, wo = x.shape
    tap = _grid_tap(input, ho, wo)

    def bound(coord, size):
        if padding_mode == "border":
            return ops.clamp(coord, 0, size - 1)
        if padding_mode == "reflection":
            twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
            return ops.clamp(_reflect(coord, *twice), 0, size - 1)
        return coord

    x0, y0 = ops.floor(x).detach(), ops.floor(y).detach()
    cx = [ops.unsqueeze(k, 1) for k in _cubic_coefficients(ops.sub(x, x0))]
    cy = [ops.unsqueeze(k, 1) for k in _cubic_coefficients(ops.sub(y, y0))]
    xs = [bound(ops.add(x0, float(j - 1)), w).detach() for j in range(4)]
    out = None
    for i in range(4):
        yi = bound(ops.add(y0, float(i - 1)), h).detach()
        row = None
        for j in range(4):
            term = ops.mul(tap(yi, xs[j]), cx[j])
            row = term if row is None else ops.add(row, term)
        term = ops.mul(row, cy[i])
        out = term if out is None else ops.add(out, term)
    return out


@autocast_op("fp32")
def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input (N, C, H, W)`` at the normalized points ``grid (N, Ho, Wo, 2)``
    (``x`` then ``y``, in ``[-1, 1]``): ``bilinear``, ``nearest`` or ``bicubic``, with
    ``zeros``, ``border`` or ``reflection`` padding. Differentiable in both ``input`` and ``grid``
    (``nearest`` gives ``grid`` a zero gradient, as PyTorch), and traceable: the four
    neighbours are gathered from the flattened image.
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise NotImplementedError(f"grid_sample: mode {mode!r} is not supported by kiln")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise NotImplementedError(
            f"grid_sample: padding_mode {padding_mode!r} is not supported by kiln"
        )
    if input.ndim == 5:  # volumes: trilinear / nearest
        from .extra_functional import _grid_sample_3d

        return _grid_sample_3d(input, grid, mode, padding_mode, align_corners)
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise RuntimeError(
            f"grid_sample(): expected input (N, C, H, W) and grid (N, H_out, W_out, 2), got "
            f"{list(input.shape)} and {list(grid.shape)}"
        )
    n, c, h, w = input.shape
    _, ho, wo, _ = grid.shape

    def unnormalize(coord, size):
        if align_corners:
            return ops.mul(ops.div(ops.add(coord, 1.0), 2.0), size - 1)  # PyTorch's rounding
        return ops.div(ops.sub(ops.mul(ops.add(coord, 1.0), size), 1.0), 2.0)

    x = unnormalize(grid[..., 0], w)  # (N, Ho, Wo)
    y = unnormalize(grid[..., 1], h)
    if mode == "bicubic":
        return _grid_sample_bicubic(input, x, y, padding_mode, align_corners)
    if padding_mode == "border":
        x = ops.clamp(x, 0, w - 1)
        y = ops.clamp(y, 0, h - 1)
    elif padding_mode == "reflection":
        if align_corners:
            x = _reflect(x, 0, 2 * (w - 1))
            y = _reflect(y, 0, 2 * (h - 1))
        else:
            x = _reflect(x, -1, 2 * w - 1)
            y = _reflect(y, -1, 2 * h - 1)
        x = ops.clamp(x, 0, w - 1)
        y = ops.clamp(y, 0, h - 1)
    tap = _grid_tap(input, ho, wo)
    if mode == "nearest":
        # zero, with a zero gradient: the output stays connected to ``grid``, as in PyTorch
        def zero(t):
            return ops.where(ops.isfinite(t), ops.mul(t, 0.0), ops.constant(0, t.dtype))

        out = tap(ops.round(y).detach(), ops.round(x).detach())
        return ops.add(out, ops.unsqueeze(ops.add(zero(x), zero(y)), 1))
    x0, y0 = ops.floor(x).detach(), ops.floor(y).detach()
    x1, y1 = ops.add(x0, 1.0), ops.add(y0, 1.0)
    wx1, wy1 = ops.sub(x, x0), ops.sub(y, y0)
    wx0, wy0 = ops.sub(1.0, wx1), ops.sub(1.0, wy1)

    def weight(a, b):
        return ops.unsqueeze(ops.mul(a, b), 1)

    out = ops.mul(tap(y0, x0), weight(wy0, wx0))
    out = ops.add(out, ops.mul(tap(y0, x1), weight(wy0, wx1)))
    out = ops.add(out, ops.mul(tap(y1, x0), weight(wy1, wx0)))
    return ops.add(out, ops.mul(tap(y1, x1), weight(wy1, wx1)))


# PyTorch's kernels keep a channels_last input's memory format (``model.to(memory_format=
# torch.channels_last)``: each layer's output stays channels_last); kiln's are C-ordered
for _name in (
    "conv2d",
    "conv3d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "interpolate",
    "upsample",
    "group_norm",
    "pad",
    "conv_transpose2d",
    "conv_transpose3d",
):
    if _name in globals():
        globals()[_name] = keeps_input_memory_format(
            globals()[_name], _circular if _name == "pad" else None
        )

# last: its module builds on this one's ``linear`` and ``cross_entropy``
from .linear_cross_entropy import linear_cross_entropy  # noqa: E402
