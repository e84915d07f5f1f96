"""``torch.distributions.lowrank_multivariate_normal`` as kiln spells it (re-exports)."""

from ._classic import LowRankMultivariateNormal

__all__ = ["LowRankMultivariateNormal"]
