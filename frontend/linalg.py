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

import numpy as np

from kiln.compiler.errors import TraceError

from . import dtypes, ops
from .dispatch import autocast_op, constant, current_trace
from .return_types import return_type
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
    "ldl_factor",
    "ldl_factor_ex",
    "ldl_solve",
    # linalg16
    "LinAlgError",
    "cholesky_ex",
    "cond",
    "cross",
    "diagonal",
    "eig",
    "eigvals",
    "inv_ex",
    "lstsq",
    "lu",
    "lu_factor",
    "lu_factor_ex",
    "lu_solve",
    "matmul",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "pinv",
    "solve_ex",
    "solve_triangular",
    "tensorinv",
    "tensorsolve",
    "vander",
    "vecdot",
]

eigh_result = return_type("linalg_eigh", ["eigenvalues", "eigenvectors"])
slogdet_result = return_type("linalg_slogdet", ["sign", "logabsdet"])
qr_result = return_type("linalg_qr", ["Q", "R"])
svd_result = return_type("linalg_svd", ["U", "S", "Vh"])


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
        count = ops.sum(ops.cast(ops.ne(x, 0.0), x.dtype), dim, keepdim)
        # differentiable with a zero gradient, as PyTorch's (a select, so inf/nan give 0 too)
        zero = ops.where(ops.zeros(x.shape, dtype=dtypes.bool_), x, 0.0)
        return ops.add(count, ops.sum(zero, dim, keepdim))
    if ord == 1:
        return ops.sum(a, dim, keepdim)
    if ord == 2:
        return ops.norm(x, 2, dim, keepdim)
    # PyTorch's subgradient: 0 where an element (p < 1) or the whole norm is 0 (double where,
    # so no inf * 0 = nan reaches the gradient); a zero element with p < 0 makes |0|^p = inf
    p = float(ord)
    is0 = ops.eq(a, 0.0)
    safe = ops.where(is0, 1.0, a)
    powed = ops.where(is0, math.inf if p < 0 else 0.0, ops.pow(safe, p))
    total = ops.sum(powed, dim, keepdim)
    t0 = ops.eq(total, 0.0)
    # a zero sum with p < 0 (every element infinite) is 0 ** (1/p) = inf
    return ops.where(t0, 0.0 if p > 0 else math.inf, ops.pow(ops.where(t0, 1.0, total), 1.0 / p))


def _amax0(t: Tensor, dim: int, keepdim: bool = True) -> Tensor:
    """amax of non-negative values along ``dim``; 0 over an empty dim (PyTorch's matrix norms
    of an empty matrix are 0 for the max-based orders)."""
    if t.shape[dim] == 0:
        shape = list(t.shape)
        if keepdim:
            shape[dim] = 1
        else:
            del shape[dim]
        return ops.zeros(tuple(shape), dtype=t.dtype)
    return ops.amax(t, dim, keepdim)


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
        out = _amax0(sums, cols) if ord == 1 else ops.amin(sums, cols, keepdim=True)
    elif ord in (math.inf, -math.inf):
        sums = ops.sum(ops.abs(x), cols, keepdim=True)
        out = _amax0(sums, rows) if ord > 0 else ops.amin(sums, rows, keepdim=True)
    elif ord in ("nuc", 2, -2):
        r, c = rows % x.ndim, cols % x.ndim
        if r == c:
            raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({r}, {c})")
        rest = [a for a in range(x.ndim) if a not in (r, c)]
        s = svdvals(ops.permute(x, rest + [r, c]))  # the (dim[0], dim[1]) planes, last
        if ord == "nuc":
            out = ops.sum(s, -1)
        else:
            out = _amax0(s, -1, False) if ord == 2 else ops.amin(s, -1)
        if keepdim:
            for a in sorted((r, c)):
                out = ops.unsqueeze(out, a)
        return out
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


@autocast_op("fp32")
def inv(a: Tensor) -> Tensor:
    (arr,) = _eager("inv", a)
    _square("inv", a)
    try:
        value = np.linalg.inv(arr)
    except np.linalg.LinAlgError:
        _raise_singular("linalg.inv", _np_lu(arr)[2])
        raise LinAlgError("linalg.inv: the input matrix is singular.") from None
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


@autocast_op("fp32")
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
        raise LinAlgError(
            "torch.linalg.solve: The solver failed because the input matrix is singular."
        ) from None
    x = _const(value, a)
    if a.requires_grad or b.requires_grad:
        inverse = _const(np.linalg.inv(arr), a)
        rhs_t = ops.unsqueeze(b, -1) if vector else b
        change = ops.sub(_delta(rhs_t), ops.matmul(_delta(a), x))
        x = ops.add(x, ops.matmul(inverse, change))
    return ops.squeeze(x, -1) if vector else x


@autocast_op("fp32")
def cholesky(a: Tensor, *, upper: bool = False) -> Tensor:
    (arr,) = _eager("cholesky", a)
    _square("cholesky", a)
    value, info = _np_cholesky(arr)
    _raise_not_pd("linalg.cholesky", info)
    low = _cholesky_linear(a, value)
    return _mT(low) if upper else low


@autocast_op("fp32")
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


@autocast_op("fp32")
def eigvalsh(a: Tensor, UPLO: str = "L") -> Tensor:  # noqa: N803
    return eigh(a, UPLO).eigenvalues


@autocast_op("fp32")
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


@autocast_op("fp32")
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


@autocast_op("fp32")
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


