"""The process group and its collectives (``pip install 'kiln[mpi]'``: mpi4py + MPICH).

One process per rank, started by ``mpiexec -n <world size> python train.py``. The API is
PyTorch's ``torch.distributed`` subset that data-parallel training needs:

>>> import kiln.distributed as dist      # doctest: +SKIP
>>> dist.init_process_group("mpi")       # doctest: +SKIP
>>> t = kiln.ones(3) * dist.get_rank()   # doctest: +SKIP
>>> dist.all_reduce(t)                   # doctest: +SKIP
>>> dist.broadcast(t, src=0)             # doctest: +SKIP

Collectives run eagerly on the tensors' NumPy buffers. Inside a function compiled with
``kiln.distributed.jit`` they are recorded as boundaries of the compiled step instead (see
``staged.py``). A rank that raises an uncaught exception aborts the whole MPI job, so the
other ranks never hang in a collective waiting for it.
"""

from __future__ import annotations

import sys
import time
import traceback

import numpy as np

from kiln.compiler.errors import TraceError

from ..dispatch import current_trace
from ..tensor import Tensor


class ReduceOp:
    """Reduction operations for ``all_reduce`` (``torch.distributed.ReduceOp``)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


class _Group:
    comm = None  # mpi4py's COMM_WORLD once initialised
    MPI = None
    previous_excepthook = None


_group = _Group()


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "kiln.distributed needs mpi4py and an MPI library: pip install "
            "'kiln[mpi]' (mpi4py, mpich), then run with mpiexec -n <ranks>"
        ) from exc
    return MPI


def is_available() -> bool:
    """Whether mpi4py (the one backend) can be imported."""
    try:
        _import_mpi()
    except ImportError:
        return False
    return True


def init_process_group(
    backend: str = "mpi",
    init_method=None,
    timeout=None,
    world_size=-1,
    rank=-1,
    store=None,
    group_name: str = "",
) -> None:
    """Join the default group: every process ``mpiexec`` started.

    ``world_size`` and ``rank``, when given, must agree with what MPI says; ``init_method``,
    ``timeout`` and ``store`` are accepted for PyTorch compatibility and ignored (mpiexec
    already connected the processes).
    """
    if backend not in ("mpi", None):
        raise ValueError(
            f"init_process_group: backend {backend!r} is not supported; kiln "
            "implements 'mpi' (run the script with mpiexec -n <ranks>)"
        )
    if _group.comm is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    MPI = _import_mpi()  # noqa: N806 - mpi4py's name
    comm = MPI.COMM_WORLD
    if world_size not in (-1, None) and world_size != comm.Get_size():
        raise ValueError(
            f"init_process_group: world_size={world_size} but mpiexec started "
            f"{comm.Get_size()} processes"
        )
    if rank not in (-1, None) and rank != comm.Get_rank():
        raise ValueError(
            f"init_process_group: rank={rank} but MPI says this is rank {comm.Get_rank()}"
        )
    _group.comm, _group.MPI = comm, MPI
    _group.previous_excepthook = sys.excepthook
    sys.excepthook = _abort_on_uncaught_exception


def _abort_on_uncaught_exception(exc_type, exc, tb):
    # Without this, the other ranks would wait forever in their next collective.
    rank = _group.comm.Get_rank() if _group.comm is not None else "?"
    sys.stderr.write(f"kiln.distributed: rank {rank} failed; aborting all ranks\n")
    traceback.print_exception(exc_type, exc, tb)
    sys.stderr.flush()
    if _group.comm is not None:
        # mpiexec forwards each rank's stderr through its own proxy; Abort kills the job at
        # once, and under load the traceback above was lost in that pipe (seen in the suite).
        time.sleep(0.25)
        _group.comm.Abort(1)


def is_initialized() -> bool:
    return _group.comm is not None


def _comm():
    if _group.comm is None:
        raise RuntimeError(
            "Default process group has not been initialized, please make sure "
            "to call init_process_group."
        )
    return _group.comm


def get_rank(group=None) -> int:
    return _comm().Get_rank()


def get_world_size(group=None) -> int:
    return _comm().Get_size()


def barrier(group=None, async_op=False, device_ids=None) -> None:
    _comm().Barrier()


def destroy_process_group(group=None) -> None:
    """Leave the group (MPI itself is finalised when the process exits)."""
    if _group.comm is None:
        return
    if sys.excepthook is _abort_on_uncaught_exception:
        sys.excepthook = _group.previous_excepthook
    _group.comm = None


# ------------------------------------------------------------------------- collectives


def _mpi_op(op):
    MPI = _group.MPI  # noqa: N806
    table = {
        ReduceOp.SUM: MPI.SUM,
        ReduceOp.AVG: MPI.SUM,
        ReduceOp.PRODUCT: MPI.PROD,
        ReduceOp.MIN: MPI.MIN,
        ReduceOp.MAX: MPI.MAX,
    }
    if op not in table:
        raise ValueError(f"all_reduce: unknown op {op!r}; use kiln.distributed.ReduceOp")
    return table[op]


def all_reduce_array(array: np.ndarray, op=ReduceOp.SUM) -> np.ndarray:
    """Reduce a NumPy array over the ranks; return a new C-contiguous array."""
    comm = _comm()
    buffer = np.array(array, order="C", copy=True)
    if buffer.dtype == np.bool_ and op in (ReduceOp.SUM, ReduceOp.AVG):
        raise TypeError("all_reduce: cannot sum bool tensors")
    comm.Allreduce(_group.MPI.IN_PLACE, buffer, op=_mpi_op(op))
    if op == ReduceOp.AVG:
        if buffer.dtype.kind in "iu":
            buffer //= comm.Get_size()
        else:
            buffer /= comm.Get_size()
    return buffer


def broadcast_array(array: np.ndarray, src: int) -> np.ndarray:
    buffer = np.array(array, order="C", copy=True)
    _comm().Bcast(buffer, root=src)
    return buffer


def _store(tensor: Tensor, value: np.ndarray) -> None:
    """Write ``value`` into ``tensor`` in place (its buffer when writable)."""
    data = tensor._data
    if isinstance(data, np.ndarray) and data.flags.writeable and data.shape == value.shape:
        np.copyto(data, value)
    else:
        tensor._data = value
    tensor._version += 1


def _check_tensor(name: str, tensor) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a kiln Tensor, got {type(tensor).__name__}")
    if tensor._node is None and tensor.device.type != "cpu":
        raise NotImplementedError(
            f"{name}: the MPI backend reduces CPU tensors; got a tensor on {tensor.device}"
        )


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks, in place: every rank ends with the result."""
    _check_tensor("all_reduce", tensor)
    if current_trace() is not None:
        from ..ops.inplace import assign
        from .staged import record_collective

        assign(tensor, record_collective(tensor, "all_reduce", op=op), "all_reduce")
        return None
    _store(tensor, all_reduce_array(tensor._data, op))
    return None


def broadcast(tensor: Tensor, src: int, group=None, async_op=False):
    """Copy ``tensor`` from rank ``src`` to every rank, in place."""
    _check_tensor("broadcast", tensor)
    if not 0 <= src < get_world_size():
        raise ValueError(f"broadcast: src={src} is not a rank of a group of {get_world_size()}")
    if current_trace() is not None:
        raise TraceError(
            "broadcast inside a compiled function is not supported: broadcast "
            "parameters before compiling (DistributedDataParallel does it when "
            "it is constructed)"
        )
    _store(tensor, broadcast_array(tensor._data, src))
    return None
