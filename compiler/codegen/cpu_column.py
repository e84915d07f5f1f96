"""Column kernels: reductions over the leading axes, fused with the work around them.

A column group (``kiln.compiler.passes.fuse``) sums (or maxes) the rows of an array into
one row: a bias gradient ``sum(g, 0)``, a layernorm weight gradient
``sum(g * xhat, 0)``, a batch mean. The array is seen as ``rows x cols`` (``rows`` = the
reduced leading axes). Threads take blocks of columns; each walks down all rows once,
accumulating one value per column in a small array (elementwise along the block, so it
vectorizes, and every row is read along memory), then finishes its columns (the
*epilogue*: ``mean = total / n``, an SGD update of the bias)::

    for block in prange((cols + 127) // 128):
        start = block * 128
        stop = min(cols, start + 128)
        acc2 = np.full(stop - start, np.float32(0.0), np.float32)
        for row in range(rows):
            s0 = a0[row, start:stop]
            s1 = a1[row, start:stop]
            for c in range(stop - start):
                x0 = s0[c]
                x1 = s1[c]
                v1 = np.float32((x0 * x1))
                acc2[c] = (v1 + acc2[c])
        q0 = r0[0, start:stop]
        for c in range(stop - start):
            v2 = np.float32(acc2[c])
            q0[c] = v2
"""

from __future__ import annotations

from ..ir import Node
from ..passes.fuse import FusionGroup, row_form
from ..primitives import is_accumulating_reduction
from .cpu import (
    ROW_FLAGS,
    KernelSource,
    _array_inputs,
    _Module,
    accumulator_dtype,
    describe_nodes,
)
from .kernel_module import identity_literal

COLUMN_BLOCK = 128  # columns per task: the accumulators stay in L1


class _ColumnKernelWriter:
    def __init__(self, group: FusionGroup):
        self.group = group
        full, split = tuple(group.shape), group.split
        self.module = _Module(describe_nodes(group.nodes))
        self.arrays = _array_inputs(self.module, list(group.inputs))
        self.outputs = list(group.outputs)
        self.slot = {node: k for k, node in enumerate(self.outputs)}
        self.number = {node: k for k, node in enumerate(group.nodes)}
        self.form: dict[Node, tuple[str, str]] = {}
        for value in self.arrays:
            self.form[value] = row_form(value.shape, full, split)
        self.after: set[Node] = set()  # computed per column once the rows are summed
        for node in group.nodes:
            if is_accumulating_reduction(node):
                self.form[node] = ("one", "all")
                self.after.add(node)
            else:
                self.form[node] = row_form(node.shape, full, split)
                if any(i in self.after for i in node.inputs):
                    self.after.add(node)
        self.names: dict[Node, str] = dict(self.module.constants)
        self.local: dict[Node, str] = {}

    def emit(self, indent: int, line: str) -> None:
        self.module.emit(indent, line)

    @staticmethod
    def view_shape(form) -> str:
        return f"({'rows' if form[0] == 'all' else '1'}, {'cols' if form[1] == 'all' else '1'})"

    def write(self) -> KernelSource:
        group, block = self.group, COLUMN_BLOCK
        for k, array in enumerate(self.arrays):
            self.emit(1, f"a{k} = in{k}.reshape({self.view_shape(self.form[array])})")
        for k, node in enumerate(self.outputs):
            self.emit(1, f"r{k} = out{k}.reshape({self.view_shape(self.form[node])})")
        self.emit(1, f"for block in prange((cols + {block - 1}) // {block}):")
        self.emit(2, f"start = block * {block}")
        self.emit(2, f"stop = min(cols, start + {block})")
        reductions = [n for n in group.nodes if is_accumulating_reduction(n)]
        for node in reductions:
            # (long float32 sums drift from NumPy's pairwise sums: float64 accumulators)
            dtype = accumulator_dtype(node, group.rows)
            identity = identity_literal(node, dtype)
            self.emit(2, f"acc{self.number[node]} = np.full(stop - start, {identity}, np.{dtype})")
        for k, array in enumerate(self.arrays):  # values that do not change down the rows
            form = self.form[array]
            if form == ("one", "all"):
                self.emit(2, f"c{k} = a{k}[0, start:stop]")
            elif form == ("one", "one"):
                self.emit(2, f"x{k} = a{k}[0, 0]")
                self.names[array] = f"x{k}"
        self.emit(2, "for row in range(rows):")
        for k, array in enumerate(self.arrays):
            form = self.form[array]
            if form == ("all", "all"):
                self.emit(3, f"s{k} = a{k}[row, start:stop]")  # 1-D: vectorizes along c
            elif form == ("all", "one"):
                self.emit(3, f"x{k} = a{k}[row, 0]")
                self.names[array] = f"x{k}"
        for node in group.nodes:
            if node in self.slot and node not in self.after and self.form[node][0] == "all":
                self.emit(3, f"q{self.slot[node]} = r{self.slot[node]}[row, start:stop]")
        for node in group.nodes:  # per-row values, once per row
            if node not in self.after and self.form[node] == ("all", "one"):
                self.names[node] = f"v{self.number[node]}"
                args = [self.names[i] for i in node.inputs]
                self.emit(3, f"v{self.number[node]} = {self.module.expression(node, args)}")
        self.emit(3, "for c in range(stop - start):")
        self.local = {}
        for node in group.nodes:
            if is_accumulating_reduction(node):
                item, acc = self.value(node.inputs[0], 4), f"acc{self.number[node]}[c]"
                self.emit(4, f"{acc} = {self.module.combine(node, item, acc)}")
            elif node in self.slot and node not in self.after and self.form[node][0] == "all":
                self.emit(4, f"q{self.slot[node]}[c] = {self.value(node, 4)}")
        self.write_epilogue(reductions)
        parameters = (
            [f"in{k}" for k in range(len(self.arrays))]
            + [f"out{k}" for k in range(len(self.outputs))]
            + ["rows", "cols"]
        )
        source = self.module.render("column", ROW_FLAGS, parameters)
        return KernelSource(
            "column", source, self.arrays, self.outputs, [group.rows, group.row_length]
        )

    def write_epilogue(self, reductions) -> None:
        """Per column: the reductions' values and the work that follows them."""
        finished = [n for n in self.group.nodes if n in self.slot and self.form[n][0] == "one"]
        for node in finished:
            self.emit(2, f"q{self.slot[node]} = r{self.slot[node]}[0, start:stop]")
        self.emit(2, "for c in range(stop - start):")
        self.local = {}
        for node in reductions:
            self.local[node] = f"v{self.number[node]}"
            self.emit(3, f"v{self.number[node]} = np.{node.dtype}(acc{self.number[node]}[c])")
        for node in finished:
            self.emit(3, f"q{self.slot[node]}[c] = {self.value(node, 3)}")

    def value(self, node: Node, indent: int) -> str:
        """The variable holding ``node`` at column ``c`` (emitting what it needs)."""
        if node in self.local:
            return self.local[node]
        if node in self.names:
            return self.names[node]
        if node not in self.number:  # an input read along the columns
            k = self.arrays.index(node)
            text = f"x{k}"
            source = f"s{k}" if self.form[node][0] == "all" else f"c{k}"
            self.emit(indent, f"{text} = {source}[c]")
        else:
            args = [self.value(i, indent) for i in node.inputs]
            text = f"v{self.number[node]}"
            self.emit(indent, f"{text} = {self.module.expression(node, args)}")
        self.local[node] = text
        return text


def column_kernel(group: FusionGroup) -> KernelSource:
    """Source of the column kernel of a column group."""
    return _ColumnKernelWriter(group).write()