@autocast_op("fp32")
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
        never = constant(np.zeros((m, n), dtype=bool), dtypes.bool_, like=A)
        return ops.add(q, ops.where(never, A, 0.0))
    reflectors = ops.add(ops.tril(A, -1), eye)
    for i in reversed(range(k)):
        v = ops.narrow(reflectors, -1, i, 1)  # (..., m, 1)
        t = ops.unsqueeze(ops.narrow(tau, -1, i, 1), -1)  # (..., 1, 1)
        q = ops.sub(q, ops.mul(t, ops.matmul(v, ops.matmul(_mT(v), q))))
    return q


# ----------------------------------------------------------------------------- linalg16
# The rest of ``torch.linalg``: the ``_ex`` variants (an ``info`` per matrix instead of an
# error), LU, triangular solves, least squares, the pseudo-inverse, eigenvalues, and the
# composites (cross, vecdot, vander, multi_dot, matrix_power, cond, tensorinv/tensorsolve).


class LinAlgError(RuntimeError):
    """``torch.linalg.LinAlgError``: a factorization or solve met a singular or
    non-positive-definite matrix (a ``RuntimeError``, as in PyTorch)."""


linalg_inv_ex = return_type("linalg_inv_ex", ["inverse", "info"])
linalg_cholesky_ex = return_type("linalg_cholesky_ex", ["L", "info"])
linalg_solve_ex = return_type("linalg_solve_ex", ["result", "info"])
linalg_lu_factor = return_type("linalg_lu_factor", ["LU", "pivots"])
linalg_lu_factor_ex = return_type("linalg_lu_factor_ex", ["LU", "pivots", "info"])
linalg_lu = return_type("linalg_lu", ["P", "L", "U"])
linalg_lstsq = return_type("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


def _batch_prefix(info: np.ndarray, k: int) -> str:
    if info.ndim == 0:
        return ""
    return f"(Batch element {k}): "


def _first_failure(info: np.ndarray):
    """The flat index and value of the first nonzero ``info`` (None when all are 0)."""
    flat = info.reshape(-1)
    bad = np.flatnonzero(flat)
    if not bad.size:
        return None
    return int(bad[0]), int(flat[bad[0]])


def _raise_singular(name: str, info: np.ndarray) -> None:
    hit = _first_failure(info)
    if hit is not None:
        k, i = hit
        raise LinAlgError(
            f"{name}: {_batch_prefix(info, k)}The diagonal element {i} is zero, the inversion "
            "could not be completed because the input matrix is singular."
        )


def _raise_not_pd(name: str, info: np.ndarray) -> None:
    hit = _first_failure(info)
    if hit is not None:
        k, i = hit
        raise LinAlgError(
            f"{name}: {_batch_prefix(info, k)}The factorization could not be completed because "
            f"the input is not positive-definite (the leading minor of order {i} is not "
            "positive-definite)."
        )


def _np_lu(arr: np.ndarray):
    """LAPACK's ``getrf`` on a batch: partial pivoting (the first largest magnitude), the
    factors packed in one array, 1-based ``int32`` pivots, ``info`` the first zero pivot
    (1-based; 0 when none)."""
    *batch, m, n = arr.shape
    k = min(m, n)
    lu = np.array(arr, dtype=arr.dtype).reshape((int(np.prod(batch, dtype=np.int64)), m, n))
    count = lu.shape[0]
    piv = np.zeros((count, k), dtype=np.int32)
    info = np.zeros(count, dtype=np.int32)
    rows = np.arange(count)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(k):
            p = np.argmax(np.abs(lu[:, j:, j]), axis=1) + j
            piv[:, j] = p + 1
            top = lu[rows, j].copy()
            lu[rows, j] = lu[rows, p]
            lu[rows, p] = top
            pivot = lu[:, j, j]
            zero = pivot == 0
            info = np.where(zero & (info == 0), j + 1, info).astype(np.int32)
            scale = np.where(zero, 1.0, pivot).astype(arr.dtype)
            lu[:, j + 1 :, j] /= scale[:, None]
            lu[:, j + 1 :, j + 1 :] -= lu[:, j + 1 :, j : j + 1] * lu[:, j : j + 1, j + 1 :]
    return (
        lu.reshape((*batch, m, n)),
        piv.reshape((*batch, k)),
        info.reshape(tuple(batch)),
    )


def _np_permutation(piv: np.ndarray, m: int, dtype) -> np.ndarray:
    """The ``(..., m, m)`` permutation ``P`` of ``A = P L U`` from 1-based ``getrf`` pivots."""
    batch = piv.shape[:-1]
    count = int(np.prod(batch, dtype=np.int64))
    flat = piv.reshape((count, piv.shape[-1])).astype(np.int64) - 1
    perm = np.tile(np.arange(m), (flat.shape[0], 1))
    rows = np.arange(flat.shape[0])
    for j in range(flat.shape[1]):
        p = flat[:, j]
        top = perm[rows, j].copy()
        perm[rows, j] = perm[rows, p]
        perm[rows, p] = top
    # row j of P^T A is row perm[j] of A: P[perm[j], j] = 1
    eye = np.zeros((flat.shape[0], m, m), dtype=dtype)
    eye[rows[:, None], perm, np.arange(m)[None, :]] = 1
    return eye.reshape((*batch, m, m))


def _np_trisolve(a: np.ndarray, b: np.ndarray, upper: bool, unit: bool) -> np.ndarray:
    """``A X = B`` by substitution (``A`` triangular, batches broadcast); a zero on the
    diagonal gives inf/nan, as LAPACK's ``trtrs`` does, never an error."""
    n = a.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    x = np.array(np.broadcast_to(b, batch + b.shape[-2:]), dtype=np.result_type(a, b))
    order = range(n - 1, -1, -1) if upper else range(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in order:
            if upper and i + 1 < n:
                x[..., i, :] -= (a[..., i : i + 1, i + 1 :] @ x[..., i + 1 :, :])[..., 0, :]
            elif not upper and i > 0:
                x[..., i, :] -= (a[..., i : i + 1, :i] @ x[..., :i, :])[..., 0, :]
            if not unit:
                x[..., i, :] /= a[..., i, i][..., None]
    return x


def _np_lu_solve(lu: np.ndarray, piv: np.ndarray, b: np.ndarray) -> np.ndarray:
    perm = _np_permutation(piv, lu.shape[-1], lu.dtype)
    y = _np_trisolve(lu, np.swapaxes(perm, -1, -2) @ b, upper=False, unit=True)
    return _np_trisolve(lu, y, upper=True, unit=False)


def _np_cholesky(arr: np.ndarray):
    """The lower Cholesky factor and ``potrf``'s ``info`` (the order of the first leading
    minor that is not positive-definite; its diagonal keeps the failed pivot)."""
    *batch, n, _ = arr.shape
    info = np.zeros(tuple(batch), dtype=np.int32)
    try:
        return np.linalg.cholesky(arr), info
    except np.linalg.LinAlgError:
        pass
    a = np.tril(np.array(arr)).reshape((int(np.prod(batch, dtype=np.int64)), n, n))
    flat = info.reshape(-1)
    for b in range(a.shape[0]):
        m = a[b]
        for j in range(n):
            d = m[j, j] - m[j, :j] @ m[j, :j]
            if not d > 0:
                m[j, j] = d
                flat[b] = j + 1
                break
            m[j, j] = math.sqrt(d)
            m[j + 1 :, j] = (m[j + 1 :, j] - m[j + 1 :, :j] @ m[j, :j]) / m[j, j]
    return a.reshape(arr.shape), flat.reshape(tuple(batch))


def _int_info(info: np.ndarray, like: Tensor) -> Tensor:
    return constant(np.asarray(info, dtype=np.int32), dtypes.int32, like=like)


def _broadcast_batch(name, a, b):
    """``A`` and ``B`` (matrices) with their batch dimensions broadcast."""
    try:
        batch = tuple(np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    except ValueError:
        raise RuntimeError(
            f"{name}: Incompatible shapes of A and B for the equation AX = B "
            f"({list(a.shape)} and {list(b.shape)})"
        ) from None
    if tuple(a.shape[:-2]) != batch:
        a = ops.expand(a, batch + tuple(a.shape[-2:]))
    if tuple(b.shape[:-2]) != batch:
        b = ops.expand(b, batch + tuple(b.shape[-2:]))
    return a, b


def _same_dtype(name, a, b, what=("A", "B")):
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"{name}: Expected {what[0]} and {what[1]} to have the same dtype, but found "
            f"{what[0]} of type {a.dtype.name} and {what[1]} of type {b.dtype.name} instead."
        )


def inv_ex(A: Tensor, *, check_errors: bool = False):  # noqa: N803
    """``(inverse, info)``: ``info > 0`` marks a singular matrix (the index of the zero
    pivot of its LU), whose inverse holds inf/nan; ``check_errors`` raises instead."""
    (arr,) = _eager("inv_ex", A)
    _square("inv_ex", A)
    _, _, info = _np_lu(arr)
    if check_errors:
        _raise_singular("linalg.inv_ex", info)
    if info.any():
        return linalg_inv_ex(_inv_linear(A, _lu_inverse(arr)), _int_info(info, A))
    return linalg_inv_ex(_inv_linear(A, np.linalg.inv(arr)), _int_info(info, A))


def _lu_inverse(arr):
    lu, piv, _ = _np_lu(arr)
    eye = np.broadcast_to(np.eye(arr.shape[-1], dtype=arr.dtype), arr.shape)
    return _np_lu_solve(lu, piv, eye)


def _inv_linear(a: Tensor, value: np.ndarray) -> Tensor:
    c = _const(value, a)
    if not a.requires_grad:
        return c
    return ops.sub(c, ops.matmul(ops.matmul(c, _delta(a)), c))


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False):  # noqa: N803
    """``(L, info)``: ``info > 0`` is the order of the leading minor that is not
    positive-definite (``L`` is then partial); ``check_errors`` raises instead."""
    (arr,) = _eager("cholesky_ex", A)
    _square("cholesky_ex", A)
    value, info = _np_cholesky(arr)
    if check_errors:
        _raise_not_pd("linalg.cholesky_ex", info)
    low = _cholesky_linear(A, value)
    return linalg_cholesky_ex(_mT(low) if upper else low, _int_info(info, A))


def _cholesky_linear(a: Tensor, value: np.ndarray) -> Tensor:
    low = _const(value, a)
    if a.requires_grad:
        # dL = L Phi(L^-1 dA_sym L^-T), Phi: the lower triangle with a halved diagonal
        n = a.shape[-1]
        eye = np.broadcast_to(np.eye(n, dtype=value.dtype), value.shape)
        linv = _const(_np_trisolve(value, eye, upper=False, unit=False), a)  # inf, not raise
        d = _delta(a)
        d = ops.mul(ops.add(d, _mT(d)), 0.5)
        inner = ops.matmul(ops.matmul(linv, d), _mT(linv))
        phi = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
        low = ops.add(low, ops.matmul(low, ops.mul(inner, _const(phi, a))))
    return low


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False):  # noqa: N803
    """``(result, info)`` of ``A X = B`` (``X A = B`` with ``left=False``): ``info > 0``
    marks a singular ``A`` (its result holds inf/nan); ``check_errors`` raises instead."""
    (arr,) = _eager("solve_ex", A)
    _square("solve_ex", A)
    _, _, info = _np_lu(arr)
    if check_errors and info.any():
        raise LinAlgError(
            "torch.linalg.solve_ex: The solver failed because the input matrix is singular."
        )
    if not info.any():
        return linalg_solve_ex(solve(A, B, left=left), _int_info(info, A))
    if not left:
        result = _mT(solve_ex(_mT(A), _mT(B)).result)
        return linalg_solve_ex(result, _int_info(info, A))
    (brr,) = _eager("solve_ex", B)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    rhs = brr[..., None] if vector else brr
    lu, piv, _ = _np_lu(arr)
    value = _np_lu_solve(lu, piv, rhs)
    x = _const(value, A)
    return linalg_solve_ex(ops.squeeze(x, -1) if vector else x, _int_info(info, A))


