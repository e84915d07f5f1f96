"""The autograd tape: one ``BackwardNode`` per recorded op, and the backward engine.

Each differentiable op whose inputs require grad gets a ``BackwardNode`` (its ``grad_fn``)
holding the primitive, its params, its input tensors and the edges to the inputs' own
``grad_fn`` (fixed at record time, as in PyTorch). ``backward`` walks the nodes in reverse
topological order (an iterative sort: a 100,000-op chain is fine) and applies the VJP rules
of ``vjp.py``, which are written in tensor operations: with ``create_graph=True`` they are
recorded themselves (higher-order gradients), and under tracing they become graph nodes.
"""

from __future__ import annotations

from contextvars import ContextVar

import numpy as np

from ..context import INFERENCE_EVER, current_trace
from ..tensor import Tensor, _wrap
from ..utils.hooks import RemovableHandle
from . import grad_mode
from .graph import Node, accumulate_node

_FREED = "freed"


class AccumulateGrad(Node):
    """The edge to a leaf tensor: gradients arriving here accumulate into ``leaf.grad``."""

    __slots__ = ("variable", "__weakref__")

    def __init__(self, variable: Tensor):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"  # PyTorch's name, which scripts compare

    next_functions = ()


class BackwardNode(Node):
    """One recorded op. Each node is of a subclass named as PyTorch names the op's node
    (``type(y.grad_fn).__name__ == 'MulBackward0'``, ``name()`` the same): ``node_class``
    makes one class per name, once."""

    __slots__ = (
        "prim",
        "params",
        "inputs",
        "edges",
        "versions",
        "retained",
        "hooks",
        "unpack",
        "shown",
        "result",
        "result_version",
        "__weakref__",
    )

    def __init__(self, prim, params, inputs, out=None):
        self.prim = prim
        self.params = params
        self.shown = None  # the edges next_functions shows, where not self.edges (rename)
        self.result = None  # the output, where the rule reads it (exp: PyTorch saves result)
        self.retained = None  # weakref to the output tensor when it called retain_grad()
        self.hooks = None  # the output tensor's register_hook hooks (a non-leaf's)
        self.unpack = None  # saved_tensors_hooks' unpack hook when the inputs were packed
        edges = []
        for x in inputs:
            fn = x.grad_fn
            if fn is None and x._requires_grad and "_no_grad_view" in x.__dict__:
                edges.append(None)  # (a view taken under no_grad: PyTorch gives it no edge)
                continue
            edges.append(fn if fn is not None else (x if x._requires_grad else None))
        self.edges = tuple(edges)
        reads = prim.vjp_reads_inputs
        if reads:
            if callable(reads):
                reads = reads(*inputs)
            self.versions = (
                None
                if not reads
                else tuple(
                    [
                        x._version if reads is True or i in reads else None
                        for i, x in enumerate(inputs)
                    ]
                )
            )
        else:
            self.versions = None
        self.inputs = inputs
        if reads is True or prim in _KEEPS_INPUTS:
            return
        # an intermediate input whose values the rule never reads is not kept alive
        # (PyTorch frees it too): only its shape, dtype and requires_grad
        kept = None
        for i, x in enumerate(inputs):
            if x.grad_fn is not None and type(x._data) is np.ndarray and not (reads and i in reads):
                if kept is None:
                    kept = list(inputs)
                kept[i] = InputMeta(x)
        if kept is not None:
            self.inputs = tuple(kept)

    def name(self) -> str:
        return type(self).__name__

    def apply(self, g):
        """One gradient per input, from the primitive's VJP rule."""
        rule = _RESULT_RULES.get(self.prim.name) if self.result is not None else None
        if rule is not None:
            y = self.result if self.unpack is None else self.unpack(self.result)
            if grad_mode.is_grad_enabled():
                # create_graph: the result as the output it was, with this node as its
                # grad_fn, so that a higher-order gradient flows through it (as PyTorch's
                # saved output); made now, to keep no cycle output -> node -> output
                y = y.detach()
                y.grad_fn = self
                y._requires_grad = True
            return rule(g, y)
        if self.unpack is not None:
            return self.prim.vjp(g, *self._unpacked(), **self.params)
        return self.prim.vjp(g, *self.inputs, **self.params)

    def _unpacked(self) -> list:
        """The saved inputs back from ``unpack``, marked as requiring grad where the
        originals did (the VJP rules skip the gradients of inputs that do not)."""
        out = []
        for packed, edge in zip(self.inputs, self.edges):
            x = self.unpack(packed)
            if edge is not None and not x.requires_grad:
                x = x.detach()
                x.requires_grad = True
            out.append(x)
        return out

    @property
    def next_functions(self):
        if self.shown is None and self.prim.name in _LAZY_SHOWN:
            self.shown = _LAZY_SHOWN[self.prim.name](self)
        if self.shown is not None:
            return next_functions(self.shown)
        shown = _SHOWN_INPUTS.get(self.prim.name)
        if shown is not None:
            picked = shown(self)
            if picked is not None:
                return next_functions([self.edges[i] for i in picked])
        return next_functions(self.edges)

    def __getattr__(self, name: str):
        # PyTorch's ``grad_fn._saved_self``, ``_saved_result``, ``_saved_dim``...: what the
        # node keeps, under PyTorch's names (kiln.autograd.graph.saved_attribute)
        if name.startswith(("_saved_", "_raw_saved_")):
            from .graph import saved_attribute

            return saved_attribute(self, name)
        raise AttributeError(f"'{self.name()}' object has no attribute '{name}'")

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class InputMeta:
    """What a backward rule may read of an input whose values it does not read."""

    __slots__ = ("shape", "dtype", "_requires_grad", "_data", "transposed")

    def __init__(self, x: Tensor):
        data = x._data
        self.shape = data.shape
        self.dtype = x.dtype
        self._requires_grad = x._requires_grad
        self._data = None
        # a transposed view of a contiguous matrix (a Linear's weight.t()): the matmul
        # rule computes its gradient transposed (vjp._transposed_view)
        self.transposed = (
            len(self.shape) == 2 and data.flags.f_contiguous and not data.flags.c_contiguous
        )

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"InputMeta(shape={list(self.shape)}, dtype={self.dtype})"


