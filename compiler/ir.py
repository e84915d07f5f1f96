"""The IR: a flat, typed, purely functional SSA graph.

A ``Graph`` is an ordered list of ``Node`` objects; each node is one value. Graph inputs are
nodes with ``op == "input"``; constants are ``const`` nodes. A node refers to its operands
by object, so passes rewrite graphs without renumbering; numbers (``%3``) are given only
when the graph is printed.

>>> g = Graph("square")
>>> x = g.add_input((3,), "float32")
>>> y = g.add_node("mul", [x, x])
>>> g.outputs = [y]
>>> print(g)
graph square(%0: f32[3]) {
  %1: f32[3] = mul %0, %0
  return %1
}
"""

from __future__ import annotations

import json

import numpy as np

from .errors import ShapeError
from .primitives import DTYPE_SHORT, PRIMITIVES, fmt_shape


class Node:
    """One SSA value: ``op(inputs, **params)`` of a known shape and dtype."""

    __slots__ = ("op", "inputs", "params", "shape", "dtype", "source", "name")

    def __init__(self, op, inputs, params, shape, dtype, source=None, name=None):
        self.op = op
        self.inputs = tuple(inputs)
        self.params = params
        self.shape = tuple(shape)
        self.dtype = dtype
        self.source = source  # "file.py:12" of the user's line, when known
        self.name = name  # for inputs: the argument's name

    @property
    def type_str(self) -> str:
        return f"{DTYPE_SHORT.get(self.dtype, self.dtype)}{fmt_shape(self.shape)}"

    def __repr__(self) -> str:
        return f"<Node {self.op} {self.type_str}>"


def _fmt_param(value) -> str:
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return repr(value.item())
        if value.size <= 4:
            return str(value.tolist()).replace(" ", "")
        return f"<{value.dtype.name}{fmt_shape(value.shape)}>"
    return str(value).replace(" ", "")


