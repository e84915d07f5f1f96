"""kiln.jit from several threads at once: one trace per signature, every result right.

A ``JitFunction`` looks its cache up without a lock; a miss takes the function's lock and
looks again before tracing, so threads that make the same first call together trace once
and the others reuse that variant. Threads start together at a ``threading.Barrier`` and
the interpreter switches threads every 10 microseconds, so the calls really overlap.
"""

import sys
import threading

import numpy as np
import pytest

import kiln
import kiln.nn as nn
import kiln.nn.functional as F

THREADS = 8


@pytest.fixture(autouse=True)
def _threads_switch_often():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _run_together(work, count=THREADS):
    """Run ``work(k)`` in ``count`` threads released at once; return results by ``k``."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def target(k):
        try:
            barrier.wait()
            results[k] = work(k)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _layer(x, w, b):
    h = x @ w + b
    return kiln.tanh(h) * 0.5 + (h * h).mean(dim=1, keepdim=True)


def test_concurrent_first_calls_trace_once():
    x, w, b = kiln.randn(4, 6), kiln.randn(6, 5), kiln.randn(5)
    expected = _layer(x, w, b).numpy()
    compiled = kiln.jit(_layer)

    results = _run_together(lambda k: compiled(x, w, b).numpy())

    assert compiled.trace_count == 1
    assert sum(len(variants) for variants in compiled.cache.values()) == 1
    for got in results:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_concurrent_calls_with_different_shapes_trace_each_shape_once():
    sizes = [2, 3, 5, 7]
    inputs = {n: (kiln.randn(n, 6), kiln.randn(6, 4), kiln.randn(4)) for n in sizes}
    expected = {n: _layer(*inputs[n]).numpy() for n in sizes}
    compiled = kiln.jit(_layer)

    def work(k):
        got = []
        for step in range(3):  # misses of new shapes overlap hits of compiled ones
            n = sizes[(k + step) % len(sizes)]
            got.append((n, compiled(*inputs[n]).numpy()))
        return got

    results = _run_together(work)

    # two sizes are traced (the second makes the dimension dynamic), the others are
    # specialized from its symbolic graph
    assert compiled.trace_count + compiled.specialize_count == len(sizes)
    assert compiled.trace_count == 2
    assert len(compiled.cache) == len(sizes)
    for got in results:
        for n, value in got:
            np.testing.assert_allclose(value, expected[n], rtol=1e-5, atol=1e-6)


def test_concurrent_first_calls_of_a_module_with_python_scalars():
    layer = nn.Linear(6, 3)
    compiled = kiln.jit(lambda x, scale: F.relu(layer(x)) * scale)
    xs = [kiln.randn(4, 6) for _ in range(THREADS)]
    with kiln.no_grad():
        expected = [(F.relu(layer(x)) * float(k)).numpy() for k, x in enumerate(xs)]

    def work(k):
        with kiln.no_grad():  # grad mode is part of the key: every thread sets it
            return compiled(xs[k], float(k)).numpy()

    results = _run_together(work)

    assert compiled.trace_count == 1  # a Python float is a graph input, not part of the key
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
