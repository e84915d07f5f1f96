"""Guards: every Python value a trace read from outside its arguments, re-checked per call.

A trace bakes in whatever Python values the function read: a global ``SCALE``, ``self.fc``,
``cfg.shift``, a closure variable, ``dropout.p``. If one of them changes, the compiled
function would silently compute what the code computed before. So while ``kiln.jit``
traces, a ``GuardRecorder`` is the tracing thread's trace function (``sys.settrace``):

- on each Python call into code that is not kiln's own (kiln's ``nn`` layers included, so
  ``dropout.p`` and hooks are seen), the callee's bytecode (analysed once per code object)
  says which *access paths* it can read: a global, a closure cell, or an argument, followed
  by attribute loads and constant subscripts (``cfg["shift"]``, ``self.layers[0]``),
  ``getattr``/``hasattr``/``vars``/``type`` with constant names, ``super().m``,
  ``m.get("k")`` of a mapping (``os.environ.get("DEBUG")``); a name
  computed at run time (``getattr(self, f"fc{i}")``) reads the object's whole instance
  dict and its classes' (all guarded). Each
  path is evaluated there, with ``getattr``'s lookup order but without running properties
  or ``__getattr__`` hooks other than ``Module``'s registries, and recorded as a guard
  expecting that value: scalars, strings, ``None`` and tuples by value; tensors, modules,
  functions and other objects by identity (held weakly); lists and dicts by length and by
  their items; sets by their members; NumPy arrays of any size by their bits (against a
  copy, or a digest above 64 MiB); a ``ContextVar`` by the value it holds; a property's
  getter (and a static or class method) has its closure cells guarded when it runs;
- the compiled callable itself: a function's ``__code__``, ``__defaults__`` and
  ``__kwdefaults__`` (and those of each helper or method the trace reached through a
  guarded value), a ``functools.partial``'s function, arguments and keywords;
- when such a call returns, the paths are evaluated again: a value the traced code changed
  (``self.calls += 1``, ``history.append(y)``, ``cfg["k"] = v``) is a Python side effect
  that a compiled call would not repeat, so tracing stops with an error naming the line;
- a call to Python's or NumPy's random generators or to the clock from the user's code is
  refused the same way (its one value would be baked in), and so is seeding kiln's
  generators (``kiln.manual_seed``: a compiled call would not seed again).

Guards on values stored in a module (its attributes, parameters, buffers, submodules and
hooks, and the registries of every module of a traced root module) are covered by the
structure epoch (``nn.module.structure_epoch``): every such change bumps it, so while it is
unchanged one integer compare stands for all of them (so are the hooks every module runs,
``register_module_forward_hook``'s). So are the globals that kiln's ``nn``
code reads (``F.relu`` under ``nn.ReLU``, a function or flag of a ``kiln.nn`` module): such
a module becomes a ``_Watched`` module whose ``setattr`` bumps the epoch.

What the recorder cannot see: values reached through C code or through a closure of a
function that the trace did not reach through a global, an attribute or an argument; a
computed name on an object the bytecode does not name (``getattr(o.f(), name)``); mutation
of objects other than lists, dicts, sets and NumPy arrays between calls; a kiln.nn
global rebound without ``setattr`` (``vars(F)["relu"] = f``) and kiln's ops and other
modules; and side effects in kiln's own code. Module-level code, data the function gets
as arguments and tensors (with their strides and attributes) are covered by the call's
cache key and the captured-tensor checks instead.
"""

from __future__ import annotations

import builtins
import contextvars
import dis
import enum
import functools
import gc
import hashlib
import inspect
import os
import random
import sys
import sysconfig
import threading
import time
import types
import weakref
from collections import Counter, OrderedDict, defaultdict, deque

import numpy as np

from kiln.compiler.errors import TraceError

from ..nn.module import Module, _bump, _Registry, structure_epoch
from ..tensor import Tensor

_REAL_PRINT = builtins.print
MISSING = type("Missing", (), {"__repr__": lambda self: "<missing>"})()

# ------------------------------------------------------------------------------ which code

_HERE = os.path.dirname(os.path.abspath(__file__))
_KILN = os.path.dirname(_HERE) + os.sep  # the kiln package (frontend/)
_NN = os.path.join(os.path.dirname(_HERE), "nn") + os.sep
_SKIPPED = tuple(
    {
        _KILN,
        os.path.dirname(os.path.dirname(_HERE)) + os.sep + "compiler" + os.sep,
        os.path.dirname(os.path.dirname(_HERE)) + os.sep + "runtime" + os.sep,
        os.path.dirname(os.path.abspath(np.__file__)) + os.sep,
        sysconfig.get_paths()["stdlib"] + os.sep,
        sysconfig.get_paths()["platstdlib"] + os.sep,
    }
)


class CodeInfo:
    """What one code object can read: its access paths, and whether it is the user's."""

    __slots__ = ("paths", "user")

    def __init__(self, paths, user):
        self.paths = paths  # (root kind, root name, steps, line)
        self.user = user


_SKIP = CodeInfo((), False)
_INFO: dict = {}
_ARG_FLAGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def code_info(code) -> CodeInfo:
    info = _INFO.get(code)
    if info is None:
        info = _INFO[code] = _analyze(code)
    return info


def _analyze(code) -> CodeInfo:
    filename = code.co_filename
    nn = filename.startswith(_NN)
    if not nn and (filename.startswith(_SKIPPED) or filename.startswith("<frozen")):
        return _SKIP
    nargs = code.co_argcount + code.co_kwonlyargcount
    nargs += bin(code.co_flags & _ARG_FLAGS).count("1")
    argnames = set(code.co_varnames[:nargs])
    paths: dict = {}
    chain = None
    const = MISSING
    line = code.co_firstlineno

    def emit(path):
        paths.setdefault(path, line)

    # ``o.__dict__`` (``vars(o)``) is read whole only if no key follows: it is held back
    # one instruction (``o.__dict__["k"]``, ``o.__dict__.get("k")`` read the one key)
    pending = None

    def note(path):
        nonlocal pending
        if path[2][-1:] == (_DICT_STEP,):
            pending = (path, line)
        else:
            emit(path)

    instructions = list(dis.get_instructions(code))
    extra: dict = {}  # index -> paths read there that do not go on (getattr(o, name))
    resume = _builtin_reads(instructions, argnames, nn, extra)  # getattr(o, "k"), type(o).k
    for index, ins in enumerate(instructions):
        if ins.positions is not None and ins.positions.lineno is not None:
            line = ins.positions.lineno
        op = ins.opname
        for path in extra.get(index, ()):
            emit(path)
        if (
            op in ("LOAD_ATTR", "LOAD_METHOD")
            and ins.argval == "get"
            and chain is not None
            and not nn
            and chain != (pending or (None,))[0]
        ):
            # m.get("k") of a mapping that is not a dict (os.environ.get("DEBUG")): the
            # item too (a dict's get is guarded by the whole dict below)
            found = _dict_get(instructions, index)
            if found is not None:
                emit((*chain[:2], (*chain[2], ("item", found[0]))))
        if pending is not None and op != "LOAD_CONST":
            if op in ("LOAD_ATTR", "LOAD_METHOD") and ins.argval == "get" and chain == pending[0]:
                found = _dict_get(instructions, index)
                if found is not None:
                    resume[found[1]] = (*chain[:2], (*chain[2], ("item", found[0])))
                    chain, pending, const = None, None, MISSING
                    continue
            elif op == "BINARY_SUBSCR" and chain == pending[0] and _hashable(const):
                pending = None
            if pending is not None:
                paths.setdefault(*pending)
                pending = None
        if index in resume:  # the value of getattr(o, "k") / type(o): a path goes on
            chain = resume[index]
            note(chain)
        if op in ("LOAD_ATTR", "LOAD_METHOD") and chain is not None and ins.argval == "__class__":
            chain = (chain[0], chain[1], (*chain[2], ("type", None)))
        elif op == "LOAD_FAST" and ins.argval in argnames:
            chain = ("arg", ins.argval, ())
        elif op == "LOAD_GLOBAL":  # (kiln's own: only its modules, functions and flags)
            chain = ("kiln global" if nn else "global", ins.argval, ())
        elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
            chain = ("cell", ins.argval, ())
        elif op in ("LOAD_ATTR", "LOAD_METHOD") and chain is not None:
            chain = (chain[0], chain[1], (*chain[2], ("attr", ins.argval)))
        elif op == "LOAD_CONST" and chain is not None:
            const = ins.argval
            continue
        elif op == "BINARY_SUBSCR" and chain is not None and _hashable(const):
            chain = (chain[0], chain[1], (*chain[2], ("item", const)))
        elif op == "COPY" and chain is not None:
            continue
        elif op == "STORE_ATTR" and chain is not None:
            emit((chain[0], chain[1], (*chain[2], ("attr", ins.argval))))
            chain = None
        elif op == "STORE_SUBSCR" and chain is not None and _hashable(const):
            emit((chain[0], chain[1], (*chain[2], ("item", const))))
            chain = None
        elif op == "STORE_GLOBAL":
            emit(("global", ins.argval, ()))
            chain = None
        elif op == "STORE_DEREF":
            emit(("cell", ins.argval, ()))
            chain = None
        else:
            chain = None
        const = MISSING
        if chain is not None:
            note(chain)
    if pending is not None:
        paths.setdefault(*pending)
    # side effects are refused in the user's own code; an installed library's (a memo
    # dict it fills while traced) only makes its guard retrace the next call once
    library = "site-packages" in filename or "dist-packages" in filename
    return CodeInfo(tuple((*p, ln) for p, ln in paths.items()), not (nn or library))


