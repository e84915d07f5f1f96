"""kiln.compiler: the IR, the reference interpreter, tracing support, passes and codegen.

Also ``torch.compiler``'s switches (``stance.py``): ``disable``, ``set_stance``, ``reset``
and ``explain``, so that ``import kiln as torch; torch.compiler.reset()`` works.
"""

from .errors import ShapeError, TraceError
from .interpret import interpret
from .ir import Graph, Node, from_json, load
from .primitives import PRIMITIVES, Primitive
from .stance import disable, explain, is_compiling, is_dynamo_compiling, reset, set_stance

__all__ = [
    "Graph",
    "Node",
    "PRIMITIVES",
    "Primitive",
    "ShapeError",
    "TraceError",
    "disable",
    "explain",
    "from_json",
    "interpret",
    "is_compiling",
    "is_dynamo_compiling",
    "load",
    "reset",
    "set_stance",
]
