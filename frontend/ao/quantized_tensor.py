"""Quantized tensors: ``kiln.quantize_per_tensor`` / ``quantize_per_channel`` and the
``QuantizedTensor`` they return (PyTorch's QuantizedCPU tensors, dtypes quint8, qint8 and
qint32).

A quantized tensor holds integers ``q`` and the affine map back to floats,
``x = (q - zero_point) * scale``, one (scale, zero_point) for the whole tensor or one per
slice along ``axis``. Its ``_data`` is a placeholder that refuses to be read, so that no
dense operation computes with the integers as if they were the values (PyTorch has no
kernel of ``add``, ``sum``, ... for a quantized tensor: kiln raises its errors).

>>> q = quantize_per_tensor(kiln.tensor([-1.0, 0.25, 2.6]), 0.5, 3, kiln.quint8)
>>> q.int_repr()
tensor([1, 4, 8], dtype=kiln.uint8)
>>> q.dequantize()
tensor([-1.0000,  0.5000,  2.5000])
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import dtypes, printing
from ..tensor import NoValues, Tensor, _wrap, refuse_methods


class qscheme:  # noqa: N801 - PyTorch's name (torch.qscheme)
    """A quantization scheme: ``kiln.per_tensor_affine``, ``kiln.per_channel_affine``, ..."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"kiln.{self.name}"

    def __reduce__(self):
        return (_qscheme_named, (self.name,))


per_tensor_affine = qscheme("per_tensor_affine")
per_channel_affine = qscheme("per_channel_affine")
per_tensor_symmetric = qscheme("per_tensor_symmetric")
per_channel_symmetric = qscheme("per_channel_symmetric")
per_channel_affine_float_qparams = qscheme("per_channel_affine_float_qparams")
_SCHEMES = {
    s.name: s
    for s in (
        per_tensor_affine,
        per_channel_affine,
        per_tensor_symmetric,
        per_channel_symmetric,
        per_channel_affine_float_qparams,
    )
}


def _qscheme_named(name: str) -> qscheme:
    return _SCHEMES[name]


def _unsupported(op: str) -> NotImplementedError:
    return NotImplementedError(
        f"Could not run 'aten::{op}' with arguments from the 'QuantizedCPU' backend: kiln "
        "has no kernel of it for a quantized tensor. Call .dequantize() first for its float "
        "values."
    )


def storage(dt) -> np.dtype:
    """The NumPy integer type a quantized dtype's values are stored in (uint8, int8,
    int32)."""
    return np.dtype(dtypes._QUANTIZED_STORAGE[dt.name])


def quant_range(dt) -> tuple[int, int]:
    """The integers a quantized dtype holds: quint8 0..255, qint8 -128..127, qint32 int32."""
    info = np.iinfo(storage(dt))
    return int(info.min), int(info.max)


def _check_quantized_dtype(dt, op: str):
    dt = dtypes.as_dtype(dt)
    if dt not in dtypes.QUANTIZED:
        raise RuntimeError(
            f"{op}: ScalarType {dtypes.torch_name(dt)} is not supported in new_qtensor "
            "(a quantized dtype is needed: kiln.quint8, kiln.qint8 or kiln.qint32)"
        )
    return dt


def _check_float_input(x: Tensor) -> np.ndarray:
    if not isinstance(x, Tensor):
        raise TypeError(f"quantize: input must be a Tensor, got {type(x).__name__}")
    if x.is_quantized or x.dtype is not dtypes.float32:
        raise RuntimeError(f"Quantize only works on Float Tensor, got {dtypes.torch_name(x.dtype)}")
    return np.asarray(x.detach().numpy(), dtype=np.float32)


def _check_zero_point(zero_point: int, dt, op: str) -> None:
    low, high = quant_range(dt)
    if zero_point > high:
        raise RuntimeError(f"{op} zero_point {zero_point} is above upper bound.")
    if zero_point < low:
        raise RuntimeError(f"{op} zero_point {zero_point} is below lower bound.")


