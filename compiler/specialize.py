"""One compile for every size of a dynamic dimension: fused graphs as templates.

A dynamic dimension's graphs (``kiln.jit``'s automatic dynamic shapes) differ only in
one size. The half of a compile that decides what the kernels are (passes, layout,
fusion: ``compile.front_end``) is run at three sizes, and its fused graphs, written as
JSON with their groups (``fused_json``), are fitted leaf by leaf as the traced graphs are
(every integer that follows the size becomes a polynomial in it). A ``Template`` of the
fitted graph makes the fused graph of any size in a few hundred microseconds; the half
that depends on the size (memory plan, the size arguments of the kernel calls, the
buffers, the run function: ``compile.compile_fused``) is all that runs for a new size.
The kernels come out of the same groups, so their code is the same at every size (found
in the kernel caches; their docstrings list the fused IR with its sizes).

Size-dependent choices: the passes compare sizes with thresholds
(``fold.MAX_FOLDED_ELEMENTS``, and an operand's size) and with 0 and 1 (broadcasting).
``Classes`` puts every size of the graphs (each symbolic dimension, each value's element
count, each group's rows and row length, each symbolic parameter) on its side of each
threshold; a template is used only at sizes where all of them are on the sides they were
on at the three fitted sizes (``Shared.covers``). Elsewhere the caller fits again or
compiles in full. The choices of lowering (a kernel's threads, ``LONG_ROW``, the native
chunking) are made again at each size, as ``compile_fused`` lowers the instantiated graph.

>>> from kiln.compiler.ir import Graph
>>> from kiln.compiler.compile import front_end
>>> def fused_at(n):
...     g = Graph("f"); x = g.add_input((n, 4), "float32")
...     g.outputs = [g.add_node("exp", [g.add_node("neg", [x])])]
...     return fused_json(front_end(g)[2])
>>> poly = {"__sym__": [[1, ["s"]]]}
>>> symbolic = fused_at(2); symbolic["nodes"][0]["shape"][0] = poly
>>> symbolic["nodes"][1]["shape"][0] = poly; symbolic["nodes"][2]["shape"][0] = poly
>>> symbolic["groups"][0]["shape"][0] = poly
>>> fused = Template(symbolic).instantiate(7)
>>> fused.groups[0].describe()
'loop kernel over [7, 4]'
"""

from __future__ import annotations

import math

from .ir import Graph, Node, _decode
from .passes.fuse import FusedGraph, FusionGroup

SYMBOL = "s"


def fused_json(fused: FusedGraph) -> dict:
    """``fused`` as JSON (``Graph.to_json``) with its ``groups``."""
    data = fused.to_json()
    numbers = {n: k for k, n in enumerate(fused.nodes)}
    data["groups"] = [
        {
            "kind": g.kind,
            "nodes": [numbers[n] for n in g.nodes],
            "shape": list(g.shape),
            "split": g.split,
            "head": None if g.head is None else numbers[g.head],
            "inputs": [numbers[n] for n in g.inputs],
            "outputs": [numbers[n] for n in g.outputs],
        }
        for g in fused.groups
    ]
    return data


def _symbolic(value) -> bool:
    if isinstance(value, dict):
        return "__sym__" in value or any(_symbolic(v) for v in value.values())
    if isinstance(value, list):
        return any(_symbolic(v) for v in value)
    return False


def _terms(terms) -> tuple:
    """A polynomial in ``SYMBOL`` as ``((coefficient, power), ...)``."""
    for _, names in terms:
        if any(name != SYMBOL for name in names):
            raise ValueError(f"specialize: a polynomial in {names}, expected only {SYMBOL!r}")
    return tuple((int(c), len(names)) for c, names in terms)


def _evaluate(poly, size: int) -> int:
    return sum(c * size**power for c, power in poly)


def _substitute(tree, size: int):
    if isinstance(tree, dict):
        if "__sym__" in tree:
            value = _evaluate(_terms(tree["__sym__"]), size)
            return float(value) if tree.get("float") else value
        return {k: _substitute(v, size) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_substitute(v, size) for v in tree]
    return tree


def _shape_spec(shape) -> tuple:
    """A shape's entries: ints, or polynomials (``_terms``) where they follow the size."""
    return tuple(_terms(v["__sym__"]) if isinstance(v, dict) else v for v in shape)


def _shape_at(spec, size: int) -> tuple:
    return tuple(v if isinstance(v, int) else _evaluate(v, size) for v in spec)


