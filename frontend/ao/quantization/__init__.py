"""``torch.ao.quantization``: quantization configurations, observers, ``quantize_dynamic``
and ``fuse_modules`` (eager mode; kiln's dynamic path quantizes ``nn.Linear``)."""

from .fuse_modules import fuse_known_modules, fuse_modules, get_fuser_method
from .observer import (
    MinMaxObserver,
    NoopObserver,
    ObserverBase,
    PerChannelMinMaxObserver,
    PlaceholderObserver,
    UniformQuantizationObserverBase,
    default_dynamic_quant_observer,
    default_float_qparams_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_placeholder_observer,
    default_weight_observer,
    per_channel_weight_observer_range_neg_127_to_127,
    weight_observer_range_neg_127_to_127,
)
from .qconfig import (
    QConfig,
    default_dynamic_qconfig,
    default_per_channel_qconfig,
    default_qconfig,
    float16_dynamic_qconfig,
    float16_static_qconfig,
    float_qparams_weight_only_qconfig,
    per_channel_dynamic_qconfig,
)
from .quantize import (
    convert,
    get_default_dynamic_quant_module_mappings,
    propagate_qconfig_,
    quantize_dynamic,
    swap_module,
)
from .stubs import DeQuantStub, QuantStub

__all__ = [
    "DeQuantStub",
    "MinMaxObserver",
    "NoopObserver",
    "ObserverBase",
    "PerChannelMinMaxObserver",
    "PlaceholderObserver",
    "QConfig",
    "QuantStub",
    "UniformQuantizationObserverBase",
    "convert",
    "default_dynamic_qconfig",
    "default_dynamic_quant_observer",
    "default_float_qparams_observer",
    "default_observer",
    "default_per_channel_qconfig",
    "default_per_channel_weight_observer",
    "default_placeholder_observer",
    "default_qconfig",
    "default_weight_observer",
    "float16_dynamic_qconfig",
    "float16_static_qconfig",
    "float_qparams_weight_only_qconfig",
    "fuse_known_modules",
    "fuse_modules",
    "get_default_dynamic_quant_module_mappings",
    "get_fuser_method",
    "per_channel_dynamic_qconfig",
    "per_channel_weight_observer_range_neg_127_to_127",
    "propagate_qconfig_",
    "quantize_dynamic",
    "swap_module",
    "weight_observer_range_neg_127_to_127",
]
