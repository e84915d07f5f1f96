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


# ------------------------------------------------------------------------------ eager strides
# NumPy lays out a result in its input's order; PyTorch's kernels write most results
# contiguously: kiln's cat, stack, roll, cumsum, softmax, masked_fill, tril and keepdim
# reductions of a transposed or channels_last input reported transposed strides (and
# is_contiguous() False), flip, sort and pad did not keep the input's layout where PyTorch
# does, clone/to(dtype) of an expanded input came out in a strange order, and an empty
# tensor was not contiguous. 173 of 610 op x layout probes differed, 33 now (22 of them
# strides of empty tensors, which a NumPy array does not hold; see the report).

_A4 = np.random.RandomState(0).randn(2, 3, 4, 5).astype(np.float32)
_A3 = np.random.RandomState(1).randn(4, 5, 6).astype(np.float32)
_A2 = np.random.RandomState(2).randn(5, 6).astype(np.float32)

LAYOUTS = {
    "contiguous": lambda L: L.tensor(_A2),
    "transposed": lambda L: L.tensor(_A2).t(),
    "permuted 3-d": lambda L: L.tensor(_A3).permute(2, 0, 1),
    "permuted 4-d": lambda L: L.tensor(_A4).permute(0, 3, 1, 2),
    "channels_last": lambda L: L.tensor(_A4).contiguous(memory_format=L.channels_last),
    "step slice": lambda L: L.tensor(_A2)[::2, 1::2],
    "expanded": lambda L: L.tensor(_A2[:1]).expand(5, 6),
    "expanded 3-d": lambda L: L.tensor(_A3[:, :1]).expand(4, 5, 6),
    "0-d": lambda L: L.tensor(np.float32(1.5)),
}

LAYOUT_OPS = {
    "neg": lambda L, x: -x,
    "add scalar": lambda L, x: x + 1,
    "exp": lambda L, x: L.exp(x),
    "gt": lambda L, x: x > 0,
    "to double": lambda L, x: x.double(),
    "to int": lambda L, x: x.int(),
    "clone": lambda L, x: x.clone(),
    "contiguous": lambda L, x: x.contiguous(),
    "empty_like": lambda L, x: L.empty_like(x),
    "zeros_like": lambda L, x: L.zeros_like(x),
    "sum keepdim": lambda L, x: x.sum(-1, keepdim=True) if x.ndim else x.sum(),
    "mean keepdim": lambda L, x: x.mean(0, keepdim=True) if x.ndim else x.mean(),
    "sum dim 0": lambda L, x: x.sum(0) if x.ndim else x.sum(),
    "amax keepdim": lambda L, x: x.amax(-1, keepdim=True),
    "prod keepdim": lambda L, x: x.prod(0, keepdim=True) if x.ndim else x,
    "std keepdim": lambda L, x: x.std(0, keepdim=True) if x.ndim else x,
    "any keepdim": lambda L, x: (x > 0).any(0, keepdim=True) if x.ndim else x,
    "cat": lambda L, x: L.cat([x, x], 0) if x.ndim else L.stack([x, x]),
    "cat last": lambda L, x: L.cat([x, x], -1) if x.ndim else L.stack([x, x]),
    "stack": lambda L, x: L.stack([x, x]),
    "stack last": lambda L, x: L.stack([x, x], -1),
    "roll": lambda L, x: L.roll(x, 1, 0) if x.ndim else L.roll(x, 1),
    "cumsum": lambda L, x: L.cumsum(x, 0),
    "cumprod": lambda L, x: L.cumprod(x, 0),
    "cummax": lambda L, x: L.cummax(x, 0)[0] if x.ndim else x,
    "flip": lambda L, x: L.flip(x, [0]) if x.ndim else x,
    "sort": lambda L, x: L.sort(x, 0)[0] if x.ndim else L.sort(x)[0],
    "sort indices": lambda L, x: L.sort(x, -1)[1],
    "argsort": lambda L, x: L.argsort(x, 0) if x.ndim else x,
    "softmax 0": lambda L, x: L.softmax(x, 0),
    "softmax last": lambda L, x: L.softmax(x, -1),
    "log_softmax 0": lambda L, x: L.log_softmax(x, 0),
    "pad": lambda L, x: L.nn.functional.pad(x, (1, 1)) if x.ndim else x,
    "masked_fill": lambda L, x: x.masked_fill(x > 0, 0.0),
    "tril": lambda L, x: L.tril(x) if x.ndim >= 2 else x,
    "mul_ of clone": lambda L, x: x.clone().mul_(2),
}


def _layout_facts(r, lib):
    facts = [tuple(r.shape), r.stride(), r.is_contiguous()]
    if r.ndim == 4:
        facts.append(r.is_contiguous(memory_format=lib.channels_last))
    return facts


