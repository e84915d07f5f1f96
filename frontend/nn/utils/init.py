"""``kiln.nn.utils.skip_init`` (PyTorch's ``torch.nn.utils.init``): build a module without
running its parameter initialization.

>>> import kiln
>>> m = skip_init(kiln.nn.Linear, 4, 2)
>>> tuple(m.weight.shape), m.weight.device.type
((2, 4), 'cpu')
"""

from __future__ import annotations

import inspect

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` with uninitialized parameters and buffers: built on
    the ``meta`` device, then given empty storage on ``device`` (default CPU). The class
    must accept a ``device`` argument and create its tensors on it."""
    if not isinstance(module_cls, type):
        raise TypeError(f"Expected a Module class, got {module_cls!r}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    final_device = kwargs.pop("device", "cpu")
    kwargs["device"] = "meta"
    return module_cls(*args, **kwargs).to_empty(device=final_device)
