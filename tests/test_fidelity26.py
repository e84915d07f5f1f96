"""PyTorch's exact eager semantics where earlier rounds found kiln different (issue 14):
``torch.device`` equality and parsing, ``torch.__version__``, eager strides, sparse inputs
of dense-only functions; each checked against torch."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
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


# ----------------------------------------------------------------- sparse inputs, dense paths
# A sparse tensor's _data was an ndarray subclass of NaNs that np.asarray let through:
# unique_consecutive(sparse) returned [nan, nan, nan, nan] and bucketize(sparse, b) ones,
# histc raised "range of [nan, nan] is not finite", solve/quantile/unique/argwhere
# "constant: no way to put an array on device 'cpu'". PyTorch raises NotImplementedError
# ("... from the 'SparseCPU' backend") for all of them.

SPARSE_REFUSED = {
    "unique_consecutive": lambda L, s: L.unique_consecutive(s),
    "bucketize": lambda L, s: L.bucketize(s, L.tensor([0.5])),
    "histc": lambda L, s: L.histc(s),
    "solve": lambda L, s: L.linalg.solve(s, L.ones(2)),
    "unique": lambda L, s: L.unique(s),
    "argwhere": lambda L, s: L.argwhere(s),
    "cdist": lambda L, s: L.cdist(s, s),
    "zeta": lambda L, s: L.special.zeta(s, s),
    "searchsorted": lambda L, s: L.searchsorted(s, L.ones(2, 1)),
    "isin": lambda L, s: L.isin(s, L.tensor([1.0])),
    "topk": lambda L, s: L.topk(s, 1),
    "logsumexp": lambda L, s: L.logsumexp(s, 0),
    "kron": lambda L, s: L.kron(s, s),
    "view_dtype": lambda L, s: s.view(L.int32),
}


@pytest.mark.parametrize("case", list(SPARSE_REFUSED))
def test_dense_only_functions_refuse_a_sparse_input_as_torch(case):
    fn = SPARSE_REFUSED[case]
    with pytest.raises(NotImplementedError):
        fn(torch, torch.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2)))
    with pytest.raises(NotImplementedError, match="Sparse"):
        fn(kiln, kiln.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2)))


def test_a_sparse_placeholder_gives_no_values_to_numpy():
    s = kiln.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 3))
    for read in (np.asarray, np.array, np.exp, np.sort, lambda a: a.strides, list):
        with pytest.raises(NotImplementedError, match="SparseCPU"):
            read(s._data)
    assert getattr(s._data, "base", None) is None  # (a probe of an attribute sees none)
    assert s.shape == (2, 3) and s.numel() == 6 and s.dtype is kiln.float32
    assert s.element_size() == 4 and s.to_dense().tolist() == [[0, 1, 0], [2, 0, 0]]
