"""``Graph``: an ordered list of fx ``Node``s that prints as IR text and as Python
(``torch.fx.Graph``).

>>> import operator
>>> g = Graph()
>>> x = g.placeholder("x")
>>> y = g.call_function(operator.add, (x, 1))
>>> _ = g.output(y)
>>> print(g)
graph():
    %x : [num_users=1] = placeholder[target=x]
    %add : [num_users=1] = call_function[target=operator.add](args = (%x, 1), kwargs = {})
    return add
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .node import Node, _qualified_name, map_arg

_NAME = re.compile(r"^([a-zA-Z_][0-9a-zA-Z_]*?)(?:_(\d+))?$")
_ILLEGAL_CHARS = re.compile("[^0-9a-zA-Z_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
# names a generated forward cannot shadow: keywords, builtins, and its own globals
_ILLEGAL_NAMES: dict[str, object] = {k: object() for k in keyword.kwlist}
_ILLEGAL_NAMES.update(builtins.__dict__)
_ILLEGAL_NAMES.update({k: object() for k in ("inf", "nan", "NoneType", "device", "kiln", "torch")})

# operator functions printed as Python operators in the generated code
REFLECTABLE_MAGIC_METHODS = {
    "add": "{} + {}",
    "sub": "{} - {}",
    "mul": "{} * {}",
    "floordiv": "{} // {}",
    "truediv": "{} / {}",
    "div": "{} / {}",
    "mod": "{} % {}",
    "pow": "{} ** {}",
    "lshift": "{} << {}",
    "rshift": "{} >> {}",
    "and_": "{} & {}",
    "or_": "{} | {}",
    "xor": "{} ^ {}",
    "getitem": "{}[{}]",
    "matmul": "{} @ {}",
}
MAGIC_METHODS = {
    "eq": "{} == {}",
    "ne": "{} != {}",
    "lt": "{} < {}",
    "gt": "{} > {}",
    "le": "{} <= {}",
    "ge": "{} >= {}",
    "pos": "+{}",
    "neg": "-{}",
    "invert": "~{}",
    **REFLECTABLE_MAGIC_METHODS,
}


def _snake_case(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


class Namespace:
    """Unique Python names: ``add``, ``add_1``, ...; a name never shadows a builtin or a
    keyword (``sum`` becomes ``sum_1``), as torch.fx names them."""

    def __init__(self):
        self._obj_to_name: dict[int, str] = {}
        self._objects: list = []  # keeps the named objects alive (ids stay unique)
        self._used_names: set[str] = set()
        self._base_count: dict[str, int] = {}

    def create_name(self, candidate: str, obj: object | None) -> str:
        if obj is not None and id(obj) in self._obj_to_name:
            return self._obj_to_name[id(obj)]
        match = _NAME.match(candidate)
        if match is None:
            candidate = _ILLEGAL_CHARS.sub("_", candidate) or "_unnamed"
            if candidate[0].isdigit():
                candidate = f"_{candidate}"
            match = _NAME.match(candidate)
        base, num = match.group(1, 2)
        if num is None or candidate in self._used_names:
            num = self._base_count.get(base, 0)
            if _ILLEGAL_NAMES.get(candidate, obj) is not obj:
                num += 1
                candidate = f"{base}_{num}"
        else:
            num = int(num)
        while candidate in self._used_names:
            num += 1
            candidate = f"{base}_{num}"
        self._used_names.add(candidate)
        self._base_count[base] = num
        if obj is not None:
            self._obj_to_name[id(obj)] = candidate
            self._objects.append(obj)
        return candidate


@dataclass
class PythonCode:
    """A graph as Python source (``src``, a ``def forward(...)``) and the ``globals`` it runs in."""

    src: str
    globals: dict[str, Any]


class _InsertPoint:
    def __init__(self, graph: Graph, insert: Callable[[Node], None]):
        self.graph = graph
        self.previous, graph._insert = graph._insert, insert

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        self.graph._insert = self.previous


class _NodeList:
    def __init__(self, graph: Graph, reverse: bool = False):
        self._graph = graph
        self._reverse = reverse

    def __len__(self) -> int:
        return self._graph._len

    def __iter__(self):
        # as torch.fx: the next node is read after the loop body ran, so nodes inserted
        # after the current one are visited and erased ones skipped
        root = self._graph._root
        step = "_prev" if self._reverse else "_next"
        node = getattr(root, step)
        while node is not root:
            if not node._erased:
                yield node
            node = getattr(node, step)

    def __reversed__(self):
        return iter(_NodeList(self._graph, not self._reverse))

    def __repr__(self) -> str:
        return repr(list(self))


class Graph:
    """The nodes of an fx program in order; build it with ``placeholder``,
    ``call_function``, ``call_method``, ``call_module``, ``get_attr`` and ``output``."""

    def __init__(self, owning_module=None, tracer_cls=None):
        self._root = Node(self, "", "placeholder", "", (), {})
        self._graph_namespace = Namespace()
        self._len = 0
        self._insert = self._root.prepend
        self.owning_module = owning_module
        self._tracer_cls = tracer_cls

    @property
    def nodes(self) -> _NodeList:
        return _NodeList(self)

    def find_nodes(self, *, op: str, target=None) -> list[Node]:
        return [n for n in self.nodes if n.op == op and (target is None or n.target == target)]

    # ------------------------------------------------------------------ building
    def create_node(
        self,
        op: str,
        target,
        args: tuple | None = None,
        kwargs: dict | None = None,
        name: str | None = None,
        type_expr: Any = None,
    ) -> Node:
        """A new node at the insertion point (the end, unless ``inserting_before/after``)."""
        args = () if args is None else tuple(args)
        kwargs = {} if kwargs is None else dict(kwargs)
        candidate = name if name is not None else self._target_to_str(target)
        name = self._graph_namespace.create_name(candidate, None)
        node = Node(self, name, op, target, args, kwargs, type_expr)
        self._insert(node)
        self._len += 1
        return node

    @staticmethod
    def _target_to_str(target) -> str:
        if callable(target):
            op = target.__name__
            from .tracer import public_name

            spelled = public_name(target)
            if spelled is not None and spelled.startswith("kiln._C."):
                op = spelled.rsplit(".", 1)[1]  # (``F.logsigmoid`` is torch's log_sigmoid)
        else:
            op = str(target)
            if op.startswith("__") and op.endswith("__") and len(op) > 4:
                op = op[2:-2]
        return _snake_case(op)

    def placeholder(self, name: str, type_expr=None, default_value=Node) -> Node:
        args = () if default_value is Node else (default_value,)
        return self.create_node("placeholder", name, args=args, type_expr=type_expr)

    def get_attr(self, qualified_name: str, type_expr=None) -> Node:
        return self.create_node("get_attr", qualified_name, type_expr=type_expr)

    def call_module(self, module_name: str, args=None, kwargs=None, type_expr=None) -> Node:
        if self.owning_module is not None:
            self.owning_module.get_submodule(module_name)  # AttributeError when there is none
        return self.create_node("call_module", module_name, args, kwargs, type_expr=type_expr)

    def call_method(self, method_name: str, args=None, kwargs=None, type_expr=None) -> Node:
        return self.create_node("call_method", method_name, args, kwargs, type_expr=type_expr)

    def call_function(self, the_function: Callable, args=None, kwargs=None, type_expr=None) -> Node:
        return self.create_node("call_function", the_function, args, kwargs, type_expr=type_expr)

    def output(self, result, type_expr=None) -> Node:
        return self.create_node("output", "output", (result,), type_expr=type_expr)

    def node_copy(self, node: Node, arg_transform: Callable = lambda x: x) -> Node:
        """A copy of ``node`` (from any graph) here, its node arguments mapped by
        ``arg_transform``."""
        args = map_arg(node.args, arg_transform)
        kwargs = map_arg(node.kwargs, arg_transform)
        result = self.create_node(node.op, node.target, args, kwargs, node.name, node.type)
        result.meta = dict(node.meta)
        return result

    def graph_copy(self, g: Graph, val_map: dict, return_output_node: bool = False):
        """Copy every node of ``g`` but its output here; ``val_map`` maps ``g``'s nodes to
        the copies. Returns what ``g``'s output returned, mapped."""
        for node in g.nodes:
            if node.op == "output":
                result = map_arg(node.args[0], lambda n: val_map[n])
                return (result, node) if return_output_node else result
            val_map[node] = self.node_copy(node, lambda n: val_map[n])
        return None

    def __getstate__(self):
        # a pickled graph leaves its module behind (GraphModule pickles both and rejoins them)
        return {**self.__dict__, "owning_module": None}

    def __deepcopy__(self, memo=None) -> Graph:
        """A copy of every node (names and meta kept) in a new graph."""
        graph = Graph(tracer_cls=self._tracer_cls)
        copied = graph.graph_copy(self, {}, return_output_node=True)
        if copied is not None:
            result, output = copied
            graph.output(result, output.type).meta = dict(output.meta)
        return graph

    def inserting_before(self, n: Node | None = None) -> _InsertPoint:
        """``with graph.inserting_before(n):`` new nodes go just before ``n`` (the start
        of the graph for ``None``). As in torch.fx, the call itself moves the insertion
        point; leaving the ``with`` block moves it back."""
        if n is None:
            return self.inserting_after(self._root)
        return _InsertPoint(self, n.prepend)

    def inserting_after(self, n: Node | None = None) -> _InsertPoint:
        """``with graph.inserting_after(n):`` each new node goes just after ``n`` (so
        several come out in reverse order, as in torch.fx); the end for ``None``."""
        if n is None:
            return self.inserting_before(self._root)
        return _InsertPoint(self, n.append)

    def erase_node(self, to_erase: Node) -> None:
        """Remove a node that nothing uses any more."""
        if len(to_erase.users) > 0:
            raise RuntimeError(
                f"Tried to erase Node {to_erase} but it still had {len(to_erase.users)} "
                f"users in the graph: {to_erase.users}!"
            )
        if to_erase.graph is not self:
            raise RuntimeError(f"Attempting to remove {to_erase} from wrong graph!")
        if to_erase._erased:
            return
        to_erase._remove_from_list()
        to_erase._erased = True
        self._len -= 1
        # keep the args' shape (a pass may still read them) but drop the node references,
        # so the nodes it read lose it from their users; its name stays taken, as in torch
        to_erase._update_args_kwargs(
            map_arg(to_erase._args, lambda n: None), map_arg(to_erase._kwargs, lambda n: None)
        )

    def eliminate_dead_code(self) -> bool:
        """Erase the nodes without users and without side effects; True if any went."""
        changed = False
        for node in reversed(self.nodes):
            if not node.is_impure() and len(node.users) == 0:
                self.erase_node(node)
                changed = True
        return changed

    # ------------------------------------------------------------------ checking
    def lint(self) -> None:
        """Check the graph: each argument is a node of this graph defined before its use,
        names are unique, one output at the end, and (with an owning module) every
        ``get_attr``/``call_module`` target exists."""
        seen: set[Node] = set()
        names: set[str] = set()
        nodes = list(self.nodes)
        for node in nodes:
            if node.graph is not self:
                raise RuntimeError(f"Node {node} does not belong to this Graph!")
            if node.name in names:
                raise RuntimeError(f"Node redefined name {node.name}!")
            names.add(node.name)
            for arg in node.all_input_nodes:
                if arg.graph is not self:
                    raise RuntimeError(f"Argument '{arg}' of Node '{node}' was used before defined")
                if arg not in seen:
                    raise RuntimeError(
                        f"Argument '{arg}' of Node '{node}' was used before defined!"
                    )
            seen.add(node)
            if node.op == "output" and node is not nodes[-1]:
                raise RuntimeError(f"Node {node}: the output must be the last node of the graph")
        module = self.owning_module
        if module is None:
            return
        for node in nodes:
            if node.op not in ("get_attr", "call_module"):
                continue
            obj = module
            for i, atom in enumerate(node.target.split(".")):
                if not hasattr(obj, atom):
                    seen_qualname = ".".join(node.target.split(".")[:i])
                    raise RuntimeError(
                        f"Node {node} target {node.target} references nonexistent attribute "
                        f"{atom} of {seen_qualname}"
                    )
                obj = getattr(obj, atom)
            if node.op == "call_module":
                from .. import nn

                if not isinstance(obj, nn.Module):
                    raise RuntimeError(
                        f"Node {node} target {node.target} {atom} of {node.target} does not "
                        "reference an nn.Module"
                    )

    # ------------------------------------------------------------------ printing
    def __str__(self) -> str:
        lines = ["graph():"]
        lines.extend("    " + n.format_node() for n in self.nodes)
        return "\n".join(lines)

    def print_tabular(self) -> None:
        """Print one row per node: opcode, name, target, args, kwargs."""
        rows = [[n.op, n.name, n._pretty_target(), str(n.args), str(n.kwargs)] for n in self.nodes]
        headers = ["opcode", "name", "target", "args", "kwargs"]
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(5)]
        rule = "  ".join("-" * w for w in widths)
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
        print(rule)
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())

    def python_code(self, root_module: str = "self") -> PythonCode:
        """The graph as the source of ``def forward(...)`` plus the globals it needs."""
        return _generate_python(self, root_module)


