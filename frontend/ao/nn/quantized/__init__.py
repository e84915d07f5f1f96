"""``torch.ao.nn.quantized``: quantized modules (kiln: the dynamic ones)."""

from . import dynamic
from .modules import LinearPackedParams

__all__ = ["LinearPackedParams", "dynamic"]
