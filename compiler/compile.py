"""From a traced graph to something that runs: passes, fusion, memory plan, kernels.

``compile_graph(graph, device)`` is the one entry point the frontend's ``jit`` uses; it
chooses the back end (``device="cuda"``: ``compile_cuda.compile_graph_cuda``). Either way
it returns an ``Executable`` whose ``program`` (``runtime/executor.Program``) runs the
lowered schedule; it is called with one array per graph input and returns one array per
output. ``dump`` writes an executable's stages, kernels and run function into a folder
(``KILN_DUMP``). On the CPU it is two halves: ``front_end`` (passes, layout, fusion: what
the kernels are) and ``compile_fused`` (memory plan, lowering, run function: what depends
on the sizes), so that a dynamic dimension's sizes share the first
(``kiln.compiler.specialize``).

>>> from kiln.compiler.ir import Graph
>>> g = Graph("f"); x = g.add_input((3,), "float32")
>>> g.outputs = [g.add_node("mul", [x, x])]
>>> executable = compile_graph(g)
>>> executable.run([np.arange(3, dtype=np.float32)])
[array([0., 1., 4.], dtype=float32)]
>>> [name for name, _ in executable.stages][-2:]
['fuse', 'memory']
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import threading
import time
from pathlib import Path

import numpy as np

from .interpret import interpret
from .ir import Graph


class Executable:
    """A compiled graph. ``run(arrays) -> arrays``; ``stages``/``kernels`` for inspection.

    ``stages`` is a list of ``(pass_name, graph)`` from the traced graph to the memory
    plan; ``kernels`` the generated kernel sources, in the order they run; ``program`` the
    runtime program (its ``source`` is the generated Python run function); ``device`` the
    back end (``"cpu"``: NumPy arrays in and out, ``"cuda"``: device arrays).

    Tiered (``compile_graph(..., tiered=True)``), an executable may be returned while
    LLVM still compiles its new kernels: until they are ready, a call the reference
    interpreter can finish sooner than the compiler runs there (``tiers`` counts the calls
    each tier ran). Reading ``program`` waits for the compiled tier.
    """

    def __init__(
        self, traced: Graph, optimized: Graph, stages, kernels=(), device="cpu", program=None
    ):
        self.traced = traced
        self.optimized = optimized
        self.stages = stages
        self.kernels = list(kernels)
        self.device = device
        self._program = program
        self._lowered = None  # tiered: the lowering whose kernels are still compiling
        self._interpret_seconds = 0.0
        self._compile_started = self._compile_expected = 0.0  # (tiered: when, how long)
        self._finishing = threading.Lock()
        self._finishing_pid = os.getpid()
        self.tiers = {"interpreter": 0, "compiled": 0}
        # per kernel, the native back end's kernel (None: Numba compiled it)
        self.native_kernels: list = [None] * len(self.kernels)

    @property
    def program(self):
        """The runtime program (waiting for kernels still compiling)."""
        self.wait()
        return self._program

    @program.setter
    def program(self, program) -> None:
        self._program = program

    def _finish(self) -> None:
        if self._finishing_pid != os.getpid():
            # a forked child: the parent's thread that held the lock (waiting for LLVM) is
            # not there; its compile jobs start again in the child (runtime/native.py)
            self._finishing, self._finishing_pid = threading.Lock(), os.getpid()
        with self._finishing:
            lowered = self._lowered
            if lowered is None:
                return
            from ..runtime.executor import Program

            lowered.finish()
            self._program = Program(lowered.schedule)
            self._lowered = None

    def wait(self) -> None:
        """Wait for kernels still compiling: every later call runs compiled."""
        if self._lowered is not None:
            self._finish()

    def compiling(self) -> bool:
        """Whether kernels are still compiling (the next call may be interpreted)."""
        return self._lowered is not None and self._lowered.compiling() > 0

    @property
    def kernel_ir(self) -> list[str | None]:
        """Per kernel, the LLVM IR the native back end compiled (None: Numba did)."""
        return [k.ir() if k is not None else None for k in self.native_kernels]

    def run(self, args: list[np.ndarray]) -> list[np.ndarray]:
        lowered = self._lowered
        if lowered is not None:
            # LLVM's threads take about KERNEL_SECONDS a kernel (or what this process
            # measured): interpret while what is left of that expected time is longer
            # than the interpreter would take (estimated; after a call, measured). Past
            # the expected time a call waits (LLVM may be starved by the interpreted
            # calls themselves: an interpreter tier that never ends is a slow program)
            left = self._compile_expected - (time.perf_counter() - self._compile_started)
            if left > self._interpret_seconds and lowered.compiling():
                self.tiers["interpreter"] += 1
                return self._interpret(args)
            self._finish()
        if self._program is None:
            return interpret(self.optimized, args)
        self.tiers["compiled"] += 1
        return self._program.run(args)

    def _interpret(self, args):
        """The interpreted tier: NumPy's floating-point warnings are silenced, as the
        kernels it stands in for raise none."""
        from ..runtime.executor import PROFILERS

        started = time.perf_counter()
        if not PROFILERS:
            with np.errstate(all="ignore"):
                results = interpret(self.optimized, args)
            self._interpret_seconds = time.perf_counter() - started  # (measured, from now)
            return results
        clock: list[float] = []
        with np.errstate(all="ignore"):
            results = interpret(self.optimized, args, clock)
        schedule = _InterpretedSchedule(self.optimized)
        for profiler in PROFILERS:
            profiler.kernel_events(schedule, clock)
        return results

    def __call__(self, *args):
        return self.run(list(args))

    def profile(self, args: list[np.ndarray], repeats: int = 10) -> str:
        """Median time of every call in the schedule, slowest first, as text.

        >>> print(executable.profile([np.ones(3, np.float32)]))  # doctest: +SKIP
             2.1 us  kernel_serial  group 0: loop kernel over [3]
        """
        if self.program is None:  # (waits for kernels still compiling)
            return "(interpreted: no schedule to profile)"
        rows = sorted(self.program.profile(args, repeats), key=lambda row: -row[0])
        return "\n".join(f"{seconds * 1e6:10.1f} us  {what}" for seconds, what in rows)


class _InterpretedSchedule:
    """What a profiler reads of a schedule (``name``, ``calls``), for a run of the
    reference interpreter: one call per node."""

    def __init__(self, graph: Graph):
        from ..runtime.executor import Call
        from .primitives import PRIMITIVES

        self.name = f"{graph.name} (interpreted while kernels compile)"
        self.calls = [
            Call(PRIMITIVES[n.op].impl, [], comment=f"{n.op}, interpreted")
            for n in graph.nodes
            if n.op != "input"
        ]


# seconds LLVM takes for one kernel on this project's machine (the MLP step's 11 kernels:
# 0.33 s), and what the reference interpreter costs: ~1 ns an element an op, a matmul at
# ~30 GFLOP/s, ~3 us an op (tiered executables compare the two, ``Executable.run``)
KERNEL_SECONDS = 0.03
_ELEMENT_SECONDS = 1e-9
_FLOP_SECONDS = 3e-11
_OP_SECONDS = 3e-6


def _compile_threads() -> int:
    from ..runtime.native import get_threads

    return get_threads()


def _kernel_seconds() -> float:
    """LLVM's time for a kernel: as measured in this process, else ``KERNEL_SECONDS``."""
    from ..runtime.native import kernel_seconds

    return kernel_seconds(KERNEL_SECONDS)


