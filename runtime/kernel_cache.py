"""The kernel cache: generated kernel source -> a compiled, importable Numba function.

Generated kernels are written as ``.py`` files into a cache folder and imported as
modules, so that ``numba.njit(cache=True)`` can keep their machine code on disk and a new
process skips compiling them (Numba cannot cache functions built with ``exec``). A
kernel's file name is a hash of its source, so identical kernels are shared between graphs
and processes; a file is written once and never rewritten (Numba checks the file's
modification time to decide whether its disk cache is stale).

The folder is ``kernels/`` in ``$KILN_CACHE_DIR``, else in ``$XDG_CACHE_HOME/kiln``, else in
``~/.cache/kiln`` (a folder under the temp dir if that one cannot be written).

>>> source = "def kernel(x):\\n    return x + 1\\n"
>>> load_kernel(source)(1)
2
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

_loaded: dict[str, object] = {}
_lock = threading.Lock()


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
    return "k_" + hashlib.sha256(source.encode()).hexdigest()[:24]


def kernel_path(source: str) -> Path:
    return cache_dir() / f"{kernel_key(source)}.py"


def _writable(folder: Path) -> Path:
    """``folder``, created if needed; a folder under the temp dir if it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"kiln-{os.getuid()}" / "kernels"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _write_once(path: Path, source: str) -> None:
    if path.exists():
        return
    # write-then-rename, so a concurrent process never imports a half-written file
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as f:
        f.write(source)
    os.replace(temporary, path)


def load_kernel(source: str, function_name: str = "kernel"):
    """Write ``source`` to the cache folder (once), import it, return ``function_name``.

    Within a process the same source always returns the same function object, so Numba
    compiles it once per argument types.
    """
    key = kernel_key(source)
    with _lock:
        module = _loaded.get(key)
        if module is None:
            path = _writable(cache_dir()) / f"{key}.py"
            _write_once(path, source)
            spec = importlib.util.spec_from_file_location(f"kiln_kernels.{key}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            _loaded[key] = module
    return getattr(module, function_name)
