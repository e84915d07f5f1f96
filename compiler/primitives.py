"""The op table: every primitive kiln knows, each defined exactly once, in one record.

A primitive's record holds every fact about it that the compiler uses: a name, a kind
(``elementwise``, ``reduction``, ``movement``, ``index``, ``matmul``, ``sort``, ``scan``,
``source``), a shape/dtype rule, a NumPy reference implementation, per-backend scalar
expressions, a set of properties, a reduction's identity and combine, and (attached by the
frontend) its VJP, JVP and batching rules. Everything a user calls that is not here (``sigmoid``,
``softmax``, ``mean``, losses, layers) is a composite over these. Passes and back ends ask
a record for a property (``has_property(node, "view")``), never for a list of names; a
test that names one op (``permute(permute(x))`` in simplify) is a rewrite *pattern* on
that op's parameters, not a property.

Properties (``KNOWN_PROPERTIES``; ``_register`` refuses any other name):

``commutative``
    the inputs may be swapped (``add``, ``mul``, ``maximum``, ``minimum``, ``eq``, ``ne``):
    CSE sorts their operands.
``view``
    the result may share the input's memory (``reshape``, ``permute``, ``expand``,
    ``slice``): NumPy returns a view, the memory plan gives it no buffer of its own.
``writable_view``
    writes through the result reach the input (``reshape``, ``permute``, ``slice``; not
    ``expand``, whose view is read-only). Every writable view is a view. The frontend uses
    it to make an in-place update of a view change its base under tracing too.
``loop_alias``
    inside a fused loop kernel the result *is* its input read at the same loop index, so a
    kernel reuses the input's variable (``expand``: a broadcast; ``reshape`` when it only
    adds or drops leading ones, which fusion checks).
``keeps_order``
    the result holds the input's elements in the same row-major order; only the shape
    changes (``reshape``): a view of a contiguous array is contiguous, and a fused kernel
    may re-label it only when it adds or drops leading ones.
``accumulating_reduction``
    a reduction that folds its input into an accumulator starting at ``identity`` with the
    binary elementwise primitive ``combine``, as ``acc = combine(item, acc)`` (``sum``: 0
    and ``add``; ``max``: -inf and ``maximum``, NaN-propagating). Row, column and CUDA
    kernels compute exactly these.
``rounds``
    (accumulating reductions) each combine step rounds (``sum``), so the order of
    accumulation changes the result: CPU kernels accumulate long float32 reductions and
    partial results in float64 (closer to NumPy's pairwise sum). ``max`` only selects.
``writes_out``
    the NumPy implementation takes ``out=``, an array to write the result into (``sum``,
    ``max``, ``matmul``): a library call writes into a planned arena or pool buffer.
``random``
    draws random numbers from its seed input (``uniform``): never constant-folded.

Scalar expressions (``exprs``) are ``str.format`` templates over the input variables
(``"({0} + {1})"``; ``{dtype}`` is the result's dtype). Keys: ``"default"``, a backend
(``"cpu"``, ``"cuda"``), or a backend or ``"default"`` qualified by the result dtype
(``"cpu:float32"``, ``"default:bool"``); ``Primitive.expression(backend, dtype)`` picks
the most specific, so a backend overrides the default and never undoes another backend's
choice. Elementwise primitives all have a default. For a reduction, an entry reduces one
whole contiguous 1-D row ``{0}`` (CPU ``max``: the vectorized ``row_max_<dtype>`` helper);
a backend without one accumulates with ``combine``.

Conventions that keep the table small and the IR explicit:

* elementwise binary primitives take inputs of *one* dtype; the frontend inserts ``cast``
  nodes (PyTorch's promotion rules live in ``kiln.dtypes``, not here);
* elementwise primitives broadcast with NumPy's rules, so the IR needs no ``expand`` before
  them;
* reductions take normalised, sorted, non-negative ``axes`` and ``keepdims``.

>>> PRIMITIVES["add"].impl(np.ones(2), np.ones(2))
array([2., 2.])
>>> exp = PRIMITIVES["exp"]
>>> exp.expression("cpu", "float32"), exp.expression("cuda", "float32")
('fast_exp({0})', 'math.exp({0})')
>>> sorted(name for name, prim in PRIMITIVES.items() if "view" in prim.properties)
['expand', 'permute', 'reshape', 'slice']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .errors import ShapeError

# dtype names used in the IR (NumPy's names); short forms for printing.
DTYPE_SHORT = {
    "float32": "f32",
    "float64": "f64",
    "float16": "f16",
    "int32": "i32",
    "int64": "i64",
    "int16": "i16",
    "int8": "i8",
    "uint8": "u8",
    "bool": "b8",
}
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
INT_DTYPES = frozenset({"int8", "int16", "int32", "int64", "uint8"})


KNOWN_PROPERTIES = {
    "commutative": "the inputs may be swapped",
    "view": "the result may share the input's memory",
    "writable_view": "writes through the result reach the input",
    "loop_alias": "in a fused loop the result is its input read at the same index",
    "keeps_order": "the result holds the input's elements in the same row-major order",
    "accumulating_reduction": "folds the input from `identity` with `combine`",
    "rounds": "each combine step rounds: the accumulation order changes the result",
    "writes_out": "the NumPy implementation takes out=",
    "random": "draws random numbers from its seed input",
}


@dataclass(frozen=True, eq=False)
class Primitive:
    """One operation of the IR (see the module docstring for the fields' vocabulary).

    ``shape_rule(shapes, dtypes, **params) -> (shape, dtype)`` raises ``ShapeError`` with a
    message naming the operation and the shapes/dtypes. ``impl(*arrays, **params)`` is the
    NumPy reference. ``exprs`` maps ``"default"``/backend/``"backend:dtype"`` keys to scalar
    expression templates (``expression`` picks one). ``identity`` and ``combine`` (the name
    of a binary elementwise primitive) define an accumulating reduction.

    The rules that need tensor operations live in the frontend, which attaches them to the
    record at import (the compiler never imports the frontend): ``vjp(g, *inputs, **params)``
    returns one gradient per input, and ``vjp_reads_inputs`` says whether it reads the
    inputs' values (then they must not change in place between forward and backward).
    ``jvp(primals, tangents, out, **params)`` returns the output's tangent (``None``: zero;
    a ``None`` tangent in is a zero too) and ``batch(batch_size, vals, dims, **params)``
    returns ``(out, out_dim)`` for inputs batched along ``dims`` (``None``: not batched):
    the rules of ``kiln.func``'s forward mode and ``vmap``.
    """

    name: str
    kind: str  # elementwise | reduction | movement | index | matmul | sort | scan | source
    shape_rule: Callable
    impl: Callable
    exprs: Mapping[str, str] = field(default_factory=dict)
    differentiable: bool = True
    properties: frozenset = field(default_factory=frozenset)
    identity: float | None = None
    combine: str | None = None
    vjp: Callable | None = field(default=None, repr=False)
    vjp_reads_inputs: bool = False
    jvp: Callable | None = field(default=None, repr=False)
    batch: Callable | None = field(default=None, repr=False)

    @property
    def expr(self) -> str | None:
        """The default scalar expression (``None`` for non-elementwise primitives)."""
        return self.exprs.get("default")

    def has(self, prop: str) -> bool:
        """Whether the primitive has property ``prop`` (a name from ``KNOWN_PROPERTIES``)."""
        if prop not in KNOWN_PROPERTIES:
            raise KeyError(
                f"unknown primitive property {prop!r}; known: {sorted(KNOWN_PROPERTIES)}"
            )
        return prop in self.properties

    def expression(self, backend: str, dtype: str) -> str | None:
        """The scalar template for ``backend`` and result ``dtype``: the first entry of
        ``exprs`` among ``backend:dtype``, ``backend``, ``default:dtype``, ``default``.

        >>> PRIMITIVES["floor"].expression("cpu", "float64")
        'np.floor({0})'
        """
        for key in (f"{backend}:{dtype}", backend, f"default:{dtype}", "default"):
            if key in self.exprs:
                return self.exprs[key]
        return None

    def identity_for(self, dtype: str):
        """``identity`` as a scalar of ``dtype``; an infinite one becomes the dtype's
        least/greatest value where the dtype has no infinity (ints, bool).

        >>> PRIMITIVES["max"].identity_for("int8"), PRIMITIVES["sum"].identity_for("float32")
        (np.int8(-128), np.float32(0.0))
        """
        if self.identity is None:
            raise ValueError(f"{self.name} has no identity: it is not an accumulating reduction")
        kind = np.dtype(dtype).kind
        if math.isinf(self.identity) and kind in "biu":
            if kind == "b":
                return np.bool_(self.identity > 0)
            info = np.iinfo(dtype)
            return np.dtype(dtype).type(info.max if self.identity > 0 else info.min)
        return np.dtype(dtype).type(self.identity)

    def def_vjp(self, rule: Callable, *, reads_inputs: bool | tuple | Callable) -> Callable:
        """Attach the VJP rule (once); returns ``rule`` so it can be used as a decorator.

        ``reads_inputs``: whether the rule reads its inputs' values (then they must not
        change in place before backward), the positions of the inputs it reads, or a
        function of the inputs returning those positions.
        """
        if not self.differentiable:
            raise ValueError(f"{self.name} is not differentiable: it takes no VJP rule")
        if self.vjp is not None:
            raise ValueError(f"{self.name} already has a VJP rule")
        object.__setattr__(self, "vjp", rule)
        object.__setattr__(self, "vjp_reads_inputs", reads_inputs)
        return rule

    def def_jvp(self, rule: Callable) -> Callable:
        """Attach the JVP rule (once; non-differentiable primitives get one that says zero)."""
        if self.jvp is not None:
            raise ValueError(f"{self.name} already has a JVP rule")
        object.__setattr__(self, "jvp", rule)
        return rule

    def def_batch(self, rule: Callable) -> Callable:
        """Attach the batching rule (once)."""
        if self.batch is not None:
            raise ValueError(f"{self.name} already has a batching rule")
        object.__setattr__(self, "batch", rule)
        return rule

    @property
    def has_jvp(self) -> bool:
        return self.jvp is not None

    @property
    def has_batch(self) -> bool:
        return self.batch is not None

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


PRIMITIVES: dict[str, Primitive] = {}


def _register(
    name,
    kind,
    shape_rule,
    impl,
    exprs=None,
    differentiable=True,
    properties=(),
    identity=None,
    combine=None,
):
    unknown = set(properties) - set(KNOWN_PROPERTIES)
    if unknown:
        raise ValueError(f"{name}: unknown properties {sorted(unknown)} (see KNOWN_PROPERTIES)")
    if isinstance(exprs, str):
        exprs = {"default": exprs}
    prim = Primitive(
        name,
        kind,
        shape_rule,
        impl,
        dict(exprs or {}),
        differentiable,
        frozenset(properties),
        identity,
        combine,
    )
    PRIMITIVES[name] = prim
    return prim


def primitive_of(node) -> Primitive | None:
    """The record of ``node``'s op (``None`` for graph inputs, which are no primitive)."""
    return PRIMITIVES.get(node.op)


