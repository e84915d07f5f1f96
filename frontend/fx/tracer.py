"""``Tracer`` and ``symbolic_trace``: run a module's forward on ``Proxy`` values and record
what it does as an fx ``Graph`` (``torch.fx.Tracer``).

A Proxy does not use ``__torch_function__`` (``kiln.overrides`` implements the protocol
over this module's list of public functions, ``_public_functions``): while a trace runs,
the public functions of ``kiln``, ``kiln.nn.functional``, ``kiln.linalg``,
``kiln.special`` and ``kiln.fft`` (and the same functions imported into the traced code's
globals) are replaced by wrappers that record a ``call_function`` node when an argument
is a proxy and call the function otherwise.

>>> import kiln
>>> gm = kiln.fx.symbolic_trace(kiln.nn.Sequential(kiln.nn.Linear(2, 2), kiln.nn.ReLU()))
>>> [(n.op, n.target) for n in gm.graph.nodes]
[('placeholder', 'input'), ('call_module', '0'), ('call_module', '1'), ('output', 'output')]
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import inspect
import math
import threading
import types
from collections.abc import Callable
from typing import Any

from .._C import _NN_NAMES
from .functional_calls import normalized_call
from .graph import Graph
from .node import Node
from .proxy import Attribute, Proxy, TraceError

# ------------------------------------------------------------------ kiln's public functions

_PUBLIC_MODULES = ("kiln", "kiln.nn.functional", "kiln.linalg", "kiln.special", "kiln.fft")
# kiln functions that answer about the Python object itself: never recorded
_NOT_RECORDED = {"is_tensor", "is_storage", "typename", "is_grad_enabled", "get_default_dtype"}
_public: dict[int, tuple[str, Callable]] | None = None
# functional calls torch.fx prints under another name, because in PyTorch the function is
# a native one living elsewhere (``F.linear is torch._C._nn.linear``, ``F.conv2d is
# torch.conv2d``): printed, and run by a GraphModule's code, under those names
_TORCH_SPELLINGS = {
    **{
        name: f"kiln.{name}"
        for name in (
            "adaptive_avg_pool1d avg_pool1d bilinear celu_ channel_shuffle conv1d conv2d "
            "conv3d conv_transpose1d conv_transpose2d conv_transpose3d cosine_similarity "
            "hardshrink pairwise_distance pdist pixel_shuffle pixel_unshuffle prelu relu_ "
            "rrelu_ selu_ threshold_"
        ).split()
    },
    # (kiln._C._nn's names: frontend/_C.py; "pad" is F.pad's own there, torch prints it so)
    **{kiln_name: f"kiln._C._nn.{name}" for name, kiln_name in _NN_NAMES.items() if name != "pad"},
}


def _public_functions() -> dict[int, tuple[str, Callable]]:
    """id(function) -> (the name kiln exports it under, the function)."""
    global _public
    if _public is None:
        table: dict[int, tuple[str, Callable]] = {}
        for module_name in _PUBLIC_MODULES:
            module = importlib.import_module(module_name)
            for name, value in list(vars(module).items()):
                if _is_recordable(name, value):
                    table.setdefault(id(value), (f"{module_name}.{name}", value))
        functional = importlib.import_module("kiln.nn.functional")
        for name, spelling in _TORCH_SPELLINGS.items():
            value = getattr(functional, name, None)
            if value is not None:
                table[id(value)] = (spelling, value)
        _public = table
    return _public


def _is_recordable(name: str, value) -> bool:
    if name.startswith("_") or name in _NOT_RECORDED or isinstance(value, (type, types.ModuleType)):
        return False
    return isinstance(value, (types.FunctionType, types.BuiltinFunctionType, functools.partial))


def public_name(fn) -> str | None:
    """``kiln.add`` for kiln's ``add`` (how a call_function target prints), else None."""
    entry = _public_functions().get(id(fn))
    return entry[0] if entry is not None and entry[1] is fn else None


