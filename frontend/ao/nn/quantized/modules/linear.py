"""``LinearPackedParams``: a quantized linear layer's weight and bias.

PyTorch packs them into an fbgemm object (a ``ScriptObject``); kiln keeps the plain pair
``(quantized weight, float bias)`` in ``_packed_params``, under the same state_dict keys
(``<prefix>_packed_params.dtype`` and ``<prefix>_packed_params._packed_params``, the
latter the ``(weight, bias)`` tuple PyTorch's ``_save_to_state_dict`` writes too).
"""

from __future__ import annotations

from collections import OrderedDict

import kiln
from kiln.nn.module import Module


class LinearPackedParams(Module):
    """The weight (a qint8 quantized tensor, or float16) and float bias of a quantized
    linear layer."""

    _version = 3

    def __init__(self, dtype=kiln.qint8):
        super().__init__()
        self.dtype = dtype
        if dtype is kiln.qint8:
            weight = kiln.quantize_per_tensor(kiln.zeros(1, 1), 1.0, 0, kiln.qint8)
        elif dtype is kiln.float16:
            weight = kiln.zeros(1, 1, dtype=kiln.float32)
        else:
            raise RuntimeError(f"Unsupported dtype on dynamic quantized linear: {dtype}")
        self.set_weight_bias(weight, None)

    def set_weight_bias(self, weight, bias) -> None:
        if self.dtype is kiln.qint8 and not (weight.is_quantized and weight.dtype is kiln.qint8):
            raise RuntimeError(
                f"quantized linear: the weight must be a qint8 quantized tensor, got {weight.dtype}"
            )
        if bias is not None:
            bias = bias.detach().to(kiln.float32)
        self._packed_params = (weight, bias)

    def _weight_bias(self):
        return self._packed_params

    def forward(self, x):
        return x

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = {"version": self._version}
        destination[prefix + "dtype"] = self.dtype
        weight, bias = self._packed_params
        if bias is not None and not keep_vars:
            bias = bias.detach()
        destination[prefix + "_packed_params"] = (weight, bias)
        return destination

    def _own_state_names(self) -> list[str]:
        return ["dtype", "_packed_params"]

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        for name in self._own_state_names():
            if prefix + name not in state_dict:
                missing_keys.append(prefix + name)
        if prefix + "dtype" in state_dict:
            self.dtype = state_dict[prefix + "dtype"]
        if prefix + "_packed_params" in state_dict:
            weight, bias = state_dict[prefix + "_packed_params"]
            self.set_weight_bias(weight, bias)

    def __repr__(self) -> str:
        return repr(self._weight_bias())
