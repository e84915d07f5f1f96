"""``kiln.fft``: PyTorch's discrete Fourier transforms, eager only (``torch.fft``).

Every transform is one of three eager ops over NumPy's ``numpy.fft`` (``kiln.complex_tensors``
runs and records them): complex-to-complex (``fft``, ``ifft``, ``fftn`` ...), real-to-complex
(``rfft``...) and complex-to-real (``irfft``...); ``hfft`` / ``ihfft`` are composites of
them. The gradients are PyTorch's: a transform is linear, so its VJP is its adjoint, the
opposite transform with the opposite scaling (``norm="backward"`` <-> ``"forward"``), and
the one-sided transforms add or double the half spectrum's mirrored bins as PyTorch does.

Float32 (and integer) input gives complex64, float64 gives complex128. Under ``kiln.jit`` or
tracing every transform raises ``NotImplementedError``: the compiled back ends have no
complex type.

>>> kiln.fft.fft(kiln.tensor([1.0, 0.0, 0.0, 0.0]))
tensor([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j])
>>> kiln.fft.irfft(kiln.fft.rfft(kiln.tensor([1.0, 2.0, 3.0, 4.0])))
tensor([1., 2., 3., 4.])
"""

from __future__ import annotations

import numpy as np

from . import dtypes, ops
from .complex_tensors import EagerOp, apply, conj, real, refuse_traced
from .dispatch import autocast_op
from .tensor import Tensor

__all__ = [
    "fft",
    "fft2",
    "fftfreq",
    "fftn",
    "fftshift",
    "hfft",
    "hfft2",
    "hfftn",
    "ifft",
    "ifft2",
    "ifftn",
    "ifftshift",
    "ihfft",
    "ihfft2",
    "ihfftn",
    "irfft",
    "irfft2",
    "irfftn",
    "rfft",
    "rfft2",
    "rfftfreq",
    "rfftn",
]

_NORMS = ("backward", "ortho", "forward")
# the adjoint of a transform scaled by ``norm`` is the opposite one scaled by the dual norm
_DUAL = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


# ------------------------------------------------------------------------------ checks


def _check_norm(norm) -> str:
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return norm


def _wrap_dim(op, d, ndim) -> int:
    low, high = (-ndim, ndim - 1) if ndim else (-1, 0)
    if not isinstance(d, (int, np.integer)) or not low <= d <= high:
        raise IndexError(
            f"{op}: Dimension out of range (expected to be in range of [{low}, {high}], but "
            f"got {d})"
        )
    return int(d) % max(ndim, 1)


