"""``torch.distributions.relaxed_bernoulli`` as kiln spells it (re-exports)."""

from .transformed import LogitRelaxedBernoulli, RelaxedBernoulli

__all__ = ["LogitRelaxedBernoulli", "RelaxedBernoulli"]