_CALLS = ("PRECALL", "CALL")


def _super_read(instructions, i, found) -> None:
    """``super().name`` / ``super(C, self).name`` loaded at ``i``: the path of ``name``
    looked up past the class (``("super", name)`` from the ``__class__`` cell or from
    ``C``), so that replacing the parent's method retraces."""
    n = len(instructions)
    j = i + 1
    root = ("cell", "__class__")
    if j < n and instructions[j].opname in ("LOAD_GLOBAL", "LOAD_DEREF"):
        first = instructions[j]
        root = ("global" if first.opname == "LOAD_GLOBAL" else "cell", first.argval)
        j += 1
        if j >= n or instructions[j].opname not in ("LOAD_FAST", "LOAD_DEREF"):
            return
        j += 1
    start = j
    while j < n and instructions[j].opname in _CALLS:
        j += 1
    if j == start or j >= n or instructions[j].opname not in ("LOAD_ATTR", "LOAD_METHOD"):
        return
    found[j + 1] = (*root, (("super", instructions[j].argval),))


def _type_of(instructions, j, argnames, chain):
    """``type(<path>)`` from ``j`` (the instruction after ``type`` is loaded): its path and
    the index after the call; else ``chain`` and ``j`` unchanged."""
    n = len(instructions)
    inner = instructions[j] if j < n else None
    if inner is not None and inner.opname == "LOAD_FAST" and inner.argval in argnames:
        sub = ("arg", inner.argval, ())
    elif inner is not None and inner.opname in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
        sub = ("cell", inner.argval, ())
    else:
        return chain, j
    k = j + 1
    while k < n and instructions[k].opname in ("LOAD_ATTR", "LOAD_METHOD"):
        sub = (sub[0], sub[1], (*sub[2], ("attr", instructions[k].argval)))
        k += 1
    start = k
    while k < n and instructions[k].opname in _CALLS:
        k += 1
    if k == start:
        return chain, j
    return (sub[0], sub[1], (*sub[2], ("type", None))), k


def _dict_get(instructions, index):
    """``(key, index after the call)`` of ``<dict>.get(<constant key>[, <constant>])``
    whose ``get`` is loaded at ``index``; else None."""
    j = index + 1
    n = len(instructions)
    if j >= n or instructions[j].opname != "LOAD_CONST" or not _hashable(instructions[j].argval):
        return None
    key = instructions[j].argval
    j += 1
    if j < n and instructions[j].opname == "LOAD_CONST":
        j += 1  # (a constant default)
    start = j
    while j < n and instructions[j].opname in _CALLS:
        j += 1
    return (key, j) if j > start else None


def _builtin_reads(instructions, argnames, nn, extra) -> dict:
    """The reads through ``getattr(o, "k")``, ``getattr(o, "k", default)``,
    ``hasattr(o, "k")``, ``type(o)`` and ``vars(o)`` (``o`` a path): ``{index of the
    instruction after the call: path of its value}``, the path going on from there
    (``type(self).K``, ``vars(o)["k"]``).

    A name computed at run time (``getattr(self, "conv" + str(i))``, ``getattr(o, name)``
    in a loop) cannot be known from the bytecode: in the user's code the read is then
    recorded in ``extra`` as a read of the object's whole instance dict
    (``o.__dict__``, guarded by its keys and values), so that setting any attribute of
    ``o`` retraces."""
    found: dict = {}
    n = len(instructions)
    for i, ins in enumerate(instructions):
        if ins.opname != "LOAD_GLOBAL" or ins.argval not in _BUILTIN_READS:
            continue
        if ins.argval == "super":
            if not nn:
                _super_read(instructions, i, found)
            continue
        j = i + 1
        if j >= n:
            continue
        first = instructions[j]
        if first.opname == "LOAD_FAST" and first.argval in argnames:
            chain = ("arg", first.argval, ())
        elif first.opname in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
            chain = ("cell", first.argval, ())
        elif first.opname == "LOAD_GLOBAL" and not nn:
            chain = ("global", first.argval, ())
        else:
            continue
        j += 1
        while j < n and instructions[j].opname in ("LOAD_ATTR", "LOAD_METHOD"):
            chain = (chain[0], chain[1], (*chain[2], ("attr", instructions[j].argval)))
            j += 1
        if chain == ("global", "type", ()) and ins.argval != "type":  # getattr(type(o), ...)
            chain, j = _type_of(instructions, j, argnames, chain)
        if ins.argval == "type":
            step_ = ("type", None)
        elif ins.argval == "vars":
            step_ = ("attr", "__dict__")
        else:
            name = instructions[j].argval if j < n else None
            if j >= n or instructions[j].opname != "LOAD_CONST" or not isinstance(name, str):
                if not nn:  # a computed name: the whole instance dict and its classes'
                    extra.setdefault(i, []).extend(
                        (*chain[:2], (*chain[2], s)) for s in (_DICT_STEP, _CLASSES_STEP)
                    )
                continue
            j += 1
            if ins.argval == "getattr" and j < n and instructions[j].opname == "LOAD_CONST":
                j += 1  # (a constant default)
            step_ = ("attr", name)
        while j < n and instructions[j].opname in _CALLS:
            j += 1
        if j == i + 1 or instructions[j - 1].opname not in _CALLS:
            if step_[0] == "attr" and not nn:  # getattr(o, "k", <expression>) or a name
                # computed from a constant (getattr(o, "k" + s)): both, to be sure
                extra.setdefault(i, []).extend(
                    (*chain[:2], (*chain[2], s)) for s in (step_, _DICT_STEP, _CLASSES_STEP)
                )
            continue
        found[j] = (chain[0], chain[1], (*chain[2], step_))
    return found


_BUILTIN_READS = ("getattr", "hasattr", "type", "vars", "super")
_DICT_STEP = ("attr", "__dict__")
_CLASSES_STEP = ("classes", None)  # the dicts of the user's classes in type(o).__mro__


def _hashable(value) -> bool:
    if value is MISSING:
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


# ------------------------------------------------------------------------------ lookups


def _class_attr(cls, name):
    for klass in cls.__mro__:
        d = klass.__dict__
        if name in d:
            return d[name]
    return MISSING


