"""``kiln.compiler``'s switches with PyTorch's names: ``disable``, ``set_stance``, ``reset``.

They change how compiled functions behave, so they sit with the compiler; what they act on
(jitted functions, their caches, tracing) lives in the frontend, which the compiler must
not import (``docs/design.md``). The frontend reads the state here (``compile_disabled``,
``current_stance``) and registers what ``reset`` clears and what ``explain`` runs, at
import, as it attaches VJP rules to primitives.

>>> @disable
... def log_stats(x):
...     return x            # runs eagerly even when called from a compiled function's caller
>>> with set_stance("force_eager"):
...     current_stance()
'force_eager'
>>> current_stance()
'default'
"""

from __future__ import annotations

import contextvars
import functools

STANCES = ("default", "force_eager", "eager_on_recompile", "fail_on_recompile")

_stance = "default"
# > 0 while a function marked with ``disable`` runs (per thread and asyncio task)
_disabled = contextvars.ContextVar("kiln_compile_disabled", default=0)
_reset_hooks: list = []
_explainer: list = []


def current_stance() -> str:
    return _stance


def compile_disabled() -> bool:
    """Whether compiled functions should run their Python code eagerly now."""
    return _stance == "force_eager" or _disabled.get() > 0


def disable(fn=None, recursive: bool = True, *, reason: str | None = None):
    """Run ``fn`` without compiling: jitted functions it calls run eagerly.

    Usable as ``@disable`` or ``disable(fn)``. Called from inside a function being traced,
    ``fn`` is traced with it: kiln compiles whole graphs and has no graph breaks, so the
    numbers are the same, but code in ``fn`` that needs concrete values fails to trace.
    """
    if fn is None:
        return functools.partial(disable, recursive=recursive, reason=reason)

    @functools.wraps(fn)
    def run_eagerly(*args, **kwargs):
        token = _disabled.set(_disabled.get() + 1)
        try:
            return fn(*args, **kwargs)
        finally:
            _disabled.reset(token)

    run_eagerly._kiln_disabled = True
    return run_eagerly


class set_stance:  # noqa: N801  (PyTorch's name; a function, a context manager, a decorator)
    """Set how compiled functions behave, as ``torch.compiler.set_stance``.

    ``"default"`` compiles; ``"force_eager"`` runs every compiled function eagerly;
    ``"eager_on_recompile"`` runs eagerly a call that would compile again (a new input
    shape) and ``"fail_on_recompile"`` raises instead (both for functions compiled by
    ``kiln.compile``; a first compile is allowed). Called plainly it sets the stance;
    ``with set_stance(...)`` and ``@set_stance(...)`` set it for a block or a function.
    """

    def __init__(
        self, stance: str = "default", *, skip_guard_eval_unsafe=False, force_backend=None
    ):
        global _stance
        if stance not in STANCES:
            raise ValueError(
                f"kiln.compiler.set_stance: unknown stance {stance!r}; expected one of {STANCES}"
            )
        self.stance = stance
        self.previous = _stance
        _stance = stance

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _stance
        _stance = self.previous

    def __call__(self, fn):
        global _stance
        _stance = self.previous  # as a decorator it applies while ``fn`` runs, not from now

        @functools.wraps(fn)
        def with_stance(*args, **kwargs):
            global _stance
            saved, _stance = _stance, self.stance
            try:
                return fn(*args, **kwargs)
            finally:
                _stance = saved

        return with_stance


def on_reset(hook) -> None:
    """Register ``hook()`` to be called by ``reset`` (the frontend clears its caches)."""
    _reset_hooks.append(hook)


def reset() -> None:
    """Forget every compiled variant of the functions ``kiln.compile`` made, as
    ``torch.compiler.reset``; their next calls trace and compile again."""
    for hook in _reset_hooks:
        hook()


def set_explainer(function) -> None:
    _explainer[:] = [function]


def explain(fn, *args, **kwargs):
    """``explain(fn)(*args)``: what compiling ``fn`` for these arguments gives or refuses.

    Returns an ``ExplainOutput`` (``graph_count``, ``graph_break_count``,
    ``break_reasons``, ``graphs``), as ``torch._dynamo.explain``.
    """
    if not _explainer:
        raise RuntimeError("kiln.compiler.explain needs the kiln frontend (import kiln)")
    if args or kwargs:
        return _explainer[0](fn, args, kwargs)
    return lambda *a, **k: _explainer[0](fn, a, k)


_tracing_probe = [lambda: False]  # [the frontend's ``is_tracing``], set at its import


def set_tracing_probe(probe) -> None:
    """Register ``probe()``: whether this thread's code runs under a kiln trace."""
    _tracing_probe[0] = probe


def is_compiling() -> bool:
    """Whether the code calling this is being traced for compilation (``kiln.jit``,
    ``kiln.compile``, ``kiln.export``), as ``torch.compiler.is_compiling``: a function can
    leave out what must not be traced (a print, a Python-side counter)."""
    return bool(_tracing_probe[0]())


is_dynamo_compiling = is_compiling  # (PyTorch's other name for it)
