"""Reductions (``sum``, ``max``, ``argmax``: primitives) and their composites.

>>> sum(tensor([[1., 2.], [3., 4.]]), dim=1)
tensor([3., 7.])
"""

from __future__ import annotations

import builtins
import functools
import math

from kiln.compiler.primitives import PRIMITIVES as P

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..autograd.tape import rename
from ..creation import full
from ..dispatch import autocast_op, bind
from ..memory_format import contiguous_result
from ..return_types import return_type
from ..tensor import Tensor
from .dims import normalize_axes, normalize_dim
from .elementwise import (
    _TORCH_NAME,
    add,
    cast,
    div,
    eq,
    exp,
    isfinite,
    isnan,
    log,
    maximum,
    minimum,
    mul,
    reverse_order,
    sqrt,
    sub,
    where,
)
from .elementwise import abs as abs_
from .index import gather
from .shape import multiply_halves, permute, reshape, squeeze, squeeze_axes

# The public names (what ``from kiln.ops import *`` and ``kiln`` re-export).
__all__ = """
all amax amin any argmax argmin log_softmax logsumexp max mean min norm prod softmax std
std_mean sum var var_mean
""".split()

values_indices = return_type  # (``values_indices("max")(values, indices)``)


def _axis_alias(fn):
    """Accept NumPy's ``axis=`` for PyTorch's ``dim=`` (PyTorch does too)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "axis" in kwargs:
            kwargs["dim"] = kwargs.pop("axis")
        if "keepdims" in kwargs:
            kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(*args, **kwargs)

    return wrapper


def _widened(x: Tensor):
    """``x`` in float32 when it is float16 or bfloat16: PyTorch accumulates their reductions
    (sum, mean, var, softmax, norms) in float32 and rounds once, where a 16-bit accumulator
    would round at every step (a sum of 24 values can be 2% off)."""
    return cast(x, dtypes.float32) if x.dtype in _LOW16 else x


_LOW16 = (dtypes.float16, dtypes.bfloat16)


def _rounded(out: Tensor, like: Tensor) -> Tensor:
    return cast(out, like.dtype) if out.dtype is not like.dtype else out


def _sum(x: Tensor, axes, keepdims: bool) -> Tensor:
    """The sum primitive, accumulated as PyTorch does (float32 for float16 input)."""
    out = bind(P["sum"], (_widened(x),), {"axes": axes, "keepdims": bool(keepdims)})
    return _rounded(out, x)


def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    if x.is_sparse:  # kiln.sparse: torch.sum(coo) is torch.sparse.sum
        return x.sum(dim, keepdim, dtype=dtype)
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    elif not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = cast(x, dtypes.int64)
    axes = normalize_axes("sum", dim, x.ndim)
    return _sum(x, axes, keepdim)


def _count(x, axes) -> int:
    return math.prod(x.shape[a] for a in axes)


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either "
            f"a floating point or complex dtype. Got: {_TORCH_NAME[x.dtype.name]} "
            f"({x.dtype.name})"
        )
    axes = normalize_axes("mean", dim, x.ndim)
    n = _count(x, axes)
    s = bind(P["sum"], (_widened(x),), {"axes": axes, "keepdims": bool(keepdim)})
    out = _rounded(div(s, float(n)) if n else div(s, math.nan), x)
    return rename(out, "MeanBackward0" if dim is None else "MeanBackward1", x)


def _check_nonempty(op, x, axes, dim):
    if x.numel() == 0 and (dim is None or dim == () or dim == []):
        raise RuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )
    for a in axes:
        if x.shape[a] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size.")


def amax(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    axes = normalize_axes("amax", dim, x.ndim)
    _check_nonempty("amax", x, axes, dim)
    return bind(P["max"], (x,), {"axes": axes, "keepdims": bool(keepdim)})


def amin(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    if x.dtype is dtypes.bool_:
        return cast(amin(cast(x, dtypes.int64), dim, keepdim), dtypes.bool_)
    _check_nonempty("amin", x, normalize_axes("amin", dim, x.ndim), dim)
    return reverse_order(amax(reverse_order(x), dim, keepdim))


def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    _refuse_bool("argmax", x)
    return _argmax(x, dim, keepdim)


def _refuse_bool(op, x):
    if x.dtype is dtypes.bool_:
        raise RuntimeError(f"{op}(): does not support bool input (cast it to an integer dtype)")


def _argmax(x: Tensor, dim=None, keepdim: bool = False, *, _name="argmax") -> Tensor:
    """``argmax`` of any dtype, bool included (``max(x, dim)`` of bools needs it)."""
    if x.numel() == 0:
        if dim is None:
            raise IndexError(
                f"{_name}(): Expected reduction dim to be specified for input.numel() == 0."
            )
        d = normalize_dim(_name, dim, x.ndim)
        if x.ndim == 0 or x.shape[d] == 0:
            raise IndexError(f"{_name}(): Expected reduction dim {d} to have non-zero size.")
    if dim is None:
        flat = reshape(x, (-1,))
        out = bind(P["argmax"], (flat,), {"axis": 0, "keepdims": False})
        return reshape(out, (1,) * x.ndim) if keepdim else out
    axis = normalize_dim("argmax", dim, x.ndim)
    if x.ndim == 0:
        return bind(P["argmax"], (x.reshape(1),), {"axis": 0, "keepdims": False})
    return bind(P["argmax"], (x,), {"axis": axis, "keepdims": bool(keepdim)})


def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    _refuse_bool("argmin", x)
    return _argmin(x, dim, keepdim)


def _argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    if x.dtype is dtypes.bool_:
        x = cast(x, dtypes.int64)
    return _argmax(reverse_order(x), dim, keepdim, _name="argmin")


def _max_with_indices(x, dim, keepdim, pick, name="max"):
    axis = normalize_dim(name, dim, x.ndim)
    if x.ndim and x.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    if x.ndim == 0:
        return values_indices(name)(x, _argmax(x, 0))
    idx = pick(x, axis, keepdim=True)
    values = gather(x, axis, idx)
    if not keepdim:
        values, idx = squeeze(values, axis), squeeze(idx, axis)
    return values_indices(name)(rename(values, name.capitalize() + "Backward0", x), idx)


def max(x: Tensor, dim=None, keepdim: bool = False, *, out=None):  # noqa: A001
    """``max(x)`` -> value; ``max(x, dim)`` -> (values, indices); ``max(x, y)`` -> maximum."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(
                "max(): Expected reduction dim to be specified for input.numel() "
                "== 0. Specify the reduction dim with the 'dim' argument."
            )
        out = evenly_distributed(x, amax(x)) if _wants_grad(x) else amax(x)
        return rename(out, "MaxBackward1", x)
    return _max_with_indices(x, dim, keepdim, _argmax)


