# "Channels Last Memory Format" (to(memory_format=), is_contiguous(memory_format=),
# strides, a conv model converted with model.to(memory_format=...), empty_like keeping the
# format) and the "Reproducibility" notes (manual_seed giving the same stream twice,
# get_rng_state / set_rng_state, torch.Generator, use_deterministic_algorithms, a
# DataLoader with a seeded generator and worker_init_fn).
import random

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

N, C, H, W = 10, 3, 32, 32
x = torch.empty(N, C, H, W)
print("default stride:", x.stride())
x = x.to(memory_format=torch.channels_last)
print("channels_last shape:", x.shape)
print("channels_last stride:", x.stride())
x = x.to(memory_format=torch.contiguous_format)
print("back to contiguous:", x.stride())
x = x.contiguous(memory_format=torch.channels_last)
print("contiguous(channels_last):", x.stride())
print(
    "is_contiguous(channels_last):",
    x.is_contiguous(memory_format=torch.channels_last),
    x.is_contiguous(),
)
x = torch.empty(N, C, H, W, memory_format=torch.channels_last)
print("empty channels_last:", x.stride())
y = torch.empty_like(x)
print("empty_like keeps format:", y.is_contiguous(memory_format=torch.channels_last))
print(
    "permute trick:",
    torch.empty(N, H, W, C).permute(0, 3, 1, 2).is_contiguous(memory_format=torch.channels_last),
)
print("3d:", torch.empty(2, 3, 4, 5, 6).to(memory_format=torch.channels_last_3d).stride())

rng = np.random.default_rng(10)
model = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3)
)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
inp = torch.from_numpy(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
model.eval()
ref = model(inp)
model = model.to(memory_format=torch.channels_last)
print("weight channels_last:", model[0].weight.is_contiguous(memory_format=torch.channels_last))
out = model(inp.to(memory_format=torch.channels_last))
print("output equal:", torch.allclose(out, ref, atol=1e-5), list(out.shape))
print("output sum:", round(out.sum().item(), 4))

# reproducibility
torch.manual_seed(0)
random.seed(0)
np.random.seed(0)
a = torch.rand(3)
torch.manual_seed(0)
b = torch.rand(3)
print("same seed same numbers:", torch.equal(a, b))
state = torch.get_rng_state()
c = torch.randn(4)
torch.set_rng_state(state)
d = torch.randn(4)
print("get/set_rng_state:", torch.equal(c, d), state.dtype)
g = torch.Generator().manual_seed(42)
e1 = torch.randn(3, generator=g)
g.manual_seed(42)
e2 = torch.randn(3, generator=g)
print("generator:", torch.equal(e1, e2), g.initial_seed())
print("initial_seed:", torch.initial_seed())
torch.use_deterministic_algorithms(True)
print("deterministic:", torch.nn.functional.conv2d(inp, model[0].weight).shape)
torch.use_deterministic_algorithms(False)
torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = False
print("cudnn flags:", torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)


def seed_worker(worker_id):
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


ds = TensorDataset(torch.arange(10))
orders = []
for _ in range(2):
    g = torch.Generator()
    g.manual_seed(0)
    loader = DataLoader(ds, batch_size=4, shuffle=True, worker_init_fn=seed_worker, generator=g)
    orders.append([b[0].tolist() for b in loader])
print("seeded loader repeats:", orders[0] == orders[1])
print("rng order:", orders[0])
print("covers all:", sorted(sum(orders[0], [])))
