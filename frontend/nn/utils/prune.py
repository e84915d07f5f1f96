"""``kiln.nn.utils.prune``: zero out parts of a parameter through a mask, as PyTorch does.

Pruning ``weight`` renames the parameter to ``weight_orig``, adds a buffer ``weight_mask``
and makes ``weight`` a plain attribute ``weight_orig * weight_mask``, recomputed by a
forward pre-hook before every call (so gradients reach ``weight_orig`` only where the mask
is one). ``remove`` makes the pruning permanent. Pruning a pruned tensor again prunes among
the entries still unpruned, with ``amount`` relative to those.

>>> import kiln
>>> m = kiln.nn.Linear(4, 1)
>>> with kiln.no_grad():
...     _ = m.weight.copy_(kiln.tensor([[0.1, -3.0, 0.2, 4.0]]))
>>> _ = l1_unstructured(m, "weight", amount=0.5)
>>> m.weight.tolist()
[[0.0, -3.0, 0.0, 4.0]]
"""

from __future__ import annotations

import numbers

import numpy as np

import kiln

from ..parameter import Parameter

__all__ = [
    "BasePruningMethod",
    "CustomFromMask",
    "Identity",
    "L1Unstructured",
    "LnStructured",
    "PruningContainer",
    "RandomStructured",
    "RandomUnstructured",
    "custom_from_mask",
    "global_unstructured",
    "identity",
    "is_pruned",
    "l1_unstructured",
    "ln_structured",
    "random_structured",
    "random_unstructured",
    "remove",
]


