"""The eager fast paths give the results of the ordinary (dispatched) paths, bit for bit.

* optimizers (``kiln/optim/fast.py``): a step on the NumPy arrays against the same step
  through kiln ops (the path ``kiln.jit`` traces), against a jitted step, and against
  PyTorch; version counters and autograd's check of modified saved tensors still work;
* ``bind``'s eager fast path: dtype promotion, NaN and -0.0, views sharing a version
  counter, errors naming the op.
"""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln.optim import adam as adam_module
from kiln.optim import sgd as sgd_module

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.5, betas=(0.6, 0.7), eps=0.0, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, betas=(0.3, 0.9), weight_decay=0.5, amsgrad=True, maximize=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in CONFIGS]
SHAPES = [(5, 3), (3,), ()]
STEPS = 6


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [kiln.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True) for s in SHAPES]


def _loss(params, scale):
    # well conditioned (a jitted step's fast math stays within a few ulps) and different
    # at every step
    return sum((p * p * scale + (p * scale).tanh() * 0.25).sum() for p in params)


def _train(name, kw, dtype, compiled=False):
    """Parameters and optimizer state (NumPy copies) after ``STEPS`` steps; ``compiled``:
    the optimizer's step is jitted (the gradients come from the same eager backward)."""
    params = _params(dtype)
    opt = getattr(kiln.optim, name)(params, **kw)
    update = kiln.jit(lambda: opt.step()) if compiled else opt.step
    for i in range(STEPS):
        opt.zero_grad()
        _loss(params, kiln.tensor(0.5 + 0.25 * i, dtype=dtype)).backward()
        update()
    state = [{k: v.numpy().copy() for k, v in opt.state[p].items()} for p in params]
    return [p.detach().numpy().copy() for p in params], state


@pytest.fixture
def dispatched(monkeypatch):
    """Turn the optimizers' NumPy fast path off: every update goes through kiln ops."""
    for module in (adam_module, sgd_module):
        monkeypatch.setattr(module, "eager_arrays", lambda *args, **kwargs: False)


def _same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), np.max(np.abs(a - b))


