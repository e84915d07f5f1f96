"""``kiln.compile``: ``torch.compile``'s signature over ``kiln.jit``'s semantics.

>>> import kiln, kiln.nn as nn
>>> model = kiln.compile(nn.Linear(3, 2))       # an OptimizedModule
>>> sorted(model.state_dict())                  # as torch's: the module is ``_orig_mod``
['_orig_mod.bias', '_orig_mod.weight']
>>> model(kiln.ones(4, 3)).shape
kiln.Size([4, 2])

What each argument does in kiln:

- ``backend``: ``"inductor"`` (PyTorch's default), ``"kiln"`` or ``None`` compile with
  ``kiln.jit``; ``"eager"`` and ``"aot_eager"`` run the Python code as it is; a callable is a
  custom back end, called once per input signature as ``backend(gm, example_inputs)`` with
  a ``GraphModule`` (kiln's graph, callable on its inputs) and one tensor per graph input
  (the arguments, then the tensors the function read: parameters, buffers); it returns a
  callable taking those tensors and returning the graph's outputs (``gm.forward`` will do).
  A custom back end runs inference only: with grad mode on and an input that requires
  grad it raises, rather than return results without gradients.
- ``fullgraph``: kiln always compiles whole graphs. With ``fullgraph=False`` (PyTorch's
  default) a function that cannot be traced (Python control flow on a tensor's value) runs
  eagerly for that input signature, with a warning, where PyTorch would break the graph;
  with ``fullgraph=True`` the trace error is raised.
- ``dynamic``: ``None`` (PyTorch's default) and ``True`` use ``kiln.jit``'s automatic
  dynamic shapes: a dimension seen at a second size (of 2 or more) becomes dynamic, and
  later sizes are specialized from its symbolic graph without tracing again (``True``
  does not trace symbolically from the first call, as PyTorch's does); ``False`` compiles
  every input shape on its own.
- ``mode`` and ``options``: checked and accepted; kiln has one optimization level.
- ``disable=True`` returns the function unchanged.

``kiln.compiler.set_stance``, ``disable`` and ``reset`` act on what this module makes
(``reset`` forgets the compiled variants of every ``kiln.compile`` result).
"""

from __future__ import annotations

import functools
import logging
import warnings
import weakref
from dataclasses import dataclass, field

from kiln.compiler import stance
from kiln.compiler.compile import compile_graph
from kiln.compiler.errors import TraceError

from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..context import current_trace
from ..nn.module import Module
from ..tensor import Tensor, _wrap
from ..tracing import TraceState, is_tracing, tracing
from .config import config as jit_config
from .config import log_decision
from .function import JitFunction, RecompileLimitHit
from .function import trace as trace_graph
from .signature import DYNAMIC_SCALARS, flatten, substitute, unflatten

MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
JIT_BACKENDS = (None, "inductor", "kiln", "default")
EAGER_BACKENDS = ("eager", "aot_eager")
dynamo_log = logging.getLogger("kiln._dynamo")  # (torch's recompile-limit warning's logger)

_compiled_functions: weakref.WeakSet = weakref.WeakSet()


def compile(  # noqa: A001  (PyTorch's name)
    model=None,
    *,
    fullgraph: bool = False,
    dynamic=None,
    backend="inductor",
    mode=None,
    options=None,
    disable: bool = False,
):
    """Compile a function or an ``nn.Module`` (see the module docstring for the arguments).

    Usable as ``kiln.compile(f)``, ``@kiln.compile`` and ``@kiln.compile(mode=...)``.
    """
    if mode is not None and options is not None:
        raise RuntimeError(
            "Either mode or options can be specified, but both can't be specified at the same time."
        )
    if mode not in MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(MODES[1:])}")
    if not callable(backend) and backend not in JIT_BACKENDS + EAGER_BACKENDS:
        raise RuntimeError(
            f"Invalid backend: {backend!r}; kiln.compile knows 'inductor' (kiln.jit), 'kiln', "
            "'eager', 'aot_eager' and callables"
        )
    settings = {"fullgraph": fullgraph, "dynamic": dynamic, "backend": backend}
    if model is None:
        return functools.partial(compile, **settings, mode=mode, options=options, disable=disable)
    if disable:
        return model
    if isinstance(model, Module):
        return OptimizedModule(model, CompiledFunction(model, **settings))
    if not callable(model):
        raise RuntimeError(f"kiln.compile: {type(model).__name__} is not callable")
    return CompiledFunction(model, **settings)


