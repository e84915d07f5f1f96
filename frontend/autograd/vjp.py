"""Vector-Jacobian products: one rule per differentiable primitive, in tensor operations.

Each rule is attached to its primitive's record (``PRIMITIVES[name].vjp``, with
``vjp_reads_inputs``): ``rule(g, *inputs, **params)`` returns one gradient per input
(``None`` where there is none). Because the rules call ordinary kiln ops, the same rules
compute numbers on the eager tape, record themselves for higher-order gradients, and emit
backward nodes under tracing. Rules recompute what they need from the inputs (``exp(x)``);
under ``jit`` common subexpression elimination merges that with the forward value.
"""

from __future__ import annotations

import math

import numpy as np

from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes, ops
from ..dispatch import bind, constant
from ..tensor import Tensor
from .grad_mode import is_grad_enabled

_SUM, _RESHAPE, _PERMUTE, _MATMUL = (P[name] for name in ("sum", "reshape", "permute", "matmul"))


def _shape(x) -> tuple:
    data = x._data
    return data.shape if type(data) is np.ndarray else tuple(x.shape)


def sum_to_shape(g, shape):
    """Sum ``g`` over the axes broadcasting added, so it has ``shape`` (the one helper)."""
    shape = tuple(shape)
    have = _shape(g)
    if have == shape:
        return g
    lead = len(have) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and have[lead + i] != 1
    )
    if axes:
        g = bind(_SUM, (g,), {"axes": axes, "keepdims": True})
    if _shape(g) != shape:
        g = bind(_RESHAPE, (g,), {"shape": shape})
    return g


def _binary_grads(g, a, b, ga, gb):
    """Unbroadcast the gradients; ``ga``/``gb`` are thunks, run only for inputs that need one."""
    return (
        sum_to_shape(ga(), _shape(a)) if a._requires_grad else None,
        sum_to_shape(gb(), _shape(b)) if b._requires_grad else None,
    )


def _pow(g, a, b):
    def ga():
        return ops.where(ops.eq(b, 0.0), 0.0, ops.mul(ops.mul(g, b), ops.pow(a, ops.sub(b, 1.0))))

    def gb():
        return ops.where(
            ops.logical_and(ops.eq(a, 0.0), ops.ge(b, 0.0)),
            0.0,
            ops.mul(ops.mul(g, ops.pow(a, b)), ops.log(a)),
        )

    return _binary_grads(g, a, b, ga, gb)


def _maximum(g, a, b):
    win = ops.cast(ops.gt(a, b), g.dtype)
    tie = ops.mul(ops.cast(ops.eq(a, b), g.dtype), 0.5)
    lose = ops.cast(ops.lt(a, b), g.dtype)
    return _binary_grads(
        g, a, b, lambda: ops.mul(g, ops.add(win, tie)), lambda: ops.mul(g, ops.add(lose, tie))
    )


def _minimum(g, a, b):
    win = ops.cast(ops.lt(a, b), g.dtype)
    tie = ops.mul(ops.cast(ops.eq(a, b), g.dtype), 0.5)
    lose = ops.cast(ops.gt(a, b), g.dtype)
    return _binary_grads(
        g, a, b, lambda: ops.mul(g, ops.add(win, tie)), lambda: ops.mul(g, ops.add(lose, tie))
    )


def _where(g, c, a, b):
    grads = _binary_grads(g, a, b, lambda: ops.where(c, g, 0.0), lambda: ops.where(c, 0.0, g))
    x = getattr(c, "__dict__", {}).get("_zero_link")  # (``zero_linked``)
    if x is not None:
        grads = tuple(linked(gi, x) for gi in grads)
    return (None,) + grads


def zero_linked(condition, x):
    """Mark ``condition`` (a comparison of ``x``) as a piecewise activation's mask: under
    ``create_graph`` the gradients of the ``where`` that selects with it stay connected to
    ``x`` with a zero derivative, as PyTorch's ``threshold_backward(grad, self)`` (relu,
    leaky_relu, hardtanh) is: a double backward (a WGAN-GP gradient penalty) then gives
    the parameters before ``x`` a zero gradient where kiln gave ``None`` (an optimizer
    skips a ``None``: Adam's moments and weight decay then differ)."""
    if x.requires_grad:
        condition.__dict__["_zero_link"] = x
    return condition


def linked(gi, x):
    """``gi``, connected to ``x`` with a zero derivative when a graph is being recorded."""
    if gi is None or not isinstance(x, Tensor) or not is_grad_enabled():
        return gi
    if not x.requires_grad or gi.shape != x.shape:
        return gi
    return ops.where(constant(np.True_, dtypes.bool_, like=gi), gi, x)


