"""Creating tensors: ``tensor``, ``zeros``, ``arange``, ``randn``, ... and the random state.

Random numbers come from a counter-based generator (Philox): each draw takes the next
``(key, counter)`` pair of a ``Generator`` and calls the ``uniform`` primitive on it. The
pair is an ordinary input, so a traced function gets a fresh one every call and eager and
compiled code draw the same numbers under the same ``manual_seed``.

>>> _ = manual_seed(0); a = rand(2); _ = manual_seed(0); b = rand(2)
>>> bool((a == b).all())
True
"""

from __future__ import annotations

import math
import threading
from builtins import range as builtins_range

import numpy as np

from kiln.compiler.primitives import PRIMITIVES

from . import dtypes, ops
from . import memory_format as _mf
from .device import default_device as _default_device
from .device import device as _device_cls
from .dispatch import _wrapped_int, bind, constant, current_trace, with_out
from .tensor import Tensor, _wrap, graph_node


def _size(shape, size=None, op: str = "creation", required: bool = False) -> tuple:
    """PyTorch's size forms: varargs ``f(2, 3)``, one sequence ``f((2, 3))``, or ``size=``;
    ``required``: a factory called with none of them raises (``torch.zeros()``)."""
    if required and not shape and size is None:
        raise TypeError(f'{op}() missing 1 required positional arguments: "size"')
    if size is not None:
        if shape:
            raise TypeError(f"{op}() got multiple values for argument 'size'")
        shape = (size,)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    elif len(shape) == 1 and hasattr(shape[0], "__iter__") and not isinstance(shape[0], Tensor):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, float) or isinstance(s, bool):
            raise TypeError(
                f"{op}(): argument 'size' must be tuple of ints, but found element of type "
                f"{type(s).__name__}"
            )
    out = tuple(int(s) for s in shape)
    if any(s < 0 for s in out):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(out)}")
    return out


def _finish(t: Tensor, requires_grad: bool, device=None) -> Tensor:
    if requires_grad:
        if not (t.dtype.is_floating_point or t.dtype.is_complex):
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        t.requires_grad = True
    if device is None:
        device = _default_device()  # ``with kiln.device("meta"):``, set_default_device
    if device is not None and _device_cls(device).type != "cpu":
        t = t.to(device)
        if requires_grad:
            t.requires_grad = True
    return t


_PLAIN_SCALARS = frozenset((float, int, bool, complex))


def _numpy_leaves(data, found: list, plain: set) -> None:
    """The dtypes of the NumPy scalars and arrays among the leaves of the nested lists
    ``data`` (into ``found``), and the Python scalar types beside them (into ``plain``)."""
    kinds = set(map(type, data))
    if kinds <= _PLAIN_SCALARS:  # (the common case: one C-level pass per row)
        plain |= kinds
        return
    for d in data:
        if isinstance(d, (list, tuple)):
            _numpy_leaves(d, found, plain)
        elif isinstance(d, (np.generic, np.ndarray)):
            found.append(dtypes.from_numpy_dtype(d.dtype))
        else:
            plain.add(type(d))


def _infer_dtype(data) -> dtypes.dtype:
    # PyTorch keeps a NumPy scalar's dtype (``tensor(np.float64(1))`` is float64, also in
    # a list, promoted with the Python numbers' default dtypes there)
    if isinstance(data, np.generic):
        return dtypes.from_numpy_dtype(data.dtype)
    if isinstance(data, (list, tuple)) and data:
        found, plain = [], set()
        _numpy_leaves(data, found, plain)
        if found:
            result = found[0]
            for dt in found[1:] + [dtypes.scalar_dtype(k()) for k in plain if k in _PLAIN_SCALARS]:
                result = dtypes.promote(result, dt)
            return result
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return (
            dtypes.get_default_dtype()
            if not isinstance(data, np.ndarray)
            else dtypes.from_numpy_dtype(arr.dtype)
        )
    if arr.dtype.kind == "c":
        return (
            dtypes.get_default_complex_dtype()
            if not isinstance(data, np.ndarray)
            else dtypes.from_numpy_dtype(arr.dtype)
        )
    if arr.dtype.kind == "b":
        return dtypes.bool_
    if arr.dtype.kind in "iu":
        return (
            dtypes.int64 if not isinstance(data, np.ndarray) else dtypes.from_numpy_dtype(arr.dtype)
        )
    raise TypeError(f"tensor(): could not infer a dtype for {type(data).__name__}")


def _nested_tensors(data):
    if (
        isinstance(data, (list, tuple))
        and data
        and any(isinstance(d, (Tensor, list, tuple)) for d in data)
    ):
        return [_nested_tensors(d) for d in data]
    if isinstance(data, Tensor):
        return data.detach().numpy().tolist() if data._node is None else data
    return data


def tensor(
    data, *, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False
) -> Tensor:
    """A new tensor copying ``data`` (a number, nested lists, an array or a tensor)."""
    if isinstance(data, Tensor):
        src = data.detach()
        out = src.clone() if dtype is None else src.to(dtypes.as_dtype(dtype)).clone()
        return _finish(out, requires_grad, device)
    data = _nested_tensors(data)
    dt = dtypes.as_dtype(dtype) if dtype is not None else _infer_dtype(data)
    # (bfloat16: through float32, as PyTorch rounds a double to bfloat16; ``constant`` ends it)
    if dt.is_floating_point or dt.is_complex or dt is dtypes.bool_:
        array = np.array(data, dtype=np.float32 if dt is dtypes.bfloat16 else dt.np)
    else:
        array = _integer_array(data, dt)
    return _finish(constant(array, dt), requires_grad, device)


