"""weight_norm and spectral_norm, as parametrizations and as the older hooks, against PyTorch.

The spectral norm's random start vectors are not PyTorch's (another generator), so each test
copies torch's ``u``/``v`` into kiln and then checks every step of the power iteration, the
weight, the output and the gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(15)


def _array(t):
    return t.detach().numpy()


def _pair(factory_torch, factory_kiln):
    """The same layer in torch and kiln, with kiln's parameters set to torch's."""
    t = factory_torch()
    k = factory_kiln()
    k.load_state_dict({name: kiln.tensor(_array(v)) for name, v in t.state_dict().items()})
    return t, k


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(_array(a), b.detach().numpy(), rtol=rtol, atol=atol)


LAYERS = [
    ("linear", lambda lib: lib.nn.Linear(5, 4), (3, 5)),
    ("conv2d", lambda lib: lib.nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    ("conv_transpose1d", lambda lib: lib.nn.ConvTranspose1d(3, 2, 3), (2, 3, 6)),
]


@pytest.mark.parametrize("dim", [0, 1, None])
@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_weight_norm_parametrization_matches_torch(name, make, shape, dim):
    pn_t, pn_k = torch.nn.utils.parametrizations, kiln.nn.utils.parametrizations
    t, k = _pair(
        lambda: pn_t.weight_norm(make(torch), dim=dim),
        lambda: pn_k.weight_norm(make(kiln), dim=dim),
    )
    assert sorted(t.state_dict()) == sorted(k.state_dict())
    assert "parametrizations.weight.original0" in k.state_dict()
    x = RNG.standard_normal(shape).astype(np.float32)
    out_t, out_k = t(torch.tensor(x)), k(kiln.tensor(x))
    _close(out_t, out_k)
    _close(t.weight, k.weight)
    w = RNG.standard_normal(out_t.shape).astype(np.float32)
    (out_t * torch.tensor(w)).sum().backward()
    (out_k * kiln.tensor(w)).sum().backward()
    for (n_t, p_t), (n_k, p_k) in zip(sorted(t.named_parameters()), sorted(k.named_parameters())):
        assert n_t == n_k
        _close(p_t.grad, p_k.grad, rtol=1e-4, atol=1e-5)


def test_weight_norm_parametrization_set_and_remove():
    pn = kiln.nn.utils.parametrizations
    m = pn.weight_norm(kiln.nn.Linear(3, 2))
    target = kiln.tensor(RNG.standard_normal((2, 3)).astype(np.float32))
    m.weight = target  # right_inverse: g = ||target||, v = target
    np.testing.assert_allclose(m.weight.detach().numpy(), target.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="sequence of tensors"):
        kiln.nn.utils.parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    kiln.nn.utils.parametrize.remove_parametrizations(m, "weight")
    assert isinstance(m.weight, kiln.nn.Parameter) and type(m) is kiln.nn.Linear
    np.testing.assert_allclose(m.weight.detach().numpy(), target.numpy(), rtol=1e-6)


def _copy_uv(t_source, k_target):
    with kiln.no_grad():
        k_target._u.copy_(kiln.tensor(_array(t_source._u)))
        k_target._v.copy_(kiln.tensor(_array(t_source._v)))


@pytest.mark.parametrize("iterations", [1, 3])
@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_spectral_norm_parametrization_given_same_u(name, make, shape, iterations):
    sn_t = torch.nn.utils.parametrizations.spectral_norm
    sn_k = kiln.nn.utils.parametrizations.spectral_norm
    t = sn_t(make(torch), n_power_iterations=iterations)
    k = sn_k(make(kiln), n_power_iterations=iterations)
    assert sorted(t.state_dict()) == sorted(k.state_dict())
    # kiln's own start vectors went through 15 power steps, the last one v = W^T u / |W^T u|
    sn = k.parametrizations.weight[0]
    matrix = sn._reshape_weight_to_matrix(k.parametrizations.weight.original).detach().numpy()
    v = matrix.T @ sn._u.numpy()
    np.testing.assert_allclose(sn._v.numpy(), v / np.linalg.norm(v), rtol=1e-5, atol=1e-6)
    k.load_state_dict({n: kiln.tensor(_array(v)) for n, v in t.state_dict().items()})
    for _ in range(3):  # training mode: the power iteration advances at every read
        x = RNG.standard_normal(shape).astype(np.float32)
        out_t, out_k = t(torch.tensor(x)), k(kiln.tensor(x))
        _close(out_t, out_k, rtol=1e-4, atol=1e-5)
        _close(t.parametrizations.weight[0]._u, k.parametrizations.weight[0]._u, 1e-4, 1e-5)
        _close(t.parametrizations.weight[0]._v, k.parametrizations.weight[0]._v, 1e-4, 1e-5)
    out_t.sum().backward()
    out_k.sum().backward()
    _close(
        t.parametrizations.weight.original.grad,
        k.parametrizations.weight.original.grad,
        rtol=1e-3,
        atol=1e-5,
    )
    t.eval()
    k.eval()
    u_before = k.parametrizations.weight[0]._u.numpy().copy()
    _close(t.weight, k.weight, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(k.parametrizations.weight[0]._u.numpy(), u_before)


def test_spectral_norm_sigma_converges_to_largest_singular_value():
    m = kiln.nn.utils.parametrizations.spectral_norm(kiln.nn.Linear(6, 4))
    for _ in range(30):
        weight = m.weight
    singular = np.linalg.svd(weight.detach().numpy(), compute_uv=False)
    np.testing.assert_allclose(singular[0], 1.0, rtol=1e-4)


def test_spectral_norm_errors_like_torch():
    sn = kiln.nn.utils.parametrizations.spectral_norm
    with pytest.raises(ValueError, match="n_power_iterations"):
        sn(kiln.nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(IndexError):
        sn(kiln.nn.Linear(2, 2), dim=2)
    with pytest.raises(ValueError, match="no parameter or buffer"):
        sn(kiln.nn.Linear(2, 2), name="nope")


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_old_weight_norm_hook_matches_torch(name, make, shape):
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        kiln.nn.utils.weight_norm(make(kiln))
    t, k = _pair(
        lambda: torch.nn.utils.weight_norm(make(torch)),
        lambda: kiln.nn.utils.weight_norm(make(kiln)),
    )
    assert sorted(t.state_dict()) == sorted(k.state_dict())
    x = RNG.standard_normal(shape).astype(np.float32)
    out_t, out_k = t(torch.tensor(x)), k(kiln.tensor(x))
    _close(out_t, out_k)
    out_t.sum().backward()
    out_k.sum().backward()
    _close(t.weight_g.grad, k.weight_g.grad, rtol=1e-4, atol=1e-5)
    _close(t.weight_v.grad, k.weight_v.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_old_spectral_norm_hook_given_same_u(name, make, shape):
    t = torch.nn.utils.spectral_norm(make(torch), n_power_iterations=2)
    k = kiln.nn.utils.spectral_norm(make(kiln), n_power_iterations=2)
    assert sorted(t.state_dict()) == sorted(k.state_dict())
    k.load_state_dict({n: kiln.tensor(_array(v)) for n, v in t.state_dict().items()})
    for _ in range(3):
        x = RNG.standard_normal(shape).astype(np.float32)
        out_t, out_k = t(torch.tensor(x)), k(kiln.tensor(x))
        _close(out_t, out_k, rtol=1e-4, atol=1e-5)
        _close(t.weight_u, k.weight_u, rtol=1e-4, atol=1e-5)
        _close(t.weight_v, k.weight_v, rtol=1e-4, atol=1e-5)
    out_t.sum().backward()
    out_k.sum().backward()
    _close(t.weight_orig.grad, k.weight_orig.grad, rtol=1e-3, atol=1e-5)
    expected = torch.nn.utils.remove_spectral_norm(t).weight
    removed = kiln.nn.utils.remove_spectral_norm(k)
    assert isinstance(removed.weight, kiln.nn.Parameter)
    assert "weight_u" not in removed.state_dict()
    _close(expected, removed.weight, rtol=1e-4, atol=1e-5)


def test_spectral_norm_under_jit_updates_u_like_eager():
    t = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(4, 3))
    k = kiln.nn.utils.parametrizations.spectral_norm(kiln.nn.Linear(4, 3))
    k.load_state_dict({n: kiln.tensor(_array(v)) for n, v in t.state_dict().items()})
    step = kiln.jit(lambda x: k(x))
    for _ in range(3):
        x = RNG.standard_normal((2, 4)).astype(np.float32)
        _close(t(torch.tensor(x)), step(kiln.tensor(x)), rtol=1e-4, atol=1e-5)
        _close(t.parametrizations.weight[0]._u, k.parametrizations.weight[0]._u, 1e-4, 1e-5)


def test_weight_norm_parametrization_loads_a_hook_form_checkpoint_like_torch():
    with pytest.warns(FutureWarning):
        old_t = torch.nn.utils.weight_norm(torch.nn.Linear(3, 2))
    checkpoint = old_t.state_dict()
    assert "weight_g" in checkpoint
    new_t = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 2))
    new_k = kiln.nn.utils.parametrizations.weight_norm(kiln.nn.Linear(3, 2))
    new_t.load_state_dict(checkpoint)
    new_k.load_state_dict({k: kiln.tensor(_array(v)) for k, v in checkpoint.items()})
    _close(new_t.weight, new_k.weight)
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    _close(old_t(torch.tensor(x)), new_k(kiln.tensor(x)))
    # nested: the hook sees the submodule's prefix
    outer = kiln.nn.Sequential(kiln.nn.utils.parametrizations.weight_norm(kiln.nn.Linear(3, 2)))
    outer.load_state_dict({"0." + k: kiln.tensor(_array(v)) for k, v in checkpoint.items()})
    _close(old_t.weight, outer[0].weight)


def test_load_state_dict_pre_hook_public_form():
    seen = []
    m = kiln.nn.Linear(2, 2)
    m.register_load_state_dict_pre_hook(
        lambda module, sd, prefix, *rest: seen.append((module, prefix))
    )
    m.load_state_dict(m.state_dict())
    assert seen == [(m, "")]