def has_property(node, prop: str) -> bool:
    """Whether ``node``'s primitive has ``prop``; False for graph inputs.

    >>> from kiln.compiler.ir import Graph
    >>> g = Graph(); x = g.add_input((2, 3), "float32")
    >>> has_property(g.add_node("permute", [x], {"axes": (1, 0)}), "view")
    True
    """
    prim = primitive_of(node)
    if prim is None:
        if prop not in KNOWN_PROPERTIES:
            raise KeyError(f"unknown primitive property {prop!r}")
        return False
    return prim.has(prop)


def is_accumulating_reduction(node) -> bool:
    """Whether ``node`` is a reduction with an identity and a combine (``sum``, ``max``)."""
    return has_property(node, "accumulating_reduction")


def fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# ----------------------------------------------------------------------------- shape rules


def broadcast_shapes(op: str, *shapes) -> tuple:
    """NumPy/PyTorch broadcasting, with an error that names the op and both shapes."""
    if len(shapes) == 2 and shapes[0] == shapes[1]:  # (most calls: the loop below is slow)
        return tuple(shapes[0])
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-ndim, 0):
        size = 1
        for s in shapes:
            if len(s) >= -axis:
                d = s[axis]
                if d == 1:
                    continue
                if size != 1 and d != size:
                    shown = " and ".join(fmt_shape(s) for s in shapes)
                    raise ShapeError(
                        f"{op}: shapes {shown} cannot be broadcast together "
                        f"(dimension {axis} is {size} vs {d})"
                    )
                size = d
        out.append(size)
    return tuple(out)


