"""``kiln.nn.utils.parametrizations.orthogonal`` and the ops under it
(``linalg.matrix_exp``, ``linalg.householder_product``), against PyTorch: forward values,
gradients in float64, the three maps on square, tall, wide and batched matrices, with and
without the trivialization, assignment (``right_inverse``), errors, and a training loop
that keeps the weight orthogonal eagerly and under ``kiln.jit`` with the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.utils.parametrizations as TPZ

import kiln
import kiln.nn.utils.parametrizations as KPZ

RNG = np.random.default_rng(0)


def _k(a, requires_grad=False):
    return kiln.tensor(a, requires_grad=requires_grad)


def _t(a, requires_grad=False):
    return torch.tensor(a, requires_grad=requires_grad)


def _grads_match(kfn, tfn, inputs, rtol=1e-9, atol=1e-10):
    """Forward and the gradient of ``sum(out * g)`` (a random ``g``) to every input."""
    kin = [_k(a, True) for a in inputs]
    tin = [_t(a, True) for a in inputs]
    kout, tout = kfn(*kin), tfn(*tin)
    np.testing.assert_allclose(kout.detach().numpy(), tout.detach().numpy(), rtol, atol)
    g = RNG.standard_normal(tuple(tout.shape))
    (kout * _k(g)).sum().backward()
    (tout * _t(g)).sum().backward()
    for a, b in zip(kin, tin):
        if b.grad is None:  # torch leaves an unused input's gradient undefined
            assert a.grad is None or not a.grad.numpy().any()
            continue
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol, atol)


# ------------------------------------------------------------------------- matrix_exp


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (5, 5), (2, 4, 4), (2, 1, 3, 3)])
@pytest.mark.parametrize("scale", [0.01, 0.7, 4.0, 40.0])
def test_matrix_exp_forward_and_grad_float64(shape, scale):
    a = RNG.standard_normal(shape) * scale
    rel = np.abs(torch.linalg.matrix_exp(_t(a)).numpy()).max()
    _grads_match(kiln.linalg.matrix_exp, torch.linalg.matrix_exp, [a], 1e-9, 1e-12 * max(rel, 1))


def test_matrix_exp_float32_and_names():
    a = (RNG.standard_normal((3, 6, 6)) * 2).astype(np.float32)
    expected = torch.matrix_exp(_t(a)).numpy()
    for fn in (kiln.linalg.matrix_exp, kiln.matrix_exp, lambda x: x.matrix_exp()):
        out = fn(_k(a))
        assert out.dtype is kiln.float32
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_matrix_exp_edges():
    for shape in [(0, 0), (3, 0, 0), (0, 2, 2)]:
        out = kiln.linalg.matrix_exp(kiln.zeros(shape))
        assert tuple(out.shape) == shape
    np.testing.assert_array_equal(kiln.linalg.matrix_exp(kiln.zeros(3, 3)).numpy(), np.eye(3))
    skew = RNG.standard_normal((4, 4))
    q = kiln.linalg.matrix_exp(_k(skew - skew.T)).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-13)


@pytest.mark.parametrize(
    "arg, message",
    [
        (np.ones((2, 3)), "A must be batches of square matrices, but they are 2 by 3"),
        (np.ones(3), "at least 2 dimensions"),
        (np.ones((2, 2), dtype=np.int64), "Expected a floating point"),
    ],
)
def test_matrix_exp_errors(arg, message):
    with pytest.raises(RuntimeError, match=message):
        kiln.linalg.matrix_exp(_k(arg))
    with pytest.raises(RuntimeError, match=message):
        torch.linalg.matrix_exp(_t(arg))


def test_matrix_exp_jit_matches_eager_with_grad():
    def loss(a):
        return (kiln.linalg.matrix_exp(a) ** 2).sum()

    def step(a):
        a.grad = None
        out = loss(a)
        out.backward()
        return out

    fn = kiln.jit(step)
    for scale in (0.1, 3.0, 50.0):  # different squaring counts, one trace
        a = RNG.standard_normal((2, 4, 4)) * scale
        ea, ja = _k(a, True), _k(a, True)
        e, j = step(ea), fn(ja)
        np.testing.assert_allclose(j.item(), e.item(), rtol=1e-11)
        np.testing.assert_allclose(ja.grad.numpy(), ea.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert fn.trace_count == 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the unused squarings overflow
def test_matrix_exp_jit_beyond_its_squarings_is_nan_not_wrong():
    out = kiln.jit(kiln.linalg.matrix_exp)(_k(np.full((2, 2), 1e15)))
    assert np.isnan(out.numpy()).all()


def test_matrix_exp_and_householder_gradcheck_gradgradcheck_vmap_jvp():
    a = RNG.standard_normal((4, 4))
    assert kiln.autograd.gradcheck(kiln.linalg.matrix_exp, (_k(a * 3, True),))
    assert kiln.autograd.gradgradcheck(kiln.linalg.matrix_exp, (_k(a, True),))
    h, tau = RNG.standard_normal((5, 3)), RNG.uniform(0.2, 1.8, 3)
    assert kiln.autograd.gradcheck(kiln.linalg.householder_product, (_k(h, True), _k(tau, True)))
    batch = RNG.standard_normal((3, 4, 4)) * 2
    out = kiln.func.vmap(kiln.linalg.matrix_exp)(_k(batch))
    np.testing.assert_allclose(out.numpy(), torch.linalg.matrix_exp(_t(batch)).numpy(), atol=1e-12)
    v = RNG.standard_normal((4, 4))
    _, tangent = kiln.func.jvp(kiln.linalg.matrix_exp, (_k(a),), (_k(v),))
    expected = torch.func.jvp(torch.linalg.matrix_exp, (_t(a),), (_t(v),))[1]
    np.testing.assert_allclose(tangent.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ householder_product


@pytest.mark.parametrize(
    "shape, k", [((3, 3), 3), ((5, 3), 3), ((5, 3), 2), ((2, 4, 2), 2), ((4, 2), 0)]
)
def test_householder_product_forward_and_grad(shape, k):
    a = RNG.standard_normal(shape)
    tau = RNG.uniform(0.2, 1.8, shape[:-2] + (k,))
    _grads_match(kiln.linalg.householder_product, torch.linalg.householder_product, [a, tau])


def test_householder_product_float32_and_jit():
    a = RNG.standard_normal((2, 6, 4)).astype(np.float32)
    tau = RNG.uniform(0.2, 1.8, (2, 4)).astype(np.float32)
    expected = torch.linalg.householder_product(_t(a), _t(tau)).numpy()
    eager = kiln.linalg.householder_product(_k(a), _k(tau))
    np.testing.assert_allclose(eager.numpy(), expected, rtol=1e-5, atol=1e-5)
    jitted = kiln.jit(kiln.linalg.householder_product)(_k(a), _k(tau))
    np.testing.assert_allclose(jitted.numpy(), eager.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "a, tau, cls, message",
    [
        ((2, 3), (2,), RuntimeError, r"input.shape\[-2\] must be greater than or equal"),
        ((3, 2), (3,), RuntimeError, r"input.shape\[-1\] must be greater than or equal"),
        ((3,), (3,), RuntimeError, "input must have at least 2 dimensions"),
        ((3, 2), (2, 2), RuntimeError, "Expected tau to have one dimension less"),
        ((4, 3, 2), (5, 2), RuntimeError, "Expected batch dimensions of tau"),
    ],
)
def test_householder_product_errors(a, tau, cls, message):
    with pytest.raises(cls, match=message):
        kiln.linalg.householder_product(kiln.ones(a), kiln.ones(tau))
    with pytest.raises(cls, match=message):
        torch.linalg.householder_product(torch.ones(a), torch.ones(tau))
    with pytest.raises(RuntimeError, match="tau dtype float64 does not match"):
        kiln.linalg.householder_product(kiln.ones(3, 2), kiln.ones(2, dtype=kiln.float64))


# ------------------------------------------------------------------------- orthogonal

SHAPES = {"square": (4, 4), "tall": (5, 3), "wide": (3, 5), "batched": (2, 4, 3)}
MAPS = [None, "matrix_exp", "cayley", "householder"]


class _Holder(kiln.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.weight = kiln.nn.Parameter(kiln.tensor(w))


class _THolder(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(w))


def _pair(shape, orthogonal_map, use_trivialization, w=None):
    w = RNG.standard_normal(shape) if w is None else w
    k = KPZ.orthogonal(_Holder(w), "weight", orthogonal_map, use_trivialization=use_trivialization)
    t = TPZ.orthogonal(_THolder(w), "weight", orthogonal_map, use_trivialization=use_trivialization)
    return k, t


def _sync(k, t):
    """Give kiln torch's stored tensors (a rectangular base has random columns)."""
    with kiln.no_grad():
        for name, value in t.state_dict().items():
            target = k.get_parameter(name) if "original" in name else k.get_buffer(name)
            target.copy_(kiln.tensor(value.numpy()))


