"""``torch.distributions.relaxed_categorical`` as kiln spells it (re-exports)."""

from .transformed import ExpRelaxedCategorical, RelaxedOneHotCategorical

__all__ = ["ExpRelaxedCategorical", "RelaxedOneHotCategorical"]
