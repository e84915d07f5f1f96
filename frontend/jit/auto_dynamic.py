"""Automatic dynamic shapes: a dimension seen at two sizes is compiled once for all.

As ``torch.compile`` does, a jitted function first compiles for the input shapes of its
first call. When a later call misses the cache and its key differs from an earlier
variant's only in the size of one input dimension (several places tied to one size count
as one dimension, such as the batch of ``x`` and ``y``), and its size there is 2 or more,
that dimension is made *dynamic* at once (the earlier size may be 0 or 1: those keep their
own variants, but count as a change, as PyTorch's ``automatic_dynamic``):

- this call's trace is the *template*: the sizes the user's Python code reads
  (``x.shape[0]``, ``x.size(0)``, ``len(x)``) are handed out as ``SymInt``: integers that
  remember where they came from, so that every comparison Python makes on them
  (``if n > 16``) is recorded as a guard;
- the fit needs three graphs at three sizes of 2 or more (two points and a check): the
  template's, an earlier variant's when one exists at a size of 2 or more, and for the
  rest *synthetic traces*: the user's Python code traced once more on inputs of another
  size (the nearest unused sizes above the template's, else below, at which the guards
  the template recorded on its arguments' sizes decide alike). A synthetic trace holds no
  data, compiles nothing and runs nothing: its write-backs are never applied, its random
  draws leave kiln's generators as they were (``random_state_kept``), and it is counted
  in ``synthetic_trace_count``, not in ``trace_count`` (which counts the traces of real
  calls). The user's Python code does run once per synthetic trace, so its side effects
  (``print``) happen then, as in any trace;
- the graphs (as JSON) are fitted leaf by leaf, as ``kiln.export`` does
  (``kiln.export.dynamic.fit``): every integer that follows the size (a node's shape, a
  reshape's target, the ``3.0`` of a mean over the batch) becomes a polynomial in it. The
  rest of the traces (which tensors they read, what they write back, their outputs'
  structure) must be identical;
- the result is a ``Family``: a later call with the same key but for another size runs a
  variant *specialized* from the symbolic graph, without running the Python code again.
  The first specializations compile in full (passes, fusion, memory plan, lowering, run
  function); their fused graphs, with the template's, are fitted as the traced graphs are
  (``kiln.compiler.specialize``), and from the third on a specialization makes only what
  depends on the size: the fused graph from that fit, the memory plan, the lowering (the
  kernels are the same code at every size: found in the kernel caches) and the run
  function (a few times cheaper than a full compile). A size at which one of the passes'
  size-dependent choices could go the other way (a value crossing
  ``fold.MAX_FOLDED_ELEMENTS``, or reaching 0 or 1) is outside that fit: it compiles in
  full, and three such sizes make a fit of their own. ``Family.compiles`` counts both.

So a stream of batch sizes traces real calls at most twice (1, 2, 3, ...: at 1, and at 2,
which makes the batch dynamic; 8, 8, 5: at 8 and at 5).

Never a wrong result: sizes 0 and 1 always get their own trace (as PyTorch's 0/1
specialization: broadcasting makes their graphs differ); a size at which a recorded guard
would decide otherwise gets its own trace; traces that disagree in structure (a Python
branch on the size, a constant array as long as the batch, a non-polynomial size such as
``n * n``), or a synthetic trace that raises, leave the dimension static (each size
traced), with the reason logged under ``KILN_LOG=recompiles``, never an error. What the
fit cannot see: kiln's own code deciding on a size (only the user's reads are guarded),
or a size used as an index (``range(n)``, slicing) whose effect is the same at the three
traced sizes (CPython turns an ``int`` subclass into a plain ``int`` there without asking
it; ``len(x)``, ``int(n)`` and ``float(n)`` in the user's code are guarded as "this size
only", which keeps the dimension static).
"""

from __future__ import annotations

import contextlib
import copy
import operator
import sys
import weakref
from collections import OrderedDict

import numpy as np

