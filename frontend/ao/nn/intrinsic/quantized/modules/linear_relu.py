"""``QuantizedLinearReLU`` (``torch.ao.nn.intrinsic.quantized.LinearReLU``): a static
quantized linear layer with the ReLU fused into its requantization."""

from __future__ import annotations

from kiln.ao.nn.quantized.modules import linear as nnq


class LinearReLU(nnq.Linear):
    """``QuantizedLinear`` whose output is clamped from its zero point up (a fused ReLU)."""

    def _get_name(self) -> str:
        return "QuantizedLinearReLU"

    def forward(self, x):
        weight, bias = self._packed_params._packed_params
        return nnq.linear_requantized(x, weight, bias, self.scale, self.zero_point, relu=True)
