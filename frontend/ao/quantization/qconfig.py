"""``QConfig``: which observers make a module's activation and weight quantization
parameters, and PyTorch's ready-made configurations (``default_dynamic_qconfig``, ...)."""

from __future__ import annotations

from collections import namedtuple

import kiln

from .observer import (
    NoopObserver,
    PlaceholderObserver,
    _PartialWrapper,
    default_dynamic_quant_observer,
    default_float_qparams_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_placeholder_observer,
    default_weight_observer,
)


class QConfig(namedtuple("QConfig", ["activation", "weight"])):
    """The observers of a module's activations and weights: each a class or a
    ``with_args`` factory (an instance is refused: every module needs its own)."""

    __slots__ = ()

    def __new__(cls, activation, weight):
        from kiln.nn.module import Module

        if isinstance(activation, Module) or isinstance(weight, Module):
            raise ValueError(
                "QConfig received observer instance, please pass observer class instead. "
                "Use MyObserver.with_args(x=1) to override arguments to constructor if needed"
            )
        return super().__new__(cls, activation, weight)


default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
default_dynamic_qconfig = QConfig(
    activation=default_dynamic_quant_observer, weight=default_weight_observer
)
float16_dynamic_qconfig = QConfig(
    activation=PlaceholderObserver.with_args(dtype=kiln.float16, is_dynamic=True),
    weight=PlaceholderObserver.with_args(dtype=kiln.float16),
)
float16_static_qconfig = QConfig(
    activation=PlaceholderObserver.with_args(dtype=kiln.float16),
    weight=PlaceholderObserver.with_args(dtype=kiln.float16),
)
per_channel_dynamic_qconfig = QConfig(
    activation=default_dynamic_quant_observer, weight=default_per_channel_weight_observer
)
float_qparams_weight_only_qconfig = QConfig(
    activation=default_placeholder_observer, weight=default_float_qparams_observer
)
default_per_channel_qconfig = QConfig(
    activation=default_observer, weight=default_per_channel_weight_observer
)


def get_default_qconfig(backend="x86", version=0):
    """PyTorch's per-backend static configuration. Its activation observer is the
    HistogramObserver, which kiln does not have: calibrate with ``default_qconfig``
    (MinMaxObserver) or ``default_per_channel_qconfig`` instead."""
    if backend not in ("x86", "fbgemm", "qnnpack", "onednn", "default"):
        raise AssertionError(f"backend: {backend} not supported.")
    if backend == "default":
        return default_qconfig
    raise NotImplementedError(
        f"get_default_qconfig({backend!r}) observes activations with a HistogramObserver, "
        "which kiln does not have; use kiln.ao.quantization.default_qconfig or "
        "default_per_channel_qconfig (MinMaxObserver activations)"
    )


__all__ = [
    "get_default_qconfig",
    "QConfig",
    "NoopObserver",
    "_PartialWrapper",
    "default_qconfig",
    "default_dynamic_qconfig",
    "float16_dynamic_qconfig",
    "float16_static_qconfig",
    "per_channel_dynamic_qconfig",
    "float_qparams_weight_only_qconfig",
    "default_per_channel_qconfig",
]
