"""``DistributedSampler``: each rank reads its own share of a dataset.

The indices (shuffled with ``seed + epoch`` when ``shuffle``) are padded by repeating the
first ones until they divide evenly among the ranks (or truncated with ``drop_last``),
then rank ``r`` takes every ``num_replicas``-th index starting at ``r``, as in PyTorch.
Call ``set_epoch(epoch)`` at the start of each epoch so the shuffle changes.

>>> list(DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False))
[1, 3, 0]
"""

from __future__ import annotations

import math

import numpy as np

from ..utils.data.sampler import Sampler
from . import process_group as pg


class DistributedSampler(Sampler):
    def __init__(
        self,
        dataset,
        num_replicas=None,
        rank=None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ):
        if num_replicas is None:
            num_replicas = pg.get_world_size()
        if rank is None:
            rank = pg.get_rank()
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"DistributedSampler: invalid rank {rank} for num_replicas "
                f"{num_replicas} (expected 0 <= rank < num_replicas)"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding > 0 and indices:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use a different shuffle for each epoch (the same on every rank)."""
        self.epoch = epoch
