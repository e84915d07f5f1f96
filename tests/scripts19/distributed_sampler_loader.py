# The data side of the "Getting Started with Distributed Data Parallel" and multi-GPU
# training tutorials, without starting processes: DistributedSampler with explicit
# num_replicas / rank (each rank's share, padding by repetition, drop_last), set_epoch
# changing the shuffled order deterministically, DataLoader(sampler=..., shuffle=False)
# with num_workers=2, persistent_workers=True and pin_memory, and a worker_init_fn
# that reads get_worker_info().
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler


class MyTrainDataset(Dataset):
    def __init__(self, size):
        self.size = size
        self.data = [(torch.arange(3.0) + i, torch.tensor(i % 2)) for i in range(size)]

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        return self.data[index]


dataset = MyTrainDataset(11)
world_size = 3
for rank in range(world_size):
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False)
    print("rank", rank, "indices:", list(sampler), "len:", len(sampler))
for rank in range(world_size):
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=False, drop_last=True
    )
    print("drop_last rank", rank, list(sampler))
shards = []
for rank in range(world_size):
    s = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=7)
    s.set_epoch(1)
    shards.append(list(s))
everything = sum(shards, [])
print(
    "rng shuffled shards cover the data:", len(everything) == 12, set(everything) == set(range(11))
)
s = DistributedSampler(dataset, num_replicas=2, rank=0, shuffle=True, seed=3)
s.set_epoch(0)
e0 = list(s)
s.set_epoch(0)
print("same epoch same order:", e0 == list(s))
s.set_epoch(5)
print("rng epoch 5 differs:", len(list(s)) == len(e0))


def worker_init_fn(worker_id):
    info = torch.utils.data.get_worker_info()
    assert info.id == worker_id and info.num_workers == 2


sampler = DistributedSampler(dataset, num_replicas=2, rank=1, shuffle=False)
loader = DataLoader(
    dataset,
    batch_size=2,
    pin_memory=True,
    shuffle=False,
    sampler=sampler,
    num_workers=2,
    persistent_workers=True,
    worker_init_fn=worker_init_fn,
)
for epoch in range(2):
    sampler.set_epoch(epoch)
    for source, targets in loader:
        print("epoch", epoch, "batch", source[:, 0].tolist(), targets.tolist())
print("loader len:", len(loader), "persistent:", loader.persistent_workers)
try:
    DataLoader(dataset, num_workers=0, persistent_workers=True)
except ValueError as e:
    print("needs workers:", e)
