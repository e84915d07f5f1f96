"""``kiln.amp``: the automatic-mixed-precision surface of PyTorch's AMP recipe.

``GradScaler`` is PyTorch's: it multiplies the loss by a scale, unscales the gradients
before the step, skips steps whose gradients overflowed (inf/NaN) and adapts the scale.
``autocast`` is PyTorch's autocast on the CPU (bfloat16 or float16; see its docstring).

>>> import kiln
>>> w = kiln.ones(2, requires_grad=True)
>>> opt = kiln.optim.SGD([w], lr=0.1)
>>> scaler = GradScaler("cpu", init_scale=4.0)
>>> scaler.scale((w * 3).sum()).backward()
>>> w.grad.tolist()
[12.0, 12.0]
>>> scaler.step(opt); scaler.update()
>>> w.tolist()
[0.699999988079071, 0.699999988079071]
"""

from __future__ import annotations

import functools
import warnings

import kiln

from . import dispatch

__all__ = [
    "GradScaler",
    "autocast",
    "custom_bwd",
    "custom_fwd",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_enabled",
]


class autocast:  # noqa: N801 - PyTorch's name
    """``with autocast("cpu", dtype=kiln.bfloat16):`` runs PyTorch's CPU autocast op lists
    in mixed precision (``@autocast_op`` in kiln.dispatch marks each op):

    * lower precision (floating inputs, float64 excepted, cast to the region's dtype):
      matmul, ``@``, mm, bmm, addmm, baddbmm, addbmm, linear, conv1d/2d/3d,
      conv_transpose1d/2d/3d, prelu, linalg.vecdot, scaled_dot_product_attention, and
      what PyTorch decomposes into bmm (a contracting einsum, tensordot, multi_dot);
    * float32 (16-bit inputs cast up): the losses, prod, trace, cdist, quantile, the
      linalg decompositions and solvers, the 3-d pools, grid_sample;
    * promote (to float32 when any input is float32): cat, stack, index_copy;
    * on neither list: type promotion as usual; mv, dot, vdot, addmv, outer and 1-D inner
      run in their inputs' dtype (kernels of their own in PyTorch).

    Regions nest (the innermost wins; ``enabled=False`` turns autocast off inside), are per
    thread, and work as decorators; ``cache_enabled`` is accepted (PyTorch's cast cache
    changes no result). On the CPU the dtype is bfloat16 (the default) or float16, as
    PyTorch's; ``"cuda"`` without CUDA warns and disables. Under ``kiln.jit`` the same
    casts are traced (and the trace is guarded on the autocast state); 16-bit values compile
    as float32 with a rounding cast where eager mode rounds.

    >>> a = kiln.ones(2, 3)
    >>> with autocast("cpu"):
    ...     (a @ a.T).dtype, (a + a).dtype
    (kiln.bfloat16, kiln.float32)
    """

    def __init__(
        self, device_type: str = "cuda", dtype=None, enabled: bool = True, cache_enabled=None
    ):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in ("cpu", "cuda"):
            raise RuntimeError(
                f"User specified an unsupported autocast device_type '{device_type}'"
            )
        self.device = self.device_type = device_type
        if dtype is None:
            dtype = dispatch.autocast_state(device_type)[1]
        self.fast_dtype = kiln.dtypes.as_dtype(dtype)
        self._enabled = bool(enabled)
        if self._enabled and device_type == "cuda" and not kiln.cuda.is_available():
            warnings.warn(
                "User provided device_type of 'cuda', but CUDA is not available. Disabling",
                stacklevel=2,
            )
            self._enabled = False
        if self._enabled and device_type == "cpu" and self.fast_dtype not in _CPU_DTYPES:
            warnings.warn(
                "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                "CPU Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.",
                stacklevel=2,
            )
            self._enabled = False
        self._previous = []

    def __enter__(self):
        self._previous.append(
            dispatch.set_autocast_state(self.device_type, self._enabled, self.fast_dtype)
        )
        return self

    def __exit__(self, *exc):
        enabled, dtype = self._previous.pop()
        dispatch.set_autocast_state(self.device_type, enabled, dtype)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapper


_CPU_DTYPES = (kiln.dtypes.bfloat16, kiln.dtypes.float16)


def is_autocast_available(device_type: str) -> bool:
    return device_type in ("cpu", "cuda")


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether this thread is in an enabled autocast region for ``device_type`` (PyTorch's
    ``torch.is_autocast_enabled``; without an argument: CUDA's, as PyTorch)."""
    return dispatch.autocast_state(device_type or "cuda")[0]


def get_autocast_dtype(device_type: str):
    return dispatch.autocast_state(device_type)[1]


# PyTorch's functional autocast controls (what ``autocast`` does on entering and leaving)
def set_autocast_enabled(device_type, enabled=None) -> None:
    """``set_autocast_enabled("cpu", True)``; the old form ``set_autocast_enabled(True)``
    is CUDA's."""
    if enabled is None:
        device_type, enabled = "cuda", device_type
    dispatch.set_autocast_state(device_type, enabled, get_autocast_dtype(device_type))


def set_autocast_dtype(device_type: str, dtype) -> None:
    enabled = is_autocast_enabled(device_type)
    dispatch.set_autocast_state(device_type, enabled, kiln.dtypes.as_dtype(dtype))


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"torch.{old}() is deprecated. Please use torch.{new} instead.",
        DeprecationWarning,
        stacklevel=3,
    )


