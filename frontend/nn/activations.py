"""Activation functions of ``kiln.nn.functional``: composites over ``kiln.ops``.

Every branchy activation is written with ``where`` and keeps both branches finite (``exp``
only sees non-positive numbers), so gradients never meet ``0 * inf``. Gradients at the kinks
follow PyTorch (``relu'(0) == 0``).

>>> import kiln
>>> relu(kiln.tensor([-1.0, 0.0, 2.0]))
tensor([0., 0., 2.])
"""

from __future__ import annotations

import math
import warnings

import kiln
from kiln import ops
from kiln.autograd import fused, tape
from kiln.autograd.vjp import zero_linked
from kiln.dispatch import computes_in_float32
from kiln.memory_format import writes_contiguous
from kiln.ops.dims import normalize_dim

__all__ = [
    "relu",
    "relu_",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "sigmoid",
    "tanh",
    "softplus",
    "softsign",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "logsigmoid",
    "tanhshrink",
    "threshold",
    "softmax",
    "log_softmax",
    "softmin",
]


def _float(x):
    return x if x.dtype.is_floating_point else ops.cast(x, kiln.get_default_dtype())


def _maybe_inplace(x, out, inplace: bool, name: str):
    """``inplace=True`` stores the result into ``x`` (PyTorch's ``F.relu(x, inplace=True)``);
    otherwise the result's node gets PyTorch's name (``EluBackward0``)."""
    if not inplace:
        return _named(x, out, _NODE_NAMES.get(name))
    return ops.assign(x, out, name)


# PyTorch's node of each activation (``type(F.elu(x).grad_fn).__name__``); kiln's composites
# end in a ``where`` or ``mul`` node, renamed (the same rule, PyTorch's name)
_NODE_NAMES = {
    "hardtanh_": "HardtanhBackward0",
    "leaky_relu_": "LeakyReluBackward0",
    "elu_": "EluBackward0",
    "selu_": "EluBackward0",
    "celu_": "CeluBackward0",
    "silu_": "SiluBackward0",
    "mish_": "MishBackward0",
    "hardsigmoid_": "HardsigmoidBackward0",
    "hardswish_": "HardswishBackward0",
    "threshold_": "ThresholdBackward0",
}


def _named(x, out, name):
    """``out`` with its node renamed ``name``: only a node the composite recorded (not one
    it returned unchanged: ``x``'s own)."""
    if name is not None and out is not x and out.grad_fn is not getattr(x, "grad_fn", None):
        tape.rename(out, name, x)
    return out


def relu(input, inplace: bool = False):
    """``max(x, 0)`` as ``kiln.relu`` computes it (NaN and -0.0 pass through, as PyTorch).

    >>> relu(kiln.tensor([-2.0, 3.0]))
    tensor([0., 3.])
    """
    if getattr(input, "is_quantized", False):  # (kiln.ao: the quantized ReLU)
        return input.relu_() if inplace else input.relu()
    out = ops.relu(input)
    return _maybe_inplace(input, out, inplace, "relu_")


def relu_(input):
    return relu(input, inplace=True)


def relu6(input, inplace: bool = False):
    """``min(max(x, 0), 6)``.

    >>> relu6(kiln.tensor([-1.0, 3.0, 9.0]))
    tensor([0., 3., 6.])
    """
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """``x`` clamped to ``[min_val, max_val]`` (gradient 0 outside, as PyTorch).

    >>> hardtanh(kiln.tensor([-3.0, 0.5])).tolist()
    [-1.0, 0.5]
    """
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    low = ops.constant(min_val, input.dtype)
    high = ops.constant(max_val, input.dtype)
    inside = ops.logical_and(ops.gt(input, min_val), ops.lt(input, max_val))
    # PyTorch: x < min -> min, x > max -> max, else x (the bounds themselves, -0.0 and NaN
    # pass through, detached: the gradient is 1 strictly inside only)
    edge = ops.where(
        ops.lt(input, min_val),
        low,
        ops.where(ops.gt(input, max_val), high, input.detach()),
    )
    out = ops.where(zero_linked(inside, input), input, edge)
    return _maybe_inplace(input, out, inplace, "hardtanh_")


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """``x`` for ``x > 0`` else ``negative_slope * x``.

    >>> leaky_relu(kiln.tensor([-1.0, 2.0]), 0.5).tolist()
    [-0.5, 2.0]
    """
    positive = zero_linked(ops.gt(input, 0), input)  # (PyTorch's backward reads input)
    out = ops.where(positive, input, ops.mul(input, negative_slope))
    return _maybe_inplace(input, out, inplace, "leaky_relu_")


def _expm1_negative(x):
    """``expm1(x)`` where ``x <= 0`` or NaN (0 elsewhere): the negative branch of ELU-like
    functions, never overflowing, exact near 0, slope 1 at 0 (``x`` itself is chosen there)."""
    return ops.expm1(ops.where(ops.gt(x, 0), ops.constant(0, x.dtype), x))


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """``x`` for ``x > 0`` else ``alpha * (exp(x) - 1)``.

    >>> elu(kiln.tensor([0.0, 1.0]))
    tensor([0., 1.])
    """
    out = ops.where(ops.gt(input, 0), input, ops.mul(_expm1_negative(input), alpha))
    return _maybe_inplace(input, out, inplace, "elu_")