def _find_proxy(args, kwargs) -> Proxy | None:
    found = None

    def visit(a):
        nonlocal found
        if found is not None:
            return
        if isinstance(a, Proxy):
            found = a
        elif isinstance(a, (tuple, list)):
            for x in a:
                visit(x)
        elif isinstance(a, dict):
            for x in a.values():
                visit(x)
        elif isinstance(a, slice):
            visit((a.start, a.stop, a.step))

    visit(args)
    visit(kwargs)
    return found


class _Recording:
    """``fn`` that records a call_function node when given a proxy. It compares equal to
    (and hashes as) ``fn``, so ``node.target == kiln.relu`` holds while kiln.relu is
    replaced (in a Transformer's overrides, for instance)."""

    def __init__(self, fn: Callable, wrapped: bool = False, functional_name: str | None = None):
        functools.update_wrapper(self, fn)
        self._fx_original = fn
        self._wrapped = wrapped
        self._functional_name = functional_name  # kiln.nn.functional.<name>

    def __call__(self, *args, **kwargs):
        proxy = _find_proxy(args, kwargs)
        if proxy is None:
            return self._fx_original(*args, **kwargs)
        if self._functional_name is not None:
            args, kwargs = normalized_call(self._functional_name, self._fx_original, args, kwargs)
        result = proxy.tracer.create_proxy("call_function", self._fx_original, args, kwargs)
        if self._wrapped:
            result.node.meta["is_wrapped"] = True
        return result

    def __get__(self, obj, objtype=None):
        return self if obj is None else types.MethodType(self, obj)

    def __eq__(self, other):
        if isinstance(other, _Recording):
            other = other._fx_original
        return self._fx_original == other

    def __hash__(self) -> int:
        return hash(self._fx_original)

    def __repr__(self) -> str:
        return repr(self._fx_original)


_recording = _Recording


class _Patcher:
    """Attribute and globals replacements, undone in reverse order on exit."""

    def __init__(self):
        self._undo: list[Callable[[], None]] = []
        self._patched_globals: set[tuple[int, str]] = set()

    def setattr(self, obj, name: str, value) -> None:
        old = getattr(obj, name)
        setattr(obj, name, value)
        self._undo.append(lambda: setattr(obj, name, old))

    def setitem(self, d: dict, name: str, value) -> None:
        if (id(d), name) in self._patched_globals:
            return
        self._patched_globals.add((id(d), name))
        if name in d:
            old = d[name]
            self._undo.append(lambda: d.__setitem__(name, old))
        else:
            self._undo.append(lambda: d.pop(name, None))
        d[name] = value

    def autowrap(self, fn_globals: dict, ids: dict[int, Callable]) -> None:
        """Wrap the kiln (and ``math``) functions that ``fn_globals`` imported by name."""
        for name, value in list(fn_globals.items()):
            if not name.startswith("_") and id(value) in ids and ids[id(value)] is value:
                # a math function is marked wrapped (its generated code re-wraps it, as
                # torch.fx's); a kiln function prints by its public name instead
                wrapped = public_name(value) is None
                self.setitem(fn_globals, name, _recording(value, wrapped=wrapped))

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()
        self._patched_globals.clear()


_depth = [0]
_patch_lock = threading.RLock()
_wrappers: dict[tuple[str, str], _Recording] = {}  # made once, reused by every trace


@contextlib.contextmanager
def record_kiln_functions():
    """``with kiln.fx.record_kiln_functions():`` kiln functions called on proxies record
    nodes (what torch.fx gets from ``__torch_function__``; symbolic tracing and
    ``Transformer.transform`` turn it on themselves). Re-entrant.

    >>> import kiln
    >>> from kiln.fx import Graph, Proxy
    >>> g = Graph()
    >>> x = Proxy(g.placeholder("x"))
    >>> with record_kiln_functions():
    ...     y = kiln.sigmoid(x)
    >>> y.node.target is kiln.sigmoid
    True
    """
    with _patch_lock:  # traces of other threads wait: the patches are process-wide
        if _depth[0]:
            _depth[0] += 1
            try:
                yield
            finally:
                _depth[0] -= 1
        else:
            with _patched_kiln_functions():
                yield


