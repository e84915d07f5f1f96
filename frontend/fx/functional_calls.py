"""How torch.fx records a call of one of ``torch.nn.functional``'s Python functions.

Those functions hand ``__torch_function__`` their tensor arguments positionally and every
other parameter by keyword, defaults filled in, so ``F.relu(x)`` is recorded as
``relu(x, inplace = False)``. kiln records ``kiln.nn.functional.<name>`` calls the same way
(the table below is taken from PyTorch's sources); other functions (``F.linear``,
``F.conv2d``, ``kiln.add``: builtins in PyTorch) are recorded as called.

>>> import kiln
>>> normalized_call("relu", kiln.nn.functional.relu, (1,), {})
((1,), {'inplace': False})
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

# name -> (parameters passed positionally, parameters passed by keyword)
_CALLS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "relu": (("input",), ("inplace",)),
    "relu6": (("input",), ("inplace",)),
    "elu": (("input",), ("alpha", "inplace")),
    "celu": (("input",), ("alpha", "inplace")),
    "selu": (("input",), ("inplace",)),
    "silu": (("input",), ("inplace",)),
    "mish": (("input",), ("inplace",)),
    "hardswish": (("input",), ("inplace",)),
    "hardsigmoid": (("input",), ("inplace",)),
    "hardtanh": (("input",), ("min_val", "max_val", "inplace")),
    "leaky_relu": (("input",), ("negative_slope", "inplace")),
    "rrelu": (("input",), ("lower", "upper", "training", "inplace")),
    "threshold": (("input", "threshold", "value"), ("inplace",)),
    "glu": (("input",), ("dim",)),
    "softsign": (("input",), ()),
    "tanhshrink": (("input",), ()),
    "softmax": (("input",), ("dim", "_stacklevel", "dtype")),
    "softmin": (("input",), ("dim", "_stacklevel", "dtype")),
    "log_softmax": (("input",), ("dim", "_stacklevel", "dtype")),
    "gumbel_softmax": (("logits",), ("tau", "hard", "eps", "dim")),
    "dropout": (("input",), ("p", "training", "inplace")),
    "dropout1d": (("input",), ("p", "training", "inplace")),
    "dropout2d": (("input",), ("p", "training", "inplace")),
    "dropout3d": (("input",), ("p", "training", "inplace")),
    "alpha_dropout": (("input",), ("p", "training", "inplace")),
    "feature_alpha_dropout": (("input",), ("p", "training", "inplace")),
    "max_pool1d": (
        ("input", "kernel_size"),
        ("stride", "padding", "dilation", "ceil_mode", "return_indices"),
    ),
    "max_pool2d": (
        ("input", "kernel_size"),
        ("stride", "padding", "dilation", "ceil_mode", "return_indices"),
    ),
    "max_pool3d": (
        ("input", "kernel_size"),
        ("stride", "padding", "dilation", "ceil_mode", "return_indices"),
    ),
    "adaptive_max_pool1d": (("input", "output_size"), ("return_indices",)),
    "adaptive_max_pool2d": (("input", "output_size"), ("return_indices",)),
    "adaptive_max_pool3d": (("input", "output_size"), ("return_indices",)),
    "adaptive_avg_pool2d": (("input", "output_size"), ()),
    "adaptive_avg_pool3d": (("input", "output_size"), ()),
    "lp_pool1d": (("input", "norm_type", "kernel_size"), ("stride", "ceil_mode")),
    "lp_pool2d": (("input", "norm_type", "kernel_size"), ("stride", "ceil_mode")),
    "batch_norm": (
        ("input", "running_mean", "running_var"),
        ("weight", "bias", "training", "momentum", "eps"),
    ),
    "instance_norm": (
        ("input",),
        ("running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum", "eps"),
    ),
    "layer_norm": (("input", "normalized_shape"), ("weight", "bias", "eps")),
    "group_norm": (("input", "num_groups"), ("weight", "bias", "eps")),
    "rms_norm": (("input", "normalized_shape"), ("weight", "eps")),
    "local_response_norm": (("input", "size"), ("alpha", "beta", "k")),
    "normalize": (("input",), ("p", "dim", "eps", "out")),
    "embedding": (
        ("input", "weight"),
        ("padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"),
    ),
    "pad": (("input", "pad"), ("mode", "value")),
    "interpolate": (
        ("input",),
        ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"),
    ),
    "grid_sample": (("input", "grid"), ("mode", "padding_mode", "align_corners")),
    "affine_grid": (("theta", "size"), ("align_corners",)),
    "unfold": (("input", "kernel_size"), ("dilation", "padding", "stride")),
    "fold": (("input", "output_size", "kernel_size"), ("dilation", "padding", "stride")),
    "cross_entropy": (
        ("input", "target"),
        ("weight", "size_average", "ignore_index", "reduce", "reduction", "label_smoothing"),
    ),
    "nll_loss": (
        ("input", "target"),
        ("weight", "size_average", "ignore_index", "reduce", "reduction"),
    ),
    "mse_loss": (("input", "target"), ("size_average", "reduce", "reduction", "weight")),
    "l1_loss": (("input", "target"), ("size_average", "reduce", "reduction")),
    "smooth_l1_loss": (("input", "target"), ("size_average", "reduce", "reduction", "beta")),
    "huber_loss": (("input", "target"), ("reduction", "delta", "weight")),
    "kl_div": (("input", "target"), ("size_average", "reduce", "reduction", "log_target")),
    "binary_cross_entropy": (
        ("input", "target"),
        ("weight", "size_average", "reduce", "reduction"),
    ),
    "binary_cross_entropy_with_logits": (
        ("input", "target"),
        ("weight", "size_average", "reduce", "reduction", "pos_weight"),
    ),
    "soft_margin_loss": (("input", "target"), ("size_average", "reduce", "reduction")),
    "hinge_embedding_loss": (
        ("input", "target"),
        ("margin", "size_average", "reduce", "reduction"),
    ),
    "margin_ranking_loss": (
        ("input1", "input2", "target"),
        ("margin", "size_average", "reduce", "reduction"),
    ),
    "cosine_embedding_loss": (
        ("input1", "input2", "target"),
        ("margin", "size_average", "reduce", "reduction"),
    ),
    "triplet_margin_loss": (
        ("anchor", "positive", "negative"),
        ("margin", "p", "eps", "swap", "size_average", "reduce", "reduction"),
    ),
    "poisson_nll_loss": (
        ("input", "target"),
        ("log_input", "full", "size_average", "eps", "reduce", "reduction"),
    ),
    "gaussian_nll_loss": (("input", "target", "var"), ("full", "eps", "reduction")),
}


def normalized_call(name: str, fn: Callable, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``(args, kwargs)`` as torch.fx records ``torch.nn.functional.<name>(*args, **kwargs)``;
    the call unchanged when ``name`` is not in the table or kiln's signature differs."""
    entry = _CALLS.get(name)
    if entry is None:
        return args, kwargs
    positional, keywords = entry
    try:
        signature = inspect.signature(fn)
        bound = signature.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return args, kwargs  # let the call itself report a bad call
    if any(p not in signature.parameters for p in positional + keywords):
        return args, kwargs
    if set(bound.arguments) - set(positional) - set(keywords):
        return args, kwargs  # kiln-only parameters given: keep the call as written
    bound.apply_defaults()
    values = bound.arguments
    return tuple(values[p] for p in positional), {k: values[k] for k in keywords}
