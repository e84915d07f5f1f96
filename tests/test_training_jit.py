"""A whole training step under ``kiln.jit`` gives the eager losses and parameters.

The step is the usual ``zero_grad / forward / loss / backward / opt.step``. Parameters and
optimizer state are captured tensors updated by write-backs, the learning rate is a live
graph input (a scheduler changes it without a retrace), other hyper-parameters are guarded
(changing them retraces), and dropout draws from kiln's generator the same way in both
modes. One table of (optimizer, scheduler, dropout) rows drives the comparison.
"""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln.optim import lr_scheduler

N_IN, N_HIDDEN, N_OUT, BATCH, STEPS = 6, 16, 3, 24, 6


def make_params(seed=0):
    """A two-layer MLP's parameters as plain leaf tensors (independent of kiln.nn)."""
    rng = np.random.default_rng(seed)

    def leaf(*shape, scale):
        return kiln.tensor(
            (rng.standard_normal(shape) * scale).astype(np.float32), requires_grad=True
        )

    return [
        leaf(N_IN, N_HIDDEN, scale=0.5),
        leaf(N_HIDDEN, scale=0.1),
        leaf(N_HIDDEN, N_OUT, scale=0.5),
        leaf(N_OUT, scale=0.1),
    ]


def forward(params, x, dropout=0.0):
    w1, b1, w2, b2 = params
    h = kiln.relu(x @ w1 + b1)
    if dropout:
        keep = (kiln.rand(h.shape) >= dropout).float()
        h = h * keep / (1 - dropout)
    return h @ w2 + b2


def cross_entropy(logits, one_hot):
    return -(kiln.log_softmax(logits, 1) * one_hot).sum(1).mean()


def batches(seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(STEPS):
        x = rng.standard_normal((BATCH, N_IN)).astype(np.float32)
        y = np.eye(N_OUT, dtype=np.float32)[rng.integers(0, N_OUT, BATCH)]
        out.append((kiln.tensor(x), kiln.tensor(y)))
    return out


def train(make_opt, compiled, make_sched=None, dropout=0.0, data=None):
    """Run STEPS steps; return (losses, final parameters, the step function)."""
    params = make_params()
    opt = make_opt(params)
    sched = make_sched(opt) if make_sched else None

    def step(x, y):
        opt.zero_grad()
        loss = cross_entropy(forward(params, x, dropout), y)
        loss.backward()
        opt.step()
        return loss

    fn = kiln.jit(step) if compiled else step
    kiln.manual_seed(1234)
    losses = []
    for x, y in data or batches():
        losses.append(fn(x, y).item())
        if sched:
            sched.step()
    return np.array(losses), [p.detach().numpy().copy() for p in params], fn


CASES = {
    "sgd-momentum": (lambda ps: kiln.optim.SGD(ps, lr=0.2, momentum=0.9), None, 0.0),
    "sgd-nesterov-wd": (
        lambda ps: kiln.optim.SGD(ps, lr=0.1, momentum=0.8, nesterov=True, weight_decay=1e-3),
        None,
        0.0,
    ),
    "sgd-dampening": (
        lambda ps: kiln.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
        None,
        0.0,
    ),
    "adam": (lambda ps: kiln.optim.Adam(ps, lr=0.02), None, 0.0),
    "adamw-amsgrad": (
        lambda ps: kiln.optim.AdamW(ps, lr=0.02, weight_decay=0.1, amsgrad=True),
        None,
        0.0,
    ),
    "sgd-steplr": (
        lambda ps: kiln.optim.SGD(ps, lr=0.3, momentum=0.9),
        lambda opt: lr_scheduler.StepLR(opt, step_size=2, gamma=0.3),
        0.0,
    ),
    "adam-cosine": (
        lambda ps: kiln.optim.Adam(ps, lr=0.05),
        lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS),
        0.0,
    ),
    "adamw-lambda": (
        lambda ps: kiln.optim.AdamW(ps, lr=0.05),
        lambda opt: lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1 + e)),
        0.0,
    ),
    "sgd-dropout": (lambda ps: kiln.optim.SGD(ps, lr=0.2, momentum=0.9), None, 0.25),
    "adam-dropout-exponential": (
        lambda ps: kiln.optim.Adam(ps, lr=0.02),
        lambda opt: lr_scheduler.ExponentialLR(opt, 0.7),
        0.25,
    ),
}


def _assert_same(eager, compiled):
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(compiled[1], eager[1]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_compiled_step_matches_eager(case):
    make_opt, make_sched, dropout = CASES[case]
    eager = train(make_opt, False, make_sched, dropout)
    compiled = train(make_opt, True, make_sched, dropout)
    _assert_same(eager, compiled)
    assert compiled[2].trace_count == 1  # one trace for all steps: no retrace
    assert eager[0][-1] < eager[0][0] or dropout  # it actually trains


def test_scheduler_changes_are_seen_without_retrace():
    make_opt = CASES["sgd-steplr"][0]
    with_sched = train(make_opt, True, CASES["sgd-steplr"][1])
    without = train(make_opt, True)
    assert with_sched[2].trace_count == 1
    # the first two steps use the same lr; after the first decay the runs must differ
    np.testing.assert_allclose(with_sched[0][:3], without[0][:3], rtol=1e-6)
    assert abs(with_sched[0][-1] - without[0][-1]) > 1e-4


def test_dropout_masks_follow_the_seed():
    make_opt = CASES["sgd-dropout"][0]
    a = train(make_opt, True, dropout=0.25)
    b = train(make_opt, True, dropout=0.25)
    plain = train(make_opt, True, dropout=0.0)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], plain[0])


