"""Lowering for the CPU: fused groups + memory plan -> a runtime ``Schedule``.

Each group becomes one or two calls: a generated kernel (loop, row, column groups), BLAS
``np.matmul(a, b, out=...)`` followed by its epilogue kernel (matmul groups), or the op's
NumPy implementation (library groups). Values get executor names from their storage:
``in*`` the caller's arrays, ``c*`` constants, ``b*`` precomputed arena views, ``o*``
pooled outputs, ``v*`` locals (views and arrays NumPy allocates).

>>> from kiln.compiler.ir import Graph
>>> from kiln.compiler.passes.fuse import fuse
>>> from kiln.compiler.passes.memory import plan_memory
>>> g = Graph(); x = g.add_input((4,), "float32"); g.outputs = [g.add_node("neg", [x])]
>>> fused = fuse(g)
>>> lowered = lower(fused, plan_memory(fused))
>>> [call.comment for call in lowered.schedule.calls]
['group 0: loop kernel over [4]']
"""

from __future__ import annotations

import functools
import logging
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from ...runtime import native
from ...runtime.buffers import Arena, OutputPool
from ...runtime.executor import Call, InputSpec, Literal, Schedule
from ...runtime.kernel_cache import load_kernel
from ..ir import Node
from ..passes.fuse import FusedGraph, FusionGroup
from ..passes.memory import MemoryPlan
from ..primitives import PRIMITIVES, has_property
from .cpu import PARALLEL_THRESHOLD, KernelSource, loop_kernel, row_kernel
from .cpu_column import column_kernel
from .native import Unsupported, describe

_log = logging.getLogger("kiln.native")


@dataclass
class Lowered:
    """A lowered graph. With ``lower(..., wait=False)`` its new native kernels may
    still be compiling (``waiting``): ``finish()`` links them into the schedule's calls
    (waiting for LLVM where it must); until then the schedule cannot run."""

    schedule: Schedule
    kernels: list[KernelSource]
    waiting: object = None  # the _Lowering whose kernels are compiling

    def compiling(self) -> int:
        """How many kernels LLVM is still compiling (0: ``finish`` will not wait)."""
        if self.waiting is None:
            return 0
        return sum(not job.done() for _, job in self.waiting.compiling.values())

    def finish(self) -> None:
        if self.waiting is not None:
            self.waiting.build_pending()
            self.waiting = None


def _numpy_function(node: Node):
    """The op's NumPy implementation with its params bound, returning ``node.dtype``.

    Ops that make new arrays return them C-contiguous (kernels rely on it); ``view`` ops
    (reshape, permute, ...) return NumPy's view.
    """
    impl = PRIMITIVES[node.op].impl
    params = dict(node.params)
    dtype = np.dtype(node.dtype)

    if has_property(node, "view"):

        def run(*arrays):
            return np.asarray(impl(*arrays, **params)).astype(dtype, copy=False)
    else:

        def run(*arrays):
            # (np.ascontiguousarray would turn 0-d results into 1-d ones; NumPy's
            # floating-point warnings are silenced: kernels and PyTorch raise none)
            with np.errstate(all="ignore"):
                return np.asarray(impl(*arrays, **params), dtype=dtype, order="C")

    run.__name__ = f"numpy_{node.op}"
    return run


