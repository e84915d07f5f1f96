"""``torch.jit``'s names: ``trace``, ``script``, ``ScriptModule``, ``save``, ``load``, markers.

kiln compiles by tracing, so ``script`` and ``trace`` both give a ``ScriptModule`` (or a
``ScriptFunction``) that runs the function through ``kiln.jit``: compiled once per input
signature, sharing the parameters of the module it came from. ``.graph`` is kiln's graph
of the example inputs (``trace``) or of the last call (``script``), ``.code`` its text,
``.save(path)`` writes an exported program (``kiln.export``) that ``kiln.jit.load`` runs
in a process without the model's code. A saved program keeps the leading dimension of its
inputs dynamic when the traces at other sizes agree (``kiln.export.Dim``), so a model
traced at batch 1 serves any batch size, as a TorchScript file does; otherwise it keeps
the example's shapes and says so when called with others.

``script`` of a function whose Python control flow depends on a tensor's value (``if
x.sum() > 0:``) runs it eagerly for those input signatures, choosing the branch on each
call as TorchScript's compiled ``if`` does (``kiln.cond`` or ``kiln.where`` compile it);
its ``graph`` and ``save`` raise the ``TraceError`` that names the user's line. ``trace``
of such a function takes the example's branch for good and warns ``TracerWarning``, as
PyTorch's does (``baked.py``).

>>> import kiln, kiln.nn as nn
>>> traced = kiln.jit.trace(nn.Linear(3, 2), kiln.ones(1, 3))
>>> print(traced.code.splitlines()[0])
graph Linear(%0: f32[1, 3], %1: f32[2, 3], %4: f32[2]) {
>>> traced(kiln.ones(5, 3)).shape
kiln.Size([5, 2])
"""

from __future__ import annotations

import functools

from kiln.compiler.errors import ShapeError, TraceError

from ..context import current_trace
from ..export.archive import load as load_program
from ..export.archive import save as save_program
from ..export.dynamic import ConstraintViolationError, Dim
from ..export.program import ExportedProgram, export
from ..nn.module import Module
from ..tensor import Tensor
from .baked import replaying
from .config import log_decision
from .function import JitFunction
from .function import trace as trace_graph


class ScriptFunction:
    """A traced or scripted function: call it, read ``graph``/``code``, ``save`` it."""

    def __init__(self, fn, example_inputs=None, name=None, frozen=False):
        self._fn = fn
        self._jitted = JitFunction(fn, name=name)
        self._jitted.freeze_python = frozen  # traced: Python values are the graph's constants
        self._examples = example_inputs  # (args, kwargs) the graph and save() use
        self._graph = None
        self._eager_keys: set = set()  # script: signatures whose trace failed (run eagerly)
        if hasattr(fn, "__name__"):
            functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args, **kwargs):
        jitted = self._jitted
        inlined = current_trace() is not None  # (called inside another function's trace)
        if not inlined and self._eager_keys and jitted._key(args, kwargs)[0] in self._eager_keys:
            result = self._fn(*args, **kwargs)
        else:
            try:
                result = jitted(*args, **kwargs)
            except TraceError as exc:
                if inlined:
                    raise  # (the outer trace decides: a script falls back to eager as a whole)
                if jitted.freeze_python:  # (torch.jit.trace: one graph of the examples)
                    raise TraceError(
                        f"kiln.jit: {jitted.name} cannot be compiled (kiln traces it; "
                        "data-dependent branches need kiln.cond or kiln.where):\n" + str(exc)
                    ) from None
                # torch.jit.script compiles an ``if`` on a tensor's value (both branches,
                # chosen per call); a trace holds one branch only, so these inputs run the
                # Python code (the script's own copy of a module) eagerly, the branch chosen
                # on each call. The trace changed no real state: the call starts afresh.
                self._eager_keys.add(jitted._key(args, kwargs)[0])
                log_decision(f"kiln.jit.script: {jitted.name} runs eagerly for these inputs: {exc}")
                result = self._fn(*args, **kwargs)
        if self._examples is None or self._examples[2]:
            self._examples = (args, kwargs, True)  # script: the last call is the example
            self._graph = None
        return result

    def compile_now(self) -> None:
        """Trace and compile at the example inputs now (``torch.jit.trace``: the Python
        values read now are the graph's constants, whatever they are at the first call)."""
        args, kwargs, _ = self._examples
        try:
            self._jitted.inspect(*args, **kwargs)
        except TraceError as exc:
            raise TraceError(
                f"kiln.jit: {self._jitted.name} cannot be compiled (kiln traces it; "
                "data-dependent branches need kiln.cond or kiln.where):\n" + str(exc)
            ) from None

    @property
    def graph(self):
        if self._graph is None:
            args, kwargs, _ = self._need_examples("graph")
            try:
                with replaying(self._fn, self._jitted._baked) as fn:
                    self._graph = trace_graph(fn, *args, **kwargs)
            except TraceError as exc:
                raise TraceError(
                    f"kiln.jit: {self._jitted.name} has no graph (kiln traces it; "
                    "data-dependent branches need kiln.cond or kiln.where):\n" + str(exc)
                ) from None
        return self._graph

    @property
    def code(self) -> str:
        return self.graph.format()

    @property
    def inlined_graph(self):
        return self.graph

    def _need_examples(self, what: str):
        if self._examples is None:
            raise RuntimeError(
                f"kiln.jit: {self._jitted.name}.{what} needs example inputs: kiln traces "
                "rather than parses Python, so call the scripted function once first (or "
                "use kiln.jit.trace with example inputs)"
            )
        return self._examples

    def export(self) -> ExportedProgram:
        """The exported program of the example inputs (leading dimensions dynamic if they
        can be)."""
        args, kwargs, _ = self._need_examples("save")
        with replaying(self._fn, self._jitted._baked) as fn:  # (trace: the example's values)
            return export_with_batch_dim(fn, args, kwargs)

    def save(self, f, _extra_files=None) -> None:
        save_program(self.export(), f, extra_files=_extra_files)


