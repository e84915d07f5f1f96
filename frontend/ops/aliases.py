"""``torch.*`` names of functional ops (``torch.conv2d``, ``torch.dropout``, ...), with the
signatures of PyTorch's namespace, which are ATen's and sometimes differ from
``torch.nn.functional``'s: ``torch.dropout(input, p, train)`` takes ``train`` positionally,
``torch.batch_norm`` puts ``weight, bias`` before the running statistics, and the losses
take ``reduction`` as ATen's integer (0 none, 1 mean, 2 sum), and its default there is 0
(no reduction), whatever ``torch.nn.functional``'s is.

Each forwards to ``kiln.nn.functional`` (imported when first called: ``kiln.nn`` loads
lazily), so gradients and ``kiln.jit`` come with it. Also here: ``rsub``, ``fill``,
``detach``, the dtype questions (``result_type``, ``promote_types``, ``can_cast``) and the
global switches scripts read (``kiln.compat``).

>>> x = tensor([[-1.0, 2.0]])
>>> threshold(x, 0.5, 0.0)
tensor([[0., 2.]])
"""

from __future__ import annotations

from .. import dtypes
from ..compat import (  # noqa: F401 - re-exported (__all__)
    are_deterministic_algorithms_enabled,
    get_float32_matmul_precision,
    get_num_interop_threads,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_deterministic_algorithms_warn_only_enabled,
    is_inference_mode_enabled,
    is_warn_always_enabled,
    set_anomaly_enabled,
    set_float32_matmul_precision,
    set_num_interop_threads,
    set_warn_always,
)
from ..dispatch import constant, with_out
from ..tensor import Tensor
from .elementwise import cast, sub, where
from .shape import expand

__all__ = """
adaptive_avg_pool1d adaptive_max_pool1d alpha_dropout alpha_dropout_ avg_pool1d batch_norm
bilinear binary_cross_entropy_with_logits can_cast celu celu_ channel_shuffle
constant_pad_nd conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d
cosine_embedding_loss detach detach_ dropout dropout_ embedding feature_alpha_dropout
feature_alpha_dropout_ fill group_norm hardshrink hinge_embedding_loss instance_norm kl_div
layer_norm margin_ranking_loss max_pool1d max_pool2d max_pool3d poisson_nll_loss prelu
promote_types result_type rms_norm rrelu rrelu_ rsub selu selu_ threshold threshold_
triplet_margin_loss resolve_neg is_neg resize_as_
are_deterministic_algorithms_enabled get_float32_matmul_precision get_num_interop_threads
is_anomaly_check_nan_enabled is_anomaly_enabled is_deterministic_algorithms_warn_only_enabled
is_inference_mode_enabled is_warn_always_enabled set_anomaly_enabled
set_float32_matmul_precision set_num_interop_threads set_warn_always
alias_copy as_strided_copy diagonal_copy expand_copy permute_copy split_with_sizes_copy
squeeze_copy t_copy transpose_copy unbind_copy unfold_copy unsqueeze_copy view_copy
igamma igammac
adjoint detach_copy select_copy slice_copy split_copy
""".split()


def _functional():
    from ..nn import functional

    return functional


_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(op: str, reduction) -> str:
    """ATen's integer reduction (0, 1, 2); PyTorch's string names are accepted too."""
    if isinstance(reduction, str) and reduction in _REDUCTIONS.values():
        return reduction
    if not isinstance(reduction, bool) and reduction in _REDUCTIONS:
        return _REDUCTIONS[reduction]
    raise RuntimeError(f"{op}: {reduction!r} is not a valid value for reduction")


