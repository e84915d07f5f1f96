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

Automatic dynamic shapes (``auto_dynamic.py``, on unless ``config.automatic_dynamic_shapes``
is False or the function was made with ``dynamic=False``): the second size (2 or more) of
one input dimension makes that dimension dynamic (the function's Python code is traced
for it, and traced synthetically at sizes not seen yet for the fit), and later sizes run
variants specialized from the symbolic graph without tracing again.

Thread safety: a cache hit takes no lock. A miss takes the function's lock, looks again
(another thread may have compiled the variant meanwhile) and only then traces, so
concurrent first calls trace once and ``trace_count`` counts real traces.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import inspect as _inspect
import os
import sys
import threading
import warnings
import weakref

import numpy as np

from kiln.compiler.compile import compile_graph
from kiln.compiler.errors import TraceError
from kiln.compiler.ir import fresh_outputs
from kiln.runtime.buffers import memory_owner

from ..dispatch import current_trace
from ..memory_errors import allocating
from ..profiler import record_function
from ..tensor import Tensor
from ..tracing import _KILN_DIRS, TracerTensor, TraceState, captured_layout, tracing
from .auto_dynamic import (
    Decisions,
    Family,
    ShapeOnly,
    SymLog,
    _dynamic,
    generalize,
    place_name,
    plain,
    random_state_kept,
    record_of,
    shape_places,
    symbolic_shape_hook,
    synthetic_sizes,
    tied_size,
)
from .autograd_bridge import FailedBackward, build_backward_or_failure
from .baked import ExampleValues
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
    aliasing,
    describe_modes,
    diff_keys,
    flatten,
    identity_objects,
    make_key,
    modes,
    restore_modes,
    substitute,
)

REFUSED = object()  # a dynamic dimension covers the key, but not at this size


_REAL_PRINT = builtins.print
_print_lock = threading.Lock()
# Jitted functions: a forked child renews their locks (a thread of the parent tracing one
# at ``fork`` is not in the child, where its copy of the lock would stay held).
_jitted: weakref.WeakSet = weakref.WeakSet()


def _new_locks_in_child() -> None:
    for jitted in list(_jitted):
        jitted._lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_in_child)
_print_users = 0


def _print_in_trace(*args, **kwargs):
    """``builtins.print`` while a kiln.compile trace runs (see ``_print_breaks``)."""
    trace = current_trace()
    if trace is not None and getattr(trace, "graph_breaks", False):
        caller = sys._getframe(1).f_code.co_filename
        if not caller.startswith(_KILN_DIRS):
            raise TraceError(
                "print() is called while kiln.compile traces the function; a print in the "
                "compiled function would run once, when it is traced, and never again.\n  "
                f'File "{caller}", line {sys._getframe(1).f_lineno}\n  kiln.compile runs '
                "these calls eagerly (as torch.compile breaks the graph at print); kiln.jit "
                "prints once, at trace time"
            )
    return _REAL_PRINT(*args, **kwargs)


@contextlib.contextmanager
def _print_breaks(on: bool):
    """While a kiln.compile trace runs, ``print`` stops it when the traced code calls it
    (other threads' prints go through unchanged: the check is per thread)."""
    global _print_users
    if not on:
        yield
        return
    with _print_lock:
        _print_users += 1
        if _print_users == 1:
            builtins.print = _print_in_trace
    try:
        yield
    finally:
        with _print_lock:
            _print_users -= 1
            if _print_users == 0 and builtins.print is _print_in_trace:
                builtins.print = _REAL_PRINT


def _refuse_overlapping_updates(name, leaves, compiled) -> None:
    """Two different tensor arguments that overlap in memory (views of one base), one of
    them updated in place: the trace treats them as separate tensors, so the other would
    not see the update as eagerly. Refused (kiln.compile runs such a call eagerly)."""
    found = aliasing(leaves)
    if not found:
        return
    pattern = found[0][1]
    tensors = [(p, v) for p, v in leaves if isinstance(v, Tensor)]
    updated = {pos for pos, _ in compiled.writebacks if type(pos) is int}
    for k, first in enumerate(pattern):
        if first == k:
            continue
        group = [m for m, f in enumerate(pattern) if f == first]
        if not updated.intersection(group):
            continue
        objects = {id(tensors[m][1]) for m in group}
        if len(objects) > 1:
            names = " and ".join(repr(tensors[m][0]) for m in group)
            raise TraceError(
                f"kiln.jit: {name} updates one of the arguments {names} in place, and they are "
                "different tensors sharing memory (views of one tensor): the compiled function "
                "would not show the update through the other as eager PyTorch does. Pass "
                "tensors that do not overlap, or call the function without kiln.jit "
                "(kiln.compile runs such calls eagerly)."
            )


