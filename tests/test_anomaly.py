"""Anomaly detection (``kiln.autograd.detect_anomaly`` / ``set_detect_anomaly``) against
PyTorch: a backward function that returns NaN raises naming it; off, NaN flows."""

from __future__ import annotations

import pytest

import kiln

torch = pytest.importorskip("torch")


def _nan_backward(lib):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    lib.sqrt(x).mul(0.0).sum().backward()  # d sqrt at 0 is inf; inf * 0 is nan
    return x.grad


def test_detect_anomaly_raises_where_torch_does():
    for lib in (torch, kiln):
        with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
            with lib.autograd.detect_anomaly():
                with pytest.raises(RuntimeError) as error:
                    _nan_backward(lib)
        assert "SqrtBackward0' returned nan values in its 0th output" in str(error.value)
        assert not lib.is_anomaly_enabled()
        assert _nan_backward(lib).isnan().any()  # off again: NaN flows


def test_set_detect_anomaly_as_a_function_and_a_context():
    for lib in (torch, kiln):
        with lib.autograd.set_detect_anomaly(True):
            assert lib.is_anomaly_enabled()
            with pytest.raises(RuntimeError, match="returned nan values"):
                _nan_backward(lib)
            with lib.autograd.set_detect_anomaly(True, check_nan=False):
                assert _nan_backward(lib).isnan().any()
        assert not lib.is_anomaly_enabled()
        lib.autograd.set_detect_anomaly(True)  # (a call: on until turned off)
        assert lib.is_anomaly_enabled()
        lib.autograd.set_detect_anomaly(False)
        assert not lib.is_anomaly_enabled()


def test_detect_anomaly_as_a_decorator():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):

        @kiln.autograd.detect_anomaly()
        def run():
            return _nan_backward(kiln)

    with pytest.raises(RuntimeError, match="returned nan values"):
        run()
    assert not kiln.is_anomaly_enabled()


def test_eager_ops_do_not_warn_where_torch_does_not():
    """NumPy's floating-point warnings from kiln's own calls are silenced (PyTorch gives
    the same IEEE results without warnings); a user's NumPy code still warns. (In a
    script: pytest drops filters made while it imports a test module.)"""
    import subprocess
    import sys

    script = (
        "import numpy as np, kiln\n"
        "x = kiln.tensor([float('inf'), 0.0])\n"
        "r = [x - x, x * 0, x / x, kiln.tensor([1e18]).half(), kiln.tensor([1e300]) * 1e300]\n"
        "print(r[0].isnan().tolist())\n"
        "np.array([np.inf]) - np.array([np.inf])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True, False]"
    warned = [line for line in done.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warned) == 1 and "<string>:5" in warned[0], done.stderr
