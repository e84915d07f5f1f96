"""Memory planning: where every value that crosses a fusion group lives at run time.

Each value gets a ``Storage``:

* ``input``  the caller's array;  ``const``  an array fixed at compile time;
* ``arena``  a block of the executable's arena, shared by values whose lifetimes do not
  overlap (liveness over the group schedule), or taken over *in place* by a loop kernel
  whose output has the shape and dtype of an input that dies there (a matmul's epilogue
  always runs in place on the matmul's result);
* ``pool``   a graph output: an array from an ``OutputPool``, never reused while the caller
  holds it; or, for the new value of an input the function updates in place (an
  optimizer's parameter, ``donated``), that input's own array, written in place by the
  loop kernel that reads the input for the last time (as eager code updates it), when the
  caller's array may be written (``runtime/executor.py`` checks, else copies it first);
* ``view``   a NumPy view (the op table's ``view`` ops: reshape, permute, ...) of another
  value, which keeps that value's block alive as long as the view is used;
* ``fresh``  an array a NumPy op allocates itself (pad, gather, ...); ops whose NumPy code
  takes ``out=`` (``writes_out``: sum, max, matmul) get an arena block or a pool array.

Outputs that would alias memory the executable reuses (a view of the arena or of a
constant) are marked ``copy_out``; a view of an input is returned as one (it aliases
the caller's tensor, as the eager view would). The plan also annotates the ``FusedGraph`` so the
"memory" stage prints each value's home:

>>> from kiln.compiler.ir import Graph
>>> from kiln.compiler.passes.fuse import fuse
>>> g = Graph(); x = g.add_input((8,), "float32")
>>> y = g.add_node("matmul", [g.add_node("reshape", [x], {"shape": (2, 4)}),
...                           g.add_node("reshape", [x], {"shape": (4, 2)})])
>>> g.outputs = [g.add_node("exp", [y])]
>>> plan = plan_memory(fuse(g))
>>> sorted(s.kind for s in plan.storage.values())
['input', 'pool', 'pool', 'view', 'view']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..ir import Node
from ..primitives import has_property
from .fuse import FusedGraph, FusionGroup


@dataclass
class Storage:
    kind: str  # input | const | arena | pool | view | fresh
    block: int | None = None  # arena block
    base: Node | None = None  # for views: the value viewed
    in_place_of: Node | None = None  # arena/pool value that overwrites this input's memory
    donated: Node | None = None  # pool: the graph input whose array this output is


@dataclass
class MemoryPlan:
    storage: dict[Node, Storage]
    block_sizes: list[int]
    copy_out: set = field(default_factory=set)

    @property
    def arena_bytes(self) -> int:
        return sum(self.block_sizes)


def nbytes(node: Node) -> int:
    return math.prod(node.shape) * np.dtype(node.dtype).itemsize


def root(plan_storage: dict[Node, Storage], node: Node) -> Node:
    """The value whose memory a (chain of) view(s) uses."""
    while plan_storage[node].kind == "view":
        node = plan_storage[node].base
    return node


def materialized(group: FusionGroup) -> list[Node]:
    """The values a group writes to memory: its outputs, and a matmul's own result."""
    values = list(group.outputs)
    if group.kind == "matmul" and group.head not in values:
        values.insert(0, group.head)
    return values


class _BlockAllocator:
    """Best-fit reuse of freed blocks (up to 2x too big), else a new block."""

    def __init__(self):
        self.sizes: list[int] = []
        self.free: list[int] = []

    def allocate(self, size: int) -> int:
        fits = [b for b in self.free if size <= self.sizes[b] <= 2 * size]
        if fits:
            block = min(fits, key=self.sizes.__getitem__)
            self.free.remove(block)
            return block
        self.sizes.append(size)
        return len(self.sizes) - 1

    def release(self, block: int) -> None:
        self.free.append(block)


def _last_uses(fused: FusedGraph, storage: dict[Node, Storage]) -> dict[Node, int]:
    """For each value, the index of the last group that reads it (through views too)."""
    last: dict[Node, int] = {}
    for index, group in enumerate(fused.groups):
        for source in group.inputs:
            if source in storage:
                last[root(storage, source)] = index
                last[source] = index
    end = len(fused.groups)
    for node in fused.outputs:
        if node in storage:
            last[root(storage, node)] = end
    return last


def _reads_at_the_index(group: FusionGroup, storage) -> list | None:
    """The roots of ``group``'s inputs (``_overwritable``'s ``roots``), or ``None`` for a
    group that may not overwrite an input: only loop kernels (and matmul epilogues) read
    every input at the index they write."""
    if group.kind not in ("loop", "matmul"):
        return None
    return [root(storage, s) for s in group.inputs if s in storage]


def _overwritable(value: Node, source: Node, roots, last, index) -> bool:
    """Whether ``value`` may be written over ``source``: an input that dies in this group
    (``index``), read once and not through a view (which would read other elements), of
    ``value``'s shape and dtype."""
    return (
        last.get(source) == index
        and roots.count(source) == 1
        and source.shape == value.shape
        and source.dtype == value.dtype
    )


def _in_place_candidate(group: FusionGroup, value: Node, storage, last, index, taken):
    """An input of ``group`` that dies here and whose arena block ``value`` can overwrite."""
    roots = _reads_at_the_index(group, storage)
    if roots is None:
        return None
    for source in group.inputs:
        where = storage.get(source)
        if (
            where is not None
            and where.kind == "arena"
            and source not in taken
            and _overwritable(value, source, roots, last, index)
        ):
            return source
    return None


