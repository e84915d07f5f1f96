"""Eager strides and memory formats as PyTorch's, and writes through expanded views.

Elementwise results follow TensorIterator's layout rule (kiln's NumPy ufuncs picked C
order for mixed layouts: ``x.t() + y`` was contiguous where PyTorch's is transposed, and
a channels_last + contiguous sum was contiguous); several layers wrote channels_last where
PyTorch writes contiguously, or the reverse; and a write through a view of an expanded
tensor (``x.expand(3, 4)[1].mul_(2)``, ``e[0] = v``) silently left ``x`` unchanged. Each
case is compared with torch: shape, strides, contiguity (both formats) and values.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

_R = np.random.RandomState(27)
_A2 = _R.randn(5, 6).astype(np.float32)
_A3 = _R.randn(4, 5, 6).astype(np.float32)
_A4 = _R.randn(2, 3, 4, 5).astype(np.float32)
_S3 = _R.randn(8, 5, 12).astype(np.float32)
_S4 = _R.randn(2, 3, 8, 5).astype(np.float32)


def _facts(r, lib):
    facts = [tuple(r.shape), r.stride(), r.is_contiguous(), str(r.dtype).split(".")[-1]]
    if r.ndim == 4:
        facts.append(r.is_contiguous(memory_format=lib.channels_last))
    if r.ndim == 5:
        facts.append(r.is_contiguous(memory_format=lib.channels_last_3d))
    return facts


def _compare(cases, layouts, arity):
    """Each case over each (pair of) layout(s): the facts and values of kiln's result
    against torch's; the differing cases (a case torch refuses is skipped)."""
    wrong = []
    for name, fn in cases.items():
        for combo in itertools.product(layouts.items(), repeat=arity):
            labels = [label for label, _ in combo]
            try:
                want = fn(torch, *[make(torch) for _, make in combo])
            except RuntimeError:
                continue
            got = fn(kiln, *[make(kiln) for _, make in combo])
            if _facts(got, kiln) != _facts(want, torch):
                wrong.append((name, labels, _facts(want, torch), _facts(got, kiln)))
            elif not name.endswith("_like") or name == "zeros_like":
                np.testing.assert_allclose(
                    got.float().numpy(), want.float().numpy(), rtol=2e-5, atol=1e-5
                )
    return wrong


LAYOUTS_3D = {
    "contiguous": lambda L: L.tensor(_A3),
    "permuted 120": lambda L: L.tensor(_A3.transpose(1, 2, 0).copy()).permute(2, 0, 1),
    "permuted 210": lambda L: L.tensor(_A3.transpose(2, 1, 0).copy()).permute(2, 1, 0),
    "expanded": lambda L: L.tensor(_A3[:1]).expand(4, 5, 6),
    "permuted expanded": lambda L: (
        L.tensor(_A3[:, :1].transpose(2, 1, 0).copy()).permute(2, 1, 0).expand(4, 5, 6)
    ),
    "column": lambda L: L.tensor(_A3[0, :, :1]),
    "transposed row": lambda L: L.tensor(_A3[:, 0, :].T.copy()).t()[:, None, :],
    "vector": lambda L: L.tensor(_A3[0, 0]),
    "step slice": lambda L: L.tensor(_S3)[::2, :, ::2],
    "0-d": lambda L: L.tensor(np.float32(0.75)),
    "int permuted": lambda L: (
        L.tensor((_A3 * 3).astype(np.int64)).permute(0, 2, 1).contiguous().permute(0, 2, 1)
    ),
}

LAYOUTS_4D = {
    "contiguous": lambda L: L.tensor(_A4),
    "channels_last": lambda L: L.tensor(_A4).contiguous(memory_format=L.channels_last),
    "permuted": lambda L: L.tensor(_A4.transpose(3, 2, 1, 0).copy()).permute(3, 2, 1, 0),
    "expanded": lambda L: L.tensor(_A4[:, :1]).expand(2, 3, 4, 5),
    "bias": lambda L: L.tensor(_A4[:1, :, :1, :1]).contiguous(memory_format=L.channels_last),
    "step slice": lambda L: L.tensor(_S4)[:, :, ::2],
    "0-d": lambda L: L.tensor(np.float32(1.5)),
}

BINARY = {
    "add": lambda L, a, b: a + b,
    "mul": lambda L, a, b: a * b,
    "div": lambda L, a, b: a / b,
    "gt": lambda L, a, b: a > b,
    "maximum": lambda L, a, b: L.maximum(a, b),
    "where": lambda L, a, b: L.where(a > 0, a, b),
    "clamp min": lambda L, a, b: L.clamp(a, min=b),
    "atan2": lambda L, a, b: L.atan2(a, b),
    "copysign": lambda L, a, b: L.copysign(a, b),
    "remainder": lambda L, a, b: L.remainder(a, b),
    "lerp": lambda L, a, b: L.lerp(a.float(), b.float(), 0.25),
    "addcmul": lambda L, a, b: L.addcmul(a.float(), a.float(), b.float()),
}


