"""The ``torch.*`` linear algebra that real programs call: the ``add*`` products
(``addbmm``, ``baddbmm``, ``addmv``, ``addr``), the small products (``ger``, ``inner``,
``vdot``, ``kron``, ``cross``), distances, ``matrix_power``, the Cholesky/LU/triangular
solvers, ``lu_unpack``, the trapezoid rules and ``vander``.

Products, distances, ``kron``, ``cross``, ``vander``, the trapezoid rules and a positive
``matrix_power`` are composites of differentiable ops, so autograd and ``kiln.jit`` work
unchanged. The solvers forward to ``kiln.linalg`` (NumPy's LAPACK, eager), and their
gradients are PyTorch's.

>>> import kiln
>>> kiln.kron(kiln.tensor([1, 2]), kiln.tensor([1, 10])).tolist()
[1, 10, 2, 20]
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..dispatch import autocast_op, computes_in_float32, constant, with_out
from ..tensor import Tensor
from .elementwise import add, cast, div, mul, sub, where
from .linalg import addmm, dot, matmul, outer
from .reduce import sum as sum_
from .shape import cat, expand, narrow, permute, reshape, roll, squeeze_axes, unsqueeze
from .sorting import cumprod, cumsum

__all__ = """
addbmm baddbmm addmv addmv_ addr ger inner vdot kron cross dist pdist pairwise_distance
cosine_similarity matrix_power pinverse cholesky_solve cholesky_inverse lu_unpack
triangular_solve trapz trapezoid cumulative_trapezoid vander lu lu_solve
""".split()

lu_unpack_result = namedtuple("lu_unpack", ["P", "L", "U"])
triangular_solve_result = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])
lu_with_info = namedtuple("_lu_with_info", ["LU", "pivots", "info"])


def _linalg():
    from .. import linalg

    return linalg


def _mT(x):  # noqa: N802
    return permute(x, list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2])


# ------------------------------------------------------------------ beta * input + alpha * P


def _check_scalars(name, dtype, beta, alpha):
    for label, value in (("beta", beta), ("alpha", alpha)):
        if isinstance(value, Tensor):
            continue
        if dtype.is_floating_point or dtype.is_complex:
            continue
        if dtype is dtypes.bool_:
            if not isinstance(value, bool) and value not in (0, 1):
                raise RuntimeError(f"Boolean {label} only supported for Boolean results.")
        elif isinstance(value, float) and not float(value).is_integer():
            raise RuntimeError(
                f"For integral input tensors, argument {label} must not be a floating point number."
            )


def _same_dtypes(name, *pairs):
    first_label, first = pairs[0]
    for label, t in pairs[1:]:
        if t.dtype is not first.dtype:
            raise RuntimeError(
                f"{name}: expected {first_label} and {label} to have the same dtype, but got "
                f"{first.dtype.name} and {t.dtype.name}"
            )


def _expand_input(name, x: Tensor, shape) -> Tensor:
    shape = tuple(shape)
    if tuple(x.shape) == shape:
        return x
    ok = x.ndim <= len(shape) and all(
        s == 1 or s == t for s, t in zip(reversed(x.shape), reversed(shape))
    )
    if not ok:
        raise RuntimeError(
            f"{name}: the input of shape {list(x.shape)} cannot be broadcast to the result's "
            f"shape {list(shape)}"
        )
    return expand(x, shape)


def _scaled_sum(name, x: Tensor, prod: Tensor, beta, alpha, strict: bool = True) -> Tensor:
    """``beta * x + alpha * prod`` (``x`` broadcast to ``prod``); with ``beta == 0`` ``x``
    is ignored, its NaN and inf included (PyTorch), though it keeps a zero gradient."""
    dtype = prod.dtype
    if strict:
        _check_scalars(name, dtype, beta, alpha)
    elif not (dtype.is_floating_point or dtype.is_complex):  # PyTorch truncates them
        beta = int(beta) if isinstance(beta, float) else beta
        alpha = int(alpha) if isinstance(alpha, float) else alpha
    x = _expand_input(name, x, prod.shape)
    if not (isinstance(alpha, numbers.Number) and alpha == 1):
        prod = mul(prod, alpha)
    if isinstance(beta, numbers.Number) and beta == 0:
        out = prod
        if x.requires_grad:  # connected, with a zero gradient (and no NaN through it)
            never = constant(np.zeros((), dtype=bool), dtypes.bool_, like=x)
            out = add(out, where(never, x, constant(0, x.dtype, like=x)))
    else:
        out = add(x if isinstance(beta, numbers.Number) and beta == 1 else mul(x, beta), prod)
    return out if out.dtype is dtype else cast(out, dtype)


@autocast_op("lower")
def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``: one matmul over the
    concatenated batch."""
    for label, t in (("batch1", batch1), ("batch2", batch2)):
        if t.ndim != 3:
            raise RuntimeError(f"{label} must be a 3D tensor")
    if batch1.shape[0] != batch2.shape[0]:
        raise RuntimeError(
            "batch1 and batch2 must have same number of batches, got "
            f"{batch1.shape[0]} and {batch2.shape[0]}"
        )
    b, n, m = batch1.shape
    if batch2.shape[1] != m:
        raise RuntimeError(
            f"Incompatible matrix sizes for bmm ({n}x{m} and {batch2.shape[1]}x{batch2.shape[2]})"
        )
    _same_dtypes("addbmm", ("input", input), ("batch1", batch1), ("batch2", batch2))
    p = batch2.shape[2]
    if b and input.dtype in (dtypes.float16, dtypes.bfloat16):
        # PyTorch adds one batch at a time (an addmm each, rounded to 16 bits each time)
        out = addmm(input, batch1[0], batch2[0], beta=beta, alpha=alpha)
        for i in range(1, b):
            out = addmm(out, batch1[i], batch2[i], alpha=alpha)
        return out
    left = reshape(permute(batch1, (1, 0, 2)), (n, b * m))
    prod = matmul(left, reshape(batch2, (b * m, p)))
    return _scaled_sum("addbmm", input, prod, beta, alpha, strict=False)


