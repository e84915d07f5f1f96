"""kiln.save / kiln.load: round trips, shared tensors, and files that must be refused."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import kiln
from kiln.serialization import SerializationError

ROUND_TRIPS = [
    kiln.tensor([1.5, -2.0]),
    kiln.arange(6, dtype=kiln.int32).reshape(2, 3),
    kiln.tensor([True, False]),
    kiln.zeros(0, 3, dtype=kiln.float64),
    kiln.tensor(3.25),
    {"a": 1, "b": [2.5, "x", None, True], "c": (1, (2, 3))},
    collections.OrderedDict([("z", kiln.ones(2)), ("a", kiln.zeros(1))]),
    {0: {"step": kiln.tensor(3.0)}, (1, "k"): float("inf"), 2.5: float("-inf")},
    collections.Counter([3, 3, 7]),
    {"dtype": kiln.float16, "array": np.arange(4, dtype=np.int16)},
]


def _equal(a, b) -> bool:
    if isinstance(a, kiln.Tensor):
        return (
            isinstance(b, kiln.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a.detach().numpy(), b.detach().numpy())
            and a.requires_grad == b.requires_grad
        )
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("obj", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_round_trip(obj, tmp_path):
    path = tmp_path / "obj.kiln"
    kiln.save(obj, path)
    assert _equal(obj, kiln.load(path))
    buffer = io.BytesIO()
    kiln.save(obj, buffer)
    buffer.seek(0)
    assert _equal(obj, kiln.load(buffer))


def test_requires_grad_and_sharing_survive(tmp_path):
    w = kiln.randn(3, 2, requires_grad=True)
    kiln.save({"layer1": w, "tied": w, "other": w.detach().clone()}, tmp_path / "m.kiln")
    with zipfile.ZipFile(tmp_path / "m.kiln") as archive:
        assert sorted(archive.namelist()) == ["manifest.json", "tensors/0.npy", "tensors/1.npy"]
    loaded = kiln.load(tmp_path / "m.kiln")
    assert loaded["layer1"] is loaded["tied"] and loaded["layer1"].requires_grad
    assert loaded["other"] is not loaded["layer1"] and not loaded["other"].requires_grad
    assert np.array_equal(loaded["other"].numpy(), w.detach().numpy())


def test_loaded_tensors_do_not_alias_each_other_or_the_file(tmp_path):
    kiln.save({"a": kiln.ones(2), "b": kiln.ones(2)}, tmp_path / "x.kiln")
    loaded = kiln.load(tmp_path / "x.kiln", map_location="cpu")
    loaded["a"].add_(1)
    assert loaded["b"].tolist() == [1.0, 1.0]


def test_unsupported_objects_are_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['f'\] of type function"):
        kiln.save({"f": lambda: 0}, tmp_path / "x.kiln")
    with pytest.raises(TypeError, match="keys must be"):
        kiln.save({frozenset(): 1}, tmp_path / "x.kiln")
    assert not os.path.exists(tmp_path / "y.kiln")


class _Exploit:
    """Unpickling this would run a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": _Exploit(marker)}))
    with pytest.raises(SerializationError, match="looks like a pickle"):
        kiln.load(path)
    assert not marker.exists()


def test_torch_style_zip_with_a_malicious_pickle_inside_is_refused(tmp_path):
    # (torch.save files are read with an allowlist of globals: frontend/torch_format.py)
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(_Exploit(marker)))
    for weights_only in (True, False):
        with pytest.raises(pickle.UnpicklingError):
            kiln.load(path, weights_only=weights_only)
    assert not marker.exists()


def _archive(path, manifest, members=()):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in members:
            archive.writestr(name, data)


def test_object_array_inside_a_kiln_archive_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Exploit(marker)], dtype=object), allow_pickle=True)
    path = tmp_path / "bad.kiln"
    _archive(
        path,
        {"format": "kiln.save", "version": 1, "tree": {"$tensor": 0}},
        [("tensors/0.npy", buffer.getvalue())],
    )
    with pytest.raises(SerializationError, match="not plain numbers"):
        kiln.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "manifest, message",
    [
        ({"format": "other"}, "not a kiln archive"),
        ({"format": "kiln.save", "version": 99, "tree": 1}, "version 99"),
        ({"format": "kiln.save", "version": 1, "tree": {"$tensor": 5}}, "missing tensor data"),
        ({"format": "kiln.save", "version": 1, "tree": {"$eval": "1+1"}}, "unknown entry"),
        ({"format": "kiln.save", "version": 1, "tree": {"$float": "1e999"}}, "bad float"),
    ],
)
def test_malformed_archives_are_refused(manifest, message, tmp_path):
    _archive(tmp_path / "bad.kiln", manifest)
    with pytest.raises(SerializationError, match=message):
        kiln.load(tmp_path / "bad.kiln")


