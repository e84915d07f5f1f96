"""Kernel launches: loading generated CUDA kernels and choosing grid sizes.

Generated kernels use grid-stride loops (``for i in range(start, n, stride)``), so any grid
is correct and the grid size is a pure performance choice. On a GPU: 256 threads a block
and enough blocks to fill the device; in the simulator, where each thread is a Python
thread, as few as keep the work correct (``THREADS``/``MAX_BLOCKS`` below).

Kernel sources go through the same on-disk kernel cache as CPU kernels
(``kiln.runtime.kernel_cache``): a file per source hash, imported as a module.

>>> blocks_for(10_000, 256, 1024)
40
"""

from __future__ import annotations

from ..kernel_cache import load_kernel
from . import simulated

# block size of elementwise and row kernels (in the simulator 4: each thread is a Python
# thread, and 4 still splits a row's reduction across threads and strides past the block;
# test_cuda and test_cuda_executor took 12.1 s with 8, 9.3 s with 4), and the tile edge of
# matmul kernels
THREADS = 4 if simulated() else 256
MAX_BLOCKS = 4 if simulated() else 4096
MATMUL_TILE = 4 if simulated() else 16


def blocks_for(work: int, threads: int = THREADS, limit: int = MAX_BLOCKS) -> int:
    """Blocks of ``threads`` for ``work`` items of a grid-stride loop (at least one)."""
    return max(1, min(limit, -(-int(work) // threads)))


def load_cuda_kernel(source: str, function_name: str = "kernel"):
    """Import a generated kernel module (cached by source hash); return its kernel."""
    return load_kernel(source, function_name)


def launch(kernel, grid, block, arguments) -> None:
    """``kernel[grid, block](*arguments)``: kept in one place so traces can show launches."""
    kernel[grid, block](*arguments)


class Launch:
    """A kernel with its launch configuration fixed at compile time: ``launch(*arguments)``.

    What a compiled schedule calls. (The configuration is applied at each call, not
    stored as ``kernel[grid, block]``: the simulator's kernels keep only their latest
    configuration, and kernels are shared between graphs.)
    """

    __slots__ = ("kernel", "grid", "block", "__name__")

    def __init__(self, kernel, grid, block, name: str = "kernel"):
        self.kernel = kernel
        self.grid = grid
        self.block = block
        self.__name__ = name

    def __call__(self, *arguments) -> None:
        self.kernel[self.grid, self.block](*arguments)

    def __repr__(self) -> str:
        return f"<launch {self.__name__}[{self.grid}, {self.block}]>"