def fused_round(values: np.ndarray, inverse, zero_point) -> np.ndarray:
    """fbgemm's ``Quantize`` (AVX2 ``fmadd``, its scalar tail compiled fused too):
    ``zero_point + x * inverse`` with one rounding to float32 (the product of two float32
    numbers is exact in float64), then rounded half to even."""
    shifted = values.astype(np.float64) * np.asarray(inverse, dtype=np.float64) + zero_point
    return np.rint(shifted.astype(np.float32))


def scalar_round(values: np.ndarray, inverse, zero_point) -> np.ndarray:
    """ATen's scalar quantization (qint32, per channel): the product rounded to float32,
    plus the zero point rounded to float32, rounded half to even (it differs from
    ``fused_round`` only where ``x / scale`` is within a rounding of a half)."""
    product = values.astype(np.float32) * np.asarray(inverse, dtype=np.float32)
    return np.rint(product + np.asarray(zero_point, dtype=np.float32))


def quantize_array(values: np.ndarray, scale, zero_point, dt, per_channel=False) -> np.ndarray:
    """PyTorch's rounding of ``x`` to ``dt``: ``round_half_even(zero_point + x * (1 /
    scale))`` with ``1 / scale`` in float32, clamped to the dtype's range. Per tensor,
    quint8/qint8 go through fbgemm's ``Quantize`` (``fused_round``, in its vector loop
    and in its scalar tail alike); qint32 and per-channel quantization round the product
    first (``scalar_round``). ``scale``/``zero_point`` broadcast against ``values``. NaN
    becomes the dtype's maximum (int8/uint8) or minimum (int32), as PyTorch's kernels
    give it."""
    inverse = np.float32(1) / np.asarray(scale, dtype=np.float32)
    low, high = quant_range(dt)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if per_channel or dt is dtypes.qint32:
            rounded = scalar_round(values, inverse, zero_point)
        else:
            rounded = fused_round(values, inverse, zero_point)
    nan = np.isnan(rounded)
    out = np.clip(np.where(nan, 0.0, rounded.astype(np.float64)), low, high)
    if nan.any():
        out[nan] = high if dt is not dtypes.qint32 else low
    return out.astype(storage(dt)).reshape(values.shape)


