"""``kiln.testing``: PyTorch's ``torch.testing``: ``assert_close`` and ``make_tensor``.

``assert_close`` compares as PyTorch does (the default tolerances of the loosest dtype,
``isclose``'s rule ``|actual - expected| <= atol + rtol * |expected|``) and raises its
errors with its messages::

    Tensor-likes are not close!

    Mismatched elements: 1 / 3 (33.3%)
    Greatest absolute difference: 0.5 at index (1,) (up to 1e-05 allowed)
    Greatest relative difference: 0.2 at index (1,) (up to 1.3e-06 allowed)

The pairs it accepts are PyTorch's: two tensors, two NumPy arrays, two Python numbers of one
type (``check_dtype=False``: any), two bools, two Nones, and sequences or mappings of those;
a tensor against a NumPy array, a list or a number is a TypeError, as in PyTorch.

>>> from kiln import tensor
>>> assert_close(tensor([1.0]), tensor([1.0 + 1e-7]))
>>> make_tensor(2, 3, dtype=kiln.int64, device="cpu", low=0, high=5).shape
kiln.Size([2, 3])
"""

from __future__ import annotations

import collections.abc
import math
import warnings

import numpy as np

import kiln

from . import dtypes
from .tensor import Tensor

__all__ = ["assert_allclose", "assert_close", "make_tensor"]

_DEFAULT_TOLERANCES = {  # dtype name -> (rtol, atol), as torch.testing
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex32": (1e-3, 1e-5),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
}
_NUMBER_DTYPES = {bool: "bool", int: "int64", float: "float64", complex: "complex128"}


class _Mismatch(Exception):
    """A failed comparison: the exception class to raise and PyTorch's message."""

    def __init__(self, kind: type, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _to_numpy(x):
    if isinstance(x, Tensor):
        return np.asarray(x.detach().cpu()._data)
    return np.asarray(x)


def _dtype_name(x) -> str:
    if isinstance(x, Tensor):
        return x.dtype.name
    if isinstance(x, np.ndarray):
        return x.dtype.name
    return _NUMBER_DTYPES.get(type(x), "float64")


def _tolerances(names, rtol, atol) -> tuple[float, float]:
    """``(rtol, atol)``: the given pair, else the loosest defaults of the dtypes ``names``."""
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(
            f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}."
        )
    if rtol is not None:
        return rtol, atol
    pairs = [_DEFAULT_TOLERANCES.get(name, (0.0, 0.0)) for name in names]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _mismatch_message(identifier, extra, abs_diff, abs_idx, rel_diff, rel_idx, rtol, atol):
    """PyTorch's ``_make_mismatch_msg``."""
    equality = rtol == 0 and atol == 0

    def diff_line(kind, diff, idx, tol):
        if idx is None:
            line = f"{kind.title()} difference: {diff}"
        else:
            line = f"Greatest {kind} difference: {diff} at index {idx}"
        return line + ("" if equality else f" (up to {tol} allowed)") + "\n"

    text = f"{identifier} are not {'equal' if equality else 'close'}!\n\n"
    if extra:
        text += f"{extra.strip()}\n"
    text += diff_line("absolute", abs_diff, abs_idx, atol)
    text += diff_line("relative", rel_diff, rel_idx, rtol)
    return text.strip()


def _scalar_message(actual, expected, rtol, atol) -> str:
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _mismatch_message(
        "Scalars",
        f"Expected {expected} but got {actual}.",
        abs_diff,
        None,
        rel_diff,
        None,
        rtol,
        atol,
    )


def _comparable(a: np.ndarray) -> np.ndarray:
    """``a`` in a dtype NumPy computes with: bfloat16 (ml_dtypes) as float32, ints as int64,
    bools as int64 (PyTorch upcasts integers before taking differences)."""
    if a.dtype.kind == "V" or a.dtype.name == "bfloat16":
        return a.astype(np.float32)
    if a.dtype.kind in "biu":
        return a.astype(np.int64)
    return a


