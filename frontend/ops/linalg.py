"""Matrix products: ``matmul`` (the primitive) and its 1-D/batched composites."""

from __future__ import annotations

from kiln.compiler.primitives import PRIMITIVES as P

from ..dispatch import bind
from ..tensor import Tensor
from .elementwise import add, mul, promote_pair
from .reduce import sum as sum_
from .shape import permute, reshape, squeeze_axes, unsqueeze

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
addmm bmm dot einsum matmul mm mv outer
""".split()


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` with NumPy/PyTorch semantics for 1-D, 2-D and batched operands."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both arguments must be tensors")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"matmul: both arguments to matmul need to be at least 1D, but they "
            f"are {a.ndim}D and {b.ndim}D"
        )
    a, b, dt = promote_pair("matmul", a, b)
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
    return out


def mm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {a.ndim}D and {b.ndim}D")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got {a.ndim}D and {b.ndim}D")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {list(a.shape)} and {list(b.shape)}")
    return matmul(a, b)


def mv(a: Tensor, v: Tensor) -> Tensor:
    return matmul(a, v)


def dot(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError("dot: 1D tensors expected")
    if a.shape != b.shape:
        raise RuntimeError(
            f"dot: inconsistent tensor size, expected tensor [{a.shape[0]}] and "
            f"src [{b.shape[0]}] to have the same number of elements"
        )
    return matmul(a, b)


def outer(a: Tensor, b: Tensor) -> Tensor:
    return matmul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def addmm(c: Tensor, a: Tensor, b: Tensor, *, beta=1, alpha=1) -> Tensor:

    prod = matmul(a, b)
    if alpha != 1:
        prod = mul(prod, alpha)
    return add(mul(c, beta) if beta != 1 else c, prod)


def einsum(equation: str, *operands) -> Tensor:
    """A small einsum: products and sums of the named axes, lowered to matmul when it can."""

    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    lhs, _, rhs = equation.replace(" ", "").partition("->")
    inputs = lhs.split(",")
    if not _:
        letters = sorted(set("".join(inputs)))
        rhs = "".join(c for c in letters if "".join(inputs).count(c) == 1)
    letters = []
    for term in inputs:
        for c in term:
            if c not in letters:
                letters.append(c)
    sizes = {}
    aligned = []
    for term, x in zip(inputs, operands):
        if len(term) != x.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation "
                f"({len(term)}) does not match the number of dimensions "
                f"({x.ndim}) for operand"
            )
        for c, n in zip(term, x.shape):
            sizes.setdefault(c, n)
        order = [term.index(c) for c in letters if c in term]
        y = permute(x, order)
        shape = [sizes[c] if c in term else 1 for c in letters]
        aligned.append(reshape(y, shape))
    prod = aligned[0]
    for y in aligned[1:]:
        prod = mul(prod, y)
    reduce_axes = tuple(i for i, c in enumerate(letters) if c not in rhs)
    if reduce_axes:
        prod = sum_(prod, reduce_axes)
    remaining = [c for c in letters if c in rhs]
    return permute(prod, [remaining.index(c) for c in rhs]) if remaining else prod
