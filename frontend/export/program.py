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
first to export inference). A graph that draws random numbers (dropout in training mode),
updates a tensor in place (batch-norm statistics in training mode) or sets ``.grad`` is
refused: the loaded program would not reproduce it.
"""

from __future__ import annotations

import enum
import inspect
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from kiln.compiler.compile import compile_graph
from kiln.compiler.ir import Graph, from_json

from ..autograd import grad_mode
from ..jit.signature import flatten
from ..tensor import Tensor, _wrap
from ..tracing import TraceState, tracing
from .dynamic import (
    INT_INFINITY,
    ConstraintViolationError,
    Dim,
    fit,
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
    USER_OUTPUT = "user_output"


@dataclass
class InputSpec:
    """One graph input: ``kind`` is user_input, parameter, buffer or constant_tensor."""

    kind: InputKind
    target: str | None  # the state_dict or constant's name (None for a user input, as torch)
    arg: str | None = None  # the input's name: the argument's path for a user input


@dataclass
class OutputSpec:
    kind: OutputKind
    target: str | None  # None for a user output, as torch
    arg: str | None = None  # the output's path


@dataclass
class ExportGraphSignature:
    """Which graph input is which, as ``torch.export.ExportGraphSignature`` says it."""

    input_specs: list[InputSpec]
    output_specs: list[OutputSpec] = field(default_factory=list)

    def _targets(self, kind: str) -> tuple[str, ...]:
        return tuple(s.arg for s in self.input_specs if s.kind == kind)

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._targets("parameter")

    @property
    def buffers(self) -> tuple[str, ...]:
        return self._targets("buffer")

    @property
    def lifted_tensor_constants(self) -> tuple[str, ...]:
        return self._targets("constant_tensor")

    @property
    def user_inputs(self) -> tuple[str, ...]:
        return self._targets("user_input")

    @property
    def user_outputs(self) -> tuple[str, ...]:
        return tuple(s.arg for s in self.output_specs)


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


def encode_structure(structure):
    """A ``signature.flatten`` structure as JSON (lists only)."""
    if structure == "*":
        return "*"
    kind, kids = structure
    if kind == "dict":
        return [kind, [[k, encode_structure(s)] for k, s in kids]]
    return [kind, [encode_structure(s) for s in kids]]


def decode_structure(encoded):
    if encoded == "*":
        return "*"
    kind, kids = encoded
    if kind == "dict":
        return (kind, tuple((k, decode_structure(s)) for k, s in kids))
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
    """``id(tensor) -> (kind, state_dict name)`` for a module's parameters and buffers."""
    names: dict[int, tuple[str, str]] = {}
    if hasattr(root, "named_parameters"):
        for name, t in root.named_parameters():
            names.setdefault(id(t), ("parameter", name))
        for name, t in root.named_buffers():
            names.setdefault(id(t), ("buffer", name))
    return names


