"""How kiln's functions take part in ``__torch_function__`` (``kiln.overrides``), at no
cost while nothing needs it.

The covered functions are kiln.fx's list of public functions (``kiln``,
``kiln.nn.functional``, ``kiln.linalg``, ``kiln.fft``, ``kiln.special``) and Tensor's
methods, operators and property getters. ``_install`` replaces each one's ``__code__`` by a
small trampoline (the function object, and so every reference to it, stays the same): it
asks ``_needed`` whether a mode is active or an argument overrides the protocol, hands the
call to ``kiln.overrides`` if so, and otherwise calls a copy of the function running its
original code, from a frame that carries the original's file name (kiln's frame walks tell
its own frames from the user's by file). It is installed once a class overriding
``__torch_function__`` is defined (``Tensor.__init_subclass__``; for a duck type, the class
statement: ``builtins.__build_class__`` is watched until then) or a mode is entered, and
removed (``_uninstall``) at a safe point once no such class is alive and no mode active.
``Tensor.__new__`` (PyTorch's ``super().__new__(cls, data)``) is defined once a subclass
with a ``__new__`` of its own is (kiln's ops make tensors with ``object.__new__``).
"""

from __future__ import annotations

import builtins
import importlib
import threading
import types
import weakref

from .overrides import (
    _DISABLED,
    _OVERRIDES,
    _PLAIN,
    _STATE,
    DisableTorchFunction,
    _get_overloaded_args,
    _handle,
    _is_overloaded,
    _relevant_args,
    _type_overrides,
    current_trace,
)
from .tensor import Tensor

# ------------------------------------------------------------------ the functions covered

# PyTorch's get_ignored_functions() among kiln's names: functions no Tensor argument
# overrides. Factories (and a few others) still go to modes, as in PyTorch ...
_MODE_ONLY = frozenset(
    """
arange as_strided as_tensor asarray bartlett_window blackman_window can_cast empty
empty_permuted empty_strided eye fill full hamming_window hann_window kaiser_window linspace
logspace normal ones promote_types rand rand_like randint randint_like randn randn_like
randperm range result_type scalar_tensor sparse_coo_tensor tensor tril_indices triu_indices
vander zeros
""".split()
)
# ... the rest are left as they are (state switches and queries, no tensor function)
_NOT_COVERED = frozenset(
    """
are_deterministic_algorithms_enabled autocast_decrement_nesting autocast_increment_nesting
broadcast_shapes clear_autocast_cache compile cond device dtype enable_grad finfo frombuffer
from_numpy get_autocast_cpu_dtype get_autocast_dtype get_autocast_gpu_dtype
get_autocast_ipu_dtype get_autocast_xla_dtype get_default_device get_default_dtype
get_float32_matmul_precision get_num_interop_threads get_num_threads get_rng_state iinfo
inference_mode initial_seed is_anomaly_check_nan_enabled is_anomaly_enabled
is_autocast_cache_enabled is_autocast_cpu_enabled is_autocast_enabled
is_deterministic_algorithms_warn_only_enabled is_grad_enabled is_inference_mode_enabled
is_tensor is_warn_always_enabled layout load manual_seed memory_format no_grad save seed
set_anomaly_enabled set_autocast_cache_enabled set_autocast_cpu_dtype
set_autocast_cpu_enabled set_autocast_dtype set_autocast_enabled set_autocast_gpu_dtype
set_default_device set_default_dtype set_default_tensor_type set_float32_matmul_precision
set_flush_denormal set_grad_enabled set_num_interop_threads set_num_threads
set_printoptions set_rng_state set_warn_always typename use_deterministic_algorithms vmap
is_storage is_nonzero
""".split()
)
# kiln's own helpers that its namespaces happen to import (not PyTorch functions)
_INTERNAL = frozenset(
    """
apply autocast_op computes_in_float32 constant current_trace escape_trace grad is_tracing
keeps_input_memory_format refuse_traced rename return_type value_and_grad
""".split()
)
# F.sigmoid / F.tanh / F.hardsigmoid ... are on PyTorch's ignored list too (they call the
# Tensor method, which is what reaches __torch_function__)
_FUNCTIONAL_IGNORED = frozenset(
    "hardsigmoid hardswish sigmoid tanh upsample upsample_bilinear upsample_nearest".split()
)

