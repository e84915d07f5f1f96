"""``kiln._C``: where PyTorch's native functions live, for code that names them there.

``torch.nn.functional.linear`` *is* ``torch._C._nn.linear`` (a function of the C++
extension), so ``torch.fx`` prints a traced ``F.linear`` call as ``torch._C._nn.linear``,
``F.conv2d`` as ``torch.conv2d``. kiln.fx prints the same names (``kiln.fx.tracer``), and a
GraphModule's generated code must run them: ``kiln._C._nn`` holds kiln's functions under
PyTorch's ``_C._nn`` names. Nothing else of ``torch._C`` is here.
"""

from __future__ import annotations

import types

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
