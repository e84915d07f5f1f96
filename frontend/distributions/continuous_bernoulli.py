"""``torch.distributions.continuous_bernoulli`` as kiln spells it (re-exports)."""

from .families import ContinuousBernoulli

__all__ = ["ContinuousBernoulli"]
