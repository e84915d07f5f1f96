"""kiln.ao (torch.ao.quantization) against PyTorch: quantized tensors, observers,
quantize_dynamic (Linear, LSTM, GRU), static quantization (QuantStub, Linear, LinearReLU,
ReLU), fuse_modules, save/load and the Dynamic Quantization recipe.

Tolerances: quantized integers, scales, zero points and dequantized values are compared
exactly. A quantized layer's float output is compared with ``rtol=1e-5, atol=1e-6``: kiln
reproduces fbgemm's integer pipeline exactly (the input's range and rounding, exact integer
sums; statically, the requantization), so what remains is float32 rounding of the
rescale, the bias add and (LSTM, GRU) the gate functions, a few ulps (observed <= 1.2e-7).
kiln rounds as PyTorch's kernels do (fbgemm's fused multiply-add for per-tensor quint8
and qint8, the product rounded first for qint32 and per channel): the two differ only at
near-ties such as a symmetric weight's largest entry, which the tests include. PyTorch
runs with one thread here (its results do not depend on it; the fixture keeps the runs
comparable and fast).
"""

import contextlib
import io
import os
import warnings

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.fixture(scope="module", autouse=True)
def _torch_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _k(t):
    return kiln.from_numpy(np.array(t.detach().numpy()))  # (a copy; 0-d stays 0-d)


def _dtypes():
    return [(kiln.quint8, torch.quint8), (kiln.qint8, torch.qint8), (kiln.qint32, torch.qint32)]


def _torch_text(text: str) -> str:
    return text.replace("kiln.", "torch.")


def _check_same_quantized(kq, tq, context):
    assert repr(kq.dtype) == _torch_text(repr(kq.dtype)).replace("torch.", "kiln.")
    assert _torch_text(repr(kq.dtype)) == str(tq.dtype), context
    assert kq.is_quantized and tq.is_quantized
    ki, ti = kq.int_repr().numpy(), tq.int_repr().numpy()
    assert ki.dtype == ti.dtype and ki.shape == ti.shape, context
    np.testing.assert_array_equal(ki, ti, err_msg=str(context))
    np.testing.assert_array_equal(kq.dequantize().numpy(), tq.dequantize().numpy())
    assert _torch_text(repr(kq.qscheme())) == str(tq.qscheme()), context


def test_quantize_per_tensor_ties_match_torch_at_any_thread_count():
    # the largest |w| of a symmetric quantization lands within a rounding of +-127.5,
    # with a zero point of 128 (quint8) too: fbgemm's fused rounding decides those
    g = torch.Generator().manual_seed(0)
    threads = kiln.get_num_threads()
    try:
        for count in (1, 3):
            torch.set_num_threads(count)
            kiln.set_num_threads(count)
            for _ in range(40):
                rows, cols = (int(n) for n in torch.randint(1, 30, (2,), generator=g))
                w = torch.randn(rows, cols, generator=g)
                scale = float((w.abs().max() / 127.5).float())
                scales = (w.abs().amax(1) / 127.5).double()
                for (kd, td), zero in zip(_dtypes(), (131, 3, 5)):
                    tq = torch.quantize_per_tensor(w, scale, zero, td)
                    kq = kiln.quantize_per_tensor(_k(w), scale, zero, kd)
                    np.testing.assert_array_equal(kq.int_repr().numpy(), tq.int_repr().numpy())
                    zeros = torch.full((rows,), zero)
                    tq = torch.quantize_per_channel(w, scales, zeros, 0, td)
                    kq = kiln.quantize_per_channel(_k(w), _k(scales), _k(zeros), 0, kd)
                    np.testing.assert_array_equal(kq.int_repr().numpy(), tq.int_repr().numpy())
    finally:
        torch.set_num_threads(1)
        kiln.set_num_threads(threads)


def test_quantize_per_tensor_matches_torch():
    rng = np.random.default_rng(0)
    specials = np.array([np.nan, np.inf, -np.inf, 1e10, -1e10, 0.0, -0.0], np.float32)
    for kd, td in _dtypes():
        for shape in [(5,), (3, 7), (4, 8), (2, 3, 11), (0,)]:
            x = (rng.standard_normal(shape) * 3).astype(np.float32)
            symmetric = float(np.float32(np.abs(x).max() / 127.5)) if x.size else 0.5
            ties = np.arange(-9, 10, dtype=np.float32) * np.float32(0.25)  # halves of 0.5
            for data, scale, zero in [
                (x, 0.037, 3),
                (x, symmetric, 0),  # the largest |x| lands on +-127.5
                (x, 0.1, -2 if kd is not kiln.quint8 else 128),
                (ties, 0.5, 3),
                (np.concatenate([specials, ties]), 0.5, 0),
            ]:
                kq = kiln.quantize_per_tensor(kiln.from_numpy(data), scale, zero, kd)
                tq = torch.quantize_per_tensor(torch.from_numpy(data), scale, zero, td)
                _check_same_quantized(kq, tq, (kd, shape, scale, zero))
                assert kq.q_scale() == tq.q_scale() and kq.q_zero_point() == tq.q_zero_point()
                assert type(kq.q_scale()) is float and type(kq.q_zero_point()) is int
    # a scale and zero point given as tensors
    data = torch.randn(9)
    tq = torch.quantize_per_tensor(data, torch.tensor(0.1), torch.tensor(2), torch.qint8)
    kq = kiln.quantize_per_tensor(_k(data), kiln.tensor(0.1), kiln.tensor(2), kiln.qint8)
    _check_same_quantized(kq, tq, "tensor qparams")
    assert kq.q_scale() == tq.q_scale()