def test_changing_a_hyper_parameter_retraces_and_is_used():
    params_e, params_j = make_params(), make_params()
    opts = [kiln.optim.SGD(ps, lr=0.1, momentum=0.9) for ps in (params_e, params_j)]

    def stepper(params, opt):
        def step(x, y):
            opt.zero_grad()
            loss = cross_entropy(forward(params, x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    eager, compiled = stepper(params_e, opts[0]), kiln.jit(stepper(params_j, opts[1]))
    for i, (x, y) in enumerate(batches()):
        if i == 3:
            for opt in opts:
                opt.param_groups[0]["momentum"] = 0.5
                opt.param_groups[0]["lr"] = 0.05  # lr alone would not retrace
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-5)
    assert compiled.trace_count == 2
    for a, b in zip(params_e, params_j):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_new_batch_shape_retraces_same_shape_does_not():
    params = make_params()
    opt = kiln.optim.Adam(params, lr=0.01)

    @kiln.jit
    def step(x, y):
        opt.zero_grad()
        loss = cross_entropy(forward(params, x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = batches()[0]
    step(x, y)
    step(x, y)
    assert step.trace_count == 1
    step(x[:5], y[:5])
    assert step.trace_count == 2
    step(x, y)
    assert step.trace_count == 2  # the first signature is still cached


def test_load_state_dict_between_compiled_steps():
    """Checkpoint, keep training, restore: the compiled step sees the restored state."""
    make_opt = CASES["adam"][0]
    data = batches()
    params = make_params()
    opt = make_opt(params)

    @kiln.jit
    def step(x, y):
        opt.zero_grad()
        loss = cross_entropy(forward(params, x), y)
        loss.backward()
        opt.step()
        return loss

    for x, y in data[:3]:
        step(x, y)
    checkpoint = kiln.load(_saved({"params": params, "opt": opt.state_dict()}))
    first = [step(x, y).item() for x, y in data[3:]]
    with kiln.no_grad():
        for p, saved in zip(params, checkpoint["params"]):
            p.copy_(saved)
    opt.load_state_dict(checkpoint["opt"])
    again = [step(x, y).item() for x, y in data[3:]]
    assert step.trace_count == 1
    np.testing.assert_allclose(again, first, rtol=1e-6)


def _saved(obj):
    import io

    buffer = io.BytesIO()
    kiln.save(obj, buffer)
    buffer.seek(0)
    return buffer


def test_with_kiln_nn_modules():
    nn = kiln.nn
    if not hasattr(nn, "Sequential"):
        pytest.skip("kiln.nn modules are not available yet")
    F = nn.functional
    data = [(x, y.argmax(1)) for x, y in batches()]

    def run(compiled):
        kiln.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(N_IN, N_HIDDEN), nn.ReLU(), nn.Dropout(0.2), nn.Linear(N_HIDDEN, N_OUT)
        )
        opt = kiln.optim.AdamW(model.parameters(), lr=0.02)
        sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = kiln.jit(step) if compiled else step
        kiln.manual_seed(99)
        losses = []
        for x, y in data:
            losses.append(fn(x, y).item())
            sched.step()
        return np.array(losses), [p.detach().numpy().copy() for p in model.parameters()], fn

    eager, compiled = run(False), run(True)
    _assert_same(eager, compiled)
    assert compiled[2].trace_count == 1


@pytest.mark.parametrize("mode", ["set_to_zero", "accumulate"])
def test_gradients_kept_between_compiled_calls(mode):
    """``zero_grad(set_to_none=False)`` and accumulating without zero_grad read ``.grad``
    written back by the previous call, as eagerly."""

    def run(compiled):
        params = make_params()
        opt = kiln.optim.SGD(params, lr=0.05, momentum=0.9)

        def step(x, y):
            if mode == "set_to_zero":
                opt.zero_grad(set_to_none=False)
            loss = cross_entropy(forward(params, x), y)
            loss.backward()
            opt.step()
            return loss

        fn = kiln.jit(step) if compiled else step
        # one eager backward first so that every .grad exists before the first trace
        cross_entropy(forward(params, batches()[0][0]), batches()[0][1]).backward()
        losses = [fn(x, y).item() for x, y in batches()]
        return np.array(losses), [p.grad.numpy().copy() for p in params], fn

    eager, compiled = run(False), run(True)
    _assert_same(eager, compiled)
    assert compiled[2].trace_count == 1