def solve_triangular(
    A: Tensor,  # noqa: N803
    B: Tensor,  # noqa: N803
    *,
    upper: bool,
    left: bool = True,
    unitriangular: bool = False,
) -> Tensor:
    """``A X = B`` (``X A = B`` with ``left=False``) for triangular ``A``, batches
    broadcast. Only ``A``'s triangle is read (not its diagonal with ``unitriangular``), and
    only that part gets a gradient; a zero on the diagonal gives inf/nan, as PyTorch."""
    name = "linalg.solve_triangular"
    arr, brr = _eager("solve_triangular", A, B)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        _square("solve_triangular", A)
    if B.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    _same_dtype(name, A, B)
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(
            f"{name}: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({A.shape[-2]}x{A.shape[-1]} and "
            f"{B.shape[-2]}x{B.shape[-1]})"
        )
    if not left:
        x = solve_triangular(_mT(A), _mT(B), upper=not upper, unitriangular=unitriangular)
        return _mT(x)
    tri = np.triu(arr) if upper else np.tril(arr)
    value = _np_trisolve(tri, brr, upper, unitriangular)
    x = _const(value, A)
    if not (A.requires_grad or B.requires_grad):
        return x
    eye = np.broadcast_to(np.eye(n, dtype=arr.dtype), arr.shape)
    tinv = _const(_np_trisolve(tri, eye, upper, unitriangular), A)
    dt = _delta(A)
    if upper:
        dt = ops.triu(dt, 1 if unitriangular else 0)
    else:
        dt = ops.tril(dt, -1 if unitriangular else 0)
    change = ops.sub(_delta(B), ops.matmul(dt, x))
    return ops.add(x, ops.matmul(tinv, change))