def interpret_seconds(graph: Graph) -> float:
    """A rough estimate of one run of ``graph`` through the reference interpreter."""
    total = 0.0
    for node in graph.nodes:
        if node.op in ("input", "const"):
            continue
        total += _OP_SECONDS
        elements = max([math.prod(node.shape)] + [math.prod(i.shape) for i in node.inputs])
        if node.op == "matmul":
            total += 2 * math.prod(node.shape) * node.inputs[0].shape[-1] * _FLOP_SECONDS
        total += elements * _ELEMENT_SECONDS
    return total


def compile_graph(
    graph: Graph,
    device: str = "cpu",
    dump_dir=None,
    interpret_only: bool = False,
    tiered: bool = False,
) -> Executable:
    """Optimize, fuse, plan memory and generate kernels for ``graph`` on ``device``.

    ``device`` is ``"cpu"`` (native CPU kernels) or ``"cuda"`` (``compile_graph_cuda``:
    CUDA kernels, device arrays in and out). ``dump_dir`` (a folder, created if needed)
    receives each stage's text (``NN_pass.txt``) and DOT (``NN_pass.dot``) and the kernels
    (``kernel_K.py``, and ``kernel_K.ll``: the LLVM IR of the native back end);
    ``interpret_only`` skips code generation and runs the reference
    interpreter on host arrays. ``tiered`` returns before LLVM has finished the new CPU
    kernels (see ``Executable``).
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"compile_graph: unknown device {device!r} (expected 'cpu' or 'cuda')")
    with _collector_paused():
        return _compile_graph(graph, device, dump_dir, interpret_only, tiered)


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while a graph compiles. A compile makes tens
    of thousands of objects that live until it ends (graphs of every stage, kernel
    sources, syntax trees, llvmlite's IR); collections during it found little garbage but
    promoted them, and in a large process (a test run) that set off full collections of the
    whole heap: 1.5 s of collection in tests/test_optim17.py, 0.9 s with compiles paused.
    (Most of a kernel's objects are freed by reference counting: ``native_llvm._release``.
    A collector the caller turned off stays off.)"""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _compile_graph(graph, device, dump_dir, interpret_only, tiered) -> Executable:
    if device == "cuda" and not interpret_only:
        from .compile_cuda import compile_graph_cuda  # numba.cuda loads only when needed

        executable = compile_graph_cuda(graph)
        if dump_dir:
            dump(executable, dump_dir)
        return executable
    if interpret_only:
        from .passes.pipeline import optimize

        optimized, stages = optimize(graph)
        executable = Executable(graph, optimized, list(stages), device=device)
        if dump_dir:
            dump(executable, dump_dir)
        return executable
    optimized, stages, fused = front_end(graph)
    return compile_fused(graph, optimized, stages, fused, dump_dir=dump_dir, tiered=tiered)