# Tensor's operators reach __torch_function__ as these methods (``x + 1`` is
# ``Tensor.add``, ``1 - x`` stays ``Tensor.__rsub__``), as PyTorch's
_OPERATOR_METHODS = {
    "__abs__": "abs",
    "__add__": "add",
    "__radd__": "add",
    "__iadd__": "add_",
    "__sub__": "sub",
    "__isub__": "sub_",
    "__mul__": "mul",
    "__rmul__": "mul",
    "__imul__": "mul_",
    "__truediv__": "div",
    "__itruediv__": "div_",
    "__rtruediv__": "__rdiv__",
    "__matmul__": "matmul",
    "__mod__": "remainder",
    "__imod__": "remainder_",
    "__ifloordiv__": "floor_divide_",
    "__neg__": "neg",
    "__pos__": "positive",
    "__pow__": "pow",
    "__ipow__": "pow_",
    "__lt__": "lt",
    "__le__": "le",
    "__gt__": "gt",
    "__ge__": "ge",
    "__ne__": "ne",
}
# Tensor members PyTorch never hands to __torch_function__ (or that the protocol itself
# uses)
_TENSOR_SKIPPED = frozenset(
    """
__init__ __new__ __init_subclass__ __torch_function__ __hash__ __getattribute__ __getattr__
__setattr__ __delattr__ __dir__ __sizeof__ __class_getitem__ __array__ __array_wrap__
__deepcopy__ __copy__ __reduce__ __reduce_ex__ __setstate__ __getstate__ as_subclass
_make_subclass __iter__ __format__
""".split()
)


def _tensor_members() -> dict:
    """name -> Tensor's function for that name (methods, operators), and
    ``name.__get__`` -> the property for the property getters."""
    members = {}
    for name, value in vars(Tensor).items():
        if name in _TENSOR_SKIPPED or name.startswith("_") and not name.startswith("__"):
            continue
        if isinstance(value, types.FunctionType):
            members[name] = value
        elif isinstance(value, property) and isinstance(value.fget, types.FunctionType):
            members[name] = value
    return members


def _public_entries() -> list:
    """(module name, name, function) of each public kiln function: kiln.fx's table."""
    from .fx import tracer

    entries = []
    seen = set()
    table = tracer._public_functions()
    for module_name in tracer._PUBLIC_MODULES:
        namespace = vars(importlib.import_module(module_name))
        for name, value in list(namespace.items()):
            entry = table.get(id(value))
            if entry is None or entry[1] is not value or name in _INTERNAL:
                continue
            key = (id(value), module_name)
            if key not in seen:
                seen.add(key)
                entries.append((module_name, name, value))
    return entries


# ------------------------------------------------------------------ the trampolines

# key -> (the original code as a function, the public object handed over as ``func``,
# whether argument types are asked (False: only modes), its qualified name, its name in
# kiln.nn.functional or None)
_ENTRIES: list = []
_IMPLS: list = []  # key -> the original code as a function (the trampolines' fast path)
# function -> its original __code__ (to undo the installation)
_SWAPPED: dict = {}
# function -> (its own code, its trampoline, the copy running its code): made once, reused
# by a later installation; _ENTRIES is never cleared either, so that a call in flight
# while the protocol is removed (by a garbage collection) still finds its entry
_MADE: dict = {}
_TEMPLATES: dict = {}
_KEY = -7_340_033  # the placeholder constant of the template, replaced by each key


def _needed(key, args, kwargs) -> bool:
    """Asked by every covered function once installed: whether a mode is active or an
    argument overrides ``__torch_function__`` (else the function runs its own code,
    called from the trampoline, so that kiln's looks at its callers' frames see what they
    saw without the protocol)."""
    if _RELEASE_PENDING[0]:
        _release()
    state = _STATE
    if state.modes:
        return not state.all_disabled
    if state.subclass_disabled or state.all_disabled or not _ENTRIES[key][2]:
        return False
    for a in args:  # (the common case: tensors and numbers, quickly)
        t = type(a)
        if t in _PLAIN:
            continue
        if t is list or t is tuple:
            for b in a:
                if type(b) not in _PLAIN and _is_overloaded(b):
                    return True
        elif _is_overloaded(a):
            return True
    return bool(kwargs) and bool(_relevant_args((), kwargs))


