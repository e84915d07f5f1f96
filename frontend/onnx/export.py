"""``kiln.onnx.export``: write a traced function or module as an ONNX model.

The function is traced once on the example arguments (``kiln.onnx.capture``); every node of
the graph is translated by the table in ``converters.py``; the arguments become the
model's inputs and the captured tensors (a module's parameters and buffers) its
initializers. The model is checked with ``onnx.checker.check_model`` before it is saved.

>>> import io, kiln, kiln.nn as nn
>>> model = nn.Linear(4, 2)
>>> proto = kiln.onnx.export(model, (kiln.randn(3, 4),), io.BytesIO())  # or "linear.onnx"
>>> [weight.name for weight in proto.graph.initializer]
['weight', 'bias']
"""

from __future__ import annotations

import os

import numpy as np

from .capture import capture
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
    fn_or_module, example_args, input_names=None, output_names=None, opset_version: int = MIN_OPSET
):
    """Trace and translate; return the checked ``onnx.ModelProto`` (nothing is written)."""
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
    example_args,
    path,
    input_names=None,
    output_names=None,
    opset_version: int = MIN_OPSET,
):
    """Export ``fn_or_module(*example_args)`` to ONNX at ``path`` (a file name or a binary
    file object), like ``torch.onnx.export``; return the ``onnx.ModelProto``.

    Shapes are those of the example arguments (the traced graph is static). A module is
    exported in eval mode; its parameters and buffers become initializers named after
    ``named_parameters()``. A primitive without an ONNX translation (``uniform``) raises
    ``UnsupportedPrimitiveError`` naming it and the source line that created it.

    >>> kiln.onnx.export(lambda x: x.relu() * 2, (kiln.randn(3),), "f.onnx",
    ...                  input_names=["x"], output_names=["y"])  # doctest: +SKIP
    """
    model = to_onnx(fn_or_module, example_args, input_names, output_names, opset_version)
    data = model.SerializeToString()
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
