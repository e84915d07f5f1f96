"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

The update is PyTorch's (``torch.optim.SGD``)::

    g = -grad if maximize else grad
    g = g + weight_decay * p
    buf = g                                          (first step)
    buf = momentum * buf + (1 - dampening) * g       (later steps)
    g = g + momentum * buf if nesterov else buf
    p = p - lr * g

"first step" is decided by a float ``step`` tensor kept in the state (``kiln.where``), not
by a Python ``if``, so a compiled step behaves like the eager one on every call.

>>> import kiln
>>> w = kiln.tensor([1.0], requires_grad=True)
>>> opt = kiln.optim.SGD([w], lr=0.5, momentum=0.9)
>>> for _ in range(2):
...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
>>> w.tolist()  # step 1: buf = 2, w = 0; step 2: buf = 0.9 * 2, w = -1.8 * 0.5
[-0.8999999761581421]
"""

from __future__ import annotations

import numpy as np

import kiln

from .fast import KILN, eager_arrays, eager_context, is_float, plain_arrays, store
from .optimizer import Optimizer, required


class SGD(Optimizer):
    live_momentum = True  # a cyclic scheduler's momentum needs no retrace
    _supports_complex = True  # (its update is linear in the gradient)
    takes_sparse_gradients = True  # (nn.Embedding(sparse=True): _sparse_update)

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        if isinstance(lr, kiln.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        self._guard_settings()
        with kiln.no_grad():
            for index, group in enumerate(self.param_groups):
                lr = self._lr(index)
                momentum = self._momentum(index)
                if is_float(lr) and is_float(momentum) and eager_context():
                    self._eager_group(group, lr, momentum)
                    continue
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, group, lr, momentum)
        return loss

    def _eager_group(self, group, lr, momentum) -> None:
        """``_update`` of each parameter of ``group``, eagerly with float settings: the
        fast path's checks and state look-ups once per parameter, in one loop (a step's
        Python time per parameter: 25 us before, on 4-element parameters)."""
        settings = (lr, momentum, group["dampening"], group["weight_decay"], group["nesterov"])
        maximize = group["maximize"]
        with_momentum = group["momentum"] != 0
        state, hidden = self.state, self._hidden_state
        for p in group["params"]:
            grad = p._grad  # (no trace: the attribute ``p.grad`` reads)
            if grad is None:
                continue
            buf = step = None
            if with_momentum:
                buf = state[p].get("momentum_buffer")
                step = hidden[p].get("step")
                if buf is None or step is None:
                    self._update(p, grad, group, lr, momentum)  # (creates the state)
                    continue
            if not plain_arrays(p, grad, buf, step):
                self._update(p, grad, group, lr, momentum)
                continue
            g = -grad._data if maximize else grad._data
            first = step is not None and step._data == 0
            scratch = self._scratch(p._data)
            _sgd_numpy(p._data, g, None if buf is None else buf._data, first, *settings, scratch)
            p._vc[0] += 1
            if buf is not None:
                buf._vc[0] += 1
                store(step, step._data + 1)

    def _update(self, p, grad, group, lr, momentum) -> None:
        if grad.is_sparse:  # nn.Embedding(sparse=True)
            return self._sparse_update(p, grad, group, lr, momentum)
        buf = step = None
        if group["momentum"] != 0:  # (a live momentum's zero-ness is guarded)
            buf = self._state_tensor(p, "momentum_buffer", lambda: kiln.zeros_like(p))
            # (PyTorch's state has the buffer only; the step count is kiln's own)
            step = self._state_tensor(p, "step", lambda: kiln.tensor(0.0), hidden=True)
        settings = (lr, momentum, group["dampening"], group["weight_decay"], group["nesterov"])
        counts = () if step is None else (step,)
        if is_float(lr) and is_float(momentum) and eager_arrays((p, grad, buf), counts):
            # eagerly on CPU arrays: sgd_math's operations, written in place (optim/fast.py)
            g = -grad._data if group["maximize"] else grad._data
            first = step is not None and step._data == 0
            scratch = self._scratch(p._data)
            _sgd_numpy(p._data, g, None if buf is None else buf._data, first, *settings, scratch)
            for t in (buf, p):
                if t is not None:
                    t._vc[0] += 1
            if step is not None:
                store(step, step._data + 1)
            return
        g = -grad if group["maximize"] else grad
        first = None if step is None else step == 0
        new_p, new_buf = sgd_math(KILN, p, g, buf, first, *settings)
        if buf is not None:
            buf.copy_(new_buf)
            step.add_(1)
        p.copy_(new_p)

    def _sparse_update(self, p, grad, group, lr, momentum) -> None:
        """PyTorch's update with a sparse (COO) gradient: the momentum buffer is a sparse
        clone of the first gradient, then ``buf * momentum + g * (1 - dampening)``; weight
        decay raises, as PyTorch's ``add(sparse, dense)``."""
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        if group["momentum"] != 0:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = g.clone().detach()
            else:
                buf = buf * momentum + g * (1 - group["dampening"])
            state["momentum_buffer"] = buf
            g = g + buf * momentum if group["nesterov"] else buf
        p.copy_(kiln.add(p, g, alpha=-lr))  # (PyTorch's add_ of a sparse gradient)

    def _upgrade_state(self, p, st) -> None:
        # A loaded momentum buffer has been through at least one step.
        if st.get("momentum_buffer") is not None:
            step = self._state_tensor(p, "step", lambda: kiln.tensor(1.0), hidden=True)
            with kiln.no_grad():
                step.fill_(max(float(step), 1.0))


def sgd_math(xp, p, g, buf, first, lr, momentum, dampening, weight_decay, nesterov):
    """One SGD update of parameter ``p`` with gradient ``g`` (``-grad`` to maximize) and
    momentum buffer ``buf`` (``None`` without momentum; ``first``: whether this is its first
    step): the new ``(p, buf)``, as kiln tensors or NumPy arrays (``xp``, optim/fast.py)."""
    if weight_decay != 0:
        g = g + p * weight_decay
    if buf is not None:
        later = buf * momentum + g * (1 - dampening)
        buf = xp.where(first, g, later)
        g = g + buf * momentum if nesterov else buf
    return p + g * -lr, buf


def _sgd_numpy(p, g, buf, first, lr, momentum, dampening, weight_decay, nesterov, scratch):
    """``sgd_math`` on NumPy arrays, storing the new ``buf`` and ``p`` in place: the same
    operations on the same operands, so the same bits (tests/test_eager_fast.py), with no
    new array (``scratch``: an array like ``p`` for the products; fresh megabyte arrays
    cost page faults in the middle of a training step)."""
    if weight_decay != 0:
        g = np.add(g, np.multiply(p, weight_decay, out=scratch))  # a new g: not the grad's
    if buf is not None:
        if first:  # where(first, g, later): g
            np.copyto(buf, g)
        else:  # later = buf * momentum + g * (1 - dampening)
            np.multiply(buf, momentum, out=buf)
            if dampening:
                np.add(buf, np.multiply(g, 1 - dampening, out=scratch), out=buf)
            else:  # g * 1.0 is g, bit for bit: one pass less
                np.add(buf, g, out=buf)
        if nesterov:
            g = np.add(g, np.multiply(buf, momentum, out=scratch))
        else:
            g = buf
    np.add(p, np.multiply(g, -lr, out=scratch), out=p)