from kiln.compiler.compile import compile_graph
from kiln.compiler.ir import fresh_outputs, from_json
from kiln.compiler.specialize import Classes, Shared, Template, fused_json

from ..tensor import Size, Tensor
from ..tracing import _KILN_DIRS


def _dynamic():
    """``kiln.export.dynamic`` (imported on first use: kiln.export is not loaded with
    kiln)."""
    from ..export import dynamic

    return dynamic


SYMBOL = "s"  # the name of the dynamic dimension in a family's polynomials
SPECIALIZATIONS = 64  # sizes a family keeps compiled (the least recently used is dropped)


# ------------------------------------------------------------------------------ keys
def shape_places(old, new):
    """The ``(leaf index, axis)`` where two cache keys differ, or None when they differ in
    anything but tensor sizes (structure, static values, dtypes, ranks, grad mode)."""
    if old[0] != new[0] or old[1] != new[1] or old[3] != new[3] or len(old[2]) != len(new[2]):
        return None
    places = []
    for k, (a, b) in enumerate(zip(old[2], new[2])):
        if a == b:
            continue
        if a[0] != "tensor" or b[0] != "tensor" or a[2:] != b[2:] or len(a[1]) != len(b[1]):
            return None
        places += [(k, axis) for axis, (x, y) in enumerate(zip(a[1], b[1])) if x != y]
    return tuple(places)


def tied_size(key, places, minimum=2):
    """The one size of ``places`` in ``key`` (None when they differ, or it is below
    ``minimum``: sizes 0 and 1 are never a dynamic dimension's)."""
    sizes = {key[2][k][1][axis] for k, axis in places}
    if len(sizes) != 1:
        return None
    size = sizes.pop()
    return size if size >= minimum else None


def generalize(key, places):
    """``key`` with the sizes at ``places`` blanked: the key of a family."""
    leaves = list(key[2])
    for k, axis in places:
        kind, shape, *rest = leaves[k]
        shape = list(shape)
        shape[axis] = -1
        leaves[k] = (kind, tuple(shape), *rest)
    return (key[0], key[1], tuple(leaves), key[3])


def place_name(leaves, place) -> str:
    k, axis = place
    return f"{leaves[k][0]}.shape[{axis}]"


# ------------------------------------------------------------------------------ SymInt
class SymLog:
    """The guards one trace recorded: ``(expression, outcome)``, open until ``close``."""

    def __init__(self):
        self.guards: list = []
        self.open = True

    def record(self, expr, outcome) -> None:
        if self.open:
            self.guards.append((expr, outcome))

    def close(self) -> None:
        self.open = False


def _expr(value):
    return value._expr if isinstance(value, (SymInt, SymFloat)) else ("const", value)


def _sym(value, expr, log):
    if type(value) is bool or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int):
        return SymInt(value, expr, log)
    return SymFloat(value, expr, log)


def _binary(name, fn, base, reflected=False):
    def method(self, other):
        if not isinstance(other, (int, float)):
            return NotImplemented
        result = fn(base(other), base(self)) if reflected else fn(base(self), base(other))
        if result is NotImplemented:
            return result
        exprs = (_expr(other), self._expr) if reflected else (self._expr, _expr(other))
        return _sym(result, (name, *exprs), self._log)

    return method


def _compare(name, fn, base):
    def method(self, other):
        if not isinstance(other, (int, float)):
            return fn(base(self), other)
        result = fn(base(self), base(other) if isinstance(other, (SymInt, SymFloat)) else other)
        self._log.record((name, self._expr, _expr(other)), result)
        return result

    return method


OPS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "floordiv": operator.floordiv,
    "truediv": operator.truediv,
    "mod": operator.mod,
    "pow": operator.pow,
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def plain(value):
    if isinstance(value, SymInt):
        return int.__int__(value)
    if isinstance(value, SymFloat):
        return float.__float__(value)
    return value


