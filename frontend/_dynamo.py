"""``torch._dynamo``'s names that tutorials call, for ``import kiln as torch``:
``torch._dynamo.reset()`` (forget compiled variants), ``explain``, ``disable`` and
``is_compiling``, all ``kiln.compiler``'s (kiln has no Dynamo: ``kiln.compile`` traces),
and ``config``: ``recompile_limit`` (alias ``cache_size_limit``) is
``kiln.jit.config.cache_size_limit``; other settings are accepted and kept.

>>> import kiln
>>> kiln._dynamo.reset() is None
True
>>> kiln._dynamo.config.cache_size_limit == kiln.jit.config.cache_size_limit == 8
True
"""

from kiln.compiler.stance import disable, explain, is_compiling, reset

__all__ = [
    "config",
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


class _Config:
    """``torch._dynamo.config``: ``recompile_limit`` / ``cache_size_limit`` (one value, as
    torch's alias) are kiln.jit's: past it, a ``kiln.compile`` function runs new inputs
    eagerly (a warning of the logger ``kiln._dynamo``, once); kiln.jit drops its oldest
    variant instead."""

    _LIMIT_NAMES = ("recompile_limit", "cache_size_limit")

    def __getattr__(self, name):
        if name in self._LIMIT_NAMES:
            from .jit import config as jit_config

            return jit_config.cache_size_limit
        raise AttributeError(f"kiln._dynamo.config has no setting {name!r}")

    def __setattr__(self, name, value) -> None:
        if name in self._LIMIT_NAMES:
            from .jit import config as jit_config

            jit_config.cache_size_limit = int(value)
            return
        object.__setattr__(self, name, value)  # (accepted: kiln has no Dynamo to set)


config = _Config()