def _integer_array(data, dt, *, check_arrays=False) -> np.ndarray:
    """``data`` as an array of the integer dtype ``dt``, with PyTorch's overflow rule: a
    value outside ``dt``'s range is an error, except that a negative integer down to
    ``-max`` wraps into an unsigned dtype (``tensor(-1, dtype=uint8)`` is 255); a float is
    truncated, and must lie in the range."""
    if isinstance(data, np.ndarray) and not check_arrays:
        return np.array(data, dtype=dt.np)
    if dt is dtypes.uint64:  # (Python ints exactly: NumPy reads [2**64 - 1, 0] as floats)
        return _uint64_array(np.array(data, dtype=object))
    arr = np.asarray(data)
    info = np.iinfo(dt.np)
    if not isinstance(data, np.ndarray) and (
        arr.dtype.kind == "O"
        or (arr.dtype.kind == "f" and arr.size and np.nanmax(np.abs(arr)) >= 2**53)
    ):
        # Python ints beyond 2**53 among floats (or beyond int64) came through float64 or as
        # objects: converted one by one, so that none is rounded (PyTorch keeps them exact)
        exact = _exact_integers(data, dt, info)
        if exact is not None:
            return exact
    if arr.dtype.kind == "O" or (arr.dtype.kind == "u" and arr.size and arr.max() > 2**63 - 1):
        raise ValueError(f"tensor(): a value overflows int64 (creating a {dt.name} tensor)")
    if arr.size and arr.dtype.kind in "iuf":
        lo = -int(info.max) if arr.dtype.kind in "iu" and info.min == 0 else int(info.min)
        with np.errstate(invalid="ignore"):
            fits = np.logical_and(arr >= lo, arr <= int(info.max))
        if not fits.all():
            bad = arr[~fits].flat[0]
            raise RuntimeError(
                f"tensor(): value {bad} cannot be converted to type {dt.name} without overflow"
            )
    with np.errstate(invalid="ignore", over="ignore"):
        return arr.astype(dt.np)


def _exact_integers(data, dt, info):
    """Nested Python numbers as an array of the integer dtype ``dt``, each converted on its
    own (ints exactly, floats truncated), with ``_integer_array``'s range rule; None when
    an element is not a number."""
    objects = np.array(data, dtype=object)
    lo = -int(info.max) if info.min == 0 else int(info.min)
    values = []
    for v in objects.flat:
        if isinstance(v, (bool, np.bool_, int, np.integer)):
            v = int(v)
            if v > 2**63 - 1:  # (uint64 never comes here: _uint64_array)
                raise ValueError(f"tensor(): a value overflows int64 (creating a {dt.name} tensor)")
        elif isinstance(v, (float, np.floating)) and math.isfinite(v):
            v = int(v)  # (truncated toward zero)
        elif isinstance(v, (float, np.floating)):
            raise RuntimeError(
                f"tensor(): value {v} cannot be converted to type {dt.name} without overflow"
            )
        else:
            return None
        if not lo <= v <= int(info.max):
            raise RuntimeError(
                f"tensor(): value {v} cannot be converted to type {dt.name} without overflow"
            )
        values.append(v % (int(info.max) + 1) if v < 0 and info.min == 0 else v)
    return np.array(values, dtype=dt.np).reshape(objects.shape)


def _uint64_array(arr: np.ndarray) -> np.ndarray:
    """Python integers as uint64, with PyTorch's errors: a negative one or one of more
    than 64 bits is an OverflowError (no wrap-around, unlike the narrower types)."""
    values = list(arr.ravel())
    if not all(isinstance(v, (int, np.integer)) for v in values):  # (as PyTorch: no floats)
        kind = next(type(v).__name__ for v in values if not isinstance(v, (int, np.integer)))
        raise TypeError(f"tensor(): a uint64 tensor takes integers only, not {kind}")
    low, high = min(values, default=0), max(values, default=0)
    if low < 0:
        raise OverflowError("can't convert negative int to unsigned")
    if high > 2**64 - 1:
        raise OverflowError("int too big to convert")
    return np.array([int(v) for v in values], dtype=np.uint64).reshape(arr.shape)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor):
        out = data if dtype is None else data.to(dtypes.as_dtype(dtype))
        return out.to(device) if device is not None else out
    if (
        isinstance(data, np.ndarray)
        and (dtype is None or dtypes.as_dtype(dtype).np == data.dtype)
        and data.dtype in dtypes._BY_NP
    ):
        return _finish(_wrap(data), False, device)
    return tensor(data, dtype=dtype, device=device)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    out = as_tensor(obj, dtype=dtype, device=device)
    return _finish(out, requires_grad) if requires_grad else out


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.from_numpy_dtype(array.dtype)
    if any(st < 0 for st in array.strides):  # (a copy would not share memory, as promised)
        raise ValueError(
            "from_numpy(): at least one stride in the given numpy array is negative "
            f"(strides {array.strides}), and tensors with negative strides are not "
            "supported. (You can probably work around this by making a copy of your array "
            "with array.copy().)"
        )
    return _wrap(array)


def _filled(shape: tuple, value, dtype, requires_grad, device) -> Tensor:
    from .memory_errors import filled  # (PyTorch's RuntimeError when memory runs out)

    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if device is None:
        device = _default_device()
    if device is not None and _device_cls(device).type == "meta":
        from . import meta  # (no storage to fill)

        meta._enable()
        return _finish(meta.empty(shape, dt), requires_grad)
    if dt is dtypes.bfloat16 and not isinstance(value, (bool, np.bool_)):
        value = np.float32(value)  # a double rounds to bfloat16 through float32 (as PyTorch)
    if current_trace() is not None:
        out = constant(filled(shape, value, dt.np), dt)
    else:
        out = _wrap(filled(shape, value, dt.np))
    return _finish(out, requires_grad, device)


