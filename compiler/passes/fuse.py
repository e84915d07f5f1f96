"""Fusion: partition a graph's nodes into groups that each become one kernel (or one call).

Four kinds of group come out of this pass:

* ``loop``: elementwise nodes (with NumPy broadcasting) computed in one loop over the
  group's *loop shape*: ``(a**2 + b**2)**0.5`` is one kernel;
* ``row``: reductions over the trailing axes together with the elementwise work before
  them (``sum(x * y)``) and after them on the same rows (softmax, layernorm): one kernel
  whose outer loop runs over rows and keeps each row in cache;
* ``column``: reductions over the *leading* axes (a bias gradient ``sum(g, 0)``, a
  layernorm weight gradient ``sum(g * xhat, 0)``) with the elementwise work before them
  and per-column work after them: one kernel, threads over blocks of columns (only when
  ``fuse(graph, columns=True)``: the CUDA backend has no column kernels);
* ``matmul``: a matmul (run by BLAS) followed by an *epilogue* of elementwise nodes over
  its output (bias add, relu, gelu), which becomes one loop kernel;
* ``library``: everything else (movement, index, other reductions, random numbers), run
  with NumPy, one node per group.

Row and column groups reduce with the op table's *accumulating reductions* (``sum``,
``max``: an identity and a combine); ``loop_alias`` movement (``expand``, a ``reshape``
that only adds leading ones) joins loops as the value it re-labels.

Size: a group's *weight* (one per node; a float32 node whose kernel expression calls a
``fastmath`` function, which Numba inlines at its IR level, counts ``FAST_CALL_WEIGHT``)
stays at most ``MAX_KERNEL_WEIGHT``. Numba's compile time grows faster than linearly with
a function's size (a 100-step ``tanh`` chain in one kernel ran into a ``RecursionError`` in
its SSA pass), so a long chain becomes a sequence of kernels; in an unrolled loop those
are identical, so they share one kernel (the source names values by position, not by
graph node) and compile time stays about linear in the chain's length. Every merge costs
time proportional to the (bounded) group size, so fusion itself is linear too.

Legality: a group's values that leave it must cover the whole loop (or, in a row group,
whole rows or one value per row), and merging two groups must not create a cycle among
groups (another path between them in the group graph).

The result is a ``FusedGraph``: the same nodes (a valid ``Graph``, ``verify()`` holds), put
in group order, with ``groups`` attached; it prints with the group boundaries:

>>> from kiln.compiler.ir import Graph
>>> g = Graph("f"); x = g.add_input((4,), "float32")
>>> g.outputs = [g.add_node("exp", [g.add_node("neg", [x])])]
>>> fused = fuse(g)
>>> [(group.kind, len(group.nodes)) for group in fused.groups]
[('loop', 2)]
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

from ..ir import Graph, Node
from ..primitives import PRIMITIVES, has_property, is_accumulating_reduction

# The most a group may weigh (see the module docstring), and what a node calling a fast
# function (``fast_tanh``: ~40 statements after Numba inlines it) weighs.
MAX_KERNEL_WEIGHT = 64
FAST_CALL_WEIGHT = 16

# dtypes that generated kernels handle (Numba has no float16 arithmetic on CPU).
KERNEL_DTYPES = frozenset(
    {"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}
)


@dataclass(eq=False)
class FusionGroup:
    """A set of nodes that runs as one unit.

    ``kind`` is loop | row | column | matmul | library. ``shape`` is the loop shape (loop,
    matmul) or the shape of the reduced array (row, column); ``split`` divides its axes
    into ``rows`` (``..split``) and one row (``split..``): a row group reduces each row, a
    column group reduces the rows into one (axes ``..split``, the leading ones). ``head``
    is a matmul group's matmul node.
    ``inputs`` and ``outputs`` are filled in by ``fuse`` once the groups are final.
    """

    kind: str
    nodes: list[Node]
    shape: tuple = ()
    split: int = 0
    head: Node | None = None
    inputs: list[Node] = field(default_factory=list)
    outputs: list[Node] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return math.prod(self.shape[: self.split])

    @property
    def row_length(self) -> int:
        return math.prod(self.shape[self.split :])

    def describe(self) -> str:
        if self.kind == "row":
            return f"row kernel: {self.rows} rows of {self.row_length}"
        if self.kind == "matmul":
            return "matmul (BLAS) + epilogue kernel" if len(self.nodes) > 1 else "matmul (BLAS)"
        if self.kind == "loop":
            return f"loop kernel over {list(self.shape)}"
        if self.kind == "column":
            return f"column kernel: {self.rows} rows summed into {self.row_length} columns"
        return f"NumPy {self.nodes[0].op}"


class FusedGraph(Graph):
    """A ``Graph`` whose nodes are ordered group by group, with the ``groups`` attached."""

    def __init__(self, name: str = "graph"):
        super().__init__(name)
        self.groups: list[FusionGroup] = []
        self.notes: dict[Node, str] = {}  # per-node annotations (the memory plan adds some)
        self.summary = ""  # one line printed under the header

    def copy(self) -> FusedGraph:
        """A copy with new nodes; groups and notes refer to the new nodes."""
        plain = super().copy()
        mapping = dict(zip(self.nodes, plain.nodes))
        out = FusedGraph(self.name)
        out.inputs, out.nodes, out.outputs = plain.inputs, plain.nodes, plain.outputs
        for group in self.groups:
            out.groups.append(
                FusionGroup(
                    group.kind,
                    [mapping[n] for n in group.nodes],
                    group.shape,
                    group.split,
                    mapping.get(group.head),
                    [mapping[n] for n in group.inputs],
                    [mapping[n] for n in group.outputs],
                )
            )
        out.notes = {mapping[n]: text for n, text in self.notes.items()}
        out.summary = self.summary
        return out

    def to_dot(self) -> str:
        """DOT text with one box (cluster) per group, labelled with what it becomes."""
        lines = super().to_dot().rstrip().splitlines()
        numbers = self._numbers()
        clusters = []
        for k, group in enumerate(self.groups):
            members = " ".join(f"n{numbers[n]};" for n in group.nodes)
            clusters.append(
                f'  subgraph cluster_{k} {{ label="group {k}: {group.describe()}"; '
                f'style=rounded; color="#4060c0"; {members} }}'
            )
        return "\n".join(lines[:-1] + clusters + lines[-1:]) + "\n"

    def format(self, with_source: bool = True) -> str:
        numbers = self._numbers()
        header = ", ".join(f"%{numbers[n]}: {n.type_str}" for n in self.inputs)
        lines = [f"graph {self.name}({header}) {{"]
        if self.summary:
            lines.append(f"  # {self.summary}")
        for node in self.nodes:
            if node.op == "const":
                lines.append("  " + self.node_line(node, numbers, with_source))
        for k, group in enumerate(self.groups):
            lines.append(f"  group {k}: {group.describe()} {{")
            for node in group.nodes:
                text = "    " + self.node_line(node, numbers, with_source)
                if node in self.notes:
                    text += f"  [{self.notes[node]}]"
                lines.append(text)
            lines.append("  }")
        lines.append("  return " + ", ".join(f"%{numbers[n]}" for n in self.outputs))
        lines.append("}")
        return "\n".join(lines)


# ------------------------------------------------------------------------ shape helpers


def padded(shape, ndim) -> tuple:
    return (1,) * (ndim - len(shape)) + tuple(shape)


@functools.lru_cache(maxsize=4096)
def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(padded(shape, len(target)), target))


def broadcasts_to(shape, target) -> bool:
    """Whether ``shape`` broadcasts to ``target`` (memoized: fusion asks it per node and
    candidate merge)."""
    try:
        return _broadcasts_to(tuple(shape), tuple(target))
    except TypeError:  # (unhashable dimensions)
        pass
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(padded(shape, len(target)), target))


def row_form(shape, full, split) -> tuple[str, str] | None:
    """How a value of ``shape`` sits in the rows of ``full``: ``(outer, inner)`` with each
    ``"all"`` (varies along those axes) or ``"one"`` (broadcast), or None if neither.
    (Memoized: fusion asks it per node and candidate merge.)"""
    try:
        return _row_form(tuple(shape), tuple(full), split)
    except TypeError:  # (unhashable dimensions)
        return _row_form.__wrapped__(shape, full, split)


@functools.lru_cache(maxsize=4096)
def _row_form(shape, full, split) -> tuple[str, str] | None:
    if len(shape) > len(full):
        return None
    p = padded(shape, len(full))

    def part(mine, theirs):
        if tuple(mine) == tuple(theirs):
            return "all"
        if all(d == 1 for d in mine):
            return "one"
        return None

    outer, inner = part(p[:split], full[:split]), part(p[split:], full[split:])
    return None if outer is None or inner is None else (outer, inner)


def is_trailing_reduction(node: Node) -> bool:
    axes = node.params.get("axes", ())
    ndim = len(node.inputs[0].shape)
    return (
        is_accumulating_reduction(node)
        and len(axes) > 0
        and tuple(axes) == tuple(range(ndim - len(axes), ndim))
    )


def is_leading_reduction(node: Node) -> bool:
    axes = node.params.get("axes", ())
    ndim = len(node.inputs[0].shape)
    return (
        is_accumulating_reduction(node)
        and 0 < len(axes) < ndim
        and tuple(axes) == tuple(range(len(axes)))
    )


def reshape_only_adds_leading_ones(node: Node) -> bool:
    """Whether a ``keeps_order`` node (a reshape) only adds or drops leading ones."""
    source = tuple(node.inputs[0].shape)
    target = tuple(node.shape)
    strip = lambda s: s[next((i for i, d in enumerate(s) if d != 1), len(s)) :]  # noqa: E731
    return strip(source) == strip(target)


# ------------------------------------------------------------------------ the partition


class _Dag:
    """The group graph during fusion: a directed graph with insertion-ordered nodes.

    (What fusion needed of networkx.DiGraph, which costs a fifth of a second to import on
    the first compile; ``group_graph`` still gives a networkx graph for checks.)
    """

    def __init__(self):
        self.succ: dict = {}
        self.pred: dict = {}

    @property
    def nodes(self):
        return self.succ.keys()

    def add_node(self, node) -> None:
        if node not in self.succ:
            self.succ[node] = {}
            self.pred[node] = {}

    def add_edge(self, tail, head) -> None:
        self.add_node(tail)
        self.add_node(head)
        self.succ[tail][head] = None
        self.pred[head][tail] = None

    def remove_node(self, node) -> None:
        for head in self.succ.pop(node):
            del self.pred[head][node]
        for tail in self.pred.pop(node):
            del self.succ[tail][node]

    def successors(self, node):
        return iter(self.succ[node])

    def predecessors(self, node):
        return iter(self.pred[node])

    def has_path(self, source, target) -> bool:
        stack, seen = [source], {source}
        while stack:
            node = stack.pop()
            if node is target:
                return True
            for head in self.succ[node]:
                if head not in seen:
                    seen.add(head)
                    stack.append(head)
        return False

    def topological_order(self, key) -> list:
        """Kahn's algorithm taking the ready node of smallest ``key`` first (networkx's
        ``lexicographical_topological_sort``)."""
        import heapq

        number = {node: k for k, node in enumerate(self.succ)}
        indegree = {node: len(tails) for node, tails in self.pred.items()}
        ready = [(key(n), number[n], n) for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, _, node = heapq.heappop(ready)
            order.append(node)
            for head in self.succ[node]:
                indegree[head] -= 1
                if indegree[head] == 0:
                    heapq.heappush(ready, (key(head), number[head], head))
        if len(order) != len(self.succ):
            raise AssertionError("fusion: the group graph has a cycle")
        return order


class _Partition:
    """Mutable state of the greedy merge: groups, node -> group, and the group graph."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.users = graph.users()
        self.graph_outputs = set(graph.outputs)
        self.group_of: dict[Node, FusionGroup] = {}
        self.dag = _Dag()

    def add(self, group: FusionGroup) -> FusionGroup:
        self.dag.add_node(group)
        for node in group.nodes:
            self.group_of[node] = group
        for node in group.nodes:
            for source in node.inputs:
                other = self.group_of.get(source)
                if other is not None and other is not group:
                    self.dag.add_edge(other, group)
        return group

    def creates_cycle(self, producer: FusionGroup, consumer: FusionGroup) -> bool:
        """Would merging the two create a cycle? Only if another path joins them."""
        for successor in self.dag.successors(producer):
            if successor is not consumer and self.dag.has_path(successor, consumer):
                return True
        for successor in self.dag.successors(consumer):
            if successor is not producer and self.dag.has_path(successor, producer):
                return True
        return False

    def merge(self, producer: FusionGroup, consumer: FusionGroup, merged: FusionGroup):
        for old in (producer, consumer):
            for pred in list(self.dag.predecessors(old)):
                if pred not in (producer, consumer):
                    self.dag.add_edge(pred, merged)
            for succ in list(self.dag.successors(old)):
                if succ not in (producer, consumer):
                    self.dag.add_edge(merged, succ)
            self.dag.remove_node(old)
        self.dag.add_node(merged)
        for node in merged.nodes:
            self.group_of[node] = merged
        return merged


