"""The one bind point: every tensor operation in kiln goes through ``bind``.

``bind(prim, inputs, params)`` hands the operation to the calling thread's innermost
interpreter (``kiln.context``):

* eager (the bottom of every stack): a registered device back end when an input lives on
  one (``register_device``), otherwise the op table's NumPy implementation, at once;
* a trace (``kiln.jit``, ``kiln.trace``): ``TraceState.process`` appends a node to the graph
  and returns a tracer tensor.

Autograd recording happens here, once, after whichever interpreter ran the op: the VJP rules
that run on the eager tape become backward nodes of a graph when the backward pass is traced.
There is no second implementation of any op, and no second recording loop.

This is the hottest path of eager mode: keep it lean.
"""

from __future__ import annotations

import functools
import threading
import warnings
from time import perf_counter

import numpy as np

from kiln.compiler.errors import ShapeError
from kiln.compiler.primitives import PRIMITIVES

from . import dtypes
from .autograd.tape import record
from .context import INFERENCE_BLOCKS, INFERENCE_MODE, current, current_trace, is_grad_enabled
from .memory_format import cast_layout, iterated_layout, iterated_names, layout_rules
from .tensor import Tensor, _wrap

__all__ = [
    "bind",
    "computes_in_float32",
    "eager_impl",
    "bind_name",
    "constant",
    "current_trace",
    "install_out_keyword",
    "register_device",
    "register_device_move",
]

_EMPTY: dict = {}

# The active ``kiln.profiler`` profilers; while the list is empty (the usual case) ``bind``
# pays one test of it. Each profiler has ``op_event(prim, inputs, start, end)``.
PROFILERS: list = []

# Eager handlers of non-CPU devices: ``handler(prim, inputs, params)`` returns a Tensor, or
# ``NotImplemented`` when no input lives on its device. Registered once, process-wide.
_device_handlers: list = []


# How a device takes a NumPy array: ``{device type: move(array) -> Tensor on the device}``,
# for the constants a composite makes for one of its inputs (``constant(..., like=x)``).
_device_moves: dict = {}


def register_device(handler) -> None:
    """Route eager ops whose inputs live on a device through ``handler`` (kiln.cuda does)."""
    if handler not in _device_handlers:
        _device_handlers.append(handler)


def register_device_move(device_type: str, move) -> None:
    """Let ``constant(..., like=x)`` put its array on ``x``'s device ``device_type``.

    ``move(array)`` returns a tensor on that device holding a copy of the NumPy ``array``;
    kiln.cuda registers ``"cuda"``.
    """
    _device_moves[device_type] = move


