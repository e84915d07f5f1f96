"""Eager fused ops: composites run eagerly as a few NumPy calls and one backward node.

``relu``, ``log_softmax`` and ``nll_loss`` are composites of several primitives (so that
``kiln.jit`` and the transforms see ordinary primitives). Eagerly on NumPy each primitive
is a dispatched op, a backward node and a fresh array; here, in the common eager case, the
same primitives' implementations run on the arrays directly, in the composite's order, and
one node per op (PyTorch's: ``ReluBackward0``, ``LogSoftmaxBackward0``,
``NllLossBackward0``) keeps what its backward reads. The values and gradients are the
composite's, bit for bit (tests/test_eager_fast.py runs both).

The fast path is taken only eagerly on plain CPU arrays of float32/float64, with no trace
or transform, no profiler, no device handler and no ``saved_tensors_hooks``; anything else
runs the composite. The backward rules fall back to kiln ops (recorded, for higher-order
gradients; traced, if a backward is traced) when the gradient itself requires grad.
"""

from __future__ import annotations

import weakref

import numpy as np

from kiln.compiler.primitives import PRIMITIVES as P

from .. import dispatch, dtypes, ops
from ..context import current
from ..tensor import Tensor, _wrap
from . import tape
from .vjp import linked

__all__ = ["ENABLED", "log_softmax", "nll_loss", "relu", "sigmoid"]

# Tests switch this off to compare the fast paths with the composites they replace.
ENABLED = True

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INT_OF_SIZE = {4: np.dtype(np.int32), 8: np.dtype(np.int64)}
_INT8 = np.dtype(np.int8)
_I64 = np.dtype(np.int64)
_SELECT_MIN = 1 << 12  # below this many elements np.where is faster than the bitwise select


def _impl(name):
    return dispatch.eager_impl(name)


_MAX, _SUM, _SUB, _EXP, _LOG, _DIV, _MUL, _NEG, _GATHER, _SCATTER_ADD = (
    _impl(n)
    for n in ("max", "sum", "sub", "exp", "log", "div", "mul", "neg", "gather", "scatter_add")
)


class FusedOp:
    """A recorded op that is no primitive (``BackwardNode`` reads these attributes)."""

    __slots__ = ("name", "vjp", "vjp_reads_inputs", "properties", "differentiable", "__weakref__")

    def __init__(self, name, vjp):
        self.name = name
        self.vjp = vjp
        self.vjp_reads_inputs = False  # the node keeps its own arrays: no version checks
        self.properties = frozenset()
        self.differentiable = True

    def __repr__(self) -> str:
        return f"<fused op {self.name}>"


def _fast_context() -> bool:
    """Eager, nothing watching the ops one by one. (Whether the inputs are NumPy arrays
    is each op's check: a registered device, such as ``meta`` once a meta tensor was made,
    does not concern CPU tensors.)"""
    return (
        ENABLED and current().top is None and not dispatch.PROFILERS and not tape.saved_hooks_active
    )


def _plain_float(t) -> bool:
    """A float tensor on the CPU (a meta tensor's data is a NumPy stand-in without
    values; a CUDA tensor's is a device array)."""
    data = t._data
    return type(data) is np.ndarray and data.dtype in _FLOATS and not t.is_meta


def _fast_grad(g: Tensor, shape: tuple, dtype, linear: bool = True) -> bool:
    """Whether a backward rule may compute on ``g``'s array: a plain array of ``shape``
    and ``dtype``, eager, and nothing to record: with ``create_graph`` a rule's result
    is recorded when ``g`` requires grad, or always where the rule reads the op's input
    (not ``linear``: a function of ``g`` alone, with constant coefficients)."""
    data = g._data
    return (
        type(data) is np.ndarray
        and data.dtype == dtype
        and data.shape == shape
        and not ((g._requires_grad or not linear) and current().grad_enabled)
        and _fast_context()
    )


