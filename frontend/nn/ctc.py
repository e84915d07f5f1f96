"""Connectionist temporal classification: ``F.ctc_loss`` and ``nn.CTCLoss`` (PyTorch's).

The loss of one sequence is ``-log p(target | input)``, summed over every alignment of the
target (with blanks between and around its labels) to the input's time steps. It is the
log-space alpha recursion of Graves et al. (2006), written in NumPy over the extended
target ``blank, l1, blank, l2, ..., blank``; its backward is the alpha-beta posterior,
with PyTorch's formula (the gradient ``exp(log_probs) - posterior``, which assumes that
``log_probs`` come from a ``log_softmax``, as PyTorch's kernel does), so values and
gradients agree with PyTorch's. Being NumPy, it runs eagerly only: under ``kiln.jit`` it
raises ``kiln.TraceError``.

>>> import kiln
>>> log_probs = kiln.tensor([[[0.5, 0.5]], [[0.5, 0.5]]]).log()   # T=2, N=1, C=2
>>> round(ctc_loss(log_probs, kiln.tensor([[1]]), [2], [1], reduction="sum").item(), 4)
0.2877
"""

from __future__ import annotations

import numpy as np

import kiln
from kiln import ops
from kiln.autograd.function import Function, once_differentiable
from kiln.tracing import TracerTensor, is_tracing

from .loss_layers import _Loss

__all__ = ["ctc_loss", "CTCLoss"]

_NEG_INF = -np.inf


def _logsumexp(*terms):
    stacked = np.stack(terms)
    top = np.max(stacked, axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.sum(np.exp(stacked - safe), axis=0))


def _extended(labels, blank):
    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    # a step of two (skipping a blank) is allowed onto a label that differs from the last
    skip = np.zeros(len(ext), dtype=bool)
    skip[3::2] = labels[1:] != labels[:-1]
    return ext, skip


def _alpha(lp, ext, skip, steps):
    """``(steps, S)`` log forward variables of one sequence; ``lp`` is ``(T, C)``."""
    size = len(ext)
    alpha = np.full((steps, size), _NEG_INF)
    alpha[0, 0] = lp[0, ext[0]]
    if size > 1:
        alpha[0, 1] = lp[0, ext[1]]
    for t in range(1, steps):
        prev = alpha[t - 1]
        one = np.concatenate([[_NEG_INF], prev[:-1]])
        two = np.where(skip, np.concatenate([[_NEG_INF, _NEG_INF], prev[:-2]]), _NEG_INF)
        alpha[t] = _logsumexp(prev, one, two) + lp[t, ext]
    return alpha


def _beta(lp, ext, skip, steps):
    """``(steps, S)`` log backward variables (including the emission at ``t``)."""
    size = len(ext)
    beta = np.full((steps, size), _NEG_INF)
    beta[steps - 1, size - 1] = lp[steps - 1, ext[size - 1]]
    if size > 1:
        beta[steps - 1, size - 2] = lp[steps - 1, ext[size - 2]]
    # moving back two is allowed from s onto s+2 when s+2 may skip
    skip_from = np.concatenate([skip[2:], [False, False]])
    for t in range(steps - 2, -1, -1):
        nxt = beta[t + 1]
        one = np.concatenate([nxt[1:], [_NEG_INF]])
        two = np.where(skip_from, np.concatenate([nxt[2:], [_NEG_INF, _NEG_INF]]), _NEG_INF)
        beta[t] = _logsumexp(nxt, one, two) + lp[t, ext]
    return beta


def _sequences(targets, target_lengths, batch):
    """Each sequence's labels, from padded ``(N, S)`` or concatenated 1-D targets."""
    if targets.ndim == 2:
        return [targets[n, : target_lengths[n]] for n in range(batch)]
    offsets = np.concatenate([[0], np.cumsum(target_lengths)])
    return [targets[offsets[n] : offsets[n + 1]] for n in range(batch)]


