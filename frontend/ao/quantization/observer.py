"""Observers: modules that watch the tensors passing through them (a running min and max)
and compute the scale and zero point that quantize them, as
``torch.ao.quantization.observer``.

>>> obs = MinMaxObserver(dtype=kiln.qint8, qscheme=kiln.per_tensor_symmetric)
>>> _ = obs(kiln.tensor([-1.0, 0.5]))
>>> obs.calculate_qparams()
(tensor([0.0078]), tensor([0]))
"""

from __future__ import annotations

import functools

import numpy as np

import kiln
from kiln.nn.module import Module

from ..quantized_tensor import (
    per_channel_affine,
    per_channel_affine_float_qparams,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
)

_EPS = float(np.finfo(np.float32).eps)


class _PartialWrapper:
    """``Observer.with_args(...)``: a factory of configured observers (PyTorch's
    ``_PartialWrapper``: a ``functools.partial`` that prints as one)."""

    def __init__(self, p):
        self.p = p
        self.callable_args = {}

    def __call__(self, *args, **keywords):
        return self.p(*args, **keywords)

    def __repr__(self) -> str:
        return self.p.__repr__() + self.callable_args.__repr__()

    def with_args(self, **kwargs):
        return _with_args(self, **kwargs)


def _with_args(cls_or_self, **kwargs):
    return _PartialWrapper(functools.partial(cls_or_self, **kwargs))


def calculate_qmin_qmax(quant_min, quant_max, has_customized_qrange, dtype, reduce_range):
    """The integer range an observer quantizes to: the dtype's (halved with
    ``reduce_range``, fbgemm's headroom against int16 overflow) unless given."""
    if has_customized_qrange:
        return quant_min, quant_max
    if dtype in (kiln.qint8, kiln.int8):
        return (-64, 63) if reduce_range else (-128, 127)
    if dtype in (kiln.quint8, kiln.uint8):
        return (0, 127) if reduce_range else (0, 255)
    if dtype in (kiln.qint32, kiln.int32):
        return -(2**31), 2**31 - 1
    return 0, 15


class ObserverBase(Module):
    """Base of observers: ``forward`` records statistics and returns its input;
    ``calculate_qparams`` turns them into (scale, zero_point)."""

    def __init__(self, dtype, is_dynamic: bool = False):
        super().__init__()
        self.dtype = dtype
        self.is_dynamic = is_dynamic

    with_args = classmethod(_with_args)


