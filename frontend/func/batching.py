"""vmap's interpreter and one batching rule per primitive (``PRIMITIVES[name].batch``).

Inside ``vmap`` a tensor is a ``BatchTensor``: a value of the level below with one more
dimension, ``bdim``, the batch (``None``: the same for every example). User code sees the
per-example shape. ``BatchTrace.process`` hands a primitive whose inputs are batched to its
rule, ``rule(size, vals, dims, **params) -> (out, out_dim)``, which runs the batched
primitive once on the level below (like JAX's BatchTrace): under ``kiln.jit`` a vmapped
function is one graph of batched primitives, not a loop.

Most rules move the batch dimension to the front and shift the primitive's axes by one.
"""

from __future__ import annotations

from kiln.compiler.primitives import PRIMITIVES as P

from .. import ops
from ..dispatch import bind
from ..jit.function import jit
from ..tensor import Size, Tensor
from .levels import Level, LevelTensor
from .pytree import flatten, unflatten


class BatchTensor(LevelTensor):
    """A per-example view of ``_val``, batched along ``_bdim`` (``None``: not batched)."""

    __slots__ = ("_val", "_bdim")

    def __init__(self, trace, val, bdim):
        self._start(trace)
        self._val = val
        self._bdim = bdim

    @property
    def shape(self) -> Size:
        s = self._val.shape
        d = self._bdim
        return s if d is None else Size(s[:d] + s[d + 1 :])

    @property
    def dtype(self):
        return self._val.dtype

    @property
    def device(self):
        return self._val.device

    def detach(self):
        return BatchTensor(self._trace, self._val.detach(), self._bdim)

    def _data_dependent(self, what):
        raise RuntimeError(
            f"vmap: {what} of a batched {self.dtype.name}{list(self.shape)} tensor needs its "
            "value, which differs between the examples of the batch (data-dependent control "
            "flow is not supported inside vmap; use kiln.where)"
        )

    def numpy(self):
        self._data_dependent("numpy()")

    def __array__(self, dtype=None, copy=None):
        self._data_dependent("converting to a NumPy array")

    def item(self):
        self._data_dependent("item()")

    def tolist(self):
        self._data_dependent("tolist()")

    def __bool__(self):
        self._data_dependent("bool()")

    def __float__(self):
        self._data_dependent("float()")

    def __int__(self):
        self._data_dependent("int()")

    def __index__(self):
        self._data_dependent("using it as an index")

    def __repr__(self) -> str:
        return f"BatchedTensor(bdim={self._bdim}, value={self._val!r})"