class ScriptModule(Module):
    """A module compiled by ``kiln.jit.trace``/``script``, or one loaded by ``kiln.jit.load``.

    A traced module shares the parameters, buffers and submodules of the module it came
    from (``state_dict()`` has the same keys); a loaded one owns the weights of its file.
    """

    def __init__(self, module: Module | None, function, name: str):
        super().__init__()
        if module is not None:
            for table in ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"):
                object.__setattr__(self, table, getattr(module, table))
            object.__setattr__(self, "training", module.training)
        object.__setattr__(self, "_original", module)
        object.__setattr__(self, "_function", function)
        object.__setattr__(self, "original_name", name)

    def __call__(self, *args, **kwargs):
        return self._function(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self._function(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            original = self.__dict__.get("_original")
            if original is None or name.startswith("__"):
                raise
            return getattr(original, name)  # ``scripted.k``: the compiled copy's attribute

    def __setattr__(self, name: str, value) -> None:
        original = self.__dict__.get("_original")
        if original is None or name.startswith("_"):
            super().__setattr__(name, value)
            return
        # ``scripted.k = 5.0``: the module the compiled function runs reads it (guarded)
        setattr(original, name, value)
        if name == "training":
            object.__setattr__(self, name, value)

    def train(self, mode: bool = True) -> ScriptModule:
        super().train(mode)
        if self._original is not None:
            self._original.train(mode)
        return self

    @property
    def graph(self):
        return self._function.graph

    @property
    def code(self) -> str:
        return self._function.code

    @property
    def inlined_graph(self):
        return self._function.graph

    def save(self, f, _extra_files=None) -> None:
        """Write the module as an exported program (``kiln.jit.load`` reads it)."""
        self._function.save(f, _extra_files)

    def _get_name(self) -> str:
        return f"RecursiveScriptModule(original_name={self.original_name})"


class _LoadedFunction:
    """A loaded exported program as ``ScriptModule``'s function."""

    def __init__(self, program: ExportedProgram):
        self.program = program
        self.module = program.module()

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @property
    def graph(self):
        return self.program.graph

    @property
    def code(self) -> str:
        return self.program.graph.format()

    def save(self, f, _extra_files=None) -> None:
        save_program(self.program, f, extra_files=_extra_files)


def trace(
    func,
    example_inputs=None,
    optimize=None,
    check_trace: bool = True,
    check_inputs=None,
    check_tolerance: float = 1e-5,
    strict: bool = True,
    _force_outplace: bool = False,
    _module_class=None,
    _compilation_unit=None,
    example_kwarg_inputs=None,
    _store_inputs: bool = True,
):
    """``torch.jit.trace``: a ``ScriptModule`` for a module, a ``ScriptFunction`` for a
    function, traced at ``example_inputs`` (a tensor or a tuple of them)."""
    if example_inputs is None and example_kwarg_inputs is None:
        raise ValueError("kiln.jit.trace: give example_inputs (a tensor or a tuple of tensors)")
    args = _as_tuple(example_inputs)
    kwargs = dict(example_kwarg_inputs or {})
    if isinstance(func, Module):
        func = _compiled_copy(func)
        function = ScriptFunction(
            func, (args, kwargs, False), name=type(func).__name__, frozen=True
        )
        function.compile_now()  # (trace now: errors point at trace time, as PyTorch's)
        return ScriptModule(func, function, type(func).__name__)
    function = ScriptFunction(func, (args, kwargs, False), frozen=True)
    function.compile_now()
    return function


def script(obj, optimize=None, _frames_up: int = 0, _rcb=None, example_inputs=None):
    """``torch.jit.script``: compile ``obj`` (a function or a module) by tracing it on its
    first call; ``graph`` and ``save`` use the inputs of the last call."""
    if isinstance(obj, (ScriptModule, ScriptFunction)):
        return obj
    examples = None
    if example_inputs:
        first = example_inputs[0]
        examples = (_as_tuple(first), {}, True)
    if isinstance(obj, Module):
        obj = _compiled_copy(obj)
        return ScriptModule(
            obj, ScriptFunction(obj, examples, type(obj).__name__), type(obj).__name__
        )
    if not callable(obj):
        raise TypeError(f"kiln.jit.script: cannot script a {type(obj).__name__}")
    return ScriptFunction(obj, examples)


def _compiled_copy(module: Module) -> Module:
    """The module tree as ``torch.jit.trace``/``script`` keep it: each module copied, with
    its own attributes, mode, registries and submodules, sharing the parameters and buffers
    (so training the original, or loading a state dict into it, is seen; replacing one of
    its attributes, parameters or submodules, or ``original.eval()``, is not: PyTorch's
    ScriptModule holds its own copy of the module's structure)."""
    memo: dict = {}

    def copy(m):
        done = memo.get(id(m))
        if done is not None:
            return done
        new = type(m).__new__(type(m))
        memo[id(m)] = new
        state = {}
        for name, value in m.__dict__.items():
            if name == "_compiled_call_impl":
                continue
            if name == "_modules":
                value = type(value)((k, None if v is None else copy(v)) for k, v in value.items())
            elif isinstance(value, (dict, set, list)):
                value = type(value)(value)
            state[name] = value
        new.__dict__.update(state)
        return new

    return copy(module)


def save(m, f, _extra_files=None) -> None:
    """``torch.jit.save``: ``m.save(f)``."""
    if not isinstance(m, (ScriptModule, ScriptFunction)):
        raise TypeError(
            f"kiln.jit.save: expected a ScriptModule (from kiln.jit.trace or script), got "
            f"{type(m).__name__}"
        )
    m.save(f, _extra_files)


def load(f, map_location=None, _extra_files=None) -> ScriptModule:
    """``torch.jit.load``: a ``ScriptModule`` that runs the saved program compiled."""
    if map_location not in (None, "cpu") and str(map_location) != "cpu":
        raise NotImplementedError(
            f"kiln.jit.load: map_location={map_location!r}; kiln loads to cpu"
        )
    program = load_program(f, extra_files=_extra_files)
    loaded = _LoadedFunction(program)
    module = ScriptModule(loaded.module, loaded, program.name)
    return module


def ignore(drop=False, **kwargs):
    """``torch.jit.ignore``: a marker; kiln traces the function like any other."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    """``torch.jit.unused``: a marker; kiln traces the function like any other."""
    return fn


def export_with_batch_dim(fn, args, kwargs) -> ExportedProgram:
    """Export with the leading dimension of the tensor arguments dynamic: one ``Dim``
    shared by inputs of equal leading size, else static shapes."""
    tensors = [a for a in args if isinstance(a, Tensor) and a.dim() > 0]
    if tensors and len(tensors) == len(args) and not kwargs:
        leading = {a.shape[0] for a in tensors}
        if len(leading) == 1:
            batch = Dim("batch")
            try:
                return export(fn, args, kwargs, dynamic_shapes=tuple({0: batch} for _ in args))
            except (ConstraintViolationError, ShapeError, TraceError):
                pass
    return export(fn, args, kwargs)


def _as_tuple(example_inputs) -> tuple:
    if example_inputs is None:
        return ()
    if isinstance(example_inputs, Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, list):
        return tuple(example_inputs)
    return tuple(example_inputs) if isinstance(example_inputs, tuple) else (example_inputs,)


# the module's public names live in kiln.jit
__all__ = [
    "ScriptFunction",
    "ScriptModule",
    "ignore",
    "load",
    "save",
    "script",
    "trace",
    "unused",
]
