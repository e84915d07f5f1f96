"""kiln.compiler: the IR, the reference interpreter, tracing support, passes and codegen."""

from .errors import ShapeError, TraceError
from .interpret import interpret
from .ir import Graph, Node, from_json, load
from .primitives import PRIMITIVES, Primitive

__all__ = [
    "Graph",
    "Node",
    "PRIMITIVES",
    "Primitive",
    "ShapeError",
    "TraceError",
    "from_json",
    "interpret",
    "load",
]
