"""``kiln.backends.nnpack``: kiln calls no NNPACK (``is_available()`` is False; PyTorch's
CPU build says True); ``flags`` and ``set_flags`` are kept for scripts that toggle it."""

from __future__ import annotations

import contextlib
import sys

from . import _bool, _flags, _install, _set

enabled = True


def is_available() -> bool:
    return False


def set_flags(_enabled):
    return _set(sys.modules[__name__], {"enabled": _enabled})


@contextlib.contextmanager
def flags(enabled=False):
    with _flags(sys.modules[__name__], {"enabled": enabled}):
        yield


_install(__name__, {"enabled": _bool("set_enabled_nnpack")})