def test_quantize_per_channel_matches_torch():
    rng = np.random.default_rng(1)
    for kd, td in _dtypes():
        for axis, shape in [(0, (4, 9)), (1, (3, 5, 2)), (1, (2, 6))]:
            x = (rng.standard_normal(shape) * 2).astype(np.float32)
            channels = shape[axis]
            scales = rng.uniform(0.01, 0.3, channels)
            zeros = rng.integers(0, 10, channels)
            kq = kiln.quantize_per_channel(
                kiln.from_numpy(x), kiln.from_numpy(scales), kiln.from_numpy(zeros), axis, kd
            )
            tq = torch.quantize_per_channel(
                torch.from_numpy(x), torch.from_numpy(scales), torch.from_numpy(zeros), axis, td
            )
            _check_same_quantized(kq, tq, (kd, axis))
            np.testing.assert_array_equal(
                kq.q_per_channel_scales().numpy(), tq.q_per_channel_scales().numpy()
            )
            np.testing.assert_array_equal(
                kq.q_per_channel_zero_points().numpy(), tq.q_per_channel_zero_points().numpy()
            )
            assert kq.q_per_channel_axis() == tq.q_per_channel_axis()


def test_quantize_per_channel_float_qparams_matches_torch():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((5, 9)) * 2).astype(np.float32)
    low, high = x.min(axis=1), x.max(axis=1)
    scales = ((high - low) / 255).astype(np.float32)
    scales[2] = 0  # (a zero scale quantizes with 1 / scale = 1, as torch)
    zeros = (-low / np.where(scales > 0, scales, 1)).astype(np.float32)
    for kd, td in _dtypes()[:2]:
        kq = kiln.quantize_per_channel(
            kiln.from_numpy(x), kiln.from_numpy(scales), kiln.from_numpy(zeros), 0, kd
        )
        tq = torch.quantize_per_channel(
            torch.from_numpy(x), torch.from_numpy(scales), torch.from_numpy(zeros), 0, td
        )
        _check_same_quantized(kq, tq, kd)
        assert _torch_text(repr(kq)) == repr(tq)
        for k, t in (
            (kq.q_per_channel_scales(), tq.q_per_channel_scales()),
            (kq.q_per_channel_zero_points(), tq.q_per_channel_zero_points()),
        ):
            assert _torch_text(repr(k.dtype)) == str(t.dtype)
            np.testing.assert_array_equal(k.numpy(), t.numpy())


def test_quantized_repr_and_structure_match_torch():
    x = torch.tensor([[-1.0, 0.5, 0.25], [2.6, 300.0, -0.7]])
    pairs = [
        (
            kiln.quantize_per_tensor(_k(x), 0.5, 3, kiln.quint8),
            torch.quantize_per_tensor(x, 0.5, 3, torch.quint8),
        ),
        (
            kiln.quantize_per_tensor(_k(x), 0.0123, -4, kiln.qint8),
            torch.quantize_per_tensor(x, 0.0123, -4, torch.qint8),
        ),
        (
            kiln.quantize_per_channel(
                _k(x),
                kiln.tensor([0.1, 0.2], dtype=kiln.float64),
                kiln.tensor([0, 5]),
                0,
                kiln.qint8,
            ),
            torch.quantize_per_channel(
                x,
                torch.tensor([0.1, 0.2], dtype=torch.float64),
                torch.tensor([0, 5]),
                0,
                torch.qint8,
            ),
        ),
        (
            kiln.quantize_per_tensor(kiln.arange(40.0), 0.25, 0, kiln.qint32),
            torch.quantize_per_tensor(torch.arange(40.0), 0.25, 0, torch.qint32),
        ),
    ]
    for kq, tq in pairs:
        assert _torch_text(repr(kq)) == repr(tq)
    kq, tq = pairs[0]
    for op in (
        lambda q: q.reshape(3, 2),
        lambda q: q[1],
        lambda q: q[:, 1:],
        lambda q: q.flatten(),
        lambda q: q.clone(),
        lambda q: q.detach(),
        lambda q: q.transpose(0, 1),
        lambda q: q.permute(1, 0).contiguous(),
        lambda q: q.T,
        lambda q: q.unsqueeze(1).squeeze(1),
        lambda q: q[None].squeeze(0)[0, 1],
        lambda q: q.relu(),
        lambda q: q.clone().relu_(),
    ):
        _check_same_quantized(op(kq), op(tq), op)
        assert _torch_text(repr(op(kq))) == repr(op(tq))
    assert kq.shape == tuple(tq.shape) and kq.numel() == tq.numel() and kq.dim() == tq.dim()
    assert kq.is_contiguous() and not kq.t().is_contiguous() and not tq.t().is_contiguous()
    kr, tr = kq.clone(), tq.clone()
    kiln.nn.ReLU(inplace=True)(kr)
    torch.nn.ReLU(inplace=True)(tr)
    np.testing.assert_array_equal(kr.int_repr().numpy(), tr.int_repr().numpy())
    assert kq.to(kiln.quint8) is kq and kq.to("cpu") is kq
    assert _raised(lambda: kq.float()) is _raised(lambda: tq.float()) is RuntimeError
    assert _raised(lambda: kq.to(kiln.float32)) is RuntimeError
    assert kq.requires_grad is False and not kiln.tensor([1.0]).is_quantized
    # float tensors: dequantize is float32 (as torch), the quantized accessors refuse
    assert kiln.tensor([1.5], dtype=kiln.float64).dequantize().dtype is kiln.float32
    assert torch.tensor([1.5], dtype=torch.float64).dequantize().dtype is torch.float32
    # a plain tensor of a quantized dtype is refused (torch raises too), not made as ints
    for make in (
        lambda: kiln.zeros(3, dtype=kiln.quint8),
        lambda: kiln.tensor([1, 2], dtype=kiln.qint8),
        lambda: kiln.zeros(4).view(kiln.qint8),
        lambda: kiln.zeros_like(kq),
    ):
        with pytest.raises(RuntimeError, match="quantized dtype"):
            make()
    assert (kiln.quint8.itemsize, kiln.qint32.itemsize) == (1, 4)
    assert (kiln.qint8.is_signed, kiln.quint8.is_signed) == (True, False)
    assert not kiln.qint8.is_floating_point


