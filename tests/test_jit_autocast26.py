"""A jitted function that opens its own autocast region is traced once (its guard compares
the caller's autocast state, not the state inside the region: it retraced on every
call), and a region the caller opens or closes between calls still retraces."""

from __future__ import annotations

import numpy as np
import pytest

import kiln


def _model():
    kiln.manual_seed(0)
    return kiln.nn.Sequential(kiln.nn.Linear(8, 16), kiln.nn.GELU(), kiln.nn.Linear(16, 4))


@pytest.mark.parametrize("wrap", [kiln.jit, kiln.compile])
def test_a_region_opened_inside_is_traced_once(wrap):
    model = _model()
    x = kiln.randn(5, 8)

    def f(x):
        with kiln.autocast("cpu", dtype=kiln.bfloat16):
            y = model(x)
        return y.float().sum(1)

    compiled = wrap(f)
    for _ in range(3):
        got = compiled(x)
    np.testing.assert_allclose(got.detach().numpy(), f(x).detach().numpy(), rtol=1e-6, atol=1e-6)
    if wrap is kiln.jit:
        assert compiled.trace_count == 1


def test_the_callers_region_is_still_guarded():
    model = _model()
    x = kiln.randn(5, 8)

    def f(x):
        return model(x).float().sum(1)

    compiled = kiln.jit(f)
    results = {}
    for amp in (False, True, False, True):
        with kiln.autocast("cpu", dtype=kiln.bfloat16, enabled=amp):
            got, want = compiled(x), f(x)
        assert got.dtype == want.dtype == kiln.float32
        np.testing.assert_allclose(
            got.detach().numpy(), want.detach().numpy(), rtol=1e-6, atol=1e-6
        )
        results[amp] = got.detach().numpy()
    # (the region changes the result far more than the tolerance: a stale trace would show)
    assert np.abs(results[True] - results[False]).max() > 1e-3
    assert compiled.trace_count == 2
