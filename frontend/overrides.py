"""``kiln.overrides``: PyTorch's ``__torch_function__`` protocol (``torch.overrides``).

A Tensor subclass, or any type, that defines ``__torch_function__(cls, func, types,
args=(), kwargs=None)`` is handed every call of a public kiln function (``kiln.*``,
``kiln.nn.functional.*``, ``kiln.linalg.*``, ``kiln.fft.*``, ``kiln.special.*``) and of a
Tensor method, operator or property getter that has one of its instances among the
arguments; a ``TorchFunctionMode`` entered with ``with`` is handed every call. ``func`` is
the public object the user compares with (``func is kiln.add``, ``func is Tensor.add``;
``x + y`` reports ``Tensor.add``, ``x.shape`` reports ``Tensor.shape.__get__``), as in
PyTorch 2.13.

Zero cost when unused: kiln's functions check nothing until the protocol is needed
(``kiln.overrides_install``). The checks are installed once a class that overrides
``__torch_function__`` is defined (``Tensor.__init_subclass__``, or, for a duck type that
is no Tensor, the class statement itself: ``builtins.__build_class__`` is watched until
then), or a mode is entered; they are removed again once no such class is alive and no
mode is active. The check is put into the public function object itself (its
``__code__`` becomes a small trampoline; the original code runs as a copy of the
function), so every reference to it (``from kiln import add`` made before, kiln's own
modules, kiln.fx's target table) sees the protocol and keeps its identity. The list of
public functions is kiln.fx's (``kiln.fx.tracer._public_functions``).

Where kiln differs from PyTorch:

- kiln.jit refuses to trace under an override or a mode (TraceError; kiln.compile then runs
  the call eagerly): a compiled graph runs without Python. A variant compiled before a mode
  was entered is guarded on the number of modes entered: a call under a mode retraces (and
  refuses).
- ``func.__name__`` is kiln's: ``kiln.linalg.norm`` is ``norm`` (PyTorch's native name is
  ``linalg_norm``), and ``kiln.special.expit`` is ``kiln.sigmoid`` itself.
- ``grad_fn`` is an attribute, not a property: reading it reaches no override.
- while the protocol is installed, eager mode's reuse of temporary buffers (``a * b + c``)
  is off, and each covered call costs about a microsecond more.

A logging subclass (not run as a doctest: a class alive keeps the protocol installed)::

    class Logged(kiln.Tensor):
        seen = []

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            cls.seen.append(func.__name__)
            return super().__torch_function__(func, types, args, kwargs)

    x = kiln.ones(2).as_subclass(Logged)
    type(kiln.add(x, 1))  # Logged; Logged.seen == ["add"]
"""

from __future__ import annotations

import importlib
import threading
import types

from . import context
from .tensor import Tensor

# (a copy: the protocol's own check must not go through the protocol)
current_trace = types.FunctionType(
    context.current_trace.__code__, vars(context), "current_trace", None, None
)

__all__ = [
    "TorchFunctionMode",
    "enable_reentrant_dispatch",
    "get_ignored_functions",
    "get_overridable_functions",
    "handle_torch_function",
    "has_torch_function",
    "has_torch_function_unary",
    "has_torch_function_variadic",
    "is_tensor_like",
    "is_tensor_method_or_property",
]


class _State(threading.local):
    """Per thread, as PyTorch's: the mode stack and the two disabling switches."""

    subclass_disabled = 0  # DisableTorchFunctionSubclass: modes only
    all_disabled = 0  # DisableTorchFunction: nothing

    def __init__(self):
        self.modes: list = []


_STATE = _State()


def _disabled_torch_function_impl(func, types, args=(), kwargs=None):
    """``__torch_function__ = _disabled_torch_function_impl`` opts a Tensor subclass out of
    the protocol (``nn.Parameter``'s): its instances are plain tensors to it."""
    with DisableTorchFunctionSubclass():
        return func(*args, **(kwargs or {}))


