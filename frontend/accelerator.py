"""``kiln.accelerator``: PyTorch's device-generic accelerator API, as the current
tutorials pick their device::

    device = (torch.accelerator.current_accelerator().type
              if torch.accelerator.is_available() else "cpu")

kiln's one accelerator is CUDA (``kiln.cuda``); without a GPU there is none, as in a CPU
build of PyTorch (``current_accelerator()`` is ``None``).
"""

from __future__ import annotations

import contextlib


def is_available() -> bool:
    from . import cuda

    return cuda.is_available()


def current_accelerator(check_available: bool = False):
    """``device("cuda")`` where a GPU is present, else ``None``."""
    from .device import device

    return device("cuda") if is_available() else None


def device_count() -> int:
    from . import cuda

    return cuda.device_count() if is_available() else 0


def current_device_index() -> int:
    from . import cuda

    if not is_available():
        raise RuntimeError("torch.accelerator: no accelerator is available (kiln runs on the CPU)")
    return cuda.current_device()


current_device_idx = current_device_index


def set_device_index(device) -> None:
    """Select accelerator ``device`` (kiln drives one GPU: index 0)."""
    index = getattr(device, "index", device)
    if not is_available():
        raise RuntimeError("torch.accelerator: no accelerator is available (kiln runs on the CPU)")
    if index not in (None, current_device_index()):
        raise RuntimeError(f"torch.accelerator: kiln drives one GPU; device index {index} refused")


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    from . import cuda

    if is_available():
        cuda.synchronize(device)


@contextlib.contextmanager
def device_index(device):
    """Make ``device`` the current accelerator inside the block (a no-op for ``None``)."""
    if device is not None:
        set_device_index(device)
    yield
