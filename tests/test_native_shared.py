"""Kernels as shared libraries (runtime/native.py, "shared-library bundles"): a compile's
kernels are linked in the background into one library that a later process loads with
``dlopen``, without loading LLVM. It must compute exactly what the MCJIT-linked kernels
compute, be verified before it is loaded (a damaged one is deleted and the object files
serve), and be skipped cleanly where there is no ``ld``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import kiln
from kiln.runtime import native
from kiln.runtime.kernel_cache import KernelCacheWarning

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or shutil.which("ld") is None,
    reason="bundles are made with the system's ld on Linux (elsewhere: object files only)",
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KILN_CPU_BACKEND", "native")
    monkeypatch.setenv("KILN_NATIVE_SHARED", "1")
    monkeypatch.setattr(kiln.jit.config, "tiered", False)
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setattr(native, "_bundles", {})
    monkeypatch.setattr(native, "_unbundled", {})
    return tmp_path / "kernels" / "native"


def _wait_for_bundles():
    assert native.wait_for_bundles(timeout=300)


def _kernels(x, y):
    # an elementwise chain with transcendentals, a row reduction, a strided read
    h = kiln.tanh(x * 1.5) + kiln.exp(-y) * kiln.sigmoid(x)
    return h, h.sum(-1), (h.t() * 2.0).amax(0)


def _arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 129)).astype(np.float32)
    y = rng.standard_normal((37, 129)).astype(np.float32)
    x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    return kiln.from_numpy(x), kiln.from_numpy(y)


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
    np.testing.assert_array_equal(a, b)


def test_bundled_kernels_compute_what_linked_ones_do(cache):
    x, y = _arrays()
    linked = [t.numpy() for t in kiln.jit(_kernels)(x, y)]
    _wait_for_bundles()
    [bundle] = cache.glob("bundle-*.so")
    before = dict(native.native_stats)
    native._loaded.clear()  # a new process: the next compile finds the kernels on disk
    loaded = [t.numpy() for t in kiln.jit(_kernels)(x, y)]
    native_stats = native.native_stats
    assert native_stats["shared"] - before["shared"] >= 2
    assert native_stats["shared"] - before["shared"] == native_stats["disk"] - before["disk"]
    for a, b in zip(linked, loaded):
        _same(a, b)
    for a, b in zip(loaded, _kernels(x, y)):
        np.testing.assert_allclose(a, b.numpy(), rtol=2e-6, atol=1e-6)
    assert bundle.exists()


@pytest.mark.parametrize("fault", ["truncate", "flip", "empty"])
def test_a_damaged_bundle_is_deleted_and_the_object_files_serve(cache, fault):
    x, y = _arrays()
    expected = [t.numpy() for t in kiln.jit(_kernels)(x, y)]
    _wait_for_bundles()
    [bundle] = cache.glob("bundle-*.so")
    data = bundle.read_bytes()
    bundle.write_bytes(
        {
            "truncate": data[: len(data) // 2],
            "flip": data[:200] + bytes([data[200] ^ 0x01]) + data[201:],
            "empty": b"",
        }[fault]
    )
    native._loaded.clear()
    shared = native.native_stats["shared"]
    with pytest.warns(KernelCacheWarning, match="library .* damaged or truncated"):
        again = [t.numpy() for t in kiln.jit(_kernels)(x, y)]
    assert native.native_stats["shared"] == shared  # none came from the damaged library
    for a, b in zip(expected, again):
        _same(a, b)
    # the kernels linked from their object files are bundled again, soundly
    _wait_for_bundles()
    assert bundle.exists()
    native._loaded.clear()
    native._bundles.clear()
    shared = native.native_stats["shared"]
    for a, b in zip(expected, [t.numpy() for t in kiln.jit(_kernels)(x, y)]):
        _same(a, b)
    assert native.native_stats["shared"] > shared


def test_a_missing_bundle_or_no_ld_leaves_the_object_files(cache, monkeypatch):
    x, y = _arrays()
    monkeypatch.setattr(native.shutil, "which", lambda name: None)  # no ld on this machine
    expected = [t.numpy() for t in kiln.jit(_kernels)(x, y)]
    _wait_for_bundles()
    assert not list(cache.glob("bundle-*.so"))
    assert list(cache.glob("*.o"))
    monkeypatch.undo()
    monkeypatch.setenv("KILN_CACHE_DIR", str(cache.parent.parent))
    monkeypatch.setenv("KILN_NATIVE_SHARED", "1")
    monkeypatch.setattr(kiln.jit.config, "tiered", False)
    native._loaded.clear()
    native._bundles.clear()
    shared, disk = native.native_stats["shared"], native.native_stats["disk"]
    again = [t.numpy() for t in kiln.jit(_kernels)(x, y)]
    assert native.native_stats["shared"] == shared
    for a, b in zip(expected, again):
        _same(a, b)
    # a process that finds object files without a bundle (the one that compiled them
    # exited before its bundle was made) makes it: the next process loads no LLVM
    _wait_for_bundles()
    assert len(list(cache.glob("bundle-*.so"))) == 1
    native._loaded.clear()
    native._bundles.clear()
    shared, disk = native.native_stats["shared"], native.native_stats["disk"]
    for a, b in zip(expected, [t.numpy() for t in kiln.jit(_kernels)(x, y)]):
        _same(a, b)
    assert native.native_stats["shared"] - shared == native.native_stats["disk"] - disk > 0


def test_a_damaged_host_record_is_made_again(cache):
    """What LLVM says about this CPU is kept in the cache folder (so that a warm process
    need not load LLVM); a damaged record is not believed."""
    versions = native._versions()
    native._versions.cache_clear()  # (a new process, in this test's cache folder)
    try:
        assert native._versions() == versions
        [record] = cache.glob("host-*.txt")
        good = record.read_text()
        for damaged in (good[: len(good) // 2], good.replace("llvmlite", "llvmlitE"), ""):
            record.write_text(damaged)
            native._versions.cache_clear()
            assert native._versions() == versions  # asked LLVM again: the same answer
            assert record.read_text() == good
    finally:
        native._versions.cache_clear()


_STEP = """
import sys
import numpy as np
import kiln
from kiln.runtime import native
kiln.manual_seed(0)
model = kiln.nn.Sequential(kiln.nn.Linear(20, 32), kiln.nn.ReLU(), kiln.nn.Linear(32, 5))
opt = kiln.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
@kiln.jit
def step(x, y):
    opt.zero_grad()
    loss = kiln.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss
