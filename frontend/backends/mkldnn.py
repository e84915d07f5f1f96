"""``kiln.backends.mkldnn``: oneDNN's switches. kiln does not use oneDNN, so
``is_available()`` is False (PyTorch's CPU build says True); the flags are kept and checked,
and ``verbose(level)`` is a context manager that prints nothing."""

from __future__ import annotations

import contextlib
import sys

from . import _bool, _flags, _install, _precision, _set

VERBOSE_OFF = 0
VERBOSE_ON = 1
VERBOSE_ON_CREATION = 2

enabled = True
deterministic = False
allow_tf32 = None  # (PyTorch's on a build without Intel GPU support)
fp32_precision = "none"


def is_available() -> bool:
    """False: kiln runs no oneDNN kernels."""
    return False


def is_acl_available() -> bool:
    return False


class verbose:  # noqa: N801 - PyTorch's name
    """``with kiln.backends.mkldnn.verbose(VERBOSE_ON):``: no oneDNN, nothing to print."""

    def __init__(self, level):
        self.level = level

    def __enter__(self):
        return None if self.level == VERBOSE_OFF else self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return False


def set_flags(_enabled=None, _deterministic=None, _allow_tf32=None, _fp32_precision="none"):
    """Set the flags given (not None; ``_allow_tf32`` concerns Intel GPUs: ignored); the
    previous values of ``enabled``, ``deterministic`` and ``fp32_precision``."""
    return _set(
        sys.modules[__name__],
        {"enabled": _enabled, "deterministic": _deterministic, "fp32_precision": _fp32_precision},
    )


@contextlib.contextmanager
def flags(enabled=False, deterministic=False, allow_tf32=True, fp32_precision="none"):
    """Set the flags for the ``with`` block (``allow_tf32`` concerns Intel GPUs: ignored)."""
    values = {"enabled": enabled, "deterministic": deterministic, "fp32_precision": fp32_precision}
    with _flags(sys.modules[__name__], values):
        yield


_install(
    __name__,
    {
        "enabled": _bool("set_enabled_mkldnn"),
        "deterministic": _bool("set_deterministic_mkldnn"),
        "fp32_precision": _precision,
    },
)