def step(obj, kind, key):
    """``(value, source)`` of one path step, without running user properties.

    ``source`` is ``"module"`` when the value lives in a module's instance dict or registries
    (its changes bump the structure epoch), ``"class"`` when it was found on the object's
    class, ``"final"`` when the path cannot continue past it (a tensor, a failed lookup),
    else ``"plain"``.
    """
    if kind == "getattr":  # an attribute of a function or partial the compiled call holds
        return getattr(obj, key, MISSING), "final"
    if kind == "type":  # type(obj), obj.__class__ (a module's: set through its setattr)
        return type(obj), _source(obj)
    if kind == "classes":  # what a computed getattr(obj, name) may find on its classes
        return _user_class_dicts(obj if isinstance(obj, type) else type(obj)), "plain"
    if kind == "super":  # super(obj, ...).key: the first class after obj that has it
        if not isinstance(obj, type):
            return MISSING, "final"
        for klass in obj.__mro__[1:]:
            if key in klass.__dict__:
                return klass.__dict__[key], "plain"
        return MISSING, "final"
    if kind == "item":
        if isinstance(obj, (Tensor, np.ndarray, types.ModuleType, types.FunctionType)):
            return MISSING, "final"
        try:
            return obj[key], "module" if isinstance(obj, Module) else "plain"
        except Exception:
            return MISSING, "final"
    if isinstance(obj, _BUILTINS):  # .values(), .append(...): the container's own guard
        return MISSING, "stop"
    if isinstance(obj, Tensor):
        if _tensor_attribute(obj, kind, key):  # ``w.scale = 2.0`` set by the user
            return obj.__dict__.get(key, MISSING), "final"
        return MISSING, "final"
    if key == "__dict__":  # vars(o), o.__dict__: the instance dict (a class's mappingproxy)
        try:  # (a module's: its setattr bumps the structure epoch)
            return object.__getattribute__(obj, "__dict__"), _source(obj)
        except AttributeError:
            return MISSING, "final"
    if isinstance(obj, types.ModuleType):
        value = obj.__dict__.get(key, MISSING)
        if value is MISSING and obj.__name__.startswith("kiln") and "__getattr__" in obj.__dict__:
            # one of kiln's lazily loaded names (``kiln.distributions``): load it now, as
            # the traced code is about to (Missing -> module was reported as a change)
            value = getattr(obj, key, MISSING)
        return value, "plain"
    if isinstance(obj, type):
        value = _class_attr(obj, key)
        return value, "final" if hasattr(type(value), "__get__") else "plain"
    if kind == "own":  # the instance only: is the name shadowing its class's attribute?
        return _own(obj, key)
    cls_value = _class_attr(type(obj), key)
    if cls_value is not MISSING and hasattr(type(cls_value), "__set__"):
        if isinstance(cls_value, types.MemberDescriptorType):  # a __slots__ field
            try:
                return cls_value.__get__(obj, type(obj)), "plain"
            except AttributeError:
                return MISSING, "final"
        return cls_value, "class"  # a property: its getter is traced (and guarded)
    value, source = _own(obj, key)
    if value is not MISSING:
        return value, source
    if cls_value is MISSING:
        return MISSING, "final"
    return cls_value, "class"


_BUILTINS = (dict, list, tuple, set, frozenset, str, bytes, int, float, complex)


def _tensor_attribute(obj, kind, key) -> bool:
    """Whether ``obj.<key>`` of a tensor is an attribute the user set on it (not one of
    kiln's ``_``-named ones, not a property or method of its class)."""
    return (
        kind == "attr"
        and isinstance(key, str)
        and key[:1] != "_"
        and _class_attr(type(obj), key) is MISSING
    )


def _user_class_dicts(cls) -> tuple:
    """The ``__dict__`` of each class in ``cls.__mro__`` but kiln's and Python's own
    (``Module``'s hundred methods are not patched, and would cost every call a check)."""
    return tuple(
        k.__dict__
        for k in cls.__mro__
        if not (k.__module__ or "").startswith(("kiln.", "builtins"))
    )


def _source(obj) -> str:
    return "module" if isinstance(obj, Module) else "plain"


def _via(obj, kind, key, source) -> str:
    """How the generated check repeats one step (``generic``: by calling ``step``)."""
    if key == "__dict__":  # (a class's own, not the ``__dict__`` descriptor of its class)
        return "generic"
    if kind == "attr" and isinstance(obj, types.ModuleType):
        return "pymod"
    if kind == "attr" and source == "plain" and key in getattr(obj, "__dict__", ()):
        return "dict"
    if kind == "item" and type(obj) in (dict, list, tuple, OrderedDict):
        return "item"
    if kind == "attr" and isinstance(obj, type):
        return "class"
    if kind == "own":
        return "own"
    return "generic"


def _own(obj, key):
    d = getattr(obj, "__dict__", None)
    if d is None:
        return MISSING, "plain"
    module = isinstance(obj, Module)
    if key in d:
        return d[key], "module" if module else "plain"
    if module:
        for table in ("_parameters", "_buffers", "_modules"):
            entries = d.get(table)
            if entries is not None and key in entries:
                return entries[key], "module"
    return MISSING, "module" if module else "plain"


def walk(root, steps):
    """The value at the end of ``steps`` from ``root`` (``MISSING`` where one fails)."""
    value = root
    for kind, key in steps:
        if value is MISSING:
            return MISSING
        value = step(value, kind, key)[0]
    return value


# ------------------------------------------------------------------------------ expectations

_SCALARS = (bool, int, float, complex, str, bytes, type(None), range, slice)


class Expect:
    """What a guard expects of a value; ``matches(value)`` is the per-call check."""

    __slots__ = ()


class Same(Expect):
    """Equal, of the same type (NaN equals NaN)."""

    __slots__ = ("value", "type", "text")

    def __init__(self, value):
        self.value = value
        self.type = type(value)
        # a float also by its text, so that -0.0 is not 0.0 (NaN equals NaN)
        self.text = repr(value) if self.type is float else None

    def matches(self, v) -> bool:
        if type(v) is not self.type:
            return False
        if self.text is None:
            return v == self.value
        return v == self.value and v != 0.0 or repr(v) == self.text

    def describe(self, v) -> str:
        return f"changed {self.value!r} -> {_short(v)}"


class Identical(Expect):
    """The same object (held weakly where it can be, so a cache never keeps it alive)."""

    __slots__ = ("ref", "strong", "kind")

    def __init__(self, value):
        try:
            self.ref = weakref.ref(value)
            self.strong = None
        except TypeError:
            self.ref = None
            self.strong = value
        self.kind = type(value).__name__

    def target(self):
        return self.strong if self.ref is None else self.ref()

    def matches(self, v) -> bool:
        return v is (self.strong if self.ref is None else self.ref())

    def describe(self, v) -> str:
        if v is MISSING:
            return "no longer exists"
        if type(v).__name__ == self.kind:
            article = "an" if self.kind[:1] in "AEIOU" else "a"
            return f"is {article} new {self.kind}"
        return f"is now {_short(v)} (was a {self.kind})"


_MAPPINGS = (dict, types.MappingProxyType)  # (a class's vars())
_CONTAINERS = (
    tuple,
    list,
    dict,
    OrderedDict,
    _Registry,
    types.MappingProxyType,
    # (``sum(history)`` over a deque, a defaultdict or Counter read whole: by their items)
    deque,
    defaultdict,
    Counter,
)


