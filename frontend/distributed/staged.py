"""Collectives inside compiled functions: the step is split into stages around them.

kiln's IR is purely functional and its executables run without calling back into Python,
so an ``all_reduce`` cannot be a node in the middle of one compiled graph. Instead, while
``kiln.distributed.jit`` traces a function, ``all_reduce(t)`` is recorded as a *boundary*:

* the value to reduce stays a node of the graph (``pre``);
* the reduced value becomes a fresh graph input (``post``) that later nodes read;

and after tracing the graph is cut into stages: stage 0 computes everything that does not
depend on a reduced value (forward and backward of a training step), the all-reduces run
on its results, stage 1 computes what reads them (gradient averaging, the optimizer
update), and so on when collectives depend on earlier ones. Each stage is compiled with
``compile_graph`` like any jitted function; values that cross a boundary are passed on
as arrays. To the caller the staged executable looks like one compiled function:

>>> @kiln.distributed.jit                                  # doctest: +SKIP
... def step(x, y):
...     optimizer.zero_grad()
...     loss_fn(ddp(x), y).backward()
...     ddp.sync_gradients()   # bucketed all-reduce: the boundary between stage 0 and 1
...     optimizer.step()
...     return loss
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from kiln.compiler.compile import compile_graph
from kiln.compiler.errors import TraceError
from kiln.compiler.ir import Graph, Node

from ..dispatch import current_trace
from ..jit import JitFunction
from ..tensor import Tensor
from ..tracing import TracerTensor


@dataclass(eq=False)
class Collective:
    """One recorded all-reduce: ``post`` (a graph input) receives ``reduce(pre)``."""

    pre: Node
    post: Node
    op: str


class _Staging(threading.local):
    depth = 0  # > 0 while kiln.distributed.jit traces a function


_staging = _Staging()


def record_collective(tensor: Tensor, kind: str, op) -> TracerTensor:
    """Under tracing: record ``kind(tensor)`` and return the tracer of its result."""
    trace = current_trace()
    if _staging.depth == 0 and not trace.allows_collectives:
        raise TraceError(
            f"{kind} was called inside kiln.trace: a bare graph cannot pause for "
            "communication. Compile the function with kiln.jit (it splits the step into "
            "stages around the collective), or call it outside the traced function."
        )
    collectives = trace.collectives
    pre = trace.node_of(tensor)
    post = trace.graph.add_input(pre.shape, pre.dtype, name=f"{kind}_{len(collectives)}")
    # The jit fetches one array per graph input before running; a broadcast zero costs
    # nothing and is never read (the staged executable fills in the reduced value).
    placeholder = np.broadcast_to(np.zeros((), dtype=pre.dtype), pre.shape)
    trace.live_scalars.append((lambda: placeholder, post))
    collectives.append(Collective(pre, post, op))
    return TracerTensor(trace, post)


# ------------------------------------------------------------------------------ splitting


@dataclass
class Stage:
    graph: Graph
    inputs: list  # nodes of the original graph whose values feed this stage, in order
    outputs: list  # nodes of the original graph this stage computes for later use
    collectives: list = field(default_factory=list)  # run after this stage


def split(graph: Graph, collectives: list[Collective]) -> list[Stage]:
    """Cut ``graph`` at the collectives: a list of stages to run in order."""
    post_of = {c.post: c for c in collectives}
    level: dict[Node, int] = {}
    for node in graph.nodes:
        if node in post_of:
            level[node] = level[post_of[node].pre] + 1
        elif node.op in ("input", "const"):
            level[node] = 0  # inputs are available to every stage; consts are copied
        else:
            level[node] = max((level[i] for i in node.inputs), default=0)
    count = 1 + max([level[c.post] for c in collectives], default=0)

    # which computed values each later stage (or the caller) needs
    needed_later: set[Node] = set(graph.outputs)
    for c in collectives:
        needed_later.add(c.pre)
    for node in graph.nodes:
        if node.op not in ("input", "const"):
            for i in node.inputs:
                if level[i] < level[node]:
                    needed_later.add(i)

    stages = []
    for s in range(count):
        g = Graph(f"{graph.name}_stage{s}")
        mapping: dict[Node, Node] = {}
        inputs, outputs = [], []
        for node in graph.nodes:
            if node.op in ("input", "const") or level[node] != s:
                continue
            args = []
            for i in node.inputs:
                if i not in mapping:
                    if i.op == "const":
                        mapping[i] = g.add_const(i.params["value"], i.source)
                    else:
                        mapping[i] = g.add_input(i.shape, i.dtype, name=i.name)
                        inputs.append(i)
                args.append(mapping[i])
            mapping[node] = g.add_node(node.op, args, dict(node.params), node.source)
            if node in needed_later:
                outputs.append(node)
        g.outputs = [mapping[n] for n in outputs]
        stages.append(Stage(g, inputs, outputs))
    for c in collectives:
        stages[level[c.pre]].collectives.append(c)
    return stages


def _value(env: dict, node: Node):
    return env[node] if node in env else np.asarray(node.params["value"])


def _run_collectives(collectives, env) -> None:
    """All-reduce every collective of one round: started together, then awaited."""
    from .process_group import ReduceOp, _comm, _group, _mpi_op

    comm = _comm()
    requests, buffers = [], []
    for c in collectives:
        buffer = np.array(_value(env, c.pre), order="C", copy=True)
        requests.append(comm.Iallreduce(_group.MPI.IN_PLACE, buffer, op=_mpi_op(c.op)))
        buffers.append(buffer)
    _group.MPI.Request.Waitall(requests)
    for c, buffer in zip(collectives, buffers):
        if c.op == ReduceOp.AVG:
            buffer = (
                buffer / comm.Get_size()
                if buffer.dtype.kind == "f"
                else (buffer // comm.Get_size())
            )
        env[c.post] = buffer


class StagedExecutable:
    """Compiled stages with all-reduces between them; ``run(arrays) -> arrays`` like the
    executable ``compile_graph`` returns."""

    program = None  # no single run function: ``kiln.compiler.compile.dump`` skips run.py

    def __init__(self, graph: Graph, collectives: list[Collective], device: str = "cpu"):
        self.traced = graph
        self.stages_plan = split(graph, collectives)
        self.executables = [
            compile_graph(s.graph, device=device) if s.outputs else None for s in self.stages_plan
        ]
        self.stages, self.kernels = [], []
        for k, exe in enumerate(self.executables):
            if exe is not None:
                self.stages += [(f"stage{k}_{name}", g) for name, g in exe.stages]
                self.kernels += exe.kernels
        last = next((e for e in reversed(self.executables) if e is not None), None)
        self.optimized = last.optimized if last is not None else graph

    @property
    def kernel_ir(self) -> list:
        """Per kernel (in ``kernels``' order), its LLVM IR or None."""
        return [text for exe in self.executables if exe is not None for text in exe.kernel_ir]

    def run(self, arrays: list) -> list:
        env = dict(zip(self.traced.inputs, arrays))
        for stage, exe in zip(self.stages_plan, self.executables):
            if exe is not None:
                results = exe.run([env[n] for n in stage.inputs])
                env.update(zip(stage.outputs, results))
            if stage.collectives:
                _run_collectives(stage.collectives, env)
        return [_value(env, n) for n in self.traced.outputs]

    def __call__(self, *arrays):
        return self.run(list(arrays))


class DistributedJitFunction(JitFunction):
    """``kiln.jit`` that also accepts collectives (``all_reduce``, ``sync_gradients``)."""

    def trace_and_compile(self, args, kwargs, leaves):
        _staging.depth += 1
        try:
            return super().trace_and_compile(args, kwargs, leaves)
        finally:
            _staging.depth -= 1

    def _compile_graph(self, trace, graph):
        collectives = trace.collectives
        if collectives:
            return StagedExecutable(graph, collectives, trace.device)
        return super()._compile_graph(trace, graph)


def jit(fn=None, *, static_argnums=(), static_argnames=()):
    """``kiln.jit`` for steps that communicate: compiles the parts between collectives.

    >>> step = kiln.distributed.jit(train_step)              # doctest: +SKIP
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)

    def wrap(f):
        return DistributedJitFunction(f, static_argnums, static_argnames)

    return wrap if fn is None else wrap(fn)