# Recorded ops that keep their inputs though their rules read none of them (a fused op
# whose recorded backward recomputes from the input: kiln.autograd.fused).
_KEEPS_INPUTS: set = set()

_NODE_CLASSES: dict = {}


def node_class(name: str) -> type:
    """The ``BackwardNode`` subclass called ``name`` (made on first use, then reused)."""
    cls = _NODE_CLASSES.get(name)
    if cls is None:
        cls = _NODE_CLASSES[name] = type(
            name, (BackwardNode,), {"__slots__": (), "__module__": __name__}
        )
    return cls


def default_node_name(prim_name: str) -> str:
    """``sum`` -> ``SumBackward0``, ``scatter_add`` -> ``ScatterAddBackward0``."""
    return "".join(p.capitalize() for p in prim_name.split("_")) + "Backward0"


def _pow_name(inputs, params) -> str:
    base, exponent = inputs
    if not exponent._requires_grad:
        return "PowBackward0" if not exponent.ndim else "PowBackward1"
    if not base._requires_grad and not base.ndim:
        return "PowBackward2"  # a number to a tensor's power
    return "PowBackward1"


def _sum_name(inputs, params) -> str:
    whole = not params["keepdims"] and len(params["axes"]) == inputs[0].ndim
    return "SumBackward0" if whole else "SumBackward1"  # sum() / sum(dim)


def _matmul_name(inputs, params) -> str:
    ndim = inputs[0].ndim
    if ndim == 2 and inputs[1].ndim == 2:
        return "MmBackward0"
    if ndim == 3 and inputs[1].ndim == 3:
        return "BmmBackward0"
    return "MatmulBackward0"


