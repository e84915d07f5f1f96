"""``Rprop``, ``ASGD``, ``SparseAdam`` and ``Adafactor``, following PyTorch's single-tensor updates.

As everywhere in ``kiln.optim``, the step count and the per-parameter scalars PyTorch keeps
in 0-d float32 tensors (ASGD's ``eta`` and ``mu``) are 0-d float32 tensors updated in place,
and the value-dependent choices are ``kiln.where``, so one traced update serves every step.

>>> import kiln
>>> w = kiln.tensor([1.0, -1.0], requires_grad=True)
>>> opt = kiln.optim.Rprop([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step(); [round(v, 4) for v in w.tolist()]
[0.9, -0.9]
"""

from __future__ import annotations

import kiln

from .optimizer import Optimizer, scalar_as


def _check_lr(lr, strict: bool = False) -> None:
    if isinstance(lr, kiln.Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not (0.0 < lr if strict else 0.0 <= lr):
        raise ValueError(f"Invalid learning rate: {lr}")


class Rprop(Optimizer):
    """Resilient backpropagation: per-coordinate step sizes grown by ``etas[1]`` while the
    gradient keeps its sign and shrunk by ``etas[0]`` when it flips (the step then skipped).
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50),
        *,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(
            lr=lr,
            etas=etas,
            step_sizes=step_sizes,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        return self._step_each(closure)

    def _update(self, p, grad, group, lr) -> None:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        prev = self._state_tensor(p, "prev", lambda: kiln.zeros_like(p))
        # (the first step's rate, as PyTorch's state: a live lr is read eagerly here)
        first_lr = float(_value(group["lr"]))
        step_size = self._state_tensor(p, "step_size", lambda: kiln.full_like(p, first_lr))
        g = -grad if group["maximize"] else grad
        step.add_(1)
        sign = (g * prev).sign()
        one = kiln.ones_like(sign)
        factor = kiln.where(sign > 0, one * etaplus, kiln.where(sign < 0, one * etaminus, one))
        step_size.copy_((step_size * factor).clamp(step_size_min, step_size_max))
        g = kiln.where(factor == etaminus, kiln.zeros_like(g), g)
        p.copy_(p - g.sign() * step_size)
        prev.copy_(g)


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky): SGD with a decaying rate ``eta`` and a running
    average ``ax`` of the iterates from step ``t0`` on."""

    def __init__(
        self,
        params,
        lr=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        _check_lr(lr)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(
            lr=lr,
            lambd=lambd,
            alpha=alpha,
            t0=t0,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        return self._step_each(closure, kiln.float64)

    def _update(self, p, grad, group, lr) -> None:
        lambd, alpha, t0 = group["lambd"], group["alpha"], group["t0"]
        first_lr = float(_value(group["lr"]))
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        eta = self._state_tensor(p, "eta", lambda: kiln.tensor(first_lr, dtype=kiln.float32))
        mu = self._state_tensor(p, "mu", lambda: kiln.tensor(1.0))
        ax = self._state_tensor(p, "ax", lambda: kiln.zeros_like(p))
        g = -grad if group["maximize"] else grad
        step.add_(1)
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        # PyTorch reads eta as a Python double (eta.item()) and rounds the factors to p's dtype
        eta64 = eta.to(kiln.float64)
        p.copy_(p * (1 - lambd * eta64).to(p.dtype))
        p.copy_(p + g * (-eta64).to(p.dtype))
        averaged = ax + (p - ax) * mu.to(p.dtype)
        ax.copy_(kiln.where(mu != 1, averaged, p))
        t = step.to(kiln.float64)
        # (PyTorch computes these in Python floats: true divisions)
        eta.copy_(kiln.div(lr, (1 + lambd * lr * t) ** alpha).to(kiln.float32))
        mu.copy_(kiln.div(1, kiln.maximum(t - t0, kiln.ones_like(t))).to(kiln.float32))


class SparseAdam(Optimizer):
    """Adam for sparse (COO) gradients (``nn.Embedding(sparse=True)``), as PyTorch's: the
    moments and the parameter change only at the rows the coalesced gradient holds. A dense
    gradient raises, as in PyTorch."""

    takes_sparse_gradients = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        _check_lr(lr, strict=True)
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        defaults = dict(lr=lr, betas=betas, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with kiln.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if not p.grad.is_sparse:
                        raise RuntimeError(
                            "SparseAdam does not support dense gradients, please consider "
                            "Adam instead"
                        )
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["exp_avg"] = kiln.zeros_like(p)
                        state["exp_avg_sq"] = kiln.zeros_like(p)
                    state["step"] += 1
                    self._sparse_step(p, state, group)
        return loss

    @staticmethod
    def _sparse_step(p, state, group) -> None:
        """PyTorch's ``sparse_adam`` on the rows of the coalesced gradient (each written
        with ``index_add``: a row appears once)."""
        import math

        from ..sparse import _linear, _wrap

        grad = -p.grad if group["maximize"] else p.grad
        grad = grad.coalesce()
        values = grad._values()
        if values.numel() == 0:
            return
        beta1, beta2 = group["betas"]
        rows_shape = (-1, *p.shape[grad.sparse_dim() :])
        rows = _wrap(_linear(grad._indices()._data, p.shape[: grad.sparse_dim()]))

        def add_at(t, update):
            t.copy_(t.reshape(rows_shape).index_add(0, rows, update).reshape(p.shape))

        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        old_avg = exp_avg.reshape(rows_shape).index_select(0, rows)
        avg_update = (values - old_avg) * (1 - beta1)
        add_at(exp_avg, avg_update)
        old_sq = exp_avg_sq.reshape(rows_shape).index_select(0, rows)
        sq_update = (values.pow(2) - old_sq) * (1 - beta2)
        add_at(exp_avg_sq, sq_update)
        numer = avg_update + old_avg
        denom = (sq_update + old_sq).sqrt() + group["eps"]
        step = state["step"]
        step_size = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
        add_at(p, -step_size * (numer / denom))


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern) as ``torch.optim.Adafactor``: the second moment of a
    matrix gradient kept as row and column factors, a relative step size
    ``min(lr, 1 / sqrt(t))`` scaled by the parameter's RMS, and update clipping ``d``.

    PyTorch reads the norms with ``.item()`` and does the scalar arithmetic in Python
    doubles; here they are 0-d float64 tensors (traceable), rounded to the parameter's dtype
    where PyTorch's kernels round them.
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        beta2_decay=-0.8,
        eps=(None, 1e-3),
        d=1.0,
        weight_decay=0.0,
        *,
        foreach=None,
        maximize=False,
    ):
        if isinstance(lr, kiln.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=eps,
            d=d,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        return self._step_each(closure, kiln.float64)

    def _update(self, p, grad, group, lr) -> None:
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = kiln.finfo(p.dtype).eps
        f64 = kiln.float64
        step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0))
        if grad.dim() > 1:
            row_shape, col_shape = list(grad.shape), list(grad.shape)
            row_shape[-1] = 1
            col_shape[-2] = 1
            row_var = self._state_tensor(p, "row_var", lambda: kiln.zeros(row_shape, dtype=p.dtype))
            col_var = self._state_tensor(p, "col_var", lambda: kiln.zeros(col_shape, dtype=p.dtype))
        else:
            variance = self._state_tensor(p, "variance", lambda: kiln.zeros_like(p))
        g = -grad if group["maximize"] else grad
        step.add_(1)
        t = step.to(f64)
        one_minus_beta2 = kiln.pow(t, group["beta2_decay"])
        rho = kiln.minimum(kiln.ones_like(t) * lr, kiln.div(1, kiln.sqrt(t)))
        rms = p.norm(2).to(f64) / (p.numel() ** 0.5)
        alpha = kiln.maximum(rms, kiln.full_like(rms, eps2)) * rho
        if group["weight_decay"] != 0:
            p.mul_(scalar_as(1 - lr * group["weight_decay"], p.dtype))
        weight = one_minus_beta2.to(p.dtype)
        if grad.dim() > 1:
            row_mean = kiln.norm(g, dim=-1, keepdim=True).square() / g.shape[-1]
            row_var.copy_(kiln.lerp(row_var, row_mean, weight))
            col_mean = kiln.norm(g, dim=-2, keepdim=True).square() / g.shape[-2]
            col_var.copy_(kiln.lerp(col_var, col_mean, weight))
            estimate = row_var @ col_var
            estimate = estimate / row_var.mean(dim=-2, keepdim=True).clamp(min=eps1)
        else:
            variance.copy_(kiln.lerp(variance, g * g, weight))
            estimate = variance
        update = estimate.clamp(min=eps1 * eps1).rsqrt() * g
        update_rms = update.norm(2).to(f64) / ((update.numel() ** 0.5) * group["d"])
        denom = kiln.maximum(update_rms, kiln.ones_like(update_rms))
        p.add_(update * (-alpha / denom).to(p.dtype))


def _value(x):
    return x.item() if isinstance(x, kiln.Tensor) else x


__all__ = ["Rprop", "ASGD", "SparseAdam", "Adafactor"]