class Template:
    """A graph (or a fused graph, with ``groups``) fitted over sizes: ``instantiate(size)``
    makes it at one size (a ``FusedGraph`` when it has groups, else a ``Graph``)."""

    def __init__(self, symbolic: dict):
        self.name = symbolic["name"]
        self.nodes = []
        for d in symbolic["nodes"]:
            fixed, varying = {}, {}
            for key, value in d["params"].items():
                if _symbolic(value):
                    varying[key] = value
                else:
                    fixed[key] = _decode(value)
            self.nodes.append(
                (
                    d["op"],
                    tuple(d["inputs"]),
                    fixed,
                    varying,
                    _shape_spec(d["shape"]),
                    d["dtype"],
                    d.get("source"),
                    d.get("name"),
                )
            )
        self.inputs = list(symbolic["inputs"])
        self.outputs = list(symbolic["outputs"])
        self.groups = None
        if "groups" in symbolic:
            self.groups = [
                (
                    g["kind"],
                    g["nodes"],
                    _shape_spec(g["shape"]),
                    g["split"],
                    g["head"],
                    g["inputs"],
                    g["outputs"],
                )
                for g in symbolic["groups"]
            ]

    def instantiate(self, size: int) -> Graph:
        nodes: list[Node] = []
        for op, inputs, fixed, varying, shape, dtype, source, name in self.nodes:
            params = dict(fixed)
            for key, value in varying.items():
                params[key] = _decode(_substitute(value, size))
            nodes.append(
                Node(
                    op,
                    [nodes[i] for i in inputs],
                    params,
                    _shape_at(shape, size),
                    dtype,
                    source,
                    name,
                )
            )
        graph = Graph(self.name) if self.groups is None else FusedGraph(self.name)
        graph.nodes = nodes
        graph.inputs = [nodes[i] for i in self.inputs]
        graph.outputs = [nodes[i] for i in self.outputs]
        for kind, members, shape, split, head, inputs, outputs in self.groups or ():
            graph.groups.append(
                FusionGroup(
                    kind,
                    [nodes[i] for i in members],
                    _shape_at(shape, size),
                    split,
                    None if head is None else nodes[head],
                    [nodes[i] for i in inputs],
                    [nodes[i] for i in outputs],
                )
            )
        return graph


def thresholds() -> tuple:
    """The sizes the passes and fusion compare sizes with (read now: tests lower them).

    Lowering's own (``codegen.cpu.PARALLEL_THRESHOLD``, ``LONG_ROW``, ``SPLIT_ROWS``, the
    native chunking) are not here: ``Shared.compile`` lowers at each size, so they are
    decided at each size.
    """
    from .passes import fold

    return (0, 1, fold.MAX_FOLDED_ELEMENTS)


class Classes:
    """Every size in fitted graphs that follows the dynamic one: each symbolic dimension,
    each value's element count, each group's rows and row length, each symbolic
    parameter; ``signature(size)`` puts the element counts on their side of every
    threshold, the dimensions and parameters on theirs of 0 and 1."""

    def __init__(self, graphs: list[dict]):
        shapes = {}  # shape specs with a polynomial: their entries and product count
        self.params = {}  # polynomials of parameters
        for graph in graphs:
            for d in graph["nodes"]:
                shapes[_shape_spec(d["shape"])] = None
                self._collect(d["params"])
            for g in graph.get("groups", ()):
                spec = _shape_spec(g["shape"])
                shapes.update(dict.fromkeys((spec, spec[: g["split"]], spec[g["split"] :])))
        self.shapes = [s for s in shapes if any(not isinstance(v, int) for v in s)]
        self.constant_sizes = sorted(
            {math.prod(s) for s in shapes if all(isinstance(v, int) for v in s)}
        )
        self.params = list(self.params)

    def _collect(self, tree) -> None:
        if isinstance(tree, dict):
            if "__sym__" in tree:
                self.params[_terms(tree["__sym__"])] = None
                return
            for v in tree.values():
                self._collect(v)
        elif isinstance(tree, list):
            for v in tree:
                self._collect(v)

    def signature(self, size: int) -> tuple:
        limits = thresholds()
        # (folding also compares a value's size with its operands': a constant larger
        # than the folding limit is one more threshold)
        limits += tuple(n for n in self.constant_sizes if n > limits[-1])
        counts, small = [], []
        for spec in self.shapes:
            shape = _shape_at(spec, size)
            counts.append(math.prod(shape))
            small.extend(v for v, s in zip(shape, spec) if not isinstance(s, int))
        # (a dimension or a parameter, a reshape's target, a divisor, is no element count:
        # it counts as negative, 0, 1 or more)
        small.extend(_evaluate(p, size) for p in self.params)
        return (
            tuple(tuple((v > t) - (v < t) for t in limits) for v in counts),
            tuple(min(max(v, -1), 2) for v in small),
        )


class Shared:
    """The fused graphs of one graph (or of a forward and a backward graph) fitted over
    ``sizes``; ``compile(size)`` makes their executables at ``size`` without the passes
    or fusion, where ``covers(size)``."""

    def __init__(self, symbolic: list[dict], classes: Classes, sizes):
        self.templates = [Template(s) for s in symbolic]
        self.classes = classes
        self.sizes = tuple(sizes)
        signatures = {classes.signature(s) for s in sizes}
        # (the fitted sizes on two sides of a threshold: no size is covered)
        self.signature = signatures.pop() if len(signatures) == 1 else None

    def covers(self, size: int) -> bool:
        """Whether every size-dependent choice made at the fitted sizes holds at ``size``."""
        return self.signature is not None and self.classes.signature(size) == self.signature

    def compile(self, size: int, tiered: bool = False) -> list:
        """One CPU ``Executable`` per fitted graph, at ``size``."""
        from .compile import compile_fused

        executables = []
        for template in self.templates:
            fused = template.instantiate(size).verify()
            executables.append(compile_fused(fused, fused, [("fuse", fused)], fused, tiered=tiered))
        return executables
