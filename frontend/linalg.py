"""``kiln.linalg``: norms as composites; the factorizations through NumPy's LAPACK.

A factorization (``inv``, ``det``, ``solve``, ``cholesky``, ``eigh``) runs eagerly in NumPy;
its gradient comes from its first-order expansion around the computed value,
``out = F(x) + dF(x)[x - x.detach()]``: forward that is exactly ``F(x)`` (the added term
is zero), backward it is PyTorch's formula. Second derivatives of these are not
supported, and they cannot be traced (``kiln.jit`` raises: LAPACK has no kernel here).
``qr``, ``svd`` and ``svdvals`` follow the same pattern with PyTorch's formulas.
``matrix_exp`` and ``householder_product`` are composites of matmuls, so their gradients
(of any order) come from autograd and ``kiln.jit`` compiles them.

>>> import kiln
>>> kiln.linalg.det(kiln.tensor([[2.0, 0.0], [0.0, 3.0]])).item()
6.0
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from kiln.compiler.errors import TraceError

from . import dtypes, ops
from .dispatch import constant, current_trace
from .tensor import Tensor

__all__ = [
    "norm",
    "vector_norm",
    "matrix_norm",
    "det",
    "slogdet",
    "inv",
    "solve",
    "cholesky",
    "eigh",
    "eigvalsh",
    "qr",
    "svd",
    "svdvals",
    "matrix_exp",
    "householder_product",
]

eigh_result = namedtuple("eigh_result", ["eigenvalues", "eigenvectors"])
slogdet_result = namedtuple("slogdet_result", ["sign", "logabsdet"])
qr_result = namedtuple("qr_result", ["Q", "R"])
svd_result = namedtuple("svd_result", ["U", "S", "Vh"])


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    if dtype is not None:
        x = ops.cast(x, dtypes.as_dtype(dtype))
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point tensor as input. Got {x.dtype.name}"
        )
    a = ops.abs(x)
    if ord in (math.inf, "inf"):
        return ops.amax(a, () if dim is None else dim, keepdim)
    if ord in (-math.inf, "-inf"):
        return ops.amin(a, () if dim is None else dim, keepdim)
    if ord == 0:
        return ops.sum(ops.cast(ops.ne(x, 0.0), x.dtype), dim, keepdim)
    if ord == 1:
        return ops.sum(a, dim, keepdim)
    if ord == 2:
        return ops.norm(x, 2, dim, keepdim)
    return ops.pow(ops.sum(ops.pow(a, float(ord)), dim, keepdim), 1.0 / ord)


def matrix_norm(x: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False) -> Tensor:  # noqa: A002
    if x.ndim < 2:
        raise RuntimeError(
            f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions, got {x.ndim}"
        )
    if ord == "fro":
        return ops.norm(x, "fro", dim, keepdim)
    rows, cols = dim
    if ord in (1, -1):
        sums = ops.sum(ops.abs(x), rows, keepdim=True)
        out = ops.amax(sums, cols, keepdim=True) if ord == 1 else ops.amin(sums, cols, keepdim=True)
    elif ord in (math.inf, -math.inf):
        sums = ops.sum(ops.abs(x), cols, keepdim=True)
        pick = ops.amax if ord > 0 else ops.amin
        out = pick(sums, rows, keepdim=True)
    elif ord == "nuc":
        out = ops.sum(svdvals(x), -1)
        return out
    elif ord in (2, -2):
        s = svdvals(x)
        return ops.amax(s, -1) if ord == 2 else ops.amin(s, -1)
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    return out if keepdim else ops.squeeze(out, tuple(sorted(d % x.ndim for d in dim)))


def norm(x: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    if ord is None:
        return vector_norm(x, 2, dim, keepdim, dtype=dtype)
    if isinstance(ord, str) or (dim is not None and not isinstance(dim, int) and len(dim) == 2):
        return matrix_norm(x, ord, (-2, -1) if dim is None else dim, keepdim)
    if dim is None and x.ndim == 2:
        return matrix_norm(x, ord, (-2, -1), keepdim)
    return vector_norm(x, ord, dim, keepdim, dtype=dtype)


# ----------------------------------------------------------------------------- LAPACK


def _eager(name: str, *tensors) -> list:
    for t in tensors:
        if t._node is not None or current_trace() is not None:
            raise TraceError(f"linalg.{name} runs in NumPy's LAPACK and cannot be traced")
        if not t.dtype.is_floating_point:
            raise RuntimeError(
                f"linalg.{name}: Expected a floating point tensor as input. Got {t.dtype.name}"
            )
    return [np.asarray(t._data) for t in tensors]


def _square(name, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            f"linalg.{name}: A must be batches of square matrices, but they are "
            f"{a.shape[-2] if a.ndim >= 2 else a.ndim} by {a.shape[-1] if a.ndim else 0} matrices"
        )


def _delta(x: Tensor) -> Tensor:
    """``x - x.detach()``: zero, with slope 1 (the direction a linearization is fed)."""
    return ops.sub(x, x.detach())


def _const(value, like):
    return constant(np.array(value, order="C"), like.dtype, like=like)


def _mT(x):  # noqa: N802
    return ops.transpose(x, -2, -1)


def inv(a: Tensor) -> Tensor:
    (arr,) = _eager("inv", a)
    _square("inv", a)
    try:
        value = np.linalg.inv(arr)
    except np.linalg.LinAlgError:
        raise RuntimeError(
            f"linalg.inv: the inversion of {list(a.shape)} could not be completed because "
            "the input matrix is singular."
        ) from None
    c = _const(value, a)
    if not a.requires_grad:
        return c
    return ops.sub(c, ops.matmul(ops.matmul(c, _delta(a)), c))


def det(a: Tensor) -> Tensor:
    (arr,) = _eager("det", a)
    _square("det", a)
    value = _const(np.linalg.det(arr), a)
    if not a.requires_grad:
        return value
    # d det = det * tr(A^-1 dA); the adjugate form keeps it finite for singular A
    adj = _const(_adjugate(arr), a)
    return ops.add(value, ops.sum(ops.mul(_mT(adj), _delta(a)), (-2, -1)))


def _adjugate(arr):
    """``det(A) * inv(A)`` without dividing by det (finite at singular A), via the SVD."""
    u, s, vh = np.linalg.svd(arr)
    n = arr.shape[-1]
    prods = (
        np.stack([np.prod(np.delete(s, k, axis=-1), axis=-1) for k in range(n)], axis=-1)
        if n
        else s
    )
    sign = np.linalg.det(u) * np.linalg.det(vh)
    adj = np.swapaxes(vh, -1, -2) @ (prods[..., :, None] * np.swapaxes(u, -1, -2))
    return adj * sign[..., None, None]


def slogdet(a: Tensor):
    (arr,) = _eager("slogdet", a)
    _square("slogdet", a)
    sign, logabs = np.linalg.slogdet(arr)
    s = _const(sign, a)
    value = _const(logabs, a)
    if a.requires_grad:
        inverse = _const(np.linalg.pinv(arr), a)
        value = ops.add(value, ops.sum(ops.mul(_mT(inverse), _delta(a)), (-2, -1)))
    return slogdet_result(s, value)


def solve(a: Tensor, b: Tensor, *, left: bool = True) -> Tensor:
    if not left:
        return _mT(solve(_mT(a), _mT(b)))
    arr, brr = _eager("solve", a, b)
    _square("solve", a)
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    rhs = brr[..., None] if vector else brr
    try:
        value = np.linalg.solve(arr, rhs)
    except np.linalg.LinAlgError:
        raise RuntimeError(
            "linalg.solve: The solver failed because the input matrix is singular."
        ) from None
    x = _const(value, a)
    if a.requires_grad or b.requires_grad:
        inverse = _const(np.linalg.inv(arr), a)
        rhs_t = ops.unsqueeze(b, -1) if vector else b
        change = ops.sub(_delta(rhs_t), ops.matmul(_delta(a), x))
        x = ops.add(x, ops.matmul(inverse, change))
    return ops.squeeze(x, -1) if vector else x


def cholesky(a: Tensor, *, upper: bool = False) -> Tensor:
    (arr,) = _eager("cholesky", a)
    _square("cholesky", a)
    try:
        value = np.linalg.cholesky(arr)
    except np.linalg.LinAlgError:
        raise RuntimeError(
            "linalg.cholesky: The factorization could not be completed because the input is "
            "not positive-definite."
        ) from None
    low = _const(value, a)
    if a.requires_grad:
        # dL = L Phi(L^-1 dA_sym L^-T), Phi: the lower triangle with a halved diagonal
        linv = _const(np.linalg.inv(value), a)
        d = _delta(a)
        d = ops.mul(ops.add(d, _mT(d)), 0.5)
        inner = ops.matmul(ops.matmul(linv, d), _mT(linv))
        n = a.shape[-1]
        phi = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
        low = ops.add(low, ops.matmul(low, ops.mul(inner, _const(phi, a))))
    return _mT(low) if upper else low


def eigh(a: Tensor, UPLO: str = "L"):  # noqa: N803 - PyTorch's name
    (arr,) = _eager("eigh", a)
    _square("eigh", a)
    w, v = np.linalg.eigh(arr, UPLO=UPLO)
    values, vectors = _const(w, a), _const(v, a)
    if a.requires_grad:
        d = _delta(a)
        d = ops.mul(ops.add(d, _mT(d)), 0.5)
        inner = ops.matmul(ops.matmul(_mT(vectors), d), vectors)  # V^T dA V
        diagonal = ops.diagonal(inner, 0, -2, -1)
        values = ops.add(values, diagonal)
        gaps = w[..., None, :] - w[..., :, None]  # [i, j] = w_j - w_i
        with np.errstate(divide="ignore"):
            f = np.where(np.eye(w.shape[-1], dtype=bool), 0.0, 1.0 / gaps)
        vectors = ops.add(vectors, ops.matmul(vectors, ops.mul(inner, _const(f, a))))
    return eigh_result(values, vectors)


def eigvalsh(a: Tensor, UPLO: str = "L") -> Tensor:  # noqa: N803
    return eigh(a, UPLO).eigenvalues


def qr(a: Tensor, mode: str = "reduced"):
    """``A = QR``; the gradient is PyTorch's (``mode="reduced"``, or ``"complete"`` for a
    matrix that is not tall), from the linearization
    ``X = Q^T dA R^-1``, ``Q^T dQ = tril(X, -1) - tril(X, -1)^T``, ``dR = (X - Q^T dQ) R``."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of "
            "'reduced' (default), 'r', or 'complete'"
        )
    (arr,) = _eager("qr", a)
    if a.ndim < 2:
        raise RuntimeError(
            f"linalg.qr: The input tensor A must have at least 2 dimensions, got {a.ndim}"
        )
    m, n = a.shape[-2:]
    if a.requires_grad and mode == "r":
        raise RuntimeError(
            "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
            "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
            "through linalg.qr."
        )
    if a.requires_grad and mode == "complete" and m > n:
        raise RuntimeError(
            "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
        )
    if mode == "r":
        return qr_result(_const(np.zeros((0,)), a), _const(np.linalg.qr(arr, mode="r"), a))
    q, r = np.linalg.qr(arr, mode=mode)
    Q, R = _const(q, a), _const(r, a)
    if not a.requires_grad:
        return qr_result(Q, R)
    k = min(m, n)
    d = _delta(a)
    # the square part A[:, :k] = Q R[:, :k] decides dQ; R's other columns follow
    r1 = r[..., :, :k]
    r1_inv = _const(np.linalg.inv(r1), a)
    d1 = ops.narrow(d, -1, 0, k)
    x = ops.matmul(ops.matmul(_mT(Q), d1), r1_inv)
    lower = ops.mul(x, _const(np.tril(np.ones((k, k)), -1), a))
    omega = ops.sub(lower, _mT(lower))  # Q^T dQ, antisymmetric
    dq = ops.matmul(Q, omega)
    if m > k:  # the part of dA's columns outside span(Q)
        dq = ops.add(dq, ops.matmul(ops.sub(d1, ops.matmul(Q, ops.matmul(_mT(Q), d1))), r1_inv))
    dr1 = ops.matmul(ops.sub(x, omega), _const(r1, a))
    if n > k:
        r2 = _const(r[..., :, k:], a)
        dr2 = ops.matmul(_mT(Q), ops.sub(ops.narrow(d, -1, k, n - k), ops.matmul(dq, r2)))
        dr = ops.cat([dr1, dr2], -1)
    else:
        dr = dr1
    return qr_result(ops.add(Q, dq), ops.add(R, dr))


