# "PyTorch Benchmark" recipe and the torch.utils.benchmark "Timer quick start": Timer with
# stmt / setup / globals, timeit, blocked_autorange, Measurement fields, labels and
# Compare. Only what does not depend on timing is printed.
import torch
import torch.utils.benchmark as benchmark


def batched_dot_mul_sum(a, b):
    """Computes batched dot by multiplying and summing"""
    return a.mul(b).sum(-1)


def batched_dot_bmm(a, b):
    """Computes batched dot by reducing to ``bmm``"""
    a = a.reshape(-1, 1, a.shape[-1])
    b = b.reshape(-1, b.shape[-1], 1)
    return torch.bmm(a, b).flatten(-3)


x = torch.randn(100, 64)
assert batched_dot_mul_sum(x, x).allclose(batched_dot_bmm(x, x))
print("same result:", batched_dot_mul_sum(x, x).allclose(batched_dot_bmm(x, x), atol=1e-4))

t0 = benchmark.Timer(
    stmt="batched_dot_mul_sum(x, x)",
    setup="from __main__ import batched_dot_mul_sum",
    globals={"x": x},
)
t1 = benchmark.Timer(
    stmt="batched_dot_bmm(x, x)",
    globals={"x": x, "batched_dot_bmm": batched_dot_bmm},
    label="Batched dot",
    sub_label="bmm",
    description="100x64",
    num_threads=1,
)
m0 = t0.timeit(5)
m1 = t1.blocked_autorange(min_run_time=0.05)
print("measurement type:", type(m0).__name__, type(m1).__name__)
print("stmt:", m0.stmt, "|", m1.stmt)
print("number_per_run:", m0.number_per_run, "times:", len(m0.times))
print("labels:", m1.label, m1.sub_label, m1.description, m1.task_spec.num_threads)
print("positive mean:", m0.mean > 0, m1.median > 0, m1.iqr >= 0)
print("has times:", len(m1.times) >= 1, m1.number_per_run >= 1)

results = []
for b, n in ((1, 8), (4, 16)):
    inp = torch.ones(b, n)
    label = "Batched dot"
    sub_label = f"[{b}, {n}]"
    for num_threads in (1,):
        results.append(
            benchmark.Timer(
                stmt="batched_dot_mul_sum(x, x)",
                setup="from __main__ import batched_dot_mul_sum",
                globals={"x": inp},
                num_threads=num_threads,
                label=label,
                sub_label=sub_label,
                description="mul/sum",
            ).timeit(3)
        )
compare = benchmark.Compare(results)
print("compare type:", type(compare).__name__, len(results))
print("sub_labels:", [r.sub_label for r in results])