def _select_zero(zero_where: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``where(zero_where, +0.0, x)``, bit for bit (``dispatch._where``'s select: the
    mask's bits and ``x``'s, with no branch per element)."""
    if x.ndim == 0 or x.size < _SELECT_MIN:
        return np.where(zero_where, x.dtype.type(0), x)
    bits = _INT_OF_SIZE[x.dtype.itemsize]
    mask = np.subtract(zero_where.view(_INT8), 1, dtype=bits)  # 0 where zero_where, else ~0
    return np.bitwise_and(x.view(bits), mask, out=mask).view(x.dtype)


def _maximum_is_relu() -> bool:
    """Whether ``np.maximum(0, x)`` is ``where(x < 0, +0, x)`` bit for bit on this NumPy:
    NaN and -0.0 kept, in its vectorized loops and its scalar tails (``maximum(-0.0, 0)``
    is either zero by IEEE 754, and NumPy's SIMD loops return their second operand there,
    which is ``x`` in this order). Checked once, on special values at several lengths."""
    specials = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45, 2.5]
    for dtype in _FLOATS:
        zero = dtype.type(0)
        for n in (1, 7, 16, 33, 4099):
            x = np.resize(np.array(specials, dtype=dtype), n + 1)[1:]  # (an unaligned start)
            if np.maximum(zero, x).tobytes() != np.where(np.less(x, 0), zero, x).tobytes():
                return False
    return True


_RELU_BY_MAXIMUM = _maximum_is_relu()


def _record(op: FusedOp, inputs, params, data) -> Tensor:
    out = _wrap(data)
    if current().grad_enabled and any(x._requires_grad for x in inputs):
        tape.record(op, inputs, params, out)
    return out


# ------------------------------------------------------------------------------ relu


def _relu_vjp(g, x, nonpositive, output=None):
    """0 where ``x <= 0`` (a zero included), else ``g`` (NaN included): PyTorch's rule.
    Under ``create_graph`` the gradient stays connected, with a zero derivative, to the
    relu's output (``output``: a weak reference), as PyTorch's ``threshold_backward(grad,
    result)``: a gradient penalty then gives the parameters before the relu a zero
    gradient, not ``None``."""
    if _fast_grad(g, nonpositive.shape, x.dtype.np):
        return (_wrap(_select_zero(nonpositive, g._data)),)
    mask = dispatch.constant(nonpositive, dtypes.bool_, like=g)
    grad = ops.where(mask, 0.0, g)
    out = output() if output is not None else None
    return (grad if out is None else linked(grad, out),)


_RELU = FusedOp("relu", _relu_vjp)


def relu(x: Tensor):
    """``kiln.relu``'s values (``x < 0 ? 0 : x``: NaN and -0.0 pass through) and
    gradient, or ``None`` where the composite must run."""
    if not (_plain_float(x) and _fast_context()):
        return None
    data = x._data
    if _RELU_BY_MAXIMUM and data.ndim:  # one pass (the select's bits: checked at import)
        out = np.maximum(data.dtype.type(0), data)
    else:
        out = _select_zero(np.less(data, 0), data)
    if not (current().grad_enabled and x._requires_grad):
        return _wrap(out)
    params = {"nonpositive": np.less_equal(data, 0)}
    out = _record(_RELU, (x,), params, out)
    if out.grad_fn is not None:
        tape.save_result(out.grad_fn, out)  # PyTorch saves relu's result: not to be changed
        params["output"] = weakref.ref(out)  # (``_relu_vjp``: double backward's link)
    return out


# ------------------------------------------------------------------------------ log_softmax


def _check_version(x: Tensor, version: int, name: str) -> None:
    if x._version != version:
        raise RuntimeError(
            f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: {x.dtype.name}{list(x.shape)} is at version {x._version}; "
            f"expected version {version} instead ({name})."
        )


def _log_softmax_vjp(g, x, axis, shifted, e, s, version):
    """The composite's backward (``shifted - log(sum(exp(shifted)))``, ``shifted = x - m``
    with ``m`` constant): ``g + exp(shifted) * (sum(-g) / s)``, in the composite's order."""
    axes = (axis,)
    if _fast_grad(g, e.shape, e.dtype, linear=False):
        gd = g._data
        gs = _DIV(_SUM(_NEG(gd), axes=axes, keepdims=True), s)
        return (_wrap(np.add(gd, _MUL(gs, e))),)  # (gs broadcast: expand's values)
    # recorded (create_graph) or traced: the same formula in kiln ops, from x itself so
    # that a higher-order gradient reaches it
    _check_version(x, version, "LogSoftmaxBackward0")
    m = dispatch.constant(_MAX(x._data, axes=axes, keepdims=True), x.dtype, like=x)
    ex = ops.exp(ops.sub(x, m))
    sx = dispatch.bind(P["sum"], (ex,), {"axes": axes, "keepdims": True})
    gs = ops.div(dispatch.bind(P["sum"], (ops.neg(g),), {"axes": axes, "keepdims": True}), sx)
    return (ops.add(g, ops.mul(ops.expand(gs, tuple(x.shape)), ex)),)


