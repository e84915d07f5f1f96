"""Indexing: ``x[...]``, ``x[...] = v``, ``gather``, ``index_select`` and friends.

Basic indices (ints, slices, ``None``, ``...``) become ``slice``/``reshape`` nodes; integer
tensors become ``take`` on one (flattened) axis, so every index is differentiable and
traceable. Boolean masks give data-dependent shapes: they work eagerly only.

>>> x = arange(6).reshape(2, 3)
>>> x[1, ::2]
tensor([3, 5])
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import numpy as np

from kiln.compiler.errors import TraceError
from kiln.compiler.primitives import PRIMITIVES as P
from kiln.compiler.primitives import broadcast_shapes

from .. import dtypes
from ..autograd.tape import rename
from ..context import is_grad_enabled
from ..dispatch import _overlap, autocast_op, bind, constant, current_trace
from ..memory_format import contiguous_result, index_layout, internal_overlap, writable_alias
from ..tensor import Tensor, graph_node
from .dims import normalize_dim
from .elementwise import (
    add,
    cast,
    div,
    eq,
    floor_divide,
    gt,
    isfinite,
    lt,
    maximum,
    mul,
    neg,
    reverse_order,
    sub,
    where,
)
from .inplace import assign
from .shape import (
    broadcast_tensors,
    cat,
    expand,
    movedim,
    multiply_halves,
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
argwhere gather index_add index_copy index_fill index_put index_select masked_fill
masked_scatter masked_select nonzero repeat_interleave scatter scatter_add scatter_reduce take
take_along_dim nonzero_static
""".split()


def host_data(x: Tensor) -> np.ndarray:
    """An eager tensor's values as a NumPy array (a GPU tensor's are copied to the host).

    For composites that read an index or mask to decide shapes (``x[mask]``, ``nonzero``).
    """
    data = x._data
    return data if type(data) is np.ndarray else np.asarray(data)


def _in_range_by_construction(node) -> bool:
    """Whether a traced index is positions that ``argmax``/``argsort`` made (``max(dim)``,
    ``sort`` and ``topk`` gather at them), moved or cast at most: never negative."""
    while node is not None and node.op in ("reshape", "expand", "slice", "permute", "cast"):
        node = node.inputs[0]
    return node is not None and node.op in ("argmax", "argsort")


def _check_index_values(op, index: Tensor, d: int, size: int, exc=RuntimeError, lo=0):
    """The index, checked: eager CPU index values must lie in ``[0, size)``: PyTorch raises
    where NumPy would wrap a negative index into a silently wrong position (a GPU index is
    not read back). A traced index (or one captured by a trace) is read only when the
    compiled function runs: its negative values become ``size``, which the primitive's
    own bounds check then rejects there, instead of wrapping them."""
    node = index._node
    if node is not None and graph_node(index) is None:
        return index  # (a torch.func level's wrapper, kiln.func: its values are not read here)
    if node is not None and node.op == "const":  # (a trace's constant: known now)
        values = np.asarray(node.params["value"])
    elif node is not None or current_trace() is not None:
        if lo == 0 and not _in_range_by_construction(node):
            index = where(lt(index, 0), constant(size, index.dtype), index)
        return index
    else:
        values = index._data
    if type(values) is not np.ndarray or not values.size:
        return index
    least, hi = values.min(), values.max()
    if least < lo or hi >= size:
        bad = int(least if least < lo else hi)
        raise exc(f"{op}(): index {bad} is out of bounds for dimension {d} with size {size}")
    return index


def _raises_runtime_error_when_out_of_range(index: Tensor, size: int) -> Tensor:
    """A traced index (negatives already mapped past the end) looked up in ``0..size-1``
    through ``gather``, whose out-of-range index raises RuntimeError when the compiled
    function runs: for ops whose own primitive raises IndexError (``take``) or nothing
    (a one-hot) where PyTorch raises RuntimeError. The values are unchanged."""
    node = graph_node(index)
    if node is None or node.op == "const" or not index.numel():
        return index  # (known values, or a kiln.func level's wrapper)
    positions = constant(np.arange(size), dtypes.int64)
    flat = cast(reshape(index, (-1,)), dtypes.int64)
    return reshape(bind(P["gather"], (positions, flat), {"axis": 0}), tuple(index.shape))


def _is_int(i) -> bool:
    return isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, bool)


def _as_index_tensor(i) -> Tensor:
    if isinstance(i, Tensor):
        return i
    arr = np.asarray(i)
    if arr.dtype.kind == "f" and not arr.size:  # (``x[[]]``: PyTorch's empty long index)
        arr = arr.astype(np.int64)
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


def _pytorch_index(index):
    """PyTorch's legacy readings of an index, deprecated there but still in effect: a list
    holding a sequence, tensor, slice, None or Ellipsis is a tuple of indices
    (``x[[[0, 1], [1, 0]]]`` is ``x[[0, 1], [1, 0]]``), and a uint8 tensor is a mask."""
    if (
        type(index) is list
        and len(index) < 32
        and any(
            isinstance(i, (list, tuple, Tensor, np.ndarray, slice)) or i is None or i is Ellipsis
            for i in index
        )
    ):
        warnings.warn(
            "Using a non-tuple sequence for multidimensional indexing is deprecated; use "
            "x[tuple(seq)] instead of x[seq] (PyTorch still reads it as a tuple)",
            UserWarning,
            stacklevel=3,
        )
        index = tuple(index)
    if isinstance(index, tuple):
        return tuple(_byte_mask(i) for i in index)
    return _byte_mask(index)


