"""In-place operations (``add_``, ``mul_``, ``zero_``, ``copy_``, ...) with PyTorch's rules.

The new value is computed functionally (so autograd and tracing see an ordinary op), then
stored into the tensor: eagerly into its NumPy buffer (views see the change, as in
PyTorch); under tracing the tensor is re-pointed at the new graph value, and a tensor the
trace captured from outside is recorded as mutated so the compiled function writes it back.
"""

from __future__ import annotations

import math

import numpy as np

from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes, ops
from ..context import current_trace, in_inference_mode, is_grad_enabled
from ..creation import full
from ..dispatch import bind, constant
from ..memory_format import internal_overlap, writable_alias
from ..tensor import Tensor
from .elementwise import cast, where
from .shape import expand, pad_axes, permute, reshape


def check_leaf(x: Tensor, op: str) -> None:
    if x.requires_grad and x.grad_fn is None and is_grad_enabled():
        raise RuntimeError(
            f"{op}: a leaf Variable that requires grad is being used in an in-place operation."
        )


_NO_GRAD_VIEW = (
    "{} created in no_grad mode and is being modified inplace with grad mode enabled. Given "
    "that this use case is ambiguous and error-prone, it is forbidden. You can clarify your "
    "code by moving both the view and the inplace either both inside the no_grad block (if "
    "you don't want the inplace to be tracked) or both outside (if you want the inplace to "
    "be tracked)."
)


def _no_grad_view_error(mark) -> RuntimeError:
    """PyTorch's error for an in-place update of a view taken under no_grad (``mark``:
    True) or of a view of one (``mark``: the name of the op that made it)."""
    if mark is True:
        return RuntimeError(_NO_GRAD_VIEW.format("A view was"))
    return RuntimeError(_NO_GRAD_VIEW.format(f"Output 0 of {mark} is a view of a view which was"))


