"""``torch.distributions.cauchy`` as kiln spells it (re-exports)."""

from .families import Cauchy

__all__ = ["Cauchy"]
