"""``torch.distributions.studentT`` as kiln spells it (re-exports)."""

from .families import StudentT

__all__ = ["StudentT"]
