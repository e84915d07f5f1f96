"""``kiln.functional``: the functions of ``torch.functional``.

Most are composites of kiln ops (so they differentiate and trace); ``unique_consecutive`` is
data-dependent (its output size depends on the values), so it runs eagerly on NumPy, as
``unique`` does. ``einsum``, ``norm``, ``split``, ``unique``, ``broadcast_tensors`` (and
``meshgrid`` where ``kiln.ops`` has it) are the ops themselves. ``stft``/``istft``,
``lu``, ``pca_lowrank`` and ``svd_lowrank`` are not provided.

>>> import kiln
>>> kiln.functional.tensordot(kiln.ones(2, 3), kiln.ones(3, 4), dims=1).shape
kiln.Size([2, 4])
>>> kiln.functional.block_diag(kiln.tensor([[1, 2]]), kiln.tensor([[3]]))
tensor([[1, 2, 0],
        [0, 0, 3]])
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kiln.compiler.errors import ShapeError
from kiln.compiler.primitives import broadcast_shapes as _broadcast_shapes

from . import dtypes, ops
from .dispatch import autocast_op
from .ops import broadcast_tensors, einsum, norm, split, unique
from .tensor import Size, Tensor, _wrap

__all__ = [
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "block_diag",
    "broadcast_shapes",
    "broadcast_tensors",
    "cartesian_prod",
    "cdist",
    "chain_matmul",
    "einsum",
    "norm",
    "split",
    "tensordot",
    "unique",
    "unique_consecutive",
    "unravel_index",
]
if hasattr(ops, "meshgrid"):
    meshgrid = ops.meshgrid
    __all__.append("meshgrid")


def _tensors(op: str, tensors) -> tuple:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensor arguments, got {type(t).__name__}")
    return tensors


def _atleast(op: str, tensors, shape_of):
    tensors = _tensors(op, tensors)
    out = tuple(t if shape_of(t) is None else ops.reshape(t, shape_of(t)) for t in tensors)
    return out[0] if len(out) == 1 else out


def atleast_1d(*tensors):
    """Each tensor with at least one dimension (a 0-d one becomes shape ``(1,)``)."""
    return _atleast("atleast_1d", tensors, lambda t: (1,) if t.ndim == 0 else None)


def atleast_2d(*tensors):
    """At least two dimensions: ``()`` -> ``(1, 1)``, ``(n,)`` -> ``(1, n)``."""
    return _atleast(
        "atleast_2d",
        tensors,
        lambda t: (1,) * (2 - t.ndim) + tuple(t.shape) if t.ndim < 2 else None,
    )


def atleast_3d(*tensors):
    """At least three: ``()`` -> ``(1, 1, 1)``, ``(n,)`` -> ``(1, n, 1)``, ``(m, n)`` ->
    ``(m, n, 1)`` (NumPy's convention, which PyTorch follows)."""

    def shape_of(t):
        if t.ndim == 0:
            return (1, 1, 1)
        if t.ndim == 1:
            return (1, t.shape[0], 1)
        if t.ndim == 2:
            return (*t.shape, 1)
        return None

    return _atleast("atleast_3d", tensors, shape_of)


def broadcast_shapes(*shapes) -> Size:
    """The shape all ``shapes`` broadcast to (ints count as 1-d shapes).

    >>> broadcast_shapes((2, 1), (3,))
    kiln.Size([2, 3])
    """
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    try:
        return Size(_broadcast_shapes("broadcast_shapes", *shapes))
    except ShapeError as exc:
        raise RuntimeError(
            f"broadcast_shapes: shape mismatch: objects cannot be broadcast to a single shape "
            f"({', '.join(str(list(s)) for s in shapes)})"
        ) from exc


def block_diag(*tensors) -> Tensor:
    """A block-diagonal matrix of the tensors (0-d is ``1x1``, 1-d a single row)."""
    tensors = _tensors("block_diag", tensors)
    blocks = []
    for t in tensors:
        if t.ndim > 2:
            raise RuntimeError(
                f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                f"Input has {t.ndim} dimensions"
            )
        blocks.append(ops.reshape(t, (1, -1) if t.ndim < 2 else tuple(t.shape)))
    if not blocks:
        return ops.zeros(1, 0)
    dtype = functools.reduce(dtypes.promote, [b.dtype for b in blocks])
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        height, cols = b.shape
        pieces = [
            ops.zeros(height, left, dtype=dtype),
            ops.cast(b, dtype),
            ops.zeros(height, width - left - cols, dtype=dtype),
        ]
        rows.append(ops.cat(pieces, 1))
        left += cols
    return ops.cat(rows, 0)


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of the elements of 1-d tensors, one per row (like itertools.product).

    >>> cartesian_prod(kiln.tensor([1, 2]), kiln.tensor([3, 4])).tolist()
    [[1, 3], [1, 4], [2, 3], [2, 4]]
    """
    tensors = _tensors("cartesian_prod", tensors)
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(
                f"cartesian_prod: expect a 1D vector, but got a tensor of shape {list(t.shape)}"
            )
    if len(tensors) == 1:
        return tensors[0]
    sizes = [t.shape[0] for t in tensors]
    columns = []
    for k, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[k] = sizes[k]
        columns.append(ops.reshape(ops.expand(ops.reshape(t, view), sizes), (-1,)))
    return ops.stack(columns, 1)


@autocast_op("fp32")
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode=None) -> Tensor:
    """The p-norm distance between each row of ``x1`` (``[..., P, M]``) and of ``x2``
    (``[..., R, M]``): ``[..., P, R]``. Computed from the differences, so rows at zero
    distance get PyTorch's zero gradient."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(
            f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 got: {x2.ndim}D"
        )
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}"
        )
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    diff = ops.sub(ops.unsqueeze(x1, -2), ops.unsqueeze(x2, -3))
    if p == 0:
        return ops.cast(ops.sum(ops.ne(diff, 0), -1), x1.dtype)
    return ops.norm(diff, math.inf if p == math.inf else p, -1)


