"""Gradients of kiln.linalg.qr, svd, svdvals and eigh: against PyTorch and against finite
differences (``kiln.autograd.gradcheck`` in float64).

Singular and eigen vectors are unique only up to sign, so the SVD/eigh losses here depend on
them only through sign-free expressions (``U * U``, ``U diag(S) Vh``), as PyTorch requires
for its gradients to be defined.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(4)


def _matrix(*shape):
    return RNG.standard_normal(shape)


def _both(loss, data, dtype="float64"):
    """(value, gradient) of ``loss(lib, x)`` in torch and in kiln."""
    out = []
    for lib in (torch, kiln):
        x = lib.tensor(data.astype(dtype), requires_grad=True)
        value = loss(lib, x)
        value.backward()
        out.append((value.detach().numpy(), x.grad.numpy()))
    return out


def _weights(*shape):
    return RNG.standard_normal(shape)


SHAPES = [(4, 4), (5, 3), (3, 5), (2, 4, 3), (2, 3, 4)]


def _qr_loss(mode, wq, wr):
    def loss(lib, x):
        q, r = lib.linalg.qr(x, mode=mode)
        return (q * lib.tensor(wq[..., : q.shape[-2], : q.shape[-1]])).sum() + (
            r * lib.tensor(wr[..., : r.shape[-2], : r.shape[-1]])
        ).sum()

    return loss


# (complete QR of a tall matrix is not differentiable: both raise, tested below)
QR_CASES = [
    (shape, mode)
    for mode in ("reduced", "complete")
    for shape in SHAPES
    if not (mode == "complete" and shape[-2] > shape[-1])
]


@pytest.mark.parametrize("shape,mode", QR_CASES, ids=str)
def test_qr_gradient_matches_torch(shape, mode):
    m, n = shape[-2:]
    data = _matrix(*shape)
    big = shape[:-2] + (max(m, n), max(m, n))
    loss = _qr_loss(mode, _weights(*big), _weights(*big))
    (vt, gt), (vk, gk) = _both(loss, data)
    np.testing.assert_allclose(vk, vt, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gk, gt, rtol=1e-8, atol=1e-10)


def test_qr_values_and_errors_like_torch():
    data = _matrix(5, 3)
    q, r = kiln.linalg.qr(kiln.tensor(data))
    qt, rt = torch.linalg.qr(torch.tensor(data))
    np.testing.assert_allclose(q.numpy(), qt.numpy(), atol=1e-12)
    np.testing.assert_allclose(r.numpy(), rt.numpy(), atol=1e-12)
    x = kiln.tensor(data, requires_grad=True)
    with pytest.raises(RuntimeError, match="mode='r'"):
        kiln.linalg.qr(x, mode="r")
    with pytest.raises(RuntimeError, match="nrows > ncols"):
        kiln.linalg.qr(x, mode="complete")
    with pytest.raises(RuntimeError, match="unrecognized mode"):
        kiln.linalg.qr(x, mode="full")


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)], ids=str)
def test_qr_gradcheck(shape):
    x = kiln.tensor(_matrix(*shape), requires_grad=True)
    w = kiln.tensor(_weights(*shape))
    assert kiln.autograd.gradcheck(
        lambda a: kiln.linalg.qr(a).Q.sum() + kiln.linalg.qr(a).R.mul(2).sum(), (x,)
    )
    assert kiln.autograd.gradcheck(
        lambda a: (kiln.linalg.qr(a).Q * w[..., : min(shape)]).sum(), (x,)
    )


def _svd_loss(full_matrices, w_uv, w_s, w_uu, w_vv):
    def loss(lib, x):
        u, s, vh = lib.linalg.svd(x, full_matrices=full_matrices)
        k = s.shape[-1]
        uk, vhk = u[..., :, :k], vh[..., :k, :]
        rebuilt = uk @ (s.unsqueeze(-1) * vhk)  # sign-free
        return (
            (rebuilt * lib.tensor(w_uv)).sum()
            + (s * lib.tensor(w_s)).sum()
            + (uk * uk * lib.tensor(w_uu)).sum()
            + (vhk * vhk * lib.tensor(w_vv)).sum()
        )

    return loss


@pytest.mark.parametrize("full_matrices", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_svd_gradient_matches_torch(shape, full_matrices):
    m, n = shape[-2:]
    k = min(m, n)
    batch = shape[:-2]
    loss = _svd_loss(
        full_matrices,
        _weights(*shape),
        _weights(*batch, k),
        _weights(*batch, m, k),
        _weights(*batch, k, n),
    )
    (vt, gt), (vk, gk) = _both(loss, _matrix(*shape))
    np.testing.assert_allclose(vk, vt, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(gk, gt, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)], ids=str)
def test_svd_gradcheck(shape):
    m, n = shape
    k = min(m, n)
    w_uu, w_vv = kiln.tensor(_weights(m, k)), kiln.tensor(_weights(k, n))

    def fn(a):
        u, s, vh = kiln.linalg.svd(a, full_matrices=False)
        return (u * u * w_uu).sum() + (vh * vh * w_vv).sum() + s.sum()

    x = kiln.tensor(_matrix(*shape), requires_grad=True)
    assert kiln.autograd.gradcheck(fn, (x,))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_svdvals_and_norms_gradient_matches_torch(shape):
    w = _weights(*shape[:-2], min(shape[-2:]))
    (vt, gt), (vk, gk) = _both(
        lambda lib, x: (lib.linalg.svdvals(x) * lib.tensor(w)).sum(), _matrix(*shape)
    )
    np.testing.assert_allclose(vk, vt, rtol=1e-10)
    np.testing.assert_allclose(gk, gt, rtol=1e-8, atol=1e-10)
    for ord_ in ("nuc", 2, -2):
        loss = lambda lib, x, o=ord_: lib.linalg.matrix_norm(x, ord=o).sum()  # noqa: E731
        (vt, gt), (vk, gk) = _both(loss, _matrix(*shape))
        np.testing.assert_allclose(vk, vt, rtol=1e-10)
        np.testing.assert_allclose(gk, gt, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3)], ids=str)
def test_eigh_gradient_matches_torch(shape):
    data = _matrix(*shape)
    data = data + np.swapaxes(data, -1, -2)
    w_vals, w_vecs = _weights(*shape[:-1]), _weights(*shape)

    def loss(lib, x):
        values, vectors = lib.linalg.eigh(x)
        return (values * lib.tensor(w_vals)).sum() + (vectors * vectors * lib.tensor(w_vecs)).sum()

    (vt, gt), (vk, gk) = _both(loss, data)
    np.testing.assert_allclose(vk, vt, rtol=1e-10)
    np.testing.assert_allclose(gk, gt, rtol=1e-7, atol=1e-9)


def test_float32_svd_gradient_close_to_torch():
    data = _matrix(6, 4)
    loss = _svd_loss(False, _weights(6, 4), _weights(4), _weights(6, 4), _weights(4, 4))
    (vt, gt), (vk, gk) = _both(loss, data, dtype="float32")
    np.testing.assert_allclose(vk, vt, rtol=1e-4)
    np.testing.assert_allclose(gk, gt, rtol=1e-3, atol=1e-4)


TOP_LEVEL = [
    ("svd", lambda lib, x: lib.svd(x)),
    ("svd_full", lambda lib, x: lib.svd(x, some=False)),
    ("svd_values_only", lambda lib, x: lib.svd(x, compute_uv=False)),
    ("qr", lambda lib, x: lib.qr(x)),
    ("det", lambda lib, x: lib.det(x[..., :3, :3])),
    ("logdet", lambda lib, x: lib.logdet(x[..., :3, :3])),
    ("slogdet", lambda lib, x: lib.slogdet(x[..., :3, :3])),
    ("inverse", lambda lib, x: x[..., :3, :3].inverse()),
    ("cholesky", lambda lib, x: lib.cholesky(x[..., :3, :3] @ x[..., :3, :3].mT + lib.eye(3))),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch.qr's deprecation
@pytest.mark.parametrize("name,call", TOP_LEVEL, ids=[n for n, _ in TOP_LEVEL])
def test_torch_namespace_spellings_match_torch(name, call):
    data = _matrix(2, 4, 3)
    expected = call(torch, torch.tensor(data))
    got = call(kiln, kiln.tensor(data))
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    for e, g in zip(expected, got, strict=True):
        assert tuple(g.shape) == tuple(e.shape)
        if name.startswith("svd"):  # singular vectors: up to sign
            np.testing.assert_allclose(np.abs(g.numpy()), np.abs(e.numpy()), atol=1e-12)
        else:
            np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-12)


def test_torch_svd_gradient_through_v():
    data = _matrix(5, 3)
    w = _weights(3, 3)
    loss = lambda lib, x: (lib.svd(x).V ** 2 * lib.tensor(w)).sum()  # noqa: E731
    (vt, gt), (vk, gk) = _both(loss, data)
    np.testing.assert_allclose(vk, vt, rtol=1e-10)
    np.testing.assert_allclose(gk, gt, rtol=1e-7, atol=1e-9)
