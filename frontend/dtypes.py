"""dtypes and PyTorch's type-promotion rules.

>>> result_type(tensor([1, 2]), 2.5)
kiln.float32
"""

from __future__ import annotations

import builtins as _builtins

import numpy as np


class dtype:  # noqa: N801 - named like torch.dtype
    """A tensor element type: ``kiln.float32``, ``kiln.int64``, ``kiln.bool``, ..."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_category")

    def __init__(self, name: str):
        self.name = name
        if name in _QUANTIZED_STORAGE:  # quint8/qint8/qint32: a quantized tensor's (kiln.ao)
            # (no ``np``: a plain tensor of a quantized dtype cannot be made, see __getattr__)
            self.is_floating_point, self.is_signed = False, name != "quint8"
            self.itemsize = np.dtype(_QUANTIZED_STORAGE[name]).itemsize
            self._category = 4
            return
        if name == "bfloat16":  # NumPy's dtype comes from ml_dtypes, imported on first use
            self.is_floating_point = self.is_signed = True
            self.itemsize, self._category = 2, 2
            return
        self.np = np.dtype(name)
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fic"
        self.itemsize = self.np.itemsize
        self._category = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[self.np.kind]

    def __getattr__(self, attr):
        # only reached for the unset ``np`` slot of bfloat16: import ml_dtypes now (it costs
        # import time that ``import kiln`` need not pay)
        if attr == "np" and self.name == "bfloat16":
            return _load_bfloat16()
        if attr == "np" and self.name in _QUANTIZED_STORAGE:
            # zeros(3, dtype=kiln.quint8), x.to(kiln.qint8): PyTorch refuses them too (a
            # plain integer tensor would silently drop the quantizer)
            raise QuantizedDtypeError(
                f"kiln.{self.name} is a quantized dtype: a tensor of it is made by "
                "kiln.quantize_per_tensor or kiln.quantize_per_channel (from float32 values), "
                "not by a creation function, a cast or a view"
            )
        raise AttributeError(attr)

    @property
    def is_complex(self) -> bool:
        return self._category == 3

    def to_real(self) -> dtype:
        """The real dtype of a complex one's parts (``complex64.to_real()`` is float32);
        other dtypes are their own."""
        return _BY_NP[np.empty(0, self.np).real.dtype] if self._category == 3 else self

    def to_complex(self) -> dtype:
        """The complex dtype whose parts are this float dtype (float64 -> complex128)."""
        if self._category == 3:
            return self
        if self is float64:
            return complex128
        if self is float32:
            return complex64
        raise TypeError(f"kiln has no complex dtype with {self.name} parts (no complex32)")

    def __repr__(self) -> str:
        return f"kiln.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))


class QuantizedDtypeError(RuntimeError, AttributeError):
    """A quantized dtype's NumPy dtype was asked for (a plain tensor of it); an
    AttributeError too, so that ``hasattr(dtype, "np")`` is False."""


# PyTorch's quantized types and the integer type their values are stored in (their category,
# 4, promotes with nothing: promote() raises as PyTorch's promoteTypes; not in ALL/_BY_NP)
_QUANTIZED_STORAGE = {"quint8": "uint8", "qint8": "int8", "qint32": "int32"}
float16 = half = dtype("float16")
float32 = float = dtype("float32")  # noqa: A001 - torch.float is float32
float64 = double = dtype("float64")
bfloat16 = dtype("bfloat16")  # NumPy dtype from ml_dtypes; computed in float32 (as PyTorch)
int8 = dtype("int8")
uint8 = dtype("uint8")
int16 = short = dtype("int16")
int32 = int = dtype("int32")  # noqa: A001
int64 = long = dtype("int64")
bool_ = dtype("bool")
# PyTorch 2.13's "limited support" unsigned types: creation, casts, views, printing; no
# promotion with another integer or bool type (promote() raises as PyTorch's)
uint16 = dtype("uint16")
uint32 = dtype("uint32")
uint64 = dtype("uint64")  # (also RNG seeds and hash_tensor results)
# complex dtypes run eagerly only (NumPy); kiln.jit refuses them (see kiln.complex)
complex64 = cfloat = dtype("complex64")
complex128 = cdouble = dtype("complex128")

ALL = (
    float16,
    float32,
    float64,
    bfloat16,
    int8,
    uint8,
    int16,
    int32,
    int64,
    bool_,
    uint16,
    uint32,
    uint64,
    complex64,
    complex128,
)
quint8, qint8, qint32 = dtype("quint8"), dtype("qint8"), dtype("qint32")
QUANTIZED = (quint8, qint8, qint32)
_BY_NAME = {d.name: d for d in ALL + QUANTIZED}


class _ByNp(dict):
    """NumPy dtype -> kiln dtype; bfloat16's entry appears when ml_dtypes is imported."""

    def __missing__(self, key):
        if getattr(key, "name", None) == "bfloat16":
            _load_bfloat16()
            if key in self:
                return self[key]
        raise KeyError(key)


