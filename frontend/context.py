"""Per-thread dynamic state: grad mode and the interpreter stack.

Every tensor operation asks two questions: *who runs it* (the innermost interpreter: eager
NumPy or a device, or a trace that appends a graph node; later vmap and forward mode) and
*does autograd record it* (grad mode). Both answers live in one immutable ``Context`` held
in a ``contextvars.ContextVar``, so they are per thread (and per asyncio task), as
PyTorch's grad mode is: ``no_grad()`` in one thread never turns autograd off in another,
and while one thread traces a jitted function, the eager ops of other threads stay eager.

Changing the state installs a new ``Context`` (never mutates the current one): a new
thread starts from the default, so no thread can see another's changes.

>>> current().grad_enabled, current_trace() is None
(True, True)
"""

from __future__ import annotations

from contextvars import ContextVar


class Context:
    """The dynamic state one thread runs under (immutable: changes install a new one)."""

    __slots__ = ("grad_enabled", "top")  # slots: the cheapest attribute reads

    def __init__(self, grad_enabled: bool, top):
        self.grad_enabled = grad_enabled
        self.top = top  # the innermost interpreter, or None for eager (NumPy or a device)

    def __repr__(self) -> str:
        return f"Context(grad_enabled={self.grad_enabled}, top={self.top!r})"


_DEFAULT = Context(grad_enabled=True, top=None)
_context: ContextVar[Context] = ContextVar("kiln_context", default=_DEFAULT)  # noqa: B039 - immutable

current = _context.get  # the calling thread's Context (the hot path reads this once per op)

# ``kiln.inference_mode``: whether this thread is inside one (a ContextVar), and, process-wide,
# how many such blocks are open in any thread (the hot paths test this list first) and
# whether one ever was (autograd's check for inference tensors runs only then)
INFERENCE_MODE: ContextVar[bool] = ContextVar("kiln_inference_mode", default=False)
INFERENCE_BLOCKS = [0]
INFERENCE_EVER = [False]


def in_inference_mode() -> bool:
    """Whether the calling thread is inside ``inference_mode()`` (PyTorch's)."""
    return bool(INFERENCE_BLOCKS[0]) and INFERENCE_MODE.get()


def is_grad_enabled() -> bool:
    return _context.get().grad_enabled


def set_grad_enabled(enabled: bool) -> None:
    """Set this thread's grad mode (the other threads keep theirs)."""
    ctx = _context.get()
    if ctx.grad_enabled != enabled:
        _context.set(Context(bool(enabled), ctx.top))


def current_trace():
    """The trace this thread records into (the innermost interpreter), or ``None``."""
    return _context.get().top


class interpreting:  # noqa: N801 - used as a context manager
    """Make ``interpreter`` the innermost one for the duration of the block.

    Blocks nest: each remembers the interpreter it covered and restores it on exit, so the
    stack is the chain of enclosing blocks. Grad mode is left as the block left it.
    """

    __slots__ = ("interpreter", "_saved")

    def __init__(self, interpreter):
        self.interpreter = interpreter  # None: run eagerly (escape an enclosing trace)

    def __enter__(self):
        ctx = _context.get()
        self._saved = ctx.top
        _context.set(Context(ctx.grad_enabled, self.interpreter))
        return self.interpreter

    def __exit__(self, *exc):
        _context.set(Context(_context.get().grad_enabled, self._saved))
        return False
