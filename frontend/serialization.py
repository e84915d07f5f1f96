"""``kiln.save`` / ``kiln.load``: tensors and state dicts in a format that never runs code.

A saved file is a zip archive holding

* ``manifest.json``: the structure of the saved object (dicts, lists, tuples, numbers,
  strings, ``None``, dtypes) with each tensor replaced by a reference ``{"$tensor": k}``;
* ``tensors/<k>.npy``: the data of tensor ``k`` in NumPy's ``.npy`` format, read back with
  ``np.load(allow_pickle=False)``.

Saving to a path is atomic: the archive is written to a temporary file in the same folder,
flushed to disk (``fsync``) and renamed over the target, so a crash, a kill or a full disk
mid-write leaves the previous file at that path intact (PyTorch's ``torch.save`` does not).
A damaged file makes ``kiln.load`` raise ``SerializationError`` naming the file and what is
wrong with it (truncated archive, bad checksum, unreadable tensor data).

Loading parses JSON and raw arrays only, so a crafted file can at worst fail to load; it
cannot execute anything (a bare pickle is refused outright). Files written by PyTorch's
``torch.save`` are read too (``torch_format.py``), as PyTorch's ``weights_only=True``
reads them: their pickle may name only tensors, parameters, dtypes and plain containers. A tensor
saved twice in one object (shared weights) is stored once and comes back shared.

Other objects (a whole ``nn.Module``, as in ``torch.save(model, path)``) are pickled into
``pickles/<k>.pkl`` members; as in PyTorch, ``kiln.load`` unpickles them only when asked
with ``weights_only=False`` (for files you trust), and otherwise raises
``pickle.UnpicklingError`` naming the object's type.

>>> import io, kiln
>>> buffer = io.BytesIO()
>>> kiln.save({"w": kiln.ones(2), "step": 3}, buffer)
>>> _ = buffer.seek(0)
>>> kiln.load(buffer)
{'w': tensor([1., 1.]), 'step': 3}
"""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import tempfile
import zipfile
import zlib

import numpy as np

from . import dtypes, torch_format
from .tensor import Tensor, _wrap

FORMAT = "kiln.save"
VERSION = 1
_MANIFEST = "manifest.json"


class SerializationError(RuntimeError, ValueError):
    """A file that ``kiln.load`` will not read (not a kiln archive, or a malformed one).

    A RuntimeError first, as PyTorch's ``torch.load`` raises for a truncated or damaged
    archive ("PytorchStreamReader failed reading zip archive"), so a PyTorch user's
    ``except RuntimeError`` catches it; a ValueError too, as kiln raised before."""


class EmptyFileError(EOFError, SerializationError):
    """``kiln.load`` of an empty file: PyTorch raises EOFError there."""


class PickleFileError(pickle.UnpicklingError, SerializationError):
    """``kiln.load`` of a bare pickle, which kiln never unpickles: PyTorch's
    ``weights_only=True`` refuses it with ``pickle.UnpicklingError`` (and its
    ``weights_only=False`` with RuntimeError 'Invalid magic number')."""


