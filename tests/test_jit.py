"""jit against eager against the reference interpreter, and the jit cache's behaviour."""

import os
import queue
import subprocess
import sys
import warnings

import numpy as np
import pytest

import kiln
from kiln.compiler import interpret
from op_table import OPS, make_inputs


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_jit_and_interpreter_match_eager(op):
    arrays = make_inputs(op, np.float32, seed=3)
    tensors = [kiln.from_numpy(a) for a in arrays]
    eager = op.fn(*tensors).numpy()
    jitted = kiln.jit(op.fn)
    got = jitted(*tensors).numpy()
    assert got.dtype == eager.dtype
    np.testing.assert_allclose(got, eager, rtol=1e-5, atol=1e-6)
    graph = kiln.trace(op.fn, *tensors).verify()
    (interpreted,) = interpret(graph, arrays)
    np.testing.assert_allclose(interpreted, eager, rtol=1e-5, atol=1e-6)


def pythagoras(a, b):
    return (a**2 + b**2) ** 0.5


def test_seed_example_three_ways():
    a, b = kiln.tensor([3.0, 5.0]), kiln.tensor([4.0, 12.0])
    eager = pythagoras(a, b)
    jitted = kiln.jit(pythagoras)(a, b)
    np.testing.assert_allclose(eager.numpy(), [5.0, 13.0])
    np.testing.assert_allclose(jitted.numpy(), [5.0, 13.0])
    graph = kiln.trace(pythagoras, a, b)
    np.testing.assert_allclose(interpret(graph, [a.numpy(), b.numpy()])[0], [5.0, 13.0])


def test_no_retrace_on_same_signature_and_retrace_on_changes():
    f = kiln.jit(lambda x, n: x * n)
    x3 = kiln.ones(3)
    f(x3, 2.0)
    f(kiln.zeros(3), 5.0)  # same shapes/dtypes, another Python float: no retrace
    assert f.trace_count == 1
    np.testing.assert_allclose(f(x3, 5.0).numpy(), [5.0] * 3)
    f(kiln.ones(4), 2.0)  # new shape
    assert f.trace_count == 2
    f(kiln.ones(4, dtype=kiln.float64), 2.0)  # new dtype
    assert f.trace_count == 3
    f(kiln.ones(4, requires_grad=True), 2.0)  # requires_grad is part of the key
    assert f.trace_count == 4


def test_static_argnums_retrace_per_value():
    @kiln.jit(static_argnums=(1,))
    def power(x, n):
        out = x
        for _ in range(n - 1):  # Python control flow on a static value is unrolled
            out = out * x
        return out

    x = kiln.tensor([2.0])
    assert power(x, 3).item() == 8.0
    assert power(x, 3).item() == 8.0
    assert power(x, 4).item() == 16.0
    assert power.trace_count == 2


def test_static_argnames():
    f = kiln.jit(
        lambda x, mode="sum": x.sum() if mode == "sum" else x.amax(), static_argnames="mode"
    )
    x = kiln.tensor([1.0, 5.0])
    assert f(x, mode="sum").item() == 6.0
    assert f(x, mode="max").item() == 5.0


def test_captured_parameter_is_read_fresh_every_call():
    weight = kiln.tensor([1.0, 2.0])

    @kiln.jit
    def f(x):
        return (x * weight).sum()

    x = kiln.ones(2)
    assert f(x).item() == 3.0
    with kiln.no_grad():
        weight.mul_(10)  # an optimizer-style in-place update
    assert f(x).item() == 30.0
    weight.data = kiln.tensor([0.5, 0.5])  # replaced storage (load_state_dict-style)
    assert f(x).item() == 1.0
    assert f.trace_count == 1


def test_captured_tensor_shape_change_retraces():
    holder = {"w": kiln.ones(2)}

    @kiln.jit
    def f(x):
        return x.sum() + holder["w"].sum()

    assert f(kiln.ones(1)).item() == 3.0
    holder["w"].data = kiln.ones(5)
    assert f(kiln.ones(1)).item() == 6.0
    assert f.trace_count == 2


