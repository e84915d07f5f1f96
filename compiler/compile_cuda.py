"""Compiling a graph for CUDA: passes, fusion, then one launch (or view) per fused group.

``compile_graph_cuda(graph)`` is what ``compile_graph(graph, device="cuda")`` runs. Its
executable is called with one array per graph input (device arrays, or host arrays that it
copies over: a learning rate, a CPU scalar) and returns device arrays, so a graph never
goes back to the host between kernels. An output that depends on no device input at all
(a CPU step counter a traced optimizer bumps) comes back as a host array, so it stays on
the CPU, as it would in PyTorch.

Groups lower to the kernels of ``codegen/cuda.py``; movement nodes to strided copies (a
``reshape`` is a free view); reductions that are not over trailing axes to a permute and a
row kernel. What has no CUDA kernel yet (index ops, ``argmax``, random numbers, float16)
runs its NumPy implementation on a host copy: correct, but a round trip, and ``describe()``
says so.

``run_primitive`` is eager mode's entry: a one-node graph compiled the same way, cached
per op, parameters, shapes and dtypes (kernels themselves are shared across shapes).

>>> from kiln.compiler.ir import Graph
>>> g = Graph("f"); x = g.add_input((3,), "float32")
>>> g.outputs = [g.add_node("mul", [x, x])]
>>> executable = compile_graph_cuda(g)          # doctest: +SKIP
>>> executable.run([np.arange(3, dtype=np.float32)])[0].copy_to_host()  # doctest: +SKIP
array([0., 1., 4.], dtype=float32)
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..runtime import cuda as device
from ..runtime.cuda.launch import (
    MATMUL_TILE,
    MAX_BLOCKS,
    THREADS,
    blocks_for,
    launch,
    load_cuda_kernel,
)
from .codegen.cuda import (
    CudaKernel,
    fill_kernel,
    loop_kernel,
    matmul_kernel,
    row_kernel,
    strided_kernel,
)
from .ir import Graph, Node
from .passes.fuse import FusedGraph, FusionGroup, fuse
from .passes.pipeline import optimize
from .primitives import PRIMITIVES, is_accumulating_reduction

# grid limits on a GPU (y and z are 65535 in CUDA); the simulator gets a handful of blocks
_GRID_LIMIT = MAX_BLOCKS if device.simulated() else 65535


def _contiguous_strides(shape) -> list[int]:
    strides, step = [], 1
    for size in reversed(tuple(shape)):
        strides.append(step)
        step *= size
    return strides[::-1]


def _flat(array):
    return device.flat(array)


# ------------------------------------------------------------------------------- steps


class KernelStep:
    """Launch one generated kernel; its outputs are allocated on the device per call."""

    def __init__(self, kernel: CudaKernel, comment: str):
        self.kernel = kernel
        self.function = load_cuda_kernel(kernel.source)
        self.comment = comment
        kind = kernel.launch[0]
        if kind == "elements":
            self.grid, self.block, self.work = (
                blocks_for(kernel.launch[1]),
                THREADS,
                kernel.launch[1],
            )
        elif kind == "rows":
            self.grid, self.block, self.work = (
                min(kernel.launch[1], _GRID_LIMIT * 64),
                THREADS,
                kernel.launch[1],
            )

    def run(self, values: dict) -> None:
        kernel = self.kernel
        outputs = []
        for node in kernel.outputs:
            values[node] = device.empty(node.shape, node.dtype)
            outputs.append(_flat(values[node]))
        if self.work == 0:
            return
        arguments = [_flat(values[n]) for n in kernel.inputs] + outputs + kernel.sizes
        launch(self.function, self.grid, self.block, arguments)


class MatmulStep:
    """A tiled matmul kernel with its epilogue; batch dims broadcast by stride 0."""

    def __init__(self, kernel: CudaKernel, comment: str):
        self.kernel = kernel
        self.function = load_cuda_kernel(kernel.source)
        self.comment = comment
        head = kernel.extra["head"]
        a, b = head.inputs
        self.a, self.b = a, b
        *batch_shape, self.m, self.n = head.shape
        self.k = a.shape[-1]
        self.batch = math.prod(batch_shape)
        self.batch_shape = tuple(batch_shape)
        tile = kernel.extra["tile"]
        self.block = (tile, tile)
        self.grid = (
            min(-(-self.n // tile), _GRID_LIMIT),
            min(-(-self.m // tile), _GRID_LIMIT),
            min(self.batch, _GRID_LIMIT),
        )

    def operand(self, values, node, rows, cols):
        """An operand's flat array and batch stride (expanding partly broadcast batches)."""
        array = values[node]
        batch = math.prod(node.shape[:-2])
        if batch == 1:
            return _flat(array), 0
        if tuple(node.shape[:-2]) != self.batch_shape:
            array = _gather_expand(array, node.shape, self.batch_shape + (rows, cols))
        return _flat(array), rows * cols

    def run(self, values: dict) -> None:
        kernel = self.kernel
        outputs = []
        for node in kernel.outputs:
            values[node] = device.empty(node.shape, node.dtype)
            outputs.append(_flat(values[node]))
        if self.batch * self.m * self.n == 0:
            return
        if self.k == 0:  # an empty sum: zeros through the epilogue is rare; do it on the host
            raise NotImplementedError("matmul with an empty inner dimension on CUDA")
        a, a_stride = self.operand(values, self.a, self.m, self.k)
        b, b_stride = self.operand(values, self.b, self.k, self.n)
        arguments = (
            [a, b]
            + [_flat(values[n]) for n in kernel.inputs]
            + outputs
            + [self.batch, self.m, self.n, self.k, a_stride, b_stride]
            + kernel.sizes
        )
        launch(self.function, self.grid, self.block, arguments)


