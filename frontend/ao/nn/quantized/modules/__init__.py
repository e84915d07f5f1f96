"""Quantized modules (``torch.ao.nn.quantized.modules``): the packed linear parameters."""

from .linear import LinearPackedParams

__all__ = ["LinearPackedParams"]
