"""``kiln.jit``: trace once per input signature, compile, and run the compiled graph after.

>>> @jit
... def hyp(a, b):
...     return (a ** 2 + b ** 2) ** 0.5
>>> hyp(tensor([3.0]), tensor([4.0]))
tensor([5.])

The cache key covers the argument tree: tensors by shape, dtype, device and
``requires_grad``; Python ``int``/``float`` by type (they become 0-d graph inputs); every
other leaf (``bool``, strings, ``None``, modules) and static arguments by value. Tensors
read from closures and modules are captured inputs, checked on every call; guards (a
module's ``training`` flag) are re-read on every call. A changed key or guard retraces,
and ``KILN_LOG=recompiles`` logs why.

Environment switches: ``KILN_DISABLE_JIT=1`` runs every jitted function eagerly;
``KILN_DUMP=<folder>`` writes each compiled function's graph after every pass and its
kernels into ``<folder>/<function name>/``.
"""

from __future__ import annotations

import functools
import inspect as _inspect
import logging
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from kiln.compiler.compile import compile_graph
from kiln.compiler.primitives import DTYPE_SHORT

from . import dtypes
from .autograd import grad_mode
from .dispatch import current_trace
from .tensor import Tensor, _wrap
from .tracing import TracerTensor, TraceState, tracing

log = logging.getLogger("kiln.jit")


class JitConfig:
    """Python switches (the environment variables set their defaults)."""

    def __init__(self):
        logs = os.environ.get("KILN_LOG", "")
        self.log_recompiles = "recompiles" in logs.split(",")
        self.disable = os.environ.get("KILN_DISABLE_JIT", "") not in ("", "0")
        self.dump_dir = os.environ.get("KILN_DUMP") or None
        self.cache_size_limit = 8


