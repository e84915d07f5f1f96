"""``torch.distributions.pareto`` as kiln spells it (re-exports)."""

from .transformed import Pareto

__all__ = ["Pareto"]
