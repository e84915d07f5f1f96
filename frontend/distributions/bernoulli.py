"""``torch.distributions.bernoulli`` as kiln spells it (re-exports)."""

from ._classic import Bernoulli

__all__ = ["Bernoulli"]
