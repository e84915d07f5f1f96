"""``kiln.backends``: PyTorch's ``torch.backends``, the switches of the libraries behind it.

kiln runs on NumPy and its own generated kernels, so most of these switches change nothing
it computes; they exist, with the names, defaults and type checks of torch 2.13's CPU build,
so that a script written for PyTorch runs with ``import kiln as torch``:

>>> import kiln
>>> import kiln.backends.cudnn as cudnn
>>> cudnn.benchmark = True
>>> kiln.backends.cudnn.benchmark
True
>>> cudnn.benchmark = False
>>> kiln.backends.mps.is_available()
False

Each flag lives in its module's ``__dict__`` (set through ``_FlagModule.__setattr__``, which
checks the type as PyTorch does), so a ``kiln.jit`` trace that reads one guards it like any
module attribute and retraces when it changes.

Where kiln answers ``is_available()`` differently from PyTorch's CPU build, it says what is
true of kiln: it uses no oneDNN, MKL, NNPACK or OpenMP (each answers False), so a script
does not take a path meant for those libraries (``model.to_mkldnn()``).
"""

from __future__ import annotations

import contextlib
import types

_FROZEN = [False]


def disable_global_flags() -> None:
    """After this, assigning a flag (``cudnn.benchmark = True``) raises; ``flags()``
    context managers still change them (PyTorch's guard for its own test suite)."""
    _FROZEN[0] = True


def flags_frozen() -> bool:
    return _FROZEN[0]


@contextlib.contextmanager
def _unfrozen():
    old = _FROZEN[0]
    _FROZEN[0] = False
    try:
        yield
    finally:
        _FROZEN[0] = old


class _FlagModule(types.ModuleType):
    """A module whose flags (the names in its ``_CHECKS``) are type-checked when set.

    ``_CHECKS[name](value)`` returns the value to store or raises PyTorch's error.
    """

    def __setattr__(self, name, value):
        check = self.__dict__.get("_CHECKS", {}).get(name)
        if check is not None:
            if _FROZEN[0] and self.__dict__.get("_FREEZABLE", True):
                raise RuntimeError(
                    f"not allowed to set {self.__name__} flags after disable_global_flags; "
                    "please use flags() context manager instead"
                )
            value = check(value)
        super().__setattr__(name, value)


def _install(module_name: str, checks: dict, freezable: bool = True) -> None:
    """Make module ``module_name`` a ``_FlagModule`` that checks ``checks`` (and, if
    ``freezable``, refuses them after ``disable_global_flags()``)."""
    import sys

    module = sys.modules[module_name]
    module._CHECKS = checks
    module._FREEZABLE = freezable
    module.__class__ = _FlagModule


def _bool(setter_name: str):
    """A check that accepts only a bool (``set_benchmark_cudnn expects a bool, but got int``)."""

    def check(value):
        if not isinstance(value, bool):
            raise RuntimeError(f"{setter_name} expects a bool, but got {type(value).__name__}")
        return value

    return check


_PRECISIONS = ("none", "ieee", "tf32", "bf16")


def _precision(value):
    if value not in _PRECISIONS:
        raise RuntimeError(f"Unknown precision: {value}")
    return value


def _set(module, values: dict) -> tuple:
    """Set the flags in ``values`` (skipping None) on ``module``; the old values of all."""
    old = tuple(getattr(module, name) for name in values)
    with _unfrozen():
        for name, value in values.items():
            if value is not None:
                setattr(module, name, value)
    return old


@contextlib.contextmanager
def _flags(module, values: dict):
    """Set ``values`` on ``module`` for the ``with`` block (the shared body of ``flags()``)."""
    old = _set(module, values)
    try:
        yield
    finally:
        _set(module, dict(zip(values, old)))


fp32_precision = "none"


@contextlib.contextmanager
def flags(fp32_precision="none"):
    """``with kiln.backends.flags(fp32_precision="ieee"):`` (recorded only)."""
    import sys

    with _flags(sys.modules[__name__], {"fp32_precision": fp32_precision}):
        yield


_install(__name__, {"fp32_precision": _precision})

from . import (  # noqa: E402  (the submodules use the helpers above)
    cpu,
    cuda,
    cudnn,
    cusparselt,
    kleidiai,
    mha,
    miopen,
    mkl,
    mkldnn,
    mps,
    nnpack,
    openmp,
    opt_einsum,
    quantized,
)

__all__ = [
    "cpu",
    "cuda",
    "cudnn",
    "cusparselt",
    "disable_global_flags",
    "flags",
    "flags_frozen",
    "kleidiai",
    "mha",
    "miopen",
    "mkl",
    "mkldnn",
    "mps",
    "nnpack",
    "openmp",
    "opt_einsum",
    "quantized",
]
