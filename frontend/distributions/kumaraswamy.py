"""``torch.distributions.kumaraswamy`` as kiln spells it (re-exports)."""

from .transformed import Kumaraswamy

__all__ = ["Kumaraswamy"]