def _donation(group: FusionGroup, value: Node, source, storage, last, index, outputs) -> bool:
    """Whether the pool output ``value`` may be written over its donor input ``source``
    (``_overwritable``, read directly by a group that is not BLAS), an output returned
    once."""
    roots = _reads_at_the_index(group, storage)
    if roots is None or value is group.head or source is None:
        return False
    return (
        source in group.inputs
        and storage.get(source) is not None
        and storage[source].kind == "input"
        and _overwritable(value, source, roots, last, index)
        and outputs.count(value) == 1
    )


def plan_memory(fused: FusedGraph, donated: dict | None = None, fresh=None) -> MemoryPlan:
    """Assign a ``Storage`` to every value that crosses a group (see the module doc).

    ``donated`` maps an output's index to the input index whose array may hold it (the
    input's new value: ``kiln.jit``'s in-place updates of its arguments and captured
    tensors). ``fresh``: the output indices that must not share an input's memory (the
    function computed them; the passes may have reduced one to an input or its view):
    those are copied out."""
    donors = {}
    if donated and len(fused.inputs) > max(donated.values(), default=-1):
        for k, j in donated.items():
            if k < len(fused.outputs):
                donors[fused.outputs[k]] = fused.inputs[j]
    outputs = set(fused.outputs)
    storage: dict[Node, Storage] = {}
    for node in fused.inputs:
        storage[node] = Storage("input")
    for node in fused.nodes:
        if node.op == "const":
            storage[node] = Storage("const")
    # first the kinds, so liveness can follow views to their roots
    for group in fused.groups:
        if group.kind == "library":
            node = group.nodes[0]
            if has_property(node, "view"):
                storage[node] = Storage("view", base=node.inputs[0])
            elif has_property(node, "writes_out"):
                storage[node] = Storage("pool" if node in outputs else "arena")
            else:
                storage[node] = Storage("fresh")
            continue
        for value in materialized(group):
            storage[value] = Storage("pool" if value in outputs else "arena")
    last = _last_uses(fused, storage)
    allocator = _BlockAllocator()
    owner: dict[int, Node] = {}  # block -> the value living in it now
    taken: set[Node] = set()

    def place(value: Node) -> None:
        block = allocator.allocate(nbytes(value))
        storage[value].block = block
        owner[block] = value

    for index, group in enumerate(fused.groups):
        placed: set[Node] = set()
        head = group.head if group.kind == "matmul" else None
        if head is not None and head not in group.outputs:
            # the matmul writes where the epilogue's result goes; the epilogue runs in place
            target = next(
                (v for v in group.outputs if v.shape == head.shape and v.dtype == head.dtype), None
            )
            if target is None:
                place(head)
            else:
                if storage[target].kind == "arena":
                    place(target)
                storage[head] = Storage(storage[target].kind, storage[target].block)
                storage[target].in_place_of = head
                placed.add(target)
            placed.add(head)
        for value in materialized(group):
            if value in placed:
                continue
            source = donors.get(value)
            if storage[value].kind == "pool" and source not in taken:
                if _donation(group, value, source, storage, last, index, fused.outputs):
                    taken.add(source)
                    storage[value].donated = storage[value].in_place_of = source
                continue
            if storage[value].kind != "arena":
                continue
            # BLAS never writes over its own operands (only the epilogue runs in place)
            source = (
                None
                if value is head
                else _in_place_candidate(group, value, storage, last, index, taken)
            )
            if source is None:
                place(value)
            else:
                taken.add(source)
                storage[value].block = storage[source].block
                storage[value].in_place_of = source
                owner[storage[value].block] = value
        for block, value in list(owner.items()):
            if last.get(value, index) <= index:
                allocator.release(block)
                del owner[block]
    plan = MemoryPlan(storage, allocator.sizes)
    for k in fresh or ():
        node = fused.outputs[k]
        if storage[root(storage, node)].kind == "input":
            plan.copy_out.add(node)
    for node in fused.outputs:
        base = root(storage, node)
        # (a view of an input stays one: it aliases the caller's tensor, as in eager code)
        if storage[node].kind == "view" and storage[base].kind in ("arena", "const"):
            plan.copy_out.add(node)
        elif storage[node].kind == "const":
            plan.copy_out.add(node)
    return plan


def describe(plan: MemoryPlan, fused: FusedGraph) -> FusedGraph:
    """A copy of ``fused`` whose text shows each value's storage (the "memory" stage)."""
    annotated = FusedGraph(fused.name)
    annotated.inputs, annotated.nodes = fused.inputs, fused.nodes
    annotated.outputs, annotated.groups = fused.outputs, fused.groups
    numbers = {n: k for k, n in enumerate(fused.nodes)}
    for node, where in plan.storage.items():
        if where.kind in ("input", "const"):
            continue
        text = where.kind
        if where.kind == "arena":
            text = f"arena block {where.block}"
        if where.kind == "view":
            text = f"view of %{numbers[where.base]}"
        if where.donated is not None:
            text += f", in the array of input %{numbers[where.donated]}"
        elif where.in_place_of is not None:
            text += f", in place of %{numbers[where.in_place_of]}"
        if node in plan.copy_out:
            text += ", copied out"
        annotated.notes[node] = text
    annotated.summary = (
        f"arena: {len(plan.block_sizes)} blocks, {plan.arena_bytes} bytes; "
        f"{sum(s.kind == 'pool' for s in plan.storage.values())} pooled outputs"
    )
    return annotated
