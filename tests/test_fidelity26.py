"""PyTorch's exact eager semantics where earlier rounds found kiln different (issue 14):
``torch.device`` equality and parsing, ``torch.__version__``, eager strides, sparse inputs
of dense-only functions; each checked against torch."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import kiln

torch = pytest.importorskip("torch")


def _outcome(fn):
    """``fn()``'s value, or its exception's class name and message."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the exception is the result compared
        return type(exc).__name__, str(exc)


# ----------------------------------------------------------------------------- torch.device
# kiln's device("cuda:0") == device("cuda") was True (index None read as 0), and a device
# equalled a string; PyTorch tells them apart (a script's ``x.device == torch.device("cuda")``
# after ``.to("cuda:0")`` is False there), and refuses negative or malformed indices.

DEVICE_CASES = {
    "index none vs 0": lambda d: d("cuda:0") == d("cuda"),
    "same": lambda d: (d("cuda") == d("cuda"), d("cuda:1") == d("cuda", 1)),
    "cpu vs cpu:0": lambda d: (d("cpu") == d("cpu:0"), d("cpu") != d("cpu:0")),
    "hash": lambda d: hash(d("cuda")) == hash(d("cuda:0")),
    "dict key": lambda d: {d("cuda"): 1}.get(d("cuda:0")),
    "vs string": lambda d: (d("cuda") == "cuda", "cpu" == d("cpu"), d("cpu") != "cpu"),
    "vs bad string": lambda d: d("cuda") == "bogus",
    "vs int": lambda d: d("cuda") == 3,
    "cpu index": lambda d: (repr(d("cpu", 0)), d("cpu", 0).index, d("cuda").index),
    "str": lambda d: (str(d("cuda", 1)), str(d("cuda")), repr(d(type="cuda", index=2))),
    "negative in string": lambda d: d("cuda:-1"),
    "not a number": lambda d: d("cuda:x"),
    "leading zero": lambda d: d("cuda:01"),
    "trailing space": lambda d: d("cuda:0 "),
    "empty": lambda d: d(""),
    "no type": lambda d: d(":0"),
    "negative index": lambda d: d("cpu", -1),
    "index twice": lambda d: d("cuda:0", 1),
    "float index": lambda d: d("cpu", 1.0),
    "bool index": lambda d: d("cuda", True),
    "device and index": lambda d: d(d("cpu"), 0),
    "copy": lambda d: repr(d(d("cuda:1"))),
    "order": lambda d: d("cuda") < d("cpu"),
    "meta index": lambda d: repr(d("meta:0")),
}


@pytest.mark.parametrize("case", list(DEVICE_CASES))
def test_device_equality_hash_and_parsing_agree_with_torch(case):
    want = _outcome(lambda: DEVICE_CASES[case](torch.device))
    got = _outcome(lambda: DEVICE_CASES[case](kiln.device))
    if isinstance(want, tuple) and len(want) == 2 and isinstance(want[0], str):
        if want[0].endswith(("Error", "Exception")):  # an error: the same class
            assert isinstance(got, tuple) and got[0] == want[0], (want, got)
            return
    if case == "order":  # (both refuse; the messages are Python's own)
        assert got[0] == want[0] == "TypeError"
        return
    assert got == want


def test_tensor_devices_still_match_where_torch_does():
    x = kiln.zeros(2)
    assert x.device == kiln.device("cpu") and x.device.type == "cpu" and x.is_cpu
    assert x.device != kiln.device("cuda", 0) and x.to(kiln.device("cpu", 0)).device == x.device
    assert kiln.ones(1, device=kiln.device("cpu", 0)).device == kiln.device("cpu")
    with kiln.device("meta"):
        assert kiln.zeros(1).device == kiln.device("meta")


# ---------------------------------------------------------------------------- __version__
# kiln.__version__ was "0.1.0": a script's ``torch.__version__ >= "2.0"`` (a string compare)
# or ``tuple(int(p) for p in v.split("+")[0].split("."))`` took its PyTorch-1 branch.


def test_version_reads_as_the_pytorch_api_level_and_compares_as_a_version():
    v = kiln.__version__
    assert isinstance(v, str) and v.split("+")[0] == torch.__version__.split("+")[0]
    assert v.startswith("2.") and int(v.split(".")[1]) >= 13
    assert tuple(int(p) for p in v.split("+")[0].split(".")) >= (2, 0)
    reference = torch.torch_version.TorchVersion(str(v))
    others = ["2.0", "2.13", "2.13.0", "2.13.0+cpu", "2.13.1", "2.14.0a0", "1.13.1", "parrot"]
    others += ["2.13.0rc1", "2.13.0.dev20260101", "2.13.0.post1", "10.0"]
    for other in others + [(2, 0), (2, 13, 0), (2, 14), [1, 9]]:
        for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__"):
            assert getattr(v, op)(other) == getattr(reference, op)(other), (other, op)
    packaging = pytest.importorskip("packaging.version")
    assert packaging.parse(v) >= packaging.parse("2.0") and v > packaging.Version("2.12.1")
    assert kiln.version.__version__ == v


def test_kiln_own_version_is_the_package_version():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert kiln.version.kiln == declared
    assert kiln.__version__.endswith("+kiln" + declared)
    from importlib.metadata import version

    assert version("kiln") == declared
