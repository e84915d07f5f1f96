"""Parameters as one flat vector and back (``parameters_to_vector``).

>>> import kiln
>>> m = kiln.nn.Linear(2, 1)
>>> vector_to_parameters(kiln.arange(3.0), m.parameters())
>>> parameters_to_vector(m.parameters()).tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

import kiln
from kiln import ops

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one vector."""
    return ops.cat([ops.reshape(p, (-1,)) for p in parameters])


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of ``vec`` into ``parameters`` (in place)."""
    if not isinstance(vec, kiln.Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    start = 0
    with kiln.no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(ops.reshape(ops.slice_axis(vec, 0, start, start + n), p.shape))
            start += n
