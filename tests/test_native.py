"""The native CPU back end (compiler/codegen/native.py, runtime/native.py): the kernel
language compiled to LLVM IR must compute what Numba computes from the same source, fall
back to Numba outside its language, split large loops across threads with the same
result, and keep its disk cache sound under damage and concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kiln
from kiln.compiler.codegen import native as native_compiler
from kiln.compiler.compile import compile_graph
from kiln.compiler.ir import Graph
from kiln.runtime import native
from kiln.runtime.kernel_cache import KernelCacheWarning

F32 = "float32"


def _build(body, *specs):
    g = Graph("native")
    inputs = [g.add_input(shape, dtype) for shape, dtype in specs]
    out = body(g, *inputs)
    g.outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    return g


def _both_backends(graph, arrays, monkeypatch):
    """Run ``graph`` compiled by each back end; return (native results, Numba results)."""
    results = {}
    for backend in ("native", "numba"):
        monkeypatch.setenv("KILN_CPU_BACKEND", backend)
        executable = compile_graph(graph)
        if backend == "native":
            assert all(text is not None for text in executable.kernel_ir), "a kernel fell back"
        results[backend] = executable.run([a.copy() for a in arrays])
    return results["native"], results["numba"]


def _same(a, b):
    """Bit-for-bit equal, NaN where NaN (and the sign of zeros)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
    np.testing.assert_array_equal(a, b)


SPECIAL = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-40, 3e38, -7.0], F32)


@pytest.mark.parametrize(
    "op", ["exp", "log", "tanh", "erf", "sqrt", "sin", "atan", "abs", "sign", "floor"]
)
def test_unary_kernels_match_numba_bit_for_bit(op, monkeypatch):
    graph = _build(lambda g, x: g.add_node(op, [g.add_node("mul", [x, x])]), ((10,), F32))
    mine, numba = _both_backends(graph, [SPECIAL], monkeypatch)
    _same(mine[0], numba[0])


def test_integer_and_bool_arithmetic_match_numba(monkeypatch):
    a = np.array([7, -7, 0, 2**31 - 1, -(2**31), 5, -1, 3], np.int32)
    b = np.array([2, 2, 3, 1, -1, 0, 7, -3], np.int32)

    def body(g, x, y):
        total = g.add_node("add", [x, y])  # wraps at 2**31, as torch
        product = g.add_node("mul", [x, y])
        bits = g.add_node("bitwise_xor", [x, y])
        shifted = g.add_node("rshift", [x, y])
        less = g.add_node("lt", [x, y])
        chosen = g.add_node("where", [less, x, y])
        as_float = g.add_node("cast", [x], {"dtype": "float32"})
        as_bool = g.add_node("cast", [x], {"dtype": "bool"})
        return [total, product, bits, shifted, less, chosen, as_float, as_bool]

    graph = _build(body, ((8,), "int32"), ((8,), "int32"))
    mine, numba = _both_backends(graph, [a, b], monkeypatch)
    for m, n in zip(mine, numba):
        _same(m, n)
    _same(mine[0], (a.astype(np.int64) + b).astype(np.int32))  # the wrap, independently


def test_row_column_and_strided_kernels_match_numba(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 19)).astype(F32)
    x[3, 4] = np.nan

    def body(g, v):
        row_max = g.add_node("max", [v], {"axes": (1,), "keepdims": True})
        shifted = g.add_node("sub", [v, row_max])
        e = g.add_node("exp", [shifted])
        total = g.add_node("sum", [e], {"axes": (1,), "keepdims": True})
        softmax = g.add_node("div", [e, total])
        column = g.add_node("sum", [g.add_node("mul", [v, v])], {"axes": (0,), "keepdims": False})
        transposed = g.add_node("permute", [v], {"axes": (1, 0)})
        return [softmax, column, g.add_node("tanh", [transposed])]

    graph = _build(body, ((37, 19), F32))
    mine, numba = _both_backends(graph, [x], monkeypatch)
    for m, n in zip(mine, numba):
        np.testing.assert_allclose(m, n, rtol=2e-6, atol=1e-7, equal_nan=True)
    assert np.isnan(mine[0][3]).all() and not np.isnan(mine[0][2]).any()


