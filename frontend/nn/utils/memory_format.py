"""PyTorch's ``torch.nn.utils.convert_conv2d_weight_memory_format`` (and 3-d): lay out
the convolution weights of a model in a memory format (``kiln.channels_last``).

>>> import kiln
>>> net = convert_conv2d_weight_memory_format(kiln.nn.Conv2d(2, 4, 3), kiln.channels_last)
>>> net.weight.is_contiguous(memory_format=kiln.channels_last)
True
"""

from __future__ import annotations

import kiln

__all__ = ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format"]


def _convert(module, memory_format, kinds):
    if isinstance(module, kinds):
        module.weight.data = module.weight.detach().clone(memory_format=memory_format)
    for child in module.children():
        _convert(child, memory_format, kinds)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """The weights of ``module``'s Conv2d and ConvTranspose2d layers (``module`` itself
    included), in ``memory_format``; returns ``module``."""
    return _convert(module, memory_format, (kiln.nn.Conv2d, kiln.nn.ConvTranspose2d))


def convert_conv3d_weight_memory_format(module, memory_format):
    """The same for Conv3d and ConvTranspose3d layers."""
    return _convert(module, memory_format, (kiln.nn.Conv3d, kiln.nn.ConvTranspose3d))
