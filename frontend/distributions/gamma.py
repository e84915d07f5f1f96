"""``torch.distributions.gamma`` as kiln spells it (re-exports)."""

from .families import Gamma

__all__ = ["Gamma"]
