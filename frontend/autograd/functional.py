"""``torch.autograd.functional``: Jacobians, Hessians and their products of a function.

Thin wrappers over ``kiln.func`` that keep PyTorch's calling convention: ``inputs`` is a
tensor or a tuple of tensors, and the results are tuples exactly where PyTorch's are.

>>> import kiln
>>> jacobian(lambda x: x ** 2, kiln.tensor([1.0, 2.0]))
tensor([[2., 0.],
        [0., 4.]])
"""

from __future__ import annotations

from ..creation import ones_like, zeros_like
from ..func import transforms
from ..tensor import Tensor
from . import grad_mode, tape

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
    """The Jacobian of ``func`` at ``inputs`` (output dims first, then input dims).

    ``create_graph=True``: the result is differentiable again (w.r.t. ``inputs``), computed
    on the autograd tape one output element at a time, as PyTorch's; ``strict=True`` raises
    where an output does not depend on an input. ``vectorize`` changes no value here;
    ``strategy="forward-mode"`` needs ``vectorize=True``, as in PyTorch.
    """
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(
            f'jacobian: expected strategy to be either "forward-mode" or "reverse-mode", got '
            f"{strategy!r}"
        )
    inputs, single_in = _as_tuple(inputs, "jacobian")
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either '
                'set `create_graph=False` or `strategy="reverse-mode"`.'
            )
        if strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either '
                'set `strict=False` or `strategy="reverse-mode"`.'
            )
        if not vectorize:
            raise NotImplementedError(
                "Computing Jacobian using forward-AD or forward-over-reverse Hessian is "
                "only implemented for `vectorize=True`."
            )
    if strict and vectorize:
        raise RuntimeError(
            "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
            "supported together. Please either set `strict=False` or `vectorize=False`."
        )
    if create_graph or strict:
        jac, single_out = _tape_jacobian(func, inputs, create_graph, strict)
        if single_in:
            jac = tuple(row[0] for row in jac)
        return jac[0] if single_out else jac
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


def _tape_jacobian(func, inputs, create_graph: bool, strict: bool):
    """PyTorch's reverse-mode Jacobian on the tape: one ``autograd.grad`` per output
    element (``retain_graph``), with ``create_graph`` to make the rows differentiable.
    Returns the rows (one per output, a tensor per input) and whether ``func`` returned
    one tensor."""
    from .. import ops

    with grad_mode.enable_grad():
        # an input already requiring grad is used as is (the result then reaches it);
        # any other through a detached copy that requires grad, as PyTorch's preprocessing
        ins = tuple(
            x if create_graph and x.requires_grad else x.detach().requires_grad_(True)
            for x in inputs
        )
        out = func(*ins)
        single_out = isinstance(out, Tensor)
        outs = (out,) if single_out else tuple(out)
        for i, o in enumerate(outs):
            if strict and not o.requires_grad:
                raise RuntimeError(
                    f"Output {i} of the user-provided function does not require gradients. "
                    "The outputs must be computed in a differentiable manner from the input "
                    "when running in strict mode."
                )
        rows = []
        for o in outs:
            cols = [[] for _ in ins]
            flat = o.reshape(-1)
            for j in range(o.numel()):
                grads = (
                    tape.grad(
                        flat[j],
                        ins,
                        retain_graph=True,
                        create_graph=create_graph,
                        allow_unused=True,
                    )
                    if o.requires_grad
                    else (None,) * len(ins)
                )
                for i, (col, g, x) in enumerate(zip(cols, grads, ins)):
                    if g is None:
                        if strict:
                            raise RuntimeError(
                                f"Output {j} of the user-provided function is independent of "
                                f"input {i}. This is not allowed in strict mode."
                            )
                        g = zeros_like(x)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(
                            f"The jacobian of the user-provided function is independent of "
                            f"input {i}. This is not allowed in strict mode when "
                            "create_graph=True."
                        )
                    col.append(g)
            row = []
            for col, x in zip(cols, ins):
                stacked = ops.stack(col) if col else zeros_like(x).reshape((0,) + tuple(x.shape))
                jac = stacked.reshape(tuple(o.shape) + tuple(x.shape))
                row.append(jac if create_graph else jac.detach())
            rows.append(tuple(row))
    return tuple(rows), single_out


def hessian(
    func,
    inputs,
    create_graph=False,
    strict=False,
    vectorize=False,
    outer_jacobian_strategy="reverse-mode",
):
    """The Hessian of a scalar ``func``; a tuple of tuples for a tuple of inputs
    (``create_graph=True``: differentiable again, as PyTorch's)."""
    inputs, single_in = _as_tuple(inputs, "hessian")
    if outer_jacobian_strategy not in ("reverse-mode", "forward-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    if create_graph or strict:

        def gradient(*xs):
            out = func(*xs)
            if not isinstance(out, Tensor) or out.numel() != 1:
                raise RuntimeError(
                    "hessian: The function given to hessian should return a single Tensor "
                    "with a single element"
                )
            if strict and not out.requires_grad:
                raise RuntimeError(
                    "Output 0 of the user-provided function does not require gradients. The "
                    "outputs must be computed in a differentiable manner from the input when "
                    "running in strict mode."
                )
            if not out.requires_grad:
                return tuple(zeros_like(x) for x in xs)
            grads = tape.grad(out.reshape(()), xs, create_graph=True, allow_unused=True)
            return tuple(zeros_like(x) if g is None else g for g, x in zip(grads, xs))

        hess = _tape_jacobian(gradient, inputs, create_graph, strict)[0]
        return hess[0][0] if single_in else hess

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
