"""Errors raised by the compiler layer (and re-exported by ``kiln``)."""


class ShapeError(RuntimeError):
    """An operation got shapes or dtypes it cannot work with.

    A ``RuntimeError`` subclass, as PyTorch raises ``RuntimeError`` for these.
    """


class TraceError(RuntimeError):
    """Something a traced function did cannot be expressed in a static graph."""
