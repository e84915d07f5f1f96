"""``kiln.jit``: the decorator that traces and compiles a function, and the package behind it.

>>> import kiln
>>> @kiln.jit
... def hyp(a, b):
...     return (a ** 2 + b ** 2) ** 0.5
>>> hyp(kiln.tensor([3.0]), kiln.tensor([4.0]))
tensor([5.])
>>> power = kiln.jit(lambda x, n: x ** n, static_argnums=(1,))
>>> kiln.jit.config.cache_size_limit
8

``kiln.jit`` is a module *and* callable. PyTorch users expect ``torch.jit`` to be a
namespace (``torch.jit.trace``, ``torch.jit.script``...), JAX users expect ``jit`` to be
the decorator; kiln keeps both by giving this module a class whose ``__call__`` forwards to
``jit`` (``sys.modules[__name__].__class__ = _CallableModule`` at the bottom of this file,
the documented way to customise a module object). So ``kiln.jit(f)``,
``kiln.jit(f, static_argnums=(1,))`` and ``kiln.jit(static_argnums=(1,))(f)`` are
``jit(...)``, while ``kiln.jit.config`` and ``from kiln.jit import JitFunction`` are
attributes of the package.

One concept a file:

- ``config.py``: ``config`` (``KILN_DISABLE_JIT``, ``KILN_DUMP``, ``KILN_LOG``) and the log;
- ``signature.py``: flattening the argument tree, the cache key, why a key changed;
- ``compiled.py``: a compiled variant: input fetchers, run, write-backs, ``Inspection``;
- ``function.py``: ``JitFunction`` (the cache and its lock, tracing), ``jit``, ``trace``;
- ``autograd_bridge.py``: a jitted function's compiled backward under eager autograd;
- ``dumps.py``: where ``KILN_DUMP`` writes each variant (the compiler's writer);
- ``script.py``: ``torch.jit``'s names: ``trace``, ``script``, ``ScriptModule``, ``save``,
  ``load`` (through ``kiln.export``), ``ignore``, ``unused``;
- ``baked.py``: ``torch.jit.trace``'s Python values of the example (``TracerWarning``);
- ``torch_compile.py``: ``kiln.compile`` (``torch.compile``'s signature), custom back ends,
  ``explain``;
- ``control_flow.py``: ``kiln.cond``, a data-dependent branch a trace can hold.
"""

from __future__ import annotations

import sys
import types

from .baked import TracerWarning
from .compiled import Compiled, Inspection
from .config import JitConfig, config
from .control_flow import cond
from .function import JitFunction, jit
from .torch_compile import CompiledFunction, GraphModule, OptimizedModule, compile

__all__ = [
    "Compiled",
    "CompiledFunction",
    "GraphModule",
    "Inspection",
    "JitConfig",
    "JitFunction",
    "OptimizedModule",
    "ScriptFunction",
    "ScriptModule",
    "TracerWarning",
    "compile",
    "cond",
    "config",
    "ignore",
    "jit",
    "load",
    "save",
    "script",
    "trace",
    "unused",
]


# ``torch.jit``'s names live in ``script.py``, which needs kiln.export: loaded on first use
_SCRIPT_NAMES = (
    "ScriptFunction",
    "ScriptModule",
    "ignore",
    "load",
    "save",
    "script",
    "trace",
    "unused",
)


def __getattr__(name):
    if name in _SCRIPT_NAMES:
        import importlib

        module = importlib.import_module(f"{__name__}.script")
        # (importing the submodule bound ``script`` to it: bind the functions instead)
        globals().update({n: getattr(module, n) for n in _SCRIPT_NAMES})
        return globals()[name]
    raise AttributeError(f"module 'kiln.jit' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """The class of the ``kiln.jit`` module: calling the module calls ``jit``."""

    def __call__(self, fn=None, *, static_argnums=(), static_argnames=(), dynamic=None):
        return jit(
            fn, static_argnums=static_argnums, static_argnames=static_argnames, dynamic=dynamic
        )


sys.modules[__name__].__class__ = _CallableModule