_BY_NP = _ByNp({d.np: d for d in ALL if d is not bfloat16})


# Whether ml_dtypes is loaded, so that bfloat16 data may exist: until then the eager hot
# paths skip their bfloat16 tests (one list read).
BFLOAT16_ON = [False]


def _load_bfloat16():
    """bfloat16's NumPy dtype (``ml_dtypes.bfloat16``), importing ml_dtypes once."""
    try:
        import ml_dtypes
    except ImportError:  # pragma: no cover - a core dependency
        raise RuntimeError(
            "kiln.bfloat16 needs the ml_dtypes package (pip install ml_dtypes)"
        ) from None
    npd = np.dtype(ml_dtypes.bfloat16)
    BFLOAT16_ON[0] = True
    bfloat16.np = npd
    _BY_NP[npd] = bfloat16
    return npd


def is_bfloat16(npdtype) -> bool:
    """Whether a NumPy dtype is ml_dtypes' bfloat16 (without importing ml_dtypes)."""
    return npdtype.kind == "V" and npdtype.name == "bfloat16"


_default_float = float32


def _by_name(name: str) -> dtype:
    return _BY_NAME[name]


def from_numpy_dtype(npdtype) -> dtype:
    try:
        return _BY_NP[np.dtype(npdtype)]
    except KeyError:
        raise TypeError(f"kiln has no dtype for NumPy's {np.dtype(npdtype)}") from None


def as_dtype(d) -> dtype:
    """Accept ``kiln.float32``, ``"float32"``, ``np.float32`` or Python ``float``/``int``."""
    if isinstance(d, dtype):
        return d
    if d is None:
        return get_default_dtype()
    import builtins

    if d is builtins.float:
        return get_default_dtype()
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if d is builtins.complex:
        return get_default_complex_dtype()
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    return from_numpy_dtype(d)


def get_default_dtype() -> dtype:
    return _default_float


def get_default_complex_dtype() -> dtype:
    """The complex dtype of a Python complex scalar: complex64, complex128 under a float64
    default (as PyTorch)."""
    return complex128 if _default_float is float64 else complex64


def set_default_dtype(d) -> None:
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating point types are allowed, got {d}")
    _default_float = d


def scalar_dtype(value) -> dtype:
    """The dtype PyTorch gives a Python scalar on its own."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, (builtins_int, np.integer)):
        return int64
    if isinstance(value, (complex, np.complexfloating)):
        return get_default_complex_dtype()
    return _default_float


builtins_int = __import__("builtins").int


def promote(a: dtype, b: dtype) -> dtype:
    """Two tensors' result type: the higher category wins outright (int64 + float32 is
    float32, as in PyTorch); within one category, the wider type. Complex with float keeps
    the wider precision (float64 + complex64 is complex128)."""
    if a is b:
        return a
    if a._category == 4 or b._category == 4:
        raise RuntimeError(
            "promoteTypes with quantized numbers is not handled yet; figure out what the "
            f"correct rules should be, offending types: {torch_name(a)} {torch_name(b)}"
        )
    if a in _LIMITED_UNSIGNED or b in _LIMITED_UNSIGNED:
        _check_limited_promotion(a, b)
    if a is bfloat16 or b is bfloat16:  # as PyTorch: bfloat16 with float16 is float32
        other = b if a is bfloat16 else a
        if other._category < 2:
            return bfloat16
        if other is float16:
            return float32
        return promote(float32, other)
    if (a._category == 3 and b._category == 2) or (a._category == 2 and b._category == 3):
        return _BY_NP[np.promote_types(a.np, b.np)]
    if a._category != b._category:
        return a if a._category > b._category else b
    return _BY_NP[np.promote_types(a.np, b.np)]


_LIMITED_UNSIGNED = (uint16, uint32, uint64)
# PyTorch's ScalarType names (its messages print them)
SCALAR_TYPE_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "uint64": "UInt64",
    "float16": "Half",
    "bfloat16": "BFloat16",
    "float32": "Float",
    "float64": "Double",
    "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
    "quint8": "QUInt8",
    "qint8": "QInt8",
    "qint32": "QInt32",
}


def torch_name(dt) -> str:
    """PyTorch's ScalarType name of ``dt`` ("Float", "Long", ...), as its messages print it."""
    return SCALAR_TYPE_NAMES.get(dt.name, dt.name)


