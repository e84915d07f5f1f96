# The "Reproducibility" notes and torch.Generator docs: manual_seed, seeding a generator
# object, get_state / set_state, fork_rng, initial_seed, the DataLoader seed_worker /
# generator pattern, random_split with a generator, and deterministic algorithms. Only
# whether the streams repeat is compared (the numbers themselves are kiln's own).
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split

torch.manual_seed(0)
random.seed(0)
np.random.seed(0)
a = torch.rand(3)
torch.manual_seed(0)
b = torch.rand(3)
print("manual_seed repeats:", torch.equal(a, b))
print("initial_seed:", torch.initial_seed())
print("rng rand:", a.tolist())

g = torch.Generator()
g.manual_seed(2147483647)
x = torch.randn(2, 3, generator=g)
g.manual_seed(2147483647)
y = torch.randn(2, 3, generator=g)
print("generator repeats:", torch.equal(x, y), g.initial_seed())
state = g.get_state()
first = torch.randint(0, 100, (5,), generator=g)
g.set_state(state)
second = torch.randint(0, 100, (5,), generator=g)
print("get/set_state:", torch.equal(first, second))
print(
    "generator independent of global:",
    not torch.equal(
        torch.rand(3, generator=torch.Generator().manual_seed(1)),
        torch.rand(3, generator=torch.Generator().manual_seed(2)),
    ),
)
print("perm is a permutation:", sorted(torch.randperm(10, generator=g).tolist()) == list(range(10)))

torch.manual_seed(5)
state = torch.get_rng_state()
u1 = torch.rand(4)
torch.set_rng_state(state)
u2 = torch.rand(4)
print("global get/set_rng_state:", torch.equal(u1, u2))
torch.manual_seed(7)
with torch.random.fork_rng():
    torch.rand(100)
after_fork = torch.rand(2)
torch.manual_seed(7)
print("fork_rng restores:", torch.equal(after_fork, torch.rand(2)))
s = torch.seed()
print("seed() returns an int:", isinstance(s, int), torch.initial_seed() == s)


def seed_worker(worker_id):
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


data = TensorDataset(torch.arange(20.0).reshape(10, 2), torch.arange(10))


def epoch_order(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    loader = DataLoader(
        data, batch_size=3, shuffle=True, num_workers=0, worker_init_fn=seed_worker, generator=g
    )
    return [yb.tolist() for _, yb in loader]


print("loader order repeats:", epoch_order(0) == epoch_order(0))
print("rng loader order:", epoch_order(0))
print("batch sizes:", [len(b) for b in epoch_order(3)])
train, val = random_split(data, [0.7, 0.3], generator=torch.Generator().manual_seed(42))
train2, _ = random_split(data, [7, 3], generator=torch.Generator().manual_seed(42))
print(
    "random_split sizes:",
    len(train),
    len(val),
    "repeats:",
    list(train.indices) == list(train2.indices),
)
print("disjoint:", set(train.indices).isdisjoint(val.indices))
torch.use_deterministic_algorithms(True)
print("deterministic on:", torch.are_deterministic_algorithms_enabled())
torch.use_deterministic_algorithms(False)
torch.backends.cudnn.benchmark = False
torch.backends.cudnn.deterministic = True
print("cudnn flags:", torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
drop = torch.nn.Dropout(0.5)
torch.manual_seed(3)
m1 = drop(torch.ones(8))
torch.manual_seed(3)
m2 = drop(torch.ones(8))
print("dropout repeats:", torch.equal(m1, m2), sorted(set(m1.tolist())))
