"""``special.zeta(x, q)`` under kiln.jit with ``q <= -1``: the compiled graph's fixed number
of terms cannot reach the value eager mode and PyTorch compute, and it gave NaN silently;
the compiled call now raises a RuntimeError before writing any result. Elsewhere the
compiled values are eager's and PyTorch's (special values included)."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def test_zeta_under_jit_raises_where_it_cannot_compute_and_agrees_elsewhere():
    compiled = kiln.jit(lambda a, b: kiln.special.zeta(a, b))
    x = np.array([3.0, 3.0, 2.0, 3.0, 0.5, 2.5, 1.0])
    q = np.array([1.5, 2.0, 0.5, -2.0, -3.0, -1.5, 4.0])  # (special values at the end)
    want = torch.special.zeta(torch.tensor(x), torch.tensor(q)).numpy()
    got = compiled(kiln.tensor(x), kiln.tensor(q)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    x, q = np.array([3.0, 2.0]), np.array([-1.5, 0.5])
    eager = kiln.special.zeta(kiln.tensor(x), kiln.tensor(q)).numpy()
    np.testing.assert_allclose(eager, torch.special.zeta(torch.tensor(x), torch.tensor(q)))
    with pytest.raises(RuntimeError, match="q <= -1"):
        compiled(kiln.tensor(x), kiln.tensor(q))
    # polygamma of negative inputs reflects instead: no check fires inside it
    poly = kiln.jit(lambda a: kiln.special.polygamma(3, a))
    values = np.array([-2.5, 1.5, -0.25])
    np.testing.assert_allclose(
        poly(kiln.tensor(values)).numpy(),
        torch.special.polygamma(3, torch.tensor(values)).numpy(),
        rtol=1e-8,
    )