class _CTC(Function):
    """Per-sequence negative log likelihoods ``(N,)`` of ``log_probs (T, N, C)``."""

    @staticmethod
    def forward(ctx, log_probs, labels, input_lengths, blank, zero_infinity):
        lp_all = log_probs.detach().numpy().astype(np.float64)
        losses, grads = [], np.zeros_like(lp_all)
        for n, target in enumerate(labels):
            steps = int(input_lengths[n])
            lp = lp_all[:steps, n]
            ext, skip = _extended(target, blank)
            if steps == 0:
                nll = 0.0 if len(target) == 0 else np.inf
                losses.append(0.0 if (zero_infinity and np.isinf(nll)) else nll)
                continue
            alpha = _alpha(lp, ext, skip, steps)
            tail = alpha[steps - 1, -2:] if len(ext) > 1 else alpha[steps - 1, -1:]
            nll = -_logsumexp(*tail)
            beta = _beta(lp, ext, skip, steps)
            if zero_infinity and np.isinf(nll):
                losses.append(0.0)
                continue
            # log of the summed posterior of each class at each step
            both = alpha + beta
            classes = np.full((steps, lp_all.shape[2]), _NEG_INF)
            for c in np.unique(ext):
                classes[:, c] = _logsumexp(*both[:, ext == c].T)
            with np.errstate(invalid="ignore", over="ignore"):
                grads[:steps, n] = np.exp(lp) - np.exp(classes + nll - lp)
            losses.append(nll)
        ctx.grads = grads
        dtype = log_probs.dtype
        return kiln.tensor(np.asarray(losses, dtype=dtype.np), dtype=dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_losses):
        g = grad_losses.detach().numpy().astype(np.float64)
        grad = ctx.grads * g[None, :, None]
        return kiln.tensor(grad.astype(grad_losses.dtype.np)), None, None, None, None


def _lengths(value, name, batch):
    if isinstance(value, kiln.Tensor):
        value = value.numpy()
    array = np.asarray(value).reshape(-1)
    if array.dtype.kind not in "iu":
        raise RuntimeError(f"ctc_loss: {name} must be integers, got {array.dtype}")
    if len(array) != batch:
        raise RuntimeError(
            f"ctc_loss: expected {name} to have size {batch} (the batch size), got {len(array)}"
        )
    return array.astype(np.int64)


def ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
):
    """The CTC loss of ``log_probs (T, N, C)`` (or unbatched ``(T, C)``) against
    ``targets``: padded ``(N, S)`` or concatenated 1-D, with ``input_lengths`` /
    ``target_lengths`` per sequence. ``reduction='mean'`` divides each loss by its target
    length, then averages over the batch (PyTorch's rule)."""
    if is_tracing() or any(isinstance(t, TracerTensor) for t in (log_probs, targets)):
        raise kiln.TraceError(
            "ctc_loss: kiln computes the CTC recursion in NumPy, eagerly only; call it "
            "outside kiln.jit"
        )
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not log_probs.dtype.is_floating_point:
        raise RuntimeError(f"ctc_loss: log_probs must be floating point, got {log_probs.dtype}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = ops.unsqueeze(log_probs, 1)
        if isinstance(targets, kiln.Tensor) and targets.ndim == 1:
            targets = ops.unsqueeze(targets, 0)
    if log_probs.ndim != 3:
        raise RuntimeError(
            f"ctc_loss: expected log_probs of 2 or 3 dimensions (T, [N,] C), got "
            f"{list(log_probs.shape)}"
        )
    steps, batch, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise RuntimeError(f"ctc_loss: blank must be in label range [0, {classes}), got {blank}")
    if targets.dtype.is_floating_point:
        raise RuntimeError(f"ctc_loss: targets must be integers, got {targets.dtype}")
    inputs = _lengths(input_lengths, "input_lengths", batch)
    lengths = _lengths(target_lengths, "target_lengths", batch)
    if (inputs > steps).any() or (inputs < 0).any():
        raise RuntimeError(
            f"ctc_loss: expected input_lengths to have value at most {steps}, but got "
            f"{inputs.tolist()}"
        )
    labels_array = targets.detach().numpy().astype(np.int64)
    if labels_array.ndim == 2 and (lengths > labels_array.shape[1]).any():
        raise RuntimeError(
            f"ctc_loss: expected target_lengths at most {labels_array.shape[1]} (the padded "
            f"length of targets), got {lengths.tolist()}"
        )
    if labels_array.ndim == 1 and lengths.sum() != labels_array.shape[0]:
        raise RuntimeError(
            f"ctc_loss: concatenated targets have {labels_array.shape[0]} labels, but "
            f"target_lengths sum to {int(lengths.sum())}"
        )
    labels = _sequences(labels_array, lengths, batch)
    losses = _CTC.apply(log_probs, labels, inputs, blank, zero_infinity)
    if reduction == "mean":
        divisor = kiln.tensor(np.maximum(lengths, 1).astype(log_probs.dtype.np))
        return ops.mean(ops.div(losses, divisor))
    if reduction == "sum":
        return ops.sum(losses)
    return ops.squeeze(losses, 0) if unbatched else losses


class CTCLoss(_Loss):
    """``ctc_loss`` as a module: ``CTCLoss(blank=0, reduction='mean', zero_infinity=False)``."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            self.blank,
            self.reduction,
            self.zero_infinity,
        )