def zeros(*shape, size=None, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    """``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``."""
    if _sparse_layout(layout):  # kiln.sparse: no entries
        return _sparse().empty_sparse(_size(shape, size, "zeros"), dtype, layout["layout"])
    return _filled(_size(shape, size, "zeros", required=True), 0, dtype, requires_grad, device)


def ones(*shape, size=None, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    if _sparse_layout(layout):
        raise RuntimeError("full(...) is not implemented for sparse layout")
    return _filled(_size(shape, size, "ones", required=True), 1, dtype, requires_grad, device)


def empty(*shape, size=None, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    """Zeros in fact: kiln never hands out uninitialized memory. ``memory_format=`` lays
    it out (``channels_last``: NHWC memory, as PyTorch)."""
    if _sparse_layout(layout):
        return _sparse().empty_sparse(_size(shape, size, "empty"), dtype, layout["layout"])
    out = _filled(_size(shape, size, "empty", required=True), 0, dtype, requires_grad, device)
    fmt = layout.get("memory_format")
    return out if fmt is None else _mf.lay_out(out, fmt)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    if dtype is None:
        dtype = (
            dtypes.scalar_dtype(fill_value)
            if not isinstance(fill_value, Tensor)
            else fill_value.dtype
        )
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    shape = _size((size,) if isinstance(size, int) else tuple(size), None, "full")
    dt = dtypes.as_dtype(dtype)
    dtypes.check_fits(fill_value, dt)
    if dt._category == 1 and isinstance(fill_value, int) and not isinstance(fill_value, bool):
        fill_value = int(_wrapped_int(fill_value, dt))  # -1 into uint8 is 255
    return _filled(shape, fill_value, dtype, requires_grad, device)


def _like(x, dtype):
    return x.dtype if dtype is None else dtype


def _laid_like(out, x, kw):
    """A ``*_like`` result in ``memory_format`` (default ``preserve_format``: ``x``'s)."""
    return _mf.lay_out(out, kw.get("memory_format", _mf.preserve_format), like=x)


def _sparse_layout(kw) -> bool:
    """A factory asked for a sparse layout (``layout=kiln.sparse_coo``; kiln.sparse)."""
    layout = kw.get("layout")
    return layout is not None and repr(layout) not in ("kiln.strided", "torch.strided")


def _sparse():
    from . import sparse

    return sparse


def zeros_like(x, *, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    if getattr(x, "is_sparse", False) or _sparse_layout(kw):  # no entries (PyTorch's)
        return _sparse().empty_sparse(x.shape, _like(x, dtype), kw.get("layout", x.layout))
    out = zeros(
        x.shape, dtype=_like(x, dtype), requires_grad=requires_grad, device=device or _dev(x)
    )
    return _laid_like(out, x, kw)


def ones_like(x, *, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    if getattr(x, "is_sparse", False) or _sparse_layout(kw):
        raise NotImplementedError("ones_like: a sparse layout has no fill (kiln.sparse)")
    out = ones(
        x.shape, dtype=_like(x, dtype), requires_grad=requires_grad, device=device or _dev(x)
    )
    return _laid_like(out, x, kw)


def empty_like(x, *, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    return zeros_like(x, dtype=dtype, device=device, requires_grad=requires_grad, **kw)


def full_like(x, fill_value, *, dtype=None, device=None, requires_grad=False, **kw):
    if getattr(x, "is_sparse", False) or _sparse_layout(kw):
        raise NotImplementedError("full_like: a sparse layout has no fill (kiln.sparse)")
    out = full(
        x.shape,
        fill_value,
        dtype=_like(x, dtype),
        requires_grad=requires_grad,
        device=device or _dev(x),
    )
    return _laid_like(out, x, kw)


def _dev(x):
    d = x.device
    return None if d.type == "cpu" else d


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False, **layout):
    """``arange(end)``, ``arange(start, end)``, ``arange(start, end, step)`` (or keywords)."""
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if values[2] == 0:
        raise RuntimeError("arange: step must be nonzero")
    for v in values[:2]:
        if isinstance(v, float) and not math.isfinite(v):
            raise RuntimeError(f"arange: unsupported range: {values[0]} -> {values[1]}")
    for v in values:
        if isinstance(v, int) and not -(2**63) <= v < 2**63:
            raise RuntimeError(
                f"arange: value {v} cannot be converted to type int64 without overflow"
            )
    if dtype is not None and dtypes.as_dtype(dtype) is dtypes.int64:
        # PyTorch: an int64 arange truncates its bounds and step first, and counts with them
        # (other integer dtypes count with the given values, then step by truncated ones)
        values = [int(v) for v in values]
        if values[2] == 0:
            raise ValueError(f"arange: step must be nonzero (step {step} truncated to 0)")
    if (values[1] - values[0]) * values[2] < 0:
        raise RuntimeError(
            f"arange: upper bound and lower bound inconsistent with step sign "
            f"(start={values[0]}, end={values[1]}, step={values[2]})"
        )
    if dtype is None:
        is_float = any(isinstance(v, float) for v in values)
        dt = dtypes.get_default_dtype() if is_float else dtypes.int64
    else:
        dt = dtypes.as_dtype(dtype)
    n = max(math.ceil((values[1] - values[0]) / values[2]), 0)
    from .memory_errors import allocating  # (PyTorch's RuntimeError for a huge range)

    with allocating((n,), np.float64):
        if dt.is_floating_point:
            data = values[0] + np.arange(n, dtype=np.float64) * values[2]
        else:
            first, step_i = int(values[0]), int(values[2])
            data = first + np.arange(n, dtype=np.int64) * step_i
    return _finish(constant(data.astype(dt.np), dt), requires_grad, device)


def _check_steps(op: str, steps) -> int:
    if not isinstance(steps, int) or isinstance(steps, bool):
        raise TypeError(f"{op}(): argument 'steps' must be int, not {type(steps).__name__}")
    if steps < 0:
        raise RuntimeError(f"{op}(): number of steps must be non-negative, got {steps}")
    return steps


def _no_bool(op: str, dt) -> None:
    if dt is dtypes.bool_:
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for 'Bool'")  # PyTorch's


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, **layout):
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    _no_bool("linspace", dt)
    steps = _check_steps("linspace", steps)
    if dt.is_floating_point or dt.is_complex:
        data = np.linspace(float(start), float(end), steps)
    else:
        data = _halfway_ramp(start, end, steps, dt)
    return _finish(constant(data.astype(dt.np), dt), requires_grad, device)


def _halfway_ramp(start, end, steps, dt) -> np.ndarray:
    """PyTorch's integer ``linspace``/``logspace`` exponents: ``start`` and ``end`` first
    truncated to the integer dtype, a float64 step, the first half counted up from
    ``start`` and the rest down from ``end`` (float64 values, truncated by the caller)."""
    if steps == 0:
        return np.zeros(0)
    lo = _integer_array(_item(start), dt).astype(np.float64)
    if steps == 1:
        return np.array([lo])
    hi = _integer_array(_item(end), dt).astype(np.float64)
    step = (hi - lo) / (steps - 1)
    idx = np.arange(steps, dtype=np.float64)
    up = idx < steps // 2
    # PyTorch's kernel is compiled with fused multiply-adds: ``start + step * i`` rounds once
    # (``linspace(-3, 7, 7)[3]`` is 1, from 1.9999999999999998, not 2)
    return _fma(np.where(up, step, -step), np.where(up, idx, steps - idx - 1), np.where(up, lo, hi))


def _fma(a, b, c):
    """``a * b + c`` rounded once (float64 arrays): the product's rounding error kept exactly
    (Dekker's two-product) and added back with the sum's (Knuth's two-sum)."""

    def split(x):
        t = x * 134217729.0  # 2**27 + 1
        hi = t - (t - x)
        return hi, x - hi

    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    z = s - p
    t = (p - (s - z)) + (c - z)
    return s + (t + e)


def _item(v):
    return v.item() if isinstance(v, Tensor) else v


def logspace(
    start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, **layout
):
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    _no_bool("logspace", dt)
    steps = _check_steps("logspace", steps)
    if dt.is_floating_point or dt.is_complex:
        data = np.logspace(float(start), float(end), steps, base=base)
    else:  # exponents as PyTorch's integer linspace computes them, powers in float64; one
        # step is ``base ** start`` checked to fit the dtype (PyTorch fills a scalar), more
        # are cast unchecked as PyTorch's kernel casts them
        exps = _halfway_ramp(start, end, steps, dt) if steps != 1 else np.array([_item(start)])
        with np.errstate(invalid="ignore", over="ignore"):
            data = np.power(float(base), np.asarray(exps, np.float64))
        data = _integer_array(data, dt, check_arrays=steps == 1)
    return _finish(constant(data.astype(dt.np), dt), requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, **layout):
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    for label, v in (("n", n), ("m", m)):
        if v is not None and v < 0:
            raise RuntimeError(f"{label} must be greater or equal to 0, got {v}")
    from .memory_errors import allocating  # (PyTorch's RuntimeError when memory runs out)

    with allocating((n, n if m is None else m), dt.np):
        data = np.eye(n, m, dtype=dt.np)
    return _finish(constant(data, dt), requires_grad, device)


# ------------------------------------------------------------------------------ randomness


_STATE_BYTES = 16  # Generator.get_state(): two uint64s


class Generator:
    """A counter-based random state: ``manual_seed`` sets the key, each draw bumps the counter.

    >>> g = Generator().manual_seed(3)
    """

    def __init__(self, device="cpu"):
        self.device = _device_cls(device)  # PyTorch's ``Generator().device``: device('cpu')
        self.key = int(np.random.SeedSequence().entropy % (2**63))
        self.counter = 0

    def manual_seed(self, seed: int) -> Generator:
        self.key = int(seed) % (2**64)
        self.counter = 0
        return self

    def seed(self) -> int:
        self.key = int(np.random.SeedSequence().entropy % (2**63))
        self.counter = 0
        return self.key

    def initial_seed(self) -> int:
        if current_trace() is not None:  # read in a traced function: retrace on a new seed
            from .tracing import guard

            return guard(f"the seed of generator [{id(self):#x}]", lambda: self.key)
        return self.key

    def get_state(self) -> Tensor:
        """A uint8 tensor (PyTorch's ByteTensor) of 16 bytes: the key and the counter, each
        a little-endian uint64 (PyTorch's CPU state is 5056 bytes of Mersenne Twister)."""
        if current_trace() is not None and _called_by_user():
            from kiln.compiler.errors import TraceError

            raise TraceError(
                "get_rng_state / Generator.get_state read the generator's position, which "
                "every call moves: its value cannot be compiled in. Read it outside the "
                "compiled function (kiln.compile runs such a call eagerly)"
            )
        state = np.array([self.key, self.counter], dtype="<u8")
        return _wrap(state.view(np.uint8).copy())

    def set_state(self, state_tensor: Tensor) -> None:
        if not isinstance(state_tensor, Tensor):
            raise TypeError(f"expected a torch.ByteTensor, but got {type(state_tensor).__name__}")
        data = np.asarray(state_tensor._data)
        if data.dtype != np.uint8:
            raise TypeError(
                f"RNG state must be a torch.ByteTensor (got {state_tensor.dtype}; "
                "get_rng_state() gives one)"
            )
        if data.size != _STATE_BYTES:
            raise RuntimeError(
                f"Expected a kiln generator state of size {_STATE_BYTES} but found the input "
                f"RNG state size to be {data.size}"
            )
        key, counter = np.ascontiguousarray(data.reshape(-1)).view("<u8")
        self.key, self.counter = int(key), int(counter)

    def next_seed(self) -> np.ndarray:
        """The ``(key, counter)`` pair for one draw (advances the state; not in a thread
        that ``kiln.jit`` traces synthetically, see ``synthetic_draws``)."""
        counters = synthetic_draws.counters
        if counters is not None:
            counter = counters.get(id(self), self.counter)
            counters[id(self)] = counter + 1
            return np.array([self.key, counter], dtype=np.uint64)
        seed = np.array([self.key, self.counter], dtype=np.uint64)
        self.counter += 1
        return seed

    def numpy_generator(self) -> np.random.Generator:
        """A NumPy generator for host-side draws (``randperm``), advancing the state."""
        seed = self.next_seed()
        return np.random.Generator(np.random.Philox(key=int(seed[0]), counter=int(seed[1])))


default_generator = Generator().manual_seed(0x5EED)


class _SyntheticDraws(threading.local):
    """While ``kiln.jit`` traces a function only to fit a dynamic dimension (a synthetic
    trace, jit/auto_dynamic.py), that thread's draws count here, ``{id(generator):
    counter}``, and leave the generators' states (and other threads' draws) untouched."""

    counters = None


synthetic_draws = _SyntheticDraws()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (``kiln.manual_seed(0)`` as in PyTorch)."""
    np.random.seed(int(seed) % (2**32))
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def _called_by_user() -> bool:
    """Whether the caller of this module's function (past this module) is not kiln's code
    (kiln's checkpoint and fork_rng keep a state to put back, which a trace may do)."""
    import sys

    from .tracing import _KILN_DIRS

    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return frame is not None and not frame.f_code.co_filename.startswith(_KILN_DIRS)


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)


def uniform_bits(shape, dtype, generator=None, device=None) -> Tensor:
    """Uniform [0, 1) numbers through the ``uniform`` primitive (traceable); on the ``meta``
    device a tensor without data, the generator untouched (what follows is shape rules)."""
    if _on_meta(device):
        return _meta_empty(shape, dtype)
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(
            f"argument 'generator' must be torch.Generator, not {type(generator).__name__}"
        )
    gen = generator or default_generator

    trace = current_trace()
    if trace is not None:
        seed_t = trace.seed_input(gen)
    else:
        seed_t = _wrap(gen.next_seed())
    return bind(PRIMITIVES["uniform"], (seed_t,), {"shape": tuple(shape), "dtype": dtype.name})


def _on_meta(device) -> bool:
    if device is None:
        device = _default_device()
    return device is not None and _device_cls(device).type == "meta"


def _meta_empty(shape, dtype) -> Tensor:
    from . import meta

    return meta.empty(tuple(shape), dtype)


def rand(
    *shape, size=None, generator=None, dtype=None, device=None, requires_grad=False, **layout
) -> Tensor:
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if dt.is_complex:  # PyTorch: both parts uniform on [0, 1)
        parts = rand(
            (2, *_size(shape, size, "rand", True)), generator=generator, dtype=dt.to_real()
        )
        return _finish(_complex_of(parts), requires_grad, device)
    u = uniform_bits(_size(shape, size, "rand", required=True), dt, generator, device)
    return _finish(u, requires_grad, device)


def _complex_of(parts: Tensor) -> Tensor:
    from .complex_tensors import complex as complex_of_parts

    return complex_of_parts(ops.getitem(parts, 0), ops.getitem(parts, 1))


def randn(
    *shape, size=None, generator=None, dtype=None, device=None, requires_grad=False, **layout
) -> Tensor:
    """Standard normal numbers by Box-Muller on two uniform draws."""

    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    shape = _size(shape, size, "randn", required=True)
    if dt.is_complex:  # PyTorch: unit variance in all, so each part has variance 1/2
        parts = ops.mul(randn((2, *shape), generator=generator, dtype=dt.to_real()), 0.5**0.5)
        return _finish(_complex_of(parts), requires_grad, device)
    u = uniform_bits((2,) + shape, dtypes.float64, generator, device)
    u1, u2 = ops.getitem(u, 0), ops.getitem(u, 1)
    r = ops.sqrt(ops.mul(ops.log(ops.sub(1.0, u1)), -2.0))
    z = ops.cast(ops.mul(r, ops.cos(ops.mul(u2, 2.0 * math.pi))), dt)
    return _finish(z, requires_grad, device)


def randint(
    *args,
    low=None,
    high=None,
    size=None,
    generator=None,
    dtype=None,
    device=None,
    requires_grad=False,
    **layout,
) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in ``[low, high)``.

    >>> randint(10, (3,)).shape, randint(5, 7, size=(2,)).dtype
    (kiln.Size([3]), kiln.int64)
    """
    low, high, size = _randint_bounds("randint", args, low, high, size, with_size=True)
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    u = uniform_bits(_size((size,), None, "randint"), dtypes.float64, generator, device)
    r = ops.floor(ops.add(ops.mul(u, float(high - low)), float(low)))
    return _finish(ops.cast(r, dt), requires_grad, device)


def _randint_bounds(op, args, low, high, size, with_size):
    """Sort PyTorch's overloads ``(high, size)`` / ``(low, high, size)`` into one triple."""
    args = list(args)
    if with_size and size is None and args:
        size = args.pop()
    given = [v for v in (low, high) if v is not None]
    if len(args) + len(given) > 2 or (with_size and size is None):
        raise TypeError(
            f"{op}() received an invalid combination of arguments: expected (high, size) or "
            f"(low, high, size), got {len(args)} positional values"
        )
    if high is None:
        high = args.pop() if args else None
    if low is None:
        low = args.pop() if args else 0
    if high is None:
        raise TypeError(f"{op}() missing required argument 'high'")
    low, high = (v.item() if isinstance(v, Tensor) else v for v in (low, high))
    if high <= low:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    return low, high, size


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad=False):
    gen = generator or default_generator
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    if _on_meta(device):
        return _finish(_meta_empty((int(n),), dt), requires_grad, device)
    perm = gen.numpy_generator().permutation(int(n)).astype(dt.np)
    return _finish(constant(perm, dt), requires_grad, device)


def rand_like(x, *, dtype=None, device=None, **kw) -> Tensor:
    return _laid_like(rand(x.shape, dtype=_like(x, dtype), device=device or _dev(x)), x, kw)


def randn_like(x, *, dtype=None, device=None, **kw) -> Tensor:
    return _laid_like(randn(x.shape, dtype=_like(x, dtype), device=device or _dev(x)), x, kw)


def randint_like(x, *args, low=None, high=None, dtype=None, device=None, **kw) -> Tensor:
    """``randint_like(x, high)`` or ``randint_like(x, low, high)``."""
    low, high, _ = _randint_bounds("randint_like", args, low, high, None, with_size=False)
    out = randint(low, high, x.shape, dtype=_like(x, dtype), device=device or _dev(x))
    return _laid_like(out, x, kw)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, device=None, **kw) -> Tensor:

    if size is None:
        shape = (mean if isinstance(mean, Tensor) else std).shape
    else:
        shape = tuple(size)
    on = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    noise = randn(shape, generator=generator, device=device if on is None else _dev(on))
    return ops.add(ops.mul(noise, std), mean)


def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:  # noqa: A002
    """0 / 1 draws with the probabilities ``input``; ``bernoulli(input, p)`` (a number)
    draws with that one probability in ``input``'s shape and dtype."""
    u = rand(input.shape, generator=generator, dtype=input.dtype, device=_dev(input))
    return ops.cast(ops.lt(u, input if p is None else p), input.dtype)


def poisson(input: Tensor, generator=None) -> Tensor:  # noqa: A002 - PyTorch's name
    """Draws of the Poisson distribution with the rates ``input`` (same shape and dtype)."""
    if graph_node(input) is not None:
        from kiln.compiler.errors import TraceError

        raise TraceError(
            "kiln.jit: poisson draws from NumPy's generator with the rates' values, which are "
            "not known while kiln.jit traces; draw outside the compiled function (kiln.compile "
            "runs it eagerly)"
        )
    gen = generator or default_generator
    rates = np.asarray(input.detach().cpu()._data, dtype=np.float64)
    draws = gen.numpy_generator().poisson(rates).astype(input.dtype.np)
    return _finish(constant(draws, input.dtype), False, _dev(input))


def _check_multinomial(probs: Tensor, num_samples: int) -> None:
    """PyTorch's argument checks (its messages and class), before any draw."""
    if not probs.dtype.is_floating_point:
        raise RuntimeError(
            "multinomial only supports floating-point dtypes for input, got: "
            + dtypes.torch_name(probs.dtype)
        )
    if probs.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if probs.shape[-1] == 0:
        raise RuntimeError(
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has "
            "no identity."
        )


def _check_distribution(p: np.ndarray, one_pass: bool) -> None:
    """PyTorch's checks of the probabilities' values: ``one_pass`` (one sample, or without
    replacement) is its exponential-race path, with one message for inf, NaN and negative
    entries; the other is its CPU kernel's (where NaN counts as < 0)."""
    if one_pass and not (np.isfinite(p) & (p >= 0)).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if not (p >= 0).all():
        raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
    if np.isinf(p).any():
        raise RuntimeError(
            "invalid multinomial distribution (encountering probability entry = infinity or NaN)"
        )
    if (p.sum(axis=-1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")


def multinomial(probs: Tensor, num_samples: int, replacement=False, *, generator=None):
    _check_multinomial(probs, num_samples)
    if _on_meta(_dev(probs)):
        return _meta_empty(tuple(probs.shape[:-1]) + (num_samples,), dtypes.int64)
    if graph_node(probs) is not None:
        return _traced_multinomial(probs, num_samples, replacement, generator)
    gen = generator or default_generator
    p = np.asarray(probs._data, dtype=np.float64)
    if not replacement and num_samples > p.shape[-1]:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    _check_distribution(p, num_samples == 1 or not replacement)
    rng = gen.numpy_generator()
    rows = p.reshape(-1, p.shape[-1])

    def draw(r):
        nonzero = int(np.count_nonzero(r))
        if replacement or nonzero >= num_samples:
            return rng.choice(len(r), size=num_samples, replace=replacement, p=r / r.sum())
        # PyTorch's CPU kernel: no error; the categories of probability 0 fill up the rest
        first = rng.choice(len(r), size=nonzero, replace=False, p=r / r.sum())
        return np.concatenate([first, np.flatnonzero(r == 0)[: num_samples - nonzero]])

    out = np.stack([draw(r) for r in rows])
    out = _wrap(out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64))
    return _finish(out, False, _dev(probs))


def _traced_multinomial(probs, num_samples, replacement, generator):
    """Draws under kiln.jit, where the probabilities are known only when the compiled
    function runs: each draw is the category whose cumulative probability first exceeds a
    uniform number (inverse CDF: categories of probability 0 are never drawn), compiled and
    fresh on every call. Without replacement only one draw per row is this simple."""
    from kiln.compiler.errors import TraceError

    if not replacement and num_samples > 1:
        raise TraceError(
            "kiln.jit: multinomial(..., replacement=False) with more than one sample per row "
            "depends on the values drawn so far; draw with replacement=True, or run it "
            "outside the compiled function (kiln.compile runs it eagerly)"
        )
    k = probs.shape[-1]
    if not replacement and num_samples > k:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    rows = ops.reshape(probs.detach(), (-1, k))
    cdf = ops.cumsum(ops.div(rows, ops.sum(rows, -1, keepdim=True)), -1)
    u = rand((rows.shape[0], num_samples), dtype=rows.dtype, generator=generator)
    below = ops.le(ops.unsqueeze(cdf, 1), ops.unsqueeze(u, 2))  # (rows, samples, k)
    drawn = ops.minimum(ops.sum(ops.cast(below, dtypes.int64), -1), constant(k - 1, dtypes.int64))
    return ops.reshape(drawn, tuple(probs.shape[:-1]) + (num_samples,))


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    return x.numel()


def scalar_tensor(value, *, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    """A 0-d tensor of the default dtype (PyTorch's, whatever the Python type of ``value``)."""
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return _finish(constant(value, dt), requires_grad, device)


# ------------------------------------------------------------------ surface16 additions
def range(start, end, step=1, *, dtype=None, device=None, requires_grad=False, **layout):  # noqa: A001
    """Deprecated in PyTorch (it warns): like ``arange`` but ``end`` is included, and the
    default dtype is the default float dtype whatever the arguments.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True):
    ...     range(0, 3)
    tensor([0., 1., 2., 3.])
    """
    import warnings

    warnings.warn(
        "torch.range is deprecated and will be removed in a future release because its "
        "behavior is inconsistent with Python's range builtin. Instead, use torch.arange, "
        "which produces values in [start, end).",
        UserWarning,
        stacklevel=3,  # the caller of the out= wrapper
    )
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if values[2] == 0:
        raise RuntimeError("step must be nonzero")
    if (values[1] - values[0]) * values[2] < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    n = math.floor((values[1] - values[0]) / values[2]) + 1
    if dt.is_floating_point:
        data = values[0] + np.arange(n, dtype=np.float64) * values[2]
    else:
        data = values[0] + np.arange(n, dtype=np.int64) * int(values[2])
    return _finish(constant(data.astype(dt.np), dt), requires_grad, device)


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad=False, **layout):
    """A tensor of shape ``size`` whose elements lie ``stride`` apart in a fresh storage
    (zeros: kiln never hands out uninitialized memory); ``stride()`` reports ``stride``."""
    size = _size((tuple(size),), None, "empty_strided")
    stride = tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape: {len(size)} != {len(stride)}")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"empty_strided: negative strides are not supported, got {list(stride)}")
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if current_trace() is not None or (device is not None and _device_cls(device).type != "cpu"):
        out = zeros(size, dtype=dt, device=device, requires_grad=requires_grad)
        if out._node is not None:  # traced: it reports the strides asked for, as eagerly
            from .tracing import set_layout

            set_layout(out, stride)
        return out
    length = 1 + sum((n - 1) * s for n, s in zip(size, stride)) if math.prod(size) else 0
    storage = np.zeros(length, dtype=dt.np)
    data = np.lib.stride_tricks.as_strided(
        storage, shape=size, strides=tuple(s * dt.np.itemsize for s in stride)
    )
    return _finish(_wrap(data), requires_grad, device)


def empty_permuted(size, physical_layout, *, dtype=None, device=None, requires_grad=False, **kw):
    """A tensor of shape ``size`` stored with its dims in the order ``physical_layout``
    (outermost first): ``empty_permuted((2, 3, 4), (0, 2, 1))`` has strides ``(12, 1, 3)``."""
    size = _size((tuple(size),), None, "empty_permuted")
    layout = tuple(int(d) for d in physical_layout)
    if len(layout) != len(size):
        raise RuntimeError(
            "Number of dimensions in size does not match the length of the physical_layout"
        )
    if sorted(layout) != list(builtins_range(len(size))):
        raise RuntimeError(
            "Duplicate dim not allowed"
            if len(set(layout)) != len(layout)
            else f"Dimension out of range in physical_layout {list(layout)}"
        )
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    physical = np.zeros(tuple(size[d] for d in layout), dtype=dt.np)
    inverse = [layout.index(d) for d in builtins_range(len(size))]
    if current_trace() is not None:
        return zeros(size, dtype=dt, requires_grad=requires_grad)
    return _finish(_wrap(np.transpose(physical, inverse)), requires_grad, device)


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D tensor over the bytes of ``buffer`` (an object of the buffer protocol), sharing
    its memory: writes to either show in the other, as in PyTorch."""
    dt = dtypes.as_dtype(dtype)
    view = memoryview(buffer)
    length = view.nbytes
    if length == 0 or count == 0:
        raise ValueError(f"both buffer length ({length}) and count ({count}) must not be 0")
    if offset < 0 or offset >= length:
        raise ValueError(
            f"offset ({offset} bytes) must be non-negative and no greater than buffer length "
            f"({length} bytes) minus 1"
        )
    itemsize = dt.np.itemsize
    if count < 0 and (length - offset) % itemsize:
        raise ValueError(
            f"buffer length ({length - offset} bytes) after offset ({offset} bytes) must be a "
            f"multiple of element size ({itemsize})"
        )
    if count > 0 and count * itemsize > length - offset:
        raise ValueError(
            f"requested buffer length ({count} * {itemsize} bytes) after offset ({offset} "
            f"bytes) must not be greater than actual buffer length ({length} bytes)"
        )
    data = np.frombuffer(view, dtype=dt.np, count=count, offset=offset)
    if not data.flags.writeable:
        import warnings

        warnings.warn(
            "The given buffer is not writable: kiln's tensor over it is read-only, and an "
            "in-place update gives the tensor its own copy.",
            UserWarning,
            stacklevel=2,
        )
    return _finish(_wrap(data), requires_grad)


def from_dlpack(ext_tensor):
    """A tensor sharing the memory of any object of the DLPack protocol (a NumPy array, a
    PyTorch CPU tensor, ...), through NumPy's ``from_dlpack``."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor.detach()
    if not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(
            "from_dlpack: expected an object with __dlpack__ (a NumPy array or another "
            f"framework's tensor), got {type(ext_tensor).__name__}; a bare DLPack capsule is "
            "not accepted (NumPy cannot read one)"
        )
    return _wrap(np.from_dlpack(ext_tensor))


def _window(op, window_length, periodic, dtype, requires_grad, device, values):
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if not dt.is_floating_point:
        raise RuntimeError(f"{op} expects floating point dtypes, got: {dt.name}")
    if window_length < 0:
        raise RuntimeError(
            f"{op} requires non-negative window_length, got window_length={window_length}"
        )
    if window_length == 0:
        data = np.zeros(0)
    elif window_length == 1:
        data = np.ones(1)
    else:
        n = window_length + 1 if periodic else window_length
        data = values(np.arange(n, dtype=np.float64), n)[:window_length]
    return _finish(constant(data.astype(dt.np), dt), requires_grad, device)


def hann_window(
    window_length, periodic=True, *, dtype=None, device=None, requires_grad=False, **layout
):
    """``0.5 - 0.5 cos(2 pi n / (N - 1))``; ``periodic`` drops the last of ``N + 1`` points."""
    return hamming_window(
        window_length,
        periodic,
        0.5,
        0.5,
        dtype=dtype,
        device=device,
        requires_grad=requires_grad,
        _op="hann_window",
    )


def hamming_window(
    window_length,
    periodic=True,
    alpha=0.54,
    beta=0.46,
    *,
    dtype=None,
    device=None,
    requires_grad=False,
    _op="hamming_window",
    **layout,
):
    """``alpha - beta cos(2 pi n / (N - 1))``."""
    return _window(
        _op,
        window_length,
        periodic,
        dtype,
        requires_grad,
        device,
        lambda n, m: alpha - beta * np.cos(2 * np.pi * n / (m - 1)),
    )


def blackman_window(
    window_length, periodic=True, *, dtype=None, device=None, requires_grad=False, **layout
):
    """``0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))``."""

    def values(n, m):
        return 0.42 - 0.5 * np.cos(2 * np.pi * n / (m - 1)) + 0.08 * np.cos(4 * np.pi * n / (m - 1))

    return _window("blackman_window", window_length, periodic, dtype, requires_grad, device, values)


def bartlett_window(
    window_length, periodic=True, *, dtype=None, device=None, requires_grad=False, **layout
):
    """The triangle ``1 - |2 n / (N - 1) - 1|``."""
    return _window(
        "bartlett_window",
        window_length,
        periodic,
        dtype,
        requires_grad,
        device,
        lambda n, m: 1 - np.abs(2 * n / (m - 1) - 1),
    )


def kaiser_window(
    window_length,
    periodic=True,
    beta=12.0,
    *,
    dtype=None,
    device=None,
    requires_grad=False,
    **layout,
):
    """``I0(beta sqrt(1 - (2 n / (N - 1) - 1)^2)) / I0(beta)`` (``I0``: the modified Bessel
    function of order 0)."""
    return _window(
        "kaiser_window",
        window_length,
        periodic,
        dtype,
        requires_grad,
        device,
        lambda n, m: (
            np.i0(beta * np.sqrt(np.clip(1 - (2 * n / (m - 1) - 1) ** 2, 0, None))) / np.i0(beta)
        ),
    )


range = with_out(range)  # noqa: A001 - (torch.range takes out=)

__all__ = """
Generator arange as_tensor asarray bernoulli default_generator empty empty_like eye from_numpy
full full_like get_rng_state initial_seed is_tensor linspace logspace manual_seed multinomial
normal numel ones ones_like poisson rand rand_like randint randint_like randn randn_like randperm
scalar_tensor seed set_rng_state tensor zeros zeros_like
bartlett_window blackman_window empty_permuted empty_strided from_dlpack frombuffer
hamming_window hann_window kaiser_window range
""".split()
