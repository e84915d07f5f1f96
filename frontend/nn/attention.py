"""``kiln.nn.attention``: the backend selection of ``scaled_dot_product_attention``.

kiln has one attention implementation (the math one): inside ``sdpa_kernel`` with a
backend list that includes ``SDPBackend.MATH`` attention runs as before; without it, a call
of ``scaled_dot_product_attention`` raises RuntimeError, as PyTorch does on a machine
without the requested kernels.
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


def _check_backend() -> None:
    """Called by ``scaled_dot_product_attention``: refuse when MATH is not allowed."""
    chosen = _ALLOWED.get()
    if chosen is not None and SDPBackend.MATH not in chosen:
        names = ", ".join(b.name for b in chosen)
        raise RuntimeError(
            f"scaled_dot_product_attention: no available kernel: kiln implements only the "
            f"MATH backend, and sdpa_kernel allows {names}"
        )


__all__ = ["SDPBackend", "sdpa_kernel"]