@autocast_op("lower")
@computes_in_float32
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * batch1 @ batch2`` (batched; ``input`` broadcast)."""
    for label, t in (("batch1", batch1), ("batch2", batch2)):
        if t.ndim != 3:
            raise RuntimeError(f"{label} must be a 3D tensor")
    b, n, m = batch1.shape
    if tuple(batch2.shape[:2]) != (b, m):
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{b}, {m}] but "
            f"got: [{batch2.shape[0]}, {batch2.shape[1]}]."
        )
    _same_dtypes("baddbmm", ("input", input), ("batch1", batch1), ("batch2", batch2))
    return _scaled_sum("baddbmm", input, matmul(batch1, batch2), beta, alpha, strict=False)


@autocast_op("native")
@computes_in_float32
def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * mat @ vec``."""
    if mat.ndim != 2 or vec.ndim != 1 or input.ndim > 1:
        raise RuntimeError(
            f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim}"
        )
    bad_input = input.ndim == 1 and input.shape[0] not in (1, mat.shape[0])
    if mat.shape[1] != vec.shape[0] or bad_input:
        raise RuntimeError(
            f"size mismatch, got input ({input.shape[0] if input.ndim else 1}), mat "
            f"({mat.shape[0]}x{mat.shape[1]}), vec ({vec.shape[0]})"
        )
    _same_dtypes("addmv", ("input", input), ("mat", mat), ("vec", vec))
    return _scaled_sum("addmv", input, matmul(mat, vec), beta, alpha, strict=False)


