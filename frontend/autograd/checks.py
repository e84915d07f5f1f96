"""``gradcheck`` / ``gradgradcheck``: autograd's gradients against finite differences.

The analytic Jacobian comes from one backward pass per output element; the numerical one
from central differences, perturbing one input element at a time in place (so the inputs
should be float64, as PyTorch advises). ``gradgradcheck`` checks the gradient of the
gradient, which needs the backward itself to be differentiable (``create_graph=True``).

>>> import kiln
>>> x = kiln.tensor([0.5, 2.0], dtype=kiln.float64, requires_grad=True)
>>> gradcheck(lambda t: (t.sin() * t).sum(), (x,))
True
>>> gradgradcheck(lambda t: t.exp() * t, (x,))
True
"""

from __future__ import annotations

import warnings

import numpy as np

from ..tensor import Tensor, _wrap
from .tape import grad as autograd_grad

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when the analytic and numerical Jacobians differ."""


def _as_tuple(x) -> tuple:
    return x if isinstance(x, tuple) else tuple(x) if isinstance(x, list) else (x,)


def _differentiable_outputs(outputs) -> list:
    return [
        o
        for o in outputs
        if isinstance(o, Tensor) and o.dtype.is_floating_point and o.requires_grad
    ]


def _refuse_complex(inputs, outputs) -> None:
    """The Jacobians here are real: a complex input or output would be checked in part (its
    real part) or not at all, so refuse it rather than pass."""
    for kind, values in (("input", inputs), ("output", outputs)):
        for i, t in enumerate(values):
            if isinstance(t, Tensor) and t.dtype.is_complex:
                raise NotImplementedError(
                    f"gradcheck: {kind} #{i} is {t.dtype.name}; kiln's gradcheck checks real "
                    "tensors only: check a real function of it (view_as_real, .abs(), .real)"
                )


def _numerical_jacobian(func, inputs, diff_idx, out_pos, eps) -> list:
    """``[J_i]`` per differentiable input ``i``: ``J_i[k, j] = d out_j / d in_{i,k}``."""
    # grad mode stays on: the function gradgradcheck checks runs a backward itself
    jacobians = []
    for i in diff_idx:
        x = inputs[i]
        original = x._data
        # C order: ``flat`` must be a view of ``work`` (a transposed input's copy would
        # otherwise keep its Fortran order, and the perturbations would go to a copy)
        work = np.array(original, copy=True, order="C")
        x._data = work
        flat = work.reshape(-1)
        rows = []
        try:
            for k in range(flat.size):
                keep = flat[k]
                flat[k] = keep + eps
                plus = _outputs_at(func, inputs, out_pos)
                flat[k] = keep - eps
                minus = _outputs_at(func, inputs, out_pos)
                flat[k] = keep
                rows.append(
                    np.concatenate([(p - m).reshape(-1) / (2 * eps) for p, m in zip(plus, minus)])
                    if plus
                    else np.zeros(0)
                )
        finally:
            x._data = original
        jacobians.append(np.stack(rows) if rows else np.zeros((0, 0)))
    return jacobians


def _outputs_at(func, inputs, out_pos) -> list:
    outputs = _as_tuple(func(*inputs))
    return [np.asarray(outputs[p]._data, dtype=np.float64) for p in out_pos]


def _analytic_jacobian(outputs, inputs, diff_idx) -> list:
    targets = [inputs[i] for i in diff_idx]
    sizes = [o.numel() for o in outputs]
    total = sum(sizes)
    jacobians = [np.zeros((t.numel(), total)) for t in targets]
    column = 0
    for o in outputs:
        for j in range(o.numel()):
            onehot = np.zeros(o.numel(), dtype=o.dtype.np)
            onehot[j] = 1
            grads = autograd_grad(
                [o],
                targets,
                grad_outputs=[_wrap(onehot.reshape(tuple(o.shape)))],
                retain_graph=True,
                allow_unused=True,
            )
            for jac, g in zip(jacobians, grads):
                if g is not None:
                    jac[:, column] = np.asarray(g._data, dtype=np.float64).reshape(-1)
            column += 1
    return jacobians


def gradcheck(
    func,
    inputs,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked=None,
) -> bool:
    """Whether ``func``'s gradients w.r.t. the inputs requiring grad match finite differences."""
    inputs = _as_tuple(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of "
            "the them have requires_grad=True."
        )
    for i in diff_idx:
        if inputs[i].dtype.name != "float64":
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point. "
                "This check will likely fail if all the inputs are not of double precision "
                "floating point. ",
                UserWarning,
                stacklevel=2,
            )
    outputs = _as_tuple(func(*inputs))
    _refuse_complex(inputs, outputs)
    out_pos = [
        p
        for p, o in enumerate(outputs)
        if isinstance(o, Tensor) and o.dtype.is_floating_point and o.requires_grad
    ]
    diff_outputs = [outputs[p] for p in out_pos]
    analytic = _analytic_jacobian(diff_outputs, inputs, diff_idx)
    numerical = _numerical_jacobian(func, inputs, diff_idx, out_pos, eps)
    for i, a, n in zip(diff_idx, analytic, numerical):
        if a.shape != n.shape or not np.allclose(a, n, rtol=rtol, atol=atol):
            if not raise_exception:
                return False
            raise GradcheckError(
                f"Jacobian mismatch for output 0 with respect to input {i},\n"
                f"numerical:{n.T}\nanalytical:{a.T}\n"
            )
    return True


def gradgradcheck(
    func,
    inputs,
    grad_outputs=None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """``gradcheck`` of the vector-Jacobian product of ``func`` (second derivatives)."""
    inputs = _as_tuple(inputs)
    outputs = _differentiable_outputs(_as_tuple(func(*inputs)))
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            _wrap(rng.standard_normal(tuple(o.shape)).astype(o.dtype.np)).requires_grad_()
            for o in outputs
        )
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def vjp(*args):
        ins, gos = args[:n], args[n:]
        outs = _differentiable_outputs(_as_tuple(func(*ins)))
        grads = autograd_grad(
            outs, [ins[i] for i in diff_idx], gos, create_graph=True, allow_unused=True
        )
        return tuple(g for g in grads if g is not None)

    return gradcheck(
        vjp,
        inputs + tuple(grad_outputs),
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
    )
