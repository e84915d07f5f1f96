"""Random factories and random in-place fills on the ``meta`` device: meta tensors with
PyTorch's shapes and dtypes, made without drawing a number (the generator is never asked,
so the CPU stream is as if they had not run, as in PyTorch)."""

from __future__ import annotations

import pytest
import torch

import kiln


@pytest.fixture
def no_draws(monkeypatch):
    """Any draw from the default generator fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a meta random factory drew numbers")

    monkeypatch.setattr(kiln.creation.default_generator, "next_seed", refuse)
    monkeypatch.setattr(kiln.creation.default_generator, "numpy_generator", refuse)


def _meta(lib, *shape, dtype=None):
    return lib.empty(*shape, device="meta", dtype=dtype)


FACTORIES = [
    ("randn", lambda m: m.randn(3, 1000, device="meta")),
    ("randn_dtype", lambda m: m.randn(2, 5, device="meta", dtype=m.float64)),
    ("rand", lambda m: m.rand((4, 1000), device="meta")),
    ("randint_high", lambda m: m.randint(10, (5, 7), device="meta")),
    ("randint_low_high", lambda m: m.randint(3, 10, (5,), device="meta", dtype=m.int32)),
    ("randperm", lambda m: m.randperm(10000, device="meta")),
    ("normal_size", lambda m: m.normal(0.0, 1.0, (3, 4), device="meta")),
    ("normal_tensor", lambda m: m.normal(_meta(m, 3, 4), 2.0)),
    ("randn_like", lambda m: m.randn_like(_meta(m, 6, 2))),
    ("rand_like", lambda m: m.rand_like(_meta(m, 6, 2, dtype=m.float64))),
    ("randint_like", lambda m: m.randint_like(_meta(m, 6, 2), 4)),
    ("bernoulli", lambda m: m.bernoulli(_meta(m, 6, 2))),
    ("multinomial", lambda m: m.multinomial(_meta(m, 3, 10), 4)),
    ("normal_", lambda m: _meta(m, 1000, 100).normal_(1.0, 2.0)),
    ("uniform_", lambda m: _meta(m, 1000, 100).uniform_(-1.0, 1.0)),
    ("bernoulli_", lambda m: _meta(m, 10, 3).bernoulli_(0.25)),
    ("exponential_", lambda m: _meta(m, 10, 3).exponential_(2.0)),
    ("dropout", lambda m: m.nn.functional.dropout(_meta(m, 100, 10), 0.3)),
    ("dropout2d", lambda m: m.nn.functional.dropout2d(_meta(m, 2, 3, 4, 4), 0.3)),
    ("init_normal", lambda m: m.nn.init.normal_(_meta(m, 100, 10))),
    ("init_kaiming", lambda m: m.nn.init.kaiming_uniform_(_meta(m, 100, 10))),
    ("init_xavier", lambda m: m.nn.init.xavier_normal_(_meta(m, 100, 10))),
    ("init_trunc_normal", lambda m: m.nn.init.trunc_normal_(_meta(m, 100, 10))),
    ("init_orthogonal", lambda m: m.nn.init.orthogonal_(_meta(m, 20, 10))),
]


@pytest.mark.parametrize("name,make", FACTORIES, ids=[n for n, _ in FACTORIES])
def test_random_factory_on_meta_is_meta_like_torch(name, make, no_draws):
    expected = make(torch)
    got = make(kiln)
    assert expected.is_meta
    assert got.is_meta and got.device.type == "meta"
    assert tuple(got.shape) == tuple(expected.shape)
    assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]


def test_default_device_meta_makes_random_tensors_meta(no_draws):
    with kiln.device("meta"):
        x = kiln.randn(4, 5)
        y = kiln.randint(0, 3, (2,))
    assert x.is_meta and y.is_meta and y.dtype == kiln.int64


MODULES = [
    ("linear", lambda m: m.nn.Linear(4096, 4096, device="meta")),
    ("conv2d", lambda m: m.nn.Conv2d(64, 128, 3, device="meta")),
    ("embedding", lambda m: m.nn.Embedding(50000, 512, device="meta")),
    ("lstm", lambda m: m.nn.LSTM(256, 512, num_layers=2, bidirectional=True, device="meta")),
    ("gru_cell", lambda m: m.nn.GRUCell(32, 64, device="meta")),
    ("layer_norm", lambda m: m.nn.LayerNorm(512, device="meta")),
]


@pytest.mark.parametrize("name,make", MODULES, ids=[n for n, _ in MODULES])
def test_module_init_on_meta_is_meta_like_torch(name, make, no_draws):
    expected = make(torch).state_dict()
    got = make(kiln).state_dict()
    assert sorted(got) == sorted(expected)
    for key, value in got.items():
        assert value.is_meta, key
        assert tuple(value.shape) == tuple(expected[key].shape), key


def test_meta_draw_leaves_the_cpu_stream_as_torch_does():
    kiln.manual_seed(3)
    first = kiln.rand(4).numpy()
    kiln.manual_seed(3)
    kiln.randn(100, device="meta")
    kiln.nn.Linear(10, 10, device="meta")
    kiln.empty(5, device="meta").uniform_()
    second = kiln.rand(4).numpy()
    assert (first == second).all()


def test_meta_model_then_to_empty_and_init():
    model = kiln.nn.Sequential(kiln.nn.Linear(8, 16), kiln.nn.ReLU(), kiln.nn.Linear(16, 2))
    meta_model = kiln.nn.Sequential(
        kiln.nn.Linear(8, 16, device="meta"), kiln.nn.ReLU(), kiln.nn.Linear(16, 2, device="meta")
    )
    out = meta_model(kiln.randn(3, 8, device="meta"))
    assert out.is_meta and tuple(out.shape) == (3, 2)
    meta_model.load_state_dict(model.state_dict(), assign=True)
    x = kiln.randn(3, 8)
    assert (meta_model(x).detach().numpy() == model(x).detach().numpy()).all()


def test_mixing_meta_and_cpu_in_a_random_fill_raises():
    with pytest.raises(RuntimeError, match="meta and cpu"):
        _meta(kiln, 3).bernoulli_(kiln.full((3,), 0.5))
