"""``torch.distributions.fishersnedecor`` as kiln spells it (re-exports)."""

from .families import FisherSnedecor

__all__ = ["FisherSnedecor"]