# --- LU


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False):  # noqa: N803
    """``(LU, pivots, info)``: LAPACK's ``getrf`` (partial pivoting) of ``(..., m, n)``
    matrices; ``pivots`` are 1-based ``int32``; ``info > 0`` is the first zero pivot."""
    name = "linalg.lu_factor_ex"
    (arr,) = _eager("lu_factor_ex", A)
    if A.ndim < 2:
        raise RuntimeError(
            f"{name}: The input tensor A must have at least 2 dimensions, got {A.ndim}"
        )
    if not pivot:
        raise RuntimeError(f"{name}: LU without pivoting is not implemented on the CPU")
    lu, piv, info = _np_lu(arr)
    if check_errors:
        _raise_singular(name, info)
    pivots = constant(piv, dtypes.int32, like=A)
    return linalg_lu_factor_ex(_lu_linear(A, lu, piv), pivots, _int_info(info, A))


def lu_factor(A: Tensor, *, pivot: bool = True):  # noqa: N803
    """``(LU, pivots)``; a singular matrix raises (``lu_factor_ex`` reports it instead)."""
    name = "torch.linalg.lu_factor"
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    lu, pivots, info = lu_factor_ex(A)
    hit = _first_failure(np.asarray(info._data))
    if hit is not None:
        k, i = hit
        prefix = f"(Batch element {k}): " if A.ndim > 2 else ""
        raise RuntimeError(
            f"{name}: {prefix}U[{i},{i}] is zero and using it on lu_solve would result in a "
            "division by zero. If you still want to perform the factorization, consider "
            "calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)"
        )
    return linalg_lu_factor(lu, pivots)


def _lu_linear(a: Tensor, lu: np.ndarray, piv: np.ndarray) -> Tensor:
    """The packed factors with their first-order change (PyTorch's ``linalg_lu_jvp``).
    With ``P^T A = L U`` and ``M = P^T dA``, on the square part ``X = L^-1 M U^-1``,
    ``dL = L tril(X, -1)``, ``dU = triu(X) U``; a tall ``A``'s extra rows of ``L`` and a
    wide ``A``'s extra columns of ``U`` follow from their defining products."""
    value = _const(lu, a)
    if not a.requires_grad:
        return value
    m, n = a.shape[-2:]
    k = min(m, n)
    perm = _np_permutation(piv, m, lu.dtype)
    low = np.tril(lu[..., :, :k], -1) + np.eye(m, k, dtype=lu.dtype)
    up = np.triu(lu[..., :k, :])
    l1, u1 = low[..., :k, :], up[..., :, :k]
    eye = np.broadcast_to(np.eye(k, dtype=lu.dtype), l1.shape)
    l1_inv = _np_trisolve(l1, eye, upper=False, unit=True)
    u1_inv = _np_trisolve(u1, eye, upper=True, unit=False)
    mm = ops.matmul(_const(np.swapaxes(perm, -1, -2), a), _delta(a))  # P^T dA
    m1 = ops.narrow(ops.narrow(mm, -2, 0, k), -1, 0, k)
    x = ops.matmul(ops.matmul(_const(l1_inv, a), m1), _const(u1_inv, a))
    dl1 = ops.matmul(_const(l1, a), ops.tril(x, -1))
    du1 = ops.matmul(ops.triu(x), _const(u1, a))
    d = ops.add(dl1, du1)  # the square block of dLU: strictly lower dL, upper dU
    if m > k:  # L2 = M2 U^-1: dL2 = (dM2 - L2 dU) U^-1
        m2 = ops.narrow(mm, -2, k, m - k)
        l2 = _const(low[..., k:, :], a)
        dl2 = ops.matmul(ops.sub(m2, ops.matmul(l2, du1)), _const(u1_inv, a))
        d = ops.cat([d, dl2], -2)
    if n > k:  # U2 = L^-1 M2: dU2 = L^-1 (dM2 - dL U2)
        m2 = ops.narrow(mm, -1, k, n - k)
        u2 = _const(up[..., :, k:], a)
        du2 = ops.matmul(_const(l1_inv, a), ops.sub(m2, ops.matmul(dl1, u2)))
        d = ops.cat([d, du2], -1)
    return ops.add(value, d)