def _make_symbolic(base):
    namespace = {}

    def new(cls, value, expr, log):
        self = base.__new__(cls, value)
        self._expr = expr
        self._log = log
        return self

    namespace["__new__"] = new
    for name in ("add", "sub", "mul", "floordiv", "truediv", "mod", "pow"):
        namespace[f"__{name}__"] = _binary(name, OPS[name], plain)
        namespace[f"__r{name}__"] = _binary(name, OPS[name], plain, reflected=True)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        namespace[f"__{name}__"] = _compare(name, OPS[name], plain)
    namespace["__neg__"] = lambda self: _sym(-plain(self), ("neg", self._expr), self._log)
    namespace["__pos__"] = lambda self: self
    namespace["__abs__"] = lambda self: _sym(abs(plain(self)), ("abs", self._expr), self._log)
    namespace["__hash__"] = lambda self: hash(plain(self))

    def boolean(self):
        result = bool(plain(self))
        self._log.record(("ne", self._expr, ("const", 0)), result)
        return result

    namespace["__bool__"] = boolean

    def exact(convert):
        # int(n), float(n), range(n), len(x), lst[n] in the user's code: the value leaves
        # what SymInt can follow, so it holds for this size only (kiln's own conversions,
        # a reshape's target, are followed by the fit instead)
        def method(self):
            value = convert(self)
            if not sys._getframe(1).f_code.co_filename.startswith(_KILN_DIRS):
                self._log.record(("eq", self._expr, ("const", plain(self))), True)
            return value

        return method

    namespace["__int__"] = exact(base.__int__)
    namespace["__float__"] = exact(base.__float__)
    if base is int:
        namespace["__index__"] = exact(int.__index__)
    namespace["__reduce__"] = lambda self: (base, (plain(self),))  # pickles as a plain number
    return namespace


SymInt = type("SymInt", (int,), _make_symbolic(int))
SymInt.__doc__ = "An ``int`` read from a traced tensor's shape that records comparisons."
SymFloat = type("SymFloat", (float,), _make_symbolic(float))
SymFloat.__doc__ = "A ``float`` computed from a ``SymInt`` (``n / 2``)."


def evaluate_expr(expr, leaf_value):
    kind = expr[0]
    if kind == "const":
        return expr[1]
    if kind == "leaf":
        return leaf_value(expr[1], expr[2])
    if kind == "neg":
        return -evaluate_expr(expr[1], leaf_value)
    if kind == "abs":
        return abs(evaluate_expr(expr[1], leaf_value))
    return OPS[kind](evaluate_expr(expr[1], leaf_value), evaluate_expr(expr[2], leaf_value))


_LEN = Tensor.__len__.__code__
_ACCESSORS = {Tensor.size.__code__, _LEN, Tensor.numel.__code__}


def symbolic_shape_hook(log: SymLog):
    """A ``TraceState.shape_hook``: the user's code reads ``SymInt`` sizes, kiln's plain ones."""

    def hook(tensor):
        shape = tensor._node.shape
        frame = sys._getframe(2)
        via_len = False
        while frame is not None and frame.f_code in _ACCESSORS:
            via_len = via_len or frame.f_code is _LEN
            frame = frame.f_back
        if frame is None or frame.f_code.co_filename.startswith(_KILN_DIRS):
            return Size(shape)
        node = tensor._node
        if via_len and shape:
            # len() turns the size into a plain int (CPython copies int subclasses), so
            # whatever the code does with it holds for this size only
            log.record(("eq", ("leaf", node, 0), ("const", shape[0])), True)
        return Size(SymInt(v, ("leaf", node, a), log) for a, v in enumerate(shape))

    hook.log = log  # (tracing.TracerTensor.stride: a layout read holds for these sizes only)
    return hook


# ------------------------------------------------------------------------------ synthetic traces
class ShapeOnly:
    """What a synthetic trace's argument is made from: a tensor's dtype, device and
    ``requires_grad`` at another shape, with no data (a trace reads no values)."""

    def __init__(self, tensor, shape):
        self.shape = Size(shape)
        self.dtype = tensor.dtype
        self.device = tensor.device
        self.requires_grad = tensor.requires_grad