def node_weight(node: Node) -> int:
    """What ``node`` adds to its group's size (``MAX_KERNEL_WEIGHT``)."""
    if node.op in ("input", "const"):
        return 0
    expression = PRIMITIVES[node.op].expression("cpu", node.dtype)
    return FAST_CALL_WEIGHT if expression and "fast_" in expression else 1


def _kernel_dtypes_ok(nodes) -> bool:
    return all(
        n.dtype in KERNEL_DTYPES and all(i.dtype in KERNEL_DTYPES for i in n.inputs) for n in nodes
    )


def _in_order(graph_order: dict, nodes) -> list[Node]:
    return sorted(nodes, key=graph_order.__getitem__)


class _Fuser:
    def __init__(self, graph: Graph, columns: bool = False):
        self.columns = columns
        self.graph = graph
        self.order = {n: k for k, n in enumerate(graph.nodes)}
        self.part = _Partition(graph)
        self.weights: dict[FusionGroup, int] = {}
        # (asked per node of every candidate merge: looked up once)
        self.reductions = {n for n in graph.nodes if is_accumulating_reduction(n)}
        self.keeps_order = {n for n in graph.nodes if has_property(n, "keeps_order")}

    def weight(self, group: FusionGroup) -> int:
        if group not in self.weights:
            self.weights[group] = sum(node_weight(n) for n in group.nodes)
        return self.weights[group]

    # -- legality of a candidate merged group --------------------------------------
    def loop_ok(self, nodes, shape, merged_members) -> bool:
        """Every value leaving a loop group covers the loop shape; all fit inside it."""
        for n in nodes:
            if not broadcasts_to(n.shape, shape):
                return False
            leaves = n in self.part.graph_outputs or any(
                u not in merged_members for u in self.part.users[n]
            )
            if leaves and tuple(n.shape) != tuple(shape):
                return False
            if n in self.keeps_order and not reshape_only_adds_leading_ones(n):
                return False
        return True

    def row_ok(self, nodes, full, split) -> bool:
        members = set(nodes)
        for n in nodes:
            if n in self.reductions:
                if (
                    tuple(n.inputs[0].shape) != tuple(full)
                    or tuple(n.params["axes"]) != tuple(range(split, len(full)))
                    or n.dtype not in ("float32", "float64")
                ):
                    return False
                form = ("all", "one")
            else:
                form = row_form(n.shape, full, split)
                if form is None:
                    return False
                if n in self.keeps_order:
                    source = n.inputs[0]
                    if source in members and source in self.reductions:
                        source_form = ("all", "one")
                    else:
                        source_form = row_form(source.shape, full, split)
                    if source_form != form and not reshape_only_adds_leading_ones(n):
                        return False
            leaves = n in self.part.graph_outputs or any(
                u not in members for u in self.part.users[n]
            )
            if leaves and form[0] != "all" and math.prod(full[:split]) != 1:
                return False  # a value not varying per row would be written by every row
            for source in n.inputs:
                if source not in members and row_form(source.shape, full, split) is None:
                    return False  # an outside value that is neither rows, columns nor one
                # a reduction without keepdims is only per-row for a reshape that says so
                if (
                    source in members
                    and source in self.reductions
                    and not source.params["keepdims"]
                    and n not in self.keeps_order
                    and len(source.shape) > 0
                ):
                    return False
        return True

    def column_ok(self, nodes, full, split) -> bool:
        """One pass over the rows: values are rows x columns (the prologue) or per column
        (the reductions and what follows them); nothing reads a reduction per element."""
        members = set(nodes)
        after: set[Node] = set()  # reductions and what is computed from them (nodes are
        for n in nodes:  # in topological order)
            if n in self.reductions or any(i in after for i in n.inputs):
                after.add(n)
        for n in nodes:
            if n in self.reductions:
                if (
                    tuple(n.inputs[0].shape) != tuple(full)
                    or tuple(n.params["axes"]) != tuple(range(split))
                    or n.dtype not in ("float32", "float64")
                ):
                    return False
                form = ("one", "all")
            else:
                form = row_form(n.shape, full, split)
                if form is None or (
                    n in self.keeps_order and not reshape_only_adds_leading_ones(n)
                ):
                    return False
            after_reduction = any(i in after for i in n.inputs)
            if after_reduction and form[0] == "all":
                return False  # would need the reduction's result before it is complete
            leaves = n in self.part.graph_outputs or any(
                u not in members for u in self.part.users[n]
            )
            if leaves and form == ("all", "one") and math.prod(full[split:]) != 1:
                return False  # a per-row value would be written by every column block
            if leaves and form == ("one", "one") and math.prod(full[split:]) != 1:
                return False
            for source in n.inputs:
                if source not in members and row_form(source.shape, full, split) is None:
                    return False
        return True

    def try_merge(self, producer: FusionGroup, consumer: FusionGroup) -> FusionGroup | None:
        if producer is consumer:
            return consumer
        kinds = {producer.kind, consumer.kind}
        if "library" in kinds:
            return None
        if self.weight(producer) + self.weight(consumer) > MAX_KERNEL_WEIGHT:
            return None  # (checked first: it keeps every merge below cheap)
        nodes = _in_order(self.order, set(producer.nodes) | set(consumer.nodes))
        members = set(nodes)
        merged = None
        if kinds == {"loop"}:
            if tuple(producer.shape) == tuple(consumer.shape) or broadcasts_to(
                producer.shape, consumer.shape
            ):
                shape = consumer.shape
            elif broadcasts_to(consumer.shape, producer.shape):
                shape = producer.shape
            else:
                return None
            if self.loop_ok(nodes, shape, members):
                merged = FusionGroup("loop", nodes, shape)
        elif kinds == {"row"}:
            if (tuple(producer.shape), producer.split) == (tuple(consumer.shape), consumer.split):
                if self.row_ok(nodes, producer.shape, producer.split):
                    merged = FusionGroup("row", nodes, producer.shape, producer.split)
        elif kinds == {"row", "loop"}:
            row = producer if producer.kind == "row" else consumer
            if self.row_ok(nodes, row.shape, row.split):
                merged = FusionGroup("row", nodes, row.shape, row.split)
        elif kinds == {"column"}:
            if (tuple(producer.shape), producer.split) == (tuple(consumer.shape), consumer.split):
                if self.column_ok(nodes, producer.shape, producer.split):
                    merged = FusionGroup("column", nodes, producer.shape, producer.split)
        elif kinds == {"column", "loop"}:
            column = producer if producer.kind == "column" else consumer
            if self.column_ok(nodes, column.shape, column.split):
                merged = FusionGroup("column", nodes, column.shape, column.split)
        elif kinds == {"matmul", "loop"}:
            mm = producer if producer.kind == "matmul" else consumer
            head = mm.head
            if any(i in members for i in head.inputs):
                return None  # the epilogue runs after the matmul, never before it
            epilogue = [n for n in nodes if n is not head]
            if self.loop_ok(epilogue, head.shape, members):
                merged = FusionGroup("matmul", nodes, head.shape, head=head)
        if merged is None or self.part.creates_cycle(producer, consumer):
            return None
        self.weights[merged] = self.weight(producer) + self.weight(consumer)
        return self.part.merge(producer, consumer, merged)

    # -- the greedy walk ---------------------------------------------------------------
    def run(self) -> list[FusionGroup]:
        for node in self.graph.nodes:
            if node.op in ("input", "const"):
                continue
            kind = PRIMITIVES[node.op].kind
            fusible = _kernel_dtypes_ok([node])
            if fusible and (
                kind == "elementwise"
                # a re-labelling that changes nothing stays a (free) NumPy view
                or (has_property(node, "loop_alias") and node.shape != node.inputs[0].shape)
            ):
                group = self.part.add(FusionGroup("loop", [node], node.shape))
            elif fusible and kind == "reduction" and is_trailing_reduction(node):
                source_shape = node.inputs[0].shape
                split = node.params["axes"][0]
                group = self.part.add(FusionGroup("row", [node], source_shape, split))
            elif self.columns and fusible and kind == "reduction" and is_leading_reduction(node):
                source_shape = node.inputs[0].shape
                split = len(node.params["axes"])
                group = self.part.add(FusionGroup("column", [node], source_shape, split))
            elif fusible and kind == "matmul":
                group = self.part.add(FusionGroup("matmul", [node], node.shape, head=node))
                continue  # the matmul's inputs are materialized; nothing merges into it
            else:
                self.part.add(FusionGroup("library", [node], node.shape))
                continue
            for source in node.inputs:
                producer = self.part.group_of.get(source)
                if producer is None:
                    continue
                merged = self.try_merge(producer, group)
                if merged is not None:
                    group = merged
        self.merge_siblings()
        return self.schedule()

    def merge_siblings(self) -> None:
        """Merge groups of one kind and shape that read a common value and do not depend
        on each other (``sum(g, 0)`` and ``sum(g * x, 0)``): one pass over the memory."""

        cache: dict[FusionGroup, set] = {}

        def reads(group):
            if group not in cache:
                members = set(group.nodes)
                cache[group] = {
                    i for n in group.nodes for i in n.inputs if i not in members and i.op != "const"
                }
            return cache[group]

        buckets: dict[tuple, list[FusionGroup]] = {}
        for group in self.part.dag.nodes:
            if group.kind in ("loop", "row", "column"):
                buckets.setdefault((group.kind, tuple(group.shape), group.split), []).append(group)
        for siblings in buckets.values():  # a merged group keeps its bucket's key
            siblings.sort(key=lambda g: min(self.order[n] for n in g.nodes))
            for i in range(len(siblings)):
                first, j = siblings[i], i + 1
                if first is None:
                    continue
                while j < len(siblings):
                    second = siblings[j]
                    merged = None
                    if (
                        second is not None
                        and self.weight(first) + self.weight(second) <= MAX_KERNEL_WEIGHT
                        and not reads(first).isdisjoint(reads(second))
                    ):
                        merged = self.try_merge(first, second)
                    if merged is not None:
                        siblings[i] = first = merged
                        siblings[j] = None
                    j += 1

    def schedule(self) -> list[FusionGroup]:
        """Groups in a topological order of the group graph (ties: first node's order)."""
        groups = list(self.part.dag.nodes)
        first = {g: min(self.order[n] for n in g.nodes) for g in groups}
        ordered = self.part.dag.topological_order(first.get)
        for group in ordered:
            group.nodes = _in_order(self.order, group.nodes)
        return ordered


