"""Inside a ``kiln.device('meta')`` block, a module built with ``device='cpu'`` gets real
CPU parameters, initialized as outside the block (its random fill drew meta numbers and
failed with "Cannot copy out of meta tensor"), as PyTorch's does."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def test_cpu_module_inside_a_meta_block():
    kiln.manual_seed(3)
    outside = kiln.nn.Linear(3, 4)
    kiln.manual_seed(3)
    with kiln.device("meta"):
        inside = kiln.nn.Linear(3, 4, device="cpu")
        meta = kiln.nn.Linear(3, 4)
    with torch.device("meta"):
        reference = torch.nn.Linear(3, 4, device="cpu")
    assert str(inside.weight.device) == str(reference.weight.device) == "cpu"
    assert meta.weight.is_meta
    np.testing.assert_array_equal(inside.weight.detach().numpy(), outside.weight.detach().numpy())
    np.testing.assert_array_equal(inside.bias.detach().numpy(), outside.bias.detach().numpy())
    x = kiln.ones(2, 3)
    np.testing.assert_allclose(inside(x).detach().numpy(), outside(x).detach().numpy())


def test_in_place_random_fills_of_a_cpu_tensor_inside_a_meta_block():
    t = kiln.zeros(5)
    with kiln.device("meta"):
        t.uniform_(2.0, 3.0)
        t2 = kiln.zeros(5, device="cpu").normal_()
    assert ((t >= 2.0) & (t <= 3.0)).all() and t2.device.type == "cpu"