def _byte_mask(i):
    if isinstance(i, Tensor) and i.dtype is dtypes.uint8:
        warnings.warn(
            "indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool "
            "instead.",
            UserWarning,
            stacklevel=4,
        )
        return cast(i, dtypes.bool_)
    return i


def getitem(x: Tensor, index) -> Tensor:
    index = _expand_index(x, _pytorch_index(index))
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
            x = rename(squeeze_axes(slice_axis(x, axis, i, i + 1), (axis,)), "SelectBackward0", x)
        elif isinstance(item, Tensor) and item.ndim == 0 and item.dtype._category == 1:
            # a 0-dim integer tensor is read as a number, as PyTorch's: a select (a view, and
            # not an advanced index, which would move the result's axes to the front)
            if item._node is None and current_trace() is None and type(item._data) is np.ndarray:
                n, i = x.shape[axis], int(item._data)
                if not -n <= i < n:
                    raise IndexError(
                        f"index {i} is out of bounds for dimension {axis} with size {n}"
                    )
                i %= n
                selected = squeeze_axes(slice_axis(x, axis, i, i + 1), (axis,))
                x = rename(selected, "SelectBackward0", x)
            else:  # (traced: the number is known when the compiled function runs)
                i = where(lt(item, 0), add(item, x.shape[axis]), item)
                x = bind(P["take"], (x, cast(i, dtypes.int64)), {"axis": axis})
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
            if idx.dtype not in (dtypes.int64, dtypes.int32):  # (int8, int16, floats: refused)
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            advanced.append((axis, idx))
            axis += 1
    advanced = [(a, i) for a, i in advanced if i is not None]
    if not advanced:
        return x
    if len(advanced) == 1:
        a, idx = advanced[0]
        return index_layout(bind(P["take"], (x, cast(idx, dtypes.int64)), {"axis": a}), x, idx, a)
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


def _broadcast_indices(advanced) -> tuple:
    """The common shape of the index tensors; PyTorch raises IndexError when there is none."""
    shapes = [tuple(i.shape) for _, i in advanced]
    try:
        return broadcast_shapes("index", *shapes)
    except RuntimeError:
        shown = ", ".join("[" + ", ".join(map(str, s)) + "]" for s in shapes)
        raise IndexError(
            f"shape mismatch: indexing tensors could not be broadcast together with shapes {shown}"
        ) from None


def _multi_take(x: Tensor, advanced) -> Tensor:
    """Several integer-tensor indices: broadcast them and take on the flattened axes."""

    axes = [a for a, _ in advanced]
    shape = _broadcast_indices(advanced)
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
            # (as positions taken from 0..n-1: one outside [-n, n) raises when it runs, where
            # the combined position would land silently in another row)
            idx = bind(P["take"], (constant(np.arange(n), dtypes.int64), idx), {"axis": 0})
        term = mul(idx, stride) if stride != 1 else idx
        linear = term if linear is None else add(linear, term)
        stride *= n

    linear = expand(linear, shape)
    return bind(P["take"], (xp, linear), {"axis": dest})


def _zero_d(fn):
    """PyTorch's 0-d case of a ``(x, dim, ...)`` indexing op: a 0-d ``x`` (with 0-d index
    and source tensors) is handled as its 1-element 1-d view, and the result is 0-d."""

    @functools.wraps(fn)
    def op(x, dim, *args, **kwargs):
        if not isinstance(x, Tensor) or x.ndim != 0:
            return fn(x, dim, *args, **kwargs)
        normalize_dim(fn.__name__, dim, 0)  # 0 or -1

        def lift(a):
            return reshape(a, (1,)) if isinstance(a, Tensor) and a.ndim == 0 else a

        out = fn(
            reshape(x, (1,)),
            0,
            *[lift(a) for a in args],
            **{key: lift(v) for key, v in kwargs.items()},
        )
        return reshape(out, ()) if out.numel() == 1 else out

    return op


@_zero_d
def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    if x.is_sparse:  # kiln.sparse
        return x.index_select(dim, index)
    d = normalize_dim("index_select", dim, x.ndim)
    if index.dtype not in (dtypes.int64, dtypes.int32):  # (a float index was truncated)
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    size = x.shape[d] if x.ndim else 1
    if size == 0 and index.numel():
        raise RuntimeError("index_select(): self indexing axis dim should be positive")
    # PyTorch's class: RuntimeError from its fast path along dim 1, else IndexError
    exc = RuntimeError if d == 1 else IndexError
    index = _check_index_values("index_select", index, d, size, exc)
    if exc is RuntimeError and size:
        index = _raises_runtime_error_when_out_of_range(index, size)
    out = bind(P["take"], (x, cast(reshape(index, (-1,)), dtypes.int64)), {"axis": d})
    return rename(out, "IndexSelectBackward0", x)


def take(x: Tensor, index: Tensor) -> Tensor:
    out = bind(P["take"], (reshape(x, (-1,)), cast(index, dtypes.int64)), {"axis": 0})
    return rename(out, "TakeBackward0", x)


