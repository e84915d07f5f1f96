"""kiln.optim against a NumPy reimplementation (always, bit for bit) and PyTorch (if present).

One table of optimizer configurations drives every comparison. The NumPy reference follows
PyTorch's single-tensor update formulas in the same order of float32 operations as kiln;
PyTorch itself fuses some of them (fma in ``add(alpha=)`` and ``lerp``, a vectorized
``sqrt``), so against PyTorch the check is to a few float32 ulps.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import kiln
from kiln.optim import lr_scheduler

F32 = np.float32

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, betas=(0.3, 0.9), weight_decay=0.5, amsgrad=True, maximize=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in OPTIMIZERS]


# ------------------------------------------------------------------------------ NumPy reference


class NumpySGD:
    def __init__(
        self, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False
    ):
        self.__dict__.update(locals())
        self.buf = None

    def step(self, p, grad):
        g = -grad if self.maximize else grad
        if self.weight_decay:
            g = g + p * F32(self.weight_decay)
        if self.momentum:
            if self.buf is None:
                self.buf = g.copy()
            else:
                self.buf = self.buf * F32(self.momentum) + g * F32(1 - self.dampening)
            g = g + self.buf * F32(self.momentum) if self.nesterov else self.buf
        return p + g * F32(-self.lr)


class NumpyAdam:
    decoupled = False

    def __init__(
        self, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False
    ):
        self.__dict__.update(locals())
        self.t = 0
        self.m = self.v = self.v_max = None

    def step(self, p, grad):
        beta1, beta2 = self.betas
        g = -grad if self.maximize else grad
        if self.m is None:
            self.m, self.v, self.v_max = (np.zeros_like(p) for _ in range(3))
        self.t += 1
        if self.weight_decay:
            if self.decoupled:
                p = p * F32(1 - self.lr * self.weight_decay)
            else:
                g = g + p * F32(self.weight_decay)
        w = F32(1 - beta1)  # PyTorch's two-sided lerp
        self.m = self.m + (g - self.m) * w if w < 0.5 else g - (g - self.m) * F32(1 - w)
        self.v = self.v * F32(beta2) + g * F32(1 - beta2) * g
        step_size = self.lr / (1 - beta1 ** float(self.t))
        bias_correction2_sqrt = (1 - beta2 ** float(self.t)) ** 0.5
        v = self.v
        if self.amsgrad:
            self.v_max = np.maximum(self.v_max, self.v)
            v = self.v_max
        denom = np.sqrt(v) / F32(bias_correction2_sqrt) + F32(self.eps)
        return p + self.m * F32(-step_size) / denom


class NumpyAdamW(NumpyAdam):
    decoupled = True

    def __init__(
        self, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False
    ):
        super().__init__(lr, betas, eps, weight_decay, amsgrad, maximize)


REFERENCE = {"SGD": NumpySGD, "Adam": NumpyAdam, "AdamW": NumpyAdamW}


def _data(steps=5, shape=(4, 3), seed=0):
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(steps)]
    return p0, grads


def _run_kiln(name, kw, p0, grads):
    p = kiln.tensor(p0, requires_grad=True)
    opt = getattr(kiln.optim, name)([p], **kw)
    for g in grads:
        p.grad = kiln.tensor(g)
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize("name, kw", OPTIMIZERS, ids=IDS)
def test_matches_numpy_reference_exactly(name, kw):
    p0, grads = _data()
    ref = REFERENCE[name](**kw)
    p = p0
    for g in grads:
        p = ref.step(p, g)
    np.testing.assert_array_equal(_run_kiln(name, kw, p0, grads), p)


@pytest.mark.parametrize("name, kw", OPTIMIZERS, ids=IDS)
def test_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    p0, grads = _data(steps=8)
    tp = torch.tensor(p0, requires_grad=True)
    topt = getattr(torch.optim, name)([tp], foreach=False, **kw)
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(
        _run_kiln(name, kw, p0, grads), tp.detach().numpy(), rtol=2e-6, atol=2e-7
    )


def test_sgd_first_step_takes_the_gradient_as_buffer():
    p = kiln.tensor([1.0], requires_grad=True)
    opt = kiln.optim.SGD([p], lr=1.0, momentum=0.5, dampening=0.5)
    p.grad = kiln.tensor([2.0])
    opt.step()  # buf = g = 2 (no dampening at step 1)
    assert p.item() == -1.0
    opt.step()  # buf = 0.5 * 2 + 0.5 * 2 = 2
    assert p.item() == -3.0
    # the step count is kiln's own (PyTorch's SGD state holds the momentum buffer only)
    assert list(opt.state[p]) == ["momentum_buffer"]
    assert opt._hidden_state[p]["step"].item() == 2.0


def test_zero_grad_and_parameters_without_grad():
    a = kiln.tensor([1.0], requires_grad=True)
    b = kiln.tensor([1.0], requires_grad=True)
    opt = kiln.optim.Adam([a, b], lr=0.1)
    (a * 3).sum().backward()
    opt.step()
    assert b.item() == 1.0 and b not in opt.state  # no grad: untouched, no state
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0]
    opt.zero_grad()
    assert a.grad is None


def test_param_groups_have_their_own_hyper_parameters():
    a = kiln.tensor([1.0], requires_grad=True)
    b = kiln.tensor([1.0], requires_grad=True)
    opt = kiln.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = kiln.tensor([1.0])
    b.grad = kiln.tensor([1.0])
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)
    c = kiln.tensor([0.0], requires_grad=True)
    opt.add_param_group({"params": c, "momentum": 0.9})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.9


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda a: kiln.optim.SGD([], lr=0.1), "empty parameter list"),
        (lambda a: kiln.optim.SGD([{"params": [a]}, {"params": [a]}]), "more than one"),
        (lambda a: kiln.optim.SGD([a * 2], lr=0.1), "non-leaf"),
        (lambda a: kiln.optim.SGD([a], lr=-1.0), "learning rate"),
        (lambda a: kiln.optim.SGD([a], nesterov=True), "Nesterov"),
        (lambda a: kiln.optim.Adam([a], betas=(1.0, 0.9)), "beta parameter at index 0"),
    ],
)
def test_bad_arguments_are_refused(bad, message):
    a = kiln.tensor([1.0], requires_grad=True)
    with pytest.raises((ValueError, TypeError), match=message):
        bad(a)


@pytest.mark.parametrize("name, kw", OPTIMIZERS, ids=IDS)
def test_state_dict_round_trip_continues_identically(name, kw, tmp_path):
    p0, grads = _data(steps=6)
    expected = _run_kiln(name, kw, p0, grads)
    p = kiln.tensor(p0, requires_grad=True)
    opt = getattr(kiln.optim, name)([p], **kw)
    for g in grads[:3]:
        p.grad = kiln.tensor(g)
        opt.step()
    kiln.save({"p": p, "opt": opt.state_dict()}, tmp_path / "ckpt.kiln")
    saved = kiln.load(tmp_path / "ckpt.kiln")
    q = kiln.tensor(saved["p"].detach().numpy(), requires_grad=True)
    opt2 = getattr(kiln.optim, name)([q], **dict(kw, lr=123.0))
    opt2.load_state_dict(saved["opt"])
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    for g in grads[3:]:
        q.grad = kiln.tensor(g)
        opt2.step()
    np.testing.assert_array_equal(q.detach().numpy(), expected)


def test_load_state_dict_updates_state_tensors_in_place():
    p = kiln.tensor([1.0, 2.0], requires_grad=True)
    opt = kiln.optim.Adam([p])
    p.grad = kiln.tensor([1.0, 1.0])
    opt.step()
    exp_avg = opt.state[p]["exp_avg"]
    sd = opt.state_dict()
    sd["state"][0] = {k: v * 0 for k, v in sd["state"][0].items()}
    opt.load_state_dict(sd)
    assert opt.state[p]["exp_avg"] is exp_avg and exp_avg.tolist() == [0.0, 0.0]


def test_load_state_dict_rejects_mismatched_groups():
    a = kiln.tensor([1.0], requires_grad=True)
    opt = kiln.optim.SGD([a], lr=0.1)
    other = kiln.optim.SGD([a, kiln.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(other.state_dict())


def test_loads_a_torch_sgd_state_dict():
    torch = pytest.importorskip("torch")
    p0, grads = _data()
    tp = torch.tensor(p0, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    for g in grads[:2]:
        tp.grad = torch.tensor(g)
        topt.step()
    sd = topt.state_dict()
    sd["state"] = {
        k: {n: kiln.tensor(v.numpy()) for n, v in s.items()} for k, s in sd["state"].items()
    }
    p = kiln.tensor(tp.detach().numpy(), requires_grad=True)
    opt = kiln.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict(sd)
    for g in grads[2:]:
        tp.grad = torch.tensor(g)
        topt.step()
        p.grad = kiln.tensor(g)
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------ schedulers

SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5], gamma=0.1)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01)),
]


def _closed_form(name, kw, base, epoch):
    if name == "StepLR":
        return base * kw["gamma"] ** (epoch // kw["step_size"])
    if name == "MultiStepLR":
        return base * kw["gamma"] ** sum(m <= epoch for m in kw["milestones"])
    if name == "ExponentialLR":
        return base * kw["gamma"] ** epoch
    eta, t_max = kw["eta_min"], kw["T_max"]
    return eta + (base - eta) * (1 + math.cos(math.pi * epoch / t_max)) / 2


def _kiln_lrs(name, kw, epochs=10, base=0.5):
    opt = kiln.optim.SGD([kiln.zeros(1, requires_grad=True)], lr=base)
    sched = getattr(lr_scheduler, name)(opt, **kw)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == lrs[-1]
    return lrs


@pytest.mark.parametrize("name, kw", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_scheduler_follows_closed_form(name, kw):
    lrs = _kiln_lrs(name, kw)
    expected = [_closed_form(name, kw, 0.5, e) for e in range(len(lrs))]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "name, kw", SCHEDULERS + [("LambdaLR", {})], ids=[s[0] for s in SCHEDULERS] + ["LambdaLR"]
)
def test_scheduler_matches_torch_exactly(name, kw):
    torch = pytest.importorskip("torch")
    if name == "LambdaLR":
        kw = dict(lr_lambda=lambda e: 1 / (1 + e))
    tp = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.5)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    expected = [tsched.get_last_lr()[0]]
    for _ in range(10):
        topt.step()
        tsched.step()
        expected.append(tsched.get_last_lr()[0])
    assert _kiln_lrs(name, kw) == expected


def test_scheduler_state_dict_resumes():
    opt = kiln.optim.SGD([kiln.zeros(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    opt2 = kiln.optim.SGD([kiln.zeros(1, requires_grad=True)], lr=1.0)
    sched2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr() == [0.25]


def test_lambda_scheduler_per_group_and_state_dict():
    a, b = (kiln.zeros(1, requires_grad=True) for _ in range(2))
    opt = kiln.optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 0.5**e, lambda e: e + 1])
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [0.025, 3.0]
    assert sched.state_dict()["lr_lambdas"] == [None, None]
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])


def test_docstring_examples():
    import kiln.optim.adam
    import kiln.optim.optimizer
    import kiln.optim.sgd

    for module in (kiln.optim, kiln.optim.optimizer, kiln.optim.sgd, kiln.optim.adam, lr_scheduler):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__


# ------------------------------------------------------------------------ the other optimizers
# Checked against torch.optim step by step (their single-tensor updates, foreach=False).

MORE_OPTIMIZERS = [
    ("RMSprop", dict(lr=0.01)),
    (
        "RMSprop",
        dict(lr=0.01, alpha=0.9, centered=True, momentum=0.8, weight_decay=0.1, maximize=True),
    ),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.01)),
    ("RAdam", dict(lr=0.01)),  # rho_t stays under 5 for these steps: the unrectified branch
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, decoupled_weight_decay=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, maximize=True)),
]
MORE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in MORE_OPTIMIZERS]


def _torch_run(torch, name, kw, p0, grads, opt=None):
    tp = torch.tensor(p0, requires_grad=True)
    topt = opt or getattr(torch.optim, name)([tp], foreach=False, **kw)
    trajectory = []
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
        trajectory.append(tp.detach().numpy().copy())
    return trajectory, topt


@pytest.mark.parametrize("name, kw", MORE_OPTIMIZERS, ids=MORE_IDS)
def test_more_optimizers_match_torch_step_by_step(name, kw):
    torch = pytest.importorskip("torch")
    p0, grads = _data(steps=10)
    expected, _ = _torch_run(torch, name, kw, p0, grads)
    p = kiln.tensor(p0, requires_grad=True)
    opt = getattr(kiln.optim, name)([p], **kw)
    for g, want in zip(grads, expected):
        p.grad = kiln.tensor(g)
        opt.step()
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-6, atol=1e-6)


def test_radam_rectified_branch_matches_torch():
    """Enough steps for rho_t to pass 5 with beta2 = 0.999 (the rectified update)."""
    torch = pytest.importorskip("torch")
    p0, grads = _data(steps=12)
    expected, topt = _torch_run(torch, "RAdam", dict(lr=0.01, betas=(0.9, 0.99)), p0, grads)
    p = kiln.tensor(p0, requires_grad=True)
    opt = kiln.optim.RAdam([p], lr=0.01, betas=(0.9, 0.99))
    for g in grads:
        p.grad = kiln.tensor(g)
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), expected[-1], rtol=1e-6, atol=1e-6)
    step = opt.state[p]["step"].item()
    rho_inf = 2 / 0.01 - 1
    assert rho_inf - 2 * step * 0.99**step / (1 - 0.99**step) > 5  # really rectified


@pytest.mark.parametrize("name, kw", MORE_OPTIMIZERS, ids=MORE_IDS)
def test_more_optimizers_state_dict_round_trip(name, kw, tmp_path):
    p0, grads = _data(steps=6)
    expected = _run_kiln(name, kw, p0, grads)
    p = kiln.tensor(p0, requires_grad=True)
    opt = getattr(kiln.optim, name)([p], **kw)
    for g in grads[:3]:
        p.grad = kiln.tensor(g)
        opt.step()
    kiln.save({"p": p, "opt": opt.state_dict()}, tmp_path / "ckpt.kiln")
    saved = kiln.load(tmp_path / "ckpt.kiln")
    q = kiln.tensor(saved["p"].detach().numpy(), requires_grad=True)
    opt2 = getattr(kiln.optim, name)([q], **dict(kw, lr=123.0))
    opt2.load_state_dict(saved["opt"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for g in grads[3:]:
        q.grad = kiln.tensor(g)
        opt2.step()
    np.testing.assert_array_equal(q.detach().numpy(), expected)


@pytest.mark.parametrize("name, kw", MORE_OPTIMIZERS, ids=MORE_IDS)
def test_more_optimizers_continue_from_a_torch_state_dict(name, kw):
    """A state dict written by torch.optim (its tensors converted) resumes in kiln."""
    torch = pytest.importorskip("torch")
    p0, grads = _data(steps=6)
    done, topt = _torch_run(torch, name, kw, p0, grads[:3])
    sd = topt.state_dict()
    sd["state"] = {
        k: {n: kiln.tensor(v.numpy()) if torch.is_tensor(v) else v for n, v in s.items()}
        for k, s in sd["state"].items()
    }
    expected = list(_torch_continue(torch, topt, grads[3:]))
    p = kiln.tensor(done[-1], requires_grad=True)
    opt = getattr(kiln.optim, name)([p], **kw)
    opt.load_state_dict(sd)
    assert set(opt.state[p]) >= set(sd["state"][0])
    for g, want in zip(grads[3:], expected):
        p.grad = kiln.tensor(g)
        opt.step()
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-6, atol=1e-6)


def _torch_continue(torch, topt, grads):
    tp = topt.param_groups[0]["params"][0]
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
        yield tp.detach().numpy().copy()


def test_more_optimizers_trace_inside_one_jitted_step():
    """Every traceable optimizer's update in one compiled step: eager == compiled, one trace."""
    rng = np.random.default_rng(3)
    a = kiln.tensor(rng.standard_normal((6, 4)).astype(np.float32))
    b = kiln.tensor(rng.standard_normal(6).astype(np.float32))
    x0 = rng.standard_normal(4).astype(np.float32)
    configs = [
        ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5)),
        ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
        ("Adadelta", dict(lr=1.0, weight_decay=0.1)),
        ("Adamax", dict(lr=0.01, weight_decay=0.1)),
        ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
        ("RAdam", dict(lr=0.05, betas=(0.9, 0.9))),  # rectifies from step 6
    ]

    def run(compiled):
        params = [kiln.tensor(x0, requires_grad=True) for _ in configs]
        opts = [getattr(kiln.optim, n)([p], **kw) for p, (n, kw) in zip(params, configs)]

        def step():
            losses = []
            for p, opt in zip(params, opts):
                opt.zero_grad()
                loss = ((a @ p - b) ** 2).sum()
                loss.backward()
                opt.step()
                losses.append(loss)
            return kiln.stack(losses).detach()

        fn = kiln.jit(step) if compiled else step
        losses = [fn().numpy().copy() for _ in range(8)]
        return np.array(losses), [p.detach().numpy() for p in params], fn

    eager, compiled = run(False), run(True)
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-5)
    for e, c in zip(eager[1], compiled[1]):
        np.testing.assert_allclose(c, e, rtol=1e-5, atol=1e-6)
    assert compiled[2].trace_count == 1
    assert (eager[0][-1] < eager[0][0]).all()  # every optimizer made progress


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search_fn):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 4)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    x0 = rng.standard_normal(4).astype(np.float32)
    results = []
    for lib in (torch, kiln):
        x = lib.tensor(x0, requires_grad=True)
        at, bt = lib.tensor(a), lib.tensor(b)
        opt = lib.optim.LBFGS([x], max_iter=4, history_size=3, line_search_fn=line_search_fn)

        def closure(opt=opt, x=x, at=at, bt=bt):
            opt.zero_grad()
            loss = ((at @ x - bt) ** 2).sum() + (x**4).sum() * 0.1
            loss.backward()
            return loss

        first = float(opt.step(closure).detach())
        results.append((first, x.detach().numpy().copy(), opt.state[x]["func_evals"]))
    (t_loss, t_x, t_evals), (k_loss, k_x, k_evals) = results
    assert k_loss == pytest.approx(t_loss, rel=1e-6)
    assert k_evals == t_evals
    np.testing.assert_allclose(k_x, t_x, rtol=1e-4, atol=1e-5)
    assert not np.allclose(k_x, x0)


