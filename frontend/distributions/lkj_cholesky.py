"""``torch.distributions.lkj_cholesky`` as kiln spells it (re-exports)."""

from .families import LKJCholesky

__all__ = ["LKJCholesky"]
