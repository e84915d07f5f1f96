"""``kiln.library``: PyTorch's Python custom operators (the "Python Custom Operators"
tutorial) on kiln.

``@custom_op("mylib::name", mutates_args=())`` turns a function into an operator;
``register_autograd(backward, setup_context=...)`` makes it differentiable (run as a custom
``autograd.Function``: ``setup_context(ctx, inputs, output)`` then ``backward(ctx,
*grads)``); ``register_fake`` records the shape function, which ``opcheck`` compares with
the real outputs; ``register_kernel("cpu", fn)`` replaces the implementation. The operator
is also reachable as ``kiln.ops.<namespace>.<name>`` (``torch.ops.mylib.crop``).
kiln does not parse the type annotations into a schema: what is not a tensor passes through.
"""

from __future__ import annotations

import functools
import types

from .tensor import Tensor

__all__ = [
    "CustomOpDef",
    "custom_op",
    "opcheck",
    "register_autograd",
    "register_fake",
    "register_kernel",
]

_OPS: dict[str, CustomOpDef] = {}


def _tensors(obj):
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors(x)


class CustomOpDef:
    """A custom operator made by ``custom_op``; call it as the function it wraps."""

    def __init__(self, name: str, fn, mutates_args, device_types=None):
        if "::" not in name:
            raise ValueError(f"custom_op: expected a name 'namespace::opname', got {name!r}")
        if mutates_args == "unknown":
            mutates_args = ()
        if isinstance(mutates_args, str) or not hasattr(mutates_args, "__iter__"):
            raise ValueError(
                "custom_op: mutates_args must be an iterable of argument names or 'unknown'"
            )
        self._namespace, self._name = name.split("::", 1)
        self._qualname = name
        self._init_fn = fn
        self._mutates_args = tuple(mutates_args)
        self._fake_fn = None
        self._backward_fn = None
        self._setup_context_fn = None
        self._kernels = {}
        self._function = None
        if device_types is not None:
            for d in [device_types] if isinstance(device_types, str) else device_types:
                self._kernels[d] = fn
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<CustomOpDef({self._qualname})>"

    # ------------------------------------------------------------------ registration
    def register_fake(self, fn):
        self._fake_fn = fn
        return fn

    def register_kernel(self, device_types, fn=None):
        def register(f):
            for d in [device_types] if isinstance(device_types, str) else device_types:
                self._kernels[d] = f
            return f

        return register if fn is None else register(fn)

    def register_autograd(self, backward, /, *, setup_context=None) -> None:
        if self._mutates_args:
            raise RuntimeError(
                f"register_autograd: {self._qualname} mutates its arguments "
                f"{list(self._mutates_args)}; autograd is not supported for such operators"
            )
        self._backward_fn = backward
        self._setup_context_fn = setup_context
        self._function = None

    # ---------------------------------------------------------------------- calling
    def _impl(self, args):
        device = next((t.device.type for t in _tensors(args)), "cpu")
        return self._kernels.get(device, self._kernels.get("default", self._init_fn))

    def __call__(self, *args, **kwargs):
        from .autograd.grad_mode import no_grad

        impl = self._impl(args)
        if self._backward_fn is None:
            with no_grad():
                return impl(*args, **kwargs)
        return self._autograd_function().apply(impl, kwargs, *args)

    def _autograd_function(self):
        if self._function is None:
            from .autograd.function import Function

            op = self

            class _CustomOp(Function):
                @staticmethod
                def forward(impl, kwargs, *args):
                    return impl(*args, **kwargs)

                @staticmethod
                def setup_context(ctx, inputs, output):
                    if op._setup_context_fn is not None:
                        op._setup_context_fn(ctx, tuple(inputs[2:]), output)

                @staticmethod
                def backward(ctx, *grads):
                    out = op._backward_fn(ctx, *grads)
                    out = out if isinstance(out, tuple) else (out,)
                    return (None, None, *out)

            _CustomOp.__name__ = _CustomOp.__qualname__ = self._name
            self._function = _CustomOp
        return self._function


def custom_op(name, fn=None, /, *, mutates_args, device_types=None, schema=None):
    """``@custom_op("mylib::crop", mutates_args=())``: the decorated function as an
    operator (a ``CustomOpDef``), also reachable as ``kiln.ops.mylib.crop``."""

    def wrap(f):
        op = CustomOpDef(name, f, mutates_args, device_types)
        _OPS[name] = op
        from . import ops as _ops_module

        space = getattr(_ops_module, op._namespace, None)
        if space is None:
            space = types.SimpleNamespace()
            setattr(_ops_module, op._namespace, space)
        if isinstance(space, types.SimpleNamespace):
            setattr(space, op._name, op)
            op.default = op
        return op

    return wrap if fn is None else wrap(fn)


def _op(op) -> CustomOpDef:
    if isinstance(op, CustomOpDef):
        return op
    if op in _OPS:
        return _OPS[op]
    raise ValueError(f"kiln.library: {op!r} is not a custom operator made with custom_op")


def register_fake(op, fn=None, /, *, lib=None, _stacklevel=1):
    def register(f):
        return _op(op).register_fake(f)

    return register if fn is None else register(fn)


def register_autograd(op, backward, /, *, setup_context=None, lib=None) -> None:
    _op(op).register_autograd(backward, setup_context=setup_context)


def register_kernel(op, device_types, fn=None, /, *, lib=None):
    return _op(op).register_kernel(device_types, fn)


def opcheck(op, args, kwargs=None, *, test_utils=None, raise_exception=True, atol=None, rtol=None):
    """Check a custom operator on ``args`` as PyTorch's ``opcheck`` does, as far as kiln
    can: it runs; its fake (``register_fake``) gives outputs of the real ones' shapes,
    dtypes and strides; inputs that require grad have an autograd formula. The test names map to
    ``"SUCCESS"``, or the first failure raises (``raise_exception``) or is reported."""
    op = _op(op)
    kwargs = kwargs or {}
    results = {
        "test_schema": "SUCCESS",
        "test_autograd_registration": "SUCCESS",
        "test_faketensor": "SUCCESS",
        "test_aot_dispatch_dynamic": "SUCCESS",
    }

    def fail(test, message):
        error = RuntimeError(f"opcheck({op._qualname}): {test} failed: {message}")
        if raise_exception:
            raise error
        results[test] = error

    from .autograd.grad_mode import no_grad

    with no_grad():
        real = op._impl(args)(*args, **kwargs)
    if any(t.requires_grad for t in _tensors(args)) and op._backward_fn is None:
        fail(
            "test_autograd_registration",
            "inputs require grad but no autograd formula was registered (register_autograd)",
        )
    if op._fake_fn is None:
        if list(_tensors(real)):
            fail("test_faketensor", "no fake implementation registered (register_fake)")
    else:
        with no_grad():
            fake = op._fake_fn(*args, **kwargs)
        got, want = list(_tensors(fake)), list(_tensors(real))
        if len(got) != len(want) or any(
            tuple(f.shape) != tuple(r.shape) or f.dtype != r.dtype or f.stride() != r.stride()
            for f, r in zip(got, want)
        ):
            fail(
                "test_faketensor",
                "the fake implementation's outputs (shape, dtype, stride) "
                f"{[(list(f.shape), f.dtype, f.stride()) for f in got]} differ from the real "
                f"ones {[(list(r.shape), r.dtype, r.stride()) for r in want]}",
            )
    return results
