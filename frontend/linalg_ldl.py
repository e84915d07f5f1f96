"""``kiln.linalg.ldl_factor`` / ``ldl_factor_ex`` / ``ldl_solve``: LAPACK's ``sytrf`` and
``sytrs`` (Bunch-Kaufman ``L D L^T`` with symmetric pivoting) for real symmetric matrices.

NumPy has no ``sytrf``, so the unblocked algorithm (LAPACK's ``dsytf2``, lower storage, which
``sytrf`` runs for matrices under its block size) is written out here, step for step, so the
compact factor and the pivots are PyTorch's: ``LD`` holds ``L`` below the diagonal (unit
diagonal implied) and the 1x1 / 2x2 blocks of ``D``; ``pivots`` (int32, 1-based) are
positive for a 1x1 block and negative, twice, for a 2x2 one. Eager, without gradients
(PyTorch has none either).

>>> import kiln
>>> a = kiln.tensor([[4.0, 2.0], [2.0, 3.0]])
>>> ld, piv = kiln.linalg.ldl_factor(a)
>>> ld.tolist(), piv.tolist()
([[4.0, 0.0], [0.5, 2.0]], [1, 2])
>>> kiln.linalg.ldl_solve(ld, piv, kiln.tensor([[6.0], [5.0]])).tolist()
[[1.0], [1.0]]
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import dtypes
from .dispatch import constant, current_trace
from .tensor import Tensor

__all__ = ["ldl_factor", "ldl_factor_ex", "ldl_solve"]

linalg_ldl_factor = namedtuple("linalg_ldl_factor", ["LD", "pivots"])
linalg_ldl_factor_ex = namedtuple("linalg_ldl_factor_ex", ["LD", "pivots", "info"])

# Bunch-Kaufman's threshold: the 1x1 pivot is kept while |a_kk| >= ALPHA * max off-diagonal
_ALPHA = (1.0 + np.sqrt(17.0)) / 8.0


def _check(name, A, what="A"):
    if not isinstance(A, Tensor):
        raise TypeError(f"{name}: expected a tensor for {what}, got {type(A).__name__}")
    if A._node is not None or current_trace() is not None:
        from kiln.compiler.errors import TraceError

        raise TraceError(f"{name} runs in NumPy and cannot be traced")
    if A.dtype.is_complex:
        raise NotImplementedError(f"{name}: complex tensors are not supported by kiln")
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"{name}: Expected a floating point tensor as input. Got {A.dtype.name}")
    if A.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {what} must have at least 2 dimensions.")


def _swap(x, i, j):
    x[[i, j]] = x[[j, i]]


def _sytf2(a):
    """LAPACK's ``dsytf2`` (uplo ``L``) on one matrix: ``(LD, pivots, info)``."""
    a = np.array(a, copy=True)
    n = a.shape[0]
    ipiv = np.zeros(n, dtype=np.int32)
    info = 0
    k = 0
    while k < n:
        kstep = 1
        absakk = abs(a[k, k])
        imax, colmax = k, 0.0
        if k < n - 1:  # the largest entry below the diagonal (the first, as idamax)
            imax = k + 1 + int(np.argmax(np.abs(a[k + 1 :, k])))
            colmax = abs(a[imax, k])
        if max(absakk, colmax) == 0 or np.isnan(absakk):
            info = info or k + 1  # a zero column: D is singular, nothing to eliminate
            kp = k
        else:
            if absakk >= _ALPHA * colmax:
                kp = k
            else:
                jmax = k + int(np.argmax(np.abs(a[imax, k:imax])))
                rowmax = abs(a[imax, jmax])
                if imax < n - 1:
                    below = imax + 1 + int(np.argmax(np.abs(a[imax + 1 :, imax])))
                    rowmax = max(rowmax, abs(a[below, imax]))
                if absakk >= _ALPHA * colmax * (colmax / rowmax):
                    kp = k
                elif abs(a[imax, imax]) >= _ALPHA * rowmax:
                    kp = imax
                else:
                    kp, kstep = imax, 2
            kk = k + kstep - 1
            if kp != kk:  # swap rows and columns kk and kp of the trailing lower triangle
                if kp < n - 1:
                    a[kp + 1 :, [kk, kp]] = a[kp + 1 :, [kp, kk]]
                column = a[kk + 1 : kp, kk].copy()
                a[kk + 1 : kp, kk] = a[kp, kk + 1 : kp]
                a[kp, kk + 1 : kp] = column
                a[kk, kk], a[kp, kp] = a[kp, kp], a[kk, kk]
                if kstep == 2:
                    a[k + 1, k], a[kp, k] = a[kp, k], a[k + 1, k]
            if kstep == 1:
                if k < n - 1:
                    d11 = 1.0 / a[k, k]
                    x = a[k + 1 :, k].copy()
                    a[k + 1 :, k + 1 :] -= np.tril(np.outer(x, x) * d11)
                    a[k + 1 :, k] = x * d11
            elif k < n - 2:
                d21 = a[k + 1, k]
                d11 = a[k + 1, k + 1] / d21
                d22 = a[k, k] / d21
                d21 = (1.0 / (d11 * d22 - 1.0)) / d21
                for j in range(k + 2, n):
                    wk = d21 * (d11 * a[j, k] - a[j, k + 1])
                    wkp1 = d21 * (d22 * a[j, k + 1] - a[j, k])
                    a[j:, j] -= a[j:, k] * wk + a[j:, k + 1] * wkp1
                    a[j, k] = wk
                    a[j, k + 1] = wkp1
        if kstep == 1:
            ipiv[k] = kp + 1
        else:
            ipiv[k] = ipiv[k + 1] = -(kp + 1)
        k += kstep
    return np.tril(a), ipiv, info


