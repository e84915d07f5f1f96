"""A jitted function called from eager autograd: its backward runs compiled too.

When a jitted function's outputs require grad (and the function did not run a backward
itself), its backward is traced into the same graph (the joint graph), which is split
into a forward graph, which also returns what the backward needs, and a backward graph.
Each output gets a ``JitBackward`` as ``grad_fn``; eager ``.backward()`` runs the compiled
backward graph through it.

>>> import kiln
>>> w = kiln.ones(3, requires_grad=True)
>>> kiln.jit(lambda x: (x * w).sum())(kiln.tensor([1.0, 2.0, 3.0])).backward()
>>> w.grad
tensor([1., 2., 3.])
"""

from __future__ import annotations

import copy
import weakref

import numpy as np

from kiln.compiler.compile import compile_graph
from kiln.compiler.partition import split_joint

from ..autograd.grad_mode import is_grad_enabled
from ..memory_errors import allocating
from ..tracing import TracerTensor, TraceState, tracing
from .compiled import wrap_result
from .config import config


def build_backward(trace: TraceState, out_tensors, differentiable):
    """Trace the backward of the outputs into the same graph (the joint graph)."""
    from ..autograd.tape import run_backward

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
            kept_sources.append(pos if pos is not None else weakref.ref(t))
            grad_nodes.append(trace.node_of(g))
    backward = CompiledBackward(
        kept_sources, grad_nodes, [c._node for c in cotangents], differentiable
    )
    arguments = {id(trace.node_of(t)): trace.arg_leaves[id(t)] for t in trace.args}
    for k in differentiable:
        recipe = _view_recipe(trace.node_of(out_tensors[k]), arguments)
        if recipe is not None:
            backward.views[k] = recipe
    return backward


# The writable views a compiled output may be of an argument, replayed eagerly (``_replay``)
_REPLAYABLE = {"reshape": ("shape",), "permute": ("axes",), "slice": ("starts", "stops", "steps")}


def _view_recipe(node, arguments):
    """``(argument position, steps)`` when ``node`` is a chain of writable views
    (reshape, permute, slice) of an argument's input node, with concrete parameters
    (``steps``: ``(op, params)`` from the argument out); else ``None``."""
    steps = []
    while id(node) not in arguments:
        keys = _REPLAYABLE.get(node.op)
        if keys is None or len(node.inputs) != 1:
            return None
        params = {key: node.params.get(key) for key in keys}
        if not all(_concrete(value) for value in params.values()):
            return None  # (a symbolic size: the copy below stays)
        steps.append((node.op, params))
        node = node.inputs[0]
    return (arguments[id(node)], steps[::-1]) if steps else None


def _concrete(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_concrete(v) for v in value)
    return value is None or type(value) is int


def _replay(tensor, steps):
    """The eager view of ``tensor`` that ``steps`` (``_view_recipe``) describe: autograd
    records it as a view, so an in-place change through it reaches ``tensor``."""
    for op, params in steps:
        if op == "reshape":
            tensor = tensor.view(params["shape"])
        elif op == "permute":
            tensor = tensor.permute(*params["axes"])
        else:
            triples = zip(params["starts"], params["stops"], params["steps"])
            tensor = tensor[tuple(slice(a, b, c) for a, b, c in triples)]
    return tensor


class CompiledBackward:
    """The backward half of a jitted function called from eager autograd."""

    def __init__(self, sources, grad_nodes, cotangent_nodes, differentiable):
        self.sources = sources  # argument positions or captured tensors
        self.grad_nodes = grad_nodes
        self.cotangent_nodes = cotangent_nodes
        self.differentiable = differentiable  # indices into the graph's outputs
        self.executable = None
        self.n_outputs = 0
        # output index -> ``_view_recipe``: a differentiable output that is a writable view
        # of an argument is that view, made eagerly (PyTorch's torch.compile does the same)
        self.views: dict[int, tuple] = {}

    def compile(self, graph, n_outputs, device):
        """Split the joint ``graph``; compile both halves, return the forward executable."""
        self.n_outputs = n_outputs
        graph.outputs = list(graph.outputs) + self.grad_nodes
        forward, backward, _ = split_joint(graph, n_outputs, self.cotangent_nodes)
        fresh = getattr(graph, "fresh_outputs", None)
        if fresh is not None:  # (the forward returns the outputs first: ``_fresh_outputs``)
            forward.fresh_outputs = {k for k in fresh if k < n_outputs}
        tiered = config.tiered
        self.executable = compile_graph(backward, device=device, tiered=tiered)
        self.shapes = [(n.shape, n.dtype) for n in self.cotangent_nodes]
        return compile_graph(forward, device=device, tiered=tiered)

    def attach(self, out, out_leaves, results, values, tensors=()):
        """Give each differentiable output a ``JitBackward`` over this call's saved values.

        ``tensors`` are the call's input tensors: a saved value that is one of their arrays
        (or a view of it) is checked, as eager autograd checks its saved tensors, not to
        have changed in place before backward reads it (PyTorch's RuntimeError); and a
        differentiable output that is a view of an input's memory is that view made
        eagerly where the graph says how (reshape, permute and slice of an argument: an
        in-place change through it reaches the argument, as in PyTorch), else a copy of
        its own (its autograd history is the compiled backward's)."""
        saved = results[self.n_outputs :]
        sources = [values[s] if isinstance(s, int) else s() for s in self.sources]
        watched = _aliased(saved, tensors)
        leaf_index = {v: i for i, (kind, v) in enumerate(out_leaves) if kind == "out"}
        for slot, k in enumerate(self.differentiable):
            t = out[leaf_index[k]]
            if t._data.base is not None and _aliased([t._data], tensors):
                view = self.views.get(k)
                if view is not None:
                    view = _replay(values[view[0]], view[1])
                    if view.shape == t.shape and view._data.dtype == t._data.dtype:
                        out[leaf_index[k]] = view
                        continue
                t._data = np.array(t._data)
            t._requires_grad = True
            t.grad_fn = JitBackward(self, saved, sources, slot, watched)