# PyTorch's node names where a primitive's own differs (its ops' names), fixed or chosen
# from the inputs and params; composites rename their result's node (``rename``).
_TORCH_NAMES = {
    "cast": "ToCopyBackward0",
    "reshape": "ViewBackward0",
    "concat": "CatBackward0",
    "pad": "ConstantPadNdBackward0",
    "max": "AmaxBackward0",
    "take": "IndexBackward0",
}
_NAME_PICKERS = {"pow": _pow_name, "sum": _sum_name, "matmul": _matmul_name}
_CLASS_OF_PRIM: dict = {}  # primitive -> its node class, where fixed


def _node_class_for(prim, inputs, params) -> type:
    cls = _CLASS_OF_PRIM.get(prim)
    if cls is not None:
        return cls
    pick = _NAME_PICKERS.get(prim.name)
    if pick is not None:
        return node_class(pick(inputs, params))
    name = _TORCH_NAMES.get(prim.name) or default_node_name(prim.name)
    cls = _CLASS_OF_PRIM[prim] = node_class(name)
    return cls


def rename(t: Tensor, name: str, *inputs) -> Tensor:
    """Give ``t``'s node PyTorch's name ``name`` (a composite's result: ``mean`` ends in a
    ``div``, PyTorch has a ``MeanBackward0``); returns ``t``. Only a node recorded by
    ``record`` is renamed, and not one the composite returned unchanged (an input's own).

    ``inputs``: the composite's differentiable tensor arguments (``None`` for an optional
    one not given), as PyTorch's one node has them; ``next_functions`` then shows their
    edges (the composite's inner nodes stay, and compute the gradient, but a graph printed
    from ``grad_fn`` reads as PyTorch's).
    """
    node = t.grad_fn
    if not isinstance(node, BackwardNode):
        return t
    if inputs:
        shown = []
        for x in inputs:
            if x is None:
                shown.append(None)
            elif isinstance(x, Tensor):
                if x is t:
                    return t  # a no-op composite handed back its input
                fn = x.grad_fn
                if fn is node:
                    return t
                shown.append(fn if fn is not None else (x if x._requires_grad else None))
        node.shown = tuple(shown)
    cls = _NODE_CLASSES.get(name)
    node.__class__ = cls if cls is not None else node_class(name)
    return t


def _pow_shown(node):
    name = type(node).__name__
    return (0,) if name == "PowBackward0" else (1,) if name == "PowBackward2" else None


# The inputs next_functions shows where PyTorch's node has fewer edges than the primitive
# has inputs (a condition, an index, a number's power: not differentiable arguments there)
_SHOWN_INPUTS = {
    "where": lambda node: (1, 2),
    "take": lambda node: (0,),
    "gather": lambda node: (0,),
    "pow": _pow_shown,
}


# The edges next_functions shows for a fused op's node (kiln.autograd.fused), made when
# first asked for: ``{op name: fn(node) -> edges}``.
_LAZY_SHOWN: dict = {}


def next_functions(edges) -> tuple:
    """PyTorch's ``grad_fn.next_functions``: ``(node, output number)`` per input edge."""
    out = []
    for e in edges:
        if isinstance(e, Tensor):
            out.append((accumulate_node(e), 0))
        elif isinstance(e, OutputSlot):
            out.append((e.node, e.index))
        else:
            out.append((e, 0))
    return tuple(out)


class SlotGrads:
    """The gradients arriving at the outputs of a multi-output node, one slot per output.

    The engine sums what reaches a node with ``+``; adding two of these adds slot by slot,
    so a node with several outputs receives one gradient per output (``None`` where no
    gradient reached that output).
    """

    __slots__ = ("grads",)

    def __init__(self, n: int, index: int, grad):
        self.grads = [None] * n
        self.grads[index] = grad

    def __add__(self, other: SlotGrads) -> SlotGrads:
        for i, g in enumerate(other.grads):
            if g is not None:
                mine = self.grads[i]
                self.grads[i] = g if mine is None else mine + g
        return self


