"""Memory formats (``kiln.channels_last``, ...): how a tensor's elements lie in memory.

kiln's data are NumPy arrays, so a layout is the array's strides: ``channels_last`` keeps
an NCHW tensor's shape and orders its memory as NHWC (``x.stride()`` reports it, as in
PyTorch). Results never depend on the layout; NumPy's ufuncs keep an input's layout, and
the compiled executor copies a strided input to C order before its kernels read it.

>>> import kiln
>>> x = kiln.ones(2, 3, 4, 5).contiguous(memory_format=channels_last)
>>> x.stride(), x.is_contiguous(), x.is_contiguous(memory_format=channels_last)
((60, 1, 15, 3), False, True)
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "channels_last",
    "channels_last_3d",
    "contiguous_format",
    "memory_format",
    "preserve_format",
]


class memory_format:  # noqa: N801 - PyTorch's name
    __slots__ = ("name", "_order")

    def __init__(self, name: str, order):
        self.name = name
        self._order = order  # the axes from outermost to innermost in memory, or None

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return self.name


contiguous_format = memory_format("contiguous_format", None)
preserve_format = memory_format("preserve_format", None)
channels_last = memory_format("channels_last", (0, 2, 3, 1))
channels_last_3d = memory_format("channels_last_3d", (0, 2, 3, 4, 1))


def element_strides(data: np.ndarray) -> tuple:
    itemsize = data.dtype.itemsize
    return tuple(s // itemsize for s in data.strides)


def _dense_strides(shape, order) -> tuple:
    """The strides of a dense array of ``shape`` whose memory runs through ``order``."""
    strides = [0] * len(shape)
    step = 1
    for axis in reversed(order):
        strides[axis] = step
        step *= max(shape[axis], 1)
    return tuple(strides)


def is_contiguous(shape, strides, fmt) -> bool:
    """PyTorch's rule: strides of axes of size 1 do not matter."""
    if fmt is None or fmt is contiguous_format or fmt is preserve_format:
        order = tuple(range(len(shape)))
    else:
        order = fmt._order
        if len(shape) != len(order):
            return False
    expected = _dense_strides(shape, order)
    return all(d == 1 or s == e for d, s, e in zip(shape, strides, expected))


def relayout(data: np.ndarray, fmt) -> np.ndarray:
    """``data``'s values in a dense array laid out as ``fmt``."""
    if fmt is None or fmt is contiguous_format:
        return np.ascontiguousarray(data) if data.ndim else data.copy()
    if fmt is preserve_format:
        return data.copy()
    order = fmt._order
    if data.ndim != len(order):
        raise RuntimeError(
            f"required rank {len(order)} tensor to use {fmt.name} format (got a tensor of "
            f"shape {list(data.shape)})"
        )
    inverse = np.argsort(order)
    return np.ascontiguousarray(data.transpose(order)).transpose(inverse)
