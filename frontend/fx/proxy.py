"""``Proxy``: the stand-in value that symbolic tracing passes through user code
(``torch.fx.Proxy``). Every operation on a proxy appends a node to the tracer's graph and
returns a new proxy; a proxy cannot decide Python control flow.

>>> import kiln
>>> gm = kiln.fx.symbolic_trace(lambda x: (x + 1).relu())
>>> [n.op for n in gm.graph.nodes]
['placeholder', 'call_function', 'call_method', 'output']
"""

from __future__ import annotations

import dis
import inspect
import operator
import sys
from bisect import bisect_left

from .graph import MAGIC_METHODS, REFLECTABLE_MAGIC_METHODS


class TraceError(ValueError):
    """A traced program asked for something a symbolic value cannot give (its truth value
    for control flow, its length, its elements)."""


class Proxy:
    """A value under symbolic tracing: ``proxy.node`` is the graph node that computes it."""

    def __init__(self, node, tracer=None):
        if tracer is None:
            from .tracer import GraphAppendingTracer

            tracer = GraphAppendingTracer(node.graph)
        self.tracer = tracer
        self.node = node

    def __repr__(self) -> str:
        return f"Proxy({self.node.name})"

    def __getattr__(self, k: str) -> Attribute:
        if k.startswith("__") and k.endswith("__"):
            raise AttributeError(k)  # copy, pickle and NumPy probe these: not tensor attributes
        from .tracer import _depth

        if not _depth[0]:
            # kiln's own code reading a proxy's attribute: a kiln function got a proxy while
            # kiln functions are not recording (a Proxy does not use __torch_function__)
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("kiln.") and not caller.startswith("kiln.fx"):
                raise TraceError(
                    f"kiln.fx: a kiln function ({caller}) received the proxy {self.node.name} "
                    "while kiln functions are not recording: kiln records kiln.* calls on "
                    "proxies inside Tracer.trace, Transformer.transform and "
                    "`with kiln.fx.record_kiln_functions():`"
                )
        return Attribute(self, k)

    def __call__(self, *args, **kwargs) -> Proxy:
        return self.tracer.create_proxy("call_method", "__call__", (self, *args), kwargs)

    def __iter__(self):
        # ``a, b = proxy`` unpacks by index, as torch.fx does; other iteration is control flow
        frame = inspect.currentframe().f_back
        instructions = list(dis.get_instructions(frame.f_code))
        index = bisect_left(instructions, frame.f_lasti, key=lambda i: i.offset)
        instruction = instructions[index]
        if instruction.opname == "UNPACK_SEQUENCE":
            return (self[i] for i in range(instruction.argval))
        raise TraceError(
            "Proxy object cannot be iterated. This can be attempted when the Proxy is used in "
            "a loop or as a *args or **kwargs function argument. See the torch.fx docs on "
            "pytorch.org for a more detailed explanation of what types of control flow can be "
            "traced, and check out the Proxy docstring for help troubleshooting Proxy "
            "iteration errors"
        )

    def __bool__(self) -> bool:
        raise TraceError(
            "symbolically traced variables cannot be used as inputs to control flow "
            f"(the truth value of {self.node.name} decides an if, while or and/or)"
        )

    def __len__(self) -> int:
        raise RuntimeError(
            "'len' is not supported in symbolic tracing by default. If you want this call to "
            "be recorded, please call torch.fx.wrap('len') at module scope"
        )

    def __array__(self, *args, **kwargs):
        raise TraceError(
            f"kiln.fx: the proxy {self.node.name} has no value, but kiln code tried to make "
            "an array of it: kiln.* functions and tensor methods record proxies only inside "
            "Tracer.trace, Transformer.transform and `with kiln.fx.record_kiln_functions():`"
        )

    def keys(self):
        return self.tracer.create_proxy("call_method", "keys", (self,), {})

    __hash__ = object.__hash__


class Attribute(Proxy):
    """``proxy.name``: a method call (``call_method``) when called, else a ``getattr`` node."""

    def __init__(self, root: Proxy, attr: str):
        self.root = root
        self.attr = attr
        self.tracer = root.tracer
        self._node = None

    @property
    def node(self):
        # the getattr node is made only when the attribute is used as a value
        if self._node is None:
            self._node = self.tracer.create_proxy(
                "call_function", getattr, (self.root, self.attr), {}
            ).node
        return self._node

    def __call__(self, *args, **kwargs) -> Proxy:
        return self.tracer.create_proxy("call_method", self.attr, (self.root, *args), kwargs)


def _define_magic(name: str) -> None:
    target = getattr(operator, name)

    def impl(*args):
        return args[0].tracer.create_proxy("call_function", target, args, {})

    impl.__name__ = f"__{name.rstrip('_')}__"
    setattr(Proxy, impl.__name__, impl)


def _define_reflected(name: str) -> None:
    target = getattr(operator, name)
    method = f"__r{name.rstrip('_')}__"

    def impl(self, rhs):
        return self.tracer.create_proxy("call_function", target, (rhs, self), {})

    impl.__name__ = method
    setattr(Proxy, method, impl)


for _name in MAGIC_METHODS:
    if hasattr(operator, _name):  # ("div" is Python 2's)
        _define_magic(_name)
for _name in REFLECTABLE_MAGIC_METHODS:
    if _name != "getitem" and hasattr(operator, _name):
        _define_reflected(_name)


def __getattr__(name: str):
    # torch.fx.proxy.GraphAppendingTracer (defined with the other tracers)
    if name == "GraphAppendingTracer":
        from .tracer import GraphAppendingTracer

        return GraphAppendingTracer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