class Items(Expect):
    """A list, tuple or dict: its type, its keys, and what each item is expected to be."""

    __slots__ = ("type", "keys", "items")

    def __init__(self, value, depth):
        self.type = type(value)
        if isinstance(value, _MAPPINGS):
            self.keys = tuple(value)
            self.items = tuple(expect(v, depth + 1) for v in value.values())
        else:
            self.keys = len(value)
            self.items = tuple(expect(v, depth + 1) for v in value)

    def matches(self, v) -> bool:
        if type(v) is not self.type:
            return False
        if isinstance(v, _MAPPINGS):
            if tuple(v) != self.keys:
                return False
            values = v.values()
        else:
            if len(v) != self.keys:
                return False
            values = v
        for e, x in zip(self.items, values):
            if not e.matches(x):
                return False
        return True

    def describe(self, v) -> str:
        if type(v) is not self.type:
            return f"is now {_short(v)}"
        if isinstance(v, _MAPPINGS):
            if tuple(v) != self.keys:
                return f"changed keys {list(self.keys)} -> {list(v)}"
            pairs = zip(self.keys, self.items, v.values())
        else:
            if len(v) != self.keys:
                return f"changed length {self.keys} -> {len(v)}"
            pairs = zip(range(self.keys), self.items, v)
        for k, e, x in pairs:
            if not e.matches(x):
                return f"[{k!r}] {e.describe(x)}"
        return "changed"


class ArrayValue(Expect):
    """A NumPy array: the same object with the same contents, bit for bit (a trace bakes
    its values in as a constant, so an in-place change must retrace, ``-0.0`` for ``0.0``
    too). The check compares against a copy taken when the trace read it (about 0.4 ms per
    million float32 elements); an array above ``_ARRAY_COPY_BYTES`` is compared by a
    BLAKE2 digest of its bytes instead (no second copy of a huge array is kept)."""

    __slots__ = ("ident", "copy", "digest", "shape", "dtype")

    def __init__(self, value):
        self.ident = Identical(value)
        self.shape, self.dtype = value.shape, value.dtype
        big = value.nbytes > _ARRAY_COPY_BYTES and not value.dtype.hasobject
        self.copy = None if big else value.copy()
        self.digest = _digest(value) if big else None

    def matches(self, v) -> bool:
        if not self.ident.matches(v):
            return False
        if v.shape != self.shape or v.dtype != self.dtype:  # (``a.shape = ...``, ``a.resize``)
            return False
        if self.copy is None:
            return _digest(v) == self.digest
        as_bits = _BITS.get(v.dtype.itemsize) if v.dtype.kind in "biufcmM" else None
        if as_bits is not None:
            return np.array_equal(v.view(as_bits), self.copy.view(as_bits))
        return np.array_equal(v, self.copy, equal_nan=v.dtype.kind in "fc")

    def describe(self, v) -> str:
        if not self.ident.matches(v):
            return self.ident.describe(v)
        if v.shape != self.shape or v.dtype != self.dtype:
            return f"changed its shape or dtype in place ({list(self.shape)} -> {list(v.shape)})"
        return "changed its values in place"


# arrays up to this size are checked against a copy, larger ones by a digest of their bytes
_ARRAY_COPY_BYTES = 64 << 20
_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # bitwise equality


def _digest(a) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(a).data, digest_size=32).digest()


class ContextValue(Expect):
    """A ``contextvars.ContextVar``: the same variable, holding the value it held (what
    ``var.get()`` returned to the trace; read on each call in the calling context)."""

    __slots__ = ("ident", "inner")

    def __init__(self, var):
        self.ident = Identical(var)
        self.inner = expect(var.get(MISSING), 1)

    def matches(self, v) -> bool:
        return self.ident.matches(v) and self.inner.matches(v.get(MISSING))

    def describe(self, v) -> str:
        if not self.ident.matches(v):
            return self.ident.describe(v)
        return f"holds a new value: {self.inner.describe(v.get(MISSING))}"


class SetValue(Expect):
    """A set: the same type with equal members (a copy taken when the trace read it)."""

    __slots__ = ("type", "copy")

    def __init__(self, value):
        self.type = type(value)
        self.copy = frozenset(value)

    def matches(self, v) -> bool:
        return type(v) is self.type and len(v) == len(self.copy) and v == self.copy

    def describe(self, v) -> str:
        if type(v) is not self.type:
            return f"is now {_short(v)}"
        return f"changed its members ({len(self.copy)} -> {len(v)} items)"


def expect(value, depth: int = 0) -> Expect:
    """The expectation a guard records for ``value`` (see the module docstring)."""
    t = type(value)
    if t in _SCALARS:
        return Same(value)
    if t is np.ndarray:
        return ArrayValue(value)
    if t in (set, frozenset) and len(value) <= 4096:
        return SetValue(value)
    if isinstance(value, enum.Enum):
        return Identical(value)
    if t is contextvars.ContextVar:
        return ContextValue(value)
    if t in _CONTAINERS and depth < 3 and len(value) <= 4096:
        return Items(value, depth)
    return Identical(value)


def _short(v) -> str:
    if v is MISSING:
        return "<missing>"
    if isinstance(v, _SCALARS):
        text = repr(v)
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(v).__name__}"


# ------------------------------------------------------------------------------ guards


class PathGuard:
    """``root`` followed by ``steps`` must still match ``expected``."""

    __slots__ = ("root", "steps", "expected", "covered", "label", "via")

    def __init__(self, root, steps, expected, covered, label, via=None):
        self.root = root  # a function returning the root value (None: the root is gone)
        self.steps = steps
        self.via = via or ("generic",) * len(steps)  # how each step is looked up (codegen)
        self.expected = expected
        self.covered = covered  # stored in modules only: the structure epoch covers it
        self.label = label  # (root name, root object) for messages

    def value(self):
        root = self.root()
        if root is None:
            return None
        return walk(root, self.steps)

    def holds(self) -> bool:
        root = self.root()
        if root is None:  # a weakly held root was freed: nothing can reach it any more
            return True
        return self.expected.matches(walk(root, self.steps))

    def reason(self, names) -> str:
        text = self.expected.describe(self.value())
        return f"{self.name(names)}{'' if text.startswith('[') else ' '}{text}"

    def is_number(self) -> bool:
        e = self.expected
        return isinstance(e, Same) and e.type in (int, float, complex)

    def name(self, names) -> str:
        text, obj_id, kind = self.label
        if obj_id is not None:
            text = names.get(obj_id) or (text if text != "self" else f"<{kind}>")
        elif not self.steps and self.root.__name__ == "global_root":
            text = f"global {text}"
        elif text == "__class__" and getattr(self.root, "kind", None) == "cell":
            text = getattr(self.root(), "__name__", text)  # (super().m: the class's name)
        for kind, key in self.steps:
            if kind == "item":
                text += f"[{key!r}]"
            elif kind == "own":
                text += f".{key} (set on the instance)"
            elif kind == "type":
                text = f"type({text})"
            elif kind == "classes":
                text = f"the classes of {text}"
            elif kind == "super":
                text = f"super({text}).{key}"
            else:
                text += f".{key}"
        return text


class GuardSet:
    """The guards of one compiled variant and their per-call check."""

    def __init__(self, guards, names):
        self.free = [g for g in guards if not g.covered]
        self.covered = [g for g in guards if g.covered]
        self.names = names
        self.epoch = structure_epoch()  # the covered guards held at this epoch
        # ...and while the instance dicts of the modules they read are unchanged (a
        # ``m.__dict__[k] = v``, ``vars(m)[k] = v``, ``object.__setattr__(m, k, v)`` does
        # not go through the module's setattr, so it does not bump the epoch)
        self.dicts = _module_dicts(self.covered)
        self.last_failed = None
        self.check = None  # the free guards as one generated function (compile_check)

    def name(self, guard) -> str:
        return guard.name(self.names)

    def __len__(self):
        return len(self.free) + len(self.covered)

    def failed(self):
        """The first guard that no longer holds, or None (refreshes the epoch on success)."""
        if self.check is None:
            self.check = compile_check(self.free)
        bad = self.check()
        if bad >= 0:
            return self.free[bad]
        if bad == -2:  # a lookup raised: find the guard the slow way
            for g in self.free:
                if not g.holds():
                    return g
        epoch = structure_epoch()
        if epoch != self.epoch or self.dicts.changed():
            for g in self.covered:
                if not g.holds():
                    return g
            self.epoch = epoch
            self.dicts.note()
        return None

    def reason(self, guard) -> str:
        return guard.reason(self.names)


