"""kiln.fx prints functional calls under the names torch.fx prints (``F.linear`` is
``torch._C._nn.linear`` in PyTorch, ``F.conv2d`` is ``torch.conv2d``), and a GraphModule's
code runs them."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _model(lib):
    F = lib.nn.functional

    class M(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(4, 4)
            self.w = lib.nn.Parameter(lib.ones(2, 1, 3))
            self.a = lib.nn.Parameter(lib.full((1,), 0.25))

        def forward(self, x, labels):
            h = F.gelu(F.linear(x, self.fc.weight, self.fc.bias))
            h = F.softplus(h) + F.softshrink(h, 0.5) + F.logsigmoid(h) + F.hardshrink(h)
            h = h + F.prelu(x, self.a) + F.cosine_similarity(x, h, dim=1)[:, None]
            c = F.conv1d(x[:, None, :], self.w)  # (N, 2, 2)
            p = F.avg_pool2d(x[None, None], 2)
            s = F.pixel_shuffle(x.reshape(1, 4, 2, 2), 2)
            o = F.one_hot(labels, 4).to(x.dtype)
            return h.sum(1) + c.sum((1, 2)) + p.sum() + s.sum() + o.sum(1)

    return M()


def test_functional_calls_print_as_torch_fx_prints_them_and_run():
    kiln.manual_seed(0)
    km, tm = _model(kiln), _model(torch)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in km.state_dict().items()})
    kg, tg = kiln.fx.symbolic_trace(km), torch.fx.symbolic_trace(tm)
    assert kg.code.replace("kiln.", "torch.") == tg.code
    assert "torch._C._nn.linear(" in tg.code and "torch.conv1d(" in tg.code  # (the premise)
    x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 2])
    got = kg(kiln.tensor(x), kiln.tensor(labels))
    want = tm(torch.tensor(x), torch.tensor(labels))
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        got.detach().numpy(), km(kiln.tensor(x), kiln.tensor(labels)).detach().numpy(), rtol=1e-6
    )


def test_kiln_C_nn_holds_the_functional_functions():
    F = kiln.nn.functional
    assert kiln._C._nn.linear is F.linear and kiln._C._nn.log_sigmoid is F.logsigmoid
    for name in ("gelu", "softplus", "one_hot", "scaled_dot_product_attention", "pad"):
        assert hasattr(torch._C._nn, name)  # each is one of PyTorch's
        assert getattr(kiln._C._nn, name) is getattr(F, name)
