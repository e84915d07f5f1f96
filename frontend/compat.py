"""Small pieces of PyTorch's surface that scripts touch but kiln has no use for.

They exist so that a script written for PyTorch runs with ``import kiln as torch``:
``torch.backends.cudnn.deterministic = True``, ``torch.set_num_threads(2)``,
``torch.inference_mode()``, legacy constructors such as ``torch.FloatTensor(3)``.
"""

from __future__ import annotations

import math
import warnings

from . import dtypes
from .autograd.grad_mode import no_grad
from .context import INFERENCE_BLOCKS, INFERENCE_EVER, INFERENCE_MODE, in_inference_mode

# the math constants torch exposes (``torch.pi``, ``torch.e``, ``torch.inf``,
# ``torch.nan``): plain Python floats, as in PyTorch
pi = math.pi
e = math.e
inf = math.inf
nan = math.nan

_INFERENCE = INFERENCE_MODE


class inference_mode(no_grad):  # noqa: N801 - PyTorch's name
    """``no_grad`` whose results are inference tensors, as PyTorch's: ``is_inference()``
    is True for what its ops and factories make (not for views of normal tensors), and
    outside the block such a tensor may not be saved for backward, updated in place or
    made to require grad (``dispatch.bind``, ``autograd.tape.record``, ``ops.inplace``)."""

    def __init__(self, mode: bool = True):
        self.mode = not mode
        self.inference = bool(mode)

    def __enter__(self):
        self._token = _INFERENCE.set(self.inference)
        if self.inference:
            INFERENCE_BLOCKS[0] += 1
            INFERENCE_EVER[0] = True
        return super().__enter__()

    def __exit__(self, *exc):
        _INFERENCE.reset(self._token)
        if self.inference:
            INFERENCE_BLOCKS[0] -= 1
        return super().__exit__(*exc)

    def clone(self):
        return type(self)(self.inference)


def is_inference_mode_enabled() -> bool:
    """Whether the calling thread is inside ``inference_mode()``."""
    return in_inference_mode()


def set_num_threads(n: int) -> None:
    """Set the number of threads kiln's parallel kernels use (the native back end's
    pool, and Numba's where it compiled a kernel)."""
    import sys

    from .runtime import native

    native.set_threads(n)
    numba = sys.modules.get("numba")
    if numba is not None:  # (not imported unless a kernel needed it)
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def get_num_threads() -> int:
    from .runtime import native

    return _read(native.get_threads, "get_num_threads()")


_FLAGS = {
    "deterministic": False,
    "deterministic_warn_only": False,
    "matmul_precision": "highest",
    "interop_threads": 1,
    "anomaly": False,
    "anomaly_check_nan": True,
    "warn_always": False,
}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """kiln's kernels are deterministic already (no atomics); the flag is kept so that
    ``are_deterministic_algorithms_enabled()`` reports it."""
    _FLAGS["deterministic"] = bool(mode)
    _FLAGS["deterministic_warn_only"] = bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _FLAGS["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _FLAGS["deterministic_warn_only"]


def set_float32_matmul_precision(precision: str) -> None:
    """PyTorch's TF32 switch. kiln's float32 matmuls are always full precision
    ("highest"); the setting is kept so that the getter reports it."""
    if precision not in ("highest", "high", "medium"):
        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
            "setFloat32MatmulPrecision call has no effect.",
            UserWarning,
            stacklevel=2,
        )
        return
    _FLAGS["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _FLAGS["matmul_precision"]


def set_num_interop_threads(n: int) -> None:
    """kiln runs no inter-op thread pool (one op at a time); the number is kept."""
    if int(n) <= 0:
        raise RuntimeError("set_num_interop_threads expects a positive integer")
    _FLAGS["interop_threads"] = int(n)


def get_num_interop_threads() -> int:
    return _read(lambda: _FLAGS["interop_threads"], "get_num_interop_threads()")


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly detection on or off: with ``check_nan``, a backward function that
    returns NaN raises PyTorch's RuntimeError naming it (``autograd.detect_anomaly``;
    kiln keeps no forward tracebacks for it)."""
    _FLAGS["anomaly"] = bool(enabled)
    _FLAGS["anomaly_check_nan"] = bool(check_nan)


def _read(getter, name: str):
    """``getter()``; a traced function that reads it retraces when it changes (a global
    switch that modes() does not hold: a compiled call must not repeat a stale value)."""
    from .context import current_trace

    if current_trace() is None:
        return getter()
    from .tracing import guard

    return guard(f"kiln.{name}", getter)


def is_anomaly_enabled() -> bool:
    return _read(lambda: _FLAGS["anomaly"], "is_anomaly_enabled()")


def is_anomaly_check_nan_enabled() -> bool:
    return _read(lambda: _FLAGS["anomaly_check_nan"], "is_anomaly_check_nan_enabled()")


def set_warn_always(b: bool) -> None:
    """PyTorch warns some warnings only once unless this is set; kept for the getter."""
    _FLAGS["warn_always"] = bool(b)


def is_warn_always_enabled() -> bool:
    return _read(lambda: _FLAGS["warn_always"], "is_warn_always_enabled()")


def set_printoptions(
    precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None
) -> None:
    """Set how tensors print, as ``torch.set_printoptions`` (see ``kiln.printing``)."""
    from .printing import set_printoptions as _set

    _set(precision, threshold, edgeitems, linewidth, profile, sci_mode)


def _legacy(dtype):
    def make(*args):
        from .creation import tensor, zeros

        if len(args) == 1 and not isinstance(args[0], int):
            return tensor(args[0], dtype=dtype)
        return zeros(*args, dtype=dtype)

    make.__name__ = f"{dtype.name}_tensor"
    make._legacy_dtype = dtype  # (x.type(torch.DoubleTensor) reads it)
    return make


FloatTensor = _legacy(dtypes.float32)
DoubleTensor = _legacy(dtypes.float64)
LongTensor = _legacy(dtypes.int64)
IntTensor = _legacy(dtypes.int32)
BoolTensor = _legacy(dtypes.bool_)
ByteTensor = _legacy(dtypes.uint8)