class UniformQuantizationObserverBase(ObserverBase):
    """The affine-quantization arithmetic shared by the min/max observers."""

    eps: kiln.Tensor

    def __init__(
        self,
        dtype=None,
        qscheme=per_tensor_affine,
        reduce_range: bool = False,
        quant_min=None,
        quant_max=None,
        factory_kwargs=None,
        eps=_EPS,
        is_dynamic: bool = False,
        **kwargs,
    ):
        super().__init__(kiln.quint8 if dtype is None else dtype, is_dynamic)
        self.qscheme = qscheme
        if reduce_range:
            import warnings

            warnings.warn(
                "Please use quant_min and quant_max to specify the range for observers. "
                "reduce_range will be deprecated in a future release of PyTorch.",
                stacklevel=2,
            )
        self.reduce_range = reduce_range
        self.register_buffer("eps", kiln.tensor([eps]))
        schemes = (
            per_tensor_affine,
            per_tensor_symmetric,
            per_channel_affine,
            per_channel_symmetric,
            per_channel_affine_float_qparams,
        )
        if self.qscheme not in schemes:
            raise AssertionError(
                "Default Observer only works for per_tensor_affine, per_tensor_symmetric, "
                "per_channel_affine, per_channel_symmetric and per_channel_float_qparams "
                "quantization scheme"
            )
        self.has_customized_qrange = (quant_min is not None) and (quant_max is not None)
        if self.has_customized_qrange and not quant_min <= 0 <= quant_max:
            raise AssertionError("Used-specified quantization range must include 0.")
        self.quant_min, self.quant_max = calculate_qmin_qmax(
            quant_min, quant_max, self.has_customized_qrange, self.dtype, self.reduce_range
        )

    def _calculate_qparams(self, min_val: kiln.Tensor, max_val: kiln.Tensor):
        """PyTorch's ``_calculate_qparams``, in float32 as it computes: symmetric schemes
        ``scale = max(|min|, |max|) / ((qmax - qmin) / 2)`` with a zero point of 0 (128
        for quint8); affine ``scale = (max - min) / (qmax - qmin)`` and
        ``zero_point = qmin - round(min / scale)``, ``scale`` at least ``eps``."""
        low = np.asarray(min_val.numpy(), dtype=np.float32)
        high = np.asarray(max_val.numpy(), dtype=np.float32)
        if low.size == 0 or (low.ndim == 0 and (low == np.inf and high == -np.inf)):
            import warnings

            warnings.warn(
                "must run observer before calling calculate_qparams. Returning default values.",
                stacklevel=3,
            )
            return kiln.tensor([1.0]), kiln.tensor([0])
        if np.any(low > high):
            raise AssertionError(f"min {low} should be less than max {high}")
        quant_min, quant_max = self.quant_min, self.quant_max
        eps = np.float32(self.eps.numpy().reshape(-1)[0])
        min_neg = np.minimum(low, np.float32(0))
        max_pos = np.maximum(high, np.float32(0))
        zero_point = np.zeros(low.shape, dtype=np.int64)
        if self.qscheme in (per_tensor_symmetric, per_channel_symmetric):
            max_pos = np.maximum(-min_neg, max_pos)
            scale = (max_pos / np.float32((quant_max - quant_min) / 2)).astype(np.float32)
            scale = np.maximum(scale, eps)
            if self.dtype in (kiln.quint8, kiln.uint8):
                middle = (quant_min + quant_max) // 2 if self.has_customized_qrange else 128
                zero_point = np.full(low.shape, middle, dtype=np.int64)
        elif self.qscheme is per_channel_affine_float_qparams:
            scale = ((high - low) / np.float32(quant_max - quant_min)).astype(np.float32)
            scale = np.where(scale > eps, scale, np.float32(1)).astype(np.float32)
            zero_point = (-1 * low / scale).astype(np.float32)
        else:
            scale = ((max_pos - min_neg) / np.float32(quant_max - quant_min)).astype(np.float32)
            scale = np.maximum(scale, eps)
            zero_point = quant_min - np.rint(min_neg / scale).astype(np.int64)
            zero_point = np.clip(zero_point, quant_min, quant_max)
        scale = np.atleast_1d(scale).astype(np.float32)
        zero_point = np.atleast_1d(zero_point)
        return kiln.from_numpy(scale), kiln.from_numpy(zero_point.copy())

    def reset_min_max_vals(self):
        raise NotImplementedError("Cannot reset min/max values in the base observer.")


