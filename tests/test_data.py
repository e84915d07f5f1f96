"""kiln.utils.data: datasets, samplers, collation and the DataLoader (with worker processes)."""

from __future__ import annotations

import collections
import doctest
import multiprocessing
import os

import numpy as np
import pytest

import kiln
from kiln.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    get_worker_info,
    random_split,
)


def _dataset(n=10):
    return TensorDataset(kiln.arange(n * 2.0).reshape(n, 2), kiln.arange(n))


class Squares(Dataset):
    """A plain map-style dataset returning dicts (exercises default_collate)."""

    def __init__(self, n, fail_at=None, die_at=None):
        self.n, self.fail_at, self.die_at = n, fail_at, die_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"no sample {i}")
        if i == self.die_at:
            os._exit(3)
        return {"x": kiln.tensor([float(i), float(i * i)]), "i": i, "name": f"s{i}"}


# ------------------------------------------------------------------------------ datasets


def test_tensor_dataset_and_subset():
    ds = _dataset(5)
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 3 and len(ds) == 5
    sub = Subset(ds, [4, 0])
    assert len(sub) == 2 and sub[0][1].item() == 4
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(kiln.zeros(3), kiln.zeros(4))


def test_concat_dataset():
    both = _dataset(3) + _dataset(2)
    assert isinstance(both, ConcatDataset) and len(both) == 5
    assert [both[i][1].item() for i in range(5)] == [0, 1, 2, 0, 1]
    assert both[-1][1].item() == 1


@pytest.mark.parametrize(
    "lengths, sizes", [([3, 7], [3, 7]), ([0.5, 0.5], [5, 5]), ([0.34, 0.33, 0.33], [4, 3, 3])]
)
def test_random_split_partitions_reproducibly(lengths, sizes):
    ds = _dataset(10)
    parts = random_split(ds, lengths, generator=kiln.Generator().manual_seed(1))
    assert [len(p) for p in parts] == sizes
    indices = sorted(i for p in parts for i in p.indices)
    assert indices == list(range(10))
    again = random_split(ds, lengths, generator=kiln.Generator().manual_seed(1))
    assert [p.indices for p in parts] == [p.indices for p in again]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])


# ------------------------------------------------------------------------------ samplers


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = kiln.Generator().manual_seed(0)
    first, second = (
        list(RandomSampler(range(6), generator=g)),
        list(RandomSampler(range(6), generator=g)),
    )
    assert sorted(first) == list(range(6)) and first != second  # the generator advances
    draws = list(RandomSampler(range(3), replacement=True, num_samples=20, generator=g))
    assert len(draws) == 20 and set(draws) <= {0, 1, 2}
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]]
    assert len(BatchSampler(range(5), 2, drop_last=False)) == 3
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(5), 0, False)


def test_shuffle_follows_kiln_manual_seed():
    kiln.manual_seed(7)
    a = [b[1].tolist() for b in DataLoader(_dataset(), batch_size=4, shuffle=True)]
    kiln.manual_seed(7)
    b = [b[1].tolist() for b in DataLoader(_dataset(), batch_size=4, shuffle=True)]
    assert a == b and sorted(sum(a, [])) == list(range(10))


# ------------------------------------------------------------------------------ collation


def test_default_collate_structures():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([Point(1, 2.5), Point(3, 4.5)])
    assert isinstance(batch, Point) and batch.x.dtype == kiln.int64
    assert batch.y.dtype == kiln.float64 and batch.y.tolist() == [2.5, 4.5]
    out = default_collate(
        [{"a": np.ones(2, np.float32), "s": "u"}, {"a": np.zeros(2, np.float32), "s": "v"}]
    )
    assert out["a"].shape == (2, 2) and out["s"] == ["u", "v"]
    nested = default_collate([[kiln.ones(3), (1, 2)], [kiln.zeros(3), (3, 4)]])
    assert nested[0].shape == (2, 3) and [t.tolist() for t in nested[1]] == [[1, 3], [2, 4]]
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])


# ------------------------------------------------------------------------------ DataLoader


def test_loader_batches_drop_last_and_len():
    loader = DataLoader(_dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[1].tolist() for b in batches] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]
    assert batches[0][0].shape == (4, 2)
    assert len(DataLoader(_dataset(10), batch_size=4, drop_last=True)) == 2


def test_loader_without_batching_and_custom_collate():
    items = list(DataLoader(Squares(3), batch_size=None))
    assert items[2]["i"] == 2
    sums = list(
        DataLoader(
            Squares(4), batch_size=2, collate_fn=lambda samples: sum(s["i"] for s in samples)
        )
    )
    assert sums == [1, 5]


