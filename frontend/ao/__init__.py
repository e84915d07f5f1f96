"""``kiln.ao`` (PyTorch's ``torch.ao``): eager-mode quantization with PyTorch 2.13's
numbers on CPU (its x86/fbgemm engine).

- quantized tensors (``kiln.ao.quantized_tensor``): ``kiln.quantize_per_tensor``,
  ``kiln.quantize_per_channel``, ``dequantize``, ``int_repr``, ``q_scale``, ...;
- ``kiln.ao.quantization``: observers, ``QConfig`` and the ready-made configurations,
  ``quantize_dynamic``, ``prepare``/``convert``/``quantize`` (static, Linear models),
  ``fuse_modules``, ``QuantStub``/``DeQuantStub`` (also as ``kiln.quantization``);
- ``kiln.ao.nn``: the quantized modules (dynamic Linear, LSTM, GRU and cells; static
  Quantize, DeQuantize, Linear, LinearReLU; weight-only Embedding and EmbeddingBag) and
  the fused ones (``kiln.ao.nn.intrinsic``).
"""

from . import nn, quantization, quantized_tensor

__all__ = ["nn", "quantization"]
