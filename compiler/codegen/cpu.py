"""CPU code generation: one fused group -> the Python source of one ``numba.njit`` kernel.

The source is meant to be read. A loop kernel for ``relu(x + b)`` over ``f32[64, 16]``
with ``b: f32[16]`` looks like this (sizes are arguments, so kernels are shared between
graphs that differ only in sizes)::

    @njit(parallel=True, fastmath={"contract"}, cache=True)
    def kernel(in0, in1, out0, n0, n1):
        a0 = in0.reshape((n0, n1))
        a1 = in1.reshape((1, n1))
        r0 = out0.reshape((n0, n1))
        for i0 in prange(n0):
            for i1 in range(n1):
                x0 = a0[i0, i1]
                x1 = a1[0, i1]
                v0 = np.float32(x0 + x1)
                v1 = np.float32(v0 if (v0 > K0) | (v0 != v0) else K0)
                r0[i0, i1] = v1

Broadcasting is index arithmetic over *coalesced* dimensions: adjacent dimensions that every
array either spans or broadcasts together are merged first, so the common cases become one
flat loop (same-shape inputs) or a rows x columns loop (a bias along the last axis).

A row kernel (softmax, layernorm, ``sum(x * y)``) runs ``prange`` over rows; inside, one
loop over the row per *stage* (a stage ends where a reduction's result is needed), row
values needed by a later stage are kept in a small per-row scratch array, and per-row
scalars (the max, the sum, ``1/sqrt(var + eps)``) are plain local variables.

Column kernels (reductions over the leading axes) are in ``cpu_column.py``; the scalar
expressions and the module text in ``kernel_module.py``.

Fast-math flags keep NaN, Inf and signed-zero semantics: only ``contract`` (FMA); row
kernels add ``reassoc`` so reductions vectorize. Never ``nnan``/``ninf``/``nsz``, and not
``arcp``/``afn`` either: under them LLVM turns ``1 / sqrt(x)`` into a reciprocal-sqrt
estimate (NaN at 0 and inf) and ``x ** 1.5`` into ``x * sqrt(x)`` (NaN at -inf); the
speed they gave is kept by hand (``kernel_module._power_expression``). float32 ``exp``,
``log``, ``tanh``, ``erf`` use the vectorizable versions in ``fastmath.py`` (the op
table's ``cpu:float32`` expressions). Reductions come from the op table too: an
accumulator starts at the record's ``identity`` and folds items with its ``combine``
(``sum``), or a whole row goes through the record's CPU row expression (``max``:
``kernel_helpers.row_max``, as a NaN-propagating max loop does not vectorize).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir import Node
from ..passes.fuse import FusionGroup, padded, row_form
from ..primitives import PRIMITIVES, has_property, is_accumulating_reduction
from .kernel_module import KernelModule as _Module
from .kernel_module import array_inputs as _array_inputs
from .kernel_module import (  # noqa: F401  (re-exported: codegen/cuda.py imports them here)
    describe_nodes,
    identity_literal,
    is_scalar_const,
    literal,
    row_reduction_template,
    scalar_expression,
)

# (see the module docstring: which flags, and why not more; tests/test_edge_values.py)
LOOP_FLAGS = ("contract",)
ROW_FLAGS = ("contract", "reassoc")
# Below this many elements a kernel runs single-threaded (``kernel_serial``). The native
# back end's pool is Python threads handing the GIL around its ctypes calls: a threaded
# call costs ~50-70 microseconds more than a serial one, and measured on this project's
# 2-core machine (2026-12-02) the serial kernel was faster up to 2^18 elements (an
# elementwise x * 2 + y: 53 vs 120 us at 2^17, 67-88 vs 99-116 us at 2^18), even at
# 2^19, and slower from 2^20 (244-281 vs 184-235 us); row reductions alike. (With Numba's
# OpenMP layer, the crossover was ~2^17.)
PARALLEL_THRESHOLD = 1 << 19
# Row groups with fewer rows than this (and enough work) split each row across threads.
SPLIT_ROWS = 4
SPLIT_CHUNKS = 64
# Row sums longer than this accumulate float32 in float64 (NumPy sums pairwise; a long
# float32 running sum would drift far from it): reductions whose combine "rounds".
LONG_ROW = 1 << 14


def accumulator_dtype(node: Node, length: int) -> str:
    """The dtype in which ``node`` (an accumulating reduction) accumulates ``length``
    items: float64 for a long float32 reduction whose combine rounds (a sum)."""
    if PRIMITIVES[node.op].has("rounds") and length > LONG_ROW and node.dtype == "float32":
        return "float64"
    return node.dtype


def reads_whole_rows(node: Node) -> bool:
    """Whether the CPU computes reduction ``node`` from whole rows with the op table's row
    expression (``row_max``) instead of accumulating it element by element."""
    return is_accumulating_reduction(node) and row_reduction_template(node) is not None


@dataclass
class KernelSource:
    """A generated kernel: its source and how to call it.

    ``inputs``/``outputs`` are the graph values passed as arrays, in argument order;
    ``sizes`` are the integer arguments that follow them. The module defines ``kernel``
    (threads over the outer loop) and ``kernel_serial``; ``function_name`` picks one.
    """

    kind: str
    source: str
    inputs: list[Node]
    outputs: list[Node]
    sizes: list[int]
    native: object = None  # the native back end's kernel (``native.NativeKernelSource``)

    @property
    def function_name(self) -> str:
        work = math.prod(self.sizes)
        return "kernel" if work >= PARALLEL_THRESHOLD else "kernel_serial"


# ------------------------------------------------------------------------- loop kernels


def coalesce(shape, operand_shapes) -> tuple[list[int], list[tuple[bool, ...]]]:
    """Merge adjacent loop dimensions that every operand spans or broadcasts alike.

    Returns the coalesced sizes and, per operand, which coalesced dims it spans.

    >>> coalesce((4, 5, 6), [(4, 5, 6), (6,)])
    ([20, 6], [(True, True), (False, True)])
    """
    ndim = len(shape)
    spans = [[d != 1 for d in padded(s, ndim)] for s in operand_shapes]
    sizes: list[int] = []
    merged: list[list[bool]] = [[] for _ in operand_shapes]
    for axis in range(ndim):
        if shape[axis] == 1:
            continue
        if sizes and all(m[-1] == sp[axis] for m, sp in zip(merged, spans)):
            sizes[-1] *= shape[axis]
            continue
        sizes.append(shape[axis])
        for m, sp in zip(merged, spans):
            m.append(sp[axis])
    if not sizes:
        sizes = [1]
        merged = [[True] for _ in operand_shapes]
    return sizes, [tuple(m) for m in merged]


def _fit_ndim(shape, ndim) -> tuple:
    """Drop leading ones of a value with more dims than the loop (reshape aliases)."""
    shape = tuple(shape)
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    return shape


def _strided_index(array_shape, index: list[str]) -> str:
    """Index expression for an array read in its own shape (broadcast dims read at 0)."""
    extra = len(array_shape) - len(index)
    parts = [
        "0" if axis < extra or d == 1 else index[axis - extra] for axis, d in enumerate(array_shape)
    ]
    return ", ".join(parts) if parts else "()"


def loop_kernel(group: FusionGroup, nodes=None, strided=frozenset(), in_place=None) -> KernelSource:
    """Source of the loop kernel for a loop group, or a matmul group's epilogue.

    ``nodes`` are the nodes computed (default: all of the group); every other value they
    read (a matmul's result too) is an array argument or an inlined scalar constant.
    ``strided`` are inputs that may not be contiguous (a transposed view): the kernel reads
    them through their strides, in the loop's own dimensions, instead of reshaping them.
    ``in_place`` maps an output to the input whose memory the plan gives it (the same
    array at run time): the kernel reads that input through the output's array, so LLVM
    sees one pointer read and written at the same index and vectorizes the loop (with two
    pointers it checks for overlap at run time, finds it, and runs a scalar loop: 24x
    slower on a 2^17-element epilogue).
    """
    nodes = list(group.nodes if nodes is None else nodes)
    members = set(nodes)
    module = _Module(describe_nodes(nodes))
    sources = [i for n in nodes for i in n.inputs if i not in members]
    arrays = _array_inputs(module, list(dict.fromkeys(sources)))
    outputs = [n for n in group.outputs if n in members]
    shape = tuple(group.shape)
    shapes = [_fit_ndim(a.shape, len(shape)) for a in arrays]
    is_strided = [a in strided for a in arrays]
    if any(is_strided):  # dimensions stay as they are: a strided array cannot be reshaped
        sizes = list(shape) or [1]
        spans = [tuple(d != 1 for d in padded(s, len(sizes))) for s in shapes]
    else:
        sizes, spans = coalesce(shape, shapes)
    size_names = [f"n{k}" for k in range(len(sizes))]
    full = "(" + ", ".join(size_names) + ("," if len(sizes) == 1 else "") + ")"
    index = [f"i{k}" for k in range(len(sizes))]
    names: dict[Node, str] = dict(module.constants)
    overwritten = {}  # input position -> the output position written over it
    for j, out in enumerate(outputs):
        source = (in_place or {}).get(out)
        if source in arrays:
            k = arrays.index(source)
            if not is_strided[k] and all(spans[k]) and source.dtype == out.dtype:
                overwritten.setdefault(k, j)
    # views of the arguments in the coalesced shape
    for k, span in enumerate(spans):
        if is_strided[k]:
            module.emit(1, f"a{k} = in{k}")
            continue
        if k in overwritten:  # (the same memory as the output's: read through it)
            module.emit(1, f"a{k} = out{overwritten[k]}.reshape({full})")
            continue
        dims = [n if s else "1" for n, s in zip(size_names, span)]
        module.emit(1, f"a{k} = in{k}.reshape(({', '.join(dims)}{',' if len(dims) == 1 else ''}))")
    for k in range(len(outputs)):
        module.emit(1, f"r{k} = out{k}.reshape({full})")
    loop_body = []
    for k, (array, span) in enumerate(zip(arrays, spans)):
        if is_strided[k]:
            where = _strided_index(array.shape, index)
        else:
            where = ", ".join(i if s else "0" for i, s in zip(index, span))
        if not any(span):  # one element: load once, outside the loop
            module.emit(1, f"x{k} = a{k}[{where}]")
        else:
            loop_body.append(f"x{k} = a{k}[{where}]")
        names[array] = f"x{k}"
    for k, node in enumerate(nodes):
        names[node] = f"v{k}"
        args = [names[i] for i in node.inputs]
        loop_body.append(f"v{k} = {module.expression(node, args)}")
    where = ", ".join(index)
    for k, node in enumerate(outputs):
        loop_body.append(f"r{k}[{where}] = {names[node]}")
    for depth, (i, n) in enumerate(zip(index, size_names)):
        loop = "prange" if depth == 0 else "range"
        module.emit(1 + depth, f"for {i} in {loop}({n}):")
    for line in loop_body:
        module.emit(1 + len(index), line)
    parameters = (
        [f"in{k}" for k in range(len(arrays))]
        + [f"out{k}" for k in range(len(outputs))]
        + size_names
    )
    source = module.render("loop", LOOP_FLAGS, parameters)
    return KernelSource("loop", source, arrays, outputs, sizes)


# -------------------------------------------------------------------------- row kernels


class _RowPlan:
    """Stages and value categories of a row group (see the module docstring)."""

    def __init__(self, group: FusionGroup):
        self.group = group
        self.full_shape = tuple(group.shape)
        self.split = group.split
        members = set(group.nodes)
        self.form: dict[Node, tuple[str, str]] = {}
        for source in group.inputs:
            if not is_scalar_const(source):
                self.form[source] = row_form(source.shape, self.full_shape, self.split)
        for node in group.nodes:
            if is_accumulating_reduction(node):
                self.form[node] = ("all", "one")
            elif has_property(node, "keeps_order") and node.inputs[0] in members:
                self.form[node] = self.form[node.inputs[0]]
            else:
                self.form[node] = row_form(node.shape, self.full_shape, self.split)
        # availability: a reduction's value exists after the loop of its stage
        self.stage: dict[Node, int] = {}
        self.available: dict[Node, int] = {}
        for node in group.nodes:
            ready = max((self.available.get(i, 0) for i in node.inputs if i in members), default=0)
            self.stage[node] = ready
            self.available[node] = ready + 1 if is_accumulating_reduction(node) else ready
        self.loop_nodes = [n for n in group.nodes if self.in_loop(n)]
        self.stages = 1 + max((self.stage[n] for n in self.loop_nodes), default=0)
        outputs = set(group.outputs)
        # row values used by a later stage: kept in the output array or in a scratch row
        self.kept: dict[Node, str] = {}
        for node in group.nodes:
            if self.form[node] == ("all", "all") and not is_accumulating_reduction(node):
                later = any(
                    u in members and self.stage[u] > self.stage[node] for u in self._users(node)
                )
                if later and node not in outputs:
                    self.kept[node] = f"t{len(self.kept)}"
        # a max reads a whole row through ``row_max`` (``reads_whole_rows``): an input row
        # as it is, a computed row from a scratch row filled in the stage loop
        self.whole_rows: dict[Node, str] = {}
        for node in group.nodes:
            if reads_whole_rows(node):
                source = node.inputs[0]
                if source not in members and self.form[source][1] == "all":
                    continue
                self.whole_rows[node] = f"t{len(self.kept) + len(self.whole_rows)}"

        # a kept row can live in an output row that is only written after its last use
        # (softmax keeps exp(x - max) in the output row, then divides it in place)
        # (computing the output must read the kept row at that column: then every read of
        # it in that stage comes before the output's store, as reads are cached per column)
        self.kept_in_output: dict[Node, Node] = {}
        for node in self.kept:
            last_use = max(self.stage[u] for u in self._users(node) if u in members)
            for out in group.outputs:
                if (
                    out not in self.kept_in_output.values()
                    and out.dtype == node.dtype
                    and self.form[out] == ("all", "all")
                    and not is_accumulating_reduction(out)
                    and self.stage[out] == last_use
                    and self.reads_at_column(out, node)
                ):
                    self.kept_in_output[node] = out
                    break

    def scratch(self) -> dict[str, str]:
        """Scratch row name -> dtype (rows to allocate; see ``kept_in_output``)."""
        rows = {
            name: node.dtype for node, name in self.kept.items() if node not in self.kept_in_output
        }
        rows.update({name: node.dtype for node, name in self.whole_rows.items()})
        return rows

    def _users(self, node):
        return [n for n in self.group.nodes if node in n.inputs]

    def reads_at_column(self, node: Node, row: Node) -> bool:
        """Does computing ``node`` at a column (in its stage) read the value of ``row`` at
        that column? The walk follows ``_RowKernelWriter.value``: it stops at per-row
        values (variables) and at rows of an earlier stage, which are read back from their
        own output or scratch row instead of being recomputed. (Softmax and log_softmax
        of the same logits: the softmax output reads ``exp(x - max)`` back, never
        ``x - max``, so ``x - max`` cannot live in the softmax output row.)"""
        members = set(self.group.nodes)
        stage = self.stage[node]
        stack, seen = [node], set()
        while stack:
            current = stack.pop()
            for source in current.inputs:
                if source is row:
                    return True
                if source not in members or source in seen or not self.in_loop(source):
                    continue
                if is_accumulating_reduction(source):
                    continue
                if self.stage[source] < stage and self.form[source] == ("all", "all"):
                    continue  # read back from its row, not recomputed
                seen.add(source)
                stack.append(source)
        return False

    def in_loop(self, node: Node) -> bool:
        """Computed element by element in a stage loop (vs. once per row)."""
        return is_accumulating_reduction(node) or self.form[node][1] == "all"


class _RowKernelWriter:
    """Writes the body of a row kernel, stage by stage."""

    def __init__(self, group: FusionGroup):
        self.group = group
        self.plan = _RowPlan(group)
        self.module = _Module(describe_nodes(group.nodes))
        self.arrays = _array_inputs(self.module, list(group.inputs))
        self.outputs = list(group.outputs)
        self.names: dict[Node, str] = dict(self.module.constants)
        self.output_slot = {node: k for k, node in enumerate(self.outputs)}
        self.number = {node: k for k, node in enumerate(group.nodes)}
        self.local: dict[Node, str] = {}
        self.stage = 0
        self.split = False

    def emit(self, indent: int, line: str) -> None:
        self.module.emit(indent, line)

    @staticmethod
    def view_shape(form) -> str:
        return f"({'rows' if form[0] == 'all' else '1'}, {'cols' if form[1] == 'all' else '1'})"

    @staticmethod
    def row_index(form) -> str:
        return "row" if form[0] == "all" else "0"

    def split_rows(self) -> bool:
        """Few long rows (``sum(x * y)`` over a vector): split each row across threads."""
        plan, group = self.plan, self.group
        return (
            group.rows < SPLIT_ROWS
            and group.rows * group.row_length >= PARALLEL_THRESHOLD
            and plan.stages == 1
            and not plan.kept
            and not plan.whole_rows
        )

    def load_row_inputs(self) -> None:
        for k, array in enumerate(self.arrays):  # inputs that do not vary along the row
            form = self.plan.form[array]
            if form[1] == "one":
                self.emit(2, f"x{k} = a{k}[{self.row_index(form)}, 0]")
                self.names[array] = f"x{k}"

    def write(self) -> KernelSource:
        plan = self.plan
        for k, array in enumerate(self.arrays):
            self.emit(1, f"a{k} = in{k}.reshape({self.view_shape(plan.form[array])})")
        for k, node in enumerate(self.outputs):
            self.emit(1, f"r{k} = out{k}.reshape({self.view_shape(plan.form[node])})")
        if self.split_rows():
            self.write_split()
        else:
            self.emit(1, "for row in prange(rows):")
            # scratch rows: Numba hoists these allocations out of the row loop (one per
            # thread); numba.get_thread_id() would too, but makes a kernel uncacheable
            for name, dtype in plan.scratch().items():
                self.emit(2, f"{name} = np.empty(cols, np.{dtype})")
            for node, out in plan.kept_in_output.items():
                self.emit(2, f"{plan.kept[node]} = r{self.output_slot[out]}[row]")
            self.load_row_inputs()
            self.row_scalars(0)
            for stage in range(plan.stages):
                self.write_stage(stage)
                self.row_scalars(stage + 1)
        parameters = (
            [f"in{k}" for k in range(len(self.arrays))]
            + [f"out{k}" for k in range(len(self.outputs))]
            + ["rows", "cols"]
        )
        source = self.module.render("row", ROW_FLAGS, parameters)
        sizes = [self.group.rows, self.group.row_length]
        return KernelSource("row", source, self.arrays, self.outputs, sizes)

    def write_split(self) -> None:
        """Each row in ``SPLIT_CHUNKS`` pieces, one task each; partial results combined per
        row afterwards (a reduction whose combine rounds, a float32 sum, combines float64
        partials)."""
        plan, chunks = self.plan, SPLIT_CHUNKS
        reductions = [n for n in self.group.nodes if is_accumulating_reduction(n)]
        accumulated = [n for n in reductions if not reads_whole_rows(n)]
        partial_dtype = {
            n: "float64" if PRIMITIVES[n.op].has("rounds") else n.dtype for n in reductions
        }
        for node in reductions:
            dtype = partial_dtype[node]
            self.emit(1, f"p{self.number[node]} = np.empty((rows, {chunks}), np.{dtype})")
        self.emit(1, f"for task in prange(rows * {chunks}):")
        self.emit(2, f"row = task // {chunks}")
        self.emit(2, f"start = (task % {chunks}) * cols // {chunks}")
        self.emit(2, f"stop = (task % {chunks} + 1) * cols // {chunks}")
        self.load_row_inputs()
        self.row_scalars(0, store=False)
        # 1-D views of the piece, indexed from 0: LLVM then knows indexes are not negative
        # (Numba's negative-index wraparound would otherwise block vectorization)
        self.split = True
        for k, array in enumerate(self.arrays):
            if plan.form[array][1] == "all":
                self.emit(2, f"s{k} = a{k}[{self.row_index(plan.form[array])}, start:stop]")
        for node, slot in self.output_slot.items():
            if plan.form[node][1] == "all":
                self.emit(2, f"q{slot} = r{slot}[row, start:stop]")
        for node in accumulated:
            start = identity_literal(node, partial_dtype[node])
            self.emit(2, f"acc{self.number[node]} = {start}")
        self.emit(2, "for col in range(stop - start):")
        loop_start = len(self.module.body)
        self.stage, self.local = 0, {}
        for node in plan.loop_nodes:
            if node in accumulated:
                acc = f"acc{self.number[node]}"
                update = self.module.combine(node, self.value(node.inputs[0]), acc)
                self.emit(3, f"{acc} = {update}")
            elif not is_accumulating_reduction(node) and node in self.output_slot:
                self.value(node)
        if len(self.module.body) == loop_start:
            self.module.body.pop()
        for node in reductions:
            n = self.number[node]
            if node in accumulated:
                self.emit(2, f"p{n}[row, task % {chunks}] = acc{n}")
            else:
                source = node.inputs[0]
                piece = f"a{self.arrays.index(source)}[{self.row_index(plan.form[source])}, "
                piece += "start:stop]"
                reduced = self.module.row_reduction(node, piece)
                self.emit(2, f"p{n}[row, task % {chunks}] = {reduced}")
        self.split = False
        self.emit(1, "for row in range(rows):")
        self.names = dict(self.module.constants)
        self.load_row_inputs()
        self.row_scalars(0)
        for node in reductions:
            n = self.number[node]
            self.names[node] = f"v{n}"
            if node in accumulated:  # the partials, in order
                total = f"total{n}"
                self.emit(2, f"{total} = {identity_literal(node, partial_dtype[node])}")
                self.emit(2, f"for part in range({chunks}):")
                self.emit(3, f"{total} = {self.module.combine(node, f'p{n}[row, part]', total)}")
                self.emit(2, f"v{n} = np.{node.dtype}({total})")
            else:
                self.emit(2, f"v{n} = {self.module.row_reduction(node, f'p{n}[row]')}")
            if node in self.output_slot:
                self.emit(2, f"r{self.output_slot[node]}[row, 0] = v{n}")
        self.row_scalars(1)

    def row_scalars(self, available_at: int, store: bool = True) -> None:
        """Per-row values (``1/sum``, ``sqrt(var + eps)``) once their inputs exist."""
        for node in self.group.nodes:
            if self.plan.in_loop(node) or self.plan.available[node] != available_at:
                continue
            name = f"v{self.number[node]}"
            self.names[node] = name
            args = [self.names[i] for i in node.inputs]
            self.emit(2, f"{name} = {self.module.expression(node, args)}")
            if store and node in self.output_slot:
                self.emit(2, f"r{self.output_slot[node]}[row, 0] = {name}")

    def write_stage(self, stage: int) -> None:
        plan, group = self.plan, self.group
        self.stage = stage
        self.local = {}
        reductions = [
            n for n in group.nodes if is_accumulating_reduction(n) and plan.stage[n] == stage
        ]
        for node in reductions:
            if reads_whole_rows(node):
                continue
            accumulator = accumulator_dtype(node, group.row_length)
            self.emit(2, f"acc{self.number[node]} = {identity_literal(node, accumulator)}")
        self.emit(2, "for col in range(cols):")
        loop_start = len(self.module.body)
        for node in plan.loop_nodes:
            if plan.stage[node] != stage:
                continue
            acc = f"acc{self.number.get(node)}"
            if node in plan.whole_rows:
                self.emit(3, f"{plan.whole_rows[node]}[col] = {self.value(node.inputs[0])}")
            elif reads_whole_rows(node):
                continue  # reads an input row directly, after the loop
            elif is_accumulating_reduction(node):
                update = self.module.combine(node, self.value(node.inputs[0]), acc)
                self.emit(3, f"{acc} = {update}")
            elif node in self.output_slot or node in plan.kept:
                self.value(node)
        if len(self.module.body) == loop_start:
            self.module.body.pop()  # a stage with nothing to do along the row
        for node in reductions:
            name = f"v{self.number[node]}"
            self.names[node] = name
            if reads_whole_rows(node):
                source = node.inputs[0]
                if node in plan.whole_rows:
                    row = plan.whole_rows[node]
                else:
                    k = self.arrays.index(source)
                    row = f"a{k}[{self.row_index(plan.form[source])}]"
                self.emit(2, f"{name} = {self.module.row_reduction(node, row)}")
            else:
                self.emit(2, f"{name} = np.{node.dtype}(acc{self.number[node]})")
            if node in self.output_slot:
                self.emit(2, f"r{self.output_slot[node]}[row, 0] = {name}")

    def value(self, node: Node) -> str:
        """The variable holding ``node`` at the current column (emitting what it needs)."""
        plan = self.plan
        if node in self.local:
            return self.local[node]
        if node in self.names and (
            node not in plan.stage or not plan.in_loop(node) or is_accumulating_reduction(node)
        ):
            return self.names[node]
        if node not in plan.stage:  # a graph input read along the row
            k = self.arrays.index(node)
            text = f"x{k}"
            if self.split:  # a view of this task's piece of the row (see write_split)
                self.emit(3, f"{text} = s{k}[col]")
            else:
                self.emit(3, f"{text} = a{k}[{self.row_index(plan.form[node])}, col]")
        elif plan.stage[node] < self.stage and plan.form[node] == ("all", "all"):
            text = f"w{self.number[node]}"  # computed by an earlier stage: read it back
            if node in plan.kept:
                self.emit(3, f"{text} = {plan.kept[node]}[col]")
            else:
                self.emit(3, f"{text} = r{self.output_slot[node]}[row, col]")
        else:
            args = [self.value(i) for i in node.inputs]
            text = f"v{self.number[node]}"
            self.emit(3, f"{text} = {self.module.expression(node, args)}")
            if plan.stage[node] == self.stage and node in plan.kept:
                self.emit(3, f"{plan.kept[node]}[col] = {text}")
            if plan.stage[node] == self.stage and node in self.output_slot:
                slot = self.output_slot[node]
                target = f"q{slot}[col]" if self.split else f"r{slot}[row, col]"
                self.emit(3, f"{target} = {text}")
        self.local[node] = text
        return text


def row_kernel(group: FusionGroup) -> KernelSource:
    """Source of the row kernel of a row group."""
    return _RowKernelWriter(group).write()
