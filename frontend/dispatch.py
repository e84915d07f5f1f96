"""The one bind point: every tensor operation in kiln goes through ``bind``.

``bind(prim, inputs, params)`` looks at the state and the inputs:

* while a function is being traced (``kiln.jit``, ``kiln.trace``), it appends a node to the
  graph being traced and returns a tracer tensor;
* otherwise it runs the op table's NumPy implementation at once.

Autograd recording happens here too, in both modes, so the VJP rules that run on the eager
tape become backward nodes of a graph when the backward pass is traced. There is no second
implementation of any op.

This is the hottest path of eager mode: keep it lean.
"""

from __future__ import annotations

import numpy as np

from kiln.compiler.errors import ShapeError
from kiln.compiler.primitives import PRIMITIVES

from . import tensor as _tensor_module
from .autograd import grad_mode
from .tensor import Tensor, _wrap

_EMPTY: dict = {}


class _State:
    """Module-level switches read on every op (attribute lookups are the cheapest test)."""

    trace = None  # the active kiln.tracing.TraceState, or None
    devices = False  # True once a non-CPU tensor exists: bind then routes through device_bind
    device_bind = None  # set by kiln.cuda: (prim, inputs, params) -> Tensor or NotImplemented


state = _State()
_tensor_module._dispatch_state = state

_record = None  # set by autograd.tape at import (avoids an import cycle on the hot path)


def current_trace():
    """The ``TraceState`` this thread is recording into, or ``None`` when running eagerly."""
    return state.trace


def bind(prim, inputs, params=_EMPTY) -> Tensor:
    """Apply primitive ``prim`` to ``inputs`` (tensors of one device)."""
    if state.trace is not None:
        return state.trace.bind(prim, inputs, params)
    if state.devices:
        out = state.device_bind(prim, inputs, params)
        if out is not NotImplemented:
            return out
    try:
        data = prim.impl(*[x._data for x in inputs], **params)
    except Exception as exc:
        raise _explain(prim, inputs, params, exc) from None
    out = _wrap(data)
    if grad_mode.state.enabled and prim.differentiable:
        for x in inputs:
            if x.requires_grad:
                _record(prim, inputs, params, out)
                break
    return out


def bind_name(name: str, inputs, params=_EMPTY) -> Tensor:
    return bind(PRIMITIVES[name], inputs, params)


def _explain(prim, inputs, params, exc: Exception) -> Exception:
    """Turn a NumPy failure into kiln's error: the op, the shapes and the dtypes."""
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


def constant(value, dtype) -> Tensor:
    """A constant tensor of ``dtype``: eager data now, or a ``const`` node while tracing."""
    data = np.asarray(value, dtype=dtype.np)
    if state.trace is not None:
        return state.trace.constant(data)
    return _wrap(data)
