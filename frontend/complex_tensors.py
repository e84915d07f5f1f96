"""Complex tensors (``kiln.complex64`` / ``kiln.complex128``), eager only.

A complex tensor is an ordinary ``Tensor`` over a complex NumPy array: the primitives whose
NumPy implementation is right for complex numbers (``add``, ``mul``, ``div``, ``matmul``,
``sum``, the movements, ``exp`` ...) run unchanged. This module adds what the op table
cannot say by itself:

* the complex-only operations (``real``, ``imag``, ``conj``, ``angle``, ``complex``,
  ``polar``, ``view_as_real``, ``view_as_complex``), as *eager ops*: a NumPy
  implementation and a VJP rule in tensor operations, recorded on the same autograd tape
  as a primitive (``_apply``), never entering a graph;
* PyTorch's autograd convention for complex numbers (the conjugate Wirtinger derivative):
  the gradient of a real loss ``L`` with respect to ``z = x + iy`` is ``dL/dx + i dL/dy``.
  For a holomorphic primitive the VJP is ``g * conj(f'(z))``, which is the real rule
  conjugated around: ``conj(rule(conj(g), *inputs))`` (``_complex_vjp``). ``abs`` and
  ``cast`` (the real/complex boundary) have their own rules;
* PyTorch's refusals: ordering (``lt``, ``max``, ``maximum``, ``sort``, ``clamp`` ...) and
  the real-only functions raise its error classes instead of NumPy's lexicographic answers,
  and an implicit cast that would drop an imaginary part raises instead of losing it;
* the compiled back ends have no complex type: tracing a complex value raises
  ``NotImplementedError`` naming the op (``_refuse_traced``), never a wrong kernel.

>>> z = kiln.tensor([1 + 2j, 3 - 1j])
>>> z.real, z.imag
(tensor([1., 3.]), tensor([ 2., -1.]))
>>> (z * z.conj()).real
tensor([ 5., 10.])
"""

from __future__ import annotations

import numpy as np

from kiln.compiler.primitives import PRIMITIVES

from . import dtypes, ops
from .autograd.tape import record
from .autograd.vjp import sum_to_shape
from .context import current_trace, is_grad_enabled
from .tensor import Tensor, _wrap

__all__ = [
    "angle",
    "complex",
    "conj",
    "conj_physical",
    "imag",
    "is_complex",
    "polar",
    "real",
    "resolve_conj",
    "sgn",
    "view_as_complex",
    "view_as_real",
]

_complex = complex  # the builtin, before ``complex`` below takes its name

EAGER_ONLY = (
    "complex tensors and kiln.fft run eagerly only: kiln.jit, tracing and the kiln.func "
    "transforms (vmap, jvp) do not support them (the compiled back ends have no complex "
    "type); call it outside the traced or transformed function"
)


def refuse_traced(op: str) -> None:
    """Raise kiln's error for ``op`` of complex numbers under ``kiln.jit`` / tracing."""
    if current_trace() is not None:
        raise NotImplementedError(f"{op}: {EAGER_ONLY}")


# ------------------------------------------------------------------------------ eager ops


class EagerOp:
    """An operation run by NumPy and recorded on the autograd tape like a primitive
    (``BackwardNode`` reads ``name``, ``vjp``, ``vjp_reads_inputs`` and ``properties``),
    but with no record in the op table: it can never be traced or compiled."""

    __slots__ = ("name", "impl", "vjp", "vjp_reads_inputs", "properties", "differentiable")

    def __init__(self, name, impl, vjp, reads_inputs=False):
        self.name = name
        self.impl = impl
        self.vjp = vjp
        self.vjp_reads_inputs = reads_inputs
        self.properties = frozenset()
        self.differentiable = True

    def __repr__(self) -> str:
        return f"<eager op {self.name}>"


