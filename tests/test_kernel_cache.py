"""The kernel cache under injected faults: every damaged, edited or stale entry is
deleted and rebuilt with a warning naming the cache folder, and the right answer comes
back (issue 17). Each test uses its own ``KILN_CACHE_DIR``; "a new process" is simulated
by forgetting the loaded modules, so the next load reads (and verifies) the disk."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import kiln
from kiln.__main__ import main as kiln_main
from kiln.runtime import kernel_cache
from kiln.runtime.kernel_cache import KernelCacheWarning, cache_dir, kernel_path, load_kernel

SOURCE = """import numpy as np
from numba import njit

K0 = np.float64(2.5)


@njit(cache=True)
def kernel(x):
    return x * K0 + 1.0
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(kernel_cache, "_loaded", {})
    return tmp_path / "kernels"


def _new_process():
    kernel_cache._loaded.clear()


def _numba_files(folder, suffix):
    return sorted((folder / "__pycache__").glob(f"*{suffix}"))


def _reload_expecting(cache, pattern):
    _new_process()
    with pytest.warns(KernelCacheWarning, match=pattern) as record:
        value = load_kernel(SOURCE)(2.0)
    assert str(cache) in str(record[0].message)
    assert value == 6.0
    return value


def test_entry_is_written_with_header_and_numba_files(cache):
    assert load_kernel(SOURCE)(2.0) == 6.0
    path = kernel_path(SOURCE)
    assert path.parent == cache == cache_dir()
    header, _, body = path.read_text().partition("\n")
    entry = json.loads(header[len(kernel_cache.HEADER_PREFIX) :])
    assert body == SOURCE
    assert {"kiln", "numba", "llvmlite", "cpu", "cpu_features", "sha256"} <= set(entry)
    assert _numba_files(cache, ".nbi") and _numba_files(cache, ".nbc")
    assert not list(cache.glob("*.tmp")) and not list(cache.rglob("*.pyc"))
    # a sound entry loads without a warning and from Numba's cache
    _new_process()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        function = load_kernel(SOURCE)
        assert function(2.0) == 6.0
    assert function.stats.cache_hits


@pytest.mark.parametrize(
    "fault, pattern",
    [
        ("empty", "was empty"),
        ("truncated", "was truncated"),
        ("garbage", "no valid header"),
        ("constant", "did not match its content hash"),
        ("stale", "built with numba 0.0.1"),
    ],
)
def test_damaged_kernel_file_is_rebuilt(cache, fault, pattern):
    load_kernel(SOURCE)(2.0)
    path = kernel_path(SOURCE)
    text = path.read_text()
    if fault == "empty":
        path.write_text("")
    elif fault == "truncated":
        path.write_text(text[: len(text) // 2])
    elif fault == "garbage":
        path.write_bytes(b"\x00\xff garbage (((\n" * 5)
    elif fault == "constant":  # same length, runs, returns a wrong value if trusted
        path.write_text(text.replace("2.5", "3.5"))
    else:
        header, _, body = text.partition("\n")
        entry = json.loads(header[len(kernel_cache.HEADER_PREFIX) :])
        entry["numba"] = "0.0.1"
        path.write_text(kernel_cache.HEADER_PREFIX + json.dumps(entry) + "\n" + body)
    _reload_expecting(cache, pattern)
    assert path.read_text() == text  # rewritten as it should be


@pytest.mark.parametrize("fault", ["truncated index", "flipped code bytes", "garbage index"])
def test_damaged_numba_files_are_rebuilt(cache, fault):
    load_kernel(SOURCE)(2.0)
    index, data = _numba_files(cache, ".nbi")[0], _numba_files(cache, ".nbc")[0]
    if fault == "truncated index":
        index.write_bytes(index.read_bytes()[:-20])
    elif fault == "garbage index":
        index.write_bytes(b"not a pickle")
    else:
        damaged = bytearray(data.read_bytes())
        for k in range(len(damaged) // 2, len(damaged) // 2 + 8):
            damaged[k] ^= 0xFF
        data.write_bytes(bytes(damaged))
    _reload_expecting(cache, re.escape("Numba's compiled code"))
    # rebuilt: the next process finds a sound entry again
    _new_process()
    function = load_kernel(SOURCE)
    assert function(2.0) == 6.0 and function.stats.cache_hits


def test_edited_kernel_of_a_compiled_graph(cache, monkeypatch):
    """End to end: a jitted function whose kernel file had a constant edited (Numba's
    back end; tests/test_native.py has the native back end's faults)."""
    monkeypatch.setenv("KILN_CPU_BACKEND", "numba")

    def f(x):
        return kiln.tanh(x * 0.75) + 0.25

    x = kiln.from_numpy(np.linspace(-2, 2, 7, dtype=np.float32))
    expected = f(x).numpy()
    np.testing.assert_allclose(kiln.jit(f)(x).numpy(), expected, rtol=1e-6)
    [path] = cache.glob("*.py")
    path.write_text(path.read_text().replace("0.75", "0.95"))
    _new_process()
    with pytest.warns(KernelCacheWarning, match=re.escape(str(cache))):
        again = kiln.jit(f)(x).numpy()
    np.testing.assert_allclose(again, expected, rtol=1e-6)


def test_cache_command_info_and_clear(cache, capsys):
    load_kernel(SOURCE)(2.0)
    assert kiln_main(["cache", "--info"]) == 0
    out = capsys.readouterr().out
    assert str(cache) in out and "1 kernels (0 built by other versions, 0 damaged)" in out
    kernel_path(SOURCE).write_text("garbage")
    kiln_main(["cache"])
    assert "1 damaged" in capsys.readouterr().out
    assert kiln_main(["cache", "--clear"]) == 0
    assert "removed 3 files" in capsys.readouterr().out
    assert not list(cache.rglob("*.py")) and not list(cache.rglob("*.nb*"))
    assert load_kernel(SOURCE)(2.0) == 6.0  # and it fills again


def test_imported_helpers_keep_numbas_own_cache(cache):
    """Only the entry's own functions get the verified cache: a helper it imports (a
    fast function) keeps Numba's format, which other processes read with stock Numba."""
    from numba.core.caching import FunctionCache

    from kiln.compiler.codegen import fastmath

    source = SOURCE.replace(
        "from numba import njit",
        "from numba import njit\nfrom kiln.compiler.codegen.fastmath import fast_exp",
    )
    function = load_kernel(source)
    assert type(function._cache).__name__ == "_VerifiedFunctionCache"
    assert type(fastmath.fast_exp._cache) is FunctionCache