def test_kernel_language_semantics():
    """Python's floor division and modulo, zero divisors (Numba's numpy error model: 0),
    and -0.0 through a select, compiled and run directly."""
    source = textwrap.dedent(
        """
        import numpy as np
        from numba import njit, prange

        @njit(fastmath={"contract"}, error_model="numpy", cache=True)
        def kernel(in0, in1, out0, out1, out2, n0):
            a0 = in0.reshape((n0,))
            a1 = in1.reshape((n0,))
            r0 = out0.reshape((n0,))
            r1 = out1.reshape((n0,))
            r2 = out2.reshape((n0,))
            for i0 in prange(n0):
                x0 = a0[i0]
                x1 = a1[i0]
                r0[i0] = np.int64(x0 // x1)
                r1[i0] = np.int64(x0 % x1)
                r2[i0] = np.float32(np.float32(-0.0) if x0 < 0 else np.float32(x0))
        """
    )
    signature = (("int64", 0, "C"),) * 2 + (("int64", 0, "C"),) * 2 + (("float32", 0, "C"),)
    compiled = native_compiler.compile_source(source, "kernel", signature, 1)
    kernel = native.load_native(compiled.ir, compiled.symbol, 5, 1, compiled.parallel)
    a = np.array([7, -7, 7, -7, 5, -(2**63)], np.int64)
    b = np.array([2, 2, -2, -2, 0, -1], np.int64)
    floor, mod, signed = np.empty(6, np.int64), np.empty(6, np.int64), np.empty(6, F32)
    kernel.serial(a, b, floor, mod, signed, 6)
    assert floor.tolist() == [3, -4, -4, 3, 0, -(2**63)]  # (the last wraps, as NumPy's)
    assert mod.tolist() == [1, 1, -1, -1, 0, 0]
    assert np.signbit(signed[1]) and signed[0] == 7.0
    # the builtin entry the executor calls (GIL held) computes the same
    again = [np.empty(6, np.int64), np.empty(6, np.int64), np.empty(6, F32)]
    kernel.entry(a, b, *again, 6)
    for first, second in zip((floor, mod, signed), again):
        _same(first, second)
    with pytest.raises(SystemError):  # a wrong argument count is refused, not run
        kernel.entry(a, b, 6)
    # what the kernel cannot read is refused: a non-array, a non-contiguous array (after
    # Numba has set up its JIT: it registers CPython names such as PyExc_TypeError with
    # another meaning, and an entry that used them crashed raising the error)
    import numba

    numba.njit(lambda v: v + 1)(1)
    with pytest.raises(TypeError, match="argument 1 is not a C-contiguous array"):
        kernel.entry(a, 7, *again, 6)
    with pytest.raises(TypeError, match="argument 0 is not a C-contiguous array"):
        kernel.entry(np.repeat(a, 2)[::2], b, *again, 6)

    class Subclass(np.ndarray):
        pass

    kernel.entry(a.view(Subclass), b, *again, 6)  # an ndarray subclass is an array
    _same(again[0], floor)


def test_source_outside_the_language_falls_back_to_numba(monkeypatch, tmp_path):
    from kiln.compiler.codegen import native_llvm

    def refuse(self, *args):
        raise native_compiler.Unsupported("integer power")

    # (every op a graph makes is in the language today: take one out of it)
    monkeypatch.setattr(native_llvm._FunctionCompiler, "integer_power", refuse)
    monkeypatch.setenv("KILN_CPU_BACKEND", "native")
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))  # (not found: compiled now)
    x = np.array([1, 2, 3, 4], np.int64)
    graph = _build(lambda g, v: g.add_node("pow", [v, v]), ((4,), "int64"))
    executable = compile_graph(graph)
    assert executable.kernel_ir == [None]  # outside the language: Numba
    np.testing.assert_array_equal(executable.run([x])[0], x**x)
    with pytest.raises(native_compiler.Unsupported, match="integer power"):
        source = "def kernel(in0, out0, n0):\n    r = out0.reshape((n0,))\n    r[0] = 2 ** 3\n"
        native_compiler.compile_source(source, "kernel", (("int64", 0, "C"),) * 2, 1)


def test_large_loops_split_across_threads_give_the_serial_result(monkeypatch):
    from kiln.compiler.codegen.cpu import PARALLEL_THRESHOLD

    monkeypatch.setenv("KILN_CPU_BACKEND", "native")
    size = 2 * PARALLEL_THRESHOLD
    rng = np.random.default_rng(1)
    x = rng.standard_normal(size).astype(F32)
    graph = _build(lambda g, v: g.add_node("tanh", [g.add_node("mul", [v, v])]), ((size,), F32))
    executable = compile_graph(graph)
    call = executable.program.schedule.calls[0]
    assert call.function.__name__ == "kernel"  # the chunked variant
    previous = native.get_threads()
    try:
        native.set_threads(3)  # three chunks, whatever the machine has
        threaded = executable.run([x])[0].copy()
        native.set_threads(1)
        serial = executable.run([x])[0].copy()
    finally:
        native.set_threads(previous)
    _same(threaded, serial)
    np.testing.assert_allclose(serial, np.tanh(x * x), rtol=2e-6)


def _entries(folder):
    return sorted((folder / "kernels" / "native").glob("*.o"))


