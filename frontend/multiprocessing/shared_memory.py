"""Tensors in memory that processes share (``Tensor.share_memory_``, PyTorch's
"file_descriptor" sharing strategy).

``share_memory_()`` moves a tensor's values into a memfd (an anonymous file in memory,
Linux) mapped MAP_SHARED: a child made by fork sees the same pages, so the Hogwild recipe
(``model.share_memory()``, then several processes train one model) updates the parent's
parameters. Sent through a ``kiln.multiprocessing`` queue or as a spawned process's
argument, a shared tensor travels as its file descriptor and arrives sharing the memory; a
tensor that is not shared arrives as a copy of its values (PyTorch moves it into shared
memory as it is sent: kiln copies instead).

Views taken before ``share_memory_()`` keep the old memory (PyTorch moves the storage under
them); take views after it.
"""

from __future__ import annotations

import mmap
import os
import weakref

import numpy as np


def _mapping_of(array: np.ndarray):
    """``(mmap, base array)`` where ``array`` lives in memory that ``share_memory_`` made,
    else ``(None, None)``."""
    owner = array
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    buffer = owner.base.obj if isinstance(owner.base, memoryview) else owner.base
    if isinstance(buffer, mmap.mmap) and owner.dtype == np.uint8:
        return buffer, owner
    return None, None


def is_shared(tensor) -> bool:
    data = tensor._data
    return type(data) is np.ndarray and _mapping_of(data)[0] is not None


# id(mapping) -> the memfd behind it, kept open while the mapping lives (to send it on)
_DESCRIPTORS: dict[int, int] = {}


def _forget(key: int, fd: int) -> None:
    _DESCRIPTORS.pop(key, None)
    os.close(fd)


def _mapped(fd: int, size: int) -> mmap.mmap:
    mapping = mmap.mmap(fd, size)
    _DESCRIPTORS[id(mapping)] = fd
    weakref.finalize(mapping, _forget, id(mapping), fd)
    return mapping


def _new_mapping(nbytes: int) -> mmap.mmap:
    size = max(int(nbytes), 1)  # (mmap refuses length 0)
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("kiln-shared-tensor", os.MFD_CLOEXEC)
        os.ftruncate(fd, size)
        return _mapped(fd, size)
    return mmap.mmap(-1, size)  # anonymous MAP_SHARED: shared with forked children only


def share_memory_(tensor):
    """Move ``tensor``'s values into shared memory, in place (a no-op if already shared)."""
    data = tensor._data
    if tensor._node is not None:
        raise RuntimeError("share_memory_: a tensor under kiln.jit has no memory to share")
    if getattr(tensor, "is_meta", False) or type(data) is not np.ndarray:
        return tensor  # (PyTorch: a no-op for CUDA tensors; meta tensors have no data)
    if is_shared(tensor):
        return tensor
    if "_view_of" in tensor.__dict__:  # autograd would write its updates into the old base
        raise RuntimeError(
            f"share_memory_: this tensor (shape {list(tensor.shape)}) is a view that autograd "
            "recorded; kiln cannot move its base's memory with it: share the base tensor first"
        )
    mapping = _new_mapping(data.nbytes)
    raw = np.frombuffer(mapping, dtype=np.uint8)
    shared = raw[: data.nbytes].view(data.dtype).reshape(data.shape)
    np.copyto(shared, data)
    tensor._data = shared
    return tensor


def _rebuild_shared(cls, fd_holder, size, dtype, shape, strides, offset, requires_grad):
    mapping = _mapped(fd_holder.detach(), size)
    raw = np.frombuffer(mapping, dtype=np.uint8)
    data = np.ndarray(shape, dtype=np.dtype(dtype), buffer=raw, offset=offset, strides=strides)
    return _as_tensor(cls, data, requires_grad)


def _as_tensor(cls, data, requires_grad):
    from ..tensor import _wrap

    out = _wrap(data)
    out._requires_grad = bool(requires_grad)
    return out


def reduce_tensor(tensor):
    """How ``kiln.multiprocessing`` pickles a tensor: a shared one by its file descriptor
    (it arrives sharing the memory), any other plain one by value."""
    from multiprocessing.reduction import DupFd

    data = tensor._data
    mapping = owner = None
    if tensor._node is None and type(data) is np.ndarray and hasattr(os, "memfd_create"):
        mapping, owner = _mapping_of(data)
    if mapping is None or id(mapping) not in _DESCRIPTORS:
        return tensor.__reduce_ex__(2)  # (by value, as pickle does)
    offset = data.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    return _rebuild_shared, (
        type(tensor),
        DupFd(_DESCRIPTORS[id(mapping)]),
        len(mapping),
        data.dtype.str,
        data.shape,
        data.strides,
        offset,
        tensor.requires_grad,
    )
