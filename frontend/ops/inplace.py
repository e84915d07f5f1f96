"""In-place operations (``add_``, ``mul_``, ``zero_``, ``copy_``, ...) with PyTorch's rules.

The new value is computed functionally (so autograd and tracing see an ordinary op), then
stored into the tensor: eagerly into its NumPy buffer (views see the change, as in
PyTorch); under tracing the tensor is re-pointed at the new graph value, and a tensor the
trace captured from outside is recorded as mutated so the compiled function writes it back.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..dispatch import state
from ..tensor import Tensor
from .elementwise import cast


def check_leaf(x: Tensor, op: str) -> None:
    if x.requires_grad and x.grad_fn is None and grad_mode.state.enabled:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an "
                           "in-place operation.")


def assign(x: Tensor, new: Tensor, op: str) -> Tensor:
    """Make ``x`` hold ``new`` (same shape), keeping ``x``'s identity."""
    check_leaf(x, op)
    if tuple(new.shape) != tuple(x.shape):
        raise RuntimeError(f"{op}: output with shape {list(x.shape)} doesn't match the "
                           f"broadcast shape {list(new.shape)}")
    if new.dtype is not x.dtype:
        if new.dtype._category > x.dtype._category:
            raise RuntimeError(f"{op}: result type {new.dtype.name} can't be cast to the "
                               f"desired output type {x.dtype.name}")
        new = cast(new, x.dtype)
    if state.trace is not None:
        state.trace.assign(x, new)
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


def inplace(x: Tensor, name: str, *args, **kwargs) -> Tensor:
    from .. import ops

    if name == "copy_":
        src = args[0]
        src = src if isinstance(src, Tensor) else ops.constant(src, x.dtype)
        from .shape import expand

        return assign(x, cast(expand(src, x.shape), x.dtype), name)
    if name in ("zero_", "fill_"):
        value = 0 if name == "zero_" else args[0]
        from ..creation import full

        fill = value if isinstance(value, Tensor) else full((), value, dtype=x.dtype)
        from .shape import expand

        return assign(x, expand(cast(fill, x.dtype), x.shape), name)
    fn = getattr(ops, name[:-1])
    return assign(x, fn(x, *args, **kwargs), name)


def result_can_cast(x: Tensor, other) -> bool:
    return dtypes.result_type(x, other)._category <= x.dtype._category