@pytest.mark.parametrize("dtype", [kiln.float32, kiln.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_fast_step_is_bit_identical_to_dispatched_step(name, kw, dtype, monkeypatch):
    fast_params, fast_state = _train(name, kw, dtype)
    for module in (adam_module, sgd_module):
        monkeypatch.setattr(module, "eager_arrays", lambda *args, **kwargs: False)
    slow_params, slow_state = _train(name, kw, dtype)
    for a, b in zip(fast_params, slow_params):
        _same(a, b)
    for sa, sb in zip(fast_state, slow_state):
        assert sa.keys() == sb.keys()
        for key in sa:
            _same(sa[key], sb[key])


@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_fast_eager_step_matches_jitted_step(name, kw):
    eager_params, eager_state = _train(name, kw, kiln.float32)
    jit_params, jit_state = _train(name, kw, kiln.float32, compiled=True)
    for a, b in zip(eager_params, jit_params):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    for sa, sb in zip(eager_state, jit_state):
        for key in sa:
            np.testing.assert_allclose(sa[key], sb[key], rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_fast_step_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    params, _ = _train(name, kw, kiln.float64)
    rng = np.random.default_rng(0)
    tparams = [
        torch.tensor(rng.standard_normal(s), dtype=torch.float64, requires_grad=True)
        for s in SHAPES
    ]
    opt = getattr(torch.optim, name)(tparams, foreach=False, **kw)
    for i in range(STEPS):
        opt.zero_grad()
        _loss(tparams, torch.tensor(0.5 + 0.25 * i, dtype=torch.float64)).backward()
        opt.step()
    for a, t in zip(params, tparams):
        np.testing.assert_allclose(a, t.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_fast_step_bumps_versions_and_autograd_sees_it(name, kw):
    p = kiln.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = getattr(kiln.optim, name)([p], **kw)
    (p * p).sum().backward()
    before = p._version
    opt.step()
    assert p._version > before
    for value in opt.state[p].values():
        assert value._version > 0
    y = p * p  # saves p for backward
    (p * 1.0).sum().backward()
    opt.step()  # modifies p in place
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_fast_path_is_skipped_where_it_does_not_apply(dispatched):
    # a tensor learning rate and float16 parameters take the dispatched path (this test
    # only checks that they run: the fixture makes every update dispatched)
    p = kiln.tensor([1.0, 2.0], requires_grad=True)
    opt = kiln.optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 1.9], rtol=1e-6)


@pytest.mark.parametrize("name, kw", CONFIGS[:5], ids=IDS[:5])
def test_tensor_lr_and_float16_take_the_dispatched_path(name, kw):
    for make in (
        lambda: (kiln.tensor([1.0, 2.0], requires_grad=True), dict(kw, lr=kiln.tensor(0.1))),
        lambda: (kiln.tensor([1.0, 2.0], dtype=kiln.float16, requires_grad=True), kw),
    ):
        p, options = make()
        opt = getattr(kiln.optim, name)([p], **options)
        (p * p).sum().backward()
        before = p.detach().numpy().copy()
        opt.step()
        assert p.dtype in (kiln.float32, kiln.float16)
        assert not np.array_equal(before, p.detach().numpy())


def test_profiler_sees_dispatched_optimizer_ops():
    p = kiln.tensor([1.0, 2.0], requires_grad=True)
    opt = kiln.optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    with kiln.profiler.profile() as prof:
        opt.step()
    names = {e.key for e in prof.key_averages()}
    assert any("sqrt" in n for n in names), names


# ------------------------------------------------------------------------------ bind


def _special(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray((rng.standard_normal(shape) * 3).astype(dtype))
    if x.dtype.kind == "f":
        flat = x.reshape(-1)
        flat[::7] = np.nan
        flat[1::11] = -0.0
        flat[2::13] = np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize(
    "shapes",
    [((256, 512), (256, 512), (256, 512)), ((256, 512), (), (256, 512)), ((1, 512), (256, 1), ())],
)
def test_where_is_np_where_bit_for_bit(dtype, shapes):
    cs, xs, ys = shapes
    rng = np.random.default_rng(1)
    c = rng.random(cs) < 0.5
    x, y = _special(xs, dtype, 2), _special(ys, dtype, 3)
    for a, b in ((x, y), (y, x)):
        got = kiln.where(kiln.from_numpy(c), kiln.from_numpy(a), kiln.from_numpy(b)).numpy()
        want = np.where(c, a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()


def test_where_of_strided_and_mixed_inputs_still_right():
    rng = np.random.default_rng(0)
    x = _special((512, 256), np.float32, 4).T  # not C-contiguous
    c = rng.random((256, 512)) < 0.5
    got = kiln.where(kiln.from_numpy(c), kiln.from_numpy(x), 0.0).numpy()
    assert got.tobytes() == np.where(c, x, np.float32(0)).tobytes()
    # promotion: int32 and float64 operands give float64, as PyTorch
    i = kiln.arange(20000, dtype=kiln.int32)
    f = kiln.zeros(20000, dtype=kiln.float64)
    out = kiln.where(i % 2 == 0, i, f)
    assert out.dtype is kiln.float64
    assert out[:4].tolist() == [0.0, 0.0, 2.0, 0.0]


def test_relu_and_its_gradient_at_special_values():
    torch = pytest.importorskip("torch")
    x = _special((300, 100), np.float32, 5)
    k = kiln.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    ky, ty = kiln.relu(k), torch.relu(t)
    assert ky.detach().numpy().tobytes() == ty.detach().numpy().tobytes()
    ky.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(k.grad.numpy(), t.grad.numpy())


def test_bind_keeps_promotion_signed_zero_nan_and_versions():
    a = kiln.tensor([1.0, -0.0, float("nan")])
    b = kiln.tensor([2, 0, 1], dtype=kiln.int64)
    out = a + b
    assert out.dtype is kiln.float32
    np.testing.assert_array_equal(np.signbit(out.numpy()), [False, False, False])
    assert np.isnan(out.numpy()[2])
    assert np.signbit((a * 1).numpy()[1])  # -0.0 * 1 stays -0.0
    view = a.view(3)
    a.add_(1)
    assert view._version == a._version == 1


def test_bind_errors_name_the_op_shapes_and_dtypes():
    with pytest.raises(RuntimeError, match=r"add.*\[2\].*\[3\]|size of tensor"):
        kiln.ones(2) + kiln.ones(3)


def test_autograd_error_on_a_saved_tensor_modified_in_place():
    x = kiln.ones(3, requires_grad=True)
    y = x * 2
    z = y * y  # saves y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_relu_without_autograd_gives_the_same_bits():
    x = _special((300, 100), np.float32, 6)
    with_grad = kiln.relu(kiln.tensor(x, requires_grad=True)).detach().numpy()
    with kiln.no_grad():
        no_grad = kiln.relu(kiln.tensor(x, requires_grad=True)).numpy()
    plain = kiln.relu(kiln.tensor(x)).numpy()
    assert with_grad.tobytes() == no_grad.tobytes() == plain.tobytes()
    assert np.signbit(plain.reshape(-1)[1])  # -0.0 passes through, as in PyTorch


@pytest.mark.parametrize("name, kw", [CONFIGS[1], CONFIGS[5]], ids=[IDS[1], IDS[5]])
def test_a_gradient_of_another_shape_is_refused_before_the_step(name, kw):
    # (PyTorch refuses the assignment itself, so the fused step never sees such a gradient)
    p = kiln.ones(3, 4, requires_grad=True)
    opt = getattr(kiln.optim, name)([p], **kw)
    with pytest.raises(RuntimeError, match="same size"):
        p.grad = kiln.ones(2, 3, 4)
    assert p.grad is None
    opt.step()  # (no gradient: nothing moves)
    np.testing.assert_array_equal(p.detach().numpy(), np.ones((3, 4), np.float32))


# ------------------------------------------- fused eager ops (kiln/autograd/fused.py)
# relu, log_softmax, nll_loss and cross_entropy run eagerly as a few NumPy calls and one
# backward node each; with the fast path off they run their composites (what kiln.jit
# traces): the values and the gradients must be the same bits.


@pytest.fixture
def composite(monkeypatch):
    from kiln.autograd import fused

    def run(fast: bool, fn, *arrays, grad=None):
        monkeypatch.setattr(fused, "ENABLED", fast)
        try:
            xs = [kiln.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
            y = fn(*xs)
            y.backward(None if grad is None else kiln.tensor(grad))
            grads = [x.grad.numpy().copy() for x in xs if x.requires_grad]
            return y.detach().numpy().copy(), grads, y.grad_fn.name()
        finally:
            monkeypatch.setattr(fused, "ENABLED", True)

    return run


def _bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), np.argwhere(a.view(np.uint8) != b.view(np.uint8))[:5]


FUSED_SHAPES = [(7,), (300, 100), (3, 4, 5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", FUSED_SHAPES, ids=str)
def test_fused_relu_is_the_composite_bit_for_bit(composite, dtype, shape):
    x = _special(shape, dtype, 7)
    g = _special(shape, dtype, 8)  # NaN, inf and -0.0 gradients too
    fast, slow = composite(True, kiln.relu, x, grad=g), composite(False, kiln.relu, x, grad=g)
    _bits(fast[0], slow[0])
    _bits(fast[1][0], slow[1][0])
    assert fast[2] == "ReluBackward0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 10), (256, 10), (3, 4, 5)], ids=str)
def test_fused_log_softmax_is_the_composite_bit_for_bit(composite, dtype, shape):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    x.flat[1] = -np.inf
    g = rng.standard_normal(shape).astype(dtype)
    for dim in range(-len(shape), len(shape)):

        def f(t, dim=dim):
            return kiln.nn.functional.log_softmax(t, dim)

        fast, slow = composite(True, f, x, grad=g), composite(False, f, x, grad=g)
        _bits(fast[0], slow[0])
        _bits(fast[1][0], slow[1][0])
        assert fast[2] == "LogSoftmaxBackward0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_fused_losses_are_the_composites_bit_for_bit(
    composite, dtype, reduction, ignore_index, loss
):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((64, 5)) * 4).astype(dtype)
    target = rng.integers(0, 5, 64)
    g = rng.standard_normal(64).astype(dtype) if reduction == "none" else None

    def f(a, t):
        return getattr(kiln.nn.functional, loss)(
            a, t, ignore_index=ignore_index, reduction=reduction
        )

    fast, slow = composite(True, f, x, target, grad=g), composite(False, f, x, target, grad=g)
    _bits(fast[0], slow[0])
    _bits(fast[1][0], slow[1][0])
    assert fast[2] == "NllLossBackward0"


def test_fused_losses_match_torch_and_jit():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((32, 7)) * 3).astype(np.float32)
    target = rng.integers(0, 7, 32)

    def step(lib, a, t):
        h = lib.nn.functional.relu(a * 2 - 1)
        return lib.nn.functional.cross_entropy(h, t)

    k = kiln.tensor(x, requires_grad=True)
    loss = step(kiln, k, kiln.tensor(target))
    loss.backward()
    tx = torch.tensor(x, requires_grad=True)
    t_loss = step(torch, tx, torch.tensor(target))
    t_loss.backward()
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-6)
    np.testing.assert_allclose(k.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert loss.grad_fn.name() == t_loss.grad_fn.name() == "NllLossBackward0"
    assert [f.name() for f, _ in loss.grad_fn.next_functions] == ["LogSoftmaxBackward0"]

    w = kiln.tensor(x, requires_grad=True)
    t = kiln.tensor(target)

    def jitted():
        out = step(kiln, w, t)
        out.backward()
        return out

    j_loss = kiln.jit(jitted)()
    np.testing.assert_allclose(j_loss.item(), loss.item(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), k.grad.numpy(), rtol=1e-5, atol=1e-7)


SECOND_ORDER = {
    "relu": lambda lib, a, t: (lib.relu(a) * a * a).sum(),
    "log_softmax": lambda lib, a, t: (lib.nn.functional.log_softmax(a, 1) * a).sum(),
    "nll_loss": lambda lib, a, t: lib.nn.functional.nll_loss(a * a, t),
    "cross_entropy": lambda lib, a, t: lib.nn.functional.cross_entropy(lib.relu(a) * a, t),
}


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_fused_ops_second_order_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 5))
    target = np.array([0, 3, 1, 4])

    def grads(lib):
        a = lib.tensor(x, requires_grad=True)
        loss = SECOND_ORDER[name](lib, a, lib.tensor(target))
        (g,) = lib.autograd.grad(loss, a, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), a)
        return g.detach().numpy(), gg.numpy()

    for mine, theirs in zip(grads(kiln), grads(torch)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)