def bind(prim, inputs, params=_EMPTY) -> Tensor:
    """Apply primitive ``prim`` to ``inputs`` (tensors of one device)."""
    if AUTOCAST[0] and prim is _MATMUL:  # an enabled kiln.autocast region in some thread
        inputs = _autocast_inputs(inputs, "lower")
    ctx = current()
    top = ctx.top
    if top is None and not PROFILERS and not _device_handlers:
        # eager on NumPy, no profiler: the hot path, inlined
        impl = _EAGER_IMPLS.get(prim.name) or prim.impl
        try:
            if len(inputs) == 2:
                a, b = inputs[0]._data, inputs[1]._data
                if (_BF16_ON[0] and (a.dtype.kind == "V" or b.dtype.kind == "V")) or (
                    a.dtype is _F16 or b.dtype is _F16
                ):
                    data = _in_float32(impl, prim, (a, b), params)
                else:
                    data = impl(a, b, **params)
                if not (a.flags.c_contiguous and b.flags.c_contiguous) and prim.name in _ITERATED:
                    data = iterated_layout(data, (a, b))  # (PyTorch's layout: memory_format)
            elif len(inputs) == 1:
                a = inputs[0]._data
                if (
                    _BF16_ON[0]
                    and (a.dtype.kind == "V" or prim is _CAST and params["dtype"] == "bfloat16")
                    or a.dtype is _F16
                    or prim is _CAST
                    and params["dtype"] == "float16"
                ):
                    data = _in_float32(impl, prim, (a,), params)
                else:
                    data = impl(a, **params)
                if not a.flags.c_contiguous and prim.name in _ITERATED:
                    data = iterated_layout(data, (a,))
            else:
                arrays = [x._data for x in inputs]
                if any(a.dtype.kind == "V" or a.dtype is _F16 for a in arrays):
                    data = _in_float32(impl, prim, arrays, params)
                else:
                    data = impl(*arrays, **params)
        except Exception as exc:
            raise _explain(prim, inputs, params, exc) from None
        if type(data) is not np.ndarray:
            data = np.asarray(data)
        out = _new(Tensor)
        out._data = data
        out._node = out._grad = out.grad_fn = None
        out._requires_grad = out._retain = False
        out._vc = [0]
        if "view" in prim.properties and np.may_share_memory(data, inputs[0]._data):
            out._vc = inputs[0]._vc  # one version counter per storage
            if "writable_view" in prim.properties:
                _creation_mode(ctx, prim, inputs[0], out)
            if "_inference" in inputs[0].__dict__:  # (a view of an inference tensor is one)
                out._inference = True
    elif top is not None:
        if prim is _MATMUL:
            _guard_autocast()
        if isinstance(top, _TraceState()):
            if "_modes_guarded" not in top.__dict__:
                _guard_function_modes(top)
            if _has_low_float(prim, inputs, params):
                out = _traced_in_float32(top, prim, inputs, params)
            else:
                out = top.process(prim, inputs, params)
        else:
            out = top.process(prim, inputs, params)
    else:  # eager: a device's kernel, else NumPy; with a profiler
        start = perf_counter() if PROFILERS else None
        out = _on_device(prim, inputs, params) if _device_handlers else NotImplemented
        if out is NotImplemented:
            try:
                impl = _EAGER_IMPLS.get(prim.name) or prim.impl
                arrays = [x._data for x in inputs]
                if any(a.dtype.kind == "V" or a.dtype is _F16 for a in arrays) or (
                    prim is _CAST and params["dtype"] in _LOW_NAMES
                ):
                    data = _in_float32(impl, prim, arrays, params)
                else:
                    data = impl(*arrays, **params)
                if prim.name in _ITERATED and not all(a.flags.c_contiguous for a in arrays):
                    data = iterated_layout(data, arrays)
            except Exception as exc:
                raise _explain(prim, inputs, params, exc) from None
            out = _wrap(data)
            if "view" in prim.properties and np.may_share_memory(data, inputs[0]._data):
                out._vc = inputs[0]._vc  # one version counter per storage
                if "writable_view" in prim.properties:
                    _creation_mode(ctx, prim, inputs[0], out)
                if "_inference" in inputs[0].__dict__:
                    out._inference = True
                else:  # (``_wrap`` marks what inference_mode makes: a view of a normal
                    out.__dict__.pop("_inference", None)  # tensor is normal)
        if start is not None:
            end = perf_counter()
            for profiler in PROFILERS:
                profiler.op_event(prim, inputs, start, end)
    if ctx.grad_enabled and prim.differentiable:
        for x in inputs:
            if x._requires_grad:
                record(prim, inputs, params, out)
                break
    elif INFERENCE_BLOCKS[0] and top is None and INFERENCE_MODE.get():
        # an inference tensor (PyTorch's), but for a view of a normal tensor
        if not (inputs and out._vc is inputs[0]._vc) or "_inference" in inputs[0].__dict__:
            out._inference = True
    return out


_VIEW_NAMES = {"slice": "Slice", "permute": "Permute", "reshape": "View"}


def _creation_mode(ctx, prim, base: Tensor, view: Tensor) -> None:
    """PyTorch's creation mode of a view: one taken under ``no_grad`` of a tensor that
    requires grad requires grad itself (a leaf: its history is not recorded), and is marked,
    as is every view of it (by the op that made it), so that changing it in place with grad
    mode on raises (``ops.inplace.assign``): whether that update should be tracked is
    ambiguous."""
    if base._requires_grad and not ctx.grad_enabled:
        view._requires_grad = True
        view._no_grad_view = True
    elif "_no_grad_view" in base.__dict__:
        view._no_grad_view = _VIEW_NAMES.get(prim.name, prim.name)


_new = Tensor.__new__
_BF16_ON = dtypes.BFLOAT16_ON
_CAST = PRIMITIVES["cast"]
_MATMUL = PRIMITIVES["matmul"]
_F32 = np.dtype(np.float32)
_F16 = np.dtype(np.float16)
_LOW_NAMES = ("bfloat16", "float16")


