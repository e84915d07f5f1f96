"""Custom autograd functions: ``kiln.autograd.Function`` (``torch.autograd.Function``).

A subclass defines ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)`` as static
methods, written in kiln operations; ``MyFunction.apply(*args)`` runs ``forward`` without
recording it and gives the outputs one node (the ``ctx``, which is also their ``grad_fn``)
whose backward is the user's ``backward``. Since that backward is ordinary kiln code, it
works in the three places a built-in VJP rule works: on the eager tape, recorded itself
for double backward (``create_graph=True``), and traced under ``kiln.jit``, where it becomes
part of the compiled backward graph (like ``jax.custom_vjp``).

>>> import kiln
>>> class Square(Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x
...     @staticmethod
...     def backward(ctx, g):
...         (x,) = ctx.saved_tensors
...         return 2 * x * g
>>> x = kiln.tensor([1.0, 3.0], requires_grad=True)
>>> Square.apply(x).sum().backward()
>>> x.grad
tensor([2., 6.])
"""

from __future__ import annotations

import functools
from collections import namedtuple

from .. import creation
from ..context import current_trace
from ..tensor import Tensor
from . import grad_mode, tape
from .graph import Node
from .tape import OutputSlot, SlotGrads, current_saved_hooks, next_functions
from .vjp import sum_to_shape

__all__ = [
    "BackwardCFunction",
    "Function",
    "FunctionCtx",
    "InplaceFunction",
    "NestedIOFunction",
    "once_differentiable",
]


class FunctionCtx:
    """What ``forward`` may tell ``backward``: saved tensors and which outputs are special.

    Any other attribute (``ctx.alpha = 2``) is kept as well, as in PyTorch.
    """

    def save_for_backward(self, *tensors) -> None:
        for k, t in enumerate(tensors):  # (not tensors.index(t): == on tensors is elementwise)
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument "
                    f"{k} is of type {type(t).__name__}"
                )
        self.to_save = tensors

    def save_for_forward(self, *tensors) -> None:
        self.saved_for_forward = tensors

    def mark_dirty(self, *tensors) -> None:
        """These inputs were modified in place by ``forward`` (and are returned)."""
        self.dirty_tensors = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        """These outputs get no gradient (an index, a mask)."""
        self.non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """``False``: ``backward`` receives ``None`` (not zeros) for an unused output."""
        self.materialize_grads = bool(value)


class BackwardCFunction(FunctionCtx, Node):
    """The node of one ``Function.apply`` call: it is both ``ctx`` and ``grad_fn``."""

    def __init__(self, cls, inputs, edges, needs_input_grad):
        self._cls = cls
        self.inputs = inputs  # the tensor arguments (None once the graph is freed)
        self.edges = edges
        self.needs_input_grad = needs_input_grad
        self.to_save = ()
        self.dirty_tensors = ()
        self.non_differentiable = ()
        self.materialize_grads = True
        self.retained = None
        self.hooks = None
        self.versions = None  # the engine's check; saved tensors are checked on access
        self._saved_versions = ()
        self._unpack = None  # saved_tensors_hooks' unpack hook when to_save was packed
        self._tensor_positions = ()
        self._input_meta = ()
        self._output_meta = ()
        self.n_outputs = 1

    def name(self) -> str:
        return f"{self._cls.__name__}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    @property
    def next_functions(self):
        return next_functions(self.edges)

    @property
    def saved_tensors(self) -> tuple:
        if self.inputs is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access "
                "saved tensors after they have already been freed). Specify "
                "retain_graph=True if you need to backward through the graph a second time."
            )
        for t, v in zip(self.to_save, self._saved_versions):
            if t is not None and v is not None and t._version != v:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been "
                    f"modified by an inplace operation: {t.dtype.name}{list(t.shape)} is at "
                    f"version {t._version}; expected version {v} instead ({self.name()})."
                )
        if self._unpack is not None:
            return tuple(None if t is None else self._unpack(t) for t in self.to_save)
        return tuple(self.to_save)

    saved_variables = saved_tensors

    def apply(self, g):
        grads = g.grads if isinstance(g, SlotGrads) else [g]
        if self.materialize_grads:
            grads = [
                creation.zeros(shape, dtype=dtype) if gi is None else gi
                for gi, (shape, dtype) in zip(grads, self._output_meta)
            ]
        result = self._cls.backward(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n_args = len(self.needs_input_grad)
        if len(result) < n_args or any(r is not None for r in result[n_args:]):
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients "
                f"(expected {n_args}, got {len(result)})"
            )
        out = []
        tensor_positions = set(self._tensor_positions)
        for pos, r in enumerate(result[:n_args]):
            if r is not None and pos not in tensor_positions:
                raise RuntimeError(
                    f"function {self.name()} returned a gradient different than None at "
                    f"position {pos + 1}, but the corresponding forward input was not a "
                    "Variable"
                )
        for pos, (shape, dtype) in zip(self._tensor_positions, self._input_meta):
            r = result[pos]
            if r is not None:
                if not isinstance(r, Tensor):  # (PyTorch's class and words first)
                    raise RuntimeError(
                        f"expected Variable or None (got {type(r).__name__}): function "
                        f"{self.name()} returned it as the gradient at position {pos + 1}"
                    )
                if tuple(r.shape) != tuple(shape):
                    if not _expandable(tuple(shape), tuple(r.shape)):
                        raise RuntimeError(
                            f"Function {self.name()} returned an invalid gradient at index "
                            f"{pos} - got {list(r.shape)} but expected shape compatible with "
                            f"{list(shape)}"
                        )
                    r = sum_to_shape(r, shape)
                if r.dtype is not dtype:
                    r = r.to(dtype)
            out.append(r)
        return tuple(out)


