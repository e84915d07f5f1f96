# Small recipes: torch.utils.benchmark.Timer, torch.profiler, TensorBoard's SummaryWriter,
# channels_last memory format, inference_mode, zeroing gradients (set_to_none), gradient
# clipping by value, torch.backends flags, tensor printing options, and torch.jit.script.
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.utils.benchmark as benchmark

torch.backends.cudnn.benchmark = True
torch.backends.cudnn.deterministic = True
torch.set_num_threads(1)
print("threads:", torch.get_num_threads())

x = torch.from_numpy(np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32))


def batched_dot_mul_sum(a, b):
    return a.mul(b).sum(-1)


t0 = benchmark.Timer(
    stmt="batched_dot_mul_sum(x, x)",
    setup="from __main__ import batched_dot_mul_sum",
    globals={"x": x},
)
m = t0.timeit(5)
print("Timer measurement:", type(m).__name__, m.mean > 0, len(m.times) >= 1)

model = nn.Sequential(
    nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
)
inputs = torch.ones(2, 3, 8, 8)
with torch.profiler.profile(
    activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True
) as prof:
    with torch.profiler.record_function("model_inference"):
        model(inputs)
table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=5)
print("profiler table has model_inference:", "model_inference" in table)

from torch.utils.tensorboard import SummaryWriter  # noqa: E402

with tempfile.TemporaryDirectory() as logdir:
    writer = SummaryWriter(logdir)
    for n_iter in range(3):
        writer.add_scalar("Loss/train", 1.0 / (n_iter + 1), n_iter)
    writer.flush()
    writer.close()
    print("tensorboard wrote files:", len(os.listdir(logdir)) > 0)

cl = inputs.to(memory_format=torch.channels_last)
print(
    "channels_last:",
    cl.is_contiguous(memory_format=torch.channels_last),
    cl.shape,
    torch.equal(cl, inputs),
)
model = model.to(memory_format=torch.channels_last)
print("channels_last model output:", list(model(cl).shape))

with torch.inference_mode():
    out = model(inputs)
print("inference_mode:", out.requires_grad)

opt = torch.optim.SGD(model.parameters(), lr=0.1)
model(inputs).sum().backward()
opt.zero_grad(set_to_none=True)
print("set_to_none:", all(p.grad is None for p in model.parameters()))
model(inputs).sum().backward()
opt.zero_grad(set_to_none=False)
print("zeroed:", all(float(p.grad.abs().sum()) == 0 for p in model.parameters()))
model(inputs * 100).sum().backward()
nn.utils.clip_grad_value_(model.parameters(), clip_value=0.5)
print("clip_grad_value_:", max(float(p.grad.abs().max()) for p in model.parameters()) <= 0.5)
norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
print(
    "clip_grad_norm_ total:",
    round(float(norm), 4) > 0,
    round(float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm()), 4) <= 1.0001,
)

torch.set_printoptions(precision=2)
print("printed:", torch.tensor([1.23456, 2.5]))
torch.set_printoptions(profile="default")


@torch.jit.script
def scripted(x, y):
    if x.max() > y.max():
        r = x
    else:
        r = y
    return r * 2


try:
    print("jit.script:", scripted(torch.tensor([1.0, 5.0]), torch.tensor([2.0, 3.0])).tolist())
except Exception as e:  # noqa: BLE001 - reported, compared with PyTorch's result
    print("jit.script:", "error", type(e).__name__)
