"""Adam and AdamW (with optional AMSGrad), following PyTorch's single-tensor update.

For each parameter, with ``t`` the step count (a float tensor updated in place)::

    t = t + 1
    p = p * (1 - lr * weight_decay)                (AdamW: decoupled decay)
    g = grad + weight_decay * p                    (Adam: L2 penalty)
    m = lerp(m, g, 1 - beta1)
    v = beta2 * v + (1 - beta2) * g * g
    v_max = max(v_max, v)                          (amsgrad)
    step_size = lr / (1 - beta1 ** t)
    p = p - step_size * m / (sqrt(v) / sqrt(1 - beta2 ** t) + eps)

The bias corrections are computed in float64 tensors from ``t`` (PyTorch computes them in
Python floats, which are doubles), so the same code gives PyTorch's numbers eagerly and
needs no Python branching on the step count when it is traced.

>>> import kiln
>>> w = kiln.tensor([1.0, -1.0], requires_grad=True)
>>> opt = kiln.optim.Adam([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step(); [round(v, 4) for v in w.tolist()]
[0.9, -0.9]
"""

from __future__ import annotations

import numpy as np

import kiln

from .fast import KILN, NUMPY, eager_arrays, is_float, memo, store
from .optimizer import Optimizer

_KILN_DTYPES = {np.dtype(np.float32): kiln.float32, np.dtype(np.float64): kiln.float64}


class Adam(Optimizer):
    """Adam (``decoupled_weight_decay=True`` makes it AdamW)."""

    live_momentum = True  # a cyclic scheduler's momentum needs no retrace

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    ):
        if isinstance(lr, kiln.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._guard_settings()
        with kiln.no_grad():
            for index, group in enumerate(self.param_groups):
                lr = self._lr(index, kiln.float64)
                beta1 = self._momentum(index, kiln.float64)
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, group, lr, beta1)
        return loss

    def _update(self, p, grad, group, lr, beta1) -> None:
        beta2 = group["betas"][1]
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        m = self._state_tensor(p, "exp_avg", lambda: kiln.zeros_like(p))
        v = self._state_tensor(p, "exp_avg_sq", lambda: kiln.zeros_like(p))
        v_max = None
        if group["amsgrad"]:
            v_max = self._state_tensor(p, "max_exp_avg_sq", lambda: kiln.zeros_like(p))
        settings = (
            lr,
            beta1,
            beta2,
            group["eps"],
            group["weight_decay"],
            group["decoupled_weight_decay"],
        )
        state = (m, v, v_max)
        if is_float(lr) and is_float(beta1) and eager_arrays((p, grad, m, v, v_max), (step,)):
            # eagerly on CPU arrays: the same math in a few NumPy calls (optim/fast.py)
            step_value = step._data + 1
            store(step, step_value)
            g = -grad._data if group["maximize"] else grad._data
            arrays = (None if x is None else x._data for x in state)
            with np.errstate(divide="ignore", invalid="ignore"):
                new = adam_math(NUMPY, p._data, g, *arrays, step_value, *settings)
            for t, value in zip((p, *state), new):
                if t is not None:
                    store(t, value)
            return
        step.add_(1)
        g = -grad if group["maximize"] else grad
        new = adam_math(KILN, p, g, *state, step, *settings)
        for t, value in zip((p, *state), new):
            if t is not None:
                t.copy_(value)


def adam_math(xp, p, g, m, v, v_max, step, lr, beta1, beta2, eps, weight_decay, decoupled):
    """One Adam update of parameter ``p`` with gradient ``g`` (``-grad`` to maximize), first
    and second moments ``m``, ``v``, running maximum ``v_max`` (``None`` without AMSGrad)
    and ``step`` (the count after this step): the new ``(p, m, v, v_max)``.

    The values are kiln tensors or NumPy arrays (``xp``: ``optim.fast.KILN`` or ``NUMPY``).
    """
    if weight_decay != 0:
        if decoupled:
            p = p * xp.cast(1 - lr * weight_decay, _dtype_of(p, xp))
        else:
            g = g + p * weight_decay
    m = _lerp(m, g, 1 - beta1, xp)
    v = v * beta2 + g * (1 - beta2) * g
    dtype = _dtype_of(p, xp)
    if xp is KILN:
        neg_step_size, bias_correction2_sqrt = adam_scalars(xp, step, lr, beta1, beta2, dtype)
    else:  # the same for every parameter at this step: computed once
        neg_step_size, bias_correction2_sqrt = memo(
            adam_scalars, xp, float(step), lr, beta1, beta2, dtype
        )
    if v_max is not None:
        v_max = xp.maximum(v_max, v)
    denom = xp.sqrt(v if v_max is None else v_max) / bias_correction2_sqrt + eps
    return p + m * neg_step_size / denom, m, v, v_max


def adam_scalars(xp, step, lr, beta1, beta2, dtype):
    """``(-lr / bias_correction1, sqrt(bias_correction2))`` at step count ``step``, computed
    in float64 (as PyTorch's Python floats) and cast to the parameters' ``dtype``."""
    t = xp.cast(step, kiln.float64)
    bias_correction1 = 1 - xp.pow(beta1, t)
    bias_correction2 = 1 - xp.pow(beta2, t)
    step_size = xp.div(lr, bias_correction1)  # (PyTorch: Python floats: a true division)
    bias_correction2_sqrt = xp.pow(bias_correction2, 0.5)
    return xp.cast(-step_size, dtype), xp.cast(bias_correction2_sqrt, dtype)


def _dtype_of(x, xp):
    return x.dtype if xp is KILN else _KILN_DTYPES[x.dtype]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), default ``weight_decay=1e-2``.

    >>> import kiln
    >>> w = kiln.tensor([1.0], requires_grad=True)
    >>> opt = kiln.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.sum().backward(); opt.step(); round(w.item(), 4)
    0.85
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )


def _lerp(start, end, weight, xp=KILN):
    """PyTorch's lerp with a scalar weight (the two-sided formula keeps it accurate); the
    weight is a float or, for a live (cycled) beta, a 0-d tensor."""
    if isinstance(weight, kiln.Tensor):
        w = weight.to(start.dtype)
        return kiln.where(w.abs() < 0.5, start + (end - start) * w, end - (end - start) * (1 - w))
    w = xp.scalar(weight, start)  # the weight as the tensor's dtype rounds it
    if abs(w) < 0.5:
        return start + (end - start) * w
    return end - (end - start) * (1 - w)