def selu(input, inplace: bool = False):
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    out = ops.mul(ops.where(ops.gt(input, 0), input, ops.mul(_expm1_negative(input), alpha)), scale)
    return _maybe_inplace(input, out, inplace, "selu_")


def celu(input, alpha: float = 1.0, inplace: bool = False):
    scaled = ops.div(input, alpha)
    out = ops.where(ops.gt(input, 0), input, ops.mul(_expm1_negative(scaled), alpha))
    return _maybe_inplace(input, out, inplace, "celu_")


@computes_in_float32
def gelu(input, approximate: str = "none"):
    """``x * Phi(x)`` (``approximate='none'``, through ``erf``) or its ``tanh`` approximation.

    >>> gelu(kiln.tensor([0.0]))
    tensor([0.])
    """
    x = _float(input)
    if approximate == "none":
        cdf = ops.mul(ops.add(ops.erf(ops.mul(x, 1.0 / math.sqrt(2.0))), 1.0), 0.5)
        return _named(input, ops.mul(x, cdf), "GeluBackward0")
    if approximate == "tanh":
        inner = ops.mul(
            ops.add(x, ops.mul(ops.mul(ops.mul(x, x), x), 0.044715)), math.sqrt(2.0 / math.pi)
        )
        out = ops.mul(ops.mul(x, 0.5), ops.add(ops.tanh(inner), 1.0))
        return _named(input, out, "GeluBackward0")
    raise RuntimeError("approximate argument must be either none or tanh.")


def sigmoid(input):
    """``1 / (1 + exp(-x))``.

    >>> sigmoid(kiln.tensor([0.0])).tolist()
    [0.5]
    """
    return _named(input, ops.sigmoid(input), "SigmoidBackward0")


def tanh(input):
    return ops.tanh(input)


@computes_in_float32
def silu(input, inplace: bool = False):
    """``x * sigmoid(x)`` (also called swish).

    >>> silu(kiln.tensor([0.0]))
    tensor([0.])
    """
    return _maybe_inplace(input, ops.mul(input, ops.sigmoid(input)), inplace, "silu_")


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold``.

    >>> softplus(kiln.tensor([30.0]))
    tensor([30.])
    """
    return _named(input, ops.softplus(_float(input), beta, threshold), "SoftplusBackward0")


@computes_in_float32
def mish(input, inplace: bool = False):
    """``x * tanh(softplus(x))``."""
    return _maybe_inplace(input, ops.mul(input, ops.tanh(softplus(input))), inplace, "mish_")


def softsign(input):
    return ops.div(input, ops.add(ops.abs(input), 1.0))


def hardsigmoid(input, inplace: bool = False):
    out = ops.div(hardtanh(ops.add(input, 3.0), 0.0, 6.0), 6.0)
    return _maybe_inplace(input, out, inplace, "hardsigmoid_")


@computes_in_float32
def hardswish(input, inplace: bool = False):
    # (PyTorch's order, x * relu6(x + 3) / 6: x * (relu6(x + 3) / 6) differed from it in
    # the last bit on 30% of float32 elements)
    out = ops.div(ops.mul(input, hardtanh(ops.add(input, 3.0), 0.0, 6.0)), 6.0)
    return _maybe_inplace(input, out, inplace, "hardswish_")


def logsigmoid(input):
    """``log(sigmoid(x))``, stable for large ``|x|``."""
    return _named(input, ops.logsigmoid(input), "LogSigmoidBackward0")


def tanhshrink(input):
    return ops.sub(input, ops.tanh(input))


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """``x`` where ``x > threshold``, else ``value``."""
    out = ops.where(ops.gt(input, threshold), input, ops.constant(value, input.dtype))
    return _maybe_inplace(input, out, inplace, "threshold_")


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    # PyTorch's legacy rule for dim=None, with its warning.
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call "
        "to include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim`` (shifted by the max, so it never overflows).

    >>> softmax(kiln.tensor([1.0, 1.0]), dim=0).tolist()
    [0.5, 0.5]
    """
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return _named(input, ops.softmax(input, dim, dtype=dtype), "SoftmaxBackward0")


@writes_contiguous
def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """``log(softmax(x))`` computed as ``x - logsumexp(x)``.

    >>> log_softmax(kiln.tensor([0.0, 0.0]), dim=0)
    tensor([-0.6931, -0.6931])
    """
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    if dtype is None and isinstance(input, kiln.Tensor) and input.ndim:
        out = fused.log_softmax(input, normalize_dim("log_softmax", dim, input.ndim))
        if out is not None:  # eagerly on NumPy: one node (LogSoftmaxBackward0), as PyTorch
            return out
    return ops.log_softmax(input, dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    return _named(input, ops.softmax(ops.neg(input), dim, dtype=dtype), "SoftmaxBackward0")