def _in_float32(impl, prim, arrays, params):
    """An op on bfloat16 or float16 data as PyTorch's CPU kernels compute it: in float32,
    rounded to the 16-bit type once at the end (a sum or a matmul accumulates in float32,
    and ``exp``, ``atan2`` or ``sigmoid`` round the float32 result once). Every conversion
    to a 16-bit float goes through float32, as ``c10::BFloat16`` and ``c10::Half`` do (a
    float64 exactly between two 16-bit values after its rounding to float32 rounds to even).
    Views (reshape, slice, ...) move no values: they stay views of the 16-bit data."""
    if prim is _CAST:
        x = arrays[0]
        target = params["dtype"]
        if x.dtype.kind in "fV" and x.dtype != _F32 or target == "bfloat16":
            x = x.astype(_F32)
        out = x.astype(dtypes.bfloat16.np if target == "bfloat16" else target)
        return cast_layout(out, arrays[0])  # (PyTorch's strides, as the cast rule's)
    if "view" in prim.properties:
        return impl(*arrays, **params)
    low = None
    wide = []
    for a in arrays:
        if a.dtype.kind == "V" or a.dtype is _F16:
            low = a.dtype if low is None or low == a.dtype else _F32
            a = a.astype(_F32)
        wide.append(a)
    data = np.asarray(impl(*wide, **params))
    if low is not None and low is not _F32 and data.dtype == _F32:
        data = data.astype(low)
    return data


def _traced_in_float32(trace, prim, inputs, params):
    """``_in_float32`` as graph nodes, for kiln.jit: bfloat16 (float16) inputs are cast to
    float32, the op runs in float32 and a float32 result is cast back, so the compiled graph
    rounds exactly where eager mode rounds (jit equals eager bit for bit where float32 jit
    equals float32 eager). The kernels have no 16-bit arithmetic: only the ``cast`` nodes
    see bfloat16 and float16 (they run with NumPy, between the fused float32 kernels)."""
    f32 = {"dtype": "float32"}
    if prim is _CAST:
        x = inputs[0]
        # to a 16-bit float through float32 (as c10 rounds), from one through float32
        if (params["dtype"] in _LOW_NAMES) != (x.dtype in _LOW) and x.dtype.name != "float32":
            x = trace.process(_CAST, [x], f32)
        return trace.process(_CAST, [x], params)
    if "view" in prim.properties:  # moves values without changing them: no rounding
        return trace.process(prim, inputs, params)
    lows = {x.dtype for x in inputs if x.dtype in _LOW}
    wide = [trace.process(_CAST, [x], f32) if x.dtype in _LOW else x for x in inputs]
    out = trace.process(prim, wide, params)
    if out.dtype is dtypes.float32 and len(lows) == 1:
        out = trace.process(_CAST, [out], {"dtype": lows.pop().name})
    return out


def computes_in_float32(fn=None, *, round_scalars=False):
    """Decorate a composite op so that on bfloat16 (float16) tensors it runs in float32 and
    rounds its floating results to bfloat16 (float16) once, as PyTorch's CPU kernels do
    (``sigmoid`` of a bfloat16 tensor is one rounding of the float32 sigmoid, not one per
    step of kiln's composite). Other dtypes run ``fn`` unchanged. ``round_scalars``: a
    Python number operand is first rounded to the tensor's dtype, as PyTorch does where the
    scalar takes the tensor's dtype (``remainder``, ``atan2``; ``mul`` and ``div`` keep it
    in float32).

    >>> f = computes_in_float32(lambda x: x * 3 / 7)
    >>> f(kiln.tensor([1.0], dtype=kiln.bfloat16))
    tensor([0.4277], dtype=kiln.bfloat16)
    """
    if fn is None:
        return functools.partial(computes_in_float32, round_scalars=round_scalars)

    names = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    inplace_at = names.index("inplace") if "inplace" in names else None

    @functools.wraps(fn)
    def op(*args, **kwargs):
        for a in args:
            if isinstance(a, Tensor) and (a.dtype is _BF16 or a.dtype is _HALF):
                low = a.dtype
                break
        else:
            return fn(*args, **kwargs)
        from .ops.elementwise import cast

        if inplace_at is not None and (
            kwargs.get("inplace") or len(args) > inplace_at and args[inplace_at]
        ):  # ``F.silu(x, inplace=True)``: the float32 result is stored into ``x`` itself
            from .ops.inplace import assign

            kwargs["inplace"] = False
            out = op(*args[:inplace_at], *args[inplace_at + 1 :], **kwargs)
            return assign(args[0], out, fn.__name__ + "_")

        # the result type: float32 compute rounds back only to a bfloat16 (float16) result
        # (``remainder(bfloat16, float16)`` is float32, as promotion says)
        numeric = [a for a in args if isinstance(a, (Tensor, int, float))]
        if numeric and dtypes.result_type(*numeric) is not low:
            return fn(*args, **kwargs)
        wide = [
            cast(a, dtypes.float32) if isinstance(a, Tensor) and a.dtype is low else a for a in args
        ]
        if round_scalars:
            wide = [_low_scalar(a, low) for a in wide]
        out = fn(*wide, **kwargs)
        if isinstance(out, Tensor):
            return cast(out, low) if out.dtype is dtypes.float32 else out
        if isinstance(out, tuple):
            parts = [
                cast(o, low) if isinstance(o, Tensor) and o.dtype is dtypes.float32 else o
                for o in out
            ]
            return type(out)(*parts) if hasattr(out, "_fields") else tuple(parts)
        return out

    op.__wrapped__ = fn
    return op


