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

import numpy as np

from kiln.compiler.errors import ShapeError
from kiln.compiler.primitives import PRIMITIVES

from .autograd.tape import record
from .context import current, current_trace
from .tensor import Tensor, _wrap

__all__ = [
    "bind",
    "bind_name",
    "constant",
    "current_trace",
    "register_device",
    "register_device_move",
]

_EMPTY: dict = {}

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
    ctx = current()
    top = ctx.top
    if top is not None:
        out = top.process(prim, inputs, params)
    else:  # eager: a device's kernel, else NumPy (inlined: the hot path)
        out = _on_device(prim, inputs, params) if _device_handlers else NotImplemented
        if out is NotImplemented:
            try:
                data = prim.impl(*[x._data for x in inputs], **params)
            except Exception as exc:
                raise _explain(prim, inputs, params, exc) from None
            out = _wrap(data)
            if "view" in prim.properties and np.may_share_memory(data, inputs[0]._data):
                out._vc = inputs[0]._vc  # one version counter per storage
    if ctx.grad_enabled and prim.differentiable:
        for x in inputs:
            if x.requires_grad:
                record(prim, inputs, params, out)
                break
    return out


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


def constant(value, dtype, like: Tensor | None = None) -> Tensor:
    """A constant tensor of ``dtype``: eager data now, or a ``const`` node while tracing.

    ``like=x`` puts the constant on ``x``'s device, as a composite's index or mask for its
    input ``x`` must be (a CUDA tensor mixes only with 0-d CPU tensors). A traced constant
    has no device, and a CPU ``x`` changes nothing.

    >>> constant([0, 2], kiln.int64, like=kiln.ones(3)).device
    device(type='cpu')
    """
    data = np.asarray(value, dtype=dtype.np)
    trace = current_trace()
    if trace is not None:
        return trace.constant(data)
    if like is None or type(like._data) is np.ndarray:  # the CPU path: no device to reach
        return _wrap(data)
    device_type = like.device.type
    move = _device_moves.get(device_type)
    if move is None:
        raise RuntimeError(f"constant: no way to put an array on device {device_type!r}")
    return move(data)
