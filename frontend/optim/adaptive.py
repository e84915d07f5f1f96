"""Per-coordinate adaptive rates: ``RMSprop``, ``Adagrad`` and ``Adadelta``.

Each follows PyTorch's single-tensor update (``torch.optim.<name>._single_tensor_*``) in
the same order of operations, with the state under PyTorch's names (``square_avg``,
``sum``, ``acc_delta``, ...) so a PyTorch state dict loads. Step-dependent factors are
float64 tensors computed from the float ``step`` tensor, so the update traces without a
Python branch on the step count (see ``optimizer.py``).

>>> import kiln
>>> w = kiln.tensor([1.0, -2.0], requires_grad=True)
>>> opt = kiln.optim.Adagrad([w], lr=0.5)
>>> (w * w).sum().backward(); opt.step(); w.tolist()  # each coordinate moves by lr
[0.5, -1.5]
"""

from __future__ import annotations

import kiln

from .adam import _lerp
from .optimizer import Optimizer, scalar_as


def _check(**values) -> None:
    lr = values.get("learning rate", (None,))[0]
    if isinstance(lr, kiln.Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    for name, (value, low) in values.items():
        if not value >= low:
            raise ValueError(f"Invalid {name} value: {value}")


class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square (optionally centered, with momentum).

    >>> import kiln
    >>> w = kiln.tensor([1.0], requires_grad=True)
    >>> opt = kiln.optim.RMSprop([w], lr=0.01, alpha=0.0)
    >>> w.sum().backward(); opt.step(); round(w.item(), 6)  # g / sqrt(g * g) = 1
    0.99
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        _check(
            **{
                "learning rate": (lr, 0.0),
                "epsilon": (eps, 0.0),
                "momentum": (momentum, 0.0),
                "weight_decay": (weight_decay, 0.0),
                "alpha": (alpha, 0.0),
            }
        )
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        return self._step_each(closure)

    def _update(self, p, grad, group, lr) -> None:
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        square_avg = self._state_tensor(p, "square_avg", lambda: kiln.zeros_like(p))
        if momentum > 0:  # (created here: PyTorch's order of the state's keys)
            self._state_tensor(p, "momentum_buffer", lambda: kiln.zeros_like(p))
        g = -grad if group["maximize"] else grad
        step.add_(1)
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        square_avg.copy_(square_avg * alpha + g * (1 - alpha) * g)
        if group["centered"]:
            grad_avg = self._state_tensor(p, "grad_avg", lambda: kiln.zeros_like(p))
            grad_avg.copy_(_lerp(grad_avg, g, 1 - alpha))
            avg = (square_avg - grad_avg * grad_avg).sqrt() + eps
        else:
            avg = square_avg.sqrt() + eps
        neg_lr = scalar_as(-lr, p.dtype)
        if momentum > 0:
            buf = self._state_tensor(p, "momentum_buffer", lambda: kiln.zeros_like(p))
            buf.copy_(buf * momentum + g / avg)
            p.add_(buf * neg_lr)
        else:
            p.add_(g * neg_lr / avg)


class Adagrad(Optimizer):
    """Divide the gradient by the root of the sum of all squared gradients so far.

    The state starts at ``initial_accumulator_value`` for every parameter, as PyTorch's does
    when the optimizer is built.
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        _check(
            **{
                "learning rate": (lr, 0.0),
                "lr_decay": (lr_decay, 0.0),
                "weight_decay": (weight_decay, 0.0),
                "initial_accumulator_value": (initial_accumulator_value, 0.0),
                "epsilon": (eps, 0.0),
            }
        )
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._initial_state(p, group)

    def _initial_state(self, p, group):
        init = group["initial_accumulator_value"]
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        state_sum = self._state_tensor(p, "sum", lambda: kiln.full_like(p, init))
        return step, state_sum

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        return self._step_each(closure, kiln.float64)

    def _update(self, p, grad, group, lr) -> None:
        step, state_sum = self._initial_state(p, group)
        g = -grad if group["maximize"] else grad
        step.add_(1)
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        clr = kiln.div(lr, (step.to(kiln.float64) - 1) * group["lr_decay"] + 1)
        state_sum.copy_(state_sum + g * g)
        std = state_sum.sqrt() + group["eps"]
        p.add_(g * scalar_as(-clr, p.dtype) / std)


class Adadelta(Optimizer):
    """Scale each step by the ratio of running RMS of past updates to that of gradients."""

    def __init__(
        self,
        params,
        lr=1.0,
        rho=0.9,
        eps=1e-6,
        weight_decay=0,
        foreach=None,
        *,
        capturable=False,
        maximize=False,
        differentiable=False,
    ):
        _check(
            **{
                "learning rate": (lr, 0.0),
                "epsilon": (eps, 0.0),
                "weight_decay": (weight_decay, 0.0),
            }
        )
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            capturable=capturable,
            foreach=foreach,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        return self._step_each(closure)

    def _update(self, p, grad, group, lr) -> None:
        rho, eps = group["rho"], group["eps"]
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        square_avg = self._state_tensor(p, "square_avg", lambda: kiln.zeros_like(p))
        acc_delta = self._state_tensor(p, "acc_delta", lambda: kiln.zeros_like(p))
        g = -grad if group["maximize"] else grad
        step.add_(1)
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        square_avg.copy_(square_avg * rho + g * (1 - rho) * g)
        std = (square_avg + eps).sqrt()
        delta = (acc_delta + eps).sqrt() / std * g
        acc_delta.copy_(acc_delta * rho + delta * (1 - rho) * delta)
        p.add_(delta * scalar_as(-lr, p.dtype))
