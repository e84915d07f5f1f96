"""Allocation failures as PyTorch reports them: a ``RuntimeError``, never NumPy's own.

NumPy raises ``MemoryError`` ("Unable to allocate 4.00 TiB...") when the memory is not
there and ``ValueError`` ("array is too big") when the size overflows; PyTorch raises
``RuntimeError`` for both on the CPU ("DefaultCPUAllocator: can't allocate memory: you
tried to allocate N bytes", "Storage size calculation overflowed with sizes=[...]"). A
user's ``except RuntimeError`` (a batch-size search that halves the batch on failure)
then works with kiln too, and the process stays usable: nothing was allocated.

>>> import numpy as np
>>> try:
...     filled((2**31, 2**31), 0, np.float32)
... except RuntimeError as error:
...     print(error)
Storage size calculation overflowed with sizes=[2147483648, 2147483648]
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

__all__ = ["OutOfMemoryError", "allocating", "filled", "out_of_memory", "size_overflow"]

_MAX_BYTES = 2**63 - 1


class OutOfMemoryError(RuntimeError):
    """PyTorch's ``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError`` is the same
    class), a RuntimeError, for ``except`` clauses."""


OutOfMemoryError.__module__ = "kiln"


def out_of_memory(nbytes: int | None, error: BaseException | None = None) -> RuntimeError:
    """PyTorch's CPU allocator error for ``nbytes`` (None: unknown)."""
    tried = f"you tried to allocate {nbytes} bytes" if nbytes is not None else "out of memory"
    detail = f" ({error})" if error is not None and str(error) else ""
    return RuntimeError(f"DefaultCPUAllocator: can't allocate memory: {tried}.{detail}")


def size_overflow(shape) -> RuntimeError:
    sizes = ", ".join(str(int(s)) for s in shape)
    return RuntimeError(f"Storage size calculation overflowed with sizes=[{sizes}]")


def _nbytes(shape, dtype) -> int:
    return math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize


@contextlib.contextmanager
def allocating(shape=None, dtype=None):
    """A block that allocates an array of ``shape`` and ``dtype`` (when known): NumPy's
    ``MemoryError`` and size ``ValueError`` leave it as PyTorch's ``RuntimeError``."""
    try:
        yield
    except MemoryError as error:
        nbytes = getattr(error, "_total_size", None)
        if nbytes is None and shape is not None and dtype is not None:
            nbytes = _nbytes(shape, dtype)
        raise out_of_memory(nbytes, error) from error
    except ValueError as error:
        if "array is too big" not in str(error) and "maximum supported dimension" not in str(error):
            raise
        if shape is not None:
            raise size_overflow(shape) from error
        raise RuntimeError(f"Storage size calculation overflowed ({error})") from error


def filled(shape, value, dtype) -> np.ndarray:
    """``np.full(shape, value, dtype)`` with PyTorch's allocation errors."""
    shape = tuple(shape)
    if dtype is not None and _nbytes(shape, dtype) > _MAX_BYTES:
        raise size_overflow(shape)
    with allocating(shape, dtype):
        return np.full(shape, value, dtype=dtype)
