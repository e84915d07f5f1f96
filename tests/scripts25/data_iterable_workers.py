# IterableDataset patterns from the torch.utils.data docs: a range dataset that splits
# its work with get_worker_info() (None in the main process), batching an iterable with
# batch_size and drop_last, batch_size=None, StackDataset of parallel datasets,
# __getitems__ for batched fetching, a generator-backed stream with a buffer shuffle (a
# seeded Python RNG), default_convert, and the errors for sampler / shuffle on iterables.
import math
import random

import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    StackDataset,
    TensorDataset,
    default_convert,
    get_worker_info,
)


class MyIterableDataset(IterableDataset):
    def __init__(self, start, end):
        super().__init__()
        self.start, self.end = start, end

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            iter_start, iter_end = self.start, self.end
        else:
            per_worker = int(math.ceil((self.end - self.start) / float(info.num_workers)))
            iter_start = self.start + info.id * per_worker
            iter_end = min(iter_start + per_worker, self.end)
        return iter(range(iter_start, iter_end))


ds = MyIterableDataset(start=3, end=7)
print("main process:", list(DataLoader(ds, num_workers=0)))
print("worker info:", get_worker_info())
print("batched:", [b.tolist() for b in DataLoader(MyIterableDataset(0, 10), batch_size=4)])
print(
    "drop_last:",
    [b.tolist() for b in DataLoader(MyIterableDataset(0, 10), batch_size=4, drop_last=True)],
)
print("batch None:", list(DataLoader(MyIterableDataset(0, 3), batch_size=None)))


class Stream(IterableDataset):
    def __init__(self, n, buffer=4, seed=0):
        self.n, self.buffer, self.seed = n, buffer, seed

    def __iter__(self):
        rnd = random.Random(self.seed)
        buf = []
        for i in range(self.n):
            buf.append({"x": torch.tensor([float(i)]), "y": i % 2})
            if len(buf) == self.buffer:
                yield buf.pop(rnd.randrange(len(buf)))
        rnd.shuffle(buf)
        yield from buf


batches = list(DataLoader(Stream(10), batch_size=3))
print("stream:", [b["x"].view(-1).tolist() for b in batches], [b["y"].tolist() for b in batches])
try:
    DataLoader(ds, shuffle=True)
except ValueError as e:
    print("shuffle iterable:", type(e).__name__)
a = TensorDataset(torch.arange(4.0))
b = TensorDataset(torch.arange(4) * 10)
stack = StackDataset(a, b)
print("stack:", len(stack), stack[1])
named = StackDataset(img=torch.arange(3.0), label=torch.tensor([0, 1, 0]))
print("stack named:", named[2], next(iter(DataLoader(named, batch_size=2))))


class Batched(Dataset):
    calls = 0

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return torch.tensor(i)

    def __getitems__(self, indices):
        Batched.calls += 1
        return [torch.tensor(i * 100) for i in indices]


print("getitems:", [t.tolist() for t in DataLoader(Batched(), batch_size=4)], Batched.calls)
print(
    "default_convert:",
    default_convert({"a": [1, 2]}),
    type(default_convert(__import__("numpy").ones(2))).__name__,
)
