"""``kiln.cond``: a data-dependent branch that a trace can hold, as ``torch.cond``.

A traced function cannot take a Python ``if`` on a tensor's value (the value is not known
while tracing). ``cond(pred, true_fn, false_fn, operands)`` says the choice instead: while
tracing, *both* branches are traced on the operands and each output is a ``where`` on
``pred``; eagerly, only the chosen branch runs. The branches must return the same structure
of tensors of one shape and dtype, and must not update tensors in place (both run).

>>> import kiln
>>> def f(x):
...     return kiln.cond(x.sum() > 0, lambda v: v * 2, lambda v: -v, (x,))
>>> kiln.jit(f)(kiln.tensor([1.0, 2.0])), kiln.jit(f)(kiln.tensor([-1.0, -2.0]))
(tensor([2., 4.]), tensor([1., 2.]))
"""

from __future__ import annotations

from kiln.compiler.errors import TraceError

from ..context import current_trace
from ..ops import where
from ..tensor import Tensor
from .signature import flatten, unflatten


def cond(pred, true_fn, false_fn, operands=()):
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``; traceable."""
    operands = tuple(operands) if isinstance(operands, (list, tuple)) else (operands,)
    if isinstance(pred, Tensor):
        if pred.numel() != 1:
            raise RuntimeError(
                f"cond: the predicate must be a tensor with one element, got shape "
                f"{list(pred.shape)}"
            )
    elif not isinstance(pred, bool):
        raise TypeError(
            f"cond: the predicate must be a bool or a tensor, got {type(pred).__name__}"
        )
    trace = current_trace()
    if trace is None or not isinstance(pred, Tensor):
        return true_fn(*operands) if bool(pred) else false_fn(*operands)
    before = _effects(trace, operands)
    taken = _branch(true_fn, operands, trace, before, "true_fn")
    other = _branch(false_fn, operands, trace, before, "false_fn")
    (structure, leaves), (other_structure, other_leaves) = taken, other
    if structure != other_structure:
        raise TraceError(
            f"cond: true_fn and false_fn return different structures: {structure} vs "
            f"{other_structure}"
        )
    flag = pred.reshape(()).bool() if pred.dtype.name != "bool" else pred.reshape(())
    out = []
    for (path, a), (_, b) in zip(leaves, other_leaves):
        if not isinstance(a, Tensor) or not isinstance(b, Tensor):
            raise TraceError(f"cond: the branches must return tensors, got {a!r} at output{path}")
        if a.shape != b.shape or a.dtype != b.dtype:
            raise TraceError(
                f"cond: the branches return {a.dtype}{list(a.shape)} and "
                f"{b.dtype}{list(b.shape)} at output{path}; they must match"
            )
        out.append(where(flag, a, b))
    return unflatten(structure, iter(out))


def _branch(fn, operands, trace, before, name):
    result = fn(*operands)
    if _effects(trace, operands) != before:
        raise TraceError(
            f"cond: {name} updates a tensor in place; under tracing both branches run, so "
            "they must be free of in-place updates"
        )
    leaves: list = []
    structure = flatten(result, leaves, "")
    return structure, leaves


def _effects(trace, operands):
    """What in-place updates have done so far: updated captured tensors, operand nodes."""
    leaves: list = []
    flatten(operands, leaves, "")
    mutated = {(id(t), id(node)) for t, node in trace.mutations()}
    return mutated, [id(v._node) for _, v in leaves if isinstance(v, Tensor)]
