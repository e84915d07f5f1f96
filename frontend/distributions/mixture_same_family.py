"""``torch.distributions.mixture_same_family`` as kiln spells it (re-exports)."""

from .families import MixtureSameFamily

__all__ = ["MixtureSameFamily"]
