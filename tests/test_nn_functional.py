"""kiln.nn.functional: one table of cases drives every check.

Each row names a call written once as ``call(F, *inputs)``: it runs with ``F`` being
``kiln.nn.functional`` (and ``torch.nn.functional`` when torch is installed, as a second
oracle). Every row is checked against an independent NumPy reference; differentiable rows
are checked against central finite differences in float64 (which need no torch).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pytest

import kiln
import kiln.nn.functional as F

# ------------------------------------------------------------------------------ references


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def np_erf(x):
    return np.vectorize(math.erf)(x)


def np_softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def np_reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


def np_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Direct convolution: a loop over output positions, one dot product each."""
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for i in range(ho):
            for j in range(wo):
                patch = xp[
                    :,
                    g * cg : (g + 1) * cg,
                    i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                    j * sw : j * sw + dw * (kw - 1) + 1 : dw,
                ]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out if b is None else out + b[None, :, None, None]


def np_pool2d(x, k, stride, padding, reduce, count_include_pad=True, ceil_mode=False, dilation=1):
    """Pooling by explicit windows, PyTorch's output-size and divisor rules."""
    stride = k if stride is None else stride
    n, c, h, w = x.shape

    def out_size(size):
        num = size + 2 * padding - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
        out = num // stride + 1
        if ceil_mode and (out - 1) * stride >= size + padding:
            out -= 1
        return out

    ho, wo = out_size(h), out_size(w)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            rows = [i * stride - padding + a * dilation for a in range(k)]
            cols = [j * stride - padding + b * dilation for b in range(k)]
            rows_in = [r for r in rows if 0 <= r < h]
            cols_in = [q for q in cols if 0 <= q < w]
            window = x[:, :, rows_in][:, :, :, cols_in]
            if reduce == "max":
                out[:, :, i, j] = window.max(axis=(2, 3))
            else:
                r_end = min(i * stride - padding + k, h + padding)
                c_end = min(j * stride - padding + k, w + padding)
                full = (r_end - (i * stride - padding)) * (c_end - (j * stride - padding))
                divisor = full if count_include_pad else len(rows_in) * len(cols_in)
                out[:, :, i, j] = window.sum(axis=(2, 3)) / divisor
    return out


def np_adaptive_avg(x, size):
    n, c, h, w = x.shape
    ho, wo = size
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        r0, r1 = (i * h) // ho, -(-((i + 1) * h) // ho)
        for j in range(wo):
            c0, c1 = (j * w) // wo, -(-((j + 1) * w) // wo)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