def lu_unpack(
    LU_data: Tensor,
    LU_pivots: Tensor,
    unpack_data: bool = True,  # noqa: N803
    unpack_pivots: bool = True,
):
    """``(P, L, U)`` from ``lu_factor``'s packed factors (``torch.lu_unpack``); ``L`` and
    ``U`` are triangles of ``LU_data``, differentiable; a part not unpacked is empty."""
    from .ops import linalg16

    return linalg16.lu_unpack(LU_data, LU_pivots, unpack_data, unpack_pivots)


def lu(A: Tensor, *, pivot: bool = True):  # noqa: N803
    """``(P, L, U)`` with ``A = P L U``; ``L`` unit lower ``(m, k)``, ``U`` upper ``(k, n)``."""
    if not pivot:
        raise RuntimeError("linalg.lu: LU without pivoting is not implemented on the CPU")
    if A.ndim < 2:
        raise RuntimeError(
            f"linalg.lu: The input tensor A must have at least 2 dimensions, got {A.ndim}"
        )
    packed, pivots, _ = lu_factor_ex(A)
    return linalg_lu(*lu_unpack(packed, pivots))


def lu_solve(
    LU: Tensor,
    pivots: Tensor,
    B: Tensor,
    *,
    left: bool = True,  # noqa: N803
    adjoint: bool = False,
) -> Tensor:
    """``A X = B`` from ``A``'s ``lu_factor`` (``A^T X = B`` with ``adjoint``, ``X A = B``
    with ``left=False``): two triangular solves, differentiable in ``LU`` and ``B``."""
    name = "linalg.lu_solve"
    if LU.ndim < 2 or LU.shape[-1] != LU.shape[-2]:
        _square("lu_solve", LU)
    if B.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    n = LU.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(
            f"{name}: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {B.shape[-2]}x{B.shape[-1]})"
        )
    if pivots.dtype is not dtypes.int32:
        raise RuntimeError(
            f"{name}: Expected pivots to be of type int32, but got {pivots.dtype.name}"
        )
    if tuple(pivots.shape) != tuple(LU.shape[:-1]):
        raise RuntimeError(
            f"{name}: Expected LU.shape[:-1] and pivots.shape to be the same, but got pivots "
            f"with shape {list(pivots.shape)} instead"
        )
    _same_dtype(name, LU, B, ("LU", "B"))
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return _mT(lu_solve(LU, pivots, _mT(B), adjoint=not adjoint))
    perm = _const(_np_permutation(np.asarray(pivots._data), n, LU.dtype.np), LU)
    if not adjoint:  # X = U^-1 L^-1 P^T B
        y = ops.matmul(_mT(perm), B)
        y = solve_triangular(LU, y, upper=False, unitriangular=True)
        return solve_triangular(LU, y, upper=True)
    # A^T = U^T L^T P^T: X = P L^-T U^-T B
    y = solve_triangular(_mT(LU), B, upper=False)
    y = solve_triangular(_mT(LU), y, upper=True, unitriangular=True)
    return ops.matmul(perm, y)


# --- least squares, pseudo-inverse, rank


def _tolerance(name, s_max, atol, rtol, m, n, dtype):
    """PyTorch's cutoff ``max(atol, rtol * s_max)``: without either, ``rtol`` is
    ``eps * max(m, n)``; with only ``atol`` (positive), ``rtol`` is 0."""

    def value(t):
        return np.asarray(t._data if isinstance(t, Tensor) else t, dtype=np.float64)

    def per_matrix(t):  # a tensor of tolerances has the batch's shape: add the axis of s
        v = value(t)
        return v[..., None] if v.ndim else v

    if rtol is None:
        only_atol = atol is not None and np.all(value(atol) > 0)
        rtol = 0.0 if only_atol else np.finfo(dtype).eps * max(m, n)
    atol = 0.0 if atol is None else atol
    return np.maximum(per_matrix(atol), per_matrix(rtol) * s_max)


@autocast_op("fp32")
def pinv(A: Tensor, rcond=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:  # noqa: N803
    """The Moore-Penrose pseudo-inverse: singular values at or under
    ``max(atol, rtol * s_max)`` count as zero (``rcond`` is the older name of ``rtol``).
    With ``hermitian`` it comes from ``eigh`` (the lower triangle read) and eigenvalue
    magnitudes. The gradient is PyTorch's (for a locally constant rank, ``A`` taken whole):
    ``dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P``."""
    if rcond is not None:
        if rtol is not None:
            raise RuntimeError("linalg.pinv: rcond and rtol cannot both be given")
        rtol = rcond
    if A.ndim < 2 or not A.dtype.is_floating_point:
        raise RuntimeError(
            f"linalg.pinv({A.dtype.name}{list(A.shape)}): expected a tensor with 2 or more "
            "dimensions of float, double, cfloat or cdouble types"
        )
    (arr,) = _eager("pinv", A)
    m, n = A.shape[-2:]
    if hermitian:
        _square("pinv", A)
        value = _np_pinv_hermitian(arr, atol, rtol)
        return _pinv_linear(A, value)
    value = _np_pinv(arr, atol, rtol)
    return _pinv_linear(A, value)


def _np_pinv_hermitian(arr, atol, rtol):
    """The pseudo-inverse of symmetric matrices (lower triangles read) from ``eigh``:
    eigenvalues of magnitude at or under the cutoff count as zero."""
    n = arr.shape[-1]
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=arr.dtype)
    w, v = np.linalg.eigh(arr)
    s_max = np.abs(w).max(-1, keepdims=True)
    tol = _tolerance("pinv", s_max, atol, rtol, n, n, arr.dtype)
    keep = np.abs(w) > tol
    with np.errstate(divide="ignore"):
        w_inv = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0).astype(arr.dtype)
    return (v * w_inv[..., None, :]) @ np.swapaxes(v, -1, -2)


