"""The autograd tape: one ``BackwardNode`` per recorded op, and the backward engine.

Each differentiable op whose inputs require grad gets a ``BackwardNode`` (its ``grad_fn``)
holding the primitive, its params, its input tensors and the edges to the inputs' own
``grad_fn`` (fixed at record time, as in PyTorch). ``backward`` walks the nodes in reverse
topological order (an iterative sort: a 100,000-op chain is fine) and applies the VJP rules
of ``vjp.py``, which are written in tensor operations: with ``create_graph=True`` they are
recorded themselves (higher-order gradients), and under tracing they become graph nodes.
"""

from __future__ import annotations

from ..context import current_trace
from ..tensor import Tensor
from . import grad_mode

_FREED = "freed"


class AccumulateGrad:
    """The edge to a leaf tensor: gradients arriving here accumulate into ``leaf.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor):
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    next_functions = ()


class BackwardNode:
    __slots__ = (
        "prim",
        "params",
        "inputs",
        "edges",
        "versions",
        "out_shape",
        "out_dtype",
        "retained",
        "__weakref__",
    )

    def __init__(self, prim, params, inputs, out):
        self.prim = prim
        self.params = params
        self.inputs = inputs
        self.edges = tuple(
            x.grad_fn if x.grad_fn is not None else (x if x.requires_grad else None) for x in inputs
        )
        reads = prim.vjp_reads_inputs
        if callable(reads):
            reads = reads(*inputs)
        self.versions = (
            None
            if not reads
            else tuple(
                x._version if reads is True or i in reads else None for i, x in enumerate(inputs)
            )
        )
        self.out_shape = out.shape
        self.out_dtype = out.dtype
        self.retained = None  # weakref to the output tensor when it called retain_grad()

    def name(self) -> str:
        return "".join(p.capitalize() for p in self.prim.name.split("_")) + "Backward0"

    def apply(self, g):
        """One gradient per input, from the primitive's VJP rule."""
        return self.prim.vjp(g, *self.inputs, **self.params)

    @property
    def next_functions(self):
        return tuple(((AccumulateGrad(e) if isinstance(e, Tensor) else e), 0) for e in self.edges)

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def record(prim, inputs, params, out: Tensor) -> None:
    """Called by the dispatcher for every differentiable op with an input requiring grad."""
    if not out.dtype.is_floating_point:
        return
    out.grad_fn = BackwardNode(prim, params, inputs, out)
    out._requires_grad = True
    if "writable_view" in prim.properties:
        # An in-place update of this view must also rewrite its base's history
        # (kiln.ops.inplace.assign), as PyTorch's CopySlices does.
        out._view_of = (inputs[0], prim.name, params)


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


def _accumulate(store: dict, key, grad):
    prev = store.get(key)
    store[key] = grad if prev is None else prev + grad


def run_backward(roots, root_grads, retain_graph: bool, create_graph: bool, targets=None) -> dict:
    """Propagate ``root_grads`` from ``roots``; return ``{leaf or node: grad}``.

    With ``targets`` (``autograd.grad``), grads for those tensors are returned instead of
    being accumulated into ``.grad``.
    """
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
    with grad_mode.set_grad_enabled(create_graph):
        for node in _topological([t.grad_fn for t in roots]):
            g = node_grads.pop(node, None)
            if g is None:
                continue
            if node in target_nodes:
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
            if getattr(node, "versions", None) is not None:
                for x, v in zip(node.inputs, node.versions):
                    if v is not None and x._version != v:
                        raise RuntimeError(
                            f"one of the variables needed for gradient computation has been "
                            f"modified by an inplace operation: {x.dtype.name}"
                            f"{list(x.shape)} is at version {x._version}; expected version "
                            f"{v} instead ({node.name()})."
                        )
            grads = node.apply(g)
            for edge, x, gx in zip(node.edges, node.inputs, grads):
                if gx is None or edge is None:
                    continue
                hooks = x.__dict__.get("_hooks") if isinstance(edge, Tensor) else None
                if hooks:
                    for hook in hooks:
                        new = hook(gx)
                        gx = gx if new is None else new
                if isinstance(edge, Tensor):
                    _accumulate(leaf_grads, edge, gx)
                else:
                    _accumulate(node_grads, edge, gx)
            if not retain_graph:
                node.inputs = None
    return leaf_grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``loss.backward()``: accumulate d(tensors)/d(leaf) into every leaf's ``.grad``."""
    from ..creation import ones_like

    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    grads = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs "
                    f"(got a tensor of shape {list(t.shape)}); pass "
                    f"gradient=... to backward()"
                )
            g = ones_like(t)
        elif tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(
                f"backward: gradient has shape {list(g.shape)} but the output "
                f"has shape {list(t.shape)}"
            )
        grads.append(g)
    retain = create_graph if retain_graph is None else retain_graph
    leaf_grads = run_backward(tensors, grads, retain, create_graph)
    only = (
        None
        if inputs is None
        else {id(t) for t in ([inputs] if isinstance(inputs, Tensor) else inputs)}
    )
    for leaf, g in leaf_grads.items():
        if only is not None and id(leaf) not in only:
            continue
        if not create_graph:
            g = g.detach()
        if g.dtype is not leaf.dtype:
            g = g.to(leaf.dtype)
        trace = current_trace()
        previous = leaf.grad if trace is None else trace.current_grad(leaf)
        set_leaf_grad(leaf, g if previous is None else previous + g)
        for hook in leaf.__dict__.get("_post_accumulate_hooks", ()):
            hook(leaf)


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
    allow_unused=False,
    materialize_grads=False,
):
    """d(outputs)/d(inputs), returned instead of accumulated (``torch.autograd.grad``)."""
    from ..creation import ones_like, zeros_like

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    grads = []
    for t, g in zip(outputs, grad_outputs):
        if not t.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = ones_like(t)
        grads.append(g)
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    found = run_backward(outputs, grads, retain, create_graph, targets=inputs)
    result = []
    for x in inputs:
        g = found.get(x)
        if g is None:
            if materialize_grads:
                g = zeros_like(x)
            elif not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been "
                    "used in the graph. Set allow_unused=True if this is the "
                    "desired behavior."
                )
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)