def chain_matmul(*matrices) -> Tensor:
    """The product of 2-d matrices, left to right (deprecated in PyTorch for linalg.multi_dot)."""
    matrices = _tensors("chain_matmul", matrices)
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for m in matrices:
        if m.ndim != 2:
            raise RuntimeError(f"chain_matmul(): Tensor dimension is {m.ndim}, expected 2 instead.")
    return functools.reduce(ops.matmul, matrices)


def tensordot(a: Tensor, b: Tensor, dims=2, out=None) -> Tensor:
    """Contract ``a``'s last ``dims`` axes with ``b``'s first ones, or the axes listed in
    ``dims = (axes_of_a, axes_of_b)``; as one matmul on permuted, reshaped operands."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        axes_a, axes_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        axes_a, axes_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(axes_a) != len(axes_b):
        raise RuntimeError("both dimension lists should have same length")
    axes_a = [d % a.ndim for d in axes_a]
    axes_b = [d % b.ndim for d in axes_b]
    for i, j in zip(axes_a, axes_b):
        if a.shape[i] != b.shape[j] and 1 in (a.shape[i], b.shape[j]):
            # PyTorch broadcasts a contracted dimension of size 1 against the other's
            if a.shape[i] == 1:
                a = ops.expand(a, tuple(b.shape[j] if d == i else n for d, n in enumerate(a.shape)))
            else:
                b = ops.expand(b, tuple(a.shape[i] if d == j else n for d, n in enumerate(b.shape)))
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {a.shape[i]} in dim "
                f"{i} and second has size {b.shape[j]} in dim {j}"
            )
    free_a = [d for d in range(a.ndim) if d not in axes_a]
    free_b = [d for d in range(b.ndim) if d not in axes_b]
    size = math.prod(a.shape[d] for d in axes_a)
    left = ops.reshape(ops.permute(a, free_a + axes_a), (-1, size))
    right = ops.reshape(ops.permute(b, axes_b + free_b), (size, -1))
    shape = [a.shape[d] for d in free_a] + [b.shape[d] for d in free_b]
    result = ops.reshape(ops.matmul(left, right), shape)
    return result if out is None else out.copy_(result)


def unique_consecutive(x: Tensor, return_inverse=False, return_counts=False, dim=None):
    """Collapse runs of equal values (or equal slices along ``dim``) to one.

    >>> unique_consecutive(kiln.tensor([1, 1, 2, 2, 3, 1, 1]))
    tensor([1, 2, 3, 1])
    """
    data = np.asarray(x.detach()._data)
    axis = 0 if dim is None else dim % max(data.ndim, 1)
    flat = data.reshape(-1) if dim is None else np.moveaxis(data, axis, 0)
    n = flat.shape[0]
    if n == 0:
        starts = np.zeros(0, dtype=np.int64)
    else:
        changed = np.any(flat[1:] != flat[:-1], axis=tuple(range(1, flat.ndim)))
        starts = np.concatenate([[0], np.nonzero(changed)[0] + 1]).astype(np.int64)
    values = flat[starts]
    if dim is not None:
        values = np.moveaxis(values, 0, axis)
    results = [_wrap(np.ascontiguousarray(values))]
    if return_inverse:
        inverse = np.cumsum(np.isin(np.arange(n), starts)) - 1
        results.append(_wrap(inverse.reshape(data.shape if dim is None else (n,)).astype(np.int64)))
    if return_counts:
        results.append(_wrap(np.diff(np.append(starts, n)).astype(np.int64)))
    return results[0] if len(results) == 1 else tuple(results)


def unravel_index(indices, shape) -> tuple:
    """The coordinates of flat ``indices`` in a tensor of ``shape`` (wrapping, as PyTorch's).

    >>> unravel_index(kiln.tensor([4, 1]), (2, 3))
    (tensor([1, 0]), tensor([1, 1]))
    """
    if not isinstance(indices, Tensor):
        raise TypeError(f"unravel_index: expected 'indices' to be a Tensor, got {type(indices)}")
    if indices.dtype.is_floating_point or indices.dtype is dtypes.bool_:
        raise TypeError(
            f"unravel_index: expected 'indices' to be an integer tensor, got {indices.dtype}"
        )
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(s < 0 for s in shape):
        raise ValueError("'shape' cannot have negative values, but got " + str(shape))
    index = ops.cast(indices, dtypes.int64)
    coords = []
    stride = 1
    for size in reversed(shape):
        coords.append(ops.remainder(ops.floor_divide(index, stride), size))
        stride *= size
    return tuple(reversed(coords))
