"""More of ``torch.nn.functional``, as composites: ``glu``, ``hardshrink``, ``softshrink``,
``prelu``, ``rrelu``, ``instance_norm``, ``rms_norm``, ``local_response_norm``,
``dropout3d``, ``alpha_dropout``, ``feature_alpha_dropout``, ``gumbel_softmax``, ``pdist``
and the margin / embedding / likelihood losses (``margin_ranking_loss``,
``hinge_embedding_loss``, ``soft_margin_loss``, ``cosine_embedding_loss``,
``triplet_margin_loss``, ``poisson_nll_loss``, ``gaussian_nll_loss``,
``multilabel_soft_margin_loss``, ``multi_margin_loss``).

Re-exported by ``kiln.nn.functional``.

>>> import kiln
>>> glu(kiln.tensor([1.0, 0.0])).tolist()
[0.5]
>>> softshrink(kiln.tensor([-1.0, 0.2, 2.0]), 0.5).tolist()
[-0.5, 0.0, 1.5]
"""

from __future__ import annotations

import math
import warnings

import kiln
from kiln import ops

from ..dispatch import autocast_op, computes_in_float32
from ..memory_format import writes_contiguous
from .activations import celu, elu, hardtanh, leaky_relu, logsigmoid, selu, softmax, softplus
from .activations import threshold as _threshold
from .losses import _check_reduction, _resolve, reduce_loss
from .normalization import normalize_over

__all__ = [
    "glu",
    "hardshrink",
    "softshrink",
    "prelu",
    "rrelu",
    "rrelu_",
    "instance_norm",
    "rms_norm",
    "local_response_norm",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
    "gumbel_softmax",
    "pdist",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "triplet_margin_with_distance_loss",
    "celu_",
    "elu_",
    "selu_",
    "hardtanh_",
    "leaky_relu_",
    "threshold_",
    "upsample_nearest",
    "upsample_bilinear",
    "channel_shuffle",
    "native_channel_shuffle",
    "multi_head_attention_forward",
]


# ------------------------------------------------------------------------- activations


def glu(input, dim: int = -1):
    """``a * sigmoid(b)`` where ``a, b`` are the halves of ``input`` along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim % input.ndim} is size {size}"
        )
    a, b = ops.chunk(input, 2, dim)
    return ops.mul(a, ops.sigmoid(b))


def hardshrink(input, lambd: float = 0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return ops.where(ops.gt(ops.abs(input), lambd), input, ops.zeros_like(input))


def softshrink(input, lambd: float = 0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {float(lambd)}.")
    zero = ops.zeros_like(input)
    return ops.where(
        ops.gt(input, lambd),
        ops.sub(input, lambd),
        ops.where(ops.lt(input, -lambd), ops.add(input, lambd), zero),
    )


@autocast_op("lower")
def prelu(input, weight):
    """``max(0, x) + weight * min(0, x)``; a ``weight`` of ``C`` values applies per channel
    (axis 1)."""
    if weight.ndim > 1:
        raise RuntimeError(
            f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}"
        )
    if weight.numel() != 1:
        if input.ndim < 2 or weight.numel() != input.shape[1]:
            channels = input.shape[1] if input.ndim >= 2 else 1
            raise RuntimeError(
                f"Mismatch of parameter numbers and input channel size. Found parameter "
                f"numbers = {weight.numel()} and channel size = {channels}."
            )
        weight = ops.reshape(weight, (1, input.shape[1]) + (1,) * (input.ndim - 2))
    elif weight.ndim > input.ndim:
        weight = ops.reshape(weight, ())
    return ops.where(ops.gt(input, 0), input, ops.mul(weight, input))


def rrelu(
    input,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
):
    """Leaky ReLU with a random slope ``U(lower, upper)`` per element in training, and
    ``(lower + upper) / 2`` otherwise."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    slope = ops.add(ops.mul(kiln.rand_like(input), upper - lower), lower)
    out = ops.where(ops.ge(input, 0), input, ops.mul(input, slope))
    if inplace:
        with kiln.no_grad():
            input.copy_(out)
        return input
    return out


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False):
    return rrelu(input, lower, upper, training, inplace=True)