class _DictVersions:
    """The version tags of some modules' instance dicts (CPython's ``ma_version_tag``,
    which every change of a dict renews, and a read leaves alone): one integer read per
    module per call tells whether anything was stored into its dict behind its setattr.
    Where the interpreter has no such tag (``_VERSION_OFFSET`` is None), every call counts
    as a change: the covered guards are then checked on every call."""

    __slots__ = ("modules", "views", "seen")

    def __init__(self, modules):
        self.modules = [weakref.ref(m) for m in modules]
        self.views = [_version_view(m.__dict__) for m in modules]
        self.seen = [v.value for v in self.views] if _VERSION_OFFSET is not None else []

    def changed(self) -> bool:
        if _VERSION_OFFSET is None:
            return bool(self.modules)
        for ref, view, seen in zip(self.modules, self.views, self.seen):
            if view.value != seen and ref() is not None:
                return True
        return False

    def note(self) -> None:
        if _VERSION_OFFSET is None:
            return
        alive = [(r, r()) for r in self.modules]
        self.modules = [r for r, m in alive if m is not None]
        self.views = [_version_view(m.__dict__) for _, m in alive if m is not None]
        self.seen = [v.value for v in self.views]


def _version_view(d):
    if _VERSION_OFFSET is None:
        return None
    import ctypes

    return ctypes.c_uint64.from_address(id(d) + _VERSION_OFFSET)


def _dict_version_offset():
    """Where CPython keeps a dict's version tag (after the header and ``ma_used``), if it
    does and behaves as this module needs (checked once, on a throwaway object)."""
    if sys.implementation.name != "cpython" or sys.maxsize < 2**62:
        return None
    import ctypes

    class Probe:
        pass

    probe = Probe()
    probe.a = 1
    d = probe.__dict__
    offset = 3 * 8  # ob_refcnt, ob_type, ma_used
    view = ctypes.c_uint64.from_address(id(d) + offset)
    before = view.value
    _ = probe.a, d.get("a")
    if view.value != before:
        return None
    object.__setattr__(probe, "a", 2)
    after_setattr = view.value
    d["a"] = 3
    after_item = view.value
    if len({before, after_setattr, after_item}) != 3:
        return None
    return offset


_VERSION_OFFSET = _dict_version_offset()


def _module_dicts(guards) -> _DictVersions:
    """The modules whose instance dicts ``guards`` read (on their paths)."""
    found = {}
    for g in guards:
        value = g.root()
        for kind, key in ((None, None), *g.steps):
            if kind is not None:
                if value is MISSING or value is None:
                    break
                value = step(value, kind, key)[0]
            if isinstance(value, Module) and id(value) not in found:
                found[id(value)] = value
    return _DictVersions(list(found.values()))


def _all_hold() -> int:
    return -1


def compile_check(guards):
    """One Python function checking ``guards`` in order: the index of the first that fails,
    -1 when all hold, -2 when a lookup raised (the caller then checks them one by one).

    Straight-line code with each root, lookup and comparison inlined costs about a tenth
    of calling ``PathGuard.holds`` per guard.
    """
    ns = {"M": MISSING, "B": builtins.__dict__, "step": step, "_class_attr": _class_attr}
    ns["_own"] = _own
    body = []
    for i, g in enumerate(guards):
        ns[f"r{i}"] = g.root
        ns[f"e{i}"] = g.expected
        root_kind = getattr(g.root, "kind", None)
        if isinstance(g.root, weakref.ref):
            lines = [f"v = r{i}()", "if v is not None:"]
            pad = "    "
        else:
            if root_kind == "global":
                ns[f"g{i}"] = g.root.dict
                name = g.root.name
                lines = [f"v = g{i}.get({name!r}, M)", f"if v is M: v = B.get({name!r}, M)"]
            elif root_kind == "strong":
                ns[f"s{i}"] = g.root.obj
                lines = [f"v = s{i}"]
            else:
                lines = [f"v = r{i}()"]
            lines.append("if True:")
            pad = "    "
        for j, ((kind, key), via) in enumerate(zip(g.steps, g.via)):
            ns[f"k{i}_{j}"] = key
            k = f"k{i}_{j}"
            if via == "pymod":
                lines.append(f"{pad}v = M if v is M else getattr(v, {k}, M)")
            elif via == "dict":
                lines.append(f"{pad}v = M if v is M else v.__dict__.get({k}, M)")
            elif via == "item":
                lines.append(f"{pad}v = M if v is M else v[{k}]")
            elif via == "class":
                lines.append(f"{pad}v = M if v is M else _class_attr(v, {k})")
            elif via == "own":
                lines.append(f"{pad}v = M if v is M else _own(v, {k})[0]")
            else:
                lines.append(f"{pad}v = M if v is M else step(v, {kind!r}, {k})[0]")
        e = g.expected
        if isinstance(e, Identical) and e.ref is not None:
            ns[f"w{i}"] = e.ref
            test = f"v is w{i}()"
        elif isinstance(e, Identical):
            ns[f"o{i}"] = e.strong
            test = f"v is o{i}"
        elif isinstance(e, Same) and e.text is None:
            ns[f"t{i}"], ns[f"c{i}"] = e.type, e.value
            test = f"type(v) is t{i} and v == c{i}"
        else:
            test = f"e{i}.matches(v)"
        lines.append(f"{pad}if not ({test}): return {i}")
        body += lines
    if not body:
        return _all_hold
    source = "def check():\n    try:\n"
    source += "".join(f"        {line}\n" for line in body)
    source += "    except Exception:\n        return -2\n    return -1\n"
    exec(compile(source, "<kiln.jit guards>", "exec"), ns)
    return ns["check"]


# ------------------------------------------------------------------------------ recording

_RANDOM_OWNERS = (random.Random, np.random.RandomState, np.random.Generator)
_CLOCKS = (time.time, time.perf_counter, time.monotonic, time.time_ns, time.process_time)


_SEEDERS: dict = {}  # kiln.cuda loaded? -> code objects of kiln's functions that seed
_SEEDER_NAMES = frozenset({"manual_seed", "seed", "set_rng_state", "set_state"})


def _seeders() -> set:
    # (``kiln.cuda`` loads Numba: its seeder is counted once something loaded it, which a
    # traced function calling it does first; a warm process never loads LLVM for this)
    cuda = sys.modules.get("kiln.cuda")
    found = _SEEDERS.get(cuda is not None)
    if found is None:
        from .. import creation

        functions = [
            creation.manual_seed,
            creation.seed,
            creation.set_rng_state,
            creation.Generator.manual_seed,
            creation.Generator.seed,
            creation.Generator.set_state,
        ]
        if cuda is not None:
            functions.append(cuda.manual_seed)
        found = _SEEDERS[cuda is not None] = {fn.__code__ for fn in functions}
    return found


_SCHEDULER_STEPS: list = []


def _scheduler_steps() -> frozenset:
    """The code objects of the ``step`` methods of kiln's learning-rate schedulers."""
    if not _SCHEDULER_STEPS:
        from ..optim import lr_cycles, lr_scheduler, swa_utils  # noqa: F401 (their classes)
        from ..optim.scheduler import LRScheduler

        found, pending = set(), [LRScheduler]
        while pending:
            cls = pending.pop()
            pending += cls.__subclasses__()
            step = cls.__dict__.get("step")
            if cls.__module__.startswith("kiln.") and isinstance(step, types.FunctionType):
                found.add(step.__code__)
        _SCHEDULER_STEPS.append(frozenset(found))
    return _SCHEDULER_STEPS[0]


def _is_clock(fn) -> bool:
    """Whether ``fn`` is one of the clocks (by identity: a guarded value may be unhashable,
    a ``SimpleNamespace`` of settings)."""
    return any(fn is clock for clock in _CLOCKS)


# Whether the cyclic garbage collector is running in this thread. Code it runs there (the
# ``gc.callbacks`` of monitoring libraries, ``__del__`` methods, weakref callbacks) is not
# the traced function's: a recorder does not watch it (a callback that counts collections
# or reads the clock made kiln.jit raise, and one that also called resource.getrusage
# crashed CPython 3.11).
_COLLECTING = threading.local()