class Graph:
    """An SSA graph: ``inputs`` (nodes), ``nodes`` (topological order), ``outputs``."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self.inputs: list[Node] = []
        self.nodes: list[Node] = []
        self.outputs: list[Node] = []

    # ---------------------------------------------------------------- building
    def add_input(self, shape, dtype, name=None) -> Node:
        node = Node("input", (), {}, shape, dtype, name=name)
        self.inputs.append(node)
        self.nodes.append(node)
        return node

    def add_node(self, op, inputs, params=None, source=None) -> Node:
        """Append ``op(inputs)``; its shape rule runs now, so errors point here."""
        params = params or {}
        shape, dtype = PRIMITIVES[op].shape_rule(
            [i.shape for i in inputs], [i.dtype for i in inputs], **params
        )
        node = Node(op, inputs, params, shape, dtype, source)
        self.nodes.append(node)
        return node

    def add_const(self, value, source=None) -> Node:
        value = np.asarray(value)
        return self.add_node("const", (), {"value": value}, source)

    # ---------------------------------------------------------------- queries
    def users(self) -> dict[Node, list[Node]]:
        out: dict[Node, list[Node]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n)
        return out

    def copy(self) -> Graph:
        """A structural copy (new Node objects, same params)."""
        g = Graph(self.name)
        mapping: dict[Node, Node] = {}
        for n in self.nodes:
            m = Node(
                n.op,
                [mapping[i] for i in n.inputs],
                dict(n.params),
                n.shape,
                n.dtype,
                n.source,
                n.name,
            )
            mapping[n] = m
            g.nodes.append(m)
        g.inputs = [mapping[n] for n in self.inputs]
        g.outputs = [mapping[n] for n in self.outputs]
        return g

    # ---------------------------------------------------------------- checking
    def verify(self) -> Graph:
        """Check order, use and every shape rule; raise ``ShapeError`` naming the node."""
        # (the test suite verifies after every pass: the node numbers for messages are
        # computed only for one, the inputs looked up in a set)
        seen: set[Node] = set()
        inputs = set(self.inputs)
        rules = {}
        for n in self.nodes:
            if n in seen:
                raise ShapeError(f"verify: node %{self._numbers()[n]} appears twice")
            for i in n.inputs:
                if i not in seen:
                    raise ShapeError(
                        f"verify: %{self._numbers()[n]} ({n.op}) uses a value that is not "
                        "defined before it"
                    )
            if n.op == "input":
                if n not in inputs:
                    raise ShapeError(
                        f"verify: input node %{self._numbers()[n]} is not a graph input"
                    )
            else:
                rule = rules.get(n.op)
                if rule is None:
                    if n.op not in PRIMITIVES:
                        raise ShapeError(f"verify: unknown op {n.op!r} at %{self._numbers()[n]}")
                    rule = rules[n.op] = PRIMITIVES[n.op].shape_rule
                shape, dtype = rule(
                    [i.shape for i in n.inputs], [i.dtype for i in n.inputs], **n.params
                )
                if tuple(shape) != n.shape or dtype != n.dtype:
                    raise ShapeError(
                        f"verify: %{self._numbers()[n]} = {n.op} is recorded as {n.type_str} "
                        f"but its rule gives {DTYPE_SHORT.get(dtype, dtype)}{fmt_shape(shape)}"
                    )
            seen.add(n)
        for n in self.inputs:
            if n not in seen:
                raise ShapeError("verify: a graph input is missing from the node list")
        for n in self.outputs:
            if n not in seen:
                raise ShapeError("verify: an output is not a node of the graph")
        return self

    # ---------------------------------------------------------------- text
    def _numbers(self) -> dict[Node, int]:
        return {n: k for k, n in enumerate(self.nodes)}

    def node_line(self, node: Node, numbers=None, with_source=True) -> str:
        numbers = numbers or self._numbers()
        args = ", ".join(f"%{numbers[i]}" if i in numbers else "%?" for i in node.inputs)
        params = ", ".join(f"{k}={_fmt_param(v)}" for k, v in node.params.items())
        text = f"%{numbers[node]}: {node.type_str} = {node.op}"
        if args:
            text += f" {args}"
        if params:
            text += f" {{{params}}}"
        if with_source and node.source:
            text = f"{text:<56} # {node.source}"
        return text

    def format(self, with_source: bool = True) -> str:
        numbers = self._numbers()
        header = ", ".join(f"%{numbers[n]}: {n.type_str}" for n in self.inputs)
        lines = [f"graph {self.name}({header}) {{"]
        for n in self.nodes:
            if n.op != "input":
                lines.append("  " + self.node_line(n, numbers, with_source))
        lines.append("  return " + ", ".join(f"%{numbers[n]}" for n in self.outputs))
        lines.append("}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes>"

    # ---------------------------------------------------------------- conversions
    def to_networkx(self):
        """A ``networkx.DiGraph`` with one vertex per node (keyed by its number)."""
        import networkx as nx

        numbers = self._numbers()
        g = nx.DiGraph(name=self.name)
        for n in self.nodes:
            g.add_node(numbers[n], op=n.op, shape=n.shape, dtype=n.dtype, output=n in self.outputs)
            for i in n.inputs:
                g.add_edge(numbers[i], numbers[n])
        return g

    def to_dot(self) -> str:
        """Graphviz DOT text; render with ``dot -Tpng graph.dot -o graph.png``."""
        numbers = self._numbers()
        out = [
            f'digraph "{self.name}" {{',
            "  rankdir=TB;",
            '  node [shape=box, fontname="monospace", fontsize=10];',
        ]
        outputs = set(self.outputs)
        for n in self.nodes:
            label = f"%{numbers[n]} {n.op}\\n{n.type_str}"
            style = ""
            if n.op == "input":
                style = ', style=filled, fillcolor="#d0e8ff"'
            elif n in outputs:
                style = ', style=filled, fillcolor="#ffe0b0"'
            elif n.op == "const":
                style = ', style=filled, fillcolor="#eeeeee"'
            out.append(f'  n{numbers[n]} [label="{label}"{style}];')
        for n in self.nodes:
            for i in n.inputs:
                out.append(f"  n{numbers[i]} -> n{numbers[n]};")
        out.append("}")
        return "\n".join(out) + "\n"

    def to_json(self) -> dict:
        numbers = self._numbers()
        nodes = []
        for n in self.nodes:
            params = {}
            for k, v in n.params.items():
                if isinstance(v, np.ndarray) and _uniform(v):
                    # (one value, as ``zeros``/``full`` make: its shape may then follow
                    # a dynamic dimension, as a recurrent layer's initial state does)
                    params[k] = {
                        "__fill__": v.flat[0].item(),
                        "dtype": v.dtype.name,
                        "shape": list(v.shape),
                    }
                elif isinstance(v, np.ndarray):
                    params[k] = {
                        "__array__": v.tolist(),
                        "dtype": v.dtype.name,
                        "shape": list(v.shape),
                    }
                else:
                    params[k] = _encode(v)
            nodes.append(
                {
                    "op": n.op,
                    "inputs": [numbers[i] for i in n.inputs],
                    "params": params,
                    "shape": list(n.shape),
                    "dtype": n.dtype,
                    "source": n.source,
                    "name": n.name,
                }
            )
        return {
            "name": self.name,
            "nodes": nodes,
            "inputs": [numbers[n] for n in self.inputs],
            "outputs": [numbers[n] for n in self.outputs],
        }

    def save(self, path) -> None:
        """Write the graph as JSON; ``kiln.compiler.load(path)`` reads it back."""
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=1)


def _encode(v):
    if isinstance(v, tuple):
        return {"__tuple__": [_encode(x) for x in v]}
    if isinstance(v, list):
        return [_encode(x) for x in v]
    return v


def _uniform(v: np.ndarray) -> bool:
    """Whether array ``v`` (of more than one element) holds one value, bit for bit."""
    if v.size < 2 or v.dtype.kind not in "biuf":
        return False
    return v.tobytes() == np.full(v.shape, v.flat[0], v.dtype).tobytes()


def _decode(v):
    if isinstance(v, dict) and "__fill__" in v:
        return np.full(v["shape"], v["__fill__"], dtype=v["dtype"])
    if isinstance(v, dict) and "__tuple__" in v:
        return tuple(_decode(x) for x in v["__tuple__"])
    if isinstance(v, dict) and "__array__" in v:
        return np.array(v["__array__"], dtype=v["dtype"]).reshape(v["shape"])
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


def from_json(data: dict) -> Graph:
    g = Graph(data["name"])
    nodes: list[Node] = []
    for d in data["nodes"]:
        params = {k: _decode(v) for k, v in d["params"].items()}
        node = Node(
            d["op"],
            [nodes[i] for i in d["inputs"]],
            params,
            d["shape"],
            d["dtype"],
            d.get("source"),
            d.get("name"),
        )
        nodes.append(node)
    g.nodes = nodes
    g.inputs = [nodes[i] for i in data["inputs"]]
    g.outputs = [nodes[i] for i in data["outputs"]]
    return g.verify()


def load(path) -> Graph:
    """Read a graph written by ``Graph.save``."""
    with open(path) as f:
        return from_json(json.load(f))


def fresh_outputs(graph: Graph) -> set:
    """The indices of ``graph``'s outputs that its code computes: not an input nor a view
    of one (the op table's ``view`` ops), so eagerly a new tensor. After the passes such an
    output may be an input's own array (``x * 1``, ``x.clone()`` and ``x + 0`` simplify to
    ``x``; a gradient that is an input): the memory plan copies it then (``plan_memory``'s
    ``fresh``), or a later in-place update of that input (by the caller, or by the
    function's own write-back) would change it too. Set on a traced graph as
    ``graph.fresh_outputs`` before compiling."""
    from .primitives import has_property

    inputs = {id(n) for n in graph.inputs}
    fresh = set()
    for k, node in enumerate(graph.outputs):
        while id(node) not in inputs and has_property(node, "view"):
            node = node.inputs[0]
        if id(node) not in inputs:
            fresh.add(k)
    return fresh