# ----------------------------------------------------------------------- normalization


@writes_contiguous
def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Normalize each (sample, channel) over its spatial axes; with ``running_mean`` /
    ``running_var``, update them (``use_input_stats``) or normalize by them."""
    if input.ndim < 3:
        raise ValueError(
            f"instance_norm: expected an input (N, C, *spatial), got size {list(input.shape)}"
        )
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    axes = tuple(range(2, input.ndim))
    if use_input_stats:
        count = math.prod(input.shape[2:])
        if count <= 1:
            raise ValueError(
                f"Expected more than 1 spatial element when training, got input size "
                f"{input.shape!r}"
            )
        out, mean, var = normalize_over(input, axes, eps)
        if running_mean is not None or running_var is not None:
            with kiln.no_grad():
                keep = 1.0 - momentum
                if running_mean is not None:
                    batch = ops.mean(ops.reshape(mean.detach(), input.shape[:2]), 0)
                    running_mean.mul_(keep).add_(ops.mul(batch, momentum))
                if running_var is not None:
                    unbiased = ops.mul(var.detach(), count / (count - 1))
                    batch = ops.mean(ops.reshape(unbiased, input.shape[:2]), 0)
                    running_var.mul_(keep).add_(ops.mul(batch, momentum))
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError(
                "Expected running_mean and running_var to be defined when use_input_stats is false"
            )
        out = ops.mul(
            ops.sub(input, ops.reshape(running_mean, shape)),
            ops.rsqrt(ops.add(ops.reshape(running_var, shape), eps)),
        )
    if weight is not None:
        out = ops.mul(out, ops.reshape(weight, shape))
    if bias is not None:
        out = ops.add(out, ops.reshape(bias, shape))
    return out


@computes_in_float32
def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last ``len(normalized_shape)``
    axes; ``eps`` defaults to the dtype's machine epsilon, as in PyTorch."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in shape)}], but got input of size"
            f"{list(input.shape)}"
        )
    if eps is None:
        eps = kiln.finfo(input.dtype).eps
    axes = tuple(range(input.ndim - k, input.ndim))
    out = ops.mul(
        input, ops.rsqrt(ops.add(ops.mean(ops.mul(input, input), axes, keepdim=True), eps))
    )
    if weight is not None:
        out = ops.mul(out, weight)
    return out


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
    """Divide each channel by ``(k + alpha * mean of squares over size neighbouring
    channels) ** beta`` (AlexNet's normalization)."""
    if input.ndim < 3:
        raise ValueError(
            f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)"
        )
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    sq = ops.mul(input, input)
    front, back = size // 2, (size - 1) // 2
    pad = [(0, 0)] * input.ndim
    pad[1] = (front, back)
    zeros_front = ops.zeros((input.shape[0], front) + tuple(input.shape[2:]), dtype=input.dtype)
    zeros_back = ops.zeros((input.shape[0], back) + tuple(input.shape[2:]), dtype=input.dtype)
    padded = ops.cat([zeros_front, sq, zeros_back], 1)
    total = ops.narrow(padded, 1, 0, channels)
    for shift in range(1, size):
        total = ops.add(total, ops.narrow(padded, 1, shift, channels))
    if input.dtype.is_floating_point:
        mean = ops.div(total, size)
    else:  # PyTorch averages through avg_pool, which truncates an integer mean
        mean = ops.div(total, size, rounding_mode="trunc")
    div = ops.pow(ops.add(ops.mul(mean, alpha), k), beta)
    return ops.div(input, div)