@contextlib.contextmanager
def _patched_kiln_functions():
    table = _public_functions()
    undo: list[tuple[dict, dict]] = []
    try:
        for module_name in _PUBLIC_MODULES:
            namespace = vars(importlib.import_module(module_name))
            replacements = {}
            for name, value in namespace.items():
                if id(value) in table and table[id(value)][1] is value:
                    wrapper = _wrappers.get((module_name, name))
                    if wrapper is None or wrapper._fx_original is not value:
                        functional = name if module_name == "kiln.nn.functional" else None
                        wrapper = _recording(value, functional_name=functional)
                        _wrappers[(module_name, name)] = wrapper
                    replacements[name] = wrapper
            undo.append((namespace, {name: namespace[name] for name in replacements}))
            namespace.update(replacements)
        methods = _tensor_method_wrappers()
        originals = {name: vars(_tensor_class())[name] for name in methods}
        for name, wrapper in methods.items():
            setattr(_tensor_class(), name, wrapper)
        undo.append((None, originals))
        _depth[0] = 1
        yield
    finally:
        _depth[0] = 0
        for namespace, originals in reversed(undo):
            if namespace is None:
                for name, value in originals.items():
                    setattr(_tensor_class(), name, value)
            else:
                namespace.update(originals)


def _tensor_class():
    import kiln

    return kiln.Tensor


class _MethodRecording:
    """A Tensor method that records ``call_method`` when a real tensor's method is given a
    proxy (``constant.mul(proxy)``, ``constant[proxy]``), as torch.fx records it; read
    from the class it is the method itself."""

    def __init__(self, name: str, fn: Callable):
        self._name = name
        self._fx_original = fn

    def __get__(self, obj, objtype=None):
        fn = self._fx_original
        if obj is None:
            return fn
        name = self._name

        def method(*args, **kwargs):
            proxy = _find_proxy(args, kwargs)
            if proxy is None:
                return fn(obj, *args, **kwargs)
            return proxy.tracer.create_proxy("call_method", name, (obj, *args), kwargs)

        return method


_method_wrappers: dict[str, _MethodRecording] = {}


def _tensor_method_wrappers() -> dict[str, _MethodRecording]:
    """A wrapper for each public method of ``kiln.Tensor`` (and ``__getitem__``)."""
    for name, value in list(vars(_tensor_class()).items()):
        if name.startswith("_") and name not in ("__getitem__", "__setitem__"):
            continue
        if not isinstance(value, types.FunctionType):
            continue
        wrapper = _method_wrappers.get(name)
        if wrapper is None or wrapper._fx_original is not value:
            _method_wrappers[name] = _MethodRecording(name, value)
    return {
        name: w
        for name, w in _method_wrappers.items()
        if vars(_tensor_class()).get(name) is w._fx_original
    }


# functions registered by ``wrap``: (globals of the module that called wrap, name)
_wrapped_functions: dict[tuple[int, str], dict] = {}


def wrap(fn_or_name):
    """Record calls of a function as ``call_function`` nodes instead of tracing through
    it; called at the top level of a module, with the function or its name
    (``torch.fx.wrap``).

    >>> wrap("len")  # doctest: +SKIP
    """
    if callable(fn_or_name):
        name = fn_or_name.__code__.co_name
    elif isinstance(fn_or_name, str):
        name = fn_or_name
    else:
        raise RuntimeError(
            "Unsupported type for global function! Must be either a callable or string name"
        )
    frame = inspect.currentframe().f_back
    if frame.f_code.co_name != "<module>":
        raise NotImplementedError("wrap must be called at the top level of a module")
    _wrapped_functions[(id(frame.f_globals), name)] = frame.f_globals
    return fn_or_name


