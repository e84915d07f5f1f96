"""Split a joint forward+backward graph into a forward and a backward graph.

``kiln.jit`` traces a function together with the backward pass of its outputs (the same
VJP rules as eager mode) into one *joint* graph whose extra inputs are the output
cotangents. The nodes that depend on a cotangent form the backward graph; the rest is the
forward graph, which additionally returns the values the backward graph reads ("saved").
This is what AOTAutograd does for ``torch.compile``.
"""

from __future__ import annotations

from .ir import Graph, Node


def split_joint(joint: Graph, n_forward_outputs: int, cotangents: list[Node]):
    """Return ``(forward, backward, n_saved)``.

    ``forward``: the joint graph's inputs minus the cotangents -> forward outputs + saved.
    ``backward``: saved + cotangents -> the joint graph's remaining outputs (gradients).
    """
    backward_nodes: set[Node] = set(cotangents)
    for node in joint.nodes:
        if any(i in backward_nodes for i in node.inputs):
            backward_nodes.add(node)
    grad_outputs = joint.outputs[n_forward_outputs:]
    # a gradient that does not depend on a cotangent is a forward value (a zero constant)
    saved: list[Node] = []
    seen: set[Node] = set()
    for node in joint.nodes:
        if node in backward_nodes:
            for i in node.inputs:
                if i not in backward_nodes and i not in seen:
                    seen.add(i)
                    saved.append(i)
    for out in grad_outputs:
        if out not in backward_nodes and out not in seen:
            seen.add(out)
            saved.append(out)

    forward = Graph(joint.name)
    forward.nodes = [n for n in joint.nodes if n not in backward_nodes]
    forward.inputs = [n for n in joint.inputs if n not in backward_nodes]
    forward.outputs = list(joint.outputs[:n_forward_outputs]) + saved
    forward = forward.copy()

    backward = Graph(joint.name + "_backward")
    mapping: dict[Node, Node] = {}
    for node in saved:
        mapping[node] = backward.add_input(node.shape, node.dtype, name="saved")
    for node in cotangents:
        mapping[node] = backward.add_input(node.shape, node.dtype, name="cotangent")
    for node in joint.nodes:
        if node in backward_nodes and node not in mapping:
            copy = Node(
                node.op,
                [mapping[i] for i in node.inputs],
                dict(node.params),
                node.shape,
                node.dtype,
                node.source,
                node.name,
            )
            mapping[node] = copy
            backward.nodes.append(copy)
    backward.outputs = [mapping[n] for n in grad_outputs]
    return forward.verify(), backward.verify(), len(saved)