def _svd_linear(a: Tensor, u, s, v):
    """The first-order change of a reduced SVD ``A = U diag(s) V^T`` in the direction
    ``dA = a - a.detach()`` (PyTorch's ``linalg_svd_jvp``):
    ``dP = U^T dA V``, ``ds = diag(dP)``, ``U^T dU = F o (dP S + S dP^T)``,
    ``V^T dV = F o (S dP + dP^T S)`` with ``F_ij = 1 / (s_j^2 - s_i^2)`` off the diagonal,
    plus the parts of ``dA`` outside the column spaces, ``(I - UU^T) dA V S^-1`` and
    ``(I - VV^T) dA^T U S^-1``. Repeated singular values make ``F`` infinite, as in PyTorch.
    """
    m, n = a.shape[-2:]
    k = s.shape[-1]
    U, V, d = _const(u, a), _const(v, a), _delta(a)
    s_row = _const(s[..., None, :], a)  # scales columns: M S
    s_col = _const(s[..., :, None], a)  # scales rows: S M
    dp = ops.matmul(ops.matmul(_mT(U), d), V)
    ds = ops.diagonal(dp, 0, -2, -1)
    gaps = s[..., None, :] ** 2 - s[..., :, None] ** 2
    with np.errstate(divide="ignore"):
        f = _const(np.where(np.eye(k, dtype=bool), 0.0, 1.0 / gaps), a)
    dp_t = _mT(dp)
    du = ops.matmul(U, ops.mul(f, ops.add(ops.mul(dp, s_row), ops.mul(s_col, dp_t))))
    dv = ops.matmul(V, ops.mul(f, ops.add(ops.mul(s_col, dp), ops.mul(dp_t, s_row))))
    if m > k:
        dav = ops.matmul(d, V)
        outside = ops.sub(dav, ops.matmul(U, ops.matmul(_mT(U), dav)))
        du = ops.add(du, ops.div(outside, s_row))
    if n > k:
        dau = ops.matmul(_mT(d), U)
        outside = ops.sub(dau, ops.matmul(V, ops.matmul(_mT(V), dau)))
        dv = ops.add(dv, ops.div(outside, s_row))
    return du, ds, dv


