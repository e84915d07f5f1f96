"""``torch.distributions.transformed_distribution`` as kiln spells it (re-exports)."""

from .transformed import TransformedDistribution

__all__ = ["TransformedDistribution"]
