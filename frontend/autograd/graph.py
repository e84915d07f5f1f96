"""``kiln.autograd.graph``: hooks on what the autograd graph keeps for the backward pass.

``saved_tensors_hooks(pack, unpack)``: every tensor an operation keeps for its backward
(the inputs its VJP rule reads, a custom Function's ``save_for_backward``) is stored as
``pack(tensor)``, and the backward uses ``unpack(stored)``: compress, offload or log what
autograd holds on to. The hooks are per thread, as PyTorch's.

>>> import kiln
>>> seen = []
>>> x = kiln.tensor([1.0, 2.0], requires_grad=True)
>>> with saved_tensors_hooks(lambda t: seen.append(t.shape) or t * 1, lambda t: t):
...     y = (x * x).sum()
>>> y.backward(); x.grad.tolist(), len(seen)
([2.0, 4.0], 2)
"""

from __future__ import annotations

from contextvars import ContextVar

from . import tape

_disabled: ContextVar = ContextVar("kiln_saved_tensors_hooks_disabled", default=None)

__all__ = [
    "disable_saved_tensors_hooks",
    "register_multi_grad_hook",
    "save_on_cpu",
    "saved_tensors_hooks",
]


class saved_tensors_hooks:  # noqa: N801 - PyTorch's name
    """Inside the block, tensors saved for backward go through ``pack_hook`` (and come back
    through ``unpack_hook``)."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        message = _disabled.get()
        if message is not None:
            raise RuntimeError(message)
        self._token = tape._saved_hooks.set((self.pack_hook, self.unpack_hook))
        tape.saved_hooks_active += 1
        return self

    def __exit__(self, *exc):
        tape._saved_hooks.reset(self._token)
        tape.saved_hooks_active -= 1
        return False


class save_on_cpu(saved_tensors_hooks):  # noqa: N801
    """Keep saved tensors in host memory (a copy, as PyTorch's; kiln's CPU tensors already
    live there, a CUDA tensor is copied over and back)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda"):
        def pack(t):
            return (t.device, t.detach().to("cpu").clone(), t.requires_grad)

        def unpack(packed):
            dev, t, _ = packed
            return t.to(dev)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801
    """No saved-tensor hooks apply inside the block, and installing one is an error with
    ``error_message`` (for code that must not be subjected to them)."""

    def __init__(self, error_message: str):
        self.error_message = error_message

    def __enter__(self):
        self._token = tape._saved_hooks.set(None)
        self._disabled = _disabled.set(self.error_message)
        return self

    def __exit__(self, *exc):
        _disabled.reset(self._disabled)
        tape._saved_hooks.reset(self._token)
        return False


class _MultiHandle:
    """What ``register_multi_grad_hook`` returns: ``remove()`` removes the hook from
    every tensor."""

    def __init__(self, handles):
        self.handles = tuple(handles)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_multi_grad_hook(tensors, fn, *, mode: str = "all"):
    """One hook over the gradients of several tensors. ``mode="all"``: once per backward
    pass that reaches any of them, ``fn(grads)`` with one gradient per tensor (``None``
    for those the pass did not reach), when the pass has computed them. ``mode="any"``:
    ``fn(grad)`` with the first of them computed in each pass."""
    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = tuple(tensors)
    state = {"pass": None, "grads": None}

    def current_pass():
        return id(tape._pass_callbacks[-1]) if tape._pass_callbacks else None

    def hook_for(index):
        def hook(grad):
            if mode == "any":
                if state["pass"] != current_pass():
                    state["pass"] = current_pass()
                    fn(grad)
                return None
            if state["pass"] != current_pass():
                state["pass"] = current_pass()
                state["grads"] = [None] * len(tensors)
                grads = state["grads"]

                def finish():
                    fn(grads)

                tape.queue_callback(finish)
            state["grads"][index] = grad
            return None

        return hook

    return _MultiHandle(t.register_hook(hook_for(i)) for i, t in enumerate(tensors))