def is_autocast_cpu_enabled() -> bool:
    _deprecated("is_autocast_cpu_enabled", "is_autocast_enabled('cpu')")
    return is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    _deprecated("set_autocast_cpu_enabled", "set_autocast_enabled('cpu', enabled)")
    set_autocast_enabled("cpu", enabled)


def get_autocast_cpu_dtype():
    _deprecated("get_autocast_cpu_dtype", "get_autocast_dtype('cpu')")
    return get_autocast_dtype("cpu")


def set_autocast_cpu_dtype(dtype) -> None:
    _deprecated("set_autocast_cpu_dtype", "set_autocast_dtype('cpu', dtype)")
    set_autocast_dtype("cpu", dtype)


def get_autocast_gpu_dtype():
    _deprecated("get_autocast_gpu_dtype", "get_autocast_dtype('cuda')")
    return get_autocast_dtype("cuda")


def set_autocast_gpu_dtype(dtype) -> None:
    _deprecated("set_autocast_gpu_dtype", "set_autocast_dtype('cuda', dtype)")
    set_autocast_dtype("cuda", dtype)


def get_autocast_ipu_dtype():
    return kiln.float16


def get_autocast_xla_dtype():
    return kiln.bfloat16


_CACHE_ENABLED = [True]


def is_autocast_cache_enabled() -> bool:
    return _CACHE_ENABLED[0]


def set_autocast_cache_enabled(enabled: bool) -> None:
    # (kiln casts anew each time: the cache changes no result, only PyTorch's speed)
    _CACHE_ENABLED[0] = bool(enabled)


def clear_autocast_cache() -> None:
    """Nothing to clear: kiln keeps no cache of autocast's casts."""


_NESTING = [0]


def autocast_increment_nesting() -> int:
    _NESTING[0] += 1
    return _NESTING[0]


def autocast_decrement_nesting() -> int:
    _NESTING[0] -= 1
    return _NESTING[0]


def custom_fwd(fwd=None, *, device_type="cuda", cast_inputs=None):
    """PyTorch's ``torch.amp.custom_fwd``: with ``cast_inputs``, run ``fwd`` with autocast
    off and its floating tensor arguments cast to ``cast_inputs``."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def wrapper(*args, **kwargs):
        if cast_inputs is None or not is_autocast_enabled(device_type):
            return fwd(*args, **kwargs)

        def conv(v):
            if isinstance(v, kiln.Tensor) and v.is_floating_point():
                return v.to(cast_inputs)
            return v

        with autocast(device_type, enabled=False):
            return fwd(*[conv(a) for a in args], **{k: conv(v) for k, v in kwargs.items()})

    return wrapper


def custom_bwd(bwd=None, *, device_type="cuda"):
    return bwd if bwd is not None else (lambda f: f)


class GradScaler:
    """Loss scaling with dynamic adjustment (PyTorch's ``torch.amp.GradScaler``)."""

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ):
        self._device = device
        self._enabled = enabled
        if enabled and device == "cuda" and not kiln.cuda.is_available():
            warnings.warn(
                "torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                stacklevel=2,
            )
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
        self._scale = float(init_scale)
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict] = {}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def scale(self, outputs):
        """``outputs`` (a tensor, or an iterable of them) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, kiln.Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": "ready", "found_inf": False})

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale (in place) and note any inf/NaN."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == "unscaled":
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        if state["stage"] == "stepped":
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = 1.0 / self._scale
        found_inf = False
        with kiln.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    p.grad.mul_(inv_scale)
                    if not found_inf and not bool(kiln.isfinite(p.grad).all()):
                        found_inf = True
        state["found_inf"] = found_inf
        state["stage"] = "unscaled"

    def step(self, optimizer, *args, **kwargs):
        """Unscale (unless done), then ``optimizer.step()`` unless a gradient overflowed."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        state = self._state(optimizer)
        if state["stage"] == "stepped":
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == "ready":
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = "stepped"
        return result

    def update(self, new_scale=None) -> None:
        """Halve the scale after an overflow; double it after ``growth_interval`` clean
        steps; or set it to ``new_scale``."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(
                new_scale.item() if isinstance(new_scale, kiln.Tensor) else new_scale
            )
        else:
            if not self._per_optimizer:
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(s["found_inf"] for s in self._per_optimizer.values()):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a "
                "disabled instance of GradScaler."
            )
        self._scale = float(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._growth_tracker = state_dict["_growth_tracker"]
