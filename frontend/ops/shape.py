"""Movement operations: reshape, permute, expand, slice, pad, concat and their composites.

>>> reshape(arange(6), (2, -1)).shape
kiln.Size([2, 3])
"""

from __future__ import annotations

import math

import numpy as np

from kiln.compiler.errors import ShapeError, TraceError
from kiln.compiler.primitives import PRIMITIVES as P
from kiln.compiler.primitives import broadcast_shapes

from .. import dtypes
from ..autograd.tape import rename
from ..creation import arange
from ..dispatch import autocast_op, bind, constant
from ..memory_format import (
    _dense_strides,
    channels_last,
    channels_last_3d,
    contiguous_result,
    is_contiguous,
    lay_out,
    preserve_format,
)
from ..tensor import Tensor
from .dims import normalize_dim
from .elementwise import cast, mul, where

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
broadcast_tensors broadcast_to cat chunk concat concatenate expand expand_as flatten flip
hstack meshgrid moveaxis movedim narrow permute pixel_shuffle pixel_unshuffle repeat reshape
roll split squeeze stack swapaxes swapdims t tensor_split tile transpose tril triu unbind
unflatten unsqueeze view vstack
""".split()


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def infer_shape(shape, numel: int) -> tuple:
    shape = tuple(shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if d == -1 else d for d in shape)
    if math.prod(shape) != numel or any(d < 0 for d in shape):
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def reshape(x: Tensor, *shape) -> Tensor:
    shape = infer_shape(_shape_arg(shape), x.numel())
    if shape == tuple(x.shape):
        return x
    return bind(P["reshape"], (x,), {"shape": shape})


def permute(x: Tensor, *dims) -> Tensor:
    dims = _shape_arg(dims)
    if len(dims) != x.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does "
            f"not match the length of the desired ordering of dimensions i.e. "
            f"input.dim() = {x.ndim} is not equal to len(dims) = {len(dims)}"
        )
    axes = tuple(normalize_dim("permute", d, x.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"permute: repeated dim in {dims}")
    if axes == tuple(range(x.ndim)):
        return x
    return bind(P["permute"], (x,), {"axes": axes})


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    if x.is_sparse:  # kiln.sparse
        return x.transpose(dim0, dim1)
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    axes = list(range(x.ndim))
    a, b = normalize_dim("transpose", dim0, x.ndim), normalize_dim("transpose", dim1, x.ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return rename(permute(x, axes), "TransposeBackward0", x)


swapaxes = swapdims = transpose


def t(x: Tensor) -> Tensor:
    if x.is_sparse:  # kiln.sparse
        return x.t()
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return rename(transpose(x, 0, 1), "TBackward0", x) if x.ndim == 2 else x


def movedim(x: Tensor, source, destination) -> Tensor:
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({src} dims) should contain "
            f"the same number of dims as destination ({dst} dims)"
        )
    src_n = [normalize_dim("movedim", s, x.ndim) for s in src]
    dst_n = [normalize_dim("movedim", d, x.ndim) for d in dst]
    for what, given, dims in (("source", src, src_n), ("destination", dst, dst_n)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{what}` ({given})")
    src, dst = src_n, dst_n
    order = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, order)


moveaxis = movedim


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    d = normalize_dim("unsqueeze", dim, x.ndim + 1)
    shape = list(x.shape)
    shape.insert(d, 1)
    return rename(bind(P["reshape"], (x,), {"shape": tuple(shape)}), "UnsqueezeBackward0", x)


def squeeze(x: Tensor, dim=None) -> Tensor:
    if dim is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        axes = tuple(normalize_dim("squeeze", d, x.ndim) for d in dims)
        axes = tuple(a for a in axes if x.ndim and x.shape[a] == 1)
    kind = 0 if dim is None else 1 if isinstance(dim, int) else 2
    out = squeeze_axes(x, axes) if axes else bind(P["reshape"], (x,), {"shape": tuple(x.shape)})
    return rename(out, f"SqueezeBackward{kind}", x)


def squeeze_axes(x: Tensor, axes) -> Tensor:
    if not axes:
        return x
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return bind(P["reshape"], (x,), {"shape": shape})


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1,))
    s = normalize_dim("flatten", start_dim, x.ndim)
    e = normalize_dim("flatten", end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :]
    return reshape(x, shape)


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    d = normalize_dim("unflatten", dim, x.ndim)
    sizes = infer_shape(sizes, x.shape[d])
    return reshape(x, x.shape[:d] + sizes + x.shape[d + 1 :])


def expand(x: Tensor, *sizes) -> Tensor:
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater "
            f"or equal to the number of dimensions in the tensor ({x.ndim})"
        )
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes))
    if shape == tuple(x.shape):
        return x
    try:
        return bind(P["expand"], (x,), {"shape": shape})
    except ShapeError as exc:
        raise RuntimeError(
            f"The expanded size of the tensor must match the existing size at "
            f"non-singleton dimensions: {exc}"
        ) from None


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, other.shape)


def broadcast_to(x: Tensor, shape) -> Tensor:
    return expand(x, tuple(shape))


def broadcast_tensors(*tensors):

    shape = broadcast_shapes("broadcast_tensors", *(t.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


def slice_axis(x: Tensor, axis: int, start: int, stop: int, step: int = 1) -> Tensor:
    """``x[..., start:stop:step, ...]`` on one axis (bounds already clamped)."""
    if start == 0 and stop == x.shape[axis] and step == 1:
        return x
    starts = [0] * x.ndim
    stops = list(x.shape)
    steps = [1] * x.ndim
    starts[axis], stops[axis], steps[axis] = start, stop, step
    return bind(
        P["slice"], (x,), {"starts": tuple(starts), "stops": tuple(stops), "steps": tuple(steps)}
    )


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if isinstance(start, Tensor):  # PyTorch: a 0-d integer tensor (bool is not)
        if (
            start.ndim
            or start.dtype.is_floating_point
            or start.dtype.name in ("bool", "complex64", "complex128")
        ):
            raise RuntimeError("start must be an 0-dim integral Tensor.")
        start = int(start.item())
    d = normalize_dim("narrow", dim, x.ndim)
    n = x.shape[d]
    if not -n <= start <= n:
        raise IndexError(
            f"narrow: start out of range (expected to be in range of [{-n}, {n}], but got {start})"
        )
    start = start + n if start < 0 else start
    if length < 0 or start + length > n:
        raise RuntimeError(
            f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n})."
        )
    return slice_axis(x, d, start, start + length)


def pad_axes(x: Tensor, pads, value=0.0) -> Tensor:
    """Constant padding: ``pads`` is one ``(before, after)`` pair per axis."""
    return bind(P["pad"], (x,), {"pads": tuple(tuple(p) for p in pads), "value": value})


@autocast_op("promote")
def cat(tensors, dim: int = 0) -> Tensor:

    if isinstance(tensors, Tensor):  # (it was iterated: a 2-D tensor's rows, concatenated)
        raise TypeError("cat(): argument 'tensors' must be a tuple of Tensors, not Tensor")
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}"
            )
    # PyTorch skips legacy empty 1-D tensors
    nonempty = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]

    dt = dtypes.result_type(*tensors)  # (the skipped empty tensors' dtypes count too)
    tensors = [cast(t, dt) for t in nonempty]
    first = tensors[0]
    if first.ndim == 0:
        raise RuntimeError("cat(): zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = normalize_dim("cat", dim, first.ndim)
    if len(tensors) == 1:
        return tensors[0]
    try:
        return bind(P["concat"], tuple(tensors), {"axis": axis})
    except ShapeError as exc:
        raise RuntimeError(
            f"cat(): Sizes of tensors must match except in dimension {axis}: {exc}"
        ) from None


concat = concatenate = cat


@autocast_op("promote")
def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got "
                f"{list(shape)} at entry 0 and {list(t.shape)} at entry {i}"
            )
    d = normalize_dim("stack", dim, len(shape) + 1)
    out = rename(cat([unsqueeze(t, d) for t in tensors], d), "StackBackward0", *tensors)
    return _stacked_layout(out, tensors[0], d)


def _stacked_layout(out, first, d):
    """PyTorch's layout of ``stack``: the inputs' channels_last under a new outer axis
    (``d == 0``), else contiguous (cat's rule would read the unsqueezed inputs' strides)."""
    if d == 0 and first.ndim in (4, 5) and not first.is_contiguous():
        fmt = channels_last if first.ndim == 4 else channels_last_3d
        if is_contiguous(first.shape, first.stride(), fmt):
            order = [0] + [a + 1 for a in fmt._order]
            if out._node is not None:
                from ..tracing import TracerTensor, set_layout

                if isinstance(out, TracerTensor):  # (not vmap's batched values)
                    set_layout(out, _dense_strides(out._node.shape, order))
            elif type(out._data) is np.ndarray:
                inverse = np.argsort(order)
                out._data = np.ascontiguousarray(out._data.transpose(order)).transpose(inverse)
            return out
    return contiguous_result(out, first)


def _nonempty(name, tensors):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{name} expects a non-empty TensorList")
    return tensors


def hstack(tensors):
    tensors = _nonempty("hstack", tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    tensors = _nonempty("vstack", tensors)
    return cat([t if t.ndim >= 2 else reshape(t, (1, -1)) for t in tensors], 0)


def split(x: Tensor, split_size_or_sections, dim: int = 0):
    d = normalize_dim("split", dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and n:
            raise RuntimeError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - i) for i in range(0, n, size)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} "
                f"(input tensor's size at dimension {d}), but got "
                f"split_sizes={sizes}"
            )
    out, start = [], 0
    for s in sizes:
        out.append(rename(slice_axis(x, d, start, start + s), "SplitBackward0", x))
        start += s
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = normalize_dim("chunk", dim, x.ndim)
    size = -(-x.shape[d] // chunks) if x.shape[d] else 1
    return split(x, max(size, 1), d)


def tensor_split(x: Tensor, indices_or_sections, dim: int = 0):
    """``sections`` near-equal pieces (the first ``size % sections`` one longer), or the
    pieces between ``indices`` read as Python slices (``x[:i0]``, ``x[i0:i1]``, ...: a
    negative index counts from the end, one past the end clamps): views of ``x``."""
    sections = indices_or_sections
    if isinstance(sections, Tensor):
        if sections.dtype is not dtypes.int64:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to have dtype of long, but "
                f"got {sections.dtype.name}"
            )
        if sections.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                f"one-dimensional tensor, but got a tensor with {sections.ndim} dims"
            )
        sections = sections.item() if sections.ndim == 0 else [int(i) for i in sections.tolist()]
    if x.ndim == 0:
        raise RuntimeError(
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims"
        )
    d = normalize_dim("tensor_split", dim, x.ndim)
    n = x.shape[d]
    if isinstance(sections, int):
        if sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
        q, r = divmod(n, sections)
        sizes = [q + 1] * r + [q] * (sections - r)
        return split(x, sizes, d)
    bounds = [None, *(int(i) for i in sections), None]
    pieces = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        start, stop, _ = slice(a, b).indices(n)
        pieces.append(slice_axis(x, d, start, max(start, stop)))
    return tuple(pieces)


def unbind(x: Tensor, dim: int = 0):
    d = normalize_dim("unbind", dim, x.ndim)
    return tuple(rename(squeeze_axes(p, (d,)), "UnbindBackward0", x) for p in split(x, 1, d))


def flip(x: Tensor, *dims, **kwargs) -> Tensor:
    """``flip(x, dims)``, ``flip(x, 0, 1)`` (the method's varargs) or ``flip(x, dims=...)``."""
    from .index import index_select

    x0 = x
    if "dims" in kwargs:
        if dims:
            raise TypeError("flip() got multiple values for argument 'dims'")
        dims = (kwargs.pop("dims"),)
    if kwargs:
        raise TypeError(f"flip() got an unexpected keyword argument {next(iter(kwargs))!r}")
    if len(dims) == 1 and not isinstance(dims[0], int):
        dims = dims[0]
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    axes = [normalize_dim("flip", dim, x.ndim) for dim in dims]
    for d in axes:
        if axes.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    for d in axes:
        if x.ndim and x.shape[d] > 1:
            x = index_select(x, d, arange(x.shape[d] - 1, -1, -1))
    if x is not x0:  # (PyTorch's flip keeps a dense input's strides)
        x = lay_out(x, preserve_format, like=x0)
    return rename(x, "FlipBackward0", x0)


def repeat(x: Tensor, *sizes) -> Tensor:
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(
            "repeat: number of dimensions of repeat dims can not be smaller "
            "than number of dimensions of tensor"
        )
    if any(int(r) < 0 for r in sizes):
        raise RuntimeError(
            f"repeat: Trying to create tensor with negative dimension: repeats {list(sizes)} "
            f"of a tensor of size {list(x.shape)}"
        )
    x0, x = x, reshape(x, (1,) * (len(sizes) - x.ndim) + tuple(x.shape))
    # (r0, d0, r1, d1, ...) -> expand -> reshape
    inter = []
    for d in x.shape:
        inter += [1, d]
    y = reshape(x, inter)
    target = []
    for r, d in zip(sizes, x.shape):
        target += [r, d]
    y = expand(y, target)
    out = reshape(y, [r * d for r, d in zip(sizes, x.shape)])
    if type(out._data) is np.ndarray and not out._data.flags.writeable and not out.is_meta:
        out._data = np.ascontiguousarray(out._data)  # (a copy, as PyTorch's: not x's memory)
    return rename(out, "RepeatBackward0", x0)


def tile(x: Tensor, dims) -> Tensor:
    dims = tuple(dims)
    dims = (1,) * (x.ndim - len(dims)) + dims
    return repeat(x, dims)


def roll(x: Tensor, shifts, dims=None) -> Tensor:
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    given = () if dims is None else (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(given) and not (dims is None and len(shifts) == 1):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(given)}"
        )
    if dims is None:
        return rename(reshape(roll(flatten(x), shifts, 0), x.shape), "RollBackward0", x)
    given_x = x
    dims = given
    for s, dim in zip(shifts, dims):
        d = normalize_dim("roll", dim, x.ndim)
        n = x.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            x = cat([slice_axis(x, d, n - s, n), slice_axis(x, d, 0, n - s)], d)
    return rename(x, "RollBackward0", given_x)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    return _triangle(x, diagonal, lower=True)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    return _triangle(x, diagonal, lower=False)