def test_binary_elementwise_layouts_agree_with_torch():
    wrong = _compare(BINARY, LAYOUTS_3D, 2)
    wrong += _compare({k: BINARY[k] for k in ("add", "mul", "where")}, LAYOUTS_4D, 2)
    assert not wrong, wrong[:5]


UNARY = {
    "neg": lambda L, a: -a,
    "exp": lambda L, a: a.float().exp(),
    "abs": lambda L, a: a.abs(),
    "relu": lambda L, a: L.relu(a),
    "sigmoid": lambda L, a: a.float().sigmoid(),
    "add scalar": lambda L, a: a + 1,
    "scalar ** x": lambda L, a: 2**a,
    "exp2": lambda L, a: a.float().exp2(),
    "to double": lambda L, a: a.double(),
    "to half": lambda L, a: a.half(),
    "to bool": lambda L, a: a.bool(),
    "clone": lambda L, a: a.clone(),
    "empty_like": lambda L, a: L.empty_like(a),
    "zeros_like": lambda L, a: L.zeros_like(a),
    "rand_like": lambda L, a: L.rand_like(a.float()),
    "randint_like": lambda L, a: L.randint_like(a, 5),
}


def test_unary_and_like_layouts_agree_with_torch():
    wrong = _compare(UNARY, LAYOUTS_3D, 1) + _compare(UNARY, LAYOUTS_4D, 1)
    assert not wrong, wrong[:5]


_X4 = _R.randn(2, 3, 6, 6).astype(np.float32)
_X5 = _R.randn(2, 3, 4, 4, 4).astype(np.float32)
_W_T2 = _R.randn(3, 2, 2, 2).astype(np.float32)

MODULES = {
    "InstanceNorm2d": (lambda nn: nn.InstanceNorm2d(3), 4),
    "InstanceNorm3d": (lambda nn: nn.InstanceNorm3d(3, affine=True), 5),
    "Softmax2d": (lambda nn: nn.Softmax2d(), 4),
    "LogSoftmax": (lambda nn: nn.LogSoftmax(1), 4),
    "AvgPool3d": (lambda nn: nn.AvgPool3d(2), 5),
    "MaxPool3d": (lambda nn: nn.MaxPool3d(2), 5),
    "LayerNorm": (lambda nn: nn.LayerNorm(6), 4),
    "LayerNorm 3-d": (lambda nn: nn.LayerNorm([4, 4]), 5),
    "CircularPad3d": (lambda nn: nn.CircularPad3d(1), 5),
    "CircularPad2d": (lambda nn: nn.CircularPad2d(1), 4),
    "ReflectionPad3d": (lambda nn: nn.ReflectionPad3d(1), 5),
    "LPPool2d": (lambda nn: nn.LPPool2d(2, 2), 4),
    "BatchNorm2d": (lambda nn: nn.BatchNorm2d(3), 4),
}


def test_modules_on_channels_last_inputs_write_torchs_memory_format():
    wrong = []
    for name, (make, ndim) in MODULES.items():
        results = []
        for L in (torch, kiln):
            x = L.tensor(_X4 if ndim == 4 else _X5)
            fmt = L.channels_last if ndim == 4 else L.channels_last_3d
            y = make(L.nn)(x.contiguous(memory_format=fmt))
            results.append((_facts(y, L), y.detach().numpy()))
        (want, want_values), (got, got_values) = results
        if got != want:
            wrong.append((name, want, got))
        np.testing.assert_allclose(got_values, want_values, rtol=1e-4, atol=1e-5)
    convolved = []  # a transposed convolution keeps channels_last, as torch's
    for L in (torch, kiln):
        x = L.tensor(_X4).contiguous(memory_format=L.channels_last)
        convolved.append(L.nn.functional.conv_transpose2d(x, L.tensor(_W_T2)))
    assert _facts(convolved[1], kiln) == _facts(convolved[0], torch)
    np.testing.assert_allclose(convolved[1].numpy(), convolved[0].numpy(), rtol=1e-4, atol=1e-4)
    assert not wrong, wrong


