# torch.utils.data beyond the basics: random_split with a seeded generator (and
# fractions), Subset, ConcatDataset, TensorDataset indexing, SequentialSampler /
# BatchSampler / SubsetRandomSampler, a DataLoader with batch_sampler, drop_last,
# default_collate on dicts, namedtuples, tuples of numbers and strings, a custom
# collate_fn that pads, worker_init_fn with num_workers=0, and len() of each.
import collections

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    random_split,
)

x = torch.arange(20.0).view(10, 2)
y = torch.arange(10)
ds = TensorDataset(x, y)
print("len:", len(ds), "item:", ds[3], "slice:", ds[2:4][0].shape)
g = torch.Generator().manual_seed(42)
train, val = random_split(ds, [8, 2], generator=g)
print("split lens:", len(train), len(val), type(train).__name__)
print("rng split idx:", sorted(train.indices), sorted(val.indices))
print(
    "disjoint:",
    set(train.indices).isdisjoint(val.indices),
    len(set(train.indices) | set(val.indices)),
)
parts = random_split(range(10), [0.5, 0.3, 0.2], generator=torch.Generator().manual_seed(0))
print("fraction lens:", [len(p) for p in parts])
sub = Subset(ds, [0, 2, 4])
print("subset:", len(sub), sub[1][1].item(), [int(sub[i][1]) for i in range(len(sub))])
cat = ConcatDataset([sub, Subset(ds, [9])])
print("concat:", len(cat), cat[3][1].item(), cat.cumulative_sizes)
print("sequential:", list(SequentialSampler(ds)))
print(
    "batch sampler:", list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False))
)
print("batch sampler drop_last:", list(BatchSampler(range(7), batch_size=3, drop_last=True)))
rs = RandomSampler(ds, generator=torch.Generator().manual_seed(1))
print("rng random sampler:", list(rs))
print("random sampler is a permutation:", sorted(rs) == list(range(10)), len(rs))
sr = SubsetRandomSampler([1, 3, 5], generator=torch.Generator().manual_seed(2))
print("subset random:", sorted(sr), len(sr))
loader = DataLoader(ds, batch_size=4, drop_last=True)
print("drop_last:", len(loader), [b[0].shape[0] for b in loader])
loader = DataLoader(ds, batch_size=4)
print("no drop:", len(loader), [b[1].tolist() for b in loader])
loader = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 3, False))
print("batch_sampler:", [b[1].tolist() for b in loader])
seen = []


def worker_init_fn(worker_id):
    seen.append(worker_id)


loader = DataLoader(ds, batch_size=5, num_workers=0, worker_init_fn=worker_init_fn)
print("workers 0:", len(list(loader)), seen)


class DictDataset(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"x": torch.full((2,), float(i)), "label": i, "name": f"s{i}", "w": 0.5 * i}


batch = next(iter(DataLoader(DictDataset(), batch_size=3)))
print("dict batch:", sorted(batch), batch["x"], batch["label"], batch["name"], batch["w"])
print("dtypes:", batch["label"].dtype, batch["w"].dtype)
Point = collections.namedtuple("Point", ["pos", "tag"])
pts = [Point(torch.tensor([i, i + 1]), i) for i in range(3)]
col = default_collate(pts)
print("namedtuple:", type(col).__name__, col.pos.tolist(), col.tag.tolist())
print("tuples:", default_collate([(1, 2.0), (3, 4.0)]))
print("numpy:", default_collate([np.array([1.0, 2.0]), np.array([3.0, 4.0])]))
print(
    "nested:", default_collate([{"a": (torch.tensor(1), [1, 2])}, {"a": (torch.tensor(2), [3, 4])}])
)


def pad_collate(samples):
    seqs = [s for s, _ in samples]
    lengths = torch.tensor([len(s) for s in seqs])
    padded = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=-1)
    return padded, lengths, torch.tensor([t for _, t in samples])


seq_data = [(torch.arange(n), n % 2) for n in (3, 1, 4, 2)]
for padded, lengths, tags in DataLoader(seq_data, batch_size=2, collate_fn=pad_collate):
    print("padded:", padded.tolist(), lengths.tolist(), tags.tolist())
loader = DataLoader(ds, batch_size=None)
print("batch_size None:", next(iter(loader)))
print("list dataset:", [b.tolist() for b in DataLoader([1, 2, 3, 4, 5], batch_size=2)])
