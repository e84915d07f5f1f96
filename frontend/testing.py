"""``kiln.testing.assert_close``: PyTorch's tensor comparison for tests.

>>> assert_close(tensor([1.0]), tensor([1.0 + 1e-7]))
"""

from __future__ import annotations

import numpy as np

from .tensor import Tensor

_DEFAULT_TOLERANCES = {  # dtype name -> (rtol, atol), as torch.testing
    "float16": (1e-3, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}


def _to_numpy(x):
    if isinstance(x, Tensor):
        return np.asarray(x.detach().cpu()._data)
    return np.asarray(x)


def assert_close(
    actual,
    expected,
    *,
    rtol=None,
    atol=None,
    equal_nan=False,
    check_dtype=True,
    check_device=True,
    msg=None,
    **kwargs,
):
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), msg or "sequences differ in length"
        for a, e in zip(actual, expected):
            assert_close(
                a, e, rtol=rtol, atol=atol, equal_nan=equal_nan, check_dtype=check_dtype, msg=msg
            )
        return
    if getattr(actual, "is_sparse", False) or getattr(expected, "is_sparse", False):
        if not (getattr(actual, "is_sparse", False) and getattr(expected, "is_sparse", False)):
            raise AssertionError(msg or "The values for attribute 'layout' do not match")
        # as PyTorch: the coalesced indices equal, the values close (kiln.sparse)
        actual, expected = actual.coalesce(), expected.coalesce()
        if tuple(actual.shape) != tuple(expected.shape):
            raise AssertionError(msg or f"sizes differ: {actual.shape} != {expected.shape}")
        assert_close(actual._indices(), expected._indices(), msg=msg)
        assert_close(
            actual._values(),
            expected._values(),
            rtol=rtol,
            atol=atol,
            equal_nan=equal_nan,
            check_dtype=check_dtype,
            msg=msg,
        )
        return
    a, e = _to_numpy(actual), _to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(
            msg or f"The values for attribute 'shape' do not match: {a.shape} != {e.shape}."
        )
    if (
        check_dtype
        and isinstance(actual, Tensor)
        and isinstance(expected, Tensor)
        and actual.dtype is not expected.dtype
    ):
        raise AssertionError(
            msg
            or f"The values for attribute 'dtype' do not match: {actual.dtype} != {expected.dtype}."
        )
    if rtol is None or atol is None:
        rtol, atol = _DEFAULT_TOLERANCES.get(a.dtype.name, (0.0, 0.0))
    if a.dtype.kind in "biu" and e.dtype.kind in "biu":
        if not np.array_equal(a, e):
            raise AssertionError(msg or f"Tensor-likes are not equal!\n{a}\n{e}")
        return
    np.testing.assert_allclose(
        a,
        e,
        rtol=rtol,
        atol=atol,
        equal_nan=True if equal_nan else False,
        err_msg=msg or "Tensor-likes are not close!",
    )


assert_allclose = assert_close
