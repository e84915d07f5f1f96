"""The ``meta`` device: tensors with a shape and a dtype and no data.

A meta tensor's ``_data`` is a zero-strided NumPy view of one element, so it has the shape
and dtype every shape rule needs and occupies no memory. Operations on meta tensors run
only the primitives' shape rules (``meta_bind``, a device handler of ``kiln.dispatch``), so
a model built or run on ``meta`` costs nothing; autograd still records (shapes of
gradients can be reasoned about too). Reading values is an error, as in PyTorch; a module
gets real storage with ``to_empty`` or ``load_state_dict(assign=True)``.

>>> import kiln
>>> x = kiln.empty(1000, 1000, device="meta")
>>> y = (x @ x).sum(0)
>>> y.shape, y.device, y.is_meta
(kiln.Size([1000]), device(type='meta'), True)
"""

from __future__ import annotations

import numpy as np

from . import dispatch, dtypes
from .device import device as _device
from .tensor import Tensor, _wrap

__all__ = ["META", "MetaTensor", "empty", "meta_bind", "to_meta"]

META = _device("meta")


def _no_data(what: str):
    raise NotImplementedError(f"Cannot {what} of a meta tensor; it has no data!")


class MetaTensor(Tensor):
    """A tensor on the ``meta`` device (shape and dtype only)."""

    __slots__ = ()
    is_meta = True
    _cpu_class = Tensor

    @property
    def device(self):
        return META

    def numpy(self, *args, **kwargs):
        _no_data("convert to NumPy the values")

    def __array__(self, dtype=None, copy=None):
        _no_data("convert to NumPy the values")

    def item(self):
        raise RuntimeError("Tensor.item() cannot be called on meta tensors")

    def tolist(self):
        _no_data("read the values")

    def __bool__(self):
        raise RuntimeError("Tensor.item() cannot be called on meta tensors")

    def detach(self):
        return empty(self.shape, self.dtype)

    def to(self, *args, **kwargs):
        target = kwargs.get("device")
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, dtypes.dtype):
                dtype = a
            elif isinstance(a, (str, _device)):
                target = a
        if target is not None and _device(target).type != "meta":
            raise NotImplementedError(
                "Cannot copy out of meta tensor; no data! Please use "
                "torch.nn.Module.to_empty() instead of torch.nn.Module.to() when moving "
                "module from meta to a different device."
            )
        return self if dtype is None or dtype is self.dtype else meta_cast(self, dtype)


def empty(shape, dtype, requires_grad: bool = False) -> MetaTensor:
    """A meta tensor of ``shape`` and ``dtype`` (no storage)."""
    dt = dtypes.as_dtype(dtype)
    _enable()
    t = _wrap(np.broadcast_to(np.zeros((), dtype=dt.np), tuple(shape)))
    t.__class__ = MetaTensor
    t._requires_grad = requires_grad
    return t


def meta_cast(x: Tensor, dtype) -> MetaTensor:
    return empty(x.shape, dtype)


def to_meta(x: Tensor) -> MetaTensor:
    """``x.to("meta")``: a tensor of the same shape and dtype without data."""
    if x._node is not None:
        raise RuntimeError("to('meta'): a traced tensor cannot move to the meta device")
    if isinstance(x, MetaTensor):
        return x
    _enable()
    out = empty(x.shape, x.dtype)
    out.requires_grad = x.requires_grad
    return out


def meta_bind(prim, inputs, params):
    """``kiln.dispatch.bind`` for meta tensors: the shape rule only."""
    on_meta = False
    for x in inputs:
        if isinstance(x, MetaTensor):
            on_meta = True
            break
    if not on_meta:
        return NotImplemented
    for x in inputs:
        if not isinstance(x, MetaTensor) and x.ndim != 0:
            raise RuntimeError(
                f"{prim.name}: Expected all tensors to be on the same device, but found at "
                f"least two devices, meta and {x.device}!"
            )
    shape, dtype = prim.shape_rule(
        [tuple(x.shape) for x in inputs], [x.dtype.name for x in inputs], **params
    )
    return empty(shape, dtypes.as_dtype(dtype))


_enabled = False


def _enable() -> None:
    global _enabled
    if not _enabled:
        dispatch.register_device(meta_bind)
        _enabled = True


_META_CLASSES: dict = {}


def meta_class(cls: type) -> type:
    """The meta version of a tensor class (``Parameter`` -> ``MetaParameter``)."""
    if issubclass(cls, MetaTensor):
        return cls
    found = _META_CLASSES.get(cls)
    if found is None:
        found = type(
            f"Meta{cls.__name__}",
            (MetaTensor, cls),
            {"__slots__": (), "_cpu_class": cls, "__module__": cls.__module__},
        )
        _META_CLASSES[cls] = found
    return found


def adopt(t: Tensor, value) -> None:
    """``t.data = value`` across the meta boundary: ``t`` keeps its identity (a Parameter
    held by an optimizer) and becomes a meta tensor, or gets real storage again."""
    if isinstance(value, MetaTensor):
        t.__class__ = meta_class(type(t))
        t._data = value._data
        return
    if isinstance(t, MetaTensor):
        t.__class__ = type(t)._cpu_class
    t.data = value
