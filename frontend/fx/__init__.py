"""``kiln.fx``: PyTorch's ``torch.fx`` for kiln programs: symbolic tracing of a module
into a Python-level graph (``symbolic_trace``, ``Tracer``, ``Proxy``), the graph itself
(``Graph``, ``Node``), a module that runs the graph's generated code (``GraphModule``),
and graph interpreters (``Interpreter``, ``Transformer``, ``passes.shape_prop.ShapeProp``).

kiln.fx is separate from ``kiln.jit``'s tracer: fx records the calls a user wrote
(``call_module`` for layers, ``call_function`` for ``kiln.*`` functions and operators,
``call_method`` for tensor methods) so that a program can rewrite them; kiln.jit records
primitives to compile. A ``GraphModule`` is an ordinary module, so ``kiln.jit`` and
``kiln.compile`` compile it.

Where kiln differs from torch.fx:

- a Proxy does not use ``__torch_function__`` (kiln has the protocol, ``kiln.overrides``,
  for Tensor subclasses, duck types and modes; kiln.fx predates it and its list of public
  functions is the protocol's): ``kiln.relu(proxy)`` records a node while kiln's
  functions are swapped for recording wrappers, which ``symbolic_trace``/``Tracer.trace``
  and ``Transformer.transform`` do themselves; elsewhere (a ``GraphAppendingTracer`` flow)
  wrap the code in ``with kiln.fx.record_kiln_functions():``. Otherwise the call raises
  (``TraceError`` or ``TypeError``), never records something wrong.
- the same holds for the methods of real tensors given a proxy (``constant.mul(proxy)``,
  ``constant[proxy]``: ``call_method`` on a ``_tensor_constant``, as torch records it).
- targets print under kiln's names: ``kiln.add``, ``kiln.nn.functional.conv2d`` where
  torch prints ``torch.add``, ``torch.conv2d`` (its ``F.conv2d`` is ``torch.conv2d``).

>>> import kiln
>>> gm = kiln.fx.symbolic_trace(kiln.nn.Sequential(kiln.nn.Linear(2, 2)))
>>> [n.op for n in gm.graph.nodes]
['placeholder', 'call_module', 'output']
"""

from . import node, passes, proxy, subgraph_rewriter
from .graph import Graph, PythonCode
from .graph_module import GraphModule
from .interpreter import Interpreter, Transformer
from .node import Node, has_side_effect, map_arg
from .proxy import Proxy, TraceError
from .subgraph_rewriter import replace_pattern
from .tracer import Tracer, record_kiln_functions, symbolic_trace, wrap

__all__ = [
    "Graph",
    "GraphModule",
    "Interpreter",
    "Node",
    "Proxy",
    "PythonCode",
    "TraceError",
    "Tracer",
    "Transformer",
    "has_side_effect",
    "map_arg",
    "node",
    "passes",
    "proxy",
    "record_kiln_functions",
    "replace_pattern",
    "subgraph_rewriter",
    "symbolic_trace",
    "wrap",
]