_LOG_SOFTMAX = FusedOp("log_softmax", _log_softmax_vjp)
tape._KEEPS_INPUTS.add(_LOG_SOFTMAX)  # its recorded backward (create_graph) recomputes from x


def log_softmax(x: Tensor, axis: int):
    """``kiln.log_softmax(x, axis)`` for a non-empty float ``x`` of at least one axis
    (``axis`` normalized), or ``None`` where the composite must run."""
    if not (_plain_float(x) and _fast_context()):
        return None
    data = x._data
    if data.ndim == 0 or data.size == 0:
        return None
    axes = (axis,)
    shifted = _SUB(data, _MAX(data, axes=axes, keepdims=True))
    e = _EXP(shifted)
    s = _SUM(e, axes=axes, keepdims=True)
    out = _SUB(shifted, _LOG(s))
    params = {"axis": axis, "shifted": shifted, "e": e, "s": s, "version": x._version}
    out = _record(_LOG_SOFTMAX, (x,), params, out)
    if out.grad_fn is not None:
        tape.save_result(out.grad_fn, out)  # PyTorch saves the result: not to be changed
    return out


# ------------------------------------------------------------------------------ nll_loss


def _nll_loss_vjp(g, logp, index, weight, total, reduction, n_classes):
    """The composite's backward: ``-g * w`` (``/ sum(w)`` for 'mean'), scattered to the
    targets' classes of a zero gradient."""
    n = weight.shape[0]
    if reduction == "mean" and total == 0:  # every target ignored: PyTorch's zero gradient
        return (dispatch.constant(np.zeros((n, n_classes)), g.dtype, like=g),)  # (not g/0*0)
    if _fast_grad(g, () if reduction != "none" else (n,), weight.dtype):
        gd = g._data
        if reduction == "mean":
            gd = _DIV(gd, total)
        picked = _MUL(_NEG(gd), weight).reshape(n, 1)  # (a 0-d gd broadcast: expand's)
        return (_wrap(_SCATTER_ADD(picked, index, axis=1, size=n_classes)),)
    if reduction == "mean":
        g = ops.div(g, dispatch.constant(total, g.dtype, like=g))
    if reduction != "none":
        g = ops.expand(ops.reshape(g, (1,)), (n,))
    picked = ops.mul(ops.neg(g), dispatch.constant(weight, g.dtype, like=g))
    index = dispatch.constant(index, dtypes.int64, like=g)
    scattered = dispatch.bind(
        P["scatter_add"], (ops.reshape(picked, (n, 1)), index), {"axis": 1, "size": n_classes}
    )
    return (scattered,)


_NLL_LOSS = FusedOp("nll_loss", _nll_loss_vjp)


def nll_loss(logp: Tensor, target: Tensor, ignore_index: int, reduction: str):
    """``F.nll_loss`` without class weights of a 2-D ``logp`` and 1-D integer ``target``
    whose classes are all in range, or ``None`` where the composite must run (it also
    raises the errors)."""
    if not (_plain_float(logp) and _fast_context()):
        return None
    data, t = logp._data, target._data
    if (
        data.ndim != 2
        or type(t) is not np.ndarray
        or target.is_meta
        or t.dtype.kind not in "iu"
        or t.shape != data.shape[:1]
        or t.size == 0
        or data.shape[1] == 0
    ):
        return None
    n, n_classes = data.shape
    if t.min() < 0 or t.max() >= n_classes:
        return None  # (ignore_index out of range, or an error: the composite's)
    t = t.astype(_I64, copy=False)
    keep = np.not_equal(t, ignore_index)
    index = np.where(keep, t, 0).reshape(n, 1)
    weight = keep.astype(data.dtype)
    loss = _NEG(_MUL(_GATHER(data, index, axis=1).reshape(n), weight))
    total = None
    if reduction == "sum":
        loss = _SUM(loss, axes=(0,), keepdims=False)
    elif reduction == "mean":
        total = np.asarray(_SUM(weight, axes=(0,), keepdims=False))
        loss = _DIV(_SUM(loss, axes=(0,), keepdims=False), total)
    params = {
        "index": index,
        "weight": weight,
        "total": total,
        "reduction": reduction,
        "n_classes": n_classes,
    }
    return _record(_NLL_LOSS, (logp,), params, loss)


