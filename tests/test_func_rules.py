"""Every primitive's JVP and batching rule, through every row of the op table.

For each row of ``tests/op_table.py``: ``vmap`` against a Python loop (three ways of
batching the inputs), ``jvp`` against central finite differences, and ``vmap(grad)``
against a loop of eager autograd (the batching rules of the backward pass's primitives).
Primitives no row reaches are checked through ``EXTRA`` below; a primitive without a JVP
or batching rule, or reached by neither, fails ``test_every_primitive_has_rules_and_a_check``.
"""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln.compiler.primitives import PRIMITIVES
from kiln.func import grad, jvp, vmap
from kiln.func.pytree import flatten
from op_table import OPS, float_positions, make_inputs, primitives_of

B = 3


def _np(t):
    return t.detach().numpy()


def _leaves(out):
    return [x for x in flatten(out)[0]]


def _examples(op, dtype=np.float64):
    return [make_inputs(op, dtype, seed=10 + b) for b in range(B)]


def _check_same(got, want, op):
    got, want = _leaves(got), _leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape), (op.name, g.shape, w.shape)
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-6, atol=1e-9, err_msg=op.name)


def _stacked(outs):
    per = [_leaves(o) for o in outs]
    return [kiln.stack([p[k] for p in per]) for k in range(len(per[0]))]


def _batchings(op):
    """(in_dims, per-example inputs -> batched inputs) variants for a row."""
    n = len(op.shapes)
    variants = [("all_at_0", tuple([0] * n))]
    if op.shapes[0]:
        variants.append(("first_last_dim_rest_shared", (len(op.shapes[0]),) + (None,) * (n - 1)))
    if n > 1:
        variants.append(("first_shared", (None,) + (0,) * (n - 1)))
    return variants


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_vmap_matches_a_loop(op):
    examples = _examples(op)
    for label, in_dims in _batchings(op):
        shared = examples[0]
        args, per_example = [], []
        for k, d in enumerate(in_dims):
            if d is None:
                args.append(kiln.from_numpy(shared[k]))
            else:
                args.append(kiln.from_numpy(np.stack([e[k] for e in examples], axis=d)))
        for b in range(B):
            per_example.append(
                [
                    kiln.from_numpy(shared[k] if d is None else examples[b][k])
                    for k, d in enumerate(in_dims)
                ]
            )
        got = vmap(op.fn, in_dims=in_dims)(*args)
        want = _stacked([op.fn(*xs) for xs in per_example])
        try:
            _check_same(got, want, op)
        except AssertionError as exc:
            raise AssertionError(f"{op.name} batched {label}: {exc}") from None


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_jvp_matches_finite_differences(op):
    arrays = make_inputs(op, np.float64, seed=4)
    floats = float_positions(op)
    rng = np.random.default_rng(5)
    tangents = {k: rng.standard_normal(arrays[k].shape) for k in floats}

    def f(*fl):
        xs = [kiln.from_numpy(a) for a in arrays]
        for k, x in zip(floats, fl):
            xs[k] = x
        return op.fn(*xs)

    primals = tuple(kiln.from_numpy(arrays[k]) for k in floats)
    out, tangent_out = jvp(f, primals, tuple(kiln.from_numpy(tangents[k]) for k in floats))
    _check_same(out, f(*primals), op)
    eps = 1e-6

    def shifted(sign):
        return f(*(kiln.from_numpy(arrays[k] + sign * eps * tangents[k]) for k in floats))

    for t, hi, lo in zip(_leaves(tangent_out), _leaves(shifted(1)), _leaves(shifted(-1))):
        if not hi.dtype.is_floating_point:
            continue
        numeric = (_np(hi) - _np(lo)) / (2 * eps)  # 0 for piecewise constant (sign, floor)
        np.testing.assert_allclose(_np(t), numeric, rtol=1e-5, atol=1e-6, err_msg=op.name)


@pytest.mark.parametrize("op", [o for o in OPS if o.grad], ids=lambda o: o.name)
def test_vmap_of_grad_matches_a_loop_of_autograd(op):
    examples = _examples(op)
    k = float_positions(op)[0]
    weights = None

    def loss(x, *rest):
        nonlocal weights
        xs = list(rest)
        xs.insert(k, x)
        out = [o for o in _leaves(op.fn(*xs)) if o.dtype.is_floating_point]
        if weights is None:
            rng = np.random.default_rng(1)
            weights = [rng.standard_normal(tuple(o.shape)) for o in out]
        return sum((o * kiln.from_numpy(w)).sum() for o, w in zip(out, weights))

    def rest_of(e):
        return [kiln.from_numpy(a) for j, a in enumerate(e) if j != k]

    want = []
    for e in examples:
        x = kiln.from_numpy(e[k]).requires_grad_()
        want.append(kiln.autograd.grad(loss(x, *rest_of(e)), x)[0])
    batched = [kiln.from_numpy(np.stack([e[j] for e in examples])) for j in range(len(op.shapes))]
    x = batched.pop(k)
    got = vmap(grad(loss))(x, *batched)
    _check_same(got, kiln.stack(want), op)


# Primitives that no row of the op table reaches: a direct check of each.
def _pad(x):
    return kiln.ops.pad_axes(x, ((1, 2), (0, 1)), 0.5)


EXTRA = {
    "ne": (lambda a, b: (a != b).to(kiln.float64) * a, ((3, 4), (4,))),
    "pad": (_pad, ((3, 4),)),
}


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_primitives_outside_the_op_table(name):
    fn, shapes = EXTRA[name]
    rng = np.random.default_rng(0)
    per = [[rng.standard_normal(s) for s in shapes] for _ in range(B)]
    got = vmap(fn)(*(kiln.from_numpy(np.stack([p[k] for p in per])) for k in range(len(shapes))))
    want = kiln.stack([fn(*(kiln.from_numpy(a) for a in p)) for p in per])
    np.testing.assert_allclose(_np(got), _np(want))
    xs = [kiln.from_numpy(a) for a in per[0]]
    ts = [kiln.from_numpy(rng.standard_normal(s)) for s in shapes]
    eps = 1e-6
    _, t = jvp(fn, tuple(xs), tuple(ts))
    hi = fn(*(x + eps * v for x, v in zip(xs, ts)))
    lo = fn(*(x - eps * v for x, v in zip(xs, ts)))
    np.testing.assert_allclose(_np(t), _np((hi - lo) / (2 * eps)), rtol=1e-5, atol=1e-6)


def test_every_primitive_has_rules_and_a_check():
    missing_jvp = sorted(n for n, p in PRIMITIVES.items() if not p.has_jvp)
    missing_batch = sorted(n for n, p in PRIMITIVES.items() if not p.has_batch)
    assert not missing_jvp, f"primitives without a JVP rule: {missing_jvp}"
    assert not missing_batch, f"primitives without a batching rule: {missing_batch}"
    # uniform is checked by test_func.py's randomness tests
    checked = primitives_of(OPS) | set(EXTRA) | {"uniform"}
    unchecked = sorted(set(PRIMITIVES) - checked)
    assert not unchecked, f"primitives that no test checks: {unchecked} (add a row or EXTRA)"