class Tracer:
    """Turns a module or a function into a ``Graph`` by calling it on proxies.

    Override ``is_leaf_module`` to choose which submodules stay ``call_module`` nodes
    (kiln.nn's standard layers do, ``Sequential`` and user modules are traced through).
    """

    def __init__(
        self, autowrap_modules=(math,), autowrap_functions=(), param_shapes_constant=False
    ):
        self._autowrap_ids: dict[int, Callable] = {}
        self._autowrap_modules = tuple(autowrap_modules)
        for module in autowrap_modules:
            for name, value in vars(module).items():
                if not name.startswith("_") and callable(value):
                    self._autowrap_ids[id(value)] = value
        for fn in autowrap_functions:
            self._autowrap_ids[id(fn)] = fn
        self.param_shapes_constant = param_shapes_constant
        self.graph: Graph | None = None
        self.root = None
        self.tensor_attrs: dict[int, str] = {}
        self.submodule_paths: dict[int, str] | None = None

    # ------------------------------------------------------------------ nodes and proxies
    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None) -> Node:
        return self.graph.create_node(kind, target, args, kwargs, name, type_expr)

    def proxy(self, node: Node) -> Proxy:
        return Proxy(node, self)

    def create_proxy(
        self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None
    ) -> Proxy:
        """A node for ``target`` applied to ``args`` (proxies become their nodes) and its proxy."""
        node = self.create_node(
            kind,
            target,
            self.create_arg(tuple(args)),
            self.create_arg(dict(kwargs)),
            name,
            type_expr,
        )
        return self.proxy(node) if proxy_factory_fn is None else proxy_factory_fn(node)

    def create_arg(self, a: Any):
        """A value as a node argument: proxies become nodes, parameters and tensors held
        by the root module become ``get_attr`` nodes, other tensors become constants
        (``_tensor_constant0``) on the root."""
        import kiln

        if isinstance(a, Proxy):
            return a.node
        if isinstance(a, Node):
            return a
        if isinstance(a, kiln.nn.Parameter):
            for name, p in self.root.named_parameters():
                if a is p:
                    return self.create_node("get_attr", name, (), {})
            raise NameError("parameter is not a member of this module")
        if isinstance(a, kiln.Tensor):
            if self.root is None:
                raise NotImplementedError(
                    f"kiln.fx: a tensor argument ({tuple(a.shape)}, {a.dtype}) of a node "
                    "appended to a graph without a root module"
                )
            qualname = self.tensor_attrs.get(id(a))
            if qualname is None:
                i = 0
                while hasattr(self.root, f"_tensor_constant{i}"):
                    i += 1
                qualname = f"_tensor_constant{i}"
                setattr(self.root, qualname, a)
                self.tensor_attrs[id(a)] = qualname
            return self.create_node("get_attr", qualname, (), {})
        if isinstance(a, tuple):
            if hasattr(a, "_fields"):
                return type(a)(*(self.create_arg(x) for x in a))
            return tuple(self.create_arg(x) for x in a)
        if isinstance(a, list):
            return [self.create_arg(x) for x in a]
        if isinstance(a, dict):
            out = {}
            for k, v in a.items():
                if isinstance(k, Proxy):
                    raise RuntimeError(
                        "Keys for dictionaries used as an argument cannot contain a Node. "
                        f"Got key: {k}"
                    )
                out[k] = self.create_arg(v)
            return out
        if isinstance(a, slice):
            return slice(self.create_arg(a.start), self.create_arg(a.stop), self.create_arg(a.step))
        if isinstance(a, range):
            return range(self.create_arg(a.start), self.create_arg(a.stop), self.create_arg(a.step))
        if a is None or a is ... or isinstance(a, (str, int, float, bool, complex)):
            return a
        if isinstance(a, (kiln.dtype, kiln.device, kiln.memory_format, type)) or callable(a):
            return a
        raise NotImplementedError(f"argument of type: {type(a)}")

    # ------------------------------------------------------------------ modules
    def is_leaf_module(self, m, module_qualified_name: str) -> bool:
        """kiln.nn's own layers are leaves (``call_module`` nodes), except ``Sequential``."""
        import kiln

        return m.__module__.startswith("kiln.nn") and not isinstance(m, kiln.nn.Sequential)

    def path_of_module(self, mod) -> str:
        if self.submodule_paths is None:
            self.submodule_paths = {id(m): name for name, m in self.root.named_modules()}
        path = self.submodule_paths.get(id(mod))
        if path is None:
            raise NameError("module is not installed as a submodule")
        return path

    def call_module(self, m, forward: Callable, args: tuple, kwargs: dict):
        """A leaf module becomes one ``call_module`` node; another runs its forward."""
        qualified_name = self.path_of_module(m)
        if not self.is_leaf_module(m, qualified_name):
            return forward(*args, **kwargs)
        return self.create_proxy("call_module", qualified_name, args, kwargs)

    def getattr(self, attr: str, attr_val, parameter_proxy_cache: dict):
        """A parameter or buffer read in forward is a ``get_attr`` node (one per name)."""
        import kiln

        if isinstance(attr_val, kiln.Tensor):
            if isinstance(attr_val, kiln.nn.Parameter):
                collection = self.root.named_parameters()
            else:
                collection = self.root.named_buffers()
            for name, p in collection:
                if attr_val is p:
                    if name not in parameter_proxy_cache:
                        parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {})
                    return parameter_proxy_cache[name]
        return attr_val

    # ------------------------------------------------------------------ tracing
    def create_args_for_root(self, root_fn: Callable, is_module: bool, concrete_args=None):
        """Placeholders for ``root_fn``'s parameters: ``(function to call, its arguments)``.
        Keyword-only parameters, ``*args`` and ``**kwargs`` become positional placeholders
        (``*args`` is one proxy, indexed as ``args[0]``), as torch.fx does."""
        fn = inspect.unwrap(root_fn)
        code = fn.__code__
        n_named = code.co_argcount + code.co_kwonlyargcount
        names = list(code.co_varnames[:n_named])
        signature = inspect.signature(fn)
        if is_module:
            names = names[1:]
        if isinstance(concrete_args, tuple):
            if len(concrete_args) != len(names):
                raise RuntimeError(
                    f"Tracing expected {len(names)} arguments but got {len(concrete_args)} "
                    "concrete arguments"
                )
            concrete_args = dict(zip(names, concrete_args))
        args = [self.root] if is_module else []
        args.extend(self._proxy_placeholder(name, concrete_args, signature) for name in names)
        star_names = iter(code.co_varnames[n_named:])
        if code.co_flags & inspect.CO_VARARGS:
            args.append(self.create_proxy("placeholder", "*" + next(star_names), (), {}))
        if code.co_flags & inspect.CO_VARKEYWORDS:
            args.append(self.create_proxy("placeholder", "**" + next(star_names), (), {}))
        if code.co_kwonlyargcount or code.co_flags & _VARIADIC:
            root_fn = _all_positional(fn, len(args))
        return root_fn, args

    def _proxy_placeholder(self, name: str, concrete_args, signature):
        param = signature.parameters[name]
        default = () if param.default is inspect.Parameter.empty else (param.default,)
        if concrete_args is not None and name in concrete_args:
            value = concrete_args[name]
            out = self.create_proxy("placeholder", f"{name}_1", default, {})
            if value is None:
                message = f"{name} has been specialized to have value None but got another value"
                self.create_proxy("call_function", _assert_is_none, (out, message), {})
            elif type(value) in (bool, int, float, str):
                message = f"{name} has been specialized to have value {value} but got another value"
                self.create_proxy("call_function", _assert, (out == value, message), {})
            return value
        return self.create_proxy("placeholder", name, default, {})

    def trace(self, root, concrete_args: dict | tuple | None = None) -> Graph:
        """The graph of ``root`` (a module's forward or a function) called on proxies."""
        import kiln

        Module = kiln.nn.Module
        if isinstance(root, Module):
            self.root = root
            fn = type(root).forward
        else:
            self.root = Module()
            fn = root
        self.graph = Graph(tracer_cls=type(self))
        self.submodule_paths = None
        self.tensor_attrs = {}
        for name, t in _tensor_attributes(self.root):
            self.tensor_attrs.setdefault(id(t), name)
        fn_globals = getattr(inspect.unwrap(fn), "__globals__", {})
        parameter_proxy_cache: dict[str, Proxy] = {}
        tracer = self
        original_getattr = Module.__getattr__
        original_call = Module.__call__

        # the module patches are process-wide: other threads keep running modules as usual
        tracing_thread = threading.get_ident()

        def module_getattr(mod, attr):
            value = original_getattr(mod, attr)
            if threading.get_ident() != tracing_thread:
                return value
            return tracer.getattr(attr, value, parameter_proxy_cache)

        def module_call(mod, *args, **kwargs):
            if threading.get_ident() != tracing_thread:
                return original_call(mod, *args, **kwargs)

            def forward(*args, **kwargs):
                return original_call(mod, *args, **kwargs)

            module_forward = getattr(type(mod), "forward", None)
            patcher.autowrap(getattr(module_forward, "__globals__", {}), autowrap_ids)
            return tracer.call_module(mod, forward, args, kwargs)

        autowrap_ids = dict(self._autowrap_ids)
        autowrap_ids.update((key, fn) for key, (_, fn) in _public_functions().items())
        patcher = _Patcher()
        with record_kiln_functions():
            try:
                fn, args = self.create_args_for_root(fn, isinstance(root, Module), concrete_args)
                patcher.setattr(Module, "__getattr__", module_getattr)
                patcher.setattr(Module, "__call__", module_call)
                for (_, name), globals_ in list(_wrapped_functions.items()):
                    original = globals_.get(name, getattr(builtins, name, None))
                    if original is not None:
                        patcher.setitem(globals_, name, _recording(original, wrapped=True))
                patcher.autowrap(fn_globals, autowrap_ids)
                for module in self._autowrap_modules:  # math.sqrt(proxy) is a node too
                    patcher.autowrap(vars(module), autowrap_ids)
                result = fn(*args)
                self.create_node("output", "output", (self.create_arg(result),), {})
            finally:
                patcher.undo()
        self.submodule_paths = None
        return self.graph