# ----------------------------------------------------------------------------- dropout


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of a ``(N, C, D, H, W)`` (or ``(C, D, H, W)``) input."""
    from .functional import _channel_dropout

    if input.ndim not in (4, 5):
        raise RuntimeError(
            f"dropout3d: Expected 4D or 5D input, but received a {input.ndim}D input"
        )
    return _channel_dropout(input, p, training, inplace, "dropout3d", 3)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _alpha_drop(input, p, training, feature: bool):
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return ops.mul(input, 0.0)
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    a = ((1 - p) * (1 + p * alpha_p**2)) ** -0.5
    b = -a * alpha_p * p
    shape = tuple(input.shape)
    if feature:
        shape = shape[:2] + (1,) * (input.ndim - 2)
    keep = ops.cast(ops.ge(kiln.rand(shape, dtype=input.dtype), p), input.dtype)
    dropped = ops.add(ops.mul(input, keep), ops.mul(ops.sub(1.0, keep), alpha_p))
    return ops.add(ops.mul(dropped, a), b)


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Dropout that keeps SELU's self-normalizing mean and variance."""
    out = _alpha_drop(input, p, training, feature=False)
    if inplace and out is not input:
        with kiln.no_grad():
            input.copy_(out)
        return input
    return out


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """``alpha_dropout`` of whole channels."""
    out = _alpha_drop(input, p, training, feature=True)
    if inplace and out is not input:
        with kiln.no_grad():
            input.copy_(out)
        return input
    return out


# ------------------------------------------------------------------------------- misc


def gumbel_softmax(logits, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1):
    """A sample of the Gumbel-softmax distribution (one-hot with ``hard``, with the soft
    sample's gradient: the straight-through estimator)."""
    u = kiln.rand_like(logits)
    gumbels = ops.neg(ops.log(ops.neg(ops.log(u))))  # -log(Exp(1))
    y_soft = softmax(ops.div(ops.add(logits, gumbels), tau), dim)
    if not hard:
        return y_soft
    index = ops.argmax(y_soft, dim, keepdim=True)
    y_hard = ops.scatter(ops.zeros_like(logits), dim, index, 1.0)
    return ops.add(ops.sub(y_hard, y_soft.detach()), y_soft)


def pdist(input, p: float = 2):
    """The ``p``-norm distances between the rows of ``input (N, M)``, upper triangle,
    row-major: ``N * (N - 1) / 2`` values."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    n = input.shape[0]
    rows, cols = [], []
    for i in range(n):
        for j in range(i + 1, n):
            rows.append(i)
            cols.append(j)
    i = ops.constant(rows, kiln.int64, like=input)
    j = ops.constant(cols, kiln.int64, like=input)
    diff = ops.sub(ops.index_select(input, 0, i), ops.index_select(input, 0, j))
    return kiln.linalg.vector_norm(diff, p, dim=1)


# ------------------------------------------------------------------------------ losses


@autocast_op("fp32")
def margin_ranking_loss(
    input1, input2, target, margin: float = 0, size_average=None, reduce=None, reduction="mean"
):
    """``max(0, -target * (input1 - input2) + margin)``."""
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got "
            f"sizes: input1: {tuple(input1.shape)}, input2: {tuple(input2.shape)}, target: "
            f"{tuple(target.shape)} "
        )
    loss = ops.clamp_min(ops.add(ops.mul(ops.neg(target), ops.sub(input1, input2)), margin), 0)
    return reduce_loss(loss, reduction)


@autocast_op("fp32")
def hinge_embedding_loss(
    input, target, margin: float = 1.0, size_average=None, reduce=None, reduction="mean"
):
    """``x`` where ``target == 1``, ``max(0, margin - x)`` where ``target == -1``."""
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    zeros = ops.zeros_like(input)
    margin_clamp = ops.clamp_min(ops.sub(margin, input), 0)
    output_margin = ops.where(ops.ne(target, 1), margin_clamp, zeros)
    output_self = ops.where(ops.ne(target, -1), input, zeros)
    return reduce_loss(ops.add(output_margin, output_self), reduction)


@autocast_op("fp32")
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``log(1 + exp(-target * input))``."""
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = softplus(ops.neg(ops.mul(target, input)))
    return reduce_loss(loss, reduction)


