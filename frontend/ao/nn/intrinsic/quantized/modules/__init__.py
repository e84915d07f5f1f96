"""Quantized fused modules (``torch.ao.nn.intrinsic.quantized.modules``)."""

from .linear_relu import LinearReLU

__all__ = ["LinearReLU"]
