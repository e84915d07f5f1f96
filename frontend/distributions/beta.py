"""``torch.distributions.beta`` as kiln spells it (re-exports)."""

from .families import Beta

__all__ = ["Beta"]