# ------------------------------------------------------------------------------ saving


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Write ``obj`` (tensors, arrays, numbers, strings and containers of them) to ``f``.

    ``f`` is a path or a binary file object. Any other object in ``obj`` (a whole module,
    say) is pickled, with ``pickle_module`` (default ``pickle``) and ``pickle_protocol``;
    reading it back needs ``kiln.load(..., weights_only=False)``.
    """
    arrays: list = []  # NumPy arrays, and the pickled objects' bytes
    seen: dict[int, int] = {}
    pickler = (pickle_module or pickle, pickle_protocol)
    tree = _encode(obj, arrays, seen, "obj", pickler)
    manifest = {"format": FORMAT, "version": VERSION, "tree": tree}
    if isinstance(f, (str, os.PathLike)):
        _save_atomically(manifest, arrays, os.fspath(f))
    else:
        _write_archive(f, manifest, arrays)


def _write_archive(target, manifest: dict, arrays: list) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest, indent=1, allow_nan=False))
        for k, array in enumerate(arrays):
            if isinstance(array, bytes):
                archive.writestr(f"pickles/{k}.pkl", array)
                continue
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(f"tensors/{k}.npy", buffer.getvalue())


def _save_atomically(manifest: dict, arrays: list[np.ndarray], path: str) -> None:
    """Write the archive next to ``path``, fsync it, rename it over ``path`` (and fsync
    the folder, so the rename itself survives a crash)."""
    path = os.path.realpath(path)  # (a symlink's target is replaced, not the link)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):  # (PyTorch's class and words, not mkstemp's temporary name)
        raise RuntimeError(f"Parent directory {folder} does not exist.")
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as target:
            _write_archive(target, manifest, arrays)
            target.flush()
            os.fsync(target.fileno())
        os.chmod(temporary, _file_mode(path))
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:
        directory = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def _file_mode(path: str) -> int:
    """The mode the saved file gets: the old file's, else what ``open`` would give."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` sets it, which races
    with other threads creating files)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _encode(obj, arrays, seen, path, pickler=None):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"$float": repr(obj)}
    if isinstance(obj, Tensor):
        if obj.is_sparse:  # (its _data is a placeholder, kiln.sparse)
            raise NotImplementedError(
                f"kiln.save: {path} is a sparse (kiln.sparse_coo) tensor, which kiln cannot "
                "save yet; save its coalesce().indices(), values() and shape instead"
            )
        if obj.is_quantized:  # (integers + quantizer; its _data is a placeholder, kiln.ao)
            return {"$quantized": _encode(list(obj.__reduce_ex__(2)[1]), arrays, seen, path)}
        if obj._node is not None or obj._data is None:  # (a tracer's _data: no values)
            raise TypeError(
                f"kiln.save: {path} is a traced tensor (inside kiln.jit); save "
                "concrete tensors outside the jitted function"
            )
        if obj._data.dtype.kind == "V":  # bfloat16: stored as its uint16 bits
            return {
                "$bfloat16": _store(obj._data.view(np.uint16), arrays, seen, id(obj)),
                "requires_grad": bool(obj.requires_grad),
            }
        return {
            "$tensor": _store(obj._data, arrays, seen, id(obj)),
            "requires_grad": bool(obj.requires_grad),
        }
    if isinstance(obj, np.ndarray):
        return {"$ndarray": _store(obj, arrays, seen, id(obj))}
    if isinstance(obj, np.generic):
        return _encode(obj.item(), arrays, seen, path, pickler)
    if isinstance(obj, dtypes.dtype):
        return {"$dtype": obj.name}
    if isinstance(obj, dict):
        kind = (
            "Counter"
            if isinstance(obj, collections.Counter)
            else ("OrderedDict" if isinstance(obj, collections.OrderedDict) else "dict")
        )
        items = [
            [_encode_key(k, path), _encode(v, arrays, seen, f"{path}[{k!r}]", pickler)]
            for k, v in obj.items()
        ]
        metadata = getattr(obj, "_metadata", None)  # a state_dict's module versions
        if kind == "OrderedDict" and isinstance(metadata, dict):
            return {"$" + kind: items, "metadata": _encode(metadata, arrays, seen, path, None)}
        return {"$" + kind: items}
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return {
            "$tuple": [_encode(v, arrays, seen, f"{path}[{i}]", pickler) for i, v in enumerate(obj)]
        }
    if isinstance(obj, list):
        return [_encode(v, arrays, seen, f"{path}[{i}]", pickler) for i, v in enumerate(obj)]
    if pickler is not None:
        module, protocol = pickler
        try:
            data = module.dumps(obj, protocol=protocol)
        except Exception as exc:
            raise TypeError(
                f"kiln.save: cannot save {path} of type {type(obj).__name__}: it is not a "
                f"tensor, array, number, string or container of them, and pickling it "
                f"failed: {type(exc).__name__}: {exc}"
            ) from exc
        arrays.append(data)
        return {"$pickle": len(arrays) - 1, "type": _qualname(type(obj))}
    raise TypeError(
        f"kiln.save: cannot save {path} of type {type(obj).__name__}; kiln saves "
        "tensors, NumPy arrays, numbers, strings, None, dtypes and dicts, lists and "
        "tuples of them (no pickled objects)"
    )


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _encode_key(key, path):
    if key is None or isinstance(key, (bool, int, float, str)):
        return _encode(key, [], {}, path)
    if isinstance(key, tuple):
        return {"$tuple": [_encode_key(k, path) for k in key]}
    raise TypeError(
        f"kiln.save: dict key {key!r} in {path} has type {type(key).__name__}; "
        "keys must be strings, numbers, None or tuples of them"
    )


def _store(array: np.ndarray, arrays: list, seen: dict, key: int) -> int:
    if array.dtype.kind not in "biufc":
        raise TypeError(f"kiln.save: arrays of dtype {array.dtype} cannot be saved")
    if key not in seen:
        seen[key] = len(arrays)
        arrays.append(np.require(array, requirements="C"))  # (0-d stays 0-d)
    return seen[key]


