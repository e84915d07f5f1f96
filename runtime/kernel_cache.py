"""The kernel cache: generated kernel source -> a compiled, importable Numba function.

Generated kernels are written as ``.py`` files into a cache folder and loaded from there,
so that ``numba.njit(cache=True)`` can keep their machine code on disk and a new process
skips compiling them (Numba caches only functions whose source file exists). A kernel's
file name is a hash of its source, so identical kernels are shared between graphs and
processes.

Nothing on disk is trusted. Each entry is verified before use:

- the ``.py`` file must be exactly its header line plus the source whose hash names it; the
  header records the source's SHA-256 and what the entry was built with (kiln, Numba,
  llvmlite, the CPU's name and features). The module is executed from the source in
  memory, never from the file, and no ``.pyc`` is written.
- Numba's own files for the entry (``__pycache__/<key>.*.nbi`` index and ``.nbc`` data)
  are written with a SHA-256 of their payload after Numba's version header and checked on
  every load (``_VerifiedCacheFile``): an index or machine-code file that was truncated or
  changed is never unpickled, let alone linked.

An entry that fails either check (or was built by other versions) is deleted and rebuilt,
with a ``KernelCacheWarning`` naming the cache folder. Every write is atomic (a temporary
file in the same folder, then a rename), so concurrent processes and a process killed
mid-write never leave a partial file under an entry's name.

The folder is ``kernels/`` in ``$KILN_CACHE_DIR``, else in ``$XDG_CACHE_HOME/kiln``, else in
``~/.cache/kiln`` (a folder under the temp dir if that one cannot be written).
``python -m kiln cache --info`` describes it and ``--clear`` empties it.

>>> source = "def kernel(x):\\n    return x + 1\\n"
>>> load_kernel(source)(1)
2
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
import threading
import types
import warnings
from pathlib import Path

__all__ = [
    "KernelCacheWarning",
    "cache_dir",
    "cache_info",
    "clear_cache",
    "kernel_key",
    "kernel_path",
    "load_kernel",
]

# Part of every key: a change of the entry format leaves old entries unused (and
# ``--clear`` removes them) instead of warning about each one.
FORMAT = "kiln-kernel-2"
HEADER_PREFIX = "# kiln kernel cache entry: "

_loaded: dict[str, types.ModuleType] = {}
_lock = threading.Lock()


def _new_lock_in_child() -> None:
    """A forked child whose parent had a thread loading a kernel: that thread is not
    there, its copy of ``_lock`` would stay held."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


class KernelCacheWarning(RuntimeWarning):
    """A kernel cache entry was damaged or stale and has been rebuilt."""


class DamagedEntry(Exception):
    """A cache file failed verification (raised and handled inside this module)."""


