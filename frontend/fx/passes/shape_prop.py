"""``ShapeProp``: run a GraphModule on example inputs and record each node's tensor
shape and dtype in ``node.meta['tensor_meta']`` (``torch.fx.passes.shape_prop``).

>>> import kiln
>>> gm = kiln.fx.symbolic_trace(kiln.nn.Sequential(kiln.nn.Linear(3, 2)))
>>> _ = ShapeProp(gm).propagate(kiln.ones(4, 3))
>>> [tuple(n.meta['tensor_meta'].shape) for n in gm.graph.nodes]
[(4, 3), (4, 2), (4, 2)]
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..interpreter import Interpreter
from ..node import Node, map_aggregate


class TensorMetadata(NamedTuple):
    shape: Any
    dtype: Any
    requires_grad: bool
    stride: tuple
    memory_format: Any
    is_quantized: bool
    qparams: dict


def _extract_tensor_metadata(t) -> TensorMetadata:
    return TensorMetadata(t.shape, t.dtype, t.requires_grad, tuple(t.stride()), None, False, {})


class ShapeProp(Interpreter):
    """``ShapeProp(gm).propagate(*example_inputs)`` fills ``meta['tensor_meta']`` (a
    ``TensorMetadata``, or a structure of them for a node that returns several tensors)
    and ``meta['type']``."""

    def run_node(self, n: Node):
        import kiln

        result = super().run_node(n)
        found = False

        def extract(obj):
            nonlocal found
            if isinstance(obj, kiln.Tensor):
                found = True
                return _extract_tensor_metadata(obj)
            return obj

        meta = map_aggregate(result, extract)
        if found:
            n.meta["tensor_meta"] = meta
        n.meta["type"] = type(result)
        return result

    def propagate(self, *args):
        """Run the module on ``args`` (recording shapes); returns its output."""
        return super().run(*args)
