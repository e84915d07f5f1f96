"""kiln.autocast against torch.autocast on the CPU: dtypes exactly, values within bfloat16
tolerance."""

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")
F, TF = kiln.nn.functional, torch.nn.functional


def _pair(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return kiln.tensor(a), torch.tensor(a)


OPS = {
    "matmul": lambda m, F, a, w, b, t: a @ w.T,
    "mm": lambda m, F, a, w, b, t: m.mm(a, w.T),
    "bmm": lambda m, F, a, w, b, t: m.bmm(a[None], w.T[None]),
    "linear": lambda m, F, a, w, b, t: F.linear(a, w, b),
    "add": lambda m, F, a, w, b, t: F.linear(a, w) + b,
    "relu": lambda m, F, a, w, b, t: F.relu(F.linear(a, w)),
    "softmax": lambda m, F, a, w, b, t: F.softmax(F.linear(a, w), -1),
    "sum": lambda m, F, a, w, b, t: F.linear(a, w).sum(),
    "mse": lambda m, F, a, w, b, t: F.mse_loss(F.linear(a, w), m.zeros(4, 3)),
    "l1": lambda m, F, a, w, b, t: F.l1_loss(F.linear(a, w), m.zeros(4, 3)),
    "cross_entropy": lambda m, F, a, w, b, t: F.cross_entropy(F.linear(a, w), t),
    "nll": lambda m, F, a, w, b, t: F.nll_loss(F.log_softmax(F.linear(a, w), -1), t),
    "bce_logits": lambda m, F, a, w, b, t: F.binary_cross_entropy_with_logits(
        F.linear(a, w), m.zeros(4, 3)
    ),
    "float64": lambda m, F, a, w, b, t: a.double() @ w.double().T,
    "conv2d": lambda m, F, a, w, b, t: F.conv2d(a.reshape(1, 2, 4, 4), m.ones(3, 2, 2, 2), b),
}


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_op_dtypes_and_values_match_torch(name, dtype):
    (ka, ta), (kw, tw), (kb, tb) = _pair(4, 8), _pair(3, 8, seed=1), _pair(3, seed=2)
    kt, tt = kiln.tensor([0, 1, 2, 0]), torch.tensor([0, 1, 2, 0])
    with kiln.autocast("cpu", dtype=getattr(kiln, dtype)):
        k = OPS[name](kiln, F, ka, kw, kb, kt)
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        t = OPS[name](torch, TF, ta, tw, tb, tt)
    assert str(k.dtype).split(".")[1] == str(t.dtype).split(".")[1]
    np.testing.assert_allclose(
        k.float().detach().numpy(), t.float().detach().numpy(), rtol=2**-7, atol=2**-7
    )


def test_nesting_disable_decorator_and_state():
    a = kiln.ones(2, 3)
    assert not kiln.is_autocast_enabled("cpu")
    with kiln.autocast("cpu"):
        assert kiln.is_autocast_enabled("cpu") and kiln.get_autocast_dtype("cpu") is kiln.bfloat16
        assert (a @ a.T).dtype is kiln.bfloat16
        with kiln.autocast("cpu", enabled=False):
            assert (a @ a.T).dtype is kiln.float32
        with kiln.autocast("cpu", dtype=kiln.float16):
            assert (a @ a.T).dtype is kiln.float16
        assert (a @ a.T).dtype is kiln.bfloat16
    assert (a @ a.T).dtype is kiln.float32

    @kiln.amp.autocast("cpu")
    def f(x):
        return x @ x.T

    assert f(a).dtype is kiln.bfloat16 and (a @ a.T).dtype is kiln.float32
    with kiln.cpu.amp.autocast():
        assert (a @ a.T).dtype is kiln.bfloat16


def test_unsupported_cpu_dtype_warns_and_disables_like_torch():
    with pytest.warns(UserWarning, match="CPU Autocast only supports"):
        region = kiln.autocast("cpu", dtype=kiln.float64)
    with region:
        assert (kiln.ones(2, 2) @ kiln.ones(2, 2)).dtype is kiln.float32
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        kiln.autocast("tpu")


def test_other_threads_do_not_see_a_region():
    import threading

    seen = []
    with kiln.autocast("cpu"):
        th = threading.Thread(target=lambda: seen.append((kiln.ones(2, 2) @ kiln.ones(2, 2)).dtype))
        th.start()
        th.join()
    assert seen == [kiln.float32]


def _model(m, w1, b1, w2, b2):
    lin1, lin2 = m.nn.Linear(8, 16), m.nn.Linear(16, 3)
    with m.no_grad():
        for p, v in ((lin1.weight, w1), (lin1.bias, b1), (lin2.weight, w2), (lin2.bias, b2)):
            p.copy_(m.tensor(v))
    return m.nn.Sequential(lin1, m.nn.ReLU(), lin2)


def test_training_loop_with_grad_scaler_matches_torch():
    rng = np.random.default_rng(0)
    params = [
        rng.standard_normal(s).astype(np.float32) * 0.3 for s in ((16, 8), (16,), (3, 16), (3,))
    ]
    xs = rng.standard_normal((5, 12, 8)).astype(np.float32)
    ys = rng.integers(0, 3, (5, 12))
    runs = {}
    for m in (kiln, torch):
        model = _model(m, *params)
        opt = m.optim.SGD(model.parameters(), lr=0.1)
        scaler = m.amp.GradScaler("cpu", init_scale=2.0**8)
        record = []
        for x, y in zip(xs, ys):
            opt.zero_grad()
            with m.autocast("cpu", dtype=m.bfloat16):
                h = model[0](m.tensor(x))
                out = model(m.tensor(x))
                loss = m.nn.functional.cross_entropy(out, m.tensor(y))
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            record.append(
                (
                    str(h.dtype).split(".")[1],
                    str(out.dtype).split(".")[1],
                    str(loss.dtype).split(".")[1],
                    str(model[0].weight.grad.dtype).split(".")[1],
                    float(loss.detach()),
                    scaler.get_scale(),
                )
            )
        runs[m.__name__] = (record, [p.detach().float().numpy() for p in model.parameters()])
    (krec, kp), (trec, tp) = runs["kiln"], runs["torch"]
    for k, t in zip(krec, trec):
        assert k[:4] == t[:4] and k[5] == t[5]
        assert k[4] == pytest.approx(t[4], rel=2**-6, abs=2**-6)
    for a, b in zip(kp, tp):
        np.testing.assert_allclose(a, b, rtol=2**-6, atol=2**-6)


def test_jit_inside_autocast_has_eager_dtypes():
    @kiln.jit
    def f(a):
        return a @ a.T

    a = kiln.ones(2, 3)
    assert f(a).dtype is kiln.float32
    with kiln.autocast("cpu", dtype=kiln.bfloat16):  # retraced (guarded): bfloat16 compiles
        assert f(a).dtype is kiln.bfloat16
    assert f(a).dtype is kiln.float32


def test_jit_inside_float16_autocast_has_eager_dtypes_and_values():
    @kiln.jit
    def f(a, w, b):
        y = F.linear(a, w, b)
        return y, F.mse_loss(y, kiln.zeros(4, 3)), y.relu() + a[:, :3]

    a, w, b = kiln.randn(4, 8), kiln.randn(3, 8), kiln.randn(3)
    assert [t.dtype for t in f(a, w, b)] == [kiln.float32] * 3
    with kiln.autocast("cpu", dtype=kiln.float16):
        eager = (F.linear(a, w, b),)
        eager += (F.mse_loss(eager[0], kiln.zeros(4, 3)), eager[0].relu() + a[:, :3])
        compiled = f(a, w, b)  # the guard on the autocast state retraces
    assert [t.dtype for t in compiled] == [t.dtype for t in eager]
    assert [t.dtype for t in eager] == [kiln.float16, kiln.float32, kiln.float32]
    for c, e in zip(compiled, eager):
        np.testing.assert_allclose(c.float().numpy(), e.float().numpy(), rtol=1e-3, atol=1e-3)
    assert [t.dtype for t in f(a, w, b)] == [kiln.float32] * 3  # and back outside
