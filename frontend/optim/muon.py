"""Muon: momentum SGD whose update is orthogonalized by a Newton-Schulz iteration, for the
2-D parameters of hidden layers (PyTorch's ``torch.optim.Muon``)::

    buf = lerp(buf, grad, 1 - momentum)
    update = lerp(grad, buf, momentum) if nesterov else buf
    update = newton_schulz(update)        (in bfloat16, ``ns_steps`` quintic iterations)
    p = p * (1 - lr * weight_decay) - adjusted_lr * update

``adjusted_lr`` is ``lr * sqrt(max(1, rows / cols))`` ("original", the default) or
``lr * 0.2 * sqrt(max(rows, cols))`` ("match_rms_adamw").

>>> import kiln
>>> w = kiln.ones(2, 2, requires_grad=True)
>>> opt = kiln.optim.Muon([w], lr=0.1)
>>> opt.zero_grad(); (w * kiln.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward(); opt.step()
>>> w.shape
kiln.Size([2, 2])
"""

from __future__ import annotations

import math

import kiln

from .optimizer import Optimizer

EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


def _zeropower_via_newtonschulz(grad, ns_coefficients, ns_steps: int, eps: float):
    """An approximate orthogonalization of ``grad`` (``U S' V^T`` with ``S'`` near 1)."""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if grad.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = ns_coefficients
    tall = grad.shape[0] > grad.shape[1]
    ortho = grad.bfloat16()
    if tall:
        ortho = ortho.T
    ortho = ortho / ortho.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = ortho @ ortho.T
        gram_update = kiln.addmm(gram, gram, gram, beta=b, alpha=c)
        ortho = kiln.addmm(ortho, gram_update, ortho, beta=a)
    return ortho.T if tall else ortho


def _adjust_lr(lr, adjust_lr_fn, shape):
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = 1.0
    return lr * ratio


class Muon(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-3,
        weight_decay=0.1,
        momentum=0.95,
        nesterov=True,
        ns_coefficients=(DEFAULT_A, DEFAULT_B, DEFAULT_C),
        eps=EPS,
        ns_steps=DEFAULT_NS_STEPS,
        adjust_lr_fn=None,
    ):
        if isinstance(lr, kiln.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ("original", "match_rms_adamw"):
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=tuple(ns_coefficients),
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        "Muon only supports 2D parameters whereas we found a parameter with "
                        f"size: {p.size()}"
                    )

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        return self._step_each(closure)

    def _update(self, p, grad, group, lr) -> None:
        if p.is_complex():
            raise RuntimeError("Muon does not support complex parameters")
        momentum = group["momentum"]
        buf = self._state_tensor(p, "momentum_buffer", lambda: kiln.zeros_like(grad))
        buf.lerp_(grad, 1 - momentum)
        update = grad.lerp(buf, momentum) if group["nesterov"] else buf
        update = _zeropower_via_newtonschulz(
            update, group["ns_coefficients"], group["ns_steps"], group["eps"]
        )
        adjusted_lr = _adjust_lr(lr, group["adjust_lr_fn"], p.shape)
        p.mul_(1 - lr * group["weight_decay"])
        p.sub_(update.to(p.dtype) * adjusted_lr)


__all__ = ["Muon"]
