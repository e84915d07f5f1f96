"""Adam's relatives: ``Adamax`` (infinity norm), ``NAdam`` (Nesterov momentum) and ``RAdam``
(rectified variance).

As in ``adam.py``, the step count is a float tensor and every step-dependent factor (bias
corrections, NAdam's momentum schedule, RAdam's rectification) is a float64 tensor computed
from it, so one traced update serves every step. RAdam's "rectify only once the variance
is tractable" branch is a ``kiln.where``, not a Python ``if``.

>>> import kiln
>>> w = kiln.tensor([1.0, -1.0], requires_grad=True)
>>> opt = kiln.optim.Adamax([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step(); [round(v, 4) for v in w.tolist()]
[0.9, -0.9]
"""

from __future__ import annotations

import kiln

from .adam import _lerp
from .optimizer import Optimizer, scalar_as


def _check_adam_like(lr, betas, eps, weight_decay) -> None:
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


class _AdamLike(Optimizer):
    """Shared state (``step``, ``exp_avg`` and a second moment) and the gradient preamble."""

    second_moment = "exp_avg_sq"

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        return self._step_each(closure, kiln.float64)

    def _begin(self, p, grad, group, lr):
        """Advance the step; return (t as float64, g, exp_avg, second moment)."""
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        m = self._state_tensor(p, "exp_avg", lambda: kiln.zeros_like(p))
        v = self._state_tensor(p, self.second_moment, lambda: kiln.zeros_like(p))
        g = -grad if group["maximize"] else grad
        step.add_(1)
        weight_decay = group["weight_decay"]
        if weight_decay != 0:
            if group.get("decoupled_weight_decay"):
                p.mul_(scalar_as(1 - lr * weight_decay, p.dtype))
            else:
                g = g + p * weight_decay
        return step.to(kiln.float64), g, m, v


class Adamax(_AdamLike):
    """Adam with the infinity norm in place of the second moment."""

    second_moment = "exp_inf"

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        _check_adam_like(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def _update(self, p, grad, group, lr) -> None:
        beta1, beta2 = group["betas"]
        t, g, m, exp_inf = self._begin(p, grad, group, lr)
        m.copy_(_lerp(m, g, 1 - beta1))
        exp_inf.copy_(kiln.maximum(exp_inf * beta2, g.abs() + group["eps"]))
        clr = kiln.div(lr, 1 - kiln.pow(beta1, t))  # (PyTorch's Python floats)
        p.add_(m * scalar_as(-clr, p.dtype) / exp_inf)


class NAdam(_AdamLike):
    """Adam with Nesterov momentum and Dozat's momentum-decay schedule (``mu_product``)."""

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        _check_adam_like(lr, betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _update(self, p, grad, group, lr) -> None:
        beta1, beta2 = group["betas"]
        decay = group["momentum_decay"]
        self._state_tensor(p, "step", lambda: kiln.tensor(0.0))  # (PyTorch's key order)
        mu_product = self._state_tensor(p, "mu_product", lambda: kiln.tensor(1.0))
        t, g, m, v = self._begin(p, grad, group, lr)
        bias_correction2 = 1 - kiln.pow(beta2, t)
        mu = (1.0 - 0.5 * kiln.pow(0.96, t * decay)) * beta1
        mu_next = (1.0 - 0.5 * kiln.pow(0.96, (t + 1) * decay)) * beta1
        # PyTorch keeps mu_product in float32 and reads it back as a double.
        mu_product.mul_(mu.to(mu_product.dtype))
        product = mu_product.to(kiln.float64)
        m.copy_(_lerp(m, g, 1 - beta1))
        v.copy_(v * beta2 + g * (1 - beta2) * g)
        denom = (v / bias_correction2.to(p.dtype)).sqrt() + group["eps"]
        grad_scale = -lr * (1.0 - mu) / (1.0 - product)
        avg_scale = -lr * mu_next / (1.0 - product * mu_next)
        p.add_(g * grad_scale.to(p.dtype) / denom)
        p.add_(m * avg_scale.to(p.dtype) / denom)


class RAdam(_AdamLike):
    """Adam whose adaptive term is switched on, rectified, once its variance is tractable."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        _check_adam_like(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            decoupled_weight_decay=decoupled_weight_decay,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _update(self, p, grad, group, lr) -> None:
        beta1, beta2 = group["betas"]
        t, g, m, v = self._begin(p, grad, group, lr)
        m.copy_(_lerp(m, g, 1 - beta1))
        v.copy_(v * beta2 + g * (1 - beta2) * g)
        bias_correction1 = 1 - kiln.pow(beta1, t)
        bias_correction2 = 1 - kiln.pow(beta2, t)
        corrected = m / bias_correction1.to(p.dtype)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * kiln.pow(beta2, t) / bias_correction2
        tractable = rho_t > 5.0
        rho = kiln.where(tractable, rho_t, 6.0)  # keeps the unused branch's sqrt real
        rect = ((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)) ** 0.5
        adaptive = bias_correction2.sqrt().to(p.dtype) / (v.sqrt() + group["eps"])
        plain = corrected * scalar_as(lr, p.dtype)
        rectified = plain * adaptive * rect.to(p.dtype)
        p.sub_(kiln.where(tractable, rectified, plain))
