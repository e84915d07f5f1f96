"""Views taken under ``no_grad`` of a tensor that requires grad, as PyTorch's (its view
"creation mode"): such a view requires grad but is a leaf with no gradient edge (a gradient
through it is dropped, ``autograd.grad`` with respect to it finds it unused), it and every
view of it refuse an in-place update with grad mode on, and inside ``no_grad`` they may be
updated. Views of plain tensors, copies (a reshape that copies) and ``detach()`` are not
marked."""

from __future__ import annotations

import pytest

import kiln

torch = pytest.importorskip("torch")


def _probe(lib):
    seen = []

    def attempt(fn):
        try:
            fn()
            seen.append("ok")
        except RuntimeError as exc:  # (torch names the op of a view of the view: Slice,
            # Select; kiln's setitem on the view itself says "A view was")
            message = str(exc)
            assert "created in no_grad mode" in message or "not have been used" in message
            seen.append("raises")

    a = lib.ones(4, requires_grad=True)
    with lib.no_grad():
        v = a[:2]
    seen += [v.requires_grad, v.is_leaf, v.grad_fn is None]
    attempt(lambda: v.mul_(2))
    with lib.no_grad():
        v.mul_(2)  # allowed inside no_grad
    seen.append(a.detach().tolist())
    a = lib.ones(4, requires_grad=True)
    with lib.no_grad():
        v, t = a[:2], a.t() if a.ndim == 2 else a.view(2, 2)
        plain = lib.ones(4)[:2]
        copy = a.view(2, 2).t().reshape(4)  # a copy, not a view
        d = a.detach()
    u = v[0:1]  # a view of the view, taken with grad mode on
    seen.append(u.requires_grad)
    attempt(lambda: u.add_(1))
    attempt(lambda: t.add_(1))
    attempt(lambda: v.__setitem__(0, 5.0))
    attempt(lambda: plain.add_(1))
    attempt(lambda: d.add_(1))
    seen.append(copy.requires_grad)
    a = lib.ones(4, requires_grad=True)
    with lib.no_grad():
        v = a[:2]
    w = lib.ones(2, requires_grad=True)
    y = (v * w).sum()
    y.backward()
    seen += [w.grad.tolist(), v.grad, a.grad]
    attempt(lambda: lib.autograd.grad((v * 3).sum(), v))
    return seen


def test_views_taken_under_no_grad_behave_as_torchs():
    assert _probe(kiln) == _probe(torch)


def test_numpy_of_a_tensor_that_requires_grad_is_allowed_under_no_grad_as_torchs():
    for lib in (torch, kiln):
        p = lib.ones(3, requires_grad=True)
        with lib.no_grad():
            assert p.numpy().tolist() == [1.0, 1.0, 1.0]
            assert p[1:].numpy().tolist() == [1.0, 1.0]  # (a view: requires grad too)
        with pytest.raises(RuntimeError, match="Can't call numpy"):
            p.numpy()
