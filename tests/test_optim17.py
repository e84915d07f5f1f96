"""kiln.optim as a PyTorch user sees it (issue 14, item 3): the optimizers' param_groups,
defaults, repr, state and state dicts exactly as torch 2.13's; a run resumed across the two;
the optimizer API (hooks, groups, tensor lr, closures); the schedulers' values, state dicts
and warnings; swa_utils; and 20 steps of every optimizer x options against torch, eagerly
and inside a ``kiln.jit`` training step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


def _to_kiln(value):
    """A torch state dict (nested containers of tensors) with kiln tensors."""
    if isinstance(value, torch.Tensor):
        return kiln.tensor(value.detach().numpy().copy())
    if isinstance(value, dict):
        return {k: _to_kiln(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_kiln(v) for v in value)
    return value


def _to_torch(value):
    if isinstance(value, kiln.Tensor):
        return torch.tensor(value.detach().numpy().copy())
    if isinstance(value, dict):
        return {k: _to_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_torch(v) for v in value)
    return value


# --------------------------------------------------------------------------- configurations

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, betas=(0.8, 0.9))),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9))),  # rectified from step 6
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict(lr=1.0, rho=0.8, weight_decay=0.1)),
    ("Rprop", dict(lr=0.01)),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-4, 0.2), maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, t0=5, lambd=0.01, weight_decay=0.1)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=1.5, weight_decay=0.1)),
    ("Adafactor", dict(lr=0.05, maximize=True)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CONFIGS]
NAMES = sorted({n for n, _ in CONFIGS} | {"SparseAdam", "LBFGS"})


def _pair(name, kw, shapes=((3, 2), (2,)), seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tps = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    kps = [kiln.tensor(v, requires_grad=True) for v in values]
    return tps, kps, getattr(torch.optim, name)(tps, **kw), getattr(kiln.optim, name)(kps, **kw)


def _model(lib, dtype):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 1)).to(
        getattr(lib, dtype)
    )


def _same_model(dtype):
    tm = _model(torch, dtype)
    km = _model(kiln, dtype)
    km.load_state_dict({k: kiln.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, km


def _loss(lib, kw, out, y):
    """The mean squared error, negated for a maximizing optimizer (so both converge)."""
    loss = lib.nn.functional.mse_loss(out, y)
    return -loss if kw.get("maximize") else loss


def _batches(n, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((16, 4)).astype(dtype), rng.standard_normal((16, 1)).astype(dtype))
        for _ in range(n)
    ]


# --------------------------------------------------------------------------- what a user sees


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_defaults_and_repr_are_torchs(name):
    tps, kps, topt, kopt = _pair(name, {})
    tg, kg = topt.param_groups[0], kopt.param_groups[0]
    assert list(kg) == list(tg)
    for key in tg:
        if key != "params":
            assert kg[key] == tg[key] and type(kg[key]) is type(tg[key]), key
    assert kopt.defaults == topt.defaults
    assert list(kopt.defaults) == list(topt.defaults)
    assert repr(kopt) == repr(topt)


@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_state_and_state_dict_are_torchs(name, kw):
    tps, kps, topt, kopt = _pair(name, kw)
    assert repr(kopt) == repr(topt)
    rng = np.random.default_rng(5)
    for _ in range(3):
        for tp, kp in zip(tps, kps):
            g = rng.standard_normal(tuple(tp.shape)).astype(np.float32)
            tp.grad, kp.grad = torch.tensor(g), kiln.tensor(g)
        topt.step()
        kopt.step()
    for tp, kp in zip(tps, kps):
        ts, ks = topt.state[tp], kopt.state[kp]
        assert list(ks) == list(ts)
        for key, tv in ts.items():
            kv = ks[key]
            assert isinstance(kv, kiln.Tensor), key
            assert kv.dtype.name == str(tv.dtype).removeprefix("torch.")
            assert tuple(kv.shape) == tuple(tv.shape)
            np.testing.assert_allclose(_np(kv), _np(tv), rtol=1e-6, atol=1e-7, err_msg=key)
    tsd, ksd = topt.state_dict(), kopt.state_dict()
    assert list(ksd) == ["state", "param_groups"] == list(tsd)
    assert list(ksd["state"]) == list(tsd["state"]) == [0, 1]
    assert ksd["param_groups"] == [
        {k: v for k, v in g.items()} for g in tsd["param_groups"]
    ]  # params are the integers [0, 1], last, as torch's


def test_state_is_empty_before_the_first_step_and_sgd_has_the_buffer_only():
    tps, kps, topt, kopt = _pair("SGD", dict(lr=0.1, momentum=0.9))
    assert kopt.state_dict() == {"state": {}, "param_groups": kopt.state_dict()["param_groups"]}
    assert topt.state_dict()["state"] == {}
    tps[0].grad, kps[0].grad = torch.ones(3, 2), kiln.ones(3, 2)
    topt.step()
    kopt.step()
    assert list(kopt.state) == [kps[0]]  # a parameter without a gradient is skipped
    assert list(kopt.state[kps[0]]) == ["momentum_buffer"] == list(topt.state[tps[0]])
    # Adagrad's state is made when it is built, as torch's
    _, kps, topt, kopt = _pair("Adagrad", {})
    assert list(kopt.state_dict()["state"][0]) == ["step", "sum"]
    assert list(kopt.state_dict()["state"]) == list(topt.state_dict()["state"])


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_twenty_steps_on_a_model_equal_torch(name, kw, dtype):
    """Twenty steps on a small model, both fed torch's gradients at torch's weights (the
    optimizer's arithmetic alone), then both training on their own (forward and backward
    too): kiln's weights equal torch's (1e-6 rel float32, 1e-12 float64)."""
    rtol, atol = (1e-6, 1e-7) if dtype == "float32" else (1e-12, 1e-14)
    tm, km = _same_model(dtype)
    topt = getattr(torch.optim, name)(tm.parameters(), **kw)
    kopt = getattr(kiln.optim, name)(km.parameters(), **kw)
    for x, y in _batches(20, dtype):
        topt.zero_grad()
        _loss(torch, kw, tm(torch.tensor(x)), torch.tensor(y)).backward()
        kopt.zero_grad()
        for tp, kp in zip(tm.parameters(), km.parameters()):
            kp.grad = kiln.tensor(tp.grad.numpy().copy())
        topt.step()
        kopt.step()
        for tp, kp in zip(tm.parameters(), km.parameters()):
            np.testing.assert_allclose(_np(kp), _np(tp), rtol=rtol, atol=atol)
    # on their own from here: kiln's forward and backward too
    rtol, atol = (1e-5, 1e-6) if dtype == "float32" else (1e-10, 1e-12)
    for x, y in _batches(20, dtype, seed=2):
        for lib, m, opt in ((torch, tm, topt), (kiln, km, kopt)):
            opt.zero_grad()
            _loss(lib, kw, m(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    for tp, kp in zip(tm.parameters(), km.parameters()):
        np.testing.assert_allclose(_np(kp), _np(tp), rtol=rtol, atol=atol)


JIT_CONFIGS = [c for c in CONFIGS if c[0] != "SGD" or c[1].get("momentum")]


@pytest.mark.parametrize("name, kw", JIT_CONFIGS, ids=[IDS[CONFIGS.index(c)] for c in JIT_CONFIGS])
def test_a_jitted_training_step_equals_eager(name, kw):
    """The same 12 training steps compiled by ``kiln.jit`` (one trace) and eagerly."""
    batches = _batches(12, "float32")

    def run(compiled):
        _, km = _same_model("float32")
        opt = getattr(kiln.optim, name)(km.parameters(), **kw)

        def step(x, y):
            opt.zero_grad()
            loss = _loss(kiln, kw, km(x), y)
            loss.backward()
            opt.step()
            return loss.detach()

        fn = kiln.jit(step) if compiled else step
        losses = [float(fn(kiln.tensor(x), kiln.tensor(y))) for x, y in batches]
        return losses, [_np(p) for p in km.parameters()], opt, fn

    eager, compiled = run(False), run(True)
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-5)
    for e, c in zip(eager[1], compiled[1]):
        np.testing.assert_allclose(c, e, rtol=1e-5, atol=1e-6)
    assert compiled[3].trace_count == 1
    # the compiled step kept the state torch-shaped too
    for p in compiled[2].state:
        assert list(compiled[2].state[p]) == list(eager[2].state[next(iter(eager[2].state))])
        break


# --------------------------------------------------------------------------- state dicts


@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_resume_from_a_torch_state_dict_and_back(name, kw, tmp_path):
    """N steps in torch, torch.save, load (tensors as kiln's) into kiln, M more steps in
    both: the same weights; and kiln's state dict loads into torch the same way."""
    tm, km = _same_model("float32")
    topt = getattr(torch.optim, name)(tm.parameters(), **kw)
    kopt = getattr(kiln.optim, name)(km.parameters(), **kw)
    batches = _batches(10, "float32")

    def train(lib, m, opt, part):
        for x, y in part:
            opt.zero_grad()
            _loss(lib, kw, m(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()

    train(torch, tm, topt, batches[:5])
    torch.save(topt.state_dict(), tmp_path / "opt.pt")
    saved = torch.load(tmp_path / "opt.pt")
    with kiln.no_grad():
        for tp, kp in zip(tm.parameters(), km.parameters()):
            kp.copy_(kiln.tensor(tp.detach().numpy()))
    kopt.load_state_dict(_to_kiln(saved))
    assert kopt.state_dict()["param_groups"] == saved["param_groups"]
    train(torch, tm, topt, batches[5:])
    train(kiln, km, kopt, batches[5:])
    for tp, kp in zip(tm.parameters(), km.parameters()):
        np.testing.assert_allclose(_np(kp), _np(tp), rtol=1e-5, atol=1e-6)

    # kiln -> torch
    fresh = _model(torch, "float32")
    with torch.no_grad():
        for tp, kp in zip(fresh.parameters(), km.parameters()):
            tp.copy_(torch.tensor(_np(kp)))
    topt2 = getattr(torch.optim, name)(fresh.parameters(), **kw)
    topt2.load_state_dict(_to_torch(kopt.state_dict()))
    more = _batches(4, "float32", seed=7)
    train(torch, fresh, topt2, more)
    train(kiln, km, kopt, more)
    for tp, kp in zip(fresh.parameters(), km.parameters()):
        np.testing.assert_allclose(_np(kp), _np(tp), rtol=1e-5, atol=1e-6)


def test_kiln_save_round_trips_an_optimizer_state_dict(tmp_path):
    tps, kps, topt, kopt = _pair("Adam", dict(lr=0.01, amsgrad=True))
    for kp in kps:
        kp.grad = kiln.ones_like(kp)
    kopt.step()
    kiln.save(kopt.state_dict(), tmp_path / "opt.kiln")
    loaded = kiln.load(tmp_path / "opt.kiln")
    assert list(loaded["state"]) == [0, 1]
    assert loaded["param_groups"] == kopt.state_dict()["param_groups"]
    other = kiln.optim.Adam([kiln.zeros_like(p, requires_grad=True) for p in kps], lr=0.5)
    other.load_state_dict(loaded)
    assert other.param_groups[0]["lr"] == 0.01
    step = other.state[other.param_groups[0]["params"][0]]["step"]
    assert step.dtype is kiln.float32 and step.item() == 1.0


def test_load_state_dict_errors_and_hooks():
    _, kps, _, kopt = _pair("SGD", dict(lr=0.1, momentum=0.9))
    sd = kopt.state_dict()
    other = kiln.optim.SGD([kps[0]], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        other.load_state_dict({"state": {}, "param_groups": sd["param_groups"] * 2})
    calls = []
    kopt.register_state_dict_pre_hook(lambda opt: calls.append("sd pre"))
    kopt.register_state_dict_post_hook(lambda opt, sd: {**sd, "extra": 1})
    kopt.register_load_state_dict_pre_hook(lambda opt, sd: calls.append("load pre"))
    handle = kopt.register_load_state_dict_post_hook(lambda opt: calls.append("load post"))
    sd = kopt.state_dict()
    assert sd["extra"] == 1
    kopt.load_state_dict(sd)
    handle.remove()
    kopt.load_state_dict(sd)
    assert calls == ["sd pre", "load pre", "load post", "load pre"]


# --------------------------------------------------------------------------- the API


def test_step_hooks_run_around_step_as_torchs():
    calls = []
    _, kps, _, kopt = _pair("Adam", {})
    kps[0].grad = kiln.ones(3, 2)
    pre = kopt.register_step_pre_hook(lambda o, a, k: calls.append(("pre", a, k)))
    kopt.register_step_post_hook(lambda o, a, k: calls.append(("post", a, k)))
    glob = kiln.optim.optimizer.register_optimizer_step_pre_hook(
        lambda o, a, k: calls.append(("global", type(o).__name__))
    )
    try:
        kopt.step()
    finally:
        glob.remove()
    pre.remove()
    kopt.step()
    assert calls == [("global", "Adam"), ("pre", (), {}), ("post", (), {}), ("post", (), {})]
    kopt.register_step_pre_hook(lambda o, a, k: 3)
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        kopt.step()


def test_groups_generators_names_duplicates_and_bad_params():
    m = kiln.nn.Linear(3, 2)
    tm = torch.nn.Linear(3, 2)
    kopt = kiln.optim.SGD(m.named_parameters(), lr=0.1)
    topt = torch.optim.SGD(tm.named_parameters(), lr=0.1)
    assert kopt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert kopt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    # a generator, and groups with their own options
    opt = kiln.optim.Adam(
        [{"params": (p for p in [m.weight])}, {"params": m.bias, "lr": 0.5, "amsgrad": True}],
        lr=0.1,
    )
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["amsgrad"] for g in opt.param_groups] == [False, True]
    extra = kiln.zeros(2, requires_grad=True)
    opt.add_param_group({"params": [extra], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.1
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [extra]})
    with pytest.raises(ValueError, match="with/without names"):
        kopt.add_param_group({"params": [kiln.zeros(1, requires_grad=True)]})
    # duplicates: torch warns (and keeps both)
    a = kiln.zeros(2, requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        kiln.optim.SGD([a, a], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        kiln.optim.SGD(a, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        kiln.optim.SGD([{"params": {a}}], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        kiln.optim.SGD([], lr=0.1)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    _, kps, _, kopt = _pair("SGD", dict(lr=0.1))
    kps[0].grad = kiln.ones(3, 2)
    kopt.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert kps[0].grad is None
    else:
        assert _np(kps[0].grad).tolist() == [[0.0, 0.0]] * 3
    assert kps[1].grad is None


def test_tensor_lr_and_flags():
    tps, kps, topt, kopt = _pair("SGD", dict(lr=0.1))
    topt = torch.optim.SGD(tps, lr=torch.tensor(0.1))
    kopt = kiln.optim.SGD(kps, lr=kiln.tensor(0.1))
    assert repr(kopt) == repr(topt)
    for tp, kp in zip(tps, kps):
        tp.grad, kp.grad = torch.ones_like(tp), kiln.ones_like(kp)
    topt.step()
    kopt.step()
    for tp, kp in zip(tps, kps):
        np.testing.assert_allclose(_np(kp), _np(tp), rtol=1e-6)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        kiln.optim.Adam(kps, lr=kiln.tensor([0.1, 0.2]))
    # fused/foreach are accepted (one implementation in kiln); differentiable is refused
    kiln.optim.Adam(kps, fused=True)
    kiln.optim.SGD(kps, foreach=True)
    with pytest.raises(NotImplementedError, match=r"differentiable=True"):
        kiln.optim.Adam(kps, differentiable=True)
    with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
        kiln.optim.Adam(kps, fused=True, differentiable=True)
    # capturable on CPU parameters: torch's AssertionError at the first step
    opt = kiln.optim.Adam(kps, capturable=True)
    with pytest.raises(AssertionError, match="capturable=True"):
        opt.step()


def test_sparse_adam_raises_as_torch_does_on_dense_gradients():
    tps, kps, topt, kopt = _pair("SparseAdam", {})
    tps[0].grad, kps[0].grad = torch.ones(3, 2), kiln.ones(3, 2)
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        topt.step()
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        kopt.step()


def test_lbfgs_strong_wolfe_on_a_model_matches_torch():
    tm, km = _same_model("float64")
    ((x, y),) = _batches(1, "float64")
    results = []
    for lib, m in ((torch, tm), (kiln, km)):
        opt = lib.optim.LBFGS(m.parameters(), lr=1, max_iter=10, line_search_fn="strong_wolfe")
        xt, yt = lib.tensor(x), lib.tensor(y)

        def closure(opt=opt, m=m, xt=xt, yt=yt, lib=lib):
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(m(xt), yt)
            loss.backward()
            return loss

        losses = [float(opt.step(closure).detach()) for _ in range(3)]
        results.append((losses, [_np(p) for p in m.parameters()], opt))
    (tl, tw, topt), (kl, kw, kopt) = results
    np.testing.assert_allclose(kl, tl, rtol=1e-9)
    for a, b in zip(kw, tw):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    assert repr(kopt) == repr(topt)


# --------------------------------------------------------------------------- schedulers


def _sched_pair(make, opt_name="SGD", **kw):
    out = []
    for lib in (torch, kiln):
        if lib is torch:
            ps = [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))]
        else:
            ps = [kiln.ones(2, requires_grad=True), kiln.ones(2, requires_grad=True)]
        groups = [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}]
        opt = getattr(lib.optim, opt_name)(groups, lr=0.1, **kw)
        out.append((opt, make(lib.optim.lr_scheduler, opt)))
    return out


SCHEDULERS = {
    "StepLR": lambda L, o: L.StepLR(o, 3, 0.5),
    "MultiStepLR": lambda L, o: L.MultiStepLR(o, [2, 5, 5], 0.5),
    "ExponentialLR": lambda L, o: L.ExponentialLR(o, 0.9),
    "LambdaLR": lambda L, o: L.LambdaLR(o, lambda e: 1 / (e + 1)),
    "MultiplicativeLR": lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95),
    "ConstantLR": lambda L, o: L.ConstantLR(o, 0.5, 4),
    "LinearLR": lambda L, o: L.LinearLR(o, 0.2, 1.0, 6),
    "PolynomialLR": lambda L, o: L.PolynomialLR(o, 8, 2.0),
    "CosineAnnealingLR": lambda L, o: L.CosineAnnealingLR(o, 7, 0.001),
    "CosineAnnealingWarmRestarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, 4, 2, 0.001),
    "CyclicLR-triangular": lambda L, o: L.CyclicLR(o, 0.01, 0.1, 3),
    "CyclicLR-triangular2": lambda L, o: L.CyclicLR(o, 0.01, 0.1, 3, 2, mode="triangular2"),
    "CyclicLR-exp_range": lambda L, o: L.CyclicLR(o, 0.01, 0.1, 3, mode="exp_range", gamma=0.9),
    "OneCycleLR": lambda L, o: L.OneCycleLR(o, 0.5, total_steps=40),
    "OneCycleLR-three_phase": lambda L, o: L.OneCycleLR(
        o, [0.5, 0.3], total_steps=40, three_phase=True, anneal_strategy="linear"
    ),
    "SequentialLR": lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, 0.1, total_iters=4), L.ExponentialLR(o, 0.9)], milestones=[5]
    ),
    "ChainedScheduler": lambda L, o: L.ChainedScheduler(
        [L.StepLR(o, 3, 0.5), L.ExponentialLR(o, 0.9)]
    ),
    "ReduceLROnPlateau": lambda L, o: L.ReduceLROnPlateau(o, patience=2, factor=0.5, cooldown=1),
}


