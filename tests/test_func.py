"""kiln.func's transforms against torch.func, finite differences and loops of eager autograd;
their compositions, eagerly and under kiln.jit; forward_ad and autograd.functional.

torch.func's transforms other than ``vmap`` import torch._dynamo on first use (8 s), so
kiln's are checked against torch.autograd's equivalents (``autograd.grad``,
``autograd.functional.jacobian``/``hessian``: the same values); ``torch.func.vmap`` is
compared directly. torch calls with explicit ``grad_outputs`` are avoided too (they import
torch's symbolic shapes, 3 s).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.func as tf

import kiln
import kiln.autograd.forward_ad as fwAD
from kiln import nn
from kiln.autograd import functional as AF
from kiln.compiler.primitives import Primitive
from kiln.dispatch import bind
from kiln.func import (
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    stack_module_state,
    vjp,
    vmap,
)

RNG = np.random.default_rng(0)
TAF = torch.autograd.functional


def tgrad(f, argnums=0, has_aux=False):
    """torch's gradient of a scalar ``f`` (torch.func.grad's values, without dynamo)."""

    def g(*args):
        args = [
            a.detach().requires_grad_()
            if isinstance(a, torch.Tensor) and not a.requires_grad
            else a
            for a in args
        ]
        out = f(*args)
        value, aux = out if has_aux else (out, None)
        nums = (argnums,) if isinstance(argnums, int) else argnums
        grads = torch.autograd.grad(value, [args[i] for i in nums], create_graph=True)
        grads = grads[0] if isinstance(argnums, int) else grads
        return (grads, aux) if has_aux else grads

    return g


def tjac(f, argnums=0):
    nums = (argnums,) if isinstance(argnums, int) else argnums

    def j(*args):
        def partial(*diff):
            full = list(args)
            for i, d in zip(nums, diff):
                full[i] = d
            return f(*full)

        out = TAF.jacobian(partial, tuple(args[i] for i in nums))
        return out[0] if isinstance(argnums, int) else out

    return j


def thess(f):
    return lambda *args: TAF.hessian(lambda a: f(a, *args[1:]), args[0])


def arr(*shape):
    return RNG.standard_normal(shape)


def K(a):
    return kiln.from_numpy(np.asarray(a, dtype=np.float64))


def T(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def close(got, want, rtol=1e-6, atol=1e-8):
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want)
        for g, w in zip(got, want):
            close(g, w, rtol, atol)
        return
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    got = got.detach().numpy() if isinstance(got, kiln.Tensor) else np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def f_k(x, y):
    return (kiln.sin(x) * y).sum() + (x * x).sum() * y[0]


def f_t(x, y):
    return (torch.sin(x) * y).sum() + (x * x).sum() * y[0]


def vec_k(x):
    return kiln.stack([kiln.sin(x[0]) * x[1], x[0] * x[2] ** 2, kiln.exp(x[1])])


def vec_t(x):
    return torch.stack([torch.sin(x[0]) * x[1], x[0] * x[2] ** 2, torch.exp(x[1])])


# ----------------------------------------------------------------------------- vmap


def test_vmap_in_dims_out_dims_and_nesting_match_torch():
    a, b, c = arr(3, 4, 5), arr(5, 3), arr(4, 6)
    close(
        vmap(lambda x, y: x @ y, in_dims=(2, None), out_dims=1)(K(a), K(c)),
        tf.vmap(lambda x, y: x @ y, in_dims=(2, None), out_dims=1)(T(a), T(c)),
    )
    m = arr(2, 3, 4)
    close(
        vmap(vmap(lambda v: v.softmax(0) * v.sum()))(K(m)),
        tf.vmap(tf.vmap(lambda v: v.softmax(0) * v.sum()))(T(m)),
    )
    # nested, mapping different dimensions, and an output that is the same for all
    close(
        vmap(vmap(lambda u, v: (u * v, u.sum()), in_dims=(None, 0)), in_dims=(0, 1))(K(a), K(b)),
        tf.vmap(tf.vmap(lambda u, v: (u * v, u.sum()), in_dims=(None, 0)), in_dims=(0, 1))(
            T(a), T(b)
        ),
    )
    close(vmap(lambda v: kiln.ones(2))(K(b)), torch.ones(5, 2))
    close(
        vmap(lambda x, y: (x @ y, x.sum()), in_dims=(2, None), out_dims=(1, 0), chunk_size=2)(
            K(a), K(c)
        ),
        tf.vmap(lambda x, y: (x @ y, x.sum()), in_dims=(2, None), out_dims=(1, 0))(T(a), T(c)),
    )


def test_vmap_takes_pytrees_and_kwargs():
    p = {"w": arr(4, 3), "b": arr(3)}
    x = arr(4, 3)

    def fk(params, v, scale=1.0):
        return (params["w"] * v + params["b"]) * scale

    def ft(params, v, scale=1.0):
        return (params["w"] * v + params["b"]) * scale

    got = vmap(fk, in_dims=({"w": 0, "b": None}, 0))(
        {k: K(v) for k, v in p.items()}, K(x), scale=2.0
    )
    want = tf.vmap(ft, in_dims=({"w": 0, "b": None}, 0))(
        {k: T(v) for k, v in p.items()}, T(x), scale=2.0
    )
    close(got, want)


def test_vmap_errors_name_the_problem():
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        vmap(lambda a, b: a + b)(K(arr(3, 2)), K(arr(4, 2)))
    with pytest.raises(ValueError, match="out of range"):
        vmap(lambda a: a, in_dims=2)(K(arr(3, 2)))
    with pytest.raises(ValueError, match="at least one input must be batched"):
        vmap(lambda a: a, in_dims=None)(K(arr(3)))
    with pytest.raises(RuntimeError, match="data-dependent"):
        vmap(lambda a: a * 2 if a.sum() > 0 else a)(K(arr(3, 2)))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(lambda a: a + kiln.rand(2))(K(arr(3, 2)))
    with pytest.raises(ValueError, match="randomness"):
        vmap(lambda a: a, randomness="sometimes")


def test_a_primitive_without_a_rule_and_impossible_updates_raise_naming_the_op():
    bare = Primitive("bare_op", "elementwise", lambda s, d: (s[0], d[0]), np.negative)
    with pytest.raises(NotImplementedError, match="bare_op has no batching rule"):
        vmap(lambda a: bind(bare, (a,)))(K(arr(3, 2)))
    with pytest.raises(NotImplementedError, match="bare_op has no JVP rule"):
        jvp(lambda a: bind(bare, (a,)), (K(arr(2)),), (K(arr(2)),))
    shared = K(arr(2))
    with pytest.raises(RuntimeError, match="in-place update"):
        vmap(lambda a: shared.add_(a))(K(arr(3, 2)))
    w = K(arr(2)).requires_grad_()
    with pytest.raises(RuntimeError, match="kiln.func.grad"):
        vmap(lambda a: (w * a).sum().backward())(K(arr(3, 2)))


def test_vmap_randomness_same_and_different():
    x = K(np.zeros((4, 3)))
    same = vmap(lambda a: a + kiln.rand(3), randomness="same")(x).numpy()
    assert np.all(same == same[0]) and np.all((same >= 0) & (same < 1))
    different = vmap(lambda a: a + kiln.rand(3), randomness="different")(x).numpy()
    assert len({tuple(r) for r in different}) == 4
    drop = nn.Dropout(0.5)
    masks = vmap(lambda a: drop(a + 1.0), randomness="different")(K(np.zeros((6, 50)))).numpy()
    assert set(np.unique(masks)) <= {0.0, 2.0} and not np.all(masks == masks[0])


def test_vmap_in_place_updates_reach_the_input():
    x = K(arr(3, 4))
    before = x.numpy().copy()

    def bump(v):
        v.add_(1.0)
        return v * 2

    out = vmap(bump)(x)
    close(x, before + 1)
    close(out, (before + 1) * 2)


# ---------------------------------------------------------------------- reverse mode


def test_grad_and_value_argnums_and_aux_match_torch():
    x, y = arr(4), arr(4)
    close(grad(f_k)(K(x), K(y)), tgrad(f_t)(T(x), T(y)))
    close(grad(f_k, argnums=(0, 1))(K(x), K(y)), tgrad(f_t, argnums=(0, 1))(T(x), T(y)))
    g, (v, aux) = grad_and_value(lambda a, b: (f_k(a, b), a * 2), argnums=1, has_aux=True)(
        K(x), K(y)
    )
    gt, auxt = tgrad(lambda a, b: (f_t(a, b), a * 2), argnums=1, has_aux=True)(T(x), T(y))
    vt = f_t(T(x), T(y))
    close((g, v, aux), (gt, vt, auxt))
    # a dict of parameters, as for a functional model
    close(
        grad(lambda p: (p["a"] * p["b"]).sum())({"a": K(x), "b": K(y)})["a"],
        T(y),
    )
    with pytest.raises(RuntimeError, match="scalar"):
        grad(lambda a: a * 2)(K(x))


def test_vjp_and_jvp_match_torch():
    x = arr(3)
    out, fn = vjp(lambda a: (kiln.sin(a), a * a), K(x))
    ct = (K(arr(3)), K(arr(3)))
    xt = T(x).requires_grad_()
    outt = (torch.sin(xt), xt * xt)
    close(out, outt)
    weighted = sum((o * T(c.numpy())).sum() for o, c in zip(outt, ct))
    close(fn(ct), torch.autograd.grad(weighted, xt))
    close(fn(ct), fn(ct))  # callable again
    t = arr(3)
    close(jvp(vec_k, (K(x),), (K(t),)), (vec_t(T(x)), TAF.jacobian(vec_t, T(x)) @ T(t)))


def test_jacobians_and_hessian_match_torch_and_finite_differences():
    x = arr(3)
    jr, jf = jacrev(vec_k)(K(x)), jacfwd(vec_k)(K(x))
    close(jr, tjac(vec_t)(T(x)))
    close(jf, jr)
    eps = 1e-6
    fd = np.stack(
        [(vec_k(K(x + eps * e)) - vec_k(K(x - eps * e))).numpy() / (2 * eps) for e in np.eye(3)],
        axis=1,
    )
    close(jr, fd, rtol=1e-5, atol=1e-7)
    y = arr(3)
    close(jacrev(f_k, argnums=(0, 1))(K(x), K(y)), tjac(f_t, argnums=(0, 1))(T(x), T(y)))
    close(jacfwd(f_k, argnums=1)(K(x), K(y)), tjac(f_t, argnums=1)(T(x), T(y)))
    for make in (jacrev, jacfwd):
        jac, aux = make(lambda a: (vec_k(a), a * 3), has_aux=True)(K(x))
        close((jac, aux), (jr, 3 * x))
    close(hessian(f_k)(K(x), K(y)), thess(f_t)(T(x), T(y)))
    m = arr(2, 3)
    close(
        hessian(lambda a: (kiln.tanh(a) ** 2).sum())(K(m)),
        TAF.hessian(lambda a: (torch.tanh(a) ** 2).sum(), T(m)),
    )


def test_compositions_match_torch():
    x, y = arr(3), arr(3)
    close(jacrev(jacrev(f_k))(K(x), K(y)), thess(f_t)(T(x), T(y)))
    close(jacfwd(jacfwd(f_k))(K(x), K(y)), thess(f_t)(T(x), T(y)))
    close(
        grad(lambda a: grad(f_k)(a, K(y)).sum())(K(x)),
        tgrad(lambda a: tgrad(f_t)(a, T(y)).sum())(T(x)),
    )
    b = arr(5, 3)
    close(vmap(jacrev(vec_k))(K(b)), torch.stack([tjac(vec_t)(T(r)) for r in b]))
    close(
        vmap(hessian(f_k), in_dims=(0, None))(K(b), K(y)),
        torch.stack([thess(f_t)(T(r), T(y)) for r in b]),
    )
    close(
        grad(lambda a: vmap(f_k, in_dims=(0, None))(a, K(y)).sum())(K(b)),
        tgrad(lambda a: tf.vmap(f_t, in_dims=(0, None))(a, T(y)).sum())(T(b)),
    )
    # forward over the batched backward, with the tape on dual tensors
    g, hv = jvp(grad(f_k, argnums=(0, 1)), (K(x), K(y)), (K(y), K(x)))
    close(g, tgrad(f_t, argnums=(0, 1))(T(x), T(y)))
    h = TAF.hessian(f_t, (T(x), T(y)))
    close(hv, (h[0][0] @ T(y) + h[0][1] @ T(x), h[1][0] @ T(y) + h[1][1] @ T(x)))


# --------------------------------------------------------------- modules as functions


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(kiln.tanh(self.fc1(x)))


def _torch_mlp(model):
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    with torch.no_grad():
        for dst, src in zip(t.parameters(), model.parameters()):
            dst.copy_(T(src.detach().numpy()))
    return t


def test_per_sample_gradients_match_a_loop_and_torch_func():
    kiln.manual_seed(0)
    model = MLP().double()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, y = arr(6, 4), arr(6, 2)

    def loss(p, xb, yb):
        out = functional_call(model, p, (xb.unsqueeze(0),))
        return ((out - yb.unsqueeze(0)) ** 2).mean()

    got = vmap(grad(loss), in_dims=(None, 0, 0))(params, K(x), K(y))
    for i in range(6):
        model.zero_grad()
        ((model(K(x[i : i + 1])) - K(y[i : i + 1])) ** 2).mean().backward()
        for k, p in model.named_parameters():
            close(got[k][i], p.grad)
    tm = _torch_mlp(model)
    for i in range(6):
        tm.zero_grad()
        ((tm(T(x[i : i + 1])) - T(y[i : i + 1])) ** 2).mean().backward()
        for k, p in zip(params, tm.parameters()):
            close(got[k][i], p.grad)


def test_functional_call_tied_weights_buffers_and_strict():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3, bias=False)
            self.b = nn.Linear(3, 3, bias=False)
            self.b.weight = self.a.weight
            self.register_buffer("shift", kiln.zeros(3))

        def forward(self, x):
            return self.b(self.a(x)) + self.shift

    m = Tied()
    w, s, x = K(arr(3, 3)).float(), kiln.ones(3), K(arr(2, 3)).float()
    out = functional_call(m, ({"a.weight": w}, {"shift": s}), (x,))
    close(out, (x @ w.T) @ w.T + 1, rtol=1e-5)
    untied = functional_call(m, {"a.weight": w}, (x,), tie_weights=False)
    close(untied, (x @ w.T) @ m.a.weight.detach().T, rtol=1e-5)
    assert m.a.weight is m.b.weight and m.shift.sum().item() == 0  # restored
    with pytest.raises(RuntimeError, match="missing keys"):
        functional_call(m, {"a.weight": w}, (x,), strict=True)
    with pytest.raises(ValueError, match="multiple dictionaries"):
        functional_call(m, ({"shift": s}, {"shift": s}), (x,))


def test_stack_module_state_ensemble_matches_each_model():
    kiln.manual_seed(1)
    models = [MLP() for _ in range(3)]
    params, buffers = stack_module_state(models)
    assert params["fc1.weight"].shape == (3, 8, 4) and params["fc1.weight"].requires_grad
    x = kiln.randn(5, 4)
    out = vmap(lambda p, b: functional_call(models[0], (p, b), (x,)))(params, buffers)
    close(out, kiln.stack([m(x) for m in models]), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------- under jit


def test_jit_of_vmap_of_grad_is_one_graph_of_batched_primitives():
    kiln.manual_seed(2)
    model = MLP().double()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, x):
        return (functional_call(model, p, (x,)) ** 2).sum()

    per_sample = vmap(grad(loss), in_dims=(None, 0))
    small = kiln.trace(per_sample, params, K(arr(4, 3, 4)))
    large = kiln.trace(per_sample, params, K(arr(16, 3, 4)))
    assert len(small.nodes) == len(large.nodes)  # not a loop over the batch
    jitted = kiln.jit(per_sample)
    for _ in range(2):
        x = K(arr(8, 3, 4))
        got = jitted(params, x)
        want = per_sample(params, x)
        for k in params:
            close(got[k], want[k])
    assert jitted.trace_count == 1  # functional_call's swap does not force a retrace
    tm = _torch_mlp(model)
    for i in range(8):
        tm.zero_grad()
        (tm(T(x.numpy()[i])) ** 2).sum().backward()
        for k, p in zip(params, tm.parameters()):
            close(want[k][i], p.grad)


def test_vmap_of_jit_and_jit_of_jacobians():
    f = kiln.jit(lambda a, b: kiln.sin(a) * a.sum() + b)
    b = K(arr(3))
    for _ in range(2):
        x = K(arr(5, 3))
        close(vmap(f, in_dims=(0, None))(x, b), kiln.stack([kiln.sin(r) * r.sum() + b for r in x]))
    # compiled once as jit(vmap(f)), one graph of batched primitives
    (batched,) = f._batched_variants.values()
    assert batched.trace_count == 1 and f.trace_count == 0
    v = K(arr(3))
    close(
        kiln.jit(hessian(lambda a: (kiln.sin(a) * a).sum()))(v),
        hessian(lambda a: (kiln.sin(a) * a).sum())(v),
    )


# ------------------------------------------------------- torch.autograd's functional API


def test_forward_ad_matches_torch():
    x, t = arr(4), arr(4)
    with fwAD.dual_level():
        d = fwAD.make_dual(K(x), K(t))
        p, tan = fwAD.unpack_dual(kiln.tanh(d) * d.sum())
        assert fwAD.unpack_dual(K(x)).tangent is None
        with pytest.raises(RuntimeError, match="same shape"):
            fwAD.make_dual(K(x), K(arr(3)))

    def ft(a):
        return torch.tanh(a) * a.sum()

    pt, tant = ft(T(x)), TAF.jacobian(ft, T(x)) @ T(t)
    close((p, tan), (pt, tant))
    with pytest.raises(RuntimeError, match="dual level"):
        fwAD.make_dual(K(x), K(t))


def test_autograd_functional_matches_torch():
    x, y, v = arr(3), arr(3), arr(3)
    close(AF.jacobian(vec_k, K(x)), TAF.jacobian(vec_t, T(x)))
    close(
        AF.jacobian(vec_k, K(x), vectorize=True, strategy="forward-mode"), TAF.jacobian(vec_t, T(x))
    )
    close(AF.jacobian(f_k, (K(x), K(y))), TAF.jacobian(f_t, (T(x), T(y))))
    close(AF.hessian(f_k, (K(x), K(y))), TAF.hessian(f_t, (T(x), T(y))))
    jt = TAF.jacobian(vec_t, T(x))
    close(AF.vjp(vec_k, K(x), K(v)), (vec_t(T(x)), T(v) @ jt))
    close(AF.jvp(vec_k, K(x), K(v)), (vec_t(T(x)), jt @ T(v)))
    g = lambda a: (kiln.sin(a) * a).sum()  # noqa: E731
    gt = lambda a: (torch.sin(a) * a).sum()  # noqa: E731
    close(AF.vjp(lambda a: (a * a).sum(), K(x)), (K(x).dot(K(x)), 2 * K(x)))  # v=None
    ht = TAF.hessian(gt, T(x))
    close(AF.hvp(g, K(x), K(v)), (gt(T(x)), ht @ T(v)))
    close(AF.vhp(g, K(x), K(v)), (gt(T(x)), T(v) @ ht))