def _dispatch(key, args, kwargs):
    """A covered call that ``_needed`` the protocol: hand it to the mode or overrides."""
    impl, public, by_type, name, functional = _ENTRIES[key]
    state = _STATE
    overloaded = _relevant_args(args, kwargs) if by_type else []
    if current_trace() is not None and isinstance(current_trace(), _trace_state()):
        _refuse_in_trace(name, overloaded, state.modes)
    if len(overloaded) > 1:
        overloaded = _get_overloaded_args(overloaded)
    if functional is not None:  # as PyTorch's Python functions hand their arguments over
        from .fx.functional_calls import normalized_call

        args, kwargs = normalized_call(functional, impl, args, kwargs)
    if not overloaded and public is not impl and getattr(public, "__name__", "") == "__get__":
        # a property of a plain tensor: PyTorch's modes see ``types == (Tensor,)``
        return _handle(public, overloaded, args, kwargs, name, (type(args[0]),))
    return _handle(public, overloaded, args, kwargs, name)


def _trace_state() -> type:
    from .tracing import TraceState

    return TraceState


def _refuse_in_trace(name: str, overloaded, modes) -> None:
    """kiln.jit records a graph that later runs without Python: an override or a mode
    would be baked into it (or skipped when the graph runs), so a trace refuses them."""
    from kiln.compiler.errors import TraceError

    if modes:
        what = f"the TorchFunctionMode {type(modes[-1]).__name__}"
    else:
        what = f"the __torch_function__ of {type(overloaded[0]).__name__}"
    raise TraceError(
        f"kiln.jit cannot trace {name}() under {what}: a compiled graph runs without the "
        "override; call the function eagerly"
    )


def _template(freevars: tuple):
    """A trampoline's code with the closure cells ``freevars`` (a function's ``__code__``
    can only be replaced by code with the same free variables)."""
    code = _TEMPLATES.get(freevars)
    if code is None:
        cells = "".join(f"    {v} = None\n" for v in freevars)
        touch = f"        if args is None: ({', '.join(freevars)},)\n" if freevars else ""
        source = (
            "def outer():\n"
            f"{cells}"
            "    def trampoline(*args, **kwargs):\n"
            f"{touch}"
            f"        if __kiln_torch_function_needed__({_KEY}, args, kwargs):\n"
            f"            return __kiln_torch_function__({_KEY}, args, kwargs)\n"
            f"        return __kiln_torch_function_impls__[{_KEY}](*args, **kwargs)\n"
            "    return trampoline\n"
        )
        scope: dict = {}
        exec(compile(source, "<kiln.overrides check>", "exec"), scope)  # noqa: S102 (kiln's own source)
        code = scope["outer"]().__code__
        _TEMPLATES[freevars] = code
    return code


def _swap(fn, public, by_type: bool, name: str, functional: str | None = None) -> None:
    """Make ``fn`` (a Python function) check the protocol, keeping its identity."""
    if fn in _SWAPPED or not isinstance(fn, types.FunctionType):
        return
    code = fn.__code__
    made = _MADE.get(fn)
    if made is not None and made[0] is code:  # installed before: the same trampoline
        _SWAPPED[fn] = (code, fn.__dict__.get("__wrapped__"), "__wrapped__" in fn.__dict__)
        if "__wrapped__" not in fn.__dict__:
            fn.__wrapped__ = made[2]
        fn.__code__ = made[1]
        return
    if code.co_flags & (0x20 | 0x80 | 0x100 | 0x200):  # generators, coroutines
        return
    template = _template(code.co_freevars)
    if template.co_freevars != code.co_freevars:
        return
    impl = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    impl.__kwdefaults__ = fn.__kwdefaults__
    impl.__qualname__ = fn.__qualname__
    impl.__module__ = fn.__module__
    impl.__doc__ = fn.__doc__
    key = len(_ENTRIES)
    _ENTRIES.append((impl, public, by_type, name, functional))
    _IMPLS.append(impl)
    consts = tuple(key if c == _KEY and type(c) is int else c for c in template.co_consts)
    fn.__globals__["__kiln_torch_function__"] = _dispatch
    fn.__globals__["__kiln_torch_function_needed__"] = _needed
    fn.__globals__["__kiln_torch_function_impls__"] = _IMPLS
    _SWAPPED[fn] = (code, fn.__dict__.get("__wrapped__"), "__wrapped__" in fn.__dict__)
    if "__wrapped__" not in fn.__dict__:
        fn.__wrapped__ = impl  # (inspect.signature reads the original parameters)
    fn.__code__ = template.replace(
        co_consts=consts,
        co_name=code.co_name,
        co_qualname=code.co_qualname,
        co_filename=code.co_filename,  # (kiln's frame walks tell its own frames by file)
        co_firstlineno=code.co_firstlineno,
    )
    _MADE[fn] = (code, fn.__code__, impl)


_INSTALLED = [False]
_install_lock = threading.RLock()


