"""Eager-mode quantization, as ``torch.ao.quantization.quantize``: ``quantize_dynamic``
and the steps it is made of (``propagate_qconfig_``: attach a ``QConfig`` to each module;
``convert``: swap each configured module for its quantized version), and static
quantization (``prepare``: attach output observers; calibrate; ``convert``).

Dynamic: ``nn.Linear`` (qint8 or float16 weights), ``nn.LSTM``, ``nn.GRU`` and the
three cells; weight-only (quint8, float qparams): ``nn.Embedding``, ``nn.EmbeddingBag``
(mode "sum"). Static: ``QuantStub``/``DeQuantStub``, ``nn.Linear``, fused ``LinearReLU``
and ``nn.ReLU`` on a quantized tensor; ``prepare`` refuses what PyTorch would convert
beyond that (convolutions, norms, ...) rather than leave it silently float.
"""

from __future__ import annotations

import copy
import itertools
import warnings

import kiln
import kiln.nn as nn

from ..nn.quantized import dynamic as nnqd
from .qconfig import (
    default_dynamic_qconfig,
    float16_dynamic_qconfig,
    float_qparams_weight_only_qconfig,
)

DEPRECATION_WARNING = (
    "torch.ao.quantization is deprecated and will be removed in 2.10. \n"
    "For migrations of users: \n"
    "1. Eager mode quantization (torch.ao.quantization.quantize, "
    "torch.ao.quantization.quantize_dynamic), please migrate to use torchao eager mode "
    "quantize_ API instead \n"
    "2. FX graph mode quantization (torch.ao.quantization.quantize_fx.prepare_fx,"
    "torch.ao.quantization.quantize_fx.convert_fx, please migrate to use torchao pt2e "
    "quantization API instead (prepare_pt2e, convert_pt2e) \n"
    "3. pt2e quantization has been migrated to torchao (https://github.com/pytorch/ao/tree/"
    "main/torchao/quantization/pt2e) \n"
    "see https://github.com/pytorch/ao/issues/2259 for more details"
)


def get_default_dynamic_quant_module_mappings() -> dict:
    """Float module class -> dynamic quantized class (the ones kiln has)."""
    from kiln.nn.transformer import NonDynamicallyQuantizableLinear

    from ..nn import quantized as nnq

    return {
        nn.Linear: nnqd.Linear,
        NonDynamicallyQuantizableLinear: nnqd.Linear,
        nn.LSTM: nnqd.LSTM,
        nn.GRU: nnqd.GRU,
        nn.LSTMCell: nnqd.LSTMCell,
        nn.GRUCell: nnqd.GRUCell,
        nn.RNNCell: nnqd.RNNCell,
        nn.Embedding: nnq.Embedding,
        nn.EmbeddingBag: nnq.EmbeddingBag,
    }


def get_default_static_quant_module_mappings() -> dict:
    """Float module class -> static quantized class (the ones kiln has: the stubs,
    Linear and the fused LinearReLU)."""
    from ...nn.transformer import NonDynamicallyQuantizableLinear
    from ..nn import intrinsic as nni
    from ..nn import quantized as nnq
    from ..nn.intrinsic import quantized as nniq
    from .stubs import DeQuantStub, QuantStub

    return {
        QuantStub: nnq.Quantize,
        DeQuantStub: nnq.DeQuantize,
        nn.Linear: nnq.Linear,
        NonDynamicallyQuantizableLinear: nnq.Linear,
        nni.LinearReLU: nniq.LinearReLU,
    }


def get_default_qconfig_propagation_list() -> set:
    """The module classes that prepare() observes (kiln: those it can convert)."""
    return set(get_default_static_quant_module_mappings()) | {nn.Sequential}


# modules PyTorch's static quantization observes and converts, which kiln cannot
_NO_STATIC = (
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "BatchNorm2d",
    "BatchNorm3d",
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "Embedding",
    "EmbeddingBag",
    "ELU",
    "Hardswish",
    "LeakyReLU",
    "ReLU6",
    "PReLU",
    "ConvReLU1d",
    "ConvReLU2d",
    "ConvReLU3d",
    "BNReLU2d",
    "BNReLU3d",
)


def _propagate_qconfig_helper(module, qconfig_dict, qconfig_parent=None, prefix=""):
    module_qconfig = qconfig_dict.get(type(module), qconfig_parent)
    module_qconfig = qconfig_dict.get(prefix, module_qconfig)
    module_qconfig = getattr(module, "qconfig", module_qconfig)
    module.qconfig = module_qconfig
    for name, child in module.named_children():
        child_prefix = prefix + "." + name if prefix else name
        _propagate_qconfig_helper(child, qconfig_dict, module_qconfig, child_prefix)


def propagate_qconfig_(module, qconfig_dict=None, prepare_custom_config_dict=None) -> None:
    """Attach ``qconfig`` to ``module`` and its descendants from ``qconfig_dict`` (keys:
    module classes or dotted names); a child inherits its parent's."""
    _propagate_qconfig_helper(module, qconfig_dict or {})


def _remove_qconfig(module) -> None:
    for child in module.children():
        _remove_qconfig(child)
    if hasattr(module, "qconfig"):
        del module.qconfig


def swap_module(mod, mapping, custom_module_class_mapping=None, use_precomputed_fake_quant=False):
    """``mod``'s quantized version if it has a qconfig and its class is in ``mapping``
    (keeping its forward hooks); ``mod`` itself otherwise."""
    qconfig = getattr(mod, "qconfig", None)
    if qconfig is None:
        return mod
    if type(mod) in mapping:
        new_mod = mapping[type(mod)].from_float(mod)
        for table in ("_forward_pre_hooks", "_forward_hooks"):
            hooks = mod.__dict__.get(table)
            kept = {k: h for k, h in (hooks or {}).items() if h is not _observer_forward_hook}
            if kept:  # (the user's hooks move along; prepare's observer hook does not)
                new_mod.__dict__.setdefault(table, type(hooks)()).update(kept)
        return new_mod
    return mod