def test_lbfgs_refuses_tracing_and_groups():
    x = kiln.zeros(2, requires_grad=True)
    opt = kiln.optim.LBFGS([x])

    @kiln.jit
    def step():
        return opt.step(lambda: (x * x).sum())

    with pytest.raises(RuntimeError, match="LBFGS.step.*cannot be traced"):
        step()
    with pytest.raises(ValueError, match="parameter groups"):
        kiln.optim.LBFGS([{"params": [x]}, {"params": [kiln.zeros(1, requires_grad=True)]}])
    with pytest.raises(RuntimeError, match="strong_wolfe"):
        kiln.optim.LBFGS([x], line_search_fn="armijo")


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda a: kiln.optim.RMSprop([a], alpha=-1.0), "alpha"),
        (lambda a: kiln.optim.Adagrad([a], lr_decay=-1.0), "lr_decay"),
        (lambda a: kiln.optim.Adadelta([a], rho=1.5), "rho"),
        (lambda a: kiln.optim.Adamax([a], betas=(0.9, 1.0)), "beta parameter at index 1"),
        (lambda a: kiln.optim.NAdam([a], momentum_decay=-1.0), "momentum_decay"),
        (lambda a: kiln.optim.RAdam([a], eps=-1.0), "epsilon"),
    ],
)
def test_more_optimizers_refuse_bad_arguments(bad, message):
    with pytest.raises(ValueError, match=message):
        bad(kiln.tensor([1.0], requires_grad=True))


