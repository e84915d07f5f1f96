"""Autograd: the tape, the VJP table, ``backward``/``grad`` and grad mode.

``forward_ad`` and ``functional`` (built on ``kiln.func``, which needs this package) are
imported by ``kiln`` itself once ``kiln.func`` exists.
"""

from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tape import backward, grad


def Variable(tensor, requires_grad=False):  # noqa: N802 - legacy PyTorch API
    """Legacy ``torch.autograd.Variable``: the tensor itself (optionally requiring grad)."""
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


__all__ = [
    "Variable",
    "backward",
    "enable_grad",
    "grad",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