def front_end(graph: Graph):
    """The size-deciding half of a CPU compile: ``(optimized, stages, fused)``.

    The passes, the layout of matrix products and fusion, which decide what the kernels
    are; ``compile_fused`` does the rest (memory plan, lowering, run function), so a
    caller that already has a fused graph for other sizes of the same graph (a dynamic
    dimension's specializations, ``kiln.compiler.specialize``) runs only that.
    """
    # (the pipeline is imported on the first compile, not with kiln: about a third of
    # kiln's import time, which a script that never compiles should not pay)
    from .passes.fuse import fuse
    from .passes.layout import transpose_matmul_results
    from .passes.pipeline import optimize

    optimized, stages = optimize(graph)
    stages = list(stages)
    laid_out = transpose_matmul_results(optimized).verify()
    if laid_out is not optimized:
        stages.append(("layout", laid_out))
    fused = fuse(laid_out, columns=True)
    fused.verify()
    stages.append(("fuse", fused))
    return optimized, stages, fused


def compile_fused(
    graph: Graph, optimized: Graph, stages, fused, dump_dir=None, tiered: bool = False
) -> Executable:
    """The CPU executable of ``fused`` (a ``FusedGraph`` of ``graph``, made by
    ``front_end`` or instantiated for a size): memory plan, lowering (kernels found in
    the caches or compiled), run function. ``stages`` gets the "memory" stage."""
    from .codegen.schedule import lower
    from .passes.memory import describe, plan_memory

    stages = list(stages)
    # (``graph.donated``, set by kiln.jit: output index -> the input index it updates)
    # (the passes copy the graph; its inputs stay in order, as the caller passes them)
    donated = getattr(graph, "donated", None)
    types = [(n.shape, n.dtype) for n in fused.inputs]
    if donated and types != [(n.shape, n.dtype) for n in graph.inputs]:
        donated = None
    fresh = getattr(graph, "fresh_outputs", None)
    if fresh is not None and len(graph.outputs) != len(fused.outputs):
        fresh = None
    plan = plan_memory(fused, donated, fresh)
    stages.append(("memory", describe(plan, fused)))
    lowered = lower(fused, plan, wait=not tiered or bool(dump_dir))
    executable = Executable(graph, optimized, stages, [k.source for k in lowered.kernels], "cpu")
    executable.native_kernels = [k.native for k in lowered.kernels]
    executable._lowered = lowered
    if lowered.waiting is None:
        executable._finish()
    else:
        executable._interpret_seconds = interpret_seconds(optimized)
        executable._compile_started = time.perf_counter()
        executable._compile_expected = lowered.compiling() * _kernel_seconds() / _compile_threads()
    if dump_dir:
        dump(executable, dump_dir)
    return executable


def dump(executable, folder) -> Path:
    """Write an executable's stages, kernels and run function into ``folder``.

    ``executable`` is any compiled graph with ``stages``, ``kernels`` and ``program``
    (this file's ``Executable`` of either back end, the jit's staged executable).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k, (name, stage) in enumerate(executable.stages):
        (folder / f"{k:02d}_{name}.txt").write_text(str(stage) + "\n")
        (folder / f"{k:02d}_{name}.dot").write_text(stage.to_dot())
    for k, source in enumerate(executable.kernels):
        (folder / f"kernel_{k}.py").write_text(source)
    for k, text in enumerate(getattr(executable, "kernel_ir", ())):
        if text:
            (folder / f"kernel_{k}.ll").write_text(text)
    if executable.program is not None:
        (folder / "run.py").write_text(executable.program.source)
    return folder