def test_loader_with_batch_sampler_and_sampler():
    loader = DataLoader(_dataset(6), batch_sampler=[[5, 0], [2]])
    assert [b[1].tolist() for b in loader] == [[5, 0], [2]]
    loader = DataLoader(_dataset(6), sampler=[3, 1, 4], batch_size=2)
    assert [b[1].tolist() for b in loader] == [[3, 1], [4]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(_dataset(6), batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(_dataset(6), sampler=[0], shuffle=True)


def test_generator_makes_shuffles_reproducible_and_epochs_differ():
    def epochs(seed):
        loader = DataLoader(
            _dataset(), batch_size=3, shuffle=True, generator=kiln.Generator().manual_seed(seed)
        )
        return [[b[1].tolist() for b in loader] for _ in range(2)]

    a, b = epochs(5), epochs(5)
    assert a == b and a[0] != a[1]
    assert sorted(sum(a[0], [])) == list(range(10))


def test_iterable_dataset_is_batched():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


# ------------------------------------------------------------------------------ workers


def test_workers_give_the_same_batches_in_the_same_order():
    def run(workers):
        loader = DataLoader(
            Squares(23),
            batch_size=4,
            shuffle=True,
            num_workers=workers,
            generator=kiln.Generator().manual_seed(3),
        )
        return [(b["x"].tolist(), b["i"].tolist(), b["name"]) for b in loader]

    assert run(2) == run(0)
    assert not multiprocessing.active_children()  # workers shut down at the end


def test_workers_load_in_other_processes_with_distinct_seeds():
    class WhoAmI(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            info = get_worker_info()
            return kiln.tensor([os.getpid(), info.id, info.seed, float(kiln.rand(()).item())])

    rows = [
        row for batch in DataLoader(WhoAmI(), batch_size=2, num_workers=2) for row in batch.tolist()
    ]
    pids = {int(r[0]) for r in rows}
    assert os.getpid() not in pids and len(pids) == 2
    assert {int(r[1]) for r in rows} == {0, 1}
    assert len({r[3] for r in rows}) == 8  # each worker seeded differently
    assert get_worker_info() is None


def test_worker_error_is_raised_in_main_process_with_its_type():
    loader = DataLoader(Squares(10, fail_at=5), batch_size=2, num_workers=2)
    seen = []
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0"):
        for batch in loader:
            seen.append(batch["i"].tolist())
    assert seen == [[0, 1], [2, 3]]  # batches before the failing one arrive in order
    assert not multiprocessing.active_children()


def test_dead_worker_is_reported():
    loader = DataLoader(Squares(6, die_at=2), batch_size=2, num_workers=2)
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(loader)
    assert not multiprocessing.active_children()


def test_breaking_out_early_shuts_workers_down():
    it = iter(DataLoader(Squares(40), batch_size=2, num_workers=2))
    next(it)
    workers = list(it.workers)
    del it
    assert all(not w.is_alive() for w in workers)


def test_worker_init_fn_runs_in_each_worker():
    class Tagged(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return kiln.tensor(get_worker_info().dataset.tag)

    def init(worker_id):
        get_worker_info().dataset.tag = 100 + worker_id

    tags = [
        t
        for b in DataLoader(Tagged(), batch_size=1, num_workers=2, worker_init_fn=init)
        for t in b.tolist()
    ]
    assert tags == [100, 101, 100, 101]


def test_docstring_examples():
    from kiln.utils.data import collate, dataloader, dataset, sampler, worker

    for module in (kiln.utils, kiln.utils.data, collate, dataloader, dataset, sampler, worker):
        assert doctest.testmod(module).failed == 0, module.__name__


def _load_in_thread(loader, seconds=30):
    """Iterate ``loader`` in a thread; (batches, exception, elapsed), failing on a hang."""
    import threading
    import time

    result = {"batches": [], "error": None}

    def run():
        try:
            for batch in loader:
                result["batches"].append(batch)
        except BaseException as exc:
            result["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the DataLoader hung for {seconds} s"
    return result["batches"], result["error"], time.monotonic() - start


class WithLambda(Squares):
    def __getitem__(self, i):
        sample = super().__getitem__(i)
        if i == 3:
            sample["transform"] = lambda v: v  # cannot be pickled
        return sample


def test_unpicklable_sample_raises_in_main_process_within_seconds():
    collate = list  # keeps the lambda in the batch
    loader = DataLoader(WithLambda(8), batch_size=2, num_workers=2, collate_fn=collate)
    batches, error, seconds = _load_in_thread(loader)
    assert len(batches) == 1 and [s["i"] for s in batches[0]] == [0, 1]
    assert isinstance(error, Exception), error
    message = str(error)
    assert "DataLoader worker process 1" in message and "cannot be sent" in message
    assert "lambda" in message
    assert seconds < 10
    assert not multiprocessing.active_children()


def test_worker_error_whose_type_cannot_be_pickled_does_not_hang():
    class Unpicklable(Exception):  # (a local class: pickled by reference, fails)
        pass

    class Failing(Squares):
        def __getitem__(self, i):
            raise Unpicklable(f"sample {i}")

    loader = DataLoader(Failing(4), batch_size=2, num_workers=1)
    batches, error, seconds = _load_in_thread(loader)
    assert batches == [] and isinstance(error, RuntimeError)
    assert "Caught Unpicklable in DataLoader worker process 0" in str(error)
    assert seconds < 10
