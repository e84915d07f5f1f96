"""Functional transforms in JAX's style: ``kiln.grad`` and ``kiln.value_and_grad``.

They run the function with autograd on the chosen arguments and return gradients instead
of accumulating them, so they compose with ``kiln.jit`` (``jit(grad(f))`` compiles the
forward and backward pass into one graph).

>>> df = grad(lambda x: (x ** 3).sum())
>>> df(tensor([2.0]))
tensor([12.])
"""

from __future__ import annotations

import functools

from .autograd import grad_mode
from .autograd.tape import grad as autograd_grad
from .tensor import Tensor


def value_and_grad(fn, argnums=0, has_aux: bool = False):
    """``fn(*args) -> (value, gradients)``; gradients of a scalar output w.r.t. ``argnums``."""
    single = isinstance(argnums, int)
    positions = (argnums,) if single else tuple(argnums)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        args = list(args)
        for p in positions:
            if not isinstance(args[p], Tensor):
                raise TypeError(
                    f"grad: argument {p} must be a tensor, got {type(args[p]).__name__}"
                )
            if not args[p].dtype.is_floating_point:
                raise TypeError(f"grad: argument {p} must be floating point, got {args[p].dtype}")
            args[p] = args[p].detach().requires_grad_()
        with grad_mode.enable_grad():
            out = fn(*args, **kwargs)
            value, aux = out if has_aux else (out, None)
            if not isinstance(value, Tensor) or value.numel() != 1:
                raise TypeError(
                    "grad: the function must return a scalar tensor (or "
                    "(scalar, aux) with has_aux=True)"
                )
            grads = autograd_grad(
                value, [args[p] for p in positions], allow_unused=True, materialize_grads=True
            )
        grads = grads[0] if single else tuple(grads)
        value = value.detach()
        return ((value, aux), grads) if has_aux else (value, grads)

    return wrapper


def grad(fn, argnums=0, has_aux: bool = False):
    """The gradient of a scalar-valued ``fn`` w.r.t. argument(s) ``argnums``."""
    vg = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        (value_aux, grads) = vg(*args, **kwargs)
        if has_aux:
            return grads, value_aux[1]
        return grads

    return wrapper