def _refuse_changed_containers(name, original, traced, trace) -> None:
    """The trace ran on copies of the argument lists and dicts (``signature.substitute``
    puts tracers in them), so an ``append``, ``d[k] = v`` or ``lst[i] = y`` on one would
    never reach the caller's object, on this call or any compiled call after it: a silent
    wrong result. Refuse it (``kiln.compile`` then runs the function eagerly, as its other
    graph breaks)."""
    arg_map = getattr(trace, "arg_map", {})

    def same(a, b, path) -> str | None:
        if a is b or arg_map.get(id(a)) is b:
            return None
        if (
            isinstance(a, (list, tuple))
            and type(b) is type(a)
            or (isinstance(a, dict) and isinstance(b, dict))
        ):
            if len(a) != len(b) or (isinstance(a, dict) and list(a) != list(b)):
                return path
            pairs = zip(a.values(), b.values()) if isinstance(a, dict) else zip(a, b)
            keys = list(a) if isinstance(a, dict) else range(len(a))
            for k, (x, y) in zip(keys, pairs):
                found = same(x, y, f"{path}[{k!r}]")
                if found is not None:
                    return found
            return None
        return path

    (args, kwargs), (new_args, new_kwargs) = original, traced
    places = [(a, b, f"argument {i}") for i, (a, b) in enumerate(zip(args, new_args))]
    places += [(kwargs[k], new_kwargs[k], f"argument {k!r}") for k in kwargs]
    for a, b, path in places:
        if not isinstance(a, (list, dict)) and not (
            isinstance(a, tuple) and any(isinstance(v, (list, dict)) for v in a)
        ):
            continue
        found = same(a, b, path)
        if found is not None:
            raise TraceError(
                f"kiln.jit: {name} changed the list or dict {found} in place while it was "
                "traced (append, item assignment, ...): a compiled function runs on its "
                "tensors, and the change would not reach your object. Return the new "
                "values instead."
            )


class Specialize(TraceError):
    """A Python number argument was used as a Python value (an index, a dim, a dict key,
    ``int()``, ``f"{a}"``, ``if a > 0``): the function is traced again with that argument's
    value in the cache key (a new value retraces), as torch.compile specializes it."""

    def __init__(self, paths, what: str):
        if isinstance(paths, str):
            paths = (paths,)
        names = " and ".join(repr(p) for p in paths)
        super().__init__(f"argument {names} is used as a Python {what}")
        self.paths = frozenset(paths)


def _scalar_only(trace, tracer, what) -> None:
    """``TraceState.on_concrete``: raise ``Specialize`` when the value ``tracer`` needs (a
    comparison ``a > 0`` of Python number arguments, ``int(a * 2)``) depends on Python
    number arguments and constants only, not on any tensor."""
    scalars = trace.scalar_inputs
    if not scalars:
        return
    found = set()
    seen = set()
    stack = [tracer._node]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.op == "input":
            path = scalars.get(id(node))
            if path is None:
                return  # a tensor's value: refused as before (TraceError)
            found.add(path)
        stack.extend(node.inputs)
    if found:
        raise Specialize(sorted(found), what.split(" (")[0])


class RecompileLimitHit(TraceError):
    """``kiln.compile``: the function has ``kiln.jit.config.cache_size_limit`` compiled
    variants and a call needs another: torch.compile's recompile limit, where the call runs
    eagerly (the variants stay; ``fullgraph=True`` raises)."""

    def __init__(self, name: str, reason: str):
        limit = config.cache_size_limit
        super().__init__(
            f"kiln.compile: {name} hit config.recompile_limit ({limit}) "
            f"(kiln._dynamo.config.cache_size_limit); the recompile was because {reason}"
        )
        self.reason = reason


class SpecializeOffset(Specialize):
    """The function read a tensor argument's storage offset (``x.storage_offset()``, the
    default offset of ``x.as_strided``): traced again with that offset in the cache key."""

    def __init__(self, path: str):
        super().__init__(path, "storage offset")


def _offset_in_key(known, path) -> None:
    """``TraceState.on_offset``: the offset of argument ``path`` is in the key, or retrace."""
    if path not in known:
        raise SpecializeOffset(path)


