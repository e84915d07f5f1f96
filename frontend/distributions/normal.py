"""``torch.distributions.normal`` as kiln spells it (re-exports)."""

from ._classic import Normal

__all__ = ["Normal"]