class OutputSlot(Node):
    """The ``grad_fn`` of output ``index`` of a multi-output node (a custom Function).

    Each output needs a node of its own, for its hooks and ``retain_grad``; this one passes
    its gradient on to the shared node, tagged with the output's number.
    """

    __slots__ = ("node", "index", "edges", "inputs", "retained", "hooks", "__weakref__")

    def __init__(self, node, index: int):
        self.node = node
        self.index = index
        self.edges = (node,)
        self.inputs = (None,)
        self.retained = None
        self.hooks = None

    def name(self) -> str:
        return self.node.name()

    def apply(self, g):
        return (SlotGrads(self.node.n_outputs, self.index, g),)

    @property
    def next_functions(self):
        return self.node.next_functions

    def __getattr__(self, name):
        # ``y.grad_fn.saved_tensors`` etc. read the shared node (PyTorch has one node).
        return getattr(self.node, name)

    def __repr__(self) -> str:
        return f"<{self.name()}>"


# ``kiln.autograd.graph.saved_tensors_hooks``: the innermost (pack, unpack) pair of this
# thread, and a process-wide count of active blocks so that ``record`` (the hot path) reads
# the ContextVar only while some thread uses them.
_saved_hooks: ContextVar = ContextVar("kiln_saved_tensors_hooks", default=None)
saved_hooks_active = 0
node_hooks_used = False  # set once a Node hook is registered (kiln.autograd.graph)


def current_saved_hooks():
    return _saved_hooks.get()


def pack_saved(pack, tensors) -> tuple:
    """``pack`` on each saved tensor, itself unrecorded and free of the hooks (its own
    operations would otherwise be saved, and packed, without end)."""
    token = _saved_hooks.set(None)
    try:
        with grad_mode.no_grad():
            return tuple(None if t is None else pack(t) for t in tensors)
    finally:
        _saved_hooks.reset(token)


def record(prim, inputs, params, out: Tensor) -> None:
    """Called by the dispatcher for every differentiable op with an input requiring grad."""
    dtype = out.dtype
    if dtype._category < 2:  # (neither floating nor complex: no gradient)
        return
    node = out.grad_fn = _node_class_for(prim, inputs, params)(prim, params, inputs)
    out._requires_grad = True
    if INFERENCE_EVER[0]:
        _refuse_saved_inference(node, inputs, out)
    if dtype._category == 2 and prim.name in _RESULT_RULES:
        save_result(node, out)  # the result is saved (and packed), not the inputs
    elif saved_hooks_active and prim.vjp_reads_inputs:
        hooks = current_saved_hooks()
        if hooks is not None:
            pack, node.unpack = hooks
            node.inputs = pack_saved(pack, inputs)
            node.versions = None  # what is kept is the hook's, not the tensors
    if "writable_view" in prim.properties:
        # An in-place update of this view must also rewrite its base's history
        # (kiln.ops.inplace.assign), as PyTorch's CopySlices does.
        out._view_of = (inputs[0], prim.name, params)


_SAVED_INFERENCE = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead "
    "of `torch.inference_mode()`."
)


def _refuse_saved_inference(node, inputs, out) -> None:
    """PyTorch's error for an inference tensor (made inside ``inference_mode``) that a
    recorded op keeps for its backward: an input its rule reads (``node.versions``), or
    every input of an op that keeps them all (a fused ``linear``)."""
    keeps_all = node.prim in _KEEPS_INPUTS
    for i, x in enumerate(inputs):
        if "_inference" in x.__dict__ and (
            keeps_all or (node.versions is not None and node.versions[i] is not None)
        ):
            out.grad_fn = None
            out._requires_grad = False
            raise RuntimeError(_SAVED_INFERENCE)


# Primitives whose gradient PyTorch computes from the result, which it saves (not the
# input): ``exp(x)`` may have ``x`` changed in place before backward, but not its result.
_RESULT_RULES = {
    "exp": lambda g, y: (g * y,),
    "tanh": lambda g, y: (g * (1.0 - y * y),),
    "sqrt": lambda g, y: (g / (y * 2.0),),
    "reciprocal": lambda g, y: (-(g * (y * y)),),
}


