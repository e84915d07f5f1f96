"""Fused modules (``torch.ao.nn.intrinsic``): a Sequential of layers that quantization
treats as one unit, made by ``fuse_modules`` (``ConvReLU2d(conv, relu)``, ...)."""

from __future__ import annotations

import kiln.nn as nn

__all__ = [
    "BNReLU2d",
    "BNReLU3d",
    "ConvReLU1d",
    "ConvReLU2d",
    "ConvReLU3d",
    "LinearReLU",
]


class _FusedModule(nn.Sequential):
    """A fused group of modules (a Sequential, run in order)."""


def _fused(name: str, first_types: tuple, doc: str):
    def __init__(self, first, relu):
        if not (type(first) in first_types and type(relu) is nn.ReLU):
            raise AssertionError(f"Incorrect types for input modules{type(first)}{type(relu)}")
        _FusedModule.__init__(self, first, relu)

    return type(
        name, (_FusedModule,), {"__init__": __init__, "__doc__": doc, "__module__": __name__}
    )


ConvReLU1d = _fused("ConvReLU1d", (nn.Conv1d,), "A Conv1d followed by a ReLU.")
ConvReLU2d = _fused("ConvReLU2d", (nn.Conv2d,), "A Conv2d followed by a ReLU.")
ConvReLU3d = _fused("ConvReLU3d", (nn.Conv3d,), "A Conv3d followed by a ReLU.")
LinearReLU = _fused("LinearReLU", (nn.Linear,), "A Linear followed by a ReLU.")
BNReLU2d = _fused("BNReLU2d", (nn.BatchNorm2d,), "A BatchNorm2d followed by a ReLU.")
BNReLU3d = _fused("BNReLU3d", (nn.BatchNorm3d,), "A BatchNorm3d followed by a ReLU.")