_BF16 = dtypes.bfloat16
_HALF = dtypes.float16


def _low_scalar(value, low):
    if type(value) is float or type(value) is int:
        return float(np.float32(value).astype(low.np))
    return value


_LOW = (dtypes.bfloat16, dtypes.float16)
_F64 = dtypes.float64


def _has_low_float(prim, inputs, params) -> bool:
    """Whether an op reads or makes bfloat16 or float16 values (computed in float32)."""
    return (prim is _CAST and params.get("dtype") in _LOW_NAMES) or any(
        x.dtype in _LOW for x in inputs
    )


@functools.cache
def _TraceState():  # noqa: N802
    from .tracing import TraceState

    return TraceState


def _where(condition, x, y):
    """``np.where`` for large C-contiguous arrays of one numeric dtype, as a bitwise select
    (``np.where`` branches per element: 5-7x slower on a random mask); the same bits."""
    dtype = x.dtype
    if (
        dtype != y.dtype
        or dtype.kind not in "fiu"
        or dtype.itemsize not in (4, 8)
        or condition.dtype != _BOOL
        or max(condition.size, x.size, y.size) < _SELECT_MIN
        or not (condition.flags.c_contiguous and x.flags.c_contiguous and y.flags.c_contiguous)
    ):
        return np.where(condition, x, y)
    bits = _INT_OF_SIZE[dtype.itemsize]
    xb, yb = x.view(bits), y.view(bits)
    flags = condition.view(np.int8)  # 0 or 1
    shape = np.broadcast_shapes(condition.shape, x.shape, y.shape)
    if y.ndim == 0 and not yb:  # where(c, x, +0): x's bits under a mask, in two passes
        mask = np.multiply(flags, -1, dtype=bits)  # all ones where condition, else 0
        return np.bitwise_and(xb, mask, out=mask if mask.shape == shape else None).view(dtype)
    if x.ndim == 0 and not xb:  # where(c, +0, y)
        mask = np.subtract(flags, 1, dtype=bits)  # 0 where condition, else all ones
        return np.bitwise_and(yb, mask, out=mask if mask.shape == shape else None).view(dtype)
    mask = np.multiply(flags, -1, dtype=bits)
    out = np.bitwise_and(np.bitwise_xor(xb, yb), mask)  # (x ^ y) where condition, else 0
    out ^= yb  # x where condition, else y
    return out.view(dtype)


_BOOL = np.dtype(bool)
_SELECT_MIN = 1 << 14
_INT_OF_SIZE = {4: np.dtype(np.int32), 8: np.dtype(np.int64)}

_PHILOX = threading.local()
_MASK64 = (1 << 64) - 1


def _uniform(seed, shape, dtype):
    """The ``uniform`` primitive's numbers (a Philox stream at ``(key, counter) = seed``)
    from one reused bit generator per thread, its state set to what
    ``np.random.Philox(key=, counter=)`` starts with: the same bits, without the new
    generator's entropy read (about 12 us of a 64x128 dropout mask's 56)."""
    generator = getattr(_PHILOX, "generator", None)
    if generator is None:
        generator = _PHILOX.generator = np.random.Generator(np.random.Philox(key=0))
    key, counter = int(seed[0]), int(seed[1])
    generator.bit_generator.state = {
        "bit_generator": "Philox",
        "state": {
            "counter": np.array([counter & _MASK64, counter >> 64, 0, 0], dtype=np.uint64),
            "key": np.array([key & _MASK64, key >> 64], dtype=np.uint64),
        },
        "buffer": np.zeros(4, dtype=np.uint64),
        "buffer_pos": 4,
        "has_uint32": 0,
        "uinteger": 0,
    }
    return generator.random(shape, dtype=np.float64).astype(dtype)


# Eager implementations that replace a primitive's own (the same results, faster).
_EAGER_IMPLS = {"where": _where, "uniform": _uniform}  # (by primitive name)
# (and PyTorch's layout of a reduction's, cumsum's, cat's and pad's result: NumPy's follows
# its input's order)
_EAGER_IMPLS.update(layout_rules(PRIMITIVES))
_ITERATED = iterated_names(PRIMITIVES)


def eager_impl(name: str):
    """The NumPy function eager mode runs for primitive ``name``."""
    prim = PRIMITIVES[name]
    return _EAGER_IMPLS.get(prim.name) or prim.impl