def min(x: Tensor, dim=None, keepdim: bool = False, *, out=None):  # noqa: A001
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(
                "min(): Expected reduction dim to be specified for input.numel() "
                "== 0. Specify the reduction dim with the 'dim' argument."
            )
        out = evenly_distributed(x, amin(x)) if _wants_grad(x) else amin(x)
        return rename(out, "MinBackward1", x)
    return _max_with_indices(x, dim, keepdim, _argmin, "min")


def _wants_grad(x) -> bool:
    return x.dtype.is_floating_point and x.requires_grad


def evenly_distributed(x: Tensor, value: Tensor) -> Tensor:
    """``value`` (a 0-d tensor equal to elements of ``x``) with PyTorch's
    ``evenly_distribute_backward``: the gradient is shared evenly by the elements equal to
    it, or by the NaNs when it is NaN. That is the gradient of ``max()``, ``min()`` and
    ``median()`` of a whole tensor (``amax``'s own rule gives NaN everywhere then).
    ``via_nan`` is NaN when any element is; it is picked only when ``value`` is NaN.

    Written with reductions whose values are exact: the masked ``amax`` of elements that all
    equal ``value`` is ``value``, where an average of them could round.
    """
    with no_grad():
        v = value.detach() if value._node is None else value
        nan_mask = isnan(x.detach() if x._node is None else x)
        nan_count = bind(P["sum"], (cast(nan_mask, x.dtype),), _all_axes(x))
        equal = eq(x.detach() if x._node is None else x, v)
    # NaN exactly when some element is NaN, and then the NaNs share the gradient
    via_nan = div(bind(P["sum"], (where(nan_mask, x, 0.0),), _all_axes(x)), maximum(nan_count, 1.0))
    # a masked max (or min, when the value is -inf and so is the fill) of equal elements
    via_max = amax(where(equal, x, -math.inf))
    via_min = amin(where(equal, x, math.inf))
    via_equal = where(eq(v, -math.inf), via_min, via_max)
    return where(isnan(v), via_nan, via_equal)


def _all_axes(x):
    return {"axes": tuple(range(x.ndim)), "keepdims": False}


