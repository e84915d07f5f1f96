"""``kiln.autograd.graph``: hooks on what the autograd graph keeps for the backward pass.

``saved_tensors_hooks(pack, unpack)``: every tensor an operation keeps for its backward
(the inputs its VJP rule reads, a custom Function's ``save_for_backward``) is stored as
``pack(tensor)``, and the backward uses ``unpack(stored)``: compress, offload or log what
autograd holds on to. The hooks are per thread, as PyTorch's.

>>> import kiln
>>> seen = []
>>> x = kiln.tensor([1.0, 2.0], requires_grad=True)
>>> with saved_tensors_hooks(lambda t: seen.append(t.shape) or t * 1, lambda t: t):
...     y = (x * x).sum()
>>> y.backward(); x.grad.tolist(), len(seen)
([2.0, 4.0], 2)

The nodes themselves (``y.grad_fn``) are ``Node`` instances, as PyTorch's: ``name()``,
``next_functions``, ``metadata``, ``register_prehook(fn)`` (``fn(grad_outputs)``, before
the node runs) and ``register_hook(fn)`` (``fn(grad_inputs, grad_outputs)``, after it);
``register_multi_grad_hook`` calls one function once the gradients of several tensors are
all computed; ``increment_version`` marks a tensor as changed in place.
"""

from __future__ import annotations

import itertools
import weakref
from contextvars import ContextVar

from ..utils.hooks import RemovableHandle

# (tape imports this module for ``Node``: tape is imported inside the functions here)

_disabled: ContextVar = ContextVar("kiln_saved_tensors_hooks_disabled", default=None)

__all__ = [
    "Node",
    "disable_saved_tensors_hooks",
    "increment_version",
    "register_multi_grad_hook",
    "save_on_cpu",
    "saved_tensors_hooks",
]


class saved_tensors_hooks:  # noqa: N801 - PyTorch's name
    """Inside the block, tensors saved for backward go through ``pack_hook`` (and come back
    through ``unpack_hook``)."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        from . import tape

        message = _disabled.get()
        if message is not None:
            raise RuntimeError(message)
        self._token = tape._saved_hooks.set((self.pack_hook, self.unpack_hook))
        tape.saved_hooks_active += 1
        return self

    def __exit__(self, *exc):
        from . import tape

        tape._saved_hooks.reset(self._token)
        tape.saved_hooks_active -= 1
        return False


class save_on_cpu(saved_tensors_hooks):  # noqa: N801
    """Keep saved tensors in host memory (a copy, as PyTorch's; kiln's CPU tensors already
    live there, a CUDA tensor is copied over and back)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda"):
        def pack(t):
            return (t.device, t.detach().to("cpu").clone(), t.requires_grad)

        def unpack(packed):
            dev, t, _ = packed
            return t.to(dev)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801
    """No saved-tensor hooks apply inside the block, and installing one is an error with
    ``error_message`` (for code that must not be subjected to them)."""

    def __init__(self, error_message: str):
        self.error_message = error_message

    def __enter__(self):
        from . import tape

        self._token = tape._saved_hooks.set(None)
        self._disabled = _disabled.set(self.error_message)
        return self

    def __exit__(self, *exc):
        from . import tape

        _disabled.reset(self._disabled)
        tape._saved_hooks.reset(self._token)
        return False


# ------------------------------------------------------------------------------- nodes


class Node:
    """``torch.autograd.graph.Node``: the base of every node of kiln's autograd graph (a
    recorded op's ``grad_fn``, a leaf's ``AccumulateGrad``, a custom Function's node).

    >>> import kiln
    >>> y = kiln.tensor([1.0, 2.0], requires_grad=True) * 3
    >>> isinstance(y.grad_fn, Node), y.grad_fn.name()
    (True, 'MulBackward0')
    """

    __slots__ = ("_node_state",)  # a _NodeState once metadata or a hook is asked for

    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        return ()

    @property
    def metadata(self) -> dict:
        """A dict of the user's own, kept with the node (PyTorch's ``grad_fn.metadata``)."""
        return _state(self).metadata

    def register_prehook(self, fn) -> RemovableHandle:
        """``fn(grad_outputs) -> None or new grad_outputs``, before the node runs (after
        the hooks of its output tensor)."""
        return _add_hook(self, _state(self).pre, fn)

    def register_hook(self, fn) -> RemovableHandle:
        """``fn(grad_inputs, grad_outputs) -> None or new grad_inputs``, after the node
        ran; ``grad_inputs`` lines up with ``next_functions``."""
        _check_post_hook(self)
        return _add_hook(self, _state(self).post, fn)


