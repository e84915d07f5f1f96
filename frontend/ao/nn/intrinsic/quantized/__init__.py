"""``torch.ao.nn.intrinsic.quantized``: static quantized fused modules."""

from .modules import LinearReLU

__all__ = ["LinearReLU"]