def _on_device(prim, inputs, params):
    """``prim`` run by the first device handler that takes it, or ``NotImplemented``."""
    for handler in _device_handlers:
        out = handler(prim, inputs, params)
        if out is not NotImplemented:
            return out
    return NotImplemented


def bind_name(name: str, inputs, params=_EMPTY) -> Tensor:
    return bind(PRIMITIVES[name], inputs, params)


def _explain(prim, inputs, params, exc: Exception) -> Exception:
    """Turn a NumPy failure into kiln's error: the op, the shapes and the dtypes (an
    allocation failure into PyTorch's ``RuntimeError``, ``kiln.memory_errors``)."""
    if isinstance(exc, MemoryError) or (
        isinstance(exc, ValueError)
        and ("array is too big" in str(exc) or "iterator is too large" in str(exc))
    ):
        from .memory_errors import out_of_memory

        error = out_of_memory(getattr(exc, "_total_size", None), exc)
        error.args = (f"{prim.name}: {error.args[0]}",)
        return error
    try:
        prim.shape_rule([tuple(x.shape) for x in inputs], [x.dtype.name for x in inputs], **params)
    except ShapeError as clear:
        return clear
    if isinstance(exc, (IndexError, ShapeError)):
        return exc
    shown = ", ".join(f"{x.dtype.name}{list(x.shape)}" for x in inputs)
    return (
        type(exc)(f"{prim.name}: {exc} (inputs: {shown})")
        if isinstance(exc, (ValueError, TypeError, RuntimeError))
        else exc
    )


def _wrapped_int(value: int, dtype) -> np.ndarray:
    """A Python int as an integer dtype, wrapping modulo 2**bits as PyTorch converts a
    scalar operand (``uint8_tensor + 300`` adds 44); beyond 64 bits an OverflowError, as
    PyTorch's."""
    if not -(2**63) <= value < 2**64:
        raise OverflowError(f"Python int {value} too big to convert to {dtype.name}")
    bits = 8 * dtype.itemsize
    v = value & ((1 << bits) - 1)
    if dtype.is_signed and v >= 1 << (bits - 1):
        v -= 1 << bits
    return np.asarray(v, dtype=dtype.np)


def constant(value, dtype, like: Tensor | None = None) -> Tensor:
    """A constant tensor of ``dtype``: eager data now, or a ``const`` node while tracing.

    ``like=x`` puts the constant on ``x``'s device, as a composite's index or mask for its
    input ``x`` must be (a CUDA tensor mixes only with 0-d CPU tensors). A traced constant
    has no device, and a CPU ``x`` changes nothing.

    >>> constant([0, 2], kiln.int64, like=kiln.ones(3)).device
    device(type='cpu')
    """
    if dtype is dtypes.bfloat16:  # through float32, as c10::BFloat16 rounds a double
        data = np.asarray(value, dtype=_F32).astype(dtype.np)
    elif dtype._category == 1 and type(value) is int:
        data = _wrapped_int(value, dtype)
    else:
        data = np.asarray(value, dtype=dtype.np)
    trace = current_trace()
    if trace is not None:
        return trace.constant(data)
    if like is not None and like.is_meta:  # (a meta tensor's data is a NumPy view too)
        from . import meta

        return meta.empty(data.shape, dtype)
    if like is None or type(like._data) is np.ndarray:  # the CPU path: no device to reach
        return _wrap(data)
    device_type = like.device.type
    move = _device_moves.get(device_type)
    if move is None:
        raise RuntimeError(f"constant: no way to put an array on device {device_type!r}")
    return move(data)


# ------------------------------------------------------------------------------ autocast

# How many enabled ``kiln.autocast`` regions are open, over all threads: while 0 (the usual
# case) ``bind`` pays one test of it. Each thread's own regions are in ``_AMP``.
AUTOCAST = [0]
_AMP = threading.local()
_AMP_DEFAULT_DTYPE = {"cpu": "bfloat16", "cuda": "float16"}


def autocast_state(device_type: str):
    """``(enabled, dtype)`` of this thread's innermost autocast region for ``device_type``."""
    regions = getattr(_AMP, "regions", None)
    if regions is None:
        regions = _AMP.regions = {}
    state = regions.get(device_type)
    if state is None:
        name = _AMP_DEFAULT_DTYPE.get(device_type, "float16")
        state = regions[device_type] = (False, dtypes.as_dtype(name))
    return state


def set_autocast_state(device_type: str, enabled: bool, dtype) -> tuple:
    """Set this thread's autocast state for ``device_type``; returns the previous one."""
    previous = autocast_state(device_type)
    _AMP.regions[device_type] = (bool(enabled), dtype)
    AUTOCAST[0] += bool(enabled) - previous[0]
    return previous


