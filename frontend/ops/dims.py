"""Dimension arguments: PyTorch's negative indices and its errors, shared by every op family.

>>> normalize_dim("sum", -1, 3), normalize_axes("sum", (0, -1), 3)
(2, (0, 2))
"""

from __future__ import annotations

import builtins


def normalize_dim(op: str, dim: int, ndim: int) -> int:
    """``dim`` as a non-negative axis, with PyTorch's error (0-d tensors take -1 and 0)."""
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{op}: Dimension out of range (expected to be in range of "
            f"[{-n}, {n - 1}], but got {dim})"
        )
    return dim % n


def normalize_axes(op: str, dim, ndim: int) -> tuple:
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    axes = tuple(sorted({normalize_dim(op, d, ndim) for d in dim}))
    if len(axes) != len(dim):
        raise RuntimeError(f"{op}: dim {tuple(dim)} appears multiple times in the list of dims")
    return tuple(a for a in axes if a < ndim)