@autocast_op("fp32")
def cosine_embedding_loss(
    input1, input2, target, margin: float = 0, size_average=None, reduce=None, reduction="mean"
):
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos(x1, x2) - margin)`` where
    ``target == -1`` (cosine along the last axis, as PyTorch computes it)."""
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise RuntimeError(
            f"cosine_embedding_loss: expected 1D or 2D inputs of the same shape, got "
            f"{tuple(input1.shape)} and {tuple(input2.shape)}"
        )
    eps = 1e-12
    dim = input1.ndim - 1
    prod_sum = ops.sum(ops.mul(input1, input2), dim)
    mag1 = ops.add(ops.sum(ops.mul(input1, input1), dim), eps)
    mag2 = ops.add(ops.sum(ops.mul(input2, input2), dim), eps)
    cos = ops.div(prod_sum, ops.sqrt(ops.mul(mag1, mag2)))
    zeros = ops.zeros_like(cos)
    pos = ops.sub(1.0, cos)
    neg = ops.clamp_min(ops.sub(cos, margin), 0)
    # PyTorch compares target with -1 in target's dtype: 255 for a uint8 target
    minus_one = 255 if target.dtype is kiln.uint8 else -1
    loss = ops.add(
        ops.where(ops.eq(target, 1), pos, zeros), ops.where(ops.eq(target, minus_one), neg, zeros)
    )
    return reduce_loss(loss, reduction)


def _pairwise(x1, x2, p, eps):
    return kiln.linalg.vector_norm(ops.add(ops.sub(x1, x2), eps), p, dim=-1)


@autocast_op("fp32")
def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the ``p``-norm distance."""
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if margin <= 0:
        raise ValueError(
            f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead"
        )
    d_pos = _pairwise(anchor, positive, p, eps)
    d_neg = _pairwise(anchor, negative, p, eps)
    if swap:
        d_neg = ops.minimum(d_neg, _pairwise(positive, negative, p, eps))
    loss = ops.clamp_min(ops.add(ops.sub(d_pos, d_neg), margin), 0)
    return reduce_loss(loss, reduction)


@autocast_op("fp32")
def poisson_nll_loss(
    input,
    target,
    log_input: bool = True,
    full: bool = False,
    size_average=None,
    eps: float = 1e-8,
    reduce=None,
    reduction: str = "mean",
):
    """The negative log likelihood of ``target ~ Poisson(input)`` (``exp(input)`` with
    ``log_input``); ``full`` adds Stirling's term for targets above 1."""
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if log_input:
        loss = ops.sub(ops.exp(input), ops.mul(target, input))
    else:
        loss = ops.sub(input, ops.mul(target, ops.log(ops.add(input, eps))))
    if full:
        safe = ops.where(ops.gt(target, 1), target, ops.ones_like(target))
        stirling = ops.add(
            ops.sub(ops.mul(safe, ops.log(safe)), safe),
            ops.mul(ops.log(ops.mul(safe, 2 * math.pi)), 0.5),
        )
        loss = ops.add(loss, ops.where(ops.gt(target, 1), stirling, ops.zeros_like(stirling)))
    return reduce_loss(loss, reduction)


def gaussian_nll_loss(
    input, target, var, full: bool = False, eps: float = 1e-6, reduction: str = "mean"
):
    """``0.5 * (log(max(var, eps)) + (input - target)**2 / max(var, eps))`` (+ the
    constant with ``full``); ``var`` may have one fewer axis or a last axis of 1."""
    _check_reduction(reduction)
    if isinstance(var, (int, float)):
        var = ops.full_like(input, float(var))
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = ops.unsqueeze(var, -1)
        elif (  # one axis of var is 1 where input's is not (PyTorch's homoscedastic test)
            var.ndim == input.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1
        ):
            pass
        else:
            raise ValueError("var is of incorrect size")
    if not kiln.is_tracing() and bool(ops.any(ops.lt(var, 0))):
        raise ValueError("var has negative entry/entries")
    with kiln.no_grad():  # as PyTorch: the clamp is not differentiated through
        floor = ops.sub(ops.clamp_min(var, eps), var)
    var = ops.add(var, floor)
    diff = ops.sub(input, target)
    loss = ops.mul(ops.add(ops.log(var), ops.div(ops.mul(diff, diff), var)), 0.5)
    if full:
        loss = ops.add(loss, 0.5 * math.log(2 * math.pi))
    return reduce_loss(loss, reduction)