def autocast_pending() -> bool:
    """Whether an op called now may meet an enabled autocast region (not inside an op
    that autocast already handled)."""
    return bool(AUTOCAST[0]) and not getattr(_AMP, "suspended", 0)


def _amp_key() -> tuple:
    regions = getattr(_AMP, "regions", None) or {}
    suspended = getattr(_AMP, "suspended", 0)
    return (suspended, *sorted((k, v[0], v[1].name) for k, v in regions.items() if v[0]))


def _guard_function_modes(trace) -> None:
    """A compiled variant runs without Python, unseen by a ``TorchFunctionMode``: it is
    guarded on the modes active when it was traced (none: kiln.overrides refuses to trace
    under one), so a call under a mode retraces, and the trace refuses (kiln.compile then
    runs the call eagerly, seen by the mode)."""
    from .overrides import _ENTERED

    trace.__dict__["_modes_guarded"] = True
    if hasattr(trace, "add_guard"):
        trace.add_guard("the number of TorchFunctionModes entered", _ENTERED.__len__, len(_ENTERED))


def _guard_autocast() -> None:
    """A trace reads the autocast state where it matters: retrace when it changes."""
    trace = current_trace()
    if trace is not None and hasattr(trace, "add_guard"):
        trace.add_guard(
            "kiln.autocast state", _amp_key, getattr(trace, "amp_entry", None) or _amp_key()
        )


def _autocast_inputs(inputs, policy: str):
    """``inputs`` as an autocast region casts them for an op of ``policy``: "lower" (matmul,
    linear, conv: floating tensors other than float64 to the region's dtype), "fp32"
    (losses, linalg: float16/bfloat16 tensors to float32), "promote" (cat, stack: every
    floating tensor, in lists too, to their widest type) or "native" (ops on neither of
    PyTorch's lists that have their own kernel, ``mv``, ``dot``: no casts). Unchanged outside
    a region, or inside an op that autocast already handled (its inner ops see no autocast,
    as PyTorch's)."""
    if getattr(_AMP, "suspended", 0) or policy == "native":
        return inputs
    if policy == "promote":
        return _autocast_promote(inputs)
    out = []
    from .ops.elementwise import cast

    for x in inputs:
        if isinstance(x, Tensor) and x.dtype._category == 2 and x.dtype is not dtypes.float64:
            enabled, target = autocast_state(_device_type(x))
            if enabled:
                if policy == "fp32":
                    target = dtypes.float32
                if x.dtype is not target:
                    x = cast(x, target)
        out.append(x)
    return type(inputs)(out) if isinstance(inputs, tuple) else out


def _autocast_promote(inputs):
    """PyTorch's autocast "promote" policy: the floating tensors among ``inputs`` (and in
    list arguments) cast to float32 where one is float32, else kept in the region's dtype;
    a 16-bit float other than the region's is PyTorch's RuntimeError."""
    from .ops.elementwise import cast

    tensors = []
    for x in inputs:
        for t in x if isinstance(x, (list, tuple)) else (x,):
            if isinstance(t, Tensor) and t.dtype._category == 2:
                tensors.append(t)
    enabled = [t for t in tensors if autocast_state(_device_type(t))[0]]
    if not enabled:
        return inputs
    region = autocast_state(_device_type(enabled[0]))[1]
    widest = region  # PyTorch's ``prioritize``: float64 tensors are neither counted nor cast
    for t in tensors:
        if t.dtype is dtypes.float64:
            continue
        if t.dtype is dtypes.float32 or widest is dtypes.float32:
            widest = dtypes.float32
        elif t.dtype is not region:
            raise RuntimeError("Unexpected floating ScalarType in at::autocast::prioritize")

    def to_widest(x):
        if isinstance(x, Tensor) and x.dtype._category == 2 and x.dtype not in (widest, _F64):
            return cast(x, widest)
        if isinstance(x, (list, tuple)) and any(isinstance(t, Tensor) for t in x):
            return type(x)(to_widest(t) for t in x)
        return x

    out = [to_widest(x) for x in inputs]
    return type(inputs)(out) if isinstance(inputs, tuple) else out


def _refuse_float64_with_lower(name: str, values) -> None:
    """Autocast leaves float64 uncast: PyTorch's lower-precision kernels then meet float64
    and bfloat16/float16 operands and raise (``linear`` with a float64 bias) rather than
    promote; kiln's composites would promote silently."""
    floats = {v.dtype for v in values if isinstance(v, Tensor) and v.dtype._category == 2}
    if dtypes.float64 in floats and floats & set(_LOW):
        low = next(d for d in _LOW if d in floats)
        raise RuntimeError(
            f"{name}: expected operands of one dtype, but got float64 and {low.name} (autocast "
            f"casts float32 operands to {low.name} and leaves float64 ones as they are)"
        )