def np_layer_norm(x, k, weight=None, bias=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def np_batch_norm_train(x, weight, bias, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y * weight.reshape(shape) + bias.reshape(shape)


def np_nll(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    """Class dim 1; loops over every (sample, position) for independence from gather."""
    n_classes = logp.shape[1]
    weight = np.ones(n_classes) if weight is None else weight
    moved = np.moveaxis(logp, 1, -1).reshape(-1, n_classes)
    flat_t = target.reshape(-1)
    losses, weights = np.zeros(len(flat_t)), np.zeros(len(flat_t))
    for i, t in enumerate(flat_t):
        if t != ignore_index:
            losses[i] = -moved[i, t] * weight[t]
            weights[i] = weight[t]
    if reduction == "none":
        return losses.reshape(target.shape)
    return losses.sum() if reduction == "sum" else losses.sum() / weights.sum()


def np_cross_entropy(
    x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    logp = np_log_softmax(x, 1)
    n_classes = x.shape[1]
    if target.dtype.kind == "f":
        t = target * (1 - label_smoothing) + label_smoothing / n_classes
        w = np.ones(n_classes) if weight is None else weight
        shape = (1, -1) + (1,) * (x.ndim - 2)
        loss = -(logp * t * w.reshape(shape)).sum(axis=1)
        return loss.mean() if reduction == "mean" else np_reduce(loss, reduction)
    nll = np_nll(logp, target, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    w = np.ones(n_classes) if weight is None else weight
    shape = (1, -1) + (1,) * (x.ndim - 2)
    smooth = -(logp * w.reshape(shape)).sum(axis=1)
    smooth = np.where(target == ignore_index, 0.0, smooth)
    if reduction == "mean":
        keep = target != ignore_index
        smooth = smooth.sum() / w[target[keep]].sum()
    else:
        smooth = np_reduce(smooth, reduction)
    return (1 - label_smoothing) * nll + label_smoothing / n_classes * smooth


def np_bce_logits(x, t, weight=None, pos_weight=None, reduction="mean"):
    sig = 1 / (1 + np.exp(-x))
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * t * np.log(sig) + (1 - t) * np.log(1 - sig))
    if weight is not None:
        loss = loss * weight
    return np_reduce(loss, reduction)


def np_pad(x, pad, mode="constant", value=0.0):
    pairs = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        pairs[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    numpy_mode = {
        "constant": "constant",
        "reflect": "reflect",
        "replicate": "edge",
        "circular": "wrap",
    }[mode]
    if mode == "constant":
        return np.pad(x, pairs, mode="constant", constant_values=value)
    return np.pad(x, pairs, mode=numpy_mode)


def np_cosine(a, b, dim=1, eps=1e-8):
    na = np.maximum(np.linalg.norm(a, axis=dim, keepdims=True), eps)
    nb = np.maximum(np.linalg.norm(b, axis=dim, keepdims=True), eps)
    return ((a / na) * (b / nb)).sum(axis=dim)


def np_unfold(x, k, padding, stride):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho = (h + 2 * padding - k) // stride + 1
    wo = (w + 2 * padding - k) // stride + 1
    cols = np.zeros((n, c * k * k, ho * wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            cols[:, :, i * wo + j] = patch.reshape(n, -1)
    return cols


def np_attention(q, k, v, causal=False):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], bool)), scores, -np.inf)
    return np_softmax(scores, -1) @ v


# ------------------------------------------------------------------------------ the table


@dataclass
class Case:
    id: str
    call: object  # call(F, *inputs)
    ref: object  # ref(*numpy inputs)
    inputs: object  # inputs(rng) -> list of numpy arrays (float64 ones get gradients)
    grad: bool = True
    torch: bool = True
    atol: float = 1e-6
    no_grad_inputs: tuple = field(default_factory=tuple)  # float inputs not differentiated
    torch_frozen: tuple = field(default_factory=tuple)  # ... and those torch won't differentiate


def normal(*shape):
    return lambda rng: [rng.standard_normal(shape)]


def uniform(low, high, *shape):
    return lambda rng: rng.uniform(low, high, shape)


def _pair_normal(a, b):
    return lambda rng: [rng.standard_normal(a), rng.standard_normal(b)]


def _classification(shape, n_classes, ignore=None):
    def make(rng):
        x = rng.standard_normal(shape)
        target_shape = (shape[0],) + tuple(shape[2:])
        t = rng.integers(0, n_classes, target_shape)
        if ignore is not None:
            t.reshape(-1)[::3] = ignore
        return [x, t]

    return make


SQRT1_2 = 1 / math.sqrt(2)
WEIGHT3 = np.array([0.2, 1.0, 3.0])
GELU_TANH = math.sqrt(2 / math.pi)


CASES = [
    # activations
    Case("relu", lambda F, x: F.relu(x), lambda x: np.maximum(x, 0), normal(3, 4)),
    Case("relu6", lambda F, x: F.relu6(x * 4), lambda x: np.clip(x * 4, 0, 6), normal(3, 4)),
    Case(
        "leaky_relu",
        lambda F, x: F.leaky_relu(x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
        normal(3, 4),
    ),
    Case(
        "elu",
        lambda F, x: F.elu(x, 0.7),
        lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)),
        normal(3, 4),
    ),
    Case(
        "elu_large",
        lambda F, x: F.elu(x * 500),
        lambda x: np.where(x > 0, x * 500, np.expm1(np.minimum(x * 500, 0))),
        normal(5),
    ),
    Case(
        "selu",
        lambda F, x: F.selu(x),
        lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
        normal(3, 4),
    ),
    Case(
        "celu",
        lambda F, x: F.celu(x, 2.0),
        lambda x: np.where(x > 0, x, 2 * np.expm1(x / 2)),
        normal(3, 4),
    ),
    Case(
        "gelu", lambda F, x: F.gelu(x), lambda x: 0.5 * x * (1 + np_erf(x * SQRT1_2)), normal(3, 4)
    ),
    Case(
        "gelu_tanh",
        lambda F, x: F.gelu(x, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(GELU_TANH * (x + 0.044715 * x**3))),
        normal(3, 4),
    ),
    Case("silu", lambda F, x: F.silu(x), lambda x: x / (1 + np.exp(-x)), normal(3, 4)),
    Case("mish", lambda F, x: F.mish(x), lambda x: x * np.tanh(np.log1p(np.exp(x))), normal(3, 4)),
    Case("sigmoid", lambda F, x: F.sigmoid(x), lambda x: 1 / (1 + np.exp(-x)), normal(3, 4)),
    Case("tanh", lambda F, x: F.tanh(x), np.tanh, normal(3, 4)),
    Case(
        "softplus",
        lambda F, x: F.softplus(x * 3, beta=2.0, threshold=4.0),
        lambda x: np_softplus(x * 3, 2.0, 4.0),
        normal(3, 4),
    ),
    Case("softsign", lambda F, x: F.softsign(x), lambda x: x / (1 + np.abs(x)), normal(3, 4)),
    Case(
        "hardtanh",
        lambda F, x: F.hardtanh(x, -0.5, 0.8),
        lambda x: np.clip(x, -0.5, 0.8),
        normal(3, 4),
    ),
    Case(
        "hardsigmoid",
        lambda F, x: F.hardsigmoid(x * 4),
        lambda x: np.clip(x * 4 + 3, 0, 6) / 6,
        normal(3, 4),
    ),
    Case(
        "hardswish",
        lambda F, x: F.hardswish(x * 4),
        lambda x: x * 4 * np.clip(x * 4 + 3, 0, 6) / 6,
        normal(3, 4),
    ),
    Case(
        "logsigmoid",
        lambda F, x: F.logsigmoid(x * 30),
        lambda x: -np.logaddexp(0, -x * 30),
        normal(3, 4),
    ),
    Case("tanhshrink", lambda F, x: F.tanhshrink(x), lambda x: x - np.tanh(x), normal(3, 4)),
    Case(
        "threshold",
        lambda F, x: F.threshold(x, 0.1, -2.0),
        lambda x: np.where(x > 0.1, x, -2.0),
        normal(3, 4),
    ),
    Case("softmax", lambda F, x: F.softmax(x, dim=1), lambda x: np_softmax(x, 1), normal(3, 4)),
    Case(
        "softmax_big",
        lambda F, x: F.softmax(x * 1000, dim=-1),
        lambda x: np_softmax(x * 1000, -1),
        normal(2, 5),
        grad=False,
    ),
    Case(
        "log_softmax",
        lambda F, x: F.log_softmax(x, dim=0),
        lambda x: np_log_softmax(x, 0),
        normal(3, 4),
    ),
    Case("softmin", lambda F, x: F.softmin(x, dim=1), lambda x: np_softmax(-x, 1), normal(3, 4)),
    # linear layers
    Case(
        "linear",
        lambda F, x, w, b: F.linear(x, w, b),
        lambda x, w, b: x @ w.T + b,
        lambda rng: [
            rng.standard_normal((2, 3, 4)),
            rng.standard_normal((5, 4)),
            rng.standard_normal(5),
        ],
    ),
    Case(
        "linear_no_bias_1d",
        lambda F, x, w: F.linear(x, w),
        lambda x, w: w @ x,
        _pair_normal((4,), (3, 4)),
    ),
    Case(
        "bilinear",
        lambda F, a, b, w, c: F.bilinear(a, b, w, c),
        lambda a, b, w, c: np.einsum("ni,oij,nj->no", a, w, b) + c,
        lambda rng: [
            rng.standard_normal((3, 2)),
            rng.standard_normal((3, 4)),
            rng.standard_normal((5, 2, 4)),
            rng.standard_normal(5),
        ],
    ),
    Case(
        "embedding",
        lambda F, i, w: F.embedding(i, w),
        lambda i, w: w[i],
        lambda rng: [rng.integers(0, 6, (2, 3)), rng.standard_normal((6, 4))],
    ),
    Case(
        "embedding_padding",
        lambda F, i, w: F.embedding(i, w, padding_idx=2),
        lambda i, w: w[i],
        lambda rng: [np.array([[2, 0], [1, 2]]), rng.standard_normal((4, 3))],
        grad=False,
    ),
    Case(
        "embedding_freq",
        lambda F, i, w: F.embedding(i, w, scale_grad_by_freq=True),
        lambda i, w: w[i],
        lambda rng: [np.array([1, 1, 3, 1]), rng.standard_normal((4, 3))],
        grad=False,
    ),
    # normalization
    Case(
        "layer_norm",
        lambda F, x, w, b: F.layer_norm(x, (3, 4), w, b),
        lambda x, w, b: np_layer_norm(x, 2, w, b),
        lambda rng: [
            rng.standard_normal((2, 3, 4)),
            rng.standard_normal((3, 4)),
            rng.standard_normal((3, 4)),
        ],
    ),
    Case(
        "layer_norm_plain",
        lambda F, x: F.layer_norm(x, [4], eps=1e-3),
        lambda x: np_layer_norm(x, 1, eps=1e-3),
        normal(3, 4),
    ),
    Case(
        "batch_norm_train",
        lambda F, x, w, b: F.batch_norm(x, None, None, w, b, True),
        np_batch_norm_train,
        lambda rng: [
            rng.standard_normal((4, 3, 2)),
            rng.standard_normal(3),
            rng.standard_normal(3),
        ],
    ),
    Case(
        "batch_norm_eval",
        lambda F, x, m, v: F.batch_norm(x, m, v),
        lambda x, m, v: (x - m[None, :, None, None]) / np.sqrt(v[None, :, None, None] + 1e-5),
        lambda rng: [
            rng.standard_normal((2, 3, 2, 2)),
            rng.standard_normal(3),
            rng.uniform(0.5, 2, 3),
        ],
        no_grad_inputs=(1, 2),
    ),
    Case(
        "group_norm",
        lambda F, x, w, b: F.group_norm(x, 2, w, b),
        lambda x, w, b: (
            np_layer_norm(x.reshape(2, 2, -1), 1).reshape(x.shape) * w[None, :, None]
            + b[None, :, None]
        ),
        lambda rng: [
            rng.standard_normal((2, 4, 3)),
            rng.standard_normal(4),
            rng.standard_normal(4),
        ],
    ),
    # regression losses
    *[
        Case(
            f"mse_{r}",
            lambda F, a, b, r=r: F.mse_loss(a, b, reduction=r),
            lambda a, b, r=r: np_reduce((a - b) ** 2, r),
            _pair_normal((3, 4), (3, 4)),
        )
        for r in ("mean", "sum", "none")
    ],
    Case(
        "l1",
        lambda F, a, b: F.l1_loss(a, b),
        lambda a, b: np.abs(a - b).mean(),
        _pair_normal((3, 4), (3, 4)),
    ),
    Case(
        "smooth_l1",
        lambda F, a, b: F.smooth_l1_loss(a, b, reduction="sum", beta=0.5),
        lambda a, b: np.where(
            np.abs(a - b) < 0.5, 0.5 * (a - b) ** 2 / 0.5, np.abs(a - b) - 0.25
        ).sum(),
        _pair_normal((3, 4), (3, 4)),
    ),
    Case(
        "huber",
        lambda F, a, b: F.huber_loss(a, b, delta=0.7),
        lambda a, b: np.where(
            np.abs(a - b) < 0.7, 0.5 * (a - b) ** 2, 0.7 * (np.abs(a - b) - 0.35)
        ).mean(),
        _pair_normal((3, 4), (3, 4)),
    ),
    # classification losses
    Case(
        "cross_entropy",
        lambda F, x, t: F.cross_entropy(x, t),
        lambda x, t: np_cross_entropy(x, t),
        _classification((4, 3), 3),
    ),
    Case(
        "cross_entropy_none_kdim",
        lambda F, x, t: F.cross_entropy(x, t, reduction="none"),
        lambda x, t: np_cross_entropy(x, t, reduction="none"),
        _classification((2, 3, 2, 2), 3),
    ),
    Case(
        "cross_entropy_weight_ignore",
        lambda F, x, t: F.cross_entropy(x, t, weight=x.new_tensor(WEIGHT3), ignore_index=1),
        lambda x, t: np_cross_entropy(x, t, WEIGHT3, ignore_index=1),
        _classification((6, 3), 3),
    ),
    Case(
        "cross_entropy_smoothing",
        lambda F, x, t: F.cross_entropy(x, t, ignore_index=-1, label_smoothing=0.2),
        lambda x, t: np_cross_entropy(x, t, ignore_index=-1, label_smoothing=0.2),
        _classification((6, 3), 3, ignore=-1),
    ),
    Case(
        "cross_entropy_smoothing_weight_sum",
        lambda F, x, t: F.cross_entropy(
            x, t, x.new_tensor(WEIGHT3), ignore_index=-1, reduction="sum", label_smoothing=0.3
        ),
        lambda x, t: np_cross_entropy(x, t, WEIGHT3, -1, "sum", 0.3),
        _classification((6, 3), 3, ignore=-1),
    ),
    Case(
        "cross_entropy_smoothing_weight_mean",
        lambda F, x, t: F.cross_entropy(x, t, x.new_tensor(WEIGHT3), label_smoothing=0.3),
        lambda x, t: np_cross_entropy(x, t, WEIGHT3, label_smoothing=0.3),
        _classification((5, 3), 3),
    ),
    Case(
        "cross_entropy_probabilities",
        lambda F, x, p: F.cross_entropy(x, p, label_smoothing=0.1),
        lambda x, p: np_cross_entropy(x, p, label_smoothing=0.1),
        lambda rng: [rng.standard_normal((4, 3)), np_softmax(rng.standard_normal((4, 3)), 1)],
        no_grad_inputs=(1,),
    ),
    Case(
        "nll_loss",
        lambda F, x, t: F.nll_loss(F.log_softmax(x, 1), t, ignore_index=0),
        lambda x, t: np_nll(np_log_softmax(x, 1), t, ignore_index=0),
        _classification((5, 4), 4),
    ),
    Case(
        "nll_loss_unbatched",
        lambda F, x, t: F.nll_loss(x, t),
        lambda x, t: -x[t],
        lambda rng: [rng.standard_normal(4), np.array(2)],
    ),
    Case(
        "bce",
        lambda F, p, t: F.binary_cross_entropy(p, t),
        lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(),
        lambda rng: [rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (3, 4))],
    ),
    Case(
        "bce_weight_sum",
        lambda F, p, t, w: F.binary_cross_entropy(p, t, w, reduction="sum"),
        lambda p, t, w: (-(t * np.log(p) + (1 - t) * np.log(1 - p)) * w).sum(),
        lambda rng: [rng.uniform(0.05, 0.95, 5), rng.uniform(0, 1, 5), rng.uniform(0, 2, 5)],
        no_grad_inputs=(2,),
    ),
    Case(
        "bce_saturated",
        lambda F, p, t: F.binary_cross_entropy(p, t, reduction="none"),
        lambda p, t: np.array([100.0, 0.0]),
        lambda rng: [np.array([0.0, 1.0]), np.array([1.0, 1.0])],
        grad=False,
    ),
    Case(
        "bce_logits",
        lambda F, x, t: F.binary_cross_entropy_with_logits(x, t),
        lambda x, t: np_bce_logits(x, t),
        lambda rng: [rng.standard_normal((3, 4)) * 3, rng.uniform(0, 1, (3, 4))],
    ),
    Case(
        "bce_logits_extreme",
        lambda F, x, t: F.binary_cross_entropy_with_logits(x * 1000, t, reduction="none"),
        lambda x, t: np.maximum(x * 1000, 0) - x * 1000 * t + np.log1p(np.exp(-np.abs(x * 1000))),
        lambda rng: [np.array([-1.0, 1.0, 0.5]), np.array([1.0, 0.0, 1.0])],
    ),
    Case(
        "bce_logits_pos_weight",
        lambda F, x, t, w, pw: F.binary_cross_entropy_with_logits(
            x, t, w, pos_weight=pw, reduction="sum"
        ),
        lambda x, t, w, pw: np_bce_logits(x, t, w, pw, "sum"),
        lambda rng: [
            rng.standard_normal((3, 4)),
            rng.uniform(0, 1, (3, 4)),
            rng.uniform(0.5, 2, 4),
            rng.uniform(0.5, 3, 4),
        ],
        no_grad_inputs=(2,),
        torch_frozen=(3,),
    ),  # torch refuses a pos_weight that requires grad
    Case(
        "kl_div_batchmean",
        lambda F, x, t: F.kl_div(F.log_softmax(x, 1), t, reduction="batchmean"),
        lambda x, t: (t * (np.log(t) - np_log_softmax(x, 1))).sum() / x.shape[0],
        lambda rng: [rng.standard_normal((3, 4)), np_softmax(rng.standard_normal((3, 4)), 1)],
    ),
    Case(
        "kl_div_zero_target",
        lambda F, x, t: F.kl_div(x, t, reduction="sum"),
        lambda x, t: np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - x), 0).sum(),
        lambda rng: [rng.standard_normal(4), np.array([0.0, 0.5, 0.0, 0.5])],
        no_grad_inputs=(1,),
    ),  # d(t log t)/dt is infinite at t = 0
    Case(
        "kl_div_log_target",
        lambda F, x, t: F.kl_div(x, t, reduction="none", log_target=True),
        lambda x, t: np.exp(t) * (t - x),
        _pair_normal((3, 4), (3, 4)),
    ),
    # distances
    Case(
        "cosine_similarity",
        lambda F, a, b: F.cosine_similarity(a, b),
        lambda a, b: np_cosine(a, b),
        _pair_normal((3, 4), (3, 4)),
    ),
    Case(
        "cosine_similarity_broadcast",
        lambda F, a, b: F.cosine_similarity(a, b, dim=-1),
        lambda a, b: np_cosine(*np.broadcast_arrays(a, b), dim=-1),
        _pair_normal((3, 4), (1, 4)),
    ),
    Case(
        "normalize",
        lambda F, x: F.normalize(x, dim=0),
        lambda x: x / np.linalg.norm(x, axis=0, keepdims=True),
        normal(3, 4),
    ),
    Case(
        "normalize_p1",
        lambda F, x: F.normalize(x, p=1.0, dim=1),
        lambda x: x / np.abs(x).sum(axis=1, keepdims=True),
        normal(3, 4),
    ),
    Case(
        "pairwise_distance",
        lambda F, a, b: F.pairwise_distance(a, b),
        lambda a, b: np.linalg.norm(a - b + 1e-6, axis=-1),
        _pair_normal((3, 4), (3, 4)),
    ),
    # shapes
    *[
        Case(
            f"pad_{mode}",
            lambda F, x, mode=mode: F.pad(x, (2, 1, 1, 2), mode=mode),
            lambda x, mode=mode: np_pad(x, (2, 1, 1, 2), mode),
            normal(1, 2, 3, 4),
        )
        for mode in ("constant", "reflect", "replicate", "circular")
    ],
    Case(
        "pad_value_crop",
        lambda F, x: F.pad(x, (-1, 2, 1, -1), value=3.5),
        lambda x: np.pad(x[:, 1:], ((1, 0), (0, 2)), constant_values=3.5)[:-1],
        normal(3, 4),
    ),
    Case(
        "one_hot",
        lambda F, i: F.one_hot(i, 5),
        lambda i: np.eye(5, dtype=np.int64)[i],
        lambda rng: [rng.integers(0, 5, (2, 3))],
        grad=False,
    ),
    Case(
        "one_hot_inferred",
        lambda F, i: F.one_hot(i),
        lambda i: np.eye(4, dtype=np.int64)[i],
        lambda rng: [np.array([3, 0, 1])],
        grad=False,
    ),
    Case(
        "flatten",
        lambda F, x: F.flatten(x, 1, 2),
        lambda x: x.reshape(2, 12, 5),
        normal(2, 3, 4, 5),
        torch=False,
    ),  # torch has torch.flatten, not F.flatten
    Case("dropout_eval", lambda F, x: F.dropout(x, 0.5, training=False), lambda x: x, normal(3, 4)),
    Case("dropout_p0", lambda F, x: F.dropout(x, 0.0), lambda x: x, normal(3, 4)),
    Case(
        "attention",
        lambda F, q, k, v: F.scaled_dot_product_attention(q, k, v),
        lambda q, k, v: np_attention(q, k, v),
        lambda rng: [rng.standard_normal((2, 3, 4)) for _ in range(3)],
    ),
    Case(
        "attention_causal",
        lambda F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: np_attention(q, k, v, causal=True),
        lambda rng: [rng.standard_normal((2, 3, 4)) for _ in range(3)],
    ),
    # convolution and pooling
    Case(
        "conv2d",
        lambda F, x, w, b: F.conv2d(x, w, b),
        lambda x, w, b: np_conv2d(x, w, b),
        lambda rng: [
            rng.standard_normal((2, 2, 5, 5)),
            rng.standard_normal((3, 2, 3, 3)),
            rng.standard_normal(3),
        ],
    ),
    Case(
        "conv2d_stride_pad_dilation",
        lambda F, x, w: F.conv2d(x, w, None, 2, (1, 2), (2, 1)),
        lambda x, w: np_conv2d(x, w, None, 2, (1, 2), (2, 1)),
        _pair_normal((1, 2, 6, 5), (2, 2, 2, 3)),
    ),
    Case(
        "conv2d_groups",
        lambda F, x, w: F.conv2d(x, w, stride=(1, 2), padding=1, groups=2),
        lambda x, w: np_conv2d(x, w, None, (1, 2), 1, 1, 2),
        _pair_normal((2, 4, 4, 4), (6, 2, 3, 3)),
    ),
    Case(
        "conv2d_same",
        lambda F, x, w: F.conv2d(x, w, padding="same"),
        lambda x, w: np_conv2d(np.pad(x, ((0, 0), (0, 0), (0, 1), (1, 1))), w),
        _pair_normal((1, 1, 4, 4), (2, 1, 2, 3)),
    ),
    Case(
        "conv2d_unbatched",
        lambda F, x, w: F.conv2d(x, w),
        lambda x, w: np_conv2d(x[None], w)[0],
        _pair_normal((2, 4, 4), (3, 2, 2, 2)),
    ),
    Case(
        "conv1d",
        lambda F, x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
        lambda x, w, b: np_conv2d(x[:, :, None], w[:, :, None], b, (1, 2), (0, 1))[:, :, 0],
        lambda rng: [
            rng.standard_normal((2, 3, 7)),
            rng.standard_normal((4, 3, 3)),
            rng.standard_normal(4),
        ],
    ),
    Case(
        "unfold",
        lambda F, x: F.unfold(x, 2, padding=1, stride=2),
        lambda x: np_unfold(x, 2, 1, 2),
        normal(1, 2, 4, 5),
    ),
    Case(
        "max_pool2d",
        lambda F, x: F.max_pool2d(x, 2),
        lambda x: np_pool2d(x, 2, None, 0, "max"),
        normal(2, 2, 4, 5),
    ),
    Case(
        "max_pool2d_pad_stride",
        lambda F, x: F.max_pool2d(x, 3, 2, 1),
        lambda x: np_pool2d(x, 3, 2, 1, "max"),
        normal(1, 2, 5, 6),
    ),
    Case(
        "max_pool2d_ceil_dilation",
        lambda F, x: F.max_pool2d(x, 2, 2, 1, 2, ceil_mode=True),
        lambda x: np_pool2d(x, 2, 2, 1, "max", ceil_mode=True, dilation=2),
        normal(1, 1, 6, 7),
    ),
    Case(
        "max_pool1d",
        lambda F, x: F.max_pool1d(x, 3, 2, 1),
        lambda x: np_pool2d(
            np.pad(x[:, :, None], ((0, 0), (0, 0), (1, 1), (0, 0)), constant_values=-np.inf),
            3,
            2,
            1,
            "max",
        )[:, :, 0],
        normal(2, 3, 7),
    ),
    Case(
        "avg_pool2d",
        lambda F, x: F.avg_pool2d(x, 2),
        lambda x: np_pool2d(x, 2, None, 0, "avg"),
        normal(2, 2, 4, 5),
    ),
    Case(
        "avg_pool2d_pad",
        lambda F, x: F.avg_pool2d(x, 3, 2, 1),
        lambda x: np_pool2d(x, 3, 2, 1, "avg"),
        normal(1, 2, 5, 6),
    ),
    Case(
        "avg_pool2d_exclude_pad_ceil",
        lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        lambda x: np_pool2d(x, 3, 2, 1, "avg", count_include_pad=False, ceil_mode=True),
        normal(1, 2, 6, 6),
    ),
    Case(
        "avg_pool2d_ceil",
        lambda F, x: F.avg_pool2d(x, 2, 2, 1, ceil_mode=True),
        lambda x: np_pool2d(x, 2, 2, 1, "avg", ceil_mode=True),
        normal(1, 1, 5, 6),
    ),
    Case(
        "avg_pool2d_divisor",
        lambda F, x: F.avg_pool2d(x, 2, divisor_override=3),
        lambda x: np_pool2d(x, 2, None, 0, "avg") * 4 / 3,
        normal(1, 2, 4, 4),
    ),
    *[
        Case(
            f"adaptive_avg_pool2d_{size}",
            lambda F, x, size=size: F.adaptive_avg_pool2d(x, size),
            lambda x, size=size: np_adaptive_avg(x, size),
            normal(2, 2, 5, 7),
        )
        for size in ((1, 1), (5, 7), (2, 3), (3, 4))
    ],
]
IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS)