class CompiledFunction:
    """A function compiled by ``kiln.compile``; call it like the original."""

    def __init__(self, fn, fullgraph=False, dynamic=None, backend="inductor"):
        self._orig_fn = fn
        self.fullgraph = fullgraph
        self.dynamic = dynamic
        self.backend = backend
        self.jitted = JitFunction(fn, dynamic=dynamic)
        self.jitted.graph_breaks = True  # print() / print(tensor): run eagerly, as torch
        self._eager_keys: set = set()  # signatures that could not be traced (fullgraph=False)
        self._custom: dict = {}  # key -> CustomBackendVariant
        self.jitted.eager_past_limit = True  # (torch's recompile limit: see _past_limit)
        self._limit_logged = False
        _compiled_functions.add(self)
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args, **kwargs):
        if (
            self.backend in EAGER_BACKENDS
            or stance.compile_disabled()
            or current_trace() is not None
        ):
            return self._orig_fn(*args, **kwargs)
        current = stance.current_stance()
        if current != "default" or self._eager_keys or callable(self.backend):
            key, leaves = self.jitted._key(args, kwargs)
            if callable(self.backend):
                key = (key, tuple(v for _, v in leaves if type(v) in DYNAMIC_SCALARS))
            if key in self._eager_keys:
                return self._orig_fn(*args, **kwargs)
            if current != "default" and self._would_recompile(key):
                if current == "fail_on_recompile":
                    raise RuntimeError(
                        f"Detected recompile when torch.compile stance is 'fail_on_recompile' "
                        f"({self.jitted.name})"
                    )
                return self._orig_fn(*args, **kwargs)  # eager_on_recompile
            if callable(self.backend):
                return self._run_custom(key, leaves, args, kwargs)
        if jit_config.disable:
            return self.jitted(*args, **kwargs)
        try:
            compiled, leaves = self.jitted.variant(args, kwargs)
        except RecompileLimitHit as exc:  # torch's recompile limit: new inputs run eagerly
            if self.fullgraph:
                raise RuntimeError(f"Hard failure due to fullgraph=True: {exc}") from None
            self._past_limit(exc)
            return self._orig_fn(*args, **kwargs)
        except TraceError as exc:
            if self.fullgraph:
                raise
            self._eager_keys.add(self.jitted._key(args, kwargs)[0])
            warnings.warn(
                f"kiln.compile: {self.jitted.name} runs eagerly for these inputs: {exc}",
                stacklevel=2,
            )
            return self._orig_fn(*args, **kwargs)
        except Exception as exc:
            if self.fullgraph:
                raise
            # the function raised while it was traced (``raise ValueError``, an error of
            # the user's code): torch.compile runs the code before the raise eagerly, so
            # its effects (``backward()``'s gradients, ``step()``, in-place writes) are
            # kept; the trace changed no real state, so the eager call starts from the
            # state the caller left, and raises the error itself
            result = self._orig_fn(*args, **kwargs)
            # ... or it does not: then kiln could not trace what eager runs, and these
            # inputs run eagerly from now on (as a trace error's)
            self._eager_keys.add(self.jitted._key(args, kwargs)[0])
            warnings.warn(
                f"kiln.compile: {self.jitted.name} runs eagerly for these inputs: tracing "
                f"it raised {type(exc).__name__}: {exc}",
                stacklevel=2,
            )
            return result
        return compiled.run([v for _, v in leaves])

    def _past_limit(self, exc) -> None:
        """torch.compile's recompile limit: logged once (a warning of the logger
        ``kiln._dynamo``, as torch's ``torch._dynamo``), the call runs eagerly; each such
        call is in the retrace log (``KILN_LOG=recompiles``)."""
        name, limit = self.jitted.name, jit_config.cache_size_limit
        log_decision(f"kiln.compile: {name} runs eagerly for these inputs: {exc}")
        if self._limit_logged:
            return
        self._limit_logged = True
        code = getattr(self._orig_fn, "__code__", None) or getattr(
            getattr(self._orig_fn, "forward", None), "__code__", None
        )
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
        dynamo_log.warning(
            "kiln._dynamo hit config.recompile_limit (%s)\n"
            "   function: '%s'%s\n"
            "   last reason: %s\n"
            "Calls with new inputs run eagerly; the compiled variants stay. To log all "
            'recompilation reasons, use KILN_LOG="recompiles" (torch: TORCH_LOGS="recompiles").',
            limit,
            name,
            where,
            exc.reason,
        )

    def __get__(self, obj, objtype=None):
        """``@torch.compile`` on a method: bound to the instance, as a function is."""
        if obj is None:
            return self
        return functools.partial(self.__call__, obj)

    def _would_recompile(self, key) -> bool:
        if callable(self.backend):
            return bool(self._custom) and key not in self._custom
        return bool(self.jitted.cache) and self.jitted.would_trace(key)

    def reset(self) -> None:
        self.jitted.reset()
        self._limit_logged = False
        self._eager_keys = set()
        self._custom = {}

    # -------------------------------------------------------------- custom back ends
    def _run_custom(self, key, leaves, args, kwargs):
        variant = self._custom.get(key)
        if variant is None:
            variant = CustomBackendVariant.build(self, leaves, args, kwargs)
            self._custom[key] = variant
        return variant.run([v for _, v in leaves])


