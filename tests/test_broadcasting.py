"""Hypothesis: binary ops broadcast like NumPy, forward and backward, eager and jit."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kiln

OPS = {
    "add": (lambda a, b: a + b, np.add),
    "mul": (lambda a, b: a * b, np.multiply),
    "sub": (lambda a, b: a - b, np.subtract),
    "maximum": (kiln.maximum, np.maximum),
    "where": (lambda a, b: kiln.where(a > b, a, b), lambda a, b: np.where(a > b, a, b)),
}


@settings(max_examples=60, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
    op=st.sampled_from(sorted(OPS)),
    seed=st.integers(0, 2**16),
)
def test_broadcast_forward_and_backward(shapes, op, seed):
    fn, ref = OPS[op]
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shapes.input_shapes[0])
    b = rng.standard_normal(shapes.input_shapes[1])
    ta = kiln.tensor(a, requires_grad=True)
    tb = kiln.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    want = ref(a, b)
    assert tuple(out.shape) == shapes.result_shape
    np.testing.assert_allclose(out.detach().numpy(), want)
    out.sum().backward()
    # d(sum)/d(input) sums the broadcast copies: for add it counts them exactly
    assert ta.grad.shape == ta.shape and tb.grad.shape == tb.shape
    if op == "add":
        copies_a = np.prod(shapes.result_shape) / max(np.prod(shapes.input_shapes[0]), 1)
        np.testing.assert_allclose(ta.grad.numpy(), np.full(a.shape, copies_a))
    if op == "mul":
        expected = sum_to(np.broadcast_to(b, shapes.result_shape), a.shape)
        np.testing.assert_allclose(ta.grad.numpy(), expected, rtol=1e-10)


def sum_to(g, shape):
    """NumPy reference for reducing a broadcast gradient back to ``shape``."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


@settings(max_examples=25, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=5),
    op=st.sampled_from(sorted(OPS)),
)
def test_broadcast_jit_matches_eager(shapes, op):
    fn, _ = OPS[op]
    rng = np.random.default_rng(0)
    a = kiln.from_numpy(rng.standard_normal(shapes.input_shapes[0]).astype(np.float32))
    b = kiln.from_numpy(rng.standard_normal(shapes.input_shapes[1]).astype(np.float32))
    np.testing.assert_allclose(kiln.jit(fn)(a, b).numpy(), fn(a, b).numpy(), rtol=1e-6)
