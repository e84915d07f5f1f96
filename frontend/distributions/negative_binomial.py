"""``torch.distributions.negative_binomial`` as kiln spells it (re-exports)."""

from .families import NegativeBinomial

__all__ = ["NegativeBinomial"]
