"""Quantized modules (``torch.ao.nn.quantized.modules``)."""

from .embedding_ops import Embedding, EmbeddingBag, EmbeddingPackedParams
from .linear import Linear, LinearPackedParams
from .quantize import DeQuantize, Quantize

__all__ = [
    "DeQuantize",
    "Embedding",
    "EmbeddingBag",
    "EmbeddingPackedParams",
    "Linear",
    "LinearPackedParams",
    "Quantize",
]
