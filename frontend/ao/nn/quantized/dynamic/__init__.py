"""``torch.ao.nn.quantized.dynamic``: layers whose weights are quantized ahead of time and
whose activations are quantized on the fly, per call (``quantize_dynamic``'s output)."""

from .modules import GRU, LSTM, Linear

__all__ = ["GRU", "LSTM", "Linear"]