def _device_type(x) -> str:
    try:
        return x.device.type
    except Exception:  # a tracer without a device
        return "cpu"


def autocast_op(policy: str):
    """Decorate a public op that PyTorch's autocast lists: ``"lower"`` (runs in the region's
    lower-precision dtype: linear, conv), ``"fp32"`` (runs in float32: the losses, linalg),
    ``"promote"`` (cat, stack: to the widest floating type), or ``"native"`` (on neither
    list, with a kernel of its own in PyTorch: ``mv`` and ``dot`` run in their inputs'
    dtype, where kiln's composite would meet autocast in its inner matmul). Its tensor
    arguments are cast on entry, and its inner ops see no autocast."""

    def decorate(fn):
        @functools.wraps(fn)
        def op(*args, **kwargs):
            if current_trace() is not None:
                _guard_autocast()
            if not AUTOCAST[0] or getattr(_AMP, "suspended", 0):
                return fn(*args, **kwargs)
            args = _autocast_inputs(args, policy)
            kwargs = dict(zip(kwargs, _autocast_inputs(list(kwargs.values()), policy)))
            if policy == "lower":
                _refuse_float64_with_lower(fn.__name__, (*args, *kwargs.values()))
            _AMP.suspended = getattr(_AMP, "suspended", 0) + 1
            try:
                return fn(*args, **kwargs)
            finally:
                _AMP.suspended -= 1

        return op

    return decorate


# ------------------------------------------------------------------------------ out=

# The public functions PyTorch gives an ``out=`` keyword (checked against its out overloads);
# ``install_out_keyword`` wraps them once in the ``kiln`` namespace, so no op handles it.
OUT_OPS = """
abs absolute add addcdiv addcmul addmm all amax amin any arange argmax argmin asinh atan atan2
bernoulli bitwise_and bitwise_not bitwise_or bitwise_xor bmm bucketize cat ceil clamp clamp_max
clamp_min clip concat concatenate copysign cos cosh cummax cumprod cumsum diag div divide dot
empty eq erf erfinv exp exp2 expm1 eye floor floor_divide fmod frac full gather ge greater
greater_equal gt hstack hypot index_add index_select kthvalue le lerp less less_equal linspace log
log10 log1p log2 log_softmax logical_and logical_not logical_or logical_xor logspace logsumexp lt
masked_select matmul max maximum mean min minimum mm msort mul multinomial multiply mv
nan_to_num ne neg negative nonzero norm normal not_equal ones outer pow prod rand randint randn
randperm reciprocal remainder round rsqrt scatter scatter_add searchsorted sigmoid sign sin sinh
softmax sort sqrt square stack std std_mean sub subtract sum take tan tanh topk tril triu
true_divide trunc var var_mean vstack where zeros isin
deg2rad rad2deg signbit fix
""".split()


def install_out_keyword(namespace: dict, *aliases: dict) -> None:
    """Give each ``OUT_OPS`` function in ``namespace`` PyTorch's ``out=`` keyword; the
    ``aliases`` namespaces (``kiln`` re-exporting ``kiln.ops``) get the same objects."""
    for name in OUT_OPS:
        fn = namespace.get(name)
        if fn is None:
            continue
        if not hasattr(fn, "_writes_out"):
            fn = namespace[name] = with_out(fn)
        for alias in aliases:
            if name in alias:
                alias[name] = fn


