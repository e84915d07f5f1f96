"""PyTorch's refusal of a Python number where a function's signature says Tensor.

``torch.maximum(t, 2)`` raises ``TypeError: maximum(): argument 'other' (position 2) must
be Tensor, not int``; kiln's functions take numbers (kiln's own composites and VJP rules
call them so), so the public names ``kiln.maximum`` etc. are strict wrappers of them and
kiln's internals keep calling the functions of ``kiln.ops`` directly. Only the arguments
that PyTorch types as Tensor are checked: ``kiln.eq(t, 2)`` stays valid, ``kiln.eq(2, t)``
is refused, as in PyTorch.

>>> import kiln
>>> kiln.maximum(kiln.tensor([1.0]), kiln.tensor(2.0)).tolist()
[2.0]
>>> kiln.maximum(kiln.tensor([1.0]), 2.0)
Traceback (most recent call last):
...
TypeError: maximum(): argument 'other' (position 2) must be Tensor, not float
"""

from __future__ import annotations

import functools

from .tensor import Tensor

# name -> the names of its leading parameters PyTorch types as Tensor (None: not checked)
_BOTH = ("input", "other")
TENSOR_PARAMETERS: dict[str, tuple] = {
    **dict.fromkeys(
        (
            "maximum minimum atan2 arctan2 hypot nextafter logaddexp logaddexp2 ldexp gcd "
            "lcm logical_and logical_or logical_xor equal dist cross kron vdot inner "
            "isclose allclose"
        ).split(),
        _BOTH,
    ),
    "dot": ("input", "tensor"),
    "outer": ("input", "vec2"),
    "ger": ("input", "vec2"),
    "mm": ("input", "mat2"),
    "cdist": ("x1", "x2"),
    **dict.fromkeys(
        (
            "copysign fmod eq ne lt le gt ge greater less not_equal greater_equal "
            "less_equal clamp clip"
        ).split(),
        ("input",),
    ),
    "searchsorted": ("sorted_sequence",),
    "bucketize": (None, "boundaries"),
}


def _strict(fn, name: str, parameters: tuple):
    @functools.wraps(fn)
    def strict(*args, **kwargs):
        for position, (parameter, value) in enumerate(zip(parameters, args), 1):
            if parameter is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"{name}(): argument '{parameter}' (position {position}) must be "
                    f"Tensor, not {type(value).__name__}"
                )
        for parameter in parameters[len(args) :]:
            if parameter in kwargs and not isinstance(kwargs[parameter], Tensor):
                raise TypeError(
                    f"{name}(): argument '{parameter}' must be Tensor, not "
                    f"{type(kwargs[parameter]).__name__}"
                )
        return fn(*args, **kwargs)

    strict.__kiln_lenient__ = fn  # (the function kiln's own code may call with numbers)
    return strict


def install(namespace: dict, *also: dict) -> None:
    """Replace ``namespace``'s (``kiln``'s) functions of ``TENSOR_PARAMETERS`` by strict
    wrappers, and the same functions in the ``also`` namespaces (``kiln.functional``'s
    ``cdist`` is torch.functional's) by the same wrappers."""
    for name, parameters in TENSOR_PARAMETERS.items():
        fn = namespace.get(name)
        if callable(fn) and not hasattr(fn, "__kiln_lenient__"):
            namespace[name] = _strict(fn, name, parameters)
            for other in also:
                if other.get(name) is fn:
                    other[name] = namespace[name]
