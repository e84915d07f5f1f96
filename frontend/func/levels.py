"""What vmap's and forward mode's interpreters share: a level on the interpreter stack and
the tensor that wraps a value of the level below.

A transform pushes an interpreter (``kiln.context.interpreting``) whose ``parent`` is the
interpreter it covered: eager (``None``), a ``kiln.jit`` trace, or another transform.
``bind`` hands it every primitive; it unwraps its own tensors, runs the primitive's rule
*under the parent* (the rule's operations go down the stack, so under ``kiln.jit`` they
become graph nodes) and wraps the result. A tensor of another level is a constant here.

kiln's code asks the innermost interpreter for effects too (``constant``, ``seed_input``,
``set_grad``, ``assign``, guards): a level passes them to its parent, or does them eagerly.
"""

from __future__ import annotations

import numpy as np

from ..context import interpreting
from ..ops.inplace import assign
from ..tensor import Tensor, _wrap


class _Wrapped:
    """Stands in for a graph node: kiln's "is this tensor concrete?" tests (``x._node is
    None``) see a non-None ``_node`` on a wrapper and take their traceable path."""

    type_str = "wrapped"
    __slots__ = ()


WRAPPED = _Wrapped()


class LevelTensor(Tensor):
    """A tensor of one transform level: its value lives in the level below."""

    __slots__ = ("_trace",)

    def _start(self, trace) -> None:
        self._trace = trace
        self._data = None
        self._node = WRAPPED
        self._requires_grad = False
        self._grad = None
        self.grad_fn = None
        self._retain = False
        self._vc = [0]

    def contiguous(self, memory_format=None):
        return self


class Level:
    """An interpreter of one transform; subclasses define ``process`` and ``assign``."""

    is_trace = False
    call_jitted = None  # kiln.jit inlines a jitted function called on this level

    def __init__(self, parent):
        self.parent = parent

    def __getattr__(self, name):
        # anything else a trace offers (its graph, its device) is the parent's
        parent = self.__dict__.get("parent")
        if parent is None:
            raise AttributeError(name)
        return getattr(parent, name)

    def below(self) -> interpreting:
        """A block that runs on the parent level (where this level's rules compute)."""
        return interpreting(self.parent)

    # ------------------------------------------------------------------ effects
    def constant(self, data: np.ndarray) -> Tensor:
        return _wrap(data) if self.parent is None else self.parent.constant(data)

    def seed_input(self, generator) -> Tensor:
        if self.parent is None:
            return _wrap(generator.next_seed())
        return self.parent.seed_input(generator)

    def live_scalar(self, getter, dtype) -> Tensor:
        if self.parent is None:
            return _wrap(np.asarray(getter(), dtype=dtype.np))
        return self.parent.live_scalar(getter, dtype)

    def add_guard(self, description, getter, value) -> None:
        if self.parent is not None:
            self.parent.add_guard(description, getter, value)

    def traced_grad(self, leaf):
        return leaf._grad if self.parent is None else self.parent.traced_grad(leaf)

    def current_grad(self, leaf):
        return leaf._grad if self.parent is None else self.parent.current_grad(leaf)

    def set_grad(self, leaf, grad) -> None:
        if isinstance(grad, LevelTensor) and not isinstance(leaf, LevelTensor):
            raise RuntimeError(
                f"backward() inside a kiln.func transform would store a transformed gradient "
                f"in .grad of a {leaf.dtype.name}{list(leaf.shape)} tensor from outside it; "
                "use kiln.func.grad or kiln.autograd.grad instead"
            )
        if self.parent is None:
            leaf._grad = grad
        else:
            self.parent.set_grad(leaf, grad)

    def assign_below(self, x: Tensor, new: Tensor) -> None:
        """An in-place update of a tensor of a lower level, by a value of a lower level."""
        with self.below():
            assign(x, new, "in-place update")