# ------------------------------------------------------------------------------ sigmoid

_WHERE = dispatch._where  # (eager where: the select's bits)
_ADD, _RECIPROCAL, _GE = (_impl(n) for n in ("add", "reciprocal", "ge"))


def _sigmoid_parts(data: np.ndarray):
    """The composite's forward (``kiln.ops.elementwise._sigmoid``) on NumPy, op by op:
    ``e = exp(x >= 0 ? -x : x)``, ``pos = 1 / (e + 1)``, ``out = x >= 0 ? pos : e * pos``."""
    zero = data.dtype.type(0)
    nonneg = _GE(data, zero)
    e = _EXP(_WHERE(nonneg, _NEG(data), data))
    pos = _RECIPROCAL(_ADD(e, data.dtype.type(1)))
    return nonneg, e, pos, _WHERE(nonneg, pos, _MUL(e, pos))


def _sigmoid_vjp(g, x, nonneg, e, pos, version):
    """The composite's backward, each rule in its order (``where``'s two selects, ``mul``'s
    two products, the result rules of ``reciprocal``, ``-(g * (pos * pos))``, and ``exp``,
    ``g * e``; each sum of two arrivals adds, in either order, a gradient and a zero); or,
    where the gradient is recorded (``create_graph``) or traced, the composite itself
    recomputed from ``x`` so that a higher-order gradient reaches it."""
    if _fast_grad(g, e.shape, e.dtype, linear=False):
        gd = g._data
        zero = gd.dtype.type(0)
        g_m = _WHERE(nonneg, zero, gd)
        g_pos = _ADD(_WHERE(nonneg, gd, zero), _MUL(g_m, e))
        g_s = _NEG(_MUL(g_pos, _MUL(pos, pos)))
        g_a = _MUL(_ADD(_MUL(g_m, pos), g_s), e)
        return (_wrap(_ADD(_WHERE(nonneg, zero, g_a), _NEG(_WHERE(nonneg, g_a, zero)))),)
    _check_version(x, version, "SigmoidBackward0")
    c = ops.ge(x, 0.0)
    e = ops.exp(ops.where(c, ops.neg(x), x))
    pos = ops.reciprocal(ops.add(e, 1.0))
    g_m = ops.where(c, 0.0, g)
    g_pos = ops.add(ops.where(c, g, 0.0), ops.mul(g_m, e))
    g_s = ops.neg(ops.mul(g_pos, ops.mul(pos, pos)))
    g_a = ops.mul(ops.add(ops.mul(g_m, pos), g_s), e)
    return (ops.add(ops.where(c, 0.0, g_a), ops.neg(ops.where(c, g_a, 0.0))),)


_SIGMOID = FusedOp("sigmoid", _sigmoid_vjp)
tape._KEEPS_INPUTS.add(_SIGMOID)  # its recorded backward (create_graph) recomputes from x


def sigmoid(x: Tensor):
    """``kiln.sigmoid(x)`` of a float32/float64 ``x``, the composite's values bit for bit,
    with one ``SigmoidBackward0`` node (PyTorch's, which saves the result); ``None`` where
    the composite must run."""
    if not (isinstance(x, Tensor) and _plain_float(x) and _fast_context()):
        return None
    if not x._data.flags.c_contiguous:  # (the composite lays the result out as PyTorch's)
        return None
    nonneg, e, pos, out = _sigmoid_parts(x._data)
    if not (current().grad_enabled and x._requires_grad):
        return _wrap(out)
    params = {"nonneg": nonneg, "e": e, "pos": pos, "version": x._version}
    out = _record(_SIGMOID, (x,), params, out)
    if out.grad_fn is not None:
        tape.save_result(out.grad_fn, out)  # PyTorch saves the result: not to be changed
    return out


