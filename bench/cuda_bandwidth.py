"""Effective bandwidth of kiln's generated CUDA kernels against a device-to-device copy.

Run on a GPU (not the simulator): ``python bench/cuda_bandwidth.py [results.md]``.

* the fused seed kernel ``(a**2 + b**2)**0.5`` on 2^24 float32 (reads a, b, writes one:
  12 bytes an element);
* softmax over the rows of a 4096 x 1024 float32 matrix (reads and writes it once at
  least: 8 bytes an element; the row kernel reads each row three times, from L2);
* ``DeviceNDArray.copy_to_device`` of 2^24 float32 (8 bytes an element).

Each figure is the mean of 100 calls after 5 warm-ups, timed with CUDA events. "kernel"
launches the generated kernel on preallocated buffers; "jit call" is a whole
``kiln.jit`` call (Python dispatch and the output allocation included).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "0")

import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

import kiln  # noqa: E402
from kiln.compiler.compile_cuda import (
    _strided_function,  # noqa: E402
    compile_graph_cuda,  # noqa: E402
)
from kiln.compiler.ir import Graph  # noqa: E402
from kiln.runtime.cuda import device_name  # noqa: E402
from kiln.runtime.cuda.launch import THREADS, Launch, blocks_for, launch  # noqa: E402
from kiln.runtime.executor import Literal  # noqa: E402

REPEAT = 100
SMALL = os.environ.get("KILN_BENCH_SMALL") == "1"  # a quick check in the simulator


def timed(fn) -> float:
    """Mean seconds per call of ``fn`` (CUDA events around REPEAT calls)."""
    repeat = 2 if SMALL else REPEAT
    for _ in range(1 if SMALL else 5):
        fn()
    cuda.synchronize()
    start, end = cuda.event(), cuda.event()
    start.record()
    for _ in range(repeat):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / repeat


def kernel_only(graph: Graph, arrays):
    """A function launching the graph's single kernel on preallocated device buffers.

    The calls of the executable's schedule before its launch (output allocation, flat
    views) run once here; the function returned repeats only the launch.
    """
    schedule = compile_graph_cuda(graph).program.schedule
    (launch_call,) = [c for c in schedule.calls if isinstance(c.function, Launch)]
    values = dict(schedule.statics)
    values.update({spec.name: array for spec, array in zip(schedule.inputs, arrays)})

    def resolve(arguments):
        return [a.value if isinstance(a, Literal) else values[a] for a in arguments]

    for call in schedule.calls[: schedule.calls.index(launch_call)]:
        values[call.result] = call.function(*resolve(call.arguments))
    arguments = resolve(launch_call.arguments)
    return lambda: launch_call.function(*arguments)


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    n = 1 << (10 if SMALL else 24)
    a = kiln.tensor(rng.standard_normal(n).astype(np.float32), device="cuda")
    b = kiln.tensor(rng.standard_normal(n).astype(np.float32), device="cuda")
    seed = kiln.jit(lambda a, b: (a**2 + b**2) ** 0.5)
    expected = np.hypot(a.cpu().numpy(), b.cpu().numpy())
    np.testing.assert_allclose(seed(a, b).cpu().numpy(), expected, rtol=1e-5)
    graph = Graph("pythagoras")
    x, y = graph.add_input((n,), "float32"), graph.add_input((n,), "float32")
    two, half = graph.add_const(np.float32(2)), graph.add_const(np.float32(0.5))
    total = graph.add_node(
        "add", [graph.add_node("pow", [x, two]), graph.add_node("pow", [y, two])]
    )
    graph.outputs = [graph.add_node("pow", [total, half])]
    bytes_moved = 12 * n
    rows.append(
        (
            "(a**2+b**2)**0.5, 2^24 f32, kernel",
            bytes_moved,
            timed(kernel_only(graph, [a._data, b._data])),
        )
    )
    rows.append(("(a**2+b**2)**0.5, 2^24 f32, jit call", bytes_moved, timed(lambda: seed(a, b))))
    rows.append(
        (
            "(a**2+b**2)**0.5, 2^24 f32, eager (4 kernels)",
            bytes_moved,
            timed(lambda: (a**2 + b**2) ** 0.5),
        )
    )

    shape = (8, 64) if SMALL else (4096, 1024)
    m = kiln.tensor(rng.standard_normal(shape).astype(np.float32), device="cuda")
    softmax = kiln.jit(lambda m: kiln.softmax(m, -1))
    host = m.cpu().numpy()
    reference = np.exp(host - host.max(1, keepdims=True))
    reference /= reference.sum(1, keepdims=True)
    np.testing.assert_allclose(softmax(m).cpu().numpy(), reference, rtol=1e-4, atol=1e-7)
    graph = softmax.inspect(m).traced
    bytes_moved = 8 * m.numel()
    rows.append(
        ("softmax 4096x1024 f32, kernel", bytes_moved, timed(kernel_only(graph, [m._data])))
    )
    rows.append(("softmax 4096x1024 f32, jit call", bytes_moved, timed(lambda: softmax(m))))

    source, target = a._data, cuda.device_array(n, np.float32)
    rows.append(
        (
            "device-to-device copy (copy_to_device), 2^24 f32",
            8 * n,
            timed(lambda: target.copy_to_device(source)),
        )
    )
    copy = _strided_function(1, "gather")  # kiln's generated strided copy, stride 1
    rows.append(
        (
            "generated copy kernel (1-D strided gather), 2^24 f32",
            8 * n,
            timed(lambda: launch(copy, blocks_for(n), THREADS, [source, target, 0, n, 1])),
        )
    )

    lines = [
        f"Device: {device_name()} (numba-cuda, kiln {kiln.__version__})",
        "",
        "| what | bytes moved | time (us) | effective GB/s |",
        "|---|---:|---:|---:|",
    ]
    for name, moved, seconds in rows:
        lines.append(
            f"| {name} | {moved / 1e6:.0f} MB | {seconds * 1e6:.1f} | {moved / seconds / 1e9:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
