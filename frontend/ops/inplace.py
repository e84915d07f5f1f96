"""In-place operations (``add_``, ``mul_``, ``zero_``, ``copy_``, ...) with PyTorch's rules.

The new value is computed functionally (so autograd and tracing see an ordinary op), then
stored into the tensor: eagerly into its NumPy buffer (views see the change, as in
PyTorch); under tracing the tensor is re-pointed at the new graph value, and a tensor the
trace captured from outside is recorded as mutated so the compiled function writes it back.
"""

from __future__ import annotations

import numpy as np

from kiln.compiler.errors import TraceError

from .. import dtypes, ops
from ..context import current_trace, is_grad_enabled
from ..creation import full
from ..dispatch import constant
from ..tensor import Tensor
from .elementwise import cast, where
from .shape import expand, pad_axes, permute, reshape


def check_leaf(x: Tensor, op: str) -> None:
    if x.requires_grad and x.grad_fn is None and is_grad_enabled():
        raise RuntimeError(
            f"{op}: a leaf Variable that requires grad is being used in an in-place operation."
        )


def assign(x: Tensor, new: Tensor, op: str) -> Tensor:
    """Make ``x`` hold ``new`` (same shape), keeping ``x``'s identity."""
    check_leaf(x, op)
    if tuple(new.shape) != tuple(x.shape):
        raise RuntimeError(
            f"{op}: output with shape {list(x.shape)} doesn't match the "
            f"broadcast shape {list(new.shape)}"
        )
    if new.dtype is not x.dtype:
        if new.dtype._category > x.dtype._category:
            raise RuntimeError(
                f"{op}: result type {new.dtype.name} can't be cast to the "
                f"desired output type {x.dtype.name}"
            )
        new = cast(new, x.dtype)
    trace = current_trace()
    if trace is not None:
        trace.assign(x, new)
        view_of = getattr(x, "_view_of", None)
        if view_of is not None:  # x is a view: the update reaches its base, as eagerly
            base, view_op, params = view_of
            assign(base, _into_base(base, view_op, params, new), op)
    elif new._node is None:
        if type(x._data) is not np.ndarray:  # a CUDA tensor: copy on the device
            from .. import cuda

            cuda.copy_into(x, new)
        elif x._data.flags.writeable:
            np.copyto(x._data, new._data)
        else:  # a broadcast view: give x its own storage, as PyTorch would have
            x._data = np.array(new._data)
    x._version += 1
    if new.grad_fn is not None:
        x.grad_fn = new.grad_fn
        x.requires_grad = True
    return x


def _into_base(base: Tensor, view_op: str, params: dict, new: Tensor) -> Tensor:
    """The base tensor with its view replaced by ``new`` (the inverse of the view op)."""

    if view_op == "reshape":
        return reshape(new, base.shape)
    if view_op == "permute":
        inverse = [0] * len(params["axes"])
        for i, a in enumerate(params["axes"]):
            inverse[a] = i
        return permute(new, inverse)
    starts, stops, steps = params["starts"], params["stops"], params["steps"]
    if any(s != 1 for s in steps):
        raise TraceError(
            "an in-place update of a strided slice (x[::2].add_(...)) cannot be "
            "traced; use kiln.where or index assignment (x[::2] = ...)"
        )
    pads = [(a, n - b) for a, b, n in zip(starts, stops, base.shape)]
    mask = np.zeros(tuple(base.shape), dtype=bool)
    mask[tuple(slice(a, b) for a, b in zip(starts, stops))] = True

    mask = constant(mask, dtypes.bool_, like=base)
    return where(mask, pad_axes(cast(new, base.dtype), pads, 0), base)


def inplace(x: Tensor, name: str, *args, **kwargs) -> Tensor:

    if name == "copy_":
        src = args[0]
        src = src if isinstance(src, Tensor) else ops.constant(src, x.dtype, like=x)

        return assign(x, cast(expand(src, x.shape), x.dtype), name)
    if name in ("zero_", "fill_"):
        value = 0 if name == "zero_" else args[0]

        fill = value if isinstance(value, Tensor) else full((), value, dtype=x.dtype)

        return assign(x, expand(cast(fill, x.dtype), x.shape), name)
    fn = getattr(ops, name[:-1])
    return assign(x, fn(x, *args, **kwargs), name)


def _namespace_inplace(name: str):
    """``kiln.relu_(x)``: the function form of the method ``x.relu_()`` (PyTorch has both)."""

    def fn(x: Tensor, *args, **kwargs) -> Tensor:
        return inplace(x, name, *args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"In place: ``x.{name}(...)``."
    return fn


# PyTorch's namespace has these in-place functions (but no ``add_``/``mul_``).
__all__ = ["clamp_", "exp_", "fill_", "relu_", "sigmoid_", "tanh_", "zero_"]
clamp_, exp_, fill_, relu_, sigmoid_, tanh_, zero_ = map(_namespace_inplace, __all__)


def result_can_cast(x: Tensor, other) -> bool:
    return dtypes.result_type(x, other)._category <= x.dtype._category