def test_more_optimizer_docstrings():
    import kiln.optim.adam_variants
    import kiln.optim.adaptive
    import kiln.optim.lbfgs

    for module in (kiln.optim.adaptive, kiln.optim.adam_variants, kiln.optim.lbfgs):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


# ------------------------------------------------------------------------ every scheduler vs torch
# Each row builds a scheduler from a module (torch.optim.lr_scheduler or kiln's) and an optimizer.

SCHEDULER_FACTORIES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 1 / (1 + e)),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.95 if e % 2 else 1.0),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=31),
    "OneCycleLR-3phase-linear": lambda m, o: m.OneCycleLR(
        o, max_lr=[0.8], epochs=4, steps_per_epoch=8, three_phase=True, anneal_strategy="linear"
    ),
    "CyclicLR": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(
        o, 0.01, 0.1, step_size_up=3, step_size_down=5, mode="triangular2"
    ),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(
        o, 0.01, 0.1, step_size_up=5, mode="exp_range", gamma=0.95
    ),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.001
    ),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=9),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=6),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=10)],
        milestones=[5],
    ),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)]
    ),
}
_METRICS = [5.0, 4.0, 4.0, 3.9999, 4.0, 4.5, 3.0, 3.0, 3.0, 3.0, 2.0] * 3


