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

import functools
import warnings
import weakref
from collections import OrderedDict, defaultdict
from itertools import chain

import numpy as np

import kiln
from kiln import tracing

from ..sparse import _ENABLED as _SPARSE_SEEN
from ..tensor import Tensor
from ..utils.hooks import RemovableHandle

# hooks every optimizer runs around ``step()`` (``register_optimizer_step_pre_hook``)
_global_optimizer_pre_hooks: OrderedDict = OrderedDict()
_global_optimizer_post_hooks: OrderedDict = OrderedDict()


def register_optimizer_step_pre_hook(hook) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run before every optimizer's step."""
    handle = RemovableHandle(_global_optimizer_pre_hooks)
    _global_optimizer_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run after every optimizer's step."""
    handle = RemovableHandle(_global_optimizer_post_hooks)
    _global_optimizer_post_hooks[handle.id] = hook
    return handle


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _forget(table, p, name, had) -> None:
    """Undo ``_state_tensor``'s creation of ``table[p][name]`` (a failed kiln.jit trace)."""
    st = table.get(p)
    if st is not None:
        st.pop(name, None)
        if not st and not had:
            del table[p]


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with ``"params"`` and hyper-parameters).

    Subclasses implement ``step()``; ``state[p]`` is a dict of tensors for parameter ``p``.
    """

    # whether step() reads the momentum through ``_momentum`` (live when cycled)
    live_momentum = False
    # whether step() takes sparse (COO) gradients (SGD, SparseAdam); others raise
    takes_sparse_gradients = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__ and not getattr(cls.__dict__["step"], "_hooked", False):
            cls.step = _hooked_step(cls.__dict__["step"])

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()
        self.state: defaultdict = defaultdict(dict)
        # kiln's own per-parameter tensors that PyTorch's state lacks (SGD's step count)
        self._hidden_state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                f"Tensors or dicts, but got {kiln.typename(params)}"
            )
        _check_flags(type(self).__name__, self.defaults)
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        self._building = True  # (the warnings' stack level: the constructor's caller)
        try:
            for group in param_groups:
                self.add_param_group(dict(group))
        finally:
            del self._building

    def __getstate__(self) -> dict:
        return {
            "defaults": self.defaults,
            "state": self.state,
            "param_groups": self.param_groups,
            "_hidden_state": self._hidden_state,
        }

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for name in (
            "_optimizer_step_pre_hooks",
            "_optimizer_step_post_hooks",
            "_optimizer_state_dict_pre_hooks",
            "_optimizer_state_dict_post_hooks",
            "_optimizer_load_state_dict_pre_hooks",
            "_optimizer_load_state_dict_post_hooks",
        ):
            self.__dict__.setdefault(name, OrderedDict())
        self.__dict__.setdefault("_hidden_state", defaultdict(dict))

    def __repr__(self) -> str:
        # PyTorch's layout, keys sorted; a 0-d tensor (a tensor ``lr``) prints as its value
        text = f"{type(self).__name__} ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(k for k in group if k != "params"):
                text += f"    {key}: {group[key]}\n"
        return text + ")"

    # -------------------------------------------------------------- hooks
    def register_step_pre_hook(self, hook) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` before each ``step()``; it may return new
        ``(args, kwargs)``. (Under ``kiln.jit`` hooks run when the step is traced.)"""
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` after each ``step()``."""
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    def register_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` before ``state_dict()`` builds its result."""
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` after ``state_dict()``; may return a new one."""
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` before loading; may return the dict to load."""
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` after ``load_state_dict()``."""
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # -------------------------------------------------------------- groups
    _supports_complex = False  # (an update linear in the gradient: SGD)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with optional per-group hyper-parameters)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a list "
                "instead."
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = params
        if names:
            if len(names) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names "
                    "are missing"
                )
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{kiln.typename(p)}"
                )
            if not p.is_leaf and not getattr(p, "retains_grad", False):
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
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        _check_group(type(self).__name__, param_group)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=4 if self.__dict__.get("_building") else 2,
            )
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

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
        return tracing.live_scalar(lambda: _number(me.param_groups[group_index]["lr"]), dtype)

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
        """Under tracing: retrace when anything but ``lr`` changes in the groups.

        Also PyTorch's refusal of ``capturable=True`` for CPU parameters."""
        for group in self.param_groups:
            if group.get("capturable") and any(
                getattr(p.device, "type", "cpu") == "cpu" for p in group["params"]
            ):
                raise AssertionError(
                    "If capturable=True, params and state_steps must be on supported "
                    "devices: ['cuda', 'xpu', 'hpu', 'privateuseone', 'xla']."
                )
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

    def _state_tensor(self, p: Tensor, name: str, make, hidden: bool = False):
        """``state[p][name]``, created eagerly by ``make()`` the first time it is asked for
        (``hidden``: kept out of ``state``, for kiln's own tensors PyTorch has not)."""
        table = self._hidden_state if hidden else self.state
        had = p in table
        st = table[p]
        value = st.get(name)
        if value is None:
            trace = tracing.current_trace()
            with tracing.escape_trace(), kiln.no_grad():
                value = make()
            st[name] = value
            if trace is not None and hasattr(trace, "undo_on_failure"):  # a failed trace:
                trace.undo_on_failure(functools.partial(_forget, table, p, name, had))
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
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, as
        PyTorch's: parameters numbered in group order, state values the live tensors."""
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        out = {"state": state, "param_groups": groups}
        for hook in self._optimizer_state_dict_post_hooks.values():
            result = hook(self, out)
            if result is not None:
                out = result
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a ``state_dict()`` (kiln's or PyTorch's, with tensors converted to kiln's);
        existing state tensors are updated in place.

        Updating in place (rather than replacing tensors and group dicts) keeps a compiled
        training step, which captured those tensors, reading the loaded values.
        """
        state_dict = dict(state_dict)
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, saved in zip(self.param_groups, groups):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    "of optimizer's group"
                )
        by_index = {}
        for mine, saved in zip(self.param_groups, groups):
            for p, k in zip(mine["params"], saved["params"]):
                by_index[k] = p
            # PyTorch replaces each group by the saved one: a key the saved group lacks (a
            # scheduler's initial_lr added later) goes, except the optimizer's own options
            stale = [k for k in mine if k not in saved and k not in self.defaults]
            for k in stale:
                if k not in ("params", "param_names"):
                    del mine[k]
            mine.update({k: v for k, v in saved.items() if k not in ("params", "param_names")})
        # ... and its state: a parameter without saved state loses what it had (momentum
        # buffers made after the state_dict was taken must not survive a restore)
        kept = {id(by_index.get(int(key))) for key in state_dict["state"]}
        for p in [p for p in self.state if id(p) not in kept]:
            del self.state[p]
            self._hidden_state.pop(p, None)  # (kiln's own step counters go with it)
        for key, values in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                continue
            st = self.state[p]
            for name, value in values.items():
                st[name] = _load_value(st.get(name), value, p, name)
            self._upgrade_state(p, st)
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

    def _upgrade_state(self, p: Tensor, st: dict) -> None:
        """Hook for subclasses: fill kiln's hidden state from a loaded one."""


def _refuse_sparse_gradients(optimizer) -> None:
    """PyTorch's error of an optimizer without a sparse-gradient path (kiln.sparse)."""
    name = type(optimizer).__name__
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and p.grad.is_sparse:
                hint = ", please consider SparseAdam instead" if name == "Adam" else ""
                if name == "Adagrad":  # (PyTorch's Adagrad has one; kiln's not)
                    raise NotImplementedError(
                        "Adagrad: sparse gradients are not supported by kiln (layout "
                        "kiln.sparse_coo); use SGD or SparseAdam"
                    )
                raise RuntimeError(f"{name} does not support sparse gradients{hint}")


def _hooked_step(step):
    """``step`` running the step pre/post hooks around it (once, however it is nested) and
    noting that the optimizer stepped (``LRScheduler`` warns otherwise)."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if self.__dict__.get("_in_step"):
            return step(self, *args, **kwargs)
        for hook in chain(
            _global_optimizer_pre_hooks.values(), self._optimizer_step_pre_hooks.values()
        ):
            result = hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(
                        f"{step} must return None or a tuple of (new_args, new_kwargs), "
                        f"but got {result}."
                    )
        if _SPARSE_SEEN and not self.takes_sparse_gradients:  # (only once one exists)
            _refuse_sparse_gradients(self)
        self._in_step = True
        try:
            out = step(self, *args, **kwargs)
        finally:
            self._in_step = False
        self._opt_called = True
        for hook in chain(
            self._optimizer_step_post_hooks.values(), _global_optimizer_post_hooks.values()
        ):
            hook(self, args, kwargs)
        return out

    wrapper._hooked = True
    return wrapper


def _register(hooks: OrderedDict, hook, prepend: bool) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def _check_flags(name: str, defaults: dict) -> None:
    """PyTorch's implementation switches: ``foreach`` and ``fused`` choose how PyTorch
    loops over the tensors (kiln's step is one; they are kept and ignored);
    ``differentiable=True`` asks for a step autograd can go through, which kiln's is not."""
    if defaults.get("fused") and defaults.get("differentiable"):
        raise RuntimeError("`fused` does not support `differentiable`")
    if defaults.get("fused") and defaults.get("foreach"):
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if defaults.get("differentiable"):
        raise NotImplementedError(
            f"{name}(differentiable=True) is not supported by kiln: its optimizer steps run "
            "under no_grad, so autograd cannot differentiate through them"
        )


def _check_group(name: str, group: dict) -> None:
    lr = group.get("lr")
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if group.get("differentiable"):
        _check_flags(name, group)


def _number(value):
    """A hyper-parameter as a Python number (a 1-element tensor ``lr`` as its value)."""
    return value.item() if isinstance(value, Tensor) else value


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