class _NodeState:
    __slots__ = ("metadata", "pre", "post")

    def __init__(self):
        self.metadata = {}
        self.pre = {}
        self.post = {}


def _owner(node):
    """Where a node's state lives: a multi-output node's slot uses the shared node."""
    from . import tape

    if isinstance(node, tape.OutputSlot):
        return node.node
    return node


def _state(node) -> _NodeState:
    from . import tape

    node = _owner(node)
    if isinstance(node, tape.AccumulateGrad):
        node = accumulate_node(node.variable)  # the leaf's one node, held by the leaf
        node.variable.__dict__["_accumulate_node"] = node
    found = getattr(node, "_node_state", None)
    if found is None:
        found = node._node_state = _NodeState()
    return found


# leaf id -> its AccumulateGrad while anything holds that (checked: ids are reused)
_ACCUMULATE_NODES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def accumulate_node(leaf):
    """The leaf's ``AccumulateGrad``: one object while anything holds it, as PyTorch's
    (a graph walker that remembers the nodes it saw meets a shared leaf once). A node
    with metadata or hooks is held by its leaf (``_accumulate_node``)."""
    from . import tape

    node = leaf.__dict__.get("_accumulate_node")
    if node is None:
        node = _ACCUMULATE_NODES.get(id(leaf))
        if node is None or node.variable is not leaf:
            node = _ACCUMULATE_NODES[id(leaf)] = tape.AccumulateGrad(leaf)
    return node


def _add_hook(node, hooks: dict, fn) -> RemovableHandle:
    from . import tape

    tape.node_hooks_used = True  # the engine looks for node hooks from now on
    handle = RemovableHandle(hooks)
    hooks[handle.id] = fn
    return handle


def _check_post_hook(node) -> None:
    from . import tape

    node = _owner(node)
    if isinstance(node, tape.BackwardNode) and node.shown is not None:
        # a composite's last node shown under PyTorch's name: the gradients of the inputs
        # next_functions shows are made by the composite's inner nodes, later
        raise RuntimeError(
            f"register_hook on {node.name()}: kiln computes this node's input gradients "
            "through the inner nodes of a composite, so they are not available here; "
            "register a hook on the input tensors instead (Tensor.register_hook)"
        )


def _shown_positions(node) -> list:
    """The positions of the gradients ``apply`` returns that ``next_functions`` shows."""
    from . import tape

    if isinstance(node, tape.BackwardNode):
        pick = tape._SHOWN_INPUTS.get(node.prim.name)
        picked = pick(node) if pick is not None else None
        if picked is not None:
            return list(picked)
    return list(range(len(node.edges)))


def _hook_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _checked(fn, new, old: tuple) -> tuple:
    new = tuple(new)
    if len(new) != len(old):
        raise RuntimeError(
            f"hook '{_hook_name(fn)}' has returned an incorrect number of values (got "
            f"{len(new)}, but expected {len(old)})"
        )
    for was, now in zip(old, new):
        if was is None and now is not None:
            raise RuntimeError("can't replace a None gradient with a non-None value")
    return new


