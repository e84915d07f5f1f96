"""``Interpreter`` runs an fx graph node by node, one overridable method per op kind;
``Transformer`` runs it on proxies to build a new graph (``torch.fx.Interpreter`` and
``torch.fx.Transformer``).

>>> import kiln
>>> gm = kiln.fx.symbolic_trace(lambda x: kiln.relu(x) + 1)
>>> Interpreter(gm).run(kiln.tensor([-1.0, 2.0]))
tensor([1., 3.])
"""

from __future__ import annotations

import inspect
from typing import Any

from .graph import Graph
from .node import Node, map_aggregate, map_arg
from .proxy import Proxy
from .tracer import Tracer, record_kiln_functions


class Interpreter:
    """Run ``module``'s graph: ``run(*args)`` calls ``run_node`` on each node, which calls
    ``placeholder``/``get_attr``/``call_function``/``call_method``/``call_module``/
    ``output``; override any of them. Values are freed after their last use."""

    def __init__(self, module, garbage_collect_values: bool = True, graph: Graph | None = None):
        self.module = module
        self.submodules = dict(module.named_modules())
        self.graph = graph if graph is not None else module.graph
        self.env: dict[Node, Any] = {}
        self.name = "Interpreter"
        self.garbage_collect_values = garbage_collect_values
        self.extra_traceback = True
        if garbage_collect_values:
            last_use: dict[Node, Node] = {}
            self.user_to_last_uses: dict[Node, list[Node]] = {}
            for node in reversed(self.graph.nodes):
                for used in node.all_input_nodes:
                    if used not in last_use:
                        last_use[used] = node
                        self.user_to_last_uses.setdefault(node, []).append(used)

    def run(self, *args, initial_env: dict | None = None, enable_io_processing: bool = True):
        """The graph's output for positional ``args``."""
        self.env = dict(initial_env) if initial_env is not None else {}
        self.args_iter = iter(args)
        for node in self.graph.nodes:
            if node in self.env:
                continue  # given by initial_env
            try:
                self.env[node] = self.run_node(node)
            except Exception as e:
                if self.extra_traceback:
                    where = f"While executing {node.format_node()}"
                    if e.args and isinstance(e.args[0], str):
                        e.args = (f"{e.args[0]}\n\n{where}", *e.args[1:])
                    else:
                        e.args = (*e.args, where)
                raise
            if self.garbage_collect_values:
                for dead in self.user_to_last_uses.get(node, []):
                    del self.env[dead]
            if node.op == "output":
                return self.env[node]
        return None

    def boxed_run(self, args_list: list):
        args = list(args_list)
        args_list.clear()
        return self.run(*args)

    def run_node(self, n: Node):
        """Run one node: fetch its argument values, call the method named by its op."""
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        return getattr(self, n.op)(n.target, args, kwargs)

    # ------------------------------------------------------------------ one method per op
    def placeholder(self, target: str, args: tuple, kwargs: dict):
        if target.startswith("*"):
            return list(self.args_iter)
        try:
            return next(self.args_iter)
        except StopIteration as si:
            if args:
                return args[0]
            raise RuntimeError(
                f"Expected positional argument for parameter {target}, but one was not passed in!"
            ) from si

    def get_attr(self, target: str, args: tuple, kwargs: dict):
        return self.fetch_attr(target)

    def call_function(self, target, args: tuple, kwargs: dict):
        return target(*args, **kwargs)

    def call_method(self, target: str, args: tuple, kwargs: dict):
        self_obj, *args_tail = args
        return getattr(self_obj, target)(*args_tail, **kwargs)

    def call_module(self, target: str, args: tuple, kwargs: dict):
        return self.fetch_attr(target)(*args, **kwargs)

    def output(self, target, args: tuple, kwargs: dict):
        return args[0]

    # ------------------------------------------------------------------ helpers
    def fetch_attr(self, target: str):
        """``self.module.<target>`` for a dotted ``target``."""
        attr = self.module
        atoms = target.split(".")
        for i, atom in enumerate(atoms):
            if not hasattr(attr, atom):
                raise RuntimeError(f"Node referenced nonexistent target {'.'.join(atoms[: i + 1])}")
            attr = getattr(attr, atom)
        return attr

    def fetch_args_kwargs_from_env(self, n: Node) -> tuple[tuple, dict]:
        return self.map_nodes_to_values(n.args, n), self.map_nodes_to_values(n.kwargs, n)

    def map_nodes_to_values(self, args, n: Node):
        def load(arg: Node):
            if arg not in self.env:
                raise RuntimeError(
                    f"Node {n} referenced nonexistent value {arg}! Run Graph.lint() to diagnose "
                    "such issues"
                )
            return self.env[arg]

        return map_arg(args, load)


class _TransformerTracer(Tracer):
    def __init__(self, graph: Graph):
        super().__init__()
        self.graph = graph
        self.tensor_attrs = {}

    def is_leaf_module(self, m, module_qualified_name: str) -> bool:
        return True


class Transformer(Interpreter):
    """Build a new graph by running the old one on proxies: override ``call_function``
    (and the others) to return different proxies; ``transform()`` returns the new
    ``GraphModule``. kiln functions called on proxies inside the overrides are recorded."""

    def __init__(self, module):
        super().__init__(module)
        self.new_graph = Graph()
        self.tracer = _TransformerTracer(self.new_graph)
        self.tracer.root = module

    def placeholder(self, target: str, args: tuple, kwargs: dict) -> Proxy:
        default = args[0] if args else inspect.Signature.empty
        node = (
            self.new_graph.placeholder(target)
            if default is inspect.Signature.empty
            else self.new_graph.placeholder(target, default_value=default)
        )
        return Proxy(node, self.tracer)

    def get_attr(self, target: str, args: tuple, kwargs: dict) -> Proxy:
        return self.tracer.create_proxy("get_attr", target, args, kwargs)

    def call_module(self, target: str, args: tuple, kwargs: dict):
        submodule = self.fetch_attr(target)
        return self.tracer.call_module(submodule, submodule.forward, args, kwargs)

    def call_function(self, target, args: tuple, kwargs: dict):
        return self.tracer.create_proxy("call_function", target, args, kwargs)

    def transform(self):
        """The transformed ``GraphModule``."""
        from .graph_module import GraphModule

        with record_kiln_functions():
            result = super().run(enable_io_processing=False)
        if result is not None:
            self.new_graph.output(map_aggregate(result, self.tracer.create_arg))
        return GraphModule(self.module, self.new_graph)