def _stride(stride):
    """ATen's ``stride=[]`` default means "the kernel size" (``None`` in functional)."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return None
    return stride


# ------------------------------------------------------------------ convolutions and pools
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _functional().conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _functional().conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _functional().conv3d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(
    input,  # noqa: A002
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    return _functional().conv_transpose1d(
        input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def conv_transpose2d(
    input,  # noqa: A002
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    return _functional().conv_transpose2d(
        input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def conv_transpose3d(
    input,  # noqa: A002
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    return _functional().conv_transpose3d(
        input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def max_pool1d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):  # noqa: A002
    """The values only (``torch.max_pool1d`` has no ``return_indices``)."""
    return _functional().max_pool1d(
        input, kernel_size, _stride(stride), padding, dilation, ceil_mode
    )


def max_pool2d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):  # noqa: A002
    return _functional().max_pool2d(
        input, kernel_size, _stride(stride), padding, dilation, ceil_mode
    )


def max_pool3d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):  # noqa: A002
    return _functional().max_pool3d(
        input, kernel_size, _stride(stride), padding, dilation, ceil_mode
    )


def avg_pool1d(
    input,  # noqa: A002
    kernel_size,
    stride=(),
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
):
    return _functional().avg_pool1d(
        input, kernel_size, _stride(stride), padding, ceil_mode, count_include_pad
    )


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    return _functional().adaptive_avg_pool1d(input, output_size)


def adaptive_max_pool1d(input, output_size):  # noqa: A002
    """``(values, indices)``, always (ATen's)."""
    return _functional().adaptive_max_pool1d(input, output_size, return_indices=True)


# ------------------------------------------------------------------ normalization, embedding
def batch_norm(
    input,  # noqa: A002
    weight,
    bias,
    running_mean,
    running_var,
    training,
    momentum,
    eps,
    cudnn_enabled,
):
    """ATen's order: ``weight, bias`` come before the running statistics."""
    return _functional().batch_norm(
        input, running_mean, running_var, weight, bias, training, momentum, eps
    )


def instance_norm(
    input,  # noqa: A002
    weight,
    bias,
    running_mean,
    running_var,
    use_input_stats,
    momentum,
    eps,
    cudnn_enabled,
):
    return _functional().instance_norm(
        input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
    )


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):  # noqa: A002
    return _functional().layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):  # noqa: A002
    return _functional().group_norm(input, num_groups, weight, bias, eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002
    return _functional().rms_norm(input, normalized_shape, weight, eps)


def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """ATen's order (``weight`` first); a negative ``padding_idx`` means none (ATen's)."""
    padding = None if padding_idx is None or padding_idx < 0 else padding_idx
    return _functional().embedding(
        indices,
        weight,
        padding_idx=padding,
        scale_grad_by_freq=scale_grad_by_freq,
        sparse=sparse,
    )


def bilinear(input1, input2, weight, bias=None):
    return _functional().bilinear(input1, input2, weight, bias)


# ------------------------------------------------------------------ dropouts and activations
def _dropout(name: str, inplace: bool):
    def fn(input, p, train):  # noqa: A002 - ATen's names; all three positional
        return getattr(_functional(), name)(input, p, train, inplace)

    fn.__name__ = name + ("_" if inplace else "")
    fn.__doc__ = f"``{fn.__name__}(input, p, train)``: ``train`` is required (ATen's)."
    return fn


dropout = _dropout("dropout", False)
dropout_ = _dropout("dropout", True)
alpha_dropout = _dropout("alpha_dropout", False)
alpha_dropout_ = _dropout("alpha_dropout", True)
feature_alpha_dropout = _dropout("feature_alpha_dropout", False)
feature_alpha_dropout_ = _dropout("feature_alpha_dropout", True)


def celu(input, alpha=1.0):  # noqa: A002
    return _functional().celu(input, alpha)


def celu_(input, alpha=1.0):  # noqa: A002
    return _functional().celu(input, alpha, inplace=True)


def selu(input):  # noqa: A002
    return _functional().selu(input)


def selu_(input):  # noqa: A002
    return _functional().selu(input, inplace=True)


def rrelu(input, lower=0.125, upper=1.0 / 3.0, training=False, generator=None):  # noqa: A002
    _no_generator("rrelu", generator)
    return _functional().rrelu(input, lower, upper, training)


def rrelu_(input, lower=0.125, upper=1.0 / 3.0, training=False, generator=None):  # noqa: A002
    _no_generator("rrelu_", generator)
    return _functional().rrelu(input, lower, upper, training, inplace=True)


def _no_generator(op, generator):
    if generator is not None:
        raise NotImplementedError(f"{op}: kiln's rrelu draws from the default generator only")


def threshold(input, threshold, value):  # noqa: A002
    return _functional().threshold(input, threshold, value)


def threshold_(input, threshold, value):  # noqa: A002
    return _functional().threshold(input, threshold, value, inplace=True)


def hardshrink(input, lambd=0.5):  # noqa: A002
    return _functional().hardshrink(input, lambd)


def prelu(input, weight):  # noqa: A002
    return _functional().prelu(input, weight)


def channel_shuffle(input, groups):  # noqa: A002
    """``(N, C, *)``: the channels, read as a ``groups x C/groups`` grid, transposed."""
    from .shape import reshape, transpose

    if input.ndim < 3:
        raise RuntimeError(
            f"channel_shuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups."
        )
    grid = reshape(input, (n, groups, c // groups, *rest))
    return reshape(transpose(grid, 1, 2), tuple(input.shape))


def constant_pad_nd(input, pad, value=0):  # noqa: A002
    return _functional().pad(input, list(pad), "constant", value)


# ------------------------------------------------------------------ losses (ATen's reduction)
def kl_div(input, target, reduction=0, *, log_target=False):  # noqa: A002
    return _functional().kl_div(
        input, target, reduction=_reduction("kl_div", reduction), log_target=log_target
    )


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=0):
    return _functional().margin_ranking_loss(
        input1, input2, target, margin, reduction=_reduction("margin_ranking_loss", reduction)
    )


def hinge_embedding_loss(input, target, margin=1.0, reduction=0):  # noqa: A002
    return _functional().hinge_embedding_loss(
        input, target, margin, reduction=_reduction("hinge_embedding_loss", reduction)
    )


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=0):
    return _functional().cosine_embedding_loss(
        input1, input2, target, margin, reduction=_reduction("cosine_embedding_loss", reduction)
    )


def poisson_nll_loss(input, target, log_input, full, eps, reduction):  # noqa: A002
    return _functional().poisson_nll_loss(
        input,
        target,
        log_input,
        full,
        eps=eps,
        reduction=_reduction("poisson_nll_loss", reduction),
    )


def binary_cross_entropy_with_logits(
    input,  # noqa: A002
    target,
    weight=None,
    pos_weight=None,
    reduction=0,
):
    return _functional().binary_cross_entropy_with_logits(
        input,
        target,
        weight,
        reduction=_reduction("binary_cross_entropy_with_logits", reduction),
        pos_weight=pos_weight,
    )


def triplet_margin_loss(
    anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction=0
):
    return _functional().triplet_margin_loss(
        anchor,
        positive,
        negative,
        margin,
        p,
        eps,
        swap,
        reduction=_reduction("triplet_margin_loss", reduction),
    )


# ------------------------------------------------------------------ small tensor functions
def detach(input: Tensor) -> Tensor:  # noqa: A002
    return input.detach()


def detach_(input: Tensor) -> Tensor:  # noqa: A002
    return input.detach_()


def resolve_neg(input: Tensor) -> Tensor:  # noqa: A002
    """The input itself: kiln has no lazy negation bit to materialize."""
    return input


def is_neg(input: Tensor) -> bool:  # noqa: A002
    """Always False (kiln has no lazy negation bit)."""
    return False


def resize_as_(input: Tensor, the_template: Tensor, *, memory_format=None) -> Tensor:  # noqa: A002
    """``input.resize_as_(the_template)``."""
    return input.resize_as_(the_template, memory_format=memory_format)


def rsub(input, other, *, alpha=1):  # noqa: A002
    """``other - alpha * input``."""
    return sub(other, input, alpha=alpha)


def fill(input: Tensor, value) -> Tensor:  # noqa: A002
    """A new tensor shaped like ``input`` holding ``value`` (a number or a 0-d tensor, whose
    gradient is the sum of the output's)."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                "fill only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
        filled = cast(value, input.dtype)
    else:
        filled = constant(value, input.dtype, like=input)
    # a select, so the result is a fresh tensor and the gradient reaches ``value`` alone
    every = constant(True, dtypes.bool_, like=input)
    return where(every, expand(filled, input.shape), input)


def result_type(tensor, other) -> dtypes.dtype:
    """The dtype an operation on ``tensor`` and ``other`` (tensors or numbers) computes in."""
    return dtypes.result_type(tensor, other)


def promote_types(type1, type2) -> dtypes.dtype:
    return dtypes.promote(dtypes.as_dtype(type1), dtypes.as_dtype(type2))


def can_cast(from_, to) -> bool:
    """PyTorch's rule: no cast to a lower category (complex -> float -> integer -> bool)."""
    source, target = dtypes.as_dtype(from_), dtypes.as_dtype(to)
    return source._category <= target._category


# PyTorch's ``out=`` keyword on the functions whose torch.* binding takes it
for _name in ("hardshrink", "threshold"):
    globals()[_name] = with_out(globals()[_name])


# ------------------------------------------------------------------ *_copy variants
def _copy_variant(view: str):
    """``torch.<view>_copy``: the view op's result as a new tensor (not sharing memory);
    the gradient is the view's."""

    def fn(input, *args, **kwargs):  # noqa: A002
        out = getattr(input, view)(*args, **kwargs)
        if isinstance(out, (tuple, list)):
            return type(out)(o.clone() for o in out)
        return out.clone()

    fn.__name__ = fn.__qualname__ = view + "_copy"
    fn.__doc__ = f"``{view}`` returning a copy, not a view (PyTorch's ``{view}_copy``)."
    return fn


def alias_copy(input):  # noqa: A002
    """A copy of ``input`` (PyTorch's ``alias_copy``)."""
    return input.clone()


as_strided_copy = _copy_variant("as_strided")
diagonal_copy = _copy_variant("diagonal")
expand_copy = _copy_variant("expand")
permute_copy = _copy_variant("permute")
split_with_sizes_copy = _copy_variant("split_with_sizes")
squeeze_copy = _copy_variant("squeeze")
t_copy = _copy_variant("t")
transpose_copy = _copy_variant("transpose")
unbind_copy = _copy_variant("unbind")
unfold_copy = _copy_variant("unfold")
unsqueeze_copy = _copy_variant("unsqueeze")
view_copy = _copy_variant("view")
detach_copy = _copy_variant("detach")
select_copy = _copy_variant("select")
split_copy = _copy_variant("split")


def slice_copy(input, dim=0, start=None, end=None, step=1):  # noqa: A002
    """``input[..., start:end:step]`` along ``dim``, as a new tensor (PyTorch's ``slice_copy``)."""
    index = [slice(None)] * input.ndim
    index[dim] = slice(start, end, step)
    return input[tuple(index)].clone()


def adjoint(input):  # noqa: A002
    """The conjugate transpose of the last two dimensions (a view)."""
    return input.adjoint()


def igamma(input, other):  # noqa: A002
    """The regularized lower incomplete gamma function (``torch.special.gammainc``)."""
    from .. import special

    return special.gammainc(input, other)


def igammac(input, other):  # noqa: A002
    """The regularized upper incomplete gamma function (``torch.special.gammaincc``)."""
    from .. import special

    return special.gammaincc(input, other)


# ------------------------------------------------------------------ torch.ops.aten
class _AtenOp:
    """``torch.ops.aten.<name>`` (and its overloads ``.default``, ``.Tensor``, ``.out``, ...):
    PyTorch's ``torch.<name>`` binding is ATen's, so each forwards to ``kiln.<name>`` (or
    ``kiln.nn.functional.<name>``)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, overload: str):
        if overload.startswith("__"):
            raise AttributeError(overload)
        return self  # every overload of an op binds the same function here

    def __call__(self, *args, **kwargs):
        import kiln

        if self._name == "alias":
            return args[0].view_as(args[0])
        fn = getattr(kiln, self._name, None) or getattr(_functional(), self._name, None)
        if fn is None:
            raise NotImplementedError(f"torch.ops.aten.{self._name} is not supported by kiln")
        return fn(*args, **kwargs)

    def __repr__(self):
        return f"<OpOverloadPacket(op='aten.{self._name}')>"


class _Aten:
    """The ``aten`` namespace of ``torch.ops``."""

    def __getattr__(self, name: str) -> _AtenOp:
        if name.startswith("__"):
            raise AttributeError(name)
        return _AtenOp(name)


aten = _Aten()