def _aliased(arrays, tensors) -> list:
    """The tensors among ``tensors`` whose memory one of ``arrays`` is (or views)."""
    from ..ops.surface16 import _root  # (through NumPy's as_strided wrapper too)

    roots = {id(_root(a)) for a in arrays if isinstance(a, np.ndarray)}
    return [t for t in tensors if isinstance(t._data, np.ndarray) and id(_root(t._data)) in roots]


class JitBackward:
    """The ``grad_fn`` of a jitted function's output: runs the compiled backward graph."""

    versions = None
    retained = None

    def __init__(self, owner: CompiledBackward, saved, sources, slot, watched=()):
        self.owner = owner
        self.saved = saved
        self.slot = slot
        self.edges = tuple(
            x.grad_fn if x.grad_fn is not None else (x if x.requires_grad else None)
            for x in sources
        )
        # (the tape checks the versions of ``inputs`` before ``apply``: the input tensors
        # whose memory the saved values are)
        self.inputs = list(sources) + list(watched)
        if watched:
            self.versions = (None,) * len(sources) + tuple(t._version for t in watched)

    def name(self) -> str:
        return "CompiledFunctionBackward"

    @property
    def next_functions(self):
        return tuple((e, 0) for e in self.edges)

    def apply(self, g):
        if is_grad_enabled():
            raise RuntimeError(
                "kiln.jit: double backward (create_graph=True) through a "
                "jitted function is not supported; call the function without "
                "kiln.jit for higher-order gradients"
            )
        cotangents = [np.zeros(shape, dtype=dt) for shape, dt in self.owner.shapes]
        cotangents[self.slot] = np.asarray(g._data, dtype=self.owner.shapes[self.slot][1])
        with allocating():
            grads = self.owner.executable.run(list(self.saved) + cotangents)
        return [wrap_result(a) for a in grads]


class FailedBackward:
    """The backward of a jitted function whose backward raised while it was traced (a
    custom ``autograd.Function`` whose ``backward`` raises): the forward runs compiled and
    its outputs' ``grad_fn`` raises that error again when backward reaches them, where
    PyTorch raises it.
    """

    def __init__(self, error: Exception, sources, differentiable):
        self.error = error
        self.sources = sources
        self.differentiable = differentiable
        self.executable = None

    def attach(self, out, out_leaves, results, values, tensors=()) -> None:
        sources = [values[s] if isinstance(s, int) else s() for s in self.sources]
        leaf_index = {v: i for i, (kind, v) in enumerate(out_leaves) if kind == "out"}
        for k in self.differentiable:
            t = out[leaf_index[k]]
            t._requires_grad = True
            t.grad_fn = RaisingBackward(self.error, sources)


class RaisingBackward:
    """A ``grad_fn`` that raises the error its backward raised when it was traced."""

    versions = None
    retained = None

    def __init__(self, error: Exception, sources):
        self.error = error
        self.inputs = sources
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
        error = copy.copy(self.error)  # (raising the one object again would grow its traceback)
        raise error.with_traceback(self.error.__traceback__)


def build_backward_or_failure(trace: TraceState, out_tensors, differentiable):
    """``build_backward``; when the backward's code raises, the trace as it was before
    (the forward graph alone) and a ``FailedBackward`` that raises it at backward time."""
    graph = trace.graph
    sizes = (len(graph.inputs), len(graph.nodes), len(trace.seeds), len(trace.live_scalars))
    grad_inputs = len(trace.grad_inputs)
    captured, current = dict(trace.captured), dict(trace.current)
    try:
        return build_backward(trace, out_tensors, differentiable)
    except Exception as error:  # noqa: BLE001 - raised again at backward time
        del graph.inputs[sizes[0] :], graph.nodes[sizes[1] :]
        del trace.seeds[sizes[2] :], trace.live_scalars[sizes[3] :]
        del trace.grad_inputs[grad_inputs:]
        trace.captured, trace.current = captured, current
        sources = [(pos, t) for t, pos in ((t, trace.arg_leaves[id(t)]) for t in trace.args)]
        sources = [pos for pos, t in sources if t.requires_grad]
        sources += [weakref.ref(t) for t, _ in captured.values() if t.requires_grad]
        return FailedBackward(error, sources, differentiable)