_STRIDED: dict = {}
_strided_lock = threading.Lock()


def _strided_function(rank: int, direction: str):
    with _strided_lock:
        key = (rank, direction)
        if key not in _STRIDED:
            _STRIDED[key] = load_cuda_kernel(strided_kernel(rank, direction))
        return _STRIDED[key]


def _strided(direction, source, out, base, sizes, strides) -> None:
    work = math.prod(sizes)
    if work == 0:
        return
    function = _strided_function(len(sizes), direction)
    launch(
        function,
        blocks_for(work),
        THREADS,
        [_flat(source), _flat(out), int(base)]
        + [int(s) for s in sizes]
        + [int(s) for s in strides],
    )


def _fill(out, value) -> None:
    if out.size == 0:
        return
    function = _strided_function(-1, "fill") if (-1, "fill") in _STRIDED else None
    if function is None:
        with _strided_lock:
            _STRIDED[(-1, "fill")] = load_cuda_kernel(fill_kernel())
        function = _STRIDED[(-1, "fill")]
    launch(function, blocks_for(out.size), THREADS, [_flat(out), value, int(out.size)])


def _gather_expand(array, shape, target):
    """A new contiguous array of ``target`` shape broadcasting ``array`` (of ``shape``)."""
    shape = (1,) * (len(target) - len(shape)) + tuple(shape)
    strides = [
        0 if s == 1 and t != 1 else c for s, t, c in zip(shape, target, _contiguous_strides(shape))
    ]
    out = device.empty(target, array.dtype)
    _strided("gather", array, out, 0, target, strides)
    return out


# How each movement primitive runs on the device: a function of (node, values) that
# returns the result's device array. Each is that op's own index arithmetic (the CUDA
# counterpart of its NumPy ``impl``), so this table is keyed by name.


def _reshape(node: Node, values: dict):
    source = values[node.inputs[0]]
    return source.reshape(node.shape) if source.size else device.empty(node.shape, node.dtype)


def _permute(node: Node, values: dict):
    out = device.empty(node.shape, node.dtype)
    strides = _contiguous_strides(node.inputs[0].shape)
    axes = node.params["axes"]
    _strided("gather", values[node.inputs[0]], out, 0, node.shape, [strides[a] for a in axes])
    return out


def _expand(node: Node, values: dict):
    return _gather_expand(values[node.inputs[0]], node.inputs[0].shape, node.shape)


def _slice(node: Node, values: dict):
    out = device.empty(node.shape, node.dtype)
    params = node.params
    strides = _contiguous_strides(node.inputs[0].shape)
    base = sum(a * s for a, s in zip(params["starts"], strides))
    steps = [s * st for s, st in zip(strides, params["steps"])]
    _strided("gather", values[node.inputs[0]], out, base, node.shape, steps)
    return out


def _pad(node: Node, values: dict):
    out = device.empty(node.shape, node.dtype)
    _fill(out, node.params["value"])
    out_strides = _contiguous_strides(node.shape)
    base = sum(lo * s for (lo, _), s in zip(node.params["pads"], out_strides))
    _strided("scatter", values[node.inputs[0]], out, base, node.inputs[0].shape, out_strides)
    return out


