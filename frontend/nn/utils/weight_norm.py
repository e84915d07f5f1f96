"""``kiln.nn.utils.weight_norm``: ``w = g * v / ||v||`` (Salimans & Kingma), PyTorch's older
hook-based form: ``weight`` becomes ``weight_g`` (magnitude) and ``weight_v`` (direction),
and a forward pre-hook recomputes ``weight`` before each call.

>>> import kiln
>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", FutureWarning)  # PyTorch's deprecation, kept
...     m = weight_norm(kiln.nn.Linear(20, 40))
>>> m.weight_g.shape, m.weight_v.shape
(kiln.Size([40, 1]), kiln.Size([40, 20]))
"""

from __future__ import annotations

import warnings

import kiln
from kiln import ops

from ..parameter import Parameter

__all__ = ["WeightNorm", "norm_except_dim", "remove_weight_norm", "weight_norm"]


def norm_except_dim(v, pow: float = 2, dim: int = 0):  # noqa: A002 - PyTorch's name
    """The norm over every axis but ``dim``, keeping ``v``'s rank (``dim=-1``: the whole
    tensor, a PyTorch quirk kept for state-dict compatibility)."""
    if dim == -1:
        return ops.norm(v, pow)
    dim = dim % v.ndim
    axes = tuple(a for a in range(v.ndim) if a != dim)
    return ops.sum(ops.abs(v) ** pow, dim=axes, keepdim=True) ** (1.0 / pow)


class WeightNorm:
    """The forward pre-hook that recomputes ``name`` from ``name_g`` and ``name_v``."""

    def __init__(self, name: str, dim: int):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / norm_except_dim(v, 2, self.dim))

    @staticmethod
    def apply(module, name: str, dim: int) -> WeightNorm:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two weight_norm hooks on the same parameter {name}"
                )
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        with kiln.no_grad():
            g = norm_except_dim(weight, 2, fn.dim)
        module.register_parameter(name + "_g", Parameter(g.detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module) -> None:
        weight = self.compute_weight(module)
        module.__dict__.pop(self.name, None)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name: str = "weight", dim: int = 0):
    """Split ``module.<name>`` into magnitude ``<name>_g`` and direction ``<name>_v``."""
    warnings.warn(
        "`kiln.nn.utils.weight_norm` is deprecated in favor of "
        "`kiln.nn.utils.parametrizations.weight_norm`.",
        FutureWarning,
        stacklevel=2,
    )
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name: str = "weight"):
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