class MinMaxObserver(UniformQuantizationObserverBase):
    """Watches the running minimum and maximum of every tensor it sees (the whole tensor).

    PyTorch's ``torch.ao.quantization.MinMaxObserver``, with its defaults (quint8,
    per_tensor_affine)."""

    def __init__(
        self,
        dtype=None,
        qscheme=per_tensor_affine,
        reduce_range: bool = False,
        quant_min=None,
        quant_max=None,
        factory_kwargs=None,
        eps=_EPS,
        is_dynamic: bool = False,
        **kwargs,
    ):
        if is_dynamic:
            raise NotImplementedError("MinMaxObserver is not implemented for dynamic quantization")
        super().__init__(
            dtype, qscheme, reduce_range, quant_min, quant_max, factory_kwargs, eps, **kwargs
        )
        self.register_buffer("min_val", kiln.tensor(float("inf")))
        self.register_buffer("max_val", kiln.tensor(float("-inf")))
        if self.qscheme is per_tensor_symmetric and self.reduce_range and self.dtype is kiln.quint8:
            raise NotImplementedError("Cannot reduce range for symmetric quantization for quint8")

    def forward(self, x_orig):
        if x_orig.numel() == 0:
            return x_orig
        x = x_orig.detach().to(self.min_val.dtype)
        values = x.numpy()
        low = np.minimum(np.float32(values.min()), self.min_val.numpy())
        high = np.maximum(np.float32(values.max()), self.max_val.numpy())
        self.min_val = kiln.tensor(float(low))
        self.max_val = kiln.tensor(float(high))
        return x_orig

    def calculate_qparams(self):
        return self._calculate_qparams(self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"

    def reset_min_max_vals(self):
        self.min_val = kiln.tensor(float("inf"))
        self.max_val = kiln.tensor(float("-inf"))


class PerChannelMinMaxObserver(UniformQuantizationObserverBase):
    """The running minimum and maximum of each slice along ``ch_axis`` (per-channel
    weights), as PyTorch's ``PerChannelMinMaxObserver``."""

    def __init__(
        self,
        ch_axis: int = 0,
        dtype=None,
        qscheme=per_channel_affine,
        reduce_range: bool = False,
        quant_min=None,
        quant_max=None,
        factory_kwargs=None,
        eps=_EPS,
        is_dynamic: bool = False,
        **kwargs,
    ):
        if qscheme not in (
            per_channel_affine,
            per_channel_symmetric,
            per_channel_affine_float_qparams,
        ):
            raise NotImplementedError(
                "PerChannelMinMaxObserver's qscheme only support torch.per_channel_symmetric,"
                " torch.per_channel_affine and torch.per_channel_affine_float_qparams."
            )
        if is_dynamic:
            raise NotImplementedError(
                "PerChannelMinMaxObserver is not implemented for dynamic quantization"
            )
        super().__init__(
            dtype, qscheme, reduce_range, quant_min, quant_max, factory_kwargs, eps, **kwargs
        )
        self.ch_axis = ch_axis
        self.register_buffer("min_val", kiln.tensor([]))
        self.register_buffer("max_val", kiln.tensor([]))

    def forward(self, x_orig):
        if x_orig.numel() == 0:
            return x_orig
        values = x_orig.detach().to(kiln.float32).numpy()
        axis = self.ch_axis % values.ndim
        rest = tuple(d for d in range(values.ndim) if d != axis)
        low, high = values.min(axis=rest), values.max(axis=rest)
        if self.min_val.numel() and self.min_val.shape == low.shape:
            low = np.minimum(low, self.min_val.numpy())
            high = np.maximum(high, self.max_val.numpy())
        self.min_val = kiln.from_numpy(np.ascontiguousarray(low, dtype=np.float32))
        self.max_val = kiln.from_numpy(np.ascontiguousarray(high, dtype=np.float32))
        return x_orig

    def calculate_qparams(self):
        return self._calculate_qparams(self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"

    def reset_min_max_vals(self):
        self.min_val = kiln.tensor([])
        self.max_val = kiln.tensor([])


class PlaceholderObserver(ObserverBase):
    """Observes nothing; carries the dtype (and ``is_dynamic``) that a quantized module
    will use for its activations (dynamic quantization computes their qparams per call)."""

    def __init__(
        self,
        dtype=kiln.float32,
        custom_op_name: str = "",
        compute_dtype=None,
        quant_min=None,
        quant_max=None,
        qscheme=None,
        eps=None,
        is_dynamic: bool = False,
    ):
        super().__init__(dtype, is_dynamic)
        if qscheme is None:
            qscheme = per_tensor_affine
        if eps is None:
            eps = _EPS
        self.qscheme = qscheme
        self.quant_min = quant_min
        self.quant_max = quant_max
        self.eps = eps
        self.custom_op = custom_op_name

    def forward(self, x):
        return x

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}, is_dynamic={self.is_dynamic}"

    def calculate_qparams(self):
        raise Exception("calculate_qparams should not be called for PlaceholderObserver")  # noqa: TRY002


class NoopObserver(ObserverBase):
    """Observes nothing (float16 weights)."""

    def __init__(self, dtype=kiln.float16, custom_op_name: str = ""):
        super().__init__(dtype)
        self.custom_op = custom_op_name

    def forward(self, x):
        return x

    def calculate_qparams(self):
        raise Exception("calculate_qparams should not be called for NoopObserver")  # noqa: TRY002


default_observer = MinMaxObserver.with_args(quant_min=0, quant_max=127)
default_placeholder_observer = PlaceholderObserver
default_weight_observer = MinMaxObserver.with_args(dtype=kiln.qint8, qscheme=per_tensor_symmetric)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(
    dtype=kiln.qint8, qscheme=per_channel_symmetric
)
default_dynamic_quant_observer = PlaceholderObserver.with_args(
    dtype=kiln.quint8, quant_min=0, quant_max=255, is_dynamic=True
)
default_float_qparams_observer = PerChannelMinMaxObserver.with_args(
    dtype=kiln.quint8, qscheme=per_channel_affine_float_qparams, ch_axis=0
)
weight_observer_range_neg_127_to_127 = MinMaxObserver.with_args(
    dtype=kiln.qint8,
    qscheme=per_tensor_symmetric,
    quant_min=-127,
    quant_max=127,
    eps=2**-12,
)
per_channel_weight_observer_range_neg_127_to_127 = PerChannelMinMaxObserver.with_args(
    dtype=kiln.qint8,
    qscheme=per_channel_symmetric,
    quant_min=-127,
    quant_max=127,
    eps=2**-12,
)
