"""Compiling a graph for CUDA: the CPU's passes, fusion and memory plan, then a schedule of
kernel launches that ``runtime/executor.Program`` runs, as it runs the CPU's.

``compile_graph_cuda(graph)`` is what ``compile_graph(graph, device="cuda")`` runs. It
returns ``compile.Executable`` (``device="cuda"``, ``kernels`` the CUDA kernel sources,
``program.source`` the run function), called with one array per graph input (device
arrays, or host arrays that it copies over: a learning rate, a CPU scalar); it returns
device arrays, so a graph never goes back to the host between kernels. An output that
depends on no device input at all (a CPU step counter a traced optimizer bumps) comes back
as a host array, so it stays on the CPU, as it would in PyTorch.

Lowering (``_CudaLowering``) turns each fused group into calls over named values, with
every launch configuration and size fixed now (``Literal`` arguments):

* loop, row and matmul groups launch the kernels of ``codegen/cuda.py`` (arrays passed
  flat); movement nodes are strided copies (a ``reshape`` is a free view); reductions that
  are not over trailing axes a permute and a row kernel;
* what has no CUDA kernel yet (index ops, ``argmax``, random numbers, float16) runs its
  NumPy implementation on host copies (``HostOp``): correct, but a round trip, and the
  call's comment says so.

Memory follows the plan of ``passes/memory.py``: values it puts in the arena are views of
a ``DeviceArena`` (``runtime/cuda/allocator.py``) made once per executable, so a call
allocates no intermediates; graph outputs are new device arrays each call, and an output
that would alias reused memory is copied out. What the CPU keeps as a NumPy view but a
GPU must copy (``permute``, ``slice``, ``expand``) and what NumPy would allocate (``pad``,
``concat``, host ops) gets a block of its own in that arena. A generated run function::

    def run(args):
        if len(args) != 2: _check(-1, args)
        (in0, in1,) = args
        if (type(in0) is not _device_array or in0.shape != (4, 8) ...): in0 = _check(0, in0)
        ...
        with _lock:
            in0_flat = _f0(in0)
            in1_flat = _f1(in1)
            o2 = _f2((4, 8), 'float32')  # a new output array
            o2_flat = _f3(o2)
            _f4(in0_flat, in1_flat, o2_flat, 32)  # group 0: loop kernel over [4, 8]
            return [o2]

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
from ..runtime.cuda.allocator import DeviceArena
from ..runtime.cuda.launch import (
    MATMUL_TILE,
    MAX_BLOCKS,
    THREADS,
    Launch,
    blocks_for,
    load_cuda_kernel,
)
from ..runtime.executor import Call, InputSpec, Literal, Program, Schedule
from .codegen.cuda import (
    CudaKernel,
    fill_kernel,
    loop_kernel,
    matmul_kernel,
    row_kernel,
    strided_kernel,
)
from .compile import Executable
from .ir import Graph, Node
from .passes.fuse import FusedGraph, FusionGroup, fuse
from .passes.memory import MemoryPlan, describe, materialized, nbytes, plan_memory
from .passes.pipeline import optimize
from .primitives import PRIMITIVES, is_accumulating_reduction

# grid limits on a GPU (y and z are 65535 in CUDA); the simulator gets a handful of blocks
_GRID_LIMIT = MAX_BLOCKS if device.simulated() else 65535

# The executable type of both back ends (the name earlier code imports).
CudaExecutable = Executable


def _contiguous_strides(shape) -> list[int]:
    strides, step = [], 1
    for size in reversed(tuple(shape)):
        strides.append(step)
        step *= size
    return strides[::-1]


# --------------------------------------------------------------- shared movement kernels

_SHARED: dict = {}
_shared_lock = threading.Lock()


def _strided_function(rank: int, direction: str):
    """The strided ``gather``/``scatter`` kernel over ``rank`` dims, or (``"fill"``) the
    fill kernel: generated once per process, shared by every graph."""
    with _shared_lock:
        key = (rank, direction)
        if key not in _SHARED:
            source = fill_kernel() if direction == "fill" else strided_kernel(rank, direction)
            _SHARED[key] = load_cuda_kernel(source)
        return _SHARED[key]


# ------------------------------------------------------------ what a schedule calls


def _reshape(array, shape):
    """A view of a contiguous device array with a new shape."""
    return array.reshape(shape) if array.size else device.empty(shape, array.dtype)


def _copy_out(array):
    """A new device array with ``array``'s contents (an output must not alias the arena)."""
    out = device.empty(array.shape, array.dtype)
    if array.size:
        out.copy_to_device(array)
    return out