def _input(op, x, real_only=False) -> Tensor:
    """``x`` as the transform's input: real inputs in float32/64 (integers become the default
    float), complex ones as they are; ``real_only`` refuses complex input."""
    refuse_traced(f"fft.{op}")
    if not isinstance(x, Tensor):
        raise TypeError(f"fft.{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x.dtype.is_complex:
        if real_only:
            raise RuntimeError(
                f"{op} expects a real input tensor, but got {x.dtype.name} ({op} of a complex "
                "tensor is not defined)"
            )
        return x
    if x.dtype in (dtypes.float32, dtypes.float64):
        return x
    if x.dtype is dtypes.float16:
        raise RuntimeError(f"fft.{op}: Unsupported dtype Half (kiln's FFT runs on the CPU)")
    return ops.cast(x, dtypes.get_default_dtype())


def _to_complex(x: Tensor) -> Tensor:
    return x if x.dtype.is_complex else ops.cast(x, x.dtype.to_complex())


def _dims_and_sizes(op, x, s, dim, default_all=True):
    """PyTorch's ``(s, dim)`` rules: ``dim`` defaults to the last ``len(s)`` dims (all dims,
    or the last one for the 1-d transforms), ``s`` to the input's sizes (-1 keeps one)."""
    if dim is not None and not isinstance(dim, (tuple, list)):
        dim = (dim,)
    if s is not None and not isinstance(s, (tuple, list)):
        s = (s,)
    if dim is None:
        if s is not None:
            if len(s) > x.ndim:
                raise RuntimeError(
                    f"fft.{op}: Got shape with {len(s)} values but input tensor only has "
                    f"{x.ndim} dimensions."
                )
            dims = tuple(range(x.ndim - len(s), x.ndim))
        else:
            dims = tuple(range(x.ndim)) if default_all else (x.ndim - 1,)
    else:
        dims = tuple(_wrap_dim(f"fft.{op}", d, x.ndim) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"fft.{op}: FFT dims must be unique, got {tuple(dim)}")
        if s is not None and len(s) != len(dims):
            raise RuntimeError(
                f"fft.{op}: When given, dim and shape arguments must have the same length "
                f"(dim {tuple(dim)}, s {tuple(s)})"
            )
    if not dims and x.ndim == 0:
        raise IndexError(f"fft.{op}: Dimension specified as -1 but tensor has no dimensions")
    sizes = (
        tuple(x.shape[d] for d in dims)
        if s is None
        else tuple(x.shape[d] if n == -1 else n for d, n in zip(dims, s))
    )
    for n in sizes:
        if n < 1:
            raise RuntimeError(f"fft.{op}: Invalid number of data points ({n}) specified")
    return dims, sizes


# ------------------------------------------------------------------------------ eager ops


def _resize_impl(x, dims, sizes):
    """``x`` cut or zero-padded along ``dims`` to ``sizes`` (what ``n`` / ``s`` do)."""
    index = [slice(None)] * x.ndim
    pads = [(0, 0)] * x.ndim
    for d, n in zip(dims, sizes):
        index[d] = slice(0, min(n, x.shape[d]))
        pads[d] = (0, max(n - x.shape[d], 0))
    return np.pad(x[tuple(index)], pads)


def _resize_vjp(g, x, dims, sizes):
    return (_resize(g, dims, tuple(x.shape[d] for d in dims)),)


_RESIZE = EagerOp("fft_resize", _resize_impl, _resize_vjp)


def _resize(x, dims, sizes):
    if all(x.shape[d] == n for d, n in zip(dims, sizes)):
        return x
    return apply(_RESIZE, (x,), dims=tuple(dims), sizes=tuple(sizes))


def _c2c_impl(x, dims, sizes, norm, forward):
    transform = np.fft.fftn if forward else np.fft.ifftn
    return transform(x, s=sizes, axes=dims, norm=norm).astype(x.dtype, copy=False)


def _c2c_vjp(g, x, dims, sizes, norm, forward):
    grad = _c2c(g, dims, sizes, _DUAL[norm], not forward)
    return (_resize(grad, dims, tuple(x.shape[d] for d in dims)),)


_C2C = EagerOp("fft_c2c", _c2c_impl, _c2c_vjp)


def _c2c(x, dims, sizes, norm, forward):
    return apply(_C2C, (x,), dims=dims, sizes=sizes, norm=norm, forward=forward)


def _r2c_impl(x, dims, sizes, norm):
    return np.fft.rfftn(x, s=sizes, axes=dims, norm=norm).astype(
        np.result_type(x.dtype, np.complex64), copy=False
    )


def _r2c_vjp(g, x, dims, sizes, norm):
    # rfftn = (keep the first n // 2 + 1 bins) . fftn . resize: the adjoint, in reverse
    full = _resize(g, dims[-1:], sizes[-1:])
    grad = real(_c2c(full, dims, sizes, _DUAL[norm], False))
    return (_resize(grad, dims, tuple(x.shape[d] for d in dims)),)


_R2C = EagerOp("fft_r2c", _r2c_impl, _r2c_vjp)


def _c2r_impl(x, dims, sizes, norm):
    return np.fft.irfftn(x, s=sizes, axes=dims, norm=norm).astype(x.real.dtype, copy=False)


def _c2r_vjp(g, x, dims, sizes, norm):
    # PyTorch's fft_c2r_backward: the one-sided transform of g, its mirrored bins doubled
    grad = apply(_R2C, (g,), dims=dims, sizes=sizes, norm=_DUAL[norm])
    half, n = grad.shape[dims[-1]], sizes[-1]
    doubled = n - half
    if doubled > 0:
        scale = np.ones(half, dtype=g.dtype.np)
        scale[1 : 1 + doubled] = 2
        shape = [1] * grad.ndim
        shape[dims[-1]] = half
        grad = ops.mul(grad, ops.constant(scale.reshape(shape), g.dtype))
    return (_resize(grad, dims, tuple(x.shape[d] for d in dims)),)


_C2R = EagerOp("fft_c2r", _c2r_impl, _c2r_vjp)


# ------------------------------------------------------------------------------ transforms


def _fftn(op, x, s, dim, norm, forward, default_all):
    x = _input(op, x)
    norm = _check_norm(norm)
    dims, sizes = _dims_and_sizes(op, x, s, dim, default_all)
    return _c2c(_to_complex(x), dims, sizes, norm, forward)


def _rfftn(op, x, s, dim, norm, default_all):
    x = _input(op, x, real_only=True)
    norm = _check_norm(norm)
    dims, sizes = _dims_and_sizes(op, x, s, dim, default_all)
    return apply(_R2C, (x,), dims=dims, sizes=sizes, norm=norm)


def _irfftn(op, x, s, dim, norm, default_all):
    x = _input(op, x)
    norm = _check_norm(norm)
    dims, sizes = _dims_and_sizes(op, x, s, dim, default_all)
    if s is None or s[-1] == -1:  # the last size defaults to 2 * (bins - 1)
        sizes = sizes[:-1] + (2 * (x.shape[dims[-1]] - 1),)
        if sizes[-1] < 1:
            raise RuntimeError(f"fft.{op}: Invalid number of data points ({sizes[-1]}) specified")
    return apply(_C2R, (_to_complex(x),), dims=dims, sizes=sizes, norm=norm)


def _one(n):
    return None if n is None else (n,)


@autocast_op("fp32")
def fft(input, n=None, dim=-1, norm=None):  # noqa: A002 - torch's argument names
    """The 1-d discrete Fourier transform along ``dim``, of length ``n`` (cut or zero-padded).

    >>> kiln.fft.fft(kiln.tensor([0.0, 1.0]))
    tensor([ 1.+0.j, -1.+0.j])
    """
    return _fftn("fft", input, _one(n), dim, norm, True, False)


@autocast_op("fp32")
def ifft(input, n=None, dim=-1, norm=None):  # noqa: A002
    """The 1-d inverse discrete Fourier transform along ``dim``."""
    return _fftn("ifft", input, _one(n), dim, norm, False, False)


@autocast_op("fp32")
def fft2(input, s=None, dim=(-2, -1), norm=None):  # noqa: A002
    """The 2-d transform over ``dim`` (the last two dimensions)."""
    return _fftn("fft2", input, s, dim, norm, True, True)


@autocast_op("fp32")
def ifft2(input, s=None, dim=(-2, -1), norm=None):  # noqa: A002
    return _fftn("ifft2", input, s, dim, norm, False, True)


@autocast_op("fp32")
def fftn(input, s=None, dim=None, norm=None):  # noqa: A002
    """The N-d transform over ``dim`` (all dimensions, or the last ``len(s)``)."""
    return _fftn("fftn", input, s, dim, norm, True, True)


@autocast_op("fp32")
def ifftn(input, s=None, dim=None, norm=None):  # noqa: A002
    return _fftn("ifftn", input, s, dim, norm, False, True)


@autocast_op("fp32")
def rfft(input, n=None, dim=-1, norm=None):  # noqa: A002
    """The transform of a real signal: the ``n // 2 + 1`` non-negative frequencies.

    >>> kiln.fft.rfft(kiln.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor([10.+0.j, -2.+2.j, -2.+0.j])
    """
    return _rfftn("rfft", input, _one(n), dim, norm, False)


@autocast_op("fp32")
def irfft(input, n=None, dim=-1, norm=None):  # noqa: A002
    """The inverse of ``rfft``: a real signal of length ``n`` (default ``2 * (bins - 1)``)."""
    return _irfftn("irfft", input, _one(n), dim, norm, False)


@autocast_op("fp32")
def rfft2(input, s=None, dim=(-2, -1), norm=None):  # noqa: A002
    return _rfftn("rfft2", input, s, dim, norm, True)


@autocast_op("fp32")
def irfft2(input, s=None, dim=(-2, -1), norm=None):  # noqa: A002
    return _irfftn("irfft2", input, s, dim, norm, True)


@autocast_op("fp32")
def rfftn(input, s=None, dim=None, norm=None):  # noqa: A002
    return _rfftn("rfftn", input, s, dim, norm, True)


@autocast_op("fp32")
def irfftn(input, s=None, dim=None, norm=None):  # noqa: A002
    return _irfftn("irfftn", input, s, dim, norm, True)


@autocast_op("fp32")
def hfft(input, n=None, dim=-1, norm=None):  # noqa: A002
    """The transform of a Hermitian-symmetric signal given by its first half: a real
    spectrum of length ``n`` (``irfft`` of the conjugate, with the forward scaling)."""
    norm = _check_norm(norm)
    x = _input("hfft", input)
    return _irfftn("hfft", conj(_to_complex(x)), _one(n), dim, _DUAL[norm], False)


@autocast_op("fp32")
def ihfft(input, n=None, dim=-1, norm=None):  # noqa: A002
    """The inverse of ``hfft``: the first half of a real signal's Hermitian spectrum."""
    norm = _check_norm(norm)
    return conj(_rfftn("ihfft", input, _one(n), dim, _DUAL[norm], False))


def hfftn(input, s=None, dim=None, norm=None):  # noqa: A002
    """The N-d ``hfft``: the last of ``dim`` holds the Hermitian half (``irfftn`` of the
    conjugate, with the forward scaling)."""
    norm = _check_norm(norm)
    x = _input("hfftn", input)
    return _irfftn("hfftn", conj(_to_complex(x)), s, dim, _DUAL[norm], True)


def hfft2(input, s=None, dim=(-2, -1), norm=None):  # noqa: A002
    norm = _check_norm(norm)
    x = _input("hfft2", input)
    return _irfftn("hfft2", conj(_to_complex(x)), s, dim, _DUAL[norm], True)


def ihfftn(input, s=None, dim=None, norm=None):  # noqa: A002
    """The inverse of ``hfftn``: the Hermitian half of a real signal's N-d spectrum."""
    norm = _check_norm(norm)
    return conj(_rfftn("ihfftn", input, s, dim, _DUAL[norm], True))


def ihfft2(input, s=None, dim=(-2, -1), norm=None):  # noqa: A002
    norm = _check_norm(norm)
    return conj(_rfftn("ihfft2", input, s, dim, _DUAL[norm], True))


# ------------------------------------------------------------------------------ helpers


def fftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False, **layout):
    """The sample frequencies of a length-``n`` transform (``[0, 1, ..., -1] / (d * n)``).

    >>> kiln.fft.fftfreq(4)
    tensor([ 0.0000,  0.2500, -0.5000, -0.2500])
    """
    return _freq("fftfreq", np.fft.fftfreq, n, d, dtype, device, requires_grad)


def rfftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False, **layout):
    """The non-negative sample frequencies of ``rfft`` (``[0, 1, ..., n // 2] / (d * n)``)."""
    return _freq("rfftfreq", np.fft.rfftfreq, n, d, dtype, device, requires_grad)


def _freq(op, numpy_freq, n, d, dtype, device, requires_grad):
    from .creation import tensor

    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"{op}(): argument 'n' must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"{op}: n must be non-negative, got {n}")
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if n:
        values = numpy_freq(n, d)
    else:  # PyTorch's formula at n = 0: no bins (fftfreq), one bin of 0 / 0 (rfftfreq)
        values = np.full(0 if op == "fftfreq" else 1, np.nan)
    return tensor(values, dtype=dt, device=device, requires_grad=requires_grad)


def _shift_dims(x, dim):
    if dim is None:
        return tuple(range(x.ndim))
    if isinstance(dim, (tuple, list)):
        return tuple(dim)
    return (dim,)


def fftshift(input, dim=None):  # noqa: A002
    """Move the zero frequency to the center (a roll by ``n // 2`` along ``dim``, all by
    default).

    >>> kiln.fft.fftshift(kiln.fft.fftfreq(4))
    tensor([-0.5000, -0.2500,  0.0000,  0.2500])
    """
    dims = _shift_dims(input, dim)
    if not dims:
        return input
    shifts = tuple(input.shape[d] // 2 for d in dims)
    return ops.roll(input, shifts, dims)


def ifftshift(input, dim=None):  # noqa: A002
    """The inverse of ``fftshift`` (a roll by ``-(n // 2)``)."""
    dims = _shift_dims(input, dim)
    if not dims:
        return input
    shifts = tuple(-(input.shape[d] // 2) for d in dims)
    return ops.roll(input, shifts, dims)