def test_random_bytes_are_refused(tmp_path):
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(SerializationError, match="not a kiln archive"):
        kiln.load(tmp_path / "junk")


def test_saving_a_traced_tensor_is_a_clear_error(tmp_path):
    @kiln.jit
    def f(x):
        kiln.save(x, tmp_path / "x.kiln")
        return x

    with pytest.raises(TypeError, match="traced tensor"):
        f(kiln.ones(2))


def test_docstring_example():
    import doctest

    import kiln.serialization

    assert doctest.testmod(kiln.serialization).failed == 0


# ------------------------------------------------------------------ faults while saving

_STATE = {"w": kiln.arange(4000, dtype=kiln.float32), "b": kiln.ones(3), "step": 7}


def _assert_old_checkpoint(path):
    loaded = kiln.load(path)
    assert loaded["step"] == 7 and np.array_equal(loaded["w"].numpy(), np.arange(4000))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left over


def test_failing_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.kiln"
    kiln.save(_STATE, path)
    calls = []

    def disk_full(*args, **kwargs):  # the first tensor is written, the second fails
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return np.save(*args, **kwargs)

    monkeypatch.setattr(kiln.serialization.np, "save", disk_full)
    new = {"w": kiln.zeros(4000), "b": kiln.zeros(3), "step": 8}
    with pytest.raises(OSError, match="No space left"):
        kiln.save(new, path)
    assert len(calls) == 2
    _assert_old_checkpoint(path)


def test_process_killed_mid_write_keeps_the_old_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys

    path = tmp_path / "model.kiln"
    kiln.save(_STATE, path)
    script = f"""
import sys, time
import numpy as np
import kiln
import kiln.serialization as s

real = np.save
def stalls(buffer, array, **kw):  # the archive is half written when the kill comes
    real(buffer, array, **kw)
    if array.size == 3:
        print("mid-write", flush=True)
        time.sleep(60)
s.np = type(sys)("np_shim"); s.np.__dict__.update(np.__dict__); s.np.save = stalls
kiln.save({{"w": kiln.zeros(4000), "b": kiln.zeros(3), "step": 8}}, {str(path)!r})
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "mid-write"
        temporaries = [p for p in tmp_path.iterdir() if p.name != path.name]
        assert len(temporaries) == 1 and temporaries[0].stat().st_size > 16000
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    for temporary in temporaries:  # what a killed writer leaves: a temporary, never the file
        temporary.unlink()
    _assert_old_checkpoint(path)


def test_saved_file_gets_the_usual_mode(tmp_path):
    path = tmp_path / "m.kiln"
    kiln.save(_STATE, path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o600)
    kiln.save(_STATE, path)
    assert path.stat().st_mode & 0o777 == 0o600


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flipped tensor bytes":
        start = data.index(b"\x93NUMPY") + 200  # inside the first tensor's numbers
        path.write_bytes(
            data[:start] + bytes(b ^ 0xFF for b in data[start : start + 8]) + data[start + 8 :]
        )
    else:  # the end of the archive (its directory) overwritten
        path.write_bytes(data[:-30] + b"\x00" * 30)


@pytest.mark.parametrize(
    "how, message",
    [
        ("truncated", "damaged"),
        ("empty", "is empty"),
        ("flipped tensor bytes", "CRC"),
        ("directory overwritten", "damaged"),
    ],
)
def test_load_names_the_file_and_the_damage(tmp_path, how, message):
    path = tmp_path / "model.kiln"
    kiln.save(_STATE, path)
    _damage(path, how)
    with pytest.raises(SerializationError, match=message) as info:
        kiln.load(path)
    assert str(path) in str(info.value)
    with open(path, "rb") as handle, pytest.raises(SerializationError) as info:
        kiln.load(handle)
    assert str(path) in str(info.value)
