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

import functools

import numpy as np

__all__ = [
    "channels_last",
    "channels_last_3d",
    "contiguous_format",
    "layout",
    "memory_format",
    "preserve_format",
    "strided",
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


class layout:  # noqa: N801 - PyTorch's name
    """``Tensor.layout``: ``strided`` (dense) or ``sparse_coo`` (``kiln.sparse``); the
    compressed layouts are names only (``layout == torch.sparse_csr`` reads)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (_layout_named, (self.name,))


strided = layout("strided")
sparse_coo = layout("sparse_coo")
sparse_csr = layout("sparse_csr")
sparse_csc = layout("sparse_csc")
sparse_bsr = layout("sparse_bsr")
sparse_bsc = layout("sparse_bsc")
_LAYOUTS = {
    x.name: x for x in (strided, sparse_coo, sparse_csr, sparse_csc, sparse_bsr, sparse_bsc)
}


def _layout_named(name: str) -> layout:
    return _LAYOUTS[name]


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
    laid = np.ascontiguousarray(data.transpose(order)).transpose(inverse)
    want = tuple(s * data.itemsize for s in _dense_strides(data.shape, order))
    if laid.strides != want:  # (NumPy's own strides on size-1 axes: PyTorch's here)
        laid = np.lib.stride_tricks.as_strided(laid, data.shape, want)
    return laid


def _is_dense(data: np.ndarray) -> bool:
    """PyTorch's ``is_non_overlapping_and_dense``: the elements fill a block, once each."""
    strides = element_strides(data)
    order = sorted(range(data.ndim), key=lambda a: -strides[a])
    expected = _dense_strides(data.shape, order)
    return all(d == 1 or s == e for d, s, e in zip(data.shape, strides, expected))


def lay_out(t, fmt, like=None):
    """``t`` (a fresh tensor, eager values) laid out as ``fmt``; with ``preserve_format``
    (the default of ``empty_like`` and the other ``*_like``), as ``like`` is: the same
    strides where ``like`` is dense, else channels_last where ``like`` is, else contiguous
    (PyTorch's rule). A traced or device tensor is returned as it is."""
    data = t._data
    if t._node is not None and fmt is not None and fmt is not contiguous_format:
        return _traced_like(t, like, fmt)
    if type(data) is not np.ndarray or t._node is not None or getattr(t, "is_meta", False):
        return t
    if fmt is None or fmt is contiguous_format:
        return t if data.flags.c_contiguous else _set(t, relayout(data, contiguous_format))
    if fmt is preserve_format:
        if like is None or type(like._data) is not np.ndarray or like._node is not None:
            return t
        src = like._data
        if src.ndim != data.ndim or src.strides == data.strides or not data.size:
            return t
        if _is_dense(src):  # PyTorch keeps such a tensor's strides exactly
            buffer = np.empty(max(data.size, 1), dtype=data.dtype)
            laid = np.lib.stride_tricks.as_strided(
                buffer, data.shape, tuple(s * data.itemsize for s in element_strides(src))
            )
            np.copyto(laid, data)
            return _set(t, laid)
        # else dense strides in the order of ``like``'s (PyTorch's infer_dense_strides)
        return _set(t, dense_like(data, src))
    return _set(t, relayout(data, fmt))


def torch_order(shape, strides) -> list:
    """The axes from outermost to innermost in memory, as PyTorch's TensorIterator orders
    them for an output laid out like an input (``reorder_dimensions``): an insertion sort
    on strides that keeps the given order where a stride is 0 (an expanded axis says
    nothing) and breaks ties of equal strides by size. NumPy's order="K" sorts the 0
    strides first: ``clone`` of ``x[:1].expand(5, 6)`` had strides (1, 5), PyTorch (6, 1)."""
    return _iterator_perm(shape, [strides])[::-1]


def _iterator_perm(shape, operand_strides) -> list:
    """ATen's ``reorder_dimensions``: the axes from innermost to outermost, by insertion
    sort on the operands' strides (each an operand's broadcast strides): the first
    operand that tells two axes apart decides; a 0 stride tells nothing, and equal
    strides put the smaller axis inside."""

    def should_swap(dim0, dim1):
        for strides in operand_strides:
            s0, s1 = strides[dim0], strides[dim1]
            if s0 == 0 or s1 == 0:
                continue
            if s0 != s1:
                return -1 if s0 < s1 else 1
            if shape[dim0] > shape[dim1]:
                return 1
        return 0

    perm = list(range(len(shape) - 1, -1, -1))  # (innermost first, as ATen keeps it)
    for i in range(1, len(shape)):
        dim1 = i
        for dim0 in range(i - 1, -1, -1):
            comparison = should_swap(perm[dim0], perm[dim1])
            if comparison > 0:
                perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                dim1 = dim0
            elif comparison < 0:
                break
    return perm


def dense_like(data: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A dense copy of ``data`` whose axes lie in memory in the order of ``like``'s."""
    order = torch_order(like.shape, element_strides(like))
    if order == sorted(order):
        return np.ascontiguousarray(data) if data.ndim else data.copy()
    inverse = np.argsort(order)
    return np.ascontiguousarray(data.transpose(order)).transpose(inverse)


# ------------------------------------------------- the layout of a fresh eager result
# NumPy lays out a reduction's, a cumulative sum's or a concatenation's result in its
# input's order (a transposed input gave a transposed ``sum(-1, keepdim=True)``, ``cat``,
# ``cumsum``); PyTorch's kernels write these contiguously (``cat`` and ``pad`` keep an
# input's channels_last). The primitives' eager functions are wrapped (``LAYOUT_RULES``,
# used by ``dispatch``): a contiguous result, the usual case, costs one flag test.


def _suggested(data: np.ndarray):
    """PyTorch's ``suggest_memory_format``: channels_last(_3d) where ``data`` is dense in
    that order and not in C order, else None (contiguous)."""
    if data.ndim not in (4, 5) or data.flags.c_contiguous:
        return None
    fmt = channels_last if data.ndim == 4 else channels_last_3d
    return fmt if is_contiguous(data.shape, element_strides(data), fmt) else None


# Each wrapper reads ``prim.impl`` when it runs: kiln.complex_tensors replaces some
# primitives' functions (cast refuses to drop an imaginary part) after dispatch is built.


def _c_order(prim):
    def run(*arrays, **params):
        out = prim.impl(*arrays, **params)
        if type(out) is np.ndarray:
            if not out.flags.c_contiguous:
                out = np.ascontiguousarray(out)
            elif 1 in out.shape:  # a kept axis: NumPy leaves its input's stride there
                out = _c_strides(out)
        return out

    return run


def _c_strides(data: np.ndarray) -> np.ndarray:
    """A C-ordered ``data`` reporting C strides on its size-1 axes too (a view: the stride
    of an axis of size 1 moves to no other element)."""
    dense = tuple(s * data.itemsize for s in _dense_strides(data.shape, range(data.ndim)))
    if data.strides == dense:
        return data
    return np.lib.stride_tricks.as_strided(data, data.shape, dense)


def _keeps_channels_last(prim):
    """``cat`` and ``pad``: channels_last where the (first) input is, else contiguous."""

    def run(*arrays, **params):
        out = prim.impl(*arrays, **params)
        first = arrays[0]
        plain = type(out) is np.ndarray and type(first) is np.ndarray
        if plain and (not out.flags.c_contiguous or not first.flags.c_contiguous):
            fmt = _suggested(first) if out.ndim == first.ndim else None
            if fmt is None and not out.flags.c_contiguous:
                out = np.ascontiguousarray(out)
            elif fmt is not None and not is_contiguous(out.shape, element_strides(out), fmt):
                out = relayout(out, fmt)
        return out

    return run


def _dense_order(prim):
    """``cast``: NumPy's ``astype`` keeps the input's order, and sorts an expanded (0-stride)
    axis innermost; PyTorch's is dense in ``torch_order`` (C order for ``expand``)."""

    def run(x, **params):
        return cast_layout(prim.impl(x, **params), x)

    return run


def cast_layout(out, x):
    """``out`` (``x`` converted by NumPy's ``astype``) laid out as PyTorch's conversion:
    dense in ``torch_order`` where ``x`` is expanded, else with ``x``'s strides where it
    is dense (also on axes of size 1, where ``astype`` puts its own)."""
    if type(out) is not np.ndarray or out.ndim < 2 or type(x) is not np.ndarray:
        return out
    if x.flags.c_contiguous or out.shape != x.shape:
        return out
    if 0 in x.strides:
        return dense_like(out, x)
    strides = element_strides(x)
    if element_strides(out) != strides and _is_dense(x):
        return strided_copy(out, strides)
    return out


def iterator_strides(shape: tuple, arrays) -> tuple | None:
    """The element strides of PyTorch's elementwise result of ``arrays`` (broadcast to
    ``shape``), or None for C order: TensorIterator's rule. Inputs of one shape that are
    all contiguous, all channels_last, or all dense with equal strides give that layout
    (``compute_fast_setup_type``); else the axes are sorted by the inputs' strides, the
    first input that tells two axes apart deciding (``reorder_dimensions``: a broadcast
    axis, stride 0, tells nothing), and the result is dense in that order."""
    ndim = len(shape)
    if all(a.shape == shape for a in arrays):
        if all(a.flags.c_contiguous for a in arrays):
            return None
        strides = [element_strides(a) for a in arrays]
        if ndim in (4, 5):
            fmt = channels_last if ndim == 4 else channels_last_3d
            if all(is_contiguous(shape, s, fmt) for s in strides):
                return _dense_strides(shape, fmt._order)
        if all(s == strides[0] for s in strides) and _is_dense(arrays[0]):
            return strides[0]
    broadcast = []
    for a in arrays:
        lead = ndim - a.ndim
        own = element_strides(a)
        broadcast.append(
            [0] * lead
            + [0 if n == 1 and shape[lead + i] != 1 else own[i] for i, n in enumerate(a.shape)]
        )

    perm = _iterator_perm(shape, broadcast)
    if perm == list(range(ndim - 1, -1, -1)):
        return None
    strides, step = [0] * ndim, 1
    for axis in perm:  # (ATen's compatible_stride: an empty axis zeroes those outside it)
        strides[axis] = step
        step *= shape[axis]
    return tuple(strides)


def iterated_names(primitives: dict) -> frozenset:
    """The elementwise primitives (but ``cast``, which has its rule) whose eager result
    ``dispatch`` lays out as PyTorch's TensorIterator does (``iterated_layout``) where an
    input is not in C order: NumPy's ufuncs pick C order for mixed layouts (``x.t() + y``
    was contiguous, PyTorch's is transposed as ``x.t()``) and sort an expanded axis
    innermost (``x[:, :1].expand(4, 5).exp()`` had strides (1, 4), PyTorch's (5, 1))."""
    return frozenset(
        name
        for name, prim in primitives.items()
        if prim.kind == "elementwise" and name != "cast" and "{2}" not in (prim.expr or "")
    )


def iterated_layout(out, arrays):
    """``out`` (NumPy's result of an elementwise primitive of ``arrays``, one of them not
    in C order) laid out as TensorIterator lays it out."""
    if type(out) is not np.ndarray:
        return out
    if len(arrays) == 1 and out.strides == arrays[0].strides:
        if out.itemsize == arrays[0].itemsize:
            return out  # (a dense input's strides, kept)
    return _laid_out_as_iterator(out, arrays)


def _laid_out_as_iterator(out: np.ndarray, arrays) -> np.ndarray:
    """``out`` (a fresh array) with TensorIterator's layout over ``arrays``. (An empty
    one stays: NumPy keeps no strides on it, ``Tensor.stride`` reports C order's.)"""
    if not out.size:
        return out
    want = iterator_strides(out.shape, arrays)
    if want is None:
        return _c_strides(out if out.flags.c_contiguous else np.ascontiguousarray(out))
    if element_strides(out) != want:
        out = strided_copy(out, want)
    return out


def iterator_layout(fn):
    """``fn`` (a composite elementwise function of tensors, one kernel in PyTorch) whose
    eager result is laid out as TensorIterator lays out the result of its tensor
    arguments (``where``, ``clamp``, ``atan2``...: their steps' layouts are no guide).
    Contiguous arguments, the usual case, cost a flag test each."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        out = fn(*args, **kwargs)
        for a in args:
            a = getattr(a, "_data", None)
            if type(a) is np.ndarray and not a.flags.c_contiguous:
                break
        else:
            if not kwargs:
                return out
        data = getattr(out, "_data", None)
        if type(data) is not np.ndarray or out._node is not None or out.is_meta:
            return out
        arrays = []
        for a in (*args, *kwargs.values()):
            a = getattr(a, "_data", None)
            if type(a) is np.ndarray:
                if np.may_share_memory(a, data):
                    return out  # (the result is an argument or a view of one)
                arrays.append(a)
        if any(not a.flags.c_contiguous for a in arrays):
            out._data = _laid_out_as_iterator(data, arrays)
        return out

    return run


def index_layout(out, x, idx, axis: int):
    """``out = x[..., idx, ...]`` (one index tensor at ``axis``, eager) laid out as
    PyTorch's index kernel writes it: TensorIterator over ``x`` with the indexed axis
    replaced by ``idx``'s (stride 0) and ``idx`` placed there (``x.t()[:, [0, 2]]`` is
    transposed as ``x.t()``; NumPy's take wrote C order)."""
    data, src, ind = out._data, getattr(x, "_data", None), getattr(idx, "_data", None)
    if out._node is not None or type(data) is not np.ndarray or out.is_meta or not data.size:
        return out
    if type(src) is not np.ndarray or type(ind) is not np.ndarray or x.is_meta:
        return out
    if src.flags.c_contiguous and ind.flags.c_contiguous:
        return out
    own, along = element_strides(src), element_strides(ind)
    operands = [
        own[:axis] + (0,) * ind.ndim + own[axis + 1 :],
        (0,) * axis + along + (0,) * (src.ndim - axis - 1),
    ]
    byte = np.zeros(1, np.int8)
    stand_ins = [np.lib.stride_tricks.as_strided(byte, data.shape, s) for s in operands]
    want = iterator_strides(data.shape, stand_ins)
    if want is None:
        if not data.flags.c_contiguous:
            out._data = np.ascontiguousarray(data)
    elif element_strides(data) != want:
        out._data = strided_copy(data, want)
    return out


def copy_strides(data: np.ndarray) -> np.ndarray:
    """A copy of dense ``data`` with its strides exactly (NumPy's order="K" copy keeps them
    except on an axis of size 1)."""
    out = np.copy(data, order="K")
    return out if out.strides == data.strides else strided_copy(out, element_strides(data))


def strided_copy(data: np.ndarray, strides) -> np.ndarray:
    """A copy of ``data`` in a fresh dense buffer with these element strides."""
    buffer = np.empty(max(data.size, 1), dtype=data.dtype)
    laid = np.lib.stride_tricks.as_strided(
        buffer, data.shape, tuple(s * data.itemsize for s in strides)
    )
    np.copyto(laid, data)
    return laid


def layout_rules(primitives: dict) -> dict:
    """``{primitive name: eager function}`` for the primitives whose NumPy result may be
    laid out otherwise than PyTorch's (``primitives``: the op table)."""
    rules = {name: _c_order(primitives[name]) for name in ("sum", "max", "argmax", "cumsum")}
    rules.update({name: _keeps_channels_last(primitives[name]) for name in ("concat", "pad")})
    rules["cast"] = _dense_order(primitives["cast"])
    return rules


def contiguous_result(t, x):
    """``t`` (a composite's eager result computed from ``x``) in C order, as PyTorch's
    kernel writes it (``softmax``, ``masked_fill``, ``tril``: NumPy's elementwise steps
    keep the input's order). Never ``x`` itself, nor a view of it."""
    data = t._data
    if t._node is not None:  # traced: the strides the eager result reports
        from .tracing import TracerTensor, set_layout

        if t is not x and isinstance(t, TracerTensor):  # (not vmap's batched values)
            set_layout(t, _dense_strides(t._node.shape, range(len(t._node.shape))))
    elif type(data) is np.ndarray and not data.flags.c_contiguous and not t.is_meta:
        if t is not x and not np.may_share_memory(data, x._data):
            t._data = np.ascontiguousarray(data)
    return t


def keeps_input_memory_format(fn, unless=None):
    """``fn`` (a layer's function of ``input``) whose tensor results of ``input``'s rank
    are laid out channels_last(_3d) where ``input`` is (PyTorch's conv, pooling,
    interpolate, group_norm, pad keep it), but for calls where ``unless(*args, **kwargs)``
    holds (``pad``'s circular mode). Any other input costs one flag test."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        out = fn(*args, **kwargs)
        if unless is not None and unless(*args, **kwargs):
            return out
        x = args[0] if args else kwargs.get("input")
        data = getattr(x, "_data", None)
        if type(data) is not np.ndarray or x._node is not None:
            return out
        fmt = _suggested(data)
        if fmt is None:
            return out
        for o in out if isinstance(out, tuple) else (out,):
            _into_format(o, fmt, x)
        return out

    return run


def writes_contiguous(fn):
    """``fn`` (a layer's function of ``input``) whose result is in C order whatever
    ``input``'s layout, as PyTorch's kernel writes it (``layer_norm``, ``instance_norm``,
    ``log_softmax``, ``avg_pool3d`` of a channels_last input: NumPy's steps kept it)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        out = fn(*args, **kwargs)
        x = args[0] if args else kwargs.get("input")
        if hasattr(out, "_data") and hasattr(x, "_data"):
            out = contiguous_result(out, x)
        return out

    return run


def _into_format(o, fmt, x) -> None:
    data = getattr(o, "_data", None)
    if type(data) is not np.ndarray or o._node is not None or o is x:
        return
    if data.ndim != len(fmt._order) or np.may_share_memory(data, x._data):
        return
    dense = is_contiguous(data.shape, element_strides(data), fmt)
    if not dense or data.flags.c_contiguous:  # (size-1 axes: PyTorch's strides there too)
        o._data = relayout(data, fmt)


def _traced_like(t, like, fmt):
    """A traced result reports the layout the eager one has (as above)."""
    from .tracing import TracerTensor, set_layout

    if not isinstance(t, TracerTensor):  # (a transform's wrapped value: no layout)
        return t
    shape = tuple(t._node.shape)
    if fmt is not preserve_format:
        if len(fmt._order) != len(shape):
            raise RuntimeError(
                f"required rank {len(fmt._order)} tensor to use {fmt.name} format (got a "
                f"tensor of shape {list(shape)})"
            )
        set_layout(t, _dense_strides(shape, fmt._order))
        return t
    if like is None:
        return t
    strides = tuple(like.stride())
    if len(strides) != len(shape) or tuple(like.shape) != shape:
        return t
    order = sorted(range(len(shape)), key=lambda a: -strides[a])
    dense = _dense_strides(shape, order)
    if all(d == 1 or s == e for d, s, e in zip(shape, strides, dense)):
        set_layout(t, strides)  # like is dense: its strides exactly
    else:
        set_layout(t, dense)
    return t


# ----------------------------------------------------- writes through an expanded tensor
# NumPy's ``broadcast_to`` (kiln's ``expand``) gives a read-only view, and so are the views
# of it; PyTorch writes through any of them whose elements are apart (``x.expand(3, 4)[1]``
# is ``x``'s memory, once each) and refuses, or for a fill allows, the others.


def internal_overlap(data: np.ndarray) -> bool:
    """PyTorch's ``has_internal_overlap(...) == YES``: an axis of more than one element
    with stride 0 (an expanded axis)."""
    return any(s == 0 and n > 1 for s, n in zip(data.strides, data.shape))


def writable_alias(data: np.ndarray):
    """A writeable view of read-only ``data``'s memory where a writeable NumPy array owns
    that memory (``data`` is a view of an expanded tensor), else None (the memory is
    read-only itself: a tensor over a read-only buffer)."""
    root = data
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root is data or not root.flags.writeable:
        return None
    offset = data.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    try:
        return np.ndarray(data.shape, data.dtype, root, offset, data.strides)
    except (TypeError, ValueError):  # (a root NumPy cannot take as a buffer)
        return None


def _set(t, data):
    t._data = data
    return t
