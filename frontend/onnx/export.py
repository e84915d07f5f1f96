"""``kiln.onnx.export``: write a traced function or module as an ONNX model.

The function is traced once on the example arguments (``kiln.onnx.capture``); every node of
the graph is translated by the table in ``converters.py``; the arguments become the
model's inputs and the captured tensors (a module's parameters and buffers) its
initializers. The model is checked with ``onnx.checker.check_model`` before it is saved.

Dynamic axes (``dynamic_axes={"x": {0: "batch"}}``, or ``dynamic_shapes`` with
``kiln.export.Dim`` as in the dynamo exporter) become named ``dim_param`` sizes of the
inputs and outputs. kiln's graph holds concrete sizes, so the model is translated again at
two other sizes of those axes; the three models must be the same but for those sizes (no
``Reshape`` to a fixed batch, no constant of the batch's size), else the export raises
``ValueError`` naming the axis, rather than write a model that is wrong at other sizes.

>>> import io, kiln, kiln.nn as nn
>>> model = nn.Linear(4, 2)
>>> proto = kiln.onnx.export(model, (kiln.randn(3, 4),), io.BytesIO())  # or "linear.onnx"
>>> [weight.name for weight in proto.graph.initializer]
['weight', 'bias']
"""

from __future__ import annotations

import os

import numpy as np

from ..export.dynamic import ConstraintViolationError, Dim, fit, grid, sample_sizes
from ..tensor import Tensor, _wrap
from .capture import _argument_names, _as_tuple, capture
from .converters import CONVERTERS, UNSUPPORTED

MIN_OPSET = 17


class UnsupportedPrimitiveError(NotImplementedError):
    """A primitive of the traced graph has no ONNX translation."""


def _require_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "kiln.onnx.export needs the 'onnx' package: pip install "
            "'kiln[onnx]' (onnx, onnxruntime)"
        ) from exc
    return onnx


class _Context:
    """Collects ONNX nodes and initializers; hands out fresh value names."""

    def __init__(self, onnx, opset: int):
        self.onnx = onnx
        self.helper = onnx.helper
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self._counter = 0

    def fresh(self, hint: str = "t") -> str:
        self._counter += 1
        return f"_{hint}_{self._counter}"

    def onnx_dtype(self, dtype_name: str) -> int:
        return self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype_name))

    def add(self, op_type: str, inputs, out: str | None = None, **attrs) -> str:
        out = out or self.fresh(op_type.lower())
        self.nodes.append(
            self.helper.make_node(
                op_type, list(inputs), [out], name=f"{op_type}_{len(self.nodes)}", **attrs
            )
        )
        return out

    def add_multi(self, op_type: str, inputs, outputs, **attrs) -> list:
        self.nodes.append(
            self.helper.make_node(
                op_type, list(inputs), list(outputs), name=f"{op_type}_{len(self.nodes)}", **attrs
            )
        )
        return list(outputs)

    def tensor(self, array: np.ndarray, name: str = ""):
        # np.asarray, not np.ascontiguousarray: that one turns a 0-d constant into shape (1,)
        return self.onnx.numpy_helper.from_array(np.asarray(array, order="C"), name)

    def initializer(self, array: np.ndarray, name: str) -> str:
        self.initializers.append(self.tensor(array, name))
        return name

    def const(self, array: np.ndarray, hint: str) -> str:
        return self.initializer(array, self.fresh(hint))


def to_onnx(
    fn_or_module,
    example_args,
    input_names=None,
    output_names=None,
    opset_version: int = MIN_OPSET,
    dynamic_axes=None,
):
    """Trace and translate; return the checked ``onnx.ModelProto`` (nothing is written)."""
    if not dynamic_axes:
        return _translate(fn_or_module, example_args, input_names, output_names, opset_version)
    return _with_dynamic_axes(
        fn_or_module, example_args, input_names, output_names, opset_version, dynamic_axes
    )