def multilabel_soft_margin_loss(
    input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"
):
    """Binary cross entropy of each of ``C`` labels, averaged over the labels."""
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = ops.neg(
        ops.add(
            ops.mul(target, logsigmoid(input)),
            ops.mul(ops.sub(1.0, target), logsigmoid(ops.neg(input))),
        )
    )
    if weight is not None:
        loss = ops.mul(loss, weight)
    loss = ops.div(ops.sum(loss, input.ndim - 1), input.shape[-1])
    return reduce_loss(loss, reduction)


@autocast_op("fp32")
def multi_margin_loss(
    input,
    target,
    p: int = 1,
    margin: float = 1.0,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
):
    """The multi-class hinge loss ``sum_{i != y} max(0, margin - x[y] + x[i])**p / C``."""
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    if target.dtype is not kiln.int64:  # (a float target was truncated silently)
        raise RuntimeError(
            f"multi_margin_loss: expected scalar type Long but found {target.dtype.name}"
        )
    samples = 1 if input.ndim <= 1 else input.shape[0]
    if target.ndim > 1 or target.numel() != samples:  # (a (1,) target broadcast silently)
        expected = [samples] if input.ndim == 2 else []
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size {expected}, but got "
            f"{list(target.shape)}. Input has shape {list(input.shape)}."
        )
    x = input if input.ndim == 2 else ops.reshape(input, (1, -1))  # 0-d: one class
    y = target if target.ndim == 1 else ops.reshape(target, (1,))
    classes = x.shape[1]
    idx = ops.unsqueeze(ops.cast(y, kiln.int64), 1)
    x_y = ops.gather(x, 1, idx)
    z = ops.clamp_min(ops.add(ops.sub(x, x_y), margin), 0)
    if p == 2:
        z = ops.mul(z, z)
    if weight is not None:
        z = ops.mul(z, ops.unsqueeze(ops.index_select(weight, 0, ops.reshape(idx, (-1,))), 1))
    not_target = ops.ne(
        ops.unsqueeze(ops.constant(list(range(classes)), kiln.int64, like=x), 0), idx
    )
    z = ops.where(not_target, z, ops.zeros_like(z))
    loss = ops.div(ops.sum(z, 1), classes)
    if input.ndim < 2:  # (one sample: the target's shape, () or (1,), as PyTorch's)
        loss = ops.reshape(loss, tuple(target.shape))
    return reduce_loss(loss, reduction)


@autocast_op("fp32")
def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``sum over targets j and non-targets i of max(0, 1 - (x[j] - x[i])) / C``; each row
    of ``target`` lists class indices, ended by the first ``-1``.

    >>> x = kiln.tensor([[0.1, 0.2, 0.4, 0.8]])
    >>> round(multilabel_margin_loss(x, kiln.tensor([[3, 0, -1, 1]])).item(), 4)
    0.85
    """
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input.ndim > 2 or tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(
            f"multilabel_margin_loss: inconsistent target size: {list(target.shape)} for "
            f"input of size: {list(input.shape)}"
        )
    if target.dtype != kiln.int64:
        raise RuntimeError(
            f"multilabel_margin_loss: expected target of dtype int64, got {target.dtype}"
        )
    unbatched = input.ndim < 2
    x = ops.reshape(input, (1, -1)) if unbatched else input
    t = ops.reshape(target, (1, -1)) if unbatched else target
    classes = x.shape[1]
    # the targets are the prefix before the first -1
    valid = ops.eq(ops.cumsum(ops.cast(ops.eq(t, -1), kiln.int64), 1), 0)  # (N, K)
    labels = ops.clamp_min(t, 0)
    every = ops.constant(list(range(classes)), kiln.int64, like=x)
    hits = ops.logical_and(ops.eq(ops.unsqueeze(labels, 2), every), ops.unsqueeze(valid, 2))
    is_target = ops.any(hits, 1)  # (N, C)
    picked = ops.gather(x, 1, labels)  # (N, K): x[j] for each listed target
    margins = ops.clamp_min(
        ops.add(ops.sub(1.0, ops.unsqueeze(picked, 2)), ops.unsqueeze(x, 1)), 0
    )  # (N, K, C)
    keep = ops.logical_and(ops.unsqueeze(valid, 2), ops.unsqueeze(ops.logical_not(is_target), 1))
    zeros = ops.zeros_like(margins)
    loss = ops.div(ops.sum(ops.where(keep, margins, zeros), (1, 2)), classes)
    if unbatched and reduction == "none":
        return ops.reshape(loss, ())
    return reduce_loss(loss, reduction)


def triplet_margin_with_distance_loss(
    anchor,
    positive,
    negative,
    *,
    distance_function=None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with any distance ``d`` (default
    ``pairwise_distance``); ``swap`` uses ``min(d(a, n), d(p, n))``."""
    from .functional import pairwise_distance

    _check_reduction(reduction)
    if margin <= 0:
        raise ValueError(
            f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got "
            f"{margin} instead"
        )
    a_dim, p_dim, n_dim = anchor.ndim, positive.ndim, negative.ndim
    if not a_dim == p_dim == n_dim:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number "
            f"of dimensions, but got: anchor {a_dim}D, positive {p_dim}D, and negative "
            f"{n_dim}D inputs"
        )
    distance = distance_function if distance_function is not None else pairwise_distance
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = ops.minimum(d_neg, distance(positive, negative))
    loss = ops.clamp_min(ops.sub(ops.add(d_pos, margin), d_neg), 0)
    return reduce_loss(loss, reduction)


