"""Matrix products: ``matmul`` (the primitive) and its 1-D/batched composites."""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes
from .. import memory_format as _mf
from ..autograd.tape import rename
from ..dispatch import autocast_op, autocast_pending, bind, computes_in_float32
from ..tensor import Tensor
from .elementwise import cast, mul, promote_pair
from .reduce import sum as sum_
from .shape import expand, permute, reshape, squeeze_axes, unsqueeze
from .sorting import diagonal

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
addmm bmm cholesky det dot einsum inverse logdet matmul matrix_exp mm mv outer qr slogdet svd
geqrf ormqr
""".split()


@autocast_op("lower")
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` with NumPy/PyTorch semantics for 1-D, 2-D and batched operands."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both arguments must be tensors")
    if a.is_sparse or b.is_sparse:  # a COO operand (kiln.sparse)
        from ..sparse import matmul as sparse_matmul

        return sparse_matmul(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"matmul: both arguments to matmul need to be at least 1D, but they "
            f"are {a.ndim}D and {b.ndim}D"
        )
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"matmul: expected m1 and m2 to have the same dtype, but got: {a.dtype.name} != "
            f"{b.dtype.name} (shapes {list(a.shape)} and {list(b.shape)})"
        )
    if a.dtype is dtypes.bool_:
        raise NotImplementedError("matmul: \"addmm_impl_cpu_\" not implemented for 'Bool'")
    a, b, dt = promote_pair("matmul", a, b)
    given = (a, b)
    squeeze = []
    if a.ndim == 1:
        a = unsqueeze(a, 0)
        squeeze.append(-2)
    if b.ndim == 1:
        b = unsqueeze(b, 1)
        squeeze.append(-1)
    out = bind(P["matmul"], (a, b))
    if squeeze:
        out = squeeze_axes(out, tuple(out.ndim + s for s in squeeze))
        if a.ndim == 2 and b.ndim == 2 and squeeze != [-2]:  # PyTorch's dot / mv node
            out = rename(out, "DotBackward0" if len(squeeze) == 2 else "MvBackward0", *given)
    return out


@autocast_op("lower")
def mm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {a.ndim}D and {b.ndim}D")
    return matmul(a, b)


@autocast_op("lower")
def bmm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got {a.ndim}D and {b.ndim}D")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {list(a.shape)} and {list(b.shape)}")
    return matmul(a, b)


@autocast_op("native")
def mv(a: Tensor, v: Tensor) -> Tensor:
    return matmul(a, v)


@autocast_op("native")
def dot(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError("dot: 1D tensors expected")
    if a.shape != b.shape:
        raise RuntimeError(
            f"dot: inconsistent tensor size, expected tensor [{a.shape[0]}] and "
            f"src [{b.shape[0]}] to have the same number of elements"
        )
    return matmul(a, b)


@autocast_op("native")
def outer(a: Tensor, b: Tensor) -> Tensor:
    for label, t in (("self", a), ("vec2", b)):
        if isinstance(t, Tensor) and t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {label}, but got {t.ndim}-D")
    # an elementwise product: the dtypes promote (outer(int64, float32) is float32) and
    # two bool vectors give their logical and, as PyTorch's
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


@autocast_op("lower")
@computes_in_float32
def addmm(c: Tensor, a: Tensor, b: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * c + alpha * a @ b`` (``c`` broadcast to the product); with ``beta == 0``
    ``c`` is ignored, NaN and inf in it included, as in PyTorch."""
    from .linalg16 import _scaled_sum

    for label, t in (("mat1", a), ("mat2", b)):
        if t.ndim != 2:
            raise RuntimeError(f"{label} must be a matrix, got {t.ndim}-D tensor")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
            f"{b.shape[0]}x{b.shape[1]})"
        )
    prod = matmul(a, b)
    dtype = dtypes.result_type(c, prod)
    if prod.dtype is not dtype:
        prod = cast(prod, dtype)
    return _scaled_sum("addmm", c, prod, beta, alpha, strict=False)


