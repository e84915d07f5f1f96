"""``GraphModule``: a module whose ``forward`` is the Python code generated from an fx
``Graph`` (``torch.fx.GraphModule``). Edit ``gm.graph``, then ``gm.recompile()``.

>>> import kiln
>>> gm = kiln.fx.symbolic_trace(kiln.nn.Sequential(kiln.nn.ReLU()))
>>> print(gm.code.strip())
def forward(self, input):
    input_1 = input
    _0 = getattr(self, "0")(input_1);  input_1 = None
    return _0
"""

from __future__ import annotations

import copy
import itertools
import linecache

from .. import nn
from .graph import Graph

_source_counter = itertools.count()


def _forward_from_src(src: str, globals_: dict):
    """Exec the generated ``def forward``; its source is registered with ``linecache`` so
    tracebacks show the generated line."""
    filename = f"<eval_with_key>.{next(_source_counter)}"
    linecache.cache[filename] = (len(src), None, src.splitlines(keepends=True), filename)
    namespace = dict(globals_)
    exec(compile(src, filename, "exec"), namespace)
    return namespace["forward"]


def _copy_attr(from_module, to_module, target: str) -> None:
    """``to_module.<target>`` = ``from_module.<target>``, creating empty modules on the way."""
    *prefix, field = target.split(".")
    for item in prefix:
        f = getattr(from_module, item)
        t = getattr(to_module, item, None)
        if f is t:
            return  # already shared
        if t is None:
            t = nn.Module()
            setattr(to_module, item, t)
        from_module, to_module = f, t
    original = getattr(from_module, field)
    import kiln

    if isinstance(original, kiln.Tensor) and not isinstance(original, nn.Parameter):
        to_module.register_buffer(field, original)
    else:
        setattr(to_module, field, original)


def _assign_attr(value, to_module, target: str) -> None:
    *prefix, field = target.split(".")
    for item in prefix:
        t = getattr(to_module, item, None)
        if t is None:
            t = nn.Module()
            setattr(to_module, item, t)
        to_module = t
    import kiln

    if isinstance(value, kiln.Tensor) and not isinstance(value, nn.Parameter):
        to_module.register_buffer(field, value)
    else:
        setattr(to_module, field, value)


class GraphModule(nn.Module):
    """A module made of ``root``'s submodules and attributes that ``graph`` uses, whose
    ``forward`` runs the graph's generated code."""

    def __new__(cls, *args, **kwargs):
        # each instance gets its own class, so that its generated forward is its own
        for base in cls.__mro__:
            if base.__name__ == "GraphModuleImpl":
                return super().__new__(cls)

        class GraphModuleImpl(cls):
            pass

        return super().__new__(GraphModuleImpl)

    def __init__(self, root, graph: Graph, class_name: str = "GraphModule"):
        super().__init__()
        self.__class__.__name__ = class_name
        if isinstance(root, nn.Module):
            self.training = getattr(root, "training", True)
            for node in graph.nodes:
                if node.op in ("get_attr", "call_module"):
                    _copy_attr(root, self, node.target)
        elif isinstance(root, dict):
            for node in graph.nodes:
                if node.op in ("get_attr", "call_module"):
                    if node.target not in root:
                        raise RuntimeError(
                            f"Node {node} referenced target {node.target} but that target was "
                            "not provided in ``root``!"
                        )
                    _assign_attr(root[node.target], self, node.target)
        else:
            raise RuntimeError(f"Unsupported type {root} passed for root!")
        self.graph = graph

    @property
    def graph(self) -> Graph:
        return self.__dict__["_graph"]

    @graph.setter
    def graph(self, g: Graph) -> None:
        if not isinstance(g, Graph):
            raise TypeError(f"Expected a Graph instance, but got {type(g)}")
        self.__dict__["_graph"] = g
        g.owning_module = self
        self.recompile()

    @property
    def code(self) -> str:
        """The Python source of ``forward`` generated from the graph."""
        return self.__dict__["_code"]

    def recompile(self):
        """Regenerate ``forward`` from the (edited) graph."""
        python_code = self.graph.python_code(root_module="self")
        self.__dict__["_code"] = python_code.src
        type(self).forward = _forward_from_src(python_code.src, python_code.globals)
        return python_code

    def print_readable(self, print_output: bool = True) -> str:
        body = "\n".join(
            "    " + line if line else "" for line in self.code.strip("\n").split("\n")
        )
        text = f"class {type(self).__name__}(kiln.nn.Module):\n{body}\n"
        if print_output:
            print(text)
        return text

    def __str__(self) -> str:
        hint = "# To see more debug info, please use `graph_module.print_readable()`"
        return "\n".join([super().__repr__(), self.code, hint])

    __repr__ = nn.Module.__repr__

    # ------------------------------------------------------------------ submodules
    def add_submodule(self, target: str, m) -> bool:
        """Install ``m`` at dotted path ``target``, creating empty modules on the way;
        False when a step of the path is not a module."""
        *prefix, field = target.split(".")
        mod = self
        for item in prefix:
            submod = getattr(mod, item, None)
            if submod is None:
                submod = nn.Module()
                setattr(mod, item, submod)
            if not isinstance(submod, nn.Module):
                return False
            mod = submod
        mod.add_module(field, m)
        return True

    def delete_submodule(self, target: str) -> bool:
        """Remove the submodule at ``target``; False when there is none."""
        *path, name = target.split(".")
        mod = self
        for item in path:
            if not hasattr(mod, item):
                return False
            mod = getattr(mod, item)
            if not isinstance(mod, nn.Module):
                return False
        if not hasattr(mod, name) or not isinstance(getattr(mod, name), nn.Module):
            return False
        delattr(mod, name)
        return True

    def delete_all_unused_submodules(self) -> None:
        """Delete the submodules that no ``call_module``/``get_attr`` node reaches."""
        used: set[str] = set()
        for node in self.graph.nodes:
            if node.op not in ("call_module", "get_attr"):
                continue
            atoms = node.target.split(".")
            used.update(".".join(atoms[: i + 1]) for i in range(len(atoms)))
            if node.op == "call_module":
                submodule = self.get_submodule(node.target)
                used.update(
                    f"{node.target}.{name}" for name, _ in submodule.named_modules() if name
                )
        for name in [name for name, _ in self.named_modules() if name and name not in used]:
            self.delete_submodule(name)

    # ------------------------------------------------------------------ copies
    def __deepcopy__(self, memo):
        state = {k: v for k, v in self.__dict__.items() if k not in ("_graph", "_code")}
        holder = nn.Module()
        holder.__dict__.update(copy.deepcopy(state, memo))
        result = GraphModule(holder, copy.deepcopy(self.graph), type(self).__name__)
        memo[id(self)] = result
        result.__dict__.update(
            {k: v for k, v in holder.__dict__.items() if k not in result.__dict__}
        )
        return result

    def __reduce__(self):
        # the class is made per instance: pickle the module's state and the graph, and
        # build a fresh GraphModule (with its generated code) when loading
        state = {k: v for k, v in self.__dict__.items() if k not in ("_graph", "_code")}
        return _rebuild, (state, self.graph, type(self).__name__)

    def __copy__(self):
        result = GraphModule(self, self.graph, type(self).__name__)
        return result


def _rebuild(state: dict, graph: Graph, class_name: str) -> GraphModule:
    holder = nn.Module()
    holder.__dict__.update(state)
    module = GraphModule(holder, graph, class_name)
    module.__dict__.update({k: v for k, v in state.items() if k not in module.__dict__})
    return module
