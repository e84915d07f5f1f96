"""``torch.distributions.von_mises`` as kiln spells it (re-exports)."""

from .families import VonMises

__all__ = ["VonMises"]