def _close(a, b, path="") -> None:
    """``a == b``, numbers to 1e-12 relative, through dicts, lists and tuples."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b), path
        for k in b:
            if k != "lr_lambdas":
                _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(b, (list, tuple)):
        assert isinstance(a, (list, tuple)) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(b, float) and not isinstance(b, bool):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-300), path
    else:
        assert a == b and type(a) is type(b), path


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_schedulers_equal_torchs(name, opt_name):
    kw = dict(momentum=0.9) if opt_name == "SGD" else {}
    (topt, ts), (kopt, ks) = _sched_pair(SCHEDULERS[name], opt_name, **kw)
    losses = [3, 2, 2, 2, 2, 2, 1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(30):
            for opt, sched in ((topt, ts), (kopt, ks)):
                opt.step()
                sched.step(losses[i % 7]) if name == "ReduceLROnPlateau" else sched.step()
            _close(ks.get_last_lr(), ts.get_last_lr())
            for tg, kg in zip(topt.param_groups, kopt.param_groups):
                _close(
                    {k: v for k, v in kg.items() if k != "params"},
                    {k: v for k, v in tg.items() if k != "params"},
                )
    assert not caught
    tsd, ksd = ts.state_dict(), ks.state_dict()
    _close(ksd, tsd)
    assert getattr(ks, "last_epoch", None) == getattr(ts, "last_epoch", None)
    if hasattr(ts, "base_lrs"):
        _close(ks.base_lrs, ts.base_lrs)
    # a torch scheduler state dict loads into kiln's, and the schedule goes on the same
    (topt2, ts2), (kopt2, ks2) = _sched_pair(SCHEDULERS[name], opt_name, **kw)
    kopt2.load_state_dict(_to_kiln(topt.state_dict()))
    ks2.load_state_dict(tsd)
    for _ in range(5):
        for opt, sched in ((topt, ts), (kopt2, ks2)):
            opt.step()
            sched.step(1.0) if name == "ReduceLROnPlateau" else sched.step()
        _close(ks2.get_last_lr(), ts.get_last_lr())


def test_scheduler_warnings_are_torchs():
    messages = {}
    for lib in (torch, kiln):
        opt = lib.optim.SGD([lib.ones(2, requires_grad=True)], lr=0.1)
        sched = lib.optim.lr_scheduler.StepLR(opt, 2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched.step()  # before optimizer.step()
            sched.get_lr()  # outside step()
            opt.step()
            sched.step(3)  # the deprecated epoch argument
        messages[lib] = [(w.category, str(w.message)) for w in caught]
    assert messages[kiln] == messages[torch]
    assert len(messages[kiln]) == 3
    # optimizer.step replaced after the scheduler was built
    opt = kiln.optim.SGD([kiln.ones(2, requires_grad=True)], lr=0.1)
    sched = kiln.optim.lr_scheduler.StepLR(opt, 2)
    opt.step = lambda closure=None: None
    with pytest.warns(UserWarning, match="has been overridden after learning rate scheduler"):
        sched.step()


# --------------------------------------------------------------------------- swa_utils


def test_swa_utils_equal_torchs():
    results = {}
    for lib in (torch, kiln):
        lib.manual_seed(0)
        m = lib.nn.Sequential(
            lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.ReLU(), lib.nn.Linear(4, 1)
        )
        if lib is kiln:
            m.load_state_dict(_to_kiln(results[torch]["init"]))
        init = {k: v.clone() for k, v in m.state_dict().items()}
        opt = lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        swa = lib.optim.swa_utils.AveragedModel(m)
        ema = lib.optim.swa_utils.AveragedModel(
            m, multi_avg_fn=lib.optim.swa_utils.get_ema_multi_avg_fn(0.9), use_buffers=True
        )
        ema2 = lib.optim.swa_utils.AveragedModel(m, avg_fn=lib.optim.swa_utils.get_ema_avg_fn(0.8))
        sched = lib.optim.swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=3)
        lrs = []
        xs = [x for x, _ in _batches(6, "float32")]
        for x in xs:
            opt.zero_grad()
            m(lib.tensor(x[:, :3].copy())).pow(2).mean().backward()
            opt.step()
            sched.step()
            for avg in (swa, ema, ema2):
                avg.update_parameters(m)
            lrs.append(sched.get_last_lr()[0])
        lib.optim.swa_utils.update_bn([(lib.tensor(x[:, :3].copy()),) for x in xs], swa)
        results[lib] = dict(
            init=init,
            lrs=lrs,
            models=[{k: _np(v) for k, v in a.state_dict().items()} for a in (swa, ema, ema2)],
            sched=list(sched.state_dict()),
        )
    t, k = results[torch], results[kiln]
    assert k["lrs"] == pytest.approx(t["lrs"], rel=1e-12)
    assert k["sched"] == t["sched"]
    for tm, km in zip(t["models"], k["models"]):
        assert list(km) == list(tm)
        for key in tm:
            np.testing.assert_allclose(km[key], tm[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize(
    "name, groups",
    [
        ("SGD", [dict(momentum=0.9, nesterov=True), dict(lr=0.05, weight_decay=0.1)]),
        ("Adam", [dict(amsgrad=True), dict(lr=0.05, betas=(0.5, 0.9), maximize=True)]),
        ("RMSprop", [dict(centered=True), dict(momentum=0.3, alpha=0.9)]),
    ],
)
def test_groups_with_their_own_options_equal_torch(name, groups):
    tm, km = _same_model("float64")
    topt = getattr(torch.optim, name)(
        [dict(groups[0], params=list(tm[0].parameters()))]
        + [dict(groups[1], params=list(tm[2].parameters()))],
        lr=0.01,
    )
    kopt = getattr(kiln.optim, name)(
        [dict(groups[0], params=list(km[0].parameters()))]
        + [dict(groups[1], params=list(km[2].parameters()))],
        lr=0.01,
    )
    assert repr(kopt) == repr(topt)
    for x, y in _batches(20, "float64"):
        for lib, m, opt in ((torch, tm, topt), (kiln, km, kopt)):
            opt.zero_grad()
            lib.nn.functional.mse_loss(m(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    for tp, kp in zip(tm.parameters(), km.parameters()):
        np.testing.assert_allclose(_np(kp), _np(tp), rtol=1e-10, atol=1e-12)


def test_a_user_defined_optimizer_gets_hooks_and_the_scheduler_protocol():
    class Halve(kiln.optim.Optimizer):
        def __init__(self, params, lr=0.5):
            super().__init__(params, dict(lr=lr))

        def step(self, closure=None):
            with kiln.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.sub_(p.grad * group["lr"])

    w = kiln.tensor([2.0], requires_grad=True)
    opt = Halve([w])
    seen = []
    opt.register_step_post_hook(lambda o, a, k: seen.append(w.item()))
    sched = kiln.optim.lr_scheduler.StepLR(opt, 1, 0.5)
    w.grad = kiln.tensor([1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()  # after optimizer.step(): no warning
    assert seen == [1.5] and opt.param_groups[0]["lr"] == 0.25
    assert repr(opt) == "Halve (\nParameter Group 0\n    initial_lr: 0.5\n    lr: 0.25\n)"


def test_lbfgs_state_is_torchs():
    keys = []
    for lib in (torch, kiln):
        x = lib.tensor([3.0, -1.0], requires_grad=True)
        opt = lib.optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=5)

        def closure(opt=opt, x=x):
            opt.zero_grad()
            loss = ((x - 1) ** 4).sum()
            loss.backward()
            return loss

        opt.step(closure)
        opt.step(closure)
        state = opt.state_dict()["state"][0]
        keys.append([(k, type(v).__name__) for k, v in state.items()])
    assert keys[0] == keys[1]


def test_a_scheduler_writes_a_tensor_lr_in_place_as_torchs():
    out = []
    for lib in (torch, kiln):
        p = lib.ones(2, requires_grad=True)
        lr = lib.tensor(0.1)
        opt = lib.optim.SGD([p], lr=lr)
        sched = lib.optim.lr_scheduler.StepLR(opt, 1, 0.5)
        for _ in range(3):
            p.grad = lib.ones(2)
            opt.step()
            sched.step()
        assert opt.param_groups[0]["lr"] is lr
        assert sched.get_last_lr()[0] is not lr  # a copy, as torch's
        out.append([float(lr), float(sched.base_lrs[0]), *_np(p).tolist()])
    assert out[1] == pytest.approx(out[0])


def test_a_user_scheduler_subclassing_the_old_name_runs_as_torchs():
    lrs = []
    for lib in (torch, kiln):

        class Halving(lib.optim.lr_scheduler._LRScheduler):
            def get_lr(self):
                return [group["lr"] * 0.5 for group in self.optimizer.param_groups]

        opt = lib.optim.SGD([lib.ones(1, requires_grad=True)], lr=1.0)
        sched = Halving(opt)
        for _ in range(3):
            opt.step()
            sched.step()
        lrs.append((sched.get_last_lr(), sched.last_epoch, list(sched.state_dict())))
    assert lrs[1] == lrs[0]