class ScalarTracer(TracerTensor):
    """The graph input standing for a Python ``int``/``float`` argument: arithmetic on it is
    traced; reading its value as a Python value raises ``Specialize``."""

    __slots__ = ("_leaf_path",)

    def _specialize(self, what):
        raise Specialize(self._leaf_path, what)

    def __bool__(self):
        self._specialize("truth value")

    def __index__(self):
        self._specialize("index")

    def __int__(self):
        self._specialize("int")

    def __float__(self):
        self._specialize("float")

    def __complex__(self):
        self._specialize("complex")

    def __hash__(self):
        if sys._getframe(1).f_code.co_filename.startswith(_KILN_DIRS):
            return id(self)  # (kiln's own tables of tensors)
        self._specialize("hashable value")

    def __format__(self, spec):
        self._specialize("string")

    def __str__(self):
        self._specialize("string")

    def __iter__(self):
        self._specialize("iterable")

    def __len__(self):
        self._specialize("sized value")

    def item(self):
        self._specialize("number (item())")

    def tolist(self):
        self._specialize("number (tolist())")

    def __round__(self, ndigits=None):
        self._specialize("number (round())")

    def __floor__(self):
        self._specialize("number (math.floor)")

    def __ceil__(self):
        self._specialize("number (math.ceil)")

    def __trunc__(self):
        self._specialize("number (math.trunc)")


