"""PyTorch's ``torch.return_types``: the named tuples that ``max(dim)``, ``sort``,
``topk``, ``kthvalue``, ``mode``, ... return, printed as PyTorch prints them:

>>> import kiln
>>> kiln.tensor([3.0, 1.0]).max(0)
kiln.return_types.max(
values=tensor(3.),
indices=tensor(0))
"""

from __future__ import annotations

from collections import namedtuple

_TYPES: dict[str, type] = {}


def _repr(self) -> str:
    fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
    return f"kiln.return_types.{type(self).__name__}(\n{fields})"


def return_type(name: str, fields=("values", "indices")) -> type:
    """The named tuple class ``kiln.return_types.<name>`` (one per name)."""
    cls = _TYPES.get(name)
    if cls is None:
        base = namedtuple(name, fields)
        namespace = {"__slots__": (), "__repr__": _repr, "__module__": __name__}
        cls = _TYPES[name] = type(name, (base,), namespace)
    return cls


def __getattr__(name: str) -> type:  # (pickle finds a result's class here)
    if name in _TYPES:
        return _TYPES[name]
    raise AttributeError(f"module 'kiln.return_types' has no attribute '{name}'")
