"""``kiln.nn``: modules, parameters, initialisation and functional layers (PyTorch's API).

>>> import kiln
>>> import kiln.nn as nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> model(kiln.ones(3, 4)).shape
kiln.Size([3, 2])
>>> print(model)
Sequential(
  (0): Linear(in_features=4, out_features=8, bias=True)
  (1): ReLU()
  (2): Linear(in_features=8, out_features=2, bias=True)
)
"""

from . import attention, functional, grad, init, modules, parallel, utils
from .activation_layers import *  # noqa: F403
from .containers import *  # noqa: F403
from .conv_layers import *  # noqa: F403
from .extra_layers import *  # noqa: F403
from .extra_modules import *  # noqa: F403
from .layers import *  # noqa: F403
from .lazy import *  # noqa: F403
from .linear_cross_entropy import LinearCrossEntropyLoss, LinearCrossEntropyOptions
from .loss_layers import *  # noqa: F403
from .module import Module
from .norm_layers import *  # noqa: F403
from .parameter import Buffer, Parameter, UninitializedBuffer, UninitializedParameter
from .rnn import *  # noqa: F403
from .transformer import *  # noqa: F403

__all__ = [
    "Module",
    "Parameter",
    "Buffer",
    "UninitializedParameter",
    "UninitializedBuffer",
    "LinearCrossEntropyLoss",
    "LinearCrossEntropyOptions",
    "functional",
    "init",
    "utils",
]
