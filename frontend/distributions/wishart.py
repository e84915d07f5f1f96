"""``torch.distributions.wishart`` as kiln spells it (re-exports)."""

from .families import Wishart

__all__ = ["Wishart"]