def with_out(fn):
    """``fn`` with an ``out=`` keyword: the result is written into ``out``, which is returned.

    >>> out = kiln.empty(2)
    >>> kiln.add(kiln.ones(2), 1, out=out) is out, out
    (True, tensor([2., 2.]))
    """

    name = fn.__name__

    @functools.wraps(fn)
    def op(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        _refuse_overlapping_out(name, args, out)
        if name in _OUT_GIVES_DTYPE and isinstance(out, Tensor) and kwargs.get("dtype") is None:
            kwargs["dtype"] = out.dtype  # PyTorch: a factory or sum computes in out's dtype
        return write_out(name, fn(*args, **kwargs), out)

    op._writes_out = True
    return op


def _refuse_overlapping_out(name: str, args, out) -> None:
    """PyTorch refuses an ``out=`` that shares some, but not all, of an input's memory
    (``torch.add(x[:-1], 1, out=x[1:])``: the result would depend on the write order); the
    ops of ``_OUT_APART_FROM_INPUTS`` refuse any shared memory (its ``assert_no_overlap``),
    and the cat family even an input that is the output itself."""
    apart, joins = name in _OUT_APART_FROM_INPUTS, name in _JOINS
    for o in _tensors([out]):
        for a in _tensors(args):
            if _out_overlaps(a, o, apart, joins):
                raise RuntimeError(
                    f"{name}(): unsupported operation: some elements of the input tensor and "
                    "the written-to tensor refer to a single memory location. Please clone() "
                    "the tensor before performing the operation."
                )


def _out_overlaps(a: Tensor, o: Tensor, apart: bool, joins: bool) -> bool:
    if a is o and apart:
        return True  # (an empty tensor too)
    x, y = a._data, o._data
    if type(x) is not np.ndarray or type(y) is not np.ndarray:
        return False
    if apart:
        return np.may_share_memory(x, y)
    if a is o and not joins:
        return False
    same_view = (
        x.__array_interface__["data"][0] == y.__array_interface__["data"][0]
        and x.strides == y.strides
        and x.shape == y.shape
    )
    return (joins or not same_view) and _overlap(x, y)


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=100_000))
    except np.exceptions.TooHardError:
        return False  # (too costly to decide: let the write go ahead, as before)


# Ops whose ``out=`` names the dtype to compute in (factories, sums and products).
_OUT_GIVES_DTYPE = frozenset(
    "arange cumprod cumsum empty eye full linspace logspace ones prod sum zeros".split()
)

# Ops whose ``out=`` must have the result's dtype exactly (PyTorch raises "Expected out
# tensor to have dtype ..."), where others allow a same-kind cast.
_OUT_EXACT_DTYPE = frozenset(
    """
addmm amax amin bmm clamp clamp_max clamp_min clip diag dot gather index_add index_select
log_softmax masked_select matmul mm msort mv nan_to_num norm round scatter scatter_add
sign softmax take tril triu trunc where
argmax argmin cummax cummin isin kthvalue sort topk
abs absolute neg negative floor ceil frac bitwise_not signbit fix
""".split()
)


# Ops whose out= may share no memory with an input (PyTorch's assert_no_overlap)
_OUT_APART_FROM_INPUTS = frozenset(
    "cat concat concatenate gather index_select kthvalue masked_select take".split()
)
# ... and the joins, whose out= may not be one of the inputs either
_JOINS = frozenset("cat concat concatenate stack hstack vstack".split())


def _tensors(values):
    for v in values:
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _tensors(v)


def write_out(name: str, result, out):
    """PyTorch's out= rules: same-kind casts only, resize (warning if ``out`` had elements),
    no autograd through ``out``."""
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}(): argument 'out' must be a tuple of {len(result)} Tensors")
        written = [write_out(name, r, o) for r, o in zip(result, out)]
        return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and (result.requires_grad or out.requires_grad):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    if name in _OUT_EXACT_DTYPE and result.dtype is not out.dtype:
        raise RuntimeError(
            f"{name}(): Expected out tensor to have dtype {result.dtype.name}, but got "
            f"{out.dtype.name} instead"
        )
    if result.dtype._category > out.dtype._category:
        # (PyTorch's cat family raises TypeError here, other ops RuntimeError)
        cat_family = name in ("cat", "concat", "concatenate", "stack", "hstack", "vstack")
        raise (TypeError if cat_family else RuntimeError)(
            f"{name}(): result type {result.dtype.name} can't be cast to the desired output "
            f"type {out.dtype.name}"
        )
    shape = tuple(result.shape)
    data = out._data
    if type(data) is np.ndarray and any(
        s == 0 and n > 1 for s, n in zip(data.strides, data.shape)
    ):  # an expanded out: one memory location for several elements (PyTorch refuses)
        raise RuntimeError(
            f"{name}(): unsupported operation: more than one element of the written-to tensor "
            "refers to a single memory location. Please clone() the tensor before performing "
            "the operation."
        )
    if tuple(out.shape) != shape:
        if current_trace() is not None or type(out._data) is not np.ndarray:
            raise RuntimeError(
                f"{name}(): out= of shape {list(out.shape)} needs resizing to {list(shape)}, "
                "which kiln supports only on eager CPU tensors"
            )
        if out.numel() != 0:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape "
                f"{list(out.shape)}, which does not match the required output shape "
                f"{list(shape)}. This behavior is deprecated, and in a future PyTorch release "
                "outputs will not be resized unless they have zero elements.",
                UserWarning,
                stacklevel=3,
            )
        out._data = np.empty(shape, dtype=out.dtype.np)
    return out.copy_(result)