def save_result(node: BackwardNode, out: Tensor) -> None:
    """Keep ``out``'s values for the rule (an alias: one storage, one version counter; not
    ``out`` itself, whose ``grad_fn`` is this node), with saved_tensors_hooks' packing.
    Backward raises if ``out`` was changed in place meanwhile, as PyTorch's. (A fused node
    whose rule keeps arrays of its own calls this too, for that check alone.)"""
    alias = out.detach()
    alias._vc = out._vc
    node.result_version = out._version
    node.versions = None  # the input is not read (it may change in place, as in PyTorch)
    hooks = current_saved_hooks() if saved_hooks_active else None
    if hooks is not None:
        alias = pack_saved(hooks[0], (alias,))[0]
        node.unpack = hooks[1]
        node.result_version = None
    node.result = alias


def keep_result(out: Tensor) -> None:
    """A composite's renamed node keeps ``out`` as PyTorch's node saves its result
    (``sigmoid``): ``_saved_result``, and backward raises if ``out`` changed in place. The
    composite's inner nodes still compute the gradient. Not under saved_tensors_hooks (the
    node's inputs may be unpacked ones)."""
    node = out.grad_fn
    if isinstance(node, BackwardNode) and node.result is None and node.unpack is None:
        if not (saved_hooks_active and current_saved_hooks() is not None):
            alias = out.detach()
            alias._vc = out._vc
            node.result_version = out._version
            node.result = alias


def register_tensor_hook(t: Tensor, hook) -> RemovableHandle:
    """``Tensor.register_hook``: a leaf keeps its hooks, a non-leaf's live on its node.

    A leaf's hooks run once on its whole gradient; a non-leaf's run on the gradient that
    reached its ``grad_fn``, before the node uses it (what its producer sees), as PyTorch's.
    """
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if t.grad_fn is not None:
        hooks = getattr(t.grad_fn, "hooks", None)
        if hooks is None:
            hooks = t.grad_fn.hooks = {}
    else:
        hooks = t.__dict__.setdefault("_hooks", {})
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


# ------------------------------------------------------------------------------ the engine


def _topological(roots) -> list:
    """Backward nodes reachable from ``roots``, each after every node that feeds it a grad."""
    order, seen = [], set()
    for root in roots:
        if root is None or root in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((node, True))
            for e in node.edges:
                if e is not None and not isinstance(e, Tensor) and e not in seen:
                    stack.append((e, False))
    order.reverse()
    return order


def _saves(node) -> bool:
    """Whether ``node`` keeps values for its rule (PyTorch's saved variables), freed once
    it ran without ``retain_graph``. A node that keeps none (a ``sum``, a view, an ``add``)
    may run again, as in PyTorch: after a backward that raised part way, a retry reaches
    the same node and error again (only the nodes already run were freed)."""
    if not isinstance(node, BackwardNode):
        return True  # a custom Function's node, an output slot
    prim = node.prim
    return (
        node.versions is not None
        or node.result is not None
        or node.unpack is not None
        or prim.vjp_reads_inputs is True
        or prim in _KEEPS_INPUTS
        or type(prim).__name__ == "FusedOp"  # keeps arrays of its own
    )


def _check_nan(node, grads) -> None:
    """Anomaly detection: PyTorch's error for a backward function that made NaN."""
    for k, gx in enumerate(grads):
        data = getattr(gx, "_data", None)
        if isinstance(data, np.ndarray) and data.dtype.kind in "fc" and np.isnan(data).any():
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {k}th output.")


_COMPAT: dict = {}


def _anomaly_flags() -> dict:
    """``kiln.compat``'s flags (anomaly detection), imported on the first backward."""
    if not _COMPAT:
        from ..compat import _FLAGS as flags

        _COMPAT["flags"] = flags
    return _COMPAT["flags"]


def _accumulate(store: dict, key, grad):
    prev = store.get(key)
    store[key] = grad if prev is None else prev + grad


# callbacks queued (``queue_callback``) by hooks during the running backward pass, one
# list per pass (a hook may run a backward of its own), called when that pass ends
_pass_callbacks: list = []


