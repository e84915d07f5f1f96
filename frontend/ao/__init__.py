"""``kiln.ao`` (PyTorch's ``torch.ao``): quantization. ``kiln.ao.quantization`` holds the
configurations, observers and ``quantize_dynamic``; ``kiln.ao.nn`` the quantized and
fused modules; quantized tensors are in ``kiln.ao.quantized_tensor``."""

from . import nn, quantization, quantized_tensor

__all__ = ["nn", "quantization"]
