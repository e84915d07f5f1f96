"""Eager speed work (issue 14 item 9): each fast path gives what the general path gives.

* ``relu`` by ``np.maximum(0, x)`` (kiln/autograd/fused.py): the select's bits, the same
  gradient and node, NaN, -0.0, 0-d, empty and strided inputs, in-place errors;
* the ``uniform`` primitive's eager implementation (kiln/dispatch.py): the op table's bits;
* the tape (kiln/autograd/tape.py): ``record`` skips integer and bool results, ``rename``
  shows PyTorch's edges, ``backward()``'s implicit gradient of a one-element output;
* SGD's per-group eager loop (kiln/optim/sgd.py): the dispatched step's bits, its state,
  version counters, and the fallbacks (a view parameter, a parameter without a gradient);
* ``Tensor.ndim`` read from the array where ``shape`` is the array's.
"""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln.autograd import fused
from kiln.compiler.primitives import PRIMITIVES
from kiln.optim import sgd as sgd_module

torch = pytest.importorskip("torch")


def _bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _special(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray((rng.standard_normal(shape) * 3).astype(dtype))
    flat = x.reshape(-1)
    flat[::7] = np.nan
    flat[1::5] = -0.0
    flat[2::13] = np.inf
    flat[3::17] = -np.inf
    return x


# ------------------------------------------------------------------------------ relu


def _relu_run(monkeypatch, by_maximum, x, g, enabled=True):
    monkeypatch.setattr(fused, "_RELU_BY_MAXIMUM", by_maximum)
    monkeypatch.setattr(fused, "ENABLED", enabled)
    t = kiln.tensor(x, requires_grad=True)
    y = kiln.relu(t)
    name = y.grad_fn.name()
    y.backward(kiln.tensor(g))
    with kiln.no_grad():
        plain = kiln.relu(kiln.tensor(x))
    return y.detach().numpy().copy(), t.grad.numpy().copy(), name, plain.numpy().copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (33, 17), (300, 100)], ids=str)
def test_relu_by_maximum_is_the_select_and_the_composite(monkeypatch, dtype, shape):
    assert fused._RELU_BY_MAXIMUM  # (this NumPy passed the import-time check)
    x, g = _special(shape, dtype, 1), _special(shape, dtype, 2)
    fast = _relu_run(monkeypatch, True, x, g)
    select = _relu_run(monkeypatch, False, x, g)
    composite = _relu_run(monkeypatch, True, x, g, enabled=False)
    for other in (select, composite):
        _bits(fast[0], other[0])
        _bits(fast[1], other[1])
        _bits(fast[3], other[3])
    assert fast[2] == select[2] == "ReluBackward0"
    # PyTorch keeps -0.0 and NaN too
    expected = torch.relu(torch.from_numpy(x.copy())).numpy()
    _bits(fast[0], expected)