def _raised(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the class is what is compared
        return type(exc)
    return None


def test_quantized_errors_match_torch():
    def cases(lib, q, x, q2):
        return [
            lambda: q + q2,
            lambda: q * q2,
            lambda: q + 1,
            lambda: q * 2.0,
            lambda: 1 + q,
            lambda: x + q,
            lambda: q.sum(),
            lambda: q.abs(),
            lambda: q.exp(),
            lambda: lib.add(q, q2),
            lambda: q.numpy(),
            lambda: q.q_per_channel_scales(),
            lambda: q.requires_grad_(),
            lambda: x.int_repr(),
            lambda: x.q_scale(),
            lambda: x.qscheme(),
            lambda: lib.quantize_per_tensor(x.long(), 0.1, 0, lib.qint8),
            lambda: lib.quantize_per_tensor(x.double(), 0.1, 0, lib.qint8),
            lambda: lib.quantize_per_tensor(x, 0.1, 300, lib.qint8),
            lambda: lib.quantize_per_tensor(x, 0.1, -1, lib.quint8),
            lambda: lib.quantize_per_tensor(x, 0.1, 0, lib.float32),
            lambda: lib.quantize_per_channel(x, x.double(), x.long(), -1, lib.qint8),
            lambda: lib.quantize_per_channel(x, x.double(), x.long(), 1, lib.qint8),
        ]

    tx = torch.tensor([0.5, -1.0, 2.0])
    kx = _k(tx)
    tq = torch.quantize_per_tensor(tx, 0.1, 2, torch.quint8)
    kq = kiln.quantize_per_tensor(kx, 0.1, 2, kiln.quint8)
    tq2 = torch.quantize_per_tensor(tx, 0.2, 1, torch.quint8)
    kq2 = kiln.quantize_per_tensor(kx, 0.2, 1, kiln.quint8)
    for i, (kc, tc) in enumerate(zip(cases(kiln, kq, kx, kq2), cases(torch, tq, tx, tq2))):
        expected = _raised(tc)
        assert expected is not None, i
        assert _raised(kc) is expected, (i, expected, _raised(kc))


def test_observers_match_torch():
    tq, kq = torch.ao.quantization, kiln.ao.quantization
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((4, 6)) * s).astype(np.float32) for s in (1.0, 3.0)]
    batches.append(np.abs(batches[0]) + 0.5)  # all positive: the range still covers 0
    configs = [
        ("MinMaxObserver", {}),
        ("MinMaxObserver", {"dtype": "qint8", "qscheme": "per_tensor_symmetric"}),
        ("MinMaxObserver", {"dtype": "quint8", "qscheme": "per_tensor_symmetric"}),
        ("MinMaxObserver", {"reduce_range": True}),
        ("MinMaxObserver", {"quant_min": 0, "quant_max": 127}),
        ("MinMaxObserver", {"dtype": "qint32"}),
        ("PerChannelMinMaxObserver", {"dtype": "qint8", "qscheme": "per_channel_symmetric"}),
        ("PerChannelMinMaxObserver", {"ch_axis": 1}),
    ]
    for name, kwargs in configs:
        for data in ([batches[0], batches[1]], [batches[2]]):

            def make(lib, ns, name=name, kwargs=kwargs):
                args = {k: getattr(lib, v) if isinstance(v, str) else v for k, v in kwargs.items()}
                return getattr(ns, name)(**args)

            ko, to = make(kiln, kq), make(torch, tq)
            for d in data:
                ko(kiln.from_numpy(d))
                to(torch.from_numpy(d))
            np.testing.assert_array_equal(ko.min_val.numpy(), to.min_val.numpy())
            np.testing.assert_array_equal(ko.max_val.numpy(), to.max_val.numpy())
            (ks, kz), (ts, tz) = ko.calculate_qparams(), to.calculate_qparams()
            np.testing.assert_array_equal(ks.numpy(), ts.numpy(), err_msg=f"{name} {kwargs}")
            np.testing.assert_array_equal(kz.numpy(), tz.numpy(), err_msg=f"{name} {kwargs}")
            assert ks.dtype is kiln.float32 and kz.dtype is kiln.int64
    # the ready-made configurations: their observers' settings
    for attr in (
        "default_dynamic_qconfig",
        "per_channel_dynamic_qconfig",
        "float_qparams_weight_only_qconfig",
        "default_qconfig",
    ):
        kc, tc = getattr(kq, attr), getattr(tq, attr)
        for part in ("activation", "weight"):
            ko, to = getattr(kc, part)(), getattr(tc, part)()
            assert type(ko).__name__ == type(to).__name__, (attr, part)
            assert _torch_text(repr(ko.dtype)) == str(to.dtype)
            assert _torch_text(repr(ko.qscheme)) == str(to.qscheme)
            for field in ("quant_min", "quant_max", "is_dynamic", "ch_axis"):
                assert getattr(ko, field, None) == getattr(to, field, None), (attr, field)
    assert _torch_text(repr(kq.default_observer)).replace(
        "kiln.ao.quantization", "torch.ao.quantization"
    ) == repr(tq.default_observer)
    with pytest.raises(ValueError, match="observer instance"):
        kq.QConfig(activation=kq.MinMaxObserver(), weight=kq.default_weight_observer)