def _dynamic_places(fn, args, kwargs, dynamic_shapes, leaves) -> dict:
    """``{leaf index: {axis: Dim}}`` from ``dynamic_shapes`` (torch.export's forms)."""
    if dynamic_shapes is None:
        return {}
    per_leaf: list = []
    if isinstance(dynamic_shapes, dict) and not all(isinstance(k, int) for k in dynamic_shapes):
        # keyed by argument name: positional arguments are named by the signature
        names = _parameter_names(fn, len(args))
        for name, arg in zip(names, args):
            _flatten_specs(dynamic_shapes.get(name), per_leaf, arg)
        for k in sorted(kwargs):
            _flatten_specs(dynamic_shapes.get(k), per_leaf, kwargs[k])
    else:
        specs = list(dynamic_shapes) if isinstance(dynamic_shapes, (list, tuple)) else None
        if specs is None or len(specs) != len(args):
            raise ValueError(
                f"kiln.export: dynamic_shapes must have one entry per positional argument "
                f"({len(args)}), got {dynamic_shapes!r}"
            )
        for spec, arg in zip(specs, args):
            _flatten_specs(spec, per_leaf, arg)
        for k in sorted(kwargs):
            _flatten_specs(None, per_leaf, kwargs[k])
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
            if dim is None or dim is Dim.STATIC:
                continue
            if dim is Dim.AUTO or dim is Dim.DYNAMIC:
                dim = Dim(f"s{len(unnamed)}")  # one fresh dimension per place, as torch's
                unnamed.append(dim)
            if not isinstance(dim, Dim):
                raise TypeError(
                    f"kiln.export: dynamic_shapes for {path} axis {axis} must be a "
                    f"kiln.export.Dim or None, got {dim!r}"
                )
            if not -value.dim() <= axis < value.dim():
                raise ValueError(f"kiln.export: {path} has no axis {axis} (shape {value.shape})")
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
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        specs = spec if isinstance(spec, (list, tuple)) else [spec] * len(value)
        for s, v in zip(specs, value):
            _flatten_specs(s, out, v)
        return
    if isinstance(value, dict):
        for k in sorted(value, key=repr):
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
                shape[axis] = point[dim.name]
            if tuple(shape) != tuple(value.shape):
                example = _wrap(np.zeros(shape, dtype=value._data.dtype))
        replaced[id(value)] = trace.add_argument(example, path)
    new_args = tuple(_substitute(a, replaced) for a in args)
    new_kwargs = {k: _substitute(v, replaced) for k, v in kwargs.items()}
    with grad_mode.no_grad(), tracing(trace):
        result = fn(*new_args, **new_kwargs)
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
    graph.outputs = outputs
    arguments = {id(t._node) for t in trace.args}
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
    }, [captured.get(id(n)) for n in graph.inputs]


def _refuse_effects(trace: TraceState) -> None:
    problems = []
    if trace.seeds:
        problems.append("it draws random numbers (dropout in training mode? call .eval())")
    if trace.mutations():
        problems.append(
            "it updates a tensor in place (batch-norm statistics in training mode? call .eval())"
        )
    if trace.grads:
        problems.append("it sets .grad")
    if trace.live_scalars:
        problems.append("it reads a live Python number (an optimizer's learning rate)")
    if trace.collectives:
        problems.append("it calls a collective (kiln.distributed)")
    if problems:
        raise NotImplementedError("kiln.export: cannot export this program: " + "; ".join(problems))


def _substitute(tree, replaced):
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        return type(tree)(_substitute(v, replaced) for v in tree)
    if isinstance(tree, dict):
        return {k: _substitute(v, replaced) for k, v in tree.items()}
    return replaced.get(id(tree), tree)