def _lr_sequence(module, optim_module, make, steps=30, optimizer="SGD"):
    opt = _optimizer_for(optim_module, optimizer)
    sched = make(module, opt)
    lrs = [(sched.get_last_lr()[0], _momentum(opt))]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append((sched.get_last_lr()[0], _momentum(opt)))
    return lrs


def _optimizer_for(optim_module, name):
    lib = kiln if optim_module is kiln.optim else __import__("torch")
    p = lib.zeros(1, requires_grad=True)
    if name == "SGD":
        return optim_module.SGD([p], lr=0.5, momentum=0.9)
    return optim_module.Adam([p], lr=0.5)


def _momentum(opt):
    group = opt.param_groups[0]
    return group["betas"][0] if "betas" in group else group["momentum"]


@pytest.mark.parametrize("name", list(SCHEDULER_FACTORIES))
def test_every_scheduler_matches_torch_over_30_steps(name):
    torch = pytest.importorskip("torch")
    make = SCHEDULER_FACTORIES[name]
    expected = _lr_sequence(torch.optim.lr_scheduler, torch.optim, make)
    got = _lr_sequence(lr_scheduler, kiln.optim, make)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert len({lr for lr, _ in got}) > 1  # the schedule really changes the rate


@pytest.mark.parametrize("name", ["OneCycleLR", "CyclicLR"])
def test_cyclic_schedulers_cycle_adams_beta1_like_torch(name):
    torch = pytest.importorskip("torch")
    make = SCHEDULER_FACTORIES[name]
    expected = _lr_sequence(torch.optim.lr_scheduler, torch.optim, make, optimizer="Adam")
    got = _lr_sequence(lr_scheduler, kiln.optim, make, optimizer="Adam")
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert len({m for _, m in got}) > 2


