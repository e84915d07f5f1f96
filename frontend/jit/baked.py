"""``torch.jit.trace``'s baked values: a traced tensor converted to a Python value.

``torch.jit.trace`` runs the function once on the example inputs and records the tensor
operations; a conversion of a traced tensor to a Python value (``if x.sum() > 0:``,
``int(n)``, ``x.item()``, ``x.tolist()``) takes the example's value, warns
``TracerWarning`` and keeps that value as a constant: the traced function then always
takes the example's branch. kiln's ``jit.trace`` does the same: the value is computed from
the example inputs by running the part of the graph traced so far (the reference
interpreter), and every later trace of the function (another input shape) takes the same
values in the same order, as PyTorch's one graph does. ``kiln.jit`` and ``kiln.compile``
never bake: their traces stay guarded (a data-dependent branch is a TraceError there).

>>> import kiln, warnings
>>> def f(x):
...     return x * 2 if x.sum() > 0 else x - 1
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", kiln.jit.TracerWarning)
...     traced = kiln.jit.trace(f, kiln.ones(2))
>>> traced(-kiln.ones(2))  # (the example's branch, as PyTorch's trace)
tensor([-2., -2.])
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
import weakref

import numpy as np

from kiln.compiler.errors import TraceError
from kiln.compiler.interpret import interpret

from ..context import current_trace
from ..nn.module import Module
from ..tensor import Tensor, _wrap
from ..tracing import _KILN_DIRS


class TracerWarning(Warning):
    """``torch.jit.TracerWarning``: ``kiln.jit.trace`` kept a value of the example inputs
    as a constant of the traced function (a Python branch on a tensor, ``int(x)``)."""


_MESSAGE = (
    "Converting a tensor to a Python {} might cause the trace to be incorrect. We can't "
    "record the data flow of Python values, so this value will be treated as a constant "
    "in the future. This means that the trace might not generalize to other inputs!"
)  # (PyTorch's words)


class ExampleValues:
    """``TraceState.bake_value`` of a ``torch.jit.trace`` trace: ``(tracer, python) ->``
    the example's value of ``tracer`` as a concrete tensor. ``replay``: the values of the
    function's first (example) trace, taken again in order by a later trace; ``values``:
    this trace's, in order. ``leaves`` None: a trace without values (a synthetic one)."""

    def __init__(self, trace, leaves, replay=None):
        self._trace = weakref.ref(trace)  # (the trace holds this object: no cycle)
        self.leaves = leaves
        self.replay = replay
        self.values: list[Tensor] = []

    def __call__(self, tracer, python: str) -> Tensor:
        k = len(self.values)
        if self.replay is not None and k < len(self.replay):
            value = self.replay[k]  # (PyTorch's one graph: no new trace, no new warning)
        elif self.leaves is None:  # (a trace at a size no call had: no example values)
            raise TraceError(
                f"kiln.jit.trace: {self._trace().graph.name} converts a traced value to a Python "
                "value that the example's trace did not"
            )
        else:
            _warn_at_user_line(_MESSAGE.format(python))
            value = _wrap(self._example_value(tracer))
        self.values.append(value)
        return value

    def _example_value(self, tracer) -> np.ndarray:
        """Run the graph traced so far on the example inputs; the value of ``tracer``."""
        trace = self._trace()
        known: dict = {}
        for _, value in self.leaves:  # arguments (tensors, Python numbers)
            stand_in = trace.arg_map.get(id(value))
            if stand_in is not None:
                known[id(stand_in._node)] = value._data if isinstance(value, Tensor) else value
        for t, node in trace.captured.values():  # parameters, globals
            known[id(node)] = t._data
        for getter, node in trace.live_scalars:
            known[id(node)] = getter()
        graph = trace.graph
        needed, stack = set(), [tracer._node]
        while stack:
            node = stack.pop()
            if id(node) not in needed:
                needed.add(id(node))
                stack.extend(node.inputs)
        arrays = []
        for node in graph.inputs:
            if id(node) not in known and id(node) not in needed:  # (a seed the value does
                known[id(node)] = np.zeros(node.shape, node.dtype)  # not depend on)
            if id(node) not in known:  # (a random number generator's seed: not known)
                raise TraceError(
                    f"kiln.jit.trace: {graph.name} converts a traced value to a Python value "
                    "that depends on random numbers drawn in the function; kiln cannot "
                    "compute the example's value (draw outside the function)"
                )
            value = known[id(node)]
            arrays.append(value if type(value) is np.ndarray else np.asarray(value, node.dtype))
        outputs = graph.outputs
        graph.outputs = [tracer._node]
        try:
            return interpret(graph, arrays)[0]
        finally:
            graph.outputs = outputs


def _warn_at_user_line(message: str) -> None:
    """Warn ``TracerWarning`` at the user's line (the innermost frame outside kiln)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_KILN_DIRS):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, TracerWarning, stacklevel=level)


@contextlib.contextmanager
def replaying(fn, baked):
    """``fn`` (a function or a module) whose traces by kiln.export or ``kiln.trace`` take
    the example's values ``baked`` in order (``ScriptFunction.save`` and ``.graph`` of a
    ``torch.jit.trace`` result: the same graph as its calls')."""
    if not baked:
        yield fn
        return

    def install():
        trace = current_trace()
        if trace is not None:
            trace.bake_value = ExampleValues(trace, None, list(baked))

    if isinstance(fn, Module):  # (kiln.export lifts a module's parameters: keep the module)
        handle = fn.register_forward_pre_hook(lambda module, inputs: install())
        try:
            yield fn
        finally:
            handle.remove()
        return

    @functools.wraps(fn)
    def replayed(*args, **kwargs):
        install()
        return fn(*args, **kwargs)

    yield replayed