# ------------------------------------------------------------------------------ linear

_MATMUL = _impl("matmul")


def _transposed(data: np.ndarray) -> bool:
    """``vjp._transposed_view`` of an array (which way the matmul rule computes)."""
    return data.ndim == 2 and data.flags.f_contiguous and not data.flags.c_contiguous


def _linear_vjp(g, x, w, b, versions):
    """The composite's backward (``AddmmBackward0`` -> ``MmBackward0`` -> ``TBackward0``):
    the same NumPy calls on the same operands, or the same rules in kiln ops where the
    gradient is recorded (``create_graph``) or traced."""
    if w._requires_grad:  # (the matmul rule reads x for w's gradient, w for x's)
        _check_version(x, versions[0], "AddmmBackward0")
    if x._requires_grad:
        _check_version(w, versions[1], "AddmmBackward0")
    n, m = x._data.shape[0], w._data.shape[0]
    if _fast_grad(g, (n, m), x._data.dtype, linear=False):
        gd, xd, wtd = g._data, x._data, w._data.T
        gx = gw = gb = None
        if x._requires_grad:
            gx = _MATMUL(wtd, gd.T).T if _transposed(xd) else _MATMUL(gd, wtd.T)
        if w._requires_grad:
            gw = _MATMUL(gd.T, xd) if _transposed(wtd) else _MATMUL(xd.T, gd).T
        if b._requires_grad:
            gb = _SUM(gd, axes=(0,), keepdims=True).reshape(m)
        return tuple(None if a is None else _wrap(a) for a in (gx, gw, gb))
    from . import vjp

    wt = ops.t(w)
    gx, gwt = P["matmul"].vjp(g, x, wt)
    gw = None if gwt is None else P["permute"].vjp(gwt, wt, axes=(1, 0))[0]
    gb = vjp.sum_to_shape(g, tuple(b.shape)) if b._requires_grad else None
    return gx, gw, gb


_LINEAR = FusedOp("addmm", _linear_vjp)
tape._KEEPS_INPUTS.add(_LINEAR)  # its rule reads x and w (and recomputes from them)


def _linear_shown(node) -> tuple:
    """PyTorch's ``AddmmBackward0.next_functions``: bias, input, and a ``TBackward0`` of
    the weight (made when asked for: it is not run, the fused node computes its part)."""
    x_edge, w_edge, b_edge = node.edges
    t_node = None
    if w_edge is not None:
        t_node = tape.node_class("TBackward0").__new__(tape.node_class("TBackward0"))
        t_node.prim, t_node.params, t_node.inputs = P["permute"], {"axes": (1, 0)}, None
        t_node.edges, t_node.versions, t_node.shown = (w_edge,), None, None
        t_node.retained = t_node.hooks = t_node.unpack = t_node.result = None
    return (b_edge, x_edge, t_node)


tape._LAZY_SHOWN["addmm"] = _linear_shown


def linear(x: Tensor, w: Tensor, b: Tensor):
    """``F.linear(x, w, b)`` of a 2-D ``x``, 2-D ``w`` and 1-D ``b`` of one float dtype,
    as the composite computes it (``x @ w.t()``, then ``+ b``, here into the product's
    fresh array) with one ``AddmmBackward0`` node; ``None`` where the composite must run
    (it also raises the errors)."""
    if not (
        b is not None
        and _plain_float(x)
        and _plain_float(w)
        and _plain_float(b)
        and _fast_context()
    ):
        return None
    xd, wd, bd = x._data, w._data, b._data
    if (
        xd.ndim != 2
        or wd.ndim != 2
        or bd.ndim != 1
        or not (xd.dtype == wd.dtype == bd.dtype)
        or xd.shape[1] != wd.shape[1]
        or bd.shape[0] != wd.shape[0]
    ):
        return None
    out = _MATMUL(xd, wd.T)
    np.add(out, bd, out=out)  # (the sum's bits: a new array or this one)
    if not (current().grad_enabled and (x._requires_grad or w._requires_grad or b._requires_grad)):
        return _wrap(out)
    return _record(_LINEAR, (x, w, b), {"versions": (x._version, w._version)}, out)