def var(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    if isinstance(dim, bool):  # torch.var(x, unbiased): the overload with no dim
        if unbiased is not None:
            raise TypeError("var() received an invalid combination of arguments: (dim=bool, ...)")
        dim, unbiased = None, dim
    if isinstance(unbiased, bool) or unbiased is None:
        pass
    else:  # var(x, dim, keepdim) positional style of older code: unbiased is a dim
        dim, unbiased = unbiased, None
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"var(): input dtype should be floating point, got {x.dtype.name}")
    return rename(_rounded(_var(_widened(x), dim, keepdim, correction), x), "VarBackward0", x)


def _var(x: Tensor, dim, keepdim: bool, correction):
    axes = normalize_axes("var", dim, x.ndim)
    n = _count(x, axes)
    centered = sub(x, mean(x, axes, keepdim=True))
    s = bind(P["sum"], (mul(centered, centered),), {"axes": axes, "keepdims": bool(keepdim)})
    denom = builtins.max(n - correction, 0)
    return div(s, float(denom)) if denom else div(s, math.nan if n == 0 else 0.0)


def std(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    if isinstance(dim, bool):  # torch.std(x, unbiased): the overload with no dim
        dim, unbiased = None, dim
    if x.dtype in _LOW16:  # the square root too is taken before rounding
        wide = std(_widened(x), dim, unbiased, keepdim, correction=correction)
        return _rounded(wide, x)
    v = var(x, dim, unbiased, keepdim, correction=correction)
    # PyTorch's gradient is 0 where the deviation is 0 (sqrt's slope there is inf, and inf
    # times var's zero slope would be NaN): the zeros pass through, not through sqrt
    zero = eq(v, 0.0)
    return rename(where(zero, v, sqrt(where(zero, 1.0, v))), "StdBackward0", x)


def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):  # var_mean(x, unbiased)
        dim, unbiased = None, dim
    return var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):  # std_mean(x, unbiased)
        dim, unbiased = None, dim
    return std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


def _stable_max(x, axes):
    """The per-row max with infinite rows replaced by 0 (so ``x - m`` stays finite)."""

    with no_grad():  # the shift cancels mathematically; no gradient flows through it
        if x.numel() == 0:
            return full(
                tuple(1 if a in axes else d for a, d in enumerate(x.shape)), 0.0, dtype=x.dtype
            )
        m = amax(x.detach() if x._node is None else x, axes, keepdim=True)
        return where(eq_inf(m), 0.0, m)


def eq_inf(m):

    return eq(abs_(m), math.inf)


def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    x = x if x.dtype.is_floating_point else cast(x, dtypes.get_default_dtype())
    axes = normalize_axes("logsumexp", dim, x.ndim)
    m = _stable_max(x, axes)
    s = _sum(exp(sub(x, m)), axes, True)
    out = log(s) + m
    if not keepdim:
        out = squeeze_axes(out, axes)
    return rename(out, "LogsumexpBackward0", x)


def _refuse_integral(op, x):
    """PyTorch's softmax kernels exist for floating dtypes only (pass ``dtype=``)."""
    if not x.dtype.is_floating_point:
        raise NotImplementedError(
            f'{op}: "{op}_lastdim_kernel_impl" not implemented for {x.dtype.name} input of '
            f"size {list(x.shape)} (pass dtype= or cast to a floating dtype)"
        )


