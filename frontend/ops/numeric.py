"""Numerical helpers over N dimensions: ``histogramdd`` and ``gradient`` (PyTorch's).

``histogramdd`` bins points the way ``kiln.histogram`` bins values (PyTorch's arithmetic,
corrected against the edges as its ``linspace`` computes them), one axis per coordinate.
``gradient`` is a composite of slices and elementwise ops (central differences inside,
one-sided at the edges), so it has gradients and traces.

>>> import kiln
>>> kiln.gradient(kiln.tensor([1.0, 2.0, 4.0, 8.0]))[0].tolist()
[1.0, 1.5, 3.0, 4.0]
"""

from __future__ import annotations

import builtins
import math

from .. import dtypes
from .. import ops as O  # the package (complete by the time these run)
from ..return_types import return_type
from ..tensor import Tensor
from .math16 import _bin_positions, _host_range

__all__ = ["histogramdd", "gradient"]

histogramdd_result = return_type("histogramdd", ["hist", "bin_edges"])


def histogramdd(input, bins, *, range=None, weight=None, density=False):  # noqa: A002
    """``(hist, bin_edges)`` of the points ``input[..., :]`` (the last dim holds the ``D``
    coordinates): ``bins`` is an int, ``D`` ints or ``D`` 1-D tensors of increasing edges;
    ``range`` (``2 D`` floats) fixes the outer edges of int bins, else each coordinate's
    min and max; ``weight`` (``input.shape[:-1]``) weighs each point; ``density`` divides by
    the total and each cell's volume. Float inputs, no gradient (as PyTorch)."""
    x = input
    if not x.dtype.is_floating_point:
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{x.dtype.name}'")
    if x.ndim < 1:
        raise RuntimeError("torch.histogramdd: input tensor should have at least 1 dimension")
    d = x.shape[-1]
    if isinstance(bins, int):
        bins = [bins] * d
    bins = list(bins)
    if len(bins) != d:
        raise RuntimeError(
            "histogramdd: The size of bins must be equal to the innermost dimension of the "
            f"input (got {len(bins)} bins for input of shape {list(x.shape)})"
        )
    if range is not None and len(range) != 2 * d:
        raise RuntimeError(
            f"torch.histogramdd: for a {d}-dimensional histogram range should have {2 * d} "
            f"elements, but got {len(range)}"
        )
    points = O.reshape(x.detach(), (-1, d))
    flat = None
    inside = None
    edges_all = []
    sizes = []
    for k in builtins.range(d):
        column = points[:, k]
        if isinstance(bins[k], Tensor):
            edges = bins[k].detach()
            if edges.dtype is not x.dtype:
                raise RuntimeError(
                    "torch.histogramdd: input tensor and bins tensors should have the same "
                    f"dtype, but got input with dtype {x.dtype.name} and bins for dimension "
                    f"{k} with dtype {edges.dtype.name}"
                )
            if edges.ndim != 1 or edges.shape[0] < 1:
                raise RuntimeError(
                    f"torch.histogramdd: bins tensor should have one dimension and at least 1 "
                    f"element, but got {edges.ndim} dimensions for dimension {k}"
                )
            n = edges.shape[0] - 1
            below = O.cast(O.ge(O.unsqueeze(column, -1), edges), dtypes.int64)
            pos = O.sub(O.sum(below, -1), 1)
            pos = O.clamp(pos, 0, builtins.max(n - 1, 0))
            ok = O.logical_and(O.ge(column, edges[0]), O.le(column, edges[-1]))
        else:
            n = int(bins[k])
            if n <= 0:
                raise RuntimeError(
                    f"torch.histogramdd: bins must be > 0, but got {n} for dimension {k}"
                )
            if range is not None:
                lo, hi = float(range[2 * k]), float(range[2 * k + 1])
            else:
                lo, hi = _host_range(column)  # (0, 1) without points, as PyTorch
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise RuntimeError(
                    f"torch.histogramdd: range of [{lo}, {hi}] is not finite for dimension {k}"
                )
            if lo > hi:
                raise RuntimeError(
                    f"torch.histogramdd: min should not exceed max, but got min {lo} max {hi} "
                    f"for dimension {k}"
                )
            if lo == hi:
                lo, hi = lo - 0.5, hi + 0.5
            pos, ok, edges = _bin_positions(column, lo, hi, n, x.dtype)
        edges_all.append(edges)
        sizes.append(builtins.max(n, 0))
        flat = pos if flat is None else O.add(O.mul(flat, builtins.max(n, 1)), pos)
        inside = ok if inside is None else O.logical_and(inside, ok)
    total = math.prod(sizes)
    w = O.cast(inside, x.dtype)
    if weight is not None:
        if tuple(weight.shape) != tuple(x.shape[:-1]):
            raise RuntimeError(
                "torch.histogramdd: if weight tensor is provided it should have the same shape "
                "as the input tensor excluding its innermost dimension, but got input with "
                f"shape {list(x.shape)} and weight with shape {list(weight.shape)}"
            )
        w = O.mul(w, O.reshape(O.cast(weight.detach(), x.dtype), (-1,)))
    if total:
        hist = O.scatter_add(O.zeros((total,), dtype=x.dtype), 0, flat, w)
    else:
        hist = O.zeros((0,), dtype=x.dtype)
    hist = O.reshape(hist, tuple(sizes))
    if density and total:
        hist = O.div(hist, O.sum(hist))
        for k, edges in enumerate(edges_all):
            widths = O.sub(edges[1:], edges[:-1])
            shape = [1] * d
            shape[k] = sizes[k]
            hist = O.div(hist, O.reshape(widths, tuple(shape)))
    return histogramdd_result(hist, tuple(edges_all))


