"""``kiln.masked``: PyTorch's ``torch.masked`` reductions and normalizations on strided tensors.

Each function takes a boolean ``mask`` (broadcast to the input; ``None`` keeps every element):
masked-out elements are replaced by the reduction's identity (0 for ``sum``, 1 for ``prod``,
``-inf`` for ``amax``, ...) before the plain kiln op runs, exactly as ``torch.masked`` does, so
fully masked-out slices give the identity (or ``nan`` for ``mean``/``var``/``std``/``median``).
They are composites of differentiable kiln ops, so gradients come with them (masked-out
elements get a zero gradient).

>>> import kiln
>>> x = kiln.tensor([[1.0, 2.0], [3.0, 4.0]])
>>> m = kiln.tensor([[True, False], [True, True]])
>>> kiln.masked.sum(x, 1, mask=m).tolist()
[1.0, 7.0]
>>> kiln.masked.amax(x, 1, mask=m).tolist()
[1.0, 4.0]
"""

from __future__ import annotations

import math

import kiln

__all__ = [
    "sum",
    "prod",
    "cumsum",
    "cumprod",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "mean",
    "median",
    "logsumexp",
    "logaddexp",
    "norm",
    "var",
    "std",
    "softmax",
    "log_softmax",
    "softmin",
    "normalize",
]

_SMALL_INTS = ("uint8", "bool", "int8", "int16", "int32")


def _identity(op_name, input, *args):
    """The value that leaves the reduction unchanged (PyTorch's _reduction_identity)."""
    dtype = input.dtype
    floating = dtype.is_floating_point or dtype.is_complex
    if op_name in ("sum", "cumsum"):
        return 0
    if op_name in ("prod", "cumprod"):
        return 1
    if op_name in ("amax", "argmax", "logaddexp", "logsumexp"):
        if floating:
            return -math.inf
        if dtype != kiln.bool:
            return kiln.iinfo(dtype).min
    if op_name in ("amin", "argmin"):
        if floating:
            return math.inf
        if dtype != kiln.bool:
            return kiln.iinfo(dtype).max
    if op_name == "norm":
        ord = args[0] if args else 2
        return math.inf if ord == -math.inf else 0
    if op_name == "median":
        return math.nan
    raise NotImplementedError(f"masked.{op_name}: no identity value for {dtype} input")


def _canonical_dim(dim, ndim):
    """dim as a sorted tuple of non-negative dims (None or () means every dim)."""
    if dim is None or dim == ():
        return tuple(range(ndim))
    ndim = max(ndim, 1)
    dims = []
    for d in (dim,) if isinstance(dim, int) else dim:
        if d in dims:
            raise RuntimeError(f"dim={d} appears multiple times in the list of dims")
        if d >= ndim or d < -ndim:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                f"but got {d})"
            )
        dims.append(d % ndim)
    return tuple(sorted(dims))


def _input_mask(input, mask):
    """The mask as a bool tensor of the input's shape."""
    if not isinstance(mask, kiln.Tensor):
        mask = kiln.tensor(mask)
    if tuple(mask.shape) != tuple(input.shape):
        if mask.dim() > input.dim():
            raise IndexError(
                "_input_mask expected broadcastable mask (got mask dimensionality higher than "
                f"of the input): mask {tuple(mask.shape)}, input {tuple(input.shape)}"
            )
        mask = kiln.broadcast_to(mask, input.shape)
    return mask.to(kiln.bool)


def _combine(op_name, input, mask, *args):
    """The input with masked-out elements replaced by the op's identity."""
    if mask is None:
        return input
    fill = _identity(op_name, input, *args)
    fill = kiln.full((), fill, dtype=input.dtype)
    return kiln.where(_input_mask(input, mask), input, fill)


def _sum_dtype(input, dtype):
    if dtype is not None:
        return dtype
    return kiln.int64 if str(input.dtype).split(".")[-1] in _SMALL_INTS else input.dtype


