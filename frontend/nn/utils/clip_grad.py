"""Gradient clipping (``kiln.nn.utils.clip_grad_norm_`` and friends).

Clipping is written with tensor ops and in-place updates of ``.grad``, so it also runs
inside a ``kiln.jit`` training step (the clipped gradients are written back).

>>> import kiln
>>> p = kiln.nn.Parameter(kiln.zeros(2))
>>> p.grad = kiln.tensor([3.0, 4.0])
>>> clip_grad_norm_([p], 1.0).item()
5.0
>>> [round(v, 4) for v in p.grad.tolist()]
[0.6, 0.8]
"""

from __future__ import annotations

import math

import kiln
from kiln import ops

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_total_norm",
    "clip_grads_with_norm_",
]


def _grads(parameters):
    if isinstance(parameters, kiln.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None):
    """The ``norm_type`` norm of all ``tensors`` together (as one vector)."""
    if isinstance(tensors, kiln.Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return kiln.tensor(0.0)
    if norm_type == math.inf:
        norms = [ops.amax(ops.abs(t)) for t in tensors]
        total = norms[0] if len(norms) == 1 else ops.amax(ops.stack(norms))
    else:
        norms = [ops.norm(ops.reshape(t, (-1,)), norm_type) for t in tensors]
        total = ops.norm(ops.stack(norms), norm_type)
    if error_if_nonfinite and not kiln.is_tracing():
        if not bool(ops.isfinite(total)):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from "
                "`parameters` is non-finite, so it cannot be clipped. To disable "
                "this error and scale the gradients by the non-finite norm "
                "anyway, set `error_if_nonfinite=False`"
            )
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale the gradients in place by ``min(1, max_norm / (total_norm + 1e-6))``."""
    grads = _grads(parameters)
    if not grads:
        return
    coefficient = ops.clamp(ops.div(float(max_norm), ops.add(total_norm, 1e-6)), max=1.0)
    with kiln.no_grad():
        for g in grads:
            g.mul_(ops.cast(coefficient, g.dtype))


def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
):
    """Rescale the gradients so that their total norm is at most ``max_norm``; return the
    total norm before clipping (a 0-d tensor)."""
    if isinstance(parameters, kiln.Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    with kiln.no_grad():
        total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place.

    >>> p = kiln.nn.Parameter(kiln.zeros(2)); p.grad = kiln.tensor([-3.0, 0.5])
    >>> clip_grad_value_(p, 1.0); p.grad.tolist()
    [-1.0, 0.5]
    """
    clip_value = float(clip_value)
    with kiln.no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)


def clip_grad_norm(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
):
    """Deprecated (PyTorch warns FutureWarning): ``clip_grad_norm_``."""
    import warnings

    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
        "`torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)
