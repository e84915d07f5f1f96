"""``torch.distributions.logistic_normal`` as kiln spells it (re-exports)."""

from .transformed import LogisticNormal

__all__ = ["LogisticNormal"]
