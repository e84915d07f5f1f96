"""``kiln.nn.utils`` (parametrize, prune, packing), ``kiln.utils.swap_tensors``, in-place
operators and a tutorial training loop, against PyTorch."""

import math

import numpy as np
import pytest
import torch
import torch.nn.utils.parametrize as TP
import torch.nn.utils.prune as tprune

import kiln
import kiln.nn.utils.parametrize as KP
import kiln.nn.utils.prune as kprune


def _k(t):
    return kiln.tensor(t.detach().numpy())


def _copy_into(k_module, t_module):
    k_module.load_state_dict({n: _k(v) for n, v in t_module.state_dict().items()})


def test_inplace_operators_update_the_tensor_like_torch():
    for lib in (kiln, torch):
        a = lib.ones(2)
        alias = a
        alias += 1
        alias *= 3
        alias -= lib.tensor([1.0, 2.0])
        alias /= 2
        alias **= 2
        assert alias is a
        assert a.tolist() == [6.25, 4.0]
        leaf = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            leaf += 1
        ints = lib.ones(2, dtype=lib.int64)
        with pytest.raises(RuntimeError, match="can't be cast"):
            ints += 1.5


def test_tutorial_training_loop_loss_curve_matches_torch():
    # PyTorch's "Learning PyTorch with examples" nn polynomial fit, from identical weights:
    # kiln used to rebind `param -= lr * param.grad` to a new tensor and trained nothing.
    def train(lib, state):
        x = lib.linspace(-math.pi, math.pi, 2000)
        y = lib.sin(x)
        xx = x.unsqueeze(-1).pow(lib.tensor([1, 2, 3]))
        model = lib.nn.Sequential(lib.nn.Linear(3, 1), lib.nn.Flatten(0, 1))
        model.load_state_dict({n: lib.tensor(v) for n, v in state.items()})
        loss_fn = lib.nn.MSELoss(reduction="sum")
        losses = []
        for _ in range(200):
            loss = loss_fn(model(xx), y)
            losses.append(loss.item())
            model.zero_grad()
            loss.backward()
            with lib.no_grad():
                for param in model.parameters():
                    param -= 1e-6 * param.grad
        return np.array(losses)

    state = {"0.weight": np.array([[0.3, -0.2, 0.1]], np.float32), "0.bias": np.array([0.05])}
    state["0.bias"] = state["0.bias"].astype(np.float32)
    k, t = train(kiln, state), train(torch, state)
    assert t[-1] < t[0] / 10  # the run trains
    np.testing.assert_allclose(k, t, rtol=2e-3)


def _symmetric(lib):
    class Symmetric(lib.nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(0, 1)

        def right_inverse(self, a):
            return a.triu()

    return Symmetric


def test_parametrize_matches_torch():
    torch.manual_seed(0)
    t = torch.nn.Linear(3, 3)
    k = kiln.nn.Linear(3, 3)
    _copy_into(k, t)
    TP.register_parametrization(t, "weight", _symmetric(torch)())
    KP.register_parametrization(k, "weight", _symmetric(kiln)())
    assert type(k).__name__ == type(t).__name__ == "ParametrizedLinear"
    assert list(k.state_dict()) == list(t.state_dict())
    assert KP.is_parametrized(k, "weight") and not KP.is_parametrized(k, "bias")
    assert KP.type_before_parametrizations(k) is kiln.nn.Linear
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    (k(kiln.tensor(x)) ** 2).sum().backward()
    (t(torch.tensor(x)) ** 2).sum().backward()
    np.testing.assert_allclose(
        k.parametrizations.weight.original.grad.numpy(),
        t.parametrizations.weight.original.grad.numpy(),
        rtol=1e-5,
    )
    value = np.arange(9.0, dtype=np.float32).reshape(3, 3)
    k.weight = kiln.tensor(value)  # through right_inverse
    t.weight = torch.tensor(value)
    np.testing.assert_allclose(k.weight.detach().numpy(), t.weight.detach().numpy())
    assert kiln.nn.Linear(3, 3).__class__ is kiln.nn.Linear  # other instances untouched
    KP.remove_parametrizations(k, "weight")
    TP.remove_parametrizations(t, "weight")
    assert type(k) is kiln.nn.Linear and list(k.state_dict()) == list(t.state_dict())
    np.testing.assert_allclose(k.weight.detach().numpy(), t.weight.detach().numpy())

    class Double(kiln.nn.Module):
        def forward(self, x):
            return kiln.cat([x, x])

    with pytest.raises(ValueError, match="may not change the shape"):
        KP.register_parametrization(kiln.nn.Linear(2, 2), "weight", Double())


def test_prune_l1_repeated_remove_and_global_match_torch():
    w = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)

    def run(lib, P):
        m = lib.nn.Linear(5, 4)
        with lib.no_grad():
            m.weight.copy_(lib.tensor(w))
        P.l1_unstructured(m, "weight", amount=0.3)
        P.l1_unstructured(m, "weight", amount=3)  # among the entries still unpruned
        names = ([n for n, _ in m.named_parameters()], [n for n, _ in m.named_buffers()])
        mask = m.weight_mask.numpy().copy()
        x = lib.ones(1, 5)
        m(x).sum().backward()
        grad = m.weight_orig.grad.numpy().copy()
        pruned = P.is_pruned(m)
        P.remove(m, "weight")
        after = (list(m.state_dict()), m.weight.detach().numpy().copy(), P.is_pruned(m))
        a, b = lib.nn.Linear(5, 4), lib.nn.Linear(4, 2)
        with lib.no_grad():
            a.weight.copy_(lib.tensor(w))
            b.weight.copy_(lib.tensor(w[:2, :4] * 0.9))
        P.global_unstructured(
            [(a, "weight"), (b, "weight")], pruning_method=P.L1Unstructured, amount=10
        )
        return names, mask, grad, pruned, after, a.weight_mask.numpy(), b.weight_mask.numpy()

    k, t = run(kiln, kprune), run(torch, tprune)
    assert k[0] == t[0] and k[3] == t[3]
    np.testing.assert_array_equal(k[1], t[1])
    np.testing.assert_allclose(k[2], t[2])
    assert k[4][0] == t[4][0] and k[4][2] == t[4][2]
    np.testing.assert_allclose(k[4][1], t[4][1])
    np.testing.assert_array_equal(k[5], t[5])
    np.testing.assert_array_equal(k[6], t[6])