class HostOp:
    """``op``'s NumPy implementation on host copies of its inputs, written into the device
    array passed last (ops without a CUDA kernel yet)."""

    def __init__(self, node: Node):
        self.impl = PRIMITIVES[node.op].impl
        self.params = dict(node.params)
        self.dtype = np.dtype(node.dtype)
        self.__name__ = f"host_{node.op}"

    def __call__(self, *arrays) -> None:
        *inputs, out = arrays
        result = self.impl(*[device.to_host(a) for a in inputs], **self.params)
        result = np.asarray(np.asarray(result).astype(self.dtype, copy=False), order="C")
        if result.size:
            out.copy_to_device(result)


def _movement_on_device(node: Node) -> bool:
    """A movement node this backend runs on the device (a pad that crops does not)."""
    if node.op not in ("reshape", "permute", "expand", "slice", "pad", "concat"):
        return False
    return "pads" not in node.params or all(lo >= 0 and hi >= 0 for lo, hi in node.params["pads"])


def _reduction_on_device(node: Node) -> bool:
    """An accumulating reduction whose identity the dtype holds (max's -inf: floats only)."""
    if not is_accumulating_reduction(node):
        return False
    return node.dtype in ("float32", "float64") or math.isfinite(PRIMITIVES[node.op].identity)


def _literal(value) -> Literal | None:
    """``value`` as a literal of the run function's source (None if repr cannot say it)."""
    value = np.asarray(value).item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return Literal(value)


# ----------------------------------------------------------------------------- lowering