def softmax(x: Tensor, dim=None, dtype=None, _stacklevel=None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    _refuse_integral("softmax", x)
    axis = normalize_dim("softmax", -1 if dim is None else dim, x.ndim)
    if x.ndim == 0:
        return reshape(softmax(reshape(x, (1,)), 0), ())
    if x.numel() == 0:
        return x
    if x.dtype in _LOW16:  # PyTorch computes the whole row in float32
        return _rounded(softmax(_widened(x), axis), x)
    with no_grad():  # an infinite maximum makes the row NaN, as in PyTorch
        m = amax(x.detach() if x._node is None else x, (axis,), keepdim=True)
    e = exp(sub(x, m))
    out = div(e, bind(P["sum"], (e,), {"axes": (axis,), "keepdims": True}))
    return contiguous_result(rename(out, "SoftmaxBackward0", x), x)  # (PyTorch's layout)


def log_softmax(x: Tensor, dim=None, dtype=None, _stacklevel=None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    _refuse_integral("log_softmax", x)
    axis = normalize_dim("log_softmax", -1 if dim is None else dim, x.ndim)
    if x.ndim == 0:
        return reshape(log_softmax(reshape(x, (1,)), 0), ())
    if x.numel() == 0:
        return x
    if x.dtype in _LOW16:  # PyTorch computes the whole row in float32
        return _rounded(log_softmax(_widened(x), axis), x)
    with no_grad():  # an infinite maximum makes the row NaN, as in PyTorch
        m = amax(x.detach() if x._node is None else x, (axis,), keepdim=True)
    shifted = sub(x, m)
    s = bind(P["sum"], (exp(shifted),), {"axes": (axis,), "keepdims": True})
    out = rename(sub(shifted, log(s)), "LogSoftmaxBackward0", x)
    return contiguous_result(out, x)  # (PyTorch's layout)


def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    if x.numel() == 0:
        out = _empty_logical(x, dim, keepdim, True)
    else:
        out = amin(cast(x, dtypes.bool_), () if dim is None else dim, keepdim)
    return _logical_dtype(out, x)


def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    if x.numel() == 0:
        out = _empty_logical(x, dim, keepdim, False)
    else:
        out = amax(cast(x, dtypes.bool_), () if dim is None else dim, keepdim)
    return _logical_dtype(out, x)


def _logical_dtype(out, x):
    """PyTorch's all/any of a uint8 tensor is uint8 (a legacy it keeps)."""
    return cast(out, dtypes.uint8) if x.dtype is dtypes.uint8 else out


def _empty_logical(x, dim, keepdim, value):

    axes = normalize_axes("all", dim, x.ndim)
    shape = tuple(
        (1 if i in axes else d) for i, d in enumerate(x.shape) if keepdim or i not in axes
    )
    return full(shape, value, dtype=dtypes.bool_)


@autocast_op("fp32")
def prod(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product by pairwise halving (``log2 n`` multiplications): exact for integers (with
    PyTorch's wrap-around), and ``mul``'s gradient is right where inputs are zero."""
    if dtype is not None:
        x = cast(x, dtypes.as_dtype(dtype))
    elif not x.dtype.is_floating_point:
        x = cast(x, dtypes.int64)
    axes = normalize_axes("prod", dim, x.ndim)
    rest = [a for a in range(x.ndim) if a not in axes]
    kept = tuple(x.shape[a] for a in rest)
    count = math.prod(x.shape[a] for a in axes)
    flat = reshape(permute(x, rest + list(axes)), kept + (count,))
    out = multiply_halves(flat)
    if keepdim:
        out = reshape(out, tuple(1 if a in axes else d for a, d in enumerate(x.shape)))
    out = rename(out, "ProdBackward0" if dim is None else "ProdBackward1", x)
    return contiguous_result(out, x)  # (PyTorch's layout)


def norm(x: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        raise RuntimeError(
            f"norm(): Expected a floating point or complex tensor as input. Got {x.dtype.name}"
        )
    if p == "nuc":
        from .. import linalg

        return linalg.matrix_norm(x, "nuc", dim=(-2, -1) if dim is None else dim, keepdim=keepdim)
    if x.dtype in _LOW16 and p not in (math.inf, "inf", -math.inf, "-inf"):
        return _rounded(norm(_widened(x), p, dim, keepdim), x)  # float32 accumulation
    if p in (-math.inf, "-inf"):
        return amin(abs_(x), () if dim is None else dim, keepdim)
    if p == 0:  # the count of nonzero elements, with PyTorch's zero (not absent) gradient
        zero_slope = mul(where(isfinite(x), x, 0.0), 0.0)
        return sum(add(where(eq(x, 0.0), 0.0, 1.0), zero_slope), dim, keepdim)
    if p in ("fro", 2, 2.0, None):
        squares = sum(mul(x, x), dim, keepdim)
        zero = eq(squares, 0.0)  # the gradient at a zero vector is 0, as in PyTorch
        out = where(zero, 0.0, sqrt(where(zero, 1.0, squares)))
        return rename(out, "LinalgVectorNormBackward0", x)
    if p in (math.inf, "inf"):
        return amax(abs_(x), () if dim is None else dim, keepdim)
    if p == 1:
        return sum(abs_(x), dim, keepdim)
    from .. import linalg  # (its rule: a zero vector, or a zero element with p < 1, gets a 0
    # gradient; pow(sum(pow(|x|, p)), 1/p) gave NaN there: cdist(a, a, p=3).sum() all NaN)

    return rename(linalg.vector_norm(x, p, dim, keepdim), "LinalgVectorNormBackward0", x)


for _name in (
    "sum",
    "mean",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "max",
    "min",
    "var",
    "std",
    "logsumexp",
    "softmax",
    "log_softmax",
    "all",
    "any",
    "prod",
    "norm",
    "var_mean",
    "std_mean",
):
    globals()[_name] = _axis_alias(globals()[_name])