def _same_dtype(op, dtypes):
    if len(dtypes) == 2 and dtypes[0] == dtypes[1]:
        return dtypes[0]
    if len(set(dtypes)) > 1:
        raise ShapeError(f"{op}: inputs must share one dtype, got {', '.join(dtypes)}")
    return dtypes[0]


def _unary_rule(op, float_only=False):
    def rule(shapes, dtypes):
        if float_only and dtypes[0] not in FLOAT_DTYPES:
            raise ShapeError(f"{op}: expected a floating point input, got {dtypes[0]}")
        return tuple(shapes[0]), dtypes[0]

    return rule


def _binary_rule(op, out_dtype=None):
    def rule(shapes, dtypes):
        dtype = _same_dtype(op, dtypes)
        return broadcast_shapes(op, *shapes), out_dtype or dtype

    return rule


def _where_rule(shapes, dtypes):
    if dtypes[0] != "bool":
        raise ShapeError(f"where: condition must be bool, got {dtypes[0]}")
    dtype = _same_dtype("where", dtypes[1:])
    return broadcast_shapes("where", *shapes), dtype


def _cast_rule(shapes, dtypes, dtype):
    return tuple(shapes[0]), dtype


def _reduce_shape(op, shape, axes, keepdims):
    for a in axes:
        if not 0 <= a < len(shape):
            raise ShapeError(f"{op}: axis {a} out of range for shape {fmt_shape(shape)}")
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_rule(op, out_dtype=None):
    def rule(shapes, dtypes, axes, keepdims):
        if op in ("max", "min") and any(shapes[0][a] == 0 for a in axes):
            raise ShapeError(
                f"{op}: cannot reduce over an empty dimension of {fmt_shape(shapes[0])}"
            )
        return _reduce_shape(op, shapes[0], axes, keepdims), out_dtype or dtypes[0]

    return rule