class JitFunction:
    """A function compiled by ``kiln.jit``; call it like the original, from any thread.

    ``cache`` maps each cache key to its compiled variants; ``trace_count`` counts the
    traces of calls made so far (concurrent first calls with one key make one);
    ``inspect(*args)`` compiles without running and returns the stages and kernels.
    ``dynamic=False`` turns automatic dynamic shapes off for this function;
    ``specialize_count`` counts the variants specialized from a dynamic dimension's
    symbolic graph (no trace), ``synthetic_trace_count`` the traces at sizes no call had,
    made only to fit a dynamic dimension (the Python code runs, nothing is compiled).
    """

    def __init__(self, fn, static_argnums=(), static_argnames=(), name=None, dynamic=None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = tuple(static_argnames)
        # key -> [Compiled]; a list is replaced, never changed, so lock-free readers are safe
        self.cache: dict = {}
        self.trace_count = 0
        self.synthetic_trace_count = 0
        self.specialize_count = 0
        self.dynamic = dynamic
        # torch.jit.trace: the Python values the trace read are constants of its graph, as
        # PyTorch documents ("frozen"): no Python guard is kept (tensors stay live)
        self.freeze_python = False
        self._baked = None  # torch.jit.trace: the example's values of conversions (baked.py)
        # kiln.compile: with config.cache_size_limit variants, a new signature raises
        # RecompileLimitHit (the call runs eagerly) instead of dropping the oldest variant
        self.eager_past_limit = False
        # kiln.compile: print() in the traced code stops the trace (the call runs eagerly,
        # printing each time, as torch.compile breaks the graph at print)
        self.graph_breaks = False
        self._families: list[Family] = []  # dynamic dimensions (auto_dynamic.py)
        self._kept_static: set = set()  # family keys whose dimension could not be dynamic
        # paths of Python number arguments the code used as Python values: in the key by
        # value (a new value retraces), traced as constants (see ``Specialize``)
        self._specialized: frozenset = frozenset()
        self._offset_paths: frozenset = frozenset()  # tensor arguments whose offset is read
        # id(memory owner) of the captured tensors of variants that update a tensor in
        # place: an argument over one of them enters the key (see _refuse_captured_aliases)
        self._captured_roots: frozenset = frozenset()
        self._warned = False
        self._order: list = []  # (key, variant), oldest first: the eviction order
        self._changes: dict = {}  # guard name -> retraces it caused
        self._last_reason = ""
        # held while one thread looks up, traces, compiles and stores a variant; reentrant
        # so that a function calling itself eagerly (escape_trace) behaves as before
        self._lock = threading.RLock()
        _jitted.add(self)
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
        key, leaves = make_key(
            args, kwargs, self.static_argnums, self.static_argnames, self._signature
        )
        extra = aliasing(leaves)
        if self._specialized:
            extra += tuple(
                (f"{path} (a Python number used as a Python value)", (type(v).__name__, repr(v)))
                for path, v in leaves
                if path in self._specialized and type(v) in DYNAMIC_SCALARS
            )
        if self._offset_paths:
            from ..ops.surface16 import _storage_offset as storage_offset

            extra += tuple(
                (f"the storage offset of {path}", storage_offset(v))
                for path, v in leaves
                if path in self._offset_paths and isinstance(v, Tensor)
            )
        if self._captured_roots:
            roots = self._captured_roots
            shared = tuple(
                path
                for path, v in leaves
                if isinstance(v, Tensor)
                and type(v._data) is np.ndarray
                and id(memory_owner(v._data)) in roots
            )
            if shared:
                extra += (("arguments sharing memory with a captured tensor", shared),)
        if extra:  # with the static arguments: a new value is a new key, as theirs
            key = (key[0], key[1] + extra, key[2], key[3])
        return key, leaves

    # -------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        top = current_trace()
        if config.disable or top is not None:
            # a transform may compile the function transformed (vmap: batched), else inline
            compile_under = getattr(top, "call_jitted", None)
            if compile_under is not None and not config.disable:
                return compile_under(self, args, kwargs)
            return self.fn(*args, **kwargs)
        compiled, leaves = self.variant(args, kwargs)
        return compiled.run([v for _, v in leaves])

    def variant(self, args, kwargs):
        """``(compiled variant, leaves)`` for one call, traced and compiled if need be (what
        raises here was raised while tracing: no compiled code ran)."""
        key, leaves = self._key(args, kwargs)
        compiled = self._find(key)
        if compiled is None:
            compiled = self._compile(args, kwargs, leaves, key)
        return compiled, leaves

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
        """Trace and compile a variant for ``key``, unless another thread just did (or a
        dynamic dimension's symbolic graph covers ``key``: then specialize it)."""
        with self._lock:
            compiled = self._find(key)
            if compiled is not None:
                return compiled
            transition = None
            if self.auto_dynamic:
                compiled = self._specialize(key, leaves)
                if compiled is not None and compiled is not REFUSED:
                    return compiled
                if compiled is None:
                    transition = self._transition(key)
            self._explain_trace(key, leaves)
            if self.eager_past_limit and len(self._order) >= max(1, config.cache_size_limit):
                raise RecompileLimitHit(self.name, self._last_reason)
            try:
                with record_function(f"kiln.jit compile {self.name}", kind="compile"):
                    if transition is None:
                        compiled = self.trace_and_compile(args, kwargs, leaves)
                    else:
                        compiled = self._trace_symbolic(args, kwargs, leaves)
            except Specialize as exc:
                if isinstance(exc, SpecializeOffset):
                    if exc.paths <= self._offset_paths:
                        raise
                    self._offset_paths = self._offset_paths | exc.paths
                elif exc.paths <= self._specialized:
                    raise
                else:
                    self._specialized = self._specialized | exc.paths
                log_decision(f"retracing {self.name}: {exc}; its value is now in the cache key")
                key, leaves = self._key(args, kwargs)
                return self._compile(args, kwargs, leaves, key)
            self.cache[key] = [*self.cache.get(key, ()), compiled]
            self._order.append((key, compiled))
            if transition is not None:
                self._make_family(transition, key, args, kwargs, leaves, compiled)
            self._evict()
            return compiled

    # -------------------------------------------------------------- dynamic shapes
    @property
    def auto_dynamic(self) -> bool:
        return self.dynamic is not False and config.automatic_dynamic_shapes

    def _family_for(self, key):
        """``(family, size)`` of a live dynamic dimension whose symbolic graph covers ``key``."""
        for family in list(self._families):
            if family.template.is_dead():
                self._drop_family(family)
                continue
            size = tied_size(key, family.places)
            if size is None or generalize(key, family.places) != family.key:
                continue
            if family.template.stale_reason() is None:  # its guards hold (train/eval mode)
                return family, size
        return None, None

    def _specialize(self, key, leaves):
        """The variant of a dynamic dimension's family for ``key``; else None (trace), or
        ``REFUSED`` when a family covers ``key`` but a guard decides otherwise at its size
        (trace, for this size only)."""
        family, size = self._family_for(key)
        if family is None:
            return None
        if size not in family.variants:
            refused = family.failed_guard(size)
            if refused is not None:
                if size not in family.refused:
                    log_decision(
                        f"tracing {self.name} for {family.name} = {size}: the dynamic variant "
                        f"does not hold there ({refused})"
                    )
                family.refused[size] = True
                return REFUSED
            log_decision(
                f"specializing {self.name} for {family.name} = {size} from its dynamic "
                "variant (no retrace)"
            )
        with record_function(f"kiln.jit specialize {self.name}", kind="compile"):
            compiled = family.specialize(size)
        if compiled is None:
            return REFUSED
        if key not in self.cache or compiled not in self.cache[key]:
            self.specialize_count += 1
            dump_variant(self.name, compiled.executable, compiled.backward)
            self.cache[key] = [*self.cache.get(key, ()), compiled]
        old = family.evicted()
        if old is not None:
            self._forget(old[1])
        return compiled

    def _forget(self, compiled) -> None:
        for k, variants in list(self.cache.items()):
            if compiled in variants:
                rest = [c for c in variants if c is not compiled]
                if rest:
                    self.cache[k] = rest
                else:
                    del self.cache[k]

    def _drop_family(self, family) -> None:
        self._families.remove(family)
        for compiled in family.variants.values():
            self._forget(compiled)

    def _transition(self, key):
        """``(places, [(key, variant)], old size)`` when ``key`` differs from a variant
        traced before only in the size of one (tied) dimension at ``places``, and its size
        there is 2 or more; else None. The list holds the earlier variants at sizes of 2 or
        more that the fit can use (oldest first, at most two); an earlier size 0 or 1
        counts as a change but is no point of the fit."""
        places = old_size = None
        usable: dict = {}
        for old, compiled in reversed(self._order):
            if compiled.is_dead() or getattr(compiled, "dyn_json", None) is None:
                continue  # (no graph to fit: traced with collectives, or not dynamic)
            found = shape_places(old, key)
            if not found or (places is not None and found != places):
                continue
            size = tied_size(old, found, minimum=0)
            if size is None or tied_size(key, found) is None:
                continue
            if generalize(key, found) in self._kept_static:
                continue
            if places is None:
                places, old_size = found, size
            if size >= 2 and compiled.stale_reason() is None:
                usable.setdefault(size, (old, compiled))
        if places is None:
            return None
        return places, list(usable.values())[:2][::-1], old_size

    def _trace_symbolic(self, args, kwargs, leaves) -> Compiled:
        """Trace with the user's size reads as ``SymInt`` (their comparisons are guards)."""
        log = SymLog()
        try:
            compiled = self.trace_and_compile(
                args, kwargs, leaves, shape_hook=log, draw_on_error=False
            )
        except Exception:  # noqa: BLE001  (SymInt broke the code? trace as usual to see)
            log.close()
            compiled = self.trace_and_compile(args, kwargs, leaves)
            compiled.sym_log = None
            return compiled
        log.close()
        compiled.sym_log = log
        return compiled

    def _make_family(self, transition, key, args, kwargs, leaves, compiled) -> None:
        """Make the dimension at ``places`` dynamic from this call's trace (the template),
        earlier traces at other sizes, and synthetic traces at sizes not seen yet; or keep
        it static (logged) when they cannot be fitted."""
        places, olds, old_size = transition
        name = " and ".join(place_name(leaves, p) for p in places)
        size = tied_size(key, places)
        change = f"{name} changed {old_size} -> {size}"
        points = [(tied_size(k, places), c.dyn_json, c.dyn_record) for k, c in olds]
        synthetic: list = []
        reason = None
        if getattr(compiled, "sym_log", None) is None or compiled.dyn_json is None:
            reason = "the trace with symbolic sizes failed"
        else:
            # an earlier trace on the other side of a Python decision on the size (taken
            # at the template's size) is no point of the fit: trace synthetically instead
            decisions = Decisions(compiled, places)
            points = [p for p in points if decisions.alike(p[0])]
            used = {size, *(tied_size(k, places) for k, _ in olds)}
            sizes = synthetic_sizes(decisions, size, used, 2 - len(points))
            if sizes is None:
                reason = f"no size near {size} decides alike ({decisions.reason})"
            for extra in sizes or ():
                try:
                    graph, record = self._trace_synthetic(args, kwargs, leaves, places, extra)
                except Exception as exc:  # noqa: BLE001  (the dimension stays static)
                    reason = (
                        f"the synthetic trace at size {extra} raised "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    )
                    break
                synthetic.append(extra)
                points.append((extra, graph, record))
        if reason is None:
            template = compiled.dyn_record
            differ = [k for k in template if any(r[k] != template[k] for _, _, r in points)]
            if differ:
                reason = f"the traces differ in their {differ[0].replace('_', ' ')}"
        if reason is None:
            graphs = [(s, g) for s, g, _ in points] + [(size, compiled.dyn_json)]
            try:
                family = Family.build(
                    name, places, graphs, compiled, compiled.sym_log, compiled.graph
                )
            except _dynamic().ConstraintViolationError as exc:  # (evaluated only on error)
                reason = str(exc)
        how = "traces at " + ", ".join(
            f"{s} (synthetic)" if s in synthetic else str(s)
            for s in sorted({size, *(p[0] for p in points)})
        )
        if reason is not None:
            self._kept_static.add(generalize(key, places))
            log_decision(f"{change}: kept static, every size is traced ({how}; {reason})")
            return
        family.key = generalize(key, places)
        self._families.append(family)
        log_decision(
            f"{change}: made dynamic (fitted from the {how}; later sizes are specialized from "
            "the symbolic graph without tracing)"
        )

    def would_trace(self, key) -> bool:
        """Whether a call with ``key`` would trace (no variant, no dynamic family covers it)."""
        if self._find(key) is not None:
            return False
        if not self.auto_dynamic:
            return True
        with self._lock:
            family, size = self._family_for(key)
            return family is None or (size not in family.variants and size in family.refused)

    def reset(self) -> None:
        """Forget every compiled variant and dynamic dimension."""
        with self._lock:
            self.cache = {}
            self._order = []
            self._families = []
            self._kept_static = set()

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
    def trace_and_compile(
        self, args, kwargs, leaves, shape_hook=None, draw_on_error=True
    ) -> Compiled:
        """Trace ``fn`` on tracers standing for the dynamic ``leaves``; compile the graph.

        ``shape_hook`` (a ``SymLog``): the user's code reads sizes as ``SymInt``.
        ``draw_on_error``: when the user's code raises, the random generators advance by
        the draws made before the error, as the eager call's would have (PyTorch's
        compiled functions run the code before an exception eagerly).
        """
        self.trace_count += 1
        trace = TraceState(self.name)
        trace.graph_breaks = self.graph_breaks
        trace.scalar_inputs = {}
        trace.on_concrete = functools.partial(_scalar_only, trace)
        trace.on_offset = functools.partial(_offset_in_key, self._offset_paths)
        try:
            if shape_hook is not None:
                trace.shape_hook = symbolic_shape_hook(shape_hook)
            fetchers, arg_nodes, new_args, new_kwargs = self._arguments(trace, args, kwargs, leaves)
            if self.freeze_python:  # torch.jit.trace: bool(x), int(x)... take the example's
                trace.bake_value = ExampleValues(trace, leaves, self._baked)
            recorder = GuardRecorder(self.fn, self.name)
            recorder.arg_objects = self._arg_objects(args, kwargs, leaves)
            before = modes()
            try:
                with tracing(trace), recorder, _print_breaks(self.graph_breaks):
                    result = self.fn(*new_args, **new_kwargs)
            finally:
                after = modes()
                if after != before:  # (undone: the caller's state, for an eager run)
                    restore_modes(before)
            if after != before:
                raise TraceError(
                    f"kiln.jit: {self.name} changes global state while it is traced "
                    f"({describe_modes(before, after)}): the change would be made once, "
                    "when kiln traces the function, and not on compiled calls. Make it "
                    "outside the compiled function, or in a with block inside it "
                    "(kiln.compile runs such a function eagerly)."
                )
            _refuse_changed_containers(self.name, (args, kwargs), (new_args, new_kwargs), trace)
            if shape_hook is not None:
                shape_hook.close()
                trace.shape_hook = None
            compiled = self._finish(trace, result, fetchers, recorder.guard_set())
            if self.freeze_python:
                compiled.python_guards = None
                if self._baked is None:  # (the example's trace: later traces replay it)
                    self._baked = trace.bake_value.values
            _refuse_overlapping_updates(self.name, leaves, compiled)
            self._refuse_captured_aliases(leaves, compiled, trace)
        except Specialize:
            trace.rollback()
            raise  # traced again at once: the draws are made again
        except BaseException:
            trace.rollback()  # (an optimizer's state created for the trace: gone again)
            if draw_on_error:
                for generator, _ in trace.seeds:
                    generator.next_seed()
            raise
        compiled.hold_keyed(
            identity_objects(args, kwargs, leaves, self.static_argnums, self.static_argnames)
        )
        if shape_hook is not None:  # a size the function returned: a plain number
            compiled.out_leaves = [(kind, plain(v)) for kind, v in compiled.out_leaves]
        compiled.dyn_json = compiled.dyn_record = None
        if (
            self.auto_dynamic
            and not trace.collectives
            and not isinstance(compiled.backward, FailedBackward)
        ):
            compiled.dyn_json = compiled.graph.to_json()  # what a dynamic dimension fits
            compiled.dyn_record = record_of(compiled, trace)
            compiled.dyn_device = trace.device
            compiled.dyn_arg_nodes = arg_nodes
        return compiled

    def _refuse_captured_aliases(self, leaves, compiled, trace) -> None:
        """A tensor argument sharing memory with a tensor the function reads from outside
        (``f(w[:2])`` where f reads the global ``w``), one of them updated in place: the
        trace holds them as separate graph inputs, so the update would not be seen through
        the other (a silent wrong result). Refused (kiln.compile runs such calls eagerly);
        the memory owners of such variants' captured tensors enter later calls' keys, so
        that a call passing such an argument traces (and is refused) instead of reusing a
        variant traced without the overlap."""
        if not compiled.writebacks:
            return
        arrays = [t._data for t, _ in trace.captured.values() if type(t._data) is np.ndarray]
        if not arrays:
            return
        self._captured_roots = self._captured_roots | {id(memory_owner(a)) for a in arrays}
        for path, v in leaves:
            data = getattr(v, "_data", None) if isinstance(v, Tensor) else None
            if type(data) is not np.ndarray or not data.size:
                continue
            for a in arrays:
                if a.size and np.may_share_memory(data, a):
                    raise TraceError(
                        f"kiln.jit: {self.name} updates a tensor in place, and its argument "
                        f"{path!r} shares memory with a tensor it reads from outside its "
                        "arguments (a view of a global, a parameter or a buffer): the compiled "
                        "function would not show the update through the other as eager "
                        "PyTorch does. Pass a tensor that does not overlap (x.clone()), or "
                        "call the function without kiln.jit (kiln.compile runs such calls "
                        "eagerly)."
                    )

    def _arg_objects(self, args, kwargs, leaves) -> dict:
        """The call's arguments its key holds by identity, by id (``GuardRecorder``)."""
        objects = identity_objects(args, kwargs, leaves, self.static_argnums, self.static_argnames)
        return {id(o): o for o in objects}

    def _arguments(self, trace, args, kwargs, leaves, shapes=None):
        """Graph inputs for the dynamic ``leaves``: ``(fetchers, {id(input node): leaf
        index}, args, kwargs)`` with tracers in place of the leaves. ``shapes`` (leaf
        index -> shape) traces those tensors at another shape (a synthetic trace)."""
        trace.allows_collectives = True  # an all_reduce splits the compiled step in stages
        fetchers = []
        arg_map = {}
        arg_nodes = {}
        for pos, (path, value) in enumerate(leaves):
            if isinstance(value, Tensor):
                shape = shapes.get(pos) if shapes else None
                stand_in = value if shape is None else ShapeOnly(value, shape)
                arg_map[id(value)] = tracer = trace.add_argument(stand_in, path)
                arg_nodes[id(tracer._node)] = pos
            elif type(value) in DYNAMIC_SCALARS and path not in self._specialized:
                node = trace.graph.add_input((), scalar_dtype(value).name, name=path)
                arg_map[id(value)] = tracer = ScalarTracer(trace, node)
                tracer._leaf_path = path
                if hasattr(trace, "scalar_inputs"):
                    trace.scalar_inputs[id(node)] = path
            else:
                continue
            fetchers.append(argument_fetcher(pos, value))
        new_args, new_kwargs = substitute(
            args, kwargs, arg_map, self.static_argnums, self.static_argnames
        )
        trace.arg_map = arg_map  # (for _refuse_changed_containers, after the trace)
        return fetchers, arg_nodes, new_args, new_kwargs

    def _trace_synthetic(self, args, kwargs, leaves, places, size):
        """Trace ``fn`` with the dimension at ``places`` of size ``size`` (no data behind
        it) for the fit only: nothing is compiled, run, written back or counted as a
        call's trace, and the random number generators are as before. Returns what the fit
        compares (graph JSON, record); raises what the trace raised."""
        self.synthetic_trace_count += 1
        shapes = {}
        for k, axis in places:
            shape = list(shapes.get(k, leaves[k][1].shape))
            shape[axis] = size
            shapes[k] = tuple(shape)
        with random_state_kept():
            trace = TraceState(self.name)
            fetchers, _, new_args, new_kwargs = self._arguments(trace, args, kwargs, leaves, shapes)
            if self.freeze_python:  # (no values at this size: the example's, or refused)
                trace.bake_value = ExampleValues(trace, None, self._baked or [])
            recorder = GuardRecorder(self.fn, self.name)
            recorder.arg_objects = self._arg_objects(args, kwargs, leaves)
            with tracing(trace), recorder:
                result = self.fn(*new_args, **new_kwargs)
            compiled = self._finish(
                trace, result, fetchers, recorder.guard_set(), compile_graphs=False
            )
            if trace.collectives:
                raise RuntimeError("the synthetic trace called a collective")
            return compiled.graph.to_json(), record_of(compiled, trace)

    def _finish(
        self, trace: TraceState, result, argument_fetchers, guards, compile_graphs=True
    ) -> Compiled:
        """The ``Compiled`` of a finished trace. ``compile_graphs=False`` (a synthetic
        trace) compiles nothing: the graph (with its backward's gradients as outputs, as
        for compiling) is what the fit reads."""
        trace.guard_gradient_hooks()  # (every trace: a synthetic one's record matches)
        outputs = collect_outputs(trace, result)
        fetchers = input_fetchers(trace, argument_fetchers)
        graph = trace.graph
        graph.outputs = outputs.nodes
        graph.donated = _donations(trace, outputs.writebacks)
        graph.fresh_outputs = fresh_outputs(graph)
        differentiable = outputs.differentiable()
        backward = failed = None
        if differentiable and not trace.grads:
            backward = build_backward_or_failure(trace, outputs.tensors, differentiable)
            if isinstance(backward, FailedBackward):  # raised again at backward time
                if not compile_graphs:  # (a synthetic trace: nothing to fit across it)
                    raise backward.error
                failed, backward = backward, None
        captured = [
            (t, t._data.shape, t._data.dtype, t.requires_grad, captured_layout(t))
            for t in [t for t, _ in trace.captured.values()]
            + [t for k, t in trace.layout_reads.items() if k not in trace.captured]
        ]
        if not compile_graphs:
            executable = None
            if backward is not None:
                backward.n_outputs = len(outputs.nodes)
                graph.outputs = list(graph.outputs) + backward.grad_nodes
        elif backward is not None:
            with allocating():  # (the arena of intermediates: PyTorch's RuntimeError)
                executable = backward.compile(graph, len(outputs.nodes), trace.device)
        else:
            with allocating():
                executable = self._compile_graph(trace, graph)
        if compile_graphs:
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
            backward if failed is None else failed,
            guards,
        )

    def _compile_graph(self, trace: TraceState, graph):
        """Compile the traced graph; a step with collectives runs in stages around them."""
        if trace.collectives:
            from ..distributed.staged import StagedExecutable

            return StagedExecutable(graph, trace.collectives, trace.device)
        return compile_graph(graph, device=trace.device, tiered=config.tiered)

    # -------------------------------------------------------------- inspection
    def inspect(self, *args, **kwargs) -> Inspection:
        """Trace and compile for these arguments without running; return the stages."""
        key, leaves = self._key(args, kwargs)
        compiled = self._find(key) or self._compile(args, kwargs, leaves, key)
        return Inspection(compiled)

    def lower(self, *args, **kwargs):
        return self.inspect(*args, **kwargs)