# ------------------------------------------------------------ in-place and deprecated


def celu_(input, alpha: float = 1.0):
    """``celu`` into ``input`` (returns ``input``)."""
    return celu(input, alpha, inplace=True)


def elu_(input, alpha: float = 1.0):
    """``elu`` into ``input`` (returns ``input``)."""
    return elu(input, alpha, inplace=True)


def selu_(input):
    """``selu`` into ``input`` (returns ``input``)."""
    return selu(input, inplace=True)


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0):
    """``hardtanh`` into ``input`` (returns ``input``)."""
    return hardtanh(input, min_val, max_val, inplace=True)


def leaky_relu_(input, negative_slope: float = 0.01):
    """``leaky_relu`` into ``input`` (returns ``input``)."""
    return leaky_relu(input, negative_slope, inplace=True)


def threshold_(input, threshold: float, value: float):
    """``threshold`` into ``input`` (returns ``input``)."""
    return _threshold(input, threshold, value, inplace=True)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='nearest')`` (warns, as PyTorch)."""
    from .convolution import interpolate

    warnings.warn(
        "`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)``."""
    from .convolution import interpolate

    warnings.warn(
        "`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def channel_shuffle(input, groups: int):
    """Split the channels ``(N, C, *)`` into ``groups`` and interleave them (ShuffleNet).

    >>> channel_shuffle(kiln.arange(4.0).reshape(1, 4, 1), 2).flatten().tolist()
    [0.0, 2.0, 1.0, 3.0]
    """
    if input.ndim < 3:
        raise RuntimeError(
            f"channel_shuffle expects input to have at least 3 dimensions, but got input "
            f"with sizes {list(input.shape)}"
        )
    if groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    n, c = input.shape[0], input.shape[1]
    if c % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups."
        )
    rest = tuple(input.shape[2:])
    x = ops.reshape(input, (n, groups, c // groups) + rest)
    return ops.reshape(ops.transpose(x, 1, 2), (n, c) + rest)


native_channel_shuffle = channel_shuffle


# ---------------------------------------------------------------- multi-head attention


def multi_head_attention_forward(
    query,
    key,
    value,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight,
    out_proj_bias,
    training: bool = True,
    key_padding_mask=None,
    need_weights: bool = True,
    attn_mask=None,
    use_separate_proj_weight: bool = False,
    q_proj_weight=None,
    k_proj_weight=None,
    v_proj_weight=None,
    static_k=None,
    static_v=None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
):
    """``nn.MultiheadAttention``'s computation with its weights passed in (PyTorch's
    signature); inputs ``(L, N, E)`` or unbatched ``(L, E)``. Returns ``(output, weights)``.
    """
    from types import SimpleNamespace

    from .functional import linear
    from .transformer import MultiheadAttention

    if static_k is not None or static_v is not None:
        raise NotImplementedError(
            "multi_head_attention_forward: static_k / static_v are not supported by kiln"
        )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if query.ndim not in (2, 3):
        raise AssertionError(
            f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D "
            "query tensor"
        )
    if embed_dim_to_check != query.shape[-1]:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {query.shape[-1]}"
        )
    head_dim = embed_dim_to_check // num_heads
    if head_dim * num_heads != embed_dim_to_check:
        raise AssertionError(
            f"embed_dim {embed_dim_to_check} not divisible by num_heads {num_heads}"
        )
    if use_separate_proj_weight and (
        q_proj_weight is None or k_proj_weight is None or v_proj_weight is None
    ):
        raise AssertionError(
            "use_separate_proj_weight is True but q_proj_weight, k_proj_weight or "
            "v_proj_weight is None"
        )
    if not use_separate_proj_weight and in_proj_weight is None:
        raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
    state = SimpleNamespace(
        embed_dim=embed_dim_to_check,
        num_heads=num_heads,
        head_dim=head_dim,
        in_proj_weight=in_proj_weight,
        in_proj_bias=in_proj_bias,
        _qkv_same_embed_dim=not use_separate_proj_weight,
        q_proj_weight=q_proj_weight,
        k_proj_weight=k_proj_weight,
        v_proj_weight=v_proj_weight,
        bias_k=bias_k,
        bias_v=bias_v,
        add_zero_attn=add_zero_attn,
        dropout=dropout_p,
        training=training,
        out_proj=lambda x: linear(x, out_proj_weight, out_proj_bias),
    )
    batched = query.ndim == 3
    if not batched:
        query, key, value = (ops.unsqueeze(t, 1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = ops.unsqueeze(key_padding_mask, 0)
        if attn_mask is not None and attn_mask.ndim == 3:
            pass  # (num_heads, L, S) is already (N * num_heads, L, S) with N = 1
    out, weights = MultiheadAttention._attend(
        state, query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights
    )
    if not batched:
        out = ops.squeeze(out, 1)
        if weights is not None:
            weights = ops.squeeze(weights, 0)
    return out, weights


def _grid_sample_3d(input, grid, mode, padding_mode, align_corners):
    """``grid_sample`` of a volume ``input (N, C, D, H, W)`` at ``grid (N, Do, Ho, Wo, 3)``
    (``x``, ``y``, ``z`` in ``[-1, 1]``): trilinear (``mode="bilinear"``) or nearest, with
    the 2-D version's padding modes; gathers the eight neighbours from the flattened volume,
    so it is differentiable in ``input`` and ``grid`` and traces."""
    from .functional import _reflect

    if mode == "bicubic":
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if grid.ndim != 5 or grid.shape[-1] != 3 or grid.shape[0] != input.shape[0]:
        raise RuntimeError(
            "grid_sample(): expected input (N, C, D, H, W) and grid (N, D_out, H_out, W_out, 3), "
            f"got {list(input.shape)} and {list(grid.shape)}"
        )
    n, c, d, h, w = input.shape
    _, do, ho, wo, _ = grid.shape

    def unnormalize(coord, size):
        if align_corners:
            return ops.mul(ops.div(ops.add(coord, 1.0), 2.0), size - 1)
        return ops.div(ops.sub(ops.mul(ops.add(coord, 1.0), size), 1.0), 2.0)

    def pad(coord, size):
        if padding_mode == "reflection":
            twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
            coord = _reflect(coord, *twice)
        if padding_mode in ("border", "reflection"):
            coord = ops.clamp(coord, 0, size - 1)
        return coord

    x = pad(unnormalize(grid[..., 0], w), w)  # (N, Do, Ho, Wo)
    y = pad(unnormalize(grid[..., 1], h), h)
    z = pad(unnormalize(grid[..., 2], d), d)
    flat = ops.reshape(input, (n, c, d * h * w))
    m = do * ho * wo

    def tap(zi, yi, xi):
        inside = ops.logical_and(
            ops.logical_and(
                ops.logical_and(ops.ge(xi, 0), ops.le(xi, w - 1)),
                ops.logical_and(ops.ge(yi, 0), ops.le(yi, h - 1)),
            ),
            ops.logical_and(ops.ge(zi, 0), ops.le(zi, d - 1)),
        )
        xc, yc, zc = ops.clamp(xi, 0, w - 1), ops.clamp(yi, 0, h - 1), ops.clamp(zi, 0, d - 1)
        index = ops.add(ops.mul(ops.add(ops.mul(zc, h), yc), w), xc)
        index = ops.cast(index, kiln.int64)
        index = ops.expand(ops.reshape(index, (n, 1, m)), (n, c, m))
        values = ops.reshape(ops.gather(flat, 2, index), (n, c, do, ho, wo))
        return ops.where(ops.unsqueeze(inside, 1), values, ops.constant(0, input.dtype))

    if mode == "nearest":

        def zero(t):  # zero with a zero gradient: the output stays connected to ``grid``
            return ops.where(ops.isfinite(t), ops.mul(t, 0.0), ops.constant(0, t.dtype))

        out = tap(ops.round(z).detach(), ops.round(y).detach(), ops.round(x).detach())
        return ops.add(out, ops.unsqueeze(ops.add(ops.add(zero(x), zero(y)), zero(z)), 1))
    x0, y0, z0 = ops.floor(x).detach(), ops.floor(y).detach(), ops.floor(z).detach()
    wx1, wy1, wz1 = ops.sub(x, x0), ops.sub(y, y0), ops.sub(z, z0)
    out = None
    for zi, fz in ((z0, ops.sub(1.0, wz1)), (ops.add(z0, 1.0), wz1)):
        for yi, fy in ((y0, ops.sub(1.0, wy1)), (ops.add(y0, 1.0), wy1)):
            for xi, fx in ((x0, ops.sub(1.0, wx1)), (ops.add(x0, 1.0), wx1)):
                weight = ops.unsqueeze(ops.mul(ops.mul(fz, fy), fx), 1)
                term = ops.mul(tap(zi, yi, xi), weight)
                out = term if out is None else ops.add(out, term)
    return out


def _interpolate_uint8(input, spatial, out, scales, align_corners, mode, antialias):
    """``interpolate`` of uint8 images, bilinear or bicubic, as PyTorch's CPU kernel computes
    them: separable passes, the last axis first, each in fixed point (the axis's weights
    rounded to int16 at the finest precision, up to 22 bits, that keeps twice the largest
    below 2**15; the sum rounded half up and clamped to 0..255 back into uint8)."""
    import numpy as np

    from .convolution import _antialias_matrix, _cubic_matrix, _linear_matrix

    if input._node is not None or kiln.context.current_trace() is not None:
        raise NotImplementedError(
            f"interpolate: uint8 {mode} runs eagerly in kiln; cast the input to a floating "
            "point dtype to trace it"
        )
    x = np.asarray(input._data)
    nd = len(spatial)
    for axis in reversed(range(nd)):
        n, o = spatial[axis], out[axis]
        if n == o:
            continue
        if antialias:
            weights = _antialias_matrix(n, o, scales[axis], align_corners, mode, kiln.float64)
        elif mode == "bicubic":
            weights = _cubic_matrix(n, o, scales[axis], align_corners)
        else:
            weights = _linear_matrix(n, o, scales[axis], align_corners)
        weights = np.asarray(weights, dtype=np.float64)
        top = weights.max()
        precision = 0
        while precision < 22 and int(0.5 + top * (1 << (precision + 1))) < (1 << 15):
            precision += 1
        scaled = weights * (1 << precision)
        fixed = np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5))
        fixed = fixed.astype(np.int64)
        moved = np.moveaxis(x, 2 + axis, -1).astype(np.int64)
        acc = (1 << (precision - 1)) + moved @ fixed.T
        x = np.moveaxis(np.clip(acc >> precision, 0, 255).astype(np.uint8), -1, 2 + axis)
    return ops.constant(np.ascontiguousarray(x), kiln.uint8, like=input)
