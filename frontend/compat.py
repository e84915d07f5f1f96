"""Small pieces of PyTorch's surface that scripts touch but kiln has no use for.

They exist so that a script written for PyTorch runs with ``import kiln as torch``:
``torch.backends.cudnn.deterministic = True``, ``torch.set_num_threads(2)``,
``torch.inference_mode()``, legacy constructors such as ``torch.FloatTensor(3)``.
"""

from __future__ import annotations

import types

from . import dtypes
from .autograd.grad_mode import no_grad


class inference_mode(no_grad):  # noqa: N801 - PyTorch's name
    """Same as ``no_grad`` in kiln."""

    def __init__(self, mode: bool = True):
        self.mode = not mode


backends = types.SimpleNamespace(
    cudnn=types.SimpleNamespace(
        deterministic=False,
        benchmark=False,
        enabled=True,
        allow_tf32=False,
        is_available=lambda: False,
    ),
    mps=types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False),
    cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=False)),
)


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

    return native.get_threads()


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """kiln's kernels are deterministic already (no atomics)."""


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
    return make


FloatTensor = _legacy(dtypes.float32)
DoubleTensor = _legacy(dtypes.float64)
LongTensor = _legacy(dtypes.int64)
IntTensor = _legacy(dtypes.int32)
BoolTensor = _legacy(dtypes.bool_)
ByteTensor = _legacy(dtypes.uint8)