OTHER = {
    "nonzero": lambda L: L.nonzero(L.tensor(_A2) > 0),
    "nonzero transposed": lambda L: L.nonzero(L.tensor(_A2).t() > 0),
    "argwhere 3-d": lambda L: L.argwhere(L.tensor(_A3) > 0.5),
    "layer_norm transposed": lambda L: L.nn.functional.layer_norm(
        L.tensor(_A3).transpose(0, 1), (6,)
    ),
    "layer_norm permuted": lambda L: L.nn.functional.layer_norm(
        L.tensor(_A3).permute(2, 0, 1), (5,)
    ),
    "instance_norm": lambda L: L.nn.functional.instance_norm(
        L.tensor(_X4).contiguous(memory_format=L.channels_last)
    ),
    "log_softmax channels_last": lambda L: L.log_softmax(
        L.tensor(_X4).contiguous(memory_format=L.channels_last), 1
    ),
    "circular pad transposed": lambda L: L.nn.functional.pad(
        L.tensor(_A3).transpose(1, 2), (1, 1), mode="circular"
    ),
    "matmul transposed": lambda L: L.tensor(_A2).t() @ L.tensor(_A2),
    "matmul 3-d transposed": lambda L: L.tensor(_A3).transpose(1, 2) @ L.tensor(_A3),
    "einsum bij->jbi": lambda L: L.einsum("bij->jbi", L.tensor(_A3)),
    "index transposed": lambda L: L.tensor(_A3).transpose(0, 2)[:, L.tensor([0, 2])],
    "index first axis": lambda L: L.tensor(_A3).transpose(0, 2)[[0, 2]],
    "index 2-d transposed": lambda L: L.tensor(_A3)[:, L.tensor([[0, 1], [2, 3]]).t()],
    "index channels_last": lambda L: L.tensor(_X4).contiguous(memory_format=L.channels_last)[
        ..., L.tensor([1, 2])
    ],
    "index_select transposed": lambda L: (
        L.tensor(_A3).transpose(0, 2).index_select(1, L.tensor([0, 2]))
    ),
    "einsum ij,jk->ik": lambda L: L.einsum("ij,jk->ik", L.tensor(_A2), L.tensor(_A2).t()),
    "einsum ij,jk->ki": lambda L: L.einsum("ij,jk->ki", L.tensor(_A2), L.tensor(_A2).t()),
    "einsum bij,bjk->kbi": lambda L: L.einsum(
        "bij,bjk->kbi", L.tensor(_A3), L.tensor(_A3).transpose(1, 2)
    ),
    "einsum bij->jb": lambda L: L.einsum("bij->jb", L.tensor(_A3)),
    "einsum i,j->ji": lambda L: L.einsum("i,j->ji", L.tensor(_A2[0]), L.tensor(_A2[1])),
    "einsum bi,bj->jib": lambda L: L.einsum("bi,bj->jib", L.tensor(_A2), L.tensor(_A2)),
    "einsum ij,ij->ij": lambda L: L.einsum("ij,ij->ij", L.tensor(_A2).t(), L.tensor(_A2.T.copy())),
}


def test_other_results_strides_agree_with_torch():
    wrong = []
    for name, fn in OTHER.items():
        want, got = fn(torch), fn(kiln)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)
        if _facts(got, kiln) != _facts(want, torch):
            wrong.append((name, _facts(want, torch), _facts(got, kiln)))
    assert not wrong, wrong


def test_traced_elementwise_layouts_follow_the_eager_ones():
    def f(x, y):
        z = x.t() + y  # (transposed, as x.t(): PyTorch's first input decides)
        w = kiln.where(x.t() > 0, y, x.t())
        return z * z.stride(0) + w * w.stride(1)

    x, y = kiln.tensor(_A2[:5, :5]), kiln.tensor(_A2[:5, 1:].copy())
    np.testing.assert_allclose(kiln.compile(f)(x, y).numpy(), f(x, y).numpy(), rtol=1e-6)
    tx, ty = torch.tensor(_A2[:5, :5]), torch.tensor(_A2[:5, 1:].copy())
    assert (x.t() + y).stride() == (tx.t() + ty).stride() == (1, 5)


# ------------------------------------------------------- writes through expanded tensors
# NumPy's broadcast view is read-only; kiln wrote such an update into a private copy of
# the view, so ``x.expand(3, 4)[1].mul_(2)`` left ``x`` as it was (PyTorch: x doubled).

