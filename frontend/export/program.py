"""``export``: trace a function or module into an ``ExportedProgram`` that needs no Python code.

An ``ExportedProgram`` holds what running the model takes, and nothing of the model's
class: the graph (JSON, symbolic in its dynamic dimensions, see ``dynamic.py``), the
weights and buffers named as in ``state_dict()``, tensors the function captured
(``constants``), the structure of the inputs and outputs and the range of each dynamic
dimension. ``program.module()`` is a module that runs it compiled.

>>> import kiln, kiln.nn as nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> batch = Dim("batch", max=64)
>>> program = export(model, (kiln.randn(3, 4),), dynamic_shapes=({0: batch},))
>>> program.graph_signature.parameters
('0.weight', '0.bias', '2.weight', '2.bias')
>>> program.module()(kiln.randn(5, 4)).shape
kiln.Size([5, 2])

Export traces without gradients and in the module's current mode (call ``model.eval()``
first to export inference); ``program.module()`` keeps that mode. Buffers, parameters and
inputs the forward updates (``self.count += 1``, batch-norm statistics in training mode,
``self.last = x.mean(0)``, ``x.add_(1)``) are extra graph outputs that ``module()`` writes
back after every call (torch's ``BUFFER_MUTATION``, ``PARAMETER_MUTATION`` and
``USER_INPUT_MUTATION``). A graph that draws random numbers (dropout in training mode),
updates a tensor that is neither (a plain tensor attribute, a captured global) or sets
``.grad`` is refused: the loaded program would not reproduce it.
"""

from __future__ import annotations

import collections
import enum
import inspect
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from kiln.compiler.compile import compile_graph
from kiln.compiler.ir import Graph, from_json

from ..autograd import grad_mode
from ..jit.signature import flatten, unflatten
from ..tensor import Size, Tensor, _wrap
from ..tracing import TraceState, tracing
from .dynamic import (
    INT_INFINITY,
    ConstraintViolationError,
    Dim,
    ShapesCollection,
    _identical,
    _Marker,
    fit,
    format_linear,
    grid,
    sample_sizes,
    substitute,
)

# how many sizes of the dynamic dimensions a loaded program keeps compiled at once
DEFAULT_CACHE_SIZE = 8


# ------------------------------------------------------------------------------ signature
class InputKind(enum.StrEnum):
    """``torch.export.graph_signature.InputKind``; each member equals its lower-case name
    (``InputKind.PARAMETER == "parameter"``)."""

    USER_INPUT = "user_input"
    PARAMETER = "parameter"
    BUFFER = "buffer"
    CONSTANT_TENSOR = "constant_tensor"


class OutputKind(enum.StrEnum):
    """``torch.export.graph_signature.OutputKind``: a user output, or the new value of a
    buffer, parameter or input that the program updates (``module()`` writes it back)."""

    USER_OUTPUT = "user_output"
    BUFFER_MUTATION = "buffer_mutation"
    PARAMETER_MUTATION = "parameter_mutation"
    USER_INPUT_MUTATION = "user_input_mutation"


@dataclass(frozen=True)
class TensorArgument:
    """A graph value by name (``torch.export.graph_signature.TensorArgument``)."""

    name: str

    def __str__(self) -> str:
        return self.name


def _argument(arg):
    return arg if isinstance(arg, TensorArgument) or arg is None else TensorArgument(str(arg))


@dataclass
class InputSpec:
    """One graph input: ``kind`` is user_input, parameter, buffer or constant_tensor.

    ``arg`` names the graph input as torch does (``p_linear_weight``, ``b_running_mean``,
    ``c_scale``, the argument's name for a user input), ``target`` the state or constant
    it reads (None for a user input), ``persistent`` whether a buffer is in ``state_dict``.
    """

    kind: InputKind
    target: str | None  # the state_dict or constant's name (None for a user input, as torch)
    arg: TensorArgument | str | None = None
    persistent: bool | None = None

    def __post_init__(self):
        self.arg = _argument(self.arg)

    def __str__(self) -> str:
        target = "" if self.target is None else f" target='{self.target}'"
        persistent = "" if self.persistent is None else f" persistent={self.persistent}"
        return f"{self.arg}: {self.kind.name}{target}{persistent}"


@dataclass
class OutputSpec:
    """One graph output: a user output (``target`` None) or the new value of ``target``."""

    kind: OutputKind
    target: str | None  # None for a user output, as torch
    arg: TensorArgument | str | None = None  # the output's path, or new_<target>

    def __post_init__(self):
        self.arg = _argument(self.arg)

    def __str__(self) -> str:
        target = "" if self.target is None else f" target='{self.target}'"
        return f"{self.arg}: {self.kind.name}{target}"


