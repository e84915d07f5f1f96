"""``DynamicQuantizedLinear`` (``torch.ao.nn.quantized.dynamic.Linear``): a linear layer
with an int8 weight whose input is quantized on the fly, per call.

>>> import kiln.nn as nn
>>> q = Linear.from_float(_with_qconfig(nn.Linear(4, 3)))
>>> q.extra_repr()
'in_features=4, out_features=3, dtype=kiln.qint8, qscheme=kiln.per_tensor_affine'
"""

from __future__ import annotations

import numpy as np

import kiln

from ...modules import linear as nnq
from ..kernels import linear_dynamic


class Linear(nnq.Linear):
    """A dynamic quantized linear layer: float input and output, qint8 (or float16)
    weight, float bias. Its forward quantizes the input to quint8 with a scale and zero
    point from the input's own min and max (fbgemm's ``reduce_range``: 0..127), sums in
    integers and rescales, as PyTorch's x86/fbgemm kernel."""

    _version = 4

    def __init__(self, in_features, out_features, bias_=True, dtype=kiln.qint8):
        super().__init__(in_features, out_features, bias_, dtype=dtype)
        self.version = 4

    def forward(self, x):
        _check_engine()
        check_float_input(x)
        weight, bias = self._packed_params._packed_params
        values = x.detach().numpy()
        bias_values = None if bias is None else bias.numpy()
        if self._packed_params.dtype is kiln.qint8:
            ints = weight._q_int
            if weight.qscheme() is kiln.per_tensor_affine:
                scale, zero = weight.q_scale(), weight.q_zero_point()
            else:
                scale = weight.q_per_channel_scales().numpy()
                zero = weight.q_per_channel_zero_points().numpy()
            out = linear_dynamic(values, ints, scale, zero, bias_values, reduce_range=True)
        elif self._packed_params.dtype is kiln.float16:
            w = weight.numpy().astype(np.float16).astype(np.float32)
            out = values @ w.T
            if bias_values is not None:
                out = out + bias_values
            out = out.astype(np.float32)
        else:
            raise RuntimeError("Unsupported dtype on dynamic quantized linear!")
        return kiln.from_numpy(np.ascontiguousarray(out)).to(x.dtype)

    def _get_name(self) -> str:
        return "DynamicQuantizedLinear"

    def extra_repr(self) -> str:
        text = (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"dtype={self._packed_params.dtype}"
        )
        if self._packed_params.dtype is kiln.qint8:
            text += f", qscheme={self.weight().qscheme()}"
        return text

    # -------------------------------------------------------------- conversion
    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The dynamic quantized version of a float ``nn.Linear`` that carries a
        ``qconfig``: its weight observed by ``qconfig.weight()`` and quantized with the
        observer's scale and zero point."""
        from kiln.ao.nn.intrinsic.modules.fused import LinearReLU
        from kiln.nn.transformer import NonDynamicallyQuantizableLinear

        float_modules = [kiln.nn.Linear, NonDynamicallyQuantizableLinear, LinearReLU]
        if type(mod) not in float_modules:
            raise AssertionError(
                "nn.quantized.dynamic.Linear.from_float only works for one of"
                + str([m.__name__ for m in float_modules])
                + f", got {type(mod)}"
            )
        if not hasattr(mod, "qconfig"):
            raise AssertionError("Input float module must have qconfig defined")
        if type(mod) is LinearReLU:
            raise NotImplementedError(
                "kiln has no dynamic quantized LinearReLU (torch.ao.nn.intrinsic.quantized."
                "dynamic.LinearReLU): quantize the model before fusing Linear and ReLU"
            )
        if mod.qconfig is not None and mod.qconfig.weight is not None:
            weight_observer = mod.qconfig.weight()
        else:
            from kiln.ao.quantization.qconfig import default_dynamic_qconfig

            weight_observer = default_dynamic_qconfig.weight()
        dtype = weight_observer.dtype
        if dtype not in (kiln.qint8, kiln.float16):
            raise AssertionError(
                "The only supported dtypes for dynamic quantized linear are qint8 and "
                f"float16, got: {dtype}"
            )
        weight_observer(mod.weight)
        if dtype is kiln.qint8:
            qweight = quantize_weight(mod.weight.float(), weight_observer)
        else:
            qweight = mod.weight.detach().float()
        qlinear = cls(mod.in_features, mod.out_features, dtype=dtype)
        qlinear.set_weight_bias(qweight, mod.bias)
        return qlinear


def quantize_weight(float_weight, observer):
    """A float weight quantized with ``observer``'s qparams (PyTorch's
    ``_quantize_weight``): per tensor, or per channel along ``observer.ch_axis``."""
    scale, zero_point = observer.calculate_qparams()
    scheme = observer.qscheme
    weight = float_weight.detach()
    if scheme in (kiln.per_tensor_symmetric, kiln.per_tensor_affine):
        return kiln.quantize_per_tensor(weight, float(scale), int(zero_point), kiln.qint8)
    if scheme in (kiln.per_channel_symmetric, kiln.per_channel_affine):
        return kiln.quantize_per_channel(
            weight, scale.to(kiln.float64), zero_point.to(kiln.int64), observer.ch_axis, kiln.qint8
        )
    if scheme is kiln.per_channel_affine_float_qparams:
        return kiln.quantize_per_channel(
            weight, scale.to(kiln.float32), zero_point.to(kiln.float32), observer.ch_axis,
            observer.dtype,
        )  # fmt: skip
    raise ValueError(f"Unrecognized qscheme: {scheme}")


def check_float_input(x) -> None:
    """PyTorch's quantized kernels take float32 only (a float64 input is an error there,
    not a conversion)."""
    if not isinstance(x, kiln.Tensor) or x.dtype is not kiln.float32:
        name = kiln.dtypes.torch_name(x.dtype) if isinstance(x, kiln.Tensor) else type(x)
        raise RuntimeError(f"expected scalar type Float but found {name}")


def _check_engine(engines=("x86", "fbgemm", "onednn"), what="a dynamic quantized layer") -> None:
    """kiln computes the x86/fbgemm kernels' numbers (onednn's dynamic ones agree);
    qnnpack's (no reduced input range) are refused rather than silently given
    differently."""
    engine = kiln.backends.quantized.engine
    if engine not in engines:
        raise NotImplementedError(
            f"{what}: kiln computes the x86/fbgemm quantized engine's results; "
            f"torch.backends.quantized.engine is {engine!r} (set it to 'x86')"
        )


def _with_qconfig(mod):
    from kiln.ao.quantization.qconfig import default_dynamic_qconfig

    mod.qconfig = default_dynamic_qconfig
    return mod
