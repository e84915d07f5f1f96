"""``torch.distributions.one_hot_categorical`` as kiln spells it (re-exports)."""

from ._classic import OneHotCategorical, OneHotCategoricalStraightThrough

__all__ = ["OneHotCategorical", "OneHotCategoricalStraightThrough"]