def _concat(node: Node, values: dict):
    out = device.empty(node.shape, node.dtype)
    out_strides = _contiguous_strides(node.shape)
    axis = node.params["axis"]
    offset = 0
    for part in node.inputs:
        _strided("scatter", values[part], out, offset * out_strides[axis], part.shape, out_strides)
        offset += part.shape[axis]
    return out


DEVICE_MOVEMENT = {
    "reshape": _reshape,  # a view
    "permute": _permute,  # strided gathers
    "expand": _expand,
    "slice": _slice,
    "pad": _pad,  # fill + strided scatter
    "concat": _concat,
}


def _movement_on_device(node: Node) -> bool:
    """A movement node this backend runs on the device (a pad that crops does not)."""
    if node.op not in DEVICE_MOVEMENT:
        return False
    return "pads" not in node.params or all(lo >= 0 and hi >= 0 for lo, hi in node.params["pads"])


class MovementStep:
    """One movement node on the device (``DEVICE_MOVEMENT``: a view, a strided gather, or
    a fill and a strided scatter)."""

    def __init__(self, node: Node):
        self.node = node
        self.comment = f"{node.op} on the device"

    def run(self, values: dict) -> None:
        values[self.node] = DEVICE_MOVEMENT[self.node.op](self.node, values)


class ReductionStep:
    """An accumulating reduction (``sum``, ``max``) over any axes: move the reduced axes
    last, then a row kernel."""

    def __init__(self, node: Node):
        self.node = node
        source = node.inputs[0]
        axes = tuple(node.params["axes"])
        kept = [d for d in range(len(source.shape)) if d not in axes]
        self.order = kept + list(axes)
        permuted = tuple(source.shape[d] for d in self.order)
        graph = Graph("reduce")
        x = graph.add_input(permuted, source.dtype)
        split = len(kept)
        reduced = graph.add_node(
            node.op, [x], {"axes": tuple(range(split, len(permuted))), "keepdims": False}
        )
        group = FusionGroup("row", [reduced], permuted, split, inputs=[x], outputs=[reduced])
        self.x = x
        self.step = KernelStep(row_kernel(group, THREADS), f"{node.op} as a row kernel")
        self.comment = f"{node.op} over axes {axes}: permute + row kernel"

    def run(self, values: dict) -> None:
        node = self.node
        source = values[node.inputs[0]]
        if self.order != list(range(len(self.order))):
            strides = _contiguous_strides(node.inputs[0].shape)
            permuted = device.empty(self.x.shape, node.dtype)
            _strided("gather", source, permuted, 0, self.x.shape, [strides[d] for d in self.order])
            source = permuted
        inner = {self.x: source}
        self.step.run(inner)
        values[node] = (
            inner[self.step.kernel.outputs[0]].reshape(node.shape)
            if node.shape
            else inner[self.step.kernel.outputs[0]].reshape(())
        )


class HostStep:
    """The op's NumPy implementation on host copies (ops without a CUDA kernel yet)."""

    def __init__(self, node: Node):
        self.node = node
        self.comment = f"{node.op} on the host (no CUDA kernel yet): copies in and out"

    def run(self, values: dict) -> None:
        node = self.node
        arrays = [device.to_host(values[i]) for i in node.inputs]
        result = PRIMITIVES[node.op].impl(*arrays, **node.params)
        values[node] = device.to_device(np.asarray(result).astype(node.dtype, copy=False))


def _reduction_on_device(node: Node) -> bool:
    """An accumulating reduction whose identity the dtype holds (max's -inf: floats only)."""
    if not is_accumulating_reduction(node):
        return False
    return node.dtype in ("float32", "float64") or math.isfinite(PRIMITIVES[node.op].identity)


# ----------------------------------------------------------------------------- lowering


