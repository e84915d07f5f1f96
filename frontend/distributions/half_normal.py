"""``torch.distributions.half_normal`` as kiln spells it (re-exports)."""

from .transformed import HalfNormal

__all__ = ["HalfNormal"]