def _triangle(x, diagonal, lower):
    if x.ndim < 2:
        raise RuntimeError(
            f"{'tril' if lower else 'triu'}: input tensor must have at least 2 dimensions, "
            f"got size {list(x.shape)}"
        )
    rows, cols = x.shape[-2:]
    from ..memory_errors import allocating  # (PyTorch's RuntimeError when memory runs out)

    with allocating((rows, cols), bool):
        mask = np.tri(rows, cols, diagonal, dtype=bool)
        if not lower:
            mask = ~np.tri(rows, cols, diagonal - 1, dtype=bool)
    out = where(constant(mask, dtypes.bool_, like=x), x, constant(0, x.dtype))
    return contiguous_result(out, x)  # (PyTorch's layout)


def multiply_halves(x: Tensor) -> Tensor:
    """The product over the last axis, multiplying its two halves until one row is left
    (an odd length is padded with a 1; an empty axis gives 1)."""
    last = x.ndim - 1
    while x.shape[last] != 1:
        n = x.shape[last]
        if n % 2 or n == 0:
            x = pad_axes(x, [(0, 0)] * last + [(0, 1)], 1)
            n += 1
            if n == 1:
                break
        x = mul(slice_axis(x, last, 0, n // 2), slice_axis(x, last, n // 2, n))
    return squeeze_axes(x, (last,))


def view(x: Tensor, *shape) -> Tensor:
    """``x.view(shape)``, or ``x.view(dtype)``: the same bytes read as another dtype (the
    last axis scales by the ratio of the item sizes)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
        return view_dtype(x, shape[0])
    new = infer_shape(_shape_arg(shape), x.numel())
    traced = x._node is not None  # (a traced tensor knows its eager strides)
    if (type(x._data) is np.ndarray and x._node is None and not x.is_meta) or traced:
        if view_strides(tuple(x.shape), x.stride(), new) is None:
            raise RuntimeError(
                f"view size is not compatible with input tensor's size and stride (at least "
                f"one dimension spans across two contiguous subspaces): input of size "
                f"{list(x.shape)} and stride {list(x.stride())}, view of size {list(new)}. "
                "Use .reshape(...) instead."
            )
    return reshape(x, new)


def view_strides(old_shape: tuple, old_strides: tuple, new_shape: tuple):
    """The strides of ``new_shape`` viewing a tensor of ``old_shape``/``old_strides``
    without a copy, or ``None`` where none exists (PyTorch's ``computeStride``)."""
    if not old_shape or math.prod(old_shape) == 0:
        return tuple(_dense(new_shape))
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk = old_strides[-1]
    tensor_numel = 1
    view_numel = 1
    for d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[d]
        if d == 0 or (old_shape[d - 1] != 1 and old_strides[d - 1] != tensor_numel * chunk):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk = old_strides[d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def _dense(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return reversed(strides)


def view_dtype(x: Tensor, dtype) -> Tensor:
    """A bit cast. Eager only: the result shares no graph with ``x`` (no gradient)."""
    from ..dispatch import current_trace  # noqa: PLC0415 - dispatch imports ops at load

    dtype = dtypes.as_dtype(dtype)
    if dtype is x.dtype:
        return x
    if x._node is not None or current_trace() is not None:
        raise TraceError("view(dtype) reinterprets memory and cannot be traced")
    old, new = x.dtype.np.itemsize, dtype.np.itemsize
    if old != new and (x.ndim == 0 or (x.shape[-1] * old) % new):
        raise RuntimeError(
            f"self.size(-1) must be divisible by {new // old if new > old else 1} to view "
            f"{x.dtype.name} as {dtype.name} (different element sizes), but got "
            f"{x.shape[-1] if x.ndim else 'a 0-d tensor'}"
        )
    data = np.ascontiguousarray(np.asarray(x._data)).view(dtype.np)
    return constant(data, dtype, like=x)


def meshgrid(*tensors, indexing: str | None = None):
    """Coordinate grids: with ``'ij'`` (PyTorch's default) axis ``k`` follows tensor ``k``;
    ``'xy'`` swaps the first two."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise RuntimeError(
            f"torch.meshgrid: indexing must be one of 'xy' or 'ij', but received: {indexing}"
        )
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(
                f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t.ndim}D"
            )
    flat = [reshape(t, (-1,)) for t in tensors]
    swap = indexing == "xy" and len(flat) >= 2
    if swap:
        flat[0], flat[1] = flat[1], flat[0]
    shape = tuple(t.shape[0] for t in flat)
    grids = []
    for k, t in enumerate(flat):
        view_shape = [1] * len(flat)
        view_shape[k] = t.shape[0]
        grids.append(expand(reshape(t, view_shape), shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` along ``dimension``, ``step`` apart, as a
    new last axis (the windows replace ``dimension``)."""
    d = normalize_dim("unfold", dimension, x.ndim)
    n = x.shape[d] if x.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if x.ndim == 0:
        return reshape(x, (1,))
    count = (n - size) // step + 1
    positions = np.arange(count)[:, None] * step + np.arange(size)[None, :]
    windows = bind(P["take"], (x, constant(positions, dtypes.int64, like=x)), {"axis": d})
    return movedim(windows, d + 1, -1)


def pixel_shuffle(x: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C*r*r, H, W)`` -> ``(*, C, H*r, W*r)``."""
    r = int(upscale_factor)
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise RuntimeError(
            f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
            f"square of upscale_factor, but input.size(-3)={x.shape[-3] if x.ndim >= 3 else None}"
            f" is not divisible by {r * r}"
        )
    *lead, c, h, w = x.shape
    y = reshape(x, (*lead, c // (r * r), r, r, h, w))
    n = len(lead)
    y = permute(y, list(range(n)) + [n, n + 3, n + 1, n + 4, n + 2])
    return reshape(y, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(x: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H*r, W*r)`` -> ``(*, C*r*r, H, W)``."""
    r = int(downscale_factor)
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise RuntimeError(
            f"pixel_unshuffle expects height and width to be divisible by downscale_factor "
            f"{r}, got input of size {list(x.shape)}"
        )
    *lead, c, h, w = x.shape
    y = reshape(x, (*lead, c, h // r, r, w // r, r))
    n = len(lead)
    y = permute(y, list(range(n)) + [n, n + 2, n + 4, n + 1, n + 3])
    return reshape(y, (*lead, c * r * r, h // r, w // r))