def _expandable(shape, to) -> bool:
    """Whether ``shape`` broadcasts to ``to`` (a gradient of ``to`` sums back to it)."""
    if len(shape) > len(to):
        return False
    return all(s == 1 or s == t for s, t in zip(reversed(shape), reversed(to)))


class _FunctionMeta(type):
    """Gives each Function subclass PyTorch's ``_backward_cls``-like name."""

    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_name = f"{name}Backward"


class Function(FunctionCtx, metaclass=_FunctionMeta):
    """Base class of custom differentiable operations; call them with ``.apply``."""

    generate_vmap_rule = False

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. "
            "Please use new-style autograd function with static forward method. "
            "(Example: https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)"
        )

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it "
            "with forward mode AD."
        )

    @staticmethod
    def vmap(info, in_dims, *args):
        raise NotImplementedError(
            "To use autograd.Function with vmap, you must either override the vmap "
            "staticmethod or set generate_vmap_rule=True."
        )

    @classmethod
    def apply(cls, *args, **kwargs):
        level = _owning_level(args)
        if level is not None:
            from ..func.batching import BatchTrace
            from ..func.jvp_rules import JVPTrace

            if isinstance(level, JVPTrace):
                return _apply_forward_ad(cls, level, args, kwargs)
            if isinstance(level, BatchTrace):
                return _apply_vmap(cls, level, args, kwargs)
        return cls._apply(args, kwargs)[0]

    @classmethod
    def _apply(cls, args, kwargs, compute=None):
        """Run forward (or ``compute(ctx)``, which also sets the context up) and record one
        node for its outputs; returns ``(outputs, ctx)``."""
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        inputs = tuple(args[i] for i in positions)
        recording = grad_mode.is_grad_enabled()
        needs = tuple(isinstance(a, Tensor) and recording and a.requires_grad for a in args)
        # Edges are fixed before forward runs: an input that forward modifies in place
        # (mark_dirty) gets this node as its new grad_fn.
        edges = tuple(
            (x.grad_fn if x.grad_fn is not None else (x if x.requires_grad else None))
            if recording
            else None
            for x in inputs
        )
        ctx = _backward_class(cls)(cls, inputs, edges, needs)
        ctx._tensor_positions = positions
        ctx._input_meta = tuple((tuple(x.shape), x.dtype) for x in inputs)
        custom_setup = cls.setup_context is not Function.setup_context
        with grad_mode.no_grad():
            if compute is not None:
                output = compute(ctx)
            elif custom_setup:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        return _wrap_outputs(ctx, output, any(needs)), ctx


# ------------------------------------------------------- under kiln.func's transforms

VmapInfo = namedtuple("VmapInfo", ["batch_size", "randomness"])

_FUNCTORCH_DOCS = (
    "For more details, please see https://pytorch.org/docs/main/notes/extending.func.html"
)


def _owning_level(args):
    """The innermost transform level (vmap, forward mode) that one of ``args`` belongs to,
    or ``None``: then ``apply`` runs as it does eagerly or under ``kiln.jit``."""
    from ..func.levels import Level, LevelTensor

    owners = {id(a._trace) for a in args if isinstance(a, LevelTensor)}
    level = current_trace()
    while isinstance(level, Level):
        if id(level) in owners:
            return level
        level = level.parent
    return None


def _has_setup_context(cls) -> bool:
    return cls.setup_context is not Function.setup_context


def _require_setup_context(cls) -> None:
    if not _has_setup_context(cls):
        raise RuntimeError(
            "In order to use an autograd.Function with functorch transforms (vmap, grad, "
            "jvp, jacrev, ...), it must override the setup_context staticmethod. " + _FUNCTORCH_DOCS
        )