def _np_pinv(arr, atol, rtol):
    m, n = arr.shape[-2:]
    if arr.size == 0:
        return np.zeros(arr.shape[:-2] + (n, m), dtype=arr.dtype)
    u, s, vh = np.linalg.svd(arr, full_matrices=False)
    tol = _tolerance("pinv", s[..., :1], atol, rtol, m, n, arr.dtype)
    keep = s > tol
    with np.errstate(divide="ignore"):
        s_inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0).astype(arr.dtype)
    return np.swapaxes(vh, -1, -2) @ (s_inv[..., :, None] * np.swapaxes(u, -1, -2))


def _pinv_linear(a: Tensor, value: np.ndarray) -> Tensor:
    p = _const(value, a)
    if not a.requires_grad:
        return p
    m, n = a.shape[-2:]
    d = _delta(a)
    a0 = _const(np.asarray(a.detach()._data), a)
    d_t = _mT(d)
    p_t = _mT(p)
    left = ops.sub(_const(np.eye(m), a), ops.matmul(a0, p))  # I - A P  (m x m)
    right = ops.sub(_const(np.eye(n), a), ops.matmul(p, a0))  # I - P A  (n x n)
    change = ops.neg(ops.matmul(ops.matmul(p, d), p))
    change = ops.add(change, ops.matmul(ops.matmul(ops.matmul(p, p_t), d_t), left))
    change = ops.add(change, ops.matmul(ops.matmul(ops.matmul(right, d_t), p_t), p))
    return ops.add(p, change)


@autocast_op("fp32")
def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:  # noqa: N803
    """The number of singular values (eigenvalue magnitudes with ``hermitian``) above
    ``max(atol, rtol * s_max)``, as ``int64``; ``tol`` is the older name of ``atol``."""
    if tol is not None:
        if atol is not None:
            raise RuntimeError("linalg.matrix_rank: tol and atol cannot both be given")
        atol, rtol = tol, (0.0 if rtol is None else rtol)
    if A.ndim < 2 or not A.dtype.is_floating_point:
        raise RuntimeError(
            f"linalg.matrix_rank({A.dtype.name}{list(A.shape)}): expected a tensor with 2 or "
            "more dimensions of float, double, cfloat or cdouble types"
        )
    (arr,) = _eager("matrix_rank", A.detach())
    m, n = A.shape[-2:]
    if hermitian:
        _square("matrix_rank", A)
        s = np.abs(np.linalg.eigvalsh(arr)) if arr.size else np.zeros(arr.shape[:-1])
    else:
        s = np.linalg.svd(arr, compute_uv=False) if arr.size else np.zeros(arr.shape[:-2] + (0,))
    s_max = s.max(-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,))
    tol = _tolerance("matrix_rank", s_max, atol, rtol, m, n, arr.dtype)
    return constant((s > tol).sum(-1), dtypes.int64, like=A)


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


@autocast_op("fp32")
def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None):  # noqa: N803
    """``min ||A X - B||_F``: ``(solution, residuals, rank, singular_values)`` as PyTorch
    on the CPU (default driver ``gelsy``). Solved through the SVD with singular values at
    or under ``rcond * s_max`` dropped (``rcond`` default ``eps * max(m, n)``): the
    minimum-norm solution every driver but ``gels`` returns (``gelsy`` decides the rank
    from a pivoted QR, which agrees except for values at the cutoff; ``gels`` assumes full
    rank). ``rank`` comes with every driver but ``gels``, ``singular_values`` with
    ``gelsd``/``gelss``, ``residuals`` (``||A X - B||^2`` per column) when ``m > n``, every
    matrix has full rank and the driver is not ``gelsy``. The gradient of ``solution`` is
    PyTorch's, through the pseudo-inverse."""
    name = "torch.linalg.lstsq"
    if driver is None:
        driver = "gelsy"
    if driver not in _LSTSQ_DRIVERS:
        raise RuntimeError(
            f"{name}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)"
        )
    if A.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if B.ndim < 1:
        raise RuntimeError(f"{name}: other must have at least 1 dimension.")
    _same_dtype(name, A, B, ("input", "other"))
    arr, brr = _eager("lstsq", A, B)
    vector = B.ndim == A.ndim - 1
    if vector:
        B = ops.unsqueeze(B, -1)
        brr = brr[..., None]
    if A.shape[-2] != B.shape[-2]:
        raise RuntimeError(f"{name}: input.size(-2) should match other.size(-2)")
    A, B = _broadcast_batch(name, A, B)
    arr, brr = np.asarray(A.detach()._data), np.asarray(B.detach()._data)
    m, n = arr.shape[-2:]
    eps_rcond = np.finfo(arr.dtype).eps * max(m, n)
    rcond = eps_rcond if rcond is None or rcond < 0 else rcond
    if driver == "gels":
        rcond = 0.0
    batch = arr.shape[:-2]
    if arr.size:
        s = np.linalg.svd(arr, compute_uv=False)
    else:
        s = np.zeros(batch + (min(m, n),), dtype=arr.dtype)
    s_max = s[..., :1] if s.shape[-1] else np.zeros(batch + (1,), dtype=arr.dtype)
    rank = (s > rcond * s_max).sum(-1) if s.shape[-1] else np.zeros(batch, dtype=np.int64)
    p = _np_pinv(arr, None, rcond) if driver != "gels" else _np_pinv(arr, 0.0, 0.0)
    value = p @ brr
    x = _const(value, A)
    if A.requires_grad or B.requires_grad:  # X = pinv(A) B, linearized in A and B
        x = ops.matmul(_pinv_linear(A, p), _const(brr, A))
        x = ops.add(x, ops.matmul(_const(p, A), _delta(B)))
    empty = _const(np.zeros((0,)), A)
    full_rank = driver == "gels" or bool(np.all(rank == n))
    if m > n and driver != "gelsy" and full_rank:
        residual = ops.sub(ops.matmul(A, x), B)
        residuals = ops.sum(ops.mul(residual, residual), -2)
    else:
        residuals = empty
    rank_t = (
        constant(np.zeros((0,), dtype=np.int64), dtypes.int64, like=A)
        if driver == "gels"
        else constant(np.asarray(rank, dtype=np.int64), dtypes.int64, like=A)
    )
    sv = _const(s, A) if driver in ("gelsd", "gelss") else empty
    if vector:
        x = ops.squeeze(x, -1)
    return linalg_lstsq(x, residuals, rank_t, sv)


