"""Loss functions of ``kiln.nn.functional``, with PyTorch's arguments, reductions and errors.

Every loss computes the per-element loss and hands it to ``reduce_loss`` (``'mean'``,
``'sum'`` or ``'none'``). The legacy ``size_average``/``reduce`` arguments are accepted and
translated as PyTorch does.

>>> import kiln
>>> mse_loss(kiln.tensor([1.0, 2.0]), kiln.tensor([1.0, 4.0]))
tensor(2.)
"""

from __future__ import annotations

import warnings

import numpy as np

import kiln
from kiln import ops
from kiln.autograd import fused
from kiln.autograd.tape import rename

from ..dispatch import autocast_op
from ..tensor import graph_node

__all__ = [
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
]


def legacy_reduction(size_average, reduce, emit_warning: bool = True) -> str:
    """The ``reduction`` string for PyTorch's deprecated ``size_average``/``reduce`` pair."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        result = "mean"
    elif reduce:
        result = "sum"
    else:
        result = "none"
    if emit_warning:
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use "
            f"reduction='{result}' instead.",
            UserWarning,
            stacklevel=3,
        )
    return result


def _resolve(size_average, reduce, reduction: str) -> str:
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce)
    return reduction


def reduce_loss(loss, reduction: str):
    """Apply ``reduction`` ('mean', 'sum' or 'none') to a per-element loss.

    >>> reduce_loss(kiln.tensor([1.0, 3.0]), "mean")
    tensor(2.)
    """
    if reduction == "none":
        return loss
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _broadcast_pair(input, target, stacklevel: int = 4):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input "
            f"size ({input.shape}). This will likely lead to incorrect results due "
            "to broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return ops.broadcast_tensors(input, target)


def _weighted(loss, weight):
    return loss if weight is None else ops.mul(loss, weight)


@autocast_op("fp32")
def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """Mean squared error ``(input - target) ** 2``, reduced.

    >>> mse_loss(kiln.tensor([0.0, 0.0]), kiln.tensor([1.0, 3.0]), reduction="sum")
    tensor(10.)
    """
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    diff = ops.sub(*_broadcast_pair(input, target))
    loss = reduce_loss(_weighted(ops.mul(diff, diff), weight), reduction)
    return rename(loss, "MseLossBackward0", input, target)


@autocast_op("fp32")
def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """Mean absolute error ``|input - target|``, reduced.

    >>> l1_loss(kiln.tensor([0.0, 0.0]), kiln.tensor([1.0, -3.0]))
    tensor(2.)
    """
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    input, target = _broadcast_pair(input, target)
    return reduce_loss(_weighted(ops.abs(ops.sub(input, target)), weight), reduction)


@autocast_op("fp32")
def smooth_l1_loss(
    input, target, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0
):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``.

    >>> loss = smooth_l1_loss(kiln.tensor([0.0, 0.0]), kiln.tensor([0.5, 3.0]), reduction="none")
    >>> loss.tolist()
    [0.125, 2.5]
    """
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    given = (input, target)  # (PyTorch's one SmoothL1LossBackward0 node has edges to them)
    input, target = _broadcast_pair(input, target)
    d = ops.abs(ops.sub(input, target))
    if beta == 0.0:
        return rename(reduce_loss(d, reduction), "SmoothL1LossBackward0", *given)
    loss = ops.where(
        ops.lt(d, beta), ops.div(ops.mul(ops.mul(d, d), 0.5), beta), ops.sub(d, 0.5 * beta)
    )
    return rename(reduce_loss(loss, reduction), "SmoothL1LossBackward0", *given)


@autocast_op("fp32")
def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """``0.5 d**2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 delta)``.

    >>> huber_loss(kiln.tensor([0.0]), kiln.tensor([3.0]), delta=2.0)
    tensor(4.)
    """
    _check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    input, target = _broadcast_pair(input, target)
    d = ops.abs(ops.sub(input, target))
    loss = ops.where(
        ops.lt(d, delta), ops.mul(ops.mul(d, d), 0.5), ops.mul(ops.sub(d, 0.5 * delta), delta)
    )
    return reduce_loss(_in_dtype_of(input, _weighted(loss, weight)), reduction)


