"""``torch._dynamo``'s names that tutorials call, for ``import kiln as torch``:
``torch._dynamo.reset()`` (forget compiled variants), ``explain``, ``disable`` and
``is_compiling``, all ``kiln.compiler``'s (kiln has no Dynamo: ``kiln.compile`` traces).

>>> import kiln
>>> kiln._dynamo.reset() is None
True
"""

from kiln.compiler.stance import disable, explain, is_compiling, reset

__all__ = [
    "disable",
    "explain",
    "is_compiling",
    "mark_dynamic",
    "mark_static",
    "maybe_mark_dynamic",
    "reset",
]


def mark_dynamic(t, index, *, min=None, max=None, **unused) -> None:  # noqa: A002
    """``torch._dynamo.mark_dynamic(x, 0)``: accepted; kiln's compiled functions
    specialize on shapes and recompile (or go dynamic) by themselves."""


def maybe_mark_dynamic(t, index) -> None:
    """Accepted, as ``mark_dynamic``."""


def mark_static(t, index=None) -> None:
    """Accepted; kiln specializes on shapes already."""
