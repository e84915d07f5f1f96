"""``detect_anomaly`` / ``set_detect_anomaly``: PyTorch's anomaly detection switches.

While on (with ``check_nan``), a backward function that returns NaN raises PyTorch's
``RuntimeError: Function 'MulBackward0' returned nan values in its 0th output.``
(``tape.run_backward``). PyTorch also prints the traceback of the forward op that made the
node; kiln keeps none.

>>> import kiln
>>> x = kiln.tensor([0.0], requires_grad=True)
>>> with set_detect_anomaly(True):
...     kiln.sqrt(x).mul(0.0).sum().backward()  # 0 * inf
Traceback (most recent call last):
...
RuntimeError: Function 'SqrtBackward0' returned nan values in its 0th output.
"""

from __future__ import annotations

import functools
import warnings

from .. import compat

__all__ = ["detect_anomaly", "set_detect_anomaly"]


class _Mode:
    def __init__(self, enabled: bool, check_nan: bool):
        self.previous = (compat.is_anomaly_enabled(), compat.is_anomaly_check_nan_enabled())
        self.mode, self.check_nan = bool(enabled), bool(check_nan)

    def __enter__(self):
        compat.set_anomaly_enabled(self.mode, self.check_nan)
        return self

    def __exit__(self, *exc):
        compat.set_anomaly_enabled(*self.previous)
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            with _Mode(self.mode, self.check_nan):
                return function(*args, **kwargs)

        return wrapped


class detect_anomaly(_Mode):  # noqa: N801 (PyTorch's name)
    """Context manager (and decorator) that turns anomaly detection on."""

    def __init__(self, check_nan: bool = True):
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and "
            "should only be enabled for debugging.",
            UserWarning,
            stacklevel=2,
        )
        super().__init__(True, check_nan)


class set_detect_anomaly(_Mode):  # noqa: N801 (PyTorch's name)
    """Turn anomaly detection on or off: at once when called (as PyTorch's), and back to
    the previous mode when used as a context manager is left."""

    def __init__(self, mode: bool, check_nan: bool = True):
        super().__init__(mode, check_nan)
        compat.set_anomaly_enabled(self.mode, self.check_nan)

    def __enter__(self):
        return self
