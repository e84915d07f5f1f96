"""``torch.distributions.binomial`` as kiln spells it (re-exports)."""

from .families import Binomial

__all__ = ["Binomial"]
