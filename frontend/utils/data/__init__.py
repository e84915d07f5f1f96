"""``kiln.utils.data``: datasets, samplers, collation and the ``DataLoader``.

>>> import kiln
>>> from kiln.utils.data import DataLoader, TensorDataset
>>> loader = DataLoader(TensorDataset(kiln.arange(5)), batch_size=2, drop_last=True)
>>> [b[0].tolist() for b in loader]
[[0, 1], [2, 3]]
"""

from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .worker import WorkerInfo, get_worker_info

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]


def __getattr__(name):
    # ``torch.utils.data.DistributedSampler``: loaded on first use (kiln.distributed
    # imports this package's samplers)
    if name == "DistributedSampler":
        from .distributed import DistributedSampler

        return DistributedSampler
    raise AttributeError(f"module 'kiln.utils.data' has no attribute {name!r}")