@dataclass
class ExportGraphSignature:
    """Which graph input and output is which, as ``torch.export.ExportGraphSignature`` says
    it; ``str()`` prints it in torch's words (``p_weight: PARAMETER target='weight'``)."""

    input_specs: list[InputSpec]
    output_specs: list[OutputSpec] = field(default_factory=list)

    def _targets(self, kind: str) -> tuple[str, ...]:
        return tuple(s.target for s in self.input_specs if s.kind == kind)

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._targets("parameter")

    @property
    def buffers(self) -> tuple[str, ...]:
        return self._targets("buffer")

    @property
    def non_persistent_buffers(self) -> tuple[str, ...]:
        return tuple(
            s.target for s in self.input_specs if s.kind == "buffer" and s.persistent is False
        )

    @property
    def lifted_tensor_constants(self) -> tuple[str, ...]:
        return self._targets("constant_tensor")

    @property
    def user_inputs(self) -> tuple[str, ...]:
        return tuple(s.arg.name for s in self.input_specs if s.kind == "user_input")

    @property
    def user_outputs(self) -> tuple[str, ...]:
        return tuple(s.arg.name for s in self.output_specs if s.kind == "user_output")

    def _inputs_to(self, kind: str) -> dict[str, str]:
        return {s.arg.name: s.target for s in self.input_specs if s.kind == kind}

    def _outputs_to(self, kind: str) -> dict[str, str]:
        return {s.arg.name: s.target for s in self.output_specs if s.kind == kind}

    @property
    def inputs_to_parameters(self) -> dict[str, str]:
        return self._inputs_to("parameter")

    @property
    def inputs_to_buffers(self) -> dict[str, str]:
        return self._inputs_to("buffer")

    @property
    def inputs_to_lifted_tensor_constants(self) -> dict[str, str]:
        return self._inputs_to("constant_tensor")

    @property
    def buffers_to_mutate(self) -> dict[str, str]:
        return self._outputs_to("buffer_mutation")

    @property
    def parameters_to_mutate(self) -> dict[str, str]:
        return self._outputs_to("parameter_mutation")

    @property
    def user_inputs_to_mutate(self) -> dict[str, str]:
        return self._outputs_to("user_input_mutation")

    def __str__(self) -> str:
        inputs = "\n".join(str(s) for s in self.input_specs)
        outputs = "\n".join(str(s) for s in self.output_specs)
        return f"\n# inputs\n{inputs}\n\n# outputs\n{outputs}\n"


# ------------------------------------------------------------------------------ pytrees
def flatten_call(args, kwargs, names=None) -> tuple[list, list]:
    """``(structure, leaves)`` of a call; ``leaves`` are ``(path, value)`` pairs, named
    after ``names`` (the function's parameters) where given."""
    leaves: list = []
    names = names or [f"args[{i}]" for i in range(len(args))]
    structure = [
        [encode_structure(flatten(a, leaves, names[i])) for i, a in enumerate(args)],
        [[k, encode_structure(flatten(kwargs[k], leaves, k))] for k in sorted(kwargs)],
    ]
    return structure, leaves


# (name, fields) -> the named tuple class of that name and fields seen in this process: a
# program saved with a named tuple stores its name and fields, and one loaded where the class
# is unknown makes a namedtuple of them (the model's Python code is not needed)
_NAMED_TUPLES: dict[tuple, type] = {}


def encode_structure(structure):
    """A ``signature.flatten`` structure as JSON (lists only)."""
    if structure == "*":
        return "*"
    kind, kids = structure
    if kind == "dict":
        return [kind, [[k, encode_structure(s)] for k, s in kids]]
    if isinstance(kind, type):  # a named tuple: ["namedtuple", name, fields]
        _NAMED_TUPLES.setdefault((kind.__name__, tuple(kind._fields)), kind)
        kind = ["namedtuple", kind.__name__, list(kind._fields)]
    elif isinstance(kind, tuple):  # ("tuple of", kiln.Size): x.shape in or out
        kind = ["tuple of", "Size" if kind[1] is Size else "tuple"]
    return [kind, [encode_structure(s) for s in kids]]


def decode_structure(encoded):
    if encoded == "*":
        return "*"
    kind, kids = encoded
    if kind == "dict":
        return (kind, tuple((k, decode_structure(s)) for k, s in kids))
    if isinstance(kind, list) and kind[0] == "namedtuple":
        key = (kind[1], tuple(kind[2]))
        if key not in _NAMED_TUPLES:
            _NAMED_TUPLES[key] = collections.namedtuple(*key)
        kind = _NAMED_TUPLES[key]
    elif isinstance(kind, list) and kind[0] == "tuple of":
        kind = ("tuple of", Size if kind[1] == "Size" else tuple)
    return (kind, tuple(decode_structure(s) for s in kids))


def _json_value(value, what: str):
    """``value`` if JSON keeps it exactly (a static leaf of the inputs or outputs)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"kiln.export: {what} is a {type(value).__name__}; an exported program keeps tensors "
        "and Python numbers, strings, booleans and None only"
    )


# ------------------------------------------------------------------------------ tracing
def _module_tensor_names(root) -> dict[int, tuple[str, str]]:
    """``id(tensor) -> (kind, name)`` for a module's parameters, buffers and plain tensor
    attributes (``constant_tensor``, named by the attribute as torch.export names them).
    A non-persistent buffer's kind is ``"buffer!"``: torch keeps it in ``constants``."""
    names: dict[int, tuple[str, str]] = {}
    if hasattr(root, "named_parameters"):
        for name, t in root.named_parameters():
            names.setdefault(id(t), ("parameter", name))
        for prefix, module in root.named_modules():
            transient = getattr(module, "_non_persistent_buffers_set", ())
            for name, t in module._buffers.items():
                if t is not None:
                    kind = "buffer!" if name in transient else "buffer"
                    names.setdefault(id(t), (kind, _dotted(prefix, name)))
        for prefix, module in root.named_modules():
            for name, t in vars(module).items():
                if isinstance(t, Tensor) and not name.startswith("_"):
                    names.setdefault(id(t), ("constant_tensor", _dotted(prefix, name)))
    return names


def _owner(fn):
    """The module whose state ``fn`` reads: itself, or the module of a bound method
    (``export(model.forward, ...)``), else None."""
    owner = fn if hasattr(fn, "named_modules") else getattr(fn, "__self__", None)
    return owner if hasattr(owner, "named_modules") else None


