"""``Node``: one operation of an fx ``Graph`` (``torch.fx.Node``).

A node has an ``op`` (``placeholder``, ``get_attr``, ``call_function``, ``call_method``,
``call_module``, ``output``), a ``target`` (a callable for ``call_function``, a string
otherwise), ``args``/``kwargs`` that may hold other nodes, and the set of its ``users``.

>>> from kiln.fx import Graph
>>> g = Graph(); x = g.placeholder("x"); y = g.call_function(abs, (x,)); _ = g.output(y)
>>> [n.name for n in g.nodes], list(x.users)
(['x', 'abs_1', 'output'], [abs_1])
"""

from __future__ import annotations

import builtins
import operator
import types
from collections.abc import Callable
from typing import Any

# the type names torch.fx's annotations use (``from torch.fx.node import Argument, Target``)
Target = Callable[..., Any] | str
Argument = Any  # a node, a constant, or a tuple / list / dict / slice of them

OPS = ("placeholder", "get_attr", "call_function", "call_method", "call_module", "output")


def map_aggregate(a, fn: Callable):
    """``fn`` applied to every leaf of ``a`` (tuples, lists, dicts and slices are walked)."""
    if isinstance(a, tuple):
        mapped = tuple(map_aggregate(elem, fn) for elem in a)
        return type(a)(*mapped) if hasattr(a, "_fields") else mapped
    if isinstance(a, list):
        return [map_aggregate(elem, fn) for elem in a]
    if isinstance(a, dict):
        return {k: map_aggregate(v, fn) for k, v in a.items()}
    if isinstance(a, slice):
        return slice(
            map_aggregate(a.start, fn), map_aggregate(a.stop, fn), map_aggregate(a.step, fn)
        )
    return fn(a)


def map_arg(a, fn: Callable):
    """``fn`` applied to every ``Node`` inside ``a`` (other values are kept)."""
    return map_aggregate(a, lambda x: fn(x) if isinstance(x, Node) else x)


def _qualified_name(target) -> str:
    """How a call_function target prints: ``operator.add``, ``builtins.getattr``,
    ``kiln.add`` (the public name kiln exports it under), ``module.qualname`` otherwise."""
    from .tracer import public_name

    name = public_name(target)
    if name is not None:
        return name
    if getattr(builtins, getattr(target, "__name__", ""), None) is target:
        return f"builtins.{target.__name__}"
    if isinstance(target, types.BuiltinFunctionType) and target.__module__ == "_operator":
        return f"operator.{target.__name__}"
    module = getattr(target, "__module__", None) or "__main__"
    if module == "_operator":
        module = "operator"
    return f"{module}.{getattr(target, '__qualname__', getattr(target, '__name__', repr(target)))}"


def _format_arg(arg, max_list_len: int = 10_000) -> str:
    if isinstance(arg, Node):
        return "%" + arg.name
    if isinstance(arg, tuple) and not hasattr(arg, "_fields"):
        items = ", ".join(_format_arg(a) for a in arg)
        return f"({items},)" if len(arg) == 1 else f"({items})"
    if isinstance(arg, list):
        return "[" + ", ".join(_format_arg(a) for a in arg) + "]"
    if isinstance(arg, dict):
        return "{" + ", ".join(f"{k}: {_format_arg(v)}" for k, v in arg.items()) + "}"
    return str(arg)