# ---------------------------------------------------------------------- the tensor
class QuantizedTensor(Tensor):
    """A quantized tensor (``is_quantized``): integers plus a scale and zero point per
    tensor or per channel. Made by ``kiln.quantize_per_tensor`` and
    ``kiln.quantize_per_channel``; ``dequantize()`` gives its float values."""

    __slots__ = ()
    is_quantized = True

    @property
    def dtype(self):
        return self._q_dtype

    @property
    def requires_grad(self) -> bool:
        return False

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")

    def requires_grad_(self, requires_grad: bool = True) -> QuantizedTensor:
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self):
        return None

    @property
    def is_leaf(self) -> bool:
        return True

    # -------------------------------------------------------------- quantization
    def int_repr(self) -> Tensor:
        """The stored integers (uint8 for quint8, int8 for qint8, int32 for qint32)."""
        return _wrap(self._q_int.copy())

    def dequantize(self) -> Tensor:
        """The float32 values ``(q - zero_point) * scale`` (in float32, as PyTorch)."""
        if self._q_scheme is per_tensor_affine:
            scale, zero = np.float32(self._q_scale), self._q_zero_point
        else:
            shape = [1] * self._q_int.ndim
            shape[self._q_axis] = -1
            # (per channel PyTorch multiplies by the float64 scale, then rounds to float32;
            # with float qparams it computes in float32)
            scale = self._q_scales.reshape(shape)
            zero = self._q_zero_points.reshape(shape)
            if self._q_scheme is per_channel_affine_float_qparams:
                return _wrap((self._q_int.astype(np.float32) - zero) * scale)
            values = (self._q_int.astype(np.int64) - zero) * scale
            return _wrap(values.astype(np.float32))
        return _wrap((self._q_int.astype(np.int64) - zero).astype(np.float32) * scale)

    def qscheme(self) -> qscheme:
        return self._q_scheme

    def q_scale(self) -> float:
        self._per_tensor_only("q_scale")
        return self._q_scale

    def q_zero_point(self) -> int:
        self._per_tensor_only("q_zero_point")
        return self._q_zero_point

    def q_per_channel_scales(self) -> Tensor:
        self._per_channel_only("q_per_channel_scales")
        return _wrap(self._q_scales.copy())

    def q_per_channel_zero_points(self) -> Tensor:
        self._per_channel_only("q_per_channel_zero_points")
        return _wrap(self._q_zero_points.copy())

    def q_per_channel_axis(self) -> int:
        self._per_channel_only("q_per_channel_axis")
        return self._q_axis

    def _per_tensor_only(self, op: str) -> None:
        if self._q_scheme is not per_tensor_affine:
            raise RuntimeError(
                f"Expected quantizer->qscheme() == kPerTensorAffine to be true, but got "
                f"false. ({op} of a tensor quantized {self._q_scheme.name})"
            )

    def _per_channel_only(self, op: str) -> None:
        if self._q_scheme is per_tensor_affine:
            raise RuntimeError(
                f"Expected quantizer->qscheme() == kPerChannelAffine to be true, but got "
                f"false. ({op} of a tensor quantized per_tensor_affine)"
            )

    # -------------------------------------------------------------- structure
    def _same_quantizer(self, ints: np.ndarray) -> QuantizedTensor:
        return _make(ints, self._q_dtype, self._q_scheme, self._quantizer())

    def _quantizer(self) -> tuple:
        if self._q_scheme is per_tensor_affine:
            return (self._q_scale, self._q_zero_point)
        return (self._q_scales, self._q_zero_points, self._q_axis)

    def clone(self, memory_format=None) -> QuantizedTensor:
        return self._same_quantizer(self._q_int.copy())

    def detach(self) -> QuantizedTensor:
        return self._same_quantizer(self._q_int)

    def contiguous(self, memory_format=None) -> QuantizedTensor:
        if self._q_int.flags.c_contiguous:
            return self
        return self._same_quantizer(np.ascontiguousarray(self._q_int))

    def is_contiguous(self, memory_format=None) -> bool:
        return bool(self._q_int.flags.c_contiguous)

    def storage_offset(self) -> int:
        return 0  # (kiln's integers do not share storage with an offset)

    def to(self, *args, **kwargs) -> QuantizedTensor:
        """Only to the same dtype or the CPU (a quantized tensor converts to float with
        ``dequantize()``, as in PyTorch)."""
        targets = [a for a in (*args, kwargs.get("dtype")) if isinstance(a, dtypes.dtype)]
        if any(t is not self._q_dtype for t in targets):
            raise RuntimeError(
                "Creation of quantized tensor requires quantized dtype like torch.quint8 "
                f"(kiln: {self._q_dtype} to {targets[0]}; dequantize() gives the float values)"
            )
        return self

    def float(self, memory_format=None):
        return self.to(dtypes.float32)

    def double(self, memory_format=None):
        return self.to(dtypes.float64)

    def long(self, memory_format=None):
        return self.to(dtypes.int64)

    def int(self, memory_format=None):
        return self.to(dtypes.int32)

    def cpu(self) -> QuantizedTensor:
        return self

    def _movement(self, op: str, fn) -> QuantizedTensor:
        if self._q_scheme is not per_tensor_affine:  # (the channel axis would move)
            raise _unsupported(f"{op} (of a per-channel quantized tensor)")
        return self._same_quantizer(fn(self._q_int))

    def reshape(self, *shape) -> QuantizedTensor:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self._movement("reshape", lambda a: a.reshape(tuple(shape)))

    view = reshape

    def transpose(self, dim0: int, dim1: int) -> QuantizedTensor:
        return self._movement("transpose", lambda a: np.swapaxes(a, dim0, dim1))

    def permute(self, *dims) -> QuantizedTensor:
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return self._movement("permute", lambda a: np.transpose(a, dims))

    def t(self) -> QuantizedTensor:
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self) -> QuantizedTensor:  # noqa: N802 - PyTorch's name
        return self._movement("T", lambda a: a.transpose())

    def unsqueeze(self, dim: int) -> QuantizedTensor:
        return self._movement("unsqueeze", lambda a: np.expand_dims(a, dim % (a.ndim + 1)))

    def squeeze(self, dim=None) -> QuantizedTensor:
        def squeezed(a):
            if dim is None:
                return np.squeeze(a)
            axes = (dim,) if isinstance(dim, builtins.int) else tuple(dim)
            return np.squeeze(a, tuple(d % a.ndim for d in axes if a.shape[d] == 1))

        return self._movement("squeeze", squeezed)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> QuantizedTensor:
        shape = self.shape
        if not shape:
            return self.reshape(1)
        start, end = start_dim % len(shape), end_dim % len(shape)
        size = int(np.prod(shape[start : end + 1], dtype=np.int64))
        return self.reshape(*shape[:start], size, *shape[end + 1 :])

    def __getitem__(self, key) -> QuantizedTensor:
        if isinstance(key, Tensor):
            key = key.numpy()
        return self._movement("index", lambda a: np.asarray(a[key]))

    def relu(self) -> QuantizedTensor:
        """PyTorch's quantized ReLU: the same quantizer, integers below the zero point
        raised to it (the value 0)."""
        if self._q_scheme is per_tensor_affine:
            floor = self._q_zero_point
        else:
            shape = [1] * self._q_int.ndim
            shape[self._q_axis] = -1
            floor = self._q_zero_points.reshape(shape)
        return self._same_quantizer(np.maximum(self._q_int, floor).astype(self._q_int.dtype))

    def relu_(self) -> QuantizedTensor:
        """The quantized ReLU in place (the integers below the zero point raised to it)."""
        self._q_int = self.relu()._q_int
        return self

    def numpy(self, *, force: bool = False):
        raise TypeError(f"Got unsupported ScalarType {dtypes.torch_name(self._q_dtype)}")

    def __repr__(self) -> str:
        return _repr(self)

    def __reduce_ex__(self, protocol):
        # copy, deepcopy and pickle rebuild through _make (the placeholder is not data)
        return (_rebuild, (self._q_int, self._q_dtype.name, self._q_scheme.name, self._quantizer()))

    # -------------------------------------------------------------- arithmetic
    def _binary(self, other, op: str):
        if isinstance(other, Tensor) and other.is_quantized:
            raise _unsupported(f"{op}.Tensor")
        if isinstance(other, Tensor):
            dtypes.promote(self.dtype, other.dtype)  # (raises PyTorch's promoteTypes error)
        raise RuntimeError(
            "empty_strided not supported on quantized tensors yet see "
            f"https://github.com/pytorch/pytorch/issues/74540 (kiln: {op} of a quantized "
            "tensor and a number; dequantize() first)"
        )


