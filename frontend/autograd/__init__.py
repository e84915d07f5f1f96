"""Autograd: the tape, the VJP table, ``backward``/``grad`` and grad mode."""

from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tape import backward, grad

__all__ = ["backward", "enable_grad", "grad", "is_grad_enabled", "no_grad",
           "set_grad_enabled"]
