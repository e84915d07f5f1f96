"""Whether operations record the autograd tape: ``no_grad``, ``enable_grad``.

Grad mode is per thread (it lives in ``kiln.context``), as in PyTorch: ``no_grad()`` in one
thread leaves autograd on in the others.
"""

from __future__ import annotations

import functools

from .. import context
from ..context import is_grad_enabled

__all__ = ["enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring the old mode on exit."""

    mode = True

    def __enter__(self):
        self._prev = context.is_grad_enabled()
        context.set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        context.set_grad_enabled(self._prev)
        return False

    def clone(self):
        """A fresh manager with the same mode (a decorator enters one per call)."""
        other = object.__new__(type(self))
        other.mode = self.mode
        return other

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Operations inside do not record gradients.

    >>> from kiln import ones
    >>> x = ones(2, requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    mode = False


class enable_grad(_GradMode):  # noqa: N801
    mode = True


class set_grad_enabled(_GradMode):  # noqa: N801
    """``set_grad_enabled(False)`` turns grad mode off at once (a call), or for a block."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = context.is_grad_enabled()
        context.set_grad_enabled(self.mode)  # takes effect immediately, like PyTorch

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        context.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        context.set_grad_enabled(self._prev)  # decorating leaves the mode as it was (PyTorch)
        return super().__call__(fn)

    def clone(self):
        other = object.__new__(_GradMode)
        other.mode = self.mode
        return other
