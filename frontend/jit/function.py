"""``JitFunction``: trace once per input signature, compile, and run the compiled graph after.

>>> import kiln
>>> @jit
... def hyp(a, b):
...     return (a ** 2 + b ** 2) ** 0.5
>>> hyp(kiln.tensor([3.0]), kiln.tensor([4.0]))
tensor([5.])

Each call computes the cache key of its arguments (``signature.py``) and runs a compiled
variant (``compiled.py``) stored under it whose captured tensors and guards still hold.
Tensors read from closures and modules are captured inputs, checked on every call; guards
(a module's ``training`` flag) are re-read on every call. A changed key or guard retraces,
and ``KILN_LOG=recompiles`` logs why.

Thread safety: a cache hit takes no lock. A miss takes the function's lock, looks again
(another thread may have compiled the variant meanwhile) and only then traces, so
concurrent first calls trace once and ``trace_count`` counts real traces.
"""

from __future__ import annotations

import functools
import inspect as _inspect
import threading
import warnings

from kiln.compiler.compile import compile_graph

from ..autograd.grad_mode import is_grad_enabled
from ..dispatch import current_trace
from ..profiler import record_function
from ..tensor import Tensor
from ..tracing import TracerTensor, TraceState, tracing
from .autograd_bridge import build_backward
from .compiled import (
    Compiled,
    Inspection,
    argument_fetcher,
    collect_outputs,
    input_fetchers,
    scalar_dtype,
)
from .config import config, log_decision
from .dumps import dump_variant
from .guards import GuardRecorder
from .signature import (
    DYNAMIC_SCALARS,
    diff_keys,
    flatten,
    identity_objects,
    make_key,
    substitute,
)


