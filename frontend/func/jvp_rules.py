"""Forward mode: the JVP interpreter and one JVP rule per primitive (``PRIMITIVES[n].jvp``).

Inside ``jvp`` (or a ``forward_ad.dual_level``) a tensor may be a ``DualTensor``: a primal
value of the level below and its tangent (``None``: zero). ``JVPTrace.process`` computes the
primal with the primitive and the tangent with its rule,
``rule(primals, tangents, out, **params)``, both on the level below (like JAX's JVPTrace):
the tangent is ordinary tensor code, so it is batched by an enclosing ``vmap``, recorded
by autograd and traced by ``kiln.jit`` like any other. A rule returns ``None`` for a zero
tangent; primitives that are not differentiable (comparisons, ``argmax``) always do.
"""

from __future__ import annotations

import math

from kiln.compiler.primitives import PRIMITIVES as P

from .. import ops
from ..dispatch import bind
from .levels import Level, LevelTensor


class DualTensor(LevelTensor):
    """A primal value and its tangent (``None``: zero) at one forward-mode level."""

    __slots__ = ("_primal", "_tangent")

    def __init__(self, trace, primal, tangent):
        self._start(trace)
        self._primal = primal
        self._tangent = tangent

    @property
    def shape(self):
        return self._primal.shape

    @property
    def dtype(self):
        return self._primal.dtype

    @property
    def device(self):
        return self._primal.device

    def detach(self):
        return DualTensor(self._trace, self._primal.detach(), self._tangent)

    # the value is known: reading it is fine (its tangent does not flow into Python)
    def numpy(self):
        return self._primal.numpy()

    def __array__(self, dtype=None, copy=None):
        return self._primal.__array__(dtype)

    def item(self):
        return self._primal.item()

    def tolist(self):
        return self._primal.tolist()

    def __bool__(self):
        return bool(self._primal)

    def __float__(self):
        return float(self._primal)

    def __int__(self):
        return int(self._primal)

    def __index__(self):
        return self._primal.__index__()

    def __repr__(self) -> str:
        return f"DualTensor(primal={self._primal!r}, tangent={self._tangent!r})"


class JVPTrace(Level):
    """The interpreter of one forward-mode level."""

    def lift(self, x):
        if type(x) is DualTensor and x._trace is self:
            return DualTensor(self, x._primal, x._tangent)
        return DualTensor(self, x, None)

    def unwrap(self, x):
        if type(x) is DualTensor and x._trace is self:
            return x._primal, x._tangent
        return x, None

    def process(self, prim, inputs, params):
        primals, tangents = [], []
        mine = moving = False
        for x in inputs:
            if type(x) is DualTensor and x._trace is self:
                mine = True
                primals.append(x._primal)
                tangents.append(x._tangent)
                moving = moving or x._tangent is not None
            else:
                primals.append(x)
                tangents.append(None)
        with self.below():
            out = bind(prim, primals, params)
            if not mine:
                return out
            tangent = None
            if moving and prim.differentiable:
                if prim.jvp is None:
                    raise NotImplementedError(
                        f"forward-mode AD: primitive {prim.name} has no JVP rule (inputs: "
                        + ", ".join(f"{x.dtype.name}{list(x.shape)}" for x in inputs)
                        + ")"
                    )
                tangent = prim.jvp(primals, tangents, out, **params)
        result = DualTensor(self, out, tangent)
        if "view" in prim.properties and isinstance(inputs[0], LevelTensor):
            result._vc = inputs[0]._vc  # a view shares its base's version counter
        if "writable_view" in prim.properties:
            result._view_of = (inputs[0], prim.name, params)
        return result

    def assign(self, x, new) -> None:
        primal, tangent = self.unwrap(new)
        if type(x) is DualTensor and x._trace is self:
            x._primal, x._tangent = primal, tangent
            return
        if tangent is not None:
            raise RuntimeError(
                f"forward-mode AD: an in-place update of a {x.dtype.name}{list(x.shape)} "
                "tensor without a tangent by a value with one would lose the tangent; make "
                "the tensor dual first (forward_ad.make_dual) or use the out-of-place operation"
            )
        self.assign_below(x, primal)


# ------------------------------------------------------------------------ helpers


def _full(t, out):
    """Tangent ``t`` broadcast to the output's shape."""
    if tuple(t.shape) != tuple(out.shape):
        return ops.expand(t, out.shape)
    return t


def _zero(x):
    return ops.zeros_like(x)


def _or_zero(tangents, primals):
    return [_zero(x) if t is None else t for x, t in zip(primals, tangents)]


def _add(t1, t2):
    if t1 is None:
        return t2
    if t2 is None:
        return t1
    return ops.add(t1, t2)


def _linear(prim):
    """A primitive linear in all its float inputs: its tangent is itself on the tangents
    (integer inputs, such as indices, pass through as they are)."""

    def rule(primals, tangents, out, **params):
        args = [
            x if not x.dtype.is_floating_point else (_zero(x) if t is None else t)
            for x, t in zip(primals, tangents)
        ]
        return bind(prim, args, params)

    return rule


def _elementwise(derivative):
    """``tangent * derivative(x, out)`` for a one-input elementwise primitive."""

    def rule(primals, tangents, out):
        return ops.mul(tangents[0], derivative(primals[0], out))

    return rule


def _binary(da, db):
    """``ta * da(a, b, out) + tb * db(a, b, out)``, broadcast to the output."""

    def rule(primals, tangents, out):
        (a, b), (ta, tb) = primals, tangents
        result = None
        if ta is not None:
            result = ops.mul(ta, da(a, b, out)) if da is not None else ta
        if tb is not None:
            result = _add(result, ops.mul(tb, db(a, b, out)))
        return _full(result, out)

    return rule