def assign(x: Tensor, new: Tensor, op: str, fills: bool = False) -> Tensor:
    """Make ``x`` hold ``new`` (same shape), keeping ``x``'s identity. ``fills``: ``new`` is
    one number everywhere (``zero_``, ``fill_(3.0)``), which PyTorch writes into an expanded
    tensor too."""
    if "_no_grad_view" in x.__dict__ and is_grad_enabled():  # (dispatch._creation_mode)
        raise _no_grad_view_error(x._no_grad_view)
    if "_inference" in x.__dict__ and not in_inference_mode():
        raise RuntimeError(
            "Inplace update to inference tensor outside InferenceMode is not allowed.You can "
            "make a clone to get a normal tensor before doing inplace update.See "
            "https://github.com/pytorch/rfcs/pull/17 for more details."
        )
    check_leaf(x, op)
    if tuple(new.shape) != tuple(x.shape):
        raise RuntimeError(
            f"{op}: output with shape {list(x.shape)} doesn't match the "
            f"broadcast shape {list(new.shape)}"
        )
    if new.dtype is not x.dtype:
        if new.dtype._category > x.dtype._category:
            raise RuntimeError(
                f"{op}: result type {new.dtype.name} can't be cast to the "
                f"desired output type {x.dtype.name}"
            )
        new = cast(new, x.dtype)
    # When x is a view of a base (``_view_of``, set by the tracer, by CUDA, and by autograd
    # on the views it records), the update must reach the base too: its values where the
    # view is a copy (traced, CUDA), its autograd history where NumPy shares the values.
    view_of = getattr(x, "_view_of", None)
    through = new  # the view's new value, as the base's update reads it
    trace = current_trace()
    if (
        view_of is not None
        and view_of[1] == "as_strided"
        and (trace is not None or is_grad_enabled() or type(x._data) is not np.ndarray)
    ):
        where = "under kiln.jit" if trace is not None else "where autograd recorded it"
        raise RuntimeError(
            f"{op}: an in-place update of a strided view (Tensor.unfold, diagonal or "
            f"as_strided) {where} is not supported: kiln cannot write it back to the base "
            "tensor; compute the new tensor out of place (or under kiln.no_grad, eagerly)"
        )
    if trace is not None:
        node = x._node
        if getattr(node, "op", None) == "expand" and x.numel() > math.prod(node.inputs[0].shape):
            raise RuntimeError(
                f"{op}: unsupported operation: more than one element of the written-to tensor "
                "refers to a single memory location (an expanded tensor). Please clone() the "
                "tensor before performing the operation."
            )
        trace.assign(x, new)
    elif new._node is not None:
        view_of = None
    elif x.is_meta or new.is_meta:  # no data to write (kiln.meta)
        if not x.is_meta:
            raise NotImplementedError(f"{op}: Cannot copy out of meta tensor; no data!")
        view_of = None
    elif type(x._data) is not np.ndarray:  # a CUDA tensor: copy on the device
        from .. import cuda

        cuda.copy_into(x, new)
        if type(new._data) is np.ndarray:
            through = x.detach()  # a host value (a fill constant) is on the device now, in x
    elif x._data.flags.writeable:
        np.copyto(x._data, new._data)  # a NumPy view: the base already sees the values
        if not is_grad_enabled():
            view_of = None
    elif (fills or not internal_overlap(x._data)) and (
        alias := writable_alias(x._data)
    ) is not None:  # a view of an expanded tensor (read-only in NumPy): write through it
        if view_of is not None or (is_grad_enabled() and (x.requires_grad or new.requires_grad)):
            raise RuntimeError(
                f"{op}: an in-place update of an expanded tensor or of a view of one where "
                "autograd records it is not supported: kiln cannot pass it back to the "
                "expanded tensor's base; clone() the tensor first (or update it under "
                "kiln.no_grad)"
            )
        np.copyto(alias, new._data)
    elif internal_overlap(x._data):
        raise RuntimeError(
            f"{op}: unsupported operation: more than one element of the written-to tensor "
            "refers to a single memory location (an expanded tensor). Please clone() the "
            "tensor before performing the operation."
        )
    else:  # read-only memory (a NumPy array that is not writable): x gets its own copy
        x._data = np.array(new._data)
        view_of = None
    if view_of is not None:
        base, view_op, params = view_of
        assign(base, _into_base(base, view_op, params, through), op)
    x._version += 1
    if new.grad_fn is not None:
        x.grad_fn = new.grad_fn
        x.requires_grad = True
    return x


def _into_base(base: Tensor, view_op: str, params: dict, new: Tensor) -> Tensor:
    """The base tensor with its view replaced by ``new`` (the inverse of the view op)."""

    if view_op == "reshape":
        return reshape(new, base.shape)
    if view_op == "permute":
        inverse = [0] * len(params["axes"])
        for i, a in enumerate(params["axes"]):
            inverse[a] = i
        return permute(new, inverse)
    starts, stops, steps = params["starts"], params["stops"], params["steps"]
    counts = [len(range(a, b, c)) for a, b, c in zip(starts, stops, steps)]
    # the region the view spans: from its first element to its last, along each dim
    stops = [a + (m - 1) * c + 1 if m else a for a, m, c in zip(starts, counts, steps)]
    new = cast(new, base.dtype)
    if any(c != 1 for c in steps) and all(counts):
        new = _spread(new, steps)
    pads = [(a, n - b) for a, b, n in zip(starts, stops, base.shape)]
    mask = np.zeros(tuple(base.shape), dtype=bool)
    mask[tuple(slice(a, b, c) for a, b, c in zip(starts, stops, steps))] = True

    mask = constant(mask, dtypes.bool_, like=base)
    # ``where`` reads the base through a fresh alias (a same-shape reshape): the base is
    # about to change in place, and its old history must stay usable by backward.
    alias = bind(P["reshape"], (base,), {"shape": tuple(base.shape)})
    return where(mask, pad_axes(new, pads, 0), alias)