def gather(x: Tensor, dim: int, index: Tensor, *, sparse_grad=False) -> Tensor:
    d = normalize_dim("gather", dim, x.ndim)
    if index.numel() == 0 and index.ndim != x.ndim:  # PyTorch skips the checks: empty result
        return reshape(slice_axis(reshape(x, (-1,)), 0, 0, 0), tuple(index.shape))
    if index.ndim != x.ndim and not (index.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError(
            f"gather(): Index tensor must have the same number of dimensions as "
            f"input tensor ({index.ndim} vs {x.ndim})"
        )
    if x.ndim == 0 or index.ndim == 0:  # 0-d and 1-element 1-d mix, as PyTorch allows
        out = gather(reshape(x, (-1,)), 0, reshape(index, (-1,)))
        return reshape(out, index.shape)
    _check_index_extent("gather", x, d, index)
    index = _check_index_values("gather", index, d, x.shape[d])
    # PyTorch reads only the leading index.shape[a] entries of the other axes
    for a, n in enumerate(index.shape):
        if a != d:
            x = slice_axis(x, a, 0, n)
    return bind(P["gather"], (x, cast(index, dtypes.int64)), {"axis": d})


def _check_index_extent(op, x, d, index):
    for a, n in enumerate(index.shape):
        if a != d and n > x.shape[a]:
            raise RuntimeError(
                f"{op}(): Size does not match at dimension {a} expected index "
                f"{list(index.shape)} to be no larger than self {list(x.shape)} apart from "
                f"dimension {d}"
            )


def _lift_0d(x, index, src):
    """A 0-d index/src beside a 1-d self is its 1-element 1-d view (PyTorch)."""
    if x.ndim == 1:
        if index.ndim == 0:
            index = reshape(index, (1,))
        if isinstance(src, Tensor) and src.ndim == 0:
            src = reshape(src, (1,))
    return index, src


def _check_scatter_ranks(op, x, index, src):
    """PyTorch's checks (a 0-d tensor counts as 1-d): equal ranks, equal dtypes."""
    rank = max(x.ndim, 1)
    if max(index.ndim, 1) != rank or (isinstance(src, Tensor) and max(src.ndim, 1) != rank):
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as self tensor "
            f"({index.ndim} vs {x.ndim})"
        )
    if isinstance(src, Tensor) and src.dtype is not x.dtype:
        raise RuntimeError(
            f"{op}(): Expected self.dtype to be equal to src.dtype, got {x.dtype.name} "
            f"and {src.dtype.name}"
        )


@_zero_d
def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    d = normalize_dim("scatter_add", dim, x.ndim)
    _check_scatter_ranks("scatter_add", x, index, src)
    index, src = _lift_0d(x, index, src)
    index = _check_index_values("scatter_add", index, d, x.shape[d] if x.ndim else 1)
    if tuple(index.shape) != tuple(src.shape):
        for ax, n in enumerate(index.shape):
            src = _slice(src, ax, 0, n)

    def scatter(source):
        scattered = bind(
            P["scatter_add"],
            (source, cast(index, dtypes.int64)),
            {"axis": d, "size": x.shape[d]},
        )
        pads = [(0, x.shape[a] - scattered.shape[a]) for a in range(x.ndim)]
        return pad_axes(scattered, pads, 0) if any(hi for _, hi in pads) else scattered

    out = _add_scattered(x, cast(src, x.dtype), scatter)
    return rename(out, "ScatterAddBackward0", x, src)


def _add_scattered(x: Tensor, source: Tensor, scatter) -> Tensor:
    """``x + scatter(source)`` for a scatter-sum that is +0.0 where nothing lands. In floats
    that would turn an untouched -0.0 of ``x`` into +0.0 (PyTorch keeps it); ``x -
    scatter(-source)`` is the same sum and leaves every untouched element as it is."""
    if not x.dtype.is_floating_point:
        return add(x, scatter(source))
    return sub(x, scatter(neg(source)))


def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError("masked_fill only supports a 0-dimensional value tensor")
    if isinstance(mask, Tensor) and mask.dtype is not dtypes.bool_:
        raise RuntimeError(
            f"masked_fill only supports boolean masks, but got mask with dtype {mask.dtype.name}"
        )
    if not isinstance(value, Tensor):
        if isinstance(value, complex) and not x.dtype.is_complex:
            raise RuntimeError(
                f"masked_fill: value {value} cannot be converted to type {x.dtype.name} "
                "without overflow"
            )
        dtypes.check_fits(value, x.dtype)  # NaN, inf or 300 into int8: PyTorch's RuntimeError
        if x.dtype is dtypes.uint8 and isinstance(value, float) and value < 0:
            raise RuntimeError("value cannot be converted to type uint8_t without overflow")
    if isinstance(value, Tensor):  # (PyTorch's nodes: 0 for a number, 1 for a tensor)
        out = rename(where(mask, cast(value, x.dtype), x), "MaskedFillBackward1", x, value)
    else:
        out = rename(where(mask, constant(value, x.dtype), x), "MaskedFillBackward0", x)
    return contiguous_result(out, x)  # (PyTorch's layout)