config = JitConfig()
if config.log_recompiles and not log.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("kiln.jit: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)


# ------------------------------------------------------------------------------ signatures

_DYNAMIC_SCALARS = (int, float)


def _flatten(tree, leaves: list, path: str):
    """Flatten ``tree`` into ``leaves`` [(path, value)] and return its hashable structure."""
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        kids = tuple(_flatten(v, leaves, f"{path}[{i}]") for i, v in enumerate(tree))
        return (type(tree).__name__, kids)
    if isinstance(tree, dict):
        keys = sorted(tree, key=repr)
        return ("dict", tuple((k, _flatten(tree[k], leaves, f"{path}[{k!r}]")) for k in keys))
    leaves.append((path, tree))
    return "*"


def _leaf_key(value):
    if isinstance(value, Tensor):
        return (
            "tensor",
            tuple(value.shape),
            value.dtype.name,
            bool(value.requires_grad),
            str(value.device),
        )
    if type(value) in _DYNAMIC_SCALARS:
        return ("scalar", type(value).__name__)
    try:
        hash(value)
        return ("static", type(value).__name__, value)
    except TypeError:
        return ("static-id", type(value).__name__, id(value))


def _describe(key) -> str:
    if key[0] == "tensor":
        grad = ", requires_grad" if key[3] else ""
        return f"tensor {DTYPE_SHORT.get(key[2], key[2])}{list(key[1])}{grad}"
    if key[0] == "scalar":
        return f"Python {key[1]}"
    return f"{key[1]} {key[2]!r}"


# ------------------------------------------------------------------------------ compiled


@dataclass
class Compiled:
    """One traced-and-compiled signature of a jitted function."""

    executable: object
    graph: object
    fetchers: list  # one per graph input: a function (arg_values) -> ndarray
    captured: list  # (tensor, shape, dtype, requires_grad) checked before each call
    guards: list
    out_structure: object
    out_leaves: list  # per output leaf: ("out", index) or ("const", python value)
    writebacks: list = field(default_factory=list)  # (tensor, output index)
    grad_writebacks: list = field(default_factory=list)  # (tensor or arg pos, output index)
    backward: object = None  # a CompiledBackward when outputs take part in eager autograd

    def stale_reason(self) -> str | None:
        for t, shape, dt, rg in self.captured:
            if t._data is None:
                return "a captured tensor has no data"
            if t._data.shape != shape or t._data.dtype != dt:
                return (
                    f"a captured tensor changed from {dt.name}{list(shape)} to "
                    f"{t._data.dtype.name}{list(t._data.shape)}"
                )
            if t.requires_grad != rg:
                return f"a captured tensor's requires_grad changed to {t.requires_grad}"
        for description, getter, value in self.guards:
            if getter() != value:
                return f"{description} changed from {value!r} to {getter()!r}"
        return None

    def run(self, values):
        arrays = [fetch(values) for fetch in self.fetchers]
        results = self.executable.run(arrays)
        for t, k in self.writebacks:
            t._data = results[k]
            t._version += 1
        for target, k in self.grad_writebacks:
            if isinstance(target, int):  # an argument: accumulate, as eager backward would
                leaf = values[target]
                grad = _wrap_result(results[k])
                leaf.grad = grad if leaf.grad is None else leaf.grad + grad
            elif k is None:
                target.grad = None
            else:
                target.grad = _wrap_result(results[k])
        out = []
        for kind, v in self.out_leaves:
            out.append(_wrap_result(results[v]) if kind == "out" else v)
        if self.backward is not None:
            self.backward.attach(out, self.out_leaves, results, values)
        return _unflatten(self.out_structure, iter(out))


def _unflatten(structure, leaves):
    if structure == "*":
        return next(leaves)
    kind, kids = structure
    if kind == "dict":
        return {k: _unflatten(s, leaves) for k, s in kids}
    items = [_unflatten(s, leaves) for s in kids]
    return tuple(items) if kind == "tuple" else items


class Inspection:
    """What ``f.inspect(*args)`` returns: the graphs of every stage and the kernels."""

    def __init__(self, compiled: Compiled):
        exe = compiled.executable
        self.traced = exe.traced
        self.optimized = exe.optimized
        self.stages = list(exe.stages)
        self.kernels = list(exe.kernels)

    def __repr__(self) -> str:
        return (
            f"<Inspection: {len(self.traced.nodes)} traced nodes, "
            f"{len(self.optimized.nodes)} after passes, {len(self.kernels)} kernels>"
        )


# ------------------------------------------------------------------------------ the wrapper


class JitFunction:
    """A function compiled by ``kiln.jit``; call it like the original."""

    def __init__(self, fn, static_argnums=(), static_argnames=(), name=None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = tuple(static_argnames)
        self.cache: dict = {}
        self.trace_count = 0
        self._warned = False
        try:
            self._signature = _inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        functools.update_wrapper(self, fn, updated=())

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self.__call__, obj)

    # -------------------------------------------------------------- keys
    def _key(self, args, kwargs):
        leaves: list = []
        static = []
        dyn_args = []
        for i, a in enumerate(args):
            if i in self.static_argnums:
                static.append((i, _hashable_static(a)))
                dyn_args.append(None)
            else:
                dyn_args.append(a)
        dyn_kwargs = {}
        for k, v in kwargs.items():
            if k in self.static_argnames:
                static.append((k, _hashable_static(v)))
            else:
                dyn_kwargs[k] = v
        names = self._arg_names(len(dyn_args))
        structure = (
            "args",
            tuple(_flatten(a, leaves, names[i]) for i, a in enumerate(dyn_args)),
            tuple((k, _flatten(v, leaves, k)) for k, v in sorted(dyn_kwargs.items())),
        )
        key = (
            structure,
            tuple(static),
            tuple(_leaf_key(v) for _, v in leaves),
            grad_mode.is_grad_enabled(),
        )
        return key, leaves

    def _arg_names(self, n):
        names = []
        params = list(self._signature.parameters.values()) if self._signature else []
        for i in range(n):
            if i < len(params) and params[i].kind in (
                params[i].POSITIONAL_ONLY,
                params[i].POSITIONAL_OR_KEYWORD,
            ):
                names.append(params[i].name)
            else:
                names.append(f"args[{i}]")
        return names

    # -------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        if config.disable or current_trace() is not None:
            return self.fn(*args, **kwargs)  # inside another trace: inline
        key, leaves = self._key(args, kwargs)
        values = [v for _, v in leaves]
        compiled = self._lookup(key, leaves)
        if compiled is None:
            compiled = self._compile(args, kwargs, leaves, key)
        return compiled.run(values)

    def _lookup(self, key, leaves):
        """A compiled variant for ``key`` whose captured tensors and guards still hold.

        One key keeps several variants (a module in train and in eval mode), so switching
        back and forth does not retrace.
        """
        variants = self.cache.get(key)
        if not variants:
            self._explain_new_key(key, leaves)
            return None
        for compiled in variants:
            if compiled.stale_reason() is None:
                return compiled
        self._log(f"retracing {self.name}: {variants[-1].stale_reason()}")
        return None

    def _log(self, message):
        if config.log_recompiles:
            log.info(message)

    def _explain_new_key(self, key, leaves):
        if not self.cache:
            self._log(f"tracing {self.name} for the first time")
            return
        previous = list(self.cache)[-1]
        self._log(f"retracing {self.name}: {_diff_keys(previous, key, leaves)}")

    def _compile(self, args, kwargs, leaves, key) -> Compiled:
        compiled = self.trace_and_compile(args, kwargs, leaves)
        self.cache.setdefault(key, []).append(compiled)
        count = sum(len(v) for v in self.cache.values())
        if count > config.cache_size_limit and not self._warned:
            self._warned = True
            warnings.warn(
                f"kiln.jit: {self.name} has been compiled {count} times (limit "
                f"{config.cache_size_limit}); set KILN_LOG=recompiles to see why, and consider "
                "static_argnums or fixed shapes",
                stacklevel=3,
            )
        return compiled

    def trace_and_compile(self, args, kwargs, leaves) -> Compiled:
        self.trace_count += 1
        trace = TraceState(self.name)
        trace.allows_collectives = True  # an all_reduce splits the compiled step in stages
        fetchers = []
        arg_map = {}
        for pos, (path, value) in enumerate(leaves):
            if isinstance(value, Tensor):
                t = trace.add_argument(value, path)
                fetchers.append(_fetch_tensor(pos))
                arg_map[id(value)] = t
            elif type(value) in _DYNAMIC_SCALARS:
                dt = dtypes.get_default_dtype() if isinstance(value, float) else dtypes.int64
                node = trace.graph.add_input((), dt.name, name=path)
                t = TracerTensor(trace, node)
                fetchers.append(_fetch_scalar(pos, dt.np))
                arg_map[id(value)] = t
        new_args, new_kwargs = _substitute(
            args, kwargs, leaves, arg_map, self.static_argnums, self.static_argnames
        )
        with tracing(trace):
            try:
                result = self.fn(*new_args, **new_kwargs)
            finally:
                trace.restore()
        return self._finish(trace, result, fetchers)

    def _finish(self, trace: TraceState, result, fetchers) -> Compiled:
        graph = trace.graph
        out_leaves_raw: list = []
        structure = _flatten(result, out_leaves_raw, "")
        outputs, out_leaves = [], []
        for _, v in out_leaves_raw:
            if isinstance(v, Tensor):
                out_leaves.append(("out", len(outputs)))
                outputs.append(trace.node_of(v))
            else:
                out_leaves.append(("const", v))
        writebacks = []
        for t, node in trace.mutations():
            writebacks.append((t, len(outputs)))
            outputs.append(node)
        grad_writebacks = []
        for leaf, g, _ in trace.grads.values():
            target = trace.arg_leaves.get(id(leaf), leaf)
            if g is None:
                if not isinstance(target, int):
                    grad_writebacks.append((target, None))
                continue
            grad_writebacks.append((target, len(outputs)))
            outputs.append(trace.node_of(g))
        # graph inputs in creation order: arguments were added by trace_and_compile;
        # captured tensors, RNG seeds and live scalars were added while tracing.
        captured_nodes = {node: t for t, node in trace.captured.values()}
        seed_nodes = dict((node, gen) for gen, node in trace.seeds)
        grad_nodes = {node: leaf for leaf, node in trace.grad_inputs}
        scalar_nodes = dict((node, getter) for getter, node in trace.live_scalars)
        all_fetchers = []
        arg_iter = iter(fetchers)
        for node in graph.inputs:
            if node in captured_nodes:
                all_fetchers.append(_fetch_captured(captured_nodes[node]))
            elif node in seed_nodes:
                all_fetchers.append(_fetch_seed(seed_nodes[node]))
            elif node in scalar_nodes:
                all_fetchers.append(_fetch_live(scalar_nodes[node], node.dtype))
            elif node in grad_nodes:
                all_fetchers.append(_fetch_grad(grad_nodes[node]))
            else:
                all_fetchers.append(next(arg_iter))
        graph.outputs = outputs
        differentiable = [
            k
            for (kind, k), (_, v) in zip(out_leaves, out_leaves_raw)
            if kind == "out"
            and isinstance(v, Tensor)
            and v.requires_grad
            and v.dtype.is_floating_point
        ]
        backward = None
        if differentiable and not trace.grads and grad_mode.is_grad_enabled():
            backward = _build_backward(
                trace, [v for _, v in out_leaves_raw if isinstance(v, Tensor)], differentiable
            )
            graph = trace.graph
        captured = [
            (t, t._data.shape, t._data.dtype, t.requires_grad) for t, _ in trace.captured.values()
        ]
        dump = os.path.join(config.dump_dir, self.name) if config.dump_dir else None
        if backward is not None:
            executable = backward.compile(graph, len(outputs), trace.device)
        else:
            executable = self._compile_graph(trace, graph)
        if dump:
            write_dump(executable, dump)
            if backward is not None:
                write_dump(backward.executable, dump + "_backward")
        # grads of arguments go to the caller's tensors: store positions
        grad_targets = []
        for target, k in grad_writebacks:
            grad_targets.append((target, k))
        return Compiled(
            executable,
            graph,
            all_fetchers,
            captured,
            trace.guards,
            structure,
            out_leaves,
            writebacks,
            grad_targets,
            backward,
        )

    def _compile_graph(self, trace: TraceState, graph):
        """Compile the traced graph; a step with collectives runs in stages around them."""
        collectives = trace.collectives
        if collectives:
            from .distributed.staged import StagedExecutable

            return StagedExecutable(graph, collectives, trace.device)
        return compile_for_device(graph, trace.device)

    # -------------------------------------------------------------- inspection
    def inspect(self, *args, **kwargs) -> Inspection:
        """Trace and compile for these arguments without running; return the stages."""
        key, leaves = self._key(args, kwargs)
        compiled = self._lookup(key, leaves) or self._compile(args, kwargs, leaves, key)
        return Inspection(compiled)

    def lower(self, *args, **kwargs):
        return self.inspect(*args, **kwargs)


def _hashable_static(value):
    try:
        hash(value)
        return value
    except TypeError:
        return ("id", id(value))


def _substitute(args, kwargs, leaves, arg_map, static_argnums, static_argnames):
    def sub(tree):
        if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
            return type(tree)(sub(v) for v in tree)
        if isinstance(tree, dict):
            return {k: sub(v) for k, v in tree.items()}
        if isinstance(tree, Tensor) or type(tree) in _DYNAMIC_SCALARS:
            return arg_map.get(id(tree), tree)
        return tree

    new_args = tuple(a if i in static_argnums else sub(a) for i, a in enumerate(args))
    new_kwargs = {k: v if k in static_argnames else sub(v) for k, v in kwargs.items()}
    return new_args, new_kwargs


def compile_for_device(graph, device: str):
    """The CPU compiler, or the CUDA one for graphs whose inputs live on a GPU."""
    if device == "cuda":
        from kiln.compiler.compile_cuda import compile_graph_cuda

        return compile_graph_cuda(graph)
    return compile_graph(graph, device=device)


def _wrap_result(array):
    """An executable's result as a tensor on the device the array lives on."""
    if type(array) is np.ndarray:
        return _wrap(array)
    from . import cuda

    return cuda.wrap(array)


def _fetch_tensor(pos):
    def fetch(values):
        return values[pos]._data

    return fetch


def _fetch_scalar(pos, npdtype):
    def fetch(values):
        return np.asarray(values[pos], dtype=npdtype)

    return fetch


def _fetch_captured(t):
    def fetch(values):
        return t._data

    return fetch


def _fetch_grad(leaf):
    def fetch(values):
        return leaf._grad._data

    return fetch


def _fetch_seed(generator):
    def fetch(values):
        return generator.next_seed()

    return fetch


def _fetch_live(getter, dtype_name):
    def fetch(values):
        return np.asarray(getter(), dtype=dtype_name)

    return fetch


def _diff_keys(old, new, leaves) -> str:
    if old[0] != new[0]:
        return "the structure of the arguments changed"
    if old[1] != new[1]:
        changes = [
            f"static argument {k} changed from {a!r} to {b!r}"
            for (k, a), (_, b) in zip(old[1], new[1])
            if a != b
        ]
        return "; ".join(changes) or "static arguments changed"
    changes = []
    for (path, _), a, b in zip(leaves, old[2], new[2]):
        if a != b:
            changes.append(f"argument {path!r}: {_describe(a)} -> {_describe(b)}")
    return "; ".join(changes) or "new signature"


def write_dump(executable, folder: str) -> None:
    """Write every stage's graph (text and DOT) and every kernel's source into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for k, (name, graph) in enumerate(executable.stages):
        base = os.path.join(folder, f"{k:02d}_{name}")
        with open(base + ".txt", "w") as f:
            f.write(graph.format() + "\n")
        with open(base + ".dot", "w") as f:
            f.write(graph.to_dot())
    for k, source in enumerate(executable.kernels):
        with open(os.path.join(folder, f"kernel_{k}.py"), "w") as f:
            f.write(source)


def jit(fn=None, *, static_argnums=(), static_argnames=()):
    """Compile ``fn`` (a function or an ``nn.Module``); usable with or without arguments.

    >>> @jit(static_argnums=(1,))
    ... def power(x, n):
    ...     return x ** n
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)

    def wrap(f):
        return JitFunction(f, static_argnums, static_argnames)

    return wrap if fn is None else wrap(fn)


