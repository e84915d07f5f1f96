"""``torch.distributions.dirichlet`` as kiln spells it (re-exports)."""

from .families import Dirichlet

__all__ = ["Dirichlet"]