def _binary_refusal(name: str, op: str):
    def refused(self, other):
        return self._binary(other, op)

    refused.__name__ = name
    return refused


for _op in "add sub mul truediv floordiv mod pow matmul and or xor lshift rshift".split():
    for _form in ("__{}__", "__r{}__", "__i{}__"):
        setattr(QuantizedTensor, _form.format(_op), _binary_refusal(_form.format(_op), _op))

# Tensor methods that read only shape, dtype or class: they stay. Every other method of
# Tensor is refused (NotImplementedError, as PyTorch's QuantizedCPU dispatch).
_KEEP = set(QuantizedTensor.__dict__) | {
    "size",
    "dim",
    "ndimension",
    "numel",
    "nelement",
    "element_size",
    "is_floating_point",
    "is_complex",
    "is_signed",
    "get_device",
    "stride",
    "__len__",
    "__hash__",
    "__format__",
    "__init__",
    "__class__",
    "__dir__",
    "__sizeof__",
    "__init_subclass__",
    "__subclasshook__",
    "__getattribute__",
    "__setattr__",
    "__delattr__",
    "__str__",
}


refuse_methods(QuantizedTensor, _KEEP, _unsupported)


# ---------------------------------------------------------------------- construction
def _make(ints: np.ndarray, dt, scheme: qscheme, quantizer: tuple) -> QuantizedTensor:
    t = _wrap(np.zeros(0))
    # (its _data: the shape and storage dtype, no readable values: a dense code path
    # never computes with the integers as if they were the values)
    t._data = NoValues(ints.shape, ints.dtype, _unsupported, "_to_dense (reading the values)")
    t.__class__ = QuantizedTensor
    t._q_int = ints
    t._q_dtype = dt
    t._q_scheme = scheme
    if scheme is per_tensor_affine:
        t._q_scale, t._q_zero_point = builtins.float(quantizer[0]), builtins.int(quantizer[1])
    else:
        t._q_scales, t._q_zero_points, t._q_axis = quantizer
    return t