def test_inplace_update_of_captured_tensor_is_written_back():
    counter = kiln.zeros(())

    @kiln.jit
    def step(x):
        counter.add_(1)
        return x * counter

    for k in range(1, 4):
        assert step(kiln.ones(1)).item() == float(k)
    assert counter.item() == 3.0
    assert step.trace_count == 1


def test_backward_inside_jit_writes_grads():
    w = kiln.tensor([1.0, -2.0], requires_grad=True)

    @kiln.jit
    def step(x):
        loss = ((x * w).sum() - 1.0) ** 2
        loss.backward()
        return loss

    x = kiln.tensor([3.0, 1.0])
    loss = step(x)
    eager_w = kiln.tensor([1.0, -2.0], requires_grad=True)
    eager_loss = ((x * eager_w).sum() - 1.0) ** 2
    eager_loss.backward()
    assert loss.item() == eager_loss.item()
    np.testing.assert_allclose(w.grad.numpy(), eager_w.grad.numpy())
    w.grad = None
    step(x)
    np.testing.assert_allclose(w.grad.numpy(), eager_w.grad.numpy())


def test_random_numbers_differ_per_call_and_match_eager():
    f = kiln.jit(lambda x: x + kiln.rand(3))
    kiln.manual_seed(7)
    a, b = f(kiln.zeros(3)), f(kiln.zeros(3))
    assert not np.allclose(a.numpy(), b.numpy())
    kiln.manual_seed(7)
    np.testing.assert_array_equal(kiln.rand(3).numpy(), a.numpy())
    np.testing.assert_array_equal(kiln.rand(3).numpy(), b.numpy())


def test_control_flow_on_tensor_names_user_line():
    @kiln.jit
    def f(x):
        if x.sum() > 0:  # the line the error must point at
            return x
        return -x

    with pytest.raises(kiln.TraceError) as info:
        f(kiln.ones(2))
    message = str(info.value)
    line = f.fn.__code__.co_firstlineno + 2
    assert f'{__file__}", line {line}' in message
    assert "kiln.where" in message and "static" in message


@pytest.mark.parametrize(
    "convert", [float, int, lambda t: t.item(), lambda t: t.numpy(), lambda t: t.tolist()]
)
def test_concrete_conversions_raise_trace_error(convert):
    f = kiln.jit(lambda x: convert(x.sum()))
    with pytest.raises(kiln.TraceError, match="kiln.jit"):
        f(kiln.ones(2))


def test_shape_error_under_tracing_names_user_line():
    def f(a, b):
        return a + b  # the failing line

    with pytest.raises(RuntimeError) as info:
        kiln.jit(f)(kiln.ones(2), kiln.ones(3))
    assert "add" in str(info.value) and "[2]" in str(info.value) and "[3]" in str(info.value)
    assert f"line {f.__code__.co_firstlineno + 1}" in str(info.value)


def test_leaked_tracer_is_an_error():
    # a queue's changes are not seen by the guards (a list's, dict's, set's or deque's
    # are: they are refused as side effects, see test_guards)
    leaked = queue.SimpleQueue()

    @kiln.jit
    def f(x):
        y = x * 2
        leaked.put(y)
        return y

    f(kiln.ones(2))
    g = kiln.jit(lambda x: x + leaked.get())
    with pytest.raises(kiln.TraceError, match="leaked"):
        g(kiln.ones(2))


def test_nested_jit_inlines():
    inner = kiln.jit(lambda x: x * 3)
    outer = kiln.jit(lambda x: inner(x) + 1)
    assert outer(kiln.ones(1)).item() == 4.0
    graph = outer.inspect(kiln.ones(1)).traced
    assert [n.op for n in graph.nodes if n.op not in ("input", "const")] == ["mul", "add"]


def test_output_tree_structure_is_preserved():
    f = kiln.jit(lambda x: {"a": x + 1, "b": (x * 2, 7), "c": [x]})
    out = f(kiln.ones(2))
    assert set(out) == {"a", "b", "c"}
    assert out["b"][1] == 7
    np.testing.assert_allclose(out["b"][0].numpy(), [2.0, 2.0])
    np.testing.assert_allclose(out["c"][0].numpy(), [1.0, 1.0])


