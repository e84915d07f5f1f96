"""The eager fast path of the optimizers: the same update math on NumPy arrays.

An optimizer's update is written once, as a function of its values and of ``xp``, the few
operations that are not Python operators (``sqrt``, ``pow``, ``where``, ``maximum``,
``cast``). ``step()`` runs it

* on kiln tensors (``KILN``) when it is traced by ``kiln.jit``, when a tensor lives on a
  device or is a view written through to a base, or while a profiler records ops: every
  operation goes through ``kiln.dispatch.bind``, so a compiled step has the same math;
* on the NumPy arrays of the tensors (``NUMPY``) otherwise (plain eager CPU tensors): a few
  NumPy calls per parameter instead of thirty dispatched ops, like PyTorch's ``foreach``
  and ``fused`` implementations.

The results are bit for bit the same: the NumPy operations are the primitives' own
implementations (``PRIMITIVES[name].impl``), on operands of the dtypes kiln's promotion
gives (a Python float next to a float array is a weak scalar in NumPy 2 too, and a 0-d
float64 value meets a parameter only after an explicit ``cast``). The in-place writes bump
the tensors' version counters as ``Tensor.copy_`` does.
"""

from __future__ import annotations

import numbers

import numpy as np

import kiln
from kiln.compiler.primitives import PRIMITIVES as P

from .. import dispatch
from ..context import current

__all__ = [
    "KILN",
    "NUMPY",
    "eager_arrays",
    "eager_context",
    "is_float",
    "memo",
    "plain_arrays",
    "store",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _Kiln:
    """``xp`` for kiln tensors: every operation is a dispatched kiln op."""

    sqrt = staticmethod(kiln.sqrt)
    pow = staticmethod(kiln.pow)
    # ``number / tensor`` is ``reciprocal(tensor) * number`` (PyTorch's ``__rtruediv__``);
    # the optimizers' float64 stand-ins for PyTorch's Python floats divide
    div = staticmethod(kiln.div)
    maximum = staticmethod(kiln.maximum)
    where = staticmethod(kiln.where)

    @staticmethod
    def cast(x, dtype):
        """``x`` (a tensor, or a Python number kept as is) as ``dtype``."""
        return x.to(dtype) if isinstance(x, kiln.Tensor) else x

    @staticmethod
    def scalar(value, like):
        """A float ``value`` rounded to ``like``'s dtype (as a constant of it would be)."""
        return float(like.dtype.np.type(value))


_MAXIMUM, _CAST = (P[name].impl for name in ("maximum", "cast"))
_F64 = np.dtype(np.float64)


class _NumPy:
    """``xp`` for NumPy arrays: the primitives' implementations, called directly."""

    sqrt = staticmethod(np.sqrt)  # the primitive's np.sqrt, less its errstate (see pow)
    div = staticmethod(np.true_divide)
    maximum = staticmethod(_MAXIMUM)

    @staticmethod
    def where(condition, x, y):
        if condition.ndim == 0 and x.shape == y.shape and x.dtype == y.dtype:
            return x if condition else y  # (the caller stores the values: no copy here)
        return dispatch.eager_impl("where")(condition, x, y)

    @staticmethod
    def pow(a, b):
        # kiln.pow of float64 values: the primitive's implementation (its fast paths for
        # the exponents 2 and 0.5 included), less its errstate (the caller has one)
        a, b = np.asarray(a, _F64), np.asarray(b, _F64)
        if b == 2:
            return np.multiply(a, a)
        if b == 0.5:
            return np.sqrt(a)
        return np.power(a, b)

    @staticmethod
    def cast(x, dtype):
        # a Python number stays one (a weak scalar, as kiln's constants); NumPy values
        # (float64 scalars are Python floats too: test the exact type) are cast
        return x if type(x) in (int, float) else _CAST(np.asarray(x), dtype.np)

    @staticmethod
    def scalar(value, like):
        return float(like.dtype.type(value))


KILN = _Kiln()
NUMPY = _NumPy()


def eager_arrays(tensors, counts=()) -> bool:
    """Whether a step may update ``tensors`` (a parameter, its gradient, its state; ``None``
    skipped) and its 0-d float32 step ``counts`` through their NumPy arrays: eagerly, with
    no profiler, on plain writable CPU arrays, ``tensors`` all float32 or all float64 of
    one shape, no view written through to a base."""
    if current().top is not None or dispatch.PROFILERS:
        return False
    dtype = shape = None
    for t in tensors:
        if t is None:
            continue
        if not _plain(t):
            return False
        data = t._data
        if dtype is None:
            dtype, shape = data.dtype, data.shape
            if dtype not in _FLOATS:
                return False
        elif data.dtype != dtype or data.shape != shape:  # (a mismatch: the ops' errors)
            return False
    for t in counts:
        if not _plain(t) or t._data.dtype != _FLOATS[0] or t._data.ndim:
            return False
    return True


def eager_context() -> bool:
    """Whether a step runs eagerly with no profiler (``eager_arrays``' first condition,
    checked once per step by the optimizers' per-group loops)."""
    return current().top is None and not dispatch.PROFILERS


def plain_arrays(p, grad, state=None, count=None) -> bool:
    """``eager_arrays((p, grad, state), (count,))`` once ``eager_context()`` holds, for
    the usual case of one state tensor (or ``None``) and one step count (or ``None``)."""
    data = p._data
    dtype, shape = data.dtype, data.shape
    if dtype not in _FLOATS or not _plain(p) or not _plain(grad):
        return False
    other = grad._data
    if other.dtype != dtype or other.shape != shape:
        return False
    if state is not None:
        other = state._data
        if not _plain(state) or other.dtype != dtype or other.shape != shape:
            return False
    if count is not None:
        other = count._data
        if not _plain(count) or other.dtype != _FLOATS[0] or other.ndim:
            return False
    return True


def _plain(t) -> bool:
    data = t._data
    return (
        type(data) is np.ndarray
        and not t.is_meta
        and "_view_of" not in t.__dict__
        and data.flags.writeable
    )


def is_float(value) -> bool:
    """A Python number (not a tensor): what the fast path takes for a hyper-parameter."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, without the ABC check (~2 us)
        return True
    return isinstance(value, numbers.Real) and kind is not bool


_MEMO: dict = {}


def memo(fn, *args):
    """``fn(*args)``, remembered for the next calls with equal ``args`` (the scalars of an
    update that every parameter of a step shares: pure functions of hashable arguments)."""
    try:
        return _MEMO[(fn, *args)]
    except KeyError:
        if len(_MEMO) > 256:
            _MEMO.clear()
        value = _MEMO[(fn, *args)] = fn(*args)
        return value


def store(t, value) -> None:
    """``t.copy_(value)`` for an eager CPU tensor and a NumPy result of its shape."""
    np.copyto(t._data, value)
    t._vc[0] += 1