# --- eigenvalues, condition number


@autocast_op("fp32")
def eigvals(A: Tensor) -> Tensor:  # noqa: N803
    """The eigenvalues of general square matrices, always complex (``complex64`` from
    ``float32``, ``complex128`` from ``float64``), in LAPACK's ``geev`` order. Gradient
    (PyTorch's, eager): ``dw = diag(V^-1 dA V)`` for diagonalizable ``A``."""
    (arr,) = _eager("eigvals", A)
    _square("eigvals", A)
    cdtype = dtypes.complex64 if A.dtype is dtypes.float32 else dtypes.complex128
    if arr.size == 0:
        return constant(np.zeros(arr.shape[:-1]), cdtype, like=A)
    if not A.requires_grad:
        return constant(np.linalg.eigvals(arr), cdtype, like=A)
    w, v = np.linalg.eig(arr)
    values = constant(w, cdtype, like=A)
    vecs = constant(v, cdtype, like=A)
    try:
        vinv = np.linalg.inv(v)
    except np.linalg.LinAlgError:  # a defective matrix: inf/nan gradients, as PyTorch
        vinv = _lu_inverse(v)
    vinv = constant(vinv, cdtype, like=A)
    d = ops.cast(_delta(A), cdtype)
    # diag(V^-1 dA V)_i = sum_j (V^-1)_ij (dA V)_ji
    return ops.add(values, ops.sum(ops.mul(vinv, _mT(ops.matmul(d, vecs))), -1))


eig_result = return_type("linalg_eig", ["eigenvalues", "eigenvectors"])


def eig(A: Tensor):  # noqa: N803
    """Eigenvalues and unit-norm eigenvectors of general square matrices, always complex
    (``complex64`` from ``float32``, ``complex128`` from ``float64``), as LAPACK's ``geev``
    gives them (PyTorch's order and phases). Gradient (PyTorch's, eager, for losses that do
    not depend on the eigenvectors' phases): with ``dP = V^-1 dA V``, ``dL = diag(dP)`` and
    ``dV = V (dP / (L_j - L_i))`` off the diagonal, less its component along ``V``.

    >>> import kiln
    >>> kiln.linalg.eig(kiln.tensor([[2.0, 0.0], [0.0, 3.0]])).eigenvalues.tolist()
    [(2+0j), (3+0j)]
    """
    (arr,) = _eager("eig", A)
    _square("eig", A)
    cdtype = dtypes.complex64 if A.dtype is dtypes.float32 else dtypes.complex128
    if arr.size == 0:
        return eig_result(
            constant(np.zeros(arr.shape[:-1]), cdtype, like=A),
            constant(np.zeros(arr.shape), cdtype, like=A),
        )
    w, v = np.linalg.eig(arr)
    values, vecs = constant(w, cdtype, like=A), constant(v, cdtype, like=A)
    if not A.requires_grad:
        return eig_result(values, vecs)
    try:
        vinv = np.linalg.inv(v)
    except np.linalg.LinAlgError:  # a defective matrix: inf/nan gradients, as PyTorch
        vinv = _lu_inverse(v)
    vinv = constant(vinv, cdtype, like=A)
    dav = ops.matmul(ops.cast(_delta(A), cdtype), vecs)
    dp = ops.matmul(vinv, dav)  # V^-1 dA V
    w = w.astype(np.complex128)
    gaps = w[..., None, :] - w[..., :, None]  # [i, j] = L_j - L_i
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(np.eye(w.shape[-1], dtype=bool), 0.0, 1.0 / gaps)
    dv = ops.matmul(vecs, ops.mul(dp, constant(f, cdtype, like=A)))
    from .complex_tensors import conj, real

    # keep each column at unit norm: remove Re(v^H dv) v
    along = ops.sum(ops.mul(conj(vecs), dv), -2, keepdim=True)
    dv = ops.sub(dv, ops.mul(vecs, ops.cast(real(along), cdtype)))
    values = ops.add(values, ops.sum(ops.mul(vinv, _mT(dav)), -1))  # diag(V^-1 dA V)
    return eig_result(values, ops.add(vecs, dv))


_COND_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)


