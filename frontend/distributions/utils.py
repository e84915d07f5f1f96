"""``kiln.distributions.utils``: the helpers of ``torch.distributions.utils``."""

from __future__ import annotations

from .distribution import (
    _sum_rightmost,
    broadcast_all,
    clamp_probs,
    logits_to_probs,
    probs_to_logits,
)

__all__ = [
    "broadcast_all",
    "clamp_probs",
    "euler_constant",
    "lazy_property",
    "logits_to_probs",
    "probs_to_logits",
    "tril_matrix_to_vec",
    "vec_to_tril_matrix",
]

euler_constant = 0.57721566490153286060  # Euler Mascheroni Constant


class lazy_property:  # noqa: N801 (PyTorch's name)
    """A property computed on first access and then stored on the instance."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def _tril_count(n: int, diag: int) -> int:
    return sum(max(0, min(n, r + diag + 1)) for r in range(n))


def vec_to_tril_matrix(vec, diag: int = 0):
    """The vector of a lower-triangular matrix's entries (row-major) back into the matrix."""
    import kiln

    length = vec.shape[-1]
    n = 0
    while _tril_count(n, diag) < length:
        n += 1
    if _tril_count(n, diag) != length:
        raise ValueError(
            f"The size of last dimension is {length} which cannot be expressed as the lower "
            "triangular part of a square D x D matrix."
        )
    rows, cols = kiln.ones(n, n).tril(diag).nonzero(as_tuple=True)
    batch = tuple(vec.shape[:-1])
    flat = kiln.zeros(batch + (n * n,), dtype=vec.dtype)
    index = (rows * n + cols).expand(batch + (rows.shape[0],))
    return flat.scatter(-1, index, vec).reshape(batch + (n, n))


def tril_matrix_to_vec(mat, diag: int = 0):
    """A lower-triangular matrix's entries (row-major) as a vector."""
    import kiln

    n = mat.shape[-1]
    if diag < -n or diag >= n:
        raise ValueError(f"diag ({diag}) provided is outside [{-n}, {n - 1}].")
    rows, cols = kiln.ones(n, n).tril(diag).nonzero(as_tuple=True)
    return mat[..., rows, cols]


del _sum_rightmost