class _CudaLowering:
    """Fused groups + memory plan -> a CUDA ``Schedule``.

    Names: ``in*`` the caller's arrays, ``c*`` constants, ``b*`` arena views of the plan's
    blocks, ``s*`` arena views of blocks of their own (scratch), ``t*`` a step's
    temporaries, ``o*`` outputs allocated by each call, ``v*`` run-time views, ``*_flat``
    the 1-D views kernels take.
    """

    def __init__(self, fused: FusedGraph, plan: MemoryPlan, keep_temporaries: bool = True):
        self.fused = fused
        self.plan = plan
        self.keep_temporaries = keep_temporaries
        self.temporaries = 0
        self.numbers = {n: k for k, n in enumerate(fused.nodes)}
        self.arena = DeviceArena(plan.block_sizes)
        self.statics: dict[str, object] = {}
        self.names: dict[Node, str] = {}
        self.flats: dict[str, str] = {}
        self.fresh: set[str] = set()  # names of arrays each call allocates anew
        self.calls: list[Call] = []
        self.kernels: list[CudaKernel] = []
        self.notes: dict[Node, str] = {}  # where the device keeps what the plan did not place
        self.outputs = set(fused.outputs)
        self.inputs = []
        for k, node in enumerate(fused.inputs):
            self.names[node] = f"in{k}"
            self.inputs.append(InputSpec(f"in{k}", node.shape, node.dtype, node.name or ""))
        self.own_block = self._overwriting_operands()

    def _overwriting_operands(self) -> set[Node]:
        """Values the plan puts in place of a matmul operand. On the CPU, BLAS has read the
        operand by then; a CUDA matmul kernel reads it while it writes, so they get a
        block of their own."""
        found = set()
        for group in self.fused.groups:
            if group.kind == "matmul":
                operands = set(group.head.inputs)
                for value in materialized(group):
                    if self.plan.storage[value].in_place_of in operands:
                        found.add(value)
        return found

    # ---------------------------------------------------------------------- values

    def name(self, node: Node) -> str:
        """The name of ``node``'s device array (allocating a planned home on first use)."""
        if node in self.names:
            return self.names[node]
        number = self.numbers[node]
        where = self.plan.storage[node]
        if where.kind == "const":
            name = f"c{number}"
            value = np.asarray(node.params["value"], dtype=node.dtype, order="C")
            self.statics[name] = device.to_device(value)
        elif where.kind == "arena" and node not in self.own_block:
            name = f"b{number}"
            self.statics[name] = self.arena.view(where.block, node.shape, node.dtype)
        elif where.kind in ("arena", "pool"):
            return self.home(node)
        else:
            raise AssertionError(f"{node.op} %{number} is used before it is computed")
        self.names[node] = name
        return name

    def home(self, node: Node) -> str:
        """The array a step writes ``node`` into: its planned buffer, else a new output
        array (graph outputs) or a block of its own (scratch)."""
        where = self.plan.storage[node]
        if node in self.names or (where.kind == "arena" and node not in self.own_block):
            return self.name(node)
        number = self.numbers[node]
        if node in self.outputs:
            name = f"o{number}"
            self.calls.append(
                Call(
                    device.empty,
                    [Literal(tuple(node.shape)), Literal(node.dtype)],
                    result=name,
                    comment="a new output array",
                )
            )
            self.fresh.add(name)
            self.notes[node] = "a new device array each call"
        else:
            name = f"s{number}"
            block = self.arena.add(nbytes(node))
            self.statics[name] = self.arena.view(block, node.shape, node.dtype)
            self.notes[node] = f"device block {block} of its own"
        self.names[node] = name
        return name

    def scratch(self, label: str, shape, dtype) -> str:
        """An array for a step's temporary (a permuted copy): a static in a block of its
        own, or (``keep_temporaries=False``) a new array each call."""
        self.temporaries += 1
        name = f"t{self.temporaries}_{label}"
        if self.keep_temporaries:
            count = math.prod(shape) * np.dtype(dtype).itemsize
            self.statics[name] = self.arena.view(self.arena.add(count), shape, dtype)
        else:
            arguments = [Literal(tuple(shape)), Literal(np.dtype(dtype).name)]
            self.calls.append(Call(device.empty, arguments, result=name, comment=label))
        return name

    def flat(self, name: str) -> str:
        """The name of the 1-D view of array ``name`` (static when ``name`` is)."""
        if name in self.flats:
            return self.flats[name]
        flat = f"{name}_flat"
        if name in self.statics:
            self.statics[flat] = device.flat(self.statics[name])
        else:
            self.calls.append(Call(device.flat, [name], result=flat))
        self.flats[name] = flat
        return flat

    # ------------------------------------------------------------------- launches

    def launch(self, kernel: CudaKernel, grid, block, arguments, comment: str, work: int):
        self.kernels.append(kernel)
        if work == 0:  # nothing to compute (the outputs are empty)
            return
        function = Launch(load_cuda_kernel(kernel.source), grid, block, f"{kernel.kind}_kernel")
        self.calls.append(Call(function, arguments, comment=comment))

    def strided(self, direction: str, source: str, out: str, base, sizes, strides, comment):
        """A strided gather (``out[i] = source[base + i . strides]``) or scatter."""
        work = math.prod(sizes)
        if work == 0:
            return
        function = Launch(
            _strided_function(len(sizes), direction),
            blocks_for(work),
            THREADS,
            f"strided_{direction}",
        )
        arguments = [source, out, Literal(int(base))]
        arguments += [Literal(int(s)) for s in sizes] + [Literal(int(s)) for s in strides]
        self.calls.append(Call(function, arguments, comment=comment))

    def fill(self, out: str, node: Node, comment: str) -> None:
        count = math.prod(node.shape)
        if count == 0:
            return
        value = _literal(np.asarray(node.params["value"], dtype=node.dtype))
        if value is None:  # inf, nan: a static the source names
            value = f"fill{self.numbers[node]}"
            self.statics[value] = np.asarray(node.params["value"], dtype=node.dtype).item()
        function = Launch(_strided_function(-1, "fill"), blocks_for(count), THREADS, "fill")
        self.calls.append(Call(function, [out, value, Literal(count)], comment=comment))

    # --------------------------------------------------------------------- groups

    def lower_group(self, index: int, group: FusionGroup) -> None:
        comment = f"group {index}: {group.describe()}".replace("(BLAS)", "(tiled CUDA)")
        if group.kind == "loop":
            kernel = loop_kernel(group)
            work = kernel.launch[1]
            self.launch(kernel, blocks_for(work), THREADS, self.arguments(kernel), comment, work)
        elif group.kind == "row":
            kernel = row_kernel(group, THREADS)
            rows = kernel.launch[1]
            grid = max(1, min(rows, _GRID_LIMIT * 64))
            self.launch(kernel, grid, THREADS, self.arguments(kernel), comment, rows)
        elif group.kind == "matmul":
            self.matmul(group, comment)
        else:
            self.library(index, group.nodes[0])

    def arguments(self, kernel: CudaKernel) -> list:
        """A kernel's arguments: its inputs and outputs flat, then its sizes."""
        inputs = [self.flat(self.name(n)) for n in kernel.inputs]
        outputs = [self.flat(self.home(n)) for n in kernel.outputs]
        return inputs + outputs + [Literal(int(s)) for s in kernel.sizes]

    def matmul(self, group: FusionGroup, comment: str) -> None:
        """A tiled matmul kernel with its epilogue; batch dims broadcast by stride 0."""
        kernel = matmul_kernel(group, MATMUL_TILE)
        head = group.head
        a, b = head.inputs
        *batch_shape, m, n = head.shape
        k = a.shape[-1]
        batch = math.prod(batch_shape)
        tile = kernel.extra["tile"]
        grid = (
            min(-(-n // tile), _GRID_LIMIT),
            min(-(-m // tile), _GRID_LIMIT),
            min(batch, _GRID_LIMIT),
        )
        outputs = [self.flat(self.home(o)) for o in kernel.outputs]
        if batch * m * n and k == 0:  # an empty sum through the epilogue: rare
            raise NotImplementedError("matmul with an empty inner dimension on CUDA")
        if batch * m * n == 0:
            self.launch(kernel, grid, (tile, tile), [], comment, 0)
            return
        a_flat, a_stride = self.operand(a, m, k, tuple(batch_shape))
        b_flat, b_stride = self.operand(b, k, n, tuple(batch_shape))
        arguments = (
            [a_flat, b_flat]
            + [self.flat(self.name(i)) for i in kernel.inputs]
            + outputs
            + [Literal(int(v)) for v in (batch, m, n, k, a_stride, b_stride)]
            + [Literal(int(s)) for s in kernel.sizes]
        )
        self.launch(kernel, grid, (tile, tile), arguments, comment, batch * m * n)

    def operand(self, node: Node, rows: int, cols: int, batch_shape: tuple):
        """A matmul operand's flat array and batch stride (partly broadcast batches are
        expanded into a scratch copy)."""
        name = self.name(node)
        if math.prod(node.shape[:-2]) == 1:
            return self.flat(name), 0
        if tuple(node.shape[:-2]) != batch_shape:
            target = batch_shape + (rows, cols)
            copy = self.scratch("expanded", target, node.dtype)
            self.expand(name, node.shape, copy, target, "a matmul operand's broadcast batch")
            name = copy
        return self.flat(name), rows * cols

    def expand(self, source: str, shape, out: str, target, comment: str) -> None:
        shape = (1,) * (len(target) - len(shape)) + tuple(shape)
        strides = [
            0 if s == 1 and t != 1 else c
            for s, t, c in zip(shape, target, _contiguous_strides(shape))
        ]
        self.strided("gather", self.flat(source), self.flat(out), 0, target, strides, comment)

    # ------------------------------------------------------------- single nodes

    def library(self, index: int, node: Node) -> None:
        comment = f"group {index}: {node.op}"
        if _movement_on_device(node):
            self.movement(node, f"{comment} on the device")
        elif _reduction_on_device(node):
            self.reduction(node, comment)
        elif PRIMITIVES[node.op].kind == "matmul":  # a matmul fusion refused (unusual dtype)
            group = FusionGroup(
                "matmul", [node], node.shape, head=node, inputs=list(node.inputs), outputs=[node]
            )
            self.matmul(group, f"{comment} (tiled CUDA)")
        else:
            arguments = [self.name(i) for i in node.inputs] + [self.home(node)]
            comment += " on the host (no CUDA kernel yet): copies in and out"
            self.calls.append(Call(HostOp(node), arguments, comment=comment))

    def movement(self, node: Node, comment: str) -> None:
        """One movement node: a view (reshape), a strided gather, or fill + scatter."""
        source = node.inputs[0]
        params = node.params
        if node.op == "reshape":
            base = self.name(source)
            name = f"v{self.numbers[node]}"
            shape = tuple(node.shape)
            if base in self.statics:  # a view fixed at compile time
                self.statics[name] = _reshape(self.statics[base], shape)
            else:
                self.calls.append(Call(_reshape, [base, Literal(shape)], result=name))
                if base in self.fresh:
                    self.fresh.add(name)
            self.names[node] = name
            return
        out = self.flat(self.home(node))
        in_strides = _contiguous_strides(source.shape)
        if node.op == "permute":
            strides = [in_strides[a] for a in params["axes"]]
            data = self.flat(self.name(source))
            self.strided("gather", data, out, 0, node.shape, strides, comment)
        elif node.op == "expand":
            self.expand(self.name(source), source.shape, self.home(node), node.shape, comment)
        elif node.op == "slice":
            base = sum(a * s for a, s in zip(params["starts"], in_strides))
            steps = [s * st for s, st in zip(in_strides, params["steps"])]
            data = self.flat(self.name(source))
            self.strided("gather", data, out, base, node.shape, steps, comment)
        else:
            out_strides = _contiguous_strides(node.shape)
            if node.op == "pad":
                self.fill(out, node, comment)
                base = sum(lo * s for (lo, _), s in zip(params["pads"], out_strides))
                parts = [(source, base)]
            else:  # concat
                axis, offset, parts = params["axis"], 0, []
                for part in node.inputs:
                    parts.append((part, offset * out_strides[axis]))
                    offset += part.shape[axis]
            for part, base in parts:
                part_flat = self.flat(self.name(part))
                self.strided("scatter", part_flat, out, base, part.shape, out_strides, comment)

    def reduction(self, node: Node, comment: str) -> None:
        """An accumulating reduction (``sum``, ``max``) over any axes: move the reduced axes
        last (a strided gather into scratch), then a row kernel."""
        source = node.inputs[0]
        axes = tuple(node.params["axes"])
        kept = [d for d in range(len(source.shape)) if d not in axes]
        order = kept + list(axes)
        permuted = tuple(source.shape[d] for d in order)
        graph = Graph("reduce")
        x = graph.add_input(permuted, source.dtype)
        split = len(kept)
        reduced = graph.add_node(
            node.op, [x], {"axes": tuple(range(split, len(permuted))), "keepdims": False}
        )
        group = FusionGroup("row", [reduced], permuted, split, inputs=[x], outputs=[reduced])
        kernel = row_kernel(group, THREADS)
        out = self.flat(self.home(node))
        data = self.flat(self.name(source))
        if order != list(range(len(order))):
            copy = self.scratch("permuted", permuted, source.dtype)
            strides = _contiguous_strides(source.shape)
            moved = [strides[d] for d in order]
            self.strided("gather", data, self.flat(copy), 0, permuted, moved, comment)
            data = self.flat(copy)
        rows = kernel.launch[1]
        arguments = [data, out] + [Literal(int(s)) for s in kernel.sizes]
        grid = max(1, min(rows, _GRID_LIMIT * 64))
        self.launch(kernel, grid, THREADS, arguments, f"{comment} over axes {axes}", rows)

    # ---------------------------------------------------------------------- all

    def run(self) -> tuple[Schedule, list[CudaKernel]]:
        for index, group in enumerate(self.fused.groups):
            self.lower_group(index, group)
        outputs, copies = [], {}
        for node in self.fused.outputs:
            name = self.name(node)
            if node.op != "input" and name not in self.fresh:
                if name not in copies:
                    copies[name] = f"{name}_out"
                    self.calls.append(
                        Call(
                            _copy_out,
                            [name],
                            result=copies[name],
                            comment="an output must not alias reused memory",
                        )
                    )
                name = copies[name]
            outputs.append(name)
        schedule = Schedule(
            self.inputs,
            self.calls,
            outputs,
            self.statics,
            name=self.fused.name,
            device="cuda",
            output_inputs=self._output_inputs(),
            arena=self.arena,
        )
        return schedule, self.kernels

    def _output_inputs(self) -> list[tuple[int, ...]]:
        """For each output, the graph inputs it depends on (see the module docstring)."""
        fused = self.fused
        depends: dict[Node, frozenset] = {n: frozenset([k]) for k, n in enumerate(fused.inputs)}
        for node in fused.nodes:
            if node not in depends:
                depends[node] = frozenset().union(*(depends[i] for i in node.inputs))
        return [tuple(sorted(depends[n])) for n in fused.outputs]


def compile_graph_cuda(graph: Graph, optimize_graph: bool = True) -> Executable:
    """Optimize, fuse, plan memory and generate CUDA kernels for ``graph``.

    ``optimize_graph=False`` skips the pass pipeline and allocates temporaries per call
    instead of keeping them (eager single ops, cached for as long as the process runs).
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
    plan = plan_memory(fused)
    # an eager op's executable stays cached for the process: it keeps no device memory
    lowering = _CudaLowering(fused, plan, keep_temporaries=optimize_graph)
    schedule, kernels = lowering.run()
    memory = describe(plan, fused)
    memory.notes.update(lowering.notes)
    memory.summary += f"; device arena: {lowering.arena.nbytes} bytes"
    stages.append(("memory", memory))
    program = Program(schedule)
    return Executable(
        graph, optimized, stages, [k.source for k in kernels], device="cuda", program=program
    )


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