def _donations(trace: TraceState, writebacks) -> dict:
    """``{output index: input index}``: the graph outputs that are the new values of
    tensors the function updated in place (arguments, captured tensors: an optimizer's
    parameters), and the graph inputs holding those tensors' arrays. The memory plan
    writes such an output into that array where it safely can (``plan_memory``), as the
    eager in-place update does, instead of into a new one."""
    index = {id(node): j for j, node in enumerate(trace.graph.inputs)}
    captured = {id(t): node for t, node in trace.captured.values()}
    found = {}
    for target, k in writebacks:
        if isinstance(target, int):
            node = trace.arg_inputs[target] if target < len(trace.arg_inputs) else None
        else:
            t = target()
            node = captured.get(id(t)) if t is not None else None
        j = index.get(id(node)) if node is not None else None
        if j is not None:
            found[k] = j
    return found


def jit(fn=None, *, static_argnums=(), static_argnames=(), dynamic=None):
    """Compile ``fn`` (a function or an ``nn.Module``); usable with or without arguments.

    ``dynamic=False`` compiles every input shape on its own (no automatic dynamic shapes).

    >>> @jit(static_argnums=(1,))
    ... def power(x, n):
    ...     return x ** n
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)

    def wrap(f):
        return JitFunction(f, static_argnums, static_argnames, dynamic=dynamic)

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