class DisableTorchFunctionSubclass:
    """``with DisableTorchFunctionSubclass():`` subclasses' ``__torch_function__`` are not
    called (modes still are): what ``Tensor.__torch_function__`` runs ``func`` under."""

    def __enter__(self):
        _STATE.subclass_disabled += 1
        return self

    def __exit__(self, *exc):
        _STATE.subclass_disabled -= 1


class DisableTorchFunction:
    """``with DisableTorchFunction():`` neither subclasses nor modes are called."""

    def __enter__(self):
        _STATE.all_disabled += 1
        return self

    def __exit__(self, *exc):
        _STATE.all_disabled -= 1


def _is_torch_function_enabled() -> bool:
    return not (_STATE.all_disabled or _STATE.subclass_disabled)


def _is_torch_function_mode_enabled() -> bool:
    return bool(_STATE.modes) and not _STATE.all_disabled


# ------------------------------------------------------------------ which types override


# the types that do not take part (no ``__torch_function__`` other than the disabled one,
# or Tensor itself)
_OVERRIDES: dict = {Tensor: False}
# types that never do (skipped first thing in the argument scan)
_PLAIN = frozenset((int, float, bool, complex, str, type(None), slice, type(...), Tensor))


def _type_overrides(t: type) -> bool:
    found = _OVERRIDES.get(t)
    if found is None:
        method = getattr(t, "__torch_function__", None)
        found = method is not None and getattr(method, "__func__", method) is not _DISABLED
        if not found:  # (a type that takes part is not held: it may be collected)
            _OVERRIDES[t] = False
    return found


_DISABLED = _disabled_torch_function_impl


def _is_overloaded(value) -> bool:
    t = type(value)
    return t not in _PLAIN and (_OVERRIDES.get(t) or _type_overrides(t))


def _relevant_args(args, kwargs) -> list:
    """The arguments (and items of list / tuple arguments) whose type overrides
    ``__torch_function__``, in order."""
    found = []
    for a in args:
        t = type(a)
        if t is list or t is tuple:
            found += [b for b in a if _is_overloaded(b)]
        elif t not in _PLAIN and _is_overloaded(a):
            found.append(a)
    if kwargs:
        for a in kwargs.values():
            if type(a) is list or type(a) is tuple:
                found += [b for b in a if _is_overloaded(b)]
            elif _is_overloaded(a):
                found.append(a)
    return found


def _get_overloaded_args(relevant_args) -> list:
    """PyTorch's order: one argument per type, a subclass before its superclass, otherwise
    left to right."""
    overloaded_types: set = set()
    overloaded: list = []
    for arg in relevant_args:
        arg_type = type(arg)
        if arg_type in overloaded_types or not _type_overrides(arg_type):
            continue
        index = len(overloaded)
        for i, old in enumerate(overloaded):
            if issubclass(arg_type, type(old)):
                index = i
                break
        overloaded.insert(index, arg)
        overloaded_types.add(arg_type)
    return overloaded


# ------------------------------------------------------------------ the public API


def has_torch_function(relevant_args) -> bool:
    """Whether a call with ``relevant_args`` goes to a ``__torch_function__``: one of them
    (an item of a list or tuple among them) overrides it, or a mode is active."""
    if _STATE.all_disabled:
        return False
    if _STATE.modes:
        return True
    if _STATE.subclass_disabled:
        return False
    return bool(_relevant_args(tuple(relevant_args), None))


def has_torch_function_unary(arg) -> bool:
    return has_torch_function((arg,))


def has_torch_function_variadic(*args) -> bool:
    return has_torch_function(args)