def apply(op: EagerOp, inputs, **params) -> Tensor:
    """Run ``op`` on ``inputs`` at once and record it for autograd (eager mode only)."""
    refuse_traced(op.name)
    for x in inputs:
        if type(x._data) is not np.ndarray:
            raise RuntimeError(f"{op.name}: complex tensors live on the CPU only, got {x.device}")
    data = op.impl(*[x._data for x in inputs], **params)
    out = _wrap(data)
    if is_grad_enabled() and any(x.requires_grad for x in inputs):
        record(op, tuple(inputs), params, out)
    return out


def _check_tensor(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")


def _as_complex(g: Tensor, like: dtypes.dtype) -> Tensor:
    """``g`` as a tensor of complex dtype ``like`` (a real gradient gets a zero imaginary part)."""
    return g if g.dtype is like else ops.cast(g, like)


def _real_vjp(g, x):
    return (_as_complex(g, x.dtype),)


def _imag_vjp(g, x):
    return (ops.mul(_as_complex(g, x.dtype), 1j),)


def _conj_vjp(g, x):
    return (conj(g),)


_REAL = EagerOp("real", lambda x: x.real, _real_vjp)
_IMAG = EagerOp("imag", lambda x: x.imag, _imag_vjp)
_CONJ = EagerOp("conj", np.conj, _conj_vjp)


def real(x: Tensor) -> Tensor:
    """The real part (a real tensor's is itself), as ``torch.real``.

    >>> real(kiln.tensor([1 + 2j]))
    tensor([1.])
    """
    _check_tensor("real", x)
    if not x.dtype.is_complex:
        return x
    out = apply(_REAL, (x,))
    out._vc = x._vc  # a view of x's storage, as PyTorch's
    return out


def imag(x: Tensor) -> Tensor:
    """The imaginary part of a complex tensor, as ``torch.imag``."""
    _check_tensor("imag", x)
    if not x.dtype.is_complex:
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    out = apply(_IMAG, (x,))
    out._vc = x._vc
    return out


def conj(x: Tensor) -> Tensor:
    """The complex conjugate (a real tensor is returned as is), as ``torch.conj``.

    kiln's conjugate is a new tensor, not PyTorch's lazy conjugate view."""
    _check_tensor("conj", x)
    if not x.dtype.is_complex:
        return x
    return apply(_CONJ, (x,))


def conj_physical(x: Tensor) -> Tensor:
    return conj(x)


def resolve_conj(x: Tensor) -> Tensor:
    return x  # kiln's conj is never lazy


def is_conj(x: Tensor) -> bool:
    return False


def is_complex(x: Tensor) -> bool:
    return x.dtype.is_complex


def _angle_impl(x):
    if x.dtype.kind == "c":
        return np.angle(x)
    # a real number's argument: pi where negative (not at -0.0), NaN stays NaN, else 0
    return np.where(x < 0, np.pi, np.where(np.isnan(x), x, 0)).astype(x.dtype)


def _angle_vjp(g, x):
    if not x.dtype.is_complex:
        return (ops.mul(g, 0.0),)  # piecewise constant (PyTorch's gradient is zero too)
    # d(atan2(y, x)) = (x dy - y dx) / |z|^2: the gradient (-y + ix) / |z|^2 = i z / |z|^2
    size2 = ops.add(ops.mul(real(x), real(x)), ops.mul(imag(x), imag(x)))
    zero = ops.eq(size2, 0)
    direction = ops.where(zero, 0.0, ops.div(ops.mul(x, 1j), ops.where(zero, 1.0, size2)))
    return (ops.mul(_as_complex(g, x.dtype), direction),)


_ANGLE = EagerOp("angle", _angle_impl, _angle_vjp, reads_inputs=True)


def angle(x: Tensor) -> Tensor:
    """The argument of each element in radians (``atan2(imag, real)``), as ``torch.angle``;
    a real tensor's is ``pi`` where negative, else 0 (NaN stays NaN).

    >>> angle(kiln.tensor([1j, -1]))
    tensor([1.5708, 3.1416])
    """
    _check_tensor("angle", x)
    if not (x.dtype.is_complex or x.dtype.is_floating_point):
        x = ops.cast(x, dtypes.get_default_dtype())
    if not x.dtype.is_complex and (current_trace() is not None or x._node is not None):
        # a real tensor's angle traced (no complex primitive in compiled graphs): pi where
        # negative, NaN where NaN, else 0, with PyTorch's zero gradient
        steps = ops.mul(ops.cast(ops.lt(x, 0), x.dtype), np.pi)
        return ops.where(ops.isnan(x), ops.mul(x, 0.0), steps)
    return apply(_ANGLE, (x,))


def sgn(x: Tensor) -> Tensor:
    """``z / |z|`` (0 at 0) for complex tensors, ``sign`` for real ones (``torch.sgn``)."""
    _check_tensor("sgn", x)
    if not x.dtype.is_complex:
        return ops.sign(x)
    size = ops.abs(x)
    safe = ops.where(ops.eq(size, 0), 1.0, size)
    return ops.where(ops.eq(size, 0), 0.0, ops.div(x, safe))


def _complex_vjp(g, re, im):
    return (
        sum_to_shape(real(g), re.shape) if re.requires_grad else None,
        sum_to_shape(imag(g), im.shape) if im.requires_grad else None,
    )


_COMPLEX = EagerOp("complex", lambda re, im: re + 1j * im, _complex_vjp)


def complex(real: Tensor, imag: Tensor) -> Tensor:  # noqa: A001 - torch.complex
    """The complex tensor ``real + i imag`` (broadcast; float32 parts give complex64).

    >>> kiln.complex(kiln.tensor([1.0]), kiln.tensor([2.0]))
    tensor([1.+2.j])
    """
    _check_tensor("complex", real)
    _check_tensor("complex", imag)
    for part in (real, imag):
        if part.dtype not in (dtypes.float32, dtypes.float64):
            raise RuntimeError(
                f"complex(): expected both inputs to be Float or Double tensors but got "
                f"{real.dtype.name} and {imag.dtype.name}"
            )
    if real.dtype is not imag.dtype:
        raise RuntimeError(
            f"complex(): expected object of scalar type {real.dtype.name} but got scalar type "
            f"{imag.dtype.name} for second argument"
        )
    out = apply(_COMPLEX, (real, imag))
    return out if out.dtype is real.dtype.to_complex() else out.to(real.dtype.to_complex())


def polar(abs: Tensor, angle: Tensor) -> Tensor:  # noqa: A002 - torch.polar's names
    """``abs * (cos(angle) + i sin(angle))``, as ``torch.polar``."""
    _check_tensor("polar", abs)
    _check_tensor("polar", angle)
    refuse_traced("polar")
    return complex(ops.mul(abs, ops.cos(angle)), ops.mul(abs, ops.sin(angle)))


def _view_as_real_impl(x):
    parts = np.ascontiguousarray(x) if x.ndim else x.reshape(1)
    return parts.view(parts.real.dtype).reshape(x.shape + (2,))


def _view_as_complex_impl(x):
    return np.ascontiguousarray(x).view(np.result_type(x.dtype, np.complex64))[..., 0]


_VIEW_AS_REAL = EagerOp("view_as_real", _view_as_real_impl, lambda g, x: (view_as_complex(g),))
_VIEW_AS_COMPLEX = EagerOp(
    "view_as_complex", _view_as_complex_impl, lambda g, x: (view_as_real(g),)
)


def view_as_real(x: Tensor) -> Tensor:
    """A complex tensor as a real one with a last axis of 2 (real, imaginary), as
    ``torch.view_as_real``; it shares ``x``'s storage where ``x`` is contiguous."""
    _check_tensor("view_as_real", x)
    if not x.dtype.is_complex:
        raise RuntimeError("view_as_real is only supported for complex tensors")
    out = apply(_VIEW_AS_REAL, (x,))
    if np.may_share_memory(out._data, x._data):
        out._vc = x._vc
    return out


def view_as_complex(x: Tensor) -> Tensor:
    """A float32/float64 tensor whose last axis has size 2 as a complex tensor, as
    ``torch.view_as_complex``."""
    _check_tensor("view_as_complex", x)
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(
            f"view_as_complex is only supported for float and double tensors, but got a "
            f"tensor of scalar type: {x.dtype.name}"
        )
    if x.ndim == 0 or x.shape[-1] != 2:
        raise RuntimeError(
            f"view_as_complex: Tensor must have a last dimension of size 2, got shape "
            f"{list(x.shape)}"
        )
    out = apply(_VIEW_AS_COMPLEX, (x,))
    if np.may_share_memory(out._data, x._data):
        out._vc = x._vc
    return out


def to_real_dtype(x: Tensor, dtype: dtypes.dtype) -> Tensor:
    """An explicit ``x.to(dtype)`` of a complex tensor to a real dtype: PyTorch keeps the
    real part and warns (``bool`` tests against zero)."""
    import warnings

    if dtype is dtypes.bool_:
        return ops.ne(x, 0)
    warnings.warn(
        "Casting complex values to real discards the imaginary part", UserWarning, stacklevel=3
    )
    return ops.cast(real(x), dtype)


# ------------------------------------------------------------------------------ autograd

# Primitives whose real VJP rule, conjugated around, is the complex one: holomorphic
# functions and linear maps with real coefficients (see the module docstring).
_HOLOMORPHIC = frozenset(
    """
    neg exp log sqrt sin cos tanh reciprocal add sub mul div pow where sum reshape permute
    expand slice pad concat take take_grad gather scatter_add matmul cumsum
    """.split()
)


def _abs_vjp(g, x):
    return (ops.mul(g, sgn(x)),)


def _cast_vjp(g, x, dtype):
    if x.dtype.is_complex:
        return (_as_complex(g, x.dtype),)
    if not x.dtype.is_floating_point:
        return (None,)
    return (ops.cast(real(g), x.dtype),)  # real -> complex: the real part flows back


def _pow_vjp(g, a, b):
    # PyTorch's pow_backward_self / pow_backward_exponent, conjugated: d(a^b)/da = b a^(b-1),
    # d(a^b)/db = a^b log(a), zero where b == 0 (for a) or a == 0 and Re(b) >= 0 (for b)
    def grad_a():
        slope = ops.mul(b, ops.pow(a, ops.sub(b, 1)))
        return ops.where(ops.eq(b, 0), 0.0, ops.mul(g, conj(slope)))

    def grad_b():
        slope = ops.mul(ops.pow(a, b), ops.log(a))
        at_zero = ops.logical_and(ops.eq(a, 0), ops.ge(real(b), 0))
        return ops.where(at_zero, 0.0, ops.mul(g, conj(slope)))

    return tuple(
        _to_input(sum_to_shape(grad(), x.shape), x) if x.requires_grad else None
        for x, grad in ((a, grad_a), (b, grad_b))
    )


def _to_input(grad, x):
    """A gradient for input ``x``: a real input takes the real part."""
    if grad.dtype.is_complex and not x.dtype.is_complex:
        return real(grad)
    return grad


_SPECIAL = {"abs": _abs_vjp, "cast": _cast_vjp, "pow": _pow_vjp}


def _with_complex_vjp(prim, rule):
    name = prim.name
    special = _SPECIAL.get(name)

    def vjp(g, *inputs, **params):
        if not (g.dtype.is_complex or any(x.dtype.is_complex for x in inputs)):
            return rule(g, *inputs, **params)
        if special is not None:
            return special(g, *inputs, **params)
        if name not in _HOLOMORPHIC:
            raise NotImplementedError(
                f"the derivative of {name} is not implemented for complex tensors in kiln"
            )
        grads = rule(conj(g), *inputs, **params)
        return tuple(None if gi is None else conj(gi) for gi in grads)

    vjp.__name__ = getattr(rule, "__name__", name)
    vjp.__doc__ = rule.__doc__
    vjp.real_rule = rule
    return vjp


# ------------------------------------------------------------------------------ refusals


def _refusal(name: str, exc_type, message: str):
    def check(*arrays):
        for a in arrays:
            if isinstance(a, np.ndarray) and a.dtype.kind == "c":
                raise exc_type(message.format(type=dtypes.torch_name(a.dtype)))

    return check


_ORDER = "complex tensors have no ordering (PyTorch: \"{op}_cpu\" not implemented for '{{type}}')"
_REFUSALS = {
    **{
        op: _refusal(op, NotImplementedError, _ORDER.format(op=op))
        for op in ("lt", "le", "gt", "ge")
    },
    "maximum": _refusal("maximum", RuntimeError, "maximum not implemented for complex tensors."),
    "minimum": _refusal("minimum", RuntimeError, "minimum not implemented for complex tensors."),
    "max": _refusal(
        "max",
        NotImplementedError,
        "not implemented for '{type}' (complex tensors have no ordering)",
    ),
    "argmax": _refusal("argmax", RuntimeError, "argmax()/argmin(): does not support complex input"),
    "argsort": _refusal("argsort", RuntimeError, "sort does not support complex dtypes"),
    "sign": _refusal(
        "sign",
        NotImplementedError,
        "Unlike NumPy, torch.sign is not intended to support complex numbers. Please use "
        "torch.sgn instead.",
    ),
    "floor": _refusal("floor", NotImplementedError, "floor is not supported for complex inputs"),
    "fmod": _refusal("fmod", NotImplementedError, "not implemented for '{type}'"),
    **{
        op: _refusal(op, NotImplementedError, "not implemented for '{type}' in kiln")
        for op in ("erf", "atan", "asin", "acos", "atanh", "acosh")
    },
}


def _guarded_impl(prim, impl, check):
    def run(*arrays, **params):
        check(*arrays)
        return impl(*arrays, **params)

    run.__name__ = getattr(impl, "__name__", prim.name)
    return run


def _cast_impl(impl):
    def cast(x, dtype):
        if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
            raise RuntimeError(
                f"kiln does not convert {x.dtype.name} to {dtype} implicitly (the "
                "imaginary part would be lost, or the op does not support complex tensors); "
                "use .real, .abs() or an explicit .to(dtype)"
            )
        return impl(x, dtype)

    return cast


def _traced_rule(prim, rule):
    # (every node the tracer and the compiler's passes make runs this: the dtypes, rarely
    # complex, are looked at first, the trace only then)
    def shape_rule(shapes, dtype_names, **params):
        for d in dtype_names:
            if d.startswith("complex"):
                break
        else:
            if "dtype" not in params or not str(params["dtype"]).startswith("complex"):
                return rule(shapes, dtype_names, **params)
        if current_trace() is not None:
            raise NotImplementedError(f"{prim.name}: {EAGER_ONLY}")
        return rule(shapes, dtype_names, **params)

    return shape_rule


# The tensor operations (Tensor methods and their kiln / kiln.ops functions) checked to be
# right on complex tensors; every other one of ``kiln.ops.methods``' table refuses a complex
# input, since many treat "not floating point" as "integer" and would answer wrongly.
COMPLEX_OPS = frozenset(
    """
    add sub mul div pow neg exp log sqrt sin cos tanh abs reciprocal square eq ne isnan
    true_divide multiply subtract divide negative absolute sum mean reshape view permute
    transpose t unsqueeze squeeze flatten unflatten expand expand_as broadcast_to narrow split
    chunk unbind flip repeat tile roll movedim swapaxes matmul mm bmm mv outer index_select
    take gather masked_fill where isclose allclose equal
    """.split()
)


def _refuse_complex(name, fn):
    def op(*args, **kwargs):
        for a in args:
            if isinstance(a, Tensor) and a.dtype._category == 3:
                raise NotImplementedError(
                    f"{name}: not supported for complex tensors in kiln (got {a.dtype.name}); "
                    "kiln.complex_tensors.COMPLEX_OPS lists the operations that are"
                )
        return fn(*args, **kwargs)

    op.__name__ = getattr(fn, "__name__", name)
    op.__doc__ = fn.__doc__
    op.__wrapped__ = fn
    op._refuses_complex = True
    return op


def install_refusals(method_names, *namespaces) -> None:
    """Make the Tensor methods ``method_names`` and the functions of the same names in
    ``namespaces`` raise on complex inputs, except the ``COMPLEX_OPS``."""
    for name in method_names:
        if name in COMPLEX_OPS:
            continue
        method = Tensor.__dict__.get(name)
        if callable(method) and not getattr(method, "_refuses_complex", False):
            setattr(Tensor, name, _refuse_complex(name, method))
        wrapped = {}
        for namespace in namespaces:
            fn = namespace.get(name)
            if not callable(fn) or isinstance(fn, type):
                continue
            if getattr(fn, "_refuses_complex", False):
                continue
            if id(fn) not in wrapped:
                wrapped[id(fn)] = _refuse_complex(name, fn)
            namespace[name] = wrapped[id(fn)]


def install() -> None:
    """Teach the op table's records about complex inputs (once, at import of kiln)."""
    for prim in PRIMITIVES.values():
        if getattr(prim, "_complex_aware", False):
            continue
        if prim.vjp is not None:
            object.__setattr__(prim, "vjp", _with_complex_vjp(prim, prim.vjp))
        if prim.name in _REFUSALS:
            object.__setattr__(prim, "impl", _guarded_impl(prim, prim.impl, _REFUSALS[prim.name]))
        if prim.name == "cast":
            object.__setattr__(prim, "impl", _cast_impl(prim.impl))
        object.__setattr__(prim, "shape_rule", _traced_rule(prim, prim.shape_rule))
        object.__setattr__(prim, "_complex_aware", True)


def _with_complex_jvp(prim, rule):
    """Forward mode refuses complex values: its rules (``cast`` to complex drops the tangent,
    ``abs`` uses ``sign``) would answer wrongly, so say so instead."""
    name = prim.name

    def jvp(primals, tangents, out, **params):
        if out.dtype.is_complex or any(
            isinstance(p, Tensor) and p.dtype.is_complex for p in primals
        ):
            raise NotImplementedError(
                f"forward-mode AD of {name}: complex values are not supported by kiln's "
                "forward mode (kiln.func.jvp, kiln.autograd.forward_ad); use reverse mode"
            )
        return rule(primals, tangents, out, **params)

    return jvp


def install_jvp_guards() -> None:
    """Wrap the JVP rules (attached by ``kiln.func``, after ``install``) once."""
    for prim in PRIMITIVES.values():
        if prim.jvp is not None and not getattr(prim, "_complex_jvp", False):
            object.__setattr__(prim, "jvp", _with_complex_jvp(prim, prim.jvp))
            object.__setattr__(prim, "_complex_jvp", True)


def install_methods() -> None:
    """The complex methods and properties of ``Tensor``."""
    Tensor.real = property(real)
    Tensor.imag = property(imag)
    Tensor.conj = conj
    Tensor.conj_physical = conj_physical
    Tensor.resolve_conj = resolve_conj
    Tensor.is_conj = is_conj
    Tensor.angle = angle
    Tensor.sgn = sgn
    Tensor.is_complex = is_complex
    Tensor.H = property(lambda self: conj(self.T))  # the conjugate transpose
    Tensor.mH = property(lambda self: conj(self.mT))
    Tensor.adjoint = lambda self: conj(self.mT)


def method_names_to_guard() -> list:
    """The operations of ``kiln.ops.methods``' table (what a Tensor method forwards to)."""
    from .ops.methods import _METHODS

    return list(_METHODS)
