"""``torch.distributions.half_cauchy`` as kiln spells it (re-exports)."""

from .transformed import HalfCauchy

__all__ = ["HalfCauchy"]