def trace(fn, *args, **kwargs):
    """Trace ``fn`` on ``args`` and return the graph (define now, run later with new inputs).

    >>> g = trace(lambda x: x * 2, zeros(3))
    >>> print(g.format(with_source=False))
    graph <lambda>(%0: f32[3]) {
      %1: f32[] = const {value=2.0}
      %2: f32[3] = mul %0, %1
      return %2
    }
    """
    jf = JitFunction(fn)
    key, leaves = jf._key(args, kwargs)
    state_trace = TraceState(jf.name)
    arg_map = {}
    for path, value in leaves:
        if isinstance(value, Tensor):
            arg_map[id(value)] = state_trace.add_argument(value, path)
    new_args, new_kwargs = _substitute(args, kwargs, leaves, arg_map, (), ())
    with tracing(state_trace):
        try:
            result = fn(*new_args, **new_kwargs)
        finally:
            state_trace.restore()
    out: list = []
    _flatten(result, out, "")
    state_trace.graph.outputs = [state_trace.node_of(v) for _, v in out if isinstance(v, Tensor)]
    return state_trace.graph


# ------------------------------------------------------------------------------ autograd


def _build_backward(trace: TraceState, out_tensors, differentiable):
    """Trace the backward of the outputs into the same graph (the joint graph)."""
    from .autograd.tape import run_backward

    sources = [
        (pos, t) for t, pos in ((t, trace.arg_leaves[id(t)]) for t in trace.args) if t.requires_grad
    ]
    sources += [(None, t) for t, _ in trace.captured.values() if t.requires_grad]
    cotangents = []
    for k in differentiable:
        o = out_tensors[k]
        node = trace.graph.add_input(o.shape, o.dtype.name, name="cotangent")
        cotangents.append(TracerTensor(trace, node))
    with tracing(trace):
        found = run_backward(
            [out_tensors[k] for k in differentiable],
            cotangents,
            retain_graph=True,
            create_graph=False,
        )
    grad_nodes = []
    kept_sources = []
    for pos, t in sources:
        g = found.get(t)
        if g is not None:
            kept_sources.append(pos if pos is not None else t)
            grad_nodes.append(trace.node_of(g))
    return CompiledBackward(kept_sources, grad_nodes, [c._node for c in cotangents], differentiable)


