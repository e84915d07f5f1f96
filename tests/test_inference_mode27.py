"""``inference_mode`` makes inference tensors, as PyTorch's: ``is_inference()`` is True
for what its ops and factories make (a view of a normal tensor stays normal, a view of an
inference tensor is one), and outside the block such a tensor may not be saved for backward
(an op whose rule reads it raises; one that does not, such as ``add``, is allowed), updated
in place (even under ``no_grad``) or made to require grad. Compared with torch call by
call."""

from __future__ import annotations

import pytest

import kiln

torch = pytest.importorskip("torch")


def _probe(lib):
    seen = []

    def attempt(fn):
        try:
            result = fn()
            seen.append(("ok", result.is_inference()))
        except RuntimeError as exc:
            seen.append(str(exc)[:60])

    with lib.inference_mode():
        a = lib.ones(2)
        b = a * 2
        c = lib.tensor([1.0])
        v = b[0:1]
        inside = lib.is_inference_mode_enabled()
    seen.append((a.is_inference(), b.is_inference(), c.is_inference(), v.is_inference()))
    seen.append((b.requires_grad, inside, lib.is_inference_mode_enabled()))
    normal = lib.ones(2)
    with lib.inference_mode():
        seen.append((normal[0:1].is_inference(), (normal * 1).is_inference()))
        seen.append(lib.zeros(3).sum().is_inference())
    attempt(lambda: a.requires_grad_(True))
    w = lib.ones(2, requires_grad=True)
    for fn in (
        lambda: a + w,
        lambda: a * w,
        lambda: a.clone() * w,
        lambda: a @ w,
        lambda: lib.nn.functional.linear(a.view(1, 2), w.view(1, 2)),
        lambda: a.sum() * 1,
        lambda: lib.exp(a),
        lambda: a.detach(),
        lambda: a.view(2, 1),
    ):
        attempt(fn)
    attempt(lambda: a.add_(1))
    with lib.no_grad():
        attempt(lambda: a.add_(1))
    with lib.inference_mode():
        attempt(lambda: a.add_(1))
        with lib.inference_mode(False):
            seen.append(lib.ones(1).is_inference())
    attempt(lambda: normal[0:1].add_(1))
    seen.append(lib.is_inference(a))

    @lib.inference_mode()
    def infer(x):
        return x * 3

    seen.append(infer(lib.ones(1)).is_inference())
    return seen


def test_inference_tensors_behave_as_torchs():
    assert _probe(kiln) == _probe(torch)


def test_a_model_evaluated_in_inference_mode_then_trained_as_torch():
    """The usual pattern: evaluate under inference_mode, then train on fresh tensors (the
    parameters are normal tensors, untouched by the block)."""
    model = kiln.nn.Linear(3, 2)
    x = kiln.ones(4, 3)
    with kiln.inference_mode():
        y = model(x)
    assert y.is_inference() and not model.weight.is_inference()
    loss = model(x).sum()
    loss.backward()
    assert model.weight.grad is not None
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        (model(x) * y).sum()  # y's values would be saved for model's gradient
