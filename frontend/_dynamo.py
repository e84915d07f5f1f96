"""``torch._dynamo``'s names that tutorials call, for ``import kiln as torch``:
``torch._dynamo.reset()`` (forget compiled variants), ``explain``, ``disable`` and
``is_compiling``, all ``kiln.compiler``'s (kiln has no Dynamo: ``kiln.compile`` traces).

>>> import kiln
>>> kiln._dynamo.reset() is None
True
"""

from kiln.compiler.stance import disable, explain, is_compiling, reset

__all__ = ["disable", "explain", "is_compiling", "reset"]
