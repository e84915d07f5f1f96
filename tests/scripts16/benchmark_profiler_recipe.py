# "PyTorch Benchmark" recipe (torch.utils.benchmark.Timer with stmt/setup/globals, label /
# sub_label / description, timeit / blocked_autorange, Compare over several sizes) and the
# "PyTorch Profiler" recipe (profile with record_shapes, record_function labels,
# key_averages, export_chrome_trace, schedule with on_trace_ready): only what does not
# depend on timing is printed.
import json
import os
import tempfile

import torch
import torch.nn as nn
import torch.utils.benchmark as benchmark
from torch.profiler import ProfilerActivity, profile, record_function


def batched_dot_mul_sum(a, b):
    """Computes batched dot by multiplying and summing"""
    return a.mul(b).sum(-1)


def batched_dot_bmm(a, b):
    """Computes batched dot by reducing to ``bmm``"""
    a = a.reshape(-1, 1, a.shape[-1])
    b = b.reshape(-1, b.shape[-1], 1)
    return torch.bmm(a, b).flatten(-3)


x = torch.arange(64.0).reshape(8, 8) / 64
assert torch.allclose(batched_dot_mul_sum(x, x), batched_dot_bmm(x, x))
print("same result:", batched_dot_bmm(x, x).tolist()[:2])
t0 = benchmark.Timer(
    stmt="batched_dot_mul_sum(x, x)",
    setup="from __main__ import batched_dot_mul_sum",
    globals={"x": x},
)
t1 = benchmark.Timer(
    stmt="batched_dot_bmm(x, x)", globals={"x": x, "batched_dot_bmm": batched_dot_bmm}
)
m0 = t0.timeit(20)
m1 = t1.blocked_autorange(min_run_time=0.05)
print("measurement:", type(m0).__name__, m0.stmt, m0.number_per_run, m0.mean > 0, m0.median > 0)
print("autorange:", m1.stmt, len(m1.times) > 0, m1.mean > 0)
print("num_threads:", t0.timeit(1).task_spec.num_threads >= 1)

results = []
sizes = [1, 16]
for b in sizes:
    for n in sizes:
        label = "Batched dot"
        sub_label = f"[{b}, {n}]"
        x = torch.ones((b, n))
        for num_threads in [1]:
            results.append(
                benchmark.Timer(
                    stmt="batched_dot_mul_sum(x, x)",
                    setup="from __main__ import batched_dot_mul_sum",
                    globals={"x": x},
                    num_threads=num_threads,
                    label=label,
                    sub_label=sub_label,
                    description="mul/sum",
                ).timeit(5)
            )
            results.append(
                benchmark.Timer(
                    stmt="batched_dot_bmm(x, x)",
                    globals={"x": x, "batched_dot_bmm": batched_dot_bmm},
                    num_threads=num_threads,
                    label=label,
                    sub_label=sub_label,
                    description="bmm",
                ).timeit(5)
            )
print(
    "results:",
    len(results),
    [r.task_spec.sub_label for r in results[:4]],
    [r.task_spec.description for r in results[:2]],
)
print("labels:", {r.label for r in results})
compare = benchmark.Compare(results)
compare.trim_significant_figures()
compare.colorize()
text = str(compare)
print(
    "compare mentions:", "Batched dot" in text, "mul/sum" in text, "bmm" in text, "[16, 16]" in text
)

# profiler
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
inputs = torch.ones(5, 16)
with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    with record_function("model_inference"):
        model(inputs)
    with record_function("postprocess"):
        model(inputs).softmax(-1)
events = prof.key_averages()
names = [e.key for e in events]
print("labels recorded:", "model_inference" in names, "postprocess" in names)
counts = {e.key: e.count for e in events if e.key in ("model_inference", "postprocess")}
print("label counts:", sorted(counts.items()))
table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
print("table has header:", "Name" in table, "CPU total" in table)
print(
    "group by shape:",
    isinstance(
        prof.key_averages(group_by_input_shape=True).table(sort_by="cpu_time_total", row_limit=5),
        str,
    ),
)
trace_path = os.path.join(tempfile.mkdtemp(), "trace.json")
prof.export_chrome_trace(trace_path)
with open(trace_path) as f:
    trace = json.load(f)
trace_events = trace["traceEvents"] if isinstance(trace, dict) else trace
print(
    "chrome trace labels:",
    sorted(
        {e.get("name") for e in trace_events if e.get("name") in ("model_inference", "postprocess")}
    ),
)

steps = []


def trace_handler(p):
    steps.append(p.step_num)


with profile(
    activities=[ProfilerActivity.CPU],
    schedule=torch.profiler.schedule(wait=1, warmup=1, active=2),
    on_trace_ready=trace_handler,
) as p:
    for idx in range(8):  # noqa: B007
        model(inputs)
        p.step()
print("schedule handler steps:", steps)