def _compare_values(a: np.ndarray, e: np.ndarray, rtol, atol, equal_nan) -> None:
    a, e = _comparable(a), _comparable(e)
    if a.dtype != e.dtype:
        common = np.result_type(a.dtype, e.dtype)
        a, e = a.astype(common), e.astype(common)
    integral = a.dtype.kind == "i"
    if integral:
        difference = np.abs(a - e)
        matches = difference <= atol + rtol * np.abs(e) if (rtol or atol) else difference == 0
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            matches = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=bool(equal_nan))
    if matches.all():
        return
    if a.ndim == 0:
        raise _Mismatch(AssertionError, _scalar_message(a.item(), e.item(), rtol, atol))
    total, wrong = matches.size, int(matches.size - matches.sum())
    extra = f"Mismatched elements: {wrong} / {total} ({wrong / total:.1%})"
    flat_a, flat_e, flat_matches = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        abs_diff = np.abs(flat_a - flat_e)
        abs_diff[flat_matches] = 0
        # (integers: the relative difference in the default float dtype, as PyTorch's division)
        rel_diff = (abs_diff / np.abs(flat_e)).astype(np.float32 if integral else abs_diff.dtype)
        rel_diff[flat_matches] = 0
    abs_at, rel_at = int(np.argmax(abs_diff)), int(np.argmax(rel_diff))

    def index(flat):
        return tuple(int(i) for i in np.unravel_index(flat, a.shape))

    identifier = "Tensor-likes"
    raise _Mismatch(
        AssertionError,
        _mismatch_message(
            identifier,
            extra,
            abs_diff[abs_at].item(),
            index(abs_at),
            float(rel_diff[rel_at]),
            index(rel_at),
            rtol,
            atol,
        ),
    )


def _attribute_mismatch(name, a, e):
    return _Mismatch(AssertionError, f"The values for attribute '{name}' do not match: {a} != {e}.")


def _unhandled(actual, expected) -> _Mismatch:
    return _Mismatch(
        TypeError,
        f"No comparison pair was able to handle inputs of type {type(actual)} and "
        f"{type(expected)}.",
    )


def _compare_tensors(actual, expected, rtol, atol, equal_nan, options) -> None:
    same_kind = all(isinstance(x, Tensor) for x in (actual, expected)) or all(
        isinstance(x, np.ndarray) for x in (actual, expected)
    )
    if not same_kind:
        raise _unhandled(actual, expected)
    if type(actual) is not type(expected) and not options["allow_subclasses"]:
        raise _unhandled(actual, expected)
    if getattr(actual, "is_sparse", False) or getattr(expected, "is_sparse", False):
        _compare_sparse(actual, expected, rtol, atol, equal_nan, options)
        return
    a, e = _to_numpy(actual), _to_numpy(expected)
    if isinstance(actual, Tensor) and isinstance(expected, Tensor):
        if actual.shape != expected.shape:
            raise _attribute_mismatch("shape", actual.shape, expected.shape)
        if options["check_stride"] and actual.stride() != expected.stride():
            raise _attribute_mismatch("stride()", actual.stride(), expected.stride())
        if options["check_device"] and actual.device != expected.device:
            raise _attribute_mismatch("device", actual.device, expected.device)
        if options["check_dtype"] and actual.dtype is not expected.dtype:
            raise _attribute_mismatch("dtype", actual.dtype, expected.dtype)
    else:  # two NumPy arrays: compared as the tensors they would make
        if a.shape != e.shape:
            raise _attribute_mismatch("shape", kiln.Size(a.shape), kiln.Size(e.shape))
        if options["check_dtype"] and a.dtype != e.dtype:
            raise _attribute_mismatch("dtype", f"kiln.{a.dtype.name}", f"kiln.{e.dtype.name}")
    rtol, atol = _tolerances([_dtype_name(actual), _dtype_name(expected)], rtol, atol)
    _compare_values(a, e, rtol, atol, equal_nan)


def _compare_sparse(actual, expected, rtol, atol, equal_nan, options) -> None:
    """As PyTorch: the coalesced indices equal, the values close (``kiln.sparse``)."""
    if not (getattr(actual, "is_sparse", False) and getattr(expected, "is_sparse", False)):
        raise _attribute_mismatch(
            "layout", getattr(actual, "layout", None), getattr(expected, "layout", None)
        )
    actual, expected = actual.coalesce(), expected.coalesce()
    if tuple(actual.shape) != tuple(expected.shape):
        raise _attribute_mismatch("shape", actual.shape, expected.shape)
    exact = dict(options, check_dtype=True)
    _compare_tensors(actual._indices(), expected._indices(), None, None, False, exact)
    _compare_tensors(actual._values(), expected._values(), rtol, atol, equal_nan, options)