def run_node(node, g):
    """``node.apply(g)`` with the node's pre-hooks and hooks (the engine calls this once
    any node hook was registered)."""
    from . import tape

    # (a multi-output node's slots pass their gradient on to it: its hooks run there)
    state = None if isinstance(node, tape.OutputSlot) else getattr(node, "_node_state", None)
    if state is None or not (state.pre or state.post):
        return node.apply(g)
    slots = isinstance(g, tape.SlotGrads)
    outputs = tuple(g.grads) if slots else (g,)
    for fn in tuple(state.pre.values()):
        new = fn(outputs)
        if new is not None:
            new = tuple(new)
            if len(new) != len(outputs):
                raise RuntimeError(
                    f"hook '{_hook_name(fn)}' has returned an incorrect number of values "
                    f"(got {len(new)}, but expected {len(outputs)})"
                )
            outputs = new
    if slots:
        g.grads = list(outputs)
    else:
        g = outputs[0]
    grads = node.apply(g)
    if state.post:
        positions = _shown_positions(node)
        inputs = tuple(grads[i] for i in positions)
        for fn in tuple(state.post.values()):
            new = fn(inputs, outputs)
            if new is not None:
                inputs = _checked(fn, new, inputs)
        grads = list(grads)
        for i, gi in zip(positions, inputs):
            grads[i] = gi
    return grads


def accumulate_pre(leaf, g):
    """A leaf's ``AccumulateGrad`` pre-hooks, on its gradient before it is accumulated."""
    state = getattr(leaf.__dict__.get("_accumulate_node"), "_node_state", None)
    if state is None:
        return g
    for fn in tuple(state.pre.values()):
        new = fn((g,))
        if new is not None:
            (g,) = _checked(fn, new, (g,))
    return g


def accumulate_post(leaf, g) -> None:
    """A leaf's ``AccumulateGrad`` hooks, after its gradient was accumulated."""
    state = getattr(leaf.__dict__.get("_accumulate_node"), "_node_state", None)
    if state is not None:
        for fn in tuple(state.post.values()):
            fn((), (g,))


# ---------------------------------------------------------------- the backward run


class _Run:
    """One backward pass (PyTorch's graph task): its id and what it computes a gradient
    for (by ``id``: a run left set by a backward that raised holds no tensor alive)."""

    __slots__ = ("id", "nodes", "leaves")

    _ids = itertools.count()

    def __init__(self, order, roots):
        from ..tensor import Tensor

        self.id = next(_Run._ids)
        self.nodes = {id(n) for n in order}
        self.leaves = {id(t) for t in roots if t.grad_fn is None}  # a leaf as a root
        self.leaves.update(id(e) for n in order for e in n.edges if isinstance(e, Tensor))

    def will_run(self, t) -> bool:
        """Whether ``t``'s gradient is computed in this pass (its hooks then run)."""
        if t.grad_fn is not None:
            return id(t.grad_fn) in self.nodes
        return id(t) in self.leaves


_run: ContextVar = ContextVar("kiln_backward_run", default=None)


def begin_run(order, roots):
    """The engine, at the start of a backward pass once node hooks are in use; returns
    the token for ``end_run``."""
    return _run.set(_Run(order, roots))


def end_run(token) -> None:
    _run.reset(token)


class _MultiHandle:
    """The handle of ``register_multi_grad_hook``: ``remove()`` removes every part."""

    def __init__(self, handles):
        self.handles = tuple(handles)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_multi_grad_hook(tensors, fn, *, mode: str = "all"):
    """Call ``fn`` once per backward pass over several tensors (PyTorch's).

    ``mode="all"``: ``fn(grads)`` once the gradients of all of ``tensors`` that this pass
    computes are there (``None`` for the others); ``mode="any"``: ``fn(grad)`` with the
    first of them computed.

    >>> import kiln
    >>> a, b = kiln.ones(2, requires_grad=True), kiln.ones(2, requires_grad=True)
    >>> seen = []
    >>> h = register_multi_grad_hook((a, b), lambda gs: seen.append(len(gs)))
    >>> (a * 2 + b).sum().backward(); seen
    [2]
    """
    from ..tensor import Tensor
    from . import tape

    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = tuple(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"register_multi_grad_hook: expected tensors, got {type(t)}")
    tape.node_hooks_used = True
    graded = [i for i, t in enumerate(tensors) if t.requires_grad]
    buffers: dict = {}  # run id -> the gradients so far ("all")
    last_run = [None]  # the run that called fn ("any")
    counts: dict = {}
    expected: dict = {}

    def make_hook(i):
        def hook(grad):
            run = _run.get()
            if run is None:
                raise RuntimeError("expected this hook to be called inside a backward call")
            if mode == "any":
                if last_run[0] != run.id:
                    last_run[0] = run.id
                    fn(grad)
                return None
            if run.id not in buffers:
                buffers[run.id] = [None] * len(tensors)
                counts[run.id] = 0
                expected[run.id] = sum(run.will_run(tensors[k]) for k in graded)
            buffers[run.id][i] = grad
            counts[run.id] += 1
            if counts[run.id] == expected[run.id]:
                grads = buffers.pop(run.id)
                del counts[run.id], expected[run.id]
                fn(grads)
            return None

        return hook

    return _MultiHandle([tensors[i].register_hook(make_hook(i)) for i in graded])