def _kiln_inputs(arrays, requires_grad=False, skip=()):
    out = []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        differentiable = requires_grad and a.dtype.kind == "f" and i not in skip
        out.append(kiln.tensor(a, requires_grad=differentiable))
    return out


def _as_numpy(t):
    return t.detach().numpy()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_numpy(case):
    rng = np.random.default_rng(0)
    arrays = [np.asarray(a) for a in case.inputs(rng)]
    got = case.call(F, *_kiln_inputs(arrays))
    want = case.ref(*arrays)
    assert tuple(got.shape) == np.shape(want)
    np.testing.assert_allclose(_as_numpy(got), want, rtol=1e-6, atol=case.atol)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_inputs_give_float32(case):
    rng = np.random.default_rng(1)
    arrays = [
        np.asarray(a).astype(np.float32) if np.asarray(a).dtype.kind == "f" else a
        for a in case.inputs(rng)
    ]
    got = case.call(F, *_kiln_inputs(arrays))
    want = case.ref(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays])
    if got.dtype.is_floating_point:
        assert got.dtype is kiln.float32
    np.testing.assert_allclose(_as_numpy(got), want, rtol=1e-4, atol=1e-4)


def _loss_of(case, tensors, projection):
    out = case.call(F, *tensors)
    return (out * kiln.tensor(projection)).sum()


