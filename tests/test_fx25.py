"""kiln.fx against torch.fx: the same module code, written once over a ``torch``-like
namespace, is traced by both; graphs (node ops, names, targets, arguments), generated code
and results must agree. The flows are the FX tutorials': getting started (print, rewrite
torch.add into torch.mul, insert a relu after each linear), the Conv-BN fuser, a
profiling Interpreter, a Transformer, shape propagation, and compiling a GraphModule.
"""

from __future__ import annotations

import copy
import importlib
import math
import operator

import numpy as np
import pytest

import kiln
import kiln.fx
from kiln.fx.passes.shape_prop import ShapeProp

torch = pytest.importorskip("torch")
pytest.importorskip("torch.fx")
TorchShapeProp = pytest.importorskip("torch.fx.passes.shape_prop").ShapeProp

BOTH = [kiln, torch]


def my_scale(x, factor):
    return x * factor


kiln.fx.wrap("my_scale")
torch.fx.wrap("my_scale")


# ---------------------------------------------------------------------------- helpers
def text(s: str) -> str:
    """kiln's text in torch's spelling (kiln.add is torch.add)."""
    return s.replace("kiln.", "torch.")


def torch_code(gm) -> str:
    return str(gm.code).replace("torch.fx._symbolic_trace.wrap(", "torch.fx.wrap(")


def node_rows(gm):
    return [text(n.format_node()) for n in gm.graph.nodes]


def to_kiln(t):
    return kiln.tensor(t.detach().numpy())


def copy_weights(kiln_model, torch_model):
    """kiln_model takes torch_model's parameters and buffers."""
    state = {k: to_kiln(v) for k, v in torch_model.state_dict().items()}
    kiln_model.load_state_dict(state)


def assert_close(kiln_value, torch_value, rtol=1e-5, atol=1e-6):
    if isinstance(torch_value, (tuple, list)):
        assert len(kiln_value) == len(torch_value)
        for k, t in zip(kiln_value, torch_value):
            assert_close(k, t, rtol, atol)
        return
    if isinstance(torch_value, (torch.Tensor, kiln.Tensor)):
        assert tuple(kiln_value.shape) == tuple(torch_value.shape)
        np.testing.assert_allclose(
            kiln_value.detach().numpy(), torch_value.detach().numpy(), rtol=rtol, atol=atol
        )
    else:
        assert kiln_value == torch_value


def twins(make, *args):
    """(kiln model, torch model) built by ``make(namespace)``, kiln's with torch's weights."""
    torch.manual_seed(0)
    t = make(torch, *args)
    k = make(kiln, *args)
    copy_weights(k, t)
    return k, t