x = kiln.from_numpy(np.linspace(-1, 1, 160, dtype=np.float32).reshape(8, 20))
y = kiln.tensor([0, 1, 2, 3, 4, 0, 1, 2])
losses = [step(x, y).item() for _ in range(3)]
assert native.wait_for_bundles(timeout=300)
print(repr(losses), native.native_stats["disk"], native.native_stats["shared"],
      "llvmlite.binding" in sys.modules)
"""


def test_a_warm_process_runs_a_training_step_without_loading_llvm(tmp_path):
    env = dict(
        os.environ,
        KILN_CACHE_DIR=str(tmp_path),
        KILN_CPU_BACKEND="native",
        KILN_NATIVE_SHARED="1",
        KILN_TIERED="0",
    )
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _STEP], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        losses, disk, shared, llvm = done.stdout.split()[-4:]
        runs.append((done.stdout.rsplit("]", 1)[0], int(disk), int(shared), llvm))
    (cold_losses, cold_disk, _, cold_llvm), (warm_losses, disk, shared, llvm) = runs
    assert cold_disk == 0 and cold_llvm == "True"
    assert disk > 0 and shared == disk and llvm == "False"
    assert warm_losses == cold_losses  # bit for bit


def test_scratch_folders_of_dead_processes_are_swept(cache):
    # a process that exits while its bundle is linked leaves its ``ld-*`` folder behind
    cache.mkdir(parents=True, exist_ok=True)
    old, young = cache / "ld-old", cache / "ld-young"
    for folder in (old, young):
        folder.mkdir()
        (folder / "0.o").write_bytes(b"x")
    hour_ago = os.path.getmtime(old) - 3600
    os.utime(old, (hour_ago, hour_ago))
    x, y = _arrays()
    kiln.jit(_kernels)(x, y)
    _wait_for_bundles()
    assert list(cache.glob("bundle-*.so"))
    assert not old.exists()
    assert young.exists()  # (it may be another process's, at work)