def _argmax_rule(shapes, dtypes, axis, keepdims):
    return _reduce_shape("argmax", shapes[0], (axis,), keepdims), "int64"


def _reshape_rule(shapes, dtypes, shape):
    if math.prod(shape) != math.prod(shapes[0]):
        raise ShapeError(
            f"reshape: cannot reshape {fmt_shape(shapes[0])} ({math.prod(shapes[0])} elements)"
            f" into {fmt_shape(shape)} ({math.prod(shape)} elements)"
        )
    return tuple(shape), dtypes[0]


def _permute_rule(shapes, dtypes, axes):
    if sorted(axes) != list(range(len(shapes[0]))):
        raise ShapeError(
            f"permute: {tuple(axes)} is not a permutation of the dimensions of "
            f"{fmt_shape(shapes[0])}"
        )
    return tuple(shapes[0][a] for a in axes), dtypes[0]


def _expand_rule(shapes, dtypes, shape):
    src = shapes[0]
    if len(shape) < len(src):
        raise ShapeError(
            f"expand: cannot expand {fmt_shape(src)} to fewer dimensions {fmt_shape(shape)}"
        )
    for s, d in zip(src[::-1], shape[::-1]):
        if s != 1 and s != d:
            raise ShapeError(f"expand: cannot expand {fmt_shape(src)} to {fmt_shape(shape)}")
    return tuple(shape), dtypes[0]


def _slice_rule(shapes, dtypes, starts, stops, steps):
    out = []
    for d, (a, b, s) in zip(shapes[0], zip(starts, stops, steps)):
        out.append(len(range(a, b, s)) if 0 <= a <= d and 0 <= b <= d else _bad_slice(shapes, a, b))
    return tuple(out), dtypes[0]


def _bad_slice(shapes, a, b):
    raise ShapeError(f"slice: bounds {a}:{b} out of range for shape {fmt_shape(shapes[0])}")


def _pad_rule(shapes, dtypes, pads, value):
    return tuple(d + lo + hi for d, (lo, hi) in zip(shapes[0], pads)), dtypes[0]


def _concat_rule(shapes, dtypes, axis):
    first = shapes[0]
    dtype = _same_dtype("concat", dtypes)
    for s in shapes[1:]:
        if len(s) != len(first) or any(
            a != b for i, (a, b) in enumerate(zip(s, first)) if i != axis
        ):
            shown = ", ".join(fmt_shape(x) for x in shapes)
            raise ShapeError(f"concat: shapes {shown} differ outside dimension {axis}")
    out = list(first)
    out[axis] = sum(s[axis] for s in shapes)
    return tuple(out), dtype


def _check_index_dtype(op, dtype):
    if dtype not in INT_DTYPES:
        raise ShapeError(f"{op}: indices must be an integer tensor, got {dtype}")


def _take_rule(shapes, dtypes, axis):
    _check_index_dtype("take", dtypes[1])
    x, idx = shapes
    return tuple(x[:axis]) + tuple(idx) + tuple(x[axis + 1 :]), dtypes[0]


def _take_grad_rule(shapes, dtypes, axis, size):
    # inputs: (grad of take's output, indices) -> gradient of take's first input
    _check_index_dtype("take_grad", dtypes[1])
    g, idx = shapes
    n = len(idx)
    return tuple(g[:axis]) + (size,) + tuple(g[axis + n :]), dtypes[0]


def _gather_rule(shapes, dtypes, axis):
    _check_index_dtype("gather", dtypes[1])
    x, idx = shapes
    if len(x) != len(idx):
        raise ShapeError(
            f"gather: index {fmt_shape(idx)} must have as many dimensions as input {fmt_shape(x)}"
        )
    return tuple(idx), dtypes[0]


