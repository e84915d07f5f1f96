"""How tensors print: PyTorch's ``torch/_tensor_str.py``, reimplemented on NumPy arrays.

``repr(t)``, ``str(t)`` and ``print(t)`` give the text PyTorch gives for the same values:
the same choice between integer, fixed and scientific notation (``_Formatter``), the same
precision and column width, the same summary of large tensors (``threshold``,
``edgeitems``, ``...``), the same line wrapping at ``linewidth``, and the same suffixes
(``dtype=`` when not the default of its kind, ``device=``, ``size=`` of an empty or meta
tensor, ``grad_fn=`` / ``requires_grad=True``). ``set_printoptions`` (``kiln.
set_printoptions``) changes the options for the process, ``printoptions`` for a block.

>>> tensor([1.0, 2.5, -3.0])
tensor([ 1.0000,  2.5000, -3.0000])
>>> tensor([1e-5, 1.0])
tensor([1.0000e-05, 1.0000e+00])
>>> with printoptions(precision=2, threshold=5):
...     print(kiln.arange(10.0) / 3)
tensor([0.00, 0.33, 0.67,  ..., 2.33, 2.67, 3.00])
>>> kiln.zeros(0, 3, dtype=kiln.int32)
tensor([], size=(0, 3), dtype=kiln.int32)

Where PyTorch prints ``torch.float16`` kiln prints ``kiln.float16`` (the repr of kiln's
dtypes), with the lines broken where PyTorch breaks them; everything else is character for
character PyTorch's.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

__all__ = ["get_printoptions", "printoptions", "set_printoptions", "tensor_repr"]


class _PrinterOptions:
    __slots__ = ("precision", "threshold", "edgeitems", "linewidth", "sci_mode")

    def __init__(self):
        self.precision = 4
        self.threshold = 1000
        self.edgeitems = 3
        self.linewidth = 80
        self.sci_mode = None


PRINT_OPTS = _PrinterOptions()

_PROFILES = {
    "default": (4, 1000, 3, 80),
    "short": (2, 1000, 2, 80),
    "full": (4, math.inf, 3, 80),
}


def set_printoptions(
    precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None
) -> None:
    """Set options for printing tensors (PyTorch's ``torch.set_printoptions``).

    ``precision``: digits after the point (default 4); ``threshold``: the number of
    elements above which a tensor is summarized (1000); ``edgeitems``: the items kept at each
    end of each summarized dimension (3); ``linewidth``: characters per line (80);
    ``profile``: ``"default"``, ``"short"`` or ``"full"`` (sets the four first, then the
    other arguments override); ``sci_mode``: ``True`` / ``False`` forces scientific
    notation on / off, ``None`` (the default, and what every call without it restores)
    lets the values decide.

    >>> set_printoptions(precision=2)
    >>> tensor([1.12345])
    tensor([1.12])
    >>> set_printoptions(threshold=5)
    >>> kiln.arange(10)
    tensor([0, 1, 2,  ..., 7, 8, 9])
    >>> set_printoptions(profile="default")
    >>> tensor([1.12345])
    tensor([1.1235])
    """
    if profile is not None:
        preset = _PROFILES.get(profile)
        if preset is not None:  # PyTorch ignores an unknown profile
            (
                PRINT_OPTS.precision,
                PRINT_OPTS.threshold,
                PRINT_OPTS.edgeitems,
                PRINT_OPTS.linewidth,
            ) = preset
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict:
    """The current print options, as keyword arguments ``set_printoptions`` accepts
    (``torch._tensor_str.get_printoptions``)."""
    return {name: getattr(PRINT_OPTS, name) for name in _PrinterOptions.__slots__}


@contextlib.contextmanager
def printoptions(**kwargs):
    """Change the print options inside a ``with`` block (``torch._tensor_str.printoptions``)."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


# ------------------------------------------------------------------------------ formatting


_SMALL = 64  # up to this many values, Python's floats are faster than NumPy's calls


def _extremes(flat: np.ndarray):
    """Of the nonzero finite values of ``flat`` (a float array): the smallest and largest
    magnitudes, whether all are whole numbers, and the values whose text is the longest.

    The longest text is that of an extreme value: a value's text grows with its magnitude
    (and its exponent's with the exponent's magnitude), plus a sign; so the largest and
    smallest positive and negative values bound the column width PyTorch finds by
    formatting every value. ``None`` when there is no nonzero finite value. The
    decisions are made in float64, as PyTorch's (float16 overflows on 1e8).
    """
    if flat.size <= _SMALL:
        values = [v for v in flat.tolist() if v != 0 and math.isfinite(v)]
        if not values:
            return None
        magnitudes = [abs(v) for v in values]
        whole = all(v == math.ceil(v) for v in values)
        pos = [v for v in values if v > 0]
        neg = [v for v in values if v < 0]
        candidates = [min(pos), max(pos)] if pos else []
        if neg:
            candidates += [min(neg), max(neg)]
        return min(magnitudes), max(magnitudes), whole, candidates
    values = flat[np.isfinite(flat) & (flat != 0)]
    if not values.size:
        return None
    whole = bool(np.all(values == np.ceil(values)))
    values = values.astype(np.float64)
    magnitudes = np.abs(values)
    pos = values[values > 0]
    neg = values[values < 0]
    candidates = [pos.min().item(), pos.max().item()] if pos.size else []
    if neg.size:
        candidates += [neg.min().item(), neg.max().item()]
    return magnitudes.min().item(), magnitudes.max().item(), whole, candidates


class _Formatter:
    """One column width and one notation for all the values of a (real) array: PyTorch's
    ``_Formatter``, whose decisions it reproduces from the same values."""

    __slots__ = ("floating", "int_mode", "sci_mode", "max_width", "precision")

    def __init__(self, data: np.ndarray):
        self.floating = data.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        self.precision = PRINT_OPTS.precision
        flat = data.reshape(-1)
        if not flat.size:
            return
        if not self.floating:
            if flat.dtype.kind == "b":
                self.max_width = 4 if flat.all() else 5  # True / False
            else:
                self.max_width = max(len(str(flat.min().item())), len(str(flat.max().item())))
            return
        found = _extremes(flat)
        if found is None:  # no nonzero finite value
            return
        lo, hi, self.int_mode, candidates = found
        if PRINT_OPTS.sci_mode is None:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        else:
            self.sci_mode = PRINT_OPTS.sci_mode
        p = self.precision
        if self.sci_mode:
            width = max(len(f"{v:.{p}e}") for v in candidates)
        elif self.int_mode:
            width = max(len(f"{v:.0f}") for v in candidates) + 1  # and the "."
        else:
            width = max(len(f"{v:.{p}f}") for v in candidates)
        self.max_width = max(1, width)

    def width(self) -> int:
        return self.max_width

    def format(self, value) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{self.precision}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{self.precision}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _complex_str(value, real: _Formatter, imag: _Formatter) -> str:
    real_str = real.format(value.real)
    imag_str = (imag.format(value.imag) + "j").lstrip()
    # handles negative numbers, +0.0, -0.0
    if imag_str[0] == "+" or imag_str[0] == "-":
        return real_str + imag_str
    return real_str + "+" + imag_str


def _scalar_str(data: np.ndarray, real: _Formatter, imag: _Formatter | None) -> str:
    value = data.item()
    if imag is not None:
        return _complex_str(complex(value), real, imag)
    return real.format(value)


def _vector_str(data: np.ndarray, indent: int, summarize: bool, real, imag) -> str:
    opts = PRINT_OPTS
    # length includes spaces and comma between elements
    element_length = real.width() + 2
    if imag is not None:
        # width for imag_formatter + an extra j for complex
        element_length += imag.width() + 1
    elements_per_line = max(1, math.floor((opts.linewidth - indent) / element_length))

    if imag is not None:

        def fmt(value):
            return _complex_str(value, real, imag)

    else:
        fmt = real.format

    edge = opts.edgeitems
    if summarize and not edge:
        parts = ["..."]
    elif summarize and data.shape[0] > 2 * edge:
        parts = (
            [fmt(v) for v in data[:edge].tolist()]
            + [" ..."]
            + [fmt(v) for v in data[-edge:].tolist()]
        )
    else:
        parts = [fmt(v) for v in data.tolist()]

    lines = [
        ", ".join(parts[i : i + elements_per_line]) for i in range(0, len(parts), elements_per_line)
    ]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str_with_formatter(data, indent, summarize, real, imag=None) -> str:
    dim = data.ndim
    if dim == 0:
        return _scalar_str(data, real, imag)
    if dim == 1:
        return _vector_str(data, indent, summarize, real, imag)
    edge = PRINT_OPTS.edgeitems
    n = data.shape[0]
    if summarize and n > 2 * edge:
        rows = [*range(edge), None, *range(n - edge, n)]
    else:
        rows = range(n)
    slices = [
        "..."
        if i is None
        else _tensor_str_with_formatter(data[i], indent + 1, summarize, real, imag)
        for i in rows
    ]
    return "[" + ("," + "\n" * (dim - 1) + " " * (indent + 1)).join(slices) + "]"


def _summarized_data(data: np.ndarray) -> np.ndarray:
    """The values a summarized tensor shows (PyTorch's ``get_summarized_data``)."""
    dim = data.ndim
    edge = PRINT_OPTS.edgeitems
    if dim == 0:
        return data
    if dim == 1:
        if data.shape[0] > 2 * edge:
            # (with edgeitems=0, ``data[-0:]`` is all of it, as in PyTorch)
            return np.concatenate((data[:edge], data[-edge:]))
        return data
    if not edge:
        return data[(slice(0, 0),) * dim]
    n = data.shape[0]
    rows = [*range(edge), *range(n - edge, n)] if n > 2 * edge else range(n)
    return np.stack([_summarized_data(data[i]) for i in rows])


def _tensor_str(data: np.ndarray, indent: int) -> str:
    if data.size == 0:
        return "[]"
    summarize = data.size > PRINT_OPTS.threshold
    shown = _summarized_data(data) if summarize else data
    if data.dtype.kind == "c":
        return _tensor_str_with_formatter(
            data, indent, summarize, _Formatter(shown.real), _Formatter(shown.imag)
        )
    return _tensor_str_with_formatter(data, indent, summarize, _Formatter(shown))


_KILN_DTYPE = "=kiln."


def _add_suffixes(tensor_str: str, suffixes: list, indent: int) -> str:
    tensor_strs = [tensor_str]
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    linewidth = PRINT_OPTS.linewidth
    for suffix in suffixes:
        # laid out at the length of PyTorch's text ("torch.float16" where kiln says
        # "kiln.float16"), so that lines break where they break in PyTorch
        suffix_len = len(suffix) + suffix.count(_KILN_DTYPE)
        if last_line_len + suffix_len + 2 > linewidth:
            tensor_strs.append(",\n" + " " * indent + suffix)
            last_line_len = indent + suffix_len
        else:
            tensor_strs.append(", " + suffix)
            last_line_len += suffix_len + 2
    tensor_strs.append(")")
    return "".join(tensor_strs)


# ------------------------------------------------------------------------------ tensors


def _is_plain(cls) -> bool:
    """Whether PyTorch would print a tensor of kiln's class ``cls`` as ``tensor(...)``: kiln's
    own classes (a Parameter, a Buffer, the meta and CUDA versions of a class) are plain
    tensors there; a user's subclass prints under its own name."""
    return cls.__module__.startswith("kiln.")


def tensor_repr(t) -> str:
    """``repr(t)`` for a kiln tensor, as PyTorch's ``torch._tensor_str._str``."""
    from . import dtypes

    cls = type(t)
    plain = _is_plain(cls)
    prefix = "tensor(" if plain else f"{cls.__name__}("
    indent = len(prefix)
    suffixes = []

    device = t.device
    if device.type != "cpu":
        suffixes.append(f"device='{device}'")

    dtype = t.dtype
    default = dtypes.get_default_dtype()
    has_default_dtype = (
        dtype is default
        or dtype is dtypes.get_default_complex_dtype()
        or dtype is dtypes.int64
        or dtype is dtypes.bool_
    )
    if t.is_meta:
        suffixes.append(f"size={tuple(t.shape)}")
        if dtype is not default:
            suffixes.append(f"dtype={dtype!r}")
        tensor_str = "..."
    else:
        host = getattr(t, "_host", None)  # a CUDA tensor's values, copied to the host
        data = np.asarray(t._data if host is None else host())
        if dtype is dtypes.bfloat16:  # shown as the float32 values they are (as PyTorch)
            data = data.astype(np.float32)
        if data.size == 0:
            # the shape when it is not (0,), as NumPy; the dtype always but the default
            if data.ndim != 1:
                suffixes.append(f"size={tuple(data.shape)}")
            if dtype is not default:
                suffixes.append(f"dtype={dtype!r}")
            tensor_str = "[]"
        else:
            if not PRINT_OPTS.edgeitems:
                suffixes.append(f"size={tuple(data.shape)}")
            if not has_default_dtype:
                suffixes.append(f"dtype={dtype!r}")
            tensor_str = _tensor_str(data, indent)

    grad_fn = t.grad_fn
    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")

    text = _add_suffixes(prefix + tensor_str, suffixes, indent)
    if not plain:
        from .nn.parameter import Parameter

        if isinstance(t, Parameter):
            text = f"Parameter({text})"
    return text