def queue_callback(callback) -> None:
    """Run ``callback()`` when the backward pass that is running now ends."""
    if not _pass_callbacks:
        raise RuntimeError("queue_callback: no backward pass is running")
    _pass_callbacks[-1].append(callback)


def run_backward(roots, root_grads, retain_graph: bool, create_graph: bool, targets=None) -> dict:
    """Propagate ``root_grads`` from ``roots``; return ``{leaf or node: grad}``.

    With ``targets`` (``autograd.grad``), grads for those tensors are returned instead of
    being accumulated into ``.grad``.
    """
    _pass_callbacks.append([])
    try:
        found = _run_backward(roots, root_grads, retain_graph, create_graph, targets)
        callbacks = _pass_callbacks[-1]
    finally:
        _pass_callbacks.pop()
    for callback in callbacks:
        callback()
    return found


def _run_backward(roots, root_grads, retain_graph, create_graph, targets) -> dict:
    node_grads: dict = {}
    leaf_grads: dict = {}
    for t, g in zip(roots, root_grads):
        if t.grad_fn is not None:
            _accumulate(node_grads, t.grad_fn, g)
        else:
            _accumulate(leaf_grads, t, g)
    target_nodes = {}
    if targets is not None:
        for t in targets:
            if t.grad_fn is not None:
                target_nodes[t.grad_fn] = t
    flags = _anomaly_flags()
    check_nan = flags["anomaly"] and flags["anomaly_check_nan"]
    order = _topological([t.grad_fn for t in roots])
    run = None
    if node_hooks_used:  # kiln.autograd.graph: node hooks, register_multi_grad_hook
        from . import graph

        run = graph.begin_run(order, roots)
    with grad_mode.set_grad_enabled(create_graph):
        for node in order:
            g = node_grads.pop(node, None)
            if g is None:
                continue
            hooks = getattr(node, "hooks", None)
            if hooks:
                for hook in tuple(hooks.values()):
                    g = _run_tensor_hook(hook, g)
            if target_nodes and node in target_nodes:
                leaf_grads[target_nodes[node]] = g
            if getattr(node, "retained", None) is not None:
                kept = node.retained()
                if kept is not None:
                    kept.grad = g if create_graph else g.detach()
            if node.inputs is None:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time (or directly access "
                    f"saved tensors after they have already been freed) at {node.name()}. "
                    "Specify retain_graph=True if you need to backward through the graph a "
                    "second time."
                )
            if getattr(node, "result", None) is not None and node.result_version is not None:
                y = node.result
                if y._version != node.result_version:
                    raise RuntimeError(
                        f"one of the variables needed for gradient computation has been "
                        f"modified by an inplace operation: {y.dtype.name}{list(y.shape)}, "
                        f"which is output 0 of {node.name()}, is at version {y._version}; "
                        f"expected version {node.result_version} instead."
                    )
            if getattr(node, "versions", None) is not None:
                for x, v in zip(node.inputs, node.versions):
                    if v is not None and x._version != v:
                        raise RuntimeError(
                            f"one of the variables needed for gradient computation has been "
                            f"modified by an inplace operation: {x.dtype.name}"
                            f"{list(x.shape)} is at version {x._version}; expected version "
                            f"{v} instead ({node.name()})."
                        )
            grads = node.apply(g) if run is None else graph.run_node(node, g)
            if check_nan:
                _check_nan(node, grads)
            for edge, gx in zip(node.edges, grads):
                if gx is None or edge is None:
                    continue
                store = leaf_grads if isinstance(edge, Tensor) else node_grads
                prev = store.get(edge)
                store[edge] = gx if prev is None else prev + gx
            if not retain_graph and _saves(node):
                node.inputs = None
                if isinstance(node, BackwardNode):  # its saved result too
                    node.result = None
    for leaf, g in leaf_grads.items():
        hooks = leaf.__dict__.get("_hooks")
        if hooks and leaf.grad_fn is None:  # a leaf's hooks see its whole gradient, once
            for hook in tuple(hooks.values()):
                g = _run_tensor_hook(hook, g)
            leaf_grads[leaf] = g
    if run is not None:
        graph.end_run(run)
    return leaf_grads