class GraphAppendingTracer(Tracer):
    """A tracer that appends to an existing graph (``Proxy(node)`` without a tracer);
    tensor constants go to the graph's owning module, if it has one."""

    def __init__(self, graph: Graph):
        super().__init__()
        self.graph = graph
        self.root = graph.owning_module
        self.tensor_attrs = {}


_VARIADIC = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _all_positional(fn: types.FunctionType, n_args: int) -> types.FunctionType:
    """``fn`` whose keyword-only, ``*args`` and ``**kwargs`` parameters are plain
    positional ones (so each can receive one proxy)."""
    code = fn.__code__.replace(
        co_argcount=n_args,
        co_posonlyargcount=0,
        co_kwonlyargcount=0,
        co_flags=fn.__code__.co_flags & ~_VARIADIC,
    )
    return types.FunctionType(code, fn.__globals__, fn.__name__, None, fn.__closure__)


def _tensor_attributes(module, prefix: str = ""):
    """(qualified name, tensor) for every tensor held by the module tree (not parameters)."""
    import kiln

    for name, value in vars(module).items():
        if isinstance(value, kiln.Tensor) and not isinstance(value, kiln.nn.Parameter):
            yield prefix + name, value
    for name, child in module.named_children():
        yield from _tensor_attributes(child, f"{prefix}{name}.")


def _assert_is_none(value, message: str) -> None:
    assert value is None, message


def _assert(condition, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def symbolic_trace(root, concrete_args: dict | None = None):
    """Trace ``root`` (a module or a function) into a ``GraphModule``.

    >>> import kiln
    >>> gm = symbolic_trace(lambda x, y: kiln.add(x, y) * 2)
    >>> print(gm.code.strip())
    def forward(self, x, y):
        add = kiln.add(x, y);  x = y = None
        mul = add * 2;  add = None
        return mul
    """
    import kiln

    from .graph_module import GraphModule

    tracer = Tracer()
    graph = tracer.trace(root, concrete_args)
    name = type(root).__name__ if isinstance(root, kiln.nn.Module) else root.__name__
    return GraphModule(tracer.root, graph, name)


__all__ = ["Attribute", "TraceError", "Tracer", "record_kiln_functions", "symbolic_trace", "wrap"]
