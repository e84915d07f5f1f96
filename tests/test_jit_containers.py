"""A compiled function that changes a list or dict argument in place.

The trace runs on copies of the argument containers (tracers stand in for their tensors),
so such a change could never reach the caller's object: kiln.compile runs the function
eagerly instead, as torch.compile's result is the eager one; kiln.jit refuses it by name.
Reading containers, and in-place tensor ops on their items, stay compiled."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kiln
from kiln.compiler.errors import TraceError

torch = pytest.importorskip("torch")


def _mutating(x, lst, d):
    lst.append(x.sum())
    d["k"] = x * 2
    return x + 1


def _run(lib, compile_, fn):
    g = compile_(fn)
    lst, d = [], {}
    lengths = []
    for _ in range(3):
        out = g(lib.ones(2), lst, d)
        lengths.append(len(lst))
    return lengths, sorted(d), [float(v) for v in lst], out.tolist()


def test_kiln_compile_runs_a_container_changing_function_as_torch_compile():
    want = _run(torch, lambda f: torch.compile(f, backend="eager"), _mutating)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _run(kiln, kiln.compile, _mutating)
    assert got == want


@pytest.mark.parametrize(
    "change",
    [
        lambda x, lst: lst.append(x),
        lambda x, lst: lst.__setitem__(0, x * 3),
        lambda x, lst: lst.pop(),
        lambda x, lst: lst[1].update(a=x),
    ],
    ids=["append", "setitem", "pop", "nested_dict"],
)
def test_kiln_jit_refuses_a_changed_container_by_name(change):
    def f(x, lst):
        change(x, lst)
        return x * 2

    with pytest.raises(TraceError, match="changed the list or dict argument 1"):
        kiln.jit(f)(kiln.ones(2), [kiln.zeros(2), {"a": kiln.ones(1)}])


def test_reading_containers_and_in_place_tensor_ops_on_their_items_stay_compiled():
    def f(xs, cfg):
        xs[0].add_(1)
        return xs[0] * cfg["scale"] + xs[1]

    def run(lib, compile_):
        g = compile_(f)
        xs = [lib.ones(2), lib.full((2,), 3.0)]
        outs = [g(xs, {"scale": 2.0}).tolist() for _ in range(3)]
        return outs, xs[0].tolist()

    want = run(torch, lambda f: torch.compile(f, backend="eager"))
    g = kiln.jit(f)
    assert run(kiln, lambda f: g) == want
    assert g.trace_count == 1
    np.testing.assert_array_equal(want[1], [4.0, 4.0])


@pytest.mark.parametrize("dynamic", [False, True])
def test_a_returned_shape_is_a_size_as_torch_compile_returns(dynamic):
    def f(x):
        return x + 1, x.shape, x.shape[1:]

    def run(lib, compile_):
        g = compile_(f)
        outs = [g(lib.ones(n, 3)) for n in (2, 4, 5)]
        return [(type(o[1]).__name__, tuple(o[1]), type(o[2]).__name__) for o in outs]

    want = run(torch, lambda f: torch.compile(f, backend="eager", dynamic=dynamic))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run(kiln, lambda f: kiln.compile(f, dynamic=dynamic)) == want
    assert want[0][0] == "Size"