def _compare(actual, expected, rtol, atol, equal_nan, options, path) -> None:
    """Compare one pair (recursing into sequences and mappings); ``path`` is the item index
    of the pair for the message."""
    try:
        _compare_pair(actual, expected, rtol, atol, equal_nan, options, path)
    except _Mismatch as mismatch:
        if path and not getattr(mismatch, "located", False):
            mismatch.message += "\n\nThe failure occurred for item " + "".join(
                str([item]) for item in path
            )
            mismatch.located = True
        raise


def _is_number(x) -> bool:
    return isinstance(x, (int, float, complex, np.number)) and not isinstance(x, (bool, np.bool_))


def _compare_pair(actual, expected, rtol, atol, equal_nan, options, path) -> None:
    if actual is None or expected is None:
        if actual is not expected:
            raise _Mismatch(AssertionError, f"None mismatch: {actual} is not {expected}")
        return
    if isinstance(actual, (bool, np.bool_)) and isinstance(expected, (bool, np.bool_)):
        if bool(actual) is not bool(expected):
            raise _Mismatch(AssertionError, f"Booleans mismatch: {actual} is not {expected}")
        return
    if isinstance(actual, (Tensor, np.ndarray)) or isinstance(expected, (Tensor, np.ndarray)):
        _compare_tensors(actual, expected, rtol, atol, equal_nan, options)
        return
    if _is_number(actual) and _is_number(expected):
        actual = actual.item() if isinstance(actual, np.number) else actual
        expected = expected.item() if isinstance(expected, np.number) else expected
        rtol, atol = _tolerances(
            [_NUMBER_DTYPES[type(actual)], _NUMBER_DTYPES[type(expected)]], rtol, atol
        )
        if options["check_dtype"] and type(actual) is not type(expected):
            raise _Mismatch(
                AssertionError,
                f"The (d)types do not match: {type(actual)} != {type(expected)}.",
            )
        if actual == expected:
            return
        if equal_nan and _isnan(actual) and _isnan(expected):
            return
        difference = abs(actual - expected)
        if math.isfinite(difference) and difference <= atol + rtol * abs(expected):
            return
        raise _Mismatch(AssertionError, _scalar_message(actual, expected, rtol, atol))
    sequences = (collections.abc.Sequence, str, bytes)
    if all(
        isinstance(x, sequences[0]) and not isinstance(x, sequences[1:]) for x in (actual, expected)
    ):
        if len(actual) != len(expected):
            raise _Mismatch(
                AssertionError,
                f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
            )
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, options, (*path, i))
        return
    if isinstance(actual, collections.abc.Mapping) and isinstance(
        expected, collections.abc.Mapping
    ):
        if set(actual) != set(expected):
            missing = sorted(set(expected) - set(actual), key=repr)
            extra = sorted(set(actual) - set(expected), key=repr)
            raise _Mismatch(
                AssertionError,
                "The keys of the mappings do not match:\n"
                f"Missing keys in the actual mapping: {missing}\n"
                f"Additional keys in the actual mapping: {extra}",
            )
        for key in actual:
            _compare(actual[key], expected[key], rtol, atol, equal_nan, options, (*path, key))
        return
    raise _unhandled(actual, expected)


def _isnan(x) -> bool:
    return x != x


def assert_close(
    actual,
    expected,
    *,
    allow_subclasses=True,
    rtol=None,
    atol=None,
    equal_nan=False,
    check_device=True,
    check_dtype=True,
    check_layout=True,
    check_stride=False,
    msg=None,
    **kwargs,
):
    """Raise unless ``actual`` and ``expected`` are close, as ``torch.testing.assert_close``
    (``msg``: a string replaces the message; a callable gets it and returns the new one)."""
    options = {
        "allow_subclasses": allow_subclasses,
        "check_device": check_device,
        "check_dtype": check_dtype,
        "check_stride": check_stride,
    }
    try:
        _compare(actual, expected, rtol, atol, equal_nan, options, ())
    except _Mismatch as mismatch:
        text = mismatch.message
        if isinstance(msg, str):
            text = msg
        elif callable(msg):
            text = msg(text)
        raise mismatch.kind(text) from None


assert_allclose = assert_close


# ------------------------------------------------------------------------- make_tensor

_INTEGRAL = ("uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64")
_FLOATING = ("float16", "bfloat16", "float32", "float64")
_COMPLEX = ("complex32", "complex64", "complex128")


