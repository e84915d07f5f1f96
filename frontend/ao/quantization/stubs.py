"""``QuantStub`` / ``DeQuantStub``: where a model's quantized region starts and ends (static
quantization swaps them for quantize/dequantize modules; until then they pass their input
through)."""

from __future__ import annotations

from kiln.nn.module import Module


class QuantStub(Module):
    """Marks where a tensor is to be quantized; an identity before conversion."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig:
            self.qconfig = qconfig

    def forward(self, x):
        return x


class DeQuantStub(Module):
    """Marks where a tensor is to be dequantized; an identity before conversion."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig:
            self.qconfig = qconfig

    def forward(self, x):
        return x
