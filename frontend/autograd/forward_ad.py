"""Forward-mode AD with dual tensors (``torch.autograd.forward_ad``).

``dual_level()`` pushes a forward-mode interpreter (``kiln.func.jvp_rules.JVPTrace``) for
the block; ``make_dual`` attaches a tangent to a tensor and every operation on it carries
the tangent along (each primitive's JVP rule); ``unpack_dual`` reads it back. Dual tensors
belong to their level: use them only inside its block.

>>> import kiln
>>> import kiln.autograd.forward_ad as fwAD
>>> with fwAD.dual_level():
...     y = kiln.sin(fwAD.make_dual(kiln.tensor([0.0]), kiln.tensor([3.0])))
...     fwAD.unpack_dual(y).tangent
tensor([3.])
"""

from __future__ import annotations

from collections import namedtuple
from contextvars import ContextVar

from ..context import current_trace, interpreting
from ..func.jvp_rules import DualTensor, JVPTrace
from ..func.transforms import make_dual_of

__all__ = [
    "UnpackedDualTensor",
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
]

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])

# this thread's open levels, innermost last: (JVPTrace, the interpreting block)
_levels: ContextVar[tuple] = ContextVar("kiln_dual_levels", default=())  # noqa: B039 - immutable


def enter_dual_level() -> int:
    """Open a forward-mode level; returns its index (levels nest)."""
    trace = JVPTrace(current_trace())
    block = interpreting(trace)
    block.__enter__()
    levels = _levels.get()
    _levels.set((*levels, (trace, block)))
    return len(levels)


def exit_dual_level(*, level=None) -> None:
    levels = _levels.get()
    if not levels:
        raise RuntimeError("exit_dual_level: no dual level is open")
    if level is not None and level != len(levels) - 1:
        raise RuntimeError(
            f"exit_dual_level: trying to exit level {level}, but the innermost open level "
            f"is {len(levels) - 1}"
        )
    _, block = levels[-1]
    _levels.set(levels[:-1])
    block.__exit__(None, None, None)


class dual_level:  # noqa: N801 - PyTorch's name, a context manager
    """The block in which dual tensors live."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


def _level(level, what):
    levels = _levels.get()
    if not levels:
        raise RuntimeError(
            f"{what}: to create or read a dual tensor, enter a dual level first "
            "(with forward_ad.dual_level(): ...)"
        )
    index = len(levels) - 1 if level is None else level
    if not 0 <= index < len(levels):
        raise RuntimeError(f"{what}: level {level} is not open")
    return levels[index][0]


def make_dual(tensor, tangent, *, level=None):
    """``tensor`` with ``tangent`` attached (same shape and dtype, floating point)."""
    return make_dual_of(_level(level, "make_dual"), tensor, tangent, "make_dual")


def unpack_dual(tensor, *, level=None) -> UnpackedDualTensor:
    """``(primal, tangent)``; the tangent is ``None`` for a tensor without one."""
    trace = _level(level, "unpack_dual")
    if type(tensor) is DualTensor and tensor._trace is trace:
        return UnpackedDualTensor(tensor._primal, tensor._tangent)
    return UnpackedDualTensor(tensor, None)
