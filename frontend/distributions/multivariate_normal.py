"""``torch.distributions.multivariate_normal`` as kiln spells it (re-exports)."""

from ._classic import MultivariateNormal

__all__ = ["MultivariateNormal"]