def svd(a: Tensor, full_matrices: bool = True):
    """``A = U diag(S) Vh``. The gradient is PyTorch's; with ``full_matrices=True`` the
    columns of ``U`` (rows of ``Vh``) beyond ``min(m, n)`` are not unique and get none, as
    PyTorch narrows their gradient away. Like PyTorch's, it is well defined only for
    functions that do not depend on the signs of the singular vectors."""
    (arr,) = _eager("svd", a)
    if a.ndim < 2:
        raise RuntimeError(
            f"linalg.svd: The input tensor A must have at least 2 dimensions, got {a.ndim}"
        )
    u, s, vh = np.linalg.svd(arr, full_matrices=full_matrices)
    U, S, Vh = _const(u, a), _const(s, a), _const(vh, a)
    if not a.requires_grad:
        return svd_result(U, S, Vh)
    m, n = a.shape[-2:]
    k = min(m, n)
    du, ds, dv = _svd_linear(a, u[..., :, :k], s, np.swapaxes(vh[..., :k, :], -1, -2))
    dvh = _mT(dv)
    if full_matrices and m > k:
        du = ops.pad_axes(du, [(0, 0)] * (a.ndim - 1) + [(0, m - k)], 0.0)
    if full_matrices and n > k:
        dvh = ops.pad_axes(dvh, [(0, 0)] * (a.ndim - 2) + [(0, n - k), (0, 0)], 0.0)
    return svd_result(ops.add(U, du), ops.add(S, ds), ops.add(Vh, dvh))