def _install() -> None:
    """Put the protocol's check into every public function and Tensor member (once)."""
    if _INSTALLED[0]:
        return
    with _install_lock:
        if _INSTALLED[0]:
            return
        _BUSY[0] = True
        try:
            _install_now()
        finally:
            _BUSY[0] = False


def _install_now() -> None:
    from .jit import auto_dynamic  # (its table of Tensor's size readers: the own codes)

    entries = _public_entries()
    members = _own_tensor_members({id(fn) for _, _, fn in entries})
    for module_name, name, fn in entries:
        if module_name == "kiln" and name in _NOT_COVERED:
            continue
        by_type = not (
            module_name == "kiln"
            and name in _MODE_ONLY
            or module_name == "kiln.nn.functional"
            and name in _FUNCTIONAL_IGNORED
        )
        functional = name if module_name == "kiln.nn.functional" else None
        _swap(fn, fn, by_type, f"{module_name}.{name}", functional)
    for name, value in members.items():
        if isinstance(value, property):
            _swap(value.fget, value.__get__, True, f"kiln.Tensor.{name}.__get__")
            continue
        public = members.get(_OPERATOR_METHODS.get(name, name), value)
        if isinstance(public, property):
            public = value
        _swap(value, public, True, f"kiln.Tensor.{public.__name__}")
    # kiln.jit's dynamic shapes tell the user's size reads from kiln's by the frames between
    # (``len(x)`` -> ``Tensor.__len__`` -> ...): the trampolines are such frames too
    auto_dynamic._ACCESSORS.update(vars(Tensor)[n].__code__ for n in ("size", "__len__", "numel"))
    from .autograd import tape

    # the backward pass runs with the protocol off, as PyTorch's autograd engine
    tape._run_backward = _protocol_off(tape._run_backward)
    _unwatch_classes()
    _INSTALLED[0] = True


# Tensor member name -> (the function it has without the protocol, its copy set by _install)
_REPLACED: dict = {}


def _own_tensor_members(public_ids: set) -> dict:
    """Tensor's members, each with a function object of its own named as the member
    (``Tensor.__getitem__`` is kiln's ``getitem``, ``__radd__`` shares ``__add__``'s): a
    copy is set where needed, so that ``func.__name__`` is the member's, as PyTorch's."""
    members = _tensor_members()
    seen: set = set()
    for name, value in members.items():
        if not isinstance(value, types.FunctionType):
            continue
        if value.__name__ != name or id(value) in public_ids or id(value) in seen:
            made = _REPLACED.get(name)
            if made is not None and made[0] is value:
                setattr(Tensor, name, made[1])
                members[name] = made[1]
                seen.add(id(value))
                continue
            copy = types.FunctionType(
                value.__code__, value.__globals__, name, value.__defaults__, value.__closure__
            )
            copy.__kwdefaults__ = value.__kwdefaults__
            copy.__dict__.update(value.__dict__)
            copy.__qualname__ = f"Tensor.{name}"
            copy.__module__ = value.__module__
            copy.__doc__ = value.__doc__
            _REPLACED[name] = (value, copy)
            setattr(Tensor, name, copy)
            members[name] = copy
        seen.add(id(value))
    return members


def _protocol_off(fn):
    def run(*args, **kwargs):
        with DisableTorchFunction():
            return fn(*args, **kwargs)

    run._protocol_on = fn
    return run


def _uninstall() -> None:
    """Undo ``_install`` (no class overriding the protocol is alive, no mode is active)."""
    with _install_lock:
        if not _INSTALLED[0]:
            return
        _BUSY[0] = True
        try:
            _uninstall_now()
        finally:
            _BUSY[0] = False


def _uninstall_now() -> None:
    for fn, (code, wrapped, had_wrapped) in _SWAPPED.items():
        fn.__code__ = code
        if had_wrapped:
            fn.__wrapped__ = wrapped
        else:
            fn.__dict__.pop("__wrapped__", None)
    _SWAPPED.clear()
    for name, (value, _) in _REPLACED.items():
        setattr(Tensor, name, value)
    from .autograd import tape

    tape._run_backward = getattr(tape._run_backward, "_protocol_on", tape._run_backward)
    _INSTALLED[0] = False
    _watch_classes()


# ------------------------------------------------------------------ when to install

_LIVE_CLASSES = [0]  # classes overriding the protocol not yet garbage collected


_RELEASE_PENDING = [False]
_BUSY = [False]  # (installing or uninstalling: no release in between)


