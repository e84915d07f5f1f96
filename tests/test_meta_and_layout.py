"""The ``meta`` device and memory layouts (``stride``, ``channels_last``), against PyTorch."""

import numpy as np
import pytest
import torch

import kiln


def test_strides_and_contiguity_match_torch():
    def run(lib):
        x = lib.arange(120.0).reshape(2, 3, 4, 5)
        cl = x.contiguous(memory_format=lib.channels_last)
        t = x.transpose(1, 2)
        return [
            x.stride(),
            cl.stride(),
            cl.stride(1),
            cl.is_contiguous(),
            cl.is_contiguous(memory_format=lib.channels_last),
            t.stride(),
            t.is_contiguous(),
            t.contiguous().stride(),
            x[:, :1].is_contiguous(),
            x.expand(3, 2, 3, 4, 5).stride(),
            cl.clone().stride(),  # preserve_format keeps the layout
            (cl * 2).stride(),
            cl.to(memory_format=lib.contiguous_format).stride(),
            x.to(memory_format=lib.channels_last).stride(),
            lib.ones(3, 1).t().is_contiguous(),
            bool((cl == x).all()),
        ]

    assert run(kiln) == run(torch)
    with pytest.raises(RuntimeError, match="rank 4"):
        kiln.ones(2, 3).contiguous(memory_format=kiln.channels_last)


def test_channels_last_conv_gives_the_same_values_and_gradients():
    x = kiln.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32))
    conv = kiln.nn.Conv2d(2, 3, 3)
    xs = [x.clone().requires_grad_(), x.contiguous(memory_format=kiln.channels_last)]
    xs[1].requires_grad_()
    outs = [conv(v) for v in xs]
    for o in outs:
        o.sum().backward()
    np.testing.assert_allclose(outs[0].detach().numpy(), outs[1].detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(xs[0].grad.numpy(), xs[1].grad.numpy(), rtol=1e-6)


def test_meta_tensors_have_shapes_and_no_data():
    def run(lib):
        x = lib.empty(2, 3, device="meta")
        return [
            str(x.device),
            x.is_meta,
            lib.ones(2).is_meta,
            repr(x),
            x.to(lib.float64).dtype == lib.float64,
        ]

    assert run(kiln) == run(torch)
    # (torch's first meta operation costs seconds: kiln's side is checked alone)
    x = kiln.empty(1000, 1000, device="meta")
    assert x._data.strides == (0, 0)  # no storage behind a million elements
    y = (x @ x).sum(0)
    assert tuple(y.shape) == (1000,) and y.is_meta and str(y.device) == "meta"
    w = kiln.empty(3, 4, device="meta", requires_grad=True)
    (w * 2).sum().backward()
    assert tuple(w.grad.shape) == (3, 4) and w.grad.is_meta
    with pytest.raises(NotImplementedError, match="no data"):
        kiln.ones(3).copy_(kiln.empty(3, device="meta"))
    with pytest.raises(RuntimeError, match="same device"):
        kiln.empty(3, device="meta") + kiln.ones(3)
    with pytest.raises(RuntimeError, match="meta tensors"):
        kiln.empty(1, device="meta").item()
    with pytest.raises(NotImplementedError, match="to_empty"):
        kiln.empty(1, device="meta").to("cpu")


def test_meta_module_to_empty_and_assign_load_match_torch():
    torch.manual_seed(0)
    source = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    state = {n: kiln.tensor(v.detach().numpy()) for n, v in source.state_dict().items()}
    model = kiln.nn.Sequential(kiln.nn.Linear(4, 3), kiln.nn.ReLU(), kiln.nn.Linear(3, 2))
    params = list(model.parameters())
    model.to("meta")
    assert all(p.is_meta and isinstance(p, kiln.nn.Parameter) for p in model.parameters())
    assert tuple(model(kiln.empty(5, 4, device="meta")).shape) == (5, 2)
    model.to_empty(device="cpu")
    assert list(model.parameters()) == params  # the same objects, now with storage
    assert not any(p.is_meta for p in model.parameters())
    model.load_state_dict(state)
    x = np.ones((2, 4), np.float32)
    expected = source(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(model(kiln.tensor(x)).detach().numpy(), expected, rtol=1e-6)
    other = kiln.nn.Sequential(kiln.nn.Linear(4, 3), kiln.nn.ReLU(), kiln.nn.Linear(3, 2))
    other.to("meta")
    other.load_state_dict(state, assign=True)
    assert not any(p.is_meta for p in other.parameters())
    np.testing.assert_allclose(other(kiln.tensor(x)).detach().numpy(), expected, rtol=1e-6)


def test_device_context_builds_a_model_on_meta():
    # (what torch gives too; torch's first meta operation costs seconds, so not run here)
    with kiln.device("meta"):
        m = kiln.nn.Sequential(kiln.nn.Linear(4, 3), kiln.nn.GRU(3, 2))
        assert kiln.zeros(2).is_meta and str(kiln.get_default_device()) == "meta"
    assert all(p.is_meta for p in m.parameters())
    assert not kiln.zeros(2).is_meta and str(kiln.get_default_device()) == "cpu"
    m.to_empty(device="cpu")
    assert not any(p.is_meta for p in m.parameters())
    kiln.set_default_device("meta")
    try:
        assert kiln.ones(3).is_meta
    finally:
        kiln.set_default_device(None)
    assert not kiln.ones(3).is_meta


def test_device_takes_type_and_index_keywords_as_its_repr_prints_them():
    torch = pytest.importorskip("torch")
    for args, kwargs in [
        ((), {"type": "cpu"}),
        ((), {"type": "cuda", "index": 1}),
        (("cuda",), {"index": 0}),
        (("meta",), {}),
    ]:
        got, want = kiln.device(*args, **kwargs), torch.device(*args, **kwargs)
        assert repr(got) == repr(want)
        assert eval(repr(got), {"device": kiln.device}) == got
    with pytest.raises(TypeError):
        kiln.device()
