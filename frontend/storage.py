"""``Tensor.untyped_storage()`` and ``Tensor.storage()``: the memory under a tensor.

An eager CPU tensor's data is a NumPy array, perhaps a view of another; its storage is the
array at the bottom of that chain (the one NumPy allocated), shared by all the views of
it, as PyTorch's views share their base's storage. ``UntypedStorage`` reads it as bytes,
``TypedStorage`` (PyTorch's legacy ``tensor.storage()``) as elements of the tensor's dtype;
both write through to every tensor over that memory.

>>> import kiln
>>> t = kiln.zeros(4, 4)
>>> t.untyped_storage().data_ptr() == t.view(2, 8).untyped_storage().data_ptr()
True
>>> t.storage().size(), t.untyped_storage().nbytes()
(16, 64)
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["TypedStorage", "UntypedStorage"]


def _root_array(t, what: str) -> np.ndarray:
    from .ops.surface16 import _root

    data = t._data
    if t._node is not None:  # (kiln.compile: the call runs eagerly, as torch's graph break)
        t._concrete(f"{what}()", "read the storage outside the compiled function")
    if type(data) is not np.ndarray or t.is_meta:
        kind = f"a {t.device}"
        raise RuntimeError(
            f"{what}: {kind} tensor has no host storage kiln can expose (only an eager CPU "
            "tensor's memory is a storage)"
        )
    root = _root(data)
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        raise RuntimeError(f"{what}: the tensor's memory is not one dense block")
    return root


def _bytes_of(root: np.ndarray) -> np.ndarray:
    flat = root.reshape(-1, order="C" if root.flags.c_contiguous else "F")  # a view: dense
    return flat.view(np.uint8)


class UntypedStorage:
    """The bytes under a tensor (``torch.UntypedStorage``)."""

    __slots__ = ("_bytes", "device")

    def __init__(self, array: np.ndarray):
        self._bytes = _bytes_of(array)
        from .device import CPU

        self.device = CPU

    def size(self) -> int:
        return int(self._bytes.size)

    def nbytes(self) -> int:
        return int(self._bytes.size)

    def __len__(self) -> int:
        return int(self._bytes.size)

    def element_size(self) -> int:
        return 1

    def data_ptr(self) -> int:
        return int(self._bytes.__array_interface__["data"][0])

    def __getitem__(self, index):
        value = self._bytes[index]
        return value.tolist() if isinstance(value, np.ndarray) else int(value)

    def __setitem__(self, index, value) -> None:
        self._bytes[index] = value

    def tolist(self) -> list:
        return self._bytes.tolist()

    def fill_(self, value):
        self._bytes[...] = value
        return self

    @property
    def is_cuda(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"UntypedStorage of {self.size()} bytes at {self.data_ptr():#x}"


class TypedStorage:
    """The elements under a tensor, in its dtype (PyTorch's deprecated ``TypedStorage``)."""

    __slots__ = ("_elements", "dtype", "device")

    def __init__(self, array: np.ndarray, dtype):
        from .device import CPU

        self._elements = _bytes_of(array).view(dtype.np)
        self.dtype = dtype
        self.device = CPU

    def size(self) -> int:
        return int(self._elements.size)

    def __len__(self) -> int:
        return int(self._elements.size)

    def nbytes(self) -> int:
        return int(self._elements.nbytes)

    def element_size(self) -> int:
        return self.dtype.itemsize

    def data_ptr(self) -> int:
        return int(self._elements.__array_interface__["data"][0])

    def untyped(self) -> UntypedStorage:
        return UntypedStorage(self._elements)

    def __getitem__(self, index):
        value = self._elements[index]
        return value.tolist() if isinstance(value, np.ndarray) else value.item()

    def __setitem__(self, index, value) -> None:
        self._elements[index] = value

    def tolist(self) -> list:
        return self._elements.tolist()

    def fill_(self, value):
        self._elements[...] = value
        return self

    @property
    def is_cuda(self) -> bool:
        return False

    def __repr__(self) -> str:
        values = " " + "\n ".join(str(v) for v in self.tolist()[:20])
        more = "\n ..." if self.size() > 20 else ""
        return (
            f"{values}{more}\n[torch.storage.TypedStorage(dtype={self.dtype}, size={self.size()})]"
        )


_WARNED = [False]


def untyped_storage(t) -> UntypedStorage:
    return UntypedStorage(_root_array(t, "untyped_storage"))


def typed_storage(t) -> TypedStorage:
    if not _WARNED[0]:  # PyTorch warns once per process
        _WARNED[0] = True
        warnings.warn(
            "TypedStorage is deprecated. It will be removed in the future and UntypedStorage "
            "will be the only storage class. This should only matter to you if you are using "
            "storages directly.  To access UntypedStorage directly, use "
            "tensor.untyped_storage() instead of tensor.storage()",
            UserWarning,
            stacklevel=3,
        )
    return TypedStorage(_root_array(t, "storage"), t.dtype)
