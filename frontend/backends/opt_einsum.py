"""``kiln.backends.opt_einsum``: the contraction-order switches of ``einsum``.

``is_available()`` says whether the ``opt_einsum`` package can be imported, as in PyTorch;
kiln's ``einsum`` contracts in NumPy's order whatever these say (the result is the same;
only the speed of large contractions differs).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys

from . import _install, _set

_STRATEGIES = ("auto", "greedy", "optimal")


@functools.cache
def is_available() -> bool:
    return importlib.util.find_spec("opt_einsum") is not None


def get_opt_einsum():
    """The ``opt_einsum`` module, or None."""
    if not is_available():
        return None
    import opt_einsum

    return opt_einsum


enabled = is_available()
strategy = "auto" if enabled else None


def _check_enabled(value):
    if not isinstance(value, bool):
        raise ValueError(f"opt_einsum.enabled must be a bool, got {type(value).__name__}")
    if value and not is_available():
        raise ValueError(
            "opt_einsum is not available, so setting `enabled` to True will not be "
            "meaningful. Please install opt_einsum."
        )
    return value


def _check_strategy(value):
    if not is_available():
        raise ValueError(
            f"opt_einsum is not available, so setting `strategy` to {value} will not be "
            "meaningful. Please install opt_einsum or unset `strategy`."
        )
    if not sys.modules[__name__].enabled:
        raise ValueError(
            f"opt_einsum is not enabled, so setting a `strategy` to {value} will not be "
            "meaningful. Please set `enabled` to `True` as well or unset `strategy`."
        )
    if value not in _STRATEGIES:
        raise ValueError(
            f"`strategy` must be one of the following: [auto, greedy, optimal] but is {value}"
        )
    return value


def set_flags(_enabled=None, _strategy=None) -> tuple:
    return _set(sys.modules[__name__], {"enabled": _enabled, "strategy": _strategy})


@contextlib.contextmanager
def flags(enabled=None, strategy=None):
    module = sys.modules[__name__]
    old = (module.enabled, module.strategy)
    set_flags(enabled, strategy)
    try:
        yield
    finally:
        set_flags(*old)


_install(__name__, {"enabled": _check_enabled, "strategy": _check_strategy})