def svdvals(a: Tensor) -> Tensor:
    """The singular values; gradient ``U^T G V``'s diagonal back, ``U diag(g) V^T``."""
    (arr,) = _eager("svdvals", a)
    if not a.requires_grad:
        return _const(np.linalg.svd(arr, compute_uv=False), a)
    u, s, vh = np.linalg.svd(arr, full_matrices=False)
    dp = ops.matmul(ops.matmul(_mT(_const(u, a)), _delta(a)), _mT(_const(vh, a)))
    return ops.add(_const(s, a), ops.diagonal(dp, 0, -2, -1))


# ----------------------------------------------------------------------------- composites

# exp(X) ~ sum_k X^k / k! for ||X||_1 <= theta: the truncation error is below
# theta^19 / 19! * e^theta, under the dtype's rounding (float64: 2e-17, float32: 3e-11)
_EXPM_DEGREE = 18
_EXPM_COEFFS = [1.0 / math.factorial(k) for k in range(_EXPM_DEGREE + 1)]
_EXPM_THETA = {"float64": 1.0}  # float32, float16, bfloat16: 2.0
# squarings a traced matrix_exp can do: a 1-norm up to theta * 2**24 (1.6e7 in float64,
# past where exp overflows unless A is nearly skew-symmetric); beyond, NaN. Each one is a
# matmul the compiled function always runs, kept or not.
_EXPM_MAX_SQUARINGS = 24


