"""``torch.distributions.poisson`` as kiln spells it (re-exports)."""

from .families import Poisson

__all__ = ["Poisson"]
