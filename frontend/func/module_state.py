"""Modules as functions of their state: ``functional_call`` and ``stack_module_state``.

A transform differentiates or maps over function *arguments*; these let a module's
parameters and buffers be arguments (per-sample gradients, model ensembles).

>>> lin = kiln.nn.Linear(2, 1)
>>> params = {"weight": kiln.ones(1, 2), "bias": kiln.zeros(1)}
>>> functional_call(lin, params, (kiln.tensor([[1.0, 2.0]]),))
tensor([[3.]])
"""

from __future__ import annotations

from collections import OrderedDict

from .. import ops
from ..tensor import Tensor

__all__ = ["functional_call", "stack_module_state"]


def _merge(dicts):
    if isinstance(dicts, dict):
        return dict(dicts)
    if not isinstance(dicts, (tuple, list)):
        raise TypeError(
            "functional_call: expected a dict or a tuple of dicts of tensors, got "
            f"{type(dicts).__name__}"
        )
    merged: dict = {}
    for d in dicts:
        for k, v in d.items():
            if k in merged:
                raise ValueError(
                    f"functional_call: {k!r} appeared in multiple dictionaries; behavior of "
                    "functional call is ambiguous"
                )
            merged[k] = v
    return merged


def _slots(module):
    """``{dotted name: (owning module, table name, leaf name)}`` for every parameter and
    buffer, tied ones under each of their names."""
    slots = {}
    for prefix, sub in module.named_modules(remove_duplicate=False):
        for table in ("_parameters", "_buffers"):
            for leaf, value in sub.__dict__[table].items():
                if value is not None:
                    name = f"{prefix}.{leaf}" if prefix else leaf
                    slots[name] = (sub, table, leaf)
    return slots


def functional_call(
    module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False
):
    """``module(*args, **kwargs)`` with its parameters and buffers replaced by the given
    tensors for the call (torch.func.functional_call). With ``tie_weights``, a value for
    one name of a tied parameter is used for all of its names."""
    values = _merge(parameter_and_buffer_dicts)
    slots = _slots(module)
    if tie_weights:
        by_tensor: dict = {}
        for name, (sub, table, leaf) in slots.items():
            by_tensor.setdefault(id(sub.__dict__[table][leaf]), []).append(name)
        for names in by_tensor.values():
            given = [n for n in names if n in values]
            for n in given[1:]:
                if values[n] is not values[given[0]]:
                    raise ValueError(
                        f"functional_call: {given[0]!r} and {n!r} are tied in the module but "
                        "got different values; pass one of them or tie_weights=False"
                    )
            if given:
                for n in names:
                    values.setdefault(n, values[given[0]])
    unexpected = sorted(set(values) - set(slots))
    missing = sorted(set(slots) - set(values))
    if strict and (unexpected or missing):
        raise RuntimeError(
            f"functional_call: Error(s) in reparametrizing for {type(module).__name__}: "
            f"unexpected keys {unexpected}, missing keys {missing}"
        )
    if unexpected:
        raise RuntimeError(
            f"functional_call: {type(module).__name__} has no parameter or buffer named "
            f"{', '.join(map(repr, unexpected))}"
        )
    for name, value in values.items():
        if not isinstance(value, Tensor):
            raise TypeError(
                f"functional_call: the value for {name!r} must be a tensor, got "
                f"{type(value).__name__}"
            )
    # The swap writes the registries underneath the module's structure epoch (a registry's
    # own __setitem__ bumps it): the structure is the same before and after the call, and a
    # bump inside a jitted function would make every call retrace.
    saved = []
    try:
        for name, value in values.items():
            sub, table, leaf = slots[name]
            store = sub.__dict__[table]
            saved.append((store, leaf, store[leaf]))
            OrderedDict.__setitem__(store, leaf, value)
        if args is None:
            args = ()
        elif not isinstance(args, tuple):
            args = (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for store, leaf, old in reversed(saved):
            OrderedDict.__setitem__(store, leaf, old)


def stack_module_state(models):
    """``(params, buffers)``: each model's parameters and buffers stacked along a new first
    dimension, for ``vmap``-ing ``functional_call`` over an ensemble."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if any(m.training != models[0].training for m in models):
        raise RuntimeError(
            "stack_module_state: Expected all models to have the same training/eval mode."
        )
    first = type(models[0])
    if any(type(m) is not first for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")

    def stacked(named):
        keys = [n for n, _ in named(models[0])]
        out = {}
        for k in keys:
            tensors = [dict(named(m))[k] for m in models]
            s = ops.stack([t.detach() for t in tensors])
            if tensors[0].requires_grad:
                s.requires_grad_()
            out[k] = s
        return out

    params = stacked(lambda m: m.named_parameters())
    buffers = stacked(lambda m: m.named_buffers())
    return params, buffers
