"""Compile latency, round 2 (issue 13): the quick LLVM pipeline of small kernels and the
CPython entry shared by the kernels of one argument layout (runtime/native.py).

A kernel over at most ``native.QUICK_WORK`` elements is compiled without the vectorizers
and with a few cleanup passes; its name (so its disk cache key) says so. Such kernels must
compute what the full pipeline's do, and the lowering's kernels are called through one
entry per layout, which must call the right kernel and refuse what it cannot read."""

from __future__ import annotations

import re

import numpy as np
import pytest

import kiln
from kiln.compiler.codegen import native as native_compiler
from kiln.compiler.compile import compile_graph
from kiln.compiler.ir import Graph
from kiln.runtime import native

F32 = "float32"


def _graph(body, *specs):
    g = Graph("compile27")
    inputs = [g.add_input(shape, dtype) for shape, dtype in specs]
    out = body(g, *inputs)
    g.outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    return g


# (name, graph body, input shape): an elementwise chain with transcendental functions, a
# row reduction (``reassoc`` sums), a softmax-like row kernel, a strided (transposed) input
CASES = [
    ("tanh-exp", lambda g, x: g.add_node("tanh", [g.add_node("exp", [g.add_node("neg", [x])])])),
    (
        "row-sum",
        lambda g, x: g.add_node(
            "sum", [g.add_node("mul", [x, x])], {"axes": (1,), "keepdims": False}
        ),
    ),
    (
        "row-max-sub-exp",
        lambda g, x: g.add_node(
            "exp",
            [g.add_node("sub", [x, g.add_node("max", [x], {"axes": (1,), "keepdims": True})])],
        ),
    ),
    (
        "transposed",
        lambda g, x: (lambda t: g.add_node("mul", [t, g.add_node("exp", [t])]))(
            g.add_node("permute", [x], {"axes": (1, 0)})
        ),
    ),
]


def test_quick_and_full_pipelines_compute_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KILN_CPU_BACKEND", "native")
    rng = np.random.default_rng(27)
    default = native.QUICK_WORK
    assert default >= 54
    for name, body in CASES:
        shape = (6, 9)  # 54 elements: quick by default
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        x[0, :3] = [np.inf, -np.inf, np.nan]
        graph = _graph(body, (shape, F32))
        results, symbols = {}, {}
        for pipeline, work in (("quick", default), ("full", 0)):
            monkeypatch.setattr(native, "QUICK_WORK", work)
            executable = compile_graph(graph)
            texts = [text for text in executable.kernel_ir if text is not None]
            assert texts, name
            quick = [text.startswith(native.QUICK_MARK) for text in texts]
            assert all(quick) if pipeline == "quick" else not any(quick), (name, pipeline)
            symbols[pipeline] = {facts.symbol for facts in executable.native_kernels if facts}
            results[pipeline] = executable.run([x.copy()])
        # the pipeline is part of the kernel's name, so of its disk cache key
        assert not symbols["quick"] & symbols["full"], name
        want = _reference(name, x)
        for pipeline, [got] in results.items():
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=(name, pipeline))
        np.testing.assert_allclose(results["quick"][0], results["full"][0], rtol=2e-6, atol=1e-6)


def _reference(name, x):
    if name == "tanh-exp":
        return np.tanh(np.exp(-x.astype(np.float64)))
    if name == "row-sum":
        return (x.astype(np.float64) ** 2).sum(1)
    if name == "row-max-sub-exp":
        with np.errstate(invalid="ignore"):
            return np.exp(x.astype(np.float64) - x.max(1, keepdims=True))
    with np.errstate(invalid="ignore"):
        return x.T.astype(np.float64) * np.exp(x.T.astype(np.float64))


def test_kernels_sharing_an_entry_each_run_their_own_code(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KILN_CPU_BACKEND", "native")
    monkeypatch.setattr(kiln.jit.config, "tiered", False)
    # two kernels of one layout (two C arrays and one size): one entry, two kernels
    ops = {"exp": np.exp, "sin": np.sin}
    kernels = {}
    for op in ops:
        executable = compile_graph(_graph(lambda g, x, op=op: g.add_node(op, [x]), ((7,), F32)))
        [facts] = [facts for facts in executable.native_kernels if facts]
        assert not facts.entry and "_py" not in executable.kernel_ir[0]
        kernels[op] = native._loaded[facts.symbol]
    x = np.linspace(-2, 2, 7, dtype=np.float32)
    for op, kernel in kernels.items():
        out = np.empty_like(x)
        kernel.entry(x, out, 7)  # (the executor's call: the builtin entry, GIL held)
        np.testing.assert_allclose(out, ops[op](x), rtol=1e-6, err_msg=op)
        # what it cannot read is refused, naming the kernel and the argument
        with pytest.raises(TypeError, match=f"{kernel.symbol}: argument 1 is not a C-cont"):
            kernel.entry(x, np.empty(14, np.float32)[::2], 7)
        with pytest.raises(TypeError, match=f"{kernel.symbol}: argument 0 is not a C-cont"):
            kernel.entry([1.0] * 7, out, 7)
        with pytest.raises(SystemError):  # a wrong argument count
            kernel.entry(x, out)


def test_a_strided_argument_passes_the_shared_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KILN_CPU_BACKEND", "native")
    [(_, body)] = [case for case in CASES if case[0] == "transposed"]
    executable = compile_graph(_graph(body, ((6, 9), F32)))
    [facts] = [facts for facts in executable.native_kernels if facts]
    assert [layout for _, _, layout in facts.signature] == ["A", "C"]  # (read by strides)
    kernel = native._loaded[facts.symbol]
    big = np.linspace(-1, 1, 6 * 18, dtype=np.float32).reshape(6, 18)
    x = big[:, ::2]  # not C-contiguous (nor its transpose): an "A" argument is read as it is
    out = np.empty((9, 6), np.float32)
    # (the executor passes it the permuted view and the sizes 9, 6)
    assert re.search(r"\(v\d+, o\d+, 9, 6\)", executable.program.source)
    kernel.entry(x.T, out, 9, 6)
    np.testing.assert_allclose(out, _reference("transposed", x), rtol=1e-6)


def test_describe_names_the_pipeline_and_the_entry():
    source = "def kernel(in0, out0, n0):\n    pass\n"
    signature = (("float32", 0, "C"),) * 2
    names = {
        native_compiler.describe(source, "kernel", signature, 1, quick, entry).symbol
        for quick in (False, True)
        for entry in (False, True)
    }
    assert len(names) == 4
    # the default (tests, ``load_native``) is the full pipeline with the kernel's own entry
    default = native_compiler.describe(source, "kernel", signature, 1)
    assert (default.quick, default.entry) == (False, True)
