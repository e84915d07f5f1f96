"""Trace a function or module once and tell its arguments from the tensors it captured.

``kiln.trace`` returns a graph whose inputs are the function's arguments *and* every
concrete tensor it read (a module's parameters and buffers, named ``"captured"``). Exporters
need to know which is which: arguments become the exported model's inputs, captured tensors
its weights (ONNX initializers). ``capture`` records both, names the captured tensors after
the module's ``named_parameters()``/``named_buffers()`` where it can, and drops the nodes
the outputs do not use.

>>> import kiln
>>> w = kiln.ones(3)
>>> c = capture(lambda x: x * w, (kiln.zeros(3),))
>>> [n.name for n in c.graph.inputs], [name for name, _, _ in c.weights]
(['x', 'captured'], ['captured_0'])
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

import numpy as np

from kiln.compiler.errors import TraceError
from kiln.compiler.ir import Graph, Node

from ..autograd import grad_mode
from ..jit.signature import flatten as _flatten
from ..tensor import Tensor
from ..tracing import TraceState, tracing


@dataclass
class Captured:
    """The result of ``capture``.

    ``graph``: the traced graph, pruned to what the outputs need (its ``inputs`` keep every
    argument, used or not). ``arguments``: the argument input nodes, in order, with their
    names. ``weights``: ``(name, array, node)`` for each captured tensor the outputs use.
    ``outputs``: the output nodes (tensor leaves of the result, flattened).
    """

    graph: Graph
    arguments: list  # [(name, node)]
    weights: list  # [(name, np.ndarray, node)]
    outputs: list  # [node]


def _as_tuple(example_args) -> tuple:
    if isinstance(example_args, Tensor):
        return (example_args,)
    if isinstance(example_args, list):
        return tuple(example_args)
    if not isinstance(example_args, tuple):
        raise TypeError(
            f"example arguments must be a Tensor or a tuple of them, got "
            f"{type(example_args).__name__}"
        )
    return example_args


def _tensor_names(module) -> dict[int, str]:
    """``id(tensor) -> "layer.weight"`` for a module's parameters and buffers."""
    names: dict[int, str] = {}
    for method in ("named_parameters", "named_buffers"):
        getter = getattr(module, method, None)
        if getter is None:
            continue
        for name, t in getter():
            names.setdefault(id(t), name)
    return names


def _argument_names(fn, count: int) -> list[str]:
    """The parameter names of ``fn`` (``forward`` for a module), ``args[i]`` past them."""
    target = getattr(fn, "forward", fn)
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [positional[i] if i < len(positional) else f"args[{i}]" for i in range(count)]


def _clean(name: str) -> str:
    # "args[0]" -> "args_0": names that ONNX tools and TensorBoard show without quoting.
    return re.sub(r"[^A-Za-z0-9_.:/-]", "_", name).strip("_") or "value"


def capture(fn_or_module, example_args, name: str | None = None) -> Captured:
    """Trace ``fn_or_module(*example_args)`` without gradients, in eval mode for modules."""
    args = _as_tuple(example_args)
    module_names = _tensor_names(fn_or_module) if hasattr(fn_or_module, "parameters") else {}
    name = name or getattr(fn_or_module, "__name__", type(fn_or_module).__name__)
    was_training = getattr(fn_or_module, "training", None)
    if was_training and hasattr(fn_or_module, "train"):
        fn_or_module.train(False)  # export what inference computes (dropout off, BN stats)
    trace = TraceState(name)
    try:
        leaves: list = []
        arg_names = _argument_names(fn_or_module, len(args))
        for a, arg_name in zip(args, arg_names):
            _flatten(a, leaves, arg_name)
        arg_nodes, replaced = [], {}
        for path, value in leaves:
            if isinstance(value, Tensor):
                tracer = trace.add_argument(value.detach(), _clean(path))
                replaced[id(value)] = tracer
                arg_nodes.append(tracer._node)
        traced_args = _substitute(args, replaced)
        with grad_mode.no_grad(), tracing(trace):
            result = fn_or_module(*traced_args)
    finally:
        if was_training and hasattr(fn_or_module, "train"):
            fn_or_module.train(True)
    out_leaves: list = []
    _flatten(result, out_leaves, "")
    outputs = [trace.node_of(v) for _, v in out_leaves if isinstance(v, Tensor)]
    if not outputs:
        raise TraceError(f"capture: {name} returned no tensor to export")
    graph = trace.graph
    graph.outputs = outputs
    _prune(graph, keep=set(arg_nodes))
    arguments = [(n.name, n) for n in arg_nodes]
    weights = []
    used = set(graph.nodes)
    for k, (t, node) in enumerate(trace.captured.values()):
        if node in used:
            weights.append((module_names.get(id(t), f"captured_{k}"), _host(t), node))
    for k, (getter, node) in enumerate(trace.live_scalars):
        if node in used:
            weights.append((f"scalar_{k}", np.asarray(getter(), dtype=node.dtype), node))
    _unique_names(weights, {n for n, _ in arguments})
    return Captured(graph, arguments, weights, outputs)


def _host(t: Tensor) -> np.ndarray:
    """A captured tensor's value as a NumPy array (copied from a device if needed)."""
    return np.asarray(t._data) if t.device.type == "cpu" else t.cpu().numpy()


def _substitute(tree, replaced):
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        return type(tree)(_substitute(v, replaced) for v in tree)
    if isinstance(tree, dict):
        return {k: _substitute(v, replaced) for k, v in tree.items()}
    return replaced.get(id(tree), tree)


def _prune(graph: Graph, keep: set) -> None:
    """Drop nodes (and captured inputs) the outputs do not depend on; keep ``keep``."""
    live: set[Node] = set(graph.outputs) | keep
    for node in reversed(graph.nodes):
        if node in live:
            live.update(node.inputs)
    graph.nodes = [n for n in graph.nodes if n in live]
    graph.inputs = [n for n in graph.inputs if n in live]


def _unique_names(weights: list, taken: set) -> None:
    for k, (name, value, node) in enumerate(weights):
        base, n = _clean(name), 1
        name = base
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        weights[k] = (name, value, node)