@pytest.mark.parametrize("op", list(LAYOUT_OPS))
def test_eager_strides_agree_with_torch_over_layouts(op):
    fn = LAYOUT_OPS[op]
    wrong = []
    for name, make in LAYOUTS.items():
        want, got = fn(torch, make(torch)), fn(kiln, make(kiln))
        if op != "empty_like":  # (the values: rounding apart, as before)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-5, atol=1e-5)
        if _layout_facts(got, kiln) != _layout_facts(want, torch):
            wrong.append((name, _layout_facts(want, torch), _layout_facts(got, kiln)))
    assert not wrong


def test_empty_tensors_are_contiguous_and_report_dense_strides():
    for lib in (torch, kiln):
        e = lib.zeros(3, 0) + 1
        assert e.is_contiguous() and e.stride() == (1, 1)
        assert lib.zeros(0, 3).t().contiguous().is_contiguous()
        assert lib.zeros(2, 0, 4).sum(-1, keepdim=True).stride() == (1, 1, 1)


def test_traced_layouts_follow_the_eager_ones():
    def f(x):
        y = x.T.softmax(-1)
        z = kiln.cumsum(x.T, 0)
        return y * y.stride(0) + z * z.stride(1)

    x = kiln.tensor(_A2[:5, :5])
    np.testing.assert_allclose(kiln.compile(f)(x).numpy(), f(x).numpy(), rtol=1e-5, atol=1e-6)
    y = torch.tensor(_A2[:5, :5]).T
    assert kiln.tensor(_A2[:5, :5]).T.softmax(-1).stride() == y.softmax(-1).stride()


# ------------------------------------------------------------- a number where torch wants a Tensor
# kiln.maximum(t, 2), kiln.atan2(2.0, t), kiln.eq(2, t), kiln.mm(t, 2.0), ... computed (or
# raised AttributeError) where PyTorch raises TypeError; kiln's own code keeps calling the
# lenient functions of kiln.ops.

STRICT_NAMES = sorted(kiln.strict_args.TENSOR_PARAMETERS)


@pytest.mark.parametrize("name", STRICT_NAMES)
def test_numbers_where_torch_demands_a_tensor(name):
    def outcomes(lib):
        f = getattr(lib, name)
        t, ti = lib.tensor([1.0, 2.0, 3.0]), lib.tensor([1, 2, 3])
        out = []
        for args in [(t, 2.0), (2.0, t), (ti, 2), (2, ti)]:
            try:
                f(*args)
                out.append("ok")
            except TypeError:
                out.append("TypeError")
            except Exception:  # noqa: BLE001 - another refusal (dtype, shape) of valid types
                out.append("other")
        return out

    want, got = outcomes(torch), outcomes(kiln)
    # where torch refuses the types, kiln does too; where torch takes them, kiln does not
    # refuse them for their types
    assert [w == "TypeError" for w in want] == [g == "TypeError" for g in got], (want, got)


def test_strict_functions_still_take_tensors_and_keywords():
    t = kiln.tensor([1.0, -2.0])
    assert kiln.maximum(t, kiln.tensor(0.0)).tolist() == [1.0, 0.0]
    assert kiln.clamp(t, 0).tolist() == [1.0, 0.0] and kiln.eq(t, 1.0).tolist() == [True, False]
    with pytest.raises(TypeError, match=r"maximum\(\): argument 'other' \(position 2\)"):
        kiln.maximum(t, 0.0)
    with pytest.raises(TypeError, match="argument 'other' must be Tensor, not float"):
        kiln.maximum(t, other=0.0)
    assert kiln.functional.cdist is kiln.cdist  # (torch.functional's, one function)
    x = kiln.tensor([3.0, 4.0], requires_grad=True)
    kiln.maximum(x, kiln.zeros(2)).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------- uint16/32/64
# kiln had no uint16/uint32, and uint64 promoted with int64 to float64 (NumPy's rule: a
# silently different dtype) where PyTorch refuses; tensor([2**63], dtype=uint64) raised,
# tensor([2**64 - 1, 0], dtype=uint64) gave [0, 0] (NumPy read the list as floats).

UNSIGNED = ["uint16", "uint32", "uint64"]
OTHERS = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16"]
OTHERS += ["float32", "float64", "complex64"] + UNSIGNED


