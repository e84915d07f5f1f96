"""autograd.Function under forward-mode AD (its ``jvp``) and under ``kiln.func.vmap`` (its
``vmap`` staticmethod or ``generate_vmap_rule=True``), against PyTorch's rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(7)


def _make_classes(lib):
    """The same custom Functions written for torch and for kiln."""
    Function = lib.autograd.Function  # noqa: N806

    class ScaledExp(Function):
        """``exp(x) * k``; ``jvp`` and ``backward`` by hand (jvp deliberately uses the
        forward-saved tensor)."""

        @staticmethod
        def forward(ctx, x, k):
            out = lib.exp(x) * k
            ctx.save_for_backward(out)
            ctx.save_for_forward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * out, None

        @staticmethod
        def jvp(ctx, tx, tk):
            (out,) = ctx.saved_tensors
            return tx * out

    class Mul(Function):
        """``x * y`` in the functorch style (setup_context), vmap by generated rule."""

        generate_vmap_rule = True

        @staticmethod
        def forward(x, y):
            return x * y

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)
            ctx.save_for_forward(*inputs)

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y, g * x

        @staticmethod
        def jvp(ctx, tx, ty):
            x, y = ctx.saved_tensors
            return tx * y + x * ty

    class Cube(Function):
        """``x ** 3`` with a hand-written vmap rule (moves the batch dim to the front)."""

        calls: list = []

        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

        @staticmethod
        def vmap(info, in_dims, x):
            Cube.calls.append((info.batch_size, info.randomness, in_dims, tuple(x.shape)))
            (dim,) = in_dims
            if dim is not None:
                x = x.movedim(dim, 0)
            return x**3, 0 if dim is not None else None

    class NoJvp(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class NoVmap(Function):
        @staticmethod
        def forward(x):
            return x * 2

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class SortAndIndex(Function):
        """Two outputs, one non-differentiable."""

        @staticmethod
        def forward(ctx, x):
            values, indices = lib.sort(x)
            ctx.mark_non_differentiable(indices)
            ctx.save_for_forward(indices)
            return values, indices

        @staticmethod
        def backward(ctx, g, _):
            raise AssertionError("not used")

        @staticmethod
        def jvp(ctx, tx):
            (indices,) = ctx.saved_tensors
            return lib.gather(tx, 0, indices), None

    return {c.__name__: c for c in (ScaledExp, Mul, Cube, NoJvp, NoVmap, SortAndIndex)}


CLASSES = {lib: _make_classes(lib) for lib in (torch, kiln)}


def _np(x):
    return x.detach().numpy()


def _forward_ad(lib, fn, primals, tangents):
    fw = lib.autograd.forward_ad
    with fw.dual_level():
        duals = [
            fw.make_dual(lib.tensor(p), lib.tensor(t)) if t is not None else lib.tensor(p)
            for p, t in zip(primals, tangents)
        ]
        out = fn(lib, *duals)
        outs = out if isinstance(out, tuple) else (out,)
        return [(_np(fw.unpack_dual(o).primal), fw.unpack_dual(o).tangent) for o in outs]


FORWARD_AD = [
    ("scaled_exp", lambda lib, x: CLASSES[lib]["ScaledExp"].apply(x, 3.0), 1),
    ("mul_one_dual", lambda lib, x, y: CLASSES[lib]["Mul"].apply(x, y), (0,)),
    ("mul_both_dual", lambda lib, x, y: CLASSES[lib]["Mul"].apply(x, y), (0, 1)),
    ("chain", lambda lib, x: lib.sin(CLASSES[lib]["ScaledExp"].apply(lib.cos(x), 0.5)) * 2, 1),
    ("two_outputs", lambda lib, x: CLASSES[lib]["SortAndIndex"].apply(x), 1),
]


@pytest.mark.parametrize("name,fn,duals", FORWARD_AD, ids=[n for n, _, _ in FORWARD_AD])
def test_forward_ad_uses_the_jvp_like_torch(name, fn, duals):
    n_args = 2 if name.startswith("mul") else 1
    primals = [RNG.standard_normal(5).astype(np.float32) for _ in range(n_args)]
    dual_at = range(n_args) if duals == 1 else duals
    tangents = [
        RNG.standard_normal(5).astype(np.float32) if i in dual_at else None for i in range(n_args)
    ]
    expected = _forward_ad(torch, fn, primals, tangents)
    got = _forward_ad(kiln, fn, primals, tangents)
    for (p_t, t_t), (p_k, t_k) in zip(expected, got, strict=True):
        np.testing.assert_allclose(p_k, p_t, rtol=1e-6)
        assert (t_t is None) == (t_k is None)
        if t_t is not None:
            np.testing.assert_allclose(_np(t_k), _np(t_t), rtol=1e-5, atol=1e-6)


def test_forward_ad_jvp_sees_zero_and_none_tangents():
    seen = {}

    class Spy(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, k):
            seen["forward_types"] = (type(x).__name__, type(y).__name__)
            return x * y * k

        @staticmethod
        def jvp(ctx, tx, ty, tk):
            seen["tangents"] = (tx, ty, tk)
            return tx

        @staticmethod
        def backward(ctx, g):
            return g, g, None

    fw = kiln.autograd.forward_ad
    with fw.dual_level():
        x = fw.make_dual(kiln.tensor([1.0, 2.0]), kiln.tensor([1.0, 1.0]))
        Spy.apply(x, kiln.tensor([3.0, 4.0]), 2.0)
    assert seen["forward_types"] == ("Tensor", "Tensor")  # forward sees primals, as torch
    tx, ty, tk = seen["tangents"]
    assert tx.tolist() == [1.0, 1.0] and ty.tolist() == [0.0, 0.0] and tk is None


def test_forward_ad_without_jvp_raises_like_torch():
    for lib in (torch, kiln):
        fw = lib.autograd.forward_ad
        with fw.dual_level(), pytest.raises(NotImplementedError, match="jvp function"):
            CLASSES[lib]["NoJvp"].apply(fw.make_dual(lib.ones(2), lib.ones(2)))


def test_func_jvp_and_jacfwd_use_the_jvp_like_torch():
    x, y = RNG.standard_normal(4).astype(np.float32), RNG.standard_normal(4).astype(np.float32)
    tx, ty = RNG.standard_normal(4).astype(np.float32), RNG.standard_normal(4).astype(np.float32)
    results = []
    for lib in (torch, kiln):
        mul = CLASSES[lib]["Mul"].apply
        p = (lib.tensor(x), lib.tensor(y))
        out, tangent = lib.func.jvp(mul, p, (lib.tensor(tx), lib.tensor(ty)))
        jac = lib.func.jacfwd(lambda a, b, m=mul: m(a, b).sin(), argnums=(0, 1))(*p)
        results.append([_np(out), _np(tangent), _np(jac[0]), _np(jac[1])])
    for e, g in zip(*results, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    # a ctx-style forward cannot run under the functorch transforms (torch's rule)
    for lib in (torch, kiln):
        with pytest.raises(RuntimeError, match="setup_context"):
            scaled_exp = CLASSES[lib]["ScaledExp"].apply
            lib.func.jvp(lambda a, f=scaled_exp: f(a, 1.0), (lib.ones(2),), (lib.ones(2),))


@pytest.mark.parametrize("in_dims", [0, 1, (0, None), (None, 1)], ids=str)
def test_vmap_with_generated_rule_like_torch(in_dims):
    x = RNG.standard_normal((3, 3)).astype(np.float32)
    y = RNG.standard_normal((3, 3)).astype(np.float32)
    outs = []
    for lib in (torch, kiln):
        mul = CLASSES[lib]["Mul"].apply
        outs.append(_np(lib.func.vmap(mul, in_dims=in_dims)(lib.tensor(x), lib.tensor(y))))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-6)


@pytest.mark.parametrize("in_dims", [0, 1], ids=str)
def test_vmap_with_custom_rule_like_torch(in_dims):
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    outs = []
    for lib in (torch, kiln):
        cube = CLASSES[lib]["Cube"]
        cube.calls.clear()
        outs.append(_np(lib.func.vmap(cube.apply, in_dims=in_dims)(lib.tensor(x))))
        outs.append(list(cube.calls))
    np.testing.assert_allclose(outs[2], outs[0], rtol=1e-6)
    assert outs[3] == outs[1]  # the rule saw the same batch size, randomness, dims, shape


@pytest.mark.parametrize("name", ["Mul", "Cube"])
def test_grad_inside_vmap_runs_backward_batched_like_torch(name):
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    y = RNG.standard_normal(3).astype(np.float32)
    outs = []
    for lib in (torch, kiln):
        fn = CLASSES[lib][name].apply
        w = lib.tensor(y)

        def loss(v, fn=fn, w=w, lib=lib):
            out = fn(v, w) if name == "Mul" else fn(v)
            return (lib.sin(out) * w).sum()

        outs.append(_np(lib.func.vmap(lib.func.grad(loss))(lib.tensor(x))))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)


def test_vmap_refuses_functions_without_support_like_torch():
    for lib in (torch, kiln):
        with pytest.raises(RuntimeError, match="setup_context"):
            lib.func.vmap(CLASSES[lib]["NoJvp"].apply)(lib.ones(3, 2))
        with pytest.raises(RuntimeError, match="does not have vmap support"):
            lib.func.vmap(CLASSES[lib]["NoVmap"].apply)(lib.ones(3, 2))


def test_plain_calls_are_unchanged_and_record_backward():
    mul = CLASSES[kiln]["Mul"].apply
    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    mul(x, kiln.tensor([3.0, 5.0])).sum().backward()
    assert x.grad.tolist() == [3.0, 5.0]
    jitted = kiln.jit(lambda a: CLASSES[kiln]["Cube"].apply(a).sum())
    assert jitted(kiln.tensor([2.0, 3.0])).item() == 35.0


def test_transform_rules_trace_under_jit():
    cube, mul = CLASSES[kiln]["Cube"], CLASSES[kiln]["Mul"]
    x = kiln.tensor(RNG.standard_normal((2, 3)).astype(np.float32))
    t = kiln.tensor(RNG.standard_normal((2, 3)).astype(np.float32))
    eager = kiln.func.vmap(cube.apply, in_dims=1)(x)
    jitted = kiln.jit(kiln.func.vmap(cube.apply, in_dims=1))(x)
    np.testing.assert_allclose(jitted.numpy(), eager.numpy(), rtol=1e-6)
    out, tangent = kiln.jit(lambda a, b: kiln.func.jvp(mul.apply, (a, a), (b, b)))(x, t)
    np.testing.assert_allclose(tangent.numpy(), 2 * x.numpy() * t.numpy(), rtol=1e-6)
    grads = kiln.jit(kiln.func.vmap(kiln.func.grad(lambda v: cube.apply(v).sum())))(x)
    np.testing.assert_allclose(grads.numpy(), 3 * x.numpy() ** 2, rtol=1e-6)
