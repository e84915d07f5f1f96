"""The rest of ``torch.nn``'s layers: power-average and fractional max pooling, the
unpooling modules, the losses ``CTCLoss``, ``MultiLabelMarginLoss``,
``TripletMarginWithDistanceLoss`` and ``NLLLoss2d``, ``AdaptiveLogSoftmaxWithLoss``,
``CrossMapLRN2d``, and the single-process ``SyncBatchNorm`` and ``DataParallel``.

Each has PyTorch's constructor, parameter names and ``extra_repr``, so state dicts load
both ways and ``print(model)`` reads the same.

>>> import kiln
>>> LPPool1d(2, 3, stride=2)
LPPool1d(norm_type=2, kernel_size=3, stride=2, ceil_mode=False)
"""

from __future__ import annotations

import collections
import warnings

import numpy as np

import kiln
from kiln import ops
from kiln.autograd.function import Function
from kiln.tracing import is_tracing

from . import extra_functional as EF
from . import extra_pooling as P
from . import functional as F
from .containers import ModuleList, Sequential
from .ctc import CTCLoss
from .extra_layers import PairwiseDistance
from .layers import Linear
from .loss_layers import NLLLoss, _Loss
from .module import Module
from .norm_layers import _BatchNorm

__all__ = [
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "MaxUnpool1d",
    "MaxUnpool3d",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "CTCLoss",
    "MultiLabelMarginLoss",
    "TripletMarginWithDistanceLoss",
    "NLLLoss2d",
    "AdaptiveLogSoftmaxWithLoss",
    "CrossMapLRN2d",
    "Container",
    "SyncBatchNorm",
    "DataParallel",
]


# ------------------------------------------------------------------------------ pooling


