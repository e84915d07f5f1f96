"""``kiln.signal``: PyTorch's ``torch.signal`` (window functions in ``kiln.signal.windows``)."""

from . import windows

__all__ = ["windows"]