def make_tensor(
    *shape,
    dtype,
    device,
    low=None,
    high=None,
    requires_grad: bool = False,
    noncontiguous: bool = False,
    exclude_zero: bool = False,
    memory_format=None,
):
    """A tensor of ``shape`` filled with values drawn uniformly from ``[low, high)``, as
    ``torch.testing.make_tensor`` (its default ranges: bool ``[0, 2)``, unsigned integers
    ``[0, 10)``, signed integers ``[-9, 10)``, floating and complex ``[-9, 9)``; ``low`` and
    ``high`` are clamped to the dtype's range). The values come from kiln's generator
    (``kiln.manual_seed``), so they differ from PyTorch's.

    >>> t = make_tensor(3, 4, dtype=kiln.float32, device="cpu", noncontiguous=True)
    >>> t.shape, t.is_contiguous()
    (kiln.Size([3, 4]), False)
    """
    if len(shape) == 1 and isinstance(shape[0], collections.abc.Sequence):
        shape = shape[0]
    shape = tuple(int(s) for s in shape)
    if noncontiguous and memory_format is not None:
        raise ValueError(
            "The parameters `noncontiguous` and `memory_format` are mutually exclusive, but "
            f"got noncontiguous={noncontiguous} and memory_format={memory_format}"
        )
    name = dtype.name if isinstance(dtype, dtypes.dtype) else None
    integral = name == "bool" or name in _INTEGRAL
    if requires_grad and integral:
        raise ValueError(
            "`requires_grad=True` is not supported for boolean and integral dtypes, but got "
            f"dtype={dtype}"
        )
    noncontiguous = noncontiguous and math.prod(shape) > 1
    draw_shape = (*shape[:-1], 2 * shape[-1]) if noncontiguous else shape
    if name == "bool":
        low, high = _range(low, high, dtype, 0, 2, 0, 2)
        result = kiln.randint(low, high, draw_shape, dtype=dtype)
    elif name in _INTEGRAL:
        info = kiln.iinfo(dtype)
        low, high = _range(low, high, dtype, info.min, info.max + (name != "int64"), -9, 10)
        result = kiln.randint(low, high, draw_shape, dtype=dtype)
    elif name in _FLOATING or name in _COMPLEX:
        info = kiln.finfo(dtype)
        low, high = _range(low, high, dtype, info.min, info.max, -9, 9)
        if name in _COMPLEX:
            part = dtypes.float64 if name == "complex128" else dtypes.float32
            result = kiln.complex(
                _uniform(draw_shape, part, low, high), _uniform(draw_shape, part, low, high)
            ).to(dtype)
        else:
            result = _uniform(draw_shape, dtype, low, high)
    else:
        raise TypeError(
            f"The requested dtype '{dtype}' is not supported by torch.testing.make_tensor()."
        )
    if noncontiguous:
        result = result[..., 1::2]
    elif memory_format is not None:
        result = result.clone(memory_format=memory_format)
    if exclude_zero:
        result[result == 0] = 1 if integral else kiln.finfo(dtype).tiny
    if device is not None and kiln.device(device).type != "cpu":
        result = result.to(device)
    if not integral:
        result.requires_grad_(requires_grad)
    return result


def _uniform(shape, dtype, low, high):
    """Uniform in ``[low, high)``; halved and doubled when the width overflows the dtype."""
    result = kiln.empty(shape, dtype=dtype)
    if high - low >= kiln.finfo(dtype).max:
        return result.uniform_(low / 2, high / 2).mul_(2)
    return result.uniform_(low, high)


def _range(low, high, dtype, lowest, highest, default_low, default_high):
    """PyTorch's checks and clamping of ``low`` and ``high``."""
    low = default_low if low is None else low
    high = default_high if high is None else high
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
    floating = dtype.is_floating_point or dtype.is_complex
    if low == high and floating:
        warnings.warn(
            "Passing `low==high` to `torch.testing.make_tensor` for floating or complex types "
            "is deprecated since 2.1 and will be removed in 2.3. Use `torch.full(...)` instead.",
            FutureWarning,
            stacklevel=3,
        )
    elif low >= high:
        raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
    elif high < lowest or low >= highest:
        raise ValueError(
            f"The value interval specified by `low` and `high` is [{low}, {high}), but {dtype} "
            f"only supports [{lowest}, {highest})"
        )
    low, high = min(max(low, lowest), highest), min(max(high, lowest), highest)
    if not floating:
        return math.ceil(low), math.ceil(high)
    return low, high