class CompiledBackward:
    """The backward half of a jitted function called from eager autograd."""

    def __init__(self, sources, grad_nodes, cotangent_nodes, differentiable):
        self.sources = sources  # argument positions or captured tensors
        self.grad_nodes = grad_nodes
        self.cotangent_nodes = cotangent_nodes
        self.differentiable = differentiable  # indices into the graph's outputs
        self.executable = None
        self.n_outputs = 0

    def compile(self, graph, n_outputs, device):
        from kiln.compiler.partition import split_joint

        self.n_outputs = n_outputs
        graph.outputs = list(graph.outputs) + self.grad_nodes
        forward, backward, _ = split_joint(graph, n_outputs, self.cotangent_nodes)
        self.executable = compile_for_device(backward, device)
        self.shapes = [(n.shape, n.dtype) for n in self.cotangent_nodes]
        return compile_for_device(forward, device)

    def attach(self, out, out_leaves, results, values):
        saved = results[self.n_outputs :]
        sources = [values[s] if isinstance(s, int) else s for s in self.sources]
        leaf_index = {v: i for i, (kind, v) in enumerate(out_leaves) if kind == "out"}
        for slot, k in enumerate(self.differentiable):
            t = out[leaf_index[k]]
            t.requires_grad = True
            t.grad_fn = JitBackward(self, saved, sources, slot)


class JitBackward:
    """The ``grad_fn`` of a jitted function's output: runs the compiled backward graph."""

    versions = None
    retained = None

    def __init__(self, owner: CompiledBackward, saved, sources, slot):
        self.owner = owner
        self.saved = saved
        self.inputs = sources
        self.slot = slot
        self.edges = tuple(
            x.grad_fn if x.grad_fn is not None else (x if x.requires_grad else None)
            for x in sources
        )

    def name(self) -> str:
        return "CompiledFunctionBackward"

    @property
    def next_functions(self):
        return tuple((e, 0) for e in self.edges)

    def apply(self, g):
        if grad_mode.is_grad_enabled():
            raise RuntimeError(
                "kiln.jit: double backward (create_graph=True) through a "
                "jitted function is not supported; call the function without "
                "kiln.jit for higher-order gradients"
            )
        cotangents = [np.zeros(shape, dtype=dt) for shape, dt in self.owner.shapes]
        cotangents[self.slot] = np.asarray(g._data, dtype=self.owner.shapes[self.slot][1])
        grads = self.owner.executable.run(list(self.saved) + cotangents)
        return [_wrap_result(a) for a in grads]
