"""``kiln.quantization``: PyTorch's older name of ``kiln.ao.quantization``
(``torch.quantization.quantize_dynamic``, ...)."""

from .ao.quantization import *  # noqa: F403
from .ao.quantization import __all__  # noqa: F401