def _rebuild(ints, dtype_name, scheme_name, quantizer) -> QuantizedTensor:
    return _make(np.array(ints), dtypes.as_dtype(dtype_name), _SCHEMES[scheme_name], quantizer)


_CREATION_WARNED: list = []


def _warn_deprecated_creation() -> None:
    """PyTorch 2.13 warns once per process that quantized tensor creation is deprecated."""
    if not _CREATION_WARNED:
        _CREATION_WARNED.append(True)
        import warnings

        warnings.warn(
            "torch.quantize_per_tensor, torch.quantize_per_channel and other quantized tensor "
            "creation functions that produce tensors with dtype torch.quint8, torch.qint8, and "
            "torch.qint32 are deprecated and will be removed in a future PyTorch release. "
            "Please see https://github.com/pytorch/pytorch/issues/184982 for more information.",
            UserWarning,
            stacklevel=3,
        )


def _as_number(value, kind, what: str):
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise RuntimeError(f"quantize_per_tensor: {what} must hold one element")
        value = value.item()
    return kind(value)


def quantize_per_tensor(input, scale, zero_point, dtype) -> QuantizedTensor:
    """PyTorch's ``torch.quantize_per_tensor``: ``q = clamp(round_half_even(x / scale) +
    zero_point)`` in quint8, qint8 or qint32; ``input`` must be float32.

    >>> quantize_per_tensor(kiln.tensor([0.25, 0.75]), 0.5, 0, kiln.qint8).int_repr()
    tensor([0, 2], dtype=kiln.int8)
    """
    if isinstance(input, (list, tuple)):
        return [
            quantize_per_tensor(x, s, z, dtype)
            for x, s, z in zip(input, scale.tolist(), zero_point.tolist())
        ]
    dt = _check_quantized_dtype(dtype, "quantize_per_tensor")
    _warn_deprecated_creation()
    values = _check_float_input(input)
    scale = _as_number(scale, builtins.float, "scale")
    zero_point = _as_number(zero_point, builtins.int, "zero_point")
    _check_zero_point(zero_point, dt, "quantize_tensor_per_tensor_affine")
    ints = quantize_array(values, scale, zero_point, dt)
    return _make(ints, dt, per_tensor_affine, (scale, zero_point))


