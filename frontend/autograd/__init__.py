"""Autograd: the tape, the VJP table, ``backward``/``grad``, grad mode and custom Functions.

The dispatcher imports this package while ``kiln`` itself is still loading, so the parts
written in kiln ops (custom Functions, gradcheck) load on first use; ``forward_ad`` and
``functional`` (built on ``kiln.func``, which needs this package) are imported by ``kiln``
itself once ``kiln.func`` exists.
"""

import importlib

from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tape import backward, grad

_LAZY = {
    "Function": ("function", "Function"),
    "function": ("function", None),
    "GradcheckError": ("checks", "GradcheckError"),
    "gradcheck": ("checks", "gradcheck"),
    "gradgradcheck": ("checks", "gradgradcheck"),
    "graph": ("graph", None),
    "detect_anomaly": ("anomaly_mode", "detect_anomaly"),
    "set_detect_anomaly": ("anomaly_mode", "set_detect_anomaly"),
    "anomaly_mode": ("anomaly_mode", None),
}


def __getattr__(name):
    if name == "inference_mode":  # (kiln.inference_mode, also torch.autograd's)
        from ..compat import inference_mode

        return inference_mode
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(f"{__name__}.{module_name}")
        return module if attr is None else getattr(module, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def Variable(tensor, requires_grad=False):  # noqa: N802 - legacy PyTorch API
    """Legacy ``torch.autograd.Variable``: the tensor itself (optionally requiring grad)."""
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def variable(*args, **kwargs):
    """Removed from PyTorch long ago: it raises, as PyTorch's does."""
    raise RuntimeError("torch.autograd.variable(...) is deprecated, use torch.tensor(...) instead")


__all__ = [
    "Function",
    "GradcheckError",
    "Variable",
    "backward",
    "enable_grad",
    "function",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "graph",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
