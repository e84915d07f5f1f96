"""``kiln.nn.attention``: the backend selection of ``scaled_dot_product_attention``.

kiln has one attention implementation (the math one): inside ``sdpa_kernel`` with a
backend list that includes ``SDPBackend.MATH`` attention runs as before, and so it does with
``FLASH_ATTENTION`` for the calls PyTorch's CPU flash kernel takes (4-d inputs, no dropout,
one head size); otherwise a call of ``scaled_dot_product_attention`` raises RuntimeError,
as PyTorch does on a machine without the requested kernels.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum


class SDPBackend(enum.IntEnum):
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


_ALLOWED: contextvars.ContextVar = contextvars.ContextVar("sdpa_backends", default=None)


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority: bool = False):
    """``with sdpa_kernel(SDPBackend.MATH):`` (or a list of backends)."""
    chosen = [backends] if isinstance(backends, SDPBackend) else list(backends)
    if not all(isinstance(b, SDPBackend) for b in chosen):
        raise TypeError("sdpa_kernel: backends must be SDPBackend members")
    token = _ALLOWED.set(tuple(chosen))
    try:
        yield
    finally:
        _ALLOWED.reset(token)


def _flash_fits(query, key, value, dropout_p) -> bool:
    """Whether PyTorch's CPU flash-attention kernel takes this call (4-d inputs, no dropout,
    one head size): where it does, kiln's math attention stands in for it (same values)."""
    if query is None:
        return False
    return (
        query.ndim == key.ndim == value.ndim == 4
        and not dropout_p
        and query.shape[-1] == key.shape[-1] == value.shape[-1]
    )


def _check_backend(query=None, key=None, value=None, dropout_p=0.0) -> None:
    """Called by ``scaled_dot_product_attention``: refuse when neither MATH nor (for a call
    PyTorch's CPU flash kernel takes) FLASH_ATTENTION is allowed."""
    chosen = _ALLOWED.get()
    flash = chosen is not None and SDPBackend.FLASH_ATTENTION in chosen
    if flash and _flash_fits(query, key, value, dropout_p):
        return
    if chosen is not None and SDPBackend.MATH not in chosen:
        names = ", ".join(b.name for b in chosen)
        raise RuntimeError(
            f"scaled_dot_product_attention: no available kernel: kiln implements only the "
            f"MATH backend, and sdpa_kernel allows {names}"
        )


__all__ = ["SDPBackend", "sdpa_kernel"]
