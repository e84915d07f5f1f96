"""``DataLoader``: batches from a dataset, in the main process or in worker processes.

>>> import kiln
>>> ds = TensorDataset(kiln.arange(6.0), kiln.arange(6))
>>> for x, y in DataLoader(ds, batch_size=4):
...     print(x.tolist(), y.tolist())
[0.0, 1.0, 2.0, 3.0] [0, 1, 2, 3]
[4.0, 5.0] [4, 5]

``shuffle=True`` draws a new permutation every epoch (``kiln.randperm``); pass
``generator=kiln.Generator().manual_seed(s)`` to make it reproducible. With
``num_workers > 0`` batches are loaded ahead of the loop by worker processes (see
``worker.py``) and arrive in the same order as with ``num_workers=0``.
"""

from __future__ import annotations

import warnings

import kiln

from .collate import default_collate, default_convert
from .dataset import IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler


class DataLoader:
    """Iterate over ``dataset`` in batches (PyTorch's arguments and rules)."""

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        timeout=0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor=None,
        persistent_workers=False,
        pin_memory_device="",
    ):
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to "
                "disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in "
                "multiprocessing. Let num_workers > 0 to enable multiprocessing."
            )
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        # accepted: kiln starts the workers afresh each epoch (the batches are the same)
        self.persistent_workers = persistent_workers
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers > 0 else prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)

        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified "
                    f"shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None or batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified "
                    "sampler and batch_sampler options"
                )
            if num_workers > 0:
                raise NotImplementedError(
                    "kiln's DataLoader loads an IterableDataset in the "
                    "main process only (num_workers=0)"
                )
        elif shuffle not in (None, False) and sampler is not None:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually "
                "exclusive with drop_last"
            )

        if sampler is None and not self._iterable:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            full, rest = divmod(n, self.batch_size)
            return full + (1 if rest and not self.drop_last else 0)
        return len(self._index_sampler)

    def __iter__(self):
        if self.pin_memory:  # (PyTorch's warning without an accelerator; the batches are the same)
            warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, then device "
                "pinned memory won't be used.",
                UserWarning,
                stacklevel=2,
            )
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        from .worker import MultiProcessIter

        return MultiProcessIter(self)

    def _base_seed(self) -> int:
        """Drawn once per epoch for every loader (so shuffles do not depend on workers)."""
        return int(kiln.randint(0, 2**62, (1,), generator=self.generator).item())


def fetch(dataset, index, auto_collation: bool, collate_fn):
    """One batch: the samples at ``index`` (a list when batching) through ``collate_fn``."""
    if not auto_collation:
        return collate_fn(dataset[index])
    if collate_fn is default_collate:
        base, base_index = dataset, index
        while isinstance(base, Subset):  # random_split's subsets of a TensorDataset too
            base_index = [base.indices[i] for i in base_index]
            base = base.dataset
        if isinstance(base, TensorDataset):
            # What default_collate would build, with one gather per tensor instead of a stack.
            picked = kiln.tensor(base_index, dtype=kiln.int64)
            return [kiln.index_select(t, 0, picked) for t in base.tensors]
    getitems = getattr(dataset, "__getitems__", None)
    samples = getitems(index) if getitems is not None else [dataset[i] for i in index]
    return collate_fn(samples)


class _SingleProcessIter:
    def __init__(self, loader: DataLoader):
        self.loader = loader
        loader._base_seed()
        if loader._iterable:
            self.samples = iter(loader.dataset)
        else:
            self.indices = iter(loader._index_sampler)

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self.loader)

    def __next__(self):
        loader = self.loader
        if not loader._iterable:
            index = next(self.indices)
            return fetch(loader.dataset, index, loader._auto_collation, loader.collate_fn)
        if loader.batch_size is None:
            return loader.collate_fn(next(self.samples))
        batch = []
        for sample in self.samples:
            batch.append(sample)
            if len(batch) == loader.batch_size:
                break
        if not batch or (len(batch) < loader.batch_size and loader.drop_last):
            raise StopIteration
        return loader.collate_fn(batch)