@contextlib.contextmanager
def random_state_kept():
    """A block whose random draws (in this thread) leave the generators as they were.

    kiln's generators (the default one, which every device draws from, and any other)
    hand this thread's draws out of a scratch counter, so draws by other threads meanwhile
    stand; a reseed of the default generator in the block (``kiln.manual_seed``, which
    seeds NumPy's global generator too) is undone after it. Python's and NumPy's
    generators need nothing more: a trace refuses the user's code calling them.
    """
    from ..creation import default_generator, synthetic_draws

    key, counter = default_generator.key, default_generator.counter
    numpy_state = np.random.get_state()
    outer = synthetic_draws.counters
    synthetic_draws.counters = {} if outer is None else outer
    try:
        yield
    finally:
        synthetic_draws.counters = outer
        # other threads' draws only move the counter forward under the same key
        if default_generator.key != key or default_generator.counter < counter:
            default_generator.key, default_generator.counter = key, counter
            np.random.set_state(numpy_state)


SEARCH = 64  # sizes tried above and below the template's for a synthetic trace


class _Unknown(Exception):
    """A guard reads the size of a tensor inside the graph (known only after the fit)."""


class Decisions:
    """The guards the template's trace recorded on its arguments' sizes, checked at
    another size of the dimension at ``places`` before tracing there: ``alike(size)``
    tells whether every one decides as it did (``reason`` names the first that did not).
    Guards on sizes inside the graph are known only after the fit, which checks them."""

    def __init__(self, template, places):
        self.arguments = template.dyn_arg_nodes
        self.guards = template.sym_log.guards
        self.places = places
        self.reason = None

    def alike(self, size: int) -> bool:
        def leaf(node, axis):
            k = self.arguments.get(id(node))
            if k is None:
                raise _Unknown
            return size if (k, axis) in self.places else node.shape[axis]

        for expr, outcome in self.guards:
            try:
                now = evaluate_expr(expr, leaf)
            except _Unknown:
                continue
            except (ArithmeticError, ValueError, TypeError):
                self.reason = self.reason or f"{_format_nodes(expr)} cannot be evaluated at {size}"
                return False
            if now != outcome:
                self.reason = (
                    self.reason or f"{_format_nodes(expr)} is {now} at {size}, was {outcome}"
                )
                return False
        return True


def synthetic_sizes(decisions: Decisions, size: int, used, count: int):
    """``count`` sizes (2 or more, not in ``used``) to trace the function at synthetically:
    the nearest above ``size`` (else below) at which ``decisions`` hold (a branch
    ``if n > 16`` traced at 20 is traced again at 21 and 22; traced at 16, at 15 and 14).
    None when fewer exist near it (``len(x)`` is "this size only")."""
    if count <= 0:
        return []
    candidates = [*range(size + 1, size + 1 + SEARCH), *range(size - 1, max(1, size - SEARCH), -1)]
    sizes = []
    for candidate in candidates:
        if candidate not in used and decisions.alike(candidate):
            sizes.append(candidate)
            if len(sizes) == count:
                return sizes
    return None


def _format_nodes(expr) -> str:
    """A guard in words, with the nodes of the trace named by their input names."""
    if expr[0] == "leaf":
        node = expr[1]
        return f"{getattr(node, 'name', None) or '%?'}.shape[{expr[2]}]"
    if expr[0] == "const":
        return repr(expr[1])
    return _format((expr[0], *(("const", _Raw(_format_nodes(e))) for e in expr[1:])))


class _Raw:
    def __init__(self, text):
        self.text = text

    def __repr__(self) -> str:
        return self.text