def _collection_starts(phase, info):
    if phase == "start":
        _COLLECTING.on = True


def _collection_ends(phase, info):
    if phase == "stop":
        _COLLECTING.on = False


def _bracket_collections() -> None:
    """Keep ``_collection_starts`` first and ``_collection_ends`` last in ``gc.callbacks``
    (callbacks run in list order, for both phases), around the callbacks installed so far."""
    callbacks = gc.callbacks
    if callbacks and callbacks[0] is _collection_starts and callbacks[-1] is _collection_ends:
        return
    for callback in (_collection_starts, _collection_ends):
        while callback in callbacks:
            callbacks.remove(callback)
    callbacks.insert(0, _collection_starts)
    callbacks.append(_collection_ends)


class GuardRecorder:
    """The profile function of a thread while it traces (see the module docstring)."""

    def __init__(self, fn, fn_name: str):
        self.fn_name = fn_name
        self.guards: dict = {}
        self.names: dict = {}  # id(object) -> how the code named it ("model", "cfg")
        self.roots: list = []  # named roots to name submodules from
        self.open: dict = {}  # id(frame) -> [(guard, expectation at entry, line)]
        self.functions: dict = {}  # code -> function, to find the closure cells of a frame
        self.top_code = None
        self.defaults: set = set()
        # id -> functools.lru_cache wrapper the trace reached: a call that hit its cache
        # ran no code the recorder sees, so the cache's size is guarded (``cache_clear()``
        # or a new entry retraces, and the retrace runs the function's body if it must)
        self.caches: dict = {}
        self.with_defaults: set = set()  # code objects whose function's defaults are guarded
        # objects that existed before the trace: side effects on them are refused (an
        # object the trace created, a dataclass being built, may change freely)
        self.known: set = set()
        owner = getattr(fn, "__self__", fn)
        if isinstance(owner, Module):
            self.roots.append((type(owner).__name__.lower(), owner))
        fn = self._guard_callable(fn, fn_name)
        if isinstance(fn, types.FunctionType):
            self.functions[fn.__code__] = fn
            self.top_code = fn.__code__
            self.defaults = {id(v) for v in (fn.__defaults__ or ())}
            self.defaults |= {id(v) for v in (fn.__kwdefaults__ or {}).values()}
        self.previous = None
        # id -> object: the call's arguments that its cache key holds by identity (set by
        # kiln.jit): guards may start from them, as they are the same on every hit
        self.arg_objects: dict = {}

    def _guard_callable(self, fn, name):
        """Guard what the compiled callable itself holds, which its code reads without a
        name the bytecode shows: a ``functools.partial``'s function, arguments and
        keywords, and a function's code object and default values (``f.__defaults__ =
        (5.0,)``, ``f.__code__ = g.__code__`` retrace, as torch.compile recompiles).
        Returns the plain function whose code is the trace's top frame (or ``fn``)."""
        depth = 0
        while isinstance(fn, functools.partial) and depth < 8:
            depth += 1
            for attr in ("func", "args", "keywords"):
                self._own_guard(fn, attr, f"{name} (functools.partial)")
            self.known.update((id(fn.args), id(fn.keywords)))
            fn = fn.func
        fn = getattr(fn, "__func__", fn)
        if isinstance(fn, types.FunctionType):
            for attr in ("__code__", "__defaults__", "__kwdefaults__"):
                self._own_guard(fn, attr, name)
        return fn

    def _own_guard(self, obj, attr, label):
        """Guard ``obj.<attr>`` (read with ``getattr``; ``obj`` is held strongly, as the
        compiled function holds it)."""
        value = getattr(obj, attr)
        self._note_functions(value)
        steps = (("getattr", attr),)
        guard = PathGuard(
            _strong(obj), steps, expect(value), False, (label, None, None), ("pymod",)
        )
        self.guards[(("fn", id(obj)), steps)] = guard

    def __enter__(self):
        _bracket_collections()
        self.previous = sys.gettrace()
        sys.settrace(self.on_call)
        return self

    def __exit__(self, *exc):
        sys.settrace(self.previous)
        self.open.clear()
        return False

    def on_call(self, frame, event, arg):
        """The thread's trace function: called for each new Python frame."""
        if event != "call" or getattr(_COLLECTING, "on", False):
            return None
        code = frame.f_code
        if code.co_name in _SEEDER_NAMES and code in _seeders():
            self._refuse_seeding(frame)
        if code.co_name == "step" and code in _scheduler_steps():
            self._refuse_scheduler_step(frame)
        info = _INFO.get(frame.f_code) or code_info(frame.f_code)
        if not info.paths or not self._enter(frame, info):
            return None
        frame.f_trace_lines = False  # only the frame's "return" is wanted
        return self.on_event

    def on_event(self, frame, event, arg):
        """The local trace function of a user frame whose reads are checked on return."""
        if event == "return":
            entries = self.open.pop(id(frame), None)
            if entries:
                self._leave(frame, entries)
        return self.on_event

    # -------------------------------------------------------------- entry and exit
    def _enter(self, frame, info):
        code = frame.f_code
        local = frame.f_locals
        cells = None
        entries = [] if info.user else None
        fn = self.functions.get(code)
        if fn is not None and code is not self.top_code and code not in self.with_defaults:
            # a method or helper reached through a guarded value: its default values
            # (``A.forward.__defaults__ = (4.0,)`` retraces, as torch.compile recompiles)
            self.with_defaults.add(code)
            for attr in ("__defaults__", "__kwdefaults__"):
                if getattr(fn, attr) is not None:
                    self._own_guard(fn, attr, fn.__qualname__)
        for kind, name, steps, line in info.paths:
            if kind == "arg":
                obj = local.get(name, MISSING)
                if obj is MISSING or isinstance(obj, Tensor) or type(obj) in _SCALARS:
                    continue
                if id(obj) not in self.arg_objects and self.arg_objects:
                    # a list, tuple or dict of the call's arguments, rebuilt around the
                    # tracers: guard from the first object of the call the path reaches
                    # (``xs[0].k``: from ``xs[0]``, which the cache key holds by identity)
                    found = self._arg_object(obj, steps)
                    if found is not None:
                        obj, steps, name = found[0], found[1], f"{name}{found[2]}"
                arg_object = id(obj) in self.arg_objects
                if arg_object and isinstance(obj, functools.partial):
                    # its keywords and arguments can change in place (``p.keywords[k]``)
                    self._guard_callable(obj, name)
                default = code is self.top_code and id(obj) in self.defaults
                if not steps and not default:
                    # the argument itself: the key holds it by identity; a list, dict or set
                    # passed as a static argument is guarded by its contents
                    if not (arg_object and type(expect(obj)) is not Identical):
                        continue
                try:
                    ref = weakref.ref(obj)
                except TypeError:
                    if not (default or arg_object):
                        continue  # a list built by the trace
                    ref = _strong(obj)  # (the cache key holds it too)
                key = ("o", id(obj))
                label = (name, id(obj), type(obj).__name__)
                root = ref
                if code is self.top_code:
                    self.known.add(id(obj))
                elif entries is not None and not (isinstance(obj, Module) or id(obj) in self.known):
                    guard = self._guard(key, root, steps, label)
                    continue
            elif kind == "global" or kind == "kiln global":
                g = frame.f_globals
                if kind == "kiln global":
                    value = g.get(name, MISSING)
                    if not _kiln_global(value):
                        continue
                    watched = _watch(sys.modules.get(g.get("__name__")), g)
                    if watched and isinstance(value, types.ModuleType):
                        _watch(value, value.__dict__)
                key = ("g", id(g), name)
                label = (name, None, None)
                root = _global_root(g, name)
            else:
                if cells is None:
                    cells = self._cells(frame)
                cell = cells.get(name)
                if cell is None:
                    continue
                key = ("c", id(cell))
                label = (name, None, None)
                root = _cell_root(cell)
            guard = self._guard(key, root, steps, label)
            if guard is None:
                continue
            if info.user and steps:
                self._refuse_random(frame, guard, line)
            if entries is not None:
                entries.append((guard, guard.expected if guard.holds() else None, line))
        if entries:
            self.open[id(frame)] = entries
            return True
        return False

    def _arg_object(self, obj, steps):
        """``(object, remaining steps, consumed steps as text)``: the first object of the
        call (``arg_objects``) that ``steps`` reach from ``obj``; else None."""
        value = obj
        text = ""
        for i, (kind, key) in enumerate(steps):
            if not isinstance(value, (list, tuple, dict)):
                return None
            value = step(value, kind, key)[0]
            text += f"[{key!r}]" if kind == "item" else f".{key}"
            if value is MISSING or isinstance(value, Tensor):
                return None
            if id(value) in self.arg_objects:
                return value, steps[i + 1 :], text
        return None

    def _guard(self, key, root, steps, label):
        """The guard of ``steps`` from ``root`` (recorded once); None if nothing to guard.

        A step that finds its value on the object's class is split in two: the instance
        must still not have its own value of that name, and the class must still hold the
        value; the second is keyed by the class, so each class is checked once per call.
        """
        full = (key, steps)
        guard = self.guards.get(full)
        if guard is not None:
            return guard
        value = root()
        if value is None:
            return None
        covered = isinstance(value, Module) and bool(steps)
        # a global of one of kiln's nn modules, which setattr on the module announces
        watched = getattr(root, "kind", None) == "global" and type(_owner(root.dict)) is _Watched
        covered = covered or watched
        via = []
        for i, (kind, k) in enumerate(steps):
            if value is MISSING:
                steps = steps[:i]
                break
            obj = value
            if type(obj) is contextvars.ContextVar:  # ``var.get()``: guard var's value
                return self._guard(key, root, steps[:i], label)
            if isinstance(obj, Tensor) and not _tensor_attribute(obj, kind, k):
                steps = steps[:i]  # the tensor's own guards: the captured-tensor checks
                break
            value, source = step(obj, kind, k)
            if kind == "item" and i and steps[i - 1] == _DICT_STEP and covered:
                source = "module"  # module.__dict__["k"]: changed by setattr only
            if source == "stop":
                steps = steps[:i]
                value = obj
                break
            if source == "class":
                self._guard(key, root, (*steps[:i], ("own", k)), label)
                # ... and the object must still be of that class (``m.__class__ = B``)
                self._guard(key, root, (*steps[:i], ("type", None)), label)
                cls = type(obj)
                return self._guard(
                    ("o", id(cls)),
                    _strong(cls),
                    (("attr", k), *steps[i + 1 :]),
                    (cls.__name__, None, None),
                )
            covered = covered and (source == "module" or type(obj) is _Watched)
            via.append(_via(obj, kind, k, source))
            if source == "final":
                steps = steps[: i + 1]
                break
        full = (key, steps)
        guard = self.guards.get(full)
        if guard is not None:
            return guard
        if not watched:  # (kiln's own functions: their defaults and cells are not patched)
            self._note_functions(value)
        if value is builtins.print and value is not _REAL_PRINT:
            value = _REAL_PRINT  # (kiln.compile's print while it traces: see function.py)
        exp = expect(value)
        if isinstance(exp, Identical):
            self.known.add(id(value))
        if covered and isinstance(exp, Items) and exp.type is not _Registry:
            # a plain list or dict in a module can change without setattr; the module's
            # own ``__dict__`` (``self.__dict__.get(k)``) changes with setattr only
            covered = steps[-1:] == (_DICT_STEP,)
        guard = PathGuard(root, steps, exp, covered, label, tuple(via[: len(steps)]))
        self.guards[full] = guard
        if not steps and label[1] is None:
            self.roots.append((label[0], value))
        return guard

    def _note_functions(self, value, depth=0) -> None:
        """Remember the functions a guarded value holds (itself, or in a list or dict such
        as a module's hooks): their closure cells are guarded when they are called."""
        if isinstance(value, types.MethodType):
            value = value.__func__
        elif isinstance(value, property):  # ``gate.factor``: its getter's closure cells
            value = value.fget
        elif isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        own = getattr(value, "__dict__", None)
        wrapped = own.get("__wrapped__") if type(own) is dict else None
        if wrapped is not None and depth < 3:
            # a compiled (kiln.compile, kiln.jit) or functools.wraps-decorated function:
            # the function it runs, whose closure cells are then guarded when it is called
            self._note_functions(wrapped, depth + 1)
        if isinstance(value, types.FunctionType):
            self.functions.setdefault(value.__code__, value)
        elif isinstance(value, functools.partial) and depth < 3:
            if (("fn", id(value)), (("getattr", "keywords"),)) not in self.guards:
                self._guard_callable(value, f"{_short(value.func)} (functools.partial)")
        elif isinstance(value, functools._lru_cache_wrapper):
            self.caches[id(value)] = value
        elif isinstance(value, (list, tuple, dict)) and depth < 2 and len(value) <= 256:
            for item in value.values() if isinstance(value, dict) else value:
                self._note_functions(item, depth + 1)

    def _leave(self, frame, entries):
        for guard, expected, line in entries:
            if expected is None or guard.holds():
                continue
            where = f'File "{frame.f_code.co_filename}", line {line}, in {frame.f_code.co_name}'
            now = guard.expected.describe(guard.value())
            for other, was, _ in entries:  # undo what can be undone: kiln.compile then runs
                if was is not None and not other.holds():  # the call eagerly, from the
                    _restore(other)  # state the caller left (``n += 1`` counted once)
            raise TraceError(
                f"kiln.jit: {self.fn_name} changed {guard.name(self.names)} while it was traced "
                f"({now}).\n  {where}\n"
                "A Python side effect inside a jitted function runs once, when kiln traces it, "
                "and never again on compiled calls. Move it out of the jitted function, or keep "
                "the state in a tensor and update it in place (x.add_(1) is compiled)."
            )

    def _refuse_scheduler_step(self, frame):
        """Refuse stepping one of kiln's learning-rate schedulers from the user's code
        while it is traced: ``sched.step()`` changes Python state in kiln's code (its
        ``last_epoch``, the groups' ``lr``), which no guard sees and a compiled call would
        not change again (the learning rate would stay at its second value)."""
        from ..context import current_trace

        caller = frame.f_back
        if current_trace() is None or caller is None:
            return
        filename = caller.f_code.co_filename
        if filename.startswith(_SKIPPED) and not filename.startswith(_NN):
            return  # (a scheduler stepping another: SequentialLR, ChainedScheduler)
        owner = frame.f_locals.get("self")
        raise TraceError(
            f"kiln.jit: {self.fn_name} steps the learning-rate scheduler "
            f'{type(owner).__name__} while it is traced.\n  File "{filename}", line '
            f"{caller.f_lineno}, in {caller.f_code.co_name}\n"
            "The scheduler's step changes Python state (its epoch, the optimizer's learning "
            "rates) once, when kiln traces the function, and not on compiled calls. Step the "
            "scheduler outside the compiled function (kiln.compile runs a function that "
            "steps one eagerly)."
        )

    def _cells(self, frame) -> dict:
        fn = self.functions.get(frame.f_code)
        if fn is None or fn.__closure__ is None:
            return {}
        return dict(zip(fn.__code__.co_freevars, fn.__closure__))

    def _refuse_seeding(self, frame):
        """Refuse seeding kiln's generators from the user's code while it is traced (not
        inside ``kiln.escape_trace()``, whose code runs when traced only, on purpose)."""
        from ..context import current_trace

        caller = frame.f_back
        if current_trace() is None or caller is None:
            return
        filename = caller.f_code.co_filename
        if filename.startswith(_SKIPPED) and not filename.startswith(_NN):
            return  # (kiln's own code)
        raise TraceError(
            f"kiln.jit: {self.fn_name} calls {frame.f_code.co_qualname} (it sets kiln's "
            f'random state) while it is traced.\n  File "{filename}", line '
            f"{caller.f_lineno}, in {caller.f_code.co_name}\n"
            "Seeding runs once, when kiln traces the function, and not on compiled calls, "
            "whose random numbers would then differ from the eager function's. Seed outside "
            "the compiled function (kiln.compile runs a function that seeds eagerly, as "
            "torch.compile breaks the graph there)."
        )

    def _refuse_random(self, frame, guard, line):
        """Refuse code that reads Python's or NumPy's random generators or the clock."""
        exp = guard.expected
        fn = exp.target() if isinstance(exp, Identical) else None
        owner = getattr(fn, "__self__", None)
        module = getattr(fn, "__module__", None) or ""
        if not (
            isinstance(owner, _RANDOM_OWNERS)
            or _is_clock(fn)
            or (isinstance(fn, types.FunctionType) and module == "random")
            or (callable(fn) and module.startswith("numpy.random"))
        ):
            return
        where = f'File "{frame.f_code.co_filename}", line {line}, in {frame.f_code.co_name}'
        what = "the clock" if _is_clock(fn) else "a Python or NumPy random generator"
        raise TraceError(
            f"kiln.jit: {self.fn_name} uses {guard.name(self.names)} ({what}) while it is "
            f"traced.\n  {where}\n"
            "Its one value would be baked into the compiled function and repeated on every "
            "call. Use kiln's random functions (kiln.rand, kiln.randn, ...: compiled, fresh on "
            "every call), or compute the value outside and pass it as an argument."
        )

    # -------------------------------------------------------------- result
    def guard_set(self) -> GuardSet:
        names = dict(self.names)
        for name, value in self.roots:
            names.setdefault(id(value), name)
        for name, value in list(self.roots):
            if isinstance(value, Module):
                for sub_name, sub in value.named_modules():
                    if sub_name:
                        names.setdefault(id(sub), f"{name}.{sub_name}")
                    self._registries(sub, f"{name}.{sub_name}" if sub_name else name)
        guards = list(self.guards.values())
        # the hooks every module runs (register_module_forward_hook and friends), which
        # kiln's Module.__call__ reads unseen: registries, so covered by the epoch (free
        # while no module changes)
        from ..nn import module as nn_module

        for table in _GLOBAL_HOOKS:
            registry = getattr(nn_module, table)
            label = (f"torch.nn.modules.module.{table}", None, None)
            guards.append(PathGuard(_strong(registry), (), expect(registry), True, label))
        for cache in self.caches.values():
            root = _cache_size_root(cache)
            name = getattr(cache, "__qualname__", "a function")
            label = (f"the number of results cached by {name}", None, None)
            guards.append(PathGuard(root, (), expect(root()), False, label))
        return GuardSet(guards, names)

    def _registries(self, module, name) -> None:
        """Guard the names and entries of ``module``'s parameters, buffers and submodules
        (kiln's ``named_parameters()``, ``state_dict()``, ``children()`` iterate them
        through a local the bytecode cannot follow): covered by the structure epoch, so
        free on calls while no module changes."""
        for table in ("_parameters", "_buffers", "_modules"):
            steps = (("attr", table),)
            if (("o", id(module)), steps) in self.guards:
                continue
            value = module.__dict__.get(table)
            if value is None:
                continue
            label = (name, None, None)
            guard = PathGuard(weakref.ref(module), steps, expect(value), True, label)
            self.guards[(("o", id(module)), steps)] = guard