@pytest.mark.parametrize(
    "fault",
    ["truncate", "flip", "garbage", "empty"],
)
def test_damaged_object_files_are_rebuilt(tmp_path, monkeypatch, fault):
    monkeypatch.setattr(kiln.jit.config, "tiered", False)  # (each call waits for LLVM)
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KILN_CPU_BACKEND", "native")
    monkeypatch.setattr(native, "_loaded", {})

    def f(x):
        return kiln.tanh(x * 0.75) + 0.25

    x = kiln.from_numpy(np.linspace(-2, 2, 7, dtype=F32))
    expected = f(x).numpy()
    np.testing.assert_allclose(kiln.jit(f)(x).numpy(), expected, rtol=1e-6)
    [path] = _entries(tmp_path)
    data = path.read_bytes()
    damaged = {
        "truncate": data[: len(data) // 2],
        "flip": data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:],
        "garbage": b"not an object file",
        "empty": b"",
    }[fault]
    path.write_bytes(damaged)
    native._loaded.clear()  # a new process: the next load reads the disk
    with pytest.warns(KernelCacheWarning, match="damaged or truncated"):
        again = kiln.jit(f)(x).numpy()
    np.testing.assert_allclose(again, expected, rtol=1e-6)
    assert path.read_bytes() == data  # rebuilt, identical


_WRITER = """
import sys
import numpy as np
import kiln
x = kiln.from_numpy(np.linspace(-3, 3, 101, dtype=np.float32))
y = kiln.jit(lambda v: kiln.softmax(kiln.tanh(v * 1.5) + 0.5, dim=0))(x)
expected = kiln.softmax(kiln.tanh(x * 1.5) + 0.5, dim=0)
assert np.allclose(y.numpy(), expected.numpy(), rtol=1e-5), "wrong result"
print("ok")
"""


def test_concurrent_processes_share_one_sound_cache(tmp_path):
    env = dict(os.environ, KILN_CACHE_DIR=str(tmp_path), KILN_CPU_BACKEND="native")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert out.strip() == "ok" and "KernelCacheWarning" not in err
    entries = _entries(tmp_path)
    assert entries
    for path in entries:  # every entry verifies (no torn write under a final name)
        assert native._read_entry(path, path.stem) is not None
    assert not list((tmp_path / "kernels" / "native").glob("*.tmp"))


def _child_runs(executable, x, queue):
    queue.put(executable.run([x])[0].copy())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_parallel_kernels_run_in_a_forked_child(monkeypatch):
    """A forked child (a DataLoader worker) has none of the parent's pool threads."""
    import multiprocessing

    monkeypatch.setenv("KILN_CPU_BACKEND", "native")
    size = 1 << 18
    x = np.linspace(-3, 3, size, dtype=F32)
    graph = _build(lambda g, v: g.add_node("exp", [g.add_node("neg", [v])]), ((size,), F32))
    executable = compile_graph(graph)
    previous = native.get_threads()
    native.set_threads(2)
    try:
        expected = executable.run([x])[0].copy()  # the parent's workers exist now
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_child_runs, args=(executable, x, queue))
        child.start()
        result = queue.get(timeout=60)
        child.join(timeout=60)
    finally:
        native.set_threads(previous)
    assert child.exitcode == 0
    _same(result, expected)


def test_graphs_differing_only_in_sizes_share_compiled_kernels(monkeypatch):
    """The kernel docstring lists shapes (``expand {shape=(5,)}``); the compiled code does
    not depend on them, so a new batch size finds the kernels it needs already built."""
    monkeypatch.setenv("KILN_CPU_BACKEND", "native")

    def body(g, v, b):
        wide = g.add_node("expand", [b], {"shape": v.shape})
        return g.add_node("tanh", [g.add_node("add", [v, wide])])

    first = compile_graph(_build(body, ((5, 3), F32), ((3,), F32)))
    second = compile_graph(_build(body, ((9, 3), F32), ((3,), F32)))
    assert first.kernels != second.kernels  # the docstrings differ ...
    symbols = [[k.symbol for k in e.native_kernels] for e in (first, second)]
    assert symbols[0] == symbols[1]  # ... the compiled kernels do not
    x, b = np.ones((9, 3), F32), np.arange(3, dtype=F32)
    np.testing.assert_allclose(second.run([x, b])[0], np.tanh(x + b), rtol=2e-6)


