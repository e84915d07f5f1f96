"""Tracing: running a Python function on tracer tensors to record a static graph.

While a ``TraceState`` is active, ``kiln.dispatch.bind`` hands every operation to it, and
it appends a node instead of computing. Three kinds of values enter the graph:

* arguments of the traced function (graph inputs, in order);
* concrete tensors the function reads from closures, globals or modules (parameters,
  optimizer state): *captured* as graph inputs too, read afresh on every call, so an
  optimizer step or ``load_state_dict`` is never hidden behind a stale constant;
* Python numbers and tensors created inside the function: ``const`` nodes.

In-place updates of captured tensors (``p.sub_(lr * p.grad)``) and gradients stored into
``.grad`` are recorded as *write-backs*: extra graph outputs the executor stores back after
every call, which keeps the graph purely functional.
"""

from __future__ import annotations

import os
import sys
import weakref

import numpy as np

from kiln.compiler.errors import ShapeError, TraceError
from kiln.compiler.ir import Graph

from . import dtypes
from .context import current_trace, interpreting
from .tensor import Size, Tensor

_KILN_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep
    for m in (sys.modules["kiln"], sys.modules["kiln.compiler"])
)


_TENSOR_FILE = sys.modules["kiln.tensor"].__file__
_TRACER_CLASSES: dict = {}


def _tracer_class(kind):
    """The tracer class of an argument of class ``kind``: TracerTensor, or for kiln's own
    subclasses (``nn.Parameter``, ``nn.Buffer``) a TracerTensor that is also one, so that
    ``isinstance(x, nn.Parameter)`` in the traced code answers as eagerly (the cache key
    holds the class)."""
    if kind is Tensor or kind.__module__ != "kiln.nn.parameter":
        return TracerTensor  # (CUDA, sparse, meta tensors: traced as before)
    found = _TRACER_CLASSES.get(kind)
    if found is None:
        try:
            found = type(f"{kind.__name__}Tracer", (TracerTensor, kind), {"__slots__": ()})
        except TypeError:  # (a layout that cannot be combined: traced as a plain tensor)
            found = TracerTensor
        _TRACER_CLASSES[kind] = found
    return found


class _Contents:
    """A tensor's shape, dtype and bytes, compared bit for bit (``read_value``)."""

    __slots__ = ("shape", "dtype", "data")

    def __init__(self, array: np.ndarray):
        self.shape, self.dtype, self.data = array.shape, array.dtype, array.tobytes()

    def __eq__(self, other) -> bool:
        return (
            type(other) is _Contents
            and self.shape == other.shape
            and self.dtype == other.dtype
            and self.data == other.data
        )

    def __repr__(self) -> str:
        values = np.frombuffer(self.data, self.dtype)
        text = str(values[:6].tolist())[:-1] + (", ...]" if values.size > 6 else "]")
        return f"{self.dtype.name}{list(self.shape)} {text}"