def _cast(g, x, dtype):
    return (ops.cast(g, x.dtype) if x.dtype.is_floating_point else None,)


def _unreduce(g, x, axes, keepdims):
    """Broadcast a reduction's gradient back to the input's shape."""
    if not keepdims:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        g = ops.reshape(g, shape)
    return ops.expand(g, x.shape)


def _sum(g, x, axes, keepdims):
    return (_unreduce(g, x, axes, keepdims),)


def _max(g, x, axes, keepdims):
    m = bind(P["max"], (x,), {"axes": axes, "keepdims": True})
    mask = ops.cast(ops.eq(x, m), g.dtype)
    count = bind(P["sum"], (mask,), {"axes": axes, "keepdims": True})
    return (ops.div(ops.mul(_unreduce(g, x, axes, keepdims), mask), count),)


def _permute(g, x, axes):
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return (bind(_PERMUTE, (g,), {"axes": tuple(inverse)}),)


def _slice(g, x, starts, stops, steps):
    for axis, (a, b, s) in enumerate(zip(starts, stops, steps)):
        n = x.shape[axis]
        if s == 1:
            if a != 0 or b != n:
                pads = [(0, 0)] * g.ndim
                pads[axis] = (a, n - b)
                g = ops.pad_axes(g, pads, 0.0)
        else:
            idx = ops.arange(a, b, s)
            g = bind(P["take_grad"], (g, idx), {"axis": axis, "size": n})
    return (g,)


def _pad(g, x, pads, value):
    for axis, (lo, hi) in enumerate(pads):
        if lo or hi:
            g = ops.slice_axis(g, axis, lo, g.shape[axis] - hi)
    return (g,)


def _concat(g, *xs, axis):
    out, start = [], 0
    for x in xs:
        n = x.shape[axis]
        out.append(ops.slice_axis(g, axis, start, start + n))
        start += n
    return tuple(out)


def _transposed_view(x) -> bool:
    """Whether eager ``x`` is a transposed view of a contiguous matrix (a ``Linear``'s
    ``weight.t()``): its gradient is then computed transposed, so that it comes out
    contiguous once the transpose's own rule turns it back (as PyTorch computes a
    ``Linear``'s weight gradient, ``g^T @ x``; the values are the same products)."""
    data = x._data
    if data is None:
        return getattr(x, "transposed", False)  # (tape.InputMeta; a tracer: False)
    return (
        type(data) is np.ndarray
        and data.ndim == 2
        and data.flags.f_contiguous
        and not data.flags.c_contiguous
    )


def _mT(x):
    """``x`` with its last two axes swapped (the ``permute`` primitive)."""
    n = x.ndim
    return bind(_PERMUTE, (x,), {"axes": (*range(n - 2), n - 1, n - 2)})


def _mm(x, y):
    return bind(_MATMUL, (x, y))


def _matmul(g, a, b):
    if g.dtype is not a.dtype or g.dtype is not b.dtype:  # (ops.matmul promotes)
        return _binary_grads(
            g,
            a,
            b,
            lambda: ops.matmul(g, ops.transpose(b, -1, -2)),
            lambda: ops.matmul(ops.transpose(a, -1, -2), g),
        )

    def grad_a():
        if _transposed_view(a):  # (b @ g^T)^T
            return _mT(_mm(b, _mT(g)))
        return _mm(g, _mT(b))

    def grad_b():
        if _transposed_view(b):  # (g^T @ a)^T
            return _mT(_mm(_mT(g), a))
        return _mm(_mT(a), g)

    return _binary_grads(g, a, b, grad_a, grad_b)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

