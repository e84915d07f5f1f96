"""The vectorizable float64 exp, log and tanh (codegen/fastmath.py): error against NumPy
over every exponent, exact special values, through compiled kernels of both CPU back ends
(the native one and Numba) and in a row kernel (``reassoc``)."""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln.compiler.codegen.fastmath import MAX_ULP_64

FUNCTIONS = {"exp": (kiln.exp, np.exp), "log": (kiln.log, np.log), "tanh": (kiln.tanh, np.tanh)}


def _sweep(name: str) -> np.ndarray:
    """Values across the whole float64 range: log-uniform magnitudes of both signs,
    subnormals, and dense samples where a method switches or a result leaves the range."""
    rng = np.random.default_rng(0)
    magnitudes = 10.0 ** rng.uniform(-320, 308, 200_000)
    values = np.concatenate([magnitudes, -magnitudes])
    dense = {
        "exp": [(-745.2, -700.0), (700.0, 709.8), (-1.0, 1.0), (-0.35, 0.35)],
        "log": [(0.5, 2.0), (0.7, 0.72), (1.4, 1.42), (1e-310, 1e-300)],
        "tanh": [(-1.0, 1.0), (-1e-8, 1e-8), (19.0, 20.0), (-0.4, 0.4), (0.3, 1.1)],
    }[name]
    extra = [rng.uniform(lo, hi, 50_000) for lo, hi in dense]
    return np.concatenate([values, *extra])


def _ulp_error(got: np.ndarray, want: np.ndarray) -> float:
    finite = np.isfinite(want) & (want != 0)
    spacing = np.spacing(np.abs(want[finite]))
    return float(np.max(np.abs(got[finite] - want[finite]) / spacing))


SPECIALS = {
    "exp": [
        (np.inf, np.inf),
        (-np.inf, 0.0),
        (0.0, 1.0),
        (-0.0, 1.0),
        (800.0, np.inf),
        (-800.0, 0.0),
        (710.0, np.inf),
    ],
    "log": [
        (np.inf, np.inf),
        (0.0, -np.inf),
        (-0.0, -np.inf),
        (1.0, 0.0),
        (-1.0, np.nan),
        (-np.inf, np.nan),
        (5e-324, np.log(5e-324)),
    ],
    "tanh": [
        (np.inf, 1.0),
        (-np.inf, -1.0),
        (0.0, 0.0),
        (-0.0, -0.0),
        (50.0, 1.0),
        (1e-300, 1e-300),
        (-1e-300, -1e-300),
    ],
}


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_error_within_bound_and_specials_exact(name, backend, monkeypatch):
    monkeypatch.setenv("KILN_CPU_BACKEND", backend)
    ours, reference = FUNCTIONS[name]
    values = _sweep(name)
    if name == "log":
        values = np.abs(values)
    with np.errstate(all="ignore"):
        want = reference(values)
    jitted = kiln.jit(lambda x: ours(x))
    got = jitted(kiln.from_numpy(values)).numpy()
    assert got.dtype == np.float64
    compiled = jitted.inspect(kiln.from_numpy(values))
    assert any(f"fast_{name}64(" in k for k in compiled.kernels)  # the fast function ran
    error = _ulp_error(got, want)
    assert error <= MAX_ULP_64[name], f"{name}: {error:.2f} ulp"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    inputs = np.array([v for v, _ in SPECIALS[name]] + [np.nan])
    expected = np.array([e for _, e in SPECIALS[name]] + [np.nan])
    special = jitted(kiln.from_numpy(inputs)).numpy()
    np.testing.assert_array_equal(special, expected)
    np.testing.assert_array_equal(np.signbit(special), np.signbit(expected))


def test_row_kernel_flags_keep_the_bound():
    """In a row kernel (``reassoc``, so the sums vectorize) the polynomials may be
    regrouped: the bound still holds."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-30, 30, (64, 257))
    jitted = kiln.jit(lambda v: (kiln.exp(v), kiln.exp(v).sum(-1)))
    values, total = (t.numpy() for t in jitted(kiln.from_numpy(x)))
    assert any("row kernel" in k for k in jitted.inspect(kiln.from_numpy(x)).kernels)
    assert _ulp_error(values, np.exp(x)) <= MAX_ULP_64["exp"]
    np.testing.assert_allclose(total, np.exp(x).sum(-1), rtol=1e-13)