_GLOBAL_HOOKS = (
    "_global_forward_pre_hooks",
    "_global_forward_hooks",
    "_global_backward_pre_hooks",
    "_global_backward_hooks",
)


class _Watched(types.ModuleType):
    """One of kiln's ``nn`` modules whose globals a trace read: setting or deleting one
    of its attributes (``kiln.nn.functional.relu = f``, ``monkeypatch.setattr``) bumps the
    structure epoch, so the guards on them cost nothing on calls while none changes."""

    def __setattr__(self, name, value):
        _bump()
        super().__setattr__(name, value)

    def __delattr__(self, name):
        _bump()
        super().__delattr__(name)


def _owner(g):
    """The module whose globals dict is ``g`` (None if none is)."""
    module = sys.modules.get(g.get("__name__"))
    return module if module is not None and module.__dict__ is g else None


def _watch(module, g) -> bool:
    """Make ``module`` (a ``kiln.nn`` module whose dict is ``g``) announce its changes;
    False where it cannot."""
    if module is None or module.__dict__ is not g:
        return False
    if type(module) is types.ModuleType and module.__name__.startswith(_KILN_NN):
        module.__class__ = _Watched
    return type(module) is _Watched


def _kiln_global(value) -> bool:
    """Whether a global that kiln's ``nn`` code reads is guarded: a module of
    ``kiln.nn`` (``F.relu``), a function defined there or a flag, which a user may replace
    (``kiln.nn.functional.relu = ...``); not kiln's ops, NumPy, classes or builtins, which
    are not patched in practice and would only add checks to every call."""
    if type(value) in (bool, int, float, str):
        return True
    if isinstance(value, types.ModuleType):
        return value.__name__.startswith(_KILN_NN)
    if isinstance(value, types.FunctionType):
        return (value.__module__ or "").startswith(_KILN_NN)
    return False