def _dims(dim, ndim):
    if dim is None:
        return list(builtins.range(ndim))
    dims = [dim] if isinstance(dim, int) else list(dim)
    seen = []
    for d in dims:
        if d >= ndim or d < -ndim:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                f"but got {d})"
            )
        if d % ndim in seen:
            raise RuntimeError(f"dim {d % ndim} appears multiple times in the list of dims")
        seen.append(d % ndim)
    return seen


def _slice(x, d, start, stop=None):
    n = x.shape[d]
    start = start + n if start < 0 else start
    stop = n if stop is None else (stop + n if stop < 0 else stop)
    return O.narrow(x, d, start, stop - start)


def _along(v, d, ndim):
    """A 1-D tensor shaped to broadcast along dim ``d`` of an ``ndim``-D tensor."""
    shape = [1] * ndim
    shape[d] = v.shape[0]
    return O.reshape(v, tuple(shape))


def gradient(input, *, spacing=1, dim=None, edge_order=1):  # noqa: A002
    """Estimates of the partial derivatives of ``input`` along ``dim`` (every dim when
    ``None``), one tensor per dim: central differences in the interior, one-sided
    differences of order ``edge_order`` (1 or 2) at the ends. ``spacing`` is a scalar, one
    scalar per dim, or one 1-D tensor of coordinates per dim."""
    x = input
    dims = _dims(dim, x.ndim)
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    if spacing is None:
        spacing = 1
    if isinstance(spacing, (int, float, Tensor)) and not (
        isinstance(spacing, Tensor) and spacing.ndim > 0
    ):
        spacing = [spacing] * len(dims)
    spacing = list(spacing)
    if len(spacing) != len(dims):
        raise RuntimeError(
            "torch.gradient expected spacing to be unspecified, a scalar or it's spacing and "
            f"dim arguments to have the same length, but got a spacing argument of length "
            f"{len(spacing)} and a dim argument of length {len(dims)}."
        )
    for d in dims:
        if x.shape[d] < edge_order + 1:
            raise RuntimeError(
                "torch.gradient expected each dimension size to be at least edge_order+1"
            )
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = O.cast(x, dtypes.get_default_dtype())
    out = []
    for d, h in zip(dims, spacing):
        if isinstance(h, Tensor) and h.ndim == 1:
            out.append(_gradient_coordinates(x, d, h, edge_order))
        else:
            out.append(_gradient_uniform(x, d, h, edge_order))
    return tuple(out)


def _gradient_uniform(x, d, h, edge_order):
    center = O.div(O.sub(_slice(x, d, 2), _slice(x, d, 0, -2)), 2)
    s = [_slice(x, d, i, i + 1) for i in (0, 1, 2)] if edge_order == 2 else None
    if edge_order == 1:
        first = O.sub(_slice(x, d, 1, 2), _slice(x, d, 0, 1))
        last = O.sub(_slice(x, d, -1), _slice(x, d, -2, -1))
    else:
        first = O.add(O.add(O.mul(s[0], -1.5), O.mul(s[1], 2.0)), O.mul(s[2], -0.5))
        e = [_slice(x, d, -3, -2), _slice(x, d, -2, -1), _slice(x, d, -1)]
        last = O.add(O.add(O.mul(e[0], 0.5), O.mul(e[1], -2.0)), O.mul(e[2], 1.5))
    return O.div(O.cat([first, center, last], d), h)


def _gradient_coordinates(x, d, coords, edge_order):
    if coords.shape[0] != x.shape[d]:
        raise RuntimeError(
            f"torch.gradient expected each tensor to be on the same device and to have as many "
            f"coordinates ({coords.shape[0]}) as its dim has elements ({x.shape[d]})"
        )
    nd = x.ndim
    dx = O.sub(coords[1:], coords[:-1])
    dx1, dx2 = dx[:-1], dx[1:]
    a = O.div(O.neg(dx2), O.mul(dx1, O.add(dx1, dx2)))
    b = O.div(O.sub(dx2, dx1), O.mul(dx1, dx2))
    c = O.div(dx1, O.mul(dx2, O.add(dx1, dx2)))
    center = O.add(
        O.add(
            O.mul(_along(a, d, nd), _slice(x, d, 0, -2)),
            O.mul(_along(b, d, nd), _slice(x, d, 1, -1)),
        ),
        O.mul(_along(c, d, nd), _slice(x, d, 2)),
    )
    if edge_order == 1:
        first = O.div(O.sub(_slice(x, d, 1, 2), _slice(x, d, 0, 1)), dx[0])
        last = O.div(O.sub(_slice(x, d, -1), _slice(x, d, -2, -1)), dx[-1])
    else:
        h0, h1 = dx[0], dx[1]
        a = O.div(O.neg(O.add(O.mul(h0, 2.0), h1)), O.mul(h0, O.add(h0, h1)))
        b = O.div(O.add(h0, h1), O.mul(h0, h1))
        c = O.div(O.neg(h0), O.mul(h1, O.add(h0, h1)))
        first = O.add(
            O.add(O.mul(a, _slice(x, d, 0, 1)), O.mul(b, _slice(x, d, 1, 2))),
            O.mul(c, _slice(x, d, 2, 3)),
        )
        h0, h1 = dx[-2], dx[-1]
        a = O.div(h1, O.mul(h0, O.add(h1, h0)))
        b = O.div(O.neg(O.add(h1, h0)), O.mul(h1, h0))
        c = O.div(O.add(O.mul(h1, 2.0), h0), O.mul(h1, O.add(h1, h0)))
        last = O.add(
            O.add(O.mul(a, _slice(x, d, -3, -2)), O.mul(b, _slice(x, d, -2, -1))),
            O.mul(c, _slice(x, d, -1)),
        )
    return O.cat([first, center, last], d)