# ------------------------------------------------------------------------------ records
def record_of(compiled, trace) -> dict:
    """What of one trace must not change with the size (all but the graph), as data."""
    captured = {id(node): id(t) for t, node in trace.captured.values()}
    seeds = {id(node): id(g) for g, node in trace.seeds}
    live = {id(node): getattr(f, "__code__", None) for f, node in trace.live_scalars}
    grads = {id(node): id(leaf) for leaf, node in trace.grad_inputs}
    inputs = []
    for node in trace.graph.inputs:
        i = id(node)
        if i in captured:
            inputs.append(("captured", captured[i]))
        elif i in seeds:
            inputs.append(("seed", seeds[i]))
        elif i in live:
            inputs.append(("live", live[i]))
        elif i in grads:
            inputs.append(("grad", grads[i]))
        else:
            inputs.append(("arg",))
    backward = compiled.backward

    def target(t):
        return t if isinstance(t, int) else id(t())

    return {
        "inputs": inputs,
        "out_structure": compiled.out_structure,
        "out_leaves": [(kind, repr(v)) for kind, v in compiled.out_leaves],
        "writebacks": [(target(t), k) for t, k in compiled.writebacks],
        "grad_writebacks": [(target(t), k) for t, k in compiled.grad_writebacks],
        "guards": [(d, repr(v)) for d, _, v in compiled.guards],
        "backward": None
        if backward is None
        else (
            [target(s) for s in backward.sources],
            list(backward.differentiable),
            len(backward.grad_nodes),
            backward.n_outputs,
        ),
        "collectives": bool(trace.collectives),
    }


