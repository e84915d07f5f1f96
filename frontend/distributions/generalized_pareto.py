"""``torch.distributions.generalized_pareto`` as kiln spells it (re-exports)."""

from .families import GeneralizedPareto

__all__ = ["GeneralizedPareto"]