@pytest.mark.parametrize("name", UNSIGNED)
def test_limited_unsigned_dtypes_promote_as_torch(name):
    for other in OTHERS:
        pair = []
        for lib in (torch, kiln):
            try:
                pair.append(str(lib.promote_types(getattr(lib, name), getattr(lib, other))))
            except RuntimeError as exc:
                assert "Promotion for uint16, uint32, uint64 types is not supported" in str(exc)
                pair.append("refused")
        assert pair[1].split(".")[-1] == pair[0].split(".")[-1], (other, pair)
    a = kiln.tensor([1, 2], dtype=getattr(kiln, name))
    with pytest.raises(RuntimeError, match="Promotion for uint16"):
        a + kiln.tensor([1, 2])
    assert (a * 2).dtype is a.dtype and (a + kiln.tensor([0.5, 1.0])).dtype is kiln.float32


UNSIGNED_CASES = {
    "tensor": lambda L, u: L.tensor([1, 2, 65535], dtype=u),
    "zeros": lambda L, u: L.zeros(2, dtype=u),
    "full": lambda L, u: L.full((2,), 5, dtype=u),
    "from float": lambda L, u: L.tensor([1.5, 2.0]).to(u),
    "to float": lambda L, u: L.tensor([1, 2], dtype=u).float(),
    "to long": lambda L, u: L.tensor([1, 2], dtype=u).long(),
    "mul scalar": lambda L, u: L.tensor([1, 2], dtype=u) * 3,
    "sum": lambda L, u: L.tensor([1, 2], dtype=u).sum(),
    "eq": lambda L, u: L.tensor([1, 2], dtype=u) == 1,
    "cat": lambda L, u: L.cat([L.tensor([1], dtype=u), L.tensor([2], dtype=u)]),
    "from numpy": lambda L, u: L.from_numpy(np.array([1, 2], dtype=str(u).split(".")[-1])),
    "negative": lambda L, u: L.tensor([-1], dtype=u),
    "too big": lambda L, u: L.tensor([2**70], dtype=u),
    "uint64 range": lambda L, u: L.tensor([[2**64 - 1], [2**63]], dtype=u),
}


@pytest.mark.parametrize("name", UNSIGNED)
@pytest.mark.parametrize("case", list(UNSIGNED_CASES))
def test_limited_unsigned_dtypes_create_cast_and_print_as_torch(name, case):
    def run(lib):
        try:
            r = UNSIGNED_CASES[case](lib, getattr(lib, name))
        except Exception as exc:  # noqa: BLE001 - the error class is compared
            return type(exc).__name__
        shown = repr(r).replace("torch.", "kiln.")
        return str(r.dtype).split(".")[-1], r.tolist(), r.element_size(), shown

    assert run(kiln) == run(torch)


def test_limited_unsigned_dtype_facts():
    for name in UNSIGNED:
        k, t = getattr(kiln, name), getattr(torch, name)
        assert (k.is_signed, k.is_floating_point, k.itemsize) == (
            t.is_signed,
            t.is_floating_point,
            t.itemsize,
        )
        assert kiln.iinfo(k).max == torch.iinfo(t).max and kiln.iinfo(k).bits == torch.iinfo(t).bits


_IMAGES = np.random.RandomState(3).randn(2, 3, 6, 6).astype(np.float32)
_FILTERS = np.random.RandomState(4).randn(4, 3, 3, 3).astype(np.float32)

CHANNELS_LAST_LAYERS = {
    "conv2d": lambda F, x, L: F.conv2d(x, L.tensor(_FILTERS)),
    "max_pool2d": lambda F, x, L: F.max_pool2d(x, 2),
    "max_pool2d indices": lambda F, x, L: F.max_pool2d(x, 2, return_indices=True)[1],
    "avg_pool2d": lambda F, x, L: F.avg_pool2d(x, 2),
    "adaptive_avg_pool2d": lambda F, x, L: F.adaptive_avg_pool2d(x, 1),
    "interpolate": lambda F, x, L: F.interpolate(x, scale_factor=2),
    "group_norm": lambda F, x, L: F.group_norm(x, 1),
    "reflect pad": lambda F, x, L: F.pad(x, (1, 1, 1, 1), mode="reflect"),
    "relu": lambda F, x, L: F.relu(x),
    "conv2d module": lambda F, x, L: L.nn.Conv2d(3, 2, 3)(x),
    "topk transposed": lambda F, x, L: x.flatten(1).t().topk(2, 0)[0],
}


@pytest.mark.parametrize("name", list(CHANNELS_LAST_LAYERS))
def test_layers_keep_a_channels_last_input_as_torch(name):
    facts = []
    for lib in (torch, kiln):
        lib.manual_seed(0)
        x = lib.tensor(_IMAGES).contiguous(memory_format=lib.channels_last)
        y = CHANNELS_LAST_LAYERS[name](lib.nn.functional, x, lib)
        facts.append(_layout_facts(y, lib))
        plain = CHANNELS_LAST_LAYERS[name](lib.nn.functional, lib.tensor(_IMAGES), lib)
        facts.append(_layout_facts(plain, lib))
    assert facts[2:] == facts[:2]