def _scatter_add_rule(shapes, dtypes, axis, size):
    _check_index_dtype("scatter_add", dtypes[1])
    g = list(shapes[0])
    g[axis] = size
    return tuple(g), dtypes[0]


def _matmul_rule(shapes, dtypes):
    a, b = shapes
    dtype = _same_dtype("matmul", dtypes)
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(
            f"matmul: primitive needs 2-D or batched inputs, got {fmt_shape(a)} @ {fmt_shape(b)}"
        )
    if a[-1] != b[-2]:
        raise ShapeError(
            f"matmul: inner dimensions differ: {fmt_shape(a)} @ {fmt_shape(b)} ({a[-1]} != {b[-2]})"
        )
    batch = broadcast_shapes("matmul", a[:-2], b[:-2])
    return batch + (a[-2], b[-1]), dtype


def _argsort_rule(shapes, dtypes, axis, descending):
    if not 0 <= axis < max(len(shapes[0]), 1):
        raise ShapeError(f"argsort: axis {axis} out of range for shape {fmt_shape(shapes[0])}")
    return tuple(shapes[0]), "int64"


def _cumsum_rule(shapes, dtypes, axis):
    if not 0 <= axis < max(len(shapes[0]), 1):
        raise ShapeError(f"cumsum: axis {axis} out of range for shape {fmt_shape(shapes[0])}")
    return tuple(shapes[0]), dtypes[0]


_DTYPE_NAMES: dict = {}  # numpy dtype -> its name (``dtype.name`` is computed in Python)


def _const_rule(shapes, dtypes, value):
    name = _DTYPE_NAMES.get(value.dtype)
    if name is None:
        name = _DTYPE_NAMES[value.dtype] = value.dtype.name
    return tuple(value.shape), name


def _uniform_rule(shapes, dtypes, shape, dtype):
    return tuple(shape), dtype


# ---------------------------------------------------------------------- implementations


_ERF_UFUNC = np.frompyfunc(math.erf, 1, 1)


def _np_sign(x):
    s = np.sign(x)
    if s.dtype.kind == "f":
        s = np.where(s != s, 0, s) + 0  # nan -> 0, and -0.0 + 0 = +0.0: PyTorch's sign
    return s


def _np_erf(x):
    x = np.asarray(x)
    try:  # SciPy is optional; use it when present (much faster).
        from scipy.special import erf

        return erf(x).astype(x.dtype, copy=False)
    except ImportError:
        return np.asarray(_ERF_UFUNC(x), dtype=np.float64).astype(x.dtype, copy=False)


def _safe_div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.true_divide(a, b)


def _safe(f):
    def g(*a):
        with np.errstate(all="ignore"):
            return f(*a)

    return g


def _pow(a, b, out=None):
    if b.ndim == 0 and a.dtype.kind == "f":
        # NumPy's ``**`` fast paths (and PyTorch's): x * x and sqrt, 2-10x faster than
        # np.power and bit for bit what it gives (it computes these two exactly so).
        with np.errstate(all="ignore"):
            if b == 2:
                return np.multiply(a, a, out=out)
            if b == 0.5:
                return np.sqrt(a, out=out)
    with np.errstate(all="ignore"):
        if out is not None:
            return np.power(a, b, out=out)
        if a.dtype.kind in "iu" and np.any(b < 0):
            # PyTorch's integer semantics: 1 and -1 stay (+-)1, other bases round to 0
            safe = np.power(a, np.abs(b))
            neg = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0))
            return np.where(b < 0, neg, safe).astype(a.dtype)
        return np.power(a, b)


def _sum(x, axes, keepdims, out=None):
    return np.sum(x, axis=tuple(axes), keepdims=keepdims, dtype=x.dtype, out=out)


def _max(x, axes, keepdims, out=None):
    return np.max(x, axis=tuple(axes), keepdims=keepdims, out=out)


def _argmax(x, axis, keepdims):
    r = np.argmax(x, axis=axis, keepdims=keepdims)
    return np.asarray(r, dtype=np.int64)


def _slice(x, starts, stops, steps):
    return x[tuple(slice(a, b, s) for a, b, s in zip(starts, stops, steps))]


def _pad(x, pads, value):
    """``np.pad(x, pads, constant_values=value)``, as np.pad builds it (a C-ordered array
    filled with ``value`` cast to ``x``'s dtype, ``x`` assigned into its middle) without
    np.pad's argument handling: 3 us instead of 60-90 us, and every eager slice's gradient
    is a pad."""
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pads, strict=True))
    out = np.empty(shape, dtype=x.dtype)
    out.fill(value)
    out[tuple(slice(lo, lo + n) for n, (lo, _hi) in zip(x.shape, pads))] = x
    return out


