"""``kiln.nn.utils.parametrize``: a module's tensor computed from another one on every read.

``register_parametrization(m, "weight", P)`` moves ``m.weight`` to
``m.parametrizations.weight.original`` and makes ``m.weight`` a property returning
``P(original)``, as PyTorch does: the module's class is swapped for a subclass that holds
the property, so other instances of the class are untouched, and the state dict holds
``parametrizations.weight.original``. Gradients flow to ``original`` through ``P``, which is
any module written in kiln ops (so a jitted step compiles it too).

>>> import kiln
>>> class Symmetric(kiln.nn.Module):
...     def forward(self, x):
...         return x.triu() + x.triu(1).transpose(0, 1)
>>> m = kiln.nn.Linear(3, 3)
>>> _ = register_parametrization(m, "weight", Symmetric())
>>> bool((m.weight == m.weight.T).all())
True
"""

from __future__ import annotations

import contextlib

import kiln

from ..containers import ModuleDict, ModuleList
from ..module import Module
from ..parameter import Parameter

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "transfer_parametrizations_and_params",
    "type_before_parametrizations",
]

_cache_enabled = 0
_cache: dict = {}


@contextlib.contextmanager
def cached():
    """Compute each parametrized tensor once inside the block (a weight shared by several
    layers, or read at every step of a recurrent loop)."""
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and its ``original``."""

    def __init__(self, modules, original, unsafe: bool = False):
        super().__init__(modules)
        self.unsafe = unsafe
        first = modules[0]
        with kiln.no_grad():
            value = original
            if hasattr(first, "right_inverse"):
                try:
                    value = first.right_inverse(original)
                except NotImplementedError:  # as PyTorch: the original is kept as it is
                    pass
        # a right_inverse may split the tensor in several (weight_norm: magnitude and
        # direction), stored as original0, original1, ... as in PyTorch
        self.is_tensor = isinstance(value, kiln.Tensor)
        values = (value,) if self.is_tensor else tuple(value)
        if not all(isinstance(v, kiln.Tensor) for v in values):
            raise ValueError(
                "'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                f"Got {type(value).__name__}"
            )
        self.ntensors = len(values)
        for i, v in enumerate(values):
            name = "original" if self.is_tensor else f"original{i}"
            if isinstance(original, Parameter):
                setattr(self, name, Parameter(v.detach(), original.requires_grad))
            else:
                self.register_buffer(name, v.detach())

    def originals(self) -> tuple:
        if self.is_tensor:
            return (self.original,)
        return tuple(getattr(self, f"original{i}") for i in range(self.ntensors))

    def right_inverse(self, value) -> None:
        """``module.weight = value``: store the ``original`` that gives ``value``."""
        with kiln.no_grad():
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(
                        f"parametrization {type(module).__name__} does not implement right_inverse."
                    )
                value = module.right_inverse(value)
            values = (value,) if self.is_tensor else tuple(value)
            if len(values) != self.ntensors:
                raise ValueError(
                    f"'right_inverse' must return a sequence of tensors of length "
                    f"{self.ntensors}. Got a sequence of length {len(values)}"
                )
            for stored, v in zip(self.originals(), values):
                if tuple(v.shape) != tuple(stored.shape) and not self.unsafe:
                    raise RuntimeError(
                        f"right_inverse returned a tensor of shape {list(v.shape)}; "
                        f"expected {list(stored.shape)}"
                    )
                stored.copy_(v)

    def forward(self):
        x = self[0](*self.originals())
        for module in list(self)[1:]:
            x = module(x)
        return x


def _make_property(name: str):
    def getter(self):
        plist = self.parametrizations[name]
        if _cache_enabled:
            key = (id(self), name)
            if key not in _cache:
                _cache[key] = plist()
            return _cache[key]
        return plist()

    def setter(self, value):
        self.parametrizations[name].right_inverse(value)

    return property(getter, setter)


def _inject_new_class(module: Module) -> None:
    cls = module.__class__
    new_cls = type(f"Parametrized{cls.__name__}", (cls,), {"_orig_class": cls})
    module.__class__ = new_cls


def register_parametrization(module: Module, tensor_name: str, parametrization, *, unsafe=False):
    """Make ``module.<tensor_name>`` the result of ``parametrization`` on a stored original
    (a second registration on the same tensor chains after the first)."""
    if not isinstance(parametrization, Module):
        raise TypeError(
            f"register_parametrization: the parametrization must be an nn.Module, got "
            f"{type(parametrization).__name__}"
        )
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        if not unsafe:
            current = getattr(module, tensor_name)
            new = parametrization(current)
            if tuple(new.shape) != tuple(current.shape) or new.dtype is not current.dtype:
                raise ValueError(
                    "Registering a parametrization may not change the shape or dtype of the "
                    f"tensor: {tensor_name} is {current.dtype.name}{list(current.shape)}, the "
                    f"parametrization returned {new.dtype.name}{list(new.shape)}"
                )
        plist.append(parametrization)
        return module
    original = module._parameters.get(tensor_name)
    if original is None:
        original = module._buffers.get(tensor_name)
    if original is None:
        raise ValueError(
            f"Module '{type(module).__name__}' does not have a parameter, a buffer, or a "
            f"parametrized element with name '{tensor_name}'"
        )
    if not unsafe:
        out = parametrization(original)
        if not isinstance(out, kiln.Tensor):
            raise ValueError(f"A parametrization must return a tensor. Got {type(out).__name__}.")
        if tuple(out.shape) != tuple(original.shape) or out.dtype is not original.dtype:
            raise ValueError(
                "Registering a parametrization may not change the shape or dtype of the "
                f"tensor: {tensor_name} is {original.dtype.name}{list(original.shape)}, the "
                f"parametrization returned {out.dtype.name}{list(out.shape)}"
            )
    plist = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = plist
    setattr(module.__class__, tensor_name, _make_property(tensor_name))
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    plists = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(plists, ModuleDict):
        return False
    return len(plists) > 0 if tensor_name is None else tensor_name in plists


def type_before_parametrizations(module: Module) -> type:
    return module._orig_class if is_parametrized(module) else type(module)


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True):
    """Undo ``register_parametrization``: the tensor becomes a plain parameter again, holding
    the parametrized value (``leave_parametrized=True``) or the original."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    original = plist.originals()[0]
    if not plist.is_tensor and not leave_parametrized:
        raise ValueError(
            "Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
            "parametrized in terms of a sequence of tensors."
        )
    with kiln.no_grad():
        value = plist() if leave_parametrized else original
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    if isinstance(original, Parameter):
        setattr(module, tensor_name, Parameter(value.detach(), original.requires_grad))
    else:
        module.register_buffer(tensor_name, value.detach())
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module._orig_class
    return module


def transfer_parametrizations_and_params(from_module, to_module, tensor_name=None):
    """Copy the parametrizations (and originals) of ``from_module`` onto ``to_module``."""
    names = [tensor_name] if tensor_name is not None else list(from_module.parametrizations)
    for name in names:
        plist = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            with kiln.no_grad():
                value = plist()
            to_module.register_parameter(name, Parameter(kiln.zeros_like(value)))
        for p in plist:
            register_parametrization(to_module, name, p, unsafe=True)
        with kiln.no_grad():
            for target, source in zip(
                to_module.parametrizations[name].originals(), plist.originals()
            ):
                target.copy_(source)
    return to_module