@dataclass
class CustomBackendVariant:
    """One input signature compiled by a custom back end."""

    function: object  # what the back end returned
    sources: list  # per graph input: an argument leaf index or a captured tensor
    out_structure: object
    out_leaves: list  # ("out", k) or ("const", value)
    needs_grad: list = field(default_factory=list)

    @classmethod
    def build(cls, compiled: CompiledFunction, leaves, args, kwargs):
        trace = TraceState(compiled.jitted.name)
        arg_map, positions = {}, {}
        for k, (path, value) in enumerate(leaves):
            if isinstance(value, Tensor):
                arg_map[id(value)] = trace.add_argument(value, path)
                positions[id(arg_map[id(value)]._node)] = k
        new_args, new_kwargs = substitute(args, kwargs, arg_map)
        with no_grad(), tracing(trace):
            result = compiled._orig_fn(*new_args, **new_kwargs)
        if trace.seeds or trace.mutations() or trace.grads or trace.collectives:
            raise NotImplementedError(
                f"kiln.compile: {compiled.jitted.name} draws random numbers, updates tensors "
                "in place or sets .grad; a custom backend gets pure graphs only (use the "
                "default backend)"
            )
        out: list = []
        structure = flatten(result, out, "")
        outputs, out_leaves = [], []
        for _, v in out:
            if isinstance(v, Tensor):
                out_leaves.append(("out", len(outputs)))
                outputs.append(trace.node_of(v))
            else:
                out_leaves.append(("const", v))
        trace.graph.outputs = outputs
        captured = {id(node): t for t, node in trace.captured.values()}
        sources, examples = [], []
        for node in trace.graph.inputs:
            if id(node) in positions:
                sources.append(positions[id(node)])
                examples.append(leaves[positions[id(node)]][1])
            elif id(node) in captured:
                sources.append(captured[id(node)])
                examples.append(captured[id(node)])
            else:
                raise NotImplementedError(
                    f"kiln.compile: {compiled.jitted.name} reads a live Python number (a "
                    "learning rate); a custom backend gets pure graphs only"
                )
        function = compiled.backend(GraphModule(trace.graph), examples)
        if not callable(function):
            raise TypeError(
                f"kiln.compile: the backend {compiled.backend!r} returned "
                f"{type(function).__name__}, not a callable"
            )
        return cls(function, sources, structure, out_leaves)

    def run(self, values):
        inputs = [values[s] if type(s) is int else s for s in self.sources]
        if is_grad_enabled() and any(t.requires_grad for t in inputs):
            raise NotImplementedError(
                "kiln.compile with a custom backend runs inference only, and an input requires "
                "grad: call it under kiln.no_grad(), or use the default backend to train"
            )
        results = self.function(*inputs)
        if isinstance(results, Tensor):
            results = [results]
        results = list(results)
        out = [results[v] if kind == "out" else v for kind, v in self.out_leaves]
        return unflatten(self.out_structure, iter(out))