def handle_torch_function(public_api, relevant_args, *args, **kwargs):
    """Call ``public_api``'s override: the innermost active mode first, then each
    overloaded argument's type (subclass before superclass, left to right) until one
    returns something other than ``NotImplemented``; TypeError when none does.

    >>> class Half:
    ...     @classmethod
    ...     def __torch_function__(cls, func, types, args=(), kwargs=None):
    ...         return 0.5
    >>> handle_torch_function(len, (Half(),), Half())
    0.5
    """
    overloaded = _get_overloaded_args(relevant_args)
    result = _call_overrides(public_api, overloaded, args, kwargs)
    if result is not _UNHANDLED:
        return result
    name = f"{getattr(public_api, '__module__', None)}.{getattr(public_api, '__name__', '')}"
    message = (
        f"no implementation found for '{name}' on types that implement __torch_function__: "
        f"{[type(a) for a in overloaded]}"
    )
    mode = _get_current_function_mode() if not _STATE.all_disabled else None
    raise TypeError(message if mode is None else f"{message} nor in mode {mode}")


_UNHANDLED = object()


def _call_overrides(public, overloaded, args, kwargs, kinds=None):
    """The innermost active mode's override, then each overloaded argument's; the first
    result other than ``NotImplemented``, else ``_UNHANDLED``."""
    state = _STATE
    if kinds is None:
        kinds = tuple(type(a) for a in overloaded)
    if state.modes and not state.all_disabled:
        mode = state.modes.pop()  # the mode's own calls go to the modes below it
        try:
            result = mode.__torch_function__(public, kinds, args, kwargs)
        finally:
            state.modes.append(mode)
        if result is not NotImplemented:
            return result
    if not state.subclass_disabled and not state.all_disabled:
        for arg in overloaded:
            result = arg.__torch_function__(public, kinds, args, kwargs)
            if result is not NotImplemented:
                return result
    return _UNHANDLED


def _handle(public, overloaded, args, kwargs, name, kinds=None):
    """A covered function's call handed to the overrides (TypeError when none takes it)."""
    result = _call_overrides(public, overloaded, args, kwargs, kinds)
    if result is not _UNHANDLED:
        return result
    if kinds is None:
        kinds = tuple(type(a) for a in overloaded)
    mode = _get_current_function_mode() if not _STATE.all_disabled else None
    raise TypeError(_no_implementation(name, kinds, mode))


def _no_implementation(name: str, kinds: tuple, mode) -> str:
    """PyTorch's two messages: its native functions' (torch.*, Tensor's members) and its
    Python functions' (torch.nn.functional's, handle_torch_function's)."""
    if name.startswith("kiln.nn.functional.") and name[20:] not in _native_functional():
        message = (
            f"no implementation found for '{name}' on types that implement "
            f"__torch_function__: {list(kinds)}"
        )
        return message if mode is None else f"{message} nor in mode {mode}"
    listed = [f"  - tensor subclass {k}" for k in kinds]
    if mode is not None:
        listed.insert(0, f"  - mode object {mode}")
    return (
        f"Multiple dispatch failed for '{name}'; all __torch_function__ handlers returned "
        "NotImplemented:\n\n" + "\n".join(listed)
    )


def _native_functional() -> dict:
    """kiln.nn.functional's names that are native functions in PyTorch (kiln.fx's table)."""
    from .fx.tracer import _TORCH_SPELLINGS

    return _TORCH_SPELLINGS


def is_tensor_like(inp) -> bool:
    """Whether ``inp`` is a Tensor or has a ``__torch_function__`` (a duck type)."""
    return type(inp) is Tensor or hasattr(inp, "__torch_function__")


def is_tensor_method_or_property(func) -> bool:
    """Whether ``func`` is one of Tensor's methods or property getters."""
    from .overrides_install import _tensor_members

    return func in _tensor_members().values() or getattr(func, "__name__", None) == "__get__"


