"""One compiled variant of a jitted function: where its inputs come from, where results go.

A ``Compiled`` is what one trace becomes. Before each call its captured tensors and guards
are checked (``stale_reason``); a call then fetches one array per graph input (arguments,
captured tensors, RNG seeds, live scalars such as a learning rate, existing ``.grad``
values), runs the executable, and writes results back: in-place updates to the tensors
they mutated, gradients to ``.grad``, the rest rebuilt into the function's output tree.
"""

from __future__ import annotations

import sys
import weakref
from dataclasses import dataclass, field

import numpy as np

from kiln.compiler.compile import dump

from .. import dtypes
from ..memory_errors import allocating
from ..tensor import Tensor, _wrap, meta_epoch
from ..tracing import TraceState, captured_layout
from .signature import DYNAMIC_SCALARS, flatten, unflatten


@dataclass
class Compiled:
    """One traced-and-compiled signature of a jitted function."""

    executable: object
    graph: object
    fetchers: list  # one per graph input: a function (arg_values) -> ndarray
    captured: list  # (weakref to tensor, shape, dtype, requires_grad) checked before each call
    guards: list
    out_structure: object
    out_leaves: list  # per output leaf: ("out", index) or ("const", python value)
    writebacks: list = field(default_factory=list)  # (tensor, output index)
    grad_writebacks: list = field(default_factory=list)  # (tensor or arg pos, output index)
    backward: object = None  # a CompiledBackward when outputs take part in eager autograd
    python_guards: object = None  # a GuardSet: the Python values the trace read
    meta_epoch: int = -1  # the captured tensors' metadata matched at this tensor.meta_epoch()

    def __post_init__(self):
        # a freed captured tensor kills the variant for good (a discarded model)
        self.dead = False
        self.captured = [(weakref.ref(t, self._freed), *facts) for t, *facts in self.captured]
        # (the fetchers of input tensors: the compiled backward checks the ones it saved)
        self.tensor_fetchers = [f.tensor for f in self.fetchers if hasattr(f, "tensor")]
        # (output index, message): outputs that must be false (collect_outputs)
        self.runtime_checks = getattr(self.graph, "runtime_checks", ())

    def _freed(self, ref) -> None:
        self.dead = True

    def hold_keyed(self, objects) -> None:
        """Tie this variant to the objects its cache key holds by id (a module passed as an
        argument): held weakly, the variant dies with them, so a new object that reuses a
        freed one's id never runs it."""
        self.keyed = []
        for obj in objects:
            try:
                self.keyed.append(weakref.ref(obj, self._freed))
            except TypeError:
                self.keyed.append(obj)  # cannot be held weakly: held, so its id stays unique

    def is_dead(self) -> bool:
        """Whether a tensor this variant captured was freed (it can never run again)."""
        return self.dead

    def failed_guard(self):
        """``(python guard or None, reason)`` of why this variant may not run now."""
        reason = self.stale_reason()
        guards = self.python_guards
        if guards is not None and guards.last_failed is not None:
            return guards.last_failed, reason
        return None, reason

    def stale_reason(self) -> str | None:
        """Why this variant may not run now (a captured tensor or a guard changed), or None."""
        if self.dead:
            # (a replaced submodule frees the tensors it held: name the replacement)
            try:
                return self._guard_reason() or "a captured tensor was freed"
            except Exception:
                return "a captured tensor was freed"
        epoch = meta_epoch()
        if epoch != self.meta_epoch:
            reason = self._captured_reason()
            if reason is not None:
                return reason
            self.meta_epoch = epoch
        return self._guard_reason()

    def _guard_reason(self) -> str | None:
        for description, getter, value in self.guards:
            try:
                now = getter()
            except ReferenceError:
                return f"the object of {description} was freed"
            if now != value:
                return f"{description} changed from {value!r} to {now!r}"
        if self.python_guards is not None:
            self.python_guards.last_failed = None
            failed = self.python_guards.failed()
            if failed is not None:
                self.python_guards.last_failed = failed
                return self.python_guards.reason(failed)
        return None

    def _captured_reason(self) -> str | None:
        for ref, shape, dt, rg, layout in self.captured:
            t = ref()
            if t is None:
                return "a captured tensor was freed"
            if t._data is None:
                return "a captured tensor has no data"
            if t._data.shape != shape or t._data.dtype != dt:
                return (
                    f"a captured tensor changed from {dt.name}{list(shape)} to "
                    f"{t._data.dtype.name}{list(t._data.shape)}"
                )
            if t.requires_grad != rg:
                return f"a captured tensor's requires_grad changed to {t.requires_grad}"
            if layout != captured_layout(t):  # (x.stride(), x.is_contiguous() in the trace)
                return f"a captured tensor's strides or offset changed to {captured_layout(t)}"
        return None

    def run(self, values):
        """Run on the dynamic leaves ``values`` of a call; return the output tree."""
        arrays = [fetch(values) for fetch in self.fetchers]
        if self.runtime_checks:  # (a failed check must leave the donated inputs unwritten)
            for j in set(getattr(self.graph, "donated", {}).values()):
                if type(arrays[j]) is np.ndarray:
                    arrays[j] = arrays[j].copy()
        with allocating():  # (PyTorch's RuntimeError, before any state is written)
            results = self.executable.run(arrays)
        for k, message in self.runtime_checks:  # (before any state is written)
            flag = results[k]
            if bool(flag if type(flag) is np.ndarray else flag.copy_to_host()):
                raise RuntimeError(message)
        for target, k in self.writebacks:
            write_back(values[target] if isinstance(target, int) else target(), results[k])
        for target, k in self.grad_writebacks:
            if isinstance(target, int):  # an argument: accumulate, as eager backward would
                leaf = values[target]
                grad = wrap_result(results[k])
                leaf.grad = grad if leaf.grad is None else leaf.grad + grad
            elif k is None:
                target().grad = None
            else:
                target().grad = wrap_result(results[k])
        out = []
        for kind, v in self.out_leaves:
            if kind == "out":
                out.append(wrap_result(results[v]))
            else:  # a Python value, or an argument the function returned (as itself)
                out.append(values[v] if kind == "arg" else v)
        if self.backward is not None:
            tensors = [tensor(values) for tensor in self.tensor_fetchers]
            self.backward.attach(out, self.out_leaves, results, values, tensors)
        return unflatten(self.out_structure, iter(out))