def _apply_vmap(cls, level, args, kwargs):
    """``apply`` on tensors of a ``vmap`` level: the user's ``vmap`` staticmethod, or (with
    ``generate_vmap_rule = True``) ``forward`` itself run on the batched tensors. Either
    way the outputs get the usual node, so a ``grad`` inside the ``vmap`` runs ``backward``
    on batched gradients (its operations batch like any others)."""
    _require_setup_context(cls)
    custom_rule = cls.vmap is not Function.vmap
    if not custom_rule and not cls.generate_vmap_rule:
        raise RuntimeError(
            f"You tried to vmap over {cls.__name__}, but it does not have vmap support. "
            "Please override and implement the vmap staticmethod or set "
            "generate_vmap_rule=True. " + _FUNCTORCH_DOCS
        )
    if not custom_rule:
        return cls._apply(args, kwargs)[0]

    def compute(ctx):
        from ..func.batching import BatchTensor

        values, in_dims = [], []
        for a in args:
            value, dim = level.unwrap(a) if isinstance(a, Tensor) else (a, None)
            values.append(value)
            in_dims.append(dim)
        info = VmapInfo(level.size, level.randomness)
        with level.below():
            result = cls.vmap(info, tuple(in_dims), *values, **kwargs)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise RuntimeError(
                f"{cls.__name__}.vmap: expected the vmap staticmethod to return a tuple "
                f"(output, out_dims), got {type(result).__name__}"
            )
        out, out_dims = result
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        dims = (out_dims,) * len(outs) if not isinstance(out_dims, tuple) else out_dims
        if len(dims) != len(outs):
            raise RuntimeError(
                f"{cls.__name__}.vmap: returned {len(outs)} outputs but {len(dims)} out_dims"
            )
        wrapped = []
        for o, d in zip(outs, dims):
            if not isinstance(o, Tensor):
                wrapped.append(o)
                continue
            if d is not None and not -o.ndim <= d < o.ndim:
                raise RuntimeError(
                    f"{cls.__name__}.vmap: out_dim {d} is out of range for an output of shape "
                    f"{list(o.shape)}"
                )
            if d is not None and o.shape[d] != level.size:
                raise RuntimeError(
                    f"{cls.__name__}.vmap: an output's dimension {d} has size {o.shape[d]}, "
                    f"expected the batch size {level.size}"
                )
            wrapped.append(BatchTensor(level, o, None if d is None else d % o.ndim))
        output = wrapped[0] if single else tuple(wrapped)
        cls.setup_context(ctx, args, output)
        return output

    return cls._apply(args, kwargs, compute)[0]


def _apply_forward_ad(cls, level, args, kwargs):
    """``apply`` on dual tensors: ``forward`` on the primals, then the user's ``jvp`` on
    the tangents (zeros for tensor inputs without one, ``None`` for other arguments), as
    PyTorch's forward mode does; ``ctx.saved_tensors`` in ``jvp`` are those given to
    ``ctx.save_for_forward``."""
    from ..func.jvp_rules import DualTensor
    from . import forward_ad

    if not any(trace is level for trace, _ in forward_ad._levels.get()):
        _require_setup_context(cls)  # kiln.func.jvp, as torch.func.jvp
    if cls.jvp is Function.jvp:
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it "
            "with forward mode AD."
        )
    primals, tangents = [], []
    with level.below():
        for a in args:
            if not isinstance(a, Tensor):
                primals.append(a)
                tangents.append(None)
                continue
            primal, tangent = level.unwrap(a)
            primals.append(primal)
            if tangent is None:
                tangent = creation.zeros_like(primal)
            tangents.append(tangent)
        output, ctx = cls._apply(tuple(primals), kwargs)
        saved = (ctx.inputs, ctx.to_save, ctx._saved_versions, ctx._unpack)
        ctx.inputs = ()
        ctx.to_save = tuple(getattr(ctx, "saved_for_forward", ()))
        ctx._saved_versions, ctx._unpack = (), None
        try:
            out_tangents = cls.jvp(ctx, *tangents)
        finally:
            ctx.inputs, ctx.to_save, ctx._saved_versions, ctx._unpack = saved
    single = not isinstance(output, tuple)
    outs = (output,) if single else output
    if not isinstance(out_tangents, tuple):
        out_tangents = (out_tangents,)
    if len(out_tangents) != len(outs):
        raise RuntimeError(
            f"function {cls.__name__}.jvp returned an incorrect number of tangents "
            f"(expected {len(outs)}, got {len(out_tangents)})"
        )
    non_diff = {id(t) for t in ctx.non_differentiable}
    wrapped = []
    for o, t in zip(outs, out_tangents):
        if not isinstance(o, Tensor):
            wrapped.append(o)
            continue
        if id(o) in non_diff or not o.dtype.is_floating_point:
            t = None
        if t is not None and tuple(t.shape) != tuple(o.shape):
            raise RuntimeError(
                f"Function {cls.__name__} returned an invalid tangent: got shape "
                f"{list(t.shape)} for an output of shape {list(o.shape)}"
            )
        if t is not None and t.dtype is not o.dtype:
            t = t.to(o.dtype)
        wrapped.append(DualTensor(level, o, t))
    return wrapped[0] if single else tuple(wrapped)


