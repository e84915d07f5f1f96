"""kiln's IR graph as a TensorFlow ``GraphDef``, the format TensorBoard's graph view reads.

Every IR node becomes a ``NodeDef`` whose ``op`` is the primitive's name and whose inputs
are the names of the nodes it reads. Arguments are named ``input/<name>``, captured
tensors (a module's parameters) ``parameter/<name>``, and the results ``output/output_<k>``,
so TensorBoard folds each group into one box. Attributes carry what a reader wants when
clicking a node: ``_output_shapes`` (TensorBoard draws them on the edges), the dtype, the
primitive's parameters and the user's source line.

>>> import kiln
>>> graph_def = to_graph_def(lambda x: x.exp(), (kiln.zeros(2),))
>>> [n.op for n in graph_def.node]
['input', 'exp', 'output']
"""

from __future__ import annotations

import re

from kiln.compiler.ir import _fmt_param

from ...onnx.capture import capture


def _protos():
    try:
        from tensorboardX.proto import (
            attr_value_pb2,
            graph_pb2,
            node_def_pb2,
            tensor_shape_pb2,
            versions_pb2,
        )
    except ImportError as exc:
        raise ImportError(
            "kiln.utils.tensorboard needs tensorboardX: pip install "
            "'kiln[tensorboard]' (tensorboardX, protobuf)"
        ) from exc
    return attr_value_pb2, graph_pb2, node_def_pb2, tensor_shape_pb2, versions_pb2


def _node_name(name: str) -> str:
    # TensorFlow node names: letters, digits and ._-/ (":" separates output indices).
    return re.sub(r"[^A-Za-z0-9_./-]", "_", name)


def to_graph_def(fn_or_module, example_args):
    """Trace ``fn_or_module(*example_args)`` and return its graph as a ``GraphDef``."""
    attr_value_pb2, graph_pb2, node_def_pb2, tensor_shape_pb2, versions_pb2 = _protos()
    AttrValue = attr_value_pb2.AttrValue  # noqa: N806 - protobuf class

    captured = capture(fn_or_module, example_args)
    graph = captured.graph
    names: dict = {}
    for name, node in captured.arguments:
        names[node] = ("input", _node_name(f"input/{name}"))
    for name, _, node in captured.weights:
        names[node] = ("parameter", _node_name(f"parameter/{name}"))
    for k, node in enumerate(graph.nodes):
        if node not in names:
            names[node] = (node.op, f"{node.op}_{k}")

    def shape_attr(shape):
        dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in shape]
        return AttrValue(
            list=AttrValue.ListValue(shape=[tensor_shape_pb2.TensorShapeProto(dim=dims)])
        )

    def make(name, op, inputs, node):
        attrs = {
            "_output_shapes": shape_attr(node.shape),
            "dtype": AttrValue(s=node.dtype.encode()),
        }
        params = ", ".join(f"{k}={_fmt_param(v)}" for k, v in node.params.items())
        if params:
            attrs["params"] = AttrValue(s=params.encode())
        if node.source:
            attrs["source"] = AttrValue(s=node.source.encode())
        return node_def_pb2.NodeDef(
            name=name, op=op, input=inputs, device="/device:CPU:0", attr=attrs
        )

    node_defs = []
    for node in graph.nodes:
        op, name = names[node]
        node_defs.append(make(name, op, [names[i][1] for i in node.inputs], node))
    for k, node in enumerate(captured.outputs):
        node_defs.append(make(f"output/output_{k}", "output", [names[node][1]], node))
    return graph_pb2.GraphDef(node=node_defs, versions=versions_pb2.VersionDef(producer=22))
