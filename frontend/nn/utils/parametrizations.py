"""``kiln.nn.utils.parametrizations``: ``weight_norm`` and ``spectral_norm`` as
parametrizations (PyTorch's current forms; the hook-based ones are in ``weight_norm.py`` and
``spectral_norm.py``).

``weight_norm`` stores ``parametrizations.weight.original0`` (the magnitude ``g``) and
``original1`` (the direction ``v``); ``spectral_norm`` stores ``original`` and keeps the
power iteration's vectors ``_u``/``_v`` as buffers of the parametrization, so state dicts
have PyTorch's keys.

>>> import kiln
>>> m = weight_norm(kiln.nn.Linear(3, 2))
>>> m.parametrizations.weight.original0.shape
kiln.Size([2, 1])
"""

from __future__ import annotations

import kiln
from kiln import ops

from .. import functional as F
from ..conv_layers import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..module import Module
from . import parametrize
from .weight_norm import norm_except_dim

__all__ = ["spectral_norm", "weight_norm"]


class _WeightNorm(Module):
    """``weight = g * v / ||v||``, the norm over every axis but ``dim``."""

    def __init__(self, dim: int | None = 0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / norm_except_dim(weight_v, 2, self.dim))

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize ``module.<name>`` by a magnitude and a direction (Salimans & Kingma).

    ``dim=None`` takes the norm of the whole tensor.
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def _weight_norm_compat_hook(state_dict, prefix, *_):
        # a checkpoint of the hook form (name_g, name_v) loads into the parametrization
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module._register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


class _SpectralNorm(Module):
    """``weight / sigma``, ``sigma`` the largest singular value of ``weight`` as a matrix
    (``dim`` first, the rest flattened), estimated by power iteration on ``_u``/``_v``.

    In training mode each call first runs ``n_power_iterations`` steps (without gradient,
    updating the buffers in place); ``sigma = u . (W v)`` then carries the gradient.
    """

    def __init__(self, weight, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                "Dimension out of range (expected to be in range of "
                f"[-{ndim}, {ndim - 1}] but got {dim})"
            )
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but "
                f"got n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with kiln.no_grad():
                weight_mat = self._reshape_weight_to_matrix(weight.detach())
                h, w = weight_mat.shape
                u = kiln.empty(h, dtype=weight.dtype).normal_(0, 1)
                v = kiln.empty(w, dtype=weight.dtype).normal_(0, 1)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = ops.permute(
                weight, [self.dim] + [d for d in range(weight.ndim) if d != self.dim]
            )
        return ops.flatten(weight, 1)

    def _power_method(self, weight_mat, n_power_iterations: int) -> None:
        with kiln.no_grad():
            weight_mat = weight_mat.detach() if weight_mat._node is None else weight_mat
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(ops.mv(weight_mat, self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(ops.mv(weight_mat.T, self._u), dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = ops.dot(u, ops.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Divide ``module.<name>`` by its spectral norm (Miyato et al.), re-estimated at each
    training-mode read. ``dim`` defaults to 1 for transposed convolutions, else 0."""
    weight = getattr(module, name, None)
    if not isinstance(weight, kiln.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        transposed = (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)
        dim = 1 if isinstance(module, transposed) else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module
