"""``torch.ao.nn.quantized``: quantized modules (static: ``Quantize``, ``DeQuantize``,
``Linear``; dynamic: ``kiln.ao.nn.quantized.dynamic``)."""

from . import dynamic
from .modules import (
    DeQuantize,
    Embedding,
    EmbeddingBag,
    Linear,
    LinearPackedParams,
    Quantize,
)

__all__ = [
    "DeQuantize",
    "Embedding",
    "EmbeddingBag",
    "Linear",
    "LinearPackedParams",
    "Quantize",
    "dynamic",
]