def addmv_(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """In place: ``input.addmv_(mat, vec)``."""
    from .inplace import inplace

    return inplace(input, "addmv_", mat, vec, beta=beta, alpha=alpha)


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * outer(vec1, vec2)``."""
    for label, t in (("vec1", vec1), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {label}, but got {t.ndim}-D")
    prod = outer(vec1, vec2)
    if prod.dtype is dtypes.bool_ and input.dtype is dtypes.bool_:
        # PyTorch: (beta and input) or (alpha and outer), any nonzero scalar counting as True
        from .elementwise import logical_and, logical_or

        out = prod if alpha else logical_and(prod, False)
        return logical_or(out, input) if beta else out
    dtype = dtypes.result_type(input, prod)
    if prod.dtype is not dtype:
        prod = cast(prod, dtype)
    return _scaled_sum("addr", input, prod, beta, alpha)


# ----------------------------------------------------------------------- small products


def ger(input: Tensor, vec2: Tensor) -> Tensor:  # noqa: A002
    """``torch.ger``: ``torch.outer``."""
    return outer(input, vec2)


def inner(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The sum over the last axes of both: shape ``input.shape[:-1] + other.shape[:-1]``; a
    0-d operand multiplies."""
    if input.ndim == 0 or other.ndim == 0:
        return mul(input, other)
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(
            "inner() the last dimension must match on both input tensors but got shapes "
            f"{list(input.shape)} and {list(other.shape)}"
        )
    if input.dtype is not other.dtype:
        raise RuntimeError("inner(): both inputs should have same dtype")
    if input.ndim == 1 and other.ndim == 1:  # PyTorch's dot (not autocast's bmm)
        return dot(input, other)
    k = input.shape[-1]
    a = reshape(input, (-1, k))
    b = reshape(other, (-1, k))
    return reshape(matmul(a, _mT(b)), tuple(input.shape[:-1]) + tuple(other.shape[:-1]))


@autocast_op("native")
def vdot(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """``sum(conj(input) * other)`` of two 1-D tensors of one dtype."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.dtype is not other.dtype:
        raise RuntimeError(
            "dot : expected both vectors to have same dtype, but found "
            f"{input.dtype.name} and {other.dtype.name}"
        )
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
            f"[{other.shape[0]}] to have the same number of elements, but got "
            f"{input.shape[0]} and {other.shape[0]} elements respectively"
        )
    if input.dtype.is_complex:
        from ..complex_tensors import conj

        input = conj(input)
    return matmul(input, other)


def kron(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The Kronecker product: ``out[i * s + j] = input[i] * other[j]`` on every axis (the
    shorter shape padded with leading 1s)."""
    nd = max(input.ndim, other.ndim)
    a_shape = (1,) * (nd - input.ndim) + tuple(input.shape)
    b_shape = (1,) * (nd - other.ndim) + tuple(other.shape)
    a = reshape(input, [d for s in a_shape for d in (s, 1)])
    b = reshape(other, [d for s in b_shape for d in (1, s)])
    return reshape(mul(a, b), [x * y for x, y in zip(a_shape, b_shape)])


def linalg_cross(input: Tensor, other: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """``torch.linalg.cross``: the operands broadcast (same ndim), ``dim`` of size 3."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if not -input.ndim <= dim < max(input.ndim, 1):
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-input.ndim}, "
            f"{input.ndim - 1}], but got {dim})"
        )
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got "
            f"{input.shape[dim]} and {other.shape[dim]}"
        )
    if input.dtype is not other.dtype:
        raise RuntimeError(
            f"linalg.cross: expected both inputs to have the same dtype, but got "
            f"{input.dtype.name} and {other.dtype.name}"
        )
    first = mul(roll(input, -1, dim), roll(other, -2, dim))
    return sub(first, mul(roll(input, -2, dim), roll(other, -1, dim)))


def cross(input: Tensor, other: Tensor, dim=None) -> Tensor:  # noqa: A002
    """``torch.cross``: without ``dim``, the first axis of ``input`` of size 3 (with
    PyTorch's deprecation warning); else ``linalg.cross``."""
    if dim is None:
        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either "
            "pass the dim explicitly or simply use torch.linalg.cross.\nThe default value of "
            "dim will change to agree with that of linalg.cross in a future release.",
            UserWarning,
            stacklevel=2,
        )
        found = [i for i, s in enumerate(input.shape) if s == 3]
        if not found:
            raise RuntimeError("no dimension of size 3 in input")
        dim = found[0]
    return linalg_cross(input, other, dim)


# ----------------------------------------------------------------------------- distances


def dist(input: Tensor, other: Tensor, p=2) -> Tensor:  # noqa: A002
    """The ``p``-norm of ``input - other`` (broadcast), a 0-d tensor."""
    if not input.dtype.is_floating_point or not other.dtype.is_floating_point:
        raise RuntimeError(
            "norm(): input dtype should be either floating point or complex. Got "
            f"{(other if input.dtype.is_floating_point else input).dtype.name} instead."
        )
    diff = sub(input, other)
    return _linalg().vector_norm(diff, float(p))


def pdist(input: Tensor, p: float = 2) -> Tensor:  # noqa: A002
    """``torch.pdist``: ``torch.nn.functional.pdist``."""
    from ..nn import functional as F  # noqa: N812

    return F.pdist(input, p)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """``torch.pairwise_distance``: ``torch.nn.functional.pairwise_distance``."""
    from ..nn import functional as F  # noqa: N812

    return F.pairwise_distance(x1, x2, p, eps, keepdim)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``torch.cosine_similarity``: ``torch.nn.functional.cosine_similarity``."""
    from ..nn import functional as F  # noqa: N812

    return F.cosine_similarity(x1, x2, dim, eps)


# ------------------------------------------------------------------------- matrix powers


def matrix_power(input: Tensor, n: int) -> Tensor:  # noqa: A002
    """``A^n`` by repeated squaring (``torch.linalg.matrix_power``); ``n < 0`` inverts
    first; ``n = 0`` is the identity (with a zero gradient)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(
            f"matrix_power(): argument 'n' (position 2) must be int, not {type(n).__name__}"
        )
    n = int(n)
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise RuntimeError(
            "linalg.matrix_power: A must be batches of square matrices, but they are "
            f"{input.shape[-2] if input.ndim >= 2 else input.ndim} by "
            f"{input.shape[-1] if input.ndim else 0} matrices"
        )
    size = input.shape[-1]
    if n == 0:
        eye = expand(constant(np.eye(size), input.dtype, like=input), input.shape)
        if not input.requires_grad:
            return eye
        never = constant(np.zeros((), dtype=bool), dtypes.bool_, like=input)
        return add(eye, where(never, input, constant(0, input.dtype, like=input)))
    a = input
    if n < 0:
        a = _linalg().inv(a)
        n = -n
    result = None
    power = a
    while n:
        if n & 1:
            result = power if result is None else matmul(result, power)
        n >>= 1
        if n:
            power = matmul(power, power)
    return result


def multi_dot(tensors) -> Tensor:
    """``torch.linalg.multi_dot``: the chain in the cheapest order (a dynamic program on
    the shapes); a 1-D first operand is a row, a 1-D last one a column, both squeezed."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    first, last = tensors[0], tensors[-1]
    if first.ndim not in (1, 2):
        raise RuntimeError(f"multi_dot(): the first tensor must be 1D or 2D but got {first.ndim}D")
    if last.ndim not in (1, 2):
        raise RuntimeError(f"multi_dot(): the last tensor must be 1D or 2D but got {last.ndim}D")
    for i, t in enumerate(tensors[1:-1], 1):
        if t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
    for i, t in enumerate(tensors):
        if t.dtype is not first.dtype:
            raise RuntimeError(
                "multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                f"{first.dtype.name} and tensor {i} {t.dtype.name}"
            )
    mats = list(tensors)
    if first.ndim == 1:
        mats[0] = unsqueeze(first, 0)
    if last.ndim == 1:
        mats[-1] = unsqueeze(last, 1)
    for i in range(len(mats) - 1):
        if mats[i].shape[1] != mats[i + 1].shape[0]:
            raise RuntimeError(
                f"multi_dot(): tensors {i} and {i + 1} with shapes {list(tensors[i].shape)} "
                f"and {list(tensors[i + 1].shape)} cannot be multiplied"
            )
    dims = [mats[0].shape[0]] + [m.shape[1] for m in mats]
    count = len(mats)
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def product(i, j):
        if i == j:
            return mats[i]
        k = split[i][j]
        return matmul(product(i, k), product(k + 1, j))

    out = product(0, count - 1)
    squeeze = ([0] if first.ndim == 1 else []) + ([1] if last.ndim == 1 else [])
    return squeeze_axes(out, tuple(squeeze)) if squeeze else out


@autocast_op("fp32")
def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:  # noqa: A002
    """``torch.pinverse``: ``linalg.pinv`` with ``rtol=rcond``."""
    return _linalg().pinv(input, rtol=rcond)


# -------------------------------------------------------------------- Cholesky, LU, solves


def _cholesky_checks(name, b, a):
    if b.ndim < 2:
        raise RuntimeError(
            f"b should have at least 2 dimensions, but has {b.ndim} dimensions instead"
        )
    if a.ndim < 2:
        raise RuntimeError(
            f"u should have at least 2 dimensions, but has {a.ndim} dimensions instead"
        )
    if b.dtype is not a.dtype:
        raise RuntimeError(
            f"Expected b and A to have the same dtype, but found b of type {b.dtype.name} and "
            f"A of type {a.dtype.name} instead."
        )
    if a.shape[-1] != a.shape[-2] or a.shape[-1] != b.shape[-2]:
        raise RuntimeError(
            f"Incompatible matrix sizes for {name}: each A matrix is {a.shape[-2]} by "
            f"{a.shape[-1]} but each b matrix is {b.shape[-2]} by {b.shape[-1]}"
        )


def _chol_linear(x: Tensor, factor: Tensor, upper: bool, inverse: Tensor, rhs: Tensor | None):
    """``x = (F F^T)^-1 B`` (``F^T F`` when ``upper``) with its first-order change in all of
    ``F`` (not only its triangle: PyTorch's gradient of ``cholesky_solve`` and
    ``cholesky_inverse``): ``dX = A^-1 (dB - dA X)``, ``dA = dF F^T + F dF^T``."""
    linalg = _linalg()
    f0 = factor.detach()
    d = linalg._delta(factor)
    da = (
        add(matmul(_mT(d), f0), matmul(_mT(f0), d))
        if upper
        else add(matmul(d, _mT(f0)), matmul(f0, _mT(d)))
    )
    change = mul(matmul(da, x), -1.0)
    if rhs is not None:
        change = add(change, linalg._delta(rhs))
    return add(x, matmul(inverse, change))


def _chol_apply(b: Tensor, factor: Tensor, upper: bool) -> Tensor:
    """``(F F^T)^-1 b`` by two triangular solves, on detached operands."""
    linalg = _linalg()
    f, b = factor.detach(), b.detach()
    if upper:  # A = U^T U
        y = linalg.solve_triangular(_mT(f), b, upper=False)
        return linalg.solve_triangular(f, y, upper=True)
    y = linalg.solve_triangular(f, b, upper=False)
    return linalg.solve_triangular(_mT(f), y, upper=True)


@autocast_op("fp32")
def cholesky_solve(input: Tensor, input2: Tensor, upper: bool = False) -> Tensor:  # noqa: A002
    """``A X = B`` with ``A = L L^T`` given its Cholesky factor ``input2`` (``U^T U`` when
    ``upper``); batches broadcast."""
    _cholesky_checks("cholesky_solve", input, input2)
    b, factor = _linalg()._broadcast_batch("cholesky_solve", input, input2)
    x = _chol_apply(b, factor, upper)
    if not (input.requires_grad or input2.requires_grad):
        return x
    eye = expand(constant(np.eye(factor.shape[-1]), factor.dtype, like=factor), factor.shape)
    inverse = _chol_apply(eye, factor, upper)
    return _chol_linear(x, factor, upper, inverse, b)


@autocast_op("fp32")
def cholesky_inverse(input: Tensor, upper: bool = False) -> Tensor:  # noqa: A002
    """``(L L^T)^-1`` (``(U^T U)^-1`` when ``upper``) from a Cholesky factor."""
    if input.ndim < 2:
        raise RuntimeError("cholesky_inverse: The input tensor A must have at least 2 dimensions.")
    if input.shape[-1] != input.shape[-2]:
        raise RuntimeError(
            "cholesky_inverse: A must be batches of square matrices, but they are "
            f"{input.shape[-2]} by {input.shape[-1]} matrices"
        )
    eye = expand(constant(np.eye(input.shape[-1]), input.dtype, like=input), input.shape)
    inverse = _chol_apply(eye, input, upper)
    if not input.requires_grad:
        return inverse
    return _chol_linear(inverse, input, upper, inverse, None)


def lu_unpack(
    LU_data: Tensor,
    LU_pivots: Tensor,
    unpack_data: bool = True,  # noqa: N803
    unpack_pivots: bool = True,
):
    """``(P, L, U)`` from ``linalg.lu_factor``'s packed factors; ``L`` and ``U`` are
    triangles of ``LU_data`` (differentiable); a part not unpacked is an empty tensor."""
    if LU_pivots.dtype is not dtypes.int32:
        raise RuntimeError(
            "torch.lu_unpack: LU_pivots is expected to be a contiguous tensor of torch.int32 "
            "dtype.\nNote: this function is intended to be used with the output produced by "
            "torch.linalg.lu_factor"
        )
    if LU_data.ndim < 2:
        raise RuntimeError(
            "torch.lu_unpack: Expected LU_data to have at least 2 dimensions, but got "
            f"{LU_data.ndim}"
        )
    m, n = LU_data.shape[-2:]
    k = min(m, n)
    if tuple(LU_pivots.shape) != tuple(LU_data.shape[:-2]) + (k,):
        raise RuntimeError(
            "torch.lu_unpack: Expected LU_pivots.shape == LU_data.shape[:-2] + (min(m, n),), "
            f"but got {list(LU_pivots.shape)} for LU_data of shape {list(LU_data.shape)}"
        )
    empty = constant(np.zeros((0,)), LU_data.dtype, like=LU_data)
    if unpack_data:
        from .shape import tril, triu

        eye = constant(np.eye(m, k), LU_data.dtype, like=LU_data)
        low = add(tril(narrow(LU_data, -1, 0, k), -1), eye)
        up = triu(narrow(LU_data, -2, 0, k))
    else:
        low = up = empty
    if unpack_pivots:
        perm = _linalg()._np_permutation(np.asarray(LU_pivots._data), m, LU_data.dtype.np)
        p = constant(perm, LU_data.dtype, like=LU_data)
    else:
        p = empty
    return lu_unpack_result(p, low, up)


def triangular_solve(
    input: Tensor,
    A: Tensor,
    upper: bool = True,
    transpose: bool = False,  # noqa: A002, N803
    unitriangular: bool = False,
):
    """``(solution, cloned_coefficient)`` of ``A X = b`` (``A^T X = b`` with ``transpose``)
    for triangular ``A``: ``linalg.solve_triangular`` with the arguments reversed."""
    if input.ndim < 2:
        raise RuntimeError(
            "torch.triangular_solve: Expected b to have at least 2 dimensions, but it has "
            f"{input.ndim} dimensions instead"
        )
    if A.ndim < 2:
        raise RuntimeError(
            "torch.triangular_solve: Expected A to have at least 2 dimensions, but it has "
            f"{A.ndim} dimensions instead"
        )
    if A.shape[-1] != A.shape[-2] or A.shape[-1] != input.shape[-2]:
        raise RuntimeError(
            f"Incompatible matrix sizes for triangular_solve: each A matrix is {A.shape[-2]} "
            f"by {A.shape[-1]} but each b matrix is {input.shape[-2]} by {input.shape[-1]}"
        )
    linalg = _linalg()
    b, a = linalg._broadcast_batch("triangular_solve", input, A)
    coefficient = _mT(a) if transpose else a
    x = linalg.solve_triangular(
        coefficient, b, upper=upper != transpose, unitriangular=unitriangular
    )
    from . import clone

    return triangular_solve_result(x, clone(a))


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False):  # noqa: N803
    """``torch.lu``: ``(LU, pivots)`` (and ``infos`` with ``get_infos``) of
    ``linalg.lu_factor_ex``; a singular matrix raises unless ``get_infos``."""
    linalg = _linalg()
    packed, pivots, info = linalg.lu_factor_ex(A, pivot=pivot)
    if get_infos:
        return lu_with_info(packed, pivots, info)
    return packed, pivots


def lu_solve(input: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:  # noqa: A002, N803
    """``torch.lu_solve(b, LU, pivots)``: ``linalg.lu_solve(LU, pivots, b)``."""
    return _linalg().lu_solve(LU_data, LU_pivots, input)


# ---------------------------------------------------------------------- trapezoid rules


def _check_dim(name, y, dim):
    if y.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    if not -y.ndim <= dim < y.ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-y.ndim}, {y.ndim - 1}], "
            f"but got {dim})"
        )
    return dim % y.ndim


def _spacing(name, y: Tensor, x, dim: int) -> Tensor:
    """The sample spacings along ``dim`` from the sample points ``x`` (a 1-D ``x`` runs
    along ``dim``; otherwise it broadcasts with ``y``)."""
    if x.ndim == 1:
        if x.shape[0] != y.shape[dim]:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        n = x.shape[0]
        d = sub(narrow(x, 0, 1, n - 1), narrow(x, 0, 0, n - 1))
        shape = [1] * y.ndim
        shape[dim] = n - 1
        return reshape(d, shape)
    xdim = dim - y.ndim if x.ndim >= 1 else dim
    n = x.shape[xdim]
    return sub(narrow(x, xdim, 1, n - 1), narrow(x, xdim, 0, n - 1))


def trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The trapezoid rule along ``dim``: sample points ``x`` (a tensor) or spacing ``dx``
    (default 1)."""
    if x is not None and dx is not None:
        raise RuntimeError("trapezoid: received both `x` and `dx`; pass only one")
    d = _check_dim("trapezoid", y, dim)
    n = y.shape[d]
    if n == 0:
        from ..creation import zeros

        dtype = y.dtype if y.dtype.is_floating_point else dtypes.get_default_dtype()
        return zeros(tuple(s for i, s in enumerate(y.shape) if i != d), dtype=dtype)
    if isinstance(x, Tensor):
        spacing = _spacing("trapezoid", y, x, d)
        pairs = add(narrow(y, d, 1, n - 1), narrow(y, d, 0, n - 1))
        return div(sum_(mul(spacing, pairs), d), 2.0)
    step = 1 if dx is None else (x if x is not None else dx)
    ends = add(narrow(y, d, 0, 1), narrow(y, d, n - 1, 1))
    inner_sum = sub(sum_(y, d), mul(squeeze_axes(ends, (d,)), 0.5))
    return mul(inner_sum, step)


def trapz(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """``torch.trapz``: ``torch.trapezoid``."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The running trapezoid rule along ``dim`` (one value fewer than ``y`` has there)."""
    if x is not None and dx is not None:
        raise RuntimeError("cumulative_trapezoid: received both `x` and `dx`; pass only one")
    d = _check_dim("cumulative_trapezoid", y, dim)
    n = y.shape[d]
    if n == 0:
        return y if y.dtype.is_floating_point else cast(y, dtypes.get_default_dtype())
    pairs = add(narrow(y, d, 1, n - 1), narrow(y, d, 0, n - 1))
    if isinstance(x, Tensor):
        spacing = _spacing("cumulative_trapezoid", y, x, d)
        return div(cumsum(mul(spacing, pairs), d), 2.0)
    step = 1 if dx is None else (x if x is not None else dx)
    return cumsum(mul(pairs, step / 2.0), d)


# --------------------------------------------------------------------------------- vander


def vander(x: Tensor, N=None, increasing: bool = False) -> Tensor:  # noqa: N803
    """``torch.vander``: columns ``x ** (N - 1) ... x ** 0`` (increasing powers with
    ``increasing``); integer and bool inputs give ``int64``."""
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = cast(x, dtypes.int64)
    if n == 0:
        from ..creation import empty

        return empty((x.shape[0], 0), dtype=x.dtype)
    ones = expand(constant(np.array(1), x.dtype, like=x), (x.shape[0], 1))
    columns = [ones] + ([expand(unsqueeze(x, 1), (x.shape[0], n - 1))] if n > 1 else [])
    out = cumprod(cat(columns, 1), 1)
    if increasing:
        return out
    from .shape import flip

    return flip(out, (1,))


# out= as in PyTorch (the kiln namespace and methods share these objects)
for _name in (
    "addbmm baddbmm addmv addr ger inner vdot kron cross dist matrix_power cholesky_solve "
    "cholesky_inverse lu_unpack triangular_solve"
).split():
    globals()[_name] = with_out(globals()[_name])
del _name