class Node:
    """One operation of a ``Graph``; ``repr`` is its name."""

    def __init__(
        self,
        graph,
        name: str,
        op: str,
        target: Any,
        args: tuple,
        kwargs: dict,
        return_type: Any = None,
    ):
        if op not in OPS:
            raise ValueError(f"fx.Node: unknown op {op!r} (one of {', '.join(OPS)})")
        if op == "call_function" and not callable(target):
            raise ValueError(f"fx.Node: call_function target {target!r} is not callable")
        if op in ("call_method", "call_module", "get_attr", "placeholder") and not isinstance(
            target, str
        ):
            raise ValueError(f"fx.Node: the target of a {op} node must be a string: {target!r}")
        self.graph = graph
        self.name = name
        self.op = op
        self.target = target
        self._input_nodes: dict[Node, None] = {}
        self.users: dict[Node, None] = {}
        self.type = return_type
        self.meta: dict[str, Any] = {}
        self._prev: Node = self
        self._next: Node = self
        self._erased = False
        self._args: tuple = ()
        self._kwargs: dict = {}
        self._update_args_kwargs(args, kwargs)

    # ---------------------------------------------------------------- links
    @property
    def next(self) -> Node:
        return self._next

    @property
    def prev(self) -> Node:
        return self._prev

    def prepend(self, x: Node) -> None:
        """Move ``x`` (an unlinked or a linked node) to just before this node."""
        if x is self:
            return
        x._remove_from_list()
        p = self._prev
        p._next, x._prev = x, p
        x._next, self._prev = self, x

    def append(self, x: Node) -> None:
        """Move ``x`` to just after this node."""
        self._next.prepend(x)

    def _remove_from_list(self) -> None:
        # the node keeps its own links, so that a loop over graph.nodes standing on it
        # (it was just erased or moved) goes on to the node that followed it
        p, n = self._prev, self._next
        p._next, n._prev = n, p

    # ---------------------------------------------------------------- arguments
    @property
    def args(self) -> tuple:
        return self._args

    @args.setter
    def args(self, value) -> None:
        self._update_args_kwargs(tuple(value), self._kwargs)

    @property
    def kwargs(self) -> dict:
        return self._kwargs

    @kwargs.setter
    def kwargs(self, value) -> None:
        self._update_args_kwargs(self._args, dict(value))

    def _update_args_kwargs(self, args, kwargs) -> None:
        for old in self._input_nodes:
            old.users.pop(self, None)
        self._input_nodes = {}
        self._args = map_arg(args, self._register_input)
        self._kwargs = map_arg(kwargs, self._register_input)

    def _register_input(self, node: Node) -> Node:
        if node.graph is not self.graph:
            raise RuntimeError(
                f"fx.Node {self.name}: argument {node.name} belongs to another graph"
            )
        self._input_nodes.setdefault(node)
        node.users.setdefault(self)
        return node

    @property
    def all_input_nodes(self) -> list[Node]:
        """The nodes this node reads, in the order they first appear in args and kwargs."""
        return list(self._input_nodes)

    def update_arg(self, idx: int, arg) -> None:
        args = list(self.args)
        args[idx] = arg
        self.args = tuple(args)

    def update_kwarg(self, key: str, arg) -> None:
        self.kwargs = {**self.kwargs, key: arg}

    def replace_all_uses_with(
        self, replace_with: Node, delete_user_cb: Callable = lambda user: True
    ) -> list[Node]:
        """Make every user of this node read ``replace_with`` instead; returns the users
        changed (``delete_user_cb(user)`` False keeps that user as it is)."""
        changed = []
        for user in list(self.users):
            if not delete_user_cb(user):
                continue
            changed.append(user)
            user.replace_input_with(self, replace_with)
        return changed

    def replace_input_with(self, old_input: Node, new_input: Node) -> None:
        """Read ``new_input`` wherever this node reads ``old_input``."""

        def swap(n: Node) -> Node:
            return new_input if n is old_input else n

        self._update_args_kwargs(map_arg(self._args, swap), map_arg(self._kwargs, swap))

    def is_impure(self) -> bool:
        """Placeholders, outputs and in-place calls (``x.add_()``, ``operator.setitem``)
        have side effects: dead code elimination keeps them."""
        if self.op in ("placeholder", "output"):
            return True
        if self.op == "call_method":
            in_place = self.target.endswith("_") and not self.target.endswith("__")
            return in_place or self.target == "__setitem__"
        if self.op == "call_function":
            return self.target in _SIDE_EFFECTS or getattr(self.target, "_fx_side_effect", False)
        if self.op == "call_module":
            return False
        return False

    @property
    def stack_trace(self) -> str | None:
        """Where the node was recorded, when a tracer stored it (``meta['stack_trace']``)."""
        return self.meta.get("stack_trace")

    @stack_trace.setter
    def stack_trace(self, trace: str | None) -> None:
        self.meta["stack_trace"] = trace

    # ---------------------------------------------------------------- printing
    def __repr__(self) -> str:
        return self.name

    def _pretty_target(self) -> str:
        if self.op == "call_function":
            return _qualified_name(self.target)
        return str(self.target)

    def format_node(self, placeholder_names: list | None = None, maybe_return_typename=None):
        """The node as ``print(graph)`` shows it (torch.fx's text)."""
        if self.op == "placeholder":
            arg_str = self.target
            if placeholder_names is not None:
                placeholder_names.append(arg_str)
                return None
        head = f"%{self.name} : [num_users={len(self.users)}] = {self.op}"
        if self.op == "placeholder":
            default = f"(default={self.args[0]})" if self.args else ""
            return f"{head}[target={self.target}]{default}"
        if self.op == "get_attr":
            return f"{head}[target={self._pretty_target()}]"
        if self.op == "output":
            return f"return {self.args[0]}"
        return (
            f"{head}[target={self._pretty_target()}]"
            f"(args = {_format_arg(self.args)}, kwargs = {_format_arg(self.kwargs)})"
        )

    def __getstate__(self):
        # kiln's public functions are wrappers whose __qualname__ names the function they
        # wrap, so pickle cannot find them by reference: store their public name instead
        state = dict(self.__dict__)
        if self.op == "call_function":
            from .tracer import public_name

            name = public_name(self.target)
            if name is not None:
                state["target"] = _PublicFunction(name)
        return state

    def __setstate__(self, state) -> None:
        if isinstance(state.get("target"), _PublicFunction):
            state["target"] = state["target"].resolve()
        self.__dict__.update(state)

    # nodes are dictionary keys and set members by identity
    __hash__ = object.__hash__


class _PublicFunction:
    """A pickled reference to a kiln function by its public name (``kiln.nn.functional.relu``)."""

    def __init__(self, name: str):
        self.name = name

    def resolve(self):
        import importlib

        module_name, _, attr = self.name.rpartition(".")
        value = getattr(importlib.import_module(module_name), attr)
        return getattr(value, "_fx_original", value)  # (unpickled while a trace runs)


_SIDE_EFFECTS: set = {operator.setitem, builtins.print}


def has_side_effect(fn: Callable) -> Callable:
    """Mark ``fn`` so that dead code elimination keeps its calls
    (``torch.fx.node.has_side_effect``)."""
    _SIDE_EFFECTS.add(fn)
    return fn