def test_results_are_not_overwritten_by_later_calls():
    f = kiln.jit(lambda x: x * 2 + 1)
    first = f(kiln.ones(1000))
    f(kiln.zeros(1000))
    np.testing.assert_allclose(first.numpy(), 3.0)


def test_inspect_returns_stages_without_running():
    def f(x):
        return (x**2).sum()

    jf = kiln.jit(f)
    info = jf.inspect(kiln.ones(3))
    assert info.stages[0][0] == "traced"
    assert "pow" in str(info.traced)
    assert "pow" not in str(info.optimized)  # x**2 -> x*x
    assert isinstance(info.kernels, list)
    assert all(isinstance(k, str) for k in info.kernels)
    jf(kiln.ones(3))
    assert jf.trace_count == 1  # inspect traced once; the call reused it


def test_recompile_log_says_why(caplog):
    from kiln.jit import config

    old = config.log_recompiles
    config.log_recompiles = True
    try:
        f = kiln.jit(lambda x: x + 1)
        with caplog.at_level("INFO", logger="kiln.jit"):
            f(kiln.ones(2))
            f(kiln.ones(3))
        text = caplog.text
        assert "f32[2] -> tensor f32[3]" in text
    finally:
        config.log_recompiles = old


def test_warns_after_too_many_compilations():
    from kiln.jit import config

    f = kiln.jit(lambda x: x + 1, dynamic=False)  # every size its own variant
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, config.cache_size_limit + 3):
            f(kiln.ones(n))
    assert sum("compiled" in str(w.message) for w in caught) == 1


