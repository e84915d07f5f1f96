"""A NaN constant in a traced function no longer keeps a dimension static: two traces at
different sizes compared their constants with ``==``, and NaN != NaN."""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln.export.dynamic import _identical


@pytest.mark.parametrize("c", [1.5, float("nan"), float("inf"), -0.0])
def test_a_constant_of_any_value_lets_the_batch_dimension_go_dynamic(c):
    def f(x):
        return x * 2 + c

    jitted = kiln.jit(f)
    for n in range(2, 8):
        x = kiln.arange(n * 3, dtype=kiln.float32).reshape(n, 3)
        got, want = jitted(x), f(x)
        np.testing.assert_array_equal(got.numpy(), want.numpy())  # (NaN equals NaN here)
        assert np.array_equal(np.signbit(got.numpy()), np.signbit(want.numpy()))
    assert jitted.trace_count == 2


def test_identical_values():
    nan = float("nan")
    assert _identical(nan, nan) and _identical(1.0, 1.0) and _identical(3, 3)
    assert not _identical(0.0, -0.0) and not _identical(1, 1.0) and not _identical(True, 1)
    assert not _identical(nan, 1.0) and not _identical(1.0, nan)
