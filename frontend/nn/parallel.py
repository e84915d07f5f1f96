"""``kiln.nn.parallel``: the names of PyTorch's ``torch.nn.parallel`` that scripts import
(``from torch.nn.parallel import DistributedDataParallel as DDP``), as PyTorch behaves on a
machine without GPUs: ``DataParallel`` runs its module directly, ``DistributedDataParallel``
is ``kiln.distributed``'s, and ``data_parallel`` finds no device.

>>> import kiln
>>> DataParallel(kiln.nn.Linear(2, 3))(kiln.ones(4, 2)).shape
kiln.Size([4, 3])
"""

from __future__ import annotations

from .extra_modules import DataParallel

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]  # noqa: F822 (lazy)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """PyTorch's functional DataParallel: it needs an accelerator, and raises (as
    PyTorch's) without one."""
    raise RuntimeError("device type could not be determined")


def __getattr__(name):
    if name == "DistributedDataParallel":  # (kiln.distributed loads on first use)
        from ..distributed.ddp import DistributedDataParallel

        return DistributedDataParallel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
