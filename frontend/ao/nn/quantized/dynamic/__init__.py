"""``torch.ao.nn.quantized.dynamic``: layers whose weights are quantized ahead of time and
whose activations are quantized on the fly, per call (``quantize_dynamic``'s output)."""

from .modules import GRU, LSTM, GRUCell, Linear, LSTMCell, RNNCell

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "Linear", "RNNCell"]
