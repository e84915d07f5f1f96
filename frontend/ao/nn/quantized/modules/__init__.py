"""Quantized modules (``torch.ao.nn.quantized.modules``)."""

from .linear import Linear, LinearPackedParams
from .quantize import DeQuantize, Quantize

__all__ = ["DeQuantize", "Linear", "LinearPackedParams", "Quantize"]