def _expm_taylor(x: Tensor, eye: Tensor) -> Tensor:
    """The degree-18 Taylor polynomial, Paterson-Stockmeyer style: 7 matmuls."""
    powers = [eye, x, ops.matmul(x, x)]
    powers.append(ops.matmul(powers[2], x))
    x4 = ops.matmul(powers[2], powers[2])

    def block(j):
        out = None
        for i in range(4):
            k = 4 * j + i
            if k > _EXPM_DEGREE:
                break
            term = ops.mul(powers[i], _EXPM_COEFFS[k])
            out = term if out is None else ops.add(out, term)
        return out

    p = block(_EXPM_DEGREE // 4)
    for j in reversed(range(_EXPM_DEGREE // 4)):
        p = ops.add(block(j), ops.matmul(x4, p))
    return p


def matrix_exp(a: Tensor) -> Tensor:
    """``exp(A)`` of square matrices (batched): scaling and squaring around a degree-18
    Taylor polynomial, all matmuls, so autograd and ``kiln.jit`` differentiate and compile
    it. ``A`` is scaled by ``2**-s``, ``s`` the least power of two bringing its 1-norm
    under ``theta``, and the result squared ``s`` times. Eagerly ``s`` is read from the
    values; while tracing it is computed in the graph and each of up to 24 squarings is
    kept only where needed (a norm that would need more gives NaN, not a wrong matrix).

    >>> import kiln
    >>> matrix_exp(kiln.zeros(2, 2)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if a.ndim < 2:
        raise RuntimeError("linalg.matrix_exp: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            "linalg.matrix_exp: A must be batches of square matrices, but they are "
            f"{a.shape[-2]} by {a.shape[-1]} matrices"
        )
    if not a.dtype.is_floating_point:
        raise RuntimeError(
            "linalg.matrix_exp: Expected a floating point or complex tensor as input. "
            f"Got {a.dtype.name}"
        )
    n = a.shape[-1]
    if a.numel() == 0:
        return ops.mul(a, 1.0)
    if n == 1:
        return ops.exp(a)
    theta = _EXPM_THETA.get(a.dtype.name, 2.0)
    batch = tuple(a.shape[:-2])
    norm = ops.amax(ops.sum(ops.abs(a.detach()), -2), -1)  # the 1-norm of each matrix
    eager = current_trace() is None and norm._node is None
    if eager:
        with np.errstate(divide="ignore", invalid="ignore"):
            need = np.ceil(np.log2(np.asarray(norm._data, dtype=np.float64) / theta))
        need = np.where(np.isfinite(need), np.maximum(need, 0.0), 0.0).astype(np.int64)
        squarings = int(need.max())
        scale = _const(np.ldexp(1.0, -need)[..., None, None], a)
        steps = _const(need[..., None, None], a)
        uniform = bool((need == squarings).all())
    else:
        need = ops.maximum(ops.ceil(ops.log2(ops.div(norm, theta))), 0.0)
        need = ops.unsqueeze(ops.unsqueeze(need, -1), -1)
        squarings = _EXPM_MAX_SQUARINGS
        scale = ops.pow(2.0, ops.neg(need))
        steps = need
        uniform = False
    eye = _const(np.eye(n), a)
    p = _expm_taylor(ops.mul(a, scale), eye)
    for i in range(squarings):
        squared = ops.matmul(p, p)
        p = squared if uniform else ops.where(ops.gt(steps, float(i)), squared, p)
    if not eager:
        p = ops.where(ops.gt(steps, float(squarings)), float("nan"), p)
    if batch and tuple(p.shape) != tuple(a.shape):
        p = ops.expand(p, a.shape)
    return p


def householder_product(A: Tensor, tau: Tensor) -> Tensor:  # noqa: N803 - PyTorch's name
    """The first ``n`` columns of ``H_1 ... H_k``, ``H_i = I - tau_i v_i v_i^T`` with
    ``v_i`` the ``i``-th column of ``A`` below the diagonal and a 1 on it (LAPACK's
    ``orgqr``; ``A`` is ``(..., m, n)``, ``m >= n >= k``). A loop of rank-1 updates, so the
    gradient to ``A`` and ``tau`` comes from autograd.

    >>> import kiln
    >>> householder_product(kiln.zeros(2, 2), kiln.zeros(2)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    name = "torch.linalg.householder_product"
    if A.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    m, n = A.shape[-2:]
    if m < n:
        raise RuntimeError(
            f"{name}: input.shape[-2] must be greater than or equal to input.shape[-1]"
        )
    if tau.ndim != A.ndim - 1:
        raise RuntimeError(
            f"{name}: Expected tau to have one dimension less than input, but got tau.ndim "
            f"equal to {tau.ndim} and input.ndim is equal to {A.ndim}"
        )
    k = tau.shape[-1]
    if n < k:
        raise RuntimeError(
            f"{name}: input.shape[-1] must be greater than or equal to tau.shape[-1]"
        )
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(
            f"{name}: Expected batch dimensions of tau to be equal to input.shape[:-2], but "
            f"got {list(tau.shape[:-1])}"
        )
    if tau.dtype is not A.dtype:
        raise RuntimeError(
            f"{name}: tau dtype {tau.dtype.name} does not match input dtype {A.dtype.name}"
        )
    if not A.dtype.is_floating_point:
        raise NotImplementedError(f"{name}: not implemented for {A.dtype.name} tensors")
    eye = _const(np.eye(m, n), A)
    q = ops.expand(eye, A.shape) if A.ndim > 2 else eye
    if k == 0:
        if not A.requires_grad:
            return q
        # the identity columns, still on the graph (a zero gradient, NaNs in A not spread)
        return ops.add(q, ops.where(_const(np.zeros((m, n), dtype=bool), A), A, 0.0))
    reflectors = ops.add(ops.tril(A, -1), eye)
    for i in reversed(range(k)):
        v = ops.narrow(reflectors, -1, i, 1)  # (..., m, 1)
        t = ops.unsqueeze(ops.narrow(tau, -1, i, 1), -1)  # (..., 1, 1)
        q = ops.sub(q, ops.mul(t, ops.matmul(v, ops.matmul(_mT(v), q))))
    return q