_KILN_NN = "kiln.nn"


def _strong(obj):
    def root():
        return obj

    root.kind, root.obj = "strong", obj
    return root


def _cache_size_root(cache):
    ref = weakref.ref(cache)

    def cache_size():
        alive = ref()
        return -1 if alive is None else alive.cache_info().currsize

    return cache_size


def _global_root(g, name):
    def global_root():
        v = g.get(name, MISSING)
        if v is MISSING:
            v = builtins.__dict__.get(name, MISSING)
        return v

    global_root.kind, global_root.dict, global_root.name = "global", g, name
    return global_root


def _cell_root(cell):
    def root():
        try:
            return cell.cell_contents
        except ValueError:
            return MISSING

    root.kind, root.cell = "cell", cell
    return root


def _expected_value(exp):
    """The value ``exp`` was recorded from, when it can be rebuilt; else MISSING."""
    if isinstance(exp, Same):
        return exp.value
    if isinstance(exp, Identical):
        target = exp.target()
        return MISSING if target is None and exp.ref is not None else target
    return MISSING


def _restore(guard) -> None:
    """Put back the value ``guard`` expects, where the traced code changed it (a refused
    side effect): a global, a closure cell, an attribute or an item set to a recorded
    value, or a list, dict or set given back its recorded items. Best effort: a value
    that cannot be rebuilt stays as the trace left it."""
    exp = guard.expected
    try:
        root = guard.root()
        if root is None:
            return
        if isinstance(exp, (Items, SetValue)):
            target = walk(root, guard.steps)
            if isinstance(exp, SetValue) and isinstance(target, (set,)):
                target.clear()
                target.update(exp.copy)
                return
            if not isinstance(exp, Items) or type(target) is not exp.type:
                return
            values = [_expected_value(e) for e in exp.items]
            if any(v is MISSING for v in values):
                return
            if isinstance(target, list):
                target[:] = values
            elif isinstance(target, dict) and exp.type in (dict, OrderedDict):
                target.clear()
                target.update(zip(exp.keys, values))
            return
        value = _expected_value(exp)
        if value is MISSING:
            return
        if not guard.steps:
            kind = getattr(guard.root, "kind", None)
            if kind == "global":
                guard.root.dict[guard.root.name] = value
            elif kind == "cell":
                guard.root.cell.cell_contents = value
            return
        parent = walk(root, guard.steps[:-1])
        kind, key = guard.steps[-1]
        if parent is MISSING:
            return
        if kind == "attr":
            setattr(parent, key, value)
        elif kind == "item":
            parent[key] = value
    except Exception:  # noqa: BLE001  (best effort, on the way to the TraceError)
        return