class Family:
    """One dynamic dimension of a jitted function: a symbolic graph and its specializations."""

    def __init__(self, name, places, symbolic, template, guards, backward_inputs):
        self.name = name  # "x.shape[0]"
        self.places = places
        self.symbolic = symbolic  # graph JSON, polynomials in SYMBOL
        self.template = template  # the Compiled of the trace that made it dynamic
        self.guards = guards  # [(expression with leaves as (node index, axis)), outcome]
        self.backward_inputs = backward_inputs  # input indices of the cotangents, or None
        self.variants: OrderedDict = OrderedDict()  # size -> Compiled
        self.refused: dict = {}  # size -> the guard that decides otherwise at it
        # the fused graphs fitted over sizes (kiln.compiler.specialize): one per range of
        # sizes at which the compiler's size-dependent choices agree
        self.shared: list[Shared] = []
        self.points: dict = {}  # Classes signature -> [(size, fused graphs as JSON)]
        self.shared_refused = None  # why the fused graphs cannot be fitted (never again)
        self._classes = None  # Classes of the symbolic graph (made on first use)
        self._first_point = None  # (size, executables) of the template, not yet in points
        self.compiles = {"shared": 0, "full": 0}  # how the specializations were compiled
        self._traced = None  # the symbolic graph as a Template (made on first use)

    @classmethod
    def build(cls, name, places, records, template, log: SymLog, graph):
        """Fit the graphs of ``records`` [(size, graph JSON)] (the template's last)."""
        (s0, g0), (s1, g1), (s2, g2) = records
        symbolic = _dynamic().fit(
            [g0, g1],
            [{SYMBOL: s0}, {SYMBOL: s1}],
            (g2, {SYMBOL: s2}),
            where=_describe(g2),
            who="kiln.jit",
        )
        index = {id(n): i for i, n in enumerate(graph.nodes)}
        try:
            guards = [(_renumber(expr, index), outcome) for expr, outcome in log.guards]
        except KeyError:
            raise _dynamic().ConstraintViolationError(
                "the Python code compared a size of a tensor outside the graph"
            ) from None
        backward_inputs = None
        if template.backward is not None:
            inputs = {id(n): i for i, n in enumerate(graph.inputs)}
            backward_inputs = [inputs[id(n)] for n in template.backward.cotangent_nodes]
        family = cls(name, places, symbolic, template, guards, backward_inputs)
        for size in (s0, s1, s2):  # the guards were recorded at s2; they must hold at all
            bad = family.failed_guard(size)
            if bad is not None and size != s2:
                raise _dynamic().ConstraintViolationError(
                    f"the Python code decides differently at size {size}: {bad}"
                )
        executables = [template.executable]
        if template.backward is not None:
            executables.append(template.backward.executable)
        family._first_point = (s2, executables)  # the template's compile: a point of a fit
        return family

    def failed_guard(self, size: int):
        """The first recorded guard that ``size`` decides otherwise, in words, or None."""
        nodes = self.symbolic["nodes"]
        sizes = {SYMBOL: size}

        def leaf(node, axis):
            value = nodes[node]["shape"][axis]
            return (
                _dynamic().evaluate(value["__sym__"], sizes) if isinstance(value, dict) else value
            )

        for expr, outcome in self.guards:
            try:
                now = evaluate_expr(expr, leaf)
            except (ArithmeticError, ValueError, TypeError):
                return f"{_format(expr)} cannot be evaluated"
            if now != outcome:
                return f"{_format(expr)} is {now}, was {outcome}"
        return None

    def specialize(self, size: int):
        """The variant for ``size`` (compiled now if new), or None when a guard refuses it."""
        compiled = self.variants.get(size)
        if compiled is not None:
            self.variants.move_to_end(size)
            return compiled
        if size in self.refused or self.failed_guard(size) is not None:
            self.refused[size] = True
            return None
        compiled = self._compile(size)
        self.variants[size] = compiled
        return compiled

    def evicted(self):
        """The oldest specialization when over the limit (the caller forgets it too)."""
        if len(self.variants) > SPECIALIZATIONS:
            return self.variants.popitem(last=False)
        return None

    def _graph_at(self, size: int, checked: bool = True):
        """The traced graph at ``size``, and a copy of the template's backward for it
        (None without one) whose nodes are that graph's. ``checked``: every node's shape
        rule runs (a graph to compile); else it is made from the fitted template alone
        (what a specialization keeps to look at)."""
        if checked:
            graph = from_json(_dynamic().substitute(self.symbolic, {SYMBOL: size}))
        else:
            if self._traced is None:
                self._traced = Template(self.symbolic)
            graph = self._traced.instantiate(size)
        old = self.template.backward
        if old is None:
            return graph, None
        backward = copy.copy(old)
        outputs = list(graph.outputs)
        graph.outputs = outputs[: old.n_outputs]
        backward.grad_nodes = outputs[old.n_outputs :]
        backward.cotangent_nodes = [graph.inputs[i] for i in self.backward_inputs]
        backward.executable = None
        return graph, backward

    def _compile(self, size: int):
        template = self.template
        device = template.dyn_device
        executables = self._shared_compile(size) if device == "cpu" else None
        graph, backward = self._graph_at(size, checked=executables is None)
        graph.fresh_outputs = fresh_outputs(graph)
        if executables is None:
            self.compiles["full"] += 1
            if backward is None:
                executable = compile_graph(graph, device=device)
                self.add_point(size, [executable])
            else:
                executable = backward.compile(graph, template.backward.n_outputs, device)
                self.add_point(size, [executable, backward.executable])
        else:
            # as ``CompiledBackward.compile`` leaves it, with the executables of the fit
            self.compiles["shared"] += 1
            executable = executables[0]
            if backward is not None:
                backward.n_outputs = template.backward.n_outputs
                graph.outputs = list(graph.outputs) + backward.grad_nodes
                backward.executable = executables[1]
                backward.shapes = [(n.shape, n.dtype) for n in backward.cotangent_nodes]
        return respecialized(template, executable, graph, backward)

    # ---------------------------------------------------------- one compile for all sizes
    def _shared_compile(self, size: int):
        """The executables at ``size`` (``[forward]``, or ``[forward, backward]``) made
        from fused graphs fitted over other sizes; None where none was fitted for a range
        that holds ``size`` (then it compiles in full)."""
        from .config import config

        tiered = config.tiered if self.template.backward is not None else False
        for shared in self.shared:
            if shared.covers(size):
                return shared.compile(size, tiered)
        return None

    def add_point(self, size: int, executables) -> None:
        """Keep the fused graphs of a full compile at ``size`` (the template's, or a
        specialization's) as a point of a fit: three points whose sizes are on the same
        sides of the passes' thresholds (``Classes``) are fitted into a ``Shared``."""
        if self.shared_refused is not None or self.template.dyn_device != "cpu":
            return
        if self._first_point is not None:  # (the template's, kept until a second comes)
            first, self._first_point = self._first_point, None
            self.add_point(*first)
            if self.shared_refused is not None:
                return
        if self._classes is None:
            self._classes = Classes([self.symbolic])
        points = self.points.setdefault(self._classes.signature(size), [])
        if any(size == s for s, _ in points):  # (compiled again after an eviction)
            return
        fused = []
        for executable in executables:
            stage = dict(getattr(executable, "stages", ())).get("fuse")
            if stage is None:  # (not the CPU pipeline's executable)
                return
            fused.append(fused_json(stage))
        points.append((size, fused))
        if len(points) < 3:
            return
        (s0, f0), (s1, f1), (s2, f2) = points
        try:
            symbolic = _dynamic().fit(
                [f0, f1], [{SYMBOL: s0}, {SYMBOL: s1}], (f2, {SYMBOL: s2}), who="kiln.jit"
            )
        except _dynamic().ConstraintViolationError as error:
            # (a fused graph holds a constant that follows the size, say): each size
            # compiles in full, as before
            from .config import log_decision

            self.shared_refused = str(error)
            self.points = {}
            log_decision(
                f"{self.name} is dynamic, but each size compiles in full: the fused graphs "
                f"differ ({error})"
            )
            return
        shared = Shared(symbolic, Classes([self.symbolic, *symbolic]), (s0, s1, s2))
        if shared.signature is None:  # a fused graph's size crosses a threshold among them
            points.pop(0)
            return
        self.shared.append(shared)
        del points[:]
        from .config import log_decision

        log_decision(
            f"{self.name}: the compiles at {s0}, {s1} and {s2} fitted; sizes in their range "
            "are specialized without the passes and fusion"
        )


