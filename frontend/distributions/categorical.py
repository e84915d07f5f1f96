"""``torch.distributions.categorical`` as kiln spells it (re-exports)."""

from ._classic import Categorical

__all__ = ["Categorical"]
