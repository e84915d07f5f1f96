"""ONNX export for kiln (``pip install 'kiln[onnx]'``).

>>> import kiln
>>> kiln.onnx.export(lambda x: (x * 2).exp(), (kiln.randn(3),), "f.onnx")  # doctest: +SKIP
"""

from .capture import Captured, capture
from .export import MIN_OPSET, UnsupportedPrimitiveError, export, to_onnx

__all__ = ["export", "to_onnx", "capture", "Captured", "UnsupportedPrimitiveError", "MIN_OPSET"]
