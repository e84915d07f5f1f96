"""``torch.distributions.uniform`` as kiln spells it (re-exports)."""

from ._classic import Uniform

__all__ = ["Uniform"]