def test_disable_jit_runs_eagerly(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "import kiln\n"
        "@kiln.jit\n"
        "def f(x):\n"
        "    print('python ran', bool(x.sum() > 0))\n"
        "    return x\n"
        "f(kiln.ones(2)); f(kiln.ones(2))\n"
    )
    env = dict(os.environ, KILN_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("python ran True") == 2


def test_kiln_dump_writes_stages_and_kernels(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "import kiln\n"
        "@kiln.jit\n"
        "def hyp(a, b):\n"
        "    return (a ** 2 + b ** 2) ** 0.5\n"
        "hyp(kiln.ones(4), kiln.ones(4))\n"
    )
    env = dict(os.environ, KILN_DUMP=str(tmp_path / "dump"))
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "dump" / "hyp"
    names = sorted(p.name for p in folder.iterdir())
    assert "00_traced.txt" in names and "00_traced.dot" in names
    traced = (folder / "00_traced.txt").read_text()
    assert "graph hyp(" in traced and "pow" in traced
    last_txt = sorted(n for n in names if n.endswith(".txt"))[-1]
    assert "pow" not in (folder / last_txt).read_text()


def test_jitted_function_takes_part_in_eager_autograd():
    w = kiln.randn(3, 2, requires_grad=True)
    b = kiln.zeros(2, requires_grad=True)

    def f(x):
        return (x @ w + b).tanh()

    probe = kiln.randn(4, 2)
    x = kiln.randn(4, 3, requires_grad=True)
    out = kiln.jit(f)(x)
    assert out.grad_fn is not None
    (out * probe).sum().backward()
    got = [t.grad.numpy().copy() for t in (w, b, x)]
    for t in (w, b, x):
        t.grad = None
    (f(x) * probe).sum().backward()
    for g, t in zip(got, (w, b, x)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_jit_under_no_grad_returns_plain_tensors():
    w = kiln.randn(3, requires_grad=True)
    f = kiln.jit(lambda x: x * w)
    with kiln.no_grad():
        out = f(kiln.ones(3))
    assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("compiled", [False, True])
def test_grad_and_value_and_grad_transforms(compiled):
    def loss(w, x):
        return ((x @ w).tanh() ** 2).sum()

    w, x = kiln.randn(3, 2), kiln.randn(5, 3)
    vg = kiln.value_and_grad(loss)
    g = kiln.grad(loss, argnums=(0, 1))
    if compiled:
        vg, g = kiln.jit(vg), kiln.jit(g)
    value, gw = vg(w, x)
    gw2, gx = g(w, x)
    wt = w.detach().requires_grad_()
    xt = x.detach().requires_grad_()
    ref = loss(wt, xt)
    ref.backward()
    assert value.item() == pytest.approx(ref.item(), rel=1e-5)
    np.testing.assert_allclose(gw.numpy(), wt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gw2.numpy(), wt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_gradient_accumulates_across_compiled_calls():
    w = kiln.tensor([1.0], requires_grad=True)
    (w * 1.0).sum().backward()

    @kiln.jit
    def accumulate(x):
        (w * x).sum().backward()
        return w.grad

    assert [accumulate(kiln.tensor([1.0])).item() for _ in range(3)] == [2.0, 3.0, 4.0]
    w.grad = None  # a guard sees the missing gradient and picks (or makes) another variant
    assert [accumulate(kiln.tensor([1.0])).item() for _ in range(2)] == [1.0, 2.0]
    assert accumulate.trace_count == 2


def test_zero_grad_inside_the_step_is_replayed():
    w = kiln.tensor([2.0], requires_grad=True)

    @kiln.jit
    def step(x):
        w.grad = None
        (w * x).sum().backward()
        return w.grad * 1

    assert [step(kiln.tensor([3.0])).item() for _ in range(3)] == [3.0, 3.0, 3.0]
    assert step.trace_count == 1


def test_guard_variants_are_kept_per_key():
    flag = {"on": True}

    @kiln.jit
    def f(x):
        from kiln.tracing import guard

        return x * 2 if guard("flag", lambda: flag["on"]) else x * 3

    x = kiln.ones(1)
    assert f(x).item() == 2.0
    flag["on"] = False
    assert f(x).item() == 3.0
    flag["on"] = True
    assert f(x).item() == 2.0
    assert f.trace_count == 2


def test_jit_of_a_module_backpropagates_like_eager():
    import kiln.nn as nn
    import kiln.nn.functional as F

    kiln.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))
    compiled = kiln.jit(model)
    x, y = kiln.randn(6, 5), kiln.tensor([0, 1, 2, 0, 1, 2])
    for _ in range(2):  # twice: the second call runs the cached forward and backward
        model.zero_grad()
        F.cross_entropy(compiled(x), y).backward()
        got = [p.grad.numpy().copy() for p in model.parameters()]
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for g, p in zip(got, model.parameters()):
            np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-4, atol=1e-6)
        with kiln.no_grad():
            for p in model.parameters():
                p.sub_(p.grad * 0.1)  # a parameter update the next compiled call must see
    assert compiled.trace_count == 1


def test_zero_dim_outputs_and_constants_keep_their_shape():
    f = kiln.jit(lambda x: (x.sum(), kiln.tensor(3.0), x * 2))
    total, const, doubled = f(kiln.ones(3))
    assert total.shape == () and const.shape == () and doubled.shape == (3,)
    assert const.item() == 3.0 and total.item() == 3.0


@pytest.mark.parametrize("case", ["row", "column_block", "reshape", "transpose", "captured"])
def test_inplace_update_of_a_view_reaches_its_base_like_eager(case):
    state = kiln.arange(12.0).reshape(3, 4)

    def f(x):
        x = x * 1.0
        if case == "row":
            x[1].mul_(10)
        elif case == "column_block":
            x[:, 1:3].add_(100)
        elif case == "reshape":
            x.view(12)[:4].zero_()
        elif case == "transpose":
            x.t()[0].fill_(-1)
        else:
            state[0].add_(x[0])
        return x.sum(0), x

    x = kiln.arange(12.0).reshape(3, 4)
    with kiln.no_grad():
        eager = f(x)
        eager_state = state.clone()
        state.copy_(kiln.arange(12.0).reshape(3, 4))
        compiled = kiln.jit(f)(x)
    for a, b in zip(eager, compiled):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(state.numpy(), eager_state.numpy())


