"""``torch.autograd.functional``: Jacobians, Hessians and their products of a function.

Thin wrappers over ``kiln.func`` that keep PyTorch's calling convention: ``inputs`` is a
tensor or a tuple of tensors, and the results are tuples exactly where PyTorch's are.

>>> import kiln
>>> jacobian(lambda x: x ** 2, kiln.tensor([1.0, 2.0]))
tensor([[2., 0.],
        [0., 4.]])
"""

from __future__ import annotations

from ..creation import ones_like
from ..func import transforms
from ..tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _as_tuple(inputs, what):
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    for x in inputs:
        if not isinstance(x, Tensor):
            raise TypeError(
                f"{what}: The inputs given to {what} must be either a Tensor or a tuple of "
                f"Tensors but one of them is {type(x).__name__}"
            )
    return inputs, single


def _finish(tree, create_graph):
    if isinstance(tree, tuple):
        return tuple(_finish(t, create_graph) for t in tree)
    return tree if create_graph else tree.detach()


def _default_v(v, outputs, what):
    if v is not None:
        return _as_tuple(v, what)[0]
    if any(o.numel() != 1 for o in outputs):
        raise RuntimeError(
            f"{what}: the vector v can only be None if the input to the user-provided "
            "function is a single element Tensor"
        )
    return tuple(ones_like(o) for o in outputs)


def jacobian(
    func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"
):
    """The Jacobian of ``func`` at ``inputs`` (output dims first, then input dims)."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(
            f'jacobian: expected strategy to be either "forward-mode" or "reverse-mode", got '
            f"{strategy!r}"
        )
    inputs, single_in = _as_tuple(inputs, "jacobian")
    out = func(*inputs)
    single_out = isinstance(out, Tensor)
    make = transforms.jacrev if strategy == "reverse-mode" else transforms.jacfwd

    def tupled(*xs):
        o = func(*xs)
        return (o,) if isinstance(o, Tensor) else tuple(o)

    jac = make(tupled, argnums=tuple(range(len(inputs))))(*inputs)
    jac = tuple(tuple(row) for row in jac)
    if single_in:
        jac = tuple(row[0] for row in jac)
    if single_out:
        jac = jac[0]
    return _finish(jac, create_graph)


def hessian(
    func,
    inputs,
    create_graph=False,
    strict=False,
    vectorize=False,
    outer_jacobian_strategy="reverse-mode",
):
    """The Hessian of a scalar ``func``; a tuple of tuples for a tuple of inputs."""
    inputs, single_in = _as_tuple(inputs, "hessian")

    def scalar(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError(
                "hessian: The function given to hessian should return a single Tensor "
                "with a single element"
            )
        return out.reshape(())

    argnums = tuple(range(len(inputs)))
    hess = transforms.jacfwd(transforms.jacrev(scalar, argnums), argnums)(*inputs)
    hess = tuple(tuple(row) for row in hess)
    if single_in:
        hess = hess[0][0]
    return _finish(hess, create_graph)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T J)``."""
    inputs, single_in = _as_tuple(inputs, "vjp")
    out, vjp_fn = transforms.vjp(func, *inputs)
    outputs = (out,) if isinstance(out, Tensor) else tuple(out)
    v = _default_v(v, outputs, "vjp")
    grads = vjp_fn(v[0] if isinstance(out, Tensor) else v)
    return _finish(out, create_graph), _finish(grads[0] if single_in else grads, create_graph)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)``."""
    inputs, single_in = _as_tuple(inputs, "jvp")
    v = _default_v(v, inputs, "jvp")
    out, tangent = transforms.jvp(func, inputs, v)
    return _finish(out, create_graph), _finish(tangent, create_graph)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` of a scalar ``func``: forward mode over reverse mode."""
    inputs, single_in = _as_tuple(inputs, "hvp")
    v = _default_v(v, inputs, "hvp")
    argnums = tuple(range(len(inputs)))
    out = func(*inputs)
    _, tangent = transforms.jvp(transforms.grad(func, argnums), inputs, v)
    return _finish(out, create_graph), _finish(tangent[0] if single_in else tangent, create_graph)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T H)``: reverse mode over reverse mode."""
    inputs, single_in = _as_tuple(inputs, "vhp")
    v = _default_v(v, inputs, "vhp")
    argnums = tuple(range(len(inputs)))
    out = func(*inputs)
    _, vjp_fn = transforms.vjp(transforms.grad(func, argnums), *inputs)
    grads = vjp_fn(v)
    return _finish(out, create_graph), _finish(grads[0] if single_in else grads, create_graph)
