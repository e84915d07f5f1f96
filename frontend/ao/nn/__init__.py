"""``torch.ao.nn``: quantized and fused modules."""

from . import intrinsic, quantized

__all__ = ["intrinsic", "quantized"]