def _check_limited_promotion(a: dtype, b: dtype) -> None:
    """uint16/32/64 promote only to themselves and to a real floating type (PyTorch 2.13):
    with a bool, another integer or a complex type PyTorch raises (NumPy would widen
    uint64 + int64 to float64, a silently different dtype)."""
    other = b if a in _LIMITED_UNSIGNED else a
    if other._category == 2:
        return
    raise RuntimeError(
        "Promotion for uint16, uint32, uint64 types is not supported, attempted to promote "
        f"{SCALAR_TYPE_NAMES[a.name]} and {SCALAR_TYPE_NAMES[b.name]}"
    )


def result_type(*args) -> dtype:
    """PyTorch's promotion: dimensioned tensors > zero-dim tensors > Python scalars.

    A lower-priority operand only matters when its category (bool < integer < float <
    complex) is higher than what the higher-priority operands have; a complex one then keeps
    a float operand's precision (float64 tensor + ``1j`` is complex128, float32 tensor + a
    0-d complex128 tensor is complex64), as PyTorch's ``combine_categories``.
    """
    dim_dt = zero_dt = None
    scalar_cat = -1
    for a in args:
        d = getattr(a, "dtype", None)
        if isinstance(d, dtype):
            if a.ndim:
                dim_dt = d if dim_dt is None else promote(dim_dt, d)
            else:
                zero_dt = d if zero_dt is None else promote(zero_dt, d)
        elif isinstance(a, bool):
            scalar_cat = max(scalar_cat, 0)
        elif isinstance(a, (builtins_int, np.integer)):
            scalar_cat = max(scalar_cat, 1)
        elif isinstance(a, (complex, np.complexfloating)):
            scalar_cat = max(scalar_cat, 3)
        else:
            scalar_cat = max(scalar_cat, 2)
    result = dim_dt
    if zero_dt is not None:
        result = zero_dt if result is None else _combine_categories(result, zero_dt)
    if scalar_cat >= 0:
        scalar_dt = (bool_, int64, _default_float, get_default_complex_dtype())[scalar_cat]
        result = scalar_dt if result is None else _combine_categories(result, scalar_dt)
    return result


def _combine_categories(higher: dtype, lower: dtype) -> dtype:
    """``higher`` (the higher-priority operands' type) unless ``lower`` is of a higher
    category; a complex ``lower`` over a float ``higher`` keeps ``higher``'s precision."""
    if lower._category <= higher._category:
        return higher
    if lower._category == 3 and higher._category == 2:
        return higher.to_complex()
    return lower


_FLOAT_MAX = {
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
    "float32": 3.4028234663852886e38,
}
_C_TYPE = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int"}


def check_fits(value, dt) -> None:
    """PyTorch's ``checked_convert`` of a fill value to an integer dtype: out of range is a
    RuntimeError (``full((2,), 300, dtype=uint8)``, ``fill_(300)``), except that a negative
    value wraps into an unsigned type of its width (``full((2,), -1, dtype=uint8)`` is 255);
    ops with a scalar operand wrap instead (``uint8_tensor + 300``), as PyTorch's. A finite
    number beyond a float16/bfloat16/float32 range is an error too (``fill_(1e40)``)."""
    if dt._category == 2:
        limit = _FLOAT_MAX.get(dt.name, _builtins.float("inf"))
        if isinstance(value, (_builtins.bool, np.bool_)):
            big = False
        elif isinstance(value, (_builtins.int, np.integer)):
            big = _builtins.abs(_builtins.int(value)) > limit
        elif isinstance(value, (_builtins.float, np.floating)):
            v = _builtins.abs(_builtins.float(value))
            big = limit < v < _builtins.float("inf")  # (inf and NaN convert)
        else:
            big = False
        if big:
            name = {"float16": "c10::Half", "bfloat16": "c10::BFloat16"}.get(dt.name, "float")
            raise RuntimeError(f"value cannot be converted to type {name} without overflow")
        return
    if dt._category != 1 or isinstance(value, (_builtins.bool, np.bool_)):
        return
    if not isinstance(value, (_builtins.int, _builtins.float, np.integer, np.floating)):
        return
    info = np.iinfo(dt.np)
    v = value if isinstance(value, (_builtins.int, np.integer)) else _builtins.float(value)
    if dt.name == "uint8":
        bad = v > info.max or (v < 0 and -v > info.max)
    else:
        bad = not (info.min <= v <= info.max)
    if bad or v != v:
        name = _C_TYPE.get(dt.name, "int64_t")
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")