def masked_select(x: Tensor, mask: Tensor) -> Tensor:

    x, mask = broadcast_tensors(x, mask)
    return getitem(reshape(x, (-1,)), reshape(mask, (-1,)))


def nonzero(x: Tensor, *, as_tuple: bool = False):
    if x._node is not None or current_trace() is not None:
        raise TraceError("nonzero gives a data-dependent shape and cannot be traced")
    data = host_data(x)
    if x.ndim == 0:  # one "position" with no coordinates, present when the value is nonzero
        count = int(bool(data))
        if as_tuple:
            return (constant(np.zeros(count, np.int64), dtypes.int64, like=x),)
        return constant(np.zeros((count, 0), np.int64), dtypes.int64, like=x)
    idx = np.nonzero(data)
    if as_tuple:
        return tuple(constant(i, dtypes.int64, like=x) for i in idx)
    # (PyTorch's result is column-major: strides (1, n))
    return constant(np.stack(idx).T, dtypes.int64, like=x)


def nonzero_static(input: Tensor, *, size: int, fill_value: int = -1) -> Tensor:  # noqa: A002
    """``nonzero`` with a fixed number of rows: the first ``size`` coordinates, padded with
    ``fill_value`` rows when there are fewer (PyTorch's shape-static ``nonzero``)."""
    if size < 0:
        raise RuntimeError(f"nonzero_static: 'size' must be a non-negative integer, got {size}")
    found = host_data(nonzero(input))[:size]
    out = np.full((size, input.ndim), fill_value, np.int64)
    out[: found.shape[0]] = found
    return constant(out, dtypes.int64, like=input)


def argwhere(x: Tensor) -> Tensor:
    return nonzero(x)


def setitem(x: Tensor, index, value) -> None:
    """``x[index] = value`` in place (functional under autograd and tracing)."""
    if isinstance(value, Tensor) and value.ndim and value.shape[0] == 1:
        # PyTorch drops a value's leading size-1 axes before broadcasting it to the
        # indexed shape (``adv[t] = delta`` with ``delta`` of shape (1,), in GAE loops)
        lead = 0
        while lead < value.ndim and value.shape[lead] == 1:
            lead += 1
        value = reshape(value, tuple(value.shape[lead:]))
    parts = index if isinstance(index, tuple) else (index,)
    if (not isinstance(value, Tensor) or value.ndim == 0) and any(
        isinstance(p, Tensor) and p.dtype is dtypes.uint8 for p in parts
    ):  # (PyTorch's path for one value is masked_fill_, which refuses a uint8 mask)
        raise RuntimeError(
            "masked_fill_ only supports boolean masks, but got mask with dtype unsigned char"
        )
    index = _pytorch_index(index)
    _refuse_index_put_dtype(x, index, value)
    if _is_int(value) and x.dtype._category == 1:  # PyTorch's checked conversion of a number
        dtypes.check_fits(value, x.dtype)  # (300 into int8: RuntimeError; -1 into uint8: 255)
        info = np.iinfo(x.dtype.np)
        value = int(value) % (int(info.max) + 1) if value < 0 and info.min == 0 else value

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
        _refuse_overlap(x._data, np_index, v)
        try:
            x._data[np_index] = v
        except ValueError as exc:
            if not x._data.flags.writeable:
                _write_through_expanded(x, np_index, v)
            else:
                raise RuntimeError(f"setitem: {exc} (tensor {list(x.shape)})") from None
        x._version += 1
        return
    parts = index if isinstance(index, tuple) else (index,)
    mask = parts[0] if len(parts) == 1 else None
    if (
        isinstance(mask, Tensor)
        and mask.dtype is dtypes.bool_
        and 0 < mask.ndim <= x.ndim
        and tuple(mask.shape) == tuple(x.shape[: mask.ndim])
        and (not isinstance(value, Tensor) or value.ndim == 0)
    ):
        # ``x[mask] = v`` with one value: a ``where`` (also under tracing, where the
        # positions a mask names are not known)
        v = value if isinstance(value, Tensor) else constant(value, x.dtype, like=x)
        if v._node is None and v.device != x.device and current_trace() is None:
            v = v.to(x.device)
        wide = reshape(mask, tuple(mask.shape) + (1,) * (x.ndim - mask.ndim))
        assign(x, where(wide, cast(v, x.dtype), x), "setitem")
        rename(x, "IndexPutBackward0")  # (PyTorch: a mask index is an index_put_)
        return
    # which flat positions the index names: computed on the CPU, or traced (an index
    # tensor that is a graph value, ``x[i] = v`` under kiln.jit)
    basic = all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)
    if basic:
        # a basic index (NumPy's meaning is PyTorch's): plain NumPy, also while tracing,
        # where a constant would be a graph node (``out[..., 0] = v`` under kiln.jit)
        positions = np.asarray(np.arange(x.numel()).reshape(x.shape)[_numpy_index(index)])
        shape, pos = positions.shape, constant(positions.reshape(-1), dtypes.int64, like=x)
    else:
        traced = getitem(
            constant(np.arange(x.numel()).reshape(x.shape), dtypes.int64), _cpu_index(index)
        )
        shape = tuple(traced.shape)
        if traced._node is not None:
            pos = reshape(traced, (-1,))
        else:
            pos = constant(traced._data.reshape(-1), dtypes.int64, like=x)
    v = value if isinstance(value, Tensor) else constant(value, x.dtype, like=x)
    if v._node is None and v.ndim and v.device != x.device and current_trace() is None:
        v = v.to(x.device)  # x[i] = t copies t onto x's device, as PyTorch's copy_ does
    v = reshape(expand(cast(v, x.dtype), shape), (-1,))
    # a position named twice takes the last value, as NumPy's and PyTorch's assignment do
    new = index_copy(reshape(x, (-1,)), 0, pos, v)
    assign(x, reshape(new, x.shape), "setitem")
    # PyTorch's node: CopySlices for a basic index (a copy_ into a view), else index_put_'s
    rename(x, "CopySlices" if basic else "IndexPutBackward0")