class BatchTrace(Level):
    """The interpreter of one ``vmap``: ``size`` examples; ``randomness`` as torch.func."""

    def __init__(self, parent, size: int, randomness: str = "error"):
        super().__init__(parent)
        self.size = size
        self.randomness = randomness

    def lift(self, x):
        """``x`` as a tensor of this level (a fresh wrapper: the caller may mark it)."""
        if type(x) is BatchTensor and x._trace is self:
            return BatchTensor(self, x._val, x._bdim)
        return BatchTensor(self, x, None)

    def unwrap(self, x):
        if type(x) is BatchTensor and x._trace is self:
            return x._val, x._bdim
        return x, None

    def process(self, prim, inputs, params):
        vals, dims = [], []
        mine = batched = False
        for x in inputs:
            if type(x) is BatchTensor and x._trace is self:
                mine = True
                vals.append(x._val)
                dims.append(x._bdim)
                batched = batched or x._bdim is not None
            else:
                vals.append(x)
                dims.append(None)
        with self.below():
            if "random" in prim.properties:
                out, dim = self._random(prim, vals, params)
            elif not batched:
                out, dim = bind(prim, vals, params), None
            elif prim.batch is None:
                raise NotImplementedError(
                    f"vmap: primitive {prim.name} has no batching rule (inputs: "
                    + ", ".join(f"{x.dtype.name}{list(x.shape)}" for x in inputs)
                    + ")"
                )
            else:
                out, dim = prim.batch(self.size, vals, dims, **params)
        if not mine and dim is None:
            return out
        result = BatchTensor(self, out, dim)
        if "view" in prim.properties and isinstance(inputs[0], LevelTensor):
            result._vc = inputs[0]._vc  # a view shares its base's version counter
        if "writable_view" in prim.properties:
            result._view_of = (inputs[0], prim.name, params)
        return result

    def call_jitted(self, jitted, args, kwargs):
        """``vmap(jit(f))``: compile ``jit(vmap(f))`` once per batching of the arguments and
        run it on the unwrapped values, so the batched function is one compiled graph."""
        if self.parent is not None or kwargs or jitted.static_argnums or jitted.static_argnames:
            return jitted.fn(*args, **kwargs)  # under a trace inlining is one graph already
        leaves, spec = flatten(args)
        vals, dims = [], []
        for x in leaves:
            if type(x) is BatchTensor and x._trace is self:
                vals.append(x._val)
                dims.append(x._bdim)
            elif isinstance(x, LevelTensor) or not isinstance(x, Tensor):
                return jitted.fn(*args, **kwargs)
            else:
                vals.append(x)
                dims.append(None)
        if all(d is None for d in dims):
            return jitted.fn(*args, **kwargs)
        in_dims = unflatten(spec, dims)
        variants = jitted.__dict__.setdefault("_batched_variants", {})
        key = (spec, tuple(dims), self.randomness)
        compiled = variants.get(key)
        if compiled is None:
            from .transforms import vmap  # noqa: PLC0415 - transforms imports this module

            batched = vmap(jitted.fn, in_dims=in_dims, randomness=self.randomness)
            compiled = variants[key] = jit(batched)
        with self.below():
            out = compiled(*unflatten(spec, vals))
        out_leaves, out_spec = flatten(out)
        return unflatten(out_spec, [BatchTensor(self, o, 0) for o in out_leaves])

    def _random(self, prim, vals, params):
        if self.randomness == "error":
            raise RuntimeError(
                f"vmap: called random operation {prim.name} while in randomness error mode. "
                "Please either use the 'same' or 'different' randomness flags on vmap or "
                "perform the randomness operation out of vmap"
            )
        if self.randomness == "same":
            return bind(prim, vals, params), None
        return prim.batch(self.size, vals, [None] * len(vals), **params)

    def assign(self, x, new) -> None:
        val, dim = self.unwrap(new)
        if type(x) is BatchTensor and x._trace is self:
            x._val, x._bdim = val, dim
            return
        if dim is not None:
            raise RuntimeError(
                f"vmap: an in-place update of a {x.dtype.name}{list(x.shape)} tensor that is "
                "the same for every example with a batched value is not possible (the "
                "result would need a batch dimension); use the out-of-place operation"
            )
        self.assign_below(x, val)


# ------------------------------------------------------------------------ helpers


def to_front(x, dim):
    """``x`` with dimension ``dim`` moved to the front (``dim`` not None)."""
    if dim == 0:
        return x
    axes = (dim,) + tuple(i for i in range(x.ndim) if i != dim)
    return bind(P["permute"], (x,), {"axes": axes})


def move_dim(x, dim, to):
    """``x`` with dimension ``dim`` moved to position ``to``."""
    if dim == to:
        return x
    order = [i for i in range(x.ndim) if i != dim]
    order.insert(to, dim)
    return bind(P["permute"], (x,), {"axes": tuple(order)})


def _front(size, x, dim):
    """``x`` batched at the front, broadcasting an unbatched one over the batch."""
    if dim is not None:
        return to_front(x, dim)
    x = bind(P["reshape"], (x,), {"shape": (1, *x.shape)})
    return bind(P["expand"], (x,), {"shape": (size, *x.shape[1:])})


