"""``grad_fn._raw_saved_<name>.register_hooks(pack, unpack)`` (the "Hooks for saved tensors"
tutorial) as PyTorch's: pack runs at once, unpack whenever the saved tensor is read, the
gradient uses what unpack returns, and the errors for a second pair of hooks, a freed
node and non-callables."""

from __future__ import annotations

import pytest

import kiln

torch = pytest.importorskip("torch")


def _run(lib):
    seen = []

    def pack(t):
        seen.append(("pack", tuple(t.shape)))
        return t * 1

    def unpack(t):
        seen.append(("unpack", tuple(t.shape)))
        return t * 10

    x = lib.ones(3, requires_grad=True)
    y = x.pow(2)
    raw = y.grad_fn._raw_saved_self
    raw.register_hooks(pack, unpack)
    seen.append(y.grad_fn._saved_self.tolist())
    for attempt in ((pack, unpack), (1, 2)):
        try:
            raw.register_hooks(*attempt)
        except (RuntimeError, TypeError) as exc:
            seen.append(type(exc).__name__)
    y.sum().backward()
    seen.append(x.grad.tolist())
    try:
        y.grad_fn._raw_saved_self.register_hooks(pack, unpack)
    except RuntimeError as exc:
        seen.append(str(exc)[:40])
    z = x.exp()  # a saved result
    z.grad_fn._raw_saved_result.register_hooks(pack, unpack)
    x.grad = None
    z.sum().backward()
    seen.append([round(v, 4) for v in x.grad.tolist()])
    w = x * lib.ones(3, requires_grad=True)
    w.grad_fn._raw_saved_other.register_hooks(pack, unpack)
    x.grad = None
    w.sum().backward()
    seen.append(x.grad.tolist())
    return seen


def test_saved_tensor_hooks_of_one_node_as_torchs():
    assert _run(kiln) == _run(torch)