WRITES = {
    "row mul_": lambda L, x: x.expand(3, 4)[1].mul_(2),
    "row slice add_": lambda L, x: x.expand(3, 4)[1:2].add_(1),
    "whole add_": lambda L, x: x.expand(3, 4).add_(1),
    "column add_": lambda L, x: x.expand(3, 4)[:, 1].add_(1),
    "row fill_": lambda L, x: x.expand(3, 4)[0].fill_(7),
    "fill_ number": lambda L, x: x.expand(3, 4).fill_(3.0),
    "fill_ tensor": lambda L, x: x.expand(3, 4).fill_(L.tensor(3.0)),
    "zero_": lambda L, x: x.expand(3, 4).zero_(),
    "column zero_": lambda L, x: x.expand(3, 4)[:, 1].zero_(),
    "copy_": lambda L, x: x.expand(3, 4).copy_(L.ones(3, 4)),
    "row copy_": lambda L, x: x.expand(3, 4)[2].copy_(L.ones(4) * 5),
    "row exp_": lambda L, x: x.expand(3, 4)[2].exp_(),
    "row addcmul_": lambda L, x: x.expand(2, 4)[1].addcmul_(x, x),
    "row of row mul_": lambda L, x: x.expand(3, 4)[1].mul_(x.expand(3, 4)[2]),
    "clamp_": lambda L, x: x.expand(3, 4).clamp_(0, 2),
    "iadd": lambda L, x: x.expand(3, 4).__iadd__(1),
    "setitem element": lambda L, x: x.expand(3, 4).__setitem__((0, 1), 5.0),
    "setitem row": lambda L, x: x.expand(3, 4).__setitem__(0, L.ones(4) * 7),
    "setitem row of row": lambda L, x: x.expand(3, 4)[1].__setitem__(1, 5.0),
    "setitem column": lambda L, x: x.expand(3, 4).__setitem__((slice(None), 1), 5.0),
    "setitem all": lambda L, x: x.expand(3, 4).__setitem__(Ellipsis, 9.0),
    "setitem index tensor": lambda L, x: x.expand(3, 4).__setitem__(L.tensor([0]), 9.0),
    "out= row": lambda L, x: L.add(L.ones(4), 1, out=x.expand(3, 4)[1]),
    "out= expanded": lambda L, x: L.add(L.ones(3, 4), 1, out=x.expand(3, 4)),
    "0-d expanded add_": lambda L, x: x[0].expand(3).add_(1),
    "0-d expanded element add_": lambda L, x: x[0].expand(3)[1].add_(1),
    "transposed expanded row": lambda L, x: x.view(2, 2).t().expand(3, 2, 2)[1].mul_(10),
    # repeat copies (kiln's is an expand and a reshape: the write must not reach x)
    "repeat then setitem": lambda L, x: x.repeat(2, 1).__setitem__(1, 0.0),
    "repeat then row add_": lambda L, x: x[None].repeat(2, 1)[1].add_(1),
}


def _write_outcome(lib, fn):
    """What the write did: its exception class (and whether the message names the
    overlap) or "ok", and x's values after it."""
    x = lib.tensor([1.0, 2.0, 3.0, 4.0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(lib, x)
    except RuntimeError as exc:
        return ("RuntimeError", "more than one element" in str(exc)), x.tolist()
    return ("ok",), x.tolist()


def test_writes_through_views_of_expanded_tensors_as_torch():
    wrong = []
    for name, fn in WRITES.items():
        (want, want_x), (got, got_x) = _write_outcome(torch, fn), _write_outcome(kiln, fn)
        if got != want or not np.allclose(got_x, want_x, rtol=1e-6):
            wrong.append((name, want, want_x, got, got_x))
    assert not wrong, wrong


def test_a_write_through_an_expanded_view_under_autograd_is_refused_not_lost():
    # PyTorch passes such a write back to the base's history (CopySlices); kiln cannot,
    # and raises rather than change x's values behind its autograd history
    a = kiln.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    x = a * 1
    for write in (lambda: x.expand(3, 4)[1].mul_(2), lambda: x.expand(3, 4).zero_()):
        with pytest.raises(RuntimeError, match="expanded tensor.*autograd"):
            write()
        assert x.tolist() == [1.0, 2.0, 3.0, 4.0]
    with kiln.no_grad():
        x.expand(3, 4)[1].mul_(2)
    assert x.tolist() == [2.0, 4.0, 6.0, 8.0]
    memory = bytearray(np.arange(4, dtype=np.float32).tobytes())
    over_buffer = kiln.frombuffer(memory, dtype=kiln.float32)
    over_buffer.expand(2, 4)[1].add_(1)  # (a tensor over a writable buffer: written through)
    assert np.frombuffer(memory, dtype=np.float32).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_meta_tensors_of_mixed_layouts_stay_without_data():
    # a meta tensor's array is a broadcast stand-in: laying it out would allocate its size
    x = kiln.empty(300, 400, device="meta").t()
    results = [
        x + kiln.empty(400, 300, device="meta"),
        kiln.where(x > 0, x, x.exp()),
        kiln.clamp(x, min=x),
        kiln.relu(x),
        x.half(),
        2**x,
        kiln.nn.functional.layer_norm(x, (300,)),
    ]
    for r in results:
        assert r.is_meta and tuple(r.shape) == (400, 300)
        assert r._data.strides == (0, 0)  # (no data behind it)
