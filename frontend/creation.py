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

import numpy as np

from kiln.compiler.primitives import PRIMITIVES

from . import dtypes, ops
from .device import default_device as _default_device
from .device import device as _device_cls
from .dispatch import bind, constant, current_trace
from .tensor import Tensor, _wrap


def _size(shape, size=None, op: str = "creation") -> tuple:
    """PyTorch's size forms: varargs ``f(2, 3)``, one sequence ``f((2, 3))``, or ``size=``."""
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


def _infer_dtype(data) -> dtypes.dtype:
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
    return _finish(constant(np.array(data, dtype=dt.np), dt), requires_grad, device)


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
    if current_trace() is not None:
        out = constant(filled(shape, value, dt.np), dt)
    else:
        out = _wrap(filled(shape, value, dt.np))
    return _finish(out, requires_grad, device)


def zeros(*shape, size=None, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    """``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``."""
    return _filled(_size(shape, size, "zeros"), 0, dtype, requires_grad, device)


def ones(*shape, size=None, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    return _filled(_size(shape, size, "ones"), 1, dtype, requires_grad, device)


def empty(*shape, size=None, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    """Zeros in fact: kiln never hands out uninitialized memory."""
    return _filled(_size(shape, size, "empty"), 0, dtype, requires_grad, device)


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
    return _filled(shape, fill_value, dtype, requires_grad, device)


def _like(x, dtype):
    return x.dtype if dtype is None else dtype


def zeros_like(x, *, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    return zeros(
        x.shape, dtype=_like(x, dtype), requires_grad=requires_grad, device=device or _dev(x)
    )


def ones_like(x, *, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    return ones(
        x.shape, dtype=_like(x, dtype), requires_grad=requires_grad, device=device or _dev(x)
    )


def empty_like(x, *, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    return zeros_like(x, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x, fill_value, *, dtype=None, device=None, requires_grad=False, **kw):
    return full(
        x.shape,
        fill_value,
        dtype=_like(x, dtype),
        requires_grad=requires_grad,
        device=device or _dev(x),
    )


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
    data = (
        (values[0] + np.arange(n, dtype=np.float64) * values[2])
        if dt.is_floating_point
        else np.arange(values[0], values[1], values[2])
    )
    return _finish(constant(data.astype(dt.np), dt), requires_grad, device)


def _check_steps(op: str, steps) -> int:
    if not isinstance(steps, int) or isinstance(steps, bool):
        raise TypeError(f"{op}(): argument 'steps' must be int, not {type(steps).__name__}")
    if steps < 0:
        raise RuntimeError(f"{op}(): number of steps must be non-negative, got {steps}")
    return steps


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, **layout):
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    data = np.linspace(float(start), float(end), _check_steps("linspace", steps))
    return _finish(constant(data.astype(dt.np), dt), requires_grad, device)


def logspace(
    start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, **layout
):
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    data = np.logspace(float(start), float(end), _check_steps("logspace", steps), base=base)
    return _finish(constant(data.astype(dt.np), dt), requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, **layout):
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return _finish(constant(np.eye(n, m, dtype=dt.np), dt), requires_grad, device)


# ------------------------------------------------------------------------------ randomness


class Generator:
    """A counter-based random state: ``manual_seed`` sets the key, each draw bumps the counter.

    >>> g = Generator().manual_seed(3)
    """

    def __init__(self, device="cpu"):
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
        return self.key

    def get_state(self) -> Tensor:
        return _wrap(np.array([self.key, self.counter], dtype=np.uint64).view(np.int64))

    def set_state(self, state_tensor: Tensor) -> None:
        key, counter = np.asarray(state_tensor._data).view(np.uint64)
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
        parts = rand((2, *_size(shape, size, "rand")), generator=generator, dtype=dt.to_real())
        return _finish(_complex_of(parts), requires_grad, device)
    u = uniform_bits(_size(shape, size, "rand"), dt, generator, device)
    return _finish(u, requires_grad, device)


def _complex_of(parts: Tensor) -> Tensor:
    from .complex_tensors import complex as complex_of_parts

    return complex_of_parts(ops.getitem(parts, 0), ops.getitem(parts, 1))


def randn(
    *shape, size=None, generator=None, dtype=None, device=None, requires_grad=False, **layout
) -> Tensor:
    """Standard normal numbers by Box-Muller on two uniform draws."""

    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    shape = _size(shape, size, "randn")
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
    return rand(x.shape, dtype=_like(x, dtype), device=device or _dev(x))


def randn_like(x, *, dtype=None, device=None, **kw) -> Tensor:
    return randn(x.shape, dtype=_like(x, dtype), device=device or _dev(x))


def randint_like(x, *args, low=None, high=None, dtype=None, device=None, **kw) -> Tensor:
    """``randint_like(x, high)`` or ``randint_like(x, low, high)``."""
    low, high, _ = _randint_bounds("randint_like", args, low, high, None, with_size=False)
    return randint(low, high, x.shape, dtype=_like(x, dtype), device=device or _dev(x))


def normal(mean=0.0, std=1.0, size=None, *, generator=None, device=None, **kw) -> Tensor:

    if size is None:
        shape = (mean if isinstance(mean, Tensor) else std).shape
    else:
        shape = tuple(size)
    on = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    noise = randn(shape, generator=generator, device=device if on is None else _dev(on))
    return ops.add(ops.mul(noise, std), mean)


def bernoulli(p: Tensor, *, generator=None) -> Tensor:

    u = rand(p.shape, generator=generator, dtype=p.dtype, device=_dev(p))
    return ops.cast(ops.lt(u, p), p.dtype)


def multinomial(probs: Tensor, num_samples: int, replacement=False, *, generator=None):
    if _on_meta(_dev(probs)):
        return _meta_empty(tuple(probs.shape[:-1]) + (num_samples,), dtypes.int64)
    gen = generator or default_generator
    p = np.asarray(probs._data, dtype=np.float64)
    rng = gen.numpy_generator()
    rows = p.reshape(-1, p.shape[-1])
    out = np.stack(
        [rng.choice(len(r), size=num_samples, replace=replacement, p=r / r.sum()) for r in rows]
    )
    out = _wrap(out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64))
    return _finish(out, False, _dev(probs))


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    return x.numel()


def scalar_tensor(value, *, dtype=None, device=None, requires_grad=False, **layout) -> Tensor:
    """A 0-d tensor of the default dtype (PyTorch's, whatever the Python type of ``value``)."""
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return _finish(constant(value, dt), requires_grad, device)


__all__ = """
Generator arange as_tensor asarray bernoulli default_generator empty empty_like eye from_numpy
full full_like get_rng_state initial_seed is_tensor linspace logspace manual_seed multinomial
normal numel ones ones_like rand rand_like randint randint_like randn randn_like randperm
scalar_tensor seed set_rng_state tensor zeros zeros_like
""".split()