def _run_tensor_hook(hook, g):
    """``hook(g)``'s replacement gradient (``g`` when it returns None), refused as PyTorch
    refuses it when it is no tensor or a tensor of another size (it would be broadcast or
    reshaped into a wrong gradient further down)."""
    new = hook(g)
    if new is None:
        return g
    name = getattr(hook, "__name__", type(hook).__name__)
    if not isinstance(new, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(new).__name__}'")
    if tuple(new.shape) != tuple(g.shape):
        raise RuntimeError(f"hook '{name}' has changed the size of value")
    if new.dtype is not g.dtype:
        raise RuntimeError(
            f"hook '{name}' has changed the type of value (was {g.dtype} got {new.dtype})"
        )
    return new


def _check_gradient_count(outputs: list, gradients: list) -> None:
    """One gradient per output (``zip`` would silently drop the outputs without one)."""
    if len(gradients) < len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(gradients)} gradients")


def _check_grad_output(k: int, g, t: Tensor) -> None:
    """The gradient given for output ``k`` has the output's shape, as PyTorch requires."""
    if isinstance(g, Tensor) and tuple(g.shape) != tuple(t.shape):
        raise RuntimeError(
            f"Mismatch in shape: grad_output[{k}] has a shape of {g.shape} and output[{k}] "
            f"has a shape of {t.shape}."
        )


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``loss.backward()``: accumulate d(tensors)/d(leaf) into every leaf's ``.grad``."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    _check_gradient_count(tensors, grad_tensors)
    grads = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                f"element {len(grads)} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t.dtype.is_complex:
                raise RuntimeError("grad can be implicitly created only for real scalar outputs")
            if t.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs "
                    f"(got a tensor of shape {list(t.shape)}); pass "
                    f"gradient=... to backward()"
                )
            g = _ones_like(t)
        else:
            _check_grad_output(len(grads), g, t)
        grads.append(g)
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    # (a non-leaf named in ``inputs`` gets its ``.grad`` too, as in PyTorch: the pass
    # returns it as a target)
    targets = inputs if inputs and any(t.grad_fn is not None for t in inputs) else None
    leaf_grads = run_backward(tensors, grads, retain, create_graph, targets=targets)
    only = None if inputs is None else {id(t) for t in inputs}
    trace = current_trace()
    # arrays a new .grad must not share: the caller's gradients, and each .grad stored
    # here (add's rule hands one gradient to both operands), as PyTorch's AccumulateGrad
    # copies a gradient that is referenced elsewhere
    taken = None if create_graph or trace is not None else {id(g._data) for g in grads}
    for leaf, g in leaf_grads.items():
        if only is not None and id(leaf) not in only:
            continue
        if not create_graph:
            g = g.detach()
        if g.dtype is not leaf.dtype:
            g = g.to(leaf.dtype)
        if node_hooks_used:  # the leaf's AccumulateGrad pre-hooks (kiln.autograd.graph)
            from . import graph

            g = graph.accumulate_pre(leaf, g)
        if trace is None:
            previous = leaf._grad
            if previous is None and taken is not None:
                g = _laid_out_like(g, leaf)
                if id(g._data) in taken and type(g._data) is np.ndarray:
                    g = _wrap(np.array(g._data, copy=True, order="K"))
                taken.add(id(g._data))
            if _accumulates_in_place(previous, g, create_graph):
                # PyTorch's AccumulateGrad adds into the existing .grad (``g = x.grad``
                # taken before a second backward sees the sum)
                np.add(previous._data, g._data, out=previous._data)
                previous._version += 1
            else:
                leaf._grad = g if previous is None else previous + g
        else:
            previous = trace.current_grad(leaf)
            trace.set_grad(leaf, g if previous is None else previous + g)
        hooks = leaf.__dict__.get("_post_accumulate_hooks")
        if hooks:
            for hook in hooks:
                hook(leaf)
        if node_hooks_used:
            from . import graph

            graph.accumulate_post(leaf, g)