def respecialized(template, executable, graph, backward):
    """A copy of ``template`` (its fetchers, guards, write-backs) running ``executable``."""
    new = copy.copy(template)
    new.executable = executable
    new.graph = graph
    new.backward = backward
    new.dead = False
    new.captured = [
        (weakref.ref(ref(), new._freed) if ref() is not None else ref, *facts)
        for ref, *facts in template.captured
    ]
    new.dead = template.dead or any(ref() is None for ref, *_ in template.captured)
    keyed = []
    for obj in getattr(template, "keyed", ()):
        if isinstance(obj, weakref.ref):
            live = obj()
            if live is None:
                new.dead = True
                continue
            keyed.append(weakref.ref(live, new._freed))
        else:
            keyed.append(obj)
    new.keyed = keyed
    return new


def _renumber(expr, index):
    if expr[0] == "leaf":
        return ("leaf", index[id(expr[1])], expr[2])
    if expr[0] == "const":
        return expr
    return (expr[0], *(_renumber(e, index) for e in expr[1:]))


def _format(expr) -> str:
    kind = expr[0]
    if kind == "const":
        return repr(expr[1])
    if kind == "leaf":
        return f"%{expr[1]}.shape[{expr[2]}]"
    if kind in ("neg", "abs"):
        return f"{kind}({_format(expr[1])})"
    symbols = {
        "add": "+",
        "sub": "-",
        "mul": "*",
        "floordiv": "//",
        "truediv": "/",
        "mod": "%",
        "pow": "**",
        "eq": "==",
        "ne": "!=",
        "lt": "<",
        "le": "<=",
        "gt": ">",
        "ge": ">=",
    }
    return f"({_format(expr[1])} {symbols[kind]} {_format(expr[2])})"


def _describe(record):
    nodes = record["nodes"]

    def describe(path):
        if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
            node = nodes[path[1]]
            source = f" at {node['source']}" if node.get("source") else ""
            return f"node %{path[1]} {node['op']}{source}, {'/'.join(map(str, path[2:]))}"
        return "/".join(map(str, path))

    return describe