# ------------------------------------------------------------------------------ loading


def load(
    f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args
):
    """Read an object written by ``kiln.save`` from a path or binary file object.

    kiln archives and ``torch.save`` files (their pickle restricted to tensors,
    parameters, dtypes and containers: ``torch_format.py``) are read; a bare pickle is
    refused, since unpickling can run arbitrary code. Objects that ``kiln.save`` pickled
    (a whole module) are unpickled only with ``weights_only=False``; otherwise
    ``pickle.UnpicklingError``.
    ``map_location`` is accepted and ignored (CPU).
    """
    own = isinstance(f, (str, os.PathLike))
    source = open(f, "rb") if own else f
    try:
        return _load(source, f, weights_only, pickle_module or pickle)
    except SerializationError as exc:
        name = _name(f)
        if name in str(exc):
            raise
        raise type(exc)(f"kiln.load: {name}: {str(exc).removeprefix('kiln.load: ')}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as exc:
        raise SerializationError(
            f"kiln.load: {_name(f)} is damaged (truncated or overwritten?): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    finally:
        if own:
            source.close()


def _load(source, f, weights_only=True, pickle_module=pickle):
    head = source.read(4)
    source.seek(-len(head), io.SEEK_CUR)
    if head[:1] == b"\x80" or not head.startswith(b"PK"):
        error = PickleFileError if head[:1] == b"\x80" else SerializationError
        raise (error if head else EmptyFileError)(
            f"kiln.load: {_name(f)} is not a kiln archive"
            + (" (it looks like a pickle)" if head[:1] == b"\x80" else "")
            + (" (it is empty)" if not head else "")
            + "; kiln never unpickles files, because loading a pickle can execute "
            "arbitrary code. Save with kiln.save."
        )
    with zipfile.ZipFile(source) as archive:
        names = set(archive.namelist())
        if _MANIFEST not in names and torch_format.is_torch_archive(names) is not None:
            return torch_format.load_archive(archive, _name(f), weights_only)
        if _MANIFEST not in names:
            hint = (
                " (a torch.save file: convert it with torch, e.g. to .npz)"
                if any(n.endswith("data.pkl") for n in names)
                else ""
            )
            raise SerializationError(
                f"kiln.load: {_name(f)} has no {_MANIFEST}; it is not a kiln archive{hint}"
            )
        try:
            manifest = json.loads(archive.read(_MANIFEST))
        except ValueError as exc:
            raise SerializationError(f"kiln.load: bad manifest in {_name(f)}: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise SerializationError(f"kiln.load: {_name(f)} is not a kiln archive")
        if manifest.get("version") != VERSION:
            raise SerializationError(
                f"kiln.load: {_name(f)} has format version "
                f"{manifest.get('version')}; this kiln reads "
                f"{VERSION}"
            )
        loaded: dict[int, np.ndarray] = {}

        def array(k):
            if not isinstance(k, int) or f"tensors/{k}.npy" not in names:
                raise SerializationError(f"kiln.load: missing tensor data {k!r}")
            if k not in loaded:
                with archive.open(f"tensors/{k}.npy") as member:
                    data = member.read()
                try:
                    loaded[k] = np.load(io.BytesIO(data), allow_pickle=False)
                except ValueError as exc:  # object arrays need pickles: refused
                    raise SerializationError(
                        f"kiln.load: tensor data {k} in {_name(f)} is not plain numbers "
                        f"or is damaged: {exc}"
                    ) from None
                except EOFError:
                    raise SerializationError(
                        f"kiln.load: tensor data {k} in {_name(f)} is truncated"
                    ) from None
            return loaded[k]

        def unpickle(k, type_name):
            if weights_only and _SAFE_GLOBALS:
                if not isinstance(k, int) or f"pickles/{k}.pkl" not in names:
                    raise SerializationError(f"kiln.load: missing pickled object {k!r}")
                return _SafeUnpickler(io.BytesIO(archive.read(f"pickles/{k}.pkl"))).load()
            if weights_only:
                raise pickle.UnpicklingError(
                    f"kiln.load: weights only load failed: {_name(f)} holds a pickled "
                    f"object of type {type_name} (a whole object saved with kiln.save); "
                    "unpickling can execute arbitrary code, so kiln.load does it only "
                    "with weights_only=False, for a file from a source you trust"
                )
            if not isinstance(k, int) or f"pickles/{k}.pkl" not in names:
                raise SerializationError(f"kiln.load: missing pickled object {k!r}")
            return pickle_module.loads(archive.read(f"pickles/{k}.pkl"))

        array.unpickle = unpickle
        return _decode(manifest["tree"], array, {})


# ``add_safe_globals``: the classes and functions a weights-only load may unpickle
_SAFE_GLOBALS: list = []


def add_safe_globals(safe_globals) -> None:
    """Let ``kiln.load(weights_only=True)`` unpickle objects of these classes (PyTorch's
    allowlist for a checkpoint that holds, e.g., a config dataclass)."""
    _SAFE_GLOBALS.extend(g[0] if isinstance(g, tuple) else g for g in safe_globals)


def get_safe_globals() -> list:
    return list(_SAFE_GLOBALS)


def clear_safe_globals() -> None:
    _SAFE_GLOBALS.clear()


class safe_globals:  # noqa: N801 - PyTorch's name
    """``with safe_globals([...]):`` the allowlist extended inside the block only."""

    def __init__(self, safe_globals):
        self.added = list(safe_globals)

    def __enter__(self):
        self.saved = list(_SAFE_GLOBALS)
        add_safe_globals(self.added)

    def __exit__(self, *exc):
        _SAFE_GLOBALS[:] = self.saved


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only the allowlisted globals, plain containers, tensors and arrays."""

    _BASE = {
        ("builtins", "object"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "range"),
        ("collections", "OrderedDict"),
        ("copyreg", "_reconstructor"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("kiln.tensor", "Tensor"),
        ("kiln.nn.parameter", "Parameter"),
        ("kiln.nn.parameter", "_rebuild_parameter"),
    }

    def find_class(self, module, name):
        obj = super().find_class(module, name)
        if (module, name) in self._BASE or any(obj is g for g in _SAFE_GLOBALS):
            return obj
        raise pickle.UnpicklingError(
            f"kiln.load: weights only load failed: unsupported global {module}.{name}; "
            f"allow it with kiln.serialization.add_safe_globals([{name}]) if you trust "
            "the file"
        )


def _decode(node, array, tensors: dict):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, array, tensors) for v in node]
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise SerializationError(f"kiln.load: malformed entry {str(node)[:80]}")
    if "$tensor" in node:
        k = node["$tensor"]
        if k not in tensors:  # shared tensors come back shared
            t = _wrap(array(k))
            if t._data.dtype not in dtypes._BY_NP:
                raise SerializationError(f"kiln.load: unsupported dtype {t._data.dtype}")
            t.requires_grad = bool(node.get("requires_grad", False))
            tensors[k] = t
        return tensors[k]
    if "$bfloat16" in node:
        k = node["$bfloat16"]
        if k not in tensors:
            bits = array(k)
            if bits.dtype != np.uint16:
                raise SerializationError(f"kiln.load: bfloat16 tensor {k} is not 16-bit")
            t = _wrap(bits.view(dtypes.bfloat16.np))
            t.requires_grad = bool(node.get("requires_grad", False))
            tensors[k] = t
        return tensors[k]
    if "$pickle" in node:
        return array.unpickle(node["$pickle"], str(node.get("type", "?")))
    if "$OrderedDict" in node and "metadata" in node:
        result = _decode({"$OrderedDict": node["$OrderedDict"]}, array, tensors)
        result._metadata = _decode(node["metadata"], array, tensors)
        return result
    ((tag, value),) = node.items()
    if tag == "$ndarray":
        return array(value).copy()
    if tag == "$float":
        if value not in ("inf", "-inf", "nan"):
            raise SerializationError(f"kiln.load: bad float {value!r}")
        return float(value)
    if tag == "$dtype":
        return dtypes.as_dtype(value)
    if tag == "$quantized":
        from .ao.quantized_tensor import _rebuild

        return _rebuild(*_decode(value, array, tensors))
    if tag == "$tuple":
        return tuple(_decode(v, array, tensors) for v in value)
    if tag in ("$dict", "$OrderedDict", "$Counter"):
        kind = {
            "$dict": dict,
            "$OrderedDict": collections.OrderedDict,
            "$Counter": collections.Counter,
        }[tag]
        pairs = dict((_decode(k, array, tensors), _decode(v, array, tensors)) for k, v in value)
        return pairs if kind is dict else kind(pairs)
    raise SerializationError(f"kiln.load: unknown entry type {tag!r}")


def _name(f) -> str:
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else "the file"
