"""Every tensor operation kiln offers, as functions (``kiln.add``, ``kiln.softmax``, ...).

Primitives are bound through ``kiln.dispatch.bind``; everything else is a composite.
"""

from ..creation import *  # noqa: F403 - creation functions are ops too (arange in rules)
from ..dispatch import constant, current_trace  # noqa: F401
from .compare import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .elementwise import abs, pow, round  # noqa: F401, A004
from .index import *  # noqa: F403
from .inplace import assign, inplace  # noqa: F401
from .linalg import *  # noqa: F403
from .reduce import *  # noqa: F403
from .reduce import all, any, max, min, sum  # noqa: F401, A004
from .shape import *  # noqa: F403
from .sorting import *  # noqa: F403


def clone(x):
    """A copy that stays in the autograd graph."""
    from ..tensor import _wrap
    from .elementwise import add

    if current_trace() is None and not x.requires_grad:
        return _wrap(x._data.copy())
    return add(x, constant(0, x.dtype))


def to_device(x, device):
    from ..device import device as device_cls

    dev = device_cls(device)
    if dev.type == "cpu":
        return x
    from .. import cuda

    return cuda.to_device(x, dev)
