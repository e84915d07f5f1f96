"""The harness of the stale-trace probe files (tests/test_stale17.py, 19, 25, 26).

A probe is written once against a ``torch``-like module ``T``: ``fn(T, compile)`` changes
something between calls of ``compile(f)`` and returns ``(compiled results, eager
results)``. It runs on kiln under ``kiln.compile(fullgraph=True)`` (so a probe cannot pass
by falling back to eager) and ``kiln.jit``; a probe registered with ``torch_too`` also runs
on PyTorch (``torch.compile(backend="eager")``), which must agree with its own eager result.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kiln


def to_numpy(v):
    """A tensor's (or a list of them) values as NumPy arrays of its own dtype."""
    if isinstance(v, (list, tuple)):
        return [to_numpy(a) for a in v]
    if hasattr(v, "detach"):
        return np.asarray(v.detach().numpy())
    return np.asarray(v)


def _values(v):
    """``(dtype name, array)`` of a tensor, array or number; lists element by element.
    Floating values widen to float64 for the comparison (NumPy has no bfloat16), after
    their dtype was read."""
    if isinstance(v, (list, tuple)):
        return [_values(a) for a in v]
    if hasattr(v, "detach"):
        v = v.detach()
        name = str(v.dtype).split(".")[-1]
        if v.dtype.is_complex:
            return name, np.asarray(v.numpy())
        return name, np.asarray(v.double().numpy() if v.dtype.is_floating_point else v.numpy())
    a = np.asarray(v)
    return str(a.dtype), a


def close(a, b):
    """``a`` and ``b`` (results of one library) have the same structure, dtypes and shapes,
    and values within 1e-5 relative, 1e-6 absolute."""
    _close_values(_values(a), _values(b))


def _close_values(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for p, q in zip(a, b):
            _close_values(p, q)
        return
    (adt, a), (bdt, b) = a, b
    assert a.shape == b.shape, (a.shape, b.shape)
    assert adt == bdt, (adt, bdt)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def kiln_compile(fn):
    return kiln.compile(fn, fullgraph=True)


def kiln_jit(fn):
    return kiln.jit(fn)


COMPILERS = {"kiln.compile": kiln_compile, "kiln.jit": kiln_jit}


def x_of(T):
    return T.tensor([1.0, -2.0, 3.0])


def twice(T, compile, f, *inputs):
    """Call ``compile(f)`` on each input tuple; return (compiled, eager) result lists."""
    c = compile(f)
    return [c(*i) for i in inputs], [f(*i) for i in inputs]


class Probes:
    """One file's probes: ``@probes.probe()`` registers ``fn(T, compile)``; ``tests(torch)``,
    called after the last probe, makes the file's two parametrized tests."""

    def __init__(self, torch_too: bool):
        self.default = torch_too
        self.all: dict = {}
        self.torch_too: set = set()

    def probe(self, torch_too=None):
        def register(fn):
            self.all[fn.__name__] = fn
            if self.default if torch_too is None else torch_too:
                self.torch_too.add(fn.__name__)
            return fn

        return register

    def tests(self, torch):
        probes = self.all

        @pytest.mark.parametrize("how", list(COMPILERS))
        @pytest.mark.parametrize("name", sorted(probes))
        def test_probe_agrees_with_eager(name, how):
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)  # (no "runs eagerly" fallback)
                compiled, eager = probes[name](kiln, COMPILERS[how])
            close(compiled, eager)

        @pytest.mark.parametrize("name", sorted(self.torch_too))
        def test_probe_is_what_torch_compile_does(name):
            """The same probe on PyTorch: torch.compile agrees with eager there too (so
            kiln's retrace is PyTorch's behaviour, not a stricter one)."""
            torch._dynamo.reset()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compiled, eager = probes[name](torch, lambda f: torch.compile(f, backend="eager"))
            close(compiled, eager)

        return test_probe_agrees_with_eager, test_probe_is_what_torch_compile_does
