"""``kiln.nn.utils.parametrizations``: ``orthogonal``, and ``weight_norm`` and
``spectral_norm`` as parametrizations (PyTorch's current forms; the hook-based ones are in
``weight_norm.py`` and ``spectral_norm.py``).

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

from enum import Enum, auto

import numpy as np

import kiln
from kiln import ops

from .. import functional as F
from ..conv_layers import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..module import Module
from . import parametrize
from .weight_norm import norm_except_dim

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def _numpy(t) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def _is_orthogonal(q: np.ndarray) -> bool:
    """``Q^T Q == I`` to ``10 n eps`` (PyTorch's test before keeping an assigned matrix)."""
    n, k = q.shape[-2:]
    eps = 10.0 * n * np.finfo(q.dtype).eps
    return bool(np.allclose(np.swapaxes(q, -1, -2) @ q, np.eye(k), rtol=1e-5, atol=eps))


def _make_orthogonal(a: np.ndarray) -> np.ndarray:
    """The ``Q`` of ``A = QR`` with ``diag(R) >= 0`` (``A`` square or tall)."""
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def _geqrf(a: np.ndarray):
    """LAPACK's ``geqrf`` (``torch.geqrf``): the reflectors below the diagonal, ``R`` on
    and above it, and ``tau``, matrix by matrix."""
    batch = a.shape[:-2]
    flat = a.reshape((-1,) + a.shape[-2:])
    out = np.empty_like(flat)
    taus = np.empty((flat.shape[0], min(a.shape[-2:])), dtype=a.dtype)
    for i, m in enumerate(flat):
        h, tau = np.linalg.qr(m, mode="raw")
        out[i], taus[i] = h.T, tau
    return out.reshape(a.shape), taus.reshape(batch + taus.shape[-1:])


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    """PyTorch's ``_Orthogonal``: ``Q`` from the stored tensor by the matrix exponential or
    the Cayley map of its skew-symmetric part, or by Householder reflectors; a wide matrix
    is handled transposed. With ``use_trivialization`` the result is multiplied by the
    buffer ``base``, set when a matrix is assigned (``right_inverse``)."""

    def __init__(self, weight, orthogonal_map: _OrthMaps, *, use_trivialization=True) -> None:
        super().__init__()
        if weight.dtype.is_complex and orthogonal_map == _OrthMaps.householder:
            raise ValueError("The householder parametrization does not support complex tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = X.tril()
            if n != k:  # embed into a square matrix
                X = ops.pad_axes(X, [(0, 0)] * (X.ndim - 1) + [(0, n - k)], 0.0)
            A = X - X.mT  # skew-symmetric
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = kiln.linalg.matrix_exp(A)
            else:  # the Cayley retraction (I + A/2)(I - A/2)^{-1}
                eye = kiln.eye(n, dtype=A.dtype)
                Q = kiln.linalg.solve(eye - 0.5 * A, eye + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = kiln.linalg.householder_product(A, tau)
            # the diagonal of X holds the signs (1 or -1): truncated to integers, no gradient
            signs = X.detach().diagonal(dim1=-2, dim2=-1).int().to(Q.dtype)
            Q = Q * signs.unsqueeze(-2)
        if hasattr(self, "base"):
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q):
        if tuple(Q.shape) != tuple(self.shape):
            raise ValueError(
                f"Expected a matrix or batch of matrices of shape {self.shape}. "
                f"Got a tensor of shape {Q.shape}."
            )
        with kiln.no_grad():
            q = _numpy(Q)
            n, k = q.shape[-2:]
            transpose = n < k
            if transpose:
                q = np.swapaxes(q, -1, -2)
                n, k = k, n
            if not hasattr(self, "base"):
                if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                    raise NotImplementedError(
                        "It is not possible to assign to the matrix exponential "
                        "or the Cayley parametrizations when use_trivialization=False."
                    )
                # the reflectors of Q's QR, the signs of diag(R) on the diagonal (flipped
                # where LAPACK skipped a reflection, tau == 0), so householder() gives back Q
                a, tau = _geqrf(q)
                d = np.sign(np.diagonal(a, axis1=-2, axis2=-1)).copy()
                d[tau == 0.0] *= -1
                idx = np.arange(k)
                a[..., idx, idx] = d
                a = np.swapaxes(a, -1, -2) if transpose else a
                return kiln.tensor(np.ascontiguousarray(a), dtype=Q.dtype)
            if n == k:
                q = q.copy() if _is_orthogonal(q) else _make_orthogonal(q)
            else:  # complete Q to a full n x n orthogonal matrix
                noise = _numpy(kiln.randn(*(q.shape[:-2] + (n, n - k)), dtype=Q.dtype))
                q = _make_orthogonal(np.concatenate([q, noise], axis=-1))
            self.base = kiln.tensor(np.ascontiguousarray(q), dtype=Q.dtype)
            # -I: the Householder map of zeros with these signs is the identity
            neg_id = np.zeros(tuple(Q.shape), dtype=q.dtype)
            idx = np.arange(min(Q.shape[-2:]))
            neg_id[..., idx, idx] = -1.0
            return kiln.tensor(neg_id, dtype=Q.dtype)


def orthogonal(
    module: Module,
    name: str = "weight",
    orthogonal_map: str | None = None,
    *,
    use_trivialization: bool = True,
) -> Module:
    """Make ``module.<name>`` (a matrix or a batch of them) orthogonal: orthonormal columns
    if it is tall, orthonormal rows if wide, as ``torch.nn.utils.parametrizations.orthogonal``.

    ``orthogonal_map`` is ``"matrix_exp"``, ``"cayley"`` or ``"householder"``; the default
    is ``"matrix_exp"`` for a square matrix and ``"householder"`` otherwise. With
    ``use_trivialization=True`` (the dynamic trivialization) a buffer
    ``parametrizations.<name>[0].base`` holds the current orthogonal point, and the initial
    value is the original matrix if orthogonal, else the ``Q`` of its QR (a rectangular one
    is first completed with random columns). ``"cayley"`` solves a linear system in LAPACK,
    so it runs eagerly only (``kiln.jit`` raises); the other two compile.

    >>> import kiln
    >>> m = orthogonal(kiln.nn.Linear(3, 3))
    >>> w = m.weight.detach()
    >>> bool(kiln.allclose(w @ w.T, kiln.eye(3), atol=1e-5))
    True
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, kiln.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(
            f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions."
        )
    if orthogonal_map is None:
        square = weight.shape[-2] == weight.shape[-1]
        orthogonal_map = "matrix_exp" if square or weight.dtype.is_complex else "householder"
    orth_enum = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError(
            'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
            f"Got: {orthogonal_map}"
        )
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


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
