"""``fuse_modules``: merge runs of modules (conv + bn + relu, linear + relu, ...) into one,
as ``torch.ao.quantization.fuse_modules``. In eval mode a batch norm is folded into the
convolution or linear layer before it; the modules after the first become ``Identity``.

>>> import kiln.nn as nn
>>> m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU()).eval()
>>> fuse_modules(m, [["0", "1", "2"]])
Sequential(
  (0): ConvReLU2d(
    (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
    (1): ReLU()
  )
  (1): Identity()
  (2): Identity()
)
"""

from __future__ import annotations

import copy

import kiln.nn as nn
from kiln.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from ..nn import intrinsic as nni

__all__ = ["fuse_known_modules", "fuse_modules", "get_fuser_method"]


def fuse_conv_bn(is_qat, conv, bn):
    if conv.training != bn.training:
        raise AssertionError("Conv and BN both must be in the same mode (train or eval).")
    if is_qat:
        raise NotImplementedError("kiln has no QAT fusion (torch.ao.nn.intrinsic.ConvBn*d)")
    return fuse_conv_bn_eval(conv, bn)


def fuse_conv_bn_relu(is_qat, conv, bn, relu):
    fused = fuse_conv_bn(is_qat, conv, bn)
    relu_kind = {nn.Conv1d: nni.ConvReLU1d, nn.Conv2d: nni.ConvReLU2d, nn.Conv3d: nni.ConvReLU3d}
    return relu_kind[type(conv)](fused, relu)


def fuse_linear_bn(is_qat, linear, bn):
    if linear.training != bn.training:
        raise AssertionError("Linear and BN both must be in the same mode (train or eval).")
    if is_qat:
        raise NotImplementedError("kiln has no QAT fusion (torch.ao.nn.intrinsic.LinearBn1d)")
    return fuse_linear_bn_eval(linear, bn)


def _sequential(kind):
    def fuse(is_qat, *modules):
        return kind(*modules)

    return fuse


_FUSER_METHODS = {
    (nn.Conv1d, nn.BatchNorm1d): fuse_conv_bn,
    (nn.Conv1d, nn.BatchNorm1d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv2d, nn.BatchNorm2d): fuse_conv_bn,
    (nn.Conv2d, nn.BatchNorm2d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv3d, nn.BatchNorm3d): fuse_conv_bn,
    (nn.Conv3d, nn.BatchNorm3d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv1d, nn.ReLU): _sequential(nni.ConvReLU1d),
    (nn.Conv2d, nn.ReLU): _sequential(nni.ConvReLU2d),
    (nn.Conv3d, nn.ReLU): _sequential(nni.ConvReLU3d),
    (nn.Linear, nn.BatchNorm1d): fuse_linear_bn,
    (nn.Linear, nn.ReLU): _sequential(nni.LinearReLU),
    (nn.BatchNorm2d, nn.ReLU): _sequential(nni.BNReLU2d),
    (nn.BatchNorm3d, nn.ReLU): _sequential(nni.BNReLU3d),
}


def get_fuser_method(op_list, additional_fuser_method_mapping=None):
    """The function that fuses modules of the classes in ``op_list``."""
    table = dict(_FUSER_METHODS)
    table.update(additional_fuser_method_mapping or {})
    method = table.get(tuple(op_list))
    if method is None:
        raise AssertionError(f"did not find fuser method for: {tuple(op_list)} ")
    return method


def fuse_known_modules(mod_list, is_qat=False, additional_fuser_method_mapping=None):
    """The fused module in place of the first of ``mod_list``, ``Identity`` for the rest."""
    types = tuple(type(m) for m in mod_list)
    method = get_fuser_method(types, additional_fuser_method_mapping)
    if method is None:
        raise NotImplementedError(f"Cannot fuse modules: {types}")
    fused = method(is_qat, *mod_list)
    new_mod = [None] * len(mod_list)
    for table in ("_forward_pre_hooks",):  # (the first module's pre-hooks stay with it)
        hooks = mod_list[0].__dict__.get(table)
        if hooks:
            fused.__dict__.setdefault(table, type(hooks)()).update(hooks)
    for table in ("_forward_hooks",):  # (the last module's hooks move to the fused one)
        hooks = mod_list[-1].__dict__.get(table)
        if hooks:
            fused.__dict__.setdefault(table, type(hooks)()).update(hooks)
    new_mod[0] = fused
    for i in range(1, len(mod_list)):
        identity = nn.Identity()
        identity.training = mod_list[0].training
        new_mod[i] = identity
    return new_mod


def _fuse_modules_helper(model, modules_to_fuse, is_qat, fuser_func, fuse_custom_config_dict):
    additional = (fuse_custom_config_dict or {}).get("additional_fuser_method_mapping", {})
    mod_list = [model.get_submodule(name) for name in modules_to_fuse]
    new_mod_list = fuser_func(mod_list, is_qat, additional)
    for name, new in zip(modules_to_fuse, new_mod_list):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, new)


def fuse_modules(
    model,
    modules_to_fuse,
    inplace=False,
    fuser_func=fuse_known_modules,
    fuse_custom_config_dict=None,
):
    """Fuse each list of submodule names in ``modules_to_fuse`` (or the one list): the
    first becomes the fused module, the others ``Identity``. Fusing a batch norm needs eval
    mode (it is folded into the weights)."""
    if not inplace:
        model = copy.deepcopy(model)
    if all(isinstance(group, str) for group in modules_to_fuse):
        _fuse_modules_helper(model, modules_to_fuse, False, fuser_func, fuse_custom_config_dict)
    else:
        for group in modules_to_fuse:
            _fuse_modules_helper(model, group, False, fuser_func, fuse_custom_config_dict)
    return model