@pytest.mark.parametrize("case", [c for c in CASES if c.grad], ids=[c.id for c in CASES if c.grad])
def test_gradients_match_finite_differences(case):
    rng = np.random.default_rng(2)
    arrays = [np.asarray(a) for a in case.inputs(rng)]
    tensors = _kiln_inputs(arrays, requires_grad=True, skip=case.no_grad_inputs)
    projection = rng.standard_normal(np.shape(case.ref(*arrays)))
    _loss_of(case, tensors, projection).backward()
    h = 1e-6
    checked = 0
    for i, (a, t) in enumerate(zip(arrays, tensors)):
        if not t.requires_grad:
            continue
        numeric = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            values = []
            for step in (h, -h):
                shifted = a.copy()
                shifted[index] += step
                moved = _kiln_inputs([shifted if k == i else b for k, b in enumerate(arrays)])
                values.append(_loss_of(case, moved, projection).item())
            numeric[index] = (values[0] - values[1]) / (2 * h)
        assert t.grad is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(
            _as_numpy(t.grad), numeric, rtol=1e-5, atol=1e-6, err_msg=f"gradient of input {i}"
        )
        checked += 1
    assert checked


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.torch], ids=[c.id for c in CASES if c.torch]
)
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    rng = np.random.default_rng(3)
    arrays = [np.asarray(a) for a in case.inputs(rng)]
    frozen = case.no_grad_inputs + case.torch_frozen
    ours = _kiln_inputs(arrays, requires_grad=case.grad, skip=frozen)
    theirs = [
        torch.tensor(a, requires_grad=case.grad and a.dtype.kind == "f" and i not in frozen)
        for i, a in enumerate(arrays)
    ]
    got, want = case.call(F, *ours), case.call(TF, *theirs)
    np.testing.assert_allclose(_as_numpy(got), want.detach().numpy(), rtol=1e-6, atol=1e-6)
    if case.grad:
        projection = rng.standard_normal(tuple(want.shape))
        (got * kiln.tensor(projection)).sum().backward()
        (want * torch.tensor(projection)).sum().backward()
        for o, t in zip(ours, theirs):
            if t.requires_grad:
                np.testing.assert_allclose(_as_numpy(o.grad), t.grad.numpy(), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------ behaviour


def test_relu_gradient_at_zero_is_zero_as_pytorch():
    x = kiln.tensor([0.0, 1.0], requires_grad=True)
    F.relu(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0]


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = kiln.tensor([[[[1.0, 1.0], [0.0, 1.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.reshape(-1).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_max_pool_return_indices_are_flat_input_positions():
    x = kiln.tensor(np.random.default_rng(0).standard_normal((1, 1, 5, 6)))
    values, indices = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    flat = x.numpy().reshape(-1)
    np.testing.assert_array_equal(flat[indices.numpy().reshape(-1)], values.numpy().reshape(-1))
    assert indices.dtype is kiln.int64


def test_embedding_padding_row_gets_no_gradient():
    w = kiln.tensor(np.ones((4, 2)), requires_grad=True)
    F.embedding(kiln.tensor([0, 2, 2, 3]), w, padding_idx=2).sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]


def test_embedding_scale_grad_by_freq_divides_by_count():
    w = kiln.tensor(np.ones((3, 1)), requires_grad=True)
    F.embedding(kiln.tensor([1, 1, 1, 0]), w, scale_grad_by_freq=True).sum().backward()
    assert w.grad.reshape(-1).tolist() == [1.0, 1.0, 0.0]


def test_embedding_max_norm_renormalizes_used_rows_in_place():
    w = kiln.tensor([[3.0, 4.0], [6.0, 8.0], [0.3, 0.4]])
    out = F.embedding(kiln.tensor([0, 2]), w, max_norm=1.0)
    norms = np.linalg.norm(w.numpy(), axis=1)
    np.testing.assert_allclose(norms, [1.0, 10.0, 0.5], rtol=1e-5)  # row 1 unused: untouched
    np.testing.assert_allclose(out.numpy(), w.numpy()[[0, 2]])


def test_dropout_zeroes_about_p_and_scales_the_rest():
    kiln.manual_seed(0)
    x = kiln.ones(20000)
    y = F.dropout(x, 0.3).numpy()
    values = np.unique(y)
    assert len(values) == 2 and values[0] == 0.0
    assert values[1] == pytest.approx(1 / 0.7, rel=1e-6)
    assert abs((y == 0).mean() - 0.3) < 0.02
    assert F.dropout(x, 1.0).sum().item() == 0.0


def test_dropout_is_reproducible_under_manual_seed():
    x = kiln.randn(50)
    kiln.manual_seed(7)
    a = F.dropout(x, 0.5)
    kiln.manual_seed(7)
    b = F.dropout(x, 0.5)
    c = F.dropout(x, 0.5)
    assert np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(b.numpy(), c.numpy())


def test_dropout2d_drops_whole_channels():
    kiln.manual_seed(1)
    y = F.dropout2d(kiln.ones(4, 8, 3, 3), 0.5).numpy()
    per_channel = y.reshape(4, 8, -1)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))
    assert 0 < (per_channel[:, :, 0] == 0).sum() < 32


def test_batch_norm_updates_running_stats_in_place():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 2))
    mean, var = kiln.zeros(3, dtype=kiln.float64), kiln.ones(3, dtype=kiln.float64)
    F.batch_norm(kiln.tensor(x), mean, var, training=True, momentum=0.25)
    np.testing.assert_allclose(mean.numpy(), 0.25 * x.mean(axis=(0, 2)))
    np.testing.assert_allclose(var.numpy(), 0.75 + 0.25 * x.var(axis=(0, 2), ddof=1))


def test_inplace_activation_writes_the_input():
    x = kiln.tensor([-1.0, 2.0])
    y = F.relu(x, inplace=True)
    assert y is x and x.tolist() == [0.0, 2.0]


def test_softmax_without_dim_warns_and_uses_pytorchs_rule():
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        y = F.softmax(kiln.ones(2, 4))
    np.testing.assert_allclose(y.numpy(), np.full((2, 4), 0.25))


def test_legacy_size_average_maps_to_reduction():
    a, b = kiln.tensor([0.0, 0.0]), kiln.tensor([1.0, 3.0])
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert F.mse_loss(a, b, size_average=False).item() == 10.0


def test_mse_with_broadcast_target_warns():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(kiln.zeros(3), kiln.zeros(2, 3))


def test_cross_entropy_all_ignored_is_nan_as_pytorch():
    loss = F.cross_entropy(kiln.zeros(2, 3), kiln.tensor([-100, -100]))
    assert math.isnan(loss.item())


# ------------------------------------------------------------------------------ errors

ERRORS = [
    (
        "linear_in_features",
        lambda: F.linear(kiln.zeros(2, 5), kiln.zeros(4, 3)),
        RuntimeError,
        "mat1 and mat2 shapes cannot be multiplied (2x5 and 3x4)",
    ),
    (
        "linear_batched",
        lambda: F.linear(kiln.zeros(2, 3, 5), kiln.zeros(4, 3)),
        RuntimeError,
        "mat1 and mat2 shapes cannot be multiplied (6x5 and 3x4)",
    ),
    (
        "conv_channels",
        lambda: F.conv2d(kiln.zeros(1, 2, 5, 5), kiln.zeros(4, 3, 3, 3)),
        RuntimeError,
        "Given groups=1, weight of size [4, 3, 3, 3], expected input[1, 2, 5, 5] "
        "to have 3 channels, but got 2 channels instead",
    ),
    (
        "conv_kernel_too_big",
        lambda: F.conv2d(kiln.zeros(1, 3, 2, 2), kiln.zeros(4, 3, 3, 3)),
        RuntimeError,
        "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). "
        "Kernel size can't be greater than actual input size",
    ),
    (
        "conv_rank",
        lambda: F.conv2d(kiln.zeros(3, 5, 5, 5, 5), kiln.zeros(4, 3, 3, 3)),
        RuntimeError,
        "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of "
        "size: [3, 5, 5, 5, 5]",
    ),
    (
        "conv_same_strided",
        lambda: F.conv2d(kiln.zeros(1, 3, 5, 5), kiln.zeros(4, 3, 3, 3), stride=2, padding="same"),
        RuntimeError,
        "padding='same' is not supported for strided convolutions",
    ),
    (
        "pool_pad",
        lambda: F.max_pool2d(kiln.zeros(1, 1, 5, 5), 3, padding=2),
        RuntimeError,
        "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and "
        "dilation=1",
    ),
    (
        "ce_target_range",
        lambda: F.cross_entropy(kiln.zeros(3, 4), kiln.tensor([0, 1, 5])),
        IndexError,
        "Target 5 is out of bounds.",
    ),
    (
        "ce_batch",
        lambda: F.cross_entropy(kiln.zeros(3, 4), kiln.tensor([0, 1])),
        ValueError,
        "Expected input batch_size (3) to match target batch_size (2).",
    ),
    (
        "nll_float_target",
        lambda: F.nll_loss(kiln.zeros(3, 4), kiln.tensor([0.0, 1.0, 2.0])),
        RuntimeError,
        "expected target dtype to be Long or Byte, but got Float",
    ),
    (
        "bce_shape",
        lambda: F.binary_cross_entropy(kiln.zeros(3), kiln.zeros(3, 1)),
        ValueError,
        "Using a target size (kiln.Size([3, 1])) that is different to the input size "
        "(kiln.Size([3])) is deprecated. Please ensure they have the same size.",
    ),
    (
        "bce_range",
        lambda: F.binary_cross_entropy(kiln.tensor([1.5]), kiln.tensor([1.0])),
        RuntimeError,
        "all elements of input should be between 0 and 1",
    ),
    (
        "reduction",
        lambda: F.mse_loss(kiln.zeros(3), kiln.zeros(3), reduction="foo"),
        ValueError,
        "foo is not a valid value for reduction",
    ),
    (
        "dropout_p",
        lambda: F.dropout(kiln.zeros(3), p=1.5),
        ValueError,
        "dropout probability has to be between 0 and 1, but got 1.5",
    ),
    (
        "layer_norm_shape",
        lambda: F.layer_norm(kiln.zeros(2, 3), (4,)),
        RuntimeError,
        "Given normalized_shape=[4], expected input with shape [*, 4], but got input of size[2, 3]",
    ),
    (
        "batch_norm_one_value",
        lambda: F.batch_norm(kiln.zeros(1, 3), kiln.zeros(3), kiln.ones(3), training=True),
        ValueError,
        "Expected more than 1 value per channel when training, got input size kiln.Size([1, 3])",
    ),
    (
        "one_hot_negative",
        lambda: F.one_hot(kiln.tensor([-1, 2])),
        RuntimeError,
        "Class values must be non-negative.",
    ),
    (
        "one_hot_too_big",
        lambda: F.one_hot(kiln.tensor([1, 5]), 3),
        RuntimeError,
        "Class values must be smaller than num_classes.",
    ),
    (
        "embedding_range",
        lambda: F.embedding(kiln.tensor([5]), kiln.zeros(3, 2)),
        IndexError,
        "index out of range in self",
    ),
    (
        "gelu_mode",
        lambda: F.gelu(kiln.zeros(3), approximate="foo"),
        RuntimeError,
        "approximate argument must be either none or tanh.",
    ),
    (
        "pad_odd",
        lambda: F.pad(kiln.zeros(2, 3), (1, 2, 3)),
        RuntimeError,
        "Padding length must be divisible by 2",
    ),
    (
        "pad_reflect_too_big",
        lambda: F.pad(kiln.zeros(1, 1, 3), (3, 3), mode="reflect"),
        RuntimeError,
        "Padding size should be less than the corresponding input dimension",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_name_the_problem(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


@pytest.mark.parametrize(
    "call, error, message",
    [e[1:] for e in ERRORS if "kiln.Size" not in e[3] and "reflect" not in e[0]],
    ids=[e[0] for e in ERRORS if "kiln.Size" not in e[3] and "reflect" not in e[0]],
)
def test_errors_match_torch(call, error, message):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    source = call.__code__
    # rerun the same lambda with torch in place of kiln (same names and signatures)
    namespace = {"F": TF, "kiln": torch, "__builtins__": __builtins__}
    torch_call = type(call)(source, namespace)
    with pytest.raises(error, match=re.escape(message)):
        torch_call()
