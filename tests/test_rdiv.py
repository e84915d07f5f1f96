"""``number / tensor`` as PyTorch computes it: ``reciprocal(tensor) * number`` (two
roundings; ``MulBackward0`` over ``ReciprocalBackward0``). kiln divided once: 20-29% of
float32 elements of ``0.1 / x`` and ``3 / x`` differed from PyTorch in the last bit."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "bool"])
@pytest.mark.parametrize("number", [2, 0.1, 3, -7.5, True])
def test_number_over_tensor_is_bit_identical_to_pytorch(dtype, number):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(2000).astype(np.float32) * 10
    values[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40]
    t = torch.tensor(values).to(getattr(torch, dtype))
    k = kiln.tensor(t.float().numpy()).to(getattr(kiln, dtype))
    want, got = number / t, number / k
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_its_graph_and_gradient_are_pytorchs():
    def run(lib):
        x = lib.tensor([3.0, -0.5, 7.0], dtype=lib.float64, requires_grad=True)
        y = 2.5 / x
        y.sum().backward()
        names = [type(y.grad_fn).__name__ if lib is torch else y.grad_fn.name()]
        names.append(
            type(y.grad_fn.next_functions[0][0]).__name__
            if lib is torch
            else y.grad_fn.next_functions[0][0].name()
        )
        return names, x.grad.numpy()

    (got_names, got), (want_names, want) = run(kiln), run(torch)
    assert got_names == want_names == ["MulBackward0", "ReciprocalBackward0"]
    np.testing.assert_array_equal(got, want)


def test_an_array_or_tensor_on_the_left_still_divides():
    x = kiln.tensor([2.0, 4.0])
    np.testing.assert_array_equal((np.float32([1.0, 1.0]) / x).numpy(), [0.5, 0.25])
    assert (kiln.tensor([3.0]) / x).grad_fn is None
