"""``kiln.cpu``: PyTorch's ``torch.cpu`` namespace, for ``kiln.cpu.amp.autocast``.

>>> with kiln.cpu.amp.autocast():
...     (kiln.ones(2, 2) @ kiln.ones(2, 2)).dtype
kiln.bfloat16
"""

from __future__ import annotations

import types

from . import amp as _amp

__all__ = ["amp", "is_available", "device_count"]


class _CpuAutocast(_amp.autocast):
    """``torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16, cache_enabled=True)``."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True):
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def _cpu_grad_scaler(*args, **kwargs):
    return _amp.GradScaler("cpu", *args, **kwargs)


amp = types.SimpleNamespace(autocast=_CpuAutocast, GradScaler=_cpu_grad_scaler)


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1
