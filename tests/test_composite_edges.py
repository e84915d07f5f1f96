"""Composites at the edges, against PyTorch: values (signs of zeros too) and gradients.

The op table draws random inputs; the bugs live at 0, at tiny and huge magnitudes and at
infinities (``sigmoid``'s slope at exactly 0, ``log1p(1e-10)``, ``asinh(1e30)``).
"""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

EDGES = [0.0, -0.0, 1e-10, -1e-10, 1e-5, -0.5, -1.0, -2.0, 1.0, 3.0, 40.0, -100.0, 1e30]
EDGES += [float("inf"), float("-inf"), float("nan")]
NAMES = ["sigmoid", "log1p", "expm1", "asinh", "tanh", "atan", "exp", "softplus", "logsigmoid"]
NAMES += ["relu", "relu6", "hardtanh", "silu", "elu", "leaky_relu"]


# elu's gradient at a NaN input is PyTorch's scalar formula's (x <= 0 is false: 1) on an
# AVX-512 machine and NaN on AVX2 ones (torch 2.13's vectorized kernels differ): not compared.
TORCH_VARIES = {"elu"}


def _function(lib, name):
    if name in ("softplus", "logsigmoid", "relu6", "hardtanh", "gelu", "silu", "elu", "leaky_relu"):
        return getattr(lib.nn.functional, name)
    return getattr(lib, name)


def _value_and_grad(lib, name, values):
    x = lib.tensor(values, requires_grad=True)
    y = _function(lib, name)(x)
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", NAMES)
def test_composite_matches_pytorch_at_the_edges(name):
    values = [v for v in EDGES if not (name == "log1p" and v == float("-inf"))]
    want, want_grad = _value_and_grad(torch, name, values)
    got, got_grad = _value_and_grad(kiln, name, values)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-37)  # denormals differ
    zero = want == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))
    finite = np.isfinite(want_grad) & (np.abs(want_grad) > 1e-30)  # torch rounds tiny to 0
    if name in TORCH_VARIES:
        finite &= ~np.isnan(np.array(values))
    np.testing.assert_allclose(got_grad[finite], want_grad[finite], rtol=2e-5, atol=0)
    nan_grad = np.isnan(got_grad), np.isnan(want_grad)
    if name in TORCH_VARIES:  # (kiln's gradient there is nan)
        nan_grad = [g[np.array(values) == np.array(values)] for g in nan_grad]
    np.testing.assert_array_equal(*nan_grad)
