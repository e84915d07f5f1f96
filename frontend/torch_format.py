"""Reading files written by PyTorch's ``torch.save`` (``kiln.load`` hands them here).

A ``torch.save`` file is a zip archive: ``<root>/data.pkl`` (a pickle of the object, each
storage replaced by a persistent id ``('storage', StorageType, key, location, numel)``),
``<root>/data/<key>`` (each storage's bytes) and ``<root>/byteorder``. This module reads
it without PyTorch, as PyTorch's ``weights_only=True`` does: the unpickler resolves only an
allowlist of globals (PyTorch's tensor and parameter rebuild functions, storage types,
dtypes, ``torch.Size``, ``OrderedDict`` and plain containers), so a crafted file cannot
run code; any other global raises ``pickle.UnpicklingError`` naming it. Tensors come back
as kiln tensors with PyTorch's shapes, strides and dtypes; tensors that shared a storage
in the saved process share memory again (tied weights), parameters come back as
``kiln.nn.Parameter``.

>>> is_torch_archive(["archive/data.pkl", "archive/data/0", "archive/byteorder"])
'archive'
"""

from __future__ import annotations

import builtins
import collections
import io
import pickle
import zipfile

import numpy as np

__all__ = ["is_torch_archive", "load_archive", "load_bytes"]

# PyTorch's storage type names -> NumPy dtype names ("bfloat16": kiln's own dtype)
_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "UntypedStorage": "uint8",
}
_DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "short": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "bool": "bool",
    "complex64": "complex64",
    "cfloat": "complex64",
    "complex128": "complex128",
    "cdouble": "complex128",
}


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def is_torch_archive(names) -> str | None:
    """The root folder of a ``torch.save`` archive with member ``names``, or None."""
    for name in names:
        root, _, leaf = name.rpartition("/")
        if leaf == "data.pkl" and "/" not in root:
            return root
    return None