class TorchFunctionMode:
    """A mode that intercepts every kiln function and Tensor method called while it is
    entered (``with mode:``); modes nest, the innermost one is asked first, and calls it
    makes go to the modes below it.

    >>> import kiln
    >>> class Count(TorchFunctionMode):
    ...     def __init__(self):
    ...         self.names = []
    ...     def __torch_function__(self, func, types, args=(), kwargs=None):
    ...         self.names.append(func.__name__)
    ...         return func(*args, **(kwargs or {}))
    >>> with Count() as count:
    ...     _ = kiln.ones(2).sum()
    >>> count.names
    ['ones', 'sum']
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        raise NotImplementedError

    def __enter__(self):
        _install_protocol()
        _STATE.modes.append(self)
        _ENTERED.append(self)
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        modes = _STATE.modes
        if modes and modes[-1] is self:
            modes.pop()
        elif self in modes:
            modes.remove(self)
        if self in _ENTERED:
            _ENTERED.remove(self)
        _release_protocol()

    @classmethod
    def push(cls, *args, **kwargs):
        mode = cls(*args, **kwargs)
        _install_protocol()
        _STATE.modes.append(mode)
        _ENTERED.append(mode)
        return mode


# The modes entered in any thread: kiln.jit's compiled variants are guarded on how many
# (``_ENTERED.__len__``: a guard read on every compiled call, so the cheapest there is)
_ENTERED: list = []


def _install_protocol() -> None:
    from .overrides_install import _install

    _install()


def _release_protocol() -> None:
    from .overrides_install import _release

    _release()


def _get_current_function_mode():
    return _STATE.modes[-1] if _STATE.modes else None


def _get_current_function_mode_stack() -> list:
    return list(_STATE.modes)


def _len_torch_function_stack() -> int:
    return len(_STATE.modes)


class enable_reentrant_dispatch:  # noqa: N801  (torch's name)
    """PyTorch's reentrant-dispatch switch; kiln has no dispatcher below Python: a no-op."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def get_ignored_functions() -> set:
    """The public functions that no ``__torch_function__`` of an argument overrides
    (factories and state switches, as PyTorch's list)."""
    from .overrides_install import _FUNCTIONAL_IGNORED, _MODE_ONLY, _NOT_COVERED

    found = set()
    for module_name, names in (("kiln", _MODE_ONLY | _NOT_COVERED),):
        module = importlib.import_module(module_name)
        found.update(getattr(module, n) for n in names if callable(getattr(module, n, None)))
    functional = importlib.import_module("kiln.nn.functional")
    found.update(getattr(functional, n) for n in _FUNCTIONAL_IGNORED if hasattr(functional, n))
    return found


def get_overridable_functions() -> dict:
    """``{namespace: [functions]}``: the kiln functions and Tensor methods / property
    getters that hand their calls to ``__torch_function__``."""
    from .overrides_install import _NOT_COVERED, _public_entries, _tensor_members

    result: dict = {}
    for module_name, name, fn in _public_entries():
        if name in _NOT_COVERED and module_name == "kiln":
            continue
        result.setdefault(importlib.import_module(module_name), []).append(fn)
    methods = result.setdefault(Tensor, [])
    for value in _tensor_members().values():
        methods.append(value.__get__ if isinstance(value, property) else value)
    return result


def _default_torch_function(cls, func, types_, args=(), kwargs=None):
    """``Tensor.__torch_function__``: run ``func`` with subclasses' overrides off and give
    tensor results (also inside tuples and lists) the subclass ``cls``."""
    if kwargs is None:
        kwargs = {}
    if not all(issubclass(cls, t) for t in types_):
        return NotImplemented
    with DisableTorchFunctionSubclass():
        result = func(*args, **kwargs)
        if func in _no_wrap():
            return result
        return _convert(result, cls)


def _convert(result, cls):
    if cls is Tensor:
        return result
    if isinstance(result, Tensor) and not isinstance(result, cls):
        return result.as_subclass(cls)
    if isinstance(result, (tuple, list)):
        parts = [_convert(r, cls) for r in result]
        if hasattr(result, "_fields"):  # kiln.return_types (named tuples)
            return type(result)(*parts)
        return type(result)(parts)
    return result


def _no_wrap() -> tuple:
    """PyTorch's get_default_nowrap_functions: ``.grad`` stays a plain tensor."""
    return (Tensor.grad.__get__,)


from . import overrides_install as _overrides_install  # noqa: E402, F401  (watches classes)