def write_back(t: Tensor, new) -> None:
    """Store a compiled in-place update into ``t`` as eager code would: into its storage.

    When other arrays share ``t``'s memory (``t`` is a view, or an eager view of ``t``, or
    ``t.numpy()``, is alive) the new values are copied into it, so they all see them;
    otherwise the result array simply replaces the old one (no copy).
    """
    old = t._data
    if old is new:  # (the kernel updated the tensor's own array: a donated input)
        t._version += 1
        return
    if (
        type(old) is np.ndarray
        and type(new) is np.ndarray
        and old.shape == new.shape
        and old.dtype == new.dtype
        and (old.base is not None or sys.getrefcount(old) > 3)
        and old.flags.writeable
    ):
        np.copyto(old, new)
    else:
        t._data = new
    t._version += 1


@dataclass
class Outputs:
    """What a finished trace returns and writes: the graph's outputs, in order.

    ``nodes`` holds the function's tensor results, then the new values of tensors it
    mutated, then the gradients it set; ``leaves`` maps the result tree's leaves to them.
    """

    structure: object
    values: list  # the result tree's leaves as traced (tracers or Python values)
    leaves: list  # per leaf: ("out", index into nodes) or ("const", value)
    nodes: list
    writebacks: list  # (tensor, index into nodes)
    grad_writebacks: list  # (tensor or argument position, index into nodes or None)

    @property
    def tensors(self) -> list:
        return [v for v in self.values if isinstance(v, Tensor)]

    def differentiable(self) -> list[int]:
        """Indices (into ``nodes``) of floating-point results that require grad."""
        return [
            k
            for (kind, k), v in zip(self.leaves, self.values)
            if kind == "out"
            and isinstance(v, Tensor)
            and v.requires_grad
            and v.dtype.is_floating_point
        ]


def collect_outputs(trace: TraceState, result) -> Outputs:
    """The outputs of ``trace`` once the function returned ``result``."""
    values: list = []
    structure = flatten(result, values, "")
    values = [v for _, v in values]
    nodes, leaves = [], []
    for v in values:
        pos = trace.arg_leaves.get(id(v))
        if pos is not None and not v.requires_grad:
            leaves.append(("arg", pos))  # returned as itself, as eagerly (w.add_(x) is w)
        elif isinstance(v, Tensor):
            leaves.append(("out", len(nodes)))
            nodes.append(trace.node_of(v))
        else:
            leaves.append(("const", v))
    writebacks = []
    for t, node in trace.mutations():
        writebacks.append((weakref.ref(t), len(nodes)))
        nodes.append(node)
    for pos, node in trace.argument_mutations():
        writebacks.append((pos, len(nodes)))
        nodes.append(node)
    grad_writebacks = []
    for leaf, g in trace.grads.values():
        target = trace.arg_leaves.get(id(leaf))  # an argument: its position
        if target is None:
            target = weakref.ref(leaf)
        if g is None:
            if not isinstance(target, int):
                grad_writebacks.append((target, None))
            continue
        grad_writebacks.append((target, len(nodes)))
        nodes.append(trace.node_of(g))
    trace.graph.runtime_checks = []
    for node, message in getattr(trace, "runtime_checks", ()):
        trace.graph.runtime_checks.append((len(nodes), message))
        nodes.append(node)
    return Outputs(structure, values, leaves, nodes, writebacks, grad_writebacks)


