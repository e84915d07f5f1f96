"""Recurrent layers against PyTorch: a torch state dict loads and gives the same outputs,
final states and gradients (every option: layers, directions, batch_first, projections,
initial states, unbatched input, packed sequences), the cells, and eager vs jit."""

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(0)


def _pair(name, *args, **kw):
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(*args, **kw)
    k = getattr(kiln.nn, name)(*args, **kw)
    sd = {n: kiln.tensor(v.detach().numpy()) for n, v in t.state_dict().items()}
    assert list(sd) == list(k.state_dict())
    assert [tuple(p.shape) for p in k.parameters()] == [tuple(p.shape) for p in t.parameters()]
    k.load_state_dict(sd)
    return k, t


def _close(a, b):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)


def _check_grads(k, t, kx, tx):
    _close(kx.grad, tx.grad)
    for (name, p), (_, q) in zip(k.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(
            p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name
        )


@pytest.mark.parametrize(
    "name, kw, layout, with_state",
    [
        ("LSTM", dict(num_layers=2, bidirectional=True), "TBF", True),
        ("GRU", dict(num_layers=2, batch_first=True), "BTF", False),
        ("RNN", dict(nonlinearity="relu", bias=False), "TF", True),
        ("LSTM", dict(proj_size=2, batch_first=True), "BTF", True),
        ("GRU", dict(bidirectional=True), "TBF", True),
        ("RNN", dict(num_layers=2), "TBF", False),
    ],
)
def test_recurrent_layer_matches_torch(name, kw, layout, with_state):
    k, t = _pair(name, 4, 5, **kw)
    shape = {"TBF": (6, 3, 4), "BTF": (3, 6, 4), "TF": (6, 4)}[layout]
    x = RNG.standard_normal(shape).astype(np.float32)
    kx, tx = kiln.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kargs, targs = [kx], [tx]
    if with_state:
        n = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        batch = () if layout == "TF" else (3,)
        h0 = RNG.standard_normal((n, *batch, kw.get("proj_size") or 5)).astype(np.float32)
        if name == "LSTM":
            c0 = RNG.standard_normal((n, *batch, 5)).astype(np.float32)
            kargs.append((kiln.tensor(h0), kiln.tensor(c0)))
            targs.append((torch.tensor(h0), torch.tensor(c0)))
        else:
            kargs.append(kiln.tensor(h0))
            targs.append(torch.tensor(h0))
    ko, kh = k(*kargs)
    to, th = t(*targs)
    _close(ko, to)
    if name == "LSTM":
        _close(kh[1], th[1])
        kh, th = kh[0], th[0]
    _close(kh, th)
    ((ko**2).sum() + kh.sum()).backward()
    ((to**2).sum() + th.sum()).backward()
    _check_grads(k, t, kx, tx)


def test_packed_bidirectional_lstm_matches_torch():
    k, t = _pair("LSTM", 3, 4, bidirectional=True, batch_first=True)
    x = RNG.standard_normal((3, 5, 3)).astype(np.float32)
    lengths = [2, 5, 3]
    outs = []
    for lib, m in ((kiln, k), (torch, t)):
        xt = lib.tensor(x, requires_grad=True)
        packed = lib.nn.utils.rnn.pack_padded_sequence(
            xt, lengths, batch_first=True, enforce_sorted=False
        )
        out, (h, c) = m(packed)
        assert isinstance(out, lib.nn.utils.rnn.PackedSequence)
        padded, lens = lib.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        (padded.sum() + h.sum() + (c**2).sum()).backward()
        outs.append((padded, h, c, lens.tolist(), xt))
    (kp, kh, kc, kl, kx), (tp, th, tc, tl, tx) = outs
    assert kl == tl
    for a, b in ((kp, tp), (kh, th), (kc, tc)):
        _close(a, b)
    _check_grads(k, t, kx, tx)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(name):
    k, t = _pair(name, 4, 3)
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    h = RNG.standard_normal((2, 3)).astype(np.float32)
    kx, tx = kiln.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if name == "LSTMCell":
        kh, kc = k(kx, (kiln.tensor(h), kiln.tensor(h * 0.5)))
        th, tc = t(tx, (torch.tensor(h), torch.tensor(h * 0.5)))
        _close(kc, tc)
        ku, tu = k(kx[0])[0], t(tx[0])[0]  # unbatched, zero state
    else:
        kh, th = k(kx, kiln.tensor(h)), t(tx, torch.tensor(h))
        ku, tu = k(kx[0]), t(tx[0])
    _close(kh, th)
    _close(ku, tu)
    (kh * kh).sum().backward()
    (th * th).sum().backward()
    _check_grads(k, t, kx, tx)


def test_dropout_between_layers_only_in_training_and_bad_arguments():
    m = kiln.nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = kiln.ones(4, 2, 3)
    m.eval()
    a, b = m(x)[0].detach(), m(x)[0].detach()
    assert np.array_equal(a.numpy(), b.numpy())
    m.train()
    kiln.manual_seed(1)
    assert not np.array_equal(m(x)[0].detach().numpy(), a.numpy())
    with pytest.raises(RuntimeError, match="input_size"):
        m(kiln.ones(4, 2, 5))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        m(x, kiln.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="dropout"):
        kiln.nn.LSTM(3, 4, dropout=1.5)


def test_lstm_training_step_jit_matches_eager():
    k, _ = _pair("LSTM", 2, 3)
    head = kiln.nn.Linear(3, 1)
    x = kiln.tensor(RNG.standard_normal((2, 2, 2)).astype(np.float32))
    params = list(k.parameters()) + list(head.parameters())

    def step():
        out, _ = k(x)
        loss = (head(out[-1]) ** 2).mean()
        loss.backward()
        return loss

    eager = step().item()
    grads = [p.grad.numpy().copy() for p in params]
    for p in params:
        p.grad = None
    compiled = kiln.jit(step)().item()
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-4, atol=1e-6)


def test_dropout_with_one_layer_warns_like_torch():
    for lib in (kiln, torch):
        with pytest.warns(UserWarning, match="num_layers greater than 1"):
            lib.nn.LSTM(3, 4, dropout=0.2)
