"""``torch.distributions.log_normal`` as kiln spells it (re-exports)."""

from .transformed import LogNormal

__all__ = ["LogNormal"]