def test_a_kernel_llvm_refuses_falls_back_to_numba(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KILN_CPU_BACKEND", "native")

    def refuse(ir_text, interleave=True):
        raise RuntimeError("LLVM ERROR: injected")

    monkeypatch.setattr(native, "_compile_object", refuse)
    x = np.linspace(-2, 2, 9, dtype=F32)
    graph = _build(lambda g, v: g.add_node("sin", [g.add_node("add", [v, v])]), ((9,), F32))
    with pytest.warns(RuntimeWarning, match="injected.*Numba compiles it"):
        executable = compile_graph(graph)
    np.testing.assert_allclose(executable.run([x])[0], np.sin(x + x), rtol=1e-6)
    assert not _entries(tmp_path)  # nothing bad was cached


_CACHED_THEN_NEW = """
import numpy as np
import kiln
x = kiln.from_numpy(np.linspace(-1, 1, 32, dtype=np.float32).reshape(4, 8))
w = kiln.from_numpy(np.linspace(-2, 2, 128, dtype=np.float32).reshape(8, 16))
if {first}:
    kiln.jit(lambda v: v.sum(-1))(kiln.tanh(x @ w))  # a row sum's kernel, into the cache
else:
    # a new kernel (the matmul's epilogue) compiles while the cached row sum is linked
    f = kiln.jit(lambda a, b: (kiln.tanh(a @ b) + 1.0, (kiln.tanh(a @ b) + 1.0).sum(-1)))
    h, s = (t.numpy() for t in f(x, w))
    want = np.tanh(x.numpy() @ w.numpy()) + 1.0
    assert np.allclose(h, want, rtol=1e-5) and np.allclose(s, want.sum(-1), rtol=1e-5)
print("ok")
"""


def test_a_graph_with_cached_and_new_kernels_runs(tmp_path):
    """Regression: the compile thread and the lowering thread both made the first LLVM
    engine; the second one was freed with the cached kernel's code in it, and calling that
    kernel then jumped into freed memory (a segfault, in every fresh process that linked
    a cached kernel while compiling a new one)."""
    for attempt in range(3):  # (a race: about one fresh process in two crashed)
        env = dict(os.environ, KILN_CACHE_DIR=str(tmp_path / str(attempt)))
        env["KILN_CPU_BACKEND"] = "native"
        for first in (True, False):
            done = subprocess.run(
                [sys.executable, "-c", _CACHED_THEN_NEW.format(first=first)],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_reductions_reassociate_but_the_math_around_them_does_not(monkeypatch, backend):
    """Row kernels let LLVM reassociate (``reassoc``) so sums vectorize; on the
    elementwise math of the same kernel the flag let it turn ``0.5*v - v`` at v = -inf
    into +inf instead of NaN. The program the fuzzer found (seed 533), run here always.
    (Numba's flags are per function: its kernels get no ``reassoc`` at all.)"""
    from test_random_graphs import PROGRAM_SHAPES, SPECIAL, random_program

    monkeypatch.setenv("KILN_CPU_BACKEND", backend)
    program, inputs, _ = random_program(533)
    rng = np.random.default_rng(2033)
    arrays = []
    for _ in range(inputs):
        values = (rng.standard_normal(PROGRAM_SHAPES[33 % len(PROGRAM_SHAPES)]) * 2).astype(F32)
        special = rng.random(values.shape) < 0.2
        values[special] = rng.choice(SPECIAL, size=int(special.sum()))
        arrays.append(values)
    eager = [t.numpy() for t in program(*[kiln.from_numpy(a.copy()) for a in arrays])]
    compiled = kiln.jit(program)(*[kiln.from_numpy(a.copy()) for a in arrays])
    assert any(np.isneginf(a).any() for a in arrays)
    for got, want in zip((t.numpy() for t in compiled), eager):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


def test_helper_module_read_lazily_is_the_whole_parse():
    """``fastmath.py`` is read one top-level statement at a time, its functions parsed
    on first use: the same names, constants and function trees as parsing all of it."""
    import ast

    from kiln.compiler.codegen import native_llvm

    with open(os.path.join(native_llvm._HERE, "fastmath.py")) as file:
        source = file.read()
    lazy = native_llvm._SourceModule.lazily(source)
    assert native_llvm._top_level(source) is not None  # (not the fallback)
    full = native_llvm._SourceModule(ast.parse(source), {})
    assert list(lazy.names) == list(full.names)
    functions = 0
    for name, value in full.names.items():
        other = lazy.names[name]
        if isinstance(value, native_llvm.InlineFunction):
            assert ast.dump(other.definition) == ast.dump(value.definition), name
            functions += 1
        elif isinstance(value, np.generic) and np.isnan(value):
            assert np.isnan(other) and type(other) is type(value), name
        else:
            assert other == value and type(other) is type(value), name
    assert functions >= 7
    # where lines that start in the first column are not statements, the whole is parsed
    tricky = 'X = """\nnot code(\n"""\n\n\ndef f(x):\n    return x\n'
    assert native_llvm._top_level(tricky) is None
    module = native_llvm._SourceModule.lazily(tricky)
    assert isinstance(module.names["f"], native_llvm.InlineFunction)