class CudaExecutable:
    """A graph compiled for CUDA. ``run(arrays) -> arrays`` (device arrays in and out).

    ``stages`` and ``kernels`` as for the CPU executable; ``describe()`` lists the steps.
    """

    def __init__(self, traced, optimized, stages, fused: FusedGraph, steps, kernels):
        self.traced = traced
        self.optimized = optimized
        self.stages = stages
        self.fused = fused
        self.steps = steps
        self.kernels = list(kernels)
        self.device = "cuda"
        self.program = None
        self.constants = {}
        for node in fused.nodes:
            if node.op == "const":
                value = np.ascontiguousarray(node.params["value"], dtype=node.dtype)
                self.constants[node] = device.to_device(value)
        # graph inputs each output depends on (see the module docstring)
        depends: dict[Node, frozenset] = {n: frozenset([k]) for k, n in enumerate(fused.inputs)}
        for node in fused.nodes:
            if node not in depends:
                depends[node] = frozenset().union(*(depends[i] for i in node.inputs))
        self.output_inputs = [depends[n] for n in fused.outputs]

    def describe(self) -> str:
        return "\n".join(f"{k}: {step.comment}" for k, step in enumerate(self.steps))

    def run(self, args) -> list:
        inputs = self.fused.inputs
        if len(args) != len(inputs):
            raise TypeError(f"{self.fused.name}: expected {len(inputs)} inputs, got {len(args)}")
        values = dict(self.constants)
        on_device = []
        for k, (node, value) in enumerate(zip(inputs, args)):
            is_device = device.is_device_array(value)
            on_device.append(is_device)
            if not is_device:
                value = device.to_device(np.asarray(value, dtype=node.dtype))
            if tuple(value.shape) != tuple(node.shape) or value.dtype != np.dtype(node.dtype):
                label = node.name or f"input {k}"
                raise TypeError(
                    f"{self.fused.name}: {label} expects {node.dtype}"
                    f"{list(node.shape)}, got {value.dtype}{list(value.shape)}"
                )
            values[node] = value
        for step in self.steps:
            step.run(values)
        results = []
        for node, needs in zip(self.fused.outputs, self.output_inputs):
            value = values[node]
            if not any(on_device[k] for k in needs):
                value = device.to_host(value)  # a CPU-only value stays on the CPU
            results.append(value)
        return results

    def __call__(self, *args):
        return self.run(list(args))


def _lower_group(index: int, group: FusionGroup):
    comment = f"group {index}: {group.describe()}".replace("(BLAS)", "(tiled CUDA)")
    if group.kind == "loop":
        return KernelStep(loop_kernel(group), comment)
    if group.kind == "row":
        return KernelStep(row_kernel(group, THREADS), comment)
    if group.kind == "matmul":
        kernel = matmul_kernel(group, MATMUL_TILE)
        kernel.extra["head"] = group.head
        return MatmulStep(kernel, comment)
    node = group.nodes[0]
    if _movement_on_device(node):
        return MovementStep(node)
    if _reduction_on_device(node):
        return ReductionStep(node)
    if PRIMITIVES[node.op].kind == "matmul":  # a matmul fusion refused (unusual dtype)
        graph_group = FusionGroup(
            "matmul", [node], node.shape, head=node, inputs=list(node.inputs), outputs=[node]
        )
        return _lower_group(index, graph_group)
    return HostStep(node)


def compile_graph_cuda(graph: Graph, optimize_graph: bool = True) -> CudaExecutable:
    """Optimize, fuse and generate CUDA kernels for ``graph``.

    ``optimize_graph=False`` skips the pass pipeline (eager single ops).
    """
    device.require()
    if optimize_graph:
        optimized, stages = optimize(graph)
        stages = list(stages)
    else:
        optimized, stages = graph, [("traced", graph)]
    fused = fuse(optimized)
    fused.verify()
    stages.append(("fuse", fused))
    steps = [_lower_group(k, g) for k, g in enumerate(fused.groups)]
    kernels = [s.kernel.source for s in steps if hasattr(s, "kernel")]
    return CudaExecutable(graph, optimized, stages, fused, steps, kernels)


# ---------------------------------------------------------------------------- eager ops

_EAGER: dict = {}


def _params_key(params) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def run_primitive(name: str, arrays, params) -> object:
    """Run one primitive on device (or host scalar) arrays; return its device array."""
    key = (
        name,
        _params_key(params),
        tuple((tuple(a.shape), np.dtype(a.dtype).name) for a in arrays),
    )
    executable = _EAGER.get(key)
    if executable is None:
        graph = Graph(name)
        inputs = [graph.add_input(tuple(a.shape), np.dtype(a.dtype).name) for a in arrays]
        graph.outputs = [graph.add_node(name, inputs, dict(params))]
        executable = compile_graph_cuda(graph, optimize_graph=False)
        _EAGER[key] = executable
    return executable.run(list(arrays))[0]
