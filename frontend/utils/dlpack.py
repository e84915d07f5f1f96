"""``kiln.utils.dlpack``: PyTorch's ``torch.utils.dlpack`` names.

``from_dlpack`` takes any object of the DLPack protocol (a NumPy array, a PyTorch CPU
tensor, another kiln tensor) and shares its memory; ``to_dlpack`` gives the DLPack capsule
of a tensor's memory, for another framework's ``from_dlpack`` (a kiln tensor also has
``__dlpack__``, so ``torch.from_dlpack(t)`` takes it directly).

>>> import kiln, numpy as np
>>> a = np.arange(3.0)
>>> t = from_dlpack(a)
>>> a[0] = 7.0
>>> t
tensor([7., 1., 2.], dtype=kiln.float64)
>>> type(to_dlpack(t)).__name__
'PyCapsule'
"""

from __future__ import annotations

from ..creation import from_dlpack

__all__ = ["from_dlpack", "to_dlpack"]


def to_dlpack(tensor):
    """The DLPack capsule of ``tensor``'s memory (shared, not copied)."""
    from ..tensor import Tensor

    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dlpack: expected a Tensor, got {type(tensor).__name__}")
    return tensor.__dlpack__()
