"""``kiln.backends.quantized``: the engine of quantized kernels (``engine``, settable to one
of ``supported_engines``, as PyTorch's x86 CPU build reports them).

>>> import kiln
>>> kiln.backends.quantized.engine
'x86'
"""

from __future__ import annotations

from . import _install

supported_engines = ["qnnpack", "onednn", "x86", "fbgemm"]
engine = "x86"


def _check_engine(value):
    if value in supported_engines:
        return value
    if value in ("none", "", None):
        raise RuntimeError("quantized engine NoQEngine is not supported")
    raise RuntimeError(f"{value} is not a valid value for quantized engine")


def _refuse(value):
    raise RuntimeError("Assignment not supported")


_install(__name__, {"engine": _check_engine, "supported_engines": _refuse}, freezable=False)
