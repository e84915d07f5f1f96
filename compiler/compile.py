"""From a traced graph to something that runs: passes, fusion, memory plan, kernels.

``compile_graph(graph)`` is the one entry point the frontend's ``jit`` uses. The executable
it returns is called with one NumPy array per graph input and returns one array per output.

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

import os
from pathlib import Path

import numpy as np

from .codegen.schedule import lower
from .interpret import interpret
from .ir import Graph
from .passes.fuse import fuse
from .passes.layout import transpose_matmul_results
from .passes.memory import describe, plan_memory
from .passes.pipeline import optimize


class Executable:
    """A compiled graph. ``run(arrays) -> arrays``; ``stages``/``kernels`` for inspection.

    ``stages`` is a list of ``(pass_name, graph)`` from the traced graph to the memory
    plan; ``kernels`` the generated kernel sources, in the order they run; ``program`` the
    runtime program (its ``source`` is the generated Python run function).
    """

    def __init__(
        self, traced: Graph, optimized: Graph, stages, kernels=(), device="cpu", program=None
    ):
        self.traced = traced
        self.optimized = optimized
        self.stages = stages
        self.kernels = list(kernels)
        self.device = device
        self.program = program

    def run(self, args: list[np.ndarray]) -> list[np.ndarray]:
        if self.program is None:
            return interpret(self.optimized, args)
        return self.program.run(args)

    def __call__(self, *args):
        return self.run(list(args))

    def profile(self, args: list[np.ndarray], repeats: int = 10) -> str:
        """Median time of every call in the schedule, slowest first, as text.

        >>> print(executable.profile([np.ones(3, np.float32)]))  # doctest: +SKIP
             2.1 us  kernel_serial  group 0: loop kernel over [3]
        """
        if self.program is None:
            return "(interpreted: no schedule to profile)"
        rows = sorted(self.program.profile(args, repeats), key=lambda row: -row[0])
        return "\n".join(f"{seconds * 1e6:10.1f} us  {what}" for seconds, what in rows)


def compile_graph(
    graph: Graph, device: str = "cpu", dump_dir=None, interpret_only: bool = False
) -> Executable:
    """Optimize, fuse, plan memory and generate kernels for ``graph``.

    ``dump_dir`` (a folder, created if needed) receives each stage's text
    (``NN_pass.txt``) and DOT (``NN_pass.dot``) and the kernels (``kernel_K.py``);
    ``interpret_only`` skips code generation and runs the reference interpreter.
    Devices other than ``"cpu"`` are interpreted here.
    """
    optimized, stages = optimize(graph)
    stages = list(stages)
    if interpret_only or device != "cpu":
        executable = Executable(graph, optimized, stages, device=device)
    else:
        laid_out = transpose_matmul_results(optimized).verify()
        if laid_out is not optimized:
            stages.append(("layout", laid_out))
        fused = fuse(laid_out, columns=True)
        fused.verify()
        stages.append(("fuse", fused))
        plan = plan_memory(fused)
        stages.append(("memory", describe(plan, fused)))
        lowered = lower(fused, plan)
        from ..runtime.executor import Program

        program = Program(lowered.schedule)
        executable = Executable(
            graph, optimized, stages, [k.source for k in lowered.kernels], device, program
        )
    if dump_dir:
        dump(executable, dump_dir)
    return executable


def dump(executable: Executable, folder) -> Path:
    """Write an executable's stages, kernels and run function into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k, (name, stage) in enumerate(executable.stages):
        (folder / f"{k:02d}_{name}.txt").write_text(str(stage) + "\n")
        (folder / f"{k:02d}_{name}.dot").write_text(stage.to_dot())
    for k, source in enumerate(executable.kernels):
        (folder / f"kernel_{k}.py").write_text(source)
    if executable.program is not None:
        (folder / "run.py").write_text(executable.program.source)
    return folder


def dump_dir_from_environment(function_name: str):
    """``$KILN_DUMP/<function_name>`` when ``KILN_DUMP`` is set, else None."""
    root = os.environ.get("KILN_DUMP")
    return os.path.join(root, function_name) if root else None