def _accumulates_in_place(previous, g, create_graph: bool) -> bool:
    return (
        previous is not None
        and not create_graph
        and type(previous._data) is np.ndarray
        and type(g._data) is np.ndarray
        and previous._data.flags.writeable
        and previous._data.shape == g._data.shape
        and previous._data.dtype == g._data.dtype
        and previous._node is None
        and not previous.requires_grad
    )


def _ones_like(t: Tensor) -> Tensor:
    """``ones_like(t)``; for an eager CPU tensor (the usual loss) without the factory's
    device, memory-format and meta checks (one element: no layout to keep)."""
    data = t._data
    if type(data) is np.ndarray and not t.is_meta and data.size == 1 and current_trace() is None:
        return _wrap(np.ones(data.shape, data.dtype))
    from ..creation import ones_like

    return ones_like(t)


def _laid_out_like(g: Tensor, leaf: Tensor) -> Tensor:
    """``g`` with ``leaf``'s memory layout, as PyTorch's gradient layout contract: a
    contiguous parameter gets a contiguous ``.grad`` (a ``Linear``'s weight gradient is
    computed transposed; an optimizer then read it with large strides, and
    ``p.grad.stride()`` differed from PyTorch's)."""
    data, like = g._data, leaf._data
    if (
        type(data) is np.ndarray
        and type(like) is np.ndarray
        and data.strides != like.strides
        and data.shape == like.shape
        and (like.flags.c_contiguous or like.flags.f_contiguous)
    ):
        laid_out = np.empty_like(like)
        np.copyto(laid_out, data)
        return _wrap(laid_out)
    return g


def set_leaf_grad(leaf: Tensor, grad: Tensor) -> None:
    """Store an accumulated gradient (tracing records it as a write-back instead)."""
    trace = current_trace()
    if trace is not None:
        trace.set_grad(leaf, grad)
    else:
        leaf.grad = grad


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph=False,
    only_inputs=True,
    allow_unused=None,
    is_grads_batched=False,
    materialize_grads=False,
):
    """d(outputs)/d(inputs), returned instead of accumulated (``torch.autograd.grad``).
    ``only_inputs`` is PyTorch's deprecated no-op; ``is_grads_batched``: the first
    dimension of every ``grad_outputs`` entry is a batch of vectors, one VJP each."""
    from ..creation import ones_like, zeros_like

    if is_grads_batched:
        from ..ops.shape import stack

        outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        gos = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
        n = gos[0].shape[0]
        rows = [
            grad(
                outs,
                inputs,
                [g[i] for g in gos],
                retain_graph=True if i < n - 1 else retain_graph,
                create_graph=create_graph,
                allow_unused=allow_unused,
                materialize_grads=materialize_grads,
            )
            for i in range(n)
        ]
        return tuple(
            None if col[0] is None else stack(list(col)) for col in zip(*rows, strict=True)
        )
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    _check_gradient_count(outputs, grad_outputs)
    for x in inputs:
        if not isinstance(x, Tensor):
            raise RuntimeError(
                f"all inputs have to be Tensors or GradientEdges, but got {type(x).__name__}"
            )
    grads = []
    for t, g in zip(outputs, grad_outputs):
        if not t.requires_grad:
            raise RuntimeError(
                f"element {len(grads)} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t.dtype.is_complex:
                raise RuntimeError("grad can be implicitly created only for real scalar outputs")
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = ones_like(t)
        else:  # (a misfit would broadcast into a silently wrong gradient)
            _check_grad_output(len(grads), g, t)
        grads.append(g)
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    found = run_backward(outputs, grads, retain, create_graph, targets=inputs)
    result = []
    for index, x in enumerate(inputs):
        g = found.get(x)
        if g is None:
            if materialize_grads:
                g = zeros_like(x)
            elif not allow_unused:
                raise RuntimeError(  # (PyTorch 2.13's message)
                    f"The differentiated Tensor at index {index} appears to not have been "
                    "used in the graph. Set allow_unused=True if this is the "
                    "desired behavior."
                )
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)