def user_source_line(skip_prefixes=_KILN_DIRS) -> str | None:
    """``file:line`` of the innermost stack frame that is the user's code, not kiln's."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(skip_prefixes) and "importlib" not in filename:
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def _full_user_location() -> str:
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_KILN_DIRS):
            return f'File "{filename}", line {frame.f_lineno}, in {frame.f_code.co_name}'
        frame = frame.f_back
    return "<unknown>"


_INPUT_STRIDES = "_kiln_input_strides"
_NOT_LEAF = "_kiln_not_leaf"  # an argument with a grad_fn (eagerly: not a leaf)


def _as_argument(tracer, value) -> None:
    """Give ``tracer`` what of the argument ``value`` the cache key holds besides shape
    and dtype: the attributes set on it (``x.scale = 4.0``; not ``_``-named ones, kiln's
    own) and, when not contiguous, its
    strides (so ``x.is_contiguous()`` and ``x.stride()`` answer as eagerly)."""
    from .memory_format import element_strides

    for name, attr in value.__dict__.items():
        if name[:1] != "_":  # (not kiln's own: a leaf's ``_hooks`` run on the real tensor)
            tracer.__dict__[name] = attr
    if value.grad_fn is not None:  # (in the cache key: see TracerTensor.is_leaf)
        tracer.__dict__[_NOT_LEAF] = True
    data = value._data
    if type(data) is not np.ndarray:
        return
    strides = None if data.flags.c_contiguous else element_strides(data)
    if strides is not None:
        tracer.__dict__[_INPUT_STRIDES] = strides
    if strides is not None or data.base is not None:  # (a view: where it starts, too)
        from .ops.surface16 import _storage_offset

        offset = 0 if data.base is None else _storage_offset(value)
        tracer.__dict__[_LAYOUT] = (strides or _dense(data.shape), offset)


# ------------------------------------------------------------------ traced strides
_LAYOUT = "_kiln_layout"  # a tracer's (strides, storage offset), once worked out
_LAYOUT_SOURCE = "_kiln_layout_source"  # (primitive, inputs, params): how to work it out
_ORIGIN = "_kiln_origin"  # the path of the argument whose storage a traced view shows


def set_layout(t, strides, offset: int = 0, view_of=None) -> None:
    """Give tracer ``t`` the strides and storage offset it reports (a composite view of
    ``view_of``: ``diagonal``, ``unfold``, ``as_strided``; ``contiguous()``)."""
    t.__dict__[_LAYOUT] = (tuple(int(s) for s in strides), int(offset))
    t.__dict__.pop(_LAYOUT_SOURCE, None)
    if view_of is not None and _ORIGIN in view_of.__dict__:
        t.__dict__[_ORIGIN] = view_of.__dict__[_ORIGIN]
    else:
        t.__dict__.pop(_ORIGIN, None)


def share_layout(t, like, origin: bool = True) -> None:
    """``t`` (a second tracer for ``like``'s value) reports ``like``'s strides (worked
    out when asked, as ``like``'s: a detach() per traced op must not walk the chain)."""
    mine, theirs = t.__dict__, like.__dict__
    mine.pop(_LAYOUT, None)
    mine.pop(_LAYOUT_SOURCE, None)
    if _LAYOUT in theirs:
        mine[_LAYOUT] = theirs[_LAYOUT]
    elif _LAYOUT_SOURCE in theirs:
        mine[_LAYOUT_SOURCE] = theirs[_LAYOUT_SOURCE]
    if origin and _ORIGIN in like.__dict__:
        t.__dict__[_ORIGIN] = like.__dict__[_ORIGIN]


def layout(t) -> tuple:
    """``(strides, storage offset)`` of tensor ``t`` as the eager call reports them.

    Worked out when first asked, from the chain of primitives that made ``t`` (iteratively:
    a long chain of elementwise operations would exhaust Python's recursion)."""
    if t._node is None:  # a concrete tensor the trace read
        return tuple(t.stride()), t.storage_offset()
    found = t.__dict__.get(_LAYOUT)
    if found is not None:
        return found
    pending = [t]
    while pending:
        u = pending[-1]
        if _LAYOUT in u.__dict__:
            pending.pop()
            continue
        source = u.__dict__.get(_LAYOUT_SOURCE)
        if source is None:
            u.__dict__[_LAYOUT] = (_dense(u._node.shape), 0)
            pending.pop()
            continue
        missing = [x for x in source[1] if x._node is not None and _LAYOUT not in x.__dict__]
        if missing:
            pending.extend(missing)
            continue
        u.__dict__[_LAYOUT] = _derived_layout(u, *source)
        del u.__dict__[_LAYOUT_SOURCE]
        pending.pop()
    return t.__dict__[_LAYOUT]


def captured_layout(t):
    """What of a captured tensor's layout a trace may have read: None when its array is
    dense and owns its memory (the common case, cheap to tell), else (strides, offset)."""
    data = t._data
    if type(data) is not np.ndarray or (data.base is None and data.flags.c_contiguous):
        return None
    from .memory_format import element_strides
    from .ops.surface16 import _storage_offset

    strides, offset = element_strides(data), _storage_offset(t)
    return None if offset == 0 and data.flags.c_contiguous else (strides, offset)


def _dense(shape, order=None) -> tuple:
    from .memory_format import _dense_strides

    return _dense_strides(shape, range(len(shape)) if order is None else order)


def _stand_in(shape, strides) -> np.ndarray:
    """An array of ``shape`` and (element) ``strides`` over one byte: NumPy works out the
    strides of views and results of it as of the real array, without reading memory."""
    return np.lib.stride_tricks.as_strided(_BYTE, tuple(shape), tuple(strides))


_BYTE = np.zeros(1, dtype=np.int8)


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _derived_layout(out, prim, inputs, params) -> tuple:
    shape = out._node.shape
    if "view" in prim.properties:
        base = inputs[0]
        strides, offset = layout(base)
        if base._node is not None and _ORIGIN in base.__dict__:
            out.__dict__[_ORIGIN] = base.__dict__[_ORIGIN]
        fake = _stand_in(base.shape if base._node is None else base._node.shape, strides)
        if prim.name == "reshape":
            try:
                view = np.reshape(fake, shape, copy=False)
            except ValueError:  # not a view: NumPy (and PyTorch's reshape) copy
                out.__dict__.pop(_ORIGIN, None)
                return _dense(shape), 0
        else:
            view = prim.impl(fake, **params)
        return tuple(view.strides), offset + _address(view) - _address(fake)
    # elementwise: PyTorch's TensorIterator rule, as the eager result's (memory_format)
    from .memory_format import iterator_strides

    layouts = [layout(x)[0] for x in inputs]
    shapes = [tuple(x.shape if x._node is None else x._node.shape) for x in inputs]
    dense = _dense(shape)
    if all(s == shape and st == dense for s, st in zip(shapes, layouts)) or 0 in shape:
        return dense, 0
    stand_ins = [_stand_in(s, st) for s, st in zip(shapes, layouts)]
    strides = iterator_strides(tuple(shape), stand_ins)
    return (dense if strides is None else strides), 0


# Tensor methods through which user code reads a layout (``read_layout``)
_LAYOUT_READERS = frozenset(
    {"stride", "is_contiguous", "storage_offset", "_storage_offset_method", "_dim_order"}
)


def _read_by_user() -> bool:
    """Whether the user's code asked for a layout (``x.stride()``, ``x.is_contiguous()``),
    rather than kiln's own code on its behalf."""
    frame = sys._getframe(2)
    entry = None  # the kiln function the user's code called
    while frame is not None and frame.f_code.co_filename.startswith(_KILN_DIRS):
        entry = frame.f_code.co_name
        frame = frame.f_back
    return entry in _LAYOUT_READERS


def _sizes_exact(t) -> None:
    """Under automatic dynamic shapes, strides and offsets the user's code reads follow the
    sizes (``x.stride(0) > 5``) in ways the SymInt sizes cannot record: the trace holds
    for ``t``'s sizes only (its dimension stays static), as ``len(x)`` does."""
    log = getattr(t._trace.shape_hook, "log", None)
    if log is not None and _read_by_user():
        for axis, n in enumerate(t._node.shape):
            log.record(("eq", ("leaf", t._node, axis), ("const", n)), True)


_WRAPPER_NAMES = frozenset({"op", "wrapper", "wrapped", "run", "inner", "call", "method", "fn"})


def _traced_op() -> str | None:
    """The kiln function the user's code called (the outermost kiln frame below the user's
    frame that is not a decorator's wrapper): the op that reads a traced tensor's values."""
    frame = sys._getframe(2)
    name = None
    while frame is not None:
        code = frame.f_code
        if not code.co_filename.startswith(_KILN_DIRS):
            break
        if not code.co_name.startswith("_") and code.co_name not in _WRAPPER_NAMES:
            name = code.co_name
        frame = frame.f_back
    return name


class ValuesUnknown(TraceError, AttributeError):
    """Reading the values of a traced tensor (its ``_data``); an AttributeError too, so
    that ``getattr(x._data, "base", None)`` and ``hasattr`` probes see no such attribute."""


class _TracedValues:
    """A tracer's ``_data``: no values. An eager implementation that reads ``x._data`` of a
    traced ``x`` (``np.asarray(x._data)``, ``x._data[i]``, ``x._data.sum()``) gets kiln.jit's
    TraceError naming the op, instead of an unrelated error from reading ``None``
    (``'NoneType' object is not subscriptable``) or a computation on a made-up value."""

    __slots__ = ("_trace", "_node")

    def __init__(self, trace, node):
        self._trace = weakref.ref(trace)  # (no cycle: the trace holds its tracers)
        self._node = node  # (for on_concrete: a value of Python number arguments only)

    def _refuse(self, how: str, hook: bool = True):
        op = _traced_op()
        what = f"{op}() ({how})" if op else f"code that {how}"
        advice = (
            f"call {op or 'it'} outside kiln.jit (on concrete tensors, e.g. before or after "
            "the compiled function), or compute it with kiln ops that do not read values"
        )
        trace = self._trace()
        if hook and trace is not None and trace.on_concrete is not None:
            trace.on_concrete(self, what)  # (kiln.jit: Python number arguments -> constants)
        error = ValuesUnknown if not hook else TraceError
        raise error(
            f"{what} needs the values of a traced tensor, which are not known while kiln.jit "
            f"traces the function.\n  {_full_user_location()}\n  tensor: "
            f"{self._node.type_str}\n  Instead: {advice}"
        )

    def _read(self, *args, **kwargs):
        self._refuse("reads the tensor's values")

    __getitem__ = __setitem__ = __iter__ = __len__ = __bool__ = _read
    __float__ = __int__ = __index__ = __complex__ = _read

    def __array__(self, dtype=None, copy=None):
        self._refuse("converts the tensor to a NumPy array")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        self._refuse(f"applies NumPy's {getattr(ufunc, '__name__', 'ufunc')}")

    def __array_function__(self, func, types, args, kwargs):
        self._refuse(f"applies NumPy's {getattr(func, '__name__', 'function')}")

    def __getattr__(self, name):  # (shape, dtype, flags, any array method: no values)
        if name.startswith("__"):  # (NumPy's and copy's probes: __array_interface__ ...)
            raise AttributeError(name)
        self._refuse(f"reads the tensor's values (._data.{name})", hook=False)

    def __repr__(self) -> str:
        return "<values of a traced tensor>"


_DATA_SLOT = Tensor._data  # (the slot's descriptor: TracerTensor's property wraps it)


class TracerTensor(Tensor):
    """A tensor whose value is a node of the graph being traced."""

    __slots__ = ("_trace", "_view_of")

    def __init__(self, trace: TraceState, node, requires_grad=False):
        self._trace = trace
        self._view_of = None  # (base tensor, op, params) when this value is a view of base
        self._node = node
        _DATA_SLOT.__set__(self, None)  # (read through the ``_data`` property below)
        self._requires_grad = requires_grad
        self._grad = None
        self.grad_fn = None
        self._retain = False
        self._vc = [0]

    @property
    def _data(self):
        """No values: a placeholder that refuses to be read (``_TracedValues``), made when
        read, so that tracing pays nothing for it (one more object per tracer made the
        garbage collector's passes over a large trace a fifth of the tracing time)."""
        data = _DATA_SLOT.__get__(self)
        return _TracedValues(self._trace, self._node) if data is None else data

    @_data.setter
    def _data(self, value) -> None:
        _DATA_SLOT.__set__(self, value)

    @property
    def shape(self) -> Size:
        hook = self._trace.shape_hook  # kiln.jit's automatic dynamic shapes: SymInt sizes
        if hook is not None:
            return hook(self)
        return Size(self._node.shape)

    @property
    def dtype(self):
        return dtypes._BY_NAME[self._node.dtype]

    def detach(self) -> Tensor:
        out = TracerTensor(self._trace, self._node)
        share_layout(out, self)
        return out

    def stride(self, dim=None):
        """PyTorch's strides, as the eager call's: an argument's are its input's (in the
        cache key); a view's follow from its base's (``x.t()``, ``x[:, 1:]``, ``expand``,
        ``diagonal``); an elementwise result's keep its inputs' layout (NumPy's and
        PyTorch's rule); any other traced value is dense."""
        strides = layout(self)[0]
        if self._trace.shape_hook is not None:
            _sizes_exact(self)
        return strides if dim is None else strides[dim]

    def storage_offset(self) -> int:
        """Elements between the start of the storage and the first element, as eagerly:
        an argument's offset is in the cache key once the function reads it."""
        offset = layout(self)[1]
        if self._trace.shape_hook is not None:
            _sizes_exact(self)
        origin = self.__dict__.get(_ORIGIN)
        hook = self._trace.on_offset  # kiln.jit: retrace with the offset in the cache key
        if origin is not None and hook is not None:
            hook(origin)
        return offset

    def data_ptr(self) -> int:
        self._concrete(
            "data_ptr()",
            "compare tensors outside the compiled function, or compare their shapes and "
            "strides (x.stride(), x.storage_offset()) instead of addresses",
        )

    @property
    def grad_fn(self):
        """The autograd node of a traced value; the user's code reading it on an argument
        that has a history (outside the function, unknown here) stops the trace."""
        found = self.__dict__.get("_kiln_grad_fn")
        if found is None and _NOT_LEAF in self.__dict__ and current_trace() is self._trace:
            if not sys._getframe(1).f_code.co_filename.startswith(_KILN_DIRS):
                self._concrete(
                    "grad_fn of an argument that has an autograd history",
                    "detach the argument, or read grad_fn outside the function",
                )
        return found

    @grad_fn.setter
    def grad_fn(self, value) -> None:
        self.__dict__["_kiln_grad_fn"] = value

    @property
    def is_leaf(self) -> bool:
        """An argument with a history is not a leaf (eagerly), though the trace starts
        at it: its ``grad_fn`` is not known here, so that question stops the trace."""
        if _NOT_LEAF in self.__dict__ and current_trace() is self._trace:
            self._concrete(
                "is_leaf of an argument that has an autograd history",
                "detach the argument, or read is_leaf / grad_fn outside the function",
            )
        return self.grad_fn is None

    @property
    def grad(self):
        """The gradient of a traced leaf: the one a ``backward()`` in the trace stored;
        an argument's is refused (its caller-side ``.grad`` is not a graph input, so the
        value read would be missing it)."""
        trace = self._trace
        if trace.arg_leaves.get(id(self)) is not None and current_trace() is trace:
            self._concrete(
                "reading .grad of an argument",
                "return the loss or the gradient (kiln.autograd.grad) from the compiled "
                "function and read .grad outside it",
            )
        entry = trace.grads.get(id(self))  # a leaf made in the trace, after backward()
        if entry is not None and entry[0] is self:
            return entry[1]
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        Tensor.grad.fset(self, value)

    def _concrete(self, what: str, advice: str, python: str | None = None):
        """Refuse to read the traced value (a TraceError naming the user's line), or, under
        ``torch.jit.trace`` (``TraceState.bake_value``), return the example's value as a
        concrete tensor: ``python`` is what it becomes (``"boolean"``: PyTorch's words)."""
        hook = self._trace.on_concrete  # kiln.jit: a value of Python number arguments only
        if hook is not None:  # is traced again with them as constants (jit/function.py)
            hook(self, what)
        bake = self._trace.bake_value
        if bake is not None and python is not None:
            return bake(self, python)
        raise TraceError(
            f"{what} needs the value of a traced tensor, which is not known while kiln.jit "
            f"traces the function.\n  {_full_user_location()}\n  tensor: {self._node.type_str}"
            f"\n  Instead: {advice}"
        )

    def numpy(self):
        return self._concrete(
            "numpy()",
            "return the tensor from the jitted function and convert it "
            "outside, or call the function without kiln.jit",
            "NumPy array",
        ).numpy()

    def __array__(self, dtype=None, copy=None):
        value = self._concrete(
            "converting to a NumPy array",
            "use kiln operations inside the jitted function",
            "NumPy array",
        )
        return value.__array__(dtype)

    def item(self):
        return self._concrete(
            "item()", "return the tensor and call .item() outside kiln.jit", "number"
        ).item()

    def tolist(self):
        return self._concrete(
            "tolist()", "return the tensor and call .tolist() outside kiln.jit", "list"
        ).tolist()

    def __bool__(self):
        return bool(
            self._concrete(
                "Python control flow on a tensor (if/while/bool())",
                "use kiln.where(cond, a, b) for data-dependent choices, mark the "
                "argument static (kiln.jit(static_argnums=...)), or call the function "
                "outside kiln.jit",
                "boolean",
            )
        )

    def __float__(self):
        return float(
            self._concrete(
                "float()", "keep the value as a tensor, or pass it as a static argument", "float"
            )
        )

    def __int__(self):
        return int(
            self._concrete(
                "int()", "keep the value as a tensor, or pass it as a static argument", "integer"
            )
        )

    def __index__(self):
        return self._concrete(
            "using a tensor as a Python index",
            "use kiln.gather / index_select, or pass the index as a static argument",
            "index",
        ).__index__()

    def __repr__(self) -> str:
        return f"Tracer({self._node.type_str})"

    def _printed(self, depth: int) -> None:
        """``print(x)`` / ``f"{x}"`` in the user's code while ``kiln.compile`` traces: the
        value is not known (printing ``Tracer(...)`` once would be a stale print), so the
        trace stops and kiln.compile runs the call eagerly, as torch.compile breaks the
        graph there; kiln.jit's traces print the tracer (``graph_breaks`` is off)."""
        if getattr(self._trace, "graph_breaks", False):
            caller = sys._getframe(depth).f_code.co_filename
            if not caller.startswith(_KILN_DIRS):
                self._concrete(
                    "printing or formatting a tensor",
                    "return the tensor and print it outside the compiled function",
                )

    def __str__(self) -> str:
        self._printed(2)
        return self.__repr__()

    def __format__(self, spec) -> str:
        self._printed(2)
        return object.__format__(self, spec)


class TraceState:
    """The graph being built and everything the jit needs to run it later.

    A trace is an interpreter (``kiln.context``): while it is the innermost one of a thread,
    ``bind`` hands it every operation of that thread and it appends a node. Its effects on
    tensors from outside (in-place updates, ``.grad``) are kept here, never stored into those
    tensors, so other threads never see a half-built trace.
    """

    is_trace = True
    # kiln.compile's traces (torch.compile's semantics): printing a traced tensor or
    # calling print() stops the trace, and the call runs eagerly (jit/function.py)
    graph_breaks = False
    # (tracer, what) -> None, called before a tracer's value is refused (jit/function.py)
    on_concrete = None
    # (tensor) -> Size: how the user's code reads a tracer's shape (jit/auto_dynamic.py)
    shape_hook = None
    # (tracer, what) -> Tensor: torch.jit.trace's conversion of a traced value to a Python
    # value (bool, int, item()...): the example's value, baked in with a TracerWarning
    bake_value = None
    # (argument path) -> None, called when the code reads an argument's storage offset:
    # kiln.jit puts that offset into the cache key (jit/function.py)
    on_offset = None

    def __init__(self, name: str):
        self.graph = Graph(name)
        self.args: list[TracerTensor] = []
        self.captured: dict[int, tuple[Tensor, object]] = {}  # id -> (tensor, input node)
        self.current: dict[int, tuple[Tensor, object]] = {}  # id -> (tensor, latest node)
        self.by_array: dict[int, Tensor] = {}  # id(array) -> first concrete tensor over it
        self.alias_pairs: set = set()  # (id(first), id(wrapper)) guarded to keep sharing
        self.value_reads: dict[int, Tensor] = {}  # tensors whose value the code read
        self.grads: dict[int, tuple[Tensor, object]] = {}  # id -> (leaf, traced grad or None)
        self.seeds: list[tuple[object, object]] = []  # (generator, input node)
        self.live_scalars: list[tuple[object, object]] = []  # (getter, input node)
        self.guards: list[tuple[str, object, object]] = []  # (description, getter, value)
        self.arg_leaves: dict[int, int] = {}  # id(arg tracer) -> argument position
        self.arg_inputs: list = []  # each argument's input node (an in-place op moves _node)
        # id(base) -> (base, [(view, prim, params)]): views the trace took, recomputed from
        # their base when it is updated in place, so they see the update as eager views
        # do. The base is held, so that its id is not reused by another tensor during the
        # trace (a freed temporary's views were replayed on the tensor that took its id).
        self.views: dict[int, tuple] = {}
        self.grad_inputs: list[tuple[Tensor, object]] = []  # (leaf, node fed by leaf.grad)
        self.layout_reads: dict[int, Tensor] = {}  # id -> tensor whose strides were read
        # (0-d bool node, message): the compiled function raises RuntimeError(message)
        # when the node is true after a run (an integer divisor's zero: jit/compiled.py)
        self.runtime_checks: list[tuple[object, str]] = []
        self._undo: list = []  # (undo_on_failure) run when the trace fails
        self.device = "cpu"  # "cuda" once any input lives on a GPU: compile for it
        # Collectives (all_reduce, ...) recorded by kiln.distributed: the compiled step is
        # split into stages around them. Only a trace that can run in stages allows them.
        self.allows_collectives = False
        self.collectives: list = []
        from .dispatch import _amp_key

        # the caller's autocast state: what a call's guard compares (a region the traced
        # function opens itself is part of its code; guarding the state inside it retraced
        # such a function on every call)
        self.amp_entry = _amp_key()

    # -------------------------------------------------------------- graph inputs
    def _note_device(self, value: Tensor) -> None:
        if getattr(value, "is_sparse", False):  # (its _data is a placeholder: no values)
            raise TraceError(
                "kiln.jit: a sparse tensor cannot be an argument or a captured tensor of a "
                "compiled function; pass its indices and values (dense), or use it through "
                "kiln.sparse.mm / to_dense inside the function"
            )
        dev = value.device.type
        if dev != "cpu":
            if self.device not in ("cpu", dev):
                raise RuntimeError(f"kiln.jit: inputs on both {self.device} and {dev}")
            self.device = dev

    def add_argument(self, value: Tensor, name: str) -> TracerTensor:
        if value.dtype.is_complex:  # the compiled back ends have no complex type
            from .complex_tensors import EAGER_ONLY

            raise NotImplementedError(f"argument {name!r} is {value.dtype.name}: {EAGER_ONLY}")
        kind = type(value)
        if isinstance(value, Tensor) and not kind.__module__.startswith("kiln"):
            # a user's Tensor subclass: its methods and class attributes are not the
            # tracer's, so a trace would compute what a plain tensor computes
            raise TraceError(
                f"argument {name!r} is a {kind.__qualname__}, a subclass of Tensor: kiln.jit "
                "traces plain tensors only (the subclass's methods and attributes would not "
                "be seen). Pass a plain tensor, or call the function eagerly"
            )
        self._note_device(value)
        node = self.graph.add_input(value.shape, value.dtype.name, name=name)
        t = _tracer_class(kind)(self, node, requires_grad=value.requires_grad)
        if isinstance(value, Tensor):  # (not a synthetic trace's ShapeOnly)
            _as_argument(t, value)
            t.__dict__[_ORIGIN] = name
        self.arg_leaves[id(t)] = len(self.args)
        self.args.append(t)
        self.arg_inputs.append(node)
        return t

    def node_of(self, x: Tensor):
        if x._node is not None:
            if getattr(x, "_trace", None) is not self:
                raise TraceError(
                    "a tracer from another (finished) trace was used: a tensor created inside "
                    "a kiln.jit function leaked out (through a global, an attribute or an "
                    f"optimizer state). {_full_user_location()}"
                )
            return x._node
        entry = self.current.get(id(x))
        if entry is not None:
            return entry[1]
        first = self._first_over(x)
        if first is not x:
            return self.node_of(first)
        if x._data is None:
            raise TraceError("cannot capture a tensor without data")
        self._note_device(x)
        node = self.graph.add_input(x._data.shape, x._data.dtype.name, name="captured")
        self.captured[id(x)] = (x, node)
        self.current[id(x)] = (x, node)
        return node

    def undo_on_failure(self, undo) -> None:
        """``undo()`` runs if this trace fails (``rollback``): state made eagerly for it
        (an optimizer's lazily created ``exp_avg``) goes, so that a failed trace leaves
        ``optimizer.state_dict()`` as the eager calls will make it."""
        self._undo.append(undo)

    def rollback(self) -> None:
        """The trace failed: undo what ``undo_on_failure`` registered, newest first."""
        while self._undo:
            self._undo.pop()()

    def seed_input(self, generator) -> TracerTensor:
        """A fresh ``(key, counter)`` pair from ``generator`` on every call."""
        node = self.graph.add_input((2,), "uint64", name="rng")
        self.seeds.append((generator, node))
        return TracerTensor(self, node)

    def live_scalar(self, getter, dtype) -> TracerTensor:
        """A 0-d graph input whose value is ``getter()`` at each call (a learning rate)."""
        node = self.graph.add_input((), dtype.name, name="scalar")
        self.live_scalars.append((getter, node))
        return TracerTensor(self, node)

    def read_layout(self, t: Tensor) -> None:
        """The user's code read the strides or storage offset of ``t``, a tensor from outside
        (``w.is_contiguous()``): its layout is checked like a captured tensor's."""
        if id(t) not in self.layout_reads and _read_by_user():
            self.layout_reads[id(t)] = t

    def read_value(self, t: Tensor, how: str) -> None:
        """The user's code reads the value of a concrete tensor (``w.item()``, ``float(w)``,
        ``w.tolist()``, ``bool(w)``, ``w.numpy()``) while it is traced: the number is baked
        into the graph, so the trace is guarded on the tensor's contents (an in-place
        change, ``w.fill_(0.5)``, retraces). kiln's own reads are its own business."""
        if t._node is not None or type(t._data) is not np.ndarray:
            return
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename == _TENSOR_FILE:
            frame = frame.f_back  # (float(w) -> item() -> here)
        if frame is None or frame.f_code.co_filename.startswith(_KILN_DIRS):
            return
        ref, array = weakref.ref(t), weakref.ref(t._data)
        value = _Contents(t._data)

        def contents():
            now = ref()
            if now is not None:
                return _Contents(now._data)
            # ``w.detach().item()``, ``w.data.item()``: a wrapper of w's array, freed
            now = array()
            return value if now is None else _Contents(now)  # (both freed: unchanged)

        if id(t) in self.value_reads:
            return
        self.value_reads[id(t)] = t  # (held for the trace: ids stay unique)
        line = f"line {frame.f_lineno} of {os.path.basename(frame.f_code.co_filename)}"
        n = len(self.value_reads)
        self.add_guard(f"the value of a tensor read with {how} at {line} ({n})", contents, value)

    def guard_gradient_hooks(self) -> None:
        """A traced backward ran the hooks of the leaves it reached (``register_hook``,
        ``register_post_accumulate_grad_hook``) into the graph: one guard that the hooks of
        the captured leaves are still those (one added or removed later retraces)."""
        leaves = [t for t, _ in self.captured.values() if t._requires_grad and t.grad_fn is None]
        if not leaves:
            return

        def hooks(t):
            own = t.__dict__
            return tuple(own.get("_hooks", {}).values()), tuple(
                own.get("_post_accumulate_hooks", ())
            )

        now = tuple(hooks(t) for t in leaves)
        if not self.grads and not any(a or b for a, b in now):
            return  # (no backward traced, and no hook to keep)
        refs = [weakref.ref(t) for t in leaves]

        def current():
            found = []
            for ref in refs:
                t = ref()
                found.append(((), ()) if t is None else hooks(t))
            return tuple(found)

        self.add_guard("the gradient hooks of the captured tensors", current, now)

    def add_guard(self, description: str, getter, value) -> None:
        """Retrace when ``getter()`` no longer equals ``value`` (a module's ``training``)."""
        if any(d == description for d, _, _ in self.guards):
            return
        self.guards.append((description, getter, value))

    # -------------------------------------------------------------- ops
    def process(self, prim, inputs, params) -> TracerTensor:
        """Append ``prim(inputs)`` to the graph (``bind`` records autograd afterwards)."""
        nodes = [self.node_of(x) for x in inputs]
        source = user_source_line()
        try:
            node = self.graph.add_node(prim.name, nodes, params, source)
        except ShapeError as exc:
            raise ShapeError(f"{exc}\n  at {_full_user_location()}") from None
        out = TracerTensor(self, node)
        if "writable_view" in prim.properties:
            out._view_of = (inputs[0], prim.name, params)
        if prim.kind == "elementwise" or "view" in prim.properties:
            out.__dict__[_LAYOUT_SOURCE] = (prim, inputs, params)  # (strides, when asked)
        if "view" in prim.properties:
            base = inputs[0]
            entry = self.views.get(id(base))
            if entry is None or entry[0] is not base:
                entry = self.views[id(base)] = (base, [])
            entry[1].append((out, prim, params))
        return out

    def constant(self, data: np.ndarray) -> TracerTensor:
        return TracerTensor(self, self.graph.add_const(data, user_source_line()))

    # -------------------------------------------------------------- effects
    def assign(self, x: Tensor, new: Tensor) -> None:
        node = self.node_of(new)
        if x._node is not None:
            x._node = node
        else:
            first = self._first_over(x)  # (``w.data.mul_(2)``: an update of w)
            self.node_of(first)  # capture the old value first
            self.current[id(first)] = (first, node)
            if first is not x:
                self._refresh_views(first)
        self._refresh_views(x)

    def _first_over(self, x: Tensor) -> Tensor:
        """The first concrete tensor the trace read over ``x``'s array: ``w.detach()`` and
        ``w.data`` wrap w's array in another Tensor, and an update through one of them
        must be seen through the other (the wrapper read after ``w.mul_(2)`` would else
        be a graph input of its own, holding w's value from before the call). While
        the compiled variant lives, the two must still share that array (a guard)."""
        data = x._data
        if data is None:
            return x
        first = self.by_array.get(id(data))
        if first is None or first._data is not data:
            self.by_array[id(data)] = x
            return x
        pair = (id(first), id(x))
        if first is not x and pair not in self.alias_pairs:
            self.alias_pairs.add(pair)
            one, other = weakref.ref(first), weakref.ref(x)

            def sharing():
                a, b = one(), other()  # (a freed wrapper: nothing to share any more)
                return a is None or b is None or a._data is b._data

            # (no ids in the name: a synthetic trace's guards must read alike)
            self.add_guard(f"tensors sharing memory ({len(self.alias_pairs)})", sharing, True)
        return first

    def _refresh_views(self, base: Tensor) -> None:
        """Recompute the views taken of ``base`` (and theirs) from its new value."""
        pending = [base]
        while pending:
            b = pending.pop()
            entry = self.views.get(id(b))
            if entry is None or entry[0] is not b:
                continue
            for view, prim, params in entry[1]:
                view._node = self.graph.add_node(
                    prim.name, [self.node_of(b)], params, user_source_line()
                )
                pending.append(view)

    def set_grad(self, leaf: Tensor, grad) -> None:
        """Record ``leaf.grad = grad`` (a write-back after every call)."""
        self.grads[id(leaf)] = (leaf, grad)

    def traced_grad(self, leaf: Tensor):
        """``leaf.grad`` as the traced program sees it: set in the trace, or the leaf's own."""
        entry = self.grads.get(id(leaf))
        if entry is not None:
            return entry[1]
        # read from outside the trace: the gradient present at each call (a graph input),
        # guarded on whether there is one (a read ``w.grad`` is never baked in)
        return self.current_grad(leaf)

    def current_grad(self, leaf: Tensor):
        """``leaf.grad`` as the traced program sees it at this point.

        Set earlier in the trace: that value. Otherwise the gradient present when the
        compiled function is called: a graph input read from ``leaf.grad`` on every call,
        guarded on whether there is one.
        """
        entry = self.grads.get(id(leaf))
        if entry is not None:
            return entry[1]
        if leaf._node is not None:  # an argument: its caller-side grad is added on write-back
            return None
        present = leaf._grad is not None
        ref = weakref.proxy(leaf)  # a compiled function must not keep the tensor alive
        self.add_guard(
            f"whether the gradient of a {leaf.dtype.name}{list(leaf.shape)} tensor "
            f"[{id(leaf):#x}] is set",
            lambda: ref._grad is not None,
            present,
        )
        if not present:
            return None
        node = self.graph.add_input(leaf.shape, leaf._grad.dtype.name, name="grad")
        self.grad_inputs.append((leaf, node))
        return TracerTensor(self, node)

    def mutations(self) -> list[tuple[Tensor, object]]:
        """``(tensor, new value)`` of each captured tensor the trace updated in place."""
        return [
            (t, node)
            for key, (t, node) in self.current.items()
            if node is not self.captured[key][1]
        ]

    def argument_mutations(self) -> list[tuple[int, object]]:
        """``(argument position, new value)`` of each argument updated in place."""
        return [
            (pos, t._node)
            for pos, (t, node) in enumerate(zip(self.args, self.arg_inputs))
            if t._node is not node
        ]


def tracing(trace: TraceState | None) -> interpreting:
    """Make ``trace`` this thread's innermost interpreter for a block (they nest).

    >>> t = TraceState("f")
    >>> with tracing(t):
    ...     current_trace() is t
    True
    """
    return interpreting(trace)


def escape_trace() -> interpreting:
    """A block that runs eagerly even inside a trace (to create state outside the graph)."""
    return interpreting(None)


def is_tracing() -> bool:
    return current_trace() is not None


def live_scalar(getter, dtype=None):
    """``getter()`` eagerly; under tracing a graph input that reads ``getter()`` each call."""
    trace = current_trace()
    if trace is None:
        return getter()
    return trace.live_scalar(getter, dtype or dtypes.get_default_dtype())


def guard(description: str, getter) -> object:
    """Read ``getter()``; under tracing, retrace later calls when its value changes."""
    value = getter()
    add = getattr(current_trace(), "add_guard", None)  # (a vmap level has none of its own)
    if add is not None:
        add(description, getter, value)
    return value