def sum(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Sum over ``dim`` of the elements where ``mask`` is True."""
    dtype = _sum_dtype(input, dtype)
    dims = _canonical_dim(dim, input.dim())
    return kiln.sum(_combine("sum", input, mask), dims, bool(keepdim), dtype=dtype)


def prod(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Product over ``dim`` of the elements where ``mask`` is True."""
    dtype = _sum_dtype(input, dtype)
    dims = _canonical_dim(dim, input.dim())
    result = _combine("prod", input, mask).to(dtype)
    for d in reversed(dims):
        result = result.prod(dim=d, keepdim=bool(keepdim))
    return result


def cumsum(input, dim, *, dtype=None, mask=None):
    """Cumulative sum along ``dim``; masked-out elements count as 0."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.dim())[0]
    return kiln.cumsum(_combine("sum", input, mask), d, dtype=dtype).to(dtype)


def cumprod(input, dim, *, dtype=None, mask=None):
    """Cumulative product along ``dim``; masked-out elements count as 1."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.dim())[0]
    return kiln.cumprod(_combine("prod", input, mask), d, dtype=dtype).to(dtype)


def amax(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Maximum over ``dim`` of the elements where ``mask`` is True (-inf where none is)."""
    dtype = input.dtype if dtype is None else dtype
    combined = _combine("amax", input, mask)
    dims = _canonical_dim(dim, combined.dim())
    return kiln.amax(combined, dims, bool(keepdim)).to(dtype)


def amin(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Minimum over ``dim`` of the elements where ``mask`` is True (inf where none is)."""
    dtype = input.dtype if dtype is None else dtype
    combined = _combine("amin", input, mask)
    dims = _canonical_dim(dim, combined.dim())
    return kiln.amin(combined, dims, bool(keepdim)).to(dtype)


def argmax(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Index of the maximum over ``dim`` among the elements where ``mask`` is True."""
    dtype = input.dtype if dtype is None else dtype
    return kiln.argmax(_combine("argmax", input, mask), dim, bool(keepdim)).to(dtype)


def argmin(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Index of the minimum over ``dim`` among the elements where ``mask`` is True."""
    dtype = input.dtype if dtype is None else dtype
    return kiln.argmin(_combine("argmin", input, mask), dim, bool(keepdim)).to(dtype)


def mean(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Mean over ``dim`` of the elements where ``mask`` is True (nan where none is)."""
    source = "Optional"
    if dtype is None:
        dtype, source = input.dtype, "Input"
    if not (dtype.is_floating_point or dtype.is_complex):
        raise ValueError(
            f"mean(): Could not infer output dtype. {source} dtype must be either "
            f"a floating point or complex dtype. Got: {dtype}"
        )
    if mask is None:
        count = sum(kiln.ones(input.shape, dtype=kiln.int64), dim, keepdim=keepdim)
        total = sum(input, dim, keepdim=keepdim, dtype=dtype)
    else:
        inmask = _input_mask(input, mask)
        count = inmask.sum(dim=_canonical_dim(dim, input.dim()), keepdim=bool(keepdim))
        total = sum(input, dim, keepdim=keepdim, dtype=dtype, mask=inmask)
    return total / count


def median(input, dim=-1, *, keepdim=False, dtype=None, mask=None):
    """Median along ``dim`` of the elements where ``mask`` is True (nan where none is)."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.dim())[0]
    is_float = input.dtype.is_floating_point
    if not is_float:
        input = input.to(kiln.float32)
    output = kiln.nanmedian(_combine("median", input, mask), d, keepdim).values
    if is_float:
        return output
    if not bool(kiln.isnan(output).any()):
        return output.to(dtype)
    raise ValueError(
        "masked median expects no fully masked out rows if dtype is not floating point"
    )


def logsumexp(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """log(sum(exp)) over ``dim`` of the elements where ``mask`` is True."""
    dtype = input.dtype if dtype is None else dtype
    dims = _canonical_dim(dim, input.dim())
    return kiln.logsumexp(_combine("logsumexp", input, mask), dims, keepdim=keepdim).to(dtype)


def logaddexp(input, other, *, dtype=None, input_mask=None, other_mask=None):
    """Elementwise logaddexp; masked-out elements of either side count as -inf."""
    dtype = input.dtype if dtype is None else dtype
    a = _combine("logaddexp", input, input_mask)
    b = _combine("logaddexp", other, other_mask)
    return kiln.logaddexp(a, b).to(dtype)


def norm(input, ord=2.0, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Vector ``ord``-norm over ``dim`` of the elements where ``mask`` is True."""
    dtype = input.dtype if dtype is None else dtype
    combined = _combine("norm", input, mask, ord)
    dims = _canonical_dim(dim, input.dim())
    return kiln.linalg.vector_norm(combined, ord, dims, bool(keepdim), dtype=dtype)


def _std_var(input, dim, unbiased, correction, keepdim, dtype, mask, take_sqrt):
    if unbiased is not None and correction is not None:
        raise RuntimeError("masked var/std: only one of unbiased and correction may be given")
    corr = 1.0
    if unbiased is not None:
        corr = 1.0 if unbiased else 0.0
    if correction is not None:
        corr = float(correction)
    if dtype is None:
        dtype = input.dtype
        if not (dtype.is_floating_point or dtype.is_complex):
            dtype = kiln.float32
    compute_dtype = dtype
    if not (compute_dtype.is_floating_point or compute_dtype.is_complex):
        compute_dtype = kiln.float32
    dims = _canonical_dim(dim, input.dim())
    if mask is None:
        inmask = None
        count = sum(kiln.ones(input.shape, dtype=kiln.int64), dim, keepdim=True)
        sample_total = sum(input, dim, keepdim=True, dtype=dtype)
    else:
        inmask = _input_mask(input, mask)
        count = inmask.sum(dim=dims, keepdim=True)
        sample_total = sum(input, dim, keepdim=True, dtype=dtype, mask=inmask)
    x = input - sample_total / count
    total = sum(x * x, dim, keepdim=keepdim, dtype=compute_dtype, mask=inmask)
    if not keepdim:
        count = count.reshape(total.shape)
    if corr != 0:
        count = count.to(compute_dtype) - corr
        count = kiln.maximum(count, kiln.zeros((), dtype=count.dtype))
    output = (total / count).to(dtype)
    return kiln.sqrt(output) if take_sqrt else output


def var(input, dim=None, unbiased=None, *, correction=None, keepdim=False, dtype=None, mask=None):
    """Variance over ``dim`` of the elements where ``mask`` is True (nan where none is)."""
    return _std_var(input, dim, unbiased, correction, keepdim, dtype, mask, False)


def std(input, dim=None, unbiased=None, *, correction=None, keepdim=False, dtype=None, mask=None):
    """Standard deviation over ``dim`` of the elements where ``mask`` is True."""
    return _std_var(input, dim, unbiased, correction, keepdim, dtype, mask, True)


def softmax(input, dim, *, dtype=None, mask=None):
    """Softmax along ``dim``; masked-out elements get probability 0."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.dim())[0]
    return kiln.nn.functional.softmax(_combine("amax", input, mask), d, dtype=dtype)


def log_softmax(input, dim, *, dtype=None, mask=None):
    """Log-softmax along ``dim``; masked-out elements get -inf."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.dim())[0]
    return kiln.nn.functional.log_softmax(_combine("amax", input, mask), d, dtype=dtype)


def softmin(input, dim, *, dtype=None, mask=None):
    """Softmin along ``dim``; masked-out elements get probability 0."""
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.dim())[0]
    return kiln.nn.functional.softmin(_combine("amin", input, mask), d, dtype=dtype)


def normalize(input, ord, dim, *, eps=1e-12, dtype=None, mask=None):
    """input / max(norm, eps) along ``dim``, the norm over the elements where ``mask`` is True."""
    dtype = input.dtype if dtype is None else dtype
    combined = _combine("sum", input, mask)
    nrm = norm(input, ord, dim, keepdim=True, dtype=dtype, mask=mask)
    denom = kiln.maximum(nrm, kiln.full((), eps, dtype=nrm.dtype))
    return combined / denom