def _signature(kernel: KernelSource, strided) -> tuple:
    """The Numba argument types the executor will call ``kernel`` with."""
    import numba
    from numba import types

    def array(node: Node, layout: str):
        return types.Array(numba.from_dtype(np.dtype(node.dtype)), len(node.shape), layout)

    arguments = [array(n, "A" if n in strided else "C") for n in kernel.inputs]
    arguments += [array(n, "C") for n in kernel.outputs]
    return tuple(arguments) + (types.int64,) * len(kernel.sizes)


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` if C-contiguous, else a C-contiguous copy (0-d stays 0-d)."""
    return np.asarray(array, order="C")


def _writing_out(node: Node):
    """The op's NumPy implementation (a ``writes_out`` op) with its params bound: called
    with ``out=``, it writes the result into a planned buffer."""
    impl = PRIMITIVES[node.op].impl
    return functools.partial(impl, **node.params) if node.params else impl


def backend() -> str:
    """The CPU kernels' compiler: ``"native"`` (LLVM IR through llvmlite, the default) or
    ``"numba"`` (``KILN_CPU_BACKEND=numba``)."""
    return os.environ.get("KILN_CPU_BACKEND", "native")


def _native_facts(kernel: KernelSource, strided):
    """The native kernel's name and calling facts (``native.describe``: no parsing)."""
    # (a C-contiguous argument is only read through ``reshape``: its rank does not matter,
    # and leaving it out shares one kernel between graphs that differ only in sizes)
    signature = [
        (n.dtype, len(n.shape), "A") if n in strided else (n.dtype, 0, "C") for n in kernel.inputs
    ]
    signature += [(n.dtype, 0, "C") for n in kernel.outputs]
    quick = _work(kernel) <= native.QUICK_WORK
    # (called through the runtime's entry shared by its argument layouts: ``_layouts``)
    return describe(kernel.source, "kernel", tuple(signature), len(kernel.sizes), quick, False)


def _layouts(facts) -> str:
    """The layout letters of a kernel's array arguments (its shared entry's)."""
    return "".join(layout for _, _, layout in facts.signature)


def _work(kernel: KernelSource) -> int:
    """How many elements a call of ``kernel`` goes over: its loop's (the product of its
    sizes) or its largest array's, whichever is more."""
    arrays = (math.prod(n.shape) for n in (*kernel.inputs, *kernel.outputs))
    return max([math.prod(kernel.sizes), *arrays])


def _ir_of(facts) -> tuple[str, bool]:
    """(for ``native.bundle_found``) A found kernel's IR and interleave flag, as
    ``native_call`` hands a new one to ``compile_later``."""
    compiled = facts.compile()
    return compiled.ir, compiled.reduces


def _numba_function(kernel: KernelSource, strided):
    """The kernel compiled by Numba for the executor's argument types (raises
    ``NumbaError`` where Numba cannot).

    Without ``reassoc``: Numba's flags are per function, and on the elementwise math
    around a reduction LLVM used it to turn ``0.5*v - v`` at ``v = -inf`` into +inf
    instead of NaN (the native back end puts it on the accumulating adds only). Numba's
    reductions then do not vectorize: it is the fallback."""
    source = kernel.source.replace('fastmath={"contract", "reassoc"}', 'fastmath={"contract"}')
    function = load_kernel(source, kernel.function_name)
    function.compile(_signature(kernel, strided))
    return function


def _threaded(kernel: KernelSource) -> bool:
    """Is the work large enough to split across threads?"""
    return math.prod(kernel.sizes) >= PARALLEL_THRESHOLD


def _bind(call: Call, native_kernel, kernel: KernelSource) -> None:
    """Point ``call`` at the native kernel: its thread-pool runner for large work, else
    its builtin entry (no Python in between)."""
    if _threaded(kernel) and native_kernel.chunked:
        call.function = native_kernel.parallel
    else:
        call.function = native_kernel.entry


class _Lowering:
    def __init__(self, fused: FusedGraph, plan: MemoryPlan):
        self.fused = fused
        self.plan = plan
        self.numbers = {n: k for k, n in enumerate(fused.nodes)}
        self.arena = Arena(plan.block_sizes)
        self.statics: dict[str, object] = {}
        self.pools: dict[str, OutputPool] = {}
        self.donated: dict[str, str] = {}  # pooled output -> the input whose array it takes
        self.names: dict[Node, str] = {}
        self.calls: list[Call] = []
        self.kernels: list[KernelSource] = []
        # calls of kernels being compiled: (call, started, kernel, strided inputs)
        self.pending: list = []
        self.compiling: dict = {}  # symbol -> (NativeSource, Future of its object code)
        self.found: list = []  # (symbol, its IR on demand) of native kernels found
        self.contiguous: set[Node] = set()
        self.inputs = []
        for k, node in enumerate(fused.inputs):
            self.names[node] = f"in{k}"
            self.inputs.append(InputSpec(f"in{k}", node.shape, node.dtype, node.name or ""))
            self.contiguous.add(node)

    def name(self, node: Node) -> str:
        if node in self.names:
            return self.names[node]
        number = self.numbers[node]
        where = self.plan.storage[node]
        if where.kind == "const":
            name = f"c{number}"
            self.statics[name] = np.asarray(node.params["value"], dtype=node.dtype, order="C")
        elif where.kind == "arena":
            name = f"b{number}"
            self.statics[name] = self.arena.view(where.block, node.shape, node.dtype)
        elif where.kind == "pool":
            name = f"o{number}"
            self.pools[name] = OutputPool(node.shape, node.dtype)
            if where.donated is not None:
                self.donated[name] = self.name(where.donated)
        else:
            name = f"v{number}"
        self.names[node] = name
        if where.kind in ("const", "arena", "pool", "fresh"):
            self.contiguous.add(node)
        return name

    def shared_name(self, head: Node, target: Node) -> None:
        """A matmul result that lives in its epilogue's output: the same array."""
        self.names[head] = self.name(target)
        self.contiguous.add(head)

    def kernel_argument(self, node: Node) -> str:
        """The name of ``node`` as a kernel argument (made contiguous if it may not be)."""
        name = self.name(node)
        if node in self.contiguous:
            return name
        copy = f"{name}_c"
        self.calls.append(
            Call(_contiguous, [name], result=copy, comment="kernels read contiguous memory")
        )
        return copy

    def strided(self, group: FusionGroup) -> frozenset:
        """Inputs of a loop kernel that may not be contiguous (read through strides)."""
        return frozenset(
            i for i in group.inputs if i in self.plan.storage and i not in self.contiguous
        )

    def kernel_call(
        self, kernel: KernelSource, comment: str, strided=frozenset(), nodes=None
    ) -> None:
        """Call ``kernel``, compiled now: by the native back end (``native.py``), else
        by Numba; if Numba cannot compile it either, run ``nodes`` (the kernel's nodes)
        with NumPy instead, with a warning: a gap in code generation costs speed, never a
        failure."""
        arguments = [
            self.name(n) if n in strided else self.kernel_argument(n) for n in kernel.inputs
        ]
        arguments += [self.name(n) for n in kernel.outputs]
        arguments += [Literal(int(s)) for s in kernel.sizes]
        if backend() == "native" and self.native_call(kernel, arguments, comment, strided):
            return
        from numba.core.errors import NumbaError  # (Numba loads only when it is needed)

        try:
            function = _numba_function(kernel, strided)
        except NumbaError as error:
            warnings.warn(
                f"kiln: {comment} runs with NumPy: Numba could not compile its "
                f"kernel ({type(error).__name__}: {str(error).splitlines()[0]})",
                RuntimeWarning,
                stacklevel=2,
            )
            self.numpy_fallback(nodes, kernel.outputs, comment)
            return
        self.calls.append(Call(function, arguments, comment=comment))
        self.kernels.append(kernel)

    def native_call(self, kernel: KernelSource, arguments, comment: str, strided) -> bool:
        """Call ``kernel`` compiled by the native back end: found in this process or the
        disk cache, or compiled to IR now and handed to LLVM's threads, linked at the end
        of lowering (``build_pending``). False when the source is outside the native
        compiler's language."""
        facts = _native_facts(kernel, strided)
        call = Call(None, arguments, comment=comment)
        layouts = _layouts(facts)
        found = native.find(facts.symbol, facts.arrays, facts.sizes, layouts)
        if found is not None:
            _bind(call, found, kernel)
            make_ir = functools.partial(_ir_of, facts)
            self.found.append((facts.symbol, make_ir, (layouts, facts.sizes)))
        else:
            started = self.compiling.get(facts.symbol)  # (a kernel used twice here)
            if started is None:
                try:
                    compiled = facts.compile()
                except Unsupported as error:
                    _log.debug("kiln: native back end: %s; Numba compiles this kernel", error)
                    return False
                # LLVM works on it on other threads while the next kernel's IR is written
                job = native.compile_later(
                    compiled.ir,
                    compiled.reduces,
                    compiled.symbol,
                    compiled.parallel,
                    (layouts, compiled.sizes),
                )
                started = (compiled, job)
                self.compiling[facts.symbol] = started
            self.pending.append((call, started, kernel, strided))
        kernel.native = facts
        self.calls.append(call)
        self.kernels.append(kernel)
        return True

    def build_pending(self) -> None:
        """Link the new native kernels (compiling since ``native_call``) and fill in
        their calls."""
        built = native.link_compiled(
            (symbol, job, compiled.arrays, compiled.sizes, compiled.parallel, job.entry[0])
            for symbol, (compiled, job) in self.compiling.items()
        )
        kernels = dict(zip(self.compiling, built))
        for call, (compiled, _), kernel, strided in self.pending:
            native_kernel = kernels[compiled.symbol]
            if isinstance(native_kernel, Exception):  # LLVM refused the IR: a bug of ours
                warnings.warn(
                    f"kiln: {call.comment}: the native back end failed "
                    f"({type(native_kernel).__name__}: {native_kernel}); Numba compiles it",
                    RuntimeWarning,
                    stacklevel=2,
                )
                call.function = _numba_function(kernel, strided)
                continue
            _bind(call, native_kernel, kernel)
        self.pending = []
        self.compiling = {}

    def numpy_fallback(self, nodes, outputs, comment: str) -> None:
        """Run ``nodes`` one by one with the op table's NumPy code; copy the group's
        outputs into their planned buffers."""
        local: dict[Node, str] = {}
        for node in nodes:
            arguments = [local.get(i) or self.name(i) for i in node.inputs]
            local[node] = f"t{self.numbers[node]}"
            self.calls.append(
                Call(
                    _numpy_function(node),
                    arguments,
                    result=local[node],
                    comment=f"{comment} (NumPy fallback)",
                )
            )
        for node in outputs:
            self.calls.append(Call(np.copyto, [self.name(node), local[node]]))

    def lower_group(self, index: int, group: FusionGroup) -> None:
        comment = f"group {index}: {group.describe()}"
        if group.kind == "loop":
            strided = self.strided(group)
            kernel = loop_kernel(group, strided=strided, in_place=self.in_place(group))
            self.kernel_call(kernel, comment, strided, group.nodes)
        elif group.kind == "row":
            self.kernel_call(row_kernel(group), comment, nodes=group.nodes)
        elif group.kind == "column":
            self.kernel_call(column_kernel(group), comment, nodes=group.nodes)
        elif group.kind == "matmul":
            head = group.head
            where = self.plan.storage[head]
            target = next(
                (v for v in group.outputs if self.plan.storage[v].in_place_of is head), None
            )
            if target is not None and where.kind in ("arena", "pool"):
                self.shared_name(head, target)
            a, b = (self.name(i) for i in head.inputs)
            self.calls.append(
                Call(
                    np.matmul,
                    [a, b],
                    keywords={"out": self.name(head)},
                    comment=f"group {index}: matmul (BLAS)",
                )
            )
            self.contiguous.add(head)
            epilogue = [n for n in group.nodes if n is not head]
            if epilogue:
                strided = self.strided(group)
                kernel = loop_kernel(group, epilogue, strided, self.in_place(group))
                self.kernel_call(kernel, f"group {index}: epilogue", strided, epilogue)
        else:
            self.lower_library(index, group.nodes[0])

    def in_place(self, group: FusionGroup) -> dict:
        """The group's outputs the memory plan writes over one of its inputs: output ->
        that input (``loop_kernel`` reads it through the output's array)."""
        found = {}
        for out in group.outputs:
            where = self.plan.storage.get(out)
            if where is not None and where.in_place_of is not None:
                found[out] = where.in_place_of
        return found

    def lower_library(self, index: int, node: Node) -> None:
        where = self.plan.storage[node]
        arguments = [self.name(i) for i in node.inputs]
        comment = f"group {index}: {node.op}"
        if where.kind in ("arena", "pool"):  # (``writes_out``) NumPy writes into our buffer
            self.calls.append(
                Call(
                    _writing_out(node),
                    arguments,
                    keywords={"out": self.name(node)},
                    comment=comment,
                )
            )
        else:
            self.calls.append(
                Call(_numpy_function(node), arguments, result=self.name(node), comment=comment)
            )
            if (
                where.kind == "view"
                and has_property(node, "keeps_order")  # a contiguous array's reshape is too
                and node.inputs[0] in self.contiguous
            ):
                self.contiguous.add(node)

    def run(self, wait: bool = True) -> Lowered:
        for index, group in enumerate(self.fused.groups):
            self.lower_group(index, group)
        if self.found:
            native.bundle_found(self.found)
        outputs = []
        for node in self.fused.outputs:
            name = self.name(node)
            if node in self.plan.copy_out:
                copy = f"{name}_out"
                self.calls.append(
                    Call(
                        np.array,
                        [name],
                        result=copy,
                        comment="an output must not alias reused memory",
                    )
                )
                name = copy
            outputs.append(name)
        schedule = Schedule(
            self.inputs,
            self.calls,
            outputs,
            self.statics,
            self.pools,
            self.fused.name,
            donated=self.donated,
        )
        lowered = Lowered(schedule, self.kernels, self if self.pending else None)
        if wait:
            lowered.finish()
        return lowered


def lower(fused: FusedGraph, plan: MemoryPlan, wait: bool = True) -> Lowered:
    """Build the runtime schedule (and generate and load the kernels) for ``fused``.

    ``wait=False`` returns while new kernels are still compiling on LLVM's threads: the
    caller runs ``finish()`` before the schedule."""
    return _Lowering(fused, plan).run(wait)
