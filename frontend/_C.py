"""``kiln._C``: where PyTorch's native functions live, for code that names them there.

``torch.nn.functional.linear`` *is* ``torch._C._nn.linear`` (a function of the C++
extension), so ``torch.fx`` prints a traced ``F.linear`` call as ``torch._C._nn.linear``,
``F.conv2d`` as ``torch.conv2d``. kiln.fx prints the same names (``kiln.fx.tracer``), and a
GraphModule's generated code must run them: ``kiln._C._nn`` holds kiln's functions under
PyTorch's ``_C._nn`` names. Besides, the ``__torch_function__`` switches that PyTorch code
uses from ``torch._C`` (``DisableTorchFunction``, ``DisableTorchFunctionSubclass``,
``_disabled_torch_function_impl``: ``kiln.overrides``).
"""

from __future__ import annotations

import types

from .overrides import (  # noqa: F401  (torch._C's spellings)
    DisableTorchFunction,
    DisableTorchFunctionSubclass,
    _disabled_torch_function_impl,
    _get_current_function_mode_stack,
    _is_torch_function_enabled,
    _is_torch_function_mode_enabled,
    _len_torch_function_stack,
)
from .overrides import has_torch_function as _has_torch_function  # noqa: F401
from .overrides import has_torch_function_unary as _has_torch_function_unary  # noqa: F401
from .overrides import has_torch_function_variadic as _has_torch_function_variadic  # noqa: F401

# torch._C._nn's function -> kiln.nn.functional's name for it
_NN_NAMES = {
    "avg_pool2d": "avg_pool2d",
    "avg_pool3d": "avg_pool3d",
    "elu_": "elu_",
    "gelu": "gelu",
    "hardtanh_": "hardtanh_",
    "leaky_relu_": "leaky_relu_",
    "linear": "linear",
    "log_sigmoid": "logsigmoid",
    "one_hot": "one_hot",
    "pad": "pad",
    "scaled_dot_product_attention": "scaled_dot_product_attention",
    "softplus": "softplus",
    "softshrink": "softshrink",
}


def _nn_namespace() -> types.SimpleNamespace:
    from .nn import functional as F

    return types.SimpleNamespace(
        **{name: getattr(F, kiln_name) for name, kiln_name in _NN_NAMES.items()}
    )


_nn = _nn_namespace()