class JitFunction:
    """A function compiled by ``kiln.jit``; call it like the original, from any thread.

    ``cache`` maps each cache key to its compiled variants; ``trace_count`` counts the
    traces made so far (concurrent first calls with one key make one); ``inspect(*args)``
    compiles without running and returns the stages and kernels.
    """

    def __init__(self, fn, static_argnums=(), static_argnames=(), name=None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = tuple(static_argnames)
        # key -> [Compiled]; a list is replaced, never changed, so lock-free readers are safe
        self.cache: dict = {}
        self.trace_count = 0
        self._warned = False
        self._order: list = []  # (key, variant), oldest first: the eviction order
        self._changes: dict = {}  # guard name -> retraces it caused
        self._last_reason = ""
        # held while one thread looks up, traces, compiles and stores a variant; reentrant
        # so that a function calling itself eagerly (escape_trace) behaves as before
        self._lock = threading.RLock()
        try:
            self._signature = _inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        functools.update_wrapper(self, fn, updated=())

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self.__call__, obj)

    def _key(self, args, kwargs):
        return make_key(args, kwargs, self.static_argnums, self.static_argnames, self._signature)

    # -------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        top = current_trace()
        if config.disable or top is not None:
            # a transform may compile the function transformed (vmap: batched), else inline
            compile_under = getattr(top, "call_jitted", None)
            if compile_under is not None and not config.disable:
                return compile_under(self, args, kwargs)
            return self.fn(*args, **kwargs)
        key, leaves = self._key(args, kwargs)
        compiled = self._find(key)
        if compiled is None:
            compiled = self._compile(args, kwargs, leaves, key)
        return compiled.run([v for _, v in leaves])

    def _find(self, key):
        """A compiled variant for ``key`` whose captured tensors and guards still hold.

        One key keeps several variants (a module in train and in eval mode), so switching
        back and forth does not retrace.
        """
        for compiled in self.cache.get(key, ()):
            if compiled.stale_reason() is None:
                return compiled
        return None

    def _compile(self, args, kwargs, leaves, key) -> Compiled:
        """Trace and compile a variant for ``key``, unless another thread just did."""
        with self._lock:
            compiled = self._find(key)
            if compiled is not None:
                return compiled
            self._explain_trace(key, leaves)
            with record_function(f"kiln.jit compile {self.name}", kind="compile"):
                compiled = self.trace_and_compile(args, kwargs, leaves)
            self.cache[key] = [*self.cache.get(key, ()), compiled]
            self._order.append((key, compiled))
            self._evict()
            return compiled

    def _evict(self) -> None:
        """Keep at most ``config.cache_size_limit`` variants: drop dead ones, then the oldest.

        A variant is dead when a tensor or object it captured was freed (a discarded
        model): nothing can make it valid again.
        """
        limit = max(1, config.cache_size_limit)
        if len(self._order) <= limit:
            return
        dead = [(k, c) for k, c in self._order if c.is_dead()]
        victims = dead or self._order[: len(self._order) - limit]
        if not dead and not self._warned:
            self._warned = True
            warnings.warn(
                f"kiln.jit: {self.name} has been compiled {len(self._order)} times (limit "
                f"{config.cache_size_limit}; the oldest variant is dropped); the last "
                f"recompile was because {self._last_reason}. Set KILN_LOG=recompiles to see "
                "every reason; pass values that change on every call as arguments",
                stacklevel=4,
            )
        for key, compiled in victims[: max(1, len(self._order) - limit)]:
            self._order.remove((key, compiled))
            variants = [c for c in self.cache.get(key, ()) if c is not compiled]
            if variants:
                self.cache[key] = variants
            else:
                self.cache.pop(key, None)

    def _explain_trace(self, key, leaves):
        """Find (and, with ``KILN_LOG=recompiles``, log) why ``key`` is traced.

        A Python value that changed on two retraces (a step counter read from a global)
        would recompile on every call: warn once, naming it.
        """
        variants = self.cache.get(key)
        if variants:
            guard, reason = variants[-1].failed_guard()
            if guard is not None and guard.is_number():
                name = variants[-1].python_guards.name(guard)
                self._changes[name] = self._changes.get(name, 0) + 1
                if self._changes[name] == 2:
                    warnings.warn(
                        f"kiln.jit: {self.name} was recompiled twice because {reason}; every "
                        f"new value of {name} compiles it again. Pass it as an argument "
                        "(a Python number argument is a graph input: changing it does not "
                        "recompile) or keep it in a tensor",
                        stacklevel=4,
                    )
            text = f"retracing {self.name}: {reason}"
        elif not self.cache:
            reason = "first call"
            text = f"tracing {self.name} for the first time"
        else:
            previous = list(self.cache)[-1]
            reason = diff_keys(previous, key, leaves)
            text = f"retracing {self.name}: {reason}"
        self._last_reason = reason
        if config.log_recompiles:
            log_decision(text)

    # -------------------------------------------------------------- tracing
    def trace_and_compile(self, args, kwargs, leaves) -> Compiled:
        """Trace ``fn`` on tracers standing for the dynamic ``leaves``; compile the graph."""
        self.trace_count += 1
        trace = TraceState(self.name)
        trace.allows_collectives = True  # an all_reduce splits the compiled step in stages
        fetchers = []
        arg_map = {}
        for pos, (path, value) in enumerate(leaves):
            if isinstance(value, Tensor):
                arg_map[id(value)] = trace.add_argument(value, path)
            elif type(value) in DYNAMIC_SCALARS:
                node = trace.graph.add_input((), scalar_dtype(value).name, name=path)
                arg_map[id(value)] = TracerTensor(trace, node)
            else:
                continue
            fetchers.append(argument_fetcher(pos, value))
        new_args, new_kwargs = substitute(
            args, kwargs, arg_map, self.static_argnums, self.static_argnames
        )
        recorder = GuardRecorder(self.fn, self.name)
        with tracing(trace), recorder:
            result = self.fn(*new_args, **new_kwargs)
        compiled = self._finish(trace, result, fetchers, recorder.guard_set())
        compiled.hold_keyed(
            identity_objects(args, kwargs, leaves, self.static_argnums, self.static_argnames)
        )
        return compiled

    def _finish(self, trace: TraceState, result, argument_fetchers, guards) -> Compiled:
        outputs = collect_outputs(trace, result)
        fetchers = input_fetchers(trace, argument_fetchers)
        graph = trace.graph
        graph.outputs = outputs.nodes
        differentiable = outputs.differentiable()
        backward = None
        if differentiable and not trace.grads and is_grad_enabled():
            backward = build_backward(trace, outputs.tensors, differentiable)
        captured = [
            (t, t._data.shape, t._data.dtype, t.requires_grad) for t, _ in trace.captured.values()
        ]
        if backward is not None:
            executable = backward.compile(graph, len(outputs.nodes), trace.device)
        else:
            executable = self._compile_graph(trace, graph)
        dump_variant(self.name, executable, backward)
        return Compiled(
            executable,
            graph,
            fetchers,
            captured,
            trace.guards,
            outputs.structure,
            outputs.leaves,
            outputs.writebacks,
            outputs.grad_writebacks,
            backward,
            guards,
        )

    def _compile_graph(self, trace: TraceState, graph):
        """Compile the traced graph; a step with collectives runs in stages around them."""
        if trace.collectives:
            from ..distributed.staged import StagedExecutable

            return StagedExecutable(graph, trace.collectives, trace.device)
        return compile_graph(graph, device=trace.device)

    # -------------------------------------------------------------- inspection
    def inspect(self, *args, **kwargs) -> Inspection:
        """Trace and compile for these arguments without running; return the stages."""
        key, leaves = self._key(args, kwargs)
        compiled = self._find(key) or self._compile(args, kwargs, leaves, key)
        return Inspection(compiled)

    def lower(self, *args, **kwargs):
        return self.inspect(*args, **kwargs)


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

    >>> import kiln
    >>> g = trace(lambda x: x * 2, kiln.zeros(3))
    >>> print(g.format(with_source=False))
    graph <lambda>(%0: f32[3]) {
      %1: f32[] = const {value=2.0}
      %2: f32[3] = mul %0, %1
      return %2
    }
    """
    jf = JitFunction(fn)
    _, leaves = jf._key(args, kwargs)
    state = TraceState(jf.name)
    arg_map = {}
    for path, value in leaves:
        if isinstance(value, Tensor):
            arg_map[id(value)] = state.add_argument(value, path)
    new_args, new_kwargs = substitute(args, kwargs, arg_map)
    with tracing(state):
        result = fn(*new_args, **new_kwargs)
    out: list = []
    flatten(result, out, "")
    state.graph.outputs = [state.node_of(v) for _, v in out if isinstance(v, Tensor)]
    return state.graph
