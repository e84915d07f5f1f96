# torch.utils.data beyond the basics: SequentialSampler, RandomSampler and
# SubsetRandomSampler driven by a seeded torch.Generator (only their sizes are compared),
# BatchSampler with drop_last, a custom bucketing batch_sampler, random_split with
# fractions, an IterableDataset with get_worker_info() sharding, ChainDataset,
# default_collate on nested dicts / tuples / numpy arrays, and a collate_fn that pads.
import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    ChainDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    get_worker_info,
    random_split,
)

print("sequential:", list(SequentialSampler(range(5))))
print(
    "batch sampler:",
    list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False)),
)
print("batch sampler drop_last:", list(BatchSampler(range(10), batch_size=3, drop_last=True)))
g = torch.Generator().manual_seed(0)
perm = list(RandomSampler(range(6), generator=g))
print("rng random sampler:", sorted(perm) == list(range(6)), len(perm))
with_replacement = list(RandomSampler(range(6), replacement=True, num_samples=10, generator=g))
print("rng replacement:", len(with_replacement), all(0 <= i < 6 for i in with_replacement))
subset = list(SubsetRandomSampler([1, 3, 5, 7], generator=g))
print("rng subset:", sorted(subset))


class VarLenDataset(Dataset):
    def __init__(self):
        self.data = [torch.arange(n, dtype=torch.float32) + n for n in [3, 1, 4, 1, 5, 2, 6, 2]]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        return self.data[idx], len(self.data[idx])


class BucketBatchSampler(Sampler):
    """Batches of indices with similar lengths (sorted by length, then chunked)."""

    def __init__(self, lengths, batch_size):
        self.order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
        self.batch_size = batch_size

    def __iter__(self):
        for i in range(0, len(self.order), self.batch_size):
            yield self.order[i : i + self.batch_size]

    def __len__(self):
        return (len(self.order) + self.batch_size - 1) // self.batch_size


def pad_collate(batch):
    seqs, lengths = zip(*batch)
    padded = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=-1.0)
    return padded, torch.tensor(lengths)


ds = VarLenDataset()
loader = DataLoader(
    ds, batch_sampler=BucketBatchSampler([len(d) for d, _ in ds], 3), collate_fn=pad_collate
)
print("bucket batches:", len(loader))
for padded, lengths in loader:
    print("bucket:", padded.tolist(), lengths.tolist())

full = TensorDataset(torch.arange(10.0).unsqueeze(1), torch.arange(10) % 3)
train_set, val_set = random_split(full, [0.7, 0.3], generator=torch.Generator().manual_seed(42))
print("random_split sizes:", len(train_set), len(val_set), type(train_set).__name__)
print(
    "rng random_split:",
    sorted(int(i) for i in train_set.indices + val_set.indices) == list(range(10)),
)


class RangeStream(IterableDataset):
    def __init__(self, start, end):
        super().__init__()
        self.start, self.end = start, end

    def __iter__(self):
        worker_info = get_worker_info()
        if worker_info is None:
            iter_start, iter_end = self.start, self.end
        else:
            per_worker = int(np.ceil((self.end - self.start) / float(worker_info.num_workers)))
            iter_start = self.start + worker_info.id * per_worker
            iter_end = min(iter_start + per_worker, self.end)
        return iter(range(iter_start, iter_end))


print("iterable:", [b.tolist() for b in DataLoader(RangeStream(3, 10), batch_size=3)])
print(
    "chain:",
    [
        b.tolist()
        for b in DataLoader(ChainDataset([RangeStream(0, 2), RangeStream(5, 8)]), batch_size=2)
    ],
)

batch = default_collate(
    [
        {"x": np.array([1.0, 2.0]), "meta": (1, "a"), "t": torch.tensor([1, 2])},
        {"x": np.array([3.0, 4.0]), "meta": (2, "b"), "t": torch.tensor([3, 4])},
    ]
)
print("collate x:", batch["x"].tolist(), batch["x"].dtype)
print("collate meta:", batch["meta"][0].tolist(), batch["meta"][1])
print("collate t:", batch["t"].tolist(), batch["t"].dtype)
print("collate floats:", default_collate([1.5, 2.5]).dtype, default_collate([1, 2]).dtype)
dl = DataLoader(full, batch_size=4, shuffle=False, drop_last=True)
print("drop_last:", len(dl), [y.tolist() for _, y in dl])