_RULES = {
    # piecewise constant: a zero gradient (PyTorch's SignBackward0 / FloorBackward0, so
    # that ``x.floor().sum().backward()`` works and ``x.grad`` is zeros, never NaN)
    "sign": lambda g, x: (ops.zeros_like(g),),
    "floor": lambda g, x: (ops.zeros_like(g),),
    "neg": lambda g, x: (ops.neg(g),),
    "exp": lambda g, x: (ops.mul(g, ops.exp(x)),),
    "log": lambda g, x: (ops.div(g, x),),
    "sqrt": lambda g, x: (ops.div(ops.mul(g, 0.5), ops.sqrt(x)),),
    "sin": lambda g, x: (ops.mul(g, ops.cos(x)),),
    "cos": lambda g, x: (ops.neg(ops.mul(g, ops.sin(x))),),
    "atan": lambda g, x: (ops.div(g, ops.add(ops.mul(x, x), 1.0)),),
    "asin": lambda g, x: (ops.div(g, ops.sqrt(ops.mul(ops.sub(1.0, x), ops.add(x, 1.0)))),),
    "acos": lambda g, x: (
        ops.neg(ops.div(g, ops.sqrt(ops.mul(ops.sub(1.0, x), ops.add(x, 1.0))))),
    ),
    "atanh": lambda g, x: (ops.div(g, ops.sub(1.0, ops.mul(x, x))),),
    "acosh": lambda g, x: (ops.div(g, ops.sqrt(ops.mul(ops.sub(x, 1.0), ops.add(x, 1.0)))),),
    "tanh": lambda g, x: (ops.mul(g, ops.sub(1.0, ops.square(ops.tanh(x)))),),
    "erf": lambda g, x: (ops.mul(g, ops.mul(ops.exp(ops.neg(ops.mul(x, x))), _TWO_OVER_SQRT_PI)),),
    "abs": lambda g, x: (ops.mul(g, ops.sign(x)),),
    "reciprocal": lambda g, x: (ops.neg(ops.div(g, ops.mul(x, x))),),
    "add": lambda g, a, b: _binary_grads(g, a, b, lambda: g, lambda: g),
    "sub": lambda g, a, b: _binary_grads(g, a, b, lambda: g, lambda: ops.neg(g)),
    "mul": lambda g, a, b: _binary_grads(g, a, b, lambda: ops.mul(g, b), lambda: ops.mul(g, a)),
    "div": lambda g, a, b: _binary_grads(
        g, a, b, lambda: ops.div(g, b), lambda: ops.neg(ops.div(ops.mul(g, a), ops.mul(b, b)))
    ),
    "pow": _pow,
    "fmod": lambda g, a, b: _binary_grads(
        g, a, b, lambda: g, lambda: ops.neg(ops.mul(g, ops.trunc(ops.div(a, b))))
    ),
    "maximum": _maximum,
    "minimum": _minimum,
    "where": _where,
    "cast": _cast,
    "sum": _sum,
    "max": _max,
    "reshape": lambda g, x, shape: (bind(_RESHAPE, (g,), {"shape": _shape(x)}),),
    "permute": _permute,
    "expand": lambda g, x, shape: (sum_to_shape(g, x.shape),),
    "slice": _slice,
    "pad": _pad,
    "concat": _concat,
    "take": lambda g, x, idx, axis: (
        bind(P["take_grad"], (g, idx), {"axis": axis, "size": x.shape[axis]}),
        None,
    ),
    "take_grad": lambda g, gy, idx, axis, size: (bind(P["take"], (g, idx), {"axis": axis}), None),
    "gather": lambda g, x, idx, axis: (
        bind(P["scatter_add"], (g, idx), {"axis": axis, "size": x.shape[axis]}),
        None,
    ),
    "scatter_add": lambda g, src, idx, axis, size: (
        bind(P["gather"], (g, idx), {"axis": axis}),
        None,
    ),
    "matmul": _matmul,
    "cumsum": lambda g, x, axis: (
        ops.flip(bind(P["cumsum"], (ops.flip(g, axis),), {"axis": axis}), axis),
    ),
}

# Rules above that read their inputs' values (not only shapes): these inputs must not be
# modified in place between forward and backward.
_READS_INPUTS = frozenset(
    {
        "log",
        "sin",
        "cos",
        "atan",
        "asin",
        "acos",
        "atanh",
        "acosh",
        "erf",
        "abs",
        "pow",
        "fmod",
        "maximum",
        "minimum",
        "max",
    }
)


# Rules that read only some of their inputs' values: those inputs' positions, or a function
# of the inputs giving them (as PyTorch saves ``other`` for ``self * other`` only when
# ``self`` requires grad, so an in-place change of the unread one is no error).
def _cross(a, b):
    return (1,) * a.requires_grad + (0,) * b.requires_grad


def _div_reads(a, b):
    return (0, 1) if b.requires_grad else (1,)


def _complex_reads(x):
    # real dtypes: the tape saves the result instead (tape._RESULT_RULES), as PyTorch
    return True if x.dtype.is_complex else ()


_READS_SOME = {
    "where": (0,),
    "mul": _cross,
    "matmul": _cross,
    "div": _div_reads,
    # (the index only: the data's gradient needs its shape, not its values, as PyTorch's
    # IndexBackward0 saves the indices alone; ``x[i] += 1`` after ``x[i]`` is no error)
    **dict.fromkeys(("take", "gather", "take_grad", "scatter_add"), (1,)),
    **dict.fromkeys(("exp", "sqrt", "tanh", "reciprocal"), _complex_reads),
}

for _name, _rule in _RULES.items():
    P[_name].def_vjp(_rule, reads_inputs=_READS_SOME.get(_name, _name in _READS_INPUTS))

_missing = sorted(name for name, p in P.items() if p.differentiable and p.vjp is None)
assert not _missing, f"primitives without a VJP rule: {_missing}"
