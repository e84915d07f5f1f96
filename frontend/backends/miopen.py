"""``kiln.backends.miopen``: AMD's MIOpen switches (recorded only; kiln runs no MIOpen)."""

from __future__ import annotations

import contextlib
import sys

from . import _bool, _flags, _install, _set

immediate = False


def set_flags(_immediate=None):
    return _set(sys.modules[__name__], {"immediate": _immediate})


@contextlib.contextmanager
def flags(immediate=False):
    with _flags(sys.modules[__name__], {"immediate": immediate}):
        yield


_install(__name__, {"immediate": _bool("set_immediate_miopen")})