def _translate(fn_or_module, example_args, input_names, output_names, opset_version):
    onnx = _require_onnx()
    if opset_version < MIN_OPSET:
        raise ValueError(
            f"kiln.onnx.export: opset_version {opset_version} is too old; kiln "
            f"emits ONNX opset {MIN_OPSET} or newer"
        )
    newest = onnx.defs.onnx_opset_version()
    if opset_version > newest:
        raise ValueError(
            f"kiln.onnx.export: opset_version {opset_version} is newer than the "
            f"installed onnx package supports ({newest})"
        )
    captured = capture(fn_or_module, example_args)
    graph = captured.graph
    _check_supported(graph)

    names: dict = {}
    arg_names = _names(input_names, [n for n, _ in captured.arguments], "input_names")
    for (_, node), name in zip(captured.arguments, arg_names):
        names[node] = name
    ctx = _Context(onnx, opset_version)
    for name, value, node in captured.weights:
        names[node] = ctx.initializer(np.asarray(value), name)
    for k, node in enumerate(graph.nodes):
        if node.op == "input":
            continue
        names[node] = f"v{k}_{node.op}"
        CONVERTERS[node.op](ctx, node, [names[i] for i in node.inputs], names[node])

    out_names = _names(
        output_names, [f"output_{k}" for k in range(len(captured.outputs))], "output_names"
    )
    for node, name in zip(captured.outputs, out_names):
        ctx.add("Identity", [names[node]], name)  # outputs get the names the user asked for

    helper = onnx.helper

    def value_info(name, node):
        return helper.make_tensor_value_info(name, ctx.onnx_dtype(node.dtype), list(node.shape))

    onnx_graph = helper.make_graph(
        ctx.nodes,
        graph.name or "kiln",
        [value_info(name, node) for (_, node), name in zip(captured.arguments, arg_names)],
        [value_info(name, node) for node, name in zip(captured.outputs, out_names)],
        initializer=ctx.initializers,
    )
    model = helper.make_model(
        onnx_graph, producer_name="kiln", opset_imports=[helper.make_opsetid("", opset_version)]
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def export(
    fn_or_module,
    example_args=(),
    path=None,
    input_names=None,
    output_names=None,
    opset_version: int | None = None,
    *,
    dynamic_axes=None,
    dynamic_shapes=None,
    dynamo: bool = True,
    export_params: bool = True,
    verbose=None,
    do_constant_folding: bool = True,
    kwargs=None,
):
    """Export ``fn_or_module(*example_args)`` to ONNX at ``path`` (a file name or a binary
    file object; ``None`` writes nothing), like ``torch.onnx.export``; return the
    ``onnx.ModelProto``.

    Shapes are those of the example arguments, but for ``dynamic_axes`` (``{name: {axis:
    "batch"}}`` or ``{name: [axis]}``, names as in ``input_names``/``output_names``) or
    ``dynamic_shapes`` (one entry per argument, ``{axis: kiln.export.Dim}``). A module is
    exported in eval mode; its parameters and buffers become initializers named after
    ``named_parameters()``. A primitive without an ONNX translation (``uniform``) raises
    ``UnsupportedPrimitiveError`` naming it and the source line that created it.
    ``dynamo`` (either exporter of PyTorch), ``verbose`` and ``do_constant_folding`` are
    accepted: kiln has one exporter, which folds constants. ``export_params=False`` and
    keyword arguments are not supported.

    >>> kiln.onnx.export(lambda x: x.relu() * 2, (kiln.randn(3),), "f.onnx",
    ...                  input_names=["x"], output_names=["y"],
    ...                  dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})  # doctest: +SKIP
    """
    if not export_params:
        raise NotImplementedError("kiln.onnx.export: export_params=False is not supported")
    if kwargs:
        raise NotImplementedError("kiln.onnx.export: keyword arguments (kwargs=) are not supported")
    if dynamic_shapes is not None:
        if dynamic_axes:
            raise ValueError("kiln.onnx.export: give dynamic_axes or dynamic_shapes, not both")
        dynamic_axes = _axes_from_shapes(fn_or_module, example_args, input_names, dynamic_shapes)
    model = to_onnx(
        fn_or_module,
        example_args,
        input_names,
        output_names,
        MIN_OPSET if opset_version is None else opset_version,
        dynamic_axes,
    )
    data = model.SerializeToString()
    if path is None:
        return model
    if hasattr(path, "write"):
        path.write(data)
    else:
        with open(os.fspath(path), "wb") as f:
            f.write(data)
    return model


def _names(given, default: list, what: str) -> list:
    if given is None:
        return default
    given = list(given)
    if len(given) > len(default):
        raise ValueError(f"kiln.onnx.export: {len(given)} {what} for {len(default)} values")
    names = given + default[len(given) :]
    if len(set(names)) != len(names):
        raise ValueError(f"kiln.onnx.export: {what} repeat a name: {names}")
    return names


def _check_supported(graph) -> None:
    missing = [n for n in graph.nodes if n.op != "input" and n.op not in CONVERTERS]
    if not missing:
        return
    lines = []
    for node in missing:
        where = f" at {node.source}" if node.source else ""
        why = UNSUPPORTED.get(node.op, "no ONNX translation is defined for it")
        lines.append(f"  {node.op} -> {node.type_str}{where}: {why}")
    ops = ", ".join(sorted({n.op for n in missing}))
    raise UnsupportedPrimitiveError(
        f"kiln.onnx.export: primitive(s) {ops} cannot be exported to ONNX:\n" + "\n".join(lines)
    )


# ------------------------------------------------------------------------------ dynamic axes
def _axes_from_shapes(fn_or_module, example_args, input_names, dynamic_shapes) -> dict:
    """``dynamic_shapes`` (one ``{axis: Dim}`` per argument) as ``dynamic_axes``."""
    args = _as_tuple(example_args)
    specs = list(dynamic_shapes.values()) if isinstance(dynamic_shapes, dict) else dynamic_shapes
    if len(specs) != len(args):
        raise ValueError(
            f"kiln.onnx.export: dynamic_shapes has {len(specs)} entries for {len(args)} arguments"
        )
    names = _names(input_names, _argument_names(fn_or_module, len(args)), "input_names")
    axes = {}
    for name, spec in zip(names, specs):
        if spec is None:
            continue
        items = spec.items() if isinstance(spec, dict) else enumerate(spec)
        chosen = {int(axis): dim.__name__ for axis, dim in items if dim is not None}
        if chosen:
            axes[name] = chosen
    return axes


def _module_state(fn) -> list:
    """The attributes (and buffer and parameter tables) of ``fn``'s modules, to put back."""
    owner = fn if hasattr(fn, "named_modules") else getattr(fn, "__self__", None)
    if not hasattr(owner, "named_modules"):
        return []
    return [
        (m, dict(vars(m)), dict(m._buffers), dict(m._parameters)) for _, m in owner.named_modules()
    ]


def _restore_state(state: list) -> None:
    for module, attributes, buffers, parameters in state:
        for table, saved in ((module._buffers, buffers), (module._parameters, parameters)):
            if table.keys() != saved.keys() or any(table[k] is not saved[k] for k in saved):
                table.clear()
                table.update(saved)
        for name in [n for n in vars(module) if n not in attributes]:
            object.__delattr__(module, name)
        for name, value in attributes.items():
            if vars(module).get(name, _MISSING) is not value:
                object.__setattr__(module, name, value)


_MISSING = object()


def _with_dynamic_axes(fn_or_module, example_args, input_names, output_names, opset, axes):
    """Translate at the example's sizes and at two others; name the sizes that vary.

    Every translation starts from the modules' state before the first (a forward that bumps
    a counter, ``self.steps += 1``, read 1, 2, 3 in three translations, and the fit took it
    for a size: the exported graph computed with ``b - 3``); the modules are left as one
    forward leaves them. The example's sizes are translated twice: a graph that still
    differs follows state kiln cannot put back (a global, a list it appends to), and is
    refused."""
    args = _as_tuple(example_args)
    before = _module_state(fn_or_module)
    base = _translate(fn_or_module, args, input_names, output_names, opset)
    after = _module_state(fn_or_module)
    try:
        _restore_state(before)
        return _fit_dynamic_axes(
            fn_or_module, args, base, input_names, output_names, opset, axes, before
        )
    finally:
        _restore_state(after)


def _fit_dynamic_axes(fn_or_module, args, base, input_names, output_names, opset, axes, before):
    inputs = [i.name for i in base.graph.input]
    outputs = [o.name for o in base.graph.output]
    per_input: dict[int, dict[int, str]] = {}
    for name, spec in axes.items():
        if name in outputs:
            continue
        if name not in inputs:
            raise ValueError(
                f"kiln.onnx.export: dynamic_axes names {name!r}, which is neither an input "
                f"({inputs}) nor an output ({outputs})"
            )
        spec = {a: f"{name}_dynamic_axes_{a + 1}" for a in spec} if isinstance(spec, list) else spec
        per_input[inputs.index(name)] = {int(a): str(d) for a, d in spec.items()}
    sizes: dict[str, int] = {}
    for k, spec in per_input.items():
        if not isinstance(args[k], Tensor):
            raise ValueError(f"kiln.onnx.export: dynamic_axes for {inputs[k]}, not a tensor")
        for axis, dim in spec.items():
            size = args[k].shape[axis]
            if sizes.setdefault(dim, size) != size:
                raise ValueError(
                    f"kiln.onnx.export: axis {dim!r} has sizes {sizes[dim]} and {size} in the "
                    "example inputs"
                )
    # the dimensions' names as fit's symbols (identifiers)
    names = {dim: dim if dim.isidentifier() else f"d{k}" for k, dim in enumerate(sorted(sizes))}
    points, check = _sample_points(sizes, names)
    again = _translate(fn_or_module, args, input_names, output_names, opset)
    _restore_state(before)
    if _body(again) != _body(base):
        raise ValueError(
            "kiln.onnx.export: two translations at the example's sizes differ: the forward "
            "reads state it changes (a global counter, a list it appends to), so its graph "
            "cannot follow the dynamic axes; export with fixed shapes, or keep that state out "
            "of the forward"
        )
    trees, models = [], []
    for point in [*points, *([check] if check else [])]:
        if all(point[names[d]] == sizes[d] for d in sizes):
            model = base
        else:
            resized = list(args)
            for k, spec in per_input.items():
                shape = list(args[k].shape)
                for axis, dim in spec.items():
                    shape[axis] = point[names[dim]]
                resized[k] = _wrap(np.zeros(shape, dtype=np.asarray(args[k]._data).dtype))
            model = _translate(fn_or_module, tuple(resized), input_names, output_names, opset)
            _restore_state(before)
        models.append(model)
        trees.append(_body(model))
    try:
        symbolic = fit(
            trees[: len(points)],
            points,
            (trees[-1], check) if check else None,
            where=_where,
            who="translations",
        )
    except ConstraintViolationError as exc:
        raise ValueError(
            f"kiln.onnx.export: the graph changes with the size of the dynamic axes "
            f"{sorted(sizes)} in a way ONNX shapes cannot follow ({exc}), so it cannot be "
            "exported with them dynamic; export with fixed shapes"
        ) from None
    template = models[0]
    sources = {}  # dimension name -> (input name, axis) holding it
    for k, spec in per_input.items():
        for axis, dim in spec.items():
            sources.setdefault(names[dim], (inputs[k], axis))
    _compute_symbolic_constants(template, symbolic, sources)
    named_outputs = {}
    for name, spec in axes.items():
        if name in outputs:
            spec = (
                {a: f"{name}_dynamic_axes_{a + 1}" for a in spec}
                if isinstance(spec, list)
                else spec
            )
            named_outputs[outputs.index(name)] = {int(a): str(d) for a, d in spec.items()}
    for k, value in enumerate(template.graph.input):
        _name_dims(value, per_input.get(k, {}))
    by_symbol = {v: d for d, v in names.items()}
    for k, value in enumerate(template.graph.output):
        given = named_outputs.get(k, {})
        dims = value.type.tensor_type.shape.dim
        for axis in range(len(dims)):
            if axis in given:
                continue
            seen = [m.graph.output[k].type.tensor_type.shape.dim[axis].dim_value for m in models]
            if len(set(seen)) > 1:  # this size follows a dynamic axis: say which
                match = [
                    d
                    for symbol, d in by_symbol.items()
                    if seen == [p[symbol] for p in [*points, *([check] if check else [])]]
                ]
                given[axis] = match[0] if match else f"{value.name}_dim_{axis}"
        _name_dims(value, given)
    _require_onnx().checker.check_model(template, full_check=True)
    return template


def _sample_points(sizes: dict, names: dict):
    """Grid points (dimension symbol -> size) to translate at, and a check point: sizes of
    2 or more (at 0 and 1 broadcasting may change the graph), the example's first."""
    samples = {}
    for dim, example in sizes.items():
        start = example if example >= 2 else 2
        samples[names[dim]] = sample_sizes(Dim(names[dim], min=2), start)
    return grid(samples)


def _where(path) -> str:
    if len(path) >= 2 and path[0] in ("nodes", "initializers"):
        return f"{path[0][:-1]} {path[1]}, {'/'.join(map(str, path[2:]))}"
    return "/".join(map(str, path))


def _body(model) -> dict:
    """The parts of a model that must not depend on the dynamic sizes, as a JSON tree:
    small integer and scalar constants by value (``fit`` makes the ones that follow a
    size polynomials), everything else by its bytes."""
    numpy_helper = _require_onnx().numpy_helper
    graph = model.graph
    initializers = []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.size <= 64 and (array.dtype.kind in "iu" or array.ndim == 0):
            values = array.reshape(-1).tolist()
        else:
            values = init.SerializeToString().hex()
        initializers.append(
            {"name": init.name, "type": init.data_type, "dims": list(init.dims), "values": values}
        )
    return {
        "nodes": [n.SerializeToString().hex() for n in graph.node],
        "initializers": initializers,
    }


def _compute_symbolic_constants(model, symbolic: dict, sources: dict) -> None:
    """Replace each constant whose values follow a dynamic size (a ``Reshape``'s target
    holding the batch, the count a mean divides by) by nodes computing it from the
    inputs' shapes: ``Shape -> Gather`` per dimension, ``Mul``/``Add`` for a polynomial,
    ``Concat`` with the fixed entries, then ``Cast`` and ``Reshape`` to the constant's
    type and shape."""
    onnx = _require_onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    graph = model.graph
    computed, new_nodes = [], []
    counter = [0]

    def fresh(hint):
        counter[0] += 1
        return f"_dyn_{hint}_{counter[0]}"

    def const(array, hint):
        name = fresh(hint)
        new_nodes.append(
            helper.make_node(
                "Constant", [], [name], name=name, value=numpy_helper.from_array(array, name)
            )
        )
        return name

    def node(op, inputs, **attrs):
        name = fresh(op.lower())
        new_nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    dims: dict = {}

    def dim(symbol):
        if symbol not in dims:
            value, axis = sources[symbol]
            shape = node("Shape", [value])
            dims[symbol] = node("Gather", [shape, const(np.array([axis], np.int64), "axis")])
        return dims[symbol]

    def polynomial(terms):
        total = None
        for coefficient, symbols in terms:
            term = None
            for symbol in symbols:
                term = dim(symbol) if term is None else node("Mul", [term, dim(symbol)])
            if term is None:
                term = const(np.array([coefficient], np.int64), "c")
            elif coefficient != 1:
                term = node("Mul", [term, const(np.array([coefficient], np.int64), "c")])
            total = term if total is None else node("Add", [total, term])
        return total if total is not None else const(np.array([0], np.int64), "c")

    for init, spec in zip(list(graph.initializer), symbolic["initializers"]):
        values = spec["values"]
        if not isinstance(values, list) or not any(isinstance(v, dict) for v in values):
            continue
        if any(isinstance(d, dict) for d in spec["dims"]):
            continue  # fit put the symbols in the values only when the dims are fixed
        pieces, run = [], []
        for v in values:
            if isinstance(v, dict):
                if run:
                    pieces.append(const(np.array(run, np.int64), "c"))
                    run = []
                pieces.append(polynomial(v["__sym__"]))
            else:
                run.append(int(v))
        if run:
            pieces.append(const(np.array(run, np.int64), "c"))
        flat = pieces[0] if len(pieces) == 1 else node("Concat", pieces, axis=0)
        if init.data_type != onnx.TensorProto.INT64:
            flat = node("Cast", [flat], to=init.data_type)
        shape = const(np.array(list(init.dims), np.int64), "shape")
        new_nodes.append(helper.make_node("Reshape", [flat, shape], [init.name], name=fresh("r")))
        computed.append(init)
    for init in computed:
        graph.initializer.remove(init)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(new_nodes + nodes)


def _name_dims(value, names: dict) -> None:
    dims = value.type.tensor_type.shape.dim
    for axis, name in names.items():
        if not -len(dims) <= axis < len(dims):
            raise ValueError(f"kiln.onnx.export: {value.name} has no axis {axis}")
        dims[axis].dim_param = name