def increment_version(tensor) -> None:
    """Mark ``tensor`` (or each of several) as changed in place, as an in-place op would:
    a backward that saved it then raises (PyTorch's ``increment_version``)."""
    from ..tensor import Tensor

    for t in (tensor,) if isinstance(tensor, Tensor) else tuple(tensor):
        t._version += 1


# ----------------------------------------------------------------- saved values by name

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved "
    "tensors after they have already been freed). Saved intermediate values of the graph "
    "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if "
    "you need to backward through the graph a second time or if you need to access saved "
    "tensors after calling backward."
)


def _input(i):
    def get(node):
        from . import tape

        if node.inputs is None:
            raise RuntimeError(_FREED)
        x = node.inputs[i]
        if isinstance(x, tape.InputMeta):  # an input whose values the node does not keep
            raise AttributeError(f"'{node.name()}' object keeps no input {i}")
        return x if node.unpack is None else node.unpack(x)

    get.index = i  # (``_raw_saved_*``: which input it is)
    return get


def _sizes(i):
    def get(node):
        return tuple(_input(i)(node).shape)

    return get


def _exponent_number(node):
    e = _input(1)(node).item()
    return int(e) if float(e).is_integer() else e


def _param(key, convert=lambda v: v):
    return lambda node: convert(node.params[key])


def _result(node):
    """The saved output's values (its storage and version counter; PyTorch's also has
    this node as its ``grad_fn``, kiln's is detached)."""
    if node.result is None:
        raise RuntimeError(_FREED)
    return node.result if node.unpack is None else node.unpack(node.result)


# What PyTorch's node of each name shows (``dir(grad_fn)``), where kiln's node of that
# name is the primitive's own (not a renamed composite); other nodes show ``_saved_self``
# and ``_saved_other`` where their rule reads the inputs
_SAVED = {
    "SumBackward0": {"_saved_self_sym_sizes": _sizes(0)},
    "SumBackward1": {
        "_saved_self_sym_sizes": _sizes(0),
        "_saved_dim": _param("axes", tuple),
        "_saved_keepdim": _param("keepdims"),
    },
    "ViewBackward0": {"_saved_self_sym_sizes": _sizes(0)},
    "ExpandBackward0": {"_saved_self_sym_sizes": _sizes(0)},
    "PermuteBackward0": {"_saved_dims": _param("axes", tuple)},
    "CatBackward0": {"_saved_dim": _param("axis")},
    "MmBackward0": {
        "_saved_self": _input(0),
        "_saved_mat2": _input(1),
        "_saved_self_sym_sizes": _sizes(0),
        "_saved_mat2_sym_sizes": _sizes(1),
    },
    "BmmBackward0": {"_saved_self": _input(0), "_saved_mat2": _input(1)},
    "PowBackward0": {"_saved_self": _input(0), "_saved_exponent": _exponent_number},
    "PowBackward1": {"_saved_self": _input(0), "_saved_exponent": _input(1)},
    "WhereBackward0": {"_saved_condition": _input(0)},
}
# renamed composites: only what kiln's node holds under PyTorch's meaning
_SAVED_RENAMED = {
    ("PowBackward0", "mul"): {"_saved_self": _input(0), "_saved_exponent": lambda node: 2},
}
_GENERIC = {"_saved_self": 0, "_saved_other": 1}


