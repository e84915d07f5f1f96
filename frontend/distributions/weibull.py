"""``torch.distributions.weibull`` as kiln spells it (re-exports)."""

from .transformed import Weibull

__all__ = ["Weibull"]
