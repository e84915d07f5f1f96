# "PyTorch Profiler" recipe, the parts whose output does not depend on timing or on
# which internal kernels a library runs: record_function labels around model stages in a
# loop, prof.key_averages() rows found by key with their call counts, the events of
# prof.events() for a label, nested labels, record_shapes with key_averages(
# group_by_input_shape=True) for a label, and a profile that did not run a label.
import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile, record_function

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
x = torch.ones(5, 8)
labels = ["data_prep", "model_inference", "postprocess", "inner_block"]
with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    for step in range(3):
        with record_function("data_prep"):
            batch = x * (step + 1)
        with record_function("model_inference"):
            out = model(batch)
            with record_function("inner_block"):
                out = out.relu()
        if step < 2:
            with record_function("postprocess"):
                out.argmax(dim=1)

averages = {e.key: e for e in prof.key_averages()}
for label in labels:
    print("label", label + ":", averages[label].count if label in averages else 0)
print("missing label:", "never_run" in averages)
events = [e for e in prof.events() if e.name == "model_inference"]
print("model_inference events:", len(events))
print("cpu time recorded:", all(e.cpu_time_total >= 0 for e in events))
shaped = [e for e in prof.key_averages(group_by_input_shape=True) if e.key == "data_prep"]
print("grouped data_prep:", sum(e.count for e in shaped))
with profile(activities=[ProfilerActivity.CPU]) as prof2:
    model(x)
keys = {e.key for e in prof2.key_averages()}
print("no labels in second:", not (set(labels) & keys))