def _sytrs(a, ipiv, b):
    """LAPACK's ``dsytrs`` (uplo ``L``): solves ``A X = B`` from ``_sytf2``'s factor."""
    b = np.array(b, copy=True)
    n = a.shape[0]
    k = 0
    while k < n:  # L D Y = P B
        if ipiv[k] > 0:
            _swap(b, k, ipiv[k] - 1)
            b[k + 1 :] -= np.outer(a[k + 1 :, k], b[k])
            b[k] = b[k] / a[k, k]
            k += 1
        else:
            _swap(b, k + 1, -ipiv[k] - 1)
            if k < n - 2:
                b[k + 2 :] -= np.outer(a[k + 2 :, k], b[k])
                b[k + 2 :] -= np.outer(a[k + 2 :, k + 1], b[k + 1])
            akm1k = a[k + 1, k]
            akm1 = a[k, k] / akm1k
            ak = a[k + 1, k + 1] / akm1k
            denom = akm1 * ak - 1
            bkm1, bk = b[k] / akm1k, b[k + 1] / akm1k
            b[k] = (ak * bkm1 - bk) / denom
            b[k + 1] = (akm1 * bk - bkm1) / denom
            k += 2
    k = n - 1
    while k >= 0:  # L^T P^T X = Y
        if ipiv[k] > 0:
            if k < n - 1:
                b[k] -= a[k + 1 :, k] @ b[k + 1 :]
            _swap(b, k, ipiv[k] - 1)
            k -= 1
        else:
            if k < n - 1:
                b[k] -= a[k + 1 :, k] @ b[k + 1 :]
                b[k - 1] -= a[k + 1 :, k - 1] @ b[k + 1 :]
            _swap(b, k, -ipiv[k] - 1)
            k -= 2
    return b


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False):  # noqa: N803
    """``(LD, pivots, info)``: the ``L D L^T`` factorization of symmetric ``A`` (its lower
    triangle is read); ``info[i] > 0`` where ``D`` has an exact zero on its diagonal."""
    name = "torch.linalg.ldl_factor_ex"
    _check(name, A)
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(
            f"{name}: A must be batches of square matrices, but they are "
            f"{A.shape[-2]} by {A.shape[-1]} matrices"
        )
    arr = np.asarray(A.detach().numpy())
    batch = arr.shape[:-2]
    ld = np.zeros_like(arr)
    piv = np.zeros(arr.shape[:-1], dtype=np.int32)
    info = np.zeros(batch, dtype=np.int32)
    for i in np.ndindex(*batch):
        ld[i], piv[i], info[i] = _sytf2(arr[i])
    if check_errors and (info != 0).any():
        from .linalg import LinAlgError

        raise LinAlgError(
            f"{name}: The factorization could not be completed because the input is not "
            f"invertible (a zero pivot at position {int(info.flat[np.argmax(info != 0)])})."
        )
    return linalg_ldl_factor_ex(
        constant(ld, A.dtype, like=A),
        constant(piv, dtypes.int32, like=A),
        constant(info, dtypes.int32, like=A),
    )


def ldl_factor(A: Tensor, *, hermitian: bool = False):  # noqa: N803
    """``(LD, pivots)`` of ``ldl_factor_ex``, raising where ``D`` is singular."""
    LD, pivots, _ = ldl_factor_ex(A, hermitian=hermitian, check_errors=True)  # noqa: N806
    return linalg_ldl_factor(LD, pivots)


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False) -> Tensor:  # noqa: N803
    """The solution ``X`` of ``A X = B`` from ``ldl_factor(A)``; batches broadcast."""
    name = "torch.linalg.ldl_solve"
    _check(name, LD, "LD")
    _check(name, B, "B")
    if LD.shape[-1] != LD.shape[-2]:
        raise RuntimeError(f"{name}: LD must be batches of square matrices, got {list(LD.shape)}")
    if tuple(pivots.shape) != tuple(LD.shape[:-1]):
        raise RuntimeError(
            f"{name}: Expected LD.shape[:-1] and pivots.shape to be the same, but got "
            f"pivots with shape {list(pivots.shape)} instead"
        )
    if pivots.dtype is not dtypes.int32:
        raise RuntimeError(f"{name}: Expected pivots to be integers. Got {pivots.dtype.name}")
    if LD.dtype is not B.dtype:
        raise RuntimeError(
            f"{name}: LD dtype {LD.dtype.name} does not match b dtype {B.dtype.name}"
        )
    if B.shape[-2] != LD.shape[-1]:
        raise RuntimeError(
            f"{name}: Incompatible shapes of A and B for the equation AX = B "
            f"({LD.shape[-2]}x{LD.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})"
        )
    ld = np.asarray(LD.detach().numpy())
    piv = np.asarray(pivots.numpy())
    b = np.asarray(B.detach().numpy())
    batch = np.broadcast_shapes(ld.shape[:-2], b.shape[:-2])
    ld = np.broadcast_to(ld, batch + ld.shape[-2:])
    piv = np.broadcast_to(piv, batch + piv.shape[-1:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    out = np.empty(b.shape, dtype=b.dtype)
    for i in np.ndindex(*batch):
        out[i] = _sytrs(ld[i], piv[i], b[i])
    return constant(out, B.dtype, like=B)