def _is_advanced(part) -> bool:
    """An index part PyTorch reads through index_put_ (a list, an array, a tensor that is
    not a 0-dim integer: a 0-dim integer tensor is read as a number)."""
    if isinstance(part, Tensor):
        return part.ndim > 0 or part.dtype is dtypes.bool_
    return isinstance(part, (list, np.ndarray))


def _refuse_index_put_dtype(x: Tensor, index, value) -> None:
    """PyTorch's index_put_ takes a value tensor of ``x``'s own dtype only: ``x[[0]] = t``
    with a float64 ``t`` into a float32 ``x`` is its RuntimeError, not a conversion. A basic
    index (a copy_) converts, and so does one mask with one value (a masked_fill_)."""
    if not isinstance(value, Tensor) or value.dtype is x.dtype:
        return
    parts = index if isinstance(index, tuple) else (index,)
    if not any(_is_advanced(p) for p in parts):
        return
    mask = parts[0] if len(parts) == 1 else None
    if isinstance(mask, list):
        mask = np.asarray(mask)
    is_mask = getattr(mask, "dtype", None) in (dtypes.bool_, np.dtype(bool))
    if not (is_mask and mask.ndim and value.numel() == 1):
        _index_put_dtype_error(x, value)


def _index_put_dtype_error(x: Tensor, value: Tensor):
    raise RuntimeError(
        "Index put requires the source and destination dtypes match, got "
        f"{x.dtype.name} for the destination and {value.dtype.name} for the source."
    )


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
        data = index._data
        if index.ndim == 0 and index.dtype._category == 1 and type(data) is np.ndarray:
            return int(data)  # (a 0-dim integer tensor is read as a number, as by getitem)
        return data
    if isinstance(index, slice) and index.step is not None and int(index.step) <= 0:
        raise ValueError("step must be greater than zero")  # (PyTorch has no negative steps)
    return index


def _write_through_expanded(x: Tensor, np_index, value) -> None:
    """``x[np_index] = value`` where ``x``'s array is read-only: a view of an expanded
    tensor, which PyTorch writes through where the elements written are apart (``e[0]``
    of ``x.expand(3, 4)`` is ``x``) and refuses where they are not (``e[:, 1]``); a
    tensor over read-only memory gets its own copy."""
    data = x._data
    parts = np_index if isinstance(np_index, tuple) else (np_index,)
    basic = all(
        p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts
    )
    if basic and internal_overlap(data[np_index]):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to "
            "a single memory location. Please clone() the tensor before performing the "
            "operation."
        )
    alias = None if x.is_meta else writable_alias(data)
    if alias is None:
        x._data = alias = data.copy()
    alias[np_index] = value


def _refuse_overlap(data: np.ndarray, np_index, value) -> None:
    """PyTorch refuses ``t[1:] = t[:-1]``: the source shares part of the memory written."""
    if type(value) is not np.ndarray:
        return
    parts = np_index if isinstance(np_index, tuple) else (np_index,)
    basic = all(
        p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts
    )
    if basic:
        target = data[np_index]
        same = (
            target.__array_interface__["data"][0] == value.__array_interface__["data"][0]
            and target.strides == value.strides
            and target.shape == value.shape
        )
        clash = not same and _overlap(target, value)
    else:  # (index_put_ refuses a source sharing any memory with the tensor written)
        clash = _overlap(data, value)
    if clash:
        raise RuntimeError(
            "unsupported operation: some elements of the input tensor and the written-to "
            "tensor refer to a single memory location. Please clone() the tensor before "
            "performing the operation."
        )