def _convert(module, mapping, inplace: bool):
    if not inplace:
        module = copy.deepcopy(module)
    from ..nn.intrinsic import _FusedModule

    swapped = {}
    for name, child in module.named_children():
        if not isinstance(child, _FusedModule):
            _convert(child, mapping, True)
        swapped[name] = swap_module(child, mapping)
    for name, child in swapped.items():
        module._modules[name] = child
    return module


def convert(module, mapping=None, inplace=False, remove_qconfig=True, **kwargs):
    """Swap every configured submodule of ``module`` for its quantized class in
    ``mapping`` (default: the static ones), then drop the ``qconfig`` attributes."""
    if mapping is None:
        mapping = get_default_static_quant_module_mappings()
    module = _convert(module, mapping, inplace)
    if remove_qconfig:
        _remove_qconfig(module)
    return module


def _observer_forward_hook(self, input, output):
    return self.activation_post_process(output)


def _add_observer_(module, propagation_list) -> None:
    from ..nn.intrinsic import _FusedModule
    from .stubs import DeQuantStub

    for child in module.children():
        qconfig = getattr(child, "qconfig", None)
        if qconfig is not None and type(child).__name__ in _NO_STATIC:
            raise NotImplementedError(
                f"prepare: kiln's static quantization covers Linear, LinearReLU and ReLU "
                f"between QuantStub and DeQuantStub; it cannot quantize {type(child).__name__} "
                "(set its qconfig to None to keep it in float)"
            )
        if isinstance(child, _FusedModule):
            if qconfig is not None:
                _insert_observer(child)
        elif type(child) in propagation_list and not list(child.children()):
            if qconfig is not None and not isinstance(child, DeQuantStub):
                _insert_observer(child)
        else:
            _add_observer_(child, propagation_list)


def _insert_observer(module) -> None:
    module.add_module("activation_post_process", module.qconfig.activation())
    module.register_forward_hook(_observer_forward_hook)


def prepare(
    model,
    inplace=False,
    allow_list=None,
    observer_non_leaf_module_list=None,
    prepare_custom_config_dict=None,
):
    """Attach an output observer (``qconfig.activation()``) to every module with a
    ``qconfig`` that static quantization converts (``QuantStub``, ``Linear``, fused
    ``LinearReLU``); run calibration data through the result, then ``convert`` it."""
    warnings.warn(DEPRECATION_WARNING, DeprecationWarning, stacklevel=2)
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model, qconfig_dict=None)
    if not any(getattr(m, "qconfig", None) for m in model.modules()):
        warnings.warn(
            "None of the submodule got qconfig applied. Make sure you passed correct "
            "configuration through `qconfig_dict` or by assigning the `.qconfig` "
            "attribute directly on submodules",
            stacklevel=2,
        )
    _add_observer_(model, allow_list or get_default_qconfig_propagation_list())
    return model


def quantize(model, run_fn, run_args, mapping=None, inplace=False):
    """Static quantization in one call: ``prepare``, ``run_fn(model, *run_args)`` to
    calibrate, ``convert``."""
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    prepare(model, inplace=True)
    run_fn(model, *run_args)
    convert(model, mapping, inplace=True)
    return model


def quantize_dynamic(model, qconfig_spec=None, dtype=kiln.qint8, mapping=None, inplace=False):
    """PyTorch's ``quantize_dynamic``: a copy of ``model`` (``inplace=False``) in eval
    mode whose ``nn.Linear`` layers named by ``qconfig_spec`` (a set of classes, or a dict
    of class/name -> QConfig) are ``DynamicQuantizedLinear``: int8 weights quantized
    per tensor (symmetric MinMax), activations quantized per call.

    >>> q = quantize_dynamic(kiln.nn.Sequential(kiln.nn.Linear(4, 2)), {kiln.nn.Linear})
    >>> type(q[0]).__name__
    'Linear'
    """
    warnings.warn(DEPRECATION_WARNING, DeprecationWarning, stacklevel=2)
    if qconfig_spec is None:
        if dtype is kiln.qint8:
            qconfig_spec = dict.fromkeys(
                (nn.Linear, nn.LSTM, nn.GRU, nn.LSTMCell, nn.RNNCell, nn.GRUCell),
                default_dynamic_qconfig,
            )
        elif dtype is kiln.float16:
            qconfig_spec = dict.fromkeys(
                (nn.Linear, nn.LSTM, nn.GRU, nn.LSTMCell, nn.RNNCell, nn.GRUCell),
                float16_dynamic_qconfig,
            )
        elif dtype is kiln.quint8:
            qconfig_spec = dict.fromkeys(
                (nn.EmbeddingBag, nn.Embedding), float_qparams_weight_only_qconfig
            )
        else:
            raise ValueError(
                f"Don't know how to quantize with default settings for {dtype}. Provide "
                "full qconfig please"
            )
    elif isinstance(qconfig_spec, set):
        defaults = {
            kiln.qint8: default_dynamic_qconfig,
            kiln.float16: float16_dynamic_qconfig,
            kiln.quint8: float_qparams_weight_only_qconfig,
        }
        if dtype not in defaults:
            raise RuntimeError("Unknown dtype specified for quantize_dynamic: ", str(dtype))
        qconfig_spec = dict(zip(qconfig_spec, itertools.repeat(defaults[dtype])))
    if mapping is None:
        mapping = get_default_dynamic_quant_module_mappings()
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    propagate_qconfig_(model, qconfig_spec)
    convert(model, mapping, inplace=True)
    return model
