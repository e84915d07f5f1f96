# The "PyTorch Profiler" / "Profiler with TensorBoard" recipes: profile(activities=[CPU],
# schedule=torch.profiler.schedule(wait=1, warmup=1, active=2, repeat=1),
# on_trace_ready=torch.profiler.tensorboard_trace_handler(log_dir), record_shapes=True,
# with_stack=False) stepped with prof.step() in a training loop, record_function labels,
# the trace files written (name pattern, JSON with traceEvents) and key_averages; only
# what does not depend on timing is printed.
import glob
import json
import os
import tempfile

import torch
import torch.nn as nn
from torch.profiler import (
    ProfilerActivity,
    profile,
    record_function,
    schedule,
    tensorboard_trace_handler,
)

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
inputs = torch.linspace(-1, 1, 32).reshape(4, 8)
labels = torch.tensor([0, 1, 1, 0])
log_dir = tempfile.mkdtemp()
my_schedule = schedule(wait=1, warmup=1, active=2, repeat=1)
print("schedule actions:", [my_schedule(step).name for step in range(6)])
with profile(
    activities=[ProfilerActivity.CPU],
    schedule=my_schedule,
    on_trace_ready=tensorboard_trace_handler(log_dir, worker_name="worker0"),
    record_shapes=True,
    with_stack=False,
) as prof:
    for _ in range(6):
        with record_function("train_step"):
            loss = nn.functional.cross_entropy(model(inputs), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        prof.step()
files = sorted(glob.glob(os.path.join(log_dir, "*")))
print("trace files:", len(files))
name = os.path.basename(files[0])
print("name pattern:", name.startswith("worker0."), name.endswith(".pt.trace.json"))
with open(files[0]) as f:
    trace = json.load(f)
names = {event.get("name") for event in trace["traceEvents"]}
print(
    "has traceEvents:",
    isinstance(trace["traceEvents"], list),
    "train_step recorded:",
    "train_step" in names,
)
averages = prof.key_averages()
print("key_averages has train_step:", any(evt.key == "train_step" for evt in averages))
print("rng loss:", round(loss.item(), 5))
gz_dir = tempfile.mkdtemp()
with profile(
    activities=[ProfilerActivity.CPU],
    on_trace_ready=tensorboard_trace_handler(gz_dir, use_gzip=True),
) as p2:
    model(inputs)
print(
    "gzip trace:",
    [
        os.path.basename(p).endswith(".pt.trace.json.gz")
        for p in glob.glob(os.path.join(gz_dir, "*"))
    ],
)
