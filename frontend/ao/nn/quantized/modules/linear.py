"""``LinearPackedParams`` (a quantized linear layer's weight and bias) and the static
quantized ``Linear`` (``QuantizedLinear``: quantized input and output).

PyTorch packs them into an fbgemm object (a ``ScriptObject``); kiln keeps the plain pair
``(quantized weight, float bias)`` in ``_packed_params``, under the same state_dict keys
(``<prefix>_packed_params.dtype`` and ``<prefix>_packed_params._packed_params``, the
latter the ``(weight, bias)`` tuple PyTorch's ``_save_to_state_dict`` writes too).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

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


def linear_requantized(x, weight, bias, out_scale: float, out_zero: int, relu: bool = False):
    """fbgemm's static quantized linear (``quantized::linear``): integer sums of the quint8
    input and the int8 weight, the float bias added in accumulator units
    (``bias / (input_scale * weight_scale)``), rescaled by ``input_scale * weight_scale /
    out_scale`` (float32), rounded half to even, shifted by ``out_zero`` and clamped to
    quint8 (from ``out_zero`` up with a fused ReLU). Returns the quint8 output tensor."""
    from kiln.ao.nn.quantized.dynamic.modules.linear import _check_engine

    _check_engine(("x86", "fbgemm"), "a static quantized linear layer")
    if not (isinstance(x, kiln.Tensor) and x.is_quantized and x.dtype is kiln.quint8):
        name = "a float tensor" if isinstance(x, kiln.Tensor) else type(x).__name__
        if isinstance(x, kiln.Tensor) and x.is_quantized:
            name = f"a {x.dtype} tensor"
        raise NotImplementedError(
            "Could not run 'quantized::linear' with arguments from the 'CPU' backend: it "
            f"takes a quint8 quantized input (quantize it first: QuantStub), got {name}"
        )
    if x.qscheme() is not kiln.per_tensor_affine:
        raise RuntimeError("quantized::linear: the input must be quantized per tensor")
    xq = x._q_int.reshape(-1, x.shape[-1]).astype(np.int64) - x.q_zero_point()
    if weight.qscheme() is kiln.per_tensor_affine:
        w_scale = np.float32(weight.q_scale())
        w_zero = np.int64(weight.q_zero_point())
    else:
        w_scale = weight.q_per_channel_scales().numpy().astype(np.float32)
        w_zero = weight.q_per_channel_zero_points().numpy().reshape(-1, 1)
    acc = xq @ (weight._q_int.astype(np.int64) - w_zero).T
    input_times_weight = (np.float32(x.q_scale()) * w_scale).astype(np.float32)
    raw = acc.astype(np.float32)
    if bias is not None:
        raw = raw + (bias.detach().numpy() / input_times_weight).astype(np.float32)
    multiplier = (input_times_weight / np.float32(out_scale)).astype(np.float32)
    rounded = np.rint((raw * multiplier).astype(np.float32)).astype(np.int64) + out_zero
    ints = np.clip(rounded, out_zero if relu else 0, 255).astype(np.uint8)
    from kiln.ao.quantized_tensor import _make

    shape = (*x.shape[:-1], weight.shape[0])
    return _make(ints.reshape(shape), kiln.quint8, kiln.per_tensor_affine, (out_scale, out_zero))


class Linear(Module):
    """A static quantized linear layer (``QuantizedLinear``): quint8 input, qint8 weight,
    float bias, quint8 output with the ``scale`` and ``zero_point`` its output observer
    chose during calibration."""

    _version = 3
    _FLOAT_MODULE = None  # (nn.Linear; set below to avoid a circular import)

    def __init__(self, in_features, out_features, bias_=True, dtype=kiln.qint8):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        bias = kiln.zeros(out_features) if bias_ else None
        if dtype is kiln.qint8:
            weight = kiln.quantize_per_tensor(
                kiln.zeros(out_features, in_features), 1.0, 0, kiln.qint8
            )
        elif dtype is kiln.float16:
            weight = kiln.zeros(out_features, in_features)
        else:
            raise RuntimeError("Unsupported dtype specified for quantized Linear!")
        self._packed_params = LinearPackedParams(dtype)
        self._packed_params.set_weight_bias(weight, bias)
        self.scale = 1.0
        self.zero_point = 0

    def _get_name(self) -> str:
        return "QuantizedLinear"

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"scale={self.scale}, zero_point={self.zero_point}, "
            f"qscheme={self.weight().qscheme()}"
        )

    def __repr__(self) -> str:  # (PyTorch's repr does not list _packed_params)
        return f"{self._get_name()}({self.extra_repr()})"

    def forward(self, x):
        weight, bias = self._packed_params._packed_params
        return linear_requantized(x, weight, bias, self.scale, self.zero_point)

    # -------------------------------------------------------------- weight and bias
    def _weight_bias(self):
        return self._packed_params._weight_bias()

    def weight(self):
        return self._weight_bias()[0]

    def bias(self):
        return self._weight_bias()[1]

    def set_weight_bias(self, w, b) -> None:
        self._packed_params.set_weight_bias(w, b)

    # -------------------------------------------------------------- state
    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """PyTorch's keys: ``scale``, ``zero_point``, then ``_packed_params.dtype`` and
        ``_packed_params._packed_params`` (weight, bias)."""
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = {"version": self._version}
        destination[prefix + "scale"] = kiln.tensor(self.scale)
        destination[prefix + "zero_point"] = kiln.tensor(self.zero_point)
        self._packed_params.state_dict(
            destination=destination, prefix=prefix + "_packed_params.", keep_vars=keep_vars
        )
        return destination

    def _own_state_names(self) -> list[str]:
        return ["scale", "zero_point"]

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        self.version = local_metadata.get("version", None)
        for name in ("scale", "zero_point"):
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            value = value.item() if isinstance(value, kiln.Tensor) else value
            setattr(self, name, float(value) if name == "scale" else int(value))

    # -------------------------------------------------------------- conversion
    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The static quantized version of a calibrated float ``nn.Linear`` (or fused
        ``LinearReLU``): its weight quantized with ``qconfig.weight()``'s qparams, its
        output scale and zero point from its ``activation_post_process`` observer."""
        from kiln.ao.nn.intrinsic.modules.fused import LinearReLU
        from kiln.nn.transformer import NonDynamicallyQuantizableLinear

        float_modules = (kiln.nn.Linear, NonDynamicallyQuantizableLinear, LinearReLU)
        if type(mod) not in float_modules:
            raise AssertionError(
                f"nnq.{cls.__name__}.from_float only works for "
                f"{[m.__name__ for m in float_modules]}, got {type(mod)}"
            )
        if not hasattr(mod, "qconfig"):
            raise AssertionError("Input float module must have qconfig defined")
        activation_post_process = mod.activation_post_process
        if type(mod) is LinearReLU:
            mod = mod[0]
        weight_post_process = mod.qconfig.weight()
        weight_post_process(mod.weight)
        dtype = weight_post_process.dtype
        act_scale, act_zero = activation_post_process.calculate_qparams()
        if dtype is not kiln.qint8:
            raise AssertionError("Weight observer must have dtype torch.qint8")
        from kiln.ao.nn.quantized.dynamic.modules.linear import quantize_weight

        qweight = quantize_weight(mod.weight.float(), weight_post_process)
        qlinear = cls(mod.in_features, mod.out_features, dtype=dtype)
        qlinear.set_weight_bias(qweight, mod.bias)
        qlinear.scale = float(act_scale)
        qlinear.zero_point = int(act_zero)
        return qlinear