def load_bytes(data: bytes, weights_only: bool = True):
    """The object in the ``torch.save`` file ``data``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return load_archive(archive, "<bytes>", weights_only)


def load_archive(archive: zipfile.ZipFile, name: str, weights_only: bool = True):
    """The object in the ``torch.save`` zip ``archive`` (``name`` for messages)."""
    from .serialization import SerializationError

    names = set(archive.namelist())
    root = is_torch_archive(names)
    if root is None:
        raise SerializationError(f"kiln.load: {name} is not a torch.save archive")
    order = f"{root}/byteorder"
    if order in names and archive.read(order).strip() not in (b"little", b""):
        raise SerializationError(f"kiln.load: {name} was saved big-endian; not supported")
    storages: dict[str, np.ndarray] = {}

    def storage(key: str, dtype: str, numel: int) -> np.ndarray:
        if key not in storages:
            member = f"{root}/data/{key}"
            if member not in names:
                raise SerializationError(f"kiln.load: {name} lacks the storage {member}")
            raw = bytearray(archive.read(member))  # (writable: tensors may be changed)
            base = np.frombuffer(raw, dtype=_numpy_dtype(dtype))
            if base.size < numel:
                raise SerializationError(
                    f"kiln.load: {name}: storage {key} holds {base.size} elements, "
                    f"the file says {numel}"
                )
            storages[key] = base
        return storages[key]

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, qualname):
            found = _allowed(module, qualname)
            if found is not None:
                return found
            if not weights_only:
                raise pickle.UnpicklingError(
                    f"kiln.load: {name} holds a {module}.{qualname}, a PyTorch object kiln "
                    "cannot rebuild (a whole torch module?); save its state_dict() with torch "
                    "and load that"
                )
            raise pickle.UnpicklingError(
                f"Weights only load failed: {name} holds the global {module}.{qualname}, "
                "which kiln.load does not unpickle (it loads tensors, parameters, state "
                "dicts and plain containers from torch.save files)"
            )

        def persistent_load(self, saved_id):
            if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] == "storage"):
                raise pickle.UnpicklingError(f"kiln.load: {name}: unknown reference {saved_id!r}")
            _, kind, key, _location, numel = saved_id
            if not isinstance(kind, _StorageType):
                raise pickle.UnpicklingError(f"kiln.load: {name}: unknown storage {kind!r}")
            return _Storage(storage(str(key), kind.dtype, int(numel)))

    with archive.open(f"{root}/data.pkl") as file:
        return Unpickler(file, encoding="utf-8").load()


class _Storage:
    def __init__(self, array: np.ndarray):
        self.array = array


def _numpy_dtype(name: str):
    if name == "bfloat16":  # (ml_dtypes' type, loaded with kiln.bfloat16 on first use)
        import kiln

        return kiln.bfloat16.np
    return np.dtype(name)


def _tensor(storage, offset, size, stride, dtype_name=None):
    import kiln

    base = storage.array
    if dtype_name is not None and np.dtype(_numpy_dtype(dtype_name)) != base.dtype:
        base = base.view(_numpy_dtype(dtype_name))
    size, stride = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    if any(n < 0 for n in size) or any(s < 0 for s in stride) or len(size) != len(stride):
        raise pickle.UnpicklingError(f"kiln.load: bad tensor geometry {size} / {stride}")
    if all(size):
        last = int(offset) + sum((n - 1) * s for n, s in zip(size, stride))
        if offset < 0 or last >= base.size:
            raise pickle.UnpicklingError(
                f"kiln.load: a tensor of size {size} and stride {stride} at offset {offset} "
                f"reads past its storage of {base.size} elements"
            )
    itemsize = base.itemsize
    view = np.lib.stride_tricks.as_strided(
        base[int(offset) :] if base.size else base,
        shape=size,
        strides=tuple(s * itemsize for s in stride),
        writeable=True,
    )
    return kiln.from_numpy(view)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    tensor = _tensor(storage, offset, size, stride)
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def _rebuild_tensor_v3(
    storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None, *rest
):
    tensor = _tensor(storage, offset, size, stride, dtype.name)
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def _rebuild_parameter(data, requires_grad, hooks=None, *rest):
    import kiln

    return kiln.nn.Parameter(data, requires_grad=requires_grad)


def _rebuild_from_type_v2(function, kind, arguments, state):
    # (``kind`` can only be ``_Tensor``: ``_allowed`` resolves no other tensor type; Python
    # attributes a tensor carried, ``state``, are not restored)
    return function(*arguments)


class _Tensor:
    """``torch.Tensor`` as a global (``_rebuild_from_type_v2``'s type argument)."""


def _size(*args):
    return tuple(*args)


def _allowed(module: str, qualname: str):
    if module == "collections" and qualname == "OrderedDict":
        return collections.OrderedDict
    if module == "builtins" and qualname in ("set", "frozenset", "tuple", "list", "dict"):
        return getattr(builtins, qualname)
    if module == "torch._utils":
        return {
            "_rebuild_tensor_v2": _rebuild_tensor_v2,
            "_rebuild_tensor_v3": _rebuild_tensor_v3,
            "_rebuild_parameter": _rebuild_parameter,
            "_rebuild_parameter_with_state": _rebuild_parameter,
        }.get(qualname)
    if module == "torch._tensor" and qualname == "_rebuild_from_type_v2":
        return _rebuild_from_type_v2
    if module == "torch" or module == "torch.storage":
        if qualname in _STORAGE_DTYPES:
            return _StorageType(qualname)
        if qualname in _DTYPES:  # (kiln's dtype of the same name)
            import kiln

            dtype = getattr(kiln, _DTYPES[qualname], None)
            if dtype is not None:
                return dtype
        if qualname == "Size":
            return _size
        if qualname == "Tensor":
            return _Tensor
    if module == "torch.nn.parameter" and qualname == "Parameter":
        return _Tensor
    return None