def test_fused_ops_fall_back_where_they_must():
    from kiln.autograd import graph

    x = kiln.tensor([[-1.0, 2.0], [3.0, -4.0]], requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        assert kiln.relu(x).grad_fn.name() == "WhereBackward0"  # the composite
    with kiln.profiler.profile() as prof:
        kiln.relu(x)
    assert kiln.relu(x).grad_fn.name() == "ReluBackward0"
    assert prof is not None
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        kiln.nn.functional.cross_entropy(x, kiln.tensor([0, 5]))
    with pytest.raises(ValueError, match="batch_size"):
        kiln.nn.functional.nll_loss(x, kiln.tensor([0, 1, 1]))
    loss = kiln.nn.functional.nll_loss(kiln.nn.functional.log_softmax(x, 1), kiln.tensor([1, 1]))
    y = kiln.nn.functional.log_softmax(x * 1, 1)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy().sum(1), [0.0, 0.0], atol=1e-6)
    assert y.grad_fn.name() == "LogSoftmaxBackward0"


def test_fused_relu_in_place_and_hooks():
    x = kiln.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    h = x * 1
    seen = []
    y = kiln.nn.functional.relu(h, inplace=True)
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    (y * kiln.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 3.0]
    assert seen[0].tolist() == [1.0, 2.0, 3.0]


def test_fused_backward_runs_on_the_arrays(monkeypatch):
    """The fast backward rules do not fall back to dispatched selects."""
    from kiln import dispatch

    selects = []
    where = dispatch.eager_impl("where")
    monkeypatch.setitem(dispatch._EAGER_IMPLS, "where", lambda *a: selects.append(1) or where(*a))
    x = kiln.tensor(_special((300, 100), np.float32, 9), requires_grad=True)
    target = kiln.tensor(np.arange(300) % 100)
    loss = kiln.nn.functional.cross_entropy(kiln.relu(x), target)
    selects.clear()
    loss.backward()
    assert selects == [] and x.grad is not None


def test_an_input_the_rule_does_not_read_is_not_kept_alive():
    import gc
    import weakref

    x = kiln.ones(4, 3, requires_grad=True)
    w = kiln.ones(3, 2, requires_grad=True)
    m = x @ w  # read by nothing below: add's rule needs its shape only
    alive = weakref.ref(m)
    y = kiln.relu(m + 1)
    del m
    gc.collect()
    assert alive() is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((4, 3), 2.0, np.float32))
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 2), 4.0, np.float32))
    kept = x * w[:, 0]  # mul reads the other operand: both kept
    assert kept.grad_fn._saved_self is x
