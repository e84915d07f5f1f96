"""Every tensor operation kiln offers, as functions (``kiln.add``, ``kiln.softmax``, ...).

Primitives are bound through ``kiln.dispatch.bind``; everything else is a composite. Each
module lists its public names in ``__all__``; ``__all__`` here is their union, which is
what ``kiln`` re-exports. The helpers below it (``cast``, ``pad_axes``, ...) serve kiln's own
code as ``ops.<name>`` and stay out of the public namespace.
"""

from .. import creation
from ..creation import *  # noqa: F403 - creation functions are ops too (arange in rules)
from ..device import device as device_cls
from ..dispatch import constant, current_trace
from ..tensor import _wrap
from . import (
    aliases,
    compare,
    elementwise,
    index,
    linalg,
    linalg16,
    math16,
    numeric,
    reduce,
    shape,
    sorting,
    surface16,
)
from . import inplace as _inplace_module
from .aliases import *  # noqa: F403
from .aliases import aten  # noqa: F401 - torch.ops.aten.<name>
from .compare import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .elementwise import abs, add, cast, pow, round  # noqa: F401, A004
from .index import *  # noqa: F403
from .index import getitem, setitem  # noqa: F401
from .inplace import *  # noqa: F403
from .inplace import assign, inplace  # noqa: F401
from .linalg import *  # noqa: F403
from .linalg16 import *  # noqa: F403
from .math16 import *  # noqa: F403
from .numeric import *  # noqa: F403
from .reduce import *  # noqa: F403
from .reduce import all, any, max, min, sum  # noqa: F401, A004
from .shape import *  # noqa: F403
from .shape import pad_axes, slice_axis  # noqa: F401
from .sorting import *  # noqa: F403
from .surface16 import *  # noqa: F403

_PUBLIC_MODULES = (
    aliases,
    creation,
    compare,
    elementwise,
    index,
    _inplace_module,
    linalg,
    linalg16,
    math16,
    numeric,
    reduce,
    shape,
    sorting,
    surface16,
)
__all__ = ["clone"] + [name for module in _PUBLIC_MODULES for name in module.__all__]


def clone(x):
    """A copy that stays in the autograd graph."""

    if current_trace() is None and not x.requires_grad:
        from ..memory_errors import allocating  # (PyTorch's RuntimeError, not MemoryError)

        with allocating(x.shape, x._data.dtype):
            return _wrap(x._data.copy())
    return add(x, constant(0, x.dtype))


def to_device(x, device):

    dev = device_cls(device)
    if dev.type == "cpu":
        return x
    if dev.type == "meta":
        from .. import meta

        return meta.to_meta(x)
    from .. import cuda

    return cuda.to_device(x, dev)
