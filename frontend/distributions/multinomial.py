"""``torch.distributions.multinomial`` as kiln spells it (re-exports)."""

from .families import Multinomial

__all__ = ["Multinomial"]