# ------------------------------------------------------------------------------ fetchers


def argument_fetcher(position: int, value):
    """The fetcher of a dynamic argument leaf (a tensor or a Python number), or None."""
    if isinstance(value, Tensor):
        return _fetch_tensor(position)
    if type(value) in DYNAMIC_SCALARS:
        return _fetch_scalar(position, scalar_dtype(value).np)
    return None


def scalar_dtype(value):
    """The dtype a Python number becomes as a graph input."""
    return dtypes.get_default_dtype() if isinstance(value, float) else dtypes.int64


def input_fetchers(trace: TraceState, argument_fetchers: list) -> list:
    """One fetcher per graph input of ``trace``, in the graph's input order.

    Arguments were added first, in ``argument_fetchers``' order; captured tensors, RNG
    seeds, live scalars and existing gradients were added while tracing.
    """
    captured = {node: t for t, node in trace.captured.values()}
    seeds = {node: generator for generator, node in trace.seeds}
    grads = {node: leaf for leaf, node in trace.grad_inputs}
    scalars = {node: getter for getter, node in trace.live_scalars}
    fetchers = []
    arguments = iter(argument_fetchers)
    for node in trace.graph.inputs:
        if node in captured:
            fetchers.append(_fetch_captured(captured[node]))
        elif node in seeds:
            fetchers.append(_fetch_seed(seeds[node]))
        elif node in scalars:
            fetchers.append(_fetch_live(scalars[node], node.dtype))
        elif node in grads:
            fetchers.append(_fetch_grad(grads[node]))
        else:
            fetchers.append(next(arguments))
    return fetchers


def _fetch_tensor(pos):
    def fetch(values):
        return values[pos]._data

    fetch.tensor = lambda values: values[pos]  # (the tensor itself: autograd_bridge)
    return fetch


def _fetch_scalar(pos, npdtype):
    def fetch(values):
        return np.asarray(values[pos], dtype=npdtype)

    return fetch


def _fetch_captured(t):
    ref = weakref.ref(t)

    def fetch(values):
        return ref()._data

    fetch.tensor = lambda values: ref()
    return fetch


def _fetch_grad(leaf):
    ref = weakref.ref(leaf)

    def fetch(values):
        return ref()._grad._data

    return fetch


def _fetch_seed(generator):
    def fetch(values):
        return generator.next_seed()

    return fetch


def _fetch_live(getter, dtype_name):
    def fetch(values):
        return np.asarray(getter(), dtype=dtype_name)

    return fetch


def wrap_result(array):
    """An executable's result as a tensor on the device the array lives on."""
    if type(array) is np.ndarray:
        return _wrap(array)
    from .. import cuda

    return cuda.wrap(array)


# ------------------------------------------------------------------------------ inspection


class Inspection:
    """What ``f.inspect(*args)`` returns: the graphs of every stage and the kernels.

    >>> f.inspect(x).dump("dump/f")    # doctest: +SKIP
    """

    def __init__(self, compiled: Compiled):
        exe = compiled.executable
        self.executable = exe
        self.traced = exe.traced
        self.optimized = exe.optimized
        self.stages = list(exe.stages)
        self.kernels = list(exe.kernels)

    @property
    def tiers(self) -> dict:
        """How many calls each tier ran: ``{"interpreter": n, "compiled": m}`` (a first
        call runs through the reference interpreter while LLVM compiles, when sooner)."""
        return dict(getattr(self.executable, "tiers", {"interpreter": 0, "compiled": 0}))

    @property
    def kernel_ir(self) -> list:
        """Per kernel, the LLVM IR the native CPU back end compiled it to (None where
        Numba, or the CUDA back end, compiled it)."""
        return list(getattr(self.executable, "kernel_ir", [None] * len(self.kernels)))

    def dump(self, folder):
        """Write every stage (text and DOT) and every kernel into ``folder``; return it."""
        return dump(self.executable, folder)

    def __repr__(self) -> str:
        return (
            f"<Inspection: {len(self.traced.nodes)} traced nodes, "
            f"{len(self.optimized.nodes)} after passes, {len(self.kernels)} kernels>"
        )
