"""``torch.distributions.independent`` as kiln spells it (re-exports)."""

from ._classic import Independent

__all__ = ["Independent"]