def _aligned(vals, dims, min_rank=0):
    """Batched inputs at the front with ones inserted so that broadcasting from the right
    lines up their per-example dimensions with the unbatched inputs'."""
    rank = max([min_rank] + [x.ndim - (d is not None) for x, d in zip(vals, dims)])
    out = []
    for x, d in zip(vals, dims):
        if d is not None:
            x = to_front(x, d)
            k = x.ndim - 1
            if k < rank:
                x = bind(
                    P["reshape"], (x,), {"shape": (x.shape[0],) + (1,) * (rank - k) + x.shape[1:]}
                )
        out.append(x)
    return out


# -------------------------------------------------------------------------- rules


def _broadcasting(prim):
    def rule(size, vals, dims, **params):
        return bind(prim, _aligned(vals, dims), params), 0

    return rule


def _shift(key):
    """Rules of one-input primitives whose parameter ``key`` names an axis (or axes)."""

    def rule(prim):
        def batched(size, vals, dims, **params):
            x = to_front(vals[0], dims[0])
            value = params[key]
            params = dict(params)
            params[key] = tuple(a + 1 for a in value) if isinstance(value, tuple) else value + 1
            return bind(prim, (x, *vals[1:]), params), 0

        return batched

    return rule


def _reshape(size, vals, dims, shape):
    x = to_front(vals[0], dims[0])
    return bind(P["reshape"], (x,), {"shape": (x.shape[0], *shape)}), 0


def _permute(size, vals, dims, axes):
    x = to_front(vals[0], dims[0])
    return bind(P["permute"], (x,), {"axes": (0,) + tuple(a + 1 for a in axes)}), 0


def _expand(size, vals, dims, shape):
    (x,) = _aligned(vals, dims, min_rank=len(shape))
    return bind(P["expand"], (x,), {"shape": (x.shape[0], *shape)}), 0


def _slice(size, vals, dims, starts, stops, steps):
    x = to_front(vals[0], dims[0])
    params = {"starts": (0, *starts), "stops": (x.shape[0], *stops), "steps": (1, *steps)}
    return bind(P["slice"], (x,), params), 0


def _pad(size, vals, dims, pads, value):
    x = to_front(vals[0], dims[0])
    return bind(P["pad"], (x,), {"pads": ((0, 0), *pads), "value": value}), 0


def _concat(size, vals, dims, axis):
    xs = [_front(size, x, d) for x, d in zip(vals, dims)]
    return bind(P["concat"], xs, {"axis": axis + 1}), 0


def _offset_indices(size, idx, n):
    """Per-example indices into a batch's rows flattened into one axis of ``size * n``."""
    idx = ops.where(ops.lt(idx, 0), ops.add(idx, n), idx)
    shape = (size,) + (1,) * (idx.ndim - 1)
    offsets = ops.reshape(ops.arange(0, size * n, n, dtype=idx.dtype), shape)
    return ops.add(idx, offsets)


def _take(size, vals, dims, axis):
    (x, idx), (dx, di) = vals, dims
    if di is None:
        return bind(P["take"], (to_front(x, dx), idx), {"axis": axis + 1}), 0
    if dx is None:
        return bind(P["take"], (x, idx), {"axis": axis}), axis + di
    # both batched: one take over the batch and the axis flattened together
    x = to_front(x, dx)
    n = x.shape[axis + 1]
    x = move_dim(x, axis + 1, 1)
    x = bind(P["reshape"], (x,), {"shape": (size * n, *x.shape[2:])})
    idx = _offset_indices(size, to_front(idx, di), n)
    out = bind(P["take"], (x, idx), {"axis": 0})  # (B, I..., pre..., post...)
    k = idx.ndim - 1
    order = (0,) + tuple(range(1 + k, 1 + k + axis)) + tuple(range(1, 1 + k))
    order += tuple(range(1 + k + axis, out.ndim))
    return bind(P["permute"], (out,), {"axes": order}), 0


