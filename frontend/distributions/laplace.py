"""``torch.distributions.laplace`` as kiln spells it (re-exports)."""

from .families import Laplace

__all__ = ["Laplace"]
