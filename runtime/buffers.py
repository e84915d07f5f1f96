"""Buffers: the arena for intermediate values and the pool for returned outputs.

Intermediates live in an ``Arena``: a few flat byte blocks allocated once per executable;
a memory plan (made by the compiler) maps each value to a block it shares with values
whose lifetimes do not overlap. The arena hands out precomputed views, so a call costs no
allocation at all.

Outputs are handed to the caller, who may keep them, so they cannot live in the arena. An
``OutputPool`` keeps a few output arrays and reuses one only when nobody else holds it:
``sys.getrefcount`` counts every reference, and a NumPy view keeps its base alive through
``.base``, so a result the caller kept (or any view of it) is never overwritten.

>>> pool = OutputPool((2,), "float32")
>>> first = pool.take()
>>> second = pool.take()      # ``first`` is still held: a different array
>>> first is second
False
>>> del first
>>> pool.take() is not second  # the first array is free again and comes back
True
"""

from __future__ import annotations

import sys

import numpy as np

_ALIGN = 64  # bytes; a cache line, and what AVX-512 loads like


def aligned_empty(nbytes: int) -> np.ndarray:
    """A 1-D uint8 array of ``nbytes`` whose data starts on a 64-byte boundary."""
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    offset = (-raw.ctypes.data) % _ALIGN
    return raw[offset : offset + nbytes]


class Arena:
    """Blocks of memory for intermediates; ``view(block, shape, dtype)`` is precomputed."""

    def __init__(self, block_sizes: list[int]):
        self.blocks = [aligned_empty(max(size, 1)) for size in block_sizes]

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.blocks)

    def view(self, block: int, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return self.blocks[block][:nbytes].view(dtype).reshape(shape)


class OutputPool:
    """Reusable arrays for one output of an executable (at most ``slots`` kept)."""

    # references to a free slot inside ``take``: the list, the loop variable and
    # getrefcount's own argument
    _FREE = 3

    def __init__(self, shape, dtype, slots: int = 3):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.slots: list[np.ndarray] = []
        self.max_slots = slots

    def take(self) -> np.ndarray:
        """An array nobody else references (reused when possible, else new)."""
        for array in self.slots:
            if sys.getrefcount(array) <= self._FREE:
                return array
        array = np.empty(self.shape, self.dtype)
        if len(self.slots) < self.max_slots:
            self.slots.append(array)
        else:
            # every slot is held by the caller: replace the oldest; the caller keeps it alive
            self.slots.pop(0)
            self.slots.append(array)
        return array


def memory_owner(data):
    """The object that owns ``data``'s memory: down its ``.base`` chain, through NumPy's
    ``as_strided`` wrapper and the ``memoryview`` of an array over a buffer
    (``np.frombuffer(b)`` twice over one ``bytearray``: two memoryviews, one owner). Two
    arrays share memory only if they have the same owner (by identity).

    Not ``kiln.ops.surface16._root``, which stops at the last ndarray (it needs the
    array's address) and so gives two arrays over one buffer two roots."""
    owner = data
    while True:
        base = getattr(owner, "base", None)
        if base is None and type(owner) is memoryview:
            base = owner.obj
        if base is None:
            return owner
        owner = base