def _class_gone() -> None:
    # (run by a garbage collection, at any point of any code: the protocol is removed at
    # the next safe point, ``_release``, not here)
    _LIVE_CLASSES[0] -= 1
    _RELEASE_PENDING[0] = True


def _release() -> None:
    """Remove the protocol if nothing needs it any more (no class overriding it alive, no
    mode active); called at safe points (a covered call, a mode's exit)."""
    _RELEASE_PENDING[0] = False
    if _INSTALLED[0] and not _LIVE_CLASSES[0] and not _STATE.modes and not _BUSY[0]:
        _uninstall()


def _note_class(cls: type) -> None:
    """A class overriding ``__torch_function__`` was defined: the protocol is needed."""
    _LIVE_CLASSES[0] += 1
    weakref.finalize(cls, _class_gone)
    _install()


def note_tensor_subclass(cls: type) -> None:
    """``Tensor.__init_subclass__``: kiln's own subclasses (``Parameter``, the tracer's,
    the meta and device tensors) are plain tensors to the protocol, as ``nn.Parameter``
    is to PyTorch's; any other subclass takes part (the default ``__torch_function__``
    keeps results of its type)."""
    module = cls.__dict__.get("__module__", "")
    inherited = getattr(cls, "__torch_function__", None)
    if (
        (module == "kiln" or module.startswith("kiln."))
        and "__torch_function__" not in cls.__dict__
        and getattr(inherited, "__func__", None) is _TENSOR_DEFAULT
    ):
        cls.__torch_function__ = _DISABLED
        return
    if "__new__" in cls.__dict__:
        _allow_tensor_new(cls)
    _OVERRIDES.pop(cls, None)
    if _type_overrides(cls):
        _note_class(cls)


def _allow_tensor_new(cls: type) -> None:
    """A subclass with a ``__new__`` of its own calls ``super().__new__(cls, data)``, which
    PyTorch's ``Tensor.__new__`` answers with a tensor of ``data``: kiln's Tensor gets such a
    ``__new__`` then (not before: ``Tensor(...)`` stays as quick; kiln's ops make tensors
    with ``object.__new__`` in any case), and a subclass without an ``__init__`` of its own
    ignores the constructor's arguments, as PyTorch's."""
    if "__new__" not in vars(Tensor):
        # (for good: CPython cannot give a class back the object.__new__ slot it had)
        Tensor.__new__ = staticmethod(_tensor_new)
    if cls.__init__ is Tensor.__init__:
        cls.__init__ = _init_done


def _tensor_new(cls, *args, **kwargs):
    """``Tensor.__new__(cls, data)`` from a subclass's own ``__new__``: a ``cls`` over
    ``data`` (as ``Tensor(data)``); otherwise (``Parameter(data)``, ``Tensor.__new__(cls)``)
    an empty object, which ``__init__`` fills as before."""
    t = object.__new__(cls)
    if (args or kwargs) and any(
        "__new__" in vars(k) for k in cls.__mro__[: cls.__mro__.index(Tensor)]
    ):
        Tensor.__init__(t, *args, **kwargs)
    return t


def _init_done(self, *args, **kwargs) -> None:
    """(``__new__`` made the tensor)"""


_TENSOR_DEFAULT = Tensor.__dict__["__torch_function__"].__func__


# Duck types (not Tensors) defining __torch_function__ are noticed by their class statement:
# until the protocol is installed, class creation is watched.
_BUILD_CLASS = builtins.__build_class__


def _watching_build_class(func, name, *bases, **kwargs):
    cls = _BUILD_CLASS(func, name, *bases, **kwargs)
    if isinstance(cls, type) and "__torch_function__" in cls.__dict__ and _is_duck_type(cls):
        _note_class(cls)
    return cls


def _is_duck_type(cls: type) -> bool:
    """A user's type with __torch_function__ that is neither a kiln Tensor (noticed by
    ``Tensor.__init_subclass__``) nor kiln's or PyTorch's own."""
    for klass in cls.__mro__[:-1]:
        module = getattr(klass, "__module__", "") or ""
        if klass is Tensor or module.split(".")[0] in ("kiln", "torch"):
            return False
    return _type_overrides(cls)


def _watch_classes() -> None:
    if builtins.__build_class__ is _BUILD_CLASS:  # (another tool's hook is left alone)
        builtins.__build_class__ = _watching_build_class


def _unwatch_classes() -> None:
    if builtins.__build_class__ is _watching_build_class:
        builtins.__build_class__ = _BUILD_CLASS


_watch_classes()