def test_prune_random_and_bad_amount():
    m = kiln.nn.Linear(10, 10)
    kprune.random_unstructured(m, "weight", amount=0.25)
    assert int((m.weight_mask == 0).sum()) == 25
    assert int((m.weight == 0).sum()) >= 25
    with pytest.raises(ValueError, match="amount=1.5"):
        kprune.l1_unstructured(kiln.nn.Linear(2, 2), "weight", amount=1.5)
    with pytest.raises(ValueError, match="has to be pruned"):
        kprune.remove(kiln.nn.Linear(2, 2), "weight")


def test_swap_tensors_matches_torch():
    for lib in (kiln, torch):
        a = lib.nn.Parameter(lib.ones(2))
        b = lib.zeros(3)
        a.grad = lib.ones(2) * 5
        held = a
        lib.utils.swap_tensors(a, b)
        assert held is a and a.tolist() == [0.0, 0.0, 0.0] and a.grad is None
        assert type(a) is lib.Tensor and type(b) is lib.nn.Parameter
        assert b.tolist() == [1.0, 1.0] and b.grad.tolist() == [5.0, 5.0] and b.requires_grad


def test_pack_and_pad_round_trip_matches_torch():
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n, 2)).astype(np.float32) for n in (2, 4, 1)]
    lengths = [2, 4, 1]

    def run(lib):
        R = lib.nn.utils.rnn
        xs = [lib.tensor(s, requires_grad=True) for s in seqs]
        padded = R.pad_sequence(xs, batch_first=True)
        packed = R.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        out, lens = R.pad_packed_sequence(packed, total_length=5)
        (out * out).sum().backward()
        left = R.pad_sequence(xs, padding_side="left", padding_value=-1.0)
        return (
            packed.data.detach().numpy(),
            packed.batch_sizes.tolist(),
            packed.sorted_indices.tolist(),
            packed.unsorted_indices.tolist(),
            out.detach().numpy(),
            lens.tolist(),
            [x.grad.numpy() for x in xs],
            left.detach().numpy(),
        )

    for a, b in zip(run(kiln), run(torch), strict=True):
        if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
            for x, y in zip(a, b):
                np.testing.assert_allclose(x, y)
        elif isinstance(a, np.ndarray):
            np.testing.assert_allclose(a, b)
        else:
            assert a == b
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        kiln.nn.utils.rnn.pack_padded_sequence(kiln.zeros(4, 3), [2, 4, 1])


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch(dim):
    torch.manual_seed(0)
    t = torch.nn.Linear(4, 3)
    k = kiln.nn.Linear(4, 3)
    _copy_into(k, t)
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(t, dim=dim)
    kiln.nn.utils.weight_norm(k, dim=dim)
    assert list(k.state_dict()) == list(t.state_dict())
    for name, value in t.state_dict().items():
        np.testing.assert_allclose(k.state_dict()[name].numpy(), value.numpy(), rtol=1e-6)
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    (k(kiln.tensor(x)) ** 2).sum().backward()
    (t(torch.tensor(x)) ** 2).sum().backward()
    np.testing.assert_allclose(k.weight_g.grad.numpy(), t.weight_g.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(k.weight_v.grad.numpy(), t.weight_v.grad.numpy(), atol=1e-5)
    kiln.nn.utils.remove_weight_norm(k)
    torch.nn.utils.remove_weight_norm(t)
    assert list(k.state_dict()) == list(t.state_dict())
    np.testing.assert_allclose(k.weight.detach().numpy(), t.weight.detach().numpy(), rtol=1e-6)