class GraphModule:
    """What a custom back end receives: kiln's graph, callable on one tensor per input.

    ``graph`` is the traced ``kiln.compiler.Graph``; ``code`` its text; calling it (or
    ``forward``) runs the graph compiled by kiln and returns a tuple of tensors.
    """

    def __init__(self, graph):
        self.graph = graph
        self._executable = None

    @property
    def code(self) -> str:
        return self.graph.format()

    def print_readable(self, print_output: bool = True) -> str:
        if print_output:
            print(self.code)
        return self.code

    def forward(self, *inputs):
        if self._executable is None:
            self._executable = compile_graph(self.graph)
        results = self._executable.run([t._data for t in inputs])
        return tuple(_wrap(r) for r in results)

    __call__ = forward

    def __repr__(self) -> str:
        return f"GraphModule({self.graph!r})"


class OptimizedModule(Module):
    """``kiln.compile(module)``: the module runs compiled; it is ``_orig_mod`` inside.

    As PyTorch's: parameters, ``train()``/``eval()`` and ``state_dict()`` (keys prefixed
    with ``_orig_mod.``) are the original module's; other attributes are read from it.
    """

    def __init__(self, mod: Module, compiled: CompiledFunction):
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "training", mod.training)

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("__") or "_modules" not in self.__dict__:
                raise
            return getattr(self._modules["_orig_mod"], name)

    def __repr__(self) -> str:
        return f"OptimizedModule(\n  (_orig_mod): {self._orig_mod!r}\n)"


# ------------------------------------------------------------------------------ explain
@dataclass
class ExplainOutput:
    """What ``kiln.compiler.explain(fn)(*args)`` found, with ``torch._dynamo``'s names."""

    graphs: list
    graph_count: int
    graph_break_count: int
    break_reasons: list
    op_count: int

    @property
    def ops_per_graph(self) -> list:
        return [[n.op for n in g.nodes if n.op != "input"] for g in self.graphs]

    def __str__(self) -> str:
        lines = [
            f"Graph Count: {self.graph_count}",
            f"Graph Break Count: {self.graph_break_count}",
            f"Op Count: {self.op_count}",
        ]
        if self.break_reasons:
            lines.append("Break Reasons:")
            lines += [f"  {reason}" for reason in self.break_reasons]
        return "\n".join(lines)


def explain(fn, args, kwargs) -> ExplainOutput:
    """Trace ``fn`` once: one graph, or the reason it cannot be compiled (kiln has no graph
    breaks: a reason means the whole function would run eagerly under ``kiln.compile``)."""
    fn = getattr(fn, "_orig_fn", fn)
    try:
        graph = trace_graph(fn, *args, **kwargs)
    except TraceError as exc:
        return ExplainOutput([], 0, 1, [str(exc)], 0)
    ops = sum(1 for n in graph.nodes if n.op != "input")
    return ExplainOutput([graph], 1, 0, [], ops)


def _reset_all() -> None:
    for compiled in list(_compiled_functions):
        compiled.reset()


stance.on_reset(_reset_all)
stance.set_explainer(explain)
stance.set_tracing_probe(is_tracing)