def _count(amount, n: int) -> int:
    """How many of ``n`` entries ``amount`` (a count or a fraction) prunes."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if isinstance(amount, numbers.Integral):
        if amount < 0:
            raise ValueError(
                f"amount={amount} should either be a float in the range [0, 1] "
                "or a non-negative integer"
            )
        if amount > n:
            raise ValueError(
                f"amount={amount} should be smaller than the number of parameters to prune={n}"
            )
        return int(amount)
    if not 0.0 <= amount <= 1.0:
        raise ValueError(
            f"amount={amount} should either be a float in the range [0, 1] "
            "or a non-negative integer"
        )
    return round(amount * n)


class BasePruningMethod:
    """A way to choose a mask; subclasses define ``compute_mask(t, default_mask)``."""

    PRUNING_TYPE = "unstructured"

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    def compute_mask(self, t, default_mask):
        raise NotImplementedError

    def apply_mask(self, module):
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return orig * mask.to(orig.dtype)

    def prune(self, t, default_mask=None, importance_scores=None):
        scores = t if importance_scores is None else importance_scores
        mask = kiln.ones_like(t) if default_mask is None else default_mask
        return t * self._combined_mask(scores, mask)

    def _combined_mask(self, scores, old_mask):
        """The new mask, chosen among the entries ``old_mask`` keeps (pruning again)."""
        old = np.asarray(old_mask.detach().numpy()) != 0
        if old.all():
            return self.compute_mask(scores, old_mask)
        kept = np.flatnonzero(old.reshape(-1))
        sub_scores = kiln.tensor(np.asarray(scores.detach().numpy()).reshape(-1)[kept])
        sub = np.asarray(self.compute_mask(sub_scores, kiln.ones_like(sub_scores)).numpy())
        new = np.zeros(old.size, dtype=np.asarray(old_mask.numpy()).dtype)
        new[kept] = sub
        return kiln.tensor(new.reshape(old.shape))

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        method = cls(*args, **kwargs)
        method._tensor_name = name
        previous = None
        for key, hook in list(module._forward_pre_hooks.items()):
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                previous = hook
                del module._forward_pre_hooks[key]
        orig = getattr(module, name)
        # the scores are the tensor as it is now: pruning again ranks the already pruned
        # weight (orig * mask), as PyTorch does, not the original (a structured method's
        # slice norms differ)
        scores = orig if importance_scores is None else importance_scores
        if previous is None:
            default_mask = kiln.ones_like(orig)
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
        else:
            orig = getattr(module, name + "_orig")
            default_mask = getattr(module, name + "_mask").detach().clone()
        if tuple(scores.shape) != tuple(orig.shape):
            raise ValueError(
                f"importance_scores should have the same shape as parameter {name} of "
                f"{module}: {list(scores.shape)} vs {list(orig.shape)}"
            )
        with kiln.no_grad():
            mask = method._combined_mask(scores, default_mask)
        module.register_buffer(name + "_mask", mask.to(orig.dtype))
        if previous is not None:  # PyTorch keeps the history in a PruningContainer
            if not isinstance(previous, PruningContainer):
                previous = PruningContainer(previous)
            previous.add_pruning_method(method)
            method = previous
        setattr(module, name, method.apply_mask(module))
        module.register_forward_pre_hook(method)
        return method

    def remove(self, module):
        weight = self.apply_mask(module)
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        module.__dict__.pop(self._tensor_name, None)
        module.register_parameter(self._tensor_name, Parameter(weight.detach()))


class PruningContainer(BasePruningMethod):
    """The pruning methods applied in turn to one tensor (``module.<name>``), oldest first;
    the hook a tensor pruned more than once holds, as in PyTorch."""

    def __init__(self, *args):
        self._pruning_methods: tuple = ()
        if len(args) == 1 and not isinstance(args[0], BasePruningMethod):
            args = tuple(args[0])
        for method in args:
            self.add_pruning_method(method)

    def add_pruning_method(self, method):
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None:
            if self._pruning_methods and self._tensor_name != method._tensor_name:
                raise ValueError(
                    "Can only add pruning methods acting on the parameter named "
                    f"'{self._tensor_name}' to PruningContainer {self}. "
                    f"Found '{method._tensor_name}'"
                )
            self._tensor_name = method._tensor_name
            self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        return self._pruning_methods[-1]._combined_mask(t, default_mask)

    def _combined_mask(self, scores, old_mask):
        return self.compute_mask(scores, old_mask)


class Identity(BasePruningMethod):
    def compute_mask(self, t, default_mask):
        return default_mask


class RandomUnstructured(BasePruningMethod):
    def __init__(self, amount):
        self.amount = amount

    def compute_mask(self, t, default_mask):
        n = t.numel()
        k = _count(self.amount, n)
        mask = default_mask.detach().clone().reshape(-1)
        if k:
            prune_idx = kiln.topk(kiln.rand(n), k).indices
            mask[prune_idx] = 0
        return mask.reshape(t.shape)


class L1Unstructured(BasePruningMethod):
    def __init__(self, amount):
        self.amount = amount

    def compute_mask(self, t, default_mask):
        n = t.numel()
        k = _count(self.amount, n)
        mask = default_mask.detach().clone().reshape(-1)
        if k:
            prune_idx = kiln.topk(kiln.abs(t.detach()).reshape(-1), k, largest=False).indices
            mask[prune_idx] = 0
        return mask.reshape(t.shape)


class _Structured(BasePruningMethod):
    """Prunes whole slices along ``dim`` (channels, rows): the mask is the same for every
    entry of a slice."""

    PRUNING_TYPE = "structured"

    def _check_dim(self, t) -> None:
        if t.ndim <= 1:
            raise ValueError(
                "Structured pruning can only be applied to multidimensional tensors. Found "
                f"tensor of shape {tuple(t.shape)} with {t.ndim} dims"
            )
        if self.dim >= t.ndim or self.dim < -t.ndim:
            raise IndexError(f"Invalid index {self.dim} for tensor of size {tuple(t.shape)}")

    def _channel_scores(self, t):
        raise NotImplementedError

    def compute_mask(self, t, default_mask):
        self._check_dim(t)
        dim = self.dim % t.ndim
        size = t.shape[dim]
        k = _count(self.amount, size)
        if k == 0:
            return default_mask
        keep = self._keep_channels(t, size, k)  # bool (size,)
        shape = [1] * t.ndim
        shape[dim] = size
        channel = kiln.tensor(keep.reshape(shape), dtype=default_mask.dtype)
        return default_mask * channel

    def _combined_mask(self, scores, old_mask):
        """Pruning again prunes among the slices the old mask keeps (any non-zero)."""
        self._check_dim(scores)
        dim = self.dim % scores.ndim
        old = np.asarray(old_mask.detach().numpy()) != 0
        other = tuple(a for a in range(old.ndim) if a != dim)
        alive = old.any(axis=other) if other else old
        if alive.all():
            return self.compute_mask(scores, old_mask)
        kept = np.flatnonzero(alive)
        sub_scores = kiln.tensor(np.take(np.asarray(scores.detach().numpy()), kept, axis=dim))
        sub = np.asarray(self.compute_mask(sub_scores, kiln.ones_like(sub_scores)).numpy())
        new = np.zeros(old.shape, dtype=np.asarray(old_mask.numpy()).dtype)
        index = [slice(None)] * old.ndim
        index[dim] = kept
        new[tuple(index)] = sub
        return kiln.tensor(new * np.asarray(old_mask.numpy()))


class RandomStructured(_Structured):
    """Prunes ``amount`` slices along ``dim`` chosen at random."""

    def __init__(self, amount, dim=-1):
        self.amount, self.dim = amount, dim

    def _keep_channels(self, t, size, k):
        prob = kiln.rand(size)
        threshold = kiln.kthvalue(prob, k).values
        return np.asarray((prob > threshold).numpy())


class LnStructured(_Structured):
    """Prunes the ``amount`` slices along ``dim`` of smallest ``n``-norm."""

    def __init__(self, amount, n, dim=-1):
        self.amount, self.n, self.dim = amount, n, dim

    def _keep_channels(self, t, size, k):
        dim = self.dim % t.ndim
        other = tuple(a for a in range(t.ndim) if a != dim)
        norm = kiln.linalg.vector_norm(t.detach(), self.n, dim=other) if other else t.detach().abs()
        top = kiln.topk(norm, size - k, largest=True).indices
        keep = np.zeros(size, dtype=bool)
        keep[np.asarray(top.numpy())] = True
        return keep


class CustomFromMask(BasePruningMethod):
    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        return default_mask * self.mask.to(default_mask.dtype)

    def _combined_mask(self, scores, old_mask):
        return self.compute_mask(scores, old_mask)


def identity(module, name):
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    """Prune ``amount`` (a count or a fraction) of ``name``'s entries, chosen at random."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    """Prune the ``amount`` entries of ``name`` with the smallest absolute values."""
    L1Unstructured.apply(module, name, amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    """Prune ``amount`` random slices of ``module.name`` along ``dim``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    """Prune the ``amount`` slices of ``module.name`` along ``dim`` with the smallest
    ``n``-norm (of ``importance_scores`` if given)."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module, name, mask):
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prune across several parameters at once: the smallest scores over all of them."""
    parameters = list(parameters)
    importance_scores = importance_scores or {}
    scores, masks = [], []
    for module, name in parameters:
        t = importance_scores.get((module, name), getattr(module, name))
        scores.append(np.asarray(t.detach().numpy()).reshape(-1))
        mask = getattr(module, name + "_mask", None)
        masks.append(
            np.ones(scores[-1].size) if mask is None else np.asarray(mask.numpy()).reshape(-1)
        )
    flat_scores = kiln.tensor(np.concatenate(scores))
    flat_mask = kiln.tensor(np.concatenate(masks).astype(np.float32))
    method = pruning_method(**kwargs)
    method._tensor_name = "global"
    with kiln.no_grad():
        final = np.asarray(method._combined_mask(flat_scores, flat_mask).numpy())
    start = 0
    for (module, name), s in zip(parameters, scores):
        piece = final[start : start + s.size].reshape(tuple(getattr(module, name).shape))
        start += s.size
        custom_from_mask(module, name, kiln.tensor(piece))


def remove(module, name):
    """Make the pruning of ``name`` permanent: a plain parameter holding the masked value."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(
        f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed"
    )


def is_pruned(module) -> bool:
    for m in module.modules():
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False
