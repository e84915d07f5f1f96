"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

Every optimizer in kiln is written so that the *same* ``step()`` runs eagerly and inside a
``kiln.jit`` trace:

* all state lives in tensors that exist before the first traced step (they are created
  eagerly, in ``kiln.escape_trace()``, the first time a parameter is seen) and is updated
  in place, so the compiled step writes it back after every call;
* nothing branches in Python on values that change from step to step (the step count is a
  float tensor, the first-step rules are ``kiln.where``);
* the learning rate is read with ``kiln.tracing.live_scalar``, so a scheduler changing it
  needs no retrace; other hyper-parameters are guarded (changing them retraces).

>>> import kiln
>>> w = kiln.tensor([1.0, 2.0], requires_grad=True)
>>> opt = kiln.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step(); w.tolist()
[0.800000011920929, 1.600000023841858]
"""

from __future__ import annotations

import weakref
from collections import defaultdict

import numpy as np

import kiln
from kiln import tracing

from ..tensor import Tensor


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with ``"params"`` and hyper-parameters).

    Subclasses implement ``step()``; ``state[p]`` is a dict of tensors for parameter ``p``.
    """

    # whether step() reads the momentum through ``_momentum`` (live when cycled)
    live_momentum = False

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                f"Tensors or dicts, but got {kiln.typename(params)}"
            )
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    # -------------------------------------------------------------- groups
    _supports_complex = False  # (an update linear in the gradient: SGD)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with optional per-group hyper-parameters)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, "
                "but the ordering of tensors in sets will change between runs. "
                "Please use a list instead."
            )
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{kiln.typename(p)}"
                )
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if p.dtype.is_complex and not self._supports_complex:
                # (their update squares or divides by the gradient: on complex values that
                # is not PyTorch's rule, which updates the real and imaginary parts as
                # two real parameters)
                raise NotImplementedError(
                    f"{type(self).__name__}: complex parameters are not supported by kiln "
                    f"(got a {p.dtype.name} parameter of shape {list(p.shape)}); SGD "
                    "supports them"
                )
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    f"parameter group didn't specify a value of required "
                    f"optimization parameter {name}"
                )
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # -------------------------------------------------------------- gradients
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to ``None`` by default, as PyTorch)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None  # assigned even when already None: a trace records it
                elif p.grad is not None:
                    p.grad = p.grad.detach()
                    p.grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError

    def _step_each(self, closure, lr_dtype=None):
        """``step()`` for optimizers with a per-parameter ``_update(p, grad, group, lr)``."""
        loss = self._closure_loss(closure)
        self._guard_settings()
        with kiln.no_grad():
            for index, group in enumerate(self.param_groups):
                lr = self._lr(index, lr_dtype)
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, group, lr)
        return loss

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with kiln.enable_grad():
            return closure()

    # -------------------------------------------------------------- helpers for step()
    def _lr(self, group_index: int, dtype=None):
        """The group's learning rate: a float eagerly, a live graph input under tracing."""
        me = weakref.proxy(self)  # a compiled step must not keep the optimizer alive
        return tracing.live_scalar(lambda: me.param_groups[group_index]["lr"], dtype)

    def _momentum(self, group_index: int, dtype=None):
        """The group's momentum (``momentum``, or ``betas[0]`` where the optimizer has
        betas): a float, or a live graph input under tracing when a cyclic scheduler
        (``CyclicLR``, ``OneCycleLR``) changes it every step, so the step is not retraced."""
        group = self.param_groups[group_index]
        key = "betas" if "betas" in self.defaults else "momentum"

        def read():
            value = self.param_groups[group_index][key]
            return value[0] if key == "betas" else value

        if not _cycled(group):
            return read()
        return tracing.live_scalar(read, dtype)

    def _guard_settings(self) -> None:
        """Under tracing: retrace when anything but ``lr`` changes in the groups."""
        if kiln.is_tracing():
            me = weakref.proxy(self)
            tracing.guard(f"{type(self).__name__}@{id(self):x} settings", lambda: me._settings())

    def _settings(self):
        return tuple(
            (len(g["params"]),)
            + tuple(
                (k, _freeze(_live_part(g, k, v) if self.live_momentum else v))
                for k, v in sorted(g.items())
                if k not in ("params", "lr", "initial_lr")
            )
            for g in self.param_groups
        )

    def _state_tensor(self, p: Tensor, name: str, make):
        """``state[p][name]``, created eagerly by ``make()`` the first time it is asked for."""
        st = self.state[p]
        value = st.get(name)
        if value is None:
            with tracing.escape_trace(), kiln.no_grad():
                value = make()
            st[name] = value
        return value

    def _scratch(self, like):
        """An uninitialized array of ``like``'s shape and dtype that the eager NumPy path
        of ``step()`` may overwrite (one per shape and dtype, kept between steps)."""
        scratch = self.__dict__.setdefault("_scratch_arrays", {})
        key = (like.shape, like.dtype)
        out = scratch.get(key)
        if out is None:
            out = scratch[key] = np.empty(like.shape, like.dtype)
        return out

    # -------------------------------------------------------------- state dicts
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = dict(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a ``state_dict()``; existing state tensors are updated in place.

        Updating in place (rather than replacing tensors and group dicts) keeps a compiled
        training step, which captured those tensors, reading the loaded values.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, saved in zip(self.param_groups, groups):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't "
                    "match the size of optimizer's group"
                )
        by_index = {}
        for mine, saved in zip(self.param_groups, groups):
            for p, k in zip(mine["params"], saved["params"]):
                by_index[k] = p
            mine.update({k: v for k, v in saved.items() if k != "params"})
        for key, values in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                continue
            st = self.state[p]
            for name, value in values.items():
                st[name] = _load_value(st.get(name), value, p, name)
            self._upgrade_state(p, st)

    def _upgrade_state(self, p: Tensor, st: dict) -> None:
        """Hook for subclasses: fill state entries a foreign (PyTorch) state dict lacks."""


def _load_value(existing, value, p: Tensor, name: str):
    if not isinstance(value, Tensor):
        value = kiln.tensor(value) if isinstance(value, float) and name == "step" else value
        if not isinstance(value, Tensor):
            return value
    # ``step`` stays float32; everything else takes the parameter's dtype, as in PyTorch.
    dtype = kiln.float32 if name == "step" else p.dtype
    with kiln.no_grad():
        value = value.detach().to(dtype)
        if (
            isinstance(existing, Tensor)
            and tuple(existing.shape) == tuple(value.shape)
            and existing.dtype is value.dtype
        ):
            existing.copy_(value)
            return existing
        return value.clone()


def scalar_as(value, dtype):
    """A Python float as is (a constant), a 0-d tensor cast to ``dtype``.

    PyTorch passes step-dependent factors as Python doubles that its kernels round to the
    parameter's dtype; kiln computes them as float64 tensors (traceable) and rounds the same.
    """
    return value.to(dtype) if isinstance(value, Tensor) else value


def _cycled(group: dict) -> bool:
    """Whether a cyclic scheduler drives this group's momentum (it adds these two keys)."""
    return "base_momentum" in group and "max_momentum" in group


def _live_part(group: dict, key: str, value):
    """What of a setting a compiled step bakes in: all of it, except a cycled momentum, of
    which only whether it is zero (the momentum itself is a live input)."""
    if not _cycled(group):
        return value
    if key == "momentum":
        return value != 0
    if key == "betas":
        return (None, *value[1:])
    return value


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Tensor):
        return id(value)
    return value
