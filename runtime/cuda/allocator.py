"""Device memory for compiled graphs: a caching allocator and the per-executable arena.

Allocating device memory is slow on a GPU (``cudaMalloc`` synchronizes the device), so a
compiled graph allocates its intermediates once: its ``DeviceArena`` takes a few byte
blocks at compile time, and the executor's precomputed views of them are reused by every
call (the memory plan decides which values share a block). When an executable is dropped,
its blocks go back to the ``CachingAllocator``, which hands them to the next arena that asks
for that many bytes, as PyTorch's caching allocator does.

Outputs are not taken from here: the caller keeps them, so every call returns new arrays
(``empty``), and the arena's memory never leaks out.

>>> import numpy as np
>>> from kiln.runtime import cuda
>>> if cuda.is_available():
...     allocator = CachingAllocator()
...     arena = DeviceArena([16, 8], allocator)
...     x = arena.view(0, (2, 2), np.float32)
...     assert allocator.allocations == 2 and tuple(x.shape) == (2, 2)
...     del arena, x                       # the blocks go back to the cache...
...     arena = DeviceArena([16], allocator)
...     assert allocator.allocations == 2  # ...and are reused, not allocated again
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict

import numpy as np

from . import empty


class CachingAllocator:
    """Device byte blocks, kept by size: ``take(nbytes)`` reuses a released block of exactly
    that size before it allocates. ``allocations`` counts real allocations."""

    def __init__(self):
        self.free: dict[int, list] = defaultdict(list)
        self.allocations = 0
        self.lock = threading.Lock()

    def take(self, nbytes: int):
        """A 1-D uint8 device array of ``nbytes`` (at least 1)."""
        nbytes = max(int(nbytes), 1)
        with self.lock:
            if self.free[nbytes]:
                return self.free[nbytes].pop()
            self.allocations += 1
        return empty((nbytes,), np.uint8)

    def release(self, blocks) -> None:
        """Keep ``blocks`` (from ``take``) for later requests of their size."""
        with self.lock:
            for block in blocks:
                self.free[int(block.shape[0])].append(block)

    @property
    def cached_bytes(self) -> int:
        return sum(size * len(blocks) for size, blocks in self.free.items())


ALLOCATOR = CachingAllocator()


class DeviceArena:
    """The device blocks of one executable; ``view(block, shape, dtype)`` is a typed view.

    Blocks come from ``allocator`` and go back to it when the arena is garbage-collected
    (its views live in the executor's namespace, so they die with the executable).
    ``add(nbytes)`` appends a block that no other value shares (scratch space of one step).
    """

    def __init__(self, block_sizes, allocator: CachingAllocator | None = None):
        self.allocator = allocator or ALLOCATOR
        self.blocks = [self.allocator.take(size) for size in block_sizes]
        # the finalizer holds the list, not the arena, so later ``add``s are released too
        weakref.finalize(self, self.allocator.release, self.blocks)

    def add(self, nbytes: int) -> int:
        self.blocks.append(self.allocator.take(nbytes))
        return len(self.blocks) - 1

    @property
    def nbytes(self) -> int:
        return sum(int(block.shape[0]) for block in self.blocks)

    def view(self, block: int, shape, dtype):
        """A contiguous device array of ``shape`` and ``dtype`` at the start of ``block``."""
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:  # (Numba cannot reshape empty device arrays)
            return empty(shape, dtype)
        raw = self.blocks[block][: count * dtype.itemsize]
        return raw.view(dtype).reshape(tuple(shape))