def _take_grad(size, vals, dims, axis, size_):
    (g, idx), (dg, di) = vals, dims
    if di is None:
        return bind(P["take_grad"], (to_front(g, dg), idx), {"axis": axis + 1, "size": size_}), 0
    g = _front(size, g, dg)  # (B, pre..., I..., post...)
    idx = to_front(idx, di)
    k = idx.ndim - 1
    order = (0,) + tuple(range(1 + axis, 1 + axis + k)) + tuple(range(1, 1 + axis))
    order += tuple(range(1 + axis + k, g.ndim))
    g = bind(P["permute"], (g,), {"axes": order})  # (B, I..., pre..., post...)
    idx = _offset_indices(size, idx, size_)
    out = bind(P["take_grad"], (g, idx), {"axis": 0, "size": size * size_})
    out = bind(P["reshape"], (out,), {"shape": (size, size_, *out.shape[1:])})
    return move_dim(out, 1, 1 + axis), 0


def _gather(size, vals, dims, axis):
    x, idx = (_front(size, v, d) for v, d in zip(vals, dims))
    return bind(P["gather"], (x, idx), {"axis": axis + 1}), 0


def _scatter_add(size, vals, dims, axis, size_):
    g, idx = (_front(size, v, d) for v, d in zip(vals, dims))
    return bind(P["scatter_add"], (g, idx), {"axis": axis + 1, "size": size_}), 0


def _matmul(size, vals, dims):
    (a, b), (da, db) = vals, dims
    if db is None and b.ndim == 2 and a.ndim == 3:
        # a batch of matrices times one matrix: one GEMM over the rows of the whole batch
        a = to_front(a, da)
        n, k = a.shape[1], a.shape[2]
        rows = bind(P["reshape"], (a,), {"shape": (size * n, k)})
        out = bind(P["matmul"], (rows, b), {})
        return bind(P["reshape"], (out,), {"shape": (size, n, b.shape[1])}), 0
    if da is None and a.ndim == 2 and b.ndim == 3:
        # one matrix times a batch of matrices: the batch's columns side by side
        b = move_dim(b, db, 1)  # (k, batch, m)
        k, m = b.shape[0], b.shape[2]
        cols = bind(P["reshape"], (b,), {"shape": (k, size * m)})
        out = bind(P["matmul"], (a, cols), {})
        return bind(P["reshape"], (out,), {"shape": (a.shape[0], size, m)}), 1
    return bind(P["matmul"], _aligned(vals, dims, min_rank=2), {}), 0


def _const(size, vals, dims, value):
    return bind(P["const"], vals, {"value": value}), None


def _uniform(size, vals, dims, shape, dtype):
    # reached only with randomness="different": one independent draw per example
    return bind(P["uniform"], vals, {"shape": (size, *shape), "dtype": dtype}), 0


def _renamed_size(rule):
    """``take_grad`` and ``scatter_add`` call a parameter ``size``, like the batch size."""

    def batched(size, vals, dims, /, **params):
        return rule(size, vals, dims, params["axis"], params["size"])

    return batched


_AXIS_RULES = {
    "sum": "axes",
    "max": "axes",
    "argmax": "axis",
    "argsort": "axis",
    "cumsum": "axis",
}

_RULES = {
    "reshape": _reshape,
    "permute": _permute,
    "expand": _expand,
    "slice": _slice,
    "pad": _pad,
    "concat": _concat,
    "take": _take,
    "take_grad": _renamed_size(_take_grad),
    "gather": _gather,
    "scatter_add": _renamed_size(_scatter_add),
    "matmul": _matmul,
    "const": _const,
    "uniform": _uniform,
}


def _attach():
    for name, prim in P.items():
        if prim.batch is not None:
            continue
        if name in _RULES:
            prim.def_batch(_RULES[name])
        elif name in _AXIS_RULES:
            prim.def_batch(_shift(_AXIS_RULES[name])(prim))
        elif prim.kind == "elementwise":
            prim.def_batch(_broadcasting(prim))


_attach()