def _split_alias_groups(groups: list[FusionGroup]) -> list[FusionGroup]:
    """Loop groups made only of ``loop_alias`` nodes (nothing to compute) become one
    library group (a NumPy view) per node."""
    out = []
    for group in groups:
        if group.kind == "loop" and all(has_property(n, "loop_alias") for n in group.nodes):
            out.extend(FusionGroup("library", [n], n.shape) for n in group.nodes)
        else:
            out.append(group)
    return out


def fuse(graph: Graph, columns: bool = False) -> FusedGraph:
    """Partition ``graph`` into fusion groups; return it as a ``FusedGraph``.

    ``columns=True`` also makes column groups (reductions over leading axes).
    """
    fuser = _Fuser(graph, columns)
    groups = _split_alias_groups(fuser.run())
    users = graph.users()
    outputs = set(graph.outputs)
    result = FusedGraph(graph.name)
    result.inputs = list(graph.inputs)
    result.outputs = list(graph.outputs)
    result.nodes = [n for n in graph.nodes if n.op in ("input", "const")]
    for group in groups:
        members = set(group.nodes)
        group.outputs = [
            n for n in group.nodes if n in outputs or any(u not in members for u in users[n])
        ]
        seen: set[Node] = set()
        for n in group.nodes:
            for source in n.inputs:
                if source not in members and source not in seen:
                    seen.add(source)
                    group.inputs.append(source)
        result.nodes.extend(group.nodes)
    result.groups = groups
    return result


def group_graph(fused: FusedGraph) -> nx.DiGraph:
    """The groups as a ``networkx.DiGraph`` (vertex = group index, edge = data flow)."""
    import networkx as nx

    index = {node: k for k, group in enumerate(fused.groups) for node in group.nodes}
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(fused.groups)))
    for k, group in enumerate(fused.groups):
        for source in group.inputs:
            if source in index:
                dag.add_edge(index[source], k)
    return dag