def _in_dtype_of(like, loss):
    """``loss`` in ``like``'s floating dtype: PyTorch's kernels for these losses compute in
    place into a tensor of that dtype (huber_loss(float16, float32) is float16), where
    promotion would give the wider one."""
    if like.dtype.is_floating_point and loss.dtype.is_floating_point and loss.dtype != like.dtype:
        return ops.cast(loss, like.dtype)
    return loss


# ------------------------------------------------------------------------------ classification


def _check_batch(input, target) -> None:
    if input.ndim >= 2 and target.ndim >= 1 and input.shape[0] != target.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target "
            f"batch_size ({target.shape[0]})."
        )


def _check_targets(target, n_classes: int, ignore_index: int):
    """The target, checked: out-of-range class indices raise IndexError as PyTorch's. Under
    tracing the values are unknown: the target is looked up in ``0..n_classes-1`` by
    ``take``, which raises IndexError when the compiled function runs (the ``gather`` that
    picks the losses would raise RuntimeError)."""
    if kiln.is_tracing():
        node = graph_node(target)
        if node is None or node.op == "const" or not target.numel():
            return target  # (known values, or a kiln.func level's wrapper: checked eagerly)
        keep = ops.ne(target, ignore_index)
        safe = ops.where(keep, ops.cast(target, kiln.int64), ops.constant(0, kiln.int64))
        safe = ops.where(ops.lt(safe, 0), ops.constant(n_classes, kiln.int64), safe)
        classes = ops.constant(np.arange(n_classes), kiln.int64)
        return ops.where(keep, ops.take(classes, safe), ops.cast(target, kiln.int64))
    if target.is_meta:  # (a meta target has no values either)
        return target
    values = target.detach()
    valid = ops.logical_or(
        ops.eq(values, ignore_index), ops.logical_and(ops.ge(values, 0), ops.lt(values, n_classes))
    )
    if not bool(ops.all(valid)):
        bad = ops.masked_select(values, ops.logical_not(valid))
        raise IndexError(f"Target {int(bad[0])} is out of bounds.")
    return target


def _check_class_weight(weight, n_classes: int, prefix: str = "") -> None:
    if weight is not None and weight.numel() != n_classes:
        raise RuntimeError(
            f"{prefix}weight tensor should be defined either for all {n_classes} classes or no "
            f"classes but got weight tensor of shape: {list(weight.shape)}"
        )


@autocast_op("fp32")
def nll_loss(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
):
    """Negative log-likelihood of class indices: ``-input[n, target[n]] * weight[target[n]]``.

    ``input`` is ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``; ``'mean'`` divides by the sum of
    the weights of the targets that are not ``ignore_index``.

    >>> nll_loss(kiln.tensor([[-1.0, -2.0]]), kiln.tensor([1]))
    tensor(2.)
    """
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.dtype.is_floating_point or target.dtype is kiln.bool:
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {_torch_type_name(target.dtype)}"
        )
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    _check_batch(input, target)
    given = input  # (PyTorch's one NllLossBackward0 node has an edge to it)
    unbatched = input.ndim == 1
    if unbatched:
        input, target = ops.unsqueeze(input, 0), ops.unsqueeze(target, 0)
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    n_classes = input.shape[1]
    _check_class_weight(weight, n_classes)
    if weight is not None and weight.dtype != input.dtype:
        raise RuntimeError(
            f"expected scalar type {_torch_type_name(input.dtype)} but found "
            f"{_torch_type_name(weight.dtype)}"
        )
    if weight is None and not unbatched:
        loss = fused.nll_loss(input, target, ignore_index, reduction)  # (eagerly on NumPy)
        if loss is not None:
            return loss
    target = _check_targets(target, n_classes, ignore_index)
    target = ops.cast(target, kiln.int64)
    keep = ops.ne(target, ignore_index)
    safe = ops.where(keep, target, ops.constant(0, kiln.int64))
    picked = ops.squeeze(ops.gather(input, 1, ops.unsqueeze(safe, 1)), 1)
    if weight is None:
        w = ops.cast(keep, input.dtype)
    else:
        w = ops.where(keep, ops.take(weight, safe), ops.constant(0, input.dtype))
    loss = ops.neg(ops.mul(picked, w))
    if reduction == "none":
        loss = ops.squeeze(loss, 0) if unbatched else loss
    elif reduction == "sum":
        loss = ops.sum(loss)
    else:
        # every target ignored: PyTorch's loss is 0/0 = NaN, its gradient zero (not NaN)
        total = ops.sum(w)
        empty = ops.cast(ops.eq(total, 0), w.dtype)
        loss = ops.div(ops.sum(loss), ops.add(total, empty))  # (/ 1 when empty: no NaN grad)
        loss = ops.add(loss, ops.div(ops.mul(total.detach(), 0.0), total.detach()))  # 0, or NaN
    return rename(loss, "NllLossBackward0", given)