class _Packed:
    """A saved tensor replaced by what its pack hook returned (``SavedTensor.register_hooks``)."""

    __slots__ = ("packed", "unpack_hook")

    def __init__(self, packed, unpack_hook):
        self.packed, self.unpack_hook = packed, unpack_hook


def _unpack_slot(x):
    """A node's ``unpack`` once one of its saved tensors has hooks of its own."""
    return x.unpack_hook(x.packed) if type(x) is _Packed else x


_FREED_HOOKS = (
    "Calling register_hooks on a saved tensor after it has been freed. Saved intermediate "
    "values of the graph are freed when you call .backward() or autograd.grad(). Specify "
    "retain_graph=True if you need to backward through the graph a second time or if you "
    "need to access saved variables after calling backward."
)


class SavedTensor:
    """``grad_fn._raw_saved_<name>``: one tensor a node saved, whose own pack and unpack
    hooks may be set (PyTorch's ``torch._C._autograd.SavedTensor``): ``pack_hook`` runs at
    once on the saved tensor, ``unpack_hook`` whenever backward (or ``_saved_<name>``) reads
    it."""

    __slots__ = ("_node", "_index")

    def __init__(self, node, index):
        self._node, self._index = node, index  # (index None: the saved result)

    def register_hooks(self, pack_hook, unpack_hook) -> None:
        from . import tape

        if not (callable(pack_hook) and callable(unpack_hook)):
            raise TypeError(
                "register_hooks(): incompatible function arguments: expected two callables "
                f"(pack_hook, unpack_hook), got {type(pack_hook).__name__} and "
                f"{type(unpack_hook).__name__}"
            )
        node, i = self._node, self._index
        slots = node.inputs
        if (slots is None and i is not None) or (i is None and node.result is None):
            raise RuntimeError(_FREED_HOOKS)
        value = node.result if i is None else slots[i]
        if type(value) is _Packed or (node.unpack is not None and node.unpack is not _unpack_slot):
            raise RuntimeError(
                "Calling register_hooks on a saved tensor whose hooks have already been set. "
                "Hint: only one pair of hooks is allowed at a time."
            )
        packed = _Packed(tape.pack_saved(pack_hook, (value,))[0], unpack_hook)
        if i is None:
            node.result = packed
            node.result_version = None  # (what is kept is the hook's, not the tensor)
        else:
            node.inputs = slots[:i] + (packed,) + slots[i + 1 :]
            if node.versions is not None:
                node.versions = node.versions[:i] + (None,) + node.versions[i + 1 :]
        node.unpack = _unpack_slot


def saved_attribute(node, name: str):
    """``grad_fn._saved_<name>``: what ``node`` keeps for its backward, under PyTorch's
    attribute names (AttributeError where PyTorch's node of that name has no such one);
    ``grad_fn._raw_saved_<name>``: the same as a ``SavedTensor``, whose hooks may be set."""
    if name.startswith("_raw_saved_"):
        get = _saved_getter(node, "_saved_" + name[len("_raw_saved_") :])
        if get is _result:
            return SavedTensor(node, None)
        index = getattr(get, "index", None)
        if index is None:  # (a saved number or size: no tensor)
            raise AttributeError(f"'{type(node).__name__}' object has no attribute '{name}'")
        return SavedTensor(node, index)
    return _saved_getter(node, name)(node)


def _saved_getter(node, name: str):
    from . import tape

    kind = type(node).__name__
    kept_result = node.result is not None or (
        node.prim.name in tape._RESULT_RULES and node.result_version is not None
    )
    if name == "_saved_result" and kept_result:
        return _result
    if node.shown is not None:
        table = _SAVED_RENAMED.get((kind, node.prim.name), {})
    else:
        table = _SAVED.get(kind)
        if table is None and node.prim.vjp_reads_inputs and not kept_result:
            index = _GENERIC.get(name)
            if index is not None and index < len(node.edges):
                return _input(index)
            table = {}
    get = (table or {}).get(name)
    if get is None:
        raise AttributeError(f"'{kind}' object has no attribute '{name}'")
    return get