@_zero_d
def scatter(x: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
    """``x`` with ``src`` (or ``value``) written at ``index`` along ``dim``.

    A position named twice along ``dim`` takes the last source that names it, as
    PyTorch's CPU kernel does (its documentation leaves the order undefined).
    """

    if src is None:
        src = value
    node = "ScatterBackward0" if isinstance(src, Tensor) else "ScatterBackward1"
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError(
            f"scatter(): reduce argument must be either add or multiply, got {reduce!r}"
        )
    d = normalize_dim("scatter", dim, x.ndim)
    if isinstance(src, Tensor) and src.dtype is not x.dtype:
        raise RuntimeError(
            f"scatter(): Expected self.dtype to be equal to src.dtype, got {x.dtype.name} "
            f"and {src.dtype.name}"
        )
    _check_scatter_ranks("scatter", x, index, src)
    index, src = _lift_0d(x, index, src)
    index = cast(index, dtypes.int64)
    if not isinstance(src, Tensor):
        src = expand(constant(src, x.dtype, like=x), index.shape)
    if reduce == "multiply":
        return scatter_reduce(x, d, index, src, "prod")
    _check_index_extent("scatter", x, d, index)
    index = _check_index_values("scatter", index, d, x.shape[d])
    for ax, n in enumerate(index.shape):
        src = slice_axis(src, ax, 0, n)
    if reduce is None:
        src = where(_last_writers(index, d), src, _overwritten(cast(src, x.dtype)))
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

    return rename(where(gt(hits, 0), values, x), node, x, src if node[-1] == "0" else None)


def _product_in_order(candidates: Tensor) -> Tensor:
    """The product over axis -2 of ``candidates``, in PyTorch's order (the destination's
    own value, then each source in index order: floating-point products differ in the
    last bit between orders); by halving past 32 terms (``log2 n`` operations)."""
    k = candidates.shape[-2]
    if k > 32 or k == 0:
        return multiply_halves(movedim(candidates, -2, -1))
    axis = candidates.ndim - 2
    result = squeeze_axes(slice_axis(candidates, axis, 0, 1), (axis,))
    for j in range(1, k):
        result = mul(result, squeeze_axes(slice_axis(candidates, axis, j, j + 1), (axis,)))
    return result


def _overwritten(source: Tensor) -> Tensor:
    """What an overwritten source adds: 0 forward, yet (as in PyTorch's backward, which
    gathers the gradient at every index) a slope of 1 to ``source``."""
    if not source.dtype.is_floating_point:
        return constant(0, source.dtype)
    frozen = source.detach()
    finite = isfinite(frozen)
    return where(finite, sub(source, where(finite, frozen, 0.0)), 0.0)


def _last_writers(index: Tensor, axis: int) -> Tensor:
    """True where no later entry along ``axis`` of ``index`` names the same position."""
    n = index.shape[axis]
    later = constant(np.triu(np.ones((n, n), np.int32), 1), dtypes.int32, like=index)  # j > i
    same = eq(unsqueeze(index, axis + 1), unsqueeze(index, axis))  # [.., i, j, ..]
    shape = [1] * (index.ndim + 1)
    shape[axis], shape[axis + 1] = n, n
    overwritten = mul(cast(same, dtypes.int32), reshape(later, shape))
    count = bind(P["sum"], (overwritten,), {"axes": (axis + 1,), "keepdims": False})
    return eq(count, 0)


@_zero_d
def index_add(x: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    d = normalize_dim("index_add", dim, x.ndim)
    index = _check_index_values("index_add", index, d, x.shape[d] if x.ndim else 1)
    index = _raises_runtime_error_when_out_of_range(index, x.shape[d] if x.ndim else 1)
    if x.dtype is dtypes.uint8 and isinstance(alpha, numbers.Integral):
        alpha = int(alpha) % 256  # the same product modulo 2**8 (PyTorch wraps)
    if alpha != 1:
        source = mul(source, alpha)
    index = cast(index, dtypes.int64)
    params = {"axis": d, "size": x.shape[d]}
    scatter = lambda src: bind(P["take_grad"], (src, index), params)  # noqa: E731
    return rename(_add_scattered(x, cast(source, x.dtype), scatter), "IndexAddBackward0", x, source)


@_zero_d
def index_fill(x: Tensor, dim: int, index: Tensor, value) -> Tensor:
    d = normalize_dim("index_fill", dim, x.ndim)
    shape = [1] * x.ndim
    shape[d] = x.shape[d]
    if isinstance(index, Tensor) and index._node is not None:
        # a traced index: the positions it names, as a mask made in the graph
        n = x.shape[d]
        flat = reshape(cast(index, dtypes.int64), (1, -1))
        # (taken from 0..n-1: negatives wrap, and one outside [-n, n) raises when it runs,
        # as PyTorch's, rather than name no position)
        positions = constant(np.arange(n), dtypes.int64)
        flat = bind(P["take"], (positions, flat), {"axis": 0})
        rows = constant(np.arange(n).reshape(n, 1), dtypes.int64)
        hits = cast(eq(rows, flat), dtypes.int8)
        named = bind(P["max"], (hits,), {"axes": (1,), "keepdims": False})
        mask = reshape(gt(named, 0), tuple(shape))
    else:
        idx = host_data(index) if isinstance(index, Tensor) else index
        named = np.zeros(x.shape[d], dtype=bool)
        named[np.asarray(idx).reshape(-1)] = True
        mask = constant(named.reshape(shape), dtypes.bool_, like=x)
    if isinstance(value, Tensor):
        return rename(where(mask, value, x), "IndexFillBackward1", x, value)
    return rename(where(mask, constant(value, x.dtype), x), "IndexFillBackward0", x)


def repeat_interleave(x: Tensor, repeats=None, dim=None, *, output_size=None) -> Tensor:
    if repeats is None:  # ``repeat_interleave(repeats)``: each index ``repeats[i]`` times
        if x.ndim > 1 or x.dtype.is_floating_point or x.dtype is dtypes.bool_:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        counts = reshape(x, (-1,))
        return repeat_interleave(
            constant(np.arange(counts.shape[0]), dtypes.int64, like=x),
            counts,
            0,
            output_size=output_size,
        )
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    d = normalize_dim("repeat_interleave", dim, x.ndim)
    reps = host_data(repeats) if isinstance(repeats, Tensor) else repeats
    positions = np.repeat(np.arange(x.shape[d]), reps)
    if output_size is not None and output_size != len(positions):
        raise RuntimeError(
            f"repeat_interleave: allocated size {output_size} does not match required size "
            f"{len(positions)}"
        )
    return bind(P["take"], (x, constant(positions, dtypes.int64, like=x)), {"axis": d})


# ------------------------------------------------------------------- scatter_reduce & co


def _one_hot_lines(index: Tensor, axis: int, size: int) -> Tensor:
    """``(..., k, size)`` with the index's ``axis`` moved last: entry ``[.., j, p]`` says
    whether the ``j``-th index of the line names position ``p``."""
    idx = movedim(index, axis, -1)
    positions = constant(np.arange(size), dtypes.int64, like=index)
    return eq(unsqueeze(idx, -1), positions)


@_zero_d
def scatter_reduce(
    x: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """``x`` with ``src`` reduced into the positions ``index`` names along ``dim``
    (``sum``, ``prod``, ``mean``, ``amax``, ``amin``), as PyTorch's ``scatter_reduce``.

    Each line compares its indices with every position (a one-hot of shape
    ``(k, size)``) and reduces over the indices: exact, differentiable and traceable (the
    gradient of ``amax``/``amin`` is shared evenly among ties, ``self`` included, as in
    PyTorch), at ``k * size`` memory per line.
    """
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(
            f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}"
        )
    d = normalize_dim("scatter_reduce", dim, x.ndim)
    if x.dtype is dtypes.bool_ and reduce in ("amax", "amin") and src.dtype is dtypes.bool_:
        # bool max/min are or/and: reduce as uint8 (whose lowest value exists) and back
        u8 = scatter_reduce(
            cast(x, dtypes.uint8), d, index, cast(src, dtypes.uint8), reduce,
            include_self=include_self,
        )  # fmt: skip
        return cast(u8, dtypes.bool_)
    if index.ndim != x.ndim or src.ndim != x.ndim:
        raise RuntimeError(
            f"scatter_reduce(): index {list(index.shape)} and src {list(src.shape)} must have "
            f"as many dimensions as self {list(x.shape)}"
        )
    _check_index_extent("scatter_reduce", x, d, index)
    index = _check_index_values("scatter_reduce", index, d, x.shape[d])
    index = _raises_runtime_error_when_out_of_range(index, x.shape[d])  # (one-hot: no check)
    if src.dtype is not x.dtype:
        raise RuntimeError(
            f"scatter_reduce(): Expected self.dtype to be equal to src.dtype, got "
            f"{x.dtype.name} and {src.dtype.name}"
        )
    index = cast(index, dtypes.int64)
    for ax, n in enumerate(index.shape):
        src = slice_axis(src, ax, 0, n)
    # the block of x that the index's lines cover (all of x along dim)
    block = x
    for ax, n in enumerate(index.shape):
        if ax != d:
            block = slice_axis(block, ax, 0, n)
    size = x.shape[d]
    hit = _one_hot_lines(index, d, size)  # (..., k, size)
    vals = unsqueeze(movedim(src, d, -1), -1)  # (..., k, 1)
    own = unsqueeze(movedim(block, d, -1), -2)  # (..., 1, size)
    count = bind(P["sum"], (cast(hit, dtypes.int64),), {"axes": (hit.ndim - 2,), "keepdims": False})
    zero = constant(0, x.dtype)
    if reduce in ("sum", "mean"):
        total = bind(
            P["sum"], (where(hit, vals, zero),), {"axes": (hit.ndim - 2,), "keepdims": False}
        )
        line = movedim(block, d, -1)
        if include_self:
            total = add(total, line)
        if reduce == "mean":
            n = add(count, 1) if include_self else maximum(count, 1)
            n = cast(n, x.dtype)
            total = div(total, n) if x.dtype.is_floating_point else floor_divide(total, n)
        result = where(gt(count, 0), total, line)
    else:
        key = reverse_order if reduce == "amin" else None
        if reduce == "prod":
            neutral = constant(1, x.dtype)
        else:
            neutral = constant(_lowest_value(x.dtype), x.dtype)
        if reduce == "amin":
            vals, own = reverse_order(vals), reverse_order(own)
        candidates = where(hit, vals, neutral)  # (..., k, size)
        if include_self:
            candidates = cat([own, candidates], -2)
        if reduce == "prod":
            result = _product_in_order(candidates)
        else:
            result = bind(
                P["max"], (candidates,), {"axes": (candidates.ndim - 2,), "keepdims": False}
            )
            if key is not None:
                result = key(result)
        line = movedim(block, d, -1)
        if not include_self:
            result = where(gt(count, 0), result, line)
    result = movedim(result, -1, d)
    if tuple(result.shape) == tuple(x.shape):
        return result
    pads = [(0, x.shape[a] - result.shape[a]) for a in range(x.ndim)]
    inside = pad_axes(constant(np.ones(result.shape, bool), dtypes.bool_, like=x), pads, False)
    return where(inside, pad_axes(result, pads, 0), x)


def _lowest_value(dtype):
    return -math.inf if dtype.is_floating_point else int(np.iinfo(dtype.np).min)


def take_along_dim(x: Tensor, indices: Tensor, dim=None) -> Tensor:
    if dim is None:
        return take(x, reshape(indices, (-1,)))
    d = normalize_dim("take_along_dim", dim, x.ndim)
    if indices.ndim != x.ndim:
        raise RuntimeError(
            f"torch.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {x.ndim} dimensions for input, and {indices.ndim} "
            f"dimensions for indices"
        )
    shape_x, shape_i = list(x.shape), list(indices.shape)
    shape_x[d] = shape_i[d] = 1
    common = broadcast_shapes("take_along_dim", shape_x, shape_i)
    xs, ids = list(common), list(common)
    xs[d], ids[d] = x.shape[d], indices.shape[d]
    if x.shape[d]:  # negative indices count from the end (PyTorch)
        _check_index_values("take_along_dim", indices, d, x.shape[d], lo=-x.shape[d])
        traced = indices._node is not None or current_trace() is not None
        if traced or type(indices._data) is not np.ndarray or (indices._data < 0).any():
            indices = where(lt(indices, 0), add(indices, x.shape[d]), indices)
    return gather(expand(x, xs), d, expand(indices, ids))


@autocast_op("promote")
@_zero_d
def index_copy(x: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``x`` with the slices ``index`` of ``dim`` replaced by those of ``source`` (the last
    one wins where an index repeats)."""
    d = normalize_dim("index_copy", dim, x.ndim)
    index = _check_index_values("index_copy_", index, d, x.shape[d] if x.ndim else 1, IndexError)
    if index._node is None and current_trace() is None and index.device != x.device:
        index = index.to(x.device)  # a CPU index of a GPU tensor, as PyTorch allows
    index = cast(reshape(index, (-1,)), dtypes.int64)
    if source.ndim and source.shape[d] != index.shape[0]:
        raise IndexError(
            f"index_copy_(): Number of indices ({index.shape[0]}) should be equal to "
            f"source.size(dim) ({source.shape[d]})"
        )
    keep = _last_writers(index, 0)
    shape = [1] * x.ndim
    shape[d] = index.shape[0]
    keep = reshape(keep, shape)
    source = cast(source, x.dtype)
    params = {"axis": d, "size": x.shape[d]}
    values = bind(P["take_grad"], (where(keep, source, _overwritten(source)), index), params)
    ones = constant(np.ones(index.shape[0], x.dtype.np), x.dtype, like=x)
    hits = bind(P["take_grad"], (ones, index), {"axis": 0, "size": x.shape[d]})
    hits = reshape(gt(hits, 0), [x.shape[i] if i == d else 1 for i in range(x.ndim)])
    return rename(where(hits, values, x), "IndexCopyBackward0", x, source)


def index_put(x: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    """``x`` with ``x[indices]`` set to (or, with ``accumulate``, increased by) ``values``."""
    indices = tuple(indices)
    if isinstance(values, Tensor) and values.dtype is not x.dtype:
        one_mask = len(indices) == 1 and getattr(indices[0], "dtype", None) is dtypes.bool_
        if accumulate or values.numel() != 1 or not one_mask:  # (else it is a masked_fill_)
            _index_put_dtype_error(x, values)
    flat_positions = getitem(
        constant(np.arange(x.numel()).reshape(x.shape), dtypes.int64, like=x), tuple(indices)
    )
    pos = reshape(flat_positions, (-1,))
    v = values if isinstance(values, Tensor) else constant(values, x.dtype, like=x)
    v = reshape(expand(cast(v, x.dtype), flat_positions.shape), (-1,))
    flat = reshape(x, (-1,))
    if accumulate:
        params = {"axis": 0, "size": x.numel()}
        added = _add_scattered(flat, v, lambda source: bind(P["take_grad"], (source, pos), params))
        return rename(reshape(added, x.shape), "IndexPutBackward0", x, values)
    return rename(reshape(index_copy(flat, 0, pos, v), x.shape), "IndexPutBackward0", x, values)


def masked_scatter(x: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """``x`` with the positions where ``mask`` holds filled, in order, from ``source``.

    The ``k``-th true position reads ``source.flatten()[k]``: ``k`` is a running count of
    the mask, so this traces too (no data-dependent shape).
    """
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(
            f"masked_scatter_ only supports boolean masks, but got {mask.dtype.name}"
        )
    x, mask = broadcast_tensors(x, mask)
    flat_mask = reshape(mask, (-1,))
    if flat_mask._node is None and current_trace() is None:
        needed = int(np.count_nonzero(host_data(flat_mask)))
        if needed > source.numel():
            raise RuntimeError(
                f"masked_scatter: expected source to have at least {needed} elements, "
                f"got {source.numel()}"
            )
    order = sub(bind(P["cumsum"], (cast(flat_mask, dtypes.int64),), {"axis": 0}), 1)
    order = where(flat_mask, order, constant(0, dtypes.int64))
    src = reshape(cast(source, x.dtype), (-1,))
    if src.shape[0] == 0:
        return x
    taken = bind(P["take"], (src, order), {"axis": 0})
    out = reshape(where(flat_mask, taken, reshape(x, (-1,))), x.shape)
    return rename(out, "MaskedScatterBackward0", x, source)
