"""``kiln.svd_lowrank`` / ``kiln.pca_lowrank``: a randomized truncated SVD (Halko,
Martinsson and Tropp 2009, algorithms 4.4 and 5.1), as PyTorch's ``torch._lowrank``.

A random ``n x q`` matrix sketches the range of ``A``; ``niter`` power iterations (each a
QR re-orthonormalization) sharpen it; the SVD of the small projected matrix gives the
leading ``q`` singular triplets. The sketch draws from kiln's generator, so the vectors
differ from PyTorch's by the random start (and by sign), not the converged values.

>>> import kiln
>>> a = kiln.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
>>> u, s, v = svd_lowrank(a, q=2)
>>> s
tensor([3., 1.])
"""

from __future__ import annotations

from . import creation, dtypes, linalg, ops
from .tensor import Tensor

__all__ = ["pca_lowrank", "svd_lowrank"]


def _approximate_basis(a: Tensor, q: int, niter: int) -> Tensor:
    """An orthonormal ``m x q`` basis whose span approximates the range of ``a``."""
    r = creation.randn(a.shape[-1], q, dtype=a.dtype)
    basis = linalg.qr(ops.matmul(a, r)).Q
    for _ in range(niter):
        basis = linalg.qr(ops.matmul(a.mH, basis)).Q
        basis = linalg.qr(ops.matmul(a, basis)).Q
    return basis


def svd_lowrank(A: Tensor, q: int | None = 6, niter: int | None = 2, M: Tensor | None = None):
    """``U, S, V`` (not ``Vh``) of a rank-``q`` approximation of ``A - M``."""
    q = 6 if q is None else q
    niter = 2 if niter is None else niter
    if M is not None:
        A = ops.sub(A, M)
    if not A.dtype.is_floating_point:
        A = A.to(dtypes.get_default_dtype())
    m, n = A.shape[-2:]
    wide = m < n
    if wide:  # work on the tall transpose, and swap U and V back
        A = A.mH
    basis = _approximate_basis(A, q, niter)
    U, S, Vh = linalg.svd(ops.matmul(basis.mH, A), full_matrices=False)
    U, V = ops.matmul(basis, U), Vh.mH
    return (V, S, U) if wide else (U, S, V)


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2):
    """``U, S, V`` of the (centred, by default) data matrix ``A``: its principal directions
    are the columns of ``V``, ``S**2 / (m - 1)`` the variances along them."""
    m, n = A.shape[-2:]
    q = min(6, m, n) if q is None else q
    if not 0 <= q <= min(m, n):
        raise ValueError(
            f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}"
        )
    if niter < 0:
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if center:
        A = ops.sub(A, ops.mean(A, dim=-2, keepdim=True))
    return svd_lowrank(A, q, niter=niter)