def _pow_da(a, b, out):
    return ops.where(ops.eq(b, 0.0), 0.0, ops.mul(b, ops.pow(a, ops.sub(b, 1.0))))


def _pow_db(a, b, out):
    return ops.where(ops.logical_and(ops.eq(a, 0.0), ops.ge(b, 0.0)), 0.0, ops.mul(out, ops.log(a)))


def _select_weights(first_wins):
    """Derivative weights of ``maximum``/``minimum``: a tie splits the tangent in half."""

    def weight(a, b, out):
        win = ops.gt(a, b) if first_wins else ops.lt(a, b)
        return ops.add(ops.cast(win, a.dtype), ops.mul(ops.cast(ops.eq(a, b), a.dtype), 0.5))

    def other(a, b, out):
        return weight(b, a, out)

    return weight, other


def _where(primals, tangents, out):
    c, a, b = primals
    _, ta, tb = tangents
    if ta is None and tb is None:
        return None
    ta = _zero(a) if ta is None else ta
    tb = _zero(b) if tb is None else tb
    return _full(ops.where(c, ta, tb), out)


def _cast(primals, tangents, out, dtype):
    if not out.dtype.is_floating_point or not primals[0].dtype.is_floating_point:
        return None
    return ops.cast(tangents[0], out.dtype)


def _max(primals, tangents, out, axes, keepdims):
    (x,), (t,) = primals, tangents
    m = bind(P["max"], (x,), {"axes": axes, "keepdims": True})
    mask = ops.cast(ops.eq(x, m), x.dtype)
    count = bind(P["sum"], (mask,), {"axes": axes, "keepdims": keepdims})
    picked = bind(P["sum"], (ops.mul(t, mask),), {"axes": axes, "keepdims": keepdims})
    return ops.div(picked, count)


def _matmul(primals, tangents, out):
    (a, b), (ta, tb) = primals, tangents
    result = None
    if ta is not None:
        result = bind(P["matmul"], (ta, b), {})
    if tb is not None:
        result = _add(result, bind(P["matmul"], (a, tb), {}))
    return _full(result, out)


def _concat(primals, tangents, out, axis):
    return bind(P["concat"], _or_zero(tangents, primals), {"axis": axis})


def _pad(primals, tangents, out, pads, value):
    return bind(P["pad"], (tangents[0],), {"pads": pads, "value": 0.0})


def _zero_tangent(primals, tangents, out, **params):
    return None


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_MAX_WEIGHTS = _select_weights(True)
_MIN_WEIGHTS = _select_weights(False)

_RULES = {
    "exp": _elementwise(lambda x, out: out),
    "log": _elementwise(lambda x, out: ops.reciprocal(x)),
    "sqrt": _elementwise(lambda x, out: ops.div(0.5, out)),
    "sin": _elementwise(lambda x, out: ops.cos(x)),
    "cos": _elementwise(lambda x, out: ops.neg(ops.sin(x))),
    "tanh": _elementwise(lambda x, out: ops.sub(1.0, ops.mul(out, out))),
    "atan": _elementwise(lambda x, out: ops.reciprocal(ops.add(ops.mul(x, x), 1.0))),
    "erf": _elementwise(lambda x, out: ops.mul(ops.exp(ops.neg(ops.mul(x, x))), _TWO_OVER_SQRT_PI)),
    "abs": _elementwise(lambda x, out: ops.sign(x)),
    "sign": _zero_tangent,  # (piecewise constant)
    "floor": _zero_tangent,
    "asin": _elementwise(lambda x, out: ops.rsqrt(ops.sub(1.0, ops.mul(x, x)))),
    "acos": _elementwise(lambda x, out: ops.neg(ops.rsqrt(ops.sub(1.0, ops.mul(x, x))))),
    "atanh": _elementwise(lambda x, out: ops.reciprocal(ops.sub(1.0, ops.mul(x, x)))),
    "acosh": _elementwise(lambda x, out: ops.rsqrt(ops.sub(ops.mul(x, x), 1.0))),
    "reciprocal": _elementwise(lambda x, out: ops.neg(ops.mul(out, out))),
    "add": _binary(None, lambda a, b, out: 1.0),
    "sub": _binary(None, lambda a, b, out: -1.0),
    "mul": _binary(lambda a, b, out: b, lambda a, b, out: a),
    "div": _binary(lambda a, b, out: ops.reciprocal(b), lambda a, b, out: ops.neg(ops.div(out, b))),
    "pow": _binary(_pow_da, _pow_db),
    "fmod": _binary(None, lambda a, b, out: ops.neg(ops.trunc(ops.div(a, b)))),
    "maximum": _binary(*_MAX_WEIGHTS),
    "minimum": _binary(*_MIN_WEIGHTS),
    "where": _where,
    "cast": _cast,
    "max": _max,
    "matmul": _matmul,
    "concat": _concat,
    "pad": _pad,
}
# linear in their float inputs: the tangent is the primitive applied to the tangents
_LINEAR = (
    "neg",
    "sum",
    "reshape",
    "permute",
    "expand",
    "slice",
    "take",
    "take_grad",
    "gather",
    "scatter_add",
    "cumsum",
)


def _attach():
    for name, prim in P.items():
        if prim.jvp is not None:
            continue
        if not prim.differentiable:
            prim.def_jvp(_zero_tangent)
        elif name in _RULES:
            prim.def_jvp(_RULES[name])
        elif name in _LINEAR:
            prim.def_jvp(_linear(prim))


_attach()
