"""``kiln.backends.cudnn``: cuDNN's switches (kiln does not use cuDNN: ``is_available()`` is
False and ``version()`` None, as in PyTorch's CPU build; the flags are kept and checked).

>>> import kiln
>>> before = kiln.backends.cudnn.deterministic
>>> with kiln.backends.cudnn.flags(enabled=False, deterministic=True):
...     kiln.backends.cudnn.deterministic
True
>>> kiln.backends.cudnn.deterministic == before
True
"""

from __future__ import annotations

import contextlib
import sys

from . import _bool, _flags, _install, _precision, _set

enabled = True
deterministic = False
benchmark = False
benchmark_limit = None  # (PyTorch's when cuDNN is not available)
allow_tf32 = True
fp32_precision = "none"
depthwise_kernel = "auto"
_DEPTHWISE_KERNELS = ("auto", "cudnn", "native")


def _depthwise(value):
    if value not in _DEPTHWISE_KERNELS:
        raise RuntimeError(
            f"Unknown cuDNN depthwise kernel mode: {value}. Expected one of: auto, cudnn, native"
        )
    return value


def is_available() -> bool:
    """False: kiln runs no cuDNN kernels."""
    return False


def version():
    """None: no cuDNN (PyTorch's answer when it has none)."""
    return None


def is_acceptable(tensor) -> bool:
    """Whether cuDNN would take ``tensor``: never here."""
    return False


def set_flags(
    _enabled=None,
    _benchmark=None,
    _benchmark_limit=None,
    _deterministic=None,
    _allow_tf32=None,
    _fp32_precision="none",
    _depthwise_kernel=None,
) -> tuple:
    """Set the flags given (not None); the previous values, in this order."""
    return _set(
        sys.modules[__name__],
        {
            "enabled": _enabled,
            "benchmark": _benchmark,
            "deterministic": _deterministic,
            "allow_tf32": _allow_tf32,
            "fp32_precision": _fp32_precision,
            "depthwise_kernel": _depthwise_kernel,
        },
    )


@contextlib.contextmanager
def flags(
    enabled=False,
    benchmark=False,
    benchmark_limit=10,
    deterministic=False,
    allow_tf32=True,
    fp32_precision="none",
    depthwise_kernel="auto",
):
    """Set the flags for the ``with`` block (PyTorch's defaults: ``enabled=False``...)."""
    values = {
        "enabled": enabled,
        "benchmark": benchmark,
        "deterministic": deterministic,
        "allow_tf32": allow_tf32,
        "fp32_precision": fp32_precision,
        "depthwise_kernel": depthwise_kernel,
    }
    with _flags(sys.modules[__name__], values):
        yield


_install(
    __name__,
    {
        "enabled": _bool("set_enabled_cudnn"),
        "deterministic": _bool("set_deterministic_cudnn"),
        "benchmark": _bool("set_benchmark_cudnn"),
        "allow_tf32": _bool("set_allow_tf32_cublas"),
        "fp32_precision": _precision,
        "depthwise_kernel": _depthwise,
    },
)