# ---------------------------------------------------------------------------- models
def make_docs_module(ns):
    """The torch.fx docs' first example."""

    class MyModule(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.param = ns.nn.Parameter(ns.rand(3, 4))
            self.linear = ns.nn.Linear(4, 5)

        def forward(self, x):
            return self.linear(x + self.param).clamp(min=0.0, max=1.0)

    return MyModule()


def make_mixed(ns):
    """Operators, kiln/torch functions, methods, shape reads, getitem, constants."""

    class Mixed(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = ns.nn.Linear(4, 6)
            self.register_buffer("offset", ns.arange(6.0))
            self.seq = ns.nn.Sequential(ns.nn.Linear(6, 6), ns.nn.Tanh())

        def forward(self, x, y=None):
            a = self.linear(x) + self.offset
            b = ns.add(a, 1).relu()
            batch, features = b.shape
            c = b.view(batch, -1) * 2
            d = 3 - ns.flatten(c, 1)
            e = ns.cat([c, d], dim=1).sum(dim=-1, keepdim=True)
            f = self.seq(c)[:, :2] / (e + c.size(1))
            return f.transpose(0, 1), -a.mean(), my_scale(f, 0.5), self.linear.weight.t()

    return Mixed()


def make_convnet(ns):
    """The Conv-BN fuser tutorial's model: conv/bn pairs, nested and wrapped."""

    class WrappedBatchNorm(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.mod = ns.nn.BatchNorm2d(3)

        def forward(self, x):
            return self.mod(x)

    class M(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = ns.nn.Conv2d(2, 3, 3, padding=1)
            self.bn1 = ns.nn.BatchNorm2d(3)
            self.conv2 = ns.nn.Conv2d(3, 3, 1)
            self.nested = ns.nn.Sequential(ns.nn.BatchNorm2d(3), ns.nn.Conv2d(3, 3, 1))
            self.wrapped = WrappedBatchNorm()

        def forward(self, x):
            x = self.conv1(x)
            x = self.bn1(x)
            x = self.conv2(x)
            x = self.nested(x)
            x = self.wrapped(x)
            return ns.relu(x)

    model = M()
    gen = np.random.default_rng(1)
    for bn in (model.bn1, model.nested[0], model.wrapped.mod):  # eval statistics != identity
        bn.running_mean.copy_(ns.tensor(gen.normal(size=3).astype(np.float32)))
        bn.running_var.copy_(ns.tensor(gen.uniform(0.5, 2.0, size=3).astype(np.float32)))
    return model


def make_block(ns):
    """A residual block, the profiler tutorial's shape of model (a ResNet in small)."""

    class Block(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = ns.nn.Conv2d(3, 4, 3, padding=1, bias=False)
            self.bn1 = ns.nn.BatchNorm2d(4)
            self.relu = ns.nn.ReLU()
            self.conv2 = ns.nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn2 = ns.nn.BatchNorm2d(4)
            self.down = ns.nn.Conv2d(3, 4, 1)
            self.pool = ns.nn.AdaptiveAvgPool2d(1)
            self.fc = ns.nn.Linear(4, 5)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out = self.relu(out + self.down(x))
            return self.fc(ns.flatten(self.pool(out), 1))

    return Block()


# ---------------------------------------------------------------------------- tracing
@pytest.mark.parametrize("make", [make_docs_module, make_mixed, make_convnet, make_block])
def test_trace_matches_torch_nodes_and_code(make):
    k, t = twins(make)
    kgm, tgm = kiln.fx.symbolic_trace(k), torch.fx.symbolic_trace(t)
    assert node_rows(kgm) == node_rows(tgm)
    assert text(kgm.code) == torch_code(tgm)
    assert text(str(kgm.graph)) == str(tgm.graph)
    assert type(kgm).__name__ == type(tgm).__name__
    assert isinstance(kgm, kiln.fx.GraphModule) and isinstance(kgm, kiln.nn.Module)


@pytest.mark.parametrize("make", [make_docs_module, make_mixed, make_convnet, make_block])
def test_traced_module_runs_as_the_original(make):
    k, t = twins(make)
    k.eval(), t.eval()
    x = torch.randn(2, 3, 4) if make is make_docs_module else None
    if make is make_mixed:
        x = torch.randn(5, 4)
    elif make in (make_convnet, make_block):
        x = torch.randn(2, 2 if make is make_convnet else 3, 5, 5)
    kgm = kiln.fx.symbolic_trace(k)
    assert_close(kgm(to_kiln(x)), k(to_kiln(x)), rtol=0, atol=0)
    assert_close(kgm(to_kiln(x)), torch.fx.symbolic_trace(t)(x), rtol=1e-5, atol=1e-5)


def test_state_dict_and_printing_match_torch():
    k, t = twins(make_mixed)
    kgm, tgm = kiln.fx.symbolic_trace(k), torch.fx.symbolic_trace(t)
    assert list(kgm.state_dict()) == list(tgm.state_dict())
    for name, value in tgm.state_dict().items():
        assert_close(kgm.state_dict()[name], value, rtol=0, atol=0)
    assert text(str(kgm)) == str(tgm).replace(tgm.code, torch_code(tgm))
    # the traced module shares the original's parameters, as torch's does
    assert kgm.linear.weight is k.linear.weight


def test_known_gap_line_of_scripts19():
    rows = [
        n.op for n in kiln.fx.symbolic_trace(kiln.nn.Sequential(kiln.nn.Linear(2, 2))).graph.nodes
    ]
    assert rows == [
        n.op
        for n in torch.fx.symbolic_trace(torch.nn.Sequential(torch.nn.Linear(2, 2))).graph.nodes
    ]


def test_trace_a_function_and_names_like_torch():
    def f(ns):
        def fn(x, y):
            s = ns.sum(x) + ns.sum(y)  # shadows a builtin: sum_1, sum_2
            z = ns.relu(x - y) @ y.t()
            return ns.nn.functional.softmax(z, dim=-1), s, x.dim(), z[0, ...]

        return fn

    kgm, tgm = kiln.fx.symbolic_trace(f(kiln)), torch.fx.symbolic_trace(f(torch))
    k_rows = [(n.op, n.name, text(n._pretty_target())) for n in kgm.graph.nodes]
    t_rows = [
        (
            n.op,
            n.name,
            n.target
            if isinstance(n.target, str)
            else torch.fx.node._get_qualified_name(n.target).replace("_operator.", "operator."),
        )
        for n in tgm.graph.nodes
    ]
    assert k_rows == t_rows
    x, y = torch.randn(3, 3), torch.randn(3, 3)
    assert_close(kgm(to_kiln(x), to_kiln(y)), tgm(x, y), rtol=1e-5, atol=1e-6)


def test_functional_calls_record_as_torch_does():
    # torch.nn.functional's Python functions pass every non-tensor parameter by keyword
    # (F.relu(x) is recorded as relu(x, inplace = False)); kiln records them the same way
    def make(ns):
        F = ns.nn.functional

        def fn(x, target):
            a = F.max_pool2d(F.relu(x), 2)
            b = F.dropout(F.adaptive_avg_pool2d(a, 1).flatten(1), 0.1, training=False)
            c = F.layer_norm(F.leaky_relu(b, 0.2), (3,))
            d = F.softmax(c, dim=-1) + F.log_softmax(c, -1)
            return F.cross_entropy(d, target, label_smoothing=0.1), F.pad(x, (1, 1))

        return fn

    kgm, tgm = kiln.fx.symbolic_trace(make(kiln)), torch.fx.symbolic_trace(make(torch))
    assert node_rows(kgm) == node_rows(tgm)
    assert text(kgm.code) == torch_code(tgm)
    x, target = torch.randn(2, 3, 4, 4), torch.tensor([0, 2])
    assert_close(kgm(to_kiln(x), to_kiln(target)), tgm(x, target), rtol=1e-5, atol=1e-6)
    assert_close(
        kgm(to_kiln(x), to_kiln(target)), make(kiln)(to_kiln(x), to_kiln(target)), rtol=0, atol=0
    )


def test_wrapped_function_is_one_node():
    def f(x):
        return my_scale(x, 2.0) + 1

    kgm, tgm = kiln.fx.symbolic_trace(f), torch.fx.symbolic_trace(f)
    k_nodes = [(n.op, n.name, n.target, n.args[1:]) for n in kgm.graph.nodes]
    t_nodes = [(n.op, n.name, n.target, n.args[1:]) for n in tgm.graph.nodes]
    assert k_nodes[1] == t_nodes[1] == ("call_function", "my_scale", my_scale, (2.0,))
    assert [r[:2] for r in k_nodes] == [r[:2] for r in t_nodes]
    x = torch.randn(4)
    assert_close(kgm(to_kiln(x)), tgm(x), rtol=0, atol=0)
    assert my_scale(3, 2) == 6  # the wrap is undone after tracing


@pytest.mark.parametrize("ns", BOTH, ids=["kiln", "torch"])
def test_control_flow_on_a_proxy_raises_trace_error(ns):
    def branch(x):
        if x.sum() > 0:
            return x
        return -x

    def loop(x):
        return [v for v in x]

    def length(x):
        return x + len(x)

    with pytest.raises(ns.fx.proxy.TraceError, match="control flow"):
        ns.fx.symbolic_trace(branch)
    with pytest.raises(ns.fx.proxy.TraceError, match="cannot be iterated"):
        ns.fx.symbolic_trace(loop)
    with pytest.raises(RuntimeError, match="'len' is not supported"):
        ns.fx.symbolic_trace(length)
    assert issubclass(ns.fx.proxy.TraceError, ValueError)


def test_concrete_args_specialize_like_torch():
    def f(x, flag):
        if flag:
            return x
        return x * 2

    kgm = kiln.fx.symbolic_trace(f, concrete_args={"flag": False})
    tgm = torch.fx.symbolic_trace(f, concrete_args={"flag": False})
    assert [(n.op, n.name) for n in kgm.graph.nodes] == [(n.op, n.name) for n in tgm.graph.nodes]
    x = torch.randn(3)
    assert_close(kgm(to_kiln(x), False), tgm(x, False), rtol=0, atol=0)
    with pytest.raises(AssertionError, match="specialized"):
        kgm(to_kiln(x), True)

    def g(x, y):
        return x if y is None else x + y

    kgm = kiln.fx.symbolic_trace(g, concrete_args={"y": None})
    tgm = torch.fx.symbolic_trace(g, concrete_args={"y": None})
    assert [(n.op, n.name) for n in kgm.graph.nodes] == [(n.op, n.name) for n in tgm.graph.nodes]


def test_custom_leaf_module_tracer():
    def make(ns):
        class Inner(ns.nn.Module):
            def forward(self, x):
                return x.relu() * 2

        class Outer(ns.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Inner()

            def forward(self, x):
                return self.inner(x) + 1

        class LeafTracer(ns.fx.Tracer):
            def is_leaf_module(self, m, qualname):
                return isinstance(m, Inner) or super().is_leaf_module(m, qualname)

        return Outer(), LeafTracer

    results = []
    for ns in BOTH:
        model, tracer_cls = make(ns)
        traced = [n.op for n in ns.fx.symbolic_trace(model).graph.nodes]
        leaf = [n.op for n in tracer_cls().trace(model).nodes]
        results.append((traced, leaf))
    assert results[0] == results[1]
    assert "call_module" in results[0][1] and "call_module" not in results[0][0]


# ---------------------------------------------------------------------------- getting started
def test_getting_started_replace_add_with_mul():
    def make(ns):
        class M(ns.nn.Module):
            def forward(self, x, y):
                return ns.add(x, y) + ns.add(y, 1)

        return M()

    def transform(ns, m):
        graph = ns.fx.Tracer().trace(m)
        for node in graph.nodes:
            if node.op == "call_function" and node.target == ns.add:
                node.target = ns.mul
        graph.lint()
        return ns.fx.GraphModule(m, graph)

    kgm, tgm = transform(kiln, make(kiln)), transform(torch, make(torch))
    assert text(kgm.code) == torch_code(tgm)
    x, y = torch.randn(3), torch.randn(3)
    expected = x * y + y * 1
    assert_close(kgm(to_kiln(x), to_kiln(y)), expected, rtol=0, atol=0)
    assert_close(kgm(to_kiln(x), to_kiln(y)), tgm(x, y), rtol=0, atol=0)


def test_getting_started_relu_after_each_linear():
    def make(ns):
        return ns.nn.Sequential(ns.nn.Linear(4, 8), ns.nn.Linear(8, 3))

    def insert_relu(ns, model):
        gm = ns.fx.symbolic_trace(model)
        modules = dict(gm.named_modules())
        for node in gm.graph.nodes:
            if node.op == "call_module" and isinstance(modules[node.target], ns.nn.Linear):
                with gm.graph.inserting_after(node):
                    relu = gm.graph.call_function(ns.relu, args=(node,))
                node.replace_all_uses_with(relu)
                relu.args = (node,)  # (replace_all_uses_with rewired the relu too)
        gm.graph.lint()
        gm.recompile()
        return gm

    k, t = twins(make)
    kgm, tgm = insert_relu(kiln, k), insert_relu(torch, t)
    assert node_rows(kgm) == node_rows(tgm)
    assert text(kgm.code) == torch_code(tgm)
    x = torch.randn(5, 4)
    by_hand = torch.relu(t[1](torch.relu(t[0](x))))
    assert_close(kgm(to_kiln(x)), by_hand)
    assert_close(kgm(to_kiln(x)), tgm(x))
    assert_close(kgm(to_kiln(x)), kiln.relu(k[1](kiln.relu(k[0](to_kiln(x))))), rtol=0, atol=0)


def test_graph_editing_api_against_torch():
    results = []
    for ns in BOTH:
        g = ns.fx.Graph()
        x = g.placeholder("x")
        y = g.placeholder("y", default_value=2.0)
        a = g.call_function(operator.add, (x, y))
        dead = g.call_method("neg", (a,))
        b = g.call_function(ns.relu, (a,))
        with g.inserting_before(b):
            c = g.call_function(operator.mul, (a, 3))
        b.replace_input_with(a, c)
        g.output((b, a))
        assert [n.name for n in dead.all_input_nodes] == ["add"]
        assert set(a.users) == {dead, c, g.find_nodes(op="output")[0]}
        with pytest.raises(RuntimeError, match="still had 3 users"):
            g.erase_node(a)
        assert g.eliminate_dead_code()
        g.lint()
        gm = ns.fx.GraphModule(ns.nn.Module(), g)
        value = gm(ns.tensor([1.0, -4.0]))
        results.append(([text(n.format_node()) for n in g.nodes], text(gm.code), value))
    assert results[0][:2] == results[1][:2]
    assert_close(results[0][2], results[1][2], rtol=0, atol=0)


def test_lint_finds_a_use_before_definition():
    g = kiln.fx.Graph()
    x = g.placeholder("x")
    a = g.call_function(kiln.relu, (x,))
    b = g.call_function(kiln.neg, (a,))
    g.output(b)
    g.lint()
    x.prepend(b)  # move the user before its input
    with pytest.raises(RuntimeError, match="used before defined"):
        g.lint()


def test_lint_finds_a_missing_submodule_and_delete_unused_submodules():
    k, t = twins(make_block)
    results = []
    for ns, model in ((kiln, k), (torch, t)):
        gm = ns.fx.symbolic_trace(model)
        for node in gm.graph.nodes:
            if node.target == "down":  # drop the shortcut's conv: out + x
                node.replace_all_uses_with(node.args[0])
                gm.graph.erase_node(node)
        gm.graph.lint()
        gm.recompile()
        gm.delete_all_unused_submodules()
        assert not hasattr(gm, "down")
        assert gm.add_submodule("extra.deep", ns.nn.ReLU())
        results.append(([name for name, _ in gm.named_modules()], text(gm.code)))
        g = copy.deepcopy(gm.graph)
        g.owning_module = gm
        with g.inserting_before(g.find_nodes(op="output")[0]):
            with pytest.raises(AttributeError, match="missing"):
                g.call_module("missing", ())
            g.create_node("call_module", "missing", ())
        with pytest.raises(RuntimeError, match="nonexistent"):
            g.lint()
    assert results[0] == results[1]


def test_deepcopy_is_independent():
    k, _ = twins(make_block)
    gm = kiln.fx.symbolic_trace(k)
    twin = copy.deepcopy(gm)
    for node in twin.graph.nodes:
        if node.op == "call_module" and node.target == "relu":
            node.target = "pool"  # nonsense, but only in the copy
            break
    twin.recompile()
    assert "self.pool(" in twin.code and gm.code != twin.code
    assert twin.fc.weight is not gm.fc.weight
    x = kiln.randn(1, 3, 4, 4)
    assert_close(gm(x), kiln.fx.symbolic_trace(k)(x), rtol=0, atol=0)


# ---------------------------------------------------------------------------- Conv-BN fuser
def fuse_conv_bn_weights(ns, conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    if conv_b is None:
        conv_b = ns.zeros_like(bn_rm)
    bn_var_rsqrt = ns.rsqrt(bn_rv + bn_eps)
    conv_w = conv_w * (bn_w * bn_var_rsqrt).reshape([-1] + [1] * (len(conv_w.shape) - 1))
    conv_b = (conv_b - bn_rm) * bn_var_rsqrt * bn_w + bn_b
    return ns.nn.Parameter(conv_w), ns.nn.Parameter(conv_b)


def fuse_conv_bn_eval(ns, conv, bn):
    assert not (conv.training or bn.training), "Fusion only for eval!"
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        ns, fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    return fused


def fuse(ns, model):
    """The tutorial's fuser: every call_module BatchNorm2d fed by a Conv2d (and nothing
    else) folds into the conv."""
    model = copy.deepcopy(model)
    fx_model = ns.fx.symbolic_trace(model)
    modules = dict(fx_model.named_modules())
    for node in fx_model.graph.nodes:
        if node.op != "call_module":
            continue
        conv_node = node.args[0]
        if (
            type(modules[node.target]) is ns.nn.BatchNorm2d
            and isinstance(conv_node, type(node))
            and conv_node.op == "call_module"
            and type(modules[conv_node.target]) is ns.nn.Conv2d
        ):
            if len(conv_node.users) > 1:
                continue
            fused = fuse_conv_bn_eval(ns, modules[conv_node.target], modules[node.target])
            *parent, name = conv_node.target.rsplit(".", 1)
            setattr(modules[parent[0]] if parent else fx_model, name, fused)
            modules[conv_node.target] = fused
            node.replace_all_uses_with(conv_node)
            fx_model.graph.erase_node(node)
    fx_model.graph.lint()
    fx_model.recompile()
    return fx_model


def test_conv_bn_fusion_tutorial():
    k, t = twins(make_convnet)
    k.eval(), t.eval()
    kf, tf = fuse(kiln, k), fuse(torch, t)
    assert node_rows(kf) == node_rows(tf)
    assert text(kf.code) == torch_code(tf)
    # bn1 folds into conv1, nested.0 into conv2, wrapped.mod into nested.1
    assert [n.target for n in kf.graph.nodes if n.op == "call_module"] == [
        "conv1",
        "conv2",
        "nested.1",
    ]
    x = torch.randn(2, 2, 6, 6)
    with torch.no_grad():
        expected = t(x)
        assert_close(kf(to_kiln(x)), tf(x), rtol=1e-4, atol=1e-5)
    assert_close(kf(to_kiln(x)), expected, rtol=1e-4, atol=1e-5)
    assert_close(k(to_kiln(x)), expected, rtol=1e-4, atol=1e-5)
    assert k.bn1.training is False and type(k.conv1) is kiln.nn.Conv2d  # the original stays


# ---------------------------------------------------------------------------- interpreters
def kgm_output(interpreter):
    return interpreter.graph.find_nodes(op="output")[0]


def test_profiling_interpreter_tutorial():
    import time

    def profiler(ns):
        class ProfilingInterpreter(ns.fx.Interpreter):
            def __init__(self, module):
                super().__init__(ns.fx.symbolic_trace(module))
                self.total_runtime_sec = []
                self.runtimes_sec = {}

            def run(self, *args):
                start = time.perf_counter()
                value = super().run(*args)
                self.total_runtime_sec.append(time.perf_counter() - start)
                return value

            def run_node(self, n):
                start = time.perf_counter()
                value = super().run_node(n)
                self.runtimes_sec.setdefault(n, []).append(time.perf_counter() - start)
                return value

        return ProfilingInterpreter

    k, t = twins(make_block)
    k.eval(), t.eval()
    kp, tp = profiler(kiln)(k), profiler(torch)(t)
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        for _ in range(2):
            assert_close(kp.run(to_kiln(x)), tp.run(x), rtol=1e-4, atol=1e-5)
    assert_close(kp.run(to_kiln(x)), k(to_kiln(x)), rtol=0, atol=0)
    assert [n.name for n in kp.runtimes_sec] == [n.name for n in tp.runtimes_sec]
    assert all(len(times) == 3 for times in kp.runtimes_sec.values())
    assert len(kp.total_runtime_sec) == 3
    assert list(kp.env) == [kgm_output(kp)] and len(tp.env) == 1  # values freed after use


def test_interpreter_overrides_and_transformer():
    def make(ns):
        class M(ns.nn.Module):
            def forward(self, x):
                return ns.neg(ns.sigmoid(x)).exp().sigmoid()

        return M()

    def swapper(ns):
        class NegSigmSwapInterpreter(ns.fx.Interpreter):
            def call_function(self, target, args, kwargs):
                if target == ns.sigmoid:
                    return ns.neg(*args, **kwargs)
                if target == ns.neg:
                    return ns.sigmoid(*args, **kwargs)
                return super().call_function(target, args, kwargs)

            def call_method(self, target, args, kwargs):
                if target == "sigmoid":
                    return ns.neg(*args, **kwargs)
                return super().call_method(target, args, kwargs)

        class NegSigmSwapXformer(ns.fx.Transformer):
            def call_function(self, target, args, kwargs):
                if target == ns.sigmoid:
                    return ns.neg(*args, **kwargs)
                if target == ns.neg:
                    return ns.sigmoid(*args, **kwargs)
                return super().call_function(target, args, kwargs)

        return NegSigmSwapInterpreter, NegSigmSwapXformer

    x = torch.randn(5)
    kgm, tgm = kiln.fx.symbolic_trace(make(kiln)), torch.fx.symbolic_trace(make(torch))
    (ki, kx), (ti, tx) = swapper(kiln), swapper(torch)
    assert_close(ki(kgm).run(to_kiln(x)), ti(tgm).run(x), rtol=1e-6, atol=1e-7)
    assert_close(ki(kgm).run(to_kiln(x)), -torch.sigmoid(-x).exp(), rtol=1e-6, atol=1e-7)
    k_new, t_new = kx(kgm).transform(), tx(tgm).transform()
    assert node_rows(k_new) == node_rows(t_new)
    assert text(k_new.code) == torch_code(t_new)
    assert_close(k_new(to_kiln(x)), t_new(x), rtol=1e-6, atol=1e-7)
    assert_close(kgm(to_kiln(x)), tgm(x), rtol=1e-6, atol=1e-7)  # the original is kept


def test_interpreter_error_names_the_node():
    def f(x):
        return x.view(7, -1)

    gm = kiln.fx.symbolic_trace(f)
    with pytest.raises(Exception, match="While executing %view"):
        kiln.fx.Interpreter(gm).run(kiln.ones(3, 2))


def test_shape_prop_matches_torch():
    k, t = twins(make_mixed)
    kgm, tgm = kiln.fx.symbolic_trace(k), torch.fx.symbolic_trace(t)
    x = torch.randn(5, 4)
    assert_close(ShapeProp(kgm).propagate(to_kiln(x)), TorchShapeProp(tgm).propagate(x))
    k_meta = [(n.name, n.meta.get("tensor_meta")) for n in kgm.graph.nodes]
    t_meta = [(n.name, n.meta.get("tensor_meta")) for n in tgm.graph.nodes]
    assert [name for name, _ in k_meta] == [name for name, _ in t_meta]

    def summary(meta):
        if meta is None:
            return None
        if isinstance(meta, (tuple, list)) and not hasattr(meta, "shape"):
            return [summary(m) for m in meta]
        return (tuple(meta.shape), str(meta.dtype).split(".")[-1], meta.requires_grad)

    assert [summary(m) for _, m in k_meta] == [summary(m) for _, m in t_meta]
    assert any(m is not None for _, m in k_meta)
    assert [n.meta["type"].__name__ for n in kgm.graph.nodes] == [
        n.meta["type"].__name__ for n in tgm.graph.nodes
    ]


# ---------------------------------------------------------------------------- compiling
@pytest.mark.parametrize("make", [make_block, make_mixed, make_convnet])
def test_jit_and_compile_of_a_graph_module(make):
    k, _ = twins(make)
    k.eval()
    gm = fuse(kiln, k) if make is make_convnet else kiln.fx.symbolic_trace(k)
    x = kiln.randn(3, 4) if make is make_mixed else kiln.randn(2, 3 - (make is make_convnet), 6, 6)
    eager = gm(x)
    assert_close(eager, k(x), rtol=1e-5, atol=1e-6)
    assert_close(kiln.jit(gm)(x), eager, rtol=1e-5, atol=1e-6)
    assert_close(kiln.compile(gm)(x), eager, rtol=1e-5, atol=1e-6)


def test_graph_module_trains():
    k, _ = twins(make_block)
    gm = kiln.fx.symbolic_trace(k)
    x = kiln.randn(2, 3, 6, 6)
    k(x).sum().backward()
    expected = [p.grad.numpy().copy() for p in k.parameters()]
    k.zero_grad()
    gm(x).sum().backward()  # the traced module shares the parameters
    for p, grad in zip(k.parameters(), expected):
        np.testing.assert_allclose(p.grad.numpy(), grad, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- rewriting
def test_replace_pattern_docs_example():
    def make(ns):
        class M(ns.nn.Module):
            def forward(self, x, w1, w2):
                m1 = ns.cat([w1, w2]).sum()
                m2 = ns.cat([w1, w2]).sum()
                return x + ns.max(m1) + ns.max(m2)

        def pattern(w1, w2):
            return ns.cat([w1, w2]).sum()

        def replacement(w1, w2):
            return ns.stack([w1, w2])

        return M(), pattern, replacement

    results = []
    for ns in BOTH:
        model, pattern, replacement = make(ns)
        gm = ns.fx.symbolic_trace(model)
        matches = ns.fx.replace_pattern(gm, pattern, replacement)
        anchors = [m.anchor.name for m in matches]
        mapped = [sorted(pn.name for pn in m.nodes_map) for m in matches]
        results.append((anchors, mapped, node_rows(gm), text(gm.code), gm))
    assert results[0][:4] == results[1][:4]
    x, w1, w2 = torch.randn(3), torch.randn(3), torch.randn(3)
    assert_close(results[0][4](*map(to_kiln, (x, w1, w2))), results[1][4](x, w1, w2))


def test_replace_pattern_leaves_shared_values_and_matches_order():
    def f(ns):
        def fn(x):
            a = ns.relu(x) * 2  # matches
            b = ns.relu(x + 1)
            c = b * 2  # b is used again below: no match
            return a + c + b

        return fn

    def pattern(ns):
        return lambda v: ns.relu(v) * 2

    def replacement(ns):
        return lambda v: ns.sigmoid(v) - 1

    results = []
    for ns in BOTH:
        gm = ns.fx.symbolic_trace(f(ns))
        matches = ns.fx.replace_pattern(gm, pattern(ns), replacement(ns))
        results.append(([m.anchor.name for m in matches], text(gm.code), gm))
    assert results[0][:2] == results[1][:2]
    x = torch.randn(6)
    assert_close(results[0][2](to_kiln(x)), results[1][2](x), rtol=1e-6, atol=1e-7)


def test_decomposition_with_graph_appending_proxies():
    # the torch.fx docs' "Proxy/Retracing" flow: rebuild a graph, decomposing some calls by
    # running Python on proxies that append to the new graph
    def decompose(ns, model, rules):
        graph = ns.fx.Tracer().trace(model)
        new_graph = ns.fx.Graph()
        env = {}
        tracer = ns.fx.proxy.GraphAppendingTracer(new_graph)
        for node in graph.nodes:
            if node.op == "call_function" and node.target in rules:
                proxy_args = [
                    ns.fx.Proxy(env[a.name], tracer) if isinstance(a, type(node)) else a
                    for a in node.args
                ]
                env[node.name] = rules[node.target](*proxy_args).node
            else:
                env[node.name] = new_graph.node_copy(node, lambda a: env[a.name])
        return ns.fx.GraphModule(model, new_graph)

    def make(ns):
        class M(ns.nn.Module):
            def forward(self, x):
                return ns.relu(x) + ns.sigmoid(x)

        return M()

    rules_torch = {
        torch.relu: lambda x: (x > 0) * x,
        torch.sigmoid: lambda x: 1 / (1 + torch.exp(-x)),
    }
    rules_kiln = {kiln.relu: lambda x: (x > 0) * x, kiln.sigmoid: lambda x: 1 / (1 + kiln.exp(-x))}
    t = decompose(torch, make(torch), rules_torch)
    with pytest.raises(TypeError, match="exp.*Proxy"):
        decompose(kiln, make(kiln), rules_kiln)  # kiln.exp(proxy) outside recording
    with pytest.raises(kiln.fx.TraceError, match="record_kiln_functions"):
        kiln.relu(kiln.fx.Proxy(kiln.fx.Graph().placeholder("x")))
    with kiln.fx.record_kiln_functions():
        k = decompose(kiln, make(kiln), rules_kiln)
    assert node_rows(k) == node_rows(t)
    assert text(k.code) == torch_code(t)
    x = torch.randn(7)
    assert_close(k(to_kiln(x)), t(x), rtol=1e-6, atol=1e-7)
    assert_close(
        k(to_kiln(x)), kiln.relu(to_kiln(x)) + kiln.sigmoid(to_kiln(x)), rtol=1e-6, atol=1e-7
    )


def test_tensor_attributes_and_constants_like_torch():
    def make(ns):
        class M(ns.nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = ns.tensor([2.0, 3.0])  # a plain tensor attribute
                self.lin = ns.nn.Linear(2, 2)

            def forward(self, x):
                return self.lin(x) * self.scale + ns.tensor([1.0, -1.0]) + ns.ones(2)

        return M()

    k, t = twins(make)
    kgm, tgm = kiln.fx.symbolic_trace(k), torch.fx.symbolic_trace(t)
    assert node_rows(kgm) == node_rows(tgm)
    assert list(kgm.state_dict()) == list(tgm.state_dict())
    assert [name for name, _ in kgm.named_buffers()] == [name for name, _ in tgm.named_buffers()]
    x = torch.randn(3, 2)
    assert_close(kgm(to_kiln(x)), tgm(x))
    assert_close(kgm(to_kiln(x)), k(to_kiln(x)), rtol=0, atol=0)


def test_pickle_and_save_round_trip():
    import io
    import pickle

    k, _ = twins(make_mixed)
    gm = kiln.fx.symbolic_trace(k)
    x = kiln.randn(3, 4)
    loaded = pickle.loads(pickle.dumps(gm))
    assert loaded.code == gm.code and type(loaded) is not type(gm)
    assert loaded.graph.owning_module is loaded and gm.graph.owning_module is gm
    assert_close(loaded(x), gm(x), rtol=0, atol=0)
    buffer = io.BytesIO()
    kiln.save(gm, buffer)
    buffer.seek(0)
    again = kiln.load(buffer, weights_only=False)
    assert again.linear.weight is not gm.linear.weight
    assert_close(again(x), gm(x), rtol=0, atol=0)


def test_insertion_points_and_editing_while_iterating_like_torch():
    results = []
    for ns in BOTH:
        g = ns.fx.Graph()
        x = g.placeholder("x")
        a = g.call_function(operator.neg, (x,))
        g.output(a)
        with g.inserting_after(x):  # each goes right after x: reverse order, as torch
            g.call_function(operator.abs, (x,))
            g.call_function(operator.pos, (x,))
        order = [n.name for n in g.nodes]
        seen = []
        for n in g.nodes:  # nodes inserted after the current one are visited
            seen.append(n.name)
            if n.name == "x":
                with g.inserting_after(n):
                    g.call_function(operator.invert, (n,))
            if n.name == "abs_1":  # erasing the next node: the loop goes on past it
                following = n.next
                following.replace_all_uses_with(x)
                g.erase_node(following)
        g.lint()
        g2 = ns.fx.Graph()
        p = g2.placeholder("p")
        g2.call_function(operator.neg, (p,))
        g2.inserting_after(p)  # without `with`: the call itself moves the point
        g2.call_function(operator.abs, (p,))
        results.append((order, seen, [n.name for n in g.nodes], [n.name for n in g2.nodes]))
    assert results[0] == results[1]
    assert results[0][1] == ["x", "invert", "pos", "abs_1", "output"]


def test_variadic_and_keyword_only_parameters_like_torch():
    def make(ns):
        class M(ns.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = ns.nn.Linear(2, 2)

            def forward(self, x, *rest, scale=2.0, **extra):
                return self.lin(x) * scale + rest[0] + extra["bias"]

        return M()

    def f(a, *, b):
        return a - b

    k, t = twins(make)
    kgm, tgm = kiln.fx.symbolic_trace(k), torch.fx.symbolic_trace(t)
    assert node_rows(kgm) == node_rows(tgm)
    assert text(kgm.code) == torch_code(tgm)
    assert kiln.fx.symbolic_trace(f).code == torch.fx.symbolic_trace(f).code
    x, r, bias = torch.randn(3, 2), torch.randn(2), torch.randn(2)
    got = kgm(to_kiln(x), 3.0, to_kiln(r), bias=to_kiln(bias))
    assert_close(got, tgm(x, 3.0, r, bias=bias))
    assert_close(got, k(to_kiln(x), to_kiln(r), scale=3.0, bias=to_kiln(bias)), rtol=0, atol=0)


def test_tracing_leaves_kiln_as_it_was():
    def state():
        return (
            kiln.add,
            kiln.nn.functional.relu,
            kiln.linalg.norm,
            kiln.nn.Module.__call__,
            kiln.nn.Module.__getattr__,
            my_scale,
            vars(kiln.Tensor)["mul"],
            vars(kiln.Tensor)["__getitem__"],
        )

    before = state()

    def branch(x):
        return x if x.sum() > 0 else -x

    with pytest.raises(kiln.fx.TraceError):
        kiln.fx.symbolic_trace(branch)  # a trace that fails half-way
    kiln.fx.symbolic_trace(make_mixed(kiln))
    assert all(a is b for a, b in zip(before, state()))
    assert kiln.add(kiln.ones(2), 1).tolist() == [2.0, 2.0]


def test_dtype_device_and_method_arguments_like_torch():
    def make(ns):
        def fn(x):
            a = x.to(ns.float64)
            b = ns.zeros_like(x, dtype=ns.float16).to(device=ns.device("cpu"))
            c = ns.nn.functional.interpolate(x[None, None], scale_factor=2.0, mode="nearest")
            return a, b, c, x.new_zeros((2, 3)), x.float(), x.permute(*[1, 0])

        return fn

    kgm, tgm = kiln.fx.symbolic_trace(make(kiln)), torch.fx.symbolic_trace(make(torch))
    assert node_rows(kgm) == node_rows(tgm)
    assert text(kgm.code) == torch_code(tgm)
    x = torch.randn(3, 3)
    k_out, t_out = kgm(to_kiln(x)), tgm(x)
    assert [text(str(o.dtype)) for o in k_out] == [str(o.dtype) for o in t_out]
    assert_close(k_out, t_out)


def test_retracing_a_graph_module_like_torch():
    # the generated code re-registers its wrap()ped functions, so a retrace keeps them
    k, t = twins(make_mixed)
    kgm = kiln.fx.symbolic_trace(kiln.fx.symbolic_trace(k))
    tgm = torch.fx.symbolic_trace(torch.fx.symbolic_trace(t))
    assert node_rows(kgm) == node_rows(tgm)
    assert text(kgm.code) == torch_code(tgm)
    x = kiln.randn(3, 4)
    assert_close(kgm(x), k(x), rtol=0, atol=0)


def test_erased_node_name_stays_taken_like_torch():
    results = []
    for ns in BOTH:
        g = ns.fx.Graph()
        x = g.placeholder("x")
        a = g.call_function(operator.add, (x, 1))
        g.erase_node(a)
        b = g.call_function(operator.add, (x, 2))
        g.output(b)
        results.append(([n.name for n in g.nodes], a.args, [u.name for u in x.users]))
    assert results[0] == results[1] == (["x", "add_1", "output"], (None, 1), ["add_1"])


def make_attention(ns):
    """Self-attention as the transformer tutorials write it: shape unpacking, chunk,
    math.sqrt of a traced size."""

    class Attention(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = ns.nn.Linear(8, 24)
            self.out = ns.nn.Linear(8, 8)

        def forward(self, x):
            batch, time, channels = x.shape
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            att = ns.softmax(att, dim=-1)
            return self.out((att @ v).reshape(batch, time, channels))

    return Attention()


def test_attention_with_math_sqrt_like_torch():
    k, t = twins(make_attention)
    kgm, tgm = kiln.fx.symbolic_trace(k), torch.fx.symbolic_trace(t)
    assert node_rows(kgm) == node_rows(tgm)
    assert text(kgm.code) == torch_code(tgm)  # math.sqrt is a wrapped call_function
    assert [n.target for n in kgm.graph.nodes if n.name == "sqrt"] == [math.sqrt]
    x = torch.randn(2, 5, 8)
    assert_close(kgm(to_kiln(x)), tgm(x), rtol=1e-5, atol=1e-6)
    again = kiln.fx.symbolic_trace(kgm)  # the retrace keeps math.sqrt a leaf
    assert again.code == kgm.code
    assert math.sqrt(4.0) == 2.0


def test_docs_hand_written_shape_prop():
    # the torch.fx docs' "Interpreter pattern" example, on both libraries
    def shapes(ns, gm, *args):
        from_graph = importlib.import_module(ns.__name__ + ".fx.graph")
        from_node = importlib.import_module(ns.__name__ + ".fx.node")
        assert from_node.Target is not None and from_node.Argument is not None
        modules = dict(gm.named_modules())
        env = {}
        args_iter = iter(args)

        def load_arg(a):
            return from_graph.map_arg(a, lambda n: env[n.name])

        def fetch_attr(target):
            attr = gm
            for atom in target.split("."):
                attr = getattr(attr, atom)
            return attr

        for node in gm.graph.nodes:
            if node.op == "placeholder":
                result = next(args_iter)
            elif node.op == "get_attr":
                result = fetch_attr(node.target)
            elif node.op == "call_function":
                result = node.target(*load_arg(node.args), **load_arg(node.kwargs))
            elif node.op == "call_method":
                self_obj, *rest = load_arg(node.args)
                result = getattr(self_obj, node.target)(*rest, **load_arg(node.kwargs))
            elif node.op == "call_module":
                result = modules[node.target](*load_arg(node.args), **load_arg(node.kwargs))
            else:
                continue
            if isinstance(result, ns.Tensor):
                node.shape = result.shape
                node.dtype = result.dtype
            env[node.name] = result
        return [
            (n.name, tuple(n.shape), text(str(n.dtype)))
            for n in gm.graph.nodes
            if hasattr(n, "shape")
        ]

    k, t = twins(make_attention)
    x = torch.randn(2, 3, 8)
    got = shapes(kiln, kiln.fx.symbolic_trace(k), to_kiln(x))
    assert got == shapes(torch, torch.fx.symbolic_trace(t), x)
    assert ("out", (2, 3, 8), "torch.float32") in got


def test_other_threads_run_modules_while_a_trace_runs():
    import threading

    model = kiln.nn.Sequential(kiln.nn.Linear(3, 3), kiln.nn.ReLU())
    x = kiln.randn(2, 3)
    expected = model(x).detach().numpy()
    results, errors = [], []
    started, release = threading.Event(), threading.Event()

    def worker():
        started.wait()
        try:
            results.append(model(x).detach().numpy())  # while the main thread is inside a trace
        except Exception as e:  # pragma: no cover - the failure this test guards against
            errors.append(e)
        release.set()

    class Pausing(kiln.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = kiln.nn.Linear(3, 3)

        def forward(self, x):
            started.set()
            assert release.wait(10)
            return self.inner(x)

    thread = threading.Thread(target=worker)
    thread.start()
    gm = kiln.fx.symbolic_trace(Pausing())
    thread.join()
    assert not errors and len(results) == 1
    np.testing.assert_array_equal(results[0], expected)
    assert [n.op for n in gm.graph.nodes] == ["placeholder", "call_module", "output"]


def test_traces_in_several_threads():
    import threading

    relu_before = kiln.relu
    rows, errors = [], []

    def work():
        try:
            for _ in range(10):
                gm = kiln.fx.symbolic_trace(lambda x: kiln.relu(x) + kiln.sigmoid(x))
                rows.append([n.op for n in gm.graph.nodes])
        except Exception as e:  # pragma: no cover - what the lock prevents
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(rows) == 40
    assert all(
        r == ["placeholder", "call_function", "call_function", "call_function", "output"]
        for r in rows
    )
    assert kiln.relu is relu_before


def test_real_tensor_methods_given_a_proxy_like_torch():
    # a method or index of a real tensor given a proxy is a call_method on a constant
    def make(ns):
        constant = ns.ones(3)

        def fn(x):
            return constant.mul(x) + constant[x.argmax()] + constant.add(1)

        return fn

    kgm, tgm = kiln.fx.symbolic_trace(make(kiln)), torch.fx.symbolic_trace(make(torch))
    assert node_rows(kgm) == node_rows(tgm)
    assert text(kgm.code) == torch_code(tgm)
    x = torch.tensor([0.5, 2.0, 1.0])
    assert_close(kgm(to_kiln(x)), tgm(x), rtol=0, atol=0)