def _backward_class(cls) -> type:
    """The node class of Function ``cls``: ``<Name>Backward``, one per Function, as
    PyTorch's ``cls._backward_cls`` (``type(y.grad_fn).__name__`` names the Function)."""
    node_class = cls.__dict__.get("_backward_cls")
    if node_class is None:
        namespace = {"__module__": cls.__module__}
        node_class = type(f"{cls.__name__}Backward", (BackwardCFunction,), namespace)
        cls._backward_cls = node_class
    return node_class


def _wrap_outputs(ctx: BackwardCFunction, output, differentiable: bool):
    single = not isinstance(output, tuple)
    outs = [output] if single else list(output)
    dirty = {id(t) for t in ctx.dirty_tensors}
    inputs = {id(t) for t in ctx.inputs}
    non_diff = {id(t) for t in ctx.non_differentiable}
    tensor_idx = [i for i, o in enumerate(outs) if isinstance(o, Tensor)]
    for i in tensor_idx:
        o = outs[i]
        if id(o) in inputs and id(o) not in dirty:
            outs[i] = o.detach()  # an input returned as is: a new tensor on its storage
    for t in ctx.dirty_tensors:
        if t.requires_grad and t.grad_fn is None and differentiable:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
    ctx._output_meta = tuple((tuple(outs[i].shape), outs[i].dtype) for i in tensor_idx)
    ctx.n_outputs = len(tensor_idx)
    ctx._saved_versions = tuple(None if t is None else t._version for t in ctx.to_save)
    hooks = current_saved_hooks() if tape.saved_hooks_active and differentiable else None
    if hooks is not None:
        pack, ctx._unpack = hooks
        ctx.to_save = tape.pack_saved(pack, ctx.to_save)
        ctx._saved_versions = ()
    if differentiable:
        for k, i in enumerate(tensor_idx):
            o = outs[i]
            if id(o) in non_diff or not o.dtype.is_floating_point:
                o.grad_fn = None
                o.requires_grad = False
                continue
            o.grad_fn = ctx if len(tensor_idx) == 1 else OutputSlot(ctx, k)
            o.requires_grad = True
    else:
        ctx.inputs = None  # nothing will run backward: hold no tensors
    return outs[0] if single else tuple(outs)


class InplaceFunction(Function):
    """A Function with an ``inplace`` flag (PyTorch's legacy helper base class)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace


class NestedIOFunction(Function):
    """PyTorch's legacy nested-input Function base (kept for imports; use ``Function``)."""


class _DelayedError(Node):
    """The node behind a ``once_differentiable`` backward's outputs under ``create_graph``:
    differentiating them again is an error, raised only if it happens."""

    retained = None
    hooks = None
    versions = None

    def __init__(self, message: str, inputs):
        self.message = message
        self.inputs = inputs
        self.edges = tuple(
            x.grad_fn if x.grad_fn is not None else (x if x.requires_grad else None) for x in inputs
        )

    def name(self) -> str:
        return "Error"

    @property
    def next_functions(self):
        return next_functions(self.edges)

    def apply(self, g):
        raise RuntimeError(self.message)


def once_differentiable(fn):
    """Mark a ``backward`` that cannot itself be differentiated: it runs without recording,
    and a double backward through it raises instead of returning a wrong (zero) result."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with grad_mode.no_grad():
            outputs = fn(ctx, *args)
        if not grad_mode.is_grad_enabled():
            return outputs
        graded = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        if not graded:
            return outputs
        single = not isinstance(outputs, tuple)
        outs = [outputs] if single else list(outputs)
        for i, o in enumerate(outs):
            if isinstance(o, Tensor) and o.dtype.is_floating_point:
                o = o.detach()
                o.requires_grad = True
                o.grad_fn = _DelayedError(
                    "trying to differentiate twice a function that was marked with "
                    "@once_differentiable",
                    tuple(graded),
                )
                outs[i] = o
        return outs[0] if single else tuple(outs)

    return wrapper
