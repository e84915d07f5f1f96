"""PyTorch's jit/compile names under ``import kiln as torch``: kiln.compile, kiln.compiler's
switches, kiln.jit.trace/script/save/load, kiln.cond."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
from kiln.compiler import TraceError


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 1))


def _copy_weights(source, target):
    target.load_state_dict(
        {k: torch.from_numpy(v.numpy().copy()) for k, v in source.state_dict().items()}
    )


def test_a_training_script_with_compile_and_a_scheduler_matches_eager():
    """A PyTorch-style script with the model and the optimizer step compiled gives the
    parameters of the same script run eagerly (the scheduler changes the learning rate
    the compiled step reads every epoch)."""

    def script(model, compile):
        compiled = kiln.compile(model) if compile else model
        opt = kiln.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = kiln.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = ((compiled(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        step = kiln.compile(step) if compile else step
        gen = np.random.default_rng(0)
        losses = []
        for _ in range(3):
            for _ in range(2):
                x = kiln.tensor(gen.standard_normal((5, 3)).astype(np.float32))
                y = kiln.tensor(gen.standard_normal((5, 1)).astype(np.float32))
                losses.append(step(x, y).item())
            sched.step()
        return losses, compiled

    model, reference = _mlp(kiln), _mlp(kiln)
    reference.load_state_dict(model.state_dict())
    losses, compiled = script(model, compile=True)
    expected, _ = script(reference, compile=False)
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    assert losses[-1] < losses[0]
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        np.testing.assert_allclose(
            p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name
        )
    # torch's OptimizedModule: the module is _orig_mod; train()/eval() reach it
    assert list(compiled.state_dict()) == [f"_orig_mod.{k}" for k in model.state_dict()]
    assert compiled.eval() is compiled and not model.training and compiled._orig_mod is model


def test_compile_arguments_are_checked_as_pytorch_checks_them():
    # torch.compile's messages (calling torch.compile here would import dynamo: ~10 s)
    with pytest.raises(RuntimeError, match="Unrecognized mode=fastest, should be one of"):
        kiln.compile(lambda x: x, mode="fastest")
    with pytest.raises(RuntimeError, match="Either mode or options can be specified, but both"):
        kiln.compile(lambda x: x, mode="default", options={})
    with pytest.raises(RuntimeError, match="Invalid backend"):
        kiln.compile(lambda x: x, backend="tvm-ish")
    f = kiln.compile(mode="max-autotune")(lambda x: x * 3)
    np.testing.assert_allclose(f(kiln.ones(2)).numpy(), [3.0, 3.0])
    g = lambda x: x  # noqa: E731
    assert kiln.compile(g, disable=True) is g


def test_a_custom_backend_gets_the_graph_and_example_inputs_once_per_signature():
    seen = []

    def backend(gm, example_inputs):
        seen.append((gm.graph.format(with_source=False), [tuple(t.shape) for t in example_inputs]))
        return gm.forward

    layer = nn.Linear(3, 2)
    f = kiln.compile(lambda x: layer(x).relu(), backend=backend)
    x = kiln.randn(4, 3)
    with kiln.no_grad():
        got = f(x)
        f(kiln.randn(4, 3))
        f(kiln.randn(2, 3))
        expected = layer(x).relu()
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
    assert len(seen) == 2  # one per input signature
    assert seen[0][1] == [(4, 3), (2, 3), (2,)]  # the argument, then the weights it read
    assert "matmul" in seen[0][0]
    with pytest.raises(NotImplementedError, match="inference only"):
        f(x)  # grad mode on and the weights require grad: no silent loss of gradients


def _branchy(x):
    if x.sum() > 0:  # data-dependent Python control flow
        return x * 2
    return -x


def test_fullgraph_false_runs_eagerly_where_tracing_fails_and_fullgraph_true_raises():
    f = kiln.compile(_branchy)
    with pytest.warns(UserWarning, match="runs eagerly"):
        np.testing.assert_allclose(f(kiln.tensor([1.0, 2.0])).numpy(), [2.0, 4.0])
    np.testing.assert_allclose(f(kiln.tensor([-1.0, -2.0])).numpy(), [1.0, 2.0])
    with pytest.raises(TraceError, match="test_jit_names.py"):
        kiln.compile(_branchy, fullgraph=True)(kiln.tensor([1.0]))
    report = kiln.compiler.explain(_branchy)(kiln.ones(2))
    assert report.graph_count == 0 and report.graph_break_count == 1
    assert "test_jit_names.py" in report.break_reasons[0]
    good = kiln.compiler.explain(lambda x: x.exp() + 1)(kiln.ones(2))
    assert good.graph_count == 1 and good.ops_per_graph[0] == ["exp", "const", "add"]


def test_script_of_data_dependent_control_flow_names_the_users_line():
    scripted = kiln.jit.script(_branchy)
    line = _branchy.__code__.co_firstlineno + 1
    # it runs, the branch chosen per call (as TorchScript's compiled ``if``) ...
    np.testing.assert_allclose(scripted(kiln.ones(2)).numpy(), [2.0, 2.0])
    np.testing.assert_allclose(scripted(-kiln.ones(2)).numpy(), [1.0, 1.0])
    # ... but has no single graph: that error names the user's line
    with pytest.raises(
        TraceError, match=rf"(?s)kiln.cond.*test_jit_names.py\", line {line}, in _branchy"
    ):
        _ = scripted.graph


def test_stances_disable_and_reset():
    inner = kiln.jit(lambda x: x + 1)
    f = kiln.compile(lambda x: x * 2)
    f(kiln.ones(2))
    with kiln.compiler.set_stance("fail_on_recompile"):
        f(kiln.zeros(2))  # same signature: no recompile
        with pytest.raises(RuntimeError, match="fail_on_recompile"):
            f(kiln.ones(3))
    with kiln.compiler.set_stance("eager_on_recompile"):
        np.testing.assert_allclose(f(kiln.ones(5)).numpy(), [2.0] * 5)
    assert f.jitted.trace_count == 1
    with kiln.compiler.set_stance("force_eager"):
        inner(kiln.ones(2))
    assert inner.trace_count == 0

    @kiln.compiler.disable
    def eager_only(x):
        return inner(x)

    np.testing.assert_allclose(eager_only(kiln.ones(2)).numpy(), [2.0, 2.0])
    assert inner.trace_count == 0
    # called from a compiled function, a disabled one is traced into it (no graph breaks)
    outer = kiln.compile(lambda x: eager_only(x) * 3)
    np.testing.assert_allclose(outer(kiln.ones(2)).numpy(), [6.0, 6.0])
    assert outer.jitted.trace_count == 1
    inner(kiln.ones(2))
    assert inner.trace_count == 1
    kiln.compiler.reset()
    f(kiln.ones(2))
    assert f.jitted.trace_count == 2  # reset forgot the compiled variant
    with pytest.raises(ValueError, match="unknown stance"):
        kiln.compiler.set_stance("sometimes")


def test_jit_trace_save_load_runs_other_batch_sizes_like_torchscript():
    model = _mlp(kiln).eval()
    reference = _mlp(torch).eval()
    _copy_weights(model, reference)
    traced = kiln.jit.trace(model, kiln.ones(1, 3))
    torch_traced = torch.jit.trace(reference, torch.ones(1, 3))
    assert list(traced.state_dict()) == list(torch_traced.state_dict())
    assert traced.code.startswith("graph Sequential(%0: f32[1, 3]")
    assert "tanh" in traced.code
    buffer, torch_buffer = io.BytesIO(), io.BytesIO()
    kiln.jit.save(traced, buffer)
    torch.jit.save(torch_traced, torch_buffer)
    torch_buffer.seek(0)
    loaded, torch_loaded = kiln.jit.load(buffer), torch.jit.load(torch_buffer)
    x = np.random.randn(6, 3).astype(np.float32)  # traced at batch 1, run at batch 6
    with torch.no_grad():
        expected = torch_loaded(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(loaded(kiln.from_numpy(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        traced(kiln.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6
    )
    assert kiln.jit.ignore(_branchy) is _branchy and kiln.jit.unused(_branchy) is _branchy


def test_cond_traces_both_branches_and_picks_one_per_call():
    def f(x, w):
        return kiln.cond(x.sum() > 0, lambda a, b: a @ b, lambda a, b: (a - 1) @ b, (x, w))

    jitted = kiln.jit(f)
    w = kiln.randn(3, 2)
    for sign in (1.0, -1.0):
        x = kiln.rand(4, 3) * sign
        a, b = x.numpy(), w.numpy()
        expected = a @ b if a.sum() > 0 else (a - 1) @ b
        np.testing.assert_allclose(jitted(x, w).numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(f(x, w).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert jitted.trace_count == 1
    bad = kiln.jit(lambda x: kiln.cond(x.sum() > 0, lambda a: a, lambda a: a.sum(), (x,)))
    with pytest.raises(TraceError, match="must match"):
        bad(kiln.ones(3))


def test_kiln_jit_stays_the_decorator():
    @kiln.jit
    def f(x):
        return x + 1

    g = kiln.jit(lambda x, n: x * n, static_argnums=(1,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(f(kiln.ones(2)).numpy(), [2.0, 2.0])
        np.testing.assert_allclose(g(kiln.ones(2), 3).numpy(), [3.0, 3.0])
    assert isinstance(f, kiln.jit.JitFunction) and callable(kiln.jit.trace)


def test_is_compiling_and_dynamo_reset_as_torch():
    """``torch.compiler.is_compiling()`` is True only while the function is traced;
    ``torch._dynamo.reset()`` forgets compiled variants (the torch.compile tutorial)."""
    import kiln

    seen = []

    @kiln.jit
    def f(x):
        if kiln.compiler.is_compiling():
            return x * 2
        return x * 3

    assert not kiln.compiler.is_compiling() and not kiln.compiler.is_dynamo_compiling()
    assert f(kiln.ones(2)).tolist() == [2.0, 2.0]  # the traced branch
    g = kiln.compile(lambda x: x + 1)
    g(kiln.ones(2))
    kiln._dynamo.reset()
    assert g(kiln.ones(2)).tolist() == [2.0, 2.0]
    assert not seen
