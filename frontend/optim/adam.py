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

import kiln

from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam (``decoupled_weight_decay=True`` makes it AdamW)."""

    live_momentum = True  # a cyclic scheduler's momentum needs no retrace

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    ):
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
        weight_decay, eps = group["weight_decay"], group["eps"]
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        m = self._state_tensor(p, "exp_avg", lambda: kiln.zeros_like(p))
        v = self._state_tensor(p, "exp_avg_sq", lambda: kiln.zeros_like(p))
        g = -grad if group["maximize"] else grad

        step.add_(1)
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(_as_dtype(1 - lr * weight_decay, p.dtype))
            else:
                g = g + p * weight_decay
        m.copy_(_lerp(m, g, 1 - beta1))
        v.copy_(v * beta2 + g * (1 - beta2) * g)

        t = step.to(kiln.float64)
        bias_correction1 = 1 - kiln.pow(beta1, t)
        bias_correction2 = 1 - kiln.pow(beta2, t)
        step_size = lr / bias_correction1
        bias_correction2_sqrt = kiln.pow(bias_correction2, 0.5)
        if group["amsgrad"]:
            v_max = self._state_tensor(p, "max_exp_avg_sq", lambda: kiln.zeros_like(p))
            v_max.copy_(kiln.maximum(v_max, v))
            v = v_max
        denom = v.sqrt() / bias_correction2_sqrt.to(p.dtype) + eps
        p.add_(m * (-step_size).to(p.dtype) / denom)


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
            maximize=maximize,
            decoupled_weight_decay=True,
        )


def _lerp(start, end, weight):
    """PyTorch's lerp with a scalar weight (the two-sided formula keeps it accurate); the
    weight is a float or, for a live (cycled) beta, a 0-d tensor."""
    if isinstance(weight, kiln.Tensor):
        w = weight.to(start.dtype)
        return kiln.where(w.abs() < 0.5, start + (end - start) * w, end - (end - start) * (1 - w))
    w = float(start.dtype.np.type(weight))  # the weight as the tensor's dtype rounds it
    if abs(w) < 0.5:
        return start + (end - start) * w
    return end - (end - start) * (1 - w)


def _as_dtype(value, dtype):
    """A Python float as is (it becomes a constant), a tensor cast to ``dtype``."""
    return value.to(dtype) if isinstance(value, kiln.Tensor) else value
