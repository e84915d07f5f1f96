"""ONNX export for kiln (``pip install 'kiln[onnx]'``).

>>> import io, kiln
>>> proto = kiln.onnx.export(lambda x: (x * 2).exp(), (kiln.randn(3),), io.BytesIO())
>>> [node.op_type for node in proto.graph.node]
['Mul', 'Exp', 'Identity']
"""

from .capture import Captured, capture
from .export import MIN_OPSET, UnsupportedPrimitiveError, export, to_onnx

__all__ = ["export", "to_onnx", "capture", "Captured", "UnsupportedPrimitiveError", "MIN_OPSET"]