def cache_dir() -> Path:
    """The folder that holds generated kernels (created on first use)."""
    explicit = os.environ.get("KILN_CACHE_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "kiln"
    return path / "kernels"


def kernel_key(source: str) -> str:
    """The name a kernel's source is stored under: a hash of the source text."""
    return "k_" + hashlib.sha256((FORMAT + "\n" + source).encode()).hexdigest()[:24]


def kernel_path(source: str) -> Path:
    return cache_dir() / f"{kernel_key(source)}.py"


@functools.cache
def build_versions() -> dict[str, str]:
    """What an entry's machine code depends on besides its source."""
    import importlib.metadata  # (its import costs ~0.1 s: only where Numba's cache needs it)

    import llvmlite.binding

    features = llvmlite.binding.get_host_cpu_features().flatten()
    return {
        "kiln": importlib.metadata.version("kiln"),
        "numba": importlib.metadata.version("numba"),  # (without importing Numba)
        "llvmlite": importlib.metadata.version("llvmlite"),
        "python": "{}.{}".format(*sys.version_info[:2]),
        "cpu": llvmlite.binding.get_host_cpu_name(),
        "cpu_features": hashlib.sha256(features.encode()).hexdigest()[:16],
    }


def _header(source: str) -> str:
    entry = {"sha256": hashlib.sha256(source.encode()).hexdigest(), **build_versions()}
    return HEADER_PREFIX + json.dumps(entry, sort_keys=True) + "\n"


def _entry_text(source: str) -> str:
    return _header(source) + source


def _writable(folder: Path) -> Path:
    """``folder``, created if needed; a folder under the temp dir if it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return _fallback_folder(folder)


def _fallback_folder(folder: Path) -> Path:
    """The folder under the temp dir that stands in for ``folder`` (``kernels`` or
    ``kernels/native``) when it cannot be used."""
    fallback = Path(tempfile.gettempdir()) / f"kiln-{os.getuid()}" / "kernels"
    if folder.name == "native":
        fallback = fallback / "native"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a
    rename: readers see the old file or the whole new one, never part of one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _numba_files(folder: Path, key: str) -> list[Path]:
    pycache = folder / "__pycache__"
    if not pycache.is_dir():
        return []
    return [p for p in pycache.iterdir() if p.name.startswith(key + ".")]


def _delete_entry(folder: Path, key: str, keep_source: bool = False) -> None:
    paths = _numba_files(folder, key)
    if not keep_source:
        paths.append(folder / f"{key}.py")
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _rebuilt_warning(folder: Path, key: str, problem: str) -> None:
    warnings.warn(
        f"kiln: kernel cache entry {key} in {folder}: {problem}; deleted and rebuilt",
        KernelCacheWarning,
        stacklevel=4,
    )


def _diagnose(found: bytes, expected: str) -> str:
    """Why an entry's file is not ``expected`` (for the warning)."""
    if not found:
        return "was empty"
    if expected.encode().startswith(found):
        return "was truncated"
    first, _, _ = found.partition(b"\n")
    try:
        entry = json.loads(first.decode()[len(HEADER_PREFIX) :])
    except (UnicodeDecodeError, ValueError):
        return "had no valid header (damaged)"
    versions = build_versions()
    stale = [f"{k} {entry.get(k)} (now {v})" for k, v in versions.items() if entry.get(k) != v]
    if stale:
        return "was built with " + ", ".join(stale)
    return "did not match its content hash (damaged)"


def _verified_source(folder: Path, key: str, source: str) -> Path:
    """The entry's ``.py`` file, checked against ``source`` (and rewritten if it is not
    exactly what this process would write, with its Numba files dropped)."""
    path = folder / f"{key}.py"
    expected = _entry_text(source)
    try:
        found = path.read_bytes()
    except FileNotFoundError:
        found = None
    except OSError as error:  # not a file (a folder, a loop of links), or unreadable
        raise DamagedEntry(f"{path.name} cannot be read: {error}") from error
    if found != expected.encode():
        if found is not None:
            _rebuilt_warning(folder, key, "kernel file " + _diagnose(found, expected))
        _delete_entry(folder, key, keep_source=True)
        atomic_write(path, expected.encode())
    return path


def _checked(data: bytes, path) -> bytes:
    digest, payload = data[:32], data[32:]
    if len(digest) < 32 or hashlib.sha256(payload).digest() != digest:
        raise DamagedEntry(f"{os.path.basename(path)} does not match its hash")
    return payload


@functools.cache
def _numba_cache():
    """Numba's disk cache with verified files: defined on first use, so that importing
    kiln does not import Numba (the native back end does not need it)."""
    from numba.core.caching import FunctionCache, IndexDataCacheFile
    from numba.core.registry import CPUDispatcher

    class _VerifiedCacheFile(IndexDataCacheFile):
        """Numba's index and data files with a SHA-256 of their payload.

        Numba writes a pickled version string and then the pickled payload; here the payload
        is preceded by its hash, checked before it is unpickled. Numba's own writes already go
        through a temporary file and a rename.
        """

        def _save_index(self, overloads):
            payload = self._dump((self._source_stamp, overloads))
            with self._open_for_write(self._index_path) as f:
                pickle.dump(self._version, f, protocol=-1)
                f.write(hashlib.sha256(payload).digest())
                f.write(payload)

        def _load_index(self):
            try:
                with open(self._index_path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                return {}
            try:
                version_length = len(pickle.dumps(self._version, protocol=-1))
                version = pickle.loads(data[:version_length])
            except Exception as error:
                name = os.path.basename(self._index_path)
                raise DamagedEntry(f"{name}: unreadable header") from error
            if version != self._version:
                return {}  # another Numba's index: Numba rewrites it
            payload = _checked(data[version_length:], self._index_path)
            stamp, overloads = pickle.loads(payload)
            return overloads if stamp == self._source_stamp else {}

        def _save_data(self, name, data):
            payload = self._dump(data)
            with self._open_for_write(self._data_path(name)) as f:
                f.write(hashlib.sha256(payload).digest())
                f.write(payload)

        def _load_data(self, name):
            path = self._data_path(name)
            with open(path, "rb") as f:
                data = f.read()
            return pickle.loads(_checked(data, path))

    class _VerifiedFunctionCache(FunctionCache):
        """Numba's disk cache of one kernel function, through ``_VerifiedCacheFile``; a
        damaged file is deleted (with the rest of the entry's Numba files) and the kernel
        recompiled."""

        def __init__(self, py_func, folder: Path, key: str):
            super().__init__(py_func)
            self._folder, self._key = folder, key
            stock = self._cache_file
            self._cache_file = _VerifiedCacheFile(
                stock._cache_path, self._impl.filename_base, stock._source_stamp
            )

        def load_overload(self, sig, target_context):
            try:
                return super().load_overload(sig, target_context)
            except Exception as error:  # a file that passed its hash but still fails: same
                problem = str(error) if isinstance(error, DamagedEntry) else repr(error)
                _rebuilt_warning(self._folder, self._key, "Numba's compiled code: " + problem)
                _delete_entry(self._folder, self._key, keep_source=True)
                return None

        def save_overload(self, sig, data):
            try:
                try:
                    super().save_overload(sig, data)
                except DamagedEntry:  # (the index it adds to): start the entry's index afresh
                    _delete_entry(self._folder, self._key, keep_source=True)
                    super().save_overload(sig, data)
            except OSError as error:  # a full disk, a folder deleted meanwhile: not kept
                _unsaved_warning(self._folder, error)

    return _VerifiedFunctionCache, FunctionCache, CPUDispatcher


def _verify_numba_cache(module: types.ModuleType, folder: Path, key: str) -> None:
    """Give the module's cached Numba functions the verifying disk cache."""
    _VerifiedFunctionCache, FunctionCache, CPUDispatcher = _numba_cache()
    for value in vars(module).values():
        if (
            isinstance(value, CPUDispatcher)
            and value.py_func.__globals__ is module.__dict__  # not an imported helper
            and isinstance(value._cache, FunctionCache)
        ):
            value._cache = _VerifiedFunctionCache(value.py_func, folder, key)


_warned_folders: set = set()


def _unsaved_warning(folder: Path, error: OSError) -> None:
    """Warn once per folder that kernels cannot be kept there (they still run)."""
    if str(folder) in _warned_folders:
        return
    _warned_folders.add(str(folder))
    warnings.warn(
        f"kiln: the kernel cache folder {folder} cannot be used ({error}); kernels are "
        "compiled as usual but may not be kept for later processes",
        KernelCacheWarning,
        stacklevel=5,
    )


def _entry_file(source: str, key: str) -> tuple[Path, Path]:
    """``(folder, path)`` of the entry's verified ``.py`` file: in the cache folder, else
    (a folder that cannot be written, a full disk, an entry that is not a file) in a fresh
    folder under the temp dir, with a ``KernelCacheWarning``; ``(None, None)`` where no file
    can be written at all."""
    folder = cache_dir()
    try:
        folder = _writable(folder)
        try:
            return folder, _verified_source(folder, key, source)
        except (OSError, DamagedEntry) as error:
            _unsaved_warning(folder, error)
        fallback = _fallback_folder(folder)
        return fallback, _verified_source(fallback, key, source)
    except (OSError, DamagedEntry):
        pass
    scratch = None
    try:
        scratch = Path(tempfile.mkdtemp(prefix="kiln-kernels-"))
        path = scratch / f"{key}.py"
        path.write_text(_entry_text(source))  # (Numba's cache needs the file to exist)
        return scratch, path
    except OSError as error:  # nothing can be written (a full disk): ``load_kernel``
        _unsaved_warning(folder, error)  # compiles the kernel without Numba's disk cache
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        return None, None


def load_kernel(source: str, function_name: str = "kernel"):
    """Write ``source`` to the cache folder (once), verify and load it, return
    ``function_name``.

    Within a process the same source always returns the same function object, so Numba
    compiles it once per argument types.
    """
    key = kernel_key(source)
    with _lock:
        module = _loaded.get(key)
        if module is None:
            folder, path = _entry_file(source, key)
            module = types.ModuleType(f"kiln_kernels.{key}")
            module.__file__ = str(path) if path is not None else f"<kiln kernel {key}>"
            sys.modules[module.__name__] = module
            # (no file could be written: Numba's disk cache, which needs one, is left off)
            text = source if path is not None else source.replace("cache=True", "cache=False")
            # line numbers as in the file (after its header), for tracebacks and Numba
            code = compile("\n" + text, module.__file__, "exec")
            exec(code, module.__dict__)
            if path is not None:
                _verify_numba_cache(module, folder, key)
            _loaded[key] = module
    return getattr(module, function_name)


def cache_info(folder: Path | None = None) -> dict:
    """What the cache folder holds: entries, Numba files, bytes, and entries that are
    stale (other versions) or damaged (a ``.py`` file whose header does not match it)."""
    folder = Path(folder) if folder is not None else cache_dir()
    info = {"folder": str(folder), "entries": 0, "compiled_files": 0, "bytes": 0}
    info.update(stale=0, damaged=0, versions=build_versions())
    if not folder.is_dir():
        return info
    for path in folder.iterdir():
        if path.is_file():
            info["bytes"] += path.stat().st_size
        if path.suffix != ".py":
            continue
        info["entries"] += 1
        problem = _check_file(path)
        if problem == "stale":
            info["stale"] += 1
        elif problem:
            info["damaged"] += 1
    pycache = folder / "__pycache__"
    if pycache.is_dir():
        for path in pycache.iterdir():
            info["compiled_files"] += 1
            info["bytes"] += path.stat().st_size
    info["native"] = 0  # object files of the native back end (runtime/native.py)
    native = folder / "native"
    if native.is_dir():
        for path in native.iterdir():
            if path.suffix == ".o":
                info["native"] += 1
            info["bytes"] += path.stat().st_size
    return info


def _check_file(path: Path) -> str | None:
    """None for a sound entry file, "stale" for one built by other versions, else what
    is wrong with it."""
    data = path.read_bytes()
    first, _, rest = data.partition(b"\n")
    try:
        entry = json.loads(first.decode()[len(HEADER_PREFIX) :])
    except (UnicodeDecodeError, ValueError):
        return "no header"
    if not first.startswith(HEADER_PREFIX.encode()) or not isinstance(entry, dict):
        return "no header"
    if hashlib.sha256(rest).hexdigest() != entry.get("sha256"):
        return "hash mismatch"
    if any(entry.get(k) != v for k, v in build_versions().items()):
        return "stale"
    return None


def clear_cache(folder: Path | None = None) -> int:
    """Delete every file in the cache folder (entries, Numba's files, native object
    files); the count."""
    folder = Path(folder) if folder is not None else cache_dir()
    removed = 0
    for sub in (folder / "__pycache__", folder / "native", folder):
        if not sub.is_dir():
            continue
        for path in sub.iterdir():
            if path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
    for sub in ("__pycache__", "native"):
        with contextlib.suppress(OSError):
            (folder / sub).rmdir()
    with _lock:
        _loaded.clear()
    return removed
