"""Data-parallel training over MPI (``pip install 'kiln[mpi]'``), PyTorch's API.

Run one process per rank with ``mpiexec -n 2 python train.py``:

>>> import kiln.distributed as dist                 # doctest: +SKIP
>>> dist.init_process_group("mpi")                  # doctest: +SKIP
>>> model = dist.DistributedDataParallel(model)     # doctest: +SKIP
>>> sampler = dist.DistributedSampler(dataset)      # doctest: +SKIP

See ``ddp.py`` for when gradients are averaged and ``staged.py`` for compiled steps.
"""

from .ddp import DistributedDataParallel, make_buckets
from .process_group import (
    ReduceOp,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
)
from .sampler import DistributedSampler
from .staged import DistributedJitFunction, StagedExecutable, jit, split

__all__ = [
    "init_process_group",
    "destroy_process_group",
    "is_initialized",
    "is_available",
    "get_rank",
    "get_world_size",
    "all_reduce",
    "broadcast",
    "barrier",
    "ReduceOp",
    "DistributedDataParallel",
    "DistributedSampler",
    "make_buckets",
    "jit",
    "DistributedJitFunction",
    "StagedExecutable",
    "split",
]
