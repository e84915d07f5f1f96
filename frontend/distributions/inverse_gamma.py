"""``torch.distributions.inverse_gamma`` as kiln spells it (re-exports)."""

from .transformed import InverseGamma

__all__ = ["InverseGamma"]
