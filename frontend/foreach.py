"""PyTorch's ``torch._foreach_*`` functions: one operation over lists of tensors.

Real training code calls them directly for weight EMAs and custom optimizers
(``torch._foreach_mul_(ema_params, decay)``, ``torch._foreach_add_(ema_params, params,
alpha=1 - decay)``, ``torch._foreach_lerp_``, ``torch._foreach_norm`` in clipping code).
PyTorch fuses them into few kernels; here each is a loop of the ordinary tensor op, which
gives the same values (and autograd, where the out-of-place forms are used).

The second argument, as in PyTorch: a number (for every tensor), a list of numbers or of
tensors (one per tensor), or for ``mul`` / ``div`` a single tensor.

>>> import kiln
>>> xs = [kiln.ones(2), kiln.zeros(3)]
>>> _ = kiln._foreach_add_(xs, 1.0)
>>> [x.tolist() for x in xs]
[[2.0, 2.0], [1.0, 1.0, 1.0]]
"""

from __future__ import annotations

from .tensor import Tensor


def _check(name, tensors, *others):
    """``tensors`` as a list, after PyTorch's checks of the list lengths (its messages)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("Tensor list must have at least one tensor.")
    for other in others:
        if isinstance(other, (list, tuple)) and len(other) != len(tensors):
            if all(isinstance(o, Tensor) for o in other):
                raise RuntimeError(
                    "Tensor lists must have the same number of tensors, got "
                    f"{len(tensors)} and {len(other)}"
                )
            raise RuntimeError("Tensor list must have same number of elements as scalar list.")
    return tensors


def _per_tensor(other, n, name):
    """``other`` spread over ``n`` tensors: one item each."""
    if isinstance(other, (list, tuple)):
        return list(other)
    return [other] * n


def _binary(name, method):
    def out_of_place(self, other, *, alpha=None):
        tensors = _check(f"_foreach_{name}", self, other)
        others = _per_tensor(other, len(tensors), name)
        if alpha is None:
            return tuple(getattr(t, method)(o) for t, o in zip(tensors, others))
        return tuple(getattr(t, method)(o, alpha=alpha) for t, o in zip(tensors, others))

    def in_place(self, other, *, alpha=None):
        tensors = _check(f"_foreach_{name}_", self, other)
        others = _per_tensor(other, len(tensors), name)
        for t, o in zip(tensors, others):
            if alpha is None:
                getattr(t, method + "_")(o)
            else:
                getattr(t, method + "_")(o, alpha=alpha)
        return self

    out_of_place.__name__, in_place.__name__ = f"_foreach_{name}", f"_foreach_{name}_"
    out_of_place.__qualname__, in_place.__qualname__ = out_of_place.__name__, in_place.__name__
    return out_of_place, in_place


def _unary(name):
    def out_of_place(self):
        return tuple(getattr(t, name)() for t in _check(f"_foreach_{name}", self))

    def in_place(self):
        for t in _check(f"_foreach_{name}_", self):
            getattr(t, name + "_")()
        return self

    out_of_place.__name__, in_place.__name__ = f"_foreach_{name}", f"_foreach_{name}_"
    out_of_place.__qualname__, in_place.__qualname__ = out_of_place.__name__, in_place.__name__
    return out_of_place, in_place


_foreach_add, _foreach_add_ = _binary("add", "add")
_foreach_sub, _foreach_sub_ = _binary("sub", "sub")
_foreach_mul, _foreach_mul_ = _binary("mul", "mul")
_foreach_div, _foreach_div_ = _binary("div", "div")
_foreach_maximum, _foreach_maximum_ = _binary("maximum", "maximum")
_foreach_minimum, _foreach_minimum_ = _binary("minimum", "minimum")
_foreach_clamp_min, _foreach_clamp_min_ = _binary("clamp_min", "clamp_min")
_foreach_clamp_max, _foreach_clamp_max_ = _binary("clamp_max", "clamp_max")
_foreach_pow, _foreach_pow_ = _binary("pow", "pow")
_foreach_sqrt, _foreach_sqrt_ = _unary("sqrt")
_foreach_neg, _foreach_neg_ = _unary("neg")
_foreach_abs, _foreach_abs_ = _unary("abs")
_foreach_exp, _foreach_exp_ = _unary("exp")
_foreach_log, _foreach_log_ = _unary("log")
_foreach_reciprocal, _foreach_reciprocal_ = _unary("reciprocal")
_foreach_sign, _foreach_sign_ = _unary("sign")


def _foreach_zero_(self):
    for t in _check("_foreach_zero_", self):
        t.zero_()
    return self


def _foreach_copy_(self, src, non_blocking: bool = False):
    for t, s in zip(_check("_foreach_copy_", self, src), src):
        t.copy_(s)
    return self


def _foreach_lerp(self, tensors1, weight):
    starts = _check("_foreach_lerp", self, tensors1, weight)
    weights = _per_tensor(weight, len(starts), "lerp")
    return tuple(s.lerp(e, w) for s, e, w in zip(starts, tensors1, weights))


def _foreach_lerp_(self, tensors1, weight):
    starts = _check("_foreach_lerp_", self, tensors1, weight)
    weights = _per_tensor(weight, len(starts), "lerp")
    for s, e, w in zip(starts, tensors1, weights):
        s.lerp_(e, w)
    return self


def _addc(name, method):
    def out_of_place(self, tensor1, tensor2, value=1):
        tensors = _check(f"_foreach_{name}", self, tensor1, tensor2, value)
        values = _per_tensor(value, len(tensors), name)
        if isinstance(value, Tensor):  # PyTorch's scalars given as a 1-D tensor
            values = value.tolist()
        return tuple(
            getattr(t, method)(a, b, value=v)
            for t, a, b, v in zip(tensors, tensor1, tensor2, values)
        )

    def in_place(self, tensor1, tensor2, value=1):
        tensors = _check(f"_foreach_{name}_", self, tensor1, tensor2, value)
        values = _per_tensor(value, len(tensors), name)
        if isinstance(value, Tensor):
            values = value.tolist()
        for t, a, b, v in zip(tensors, tensor1, tensor2, values):
            getattr(t, method + "_")(a, b, value=v)
        return self

    out_of_place.__name__, in_place.__name__ = f"_foreach_{name}", f"_foreach_{name}_"
    out_of_place.__qualname__, in_place.__qualname__ = out_of_place.__name__, in_place.__name__
    return out_of_place, in_place


_foreach_addcmul, _foreach_addcmul_ = _addc("addcmul", "addcmul")
_foreach_addcdiv, _foreach_addcdiv_ = _addc("addcdiv", "addcdiv")


def _foreach_norm(self, ord=2, dtype=None):  # noqa: A002
    """The ``ord``-norm of each tensor (a list of 0-d tensors), as ``torch._foreach_norm``."""
    from . import linalg

    return tuple(linalg.vector_norm(t, ord, dtype=dtype) for t in _check("_foreach_norm", self))


__all__ = sorted(name for name in dir() if name.startswith("_foreach_"))