class _TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(20, 12)
        self.act = torch.nn.ReLU()
        self.block = torch.nn.Sequential(torch.nn.Linear(12, 7), torch.nn.Tanh())
        self.head = torch.nn.Linear(7, 3, bias=False)

    def forward(self, x):
        return self.head(self.block(self.act(self.fc1(x))))


class _KilnNet(kiln.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = kiln.nn.Linear(20, 12)
        self.act = kiln.nn.ReLU()
        self.block = kiln.nn.Sequential(kiln.nn.Linear(12, 7), kiln.nn.Tanh())
        self.head = kiln.nn.Linear(7, 3, bias=False)

    def forward(self, x):
        return self.head(self.block(self.act(self.fc1(x))))


def _twins(seed=0):
    torch.manual_seed(seed)
    tm = _TorchNet()
    km = _KilnNet()
    km.load_state_dict({k: _k(v) for k, v in tm.state_dict().items()})
    return tm, km


def _check_quantized_linears(kq, tq, inputs):
    kmods = dict(kq.named_modules())
    for name, tmod in tq.named_modules():
        if type(tmod).__name__ != "Linear" or "quantized" not in type(tmod).__module__:
            continue
        kmod = kmods[name]
        assert type(kmod).__module__ == type(tmod).__module__.replace("torch", "kiln")
        assert _torch_text(repr(kmod)) == repr(tmod)
        kw, tw = kmod.weight(), tmod.weight()
        if tw.dtype == torch.qint8:
            _check_same_quantized(kw, tw, name)
            if tw.qscheme() == torch.per_tensor_affine:
                assert kw.q_scale() == tw.q_scale() and kw.q_zero_point() == tw.q_zero_point()
            else:
                np.testing.assert_array_equal(
                    kw.q_per_channel_scales().numpy(), tw.q_per_channel_scales().numpy()
                )
    for x in inputs:
        expected = tq(torch.from_numpy(x)).detach().numpy()
        got = kq(kiln.from_numpy(x))
        assert not got.requires_grad and got.dtype is kiln.float32
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_quantize_dynamic_linear_matches_torch():
    rng = np.random.default_rng(3)
    inputs = [
        rng.standard_normal((5, 20)).astype(np.float32),
        (rng.standard_normal((2, 3, 20)) * 4 + 1).astype(np.float32),  # 3-d, off-centre
        np.abs(rng.standard_normal((1, 20))).astype(np.float32),  # all positive
        np.zeros((2, 20), np.float32),  # a zero range
    ]
    tn, kn = torch.nn, kiln.nn
    specs = [
        (lambda nn, q: {nn.Linear}, "qint8"),
        (lambda nn, q: None, "qint8"),
        (
            lambda nn, q: {"fc1": q.per_channel_dynamic_qconfig, "head": q.default_dynamic_qconfig},
            "qint8",
        ),  # fmt: skip
        (lambda nn, q: {nn.Linear}, "float16"),
    ]
    for spec, dtype in specs:
        tm, km = _twins()
        tq = torch.ao.quantization.quantize_dynamic(
            tm, spec(tn, torch.ao.quantization), dtype=getattr(torch, dtype)
        )
        kq = kiln.ao.quantization.quantize_dynamic(
            km, spec(kn, kiln.ao.quantization), dtype=getattr(kiln, dtype)
        )
        assert _torch_text(repr(kq)).replace("_KilnNet", "_TorchNet") == repr(tq)
        assert list(kq.state_dict()) == list(tq.state_dict())
        assert type(km.fc1) is kn.Linear  # (inplace=False: the float model is kept)
        assert (kq.training, kq.fc1.training) == (tq.training, tq.fc1.training)
        assert not hasattr(kq.fc1, "qconfig") and not hasattr(kq, "qconfig")
        _check_quantized_linears(kq, tq, inputs)
    # a float64 input is an error (PyTorch's quantized kernels take float32 only)
    tm, km = _twins()
    tq = torch.ao.quantization.quantize_dynamic(tm, {tn.Linear})
    kq = kiln.ao.quantization.quantize_dynamic(km, {kn.Linear})
    x = rng.standard_normal((2, 20))
    assert _raised(lambda: tq(torch.from_numpy(x))) is RuntimeError
    assert _raised(lambda: kq(kiln.from_numpy(x))) is RuntimeError
    # inplace=True converts the model itself
    _, km = _twins()
    out = kiln.ao.quantization.quantize_dynamic(km, {kn.Linear}, inplace=True)
    assert out is km and type(km.fc1).__name__ == "Linear" and km.fc1.in_features == 20
    assert type(km.fc1).__module__ == "kiln.ao.nn.quantized.dynamic.modules.linear"
    with pytest.warns(DeprecationWarning, match="torch.ao.quantization is deprecated"):
        kiln.ao.quantization.quantize_dynamic(_twins()[1], {kn.Linear})
    assert kiln.quantization.quantize_dynamic is kiln.ao.quantization.quantize_dynamic
    assert kiln.ao.nn.quantized.dynamic.Linear is type(km.fc1)


def test_quantize_dynamic_lstm_gru_match_torch():
    rng = np.random.default_rng(4)
    for kind, cfg, dtype in [
        ("LSTM", {"num_layers": 2}, "qint8"),
        ("LSTM", {"batch_first": True, "bidirectional": True}, "qint8"),
        ("GRU", {"num_layers": 2, "bidirectional": True}, "qint8"),
        ("LSTM", {"num_layers": 2}, "float16"),
    ]:
        torch.manual_seed(0)
        tm = torch.nn.Sequential(getattr(torch.nn, kind)(6, 5, **cfg))
        km = kiln.nn.Sequential(getattr(kiln.nn, kind)(6, 5, **cfg))
        km.load_state_dict({k: _k(v) for k, v in tm.state_dict().items()})
        spec = {getattr(torch.nn, kind), torch.nn.Linear}
        tq = torch.ao.quantization.quantize_dynamic(tm, spec, dtype=getattr(torch, dtype))
        kq = kiln.ao.quantization.quantize_dynamic(
            km, {getattr(kiln.nn, kind), kiln.nn.Linear}, dtype=getattr(kiln, dtype)
        )
        assert _torch_text(repr(kq)) == repr(tq)
        assert list(kq.state_dict()) == list(tq.state_dict())
        assert kq[0].training == tq[0].training
        directions = 2 if cfg.get("bidirectional") else 1
        x = rng.standard_normal((4, 3, 6)).astype(np.float32)
        h = rng.standard_normal((cfg.get("num_layers", 1) * directions, 3, 5)).astype(np.float32)
        if cfg.get("batch_first"):
            x = x.transpose(1, 0, 2).copy()
        if kind == "LSTM":
            hidden_t = (torch.from_numpy(h), torch.from_numpy(h * 0.5))
            hidden_k = (kiln.from_numpy(h), kiln.from_numpy(h * 0.5))
        else:
            hidden_t, hidden_k = torch.from_numpy(h), kiln.from_numpy(h)
        for ht, hk in ((hidden_t, hidden_k), (None, None)):
            tout, thid = tq[0](torch.from_numpy(x), ht)
            kout, khid = kq[0](kiln.from_numpy(x), hk)
            np.testing.assert_allclose(kout.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
            for a, b in zip(khid if kind == "LSTM" else [khid], thid if kind == "LSTM" else [thid]):
                np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_quantize_dynamic_cells_match_torch():
    def cells(nn):
        return nn.Sequential(
            nn.LSTMCell(5, 4), nn.GRUCell(5, 4), nn.RNNCell(5, 4, nonlinearity="relu"),
            nn.RNNCell(5, 4),
        )  # fmt: skip

    torch.manual_seed(0)
    tm, km = cells(torch.nn), cells(kiln.nn)
    km.load_state_dict({k: _k(v) for k, v in tm.state_dict().items()})
    tq = torch.ao.quantization.quantize_dynamic(tm)  # (the default spec: cells included)
    kq = kiln.ao.quantization.quantize_dynamic(km)
    assert _torch_text(repr(kq)) == repr(tq)
    assert list(kq.state_dict()) == list(tq.state_dict())
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    h = rng.standard_normal((3, 4)).astype(np.float32)
    t, k = torch.from_numpy, kiln.from_numpy
    pairs = [
        (tq[0](t(x), (t(h), t(h * 0.5))), kq[0](k(x), (k(h), k(h * 0.5)))),
        (tq[0](t(x)), kq[0](k(x))),
    ]
    for i in (1, 2, 3):
        pairs += [((tq[i](t(x), t(h)),), (kq[i](k(x), k(h)),)), ((tq[i](t(x)),), (kq[i](k(x)),))]
    for expected, got in pairs:
        for a, b in zip(expected, got):
            np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert _raised(lambda: tq[1](t(x), t(h[:2]))) is RuntimeError
    assert _raised(lambda: kq[1](k(x), k(h[:2]))) is RuntimeError


def test_quantize_dynamic_embedding_matches_torch(tmp_path):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Embedding(10, 12), torch.nn.Linear(12, 3))
    km = kiln.nn.Sequential(kiln.nn.Embedding(10, 12), kiln.nn.Linear(12, 3))
    km.load_state_dict({k: _k(v) for k, v in tm.state_dict().items()})
    results = []
    for lib, model in ((torch, tm), (kiln, km)):
        q = lib.ao.quantization
        spec = {
            lib.nn.Embedding: q.float_qparams_weight_only_qconfig,
            lib.nn.Linear: q.default_dynamic_qconfig,
        }
        quantized = q.quantize_dynamic(model, spec)
        default = q.quantize_dynamic(model, dtype=lib.quint8)  # (Embedding only)
        index = lib.from_numpy(np.array([[1, 2, 9], [0, 0, 5]]))
        results.append((quantized, repr(quantized), repr(default), quantized[0](index),
                        quantized(index), list(quantized.state_dict())))  # fmt: skip
    (tq, trepr, tdefault, trows, tout, tkeys), (kq, krepr, kdefault, krows, kout, kkeys) = results
    assert _torch_text(krepr) == trepr and _torch_text(kdefault) == tdefault and kkeys == tkeys
    _check_same_quantized(kq[0].weight(), tq[0].weight(), "embedding weight")
    np.testing.assert_array_equal(krows.numpy(), trows.numpy())  # (fbgemm's fused lookup)
    np.testing.assert_allclose(kout.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    kiln.save(kq.state_dict(), tmp_path / "embedding.pt")
    state = kiln.load(tmp_path / "embedding.pt")
    other = kiln.ao.quantization.quantize_dynamic(
        kiln.nn.Sequential(kiln.nn.Embedding(10, 12)), dtype=kiln.quint8
    )
    other.load_state_dict({k: v for k, v in state.items() if k.startswith("0.")})
    index = kiln.tensor([3, 7])
    np.testing.assert_array_equal(other[0](index).numpy(), kq[0](index).numpy())
    # EmbeddingBag (sum): bags from offsets, include_last_offset, 2-d input, weights
    torch.manual_seed(1)
    tb = torch.nn.Sequential(
        torch.nn.EmbeddingBag(10, 6, mode="sum"),
        torch.nn.EmbeddingBag(10, 6, mode="sum", include_last_offset=True),
    )
    kb = kiln.nn.Sequential(
        kiln.nn.EmbeddingBag(10, 6, mode="sum"),
        kiln.nn.EmbeddingBag(10, 6, mode="sum", include_last_offset=True),
    )
    kb.load_state_dict({k: _k(v) for k, v in tb.state_dict().items()})
    tbq = torch.ao.quantization.quantize_dynamic(tb, dtype=torch.quint8)
    kbq = kiln.ao.quantization.quantize_dynamic(kb, dtype=kiln.quint8)
    assert _torch_text(repr(kbq)) == repr(tbq)
    indices, offsets = [1, 2, 4, 5, 4, 3, 2, 9, 9, 0], [0, 0, 4, 7]
    weights = np.random.default_rng(8).random(10).astype(np.float32)
    for lib, model, store in ((torch, tbq, results), (kiln, kbq, results)):
        i, o = lib.tensor(indices), lib.tensor(offsets)
        w = lib.from_numpy(weights)
        store.append(
            [
                model[0](i, o),
                model[0](i, o, per_sample_weights=w),
                model[0](i.view(2, 5)),
                model[1](i, lib.tensor(offsets + [10])),
            ]  # fmt: skip
        )
    for t, k in zip(results[-2], results[-1]):
        np.testing.assert_array_equal(k.numpy(), t.numpy())
    # torch's quantized bag sums whatever the mode (its "mean" bags are sums): refused
    with pytest.raises(NotImplementedError, match="mode='mean'"):
        kiln.ao.quantization.quantize_dynamic(
            kiln.nn.Sequential(kiln.nn.EmbeddingBag(10, 4, mode="mean")), dtype=kiln.quint8
        )


def test_quantized_model_save_load_round_trip(tmp_path):
    # the recipe's size check: int8 weights make the saved state_dict about as much smaller
    # as torch's (each library's own archive format)
    ratios = {}
    for lib in (torch, kiln):
        model = lib.nn.Sequential(lib.nn.Linear(64, 64), lib.nn.LSTM(64, 64))
        quantized = lib.ao.quantization.quantize_dynamic(model, {lib.nn.Linear, lib.nn.LSTM})
        sizes = []
        for m in (model, quantized):
            lib.save(m.state_dict(), tmp_path / "size.pt")
            sizes.append(os.path.getsize(tmp_path / "size.pt"))
        ratios[lib.__name__] = sizes[0] / sizes[1]
    assert ratios["torch"] > 3 and abs(ratios["kiln"] / ratios["torch"] - 1) < 0.05, ratios

    _, km = _twins(seed=1)
    kq = kiln.ao.quantization.quantize_dynamic(km, {kiln.nn.Linear}, dtype=kiln.qint8)
    quant_path = tmp_path / "quant.pt"
    kiln.save(kq.state_dict(), quant_path)
    state = kiln.load(quant_path)
    weight, bias = state["fc1._packed_params._packed_params"]
    assert weight.is_quantized and weight.int_repr().dtype is kiln.int8
    other = kiln.ao.quantization.quantize_dynamic(_twins(seed=2)[1], {kiln.nn.Linear})
    x = kiln.randn(4, 20)
    assert not np.array_equal(other(x).numpy(), kq(x).numpy())
    other.load_state_dict(state)
    np.testing.assert_array_equal(other(x).numpy(), kq(x).numpy())
    assert other.fc1.weight().q_scale() == kq.fc1.weight().q_scale()
    # a per-channel quantized tensor round-trips too
    q = kiln.quantize_per_channel(kiln.randn(3, 4), kiln.tensor([0.1, 0.2, 0.3]),
                                  kiln.tensor([1, 2, 3]), 0, kiln.quint8)  # fmt: skip
    kiln.save({"q": q}, tmp_path / "q.pt")
    back = kiln.load(tmp_path / "q.pt")["q"]
    np.testing.assert_array_equal(back.int_repr().numpy(), q.int_repr().numpy())
    np.testing.assert_array_equal(
        back.q_per_channel_scales().numpy(), q.q_per_channel_scales().numpy()
    )
    np.testing.assert_array_equal(back.dequantize().numpy(), q.dequantize().numpy())


def test_fuse_modules_matches_torch():
    def build(nn):
        return nn.Sequential(
            nn.Conv2d(2, 3, 3),
            nn.BatchNorm2d(3),
            nn.ReLU(),
            nn.Conv2d(3, 2, 1),
            nn.BatchNorm2d(2),
            nn.Flatten(),
            nn.Linear(8, 4),
            nn.ReLU(),
        )

    torch.manual_seed(0)
    tm = build(torch.nn)
    with torch.no_grad():
        for bn in (tm[1], tm[4]):  # non-trivial running statistics
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    km = build(kiln.nn)
    km.load_state_dict({k: _k(v) for k, v in tm.state_dict().items()})
    tm.eval()
    km.eval()
    groups = [["0", "1", "2"], ["3", "4"], ["6", "7"]]
    tf = torch.ao.quantization.fuse_modules(tm, groups)
    kf = kiln.ao.quantization.fuse_modules(km, groups)
    assert _torch_text(repr(kf)) == repr(tf)
    assert type(km[1]).__name__ == "BatchNorm2d"  # (inplace=False)
    x = torch.randn(2, 2, 4, 4)
    with kiln.no_grad():
        fused, unfused = kf(_k(x)).numpy(), km(_k(x)).numpy()
    np.testing.assert_allclose(fused, tf(x).detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        kf[0][0].weight.detach().numpy(), tf[0][0].weight.detach().numpy(), rtol=1e-6, atol=1e-7
    )
    assert type(kf[0]).__module__ == "kiln.ao.nn.intrinsic.modules.fused"
    # fusing a batch norm folds running statistics: eval only, as torch
    tm.train()
    km.train()
    assert _raised(lambda: torch.ao.quantization.fuse_modules(tm, [["0", "1"]])) is AssertionError
    assert _raised(lambda: kiln.ao.quantization.fuse_modules(km, [["0", "1"]])) is AssertionError
    # QuantStub/DeQuantStub pass through until a static conversion; the engine namespace
    x = kiln.randn(3)
    assert kiln.ao.quantization.QuantStub()(x) is x and kiln.quantization.DeQuantStub()(x) is x
    assert kiln.backends.quantized.engine == torch.backends.quantized.engine
    assert "x86" in kiln.backends.quantized.supported_engines
    # qnnpack's dynamic linear gives other numbers than fbgemm's: kiln refuses that engine
    model = kiln.ao.quantization.quantize_dynamic(kiln.nn.Sequential(kiln.nn.Linear(3, 2)))
    kiln.backends.quantized.engine = "qnnpack"
    try:
        with pytest.raises(NotImplementedError, match="qnnpack"):
            model(kiln.randn(2, 3))
    finally:
        kiln.backends.quantized.engine = "x86"


def _dynamic_quantization_recipe(torch, state, inputs, hidden, tmp_path):
    """PyTorch's recipe (recipes/recipes/dynamic_quantization.py), the model's weights and
    the inputs given (the two libraries' random generators differ)."""
    nn = torch.nn

    class lstm_for_demonstration(nn.Module):  # noqa: N801 - the recipe's name
        def __init__(self, in_dim, out_dim, depth):
            super().__init__()
            self.lstm = nn.LSTM(in_dim, out_dim, depth)

        def forward(self, inputs, hidden):
            out, hidden = self.lstm(inputs, hidden)
            return out, hidden

    model_dimension, lstm_depth = 8, 1
    float_lstm = lstm_for_demonstration(model_dimension, model_dimension, lstm_depth)
    float_lstm.load_state_dict(state)
    quantized_lstm = torch.quantization.quantize_dynamic(
        float_lstm, {nn.LSTM, nn.Linear}, dtype=torch.qint8
    )
    print("Here is the floating point version of this module:")
    print(float_lstm)
    print("")
    print("and now the quantized version:")
    print(quantized_lstm)

    def print_size_of_model(model, label=""):
        path = os.path.join(tmp_path, "temp.p")
        torch.save(model.state_dict(), path)
        size = os.path.getsize(path)
        os.remove(path)
        return size

    f = print_size_of_model(float_lstm, "fp32")
    q = print_size_of_model(quantized_lstm, "int8")
    out1, hidden1 = float_lstm(inputs, hidden)
    mag1 = torch.mean(abs(out1)).item()
    print(f"mean absolute value of output tensor values in the FP32 model is {mag1:.5f} ")
    out2, hidden2 = quantized_lstm(inputs, hidden)
    mag2 = torch.mean(abs(out2)).item()
    print(f"mean absolute value of output tensor values in the INT8 model is {mag2:.5f}")
    mag3 = torch.mean(abs(out1 - out2)).item()
    print(
        "mean absolute value of the difference between the output tensors is "
        f"{mag3:.5f} or {mag3 / mag1 * 100:.2f} percent"
    )
    return f, q


def test_dynamic_quantization_recipe_prints_torch_numbers(tmp_path):
    torch.manual_seed(29592)
    sequence_length, batch_size, model_dimension = 20, 1, 8
    inputs = torch.randn(sequence_length, batch_size, model_dimension)
    hidden = (
        torch.randn(1, batch_size, model_dimension),
        torch.randn(1, batch_size, model_dimension),
    )
    state = torch.nn.LSTM(model_dimension, model_dimension, 1).state_dict()
    printed = {}
    sizes = {}
    for name, lib, convert in (("torch", torch, lambda t: t), ("kiln", kiln, _k)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sizes[name] = _dynamic_quantization_recipe(
                lib,
                {"lstm." + k: convert(v) for k, v in state.items()},
                convert(inputs),
                tuple(convert(h) for h in hidden),
                tmp_path,
            )
        printed[name] = out.getvalue()
    assert _torch_text(printed["kiln"]) == printed["torch"]
    assert "DynamicQuantizedLSTM(8, 8)" in printed["kiln"]
    float_size, quantized_size = sizes["kiln"]
    assert quantized_size < float_size  # (int8 weights; kiln's archive format is its own)


def _static_model(lib):
    nn, quantization = lib.nn, lib.ao.quantization

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = quantization.QuantStub()
            self.fc1 = nn.Linear(6, 5)
            self.relu = nn.ReLU()
            self.fc2 = nn.Linear(5, 3)
            self.relu2 = nn.ReLU()
            self.dequant = quantization.DeQuantStub()

        def forward(self, x):
            return self.dequant(self.relu2(self.fc2(self.relu(self.fc1(self.quant(x))))))

    return Net()


def _rounded_numbers(text: str) -> str:
    """``text`` with long decimals cut to 6 significant digits: a calibration's float
    Linear differs from torch's by an ulp, and so does a scale computed from it."""
    import re

    return re.sub(r"-?\d+\.\d{6,}", lambda m: f"{float(m.group()):.6g}", text)


def test_static_quantization_matches_torch():
    torch.manual_seed(0)
    tm = _static_model(torch).eval()
    km = _static_model(kiln).eval()
    km.load_state_dict({k: _k(v) for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(5)
    calibration = [rng.standard_normal((4, 6)).astype(np.float32) for _ in range(3)]
    x = rng.standard_normal((7, 6)).astype(np.float32)
    for fuse in (False, True):
        for qconfig in ("default_qconfig", "default_per_channel_qconfig"):
            results = {}
            for lib, model in ((torch, tm), (kiln, km)):
                q = lib.ao.quantization
                model = q.fuse_modules(model, [["fc1", "relu"]]) if fuse else model
                model.qconfig = getattr(q, qconfig)
                prepared = q.prepare(model)
                for batch in calibration:
                    prepared(lib.from_numpy(batch))
                text = _rounded_numbers(_torch_text(repr(prepared)))
                converted = q.convert(prepared)
                quantized = converted.fc1(converted.quant(lib.from_numpy(x)))
                results[lib.__name__] = (
                    text,
                    _rounded_numbers(_torch_text(repr(converted))),
                    converted(lib.from_numpy(x)).detach().numpy(),
                    list(converted.state_dict()),
                    quantized,
                )
            (tp, tc, tout, tkeys, tq), (kp, kc, kout, kkeys, kq) = results["torch"], results["kiln"]
            assert kp == tp and kc == tc and kkeys == tkeys, (fuse, qconfig)
            _check_same_quantized(kq, tq, (fuse, qconfig))
            assert kq.q_zero_point() == tq.q_zero_point()
            np.testing.assert_allclose(kq.q_scale(), tq.q_scale(), rtol=1e-6)
            np.testing.assert_allclose(kout, tout, rtol=1e-5, atol=1e-6)
    # a float input to a quantized layer, and a module kiln cannot quantize statically
    converted = kiln.ao.quantization.convert(
        kiln.ao.quantization.prepare(_qconfigured(_static_model(kiln).eval()))
    )
    assert _raised(lambda: converted.fc1(kiln.randn(2, 6))) is NotImplementedError
    conv = _qconfigured(kiln.nn.Sequential(kiln.nn.Conv2d(1, 1, 1)))
    with pytest.raises(NotImplementedError, match="Conv2d"):
        kiln.ao.quantization.prepare(conv)


def _qconfigured(model):
    model.qconfig = kiln.ao.quantization.default_qconfig
    return model
