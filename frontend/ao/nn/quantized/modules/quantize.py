"""``Quantize`` / ``DeQuantize``: what static conversion makes of ``QuantStub`` and
``DeQuantStub`` (float -> quint8 with the calibrated scale and zero point, and back)."""

from __future__ import annotations

import kiln
from kiln.nn.module import Module


class Quantize(Module):
    """Quantizes its float input per tensor with a fixed ``scale`` and ``zero_point``."""

    def __init__(self, scale, zero_point, dtype, factory_kwargs=None):
        super().__init__()
        self.register_buffer("scale", kiln.tensor([float(scale)]))
        self.register_buffer("zero_point", kiln.tensor([int(zero_point)], dtype=kiln.int64))
        self.dtype = dtype

    def forward(self, X):
        return kiln.quantize_per_tensor(
            X, float(self.scale.item()), int(self.zero_point.item()), self.dtype
        )

    @staticmethod
    def from_float(mod, use_precomputed_fake_quant=False):
        observer = mod.activation_post_process
        scale, zero_point = observer.calculate_qparams()
        return Quantize(scale.float().item(), zero_point.long().item(), observer.dtype)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, zero_point={self.zero_point}, dtype={self.dtype}"


class DeQuantize(Module):
    """Dequantizes its quantized input to float32."""

    def forward(self, Xq):
        return Xq.dequantize()

    @staticmethod
    def from_float(mod, use_precomputed_fake_quant=False):
        return DeQuantize()