@autocast_op("fp32")
def cond(A: Tensor, p=None) -> Tensor:  # noqa: N803
    """The condition number ``||A||_p ||A^-1||_p``: for ``p`` in ``None, 2, -2`` the ratio
    of extreme singular values (any shape); else of square matrices, inf where ``A`` is
    singular. A composite of ``svdvals``/``inv_ex`` and the norms, so differentiable."""
    if p is not None and p not in _COND_ORDS:
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    if A.ndim < 2:
        raise RuntimeError(
            f"linalg.cond: The input tensor A must have at least 2 dimensions, got {A.ndim}"
        )
    if not A.dtype.is_floating_point:
        raise RuntimeError(
            f"linalg.cond: Expected a floating point or complex tensor as input. Got {A.dtype.name}"
        )
    if p in (None, 2, -2):
        s = svdvals(A)
        if s.shape[-1] == 0:
            return ops.sum(s, -1)
        big, small = ops.narrow(s, -1, 0, 1), ops.narrow(s, -1, s.shape[-1] - 1, 1)
        ratio = ops.div(big, small) if p != -2 else ops.div(small, big)
        return ops.squeeze(ratio, -1)
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(
            f"linalg.cond(ord={p}): A must be batches of square matrices, but they are "
            f"{A.shape[-2]} by {A.shape[-1]} matrices"
        )
    if A.numel() == 0:
        return ops.sum(ops.sum(A, -1), -1)
    inverse, info = inv_ex(A)
    value = ops.mul(matrix_norm(A, p), matrix_norm(inverse, p))
    return ops.where(ops.gt(info, 0), math.inf, value)


# --- composites: differentiable and traceable by construction


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: N803
    """``torch.linalg.diagonal``: ``torch.diagonal`` with the last two axes by default."""
    return ops.diagonal(A, offset, dim1, dim2)


def matmul(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """``torch.linalg.matmul``: ``torch.matmul``."""
    return ops.matmul(input, other)


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:  # noqa: A002
    """The cross product of 3-vectors along ``dim``, operands broadcast (same ndim)."""
    from .ops import linalg16

    return linalg16.linalg_cross(input, other, dim)


@autocast_op("lower")
def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """``sum(conj(x) * y, dim)``, operands broadcast."""
    if x.dtype is not y.dtype:
        raise RuntimeError(
            "linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
            f"{x.dtype.name} and y of type {y.dtype.name} instead"
        )
    if x.dtype.is_complex:
        from .complex_tensors import conj

        x = conj(x)
    return ops.sum(ops.mul(x, y), dim)


def vander(x: Tensor, *, N=None) -> Tensor:  # noqa: N803
    """``[..., i, j] = x[..., i] ** j`` for ``j < N`` (default ``x.shape[-1]``): a
    ``cumprod``, as PyTorch, so differentiable and traceable."""
    if x.ndim == 0:  # PyTorch: a 0-d x is one point
        x = ops.reshape(x, (1,))
    if x.dtype is dtypes.bool_:
        raise RuntimeError(
            "linalg.vander supports floating point, complex, and integer tensors, but got Bool"
        )
    n = x.shape[-1] if N is None else N
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    ones = ops.expand(_like_scalar(1, x), tuple(x.shape) + (1,))
    rest = ops.expand(ops.unsqueeze(x, -1), tuple(x.shape) + (n - 1,))
    return ops.cumprod(ops.cat([ones, rest], -1), -1)


def _like_scalar(value, x):
    return constant(np.array(value), x.dtype, like=x)


def multi_dot(tensors) -> Tensor:
    """The product of a chain of matrices (the first may be 1-D, a row; the last 1-D, a
    column), multiplied in the order of fewest flops."""
    from .ops import linalg16

    return linalg16.multi_dot(tensors)


def matrix_power(A: Tensor, n: int) -> Tensor:  # noqa: N803
    """``A^n`` by repeated squaring; ``n < 0`` is ``inv(A)^-n``; ``n = 0`` the identity."""
    from .ops import linalg16

    return linalg16.matrix_power(A, n)


@autocast_op("fp32")
def tensorinv(A: Tensor, ind: int = 2) -> Tensor:  # noqa: N803
    """The inverse of ``A`` seen as a map from its first ``ind`` axes to the others: shape
    ``A.shape[ind:] + A.shape[:ind]``."""
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    rows, cols = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    if math.prod(rows) != math.prod(cols):
        raise RuntimeError(
            "Expected self to satisfy the requirement prod(self.shape[ind:]) == "
            f"prod(self.shape[:ind]), but got {math.prod(cols)} != {math.prod(rows)}"
        )
    size = math.prod(rows)
    return ops.reshape(inv(ops.reshape(A, (size, size))), cols + rows)


@autocast_op("fp32")
def tensorsolve(A: Tensor, B: Tensor, dims=None) -> Tensor:  # noqa: N803
    """``X`` with ``tensordot(A, X, X.ndim) = B``: ``A``'s trailing axes (after moving
    ``dims`` there) are ``X``'s shape."""
    if dims is not None:
        dims = [d % A.ndim for d in dims]
        A = ops.movedim(A, dims, list(range(A.ndim - len(dims), A.ndim)))
    result = tuple(A.shape[B.ndim :])
    rows = B.numel()
    cols = math.prod(result)
    if rows != cols:
        raise RuntimeError(
            "Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
            f"prod(self.shape[:other.ndim]), but got {cols} != {math.prod(A.shape[: B.ndim])}"
        )
    x = solve(ops.reshape(A, (rows, cols)), ops.reshape(B, (rows,)))
    return ops.reshape(x, result)


from .linalg_ldl import ldl_factor, ldl_factor_ex, ldl_solve  # noqa: E402 - LAPACK's sytrf/sytrs