def test_relu_of_a_strided_view_and_in_place_errors():
    base = _special((40, 30), np.float32, 3)
    view = kiln.tensor(base)[:, ::3]
    _bits(kiln.relu(view).numpy(), np.where(base[:, ::3] < 0, np.float32(0), base[:, ::3]))
    leaf = kiln.tensor(base, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        kiln.relu_(leaf) if hasattr(kiln, "relu_") else leaf.relu_()
    y = kiln.relu(leaf)
    y.mul_(2)  # relu saves its result: backward must refuse the changed value
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_relu_of_integer_and_bool_tensors_is_unchanged():
    for values, name in (([-2, 0, 3], "int64"), ([-7, 5], "int32")):
        got = kiln.relu(kiln.tensor(values, dtype=getattr(kiln, name)))
        expected = torch.relu(torch.tensor(values, dtype=getattr(torch, name)))
        assert got.dtype is getattr(kiln, name)
        assert got.tolist() == expected.tolist()
    with pytest.raises(RuntimeError, match="Boolean"):
        kiln.relu(kiln.tensor([True, False]))
    with pytest.raises(RuntimeError, match="Boolean"):
        torch.relu(torch.tensor([True, False]))


# ------------------------------------------------------------------------------ uniform


@pytest.mark.parametrize(
    "key, counter", [(0, 0), (123, 45), (2**64 - 1, 2**64 - 1), (5, 2**63 + 7)]
)
def test_eager_uniform_is_the_primitive_bit_for_bit(key, counter):
    from kiln.dispatch import eager_impl

    fast, reference = eager_impl("uniform"), PRIMITIVES["uniform"].impl
    assert fast is not reference
    seed = np.array([key, counter], dtype=np.uint64)
    for shape, dtype in (
        ((64, 128), "float32"),
        ((3,), "float64"),
        ((), "float32"),
        ((0, 5), "float16"),
    ):
        _bits(fast(seed, shape, dtype), reference(seed, shape, dtype))
    # the reused generator carries nothing from one call to the next
    _bits(fast(seed, (5,), "float64"), reference(seed, (5,), "float64"))


def test_rand_and_dropout_repeat_under_manual_seed_and_match_jit():
    kiln.manual_seed(7)
    a = kiln.rand(4, 5)
    kiln.manual_seed(7)
    b = kiln.rand(4, 5)
    _bits(a.numpy(), b.numpy())
    x = kiln.ones(64, 128)
    kiln.manual_seed(3)
    eager = kiln.nn.functional.dropout(x, 0.25)
    kiln.manual_seed(3)
    jitted = kiln.jit(lambda t: kiln.nn.functional.dropout(t, 0.25))(x)
    _bits(eager.numpy(), jitted.numpy())


# ------------------------------------------------------------------------------ tape


def test_record_skips_integer_and_bool_results_and_keeps_float_ones():
    x = kiln.tensor([1.5, -2.0, 3.0], requires_grad=True)
    for out in (x > 0, x.argmax(), x.to(kiln.int32)):
        assert out.grad_fn is None and not out.requires_grad
    for dtype in (kiln.float16, kiln.float64, kiln.complex64):
        out = x.to(dtype)
        assert out.requires_grad and out.grad_fn.name() == "ToCopyBackward0"
    y = x.exp()
    assert y.grad_fn.name() == "ExpBackward0" and y.grad_fn._saved_result is not None
    y.sum().backward()
    _bits(x.grad.numpy(), np.exp(x.detach().numpy()))


def test_linear_and_transpose_nodes_show_pytorchs_edges():
    x = kiln.ones(2, 3, requires_grad=True)
    lin = kiln.nn.Linear(3, 4)
    y = lin(x)
    names = [type(fn).__name__ if fn is not None else None for fn, _ in y.grad_fn.next_functions]
    tl = torch.nn.Linear(3, 4)
    ty = tl(torch.ones(2, 3, requires_grad=True))
    expected = [
        type(fn).__name__ if fn is not None else None for fn, _ in ty.grad_fn.next_functions
    ]
    assert y.grad_fn.name() == ty.grad_fn.name() == "AddmmBackward0"
    assert names == ["AccumulateGrad", "AccumulateGrad", "TBackward0"] == expected
    t = x.t()
    assert t.grad_fn.name() == "TBackward0"
    assert type(t.grad_fn.next_functions[0][0]).__name__ == "AccumulateGrad"
    assert kiln.nn.functional.linear(x, lin.weight.detach()).grad_fn.name() == "MmBackward0"


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("shape", [(), (1,), (1, 1)], ids=str)
def test_implicit_gradient_of_a_one_element_output(dtype, shape):
    values = np.array([0.5, -1.25, 2.0], dtype=dtype)
    x = kiln.tensor(values, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    (x * x).sum().reshape(shape).backward()
    (tx * tx).sum().reshape(shape).backward()
    assert x.grad.dtype is getattr(kiln, dtype)
    _bits(x.grad.numpy(), tx.grad.numpy())


def test_implicit_gradient_errors_and_autograd_grad_targets():
    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        kiln.tensor(1.0).backward()
    h = x * 3
    y = (h * h).sum()
    (gh, gx) = kiln.autograd.grad(y, (h, x))
    _bits(gh.numpy(), (2 * h).detach().numpy())
    _bits(gx.numpy(), (18 * x).detach().numpy())


def test_hooks_retain_grad_and_anomaly_still_run():
    results = []
    for lib in (kiln, torch):
        x = lib.tensor([1.0, -2.0], requires_grad=True)
        seen = []
        h = x * 2
        h.retain_grad()
        h.register_hook(lambda g, seen=seen: seen.append(g.detach().clone()) or g * 10)
        (h * h).sum().backward()
        results.append([np.asarray(t.detach().numpy()) for t in (seen[0], x.grad, h.grad)])
    for a, b in zip(*results):
        _bits(a, b)
    with kiln.autograd.detect_anomaly():
        z = kiln.tensor([0.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="nan"):
            (z / z).sum().backward()


# ------------------------------------------------------------------------------ SGD

SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
    dict(lr=0.1, momentum=0.8, nesterov=True, maximize=True),
]


def _sgd_train(kw, dtype, dispatched=False, monkeypatch=None):
    if dispatched:
        monkeypatch.setattr(sgd_module, "eager_context", lambda: False)
        monkeypatch.setattr(sgd_module, "eager_arrays", lambda *args, **kwargs: False)
    rng = np.random.default_rng(0)
    params = [
        kiln.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True)
        for s in ((40, 30), (30,), (), (0,))
    ]
    idle = kiln.tensor(rng.standard_normal(3), dtype=dtype, requires_grad=True)  # no grad
    opt = kiln.optim.SGD([{"params": params[:2]}, {"params": params[2:] + [idle]}], **kw)
    versions = []
    for i in range(4):
        opt.zero_grad()
        sum(((p * p) * (0.5 + i) + p.sin()).sum() for p in params).backward()
        opt.step()
        versions.append([p._version for p in params])
    if dispatched:
        monkeypatch.undo()
    state = [{k: v.numpy().copy() for k, v in opt.state[p].items()} for p in params]
    hidden = [{k: v.numpy().copy() for k, v in opt._hidden_state[p].items()} for p in params]
    assert idle not in opt.state and idle.grad is None
    return [p.detach().numpy().copy() for p in params], state, hidden, versions


@pytest.mark.parametrize("dtype", [kiln.float32, kiln.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kw", SGD_CONFIGS, ids=str)
def test_sgd_group_loop_is_the_dispatched_step_bit_for_bit(kw, dtype, monkeypatch):
    fast = _sgd_train(kw, dtype)
    slow = _sgd_train(kw, dtype, dispatched=True, monkeypatch=monkeypatch)
    for a, b in zip(fast[0], slow[0]):
        _bits(a, b)
    for part in (1, 2):
        for sa, sb in zip(fast[part], slow[part]):
            assert sa.keys() == sb.keys()
            for key in sa:
                _bits(sa[key], sb[key])
    assert fast[3] == slow[3]  # each step bumps the version counters alike


@pytest.mark.parametrize("kw", SGD_CONFIGS, ids=str)
def test_sgd_group_loop_matches_torch(kw):
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(s).astype(np.float32) for s in ((6, 5), (5,))]
    ps = [kiln.tensor(v, requires_grad=True) for v in values]
    tps = [torch.tensor(v, requires_grad=True) for v in values]
    opt, topt = kiln.optim.SGD(ps, **kw), torch.optim.SGD(tps, **kw)
    for i in range(3):
        for params, o in ((ps, opt), (tps, topt)):
            o.zero_grad()
            sum((p * p * (1.0 + i)).sum() for p in params).backward()
            o.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_sgd_group_loop_falls_back_for_a_view_parameter_and_bumps_versions():
    base = kiln.zeros(4, 3)
    view = base[1:3]  # a view written through to its base: the dispatched path
    view.requires_grad_(True)
    plain = kiln.ones(3, requires_grad=True)
    opt = kiln.optim.SGD([view, plain], lr=0.5, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        ((view + 1) * (view + 1)).sum().backward()
        (plain * plain).sum().backward()
        before = plain._version
        opt.step()
        assert plain._version == before + 1
    tv = torch.zeros(2, 3, requires_grad=True)
    tp = torch.ones(3, requires_grad=True)
    topt = torch.optim.SGD([tv, tp], lr=0.5, momentum=0.9)
    for _ in range(2):
        topt.zero_grad()
        ((tv + 1) * (tv + 1)).sum().backward()
        (tp * tp).sum().backward()
        topt.step()
    np.testing.assert_allclose(base.numpy()[1:3], tv.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(plain.detach().numpy(), tp.detach().numpy(), rtol=1e-6)
    assert not base.numpy()[0].any() and not base.numpy()[3].any()


def test_sgd_step_under_a_profiler_and_jit_takes_the_dispatched_path():
    p = kiln.ones(3, requires_grad=True)
    opt = kiln.optim.SGD([p], lr=0.1, momentum=0.9)
    (p * p).sum().backward()
    with kiln.profiler.profile() as prof:
        opt.step()
    assert any("mul" in e.name or "add" in e.name for e in prof.events())
    q = kiln.ones(3, requires_grad=True)
    jopt = kiln.optim.SGD([q], lr=0.1, momentum=0.9)
    (q * q).sum().backward()
    kiln.jit(lambda: jopt.step())()
    np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------ ndim


def test_ndim_of_tensors_parameters_tracers_and_meta_tensors():
    x = kiln.ones(2, 3, 4)
    assert x.ndim == 3 and x.dim() == 3 and kiln.tensor(1.0).ndim == 0
    assert kiln.nn.Parameter(kiln.ones(5)).ndim == 1
    assert kiln.empty(2, 3, device="meta").ndim == 2

    @kiln.jit
    def f(t):
        return t * t.ndim

    _bits(f(x).numpy(), (x * 3).numpy())
    lazy = kiln.nn.LazyLinear(3)
    with pytest.raises(RuntimeError, match="uninitialized"):
        lazy.weight.ndim  # noqa: B018


# ------------------------------------------------------------------------------ linear


def _linear_run(monkeypatch, fast, x, w, b, g, *, x_grad=True, w_grad=True, transpose_x=False):
    monkeypatch.setattr(fused, "ENABLED", fast)
    try:
        xt = kiln.tensor(x.T.copy() if transpose_x else x, requires_grad=x_grad)
        wt = kiln.tensor(w, requires_grad=w_grad)
        bt = kiln.tensor(b, requires_grad=True)
        inp = xt.t() if transpose_x else xt * 1.0  # an intermediate (or transposed) input
        y = kiln.nn.functional.linear(inp, wt, bt)
        names = [None if fn is None else type(fn).__name__ for fn, _ in y.grad_fn.next_functions]
        y.backward(kiln.tensor(g))
        grads = [None if t.grad is None else t.grad.numpy().copy() for t in (xt, wt, bt)]
        return y.detach().numpy().copy(), grads, y.grad_fn.name(), names
    finally:
        monkeypatch.setattr(fused, "ENABLED", True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "n, k, m", [(4, 3, 5), (256, 64, 128), (0, 3, 2), (3, 4, 1), (5, 1, 3)], ids=str
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (NaN and inf in the gradient)
@pytest.mark.parametrize("transpose_x", [False, True], ids=["x", "x.t()"])
@pytest.mark.parametrize("w_grad", [True, False], ids=["w", "frozen w"])
def test_fused_linear_is_the_composite_bit_for_bit(
    monkeypatch, dtype, n, k, m, transpose_x, w_grad
):
    rng = np.random.default_rng(n + k + m)
    x = rng.standard_normal((n, k)).astype(dtype)
    w = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    g = _special((n, m), dtype, 4) if n else np.zeros((0, m), dtype)
    kw = dict(transpose_x=transpose_x, w_grad=w_grad)
    fast = _linear_run(monkeypatch, True, x, w, b, g, **kw)
    slow = _linear_run(monkeypatch, False, x, w, b, g, **kw)
    _bits(fast[0], slow[0])
    for a, c in zip(fast[1], slow[1]):
        assert (a is None) == (c is None)
        if a is not None:
            _bits(a, c)
    assert fast[2] == slow[2] == "AddmmBackward0"
    assert fast[3] == slow[3]


def test_fused_linear_matches_torch_and_its_nodes():
    rng = np.random.default_rng(5)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((6, 4), (3, 4), (3,)))
    ks = [kiln.tensor(a, requires_grad=True) for a in (x, w, b)]
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ky, ty = kiln.nn.functional.linear(*ks), torch.nn.functional.linear(*ts)
    assert ky.grad_fn.name() == ty.grad_fn.name()
    kn = [type(f).__name__ for f, _ in ky.grad_fn.next_functions]
    tn = [type(f).__name__ for f, _ in ty.grad_fn.next_functions]
    assert kn == tn
    t_node = ky.grad_fn.next_functions[2][0]
    assert t_node.name() == "TBackward0"
    assert t_node.next_functions[0][0].variable is ks[1]
    (ky * ky).sum().backward()
    (ty * ty).sum().backward()
    for k, t in zip(ks, ts):
        np.testing.assert_allclose(k.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        ky.sum().backward()


def test_fused_linear_second_order_and_in_place_errors(monkeypatch):
    rng = np.random.default_rng(6)
    x, w, b = (rng.standard_normal(s) for s in ((5, 4), (3, 4), (3,)))
    results = []
    for fast in (True, False):
        monkeypatch.setattr(fused, "ENABLED", fast)
        ks = [kiln.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = kiln.nn.functional.linear(*ks)
        (gx,) = kiln.autograd.grad((y * y).sum(), ks[0], create_graph=True)
        (gw2,) = kiln.autograd.grad((gx * gx).sum(), ks[1])
        results.append((gx.detach().numpy().copy(), gw2.numpy().copy()))
    monkeypatch.setattr(fused, "ENABLED", True)
    for a, c in zip(*results):
        _bits(a, c)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.nn.functional.linear(*ts)
    (tgx,) = torch.autograd.grad((ty * ty).sum(), ts[0], create_graph=True)
    (tgw2,) = torch.autograd.grad((tgx * tgx).sum(), ts[1])
    np.testing.assert_allclose(results[0][1], tgw2.numpy(), rtol=1e-10)
    # a weight changed in place between forward and backward: PyTorch's error
    ks = [kiln.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = kiln.nn.functional.linear(*ks)
    with kiln.no_grad():
        ks[1].mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    leaf = kiln.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.add_(1)


def test_fused_linear_falls_back_where_it_must():
    w, b = kiln.ones(3, 4, requires_grad=True), kiln.ones(3, requires_grad=True)
    for x, name in (
        (kiln.ones(4, requires_grad=True), "AddBackward0"),  # 1-D input
        (kiln.ones(2, 5, 4, requires_grad=True), "AddBackward0"),  # 3-D input
    ):
        y = kiln.nn.functional.linear(x, w, b)
        assert y.grad_fn.name() == name
        y.sum().backward()
    assert kiln.nn.functional.linear(kiln.ones(2, 4), w).grad_fn.name() == "MmBackward0"
    half = kiln.nn.functional.linear(kiln.ones(2, 4).half(), w.half(), b.half())
    assert half.dtype is kiln.float16
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        kiln.nn.functional.linear(kiln.ones(2, 5), w, b)
    with kiln.no_grad():
        y = kiln.nn.functional.linear(kiln.ones(2, 4), w, b)
    assert y.grad_fn is None and not y.requires_grad
    with kiln.profiler.profile() as prof:
        kiln.nn.functional.linear(kiln.ones(2, 4), w, b)
    assert any("matmul" in e.name for e in prof.events())
    traced = kiln.jit(lambda x: kiln.nn.functional.linear(x, w, b))(kiln.ones(2, 4))
    _bits(
        traced.detach().numpy(), kiln.nn.functional.linear(kiln.ones(2, 4), w, b).detach().numpy()
    )
