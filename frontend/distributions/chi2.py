"""``torch.distributions.chi2`` as kiln spells it (re-exports)."""

from .families import Chi2

__all__ = ["Chi2"]