def _einsum_terms(equation: str, operands):
    """The labels of each operand and of the output; ``...`` becomes labels ``(k,)`` that
    line up from the right across operands (they broadcast)."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    inputs = lhs.split(",")
    if len(inputs) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(inputs) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    ell = 0
    parsed = []
    for term, x in zip(inputs, operands):
        if term.count("...") > 1 or "." in term.replace("...", ""):
            raise RuntimeError(f"einsum(): invalid subscript {term!r} in the equation")
        named = len(term.replace("...", ""))
        if ("..." in term and named > x.ndim) or ("..." not in term and named != x.ndim):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({named}) does not match "
                f"the number of dimensions ({x.ndim}) for operand {len(parsed)}"
                + ("" if "..." in term else " and no ellipsis was given")
            )
        parsed.append((term, x.ndim - named))
        ell = builtins.max(ell, x.ndim - named if "..." in term else 0)
    labels = []
    for term, n in parsed:
        head, dots, tail = term.partition("...")
        labels.append(
            list(head) + ([(ell - n + i,) for i in range(n)] if dots else []) + list(tail)
        )
    ellipsis = [(i,) for i in range(ell)]
    if arrow:
        head, dots, tail = rhs.partition("...")
        out = list(head) + (ellipsis if dots else []) + list(tail)
    else:
        letters = [c for term in labels for c in term if isinstance(c, str)]
        out = ellipsis + sorted(c for c in set(letters) if letters.count(c) == 1)
    return labels, out


def _sublist_equation(args):
    """PyTorch's sublist form of einsum, (operand, sublist, ..., [output sublist]), as an
    equation string and the operands: labels 0-25 are a-z, 26-51 A-Z, Ellipsis is ..."""

    def term(sublist):
        letters = []
        for label in sublist:
            if label is Ellipsis:
                letters.append("...")
            elif isinstance(label, int) and 0 <= label < 52:
                letters.append(chr(ord("a") + label) if label < 26 else chr(ord("A") + label - 26))
            else:
                raise RuntimeError(
                    f"einsum(): expected subscript to be within the range [0, 52), got {label}"
                )
        return "".join(letters)

    operands, terms = list(args[0::2]), [term(s) for s in args[1::2]]
    output = None
    if len(operands) > len(terms):  # (the last item is the output sublist)
        output = term(operands.pop())
    equation = ",".join(terms) + ("" if output is None else "->" + output)
    return equation, tuple(operands)


def einsum(equation: str, *operands) -> Tensor:
    """Products and sums of named axes: ``...`` broadcasts, a label repeated in one operand
    takes its diagonal (``'ii->'`` is the trace), and two-operand contractions that reduce
    over shared labels go through ``matmul``."""

    if not isinstance(equation, str):  # einsum(a, [0, 1], b, [1, 2], [0, 2])
        equation, operands = _sublist_equation((equation, *operands))
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if _contracts_a_pair(equation, operands):
        # PyTorch contracts two operands with bmm, which autocast runs in lower precision
        return _einsum_pair(equation, *operands)
    low = operands[0].dtype if operands and isinstance(operands[0], Tensor) else None
    if low in (dtypes.float16, dtypes.bfloat16) and all(
        isinstance(x, Tensor) and x.dtype is low for x in operands
    ):
        # PyTorch contracts 16-bit floats with float32 accumulation (bmm) and rounds once
        wide = einsum(equation, *(cast(x, dtypes.float32) for x in operands))
        return cast(wide, low)
    result = _einsum(equation, operands)
    if operands and all(isinstance(x, Tensor) for x in operands):
        dt = dtypes.result_type(*operands)
        if not (dt.is_floating_point or dt.is_complex):
            # PyTorch: a label summed within one operand goes through sum (int64); pure
            # contractions go through bmm and keep the operands' integer dtype
            labels, out = _einsum_terms(equation, operands)
            alone = any(
                c not in out and all(c not in t for j, t in enumerate(labels) if j != i)
                for i, term in enumerate(labels)
                for c in term
            )
            dt = dtypes.int64 if alone else dt
            if result.dtype is not dt:
                result = cast(result, dt)
    return _einsum_layout(result, equation, operands)


def _einsum_layout(result, equation, operands):
    """``result`` laid out as PyTorch's einsum writes it (eager, one or two operands
    without repeated labels or ``...``): a contraction's bmm has the shared output labels
    outermost, then the others in the output's order; a sum within an operand gives C
    order; a product without sums follows its operands permuted to the output's order
    (TensorIterator); a permutation is a view (as kiln's)."""
    data = result._data
    if result._node is not None or type(data) is not np.ndarray or result.is_meta:
        return result
    if not 1 <= len(operands) <= 2 or result.ndim < 2 or not data.size:
        return result
    if not all(isinstance(x, Tensor) and type(x._data) is np.ndarray for x in operands):
        return result
    labels, out = _einsum_terms(equation, operands)
    if any(len(set(t)) != len(t) or not all(isinstance(c, str) for c in t) for t in labels):
        return result
    shape = tuple(result.shape)
    if len(operands) == 2 and any(c in labels[1] and c not in out for c in labels[0]):
        shared = [c for c in out if c in labels[0] and c in labels[1]]
        order = shared + [c for c in out if c not in shared]
        strides = _mf._dense_strides(shape, [out.index(c) for c in order])
    elif any(c not in out for t in labels for c in t):
        strides = _mf._dense_strides(shape, range(len(shape)))
    elif len(operands) == 2:
        stand_ins = []
        for t, x in zip(labels, operands):
            own = x.stride()
            stand_ins.append(
                np.lib.stride_tricks.as_strided(
                    np.zeros(1, np.int8),
                    [x.shape[t.index(c)] if c in t else 1 for c in out],
                    [own[t.index(c)] if c in t else 0 for c in out],
                )
            )
        strides = _mf.iterator_strides(shape, stand_ins)
        strides = strides or _mf._dense_strides(shape, range(len(shape)))
    else:
        return result
    if result.stride() != strides and not any(np.may_share_memory(data, x._data) for x in operands):
        result._data = _mf.strided_copy(data, strides)
    return result


def _contracts_a_pair(equation, operands) -> bool:
    """Whether an enabled autocast region meets a two-operand einsum that sums a shared
    label (PyTorch's bmm). (Three or more operands: kiln casts nothing; see tests/test_amp19)"""
    if (
        not autocast_pending()
        or len(operands) != 2
        or not all(isinstance(x, Tensor) for x in operands)
    ):
        return False
    labels, out = _einsum_terms(equation, operands)
    return any(c in labels[1] and c not in out for c in labels[0])


@autocast_op("lower")
def _einsum_pair(equation, a, b):
    return einsum(equation, a, b)


def _einsum(equation, operands):
    labels, out = _einsum_terms(equation, operands)
    for c in out:
        if isinstance(c, str) and (out.count(c) > 1 or not any(c in t for t in labels)):
            raise RuntimeError(
                f"einsum(): output subscript {c} appears more than once or not in the input"
            )
    sizes = {}
    taken = []
    for term, x in zip(labels, operands):
        term = list(term)
        while True:  # a repeated label: keep the diagonal (moved to the end)
            repeated = next((c for c in term if term.count(c) > 1), None)
            if repeated is None:
                break
            i = term.index(repeated)
            j = term.index(repeated, i + 1)
            if x.shape[i] != x.shape[j]:
                raise RuntimeError(
                    f"einsum(): subscript {repeated} is repeated for operand but the sizes "
                    f"don't match, {x.shape[i]} != {x.shape[j]}"
                )
            x = diagonal(x, 0, i, j)
            term = [c for k, c in enumerate(term) if k not in (i, j)] + [repeated]
        for c, n in zip(term, x.shape):
            if n != 1:
                if sizes.setdefault(c, n) != n:
                    raise RuntimeError(
                        f"einsum(): operands do not broadcast with remapped shapes: subscript "
                        f"{c if isinstance(c, str) else '...'} has sizes {sizes[c]} and {n}"
                    )
            else:
                sizes.setdefault(c, 1)
        taken.append([term, x])
    # a label only one operand has and the output lacks is summed there first, as PyTorch
    # does (cheaper, and inf/nan meet the same additions as in PyTorch)
    for k, (term, x) in enumerate(taken):
        others = {c for j, (t, _) in enumerate(taken) if j != k for c in t}
        alone = [i for i, c in enumerate(term) if c not in out and c not in others]
        if alone:
            taken[k] = [[c for i, c in enumerate(term) if i not in alone], sum_(x, tuple(alone))]
    letters = []
    for term, _ in taken:
        for c in term:
            if c not in letters:
                letters.append(c)
    aligned = []
    for term, x in taken:
        y = permute(x, [term.index(c) for c in letters if c in term])
        aligned.append(reshape(y, [x.shape[term.index(c)] if c in term else 1 for c in letters]))
    prod = aligned[0]
    for y in aligned[1:]:
        prod = mul(prod, y)
    reduce_axes = tuple(i for i, c in enumerate(letters) if c not in out)
    if reduce_axes:
        prod = sum_(prod, reduce_axes)
    remaining = [c for c in letters if c in out]
    if remaining:
        prod = permute(prod, [remaining.index(c) for c in out])
    shape = [sizes[c] for c in out]
    return prod if tuple(prod.shape) == tuple(shape) else expand(prod, shape)


# ------------------------------------------- torch.* spellings of kiln.linalg (LAPACK)
# (kiln.linalg imports kiln.ops: these import it when called)

svd_result = namedtuple("svd", ["U", "S", "V"])


@autocast_op("fp32")
def svd(input: Tensor, some: bool = True, compute_uv: bool = True):  # noqa: A002
    """``torch.svd``: ``(U, S, V)`` with ``V`` itself (not ``Vh``); ``some=False`` gives
    the full ``U`` and ``V``; without ``compute_uv`` they are zero-filled, as PyTorch."""
    from .. import creation, linalg

    if not compute_uv:
        m, n = input.shape[-2:]
        batch = tuple(input.shape[:-2])
        zeros_u = creation.zeros(batch + (m, m), dtype=input.dtype)
        zeros_v = creation.zeros(batch + (n, n), dtype=input.dtype)
        return svd_result(zeros_u, linalg.svdvals(input), zeros_v)
    u, s, vh = linalg.svd(input, full_matrices=not some)
    return svd_result(u, s, permute(vh, _swap_last(vh.ndim)))


def _swap_last(ndim):
    axes = list(range(ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return axes


@autocast_op("fp32")
def qr(input: Tensor, some: bool = True):  # noqa: A002
    """``torch.qr``: ``some=False`` is ``linalg.qr(mode="complete")``."""
    from .. import linalg

    return linalg.qr(input, mode="reduced" if some else "complete")


def det(input: Tensor) -> Tensor:  # noqa: A002
    from .. import linalg

    return linalg.det(input)


def slogdet(input: Tensor):  # noqa: A002
    from .. import linalg

    return linalg.slogdet(input)


def logdet(input: Tensor) -> Tensor:  # noqa: A002
    """``log(det(A))``: NaN where the determinant is negative, -inf where it is 0."""
    from .. import linalg
    from .elementwise import lt, where

    sign, logabs = linalg.slogdet(input)
    return where(lt(sign, 0), float("nan"), logabs)


def matrix_exp(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.matrix_exp``: ``linalg.matrix_exp``."""
    from .. import linalg

    return linalg.matrix_exp(input)


@autocast_op("fp32")
def inverse(input: Tensor) -> Tensor:  # noqa: A002
    from .. import linalg

    return linalg.inv(input)


@autocast_op("fp32")
def cholesky(input: Tensor, upper: bool = False) -> Tensor:  # noqa: A002
    from .. import linalg

    return linalg.cholesky(input, upper=upper)


geqrf_result = namedtuple("geqrf", ["a", "tau"])


def geqrf(input: Tensor):  # noqa: A002
    """LAPACK's ``geqrf`` (through NumPy): ``R`` on and above the diagonal of ``a``, the
    Householder vectors of ``Q`` below it, and their scales ``tau`` (``householder_product``
    and ``ormqr`` take them). Eager, no gradient (as PyTorch)."""
    import numpy as np

    from ..dispatch import constant

    if input.ndim < 2:
        raise RuntimeError(
            f"torch.geqrf: input must have at least 2 dimensions, got {input.ndim} dimensions"
        )
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"geqrf: expected a floating point tensor, got {input.dtype.name}")
    arr = np.asarray(input.detach().numpy())
    m, n = arr.shape[-2:]
    batch = arr.shape[:-2]
    a = np.empty_like(arr)
    tau = np.empty(batch + (builtins.min(m, n),), dtype=arr.dtype)
    for i in np.ndindex(*batch):
        if m and n:
            h, t = np.linalg.qr(arr[i], mode="raw")  # h is a^T (LAPACK's column-major)
            a[i], tau[i] = h.T, t
    return geqrf_result(
        constant(a, input.dtype, like=input), constant(tau, input.dtype, like=input)
    )


def ormqr(input: Tensor, tau: Tensor, other: Tensor, left: bool = True, transpose: bool = False):  # noqa: A002
    """``Q @ other`` (or ``Q^T @ other``, ``other @ Q``, ``other @ Q^T``) for the ``Q`` of a
    ``geqrf`` result, applying its Householder reflectors ``H_i = I - tau_i v_i v_i^T`` one
    at a time (LAPACK's ``ormqr``). Differentiable in all three tensors."""
    from .elementwise import add, sub
    from .shape import narrow

    name = "torch.ormqr"
    if input.ndim < 2 or other.ndim < 2:
        raise RuntimeError(f"{name}: input and other must have at least 2 dimensions.")
    if tau.ndim != input.ndim - 1:
        raise RuntimeError(
            f"{name}: Expected tau to have one dimension less than input, but got tau.ndim "
            f"equal to {tau.ndim} and input.ndim is equal to {input.ndim}"
        )
    side = other.shape[-2] if left else other.shape[-1]
    if input.shape[-2] != side:
        raise RuntimeError(
            f"{name}: Expected other.shape[{-2 if left else -1}] to be equal to "
            f"input.shape[-2], but got {side} and {input.shape[-2]}"
        )
    k = tau.shape[-1]
    if k > input.shape[-1] or k > input.shape[-2]:
        raise RuntimeError(f"{name}: tau.shape[-1] must be at most min(input.shape[-2:]).")
    if input.dtype is not other.dtype or tau.dtype is not input.dtype:
        raise RuntimeError(
            f"{name}: Expected input, tau and other to have the same dtype, but got "
            f"{input.dtype.name}, {tau.dtype.name} and {other.dtype.name}"
        )
    from .. import creation
    from .shape import tril

    m = input.shape[-2]
    eye = creation.eye(m, input.shape[-1], dtype=input.dtype)
    reflectors = add(tril(input, -1), eye)
    # Q = H_1 ... H_k: Q C applies H_k first; Q^T C applies H_1 first; C Q applies H_1 first
    order = list(range(k))
    if left != transpose:
        order.reverse()
    out = other
    for i in order:
        v = narrow(reflectors, -1, i, 1)  # (..., m, 1)
        t = unsqueeze(narrow(tau, -1, i, 1), -1)  # (..., 1, 1)
        if left:
            out = sub(out, mul(t, matmul(v, matmul(_mT(v), out))))
        else:
            out = sub(out, mul(t, matmul(matmul(out, v), _mT(v))))
    return out


def _mT(x):  # noqa: N802
    from .shape import transpose

    return transpose(x, -2, -1)
