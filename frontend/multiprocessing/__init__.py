"""``kiln.multiprocessing``: PyTorch's ``torch.multiprocessing``, the standard library's
``multiprocessing`` (``Process``, ``Queue``, ``Pool``, ``get_context``,
``set_start_method``, ``cpu_count``, ...) with tensors that share memory and PyTorch's
``spawn``.

A tensor after ``share_memory_()`` (``Module.share_memory()`` for a model) is shared with
the processes forked from this one, and sent through a queue or as a spawned process's
argument it arrives sharing the memory; any other tensor arrives as a copy of its values
(see ``kiln.multiprocessing.shared_memory``).

>>> import kiln, kiln.multiprocessing as mp
>>> t = kiln.zeros(3).share_memory_()
>>> t.is_shared()
True
"""

import multiprocessing
from multiprocessing import *  # noqa: F403
from multiprocessing.reduction import ForkingPickler as _ForkingPickler

from ..tensor import Tensor as _Tensor
from .shared_memory import reduce_tensor as _reduce_tensor
from .spawn import (
    ProcessContext,
    ProcessException,
    ProcessExitedException,
    ProcessRaisedException,
    SpawnContext,
    spawn,
    start_processes,
)
from .spawn import __all__ as _spawn_all

__all__ = [
    "set_sharing_strategy",
    "get_sharing_strategy",
    "get_all_sharing_strategies",
    *_spawn_all,
    *multiprocessing.__all__,
]

# (queues, pipes and a spawned process's arguments pickle with ForkingPickler)
_ForkingPickler.register(_Tensor, _reduce_tensor)

_sharing_strategy = "file_descriptor"
_all_sharing_strategies = {"file_descriptor", "file_system"}


def set_sharing_strategy(new_strategy):
    """Accepted for PyTorch's scripts; kiln shares memory by file descriptor either way."""
    global _sharing_strategy
    if new_strategy not in _all_sharing_strategies:
        raise AssertionError(
            f"invalid sharing strategy {new_strategy!r}, expected one of {_all_sharing_strategies}"
        )
    _sharing_strategy = new_strategy


def get_sharing_strategy():
    return _sharing_strategy


def get_all_sharing_strategies():
    return _all_sharing_strategies