# ------------------------------------------------------------------ the kiln.jit package


def test_kiln_jit_is_the_decorator_and_a_package():
    import types

    from kiln.jit import JitConfig, JitFunction

    assert isinstance(kiln.jit, types.ModuleType)
    assert isinstance(kiln.jit.config, JitConfig)
    x = kiln.tensor([2.0, 3.0])

    @kiln.jit
    def square(t):
        return t * t

    power = kiln.jit(lambda t, n: t**n, static_argnums=(1,))
    cube = kiln.jit(static_argnums=1)(lambda t, n: t**n)
    for f in (square, power, cube):
        assert isinstance(f, JitFunction)
    np.testing.assert_allclose(square(x).numpy(), [4.0, 9.0])
    np.testing.assert_allclose(power(x, 2).numpy(), [4.0, 9.0])
    np.testing.assert_allclose(cube(x, 3).numpy(), [8.0, 27.0])
    assert kiln.jit.jit is not kiln.jit and callable(kiln.jit.jit)
    assert isinstance(kiln.trace(lambda t: t + 1, x), kiln.compiler.ir.Graph)


def test_inspection_dump_writes_stages_kernels_and_run_function(tmp_path):
    compiled = kiln.jit(lambda a, b: (a * a + b * b) ** 0.5)
    folder = compiled.inspect(kiln.ones(4), kiln.ones(4)).dump(tmp_path / "hyp")
    names = {p.name for p in folder.iterdir()}
    assert {"00_traced.txt", "00_traced.dot", "kernel_0.py", "run.py"} <= names
    assert "graph <lambda>(" in (folder / "00_traced.txt").read_text()


def test_kiln_dump_writes_the_backward_of_a_function_called_from_eager_autograd(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "import kiln\n"
        "w = kiln.ones(3, requires_grad=True)\n"
        "@kiln.jit\n"
        "def loss(x):\n"
        "    return (x * w).sum()\n"
        "loss(kiln.ones(3)).backward()\n"
        "print(w.grad.tolist())\n"
    )
    env = dict(os.environ, KILN_DUMP=str(tmp_path / "dump"))
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1.0, 1.0, 1.0]"
    assert (tmp_path / "dump" / "loss" / "00_traced.txt").exists()
    assert (tmp_path / "dump" / "loss_backward" / "00_traced.txt").exists()


def test_compile_graph_chooses_the_back_end_by_device():
    from kiln.compiler.compile import compile_graph
    from kiln.compiler.ir import Graph

    graph = Graph("square")
    x = graph.add_input((3,), "float32")
    graph.outputs = [graph.add_node("mul", [x, x])]
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        compile_graph(graph, device="tpu")
    assert compile_graph(graph, device="cpu").program is not None
    pytest.importorskip("numba.cuda")
    if not kiln.cuda.is_available():
        pytest.skip("no CUDA GPU and the CUDA simulator is off")
    from kiln.compiler.compile_cuda import CudaExecutable

    executable = compile_graph(graph, device="cuda")
    assert isinstance(executable, CudaExecutable) and executable.kernels
    from kiln.runtime import cuda as runtime_cuda

    (got,) = executable.run([runtime_cuda.to_device(np.arange(3, dtype=np.float32))])
    assert runtime_cuda.is_device_array(got)
    np.testing.assert_allclose(runtime_cuda.to_host(got), [0.0, 1.0, 4.0])


def test_traced_multi_index_wraps_negative_positions_like_eager():
    """``x[i, j]`` with index tensors traced as arguments: negatives count from the end."""
    x = kiln.arange(12.0).reshape(3, 4)
    i, j = kiln.tensor([-1, 0, 2, -3]), kiln.tensor([-1, -4, 1, 3])
    expected = x.numpy()[i.numpy(), j.numpy()]
    np.testing.assert_array_equal(x[i, j].numpy(), expected)
    np.testing.assert_array_equal(kiln.jit(lambda x, i, j: x[i, j])(x, i, j).numpy(), expected)
