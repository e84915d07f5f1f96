"""``torch.distributions.exponential`` as kiln spells it (re-exports)."""

from .families import Exponential

__all__ = ["Exponential"]