def export(fn_or_module, args, kwargs=None, dynamic_shapes=None, *, strict=False):
    """Trace ``fn_or_module(*args, **kwargs)`` into an ``ExportedProgram``.

    ``dynamic_shapes`` follows ``torch.export``: one entry per argument (a tuple, or a dict
    keyed by argument name), each ``None`` or ``{axis: Dim}`` (or a tuple with a ``Dim`` or
    ``None`` per axis). Other sizes are fixed to the example's. ``strict`` is accepted for
    PyTorch's signature; kiln always traces the Python code itself.
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
    dims: dict[str, Dim] = {}
    example: dict[str, int] = {}
    for k, axes in places.items():
        path, value = leaves[k]
        for axis, dim in axes.items():
            size = value.shape[axis]
            if dims.setdefault(dim.name, dim) is not dim:
                raise ValueError(f"kiln.export: two different Dims are named {dim.name!r}")
            if example.setdefault(dim.name, size) != size:
                raise ConstraintViolationError(
                    f"kiln.export: {path} axis {axis} has size {size} but another input "
                    f"with Dim {dim.name!r} has size {example[dim.name]}"
                )
            if not dim.min <= size <= dim.max:
                raise ConstraintViolationError(
                    f"kiln.export: {path} axis {axis} has size {size}, outside {dim!r}"
                )
    names = _module_tensor_names(fn_or_module)
    in_spec = []
    for k, (path, value) in enumerate(leaves):
        if isinstance(value, Tensor):
            shape = list(value.shape)
            for axis, dim in places.get(k, {}).items():
                shape[axis] = dim.name
            in_spec.append(["tensor", path, shape, value.dtype.name])
        else:
            in_spec.append(["const", path, _json_value(value, f"the input {path}")])

    sizes = {}
    for name, dim in dims.items():
        sizes[name] = sample_sizes(dim, example[name])
        if len(sizes[name]) < 2:
            raise ConstraintViolationError(
                f"kiln.export: {dim!r} allows no size but {example[name]} (and 0 or 1); "
                "leave it static"
            )
    corners, check_point = grid(sizes) if dims else ([{}], None)
    records, captured = [], None
    for point in corners:
        record, inputs = _trace_once(fn_or_module, args, kwargs, leaves, places, point, names)
        records.append(record)
        captured = captured or inputs
    if dims:
        check = _trace_once(fn_or_module, args, kwargs, leaves, places, check_point, names)[0]
        symbolic = fit(
            records,
            corners,
            (check, check_point) if check_point else None,
            where=_describe_place(records[0]),
        )
    else:
        symbolic = records[0]

    counter = 0
    for spec in symbolic["inputs"]:
        if spec[1] is None:
            spec[1] = f"c_constant_{counter}"  # a tensor the function read from outside
            counter += 1
    _order_inputs(symbolic, captured, fn_or_module)
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
    )


def _order_inputs(symbolic: dict, captured: list, root) -> None:
    """Put the graph inputs in ``torch.export``'s order: parameters, buffers (both in
    ``state_dict()`` order), constants, then the user's inputs (in place)."""
    order = (
        {name: k for k, name in enumerate(root.state_dict())} if hasattr(root, "state_dict") else {}
    )
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
    which; ``state_dict`` holds parameters and buffers, ``constants`` the other tensors the
    function read; ``range_constraints`` the range of each dynamic dimension.
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
        self._graph = None

    # -------------------------------------------------------------- torch.export's names
    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self._graph = self.instantiate(self.example_sizes)
        return self._graph

    @property
    def graph_signature(self) -> ExportGraphSignature:
        inputs = [
            InputSpec(InputKind(kind), None if kind == "user_input" else target, target)
            for kind, target in self.input_kinds
        ]
        outputs = [
            OutputSpec(OutputKind.USER_OUTPUT, None, path)
            for kind, _, path in self.out_spec
            if kind == "out"
        ]
        return ExportGraphSignature(inputs, outputs)

    @property
    def state_dict(self) -> OrderedDict:
        kinds = dict((t, k) for k, t in self.input_kinds if k in ("parameter", "buffer"))
        return OrderedDict((n, _wrap(a)) for n, a in self.state.items() if n in kinds)

    @property
    def constants(self) -> dict:
        kinds = {t for k, t in self.input_kinds if k == "constant_tensor"}
        return {n: _wrap(a) for n, a in self.state.items() if n in kinds}

    @property
    def range_constraints(self) -> dict:
        return {n: (lo, None if hi >= INT_INFINITY else hi) for n, (lo, hi) in self.dims.items()}

    def module(self, cache_size: int = DEFAULT_CACHE_SIZE):
        """A module that runs this program compiled (one compile per set of dynamic sizes,
        ``cache_size`` of them kept)."""
        from .runner import ExportedModule  # runner.py builds on this module

        return ExportedModule(self, cache_size)

    def run_decompositions(self, decomp_table=None) -> ExportedProgram:
        """The program itself: kiln's graph holds only primitives, already decomposed."""
        return self

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
        return text

    def __repr__(self) -> str:
        inputs = ", ".join(
            f"{path}: {dtype}{shape}"
            for kind, path, *rest in self.in_spec
            if kind == "tensor"
            for shape, dtype in [rest]
        )
        return f"ExportedProgram({self.name}({inputs}), {len(self.state)} tensors)"

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
        }

    @classmethod
    def from_json(cls, data: dict, state: OrderedDict) -> ExportedProgram:
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
        )


__all__ = [
    "ExportGraphSignature",
    "ExportedProgram",
    "InputKind",
    "InputSpec",
    "OutputKind",
    "OutputSpec",
    "export",
]