def _check_orthogonal(w, atol):
    w = w.detach().numpy()
    if w.shape[-2] < w.shape[-1]:
        w = np.swapaxes(w, -1, -2)
    np.testing.assert_allclose(
        np.swapaxes(w, -1, -2) @ w,
        np.broadcast_to(np.eye(w.shape[-1]), w.shape[:-2] + (w.shape[-1],) * 2),
        atol=atol,
    )


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("orthogonal_map", MAPS)
@pytest.mark.parametrize("triv", [True, False])
def test_orthogonal_matches_torch(shape, orthogonal_map, triv):
    k, t = _pair(SHAPES[shape], orthogonal_map, triv)
    assert list(k.state_dict()) == list(t.state_dict())
    assert type(k.parametrizations.weight[0].orthogonal_map).__name__ == "_OrthMaps"
    assert (
        k.parametrizations.weight[0].orthogonal_map.name
        == t.parametrizations.weight[0].orthogonal_map.name
    )
    if SHAPES[shape][-2] == SHAPES[shape][-1] or not triv:
        # deterministic initialization: the same stored tensors as torch
        for name, value in t.state_dict().items():
            np.testing.assert_allclose(k.state_dict()[name].numpy(), value.numpy(), atol=1e-12)
    _sync(k, t)
    _check_orthogonal(k.weight, 1e-12)
    np.testing.assert_allclose(k.weight.detach().numpy(), t.weight.detach().numpy(), atol=1e-12)
    # the gradient to the stored tensor
    g = RNG.standard_normal(SHAPES[shape])
    (k.weight * _k(g)).sum().backward()
    (t.weight * _t(g)).sum().backward()
    ko, to = k.parametrizations.weight.original, t.parametrizations.weight.original
    np.testing.assert_allclose(ko.grad.numpy(), to.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_assign_an_orthogonal_matrix(shape, orthogonal_map):
    q = np.linalg.qr(RNG.standard_normal(SHAPES[shape]))[0] if shape != "wide" else None
    if q is None:
        q = np.swapaxes(np.linalg.qr(RNG.standard_normal((5, 3)))[0], -1, -2)
    k, t = _pair(SHAPES[shape], orthogonal_map, True)
    k.weight = kiln.tensor(q)
    t.weight = torch.tensor(q)
    np.testing.assert_allclose(k.weight.detach().numpy(), q, atol=1e-12)
    np.testing.assert_allclose(
        k.state_dict()["parametrizations.weight.original"].numpy(),
        t.state_dict()["parametrizations.weight.original"].numpy(),
    )
    if SHAPES[shape][-2] == SHAPES[shape][-1]:  # kept as it is: the base is q itself
        np.testing.assert_allclose(
            k.parametrizations.weight[0].base.numpy(),
            t.parametrizations.weight[0].base.numpy(),
            atol=1e-14,
        )


@pytest.mark.parametrize("shape", list(SHAPES))
def test_orthogonal_householder_without_trivialization_assign(shape):
    k, t = _pair(SHAPES[shape], "householder", False)
    w = RNG.standard_normal(SHAPES[shape])
    q = torch.linalg.qr(_t(w if shape != "wide" else np.swapaxes(w, -1, -2)))[0]
    q = q if shape != "wide" else q.mT
    k.weight = kiln.tensor(q.numpy())
    t.weight = q
    np.testing.assert_allclose(
        k.parametrizations.weight.original.detach().numpy(),
        t.parametrizations.weight.original.detach().numpy(),
        atol=1e-12,
    )
    np.testing.assert_allclose(k.weight.detach().numpy(), q.numpy(), atol=1e-12)


def test_orthogonal_no_trivialization_matrix_exp_keeps_the_original_and_refuses_assignment():
    w = RNG.standard_normal((3, 3))
    k, t = _pair((3, 3), "matrix_exp", False, w)
    np.testing.assert_array_equal(k.parametrizations.weight.original.detach().numpy(), w)
    assert not hasattr(k.parametrizations.weight[0], "base")
    np.testing.assert_allclose(k.weight.detach().numpy(), t.weight.detach().numpy(), atol=1e-12)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        k.weight = kiln.eye(3, dtype=kiln.float64)


def test_orthogonal_errors():
    with pytest.raises(
        ValueError, match="Expected a matrix or batch of matrices. Got a tensor of 1"
    ):
        KPZ.orthogonal(kiln.nn.Linear(3, 3), "bias")
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp"'):
        KPZ.orthogonal(kiln.nn.Linear(3, 3), orthogonal_map="qr")
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'w'"):
        KPZ.orthogonal(kiln.nn.Linear(3, 3), "w")
    m = KPZ.orthogonal(kiln.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices of shape"):
        m.weight = kiln.eye(4)


def test_orthogonal_default_maps_and_float32_linear():
    assert (
        KPZ.orthogonal(kiln.nn.Linear(3, 3)).parametrizations.weight[0].orthogonal_map.name
        == "matrix_exp"
    )
    m = KPZ.orthogonal(kiln.nn.Linear(20, 40))
    assert m.parametrizations.weight[0].orthogonal_map.name == "householder"
    assert m.weight.dtype is kiln.float32 and tuple(m.weight.shape) == (40, 20)
    _check_orthogonal(m.weight, 1e-5)


# ------------------------------------------------------------------------- training


def _train(orthogonal_map, compiled, steps=8):
    kiln.manual_seed(0)
    rng = np.random.default_rng(3)
    model = kiln.nn.Sequential(kiln.nn.Linear(6, 6), kiln.nn.Tanh(), kiln.nn.Linear(6, 2))
    KPZ.orthogonal(model[0], orthogonal_map=orthogonal_map)
    opt = kiln.optim.Adam(model.parameters(), lr=0.05)
    x = kiln.tensor(rng.standard_normal((32, 6)).astype(np.float32))
    y = kiln.tensor(rng.standard_normal((32, 2)).astype(np.float32))

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = kiln.jit(step) if compiled else step
    losses = [fn(x, y).item() for _ in range(steps)]
    return np.array(losses), model[0].weight.detach().numpy(), fn


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "householder"])
def test_orthogonal_linear_trains_eagerly_and_under_jit(orthogonal_map):
    eager_losses, eager_w, _ = _train(orthogonal_map, False)
    jit_losses, jit_w, fn = _train(orthogonal_map, True)
    assert eager_losses[-1] < eager_losses[0]
    _check_orthogonal(kiln.tensor(eager_w), 1e-5)
    _check_orthogonal(kiln.tensor(jit_w), 1e-5)
    np.testing.assert_allclose(jit_losses, eager_losses, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jit_w, eager_w, rtol=1e-5, atol=1e-6)
    assert fn.trace_count == 1


def test_orthogonal_cayley_trains_eagerly():
    losses, w, _ = _train("cayley", False)
    assert losses[-1] < losses[0]
    _check_orthogonal(kiln.tensor(w), 1e-5)


def test_orthogonal_cayley_under_jit_raises_a_trace_error():
    # the Cayley map solves a linear system in LAPACK, which has no compiled kernel here
    with pytest.raises(kiln.TraceError, match="linalg.solve"):
        _train("cayley", True, steps=1)
