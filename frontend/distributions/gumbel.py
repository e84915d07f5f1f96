"""``torch.distributions.gumbel`` as kiln spells it (re-exports)."""

from .transformed import Gumbel

__all__ = ["Gumbel"]