def _take(x, idx, axis):
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"take: index out of range for dimension {axis} of size {n}")
    return np.take(x, idx, axis=axis)


def _take_grad(g, idx, axis, size):
    out_shape = g.shape[:axis] + (size,) + g.shape[axis + idx.ndim :]
    out = np.zeros(out_shape, dtype=g.dtype)
    g2 = g.reshape(g.shape[:axis] + (idx.size,) + g.shape[axis + idx.ndim :])
    moved = np.moveaxis(g2, axis, 0)
    target = np.moveaxis(out, axis, 0)
    np.add.at(target, idx.reshape(-1), moved)
    return out


def _out_of_bounds(op, idx, axis, n, error):
    """An out-of-range index, refused with PyTorch's class for ``op``: RuntimeError for
    gather and scatter (their eager kiln and torch class), IndexError for take."""
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx.min() if idx.min() < -n else idx.max())
        raise error(f"{op}(): index {bad} is out of bounds for dimension {axis} with size {n}")


def _gather(x, idx, axis):
    _out_of_bounds("gather", idx, axis, x.shape[axis], RuntimeError)
    return np.take_along_axis(x, idx, axis=axis)


def _scatter_add(g, idx, axis, size):
    _out_of_bounds("scatter_add", idx, axis, size, RuntimeError)  # (np.add.at: IndexError)
    shape = list(g.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=g.dtype)
    grids = list(np.indices(idx.shape, sparse=True))
    grids[axis] = idx
    np.add.at(out, tuple(grids), g)
    return out


