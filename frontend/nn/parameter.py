"""``Parameter``: a tensor that a ``Module`` registers as learnable (``requires_grad=True``).

>>> import kiln
>>> p = Parameter(kiln.zeros(2))
>>> p.requires_grad, isinstance(p, kiln.Tensor)
(True, True)
>>> print(p)
Parameter containing:
tensor([0., 0.], requires_grad=True)
"""

from __future__ import annotations

import kiln
from kiln.tensor import Tensor
from kiln.tracing import TracerTensor


class Parameter(Tensor):
    """A ``Tensor`` subclass that shares ``data``'s storage; assigning one to a module
    attribute registers it in ``module.parameters()``."""

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = kiln.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        if isinstance(data, TracerTensor):
            raise kiln.TraceError(
                "Parameter(): cannot make a parameter from a traced tensor; "
                "create parameters outside kiln.jit"
            )
        super().__init__(data, requires_grad=False)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach(), self.requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        copy = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = copy
        return copy


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)


class Buffer(Tensor):
    """Marks a tensor as a buffer when assigned to a module (``nn.Buffer`` in PyTorch 2.5+).

    >>> b = Buffer(kiln.zeros(2), persistent=False)
    >>> b.persistent
    False
    """

    def __init__(self, data, *, persistent: bool = True):
        super().__init__(data)
        self.persistent = persistent
