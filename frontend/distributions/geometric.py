"""``torch.distributions.geometric`` as kiln spells it (re-exports)."""

from .families import Geometric

__all__ = ["Geometric"]
