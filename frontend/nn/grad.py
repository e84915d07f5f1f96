"""``torch.nn.grad``: the gradients of a convolution with respect to its input and its
weight, given the gradient of its output (the "Fusing Convolution and Batch Norm using
Custom Function" tutorial builds a custom backward from them).

Each is the convolution's own backward (kiln's VJP rule, through ``autograd.grad``), so it
agrees with what ``backward()`` gives; the result is differentiable, as PyTorch's, when an
argument requires grad.
"""

from __future__ import annotations

from .. import autograd
from ..autograd import grad_mode
from ..creation import zeros
from . import functional as F

__all__ = [
    "conv1d_input",
    "conv1d_weight",
    "conv2d_input",
    "conv2d_weight",
    "conv3d_input",
    "conv3d_weight",
]


def _check_grad_output(out, grad_output) -> None:
    """PyTorch's check of ``grad_output`` against the convolution's output size."""
    want, got = tuple(out.shape), tuple(grad_output.shape)
    if len(want) != len(got):
        raise RuntimeError(
            f"Expected a tensor of dimension {len(want)} but got: dimension {len(got)}"
        )
    for dim, (w, g) in enumerate(zip(want, got)):
        if w != g:
            raise RuntimeError(
                f"Expected a tensor of dimension {len(want)} and tensor.size[{dim}] == {w} but "
                f"got: dimension {len(got)} and tensor.size[{dim}] = {g}"
            )


def _gradient(conv, input, weight, grad_output, which, stride, padding, dilation, groups):
    create = grad_mode.is_grad_enabled() and any(
        t.requires_grad for t in (input, weight, grad_output)
    )
    x = input if which == "weight" else input.detach().requires_grad_(True)
    w = weight if which == "input" else weight.detach().requires_grad_(True)
    if not create:
        x = x if which == "input" else x.detach()
        w = w if which == "weight" else w.detach()
    with grad_mode.enable_grad():
        out = conv(x, w, None, stride, padding, dilation, groups)
        _check_grad_output(out, grad_output)
        (g,) = autograd.grad(out, x if which == "input" else w, grad_output, create_graph=create)
    return g


def _input_grad(conv):
    def grad_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
        input = zeros(tuple(input_size), dtype=grad_output.dtype, device=grad_output.device)
        return _gradient(
            conv, input, weight, grad_output, "input", stride, padding, dilation, groups
        )

    return grad_input


def _weight_grad(conv):
    def grad_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
        weight = zeros(tuple(weight_size), dtype=grad_output.dtype, device=grad_output.device)
        return _gradient(
            conv, input, weight, grad_output, "weight", stride, padding, dilation, groups
        )

    return grad_weight


conv1d_input, conv1d_weight = _input_grad(F.conv1d), _weight_grad(F.conv1d)
conv2d_input, conv2d_weight = _input_grad(F.conv2d), _weight_grad(F.conv2d)
conv3d_input, conv3d_weight = _input_grad(F.conv3d), _weight_grad(F.conv3d)
for _name in __all__:
    globals()[_name].__name__ = globals()[_name].__qualname__ = _name
    globals()[_name].__module__ = __name__
