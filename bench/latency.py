"""Per-call latency at batch 1: where serving a small model spends its time.

    python bench/latency.py [--calls 3000] [--markdown]

One small MLP (64 -> 128 -> ReLU -> 10, float32) at batch 1, called many times; the
median (p50) and 99th percentile (p99) of one call, in microseconds, for:

- kiln eager, under ``kiln.no_grad()``;
- ``kiln.jit(model)``;
- a program exported with a dynamic batch (``kiln.export.export``), saved, loaded with
  ``kiln.export.load`` and run through ``program.module()``;
- beside them, when importable: PyTorch eager, ``torch.jit.trace``, ``torch.compile``
  (inductor; its compile time is not counted) and onnxruntime on the same weights.

At batch 1 the arithmetic is a few thousand multiply-adds: what is measured is the
per-call overhead of each runtime (argument checks, guards, dispatch, output
allocation). Threads are left to each library's default.
"""

from __future__ import annotations

import argparse
import io
import os
import time

import numpy as np

import kiln
import kiln.nn as nn


def measure(fn, calls: int, warmup: int = 200) -> tuple[float, float]:
    """(p50, p99) of one call of ``fn()``, in microseconds."""
    for _ in range(warmup):
        fn()
    times = np.empty(calls)
    clock = time.perf_counter
    for k in range(calls):
        start = clock()
        fn()
        times[k] = clock() - start
    return float(np.percentile(times, 50) * 1e6), float(np.percentile(times, 99) * 1e6)


def kiln_rows(model, x, calls):
    rows = []
    with kiln.no_grad():
        rows.append(("kiln eager", measure(lambda: model(x), calls)))
        jitted = kiln.jit(model)
        rows.append(("kiln.jit", measure(lambda: jitted(x), calls)))
        batch = kiln.export.Dim("batch", min=1, max=1024)
        program = kiln.export.export(model, (x,), dynamic_shapes=({0: batch},))
        buffer = io.BytesIO()
        kiln.export.save(program, buffer)
        loaded = kiln.export.load(buffer).module()
        rows.append(("kiln.export, loaded", measure(lambda: loaded(x), calls)))
    return rows


def torch_rows(model, x, calls):
    try:
        import torch
    except ImportError:
        return []
    reference = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    ).eval()
    reference.load_state_dict(
        {k: torch.from_numpy(v.numpy()) for k, v in model.state_dict().items()}
    )
    tx = torch.from_numpy(x.numpy())
    rows = []
    with torch.inference_mode():
        rows.append(("torch eager", measure(lambda: reference(tx), calls)))
        traced = torch.jit.trace(reference, tx)
        rows.append(("torch.jit.trace", measure(lambda: traced(tx), calls)))
        try:
            compiled = torch.compile(reference)
            compiled(tx)  # compile outside the clock
            rows.append(("torch.compile", measure(lambda: compiled(tx), calls)))
        except Exception as exc:  # no C compiler, an unsupported platform...
            rows.append((f"torch.compile (failed: {type(exc).__name__})", (float("nan"),) * 2))
    return rows


def onnx_rows(model, x, calls):
    try:
        import onnxruntime
    except ImportError:
        return []
    buffer = io.BytesIO()
    kiln.onnx.export(model, (x,), buffer, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}
    return [("onnxruntime", measure(lambda: session.run(None, feed), calls))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    kiln.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
    x = kiln.randn(1, 64)
    rows = kiln_rows(model, x, args.calls)
    rows += torch_rows(model, x, args.calls)
    rows += onnx_rows(model, x, args.calls)
    cores = len(os.sched_getaffinity(0))
    title = f"MLP 64-128-10, batch 1, {args.calls} calls, {cores} cores"
    if args.markdown:
        print(f"{title}\n\n| runtime | p50 (us) | p99 (us) |\n|---|---:|---:|")
        for name, (p50, p99) in rows:
            print(f"| {name} | {p50:.1f} | {p99:.1f} |")
        return
    print(title)
    for name, (p50, p99) in rows:
        print(f"  {name:<28} p50 {p50:8.1f} us   p99 {p99:8.1f} us")


if __name__ == "__main__":
    main()