def _dotted(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _snapshot_modules(root) -> list:
    """What a forward may reassign, per submodule: its buffers, parameters and attributes."""
    if not hasattr(root, "named_modules"):
        return []
    return [
        (prefix, m, dict(m._buffers), dict(m._parameters), dict(vars(m)))
        for prefix, m in root.named_modules()
    ]


def _restore_modules(snapshot: list, trace: TraceState, check: bool = True) -> list:
    """Undo the forward's assignments of tensors to module attributes (a traced value left in
    the user's module would be a tracer there); ``(state name, value, value before)`` of each
    buffer the forward reassigned (``self.count = self.count + 1``: a buffer mutation)."""
    reassigned, problems = [], []
    for prefix, module, buffers, parameters, attributes in snapshot:
        for name, original in buffers.items():
            if module._buffers.get(name) is not original:
                reassigned.append((_dotted(prefix, name), module._buffers.get(name), original))
        if any(module._parameters.get(n) is not p for n, p in parameters.items()):
            problems.append(f"it reassigns a parameter of {type(module).__name__}")
        for table, saved in ((module._buffers, buffers), (module._parameters, parameters)):
            if table.keys() != saved.keys() or any(table[k] is not saved[k] for k in saved):
                table.clear()
                table.update(saved)
        for name, value in list(vars(module).items()):
            if name.startswith("_") or (name in attributes and attributes[name] is value):
                continue
            if getattr(value, "_trace", None) is trace:
                # torch.export drops such an assignment too (a cache kept for a later call)
                warnings.warn(
                    f"kiln.export: the forward assigns a traced tensor to the attribute "
                    f"{_dotted(prefix, name)!r}; the exported program does not keep it",
                    stacklevel=4,
                )
            # every trace starts from the same state: a counter the forward bumps
            # (self.steps += 1) read 1, 2, 3 in three traces, and the fit took it for a size
            if name in attributes:
                object.__setattr__(module, name, attributes[name])
            else:
                object.__delattr__(module, name)
    if problems and check:
        raise NotImplementedError("kiln.export: cannot export this program: " + "; ".join(problems))
    return reassigned


def _dynamic_places(fn, args, kwargs, dynamic_shapes, leaves) -> dict:
    """``{leaf index: {axis: Dim}}`` from ``dynamic_shapes`` (torch.export's forms)."""
    if dynamic_shapes is None:
        return {}
    per_leaf: list = []
    if isinstance(dynamic_shapes, ShapesCollection):
        per_leaf = [dynamic_shapes.get(value) for _, value in leaves]
    elif isinstance(dynamic_shapes, dict) and not all(isinstance(k, int) for k in dynamic_shapes):
        # keyed by argument name: positional arguments are named by the signature
        names = _parameter_names(fn, len(args))
        unknown = sorted(set(map(str, dynamic_shapes)) - set(names) - set(kwargs))
        if unknown:  # (a misspelt name would leave its dimensions static unnoticed)
            raise ValueError(
                f"kiln.export: dynamic_shapes names {unknown}, which are not arguments of the "
                f"call (its arguments: {[*names, *sorted(kwargs)]})"
            )
        for name, arg in zip(names, args):
            _flatten_specs(dynamic_shapes.get(name), per_leaf, arg)
        for k in sorted(kwargs):
            _flatten_specs(dynamic_shapes.get(k), per_leaf, kwargs[k])
    else:
        specs = list(dynamic_shapes) if isinstance(dynamic_shapes, (list, tuple)) else None
        if specs is None or len(specs) not in (len(args), len(args) + len(kwargs)):
            raise ValueError(
                f"kiln.export: dynamic_shapes must have one entry per argument "
                f"({len(args)} positional, {len(kwargs)} keyword), got {dynamic_shapes!r}"
            )
        for spec, arg in zip(specs, args):
            _flatten_specs(spec, per_leaf, arg)
        # the keyword arguments' entries follow, in the order of the signature (as torch)
        order = _parameter_names(fn, len(args) + len(kwargs))[len(args) :]
        order = [n for n in order if n in kwargs] + sorted(set(kwargs) - set(order))
        keyword = dict(zip(order, specs[len(args) :]))
        for k in sorted(kwargs):
            _flatten_specs(keyword.get(k), per_leaf, kwargs[k])
    places, unnamed = {}, []
    for k, (spec, (path, value)) in enumerate(zip(per_leaf, leaves)):
        if spec is None:
            continue
        if not isinstance(value, Tensor):
            raise ValueError(
                f"kiln.export: dynamic_shapes gives dimensions for {path}, not a tensor"
            )
        axes = dict(spec) if isinstance(spec, dict) else dict(enumerate(spec))
        chosen = {}
        for axis, dim in axes.items():
            if not isinstance(axis, int) or not -value.dim() <= axis < value.dim():
                raise ValueError(f"kiln.export: {path} has no axis {axis} (shape {value.shape})")
            if type(dim) is int:  # a static size, checked against the example's
                if dim != value.shape[axis]:
                    raise ConstraintViolationError(
                        f"kiln.export: Static shape constraint of {dim} does not match input "
                        f"size of {value.shape[axis]}, for {path}.size()[{axis}]"
                    )
                continue
            if dim is None or (isinstance(dim, _Marker) and dim.name == "Dim.STATIC"):
                continue
            if isinstance(dim, _Marker):  # Dim.AUTO, Dim.DYNAMIC, maybe bounded
                # one fresh dimension per place, as torch's
                automatic = dim.name == "Dim.AUTO"
                dim = Dim(f"s{len(unnamed)}", min=dim.min, max=dim.max)
                dim.automatic = automatic  # static where it cannot stay dynamic
                unnamed.append(dim)
            if not isinstance(dim, Dim):
                raise TypeError(
                    f"kiln.export: dynamic_shapes for {path} axis {axis} must be an int, a "
                    f"kiln.export.Dim, Dim.AUTO, Dim.STATIC, Dim.DYNAMIC or None, got {dim!r}"
                )
            chosen[axis % value.dim()] = dim
        if chosen:
            places[k] = chosen
    return places


def _parameter_names(fn, count: int) -> list[str]:
    target = getattr(fn, "forward", fn)
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        params = []
    params = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return params[:count] + [f"args[{i}]" for i in range(len(params), count)]


def _flatten_specs(spec, out: list, value=None) -> None:
    """One spec entry per tensor leaf of ``value`` (``None`` for every leaf of a None spec)."""
    if isinstance(value, Tensor) or value is None:
        out.append(spec)
        return
    if _is_node(value):
        specs = spec if isinstance(spec, (list, tuple)) else [spec] * len(value)
        if len(specs) != len(value):  # (zip dropped the rest: later inputs got its specs)
            raise ValueError(
                f"kiln.export: dynamic_shapes gives {len(specs)} entries ({spec!r}) for an "
                f"input of {len(value)} elements"
            )
        for s, v in zip(specs, value):
            _flatten_specs(s, out, v)
        return
    if isinstance(value, dict):
        for k in value:  # (in the dict's order, as signature.flatten: sorted keys gave a
            # dimension to another entry's tensor)
            _flatten_specs(spec.get(k) if isinstance(spec, dict) else None, out, value[k])
        return
    out.append(None)


def _trace_once(fn, args, kwargs, leaves, places, point, names):
    """Trace ``fn`` with the dynamic dimensions at the sizes of ``point``; a JSON record."""
    trace = TraceState(getattr(fn, "__name__", type(fn).__name__))
    replaced = {}
    for k, (path, value) in enumerate(leaves):
        if not isinstance(value, Tensor):
            continue
        if value.device.type != "cpu":
            raise NotImplementedError(
                f"kiln.export: {path} is on {value.device}; export CPU tensors"
            )
        example = value.detach()
        if k in places:
            shape = list(value.shape)
            for axis, dim in places[k].items():
                shape[axis] = dim.size_at(point)
            if tuple(shape) != tuple(value.shape):
                example = _wrap(np.zeros(shape, dtype=value._data.dtype))
        replaced[id(value)] = trace.add_argument(example, path)
    new_args = tuple(_substitute(a, replaced) for a in args)
    new_kwargs = {k: _substitute(v, replaced) for k, v in kwargs.items()}
    snapshot = _snapshot_modules(_owner(fn))
    try:
        with grad_mode.no_grad(), tracing(trace):
            result = fn(*new_args, **new_kwargs)
    except BaseException:
        _restore_modules(snapshot, trace, check=False)  # (the forward's own error first)
        raise
    reassigned = _restore_modules(snapshot, trace)
    if hasattr(fn, "named_parameters"):  # torch.export lifts every parameter and buffer,
        for _, t in (*fn.named_parameters(), *fn.named_buffers()):  # read or not
            if id(t) not in trace.captured and id(t) not in replaced:
                trace.node_of(t)
    _refuse_effects(trace)
    out_leaves: list = []
    out_structure = encode_structure(flatten(result, out_leaves, "output"))
    graph = trace.graph
    outputs, out_spec = [], []
    for path, v in out_leaves:
        if isinstance(v, Tensor):
            out_spec.append(["out", len(outputs), path])
            outputs.append(trace.node_of(v))
        else:
            out_spec.append(["const", _json_value(v, f"the output {path}"), path])
    for node, message in trace.runtime_checks:  # (a traced integer divisor is zero: the
        out_spec.append(["check", len(outputs), message])  # runner raises, as kiln.jit does)
        outputs.append(node)
    mutations = _mutations(trace, names, reassigned, leaves)
    graph.outputs = outputs + [node for _, _, node in mutations]
    arguments = {id(node) for node in trace.arg_inputs}
    captured = {id(node): t for t, node in trace.captured.values()}
    inputs = []
    for node in graph.inputs:
        if id(node) in arguments:
            inputs.append(["user_input", node.name])
        else:
            kind, name = names.get(id(captured[id(node)]), ("constant_tensor", None))
            inputs.append([kind, name])
    return {
        "graph": graph.to_json(),
        "inputs": inputs,
        "outputs": out_spec,
        "out_structure": out_structure,
        "mutations": [
            [kind, target, len(outputs) + k] for k, (kind, target, _) in enumerate(mutations)
        ],
    }, [captured.get(id(n)) for n in graph.inputs]


def _mutations(trace: TraceState, names: dict, reassigned: list, leaves: list) -> list:
    """``[kind, target, new value node]`` of each state tensor and input the trace updated:
    torch.export's ``BUFFER_MUTATION``, ``PARAMETER_MUTATION`` and ``USER_INPUT_MUTATION``
    outputs, written back by ``program.module()`` after every call."""
    found: dict = {}
    for tensor, node in trace.mutations():
        kind, name = names.get(id(tensor), ("constant_tensor", None))
        if kind == "constant_tensor":
            what = (
                f"constant {name}"
                if name
                else (f"tensor {tensor.dtype.name}{list(tensor.shape)} captured from outside")
            )
            raise RuntimeError(
                f"kiln.export: the {what} is mutated in the forward method; register it as "
                "a buffer (or pass it as an argument)"
            )
        found[name] = ("buffer" if kind == "buffer!" else kind, tensor, node)
    for name, value, original in reassigned:
        if not isinstance(value, Tensor) or getattr(value, "_trace", trace) is not trace:
            raise NotImplementedError(
                f"kiln.export: the forward assigns {type(value).__name__} to the buffer "
                f"{name!r}; an exported program updates a buffer with a value computed from "
                "its inputs and state only"
            )
        found[name] = ("buffer", original, trace.node_of(value))
    result = []
    for name, (kind, original, node) in found.items():
        if original is not None and (
            tuple(node.shape) != tuple(original.shape) or node.dtype != original.dtype.name
        ):
            raise NotImplementedError(
                f"kiln.export: the forward changes the {kind} {name!r} from "
                f"{original.dtype.name}{list(original.shape)} to {node.dtype}{list(node.shape)}; "
                "an exported program updates state in place, keeping its shape and dtype"
            )
        result.append([f"{kind}_mutation", name, node])
    paths = [path for path, value in leaves if isinstance(value, Tensor)]
    for position, node in trace.argument_mutations():
        result.append(["user_input_mutation", paths[position], node])
    return result


def _refuse_effects(trace: TraceState) -> None:
    problems = []
    if trace.seeds:
        problems.append("it draws random numbers (dropout in training mode? call .eval())")
    if trace.grads:
        problems.append("it sets .grad")
    if trace.live_scalars:
        problems.append("it reads a live Python number (an optimizer's learning rate)")
    if trace.collectives:
        problems.append("it calls a collective (kiln.distributed)")
    if problems:
        raise NotImplementedError("kiln.export: cannot export this program: " + "; ".join(problems))


def _is_node(value) -> bool:
    """A list, tuple or named tuple (``signature.flatten`` walks into it); a named tuple
    without ``_make`` (a struct sequence) is a leaf there."""
    if not isinstance(value, (list, tuple)):
        return False
    return not hasattr(value, "_fields") or hasattr(type(value), "_make")


def _substitute(tree, replaced):
    if _is_node(tree) and hasattr(tree, "_fields"):  # (its tensors were baked in before)
        return type(tree)._make(_substitute(v, replaced) for v in tree)
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        return type(tree)(_substitute(v, replaced) for v in tree)
    if isinstance(tree, dict):
        return {k: _substitute(v, replaced) for k, v in tree.items()}
    return replaced.get(id(tree), tree)


def export(
    fn_or_module,
    args,
    kwargs=None,
    dynamic_shapes=None,
    *,
    strict=False,
    preserve_module_call_signature=(),
    prefer_deferred_runtime_asserts_over_guards=False,
):
    """Trace ``fn_or_module(*args, **kwargs)`` into an ``ExportedProgram``.

    ``dynamic_shapes`` follows ``torch.export``: one entry per argument (a tuple, or a dict
    keyed by argument name), each ``None`` or ``{axis: Dim}`` (or a tuple with a ``Dim`` or
    ``None`` per axis). Other sizes are fixed to the example's. ``strict`` and the last two
    are accepted for PyTorch's signature: kiln always traces the Python code itself, has
    no ``unflatten`` (whose submodule signatures the first keeps) and checks a call's sizes
    before running it.
    """
    if isinstance(args, Tensor):
        args = (args,)
    if not isinstance(args, tuple):
        if isinstance(args, list):
            args = tuple(args)
        else:
            raise TypeError(f"kiln.export.export: args must be a tuple, got {type(args).__name__}")
    kwargs = dict(kwargs or {})
    structure, leaves = flatten_call(args, kwargs, _parameter_names(fn_or_module, len(args)))
    places = _dynamic_places(fn_or_module, args, kwargs, dynamic_shapes, leaves)
    try:
        return _export_places(fn_or_module, args, kwargs, structure, leaves, places)
    except ConstraintViolationError:
        automatic = {d.name for axes in places.values() for d in axes.values() if d.automatic}
        if not automatic:
            raise
    # torch's Dim.AUTO: a dimension that cannot stay dynamic takes the example's size (kiln
    # decides for all of them at once: the named and Dim.DYNAMIC ones must stay dynamic)
    places = {
        k: {axis: d for axis, d in axes.items() if not d.automatic} for k, axes in places.items()
    }
    places = {k: axes for k, axes in places.items() if axes}
    return _export_places(fn_or_module, args, kwargs, structure, leaves, places)


def _export_places(fn_or_module, args, kwargs, structure, leaves, places) -> ExportedProgram:
    """``export`` with the dynamic dimensions of ``places`` ({leaf: {axis: Dim}})."""
    dims: dict[str, Dim] = {}  # the root dimensions by name
    example: dict[str, int] = {}
    lowest: dict[str, int] = {}  # a root's smallest size whose derived sizes are all >= 2
    for k, axes in places.items():
        path, value = leaves[k]
        for axis, dim in axes.items():
            _example_size(dim, path, axis, value.shape[axis], dims, example)
            need = -(-(2 - dim.offset) // dim.scale)  # ceil((2 - offset) / scale)
            lowest[dim.root.name] = max(lowest.get(dim.root.name, 1), need)
    names = _module_tensor_names(_owner(fn_or_module))
    in_spec = []
    for k, (path, value) in enumerate(leaves):
        if isinstance(value, Tensor):
            shape = list(value.shape)
            for axis, dim in places.get(k, {}).items():
                # a root dimension by name, a derived one as [root, scale, offset]
                shape[axis] = (
                    dim.name if dim.root is dim else [dim.root.name, dim.scale, dim.offset]
                )
            in_spec.append(["tensor", path, shape, value.dtype.name])
        else:
            in_spec.append(["const", path, _json_value(value, f"the input {path}")])

    sizes = {}
    for name, dim in dims.items():
        sizes[name] = sample_sizes(dim, example[name], lowest[name])
        if len(sizes[name]) < 2:
            raise ConstraintViolationError(
                f"kiln.export: {dim!r} allows no size but {example[name]} (and 0 or 1); "
                "leave it static"
            )
    corners, check_point = grid(sizes) if dims else ([{}], None)

    def trace_at(point):
        if point == corners[0]:  # the example's sizes: the forward's own errors
            return _trace_once(fn_or_module, args, kwargs, leaves, places, point, names)
        try:
            return _trace_once(fn_or_module, args, kwargs, leaves, places, point, names)
        except Exception as exc:  # (an assert on a size, a reshape to a fixed size)
            raise ConstraintViolationError(
                f"kiln.export: the forward runs at the example's sizes {corners[0]} but fails "
                f"at {point} ({type(exc).__name__}: {exc}); the program cannot keep these "
                "dimensions dynamic. Mark them static, or narrow their range"
            ) from exc

    records, captured = [], None
    for point in corners:
        record, inputs = trace_at(point)
        records.append(record)
        captured = captured or inputs
    if dims:
        check = (trace_at(check_point)[0], check_point) if check_point else None
        # the first sizes traced again: a forward whose graph follows state it changes (a
        # list it appends to, a global counter) gives another graph, which the fit could
        # take for a size
        again = _trace_once(fn_or_module, args, kwargs, leaves, places, corners[0], names)[0]
        if not _same(again, records[0]):
            raise ConstraintViolationError(
                "kiln.export: two traces at the same sizes differ: the forward reads state it "
                "changes (a counter, a list it appends to, a global), so its graph cannot be "
                "fitted to the dynamic dimensions. Export with static shapes, or keep that "
                "state out of the forward"
            )
        symbolic = fit(records, corners, check, where=_describe_place(records[0]))
    else:
        symbolic = records[0]

    counter = 0
    transient = []  # non-persistent buffers (torch keeps them in ``constants``)
    for spec in symbolic["inputs"]:
        if spec[1] is None:
            spec[1] = f"lifted_tensor_{counter}"  # a tensor the function read from outside
            counter += 1
        if spec[0] == "buffer!":
            spec[0] = "buffer"
            transient.append(spec[1])
    _order_inputs(symbolic, captured, _owner(fn_or_module))
    state: OrderedDict = OrderedDict()
    for spec, tensor in zip(symbolic["inputs"], captured):
        if spec[0] != "user_input":
            state[spec[1]] = np.array(tensor._data, copy=True)
    return ExportedProgram(
        name=symbolic["graph"]["name"],
        graph_json=symbolic["graph"],
        input_kinds=symbolic["inputs"],
        in_structure=structure,
        in_spec=in_spec,
        out_structure=symbolic["out_structure"],
        out_spec=symbolic["outputs"],
        dims={n: [d.min, d.max] for n, d in dims.items()},
        example_sizes=example,
        state=state,
        mutations=symbolic["mutations"],
        transient=transient,
        training=bool(getattr(_owner(fn_or_module), "training", False)),
        examples=[np.array(v._data, copy=True) for _, v in leaves if isinstance(v, Tensor)],
    )


def _same(a, b) -> bool:
    """Two JSON trees are equal leaf by leaf (a NaN constant equals itself)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return _identical(a, b)


def _example_size(dim: Dim, path: str, axis: int, size: int, dims: dict, example: dict):
    """Note the example's size of ``dim``'s root, checking it against the root's range and
    the other inputs (torch's messages: ``Expected input y.shape[0] to be equal to 2*dx,
    where dx = 3, but got 5``)."""
    root = dim.root
    if dims.setdefault(root.name, root) is not root:
        raise ValueError(f"kiln.export: two different Dims are named {root.name!r}")
    if dim.min < 0:
        raise ValueError(
            f"kiln.export: Expected derived min value of {dim.name} to be >= 0. Please specify "
            f"an appropriate min value for {root.name} (currently {root.min})"
        )
    value, remainder = divmod(size - dim.offset, dim.scale)
    seen = example.get(root.name)
    if remainder and seen is None:
        raise ConstraintViolationError(
            f"kiln.export: Expected shape[{axis}] = {size} of input {path} to be of the form "
            f"{dim.name}, where {root.name} is an integer"
        )
    seen = example.setdefault(root.name, value)
    if seen != value or remainder:
        expected = str(seen) if dim is root else f"{dim.name}, where {root.name} = {seen}"
        raise ConstraintViolationError(
            f"kiln.export: Expected input {path}.shape[{axis}] to be equal to {expected}, but "
            f"got {size} (another input gives {root.name!r} its size)"
        )
    if not root.min <= value <= root.max:
        where = "" if dim is root else f" ({dim.name} = {size})"
        raise ConstraintViolationError(
            f"kiln.export: {path} axis {axis} has size {size}, so {root.name} = {value}"
            f"{where}, outside {root!r}"
        )


def _order_inputs(symbolic: dict, captured: list, root) -> None:
    """Put the graph inputs in ``torch.export``'s order: parameters, buffers (both in
    ``state_dict()`` order), constants, then the user's inputs (in place)."""
    order = {}
    if hasattr(root, "named_parameters"):
        tensors = [*root.named_parameters(), *root.named_buffers()]
        order = {name: k for k, (name, _) in enumerate(tensors)}
    kinds = ("parameter", "buffer", "constant_tensor", "user_input")
    count = len(symbolic["inputs"])

    def rank(k):
        kind, name = symbolic["inputs"][k]
        if kind == "user_input":
            return (kinds.index(kind), k)
        return (kinds.index(kind), order.get(name, count + k))

    permutation = sorted(range(count), key=rank)
    graph = symbolic["graph"]
    graph["inputs"] = [graph["inputs"][k] for k in permutation]
    symbolic["inputs"] = [symbolic["inputs"][k] for k in permutation]
    captured[:] = [captured[k] for k in permutation]


def _describe_place(record):
    nodes = record["graph"]["nodes"]

    def describe(path):
        if len(path) >= 3 and path[0] == "graph" and path[1] == "nodes":
            node = nodes[path[2]]
            source = f" at {node['source']}" if node.get("source") else ""
            return f"node %{path[2]} {node['op']}{source}, {'/'.join(map(str, path[3:]))}"
        return "/".join(map(str, path))

    return describe


# ------------------------------------------------------------------------------ the program
class ExportedProgram:
    """A traced program with its weights: ``module()`` runs it, ``kiln.export.save`` writes it.

    ``graph`` is the graph at the example's sizes; ``graph_signature`` says which input is
    which; ``state_dict`` holds parameters and persistent buffers, ``constants`` the other
    tensors the function read (and non-persistent buffers, as torch);
    ``range_constraints`` the range of each dynamic dimension.

    State the program updates (``self.count += 1``, batch-norm statistics in training
    mode, ``x.add_(1)`` on an input) is written back by ``module()`` after every call. As in
    torch 2.13, ``export`` gives the "training IR" whose signature lists no mutation outputs,
    and ``run_decompositions()`` the functional form whose signature lists them
    (``BUFFER_MUTATION``, ``buffers_to_mutate``); both run alike, kiln's graph returns the
    new values in either.
    """

    def __init__(
        self,
        name,
        graph_json,
        input_kinds,
        in_structure,
        in_spec,
        out_structure,
        out_spec,
        dims,
        example_sizes,
        state,
        mutations=(),
        transient=(),
        training=False,
        decomposed=False,
        examples=None,
    ):
        self.name = name
        self.graph_json = graph_json
        self.input_kinds = input_kinds
        self.in_structure = in_structure
        self.in_spec = in_spec
        self.out_structure = out_structure
        self.out_spec = out_spec
        self.dims = dims
        self.example_sizes = example_sizes
        self.state = state  # name -> np.ndarray (parameters, buffers, constants)
        self.mutations = [list(m) for m in mutations]  # [kind, target, graph output index]
        self.transient = list(transient)  # names of the non-persistent buffers
        self.training = bool(training)  # the exported module's mode
        self.decomposed = bool(decomposed)  # run_decompositions() made it
        self.examples = examples  # the example's tensors (arrays), in input order, or None
        self._graph = None

    # -------------------------------------------------------------- torch.export's names
    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self._graph = self.instantiate(self.example_sizes)
        return self._graph

    @property
    def graph_module(self):
        """The graph as torch's ``ep.graph_module`` shows it: ``.graph``, ``.code`` (text)."""
        return GraphView(self)

    @property
    def graph_signature(self) -> ExportGraphSignature:
        prefixes = {"parameter": "p_", "buffer": "b_", "constant_tensor": "c_"}
        transient = set(self.transient)
        inputs = []
        for kind, target in self.input_kinds:
            if kind == "user_input":
                inputs.append(InputSpec(InputKind.USER_INPUT, None, target))
                continue
            persistent = (target not in transient) if kind == "buffer" else None
            arg = prefixes[kind] + target.replace(".", "_")
            inputs.append(InputSpec(InputKind(kind), target, arg, persistent))
        outputs = []
        if self.decomposed:  # torch lists them first, in the order of the inputs
            order = {target: k for k, (_, target) in enumerate(self.input_kinds)}
            for kind, target, _ in sorted(self.mutations, key=lambda m: order.get(m[1], 0)):
                arg = "new_" + "".join(c if c.isalnum() else "_" for c in target)
                outputs.append(OutputSpec(OutputKind(kind), target, arg))
        outputs += [
            OutputSpec(OutputKind.USER_OUTPUT, None, path)
            for kind, _, path in self.out_spec
            if kind == "out"
        ]
        return ExportGraphSignature(inputs, outputs)

    @property
    def state_dict(self) -> OrderedDict:
        kinds = {t for k, t in self.input_kinds if k in ("parameter", "buffer")}
        kinds -= set(self.transient)
        return OrderedDict((n, _wrap(a)) for n, a in self.state.items() if n in kinds)

    @property
    def constants(self) -> dict:
        kinds = {t for k, t in self.input_kinds if k == "constant_tensor"} | set(self.transient)
        return {n: _wrap(a) for n, a in self.state.items() if n in kinds}

    tensor_constants = constants

    @property
    def example_inputs(self) -> tuple | None:
        """``(args, kwargs)`` of the example the program was exported with (fresh tensors;
        None for a program loaded from a file written without them)."""
        if self.examples is None:
            return None
        arrays = iter(self.examples)
        leaves = iter(
            [
                _wrap(np.array(next(arrays))) if spec[0] == "tensor" else spec[2]
                for spec in self.in_spec
            ]
        )
        args, kwargs = self.in_structure
        return (
            tuple(unflatten(decode_structure(s), leaves) for s in args),
            {k: unflatten(decode_structure(s), leaves) for k, s in kwargs},
        )

    def named_parameters(self):
        kinds = {t for k, t in self.input_kinds if k == "parameter"}
        return iter([(n, t) for n, t in self.state_dict.items() if n in kinds])

    def named_buffers(self):
        """Every buffer (non-persistent ones too), as ``torch.export``'s."""
        kinds = {t for k, t in self.input_kinds if k == "buffer"}
        return iter([(n, _wrap(a)) for n, a in self.state.items() if n in kinds])

    def parameters(self):
        return iter([t for _, t in self.named_parameters()])

    def buffers(self):
        return iter([t for _, t in self.named_buffers()])

    @property
    def range_constraints(self) -> dict:
        """``{dimension: (min, max)}`` (max None when unbounded), the derived dimensions'
        (``"2*dx"``) mapped from their root's range, as torch lists them."""
        ranges = {n: (lo, None if hi >= INT_INFINITY else hi) for n, (lo, hi) in self.dims.items()}
        for spec in self.in_spec:
            for size in spec[2] if spec[0] == "tensor" else ():
                if isinstance(size, list):
                    root, scale, offset = size
                    lo, hi = ranges[root]
                    ranges[format_linear(root, scale, offset)] = (
                        scale * lo + offset,
                        None if hi is None else scale * hi + offset,
                    )
        return ranges

    def module(self, cache_size: int = DEFAULT_CACHE_SIZE):
        """A module that runs this program compiled (one compile per set of dynamic sizes,
        ``cache_size`` of them kept). It shares the program's state: the updates it writes
        back are seen by ``state_dict`` and by other modules of this program, as torch's."""
        from .runner import ExportedModule  # runner.py builds on this module

        return ExportedModule(self, cache_size)

    def run_decompositions(self, decomp_table=None) -> ExportedProgram:
        """The functional form (torch's core ATen IR): kiln's graph holds only primitives and
        returns updated state already; the signature now lists the mutation outputs (the
        program itself where it updates nothing)."""
        if self.decomposed or not self.mutations:
            return self
        program = ExportedProgram(**{**self._fields(), "decomposed": True})
        program._graph = self._graph
        return program

    # -------------------------------------------------------------- graphs for sizes
    def instantiate(self, sizes: dict) -> Graph:
        """The graph for concrete sizes of the dynamic dimensions (checked by ``verify``)."""
        return from_json(substitute(self.graph_json, sizes))

    def compile(self, sizes: dict):
        return compile_graph(self.instantiate(sizes))

    def describe_dims(self) -> str:
        return ", ".join(
            f"{n} in [{lo}, {'inf' if hi >= INT_INFINITY else hi}]"
            for n, (lo, hi) in self.dims.items()
        )

    def __str__(self) -> str:
        text = str(self.graph)
        if self.dims:
            text += f"\ndynamic: {self.describe_dims()} (example: {self.example_sizes})"
        signature = "\n".join(
            "    " + line if line else "" for line in str(self.graph_signature).splitlines()
        )
        return f"{text}\nGraph signature:{signature}\nRange constraints: {self.range_constraints}\n"

    def __repr__(self) -> str:
        def size(s):
            return format_linear(*s) if isinstance(s, list) else s

        inputs = ", ".join(
            f"{path}: {dtype}{[size(s) for s in shape]}"
            for kind, path, *rest in self.in_spec
            if kind == "tensor"
            for shape, dtype in [rest]
        )
        return f"ExportedProgram({self.name}({inputs}), {len(self.state)} tensors)"

    def _fields(self) -> dict:
        return {
            "name": self.name,
            "graph_json": self.graph_json,
            "input_kinds": self.input_kinds,
            "in_structure": self.in_structure,
            "in_spec": self.in_spec,
            "out_structure": self.out_structure,
            "out_spec": self.out_spec,
            "dims": self.dims,
            "example_sizes": self.example_sizes,
            "state": self.state,
            "mutations": self.mutations,
            "transient": self.transient,
            "training": self.training,
            "decomposed": self.decomposed,
            "examples": self.examples,
        }

    def to_json(self) -> dict:
        """Everything but the arrays (``save`` writes those as ``.npy``)."""
        return {
            "name": self.name,
            "graph": self.graph_json,
            "input_kinds": self.input_kinds,
            "in_structure": self.in_structure,
            "in_spec": self.in_spec,
            "out_structure": self.out_structure,
            "out_spec": self.out_spec,
            "dims": self.dims,
            "example_sizes": self.example_sizes,
            "state_names": list(self.state),
            "mutations": self.mutations,
            "transient": self.transient,
            "training": self.training,
            "decomposed": self.decomposed,
            "examples": self.examples is not None,
        }

    @classmethod
    def from_json(cls, data: dict, state: OrderedDict, examples=None) -> ExportedProgram:
        return cls(
            name=data["name"],
            graph_json=data["graph"],
            input_kinds=data["input_kinds"],
            in_structure=data["in_structure"],
            in_spec=data["in_spec"],
            out_structure=data["out_structure"],
            out_spec=data["out_spec"],
            dims=data["dims"],
            example_sizes=data["example_sizes"],
            state=state,
            mutations=data.get("mutations", ()),
            transient=data.get("transient", ()),
            training=data.get("training", False),
            decomposed=data.get("decomposed", False),
            examples=examples,
        )


class GraphView:
    """``ExportedProgram.graph_module``: the graph and its text (kiln's IR, not Python)."""

    def __init__(self, program: ExportedProgram):
        self.graph = program.graph
        self.code = str(program.graph)

    def print_readable(self, print_output: bool = True) -> str:
        if print_output:
            print(self.code)
        return self.code

    def __str__(self) -> str:
        return self.code


__all__ = [
    "ExportGraphSignature",
    "ExportedProgram",
    "InputKind",
    "InputSpec",
    "OutputKind",
    "OutputSpec",
    "TensorArgument",
    "export",
]