@pytest.mark.parametrize(
    "kw",
    [
        dict(patience=2, factor=0.5),
        dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs", cooldown=2),
        dict(patience=0, min_lr=0.1, factor=0.3, threshold=0.01),
    ],
)
def test_reduce_lr_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    sequences = []
    for optim_module, module in (
        (torch.optim, torch.optim.lr_scheduler),
        (kiln.optim, lr_scheduler),
    ):
        opt = _optimizer_for(optim_module, "SGD")
        sched = module.ReduceLROnPlateau(opt, **kw)
        lrs = []
        for metric in _METRICS:
            opt.step()
            sched.step(metric)
            lrs.append(sched.get_last_lr()[0])
        sequences.append(lrs)
    assert sequences[1] == sequences[0]
    assert len(set(sequences[0])) > 1


@pytest.mark.parametrize("name", list(SCHEDULER_FACTORIES) + ["ReduceLROnPlateau"])
def test_every_scheduler_state_dict_resumes(name):
    """Save after 12 steps, load into a fresh optimizer and scheduler: the rest is identical."""
    if name == "ReduceLROnPlateau":
        make = lambda m, o: m.ReduceLROnPlateau(o, patience=1)  # noqa: E731
    else:
        make = SCHEDULER_FACTORIES[name]

    def advance(opt, sched, steps, start):
        out = []
        for i in range(start, start + steps):
            opt.step()
            sched.step(_METRICS[i]) if name == "ReduceLROnPlateau" else sched.step()
            out.append((opt.param_groups[0]["lr"], _momentum(opt)))
        return out

    opt = _optimizer_for(kiln.optim, "SGD")
    sched = make(lr_scheduler, opt)
    advance(opt, sched, 12, 0)
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    expected = advance(opt, sched, 12, 12)

    opt2 = _optimizer_for(kiln.optim, "SGD")
    sched2 = make(lr_scheduler, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert "optimizer" not in saved_sched
    assert advance(opt2, sched2, 12, 12) == expected


def test_scheduler_arguments_are_checked():
    opt = _optimizer_for(kiln.optim, "SGD")
    adam_free = kiln.optim.Adagrad([kiln.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match="start_factor|Starting"):
        lr_scheduler.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.CyclicLR(adam_free, 0.1, 1.0)
    with pytest.raises(ValueError, match="T_0"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="one more"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="Factor"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()


def test_scheduler_docstrings():
    import kiln.optim.lr_cycles

    for module in (lr_scheduler, kiln.optim.lr_cycles):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


@pytest.mark.parametrize(
    "make_opt, make_sched",
    [
        (
            lambda ps: kiln.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
            lambda o: lr_scheduler.CyclicLR(o, 0.001, 0.02, step_size_up=3),
        ),
        (
            lambda ps: kiln.optim.AdamW(ps, lr=0.01),
            lambda o: lr_scheduler.OneCycleLR(
                o, max_lr=0.05, total_steps=12, base_momentum=0.3, max_momentum=0.7
            ),
        ),
    ],
    ids=["sgd-cyclic", "adamw-onecycle"],
)
def test_cycled_momentum_is_a_live_input_of_a_jitted_step(make_opt, make_sched):
    """CyclicLR/OneCycleLR change momentum (beta1) every step: no retrace, eager values."""
    rng = np.random.default_rng(0)
    a = kiln.tensor(rng.standard_normal((6, 4)).astype(np.float32))
    b = kiln.tensor(rng.standard_normal(6).astype(np.float32))
    x0 = rng.standard_normal(4).astype(np.float32)

    def run(compiled):
        p = kiln.tensor(x0, requires_grad=True)
        opt = make_opt([p])
        sched = make_sched(opt)

        def step():
            opt.zero_grad()
            loss = ((a @ p - b) ** 2).sum()
            loss.backward()
            opt.step()
            return loss.detach()

        fn = kiln.jit(step) if compiled else step
        losses, momenta = [], []
        for _ in range(10):
            losses.append(fn().item())
            sched.step()
            group = opt.param_groups[0]
            momenta.append(group["betas"][0] if "betas" in group else group["momentum"])
        return np.array(losses), p.detach().numpy(), fn, momenta

    eager, compiled = run(False), run(True)
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-5)
    np.testing.assert_allclose(compiled[1], eager[1], rtol=1e-5, atol=1e-6)
    assert compiled[2].trace_count == 1
    assert len(set(eager[3])) > 3  # the momentum really cycled


def test_complex_parameters_sgd_as_torch_the_others_refuse():
    """Adam on a complex parameter squared the complex gradient (PyTorch updates the real
    and imaginary parts as two real parameters): a wrong answer, now refused; SGD's update
    is linear in the gradient and matches PyTorch."""
    import torch

    z = np.array([1 + 2j, -0.5 + 0.25j, 3 - 1j], np.complex64)
    results = []
    for lib in (kiln, torch):
        p = lib.nn.Parameter(lib.tensor(z))
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
        for _ in range(3):
            opt.zero_grad()
            (p.abs() ** 2).sum().backward()
            opt.step()
        results.append(p.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
    for cls in (kiln.optim.Adam, kiln.optim.AdamW, kiln.optim.RMSprop, kiln.optim.Adagrad):
        with pytest.raises(NotImplementedError, match="complex parameters"):
            cls([kiln.nn.Parameter(kiln.tensor(z))], lr=0.1)