def quantize_per_channel(input, scales, zero_points, axis: int, dtype) -> QuantizedTensor:
    """PyTorch's ``torch.quantize_per_channel``: one scale and zero point per slice of
    ``input`` along ``axis`` (``scales``: a float tensor, ``zero_points``: an integer
    tensor, each of length ``input.shape[axis]``)."""
    dt = _check_quantized_dtype(dtype, "quantize_per_channel")
    _warn_deprecated_creation()
    values = _check_float_input(input)
    if not isinstance(scales, Tensor) or not isinstance(zero_points, Tensor):
        raise TypeError("quantize_per_channel: scales and zero_points must be tensors")
    ndim = values.ndim
    if not 0 <= axis < ndim:  # (a negative axis too, as PyTorch)
        raise RuntimeError(
            "Channel axis out of range in per channel affine quantization. Got: "
            f"{axis}Expected: [0, {ndim})"
        )
    channels = values.shape[axis]
    scale_array = np.asarray(scales.detach().numpy(), dtype=np.float64).reshape(-1)
    zero_array = np.asarray(zero_points.detach().numpy()).reshape(-1)
    if scale_array.size != channels or zero_array.size != channels:
        raise RuntimeError(
            f"quantize_per_channel: expected {channels} scales and zero points (the size of "
            f"dimension {axis} of an input of shape {tuple(values.shape)}), got "
            f"{scale_array.size} and {zero_array.size}"
        )
    shape = [1] * ndim
    shape[axis] = -1
    if zero_array.dtype.kind == "f":  # float zero points: per_channel_affine_float_qparams
        # (float32 scales and zero points, q = round(x / scale + zero_point), no range check)
        scale32 = scale_array.astype(np.float32)
        zero32 = zero_array.astype(np.float32)
        safe = np.where(scale32 == 0, np.float32(1), scale32)
        inverse = (np.float32(1) / safe).reshape(shape)
        low, high = quant_range(dt)
        with np.errstate(invalid="ignore", over="ignore"):
            shifted = (values * inverse + zero32.reshape(shape)).astype(np.float32)
        ints = np.clip(np.rint(shifted).astype(np.float64), low, high).astype(storage(dt))
        quantizer = (scale32, zero32, axis)
        return _make(ints, dt, per_channel_affine_float_qparams, quantizer)
    zero_array = zero_array.astype(np.int64)
    for z in zero_array:
        _check_zero_point(int(z), dt, "quantize_tensor_per_channel_affine")
    ints = quantize_array(
        values,
        scale_array.astype(np.float32).reshape(shape),
        zero_array.reshape(shape),
        dt,
        per_channel=True,
    )
    return _make(ints, dt, per_channel_affine, (scale_array, zero_array, axis))


def dequantize(tensor):
    """``kiln.dequantize(q)``: ``q.dequantize()``; a list of tensors gives a list."""
    if isinstance(tensor, (list, tuple)):
        return [t.dequantize() for t in tensor]
    return tensor.dequantize()


# ---------------------------------------------------------------------- printing
def _repr(t: QuantizedTensor) -> str:
    """PyTorch's repr of a quantized tensor: the dequantized values, then size, dtype,
    scheme and quantizer."""
    prefix = "tensor("
    indent = len(prefix)
    suffixes = [f"size={tuple(t.shape)}", f"dtype={t.dtype!r}"]
    suffixes.append(f"quantization_scheme={t.qscheme()!r}")
    if t._q_scheme is per_tensor_affine:
        suffixes.append(f"scale={t.q_scale()!r}")
        suffixes.append(f"zero_point={t.q_zero_point()!r}")
    else:
        suffixes.append(f"scale={t.q_per_channel_scales()!r}")
        suffixes.append(f"zero_point={t.q_per_channel_zero_points()!r}")
        suffixes.append(f"axis={t.q_per_channel_axis()!r}")
    values = t.dequantize().numpy()
    body = printing._tensor_str(values, indent) if values.size else "[]"
    return printing._add_suffixes(prefix + body, suffixes, indent)