def _format_target(base: str, target: str) -> str:
    out = base
    for elem in target.split("."):
        out = f"{out}.{elem}" if elem.isidentifier() else f'getattr({out}, "{elem}")'
    return out


def _device(type: str, index: int | None = None):  # noqa: A002 - torch.device's names
    """``device(type='cpu')`` as the generated code spells a device (kiln.device takes
    the string only)."""
    import kiln

    return kiln.device(type if index is None else f"{type}:{index}")


def _generate_python(graph: Graph, root_module: str) -> PythonCode:
    import kiln

    from .tracer import public_name

    namespace = Namespace()
    nodes = list(graph.nodes)
    for node in nodes:
        namespace.create_name(node.name, node)
    globals_: dict[str, Any] = {"kiln": kiln, "inf": float("inf"), "nan": float("nan")}
    globals_["NoneType"] = type(None)
    globals_["device"] = _device

    def add_global(obj) -> str:
        public = public_name(obj)
        if public is not None:
            return public
        if getattr(builtins, getattr(obj, "__name__", ""), None) is obj:
            return obj.__name__
        name = namespace.create_name(_qualified_name(obj), obj)
        globals_[name] = obj
        return name

    def rep(arg) -> str:
        if isinstance(arg, Node):
            return arg.name
        if isinstance(arg, tuple) and hasattr(arg, "_fields"):
            return f"{add_global(type(arg))}{tuple(rep(a) for a in arg)!r}".replace("'", "")
        if isinstance(arg, tuple):
            return f"({rep(arg[0])},)" if len(arg) == 1 else "(" + ", ".join(map(rep, arg)) + ")"
        if isinstance(arg, list):
            return "[" + ", ".join(map(rep, arg)) + "]"
        if isinstance(arg, dict):
            return "{" + ", ".join(f"{k!r}: {rep(v)}" for k, v in arg.items()) + "}"
        if isinstance(arg, slice):
            return f"slice({rep(arg.start)}, {rep(arg.stop)}, {rep(arg.step)})"
        if isinstance(arg, kiln.dtype):
            return str(arg)  # kiln.float32
        if isinstance(arg, kiln.device):
            return repr(arg)  # device(type='cpu'), with ``device`` among the globals
        if isinstance(arg, type) or callable(arg) and not isinstance(arg, (int, float)):
            return add_global(arg)
        return repr(arg)

    def fmt_args(args, kwargs) -> str:
        parts = [rep(a) for a in args]
        parts.extend(f"{k} = {rep(v)}" for k, v in kwargs.items())
        return ", ".join(parts)

    # free each value after its last use, as torch.fx's code does
    last_use: dict[Node, Node] = {}
    frees: dict[Node, list[Node]] = {}
    for node in reversed(nodes):
        for used in node.all_input_nodes:
            if used not in last_use:
                last_use[used] = node
                frees.setdefault(node, []).append(used)

    free_vars: list[str] = []
    body: list[str] = []
    wrapped: dict[str, None] = {}  # wrap()ped functions stay leaves when the code is retraced
    for node in nodes:
        name = node.name
        if node.op == "placeholder":
            default = f" = {rep(node.args[0])}" if node.args else ""
            free_vars.append(f"{node.target}{default}")
            raw = node.target.replace("*", "")
            if raw != name:
                body.append(f"{name} = {raw}\n")
            continue
        if node.op == "call_method":
            method = _format_target(rep(node.args[0]), node.target)
            line = f"{name} = {method}({fmt_args(node.args[1:], node.kwargs)})"
        elif node.op == "call_function":
            target = node.target
            fn_name = getattr(target, "__name__", "")
            if getattr(target, "__module__", "") == "_operator" and fn_name in MAGIC_METHODS:
                line = f"{name} = {MAGIC_METHODS[fn_name].format(*(rep(a) for a in node.args))}"
            elif (
                target is builtins.getattr
                and len(node.args) == 2
                and isinstance(node.args[1], str)
                and node.args[1].isidentifier()
            ):
                line = f"{name} = {_format_target(rep(node.args[0]), node.args[1])}"
            else:
                line = f"{name} = {add_global(target)}({fmt_args(node.args, node.kwargs)})"
                if node.meta.get("is_wrapped"):
                    wrapped.setdefault(add_global(target))
        elif node.op == "call_module":
            module = _format_target(root_module, node.target)
            line = f"{name} = {module}({fmt_args(node.args, node.kwargs)})"
        elif node.op == "get_attr":
            line = f"{name} = {_format_target(root_module, node.target)}"
        else:  # output
            body.append(f"return {rep(node.args[0])}\n")
            continue
        dead = list(frees.get(node, []))
        if not node.users:
            dead.append(node)
        if dead:
            line += ";  " + " = ".join([n.name for n in dead] + ["None"])
        body.append(line + "\n")
    if not body:
        body.append("pass\n")
    code = "".join(body).lstrip("\n")
    code = "\n".join("    " + line for line in code.split("\n"))
    prologue = f"def forward({', '.join([root_module, *free_vars])}):"
    wrap_lines = "\n".join(f'kiln.fx.wrap("{name}")' for name in wrapped)
    return PythonCode(f"\n{wrap_lines}\n\n{prologue}\n{code}", globals_)