def _argsort(x, axis, descending):
    if x.ndim == 0:
        return np.zeros((), dtype=np.int64)
    if descending:
        # stable descending order with NaN first (PyTorch: NaN is the largest value); ``~x``
        # reverses integers without the overflow of ``-x`` at the least value
        key = -x if x.dtype.kind == "f" else ~x
        order = np.argsort(key, axis=axis, kind="stable")  # NaN last, ties in input order
        if x.dtype.kind == "f":
            nan_first = np.argsort(~np.isnan(np.take_along_axis(x, order, axis)), axis, "stable")
            order = np.take_along_axis(order, nan_first, axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    return order.astype(np.int64)


def _cumsum(x, axis):
    return np.cumsum(x, axis=axis, dtype=x.dtype) if x.ndim else x.copy()


def _uniform(seed, shape, dtype):
    # ``seed`` is a uint64 array of shape (2,) (key, counter): a pure function of the seed,
    # so graphs stay functional and runs are reproducible under ``manual_seed``.
    rng = np.random.Generator(np.random.Philox(key=int(seed[0]), counter=int(seed[1])))
    return rng.random(shape, dtype=np.float64).astype(dtype)


# ------------------------------------------------------------------------------ the table

# Scalar expressions shared by several records.
# NaN-propagating, like np.maximum: `|` (not `or`) keeps the select branch-free.
_MAXIMUM = "({0} if ({0} > {1}) | ({0} != {0}) else {1})"
_MINIMUM = "({0} if ({0} < {1}) | ({0} != {0}) else {1})"
# float32 exp/log/tanh/erf on the CPU: the vectorizable versions in codegen/fastmath.py
# (a libm call blocks LLVM's loop vectorizer); CUDA keeps math.*, its own fast libdevice.
_FAST_CPU = ("exp", "log", "tanh", "erf")
_FAST_CPU_64 = ("exp", "log", "tanh")  # (float64 erf keeps libm)
_FAST_CPU_EXPRS = {name: {"cpu:float32": f"fast_{name}({{0}})"} for name in _FAST_CPU}

_UNARY = {
    # name: (numpy impl, default scalar expression, float_only)
    "neg": (np.negative, "(-{0})", False),
    "exp": (_safe(np.exp), "math.exp({0})", True),
    "log": (_safe(np.log), "math.log({0})", True),
    "sqrt": (_safe(np.sqrt), "math.sqrt({0})", True),
    "sin": (np.sin, "math.sin({0})", True),
    "cos": (np.cos, "math.cos({0})", True),
    "tanh": (np.tanh, "math.tanh({0})", True),
    "atan": (np.arctan, "math.atan({0})", True),
    "asin": (_safe(np.arcsin), "math.asin({0})", True),
    "acos": (_safe(np.arccos), "math.acos({0})", True),
    "atanh": (_safe(np.arctanh), "math.atanh({0})", True),
    "acosh": (_safe(np.arccosh), "math.acosh({0})", True),
    "erf": (_np_erf, "math.erf({0})", True),
    "abs": (np.abs, "abs({0})", False),
    # PyTorch's sign: (0 < x) - (x < 0), so sign(nan) = 0 and sign(-0.0) = +0.0
    # (not np.sign in kernels: Numba's keeps -0.0, and NumPy's keeps nan)
    "sign": (_np_sign, "(1 if {0} > 0 else (-1 if {0} < 0 else 0))", False),
    "reciprocal": (_safe(np.reciprocal), "(1.0 / {0})", True),
    "floor": (np.floor, "math.floor({0})", True),
}
# Backend overrides of the defaults above.
_UNARY_BACKEND_EXPRS = {
    **_FAST_CPU_EXPRS,
    **{
        name: {**_FAST_CPU_EXPRS[name], "cpu:float64": f"fast_{name}64({{0}})"}
        for name in _FAST_CPU_64
    },
    # math.floor returns an int in Numba on the CPU (inf overflows); CUDA's is a float
    "floor": {"cpu": "np.floor({0})"},
}
for _name, (_impl, _expr, _float_only) in _UNARY.items():
    _register(
        _name,
        "elementwise",
        _unary_rule(_name, _float_only),
        _impl,
        {"default": _expr, **_UNARY_BACKEND_EXPRS.get(_name, {})},
    )

_BINARY = {
    # name: (numpy impl, default scalar expression, result dtype if not the inputs')
    "add": (np.add, "({0} + {1})", None),
    "sub": (np.subtract, "({0} - {1})", None),
    "mul": (np.multiply, "({0} * {1})", None),
    "div": (_safe_div, "({0} / {1})", None),
    "pow": (_pow, "({0} ** {1})", None),
    "maximum": (np.maximum, _MAXIMUM, None),
    "minimum": (np.minimum, _MINIMUM, None),
    "eq": (np.equal, "({0} == {1})", "bool"),
    "ne": (np.not_equal, "({0} != {1})", "bool"),
    "lt": (np.less, "({0} < {1})", "bool"),
    "le": (np.less_equal, "({0} <= {1})", "bool"),
    "gt": (np.greater, "({0} > {1})", "bool"),
    "ge": (np.greater_equal, "({0} >= {1})", "bool"),
}
for _name, (_impl, _expr, _out) in _BINARY.items():
    _register(
        _name,
        "elementwise",
        _binary_rule(_name, _out),
        _impl,
        _expr,
        differentiable=_out is None,
        properties=("commutative",)
        if _name in ("add", "mul", "maximum", "minimum", "eq", "ne")
        else (),
    )


def _float_binary_rule(op):
    def rule(shapes, dtypes):
        dtype = _same_dtype(op, dtypes)
        if dtype not in FLOAT_DTYPES:
            raise ShapeError(f"{op}: expected floating point inputs, got {dtype}")
        return broadcast_shapes(op, *shapes), dtype

    return rule


# C's fmod (the sign of the dividend), exact: a composite through a quotient loses digits
# once |a / b| passes 2^24 (float32) and turns fmod(x, inf) = x into NaN.
# (Numba has no math.fmod on the CPU, np.fmod instead; CUDA has math.fmod, not np.fmod.)
_register(
    "fmod",
    "elementwise",
    _float_binary_rule("fmod"),
    _safe(np.fmod),
    {"default": "np.fmod({0}, {1})", "cuda": "math.fmod({0}, {1})"},
)

# Bitwise operations of integer (and bool) tensors. Shifts follow PyTorch, not C: a shift
# by a negative count or by the width or more gives 0 (left) or the sign fill (right).
_BIT_WIDTH = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint8": 8}


def _bitwise_rule(op, allow_bool=True):
    def rule(shapes, dtypes):
        dtype = _same_dtype(op, dtypes)
        if dtype not in INT_DTYPES and not (allow_bool and dtype == "bool"):
            raise ShapeError(f"{op}: expected integer{' or bool' * allow_bool} inputs, got {dtype}")
        return broadcast_shapes(op, *shapes), dtype

    return rule


def _shift_limit(dtype, right):
    """The largest count shifted as such; beyond it a shift saturates (PyTorch's rule)."""
    width = _BIT_WIDTH[np.dtype(dtype).name]
    return width - 1 if right and np.dtype(dtype).kind == "i" else width


def _lshift(a, b):
    limit = _shift_limit(a.dtype, False)
    out_of_range = (b < 0) | (b >= limit)
    shifted = np.left_shift(a, np.where(out_of_range, 0, b).astype(a.dtype))
    return np.where(out_of_range, 0, shifted).astype(a.dtype)


def _rshift(a, b):
    limit = _shift_limit(a.dtype, True)
    count = np.where((b < 0) | (b >= limit), limit, b).astype(a.dtype)
    if np.dtype(a.dtype).kind == "u":
        return np.where(count >= limit, 0, np.right_shift(a, np.minimum(count, limit - 1)))
    return np.right_shift(a, count).astype(a.dtype)


def _shift_exprs(right):
    exprs = {}
    for dtype in _BIT_WIDTH:
        limit = _shift_limit(dtype, right)
        if not right:
            text = f"(({{0}} << {{1}}) if ({{1}} >= 0) & ({{1}} < {limit}) else 0)"
        elif np.dtype(dtype).kind == "u":
            text = f"(({{0}} >> {{1}}) if {{1}} < {limit} else 0)"
        else:
            text = f"({{0}} >> ({{1}} if ({{1}} >= 0) & ({{1}} < {limit}) else {limit}))"
        exprs["default" if dtype == "int64" else f"default:{dtype}"] = text
    return exprs


for _name, (_impl, _expr) in {
    "bitwise_and": (np.bitwise_and, "({0} & {1})"),
    "bitwise_or": (np.bitwise_or, "({0} | {1})"),
    "bitwise_xor": (np.bitwise_xor, "({0} ^ {1})"),
}.items():
    _register(
        _name,
        "elementwise",
        _bitwise_rule(_name),
        _impl,
        _expr,
        differentiable=False,
        properties=("commutative",),
    )
_register(
    "lshift",
    "elementwise",
    _bitwise_rule("lshift", False),
    _lshift,
    _shift_exprs(False),
    differentiable=False,
)
_register(
    "rshift",
    "elementwise",
    _bitwise_rule("rshift", False),
    _rshift,
    _shift_exprs(True),
    differentiable=False,
)

_register("where", "elementwise", _where_rule, np.where, "({1} if {0} else {2})")
# code generators convert every non-bool result to its dtype (``np.float32(...)``), so a
# cast is its input; a cast to bool is a test against zero
_register(
    "cast",
    "elementwise",
    _cast_rule,
    lambda x, dtype: x.astype(dtype),
    {"default": "{0}", "default:bool": "({0} != 0)"},
)

_register(
    "sum",
    "reduction",
    _reduce_rule("sum"),
    _sum,
    properties=("accumulating_reduction", "rounds", "writes_out"),
    identity=0.0,
    combine="add",
)
_register(
    "max",
    "reduction",
    _reduce_rule("max"),
    _max,
    # A NaN-propagating max loop does not vectorize (it would need the nnan flag): CPU
    # kernels reduce a whole row with the order-key helper in codegen/kernel_helpers.py.
    {"cpu": "row_max_{dtype}({0})"},
    properties=("accumulating_reduction", "writes_out"),
    identity=-math.inf,
    combine="maximum",
)
_register("argmax", "reduction", _argmax_rule, _argmax, differentiable=False)

_VIEW = ("view", "writable_view")
_register(
    "reshape",
    "movement",
    _reshape_rule,
    lambda x, shape: np.reshape(x, shape),
    properties=(*_VIEW, "loop_alias", "keeps_order"),
)
_register(
    "permute", "movement", _permute_rule, lambda x, axes: np.transpose(x, axes), properties=_VIEW
)
# np.broadcast_to's view is read-only: writes cannot go through it
_register(
    "expand",
    "movement",
    _expand_rule,
    lambda x, shape: np.broadcast_to(x, shape),
    properties=("view", "loop_alias"),
)
_register("slice", "movement", _slice_rule, _slice, properties=_VIEW)
_register("pad", "movement", _pad_rule, _pad)
_register("concat", "movement", _concat_rule, lambda *xs, axis: np.concatenate(xs, axis))

_register("take", "index", _take_rule, _take)
_register("take_grad", "index", _take_grad_rule, _take_grad)
_register("gather", "index", _gather_rule, _gather)
_register("scatter_add", "index", _scatter_add_rule, _scatter_add)

_register("matmul", "matmul", _matmul_rule, np.matmul, properties=("writes_out",))
_register("argsort", "sort", _argsort_rule, _argsort, differentiable=False)
_register("cumsum", "scan", _cumsum_rule, _cumsum)

_register("const", "source", _const_rule, lambda value: value, differentiable=False)
_register(
    "uniform", "source", _uniform_rule, _uniform, differentiable=False, properties=("random",)
)


def infer(name: str, shapes, dtypes, params) -> tuple[tuple, str]:
    """Apply ``name``'s shape rule: ``(shape, dtype)`` of its result."""
    return PRIMITIVES[name].shape_rule(shapes, dtypes, **params)