class _LPPoolNd(Module):
    _function = None

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input):
        return type(self)._function(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """``(sum of x ** p over each window) ** (1 / p)`` over ``(N, C, L)``."""

    _function = staticmethod(P.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """Power-average pooling over ``(N, C, H, W)``."""

    _function = staticmethod(P.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """Power-average pooling over ``(N, C, D, H, W)``."""

    _function = staticmethod(P.lp_pool3d)


class _MaxUnpoolNd(Module):
    _dims = 1
    _function = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        n = self._dims
        self.kernel_size = P.C._ntuple(kernel_size, n, "kernel_size")
        self.stride = P.C._ntuple(stride if stride is not None else kernel_size, n, "stride")
        self.padding = P.C._ntuple(padding, n, "padding")

    def forward(self, input, indices, output_size=None):
        return type(self)._function(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The inverse of ``MaxPool1d(return_indices=True)``."""

    _dims = 1
    _function = staticmethod(P.max_unpool1d)


class MaxUnpool3d(_MaxUnpoolNd):
    """The inverse of ``MaxPool3d(return_indices=True)``."""

    _dims = 3
    _function = staticmethod(P.max_unpool3d)


class _FractionalMaxPoolNd(Module):
    _dims = 2
    _function = None

    def __init__(
        self,
        kernel_size,
        output_size=None,
        output_ratio=None,
        return_indices: bool = False,
        _random_samples=None,
    ):
        super().__init__()
        n = self._dims
        self.kernel_size = P.C._ntuple(kernel_size, n, "kernel_size")
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = None if output_size is None else P.C._ntuple(output_size, n)
        self.output_ratio = None
        if output_ratio is not None:
            ratio = (output_ratio,) * n if isinstance(output_ratio, (int, float)) else output_ratio
            self.output_ratio = tuple(ratio)
        name = type(self).__name__
        if output_size is None and output_ratio is None:
            raise ValueError(
                f"{name} requires specifying either an output size, or a pooling ratio"
            )
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input):
        return type(self)._function(
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            _random_samples=self._random_samples,
        )


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling over ``(N, C, H, W)`` (Graham 2014)."""

    _dims = 2
    _function = staticmethod(P.fractional_max_pool2d)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling over ``(N, C, D, H, W)``."""

    _dims = 3
    _function = staticmethod(P.fractional_max_pool3d)


# ------------------------------------------------------------------------------ losses


class MultiLabelMarginLoss(_Loss):
    """``F.multilabel_margin_loss`` as a module."""

    def forward(self, input, target):
        return EF.multilabel_margin_loss(input, target, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """``F.triplet_margin_with_distance_loss`` as a module (the distance, a
    ``PairwiseDistance()`` by default, is a child module as in PyTorch)."""

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean"):  # fmt: skip
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(
                f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got "
                f"{margin} instead"
            )
        self.distance_function = (
            distance_function if distance_function is not None else PairwiseDistance()
        )
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return EF.triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )


class NLLLoss2d(NLLLoss):
    """Deprecated alias of ``NLLLoss`` (warns, as PyTorch)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):  # fmt: skip
        warnings.warn(
            "`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in "
            "replacement and see https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for "
            "more details.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


# -------------------------------------------------------------- adaptive log softmax

_ASMoutput = collections.namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax over many classes (Grave et al. 2016): a ``head`` over the
    frequent classes and one cluster token per ``tail`` cluster, each cluster a low-rank
    ``Sequential(Linear, Linear)``. ``forward(input, target)`` returns ``(output, loss)``:
    each target's log probability and the mean negative log likelihood.
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs, div_value: float = 4.0,
                 head_bias: bool = False, device=None, dtype=None):  # fmt: skip
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (
            cutoffs != sorted(cutoffs)
            or min(cutoffs) <= 0
            or max(cutoffs) > n_classes - 1
            or len(set(cutoffs)) != len(cutoffs)
            or any(int(c) != c for c in cutoffs)
        ):
            raise ValueError(
                "cutoffs should be a sequence of unique, positive integers sorted in an "
                "increasing order, where each value is between 1 and n_classes-1"
            )
        kw = {"device": device, "dtype": dtype}
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(
                Sequential(
                    Linear(in_features, hidden, bias=False, **kw),
                    Linear(hidden, size, bias=False, **kw),
                )
            )

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_, target_):
        if target_.ndim == 1:
            if input_.shape[0] != target_.shape[0]:
                raise RuntimeError(
                    "Input and target should have the same size in the batch dimension."
                )
            if input_.ndim != 2:
                raise RuntimeError(
                    f"1D target tensor expects 2D input tensors, but found inputs with size "
                    f"{input_.shape}"
                )
        elif target_.ndim == 0:
            if input_.ndim != 1:
                raise RuntimeError(
                    f"0D target tensor expects 1D input tensors, but found inputs with size "
                    f"{input_.shape}"
                )
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        batched = target_.ndim > 0
        input = input_ if batched else ops.unsqueeze(input_, 0)
        target = target_ if batched else ops.unsqueeze(target_, 0)
        if not is_tracing():
            values = target.detach().numpy()
            if values.size and (values.min() < 0 or values.max() >= self.n_classes):
                raise RuntimeError(
                    f"Target values should be in [0, {self.n_classes - 1}], but values in "
                    f"range [{values.min()}, {values.max()}] were found. "
                )
        # every row through every cluster, kept where its target falls (no data-dependent
        # shapes, so kiln.jit traces it); the gradients equal PyTorch's row selection
        output = ops.zeros_like(input[:, 0])
        head_index = target
        for i in range(self.n_clusters):
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            inside = ops.logical_and(ops.ge(target, low), ops.lt(target, high))
            relative = ops.clamp(ops.sub(target, low), 0, high - low - 1)
            cluster = F.log_softmax(self.tail[i](input), dim=1)
            local = ops.squeeze(ops.gather(cluster, 1, ops.unsqueeze(relative, 1)), 1)
            output = ops.where(inside, local, output)
            head_index = ops.where(
                inside, ops.full_like(target, self.shortlist_size + i), head_index
            )
        head = F.log_softmax(self.head(input), dim=1)
        output = ops.add(output, ops.squeeze(ops.gather(head, 1, ops.unsqueeze(head_index, 1)), 1))
        loss = ops.mean(ops.neg(output))
        if not batched:
            output = ops.squeeze(output, 0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input, head_output):
        head = F.log_softmax(head_output, dim=1)
        pieces = [head[:, : self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster = F.log_softmax(self.tail[i](input), dim=1)
            pieces.append(
                ops.add(cluster, head[:, self.shortlist_size + i : self.shortlist_size + i + 1])
            )
        return ops.cat(pieces, 1)

    def log_prob(self, input):
        """``(N, n_classes)`` log probabilities of every class."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input):
        """The most probable class of each row (``log_prob(input).argmax(1)``)."""
        return ops.argmax(self.log_prob(input), 1)


# ----------------------------------------------------------------------- cross-map LRN


def _cross_map_window(channels: int, size: int) -> np.ndarray:
    """``(C, C)``: which squared channels PyTorch's running sum adds into each channel's
    scale (its recurrence, including that it never drops channel 0's square)."""
    pre_pad = int((size - 1) / 2 + 1)
    window = np.zeros((channels, channels))
    window[0, : min(pre_pad, channels)] = 1
    for c in range(1, channels):
        window[c] = window[c - 1]
        if c < channels - pre_pad + 1:
            window[c, c + pre_pad - 1] += 1
        if c > pre_pad:
            window[c, c - pre_pad] -= 1
    return window


def _cross_map_backward_window(channels: int, size: int) -> np.ndarray:
    """``(C, C)``: the channels whose ratios PyTorch's backward sums into each channel's
    gradient (a centered window of ``size``, offset by ``size - (size - 1) // 2``)."""
    inverse_pre_pad = int(size - (size - 1) / 2)
    window = np.zeros((channels, channels))
    for c in range(channels):
        low, high = c - inverse_pre_pad, c + size - 1 - inverse_pre_pad
        window[c, max(low, 0) : min(high, channels - 1) + 1] = 1
    return window


def _over_channels(x, matrix):
    """``sum_j matrix[c, j] * x[:, j]`` for every channel ``c`` of ``(N, C, H, W)``."""
    moved = ops.movedim(x, 1, -1)
    summed = ops.matmul(moved, ops.constant(matrix.T, x.dtype, like=x))
    return ops.movedim(summed, -1, 1)


class _CrossMapLRN(Function):
    """PyTorch's forward, and its hand-written backward (a symmetric window, which is not
    exactly the derivative of the forward's running sum: kiln returns what PyTorch
    returns), both in kiln ops so they trace."""

    @staticmethod
    def forward(ctx, input, size, alpha, beta, k):
        channels = input.shape[1]
        summed = _over_channels(ops.mul(input, input), _cross_map_window(channels, size))
        scale = ops.add(ops.mul(summed, alpha / size), k)
        output = ops.mul(ops.pow(scale, -beta), input)
        ctx.save_for_backward(input, output, scale)
        ctx.options = (size, alpha, beta)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, output, scale = ctx.saved_tensors
        size, alpha, beta = ctx.options
        if size < 2:
            raise RuntimeError(
                "CrossMapLRN2d: PyTorch's backward fails for size=1 (start (1) + length "
                "exceeds the dimension size); kiln refuses it as well"
            )
        ratio = ops.div(ops.mul(grad_output, output), scale)
        window = _cross_map_backward_window(input.shape[1], size)
        accumulated = _over_channels(ratio, window)
        grad = ops.mul(ops.pow(scale, -beta), grad_output)
        correction = ops.mul(ops.mul(input, accumulated), 2 * alpha * beta / size)
        return ops.sub(grad, correction), None, None, None, None


class CrossMapLRN2d(Module):
    """Local response normalization across channels of ``(N, C, H, W)`` (Lua Torch's
    ``SpatialCrossMapLRN``): ``x * (k + alpha / size * sum of nearby x**2) ** -beta``,
    with PyTorch's running-sum window and its hand-written gradient."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        if input.ndim != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.ndim}D instead.")
        return _CrossMapLRN.apply(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Container(Module):
    """Deprecated: a module holding the keyword arguments as children."""

    def __init__(self, **kwargs):
        super().__init__()
        warnings.warn(
            "nn.Container is deprecated. All of it's functionality is now implemented in "
            "nn.Module. Subclass that instead.",
            stacklevel=2,
        )
        for key, value in kwargs.items():
            self.add_module(key, value)


# --------------------------------------------------------------------- one process


class SyncBatchNorm(_BatchNorm):
    """Batch norm whose statistics would be synchronized across processes; kiln runs one
    process, where PyTorch's ``SyncBatchNorm`` (no process group initialized) computes
    ordinary batch norm over any ``(N, C, *)`` input. That is what this does."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None,
                 *, bias: bool = True):  # fmt: skip
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )
        self.process_group = process_group

    def _check_input_dim(self, input) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")
        return super().forward(input)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every batch norm layer (not instance norms) replaced by a
        ``SyncBatchNorm`` holding the same parameters and buffers."""
        output = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            output = SyncBatchNorm(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
            )
            if module.affine:
                with kiln.no_grad():
                    output.weight = module.weight
                    output.bias = module.bias
            output.running_mean = module.running_mean
            output.running_var = module.running_var
            output.num_batches_tracked = module.num_batches_tracked
            output.training = module.training
            if hasattr(module, "qconfig"):
                output.qconfig = module.qconfig
        for name, child in module.named_children():
            output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return output


class DataParallel(Module):
    """Runs ``module`` as PyTorch's ``DataParallel`` does without CUDA devices: directly,
    on the CPU (``device_ids`` is empty; the state dict's keys start with ``module.``)."""

    def __init__(self, module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        # PyTorch without CUDA devices ignores device_ids and output_device the same way
        self.module = module
        self.device_ids = []

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