_torch_type_name = kiln.dtypes.torch_name


@autocast_op("fp32")
def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
):
    """Cross entropy of logits ``input`` (class dim 1) against class indices or probabilities.

    >>> cross_entropy(kiln.tensor([[0.0, 0.0]]), kiln.tensor([0]))
    tensor(0.6931)
    """
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    probabilities_shaped = target.ndim == input.ndim and tuple(target.shape) == tuple(input.shape)
    if probabilities_shaped and not target.dtype.is_floating_point:
        raise RuntimeError(
            "Expected floating point type for target with class probabilities, "
            f"got {_torch_type_name(target.dtype)}"
        )
    if weight is None and label_smoothing == 0.0 and not target.dtype.is_floating_point:
        # eagerly on NumPy: two nodes (LogSoftmaxBackward0, NllLossBackward0), as PyTorch
        logp = fused.log_softmax(input, 1) if input.ndim == 2 else None
        loss = None if logp is None else fused.nll_loss(logp, target, ignore_index, reduction)
        if loss is not None:
            return loss
    logp = ops.log_softmax(input, class_dim)
    n_classes = input.shape[class_dim]
    if target.dtype.is_floating_point:
        if ignore_index != -100 and tuple(target.shape) == tuple(input.shape):
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _cross_entropy_probabilities(
            logp, target, weight, reduction, label_smoothing, class_dim
        )
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if label_smoothing == 0.0:
        return nll
    ignored = ops.eq(target, ignore_index)
    per_class = logp if weight is None else ops.mul(logp, _class_shaped(weight, logp, class_dim))
    smooth = ops.where(ignored, ops.constant(0, logp.dtype), ops.neg(ops.sum(per_class, class_dim)))
    if reduction == "none":
        smooth_reduced = smooth
    elif reduction == "sum":
        smooth_reduced = ops.sum(smooth)
    else:
        target64 = ops.cast(target, kiln.int64)
        safe = ops.where(ignored, ops.constant(0, kiln.int64), target64)
        if weight is None:
            denominator = ops.sum(ops.cast(ops.logical_not(ignored), logp.dtype))
        else:
            denominator = ops.sum(
                ops.where(ignored, ops.constant(0, logp.dtype), ops.take(weight, safe))
            )
        smooth_reduced = ops.div(ops.sum(smooth), denominator)
    return ops.add(
        ops.mul(nll, 1.0 - label_smoothing), ops.mul(smooth_reduced, label_smoothing / n_classes)
    )


def _class_shaped(weight, like, class_dim):
    shape = [1] * like.ndim
    shape[class_dim] = weight.shape[0]
    return ops.reshape(weight, shape)


def _cross_entropy_probabilities(logp, target, weight, reduction, label_smoothing, class_dim):
    _check_batch(logp, target)  # (PyTorch's nll_loss check, reached as the shapes differ)
    _check_class_weight(weight, logp.shape[class_dim], "cross_entropy: ")
    if tuple(target.shape) != tuple(logp.shape) and target.ndim == logp.ndim - 1:
        raise RuntimeError(  # (PyTorch reads it as class indices)
            f"expected target dtype to be Long or Byte, but got {_torch_type_name(target.dtype)}"
        )
    if tuple(target.shape) != tuple(logp.shape):
        raise RuntimeError(
            f"cross_entropy: a target of class probabilities must have the "
            f"input's shape {list(logp.shape)}, got {list(target.shape)}"
        )
    n_classes = logp.shape[class_dim]
    if label_smoothing > 0.0:
        target = ops.add(ops.mul(target, 1.0 - label_smoothing), label_smoothing / n_classes)
    terms = ops.mul(logp, target)
    if weight is not None:
        terms = ops.mul(terms, _class_shaped(weight, logp, class_dim))
    if reduction == "none":
        return ops.neg(ops.sum(terms, class_dim))
    # PyTorch's order: -(terms.sum()), then a DivBackward1 by the number of rows
    total = ops.neg(ops.sum(terms))
    if reduction == "sum":
        return total
    rows = logp.numel() // logp.shape[class_dim] if logp.shape[class_dim] else 0
    loss = ops.div(total, float(rows) if rows else float("nan"))
    return rename(loss, "DivBackward1", total)