def _spread(new: Tensor, steps) -> Tensor:
    """``new`` with ``step - 1`` zeros after each element along every dim of a strided
    slice (none after the last): the values of a view ``x[::step]`` laid out over the
    region of ``x`` the view spans, through differentiable reshapes and pads."""
    for d, step in enumerate(steps):
        if step == 1:
            continue
        shape = list(new.shape)
        wide = reshape(new, (*shape[: d + 1], 1, *shape[d + 1 :]))
        gaps = [(0, 0)] * (d + 1) + [(0, step - 1)] + [(0, 0)] * (len(shape) - d - 1)
        wide = reshape(pad_axes(wide, gaps, 0), (*shape[:d], shape[d] * step, *shape[d + 1 :]))
        keep = [slice(None)] * len(shape)
        keep[d] = slice(0, (shape[d] - 1) * step + 1)
        new = wide[tuple(keep)]
    return new


def inplace(x: Tensor, name: str, *args, **kwargs) -> Tensor:

    if name == "copy_":
        src = args[0]
        src = src if isinstance(src, Tensor) else ops.constant(src, x.dtype, like=x)

        new = _replacing(x, cast(expand(src, x.shape), x.dtype), "CopyBackwards")
        return assign(x, new, name)
    if name in ("zero_", "fill_"):
        value = 0 if name == "zero_" else args[0]

        fill = value if isinstance(value, Tensor) else full((), value, dtype=x.dtype)
        node = "ZeroBackward0" if name == "zero_" else "FillBackward2"
        if isinstance(value, Tensor):
            node = "FillBackward3"
        new = _replacing(x, expand(cast(fill, x.dtype), x.shape), node)
        return assign(x, new, name, fills=not isinstance(value, Tensor))
    if name in ("index_add_", "index_copy_"):  # (PyTorch: no conversion of the source)
        source = kwargs.get("source", args[2] if len(args) > 2 else None)
        if isinstance(source, Tensor) and source.dtype is not x.dtype:
            raise RuntimeError(
                f"{name}(): self ({x.dtype.name}) and source ({source.dtype.name}) must have "
                "the same scalar type"
            )
    fn = getattr(ops, name[:-1])
    if x.requires_grad and is_grad_enabled():
        # The update overwrites x, and its VJP rule may read x's old values (mul_, exp_):
        # autograd gets a copy of them as the operand, as PyTorch saves what it needs.
        operand = ops.clone(x)
        args = tuple(operand if a is x else a for a in args)
        return assign(x, fn(operand, *args, **kwargs), name)
    return assign(x, fn(x, *args, **kwargs), name)


def _replacing(x: Tensor, new: Tensor, node: str) -> Tensor:
    """``new``, which overwrites all of ``x``: where ``x`` has autograd history and ``new``
    has none, the history must end here (PyTorch's ``x.clone().zero_()`` passes a zero
    gradient back), so ``new`` becomes a selection that never picks ``x`` (its backward
    gives ``x`` zeros), its node named as PyTorch's. So too where ``new`` is a leaf that
    requires grad (``x.copy_(w)``): ``x`` gets a node that passes the gradient to ``w``."""
    if not is_grad_enabled() or new.grad_fn is not None:
        return new
    if not (x.requires_grad or new.requires_grad):
        return new
    out = where(constant(False, dtypes.bool_, like=x), ops.clone(x), new)
    if out.grad_fn is not None:
        from ..autograd.tape import node_class

        out.grad_fn.__class__ = node_class(node)
    return out


def _namespace_inplace(name: str):
    """``kiln.relu_(x)``: the function form of the method ``x.relu_()`` (PyTorch has both)."""

    def fn(x: Tensor, *args, **kwargs) -> Tensor:
        return inplace(x, name, *args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"In place: ``x.{name}(...)``."
    return fn


# PyTorch's namespace has these in-place functions (but no ``add_``/``mul_``).
__all__ = ["clamp_", "exp_", "fill_", "relu_", "sigmoid_", "tanh_", "zero_"]
clamp_, exp_, fill_, relu_, sigmoid_, tanh_, zero_ = map(_namespace_inplace, __all__)


def result_can_cast(x: Tensor, other) -> bool:
    return dtypes.result_type(x, other)._category <= x.dtype._category
