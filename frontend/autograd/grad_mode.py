"""Whether operations record the autograd tape: ``no_grad``, ``enable_grad``."""

from __future__ import annotations

import functools


class _GradState:
    enabled = True


state = _GradState()


def is_grad_enabled() -> bool:
    return state.enabled


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring the old mode on exit."""

    mode = True

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Operations inside do not record gradients.

    >>> with no_grad():
    ...     pass
    """

    mode = False


class enable_grad(_GradMode):  # noqa: N801
    mode = True


class set_grad_enabled(_GradMode):  # noqa: N801
    def __init__(self, mode: bool):
        self._mode = bool(mode)
        state_prev = state.enabled
        self._prev = state_prev
        state.enabled = self._mode  # takes effect immediately, like PyTorch

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False