@autocast_op("fp32")
def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"
):
    """``-(t log x + (1 - t) log(1 - x))`` with the logs clamped at -100 (as PyTorch).

    >>> binary_cross_entropy(kiln.tensor([0.5]), kiln.tensor([1.0]))
    tensor(0.6931)
    """
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input "
            f"size ({input.shape}) is deprecated. Please ensure they have the "
            "same size."
        )
    if not kiln.is_tracing():
        inside = ops.logical_and(ops.ge(input.detach(), 0), ops.le(input.detach(), 1))
        if not bool(ops.all(inside)):
            raise RuntimeError("all elements of input should be between 0 and 1")
    log_x = ops.maximum(ops.log(input), ops.constant(-100.0, input.dtype))
    log_1mx = ops.maximum(ops.log(ops.sub(1.0, input)), ops.constant(-100.0, input.dtype))
    loss = ops.neg(ops.add(ops.mul(target, log_x), ops.mul(ops.sub(1.0, target), log_1mx)))
    loss = reduce_loss(_in_dtype_of(input, _weighted(loss, weight)), reduction)
    return rename(loss, "BinaryCrossEntropyBackward0", input, target)


@autocast_op("fp32")
def binary_cross_entropy_with_logits(
    input,
    target,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight=None,
):
    """BCE on logits, as ``(1 - t) x - (1 + (pos_weight - 1) t) logsigmoid(x)`` (stable).

    >>> binary_cross_entropy_with_logits(kiln.tensor([0.0]), kiln.tensor([1.0]))
    tensor(0.6931)
    """
    reduction = _resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({target.shape}) must be the same as input size ({input.shape})"
        )
    log_sig = ops.logsigmoid(input)
    if pos_weight is None:
        coefficient = 1.0
    else:
        coefficient = ops.add(ops.mul(ops.sub(pos_weight, 1.0), target), 1.0)
    loss = ops.sub(ops.mul(ops.sub(1.0, target), input), ops.mul(log_sig, coefficient))
    # (PyTorch's result has the target's dtype: its kernel writes into 1 - target)
    loss = reduce_loss(_in_dtype_of(target, _weighted(loss, weight)), reduction)
    return rename(loss, "BinaryCrossEntropyWithLogitsBackward0", input, target)


@autocast_op("fp32")
def kl_div(
    input, target, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False
):
    """``target * (log(target) - input)`` (``input`` holds log-probabilities).

    >>> kl_div(kiln.tensor([0.0]), kiln.tensor([1.0]), reduction="sum")
    tensor(0.)
    """
    reduction = _resolve(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        loss = ops.mul(ops.exp(target), ops.sub(target, input))
    else:
        # torch's xlogy(target, target): 0 where target == 0, NaN where target < 0
        zero = ops.eq(target, 0)
        safe = ops.where(zero, ops.constant(1, target.dtype), target)
        xlogx = ops.where(zero, ops.constant(0, target.dtype), ops.mul(target, ops.log(safe)))
        loss = ops.sub(xlogx, ops.mul(target, input))
    if reduction == "batchmean":
        total = ops.sum(loss)
        return ops.div(total, float(input.shape[0])) if input.ndim else total
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the "
            "support size.'batchmean' divides only by the batch size, and aligns with "
            "the KL div math definition.'mean' will be changed to behave the same as "
            "'batchmean' in the next major release.",
            UserWarning,
            stacklevel=2,
        )
    return reduce_loss(loss, reduction)
