"""Indexing: ``x[...]``, ``x[...] = v``, ``gather``, ``index_select`` and friends.

Basic indices (ints, slices, ``None``, ``...``) become ``slice``/``reshape`` nodes; integer
tensors become ``take`` on one (flattened) axis, so every index is differentiable and
traceable. Boolean masks give data-dependent shapes: they work eagerly only.

>>> x = arange(6).reshape(2, 3)
>>> x[1, ::2]
tensor([3, 5])
"""

from __future__ import annotations

import numbers

import numpy as np

from kiln.compiler.errors import TraceError
from kiln.compiler.primitives import PRIMITIVES as P
from kiln.compiler.primitives import broadcast_shapes

from .. import dtypes
from ..context import is_grad_enabled
from ..dispatch import bind, constant, current_trace
from ..tensor import Tensor
from .dims import normalize_dim
from .elementwise import add, cast, gt, lt, mul, where
from .inplace import assign
from .shape import (
    broadcast_tensors,
    expand,
    pad_axes,
    permute,
    reshape,
    slice_axis,
    squeeze_axes,
    unsqueeze,
)
from .shape import slice_axis as _slice

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
argwhere gather index_add index_fill index_select masked_fill masked_select nonzero
repeat_interleave scatter scatter_add take
""".split()


def host_data(x: Tensor) -> np.ndarray:
    """An eager tensor's values as a NumPy array (a GPU tensor's are copied to the host).

    For composites that read an index or mask to decide shapes (``x[mask]``, ``nonzero``).
    """
    data = x._data
    return data if type(data) is np.ndarray else np.asarray(data)


def _is_int(i) -> bool:
    return isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, bool)


def _as_index_tensor(i) -> Tensor:
    if isinstance(i, Tensor):
        return i
    arr = np.asarray(i)
    if arr.dtype.kind not in "iub":
        raise IndexError(
            f"tensors used as indices must be long, int, byte or bool tensors, got {arr.dtype}"
        )
    return constant(arr, dtypes.bool_ if arr.dtype.kind == "b" else dtypes.int64)


def _expand_index(x: Tensor, index) -> list:
    if not isinstance(index, tuple):
        index = (index,)
    index = list(index)
    # boolean masks consume as many dims as they have
    consumed = 0
    for i in index:
        if i is None or i is Ellipsis:
            continue
        if isinstance(i, (Tensor, np.ndarray)) and getattr(i, "dtype", None) in (
            dtypes.bool_,
            np.dtype(bool),
        ):
            consumed += max(np.ndim(i) if not isinstance(i, Tensor) else i.ndim, 1)
        else:
            consumed += 1
    ellipses = [k for k, i in enumerate(index) if i is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ellipses:
        pos = ellipses[0]
        index[pos : pos + 1] = [slice(None)] * (x.ndim - consumed)
    elif consumed < x.ndim:
        index += [slice(None)] * (x.ndim - consumed)
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    return index


def getitem(x: Tensor, index) -> Tensor:
    index = _expand_index(x, index)
    axis = 0
    advanced = []  # (axis in the result so far, index tensor)
    for item in index:
        if item is None:
            x = unsqueeze(x, axis)
            axis += 1
        elif _is_int(item):
            n = x.shape[axis]
            i = int(item)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension {axis} with size {n}")
            i %= n
            x = squeeze_axes(slice_axis(x, axis, i, i + 1), (axis,))
        elif isinstance(item, slice):
            step = 1 if item.step is None else int(item.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = slice(item.start, item.stop, step).indices(x.shape[axis])
            stop = max(stop, start)
            x = slice_axis(x, axis, start, stop, step)
            axis += 1
        else:
            idx = _as_index_tensor(item)
            if idx.dtype is dtypes.bool_:
                x, consumed = _mask_index(x, axis, idx)
                advanced.append((axis, None))
                axis += 1
                continue
            if idx.dtype.is_floating_point:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            advanced.append((axis, idx))
            axis += 1
    advanced = [(a, i) for a, i in advanced if i is not None]
    if not advanced:
        return x
    if len(advanced) == 1:
        a, idx = advanced[0]
        return bind(P["take"], (x, cast(idx, dtypes.int64)), {"axis": a})
    return _multi_take(x, advanced)


def _mask_index(x: Tensor, axis: int, mask: Tensor):
    """``x[..., mask, ...]``: flatten the masked dims and take the true positions (eager)."""
    if mask._node is not None or current_trace() is not None:
        raise TraceError(
            "indexing with a boolean mask gives a data-dependent shape and cannot "
            "be traced; use kiln.where(mask, x, 0) or call outside kiln.jit"
        )
    k = mask.ndim
    if tuple(x.shape[axis : axis + k]) != tuple(mask.shape):
        raise IndexError(
            f"The shape of the mask {list(mask.shape)} at index {axis} does not "
            f"match the shape of the indexed tensor {list(x.shape)}"
        )
    flat = reshape(x, tuple(x.shape[:axis]) + (-1,) + tuple(x.shape[axis + k :]))
    positions = np.flatnonzero(host_data(mask).reshape(-1))
    return bind(P["take"], (flat, constant(positions, dtypes.int64, like=x)), {"axis": axis}), k


def _multi_take(x: Tensor, advanced) -> Tensor:
    """Several integer-tensor indices: broadcast them and take on the flattened axes."""

    axes = [a for a, _ in advanced]
    shape = broadcast_shapes("index", *(i.shape for _, i in advanced))
    adjacent = axes == list(range(axes[0], axes[0] + len(axes)))
    dest = axes[0] if adjacent else 0
    rest = [d for d in range(x.ndim) if d not in axes]
    order = rest[:dest] + axes + rest[dest:]
    xp = permute(x, order)
    sizes = [x.shape[a] for a in axes]
    flat_shape = (
        tuple(xp.shape[:dest]) + (int(np.prod(sizes)),) + tuple(xp.shape[dest + len(axes) :])
    )
    xp = reshape(xp, flat_shape)
    linear = None
    stride = 1
    for (a, idx), n in reversed(list(zip(advanced, sizes))):
        idx = cast(idx, dtypes.int64)
        if idx._node is None:
            values = host_data(idx)
            if values.size and (values.min() < -n or values.max() >= n):
                raise IndexError(f"index out of range for dimension {a} with size {n}")
            # wrap negative positions; a CPU index of a GPU tensor (allowed, as in PyTorch)
            # moves to the GPU, where the other indices it is combined with live
            cpu_index_of_gpu_tensor = (
                x._node is None
                and type(x._data) is not np.ndarray
                and type(idx._data) is np.ndarray
            )
            if (values.size and values.min() < 0) or cpu_index_of_gpu_tensor:
                idx = constant(np.where(values < 0, values + n, values), dtypes.int64, like=x)
        else:  # a traced index: its values are not known, wrap negatives in the graph
            idx = where(lt(idx, 0), add(idx, n), idx)
        term = mul(idx, stride) if stride != 1 else idx
        linear = term if linear is None else add(linear, term)
        stride *= n

    linear = expand(linear, shape)
    return bind(P["take"], (xp, linear), {"axis": dest})


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    d = normalize_dim("index_select", dim, x.ndim)
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    return bind(P["take"], (x, cast(reshape(index, (-1,)), dtypes.int64)), {"axis": d})


def take(x: Tensor, index: Tensor) -> Tensor:
    return bind(P["take"], (reshape(x, (-1,)), cast(index, dtypes.int64)), {"axis": 0})


def gather(x: Tensor, dim: int, index: Tensor, *, sparse_grad=False) -> Tensor:
    d = normalize_dim("gather", dim, x.ndim)
    if index.ndim != x.ndim:
        raise RuntimeError(
            f"gather(): Index tensor must have the same number of dimensions as "
            f"input tensor ({index.ndim} vs {x.ndim})"
        )
    return bind(P["gather"], (x, cast(index, dtypes.int64)), {"axis": d})


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    d = normalize_dim("scatter_add", dim, x.ndim)
    if tuple(index.shape) != tuple(src.shape):
        for ax, n in enumerate(index.shape):
            src = _slice(src, ax, 0, n)
    scattered = bind(
        P["scatter_add"],
        (cast(src, x.dtype), cast(index, dtypes.int64)),
        {"axis": d, "size": x.shape[d]},
    )
    pads = [(0, x.shape[a] - scattered.shape[a]) for a in range(x.ndim)]
    if any(hi for _, hi in pads):
        scattered = pad_axes(scattered, pads, 0)
    return add(x, scattered)


def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError("masked_fill only supports a 0-dimensional value tensor")
    if isinstance(mask, Tensor) and mask.dtype is not dtypes.bool_:
        raise RuntimeError(
            f"masked_fill only supports boolean masks, but got mask with dtype {mask.dtype.name}"
        )
    return where(
        mask, cast(value, x.dtype) if isinstance(value, Tensor) else constant(value, x.dtype), x
    )


def masked_select(x: Tensor, mask: Tensor) -> Tensor:

    x, mask = broadcast_tensors(x, mask)
    return getitem(reshape(x, (-1,)), reshape(mask, (-1,)))


def nonzero(x: Tensor, *, as_tuple: bool = False):
    if x._node is not None or current_trace() is not None:
        raise TraceError("nonzero gives a data-dependent shape and cannot be traced")
    data = host_data(x)
    idx = np.nonzero(data if x.ndim else data.reshape(1))
    if as_tuple:
        return tuple(constant(i, dtypes.int64, like=x) for i in idx)
    return constant(np.stack(idx, axis=1) if idx else np.zeros((0, 0)), dtypes.int64, like=x)


def argwhere(x: Tensor) -> Tensor:
    return nonzero(x)


def setitem(x: Tensor, index, value) -> None:
    """``x[index] = value`` in place (functional under autograd and tracing)."""

    plain = (
        x._node is None
        and type(x._data) is np.ndarray  # on the CPU: a GPU array takes no NumPy index
        and current_trace() is None
        and not (
            is_grad_enabled()
            and (x.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
        )
    )
    if plain:
        if x.requires_grad and x.grad_fn is None and is_grad_enabled():
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        np_index = _numpy_index(index)
        v = value._data if isinstance(value, Tensor) else value
        try:
            x._data[np_index] = v
        except ValueError as exc:
            if not x._data.flags.writeable:
                x._data = x._data.copy()
                x._data[np_index] = v
            else:
                raise RuntimeError(f"setitem: {exc} (tensor {list(x.shape)})") from None
        x._version += 1
        return
    # which flat positions the index names, computed on the CPU
    parts = index if isinstance(index, tuple) else (index,)
    if all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts):
        # a basic index (NumPy's meaning is PyTorch's): plain NumPy, also while tracing,
        # where a constant would be a graph node (``out[..., 0] = v`` under kiln.jit)
        positions = np.asarray(np.arange(x.numel()).reshape(x.shape)[index])
    else:
        traced = getitem(
            constant(np.arange(x.numel()).reshape(x.shape), dtypes.int64), _cpu_index(index)
        )
        if traced._node is not None:
            raise TraceError("setitem under tracing needs static indices")
        positions = traced._data
    pos = positions.reshape(-1)
    v = value if isinstance(value, Tensor) else constant(value, x.dtype, like=x)
    if v._node is None and v.ndim and v.device != x.device and current_trace() is None:
        v = v.to(x.device)  # x[i] = t copies t onto x's device, as PyTorch's copy_ does
    v = reshape(expand(cast(v, x.dtype), positions.shape), (-1,))
    mask = np.zeros(x.numel(), dtype=bool)
    mask[pos] = True
    scattered = bind(
        P["take_grad"], (v, constant(pos, dtypes.int64, like=x)), {"axis": 0, "size": x.numel()}
    )
    new = where(constant(mask, dtypes.bool_, like=x), scattered, reshape(x, (-1,)))
    assign(x, reshape(new, x.shape), "setitem")


def _cpu_index(index):
    """``index`` with its eager GPU tensors copied to the CPU (to index a CPU array)."""
    if isinstance(index, tuple):
        return tuple(_cpu_index(i) for i in index)
    if isinstance(index, Tensor) and index._node is None and type(index._data) is not np.ndarray:
        return index.cpu()
    return index


def _numpy_index(index):
    if isinstance(index, tuple):
        return tuple(_numpy_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._data
    return index


def scatter(x: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
    """``x`` with ``src`` (or ``value``) written at ``index`` along ``dim``.

    Positions named twice get the sum of their sources (PyTorch leaves this undefined).
    """

    if src is None:
        src = value
    if reduce not in (None, "add"):
        raise RuntimeError(f"scatter: reduce={reduce!r} is not supported (None or 'add')")
    d = normalize_dim("scatter", dim, x.ndim)
    index = cast(index, dtypes.int64)
    if not isinstance(src, Tensor):
        src = expand(constant(src, x.dtype, like=x), index.shape)
    for ax, n in enumerate(index.shape):
        src = slice_axis(src, ax, 0, n)
    hits = bind(
        P["scatter_add"],
        (constant(np.ones(index.shape, x.dtype.np), x.dtype, like=x), index),
        {"axis": d, "size": x.shape[d]},
    )
    values = bind(P["scatter_add"], (cast(src, x.dtype), index), {"axis": d, "size": x.shape[d]})
    pads = [(0, x.shape[a] - values.shape[a]) for a in range(x.ndim)]
    if any(hi for _, hi in pads):
        hits, values = pad_axes(hits, pads, 0), pad_axes(values, pads, 0)
    if reduce == "add":
        return add(x, values)

    return where(gt(hits, 0), values, x)


def index_add(x: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    d = normalize_dim("index_add", dim, x.ndim)
    if alpha != 1:
        source = mul(source, alpha)
    added = bind(
        P["take_grad"],
        (cast(source, x.dtype), cast(index, dtypes.int64)),
        {"axis": d, "size": x.shape[d]},
    )
    return add(x, added)


def index_fill(x: Tensor, dim: int, index: Tensor, value) -> Tensor:
    d = normalize_dim("index_fill", dim, x.ndim)
    idx = host_data(index) if isinstance(index, Tensor) and index._node is None else index
    mask = np.zeros(x.shape[d], dtype=bool)
    mask[np.asarray(idx).reshape(-1)] = True
    shape = [1] * x.ndim
    shape[d] = x.shape[d]
    return where(
        constant(mask.reshape(shape), dtypes.bool_, like=x),
        value if isinstance(value, Tensor) else constant(value, x.dtype),
        x,
    )


def repeat_interleave(x: Tensor, repeats, dim=None) -> Tensor:
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    d = normalize_dim("repeat_interleave", dim, x.ndim)
    reps = host_data(repeats) if isinstance(repeats, Tensor) else repeats
    positions = np.repeat(np.arange(x.shape[d]), reps)
    return bind(P["take"], (x, constant(positions, dtypes.int64, like=x)), {"axis": d})
