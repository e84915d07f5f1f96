"""CUDA graphs run as the CPU's do: a lowered schedule under ``runtime/executor.Program``.

The executable is ``compile.Executable`` with a ``Program``; its intermediates live in a
device arena made once (so a second call allocates only its outputs); outputs are new
arrays each call; results equal the reference interpreter. Under the CUDA simulator
without a GPU (``tests/conftest.py``), so shapes are small.
"""

import gc
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install numba-cuda)")

from kiln.compiler.compile import Executable, compile_graph, dump  # noqa: E402
from kiln.compiler.interpret import interpret  # noqa: E402
from kiln.compiler.ir import Graph  # noqa: E402
from kiln.runtime import cuda as device  # noqa: E402
from kiln.runtime.cuda.allocator import ALLOCATOR, CachingAllocator, DeviceArena  # noqa: E402
from kiln.runtime.executor import InputError, Program  # noqa: E402

if not device.is_available():
    pytest.skip("no CUDA GPU and the CUDA simulator is off", allow_module_level=True)


def _mlp() -> Graph:
    """exp -> matmul + bias -> softmax rows, and a column sum: intermediates in the arena."""
    g = Graph("mlp")
    x = g.add_input((4, 6), "float32", name="x")
    w = g.add_input((6, 5), "float32", name="w")
    b = g.add_input((5,), "float32", name="b")
    h = g.add_node("exp", [g.add_node("mul", [x, g.add_const(np.float32(0.5))])])
    y = g.add_node("add", [g.add_node("matmul", [h, w]), b])
    peak = g.add_node("max", [y], {"axes": (1,), "keepdims": True})
    e = g.add_node("exp", [g.add_node("sub", [y, peak])])
    total = g.add_node("sum", [e], {"axes": (1,), "keepdims": True})
    g.outputs = [
        g.add_node("div", [e, total]),
        g.add_node("sum", [y], {"axes": (0,), "keepdims": False}),
    ]
    return g


def _movement() -> Graph:
    """Permute, slice, pad, concat, expand, a leading-axis sum and a host op (argmax)."""
    g = Graph("movement")
    x = g.add_input((3, 4), "float32", name="x")
    t = g.add_node("permute", [g.add_node("exp", [x])], {"axes": (1, 0)})
    s = g.add_node("slice", [t], {"starts": (1, 0), "stops": (4, 3), "steps": (2, 1)})
    p = g.add_node("pad", [s], {"pads": ((1, 0), (0, 2)), "value": 0.0})
    c = g.add_node("concat", [p, g.add_node("neg", [p])], {"axis": 0})
    e = g.add_node(
        "expand", [g.add_node("sum", [x], {"axes": (0,), "keepdims": True})], {"shape": (2, 4)}
    )
    g.outputs = [c, e, g.add_node("argmax", [x], {"axis": 1, "keepdims": False})]
    return g


def _host_inputs(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n.shape).astype(n.dtype) for n in graph.inputs]


def _run(executable, arrays):
    return executable.run([device.to_device(a) for a in arrays])


def _assert_equals_interpreter(graph, executable, arrays, on_host=()):
    """Results equal the interpreter's; outputs ``on_host`` (indices) are host arrays."""
    results = _run(executable, arrays)
    expected = interpret(graph, arrays)
    assert len(results) == len(expected)
    for k, (got, want) in enumerate(zip(results, expected)):
        if k in on_host:
            assert type(got) is np.ndarray
        else:
            assert device.is_device_array(got)
            got = device.to_host(got)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    return results


def test_a_cuda_graph_compiles_to_an_executable_with_a_program():
    executable = compile_graph(_mlp(), device="cuda")
    assert type(executable) is Executable and executable.device == "cuda"
    assert isinstance(executable.program, Program)
    assert executable.program.schedule.device == "cuda"
    assert executable.kernels and all("@cuda.jit" in k for k in executable.kernels)
    assert [name for name, _ in executable.stages][-2:] == ["fuse", "memory"]
    # no IR at run time: launches over named values with their sizes pasted in
    source = executable.program.source
    assert "def run(args):" in source and "# group 1: matmul (tiled CUDA)" in source
    assert "values" not in source and "Node" not in source


@pytest.mark.parametrize("make", [_mlp, _movement], ids=["mlp", "movement"])
def test_results_equal_the_reference_interpreter(make):
    graph = make()
    _assert_equals_interpreter(graph, compile_graph(graph, device="cuda"), _host_inputs(graph))


def test_intermediates_are_allocated_once_and_reused(monkeypatch):
    graph = _mlp()
    executable = compile_graph(graph, device="cuda")
    arena = executable.program.schedule.arena
    assert arena.nbytes > 0
    arrays = _host_inputs(graph)
    _run(executable, arrays)
    before = ALLOCATOR.allocations
    # every device allocation a call makes (the arena's blocks would be one of them)
    made = []
    numba_cuda = device.numba_cuda()
    real = numba_cuda.device_array

    def counting(*args, **kwargs):
        array = real(*args, **kwargs)
        made.append(array)
        return array

    monkeypatch.setattr(numba_cuda, "device_array", counting)
    _assert_equals_interpreter(graph, executable, arrays)
    assert ALLOCATOR.allocations == before
    assert len(made) == len(graph.outputs)  # the outputs, nothing else


def test_outputs_are_new_arrays_and_a_later_call_does_not_overwrite_them():
    graph = _mlp()
    executable = compile_graph(graph, device="cuda")
    first_inputs, second_inputs = _host_inputs(graph, 1), _host_inputs(graph, 2)
    first = _run(executable, first_inputs)
    kept = [device.to_host(a) for a in first]
    second = _run(executable, second_inputs)
    for a, b in zip(first, second):
        assert a is not b
    for a, value in zip(first, kept):
        np.testing.assert_array_equal(device.to_host(a), value)
    for got, want in zip(second, interpret(graph, second_inputs)):
        np.testing.assert_allclose(device.to_host(got), want, rtol=1e-5, atol=1e-6)


def test_an_output_that_aliases_the_arena_or_an_input_is_copied_out():
    g = Graph("views")
    x = g.add_input((2, 3), "float32")
    h = g.add_node("exp", [x])
    y = g.add_node("neg", [g.add_node("exp", [h])])  # h lives in the arena
    g.outputs = [
        g.add_node("reshape", [h], {"shape": (3, 2)}),  # a view of the arena
        g.add_node("reshape", [x], {"shape": (6,)}),  # a view of the caller's array
        y,
        g.add_const(np.arange(3, dtype=np.float32)),  # a constant: depends on no device input
    ]
    executable = compile_graph(g, device="cuda")
    arrays = _host_inputs(g)
    first = _assert_equals_interpreter(g, executable, [arrays[0]], on_host={3})
    kept = device.to_host(first[0])
    _run(executable, [arrays[0] * 2])
    np.testing.assert_array_equal(device.to_host(first[0]), kept)


def test_an_epilogue_output_never_overwrites_a_matmul_operand():
    # the memory plan may put %tanh in place of %exp (a dies at the matmul, as on the CPU
    # where BLAS has read it by then); the CUDA kernel still reads it, so: its own block
    g = Graph("operand")
    x, w = g.add_input((4, 4), "float32"), g.add_input((4, 4), "float32")
    y = g.add_node("matmul", [g.add_node("exp", [x]), w])
    negated = g.add_node("neg", [y])  # the matmul's result goes here (first of its shape)
    second = g.add_node("matmul", [g.add_node("tanh", [y]), w])
    g.outputs = [negated, second]
    executable = compile_graph(g, device="cuda")
    memory = str(executable.stages[-1][1])
    assert "tanh" in memory and "of its own" in memory.split("tanh")[1].splitlines()[0]
    _assert_equals_interpreter(g, executable, _host_inputs(g))


def test_host_inputs_are_copied_over_and_host_only_outputs_stay_on_the_host():
    g = Graph("step")
    x = g.add_input((3,), "float32")
    lr = g.add_input((), "float32")
    count = g.add_input((), "float32")
    g.outputs = [
        g.add_node("mul", [x, lr]),
        g.add_node("add", [count, g.add_const(np.float32(1))]),
    ]
    executable = compile_graph(g, device="cuda")
    x_host = np.arange(3, dtype=np.float32)
    scaled, counted = executable.run([device.to_device(x_host), 0.5, np.float32(2)])
    assert device.is_device_array(scaled)
    np.testing.assert_allclose(device.to_host(scaled), x_host * 0.5)
    assert type(counted) is np.ndarray and counted.item() == 3.0  # as PyTorch keeps it


def test_inputs_of_the_wrong_shape_are_a_clear_error():
    graph = _mlp()
    executable = compile_graph(graph, device="cuda")
    arrays = [device.to_device(a) for a in _host_inputs(graph)]
    arrays[1] = device.to_device(np.ones((5, 6), np.float32))
    with pytest.raises(InputError, match=r"mlp: w expects float32\[6, 5\], got float32\[5, 6\]"):
        executable.run(arrays)
    with pytest.raises(InputError, match="expected 3 inputs, got 2"):
        executable.run(arrays[:2])


def test_dump_writes_the_run_function_of_a_cuda_executable(tmp_path):
    executable = compile_graph(_mlp(), device="cuda")
    folder = dump(executable, tmp_path / "mlp")
    run = (folder / "run.py").read_text()
    assert run == executable.program.source and "with _lock:" in run
    assert (folder / "kernel_0.py").read_text() == executable.kernels[0]
    assert "device arena" in next(folder.glob("*_memory.txt")).read_text()


def test_profile_lists_every_launch():
    graph = _mlp()
    executable = compile_graph(graph, device="cuda")
    arrays = [device.to_device(a) for a in _host_inputs(graph)]
    text = executable.profile(arrays, repeats=2)
    assert "matmul_kernel  group 1: matmul (tiled CUDA)" in text
    assert len(text.splitlines()) == len(executable.program.schedule.calls)


def test_a_dropped_executable_gives_its_blocks_back_to_the_allocator():
    allocator = CachingAllocator()
    arena = DeviceArena([64, 32], allocator)
    assert allocator.allocations == 2 and allocator.cached_bytes == 0
    del arena
    gc.collect()
    assert allocator.cached_bytes == 96
    again = DeviceArena([32, 64, 16], allocator)
    assert allocator.allocations == 3  # two blocks came from the cache
    assert again.nbytes == 112


def test_eager_single_ops_are_cached_and_keep_no_device_memory():
    from kiln.compiler import compile_cuda

    x = device.to_device(np.arange(12, dtype=np.float32).reshape(3, 4))
    params = {"axes": (0,), "keepdims": False}
    first = compile_cuda.run_primitive("sum", [x], params)
    cached = dict(compile_cuda._EAGER)
    second = compile_cuda.run_primitive("sum", [x], params)
    assert compile_cuda._EAGER == cached and first is not second
    np.testing.assert_allclose(device.to_host(second), [12.0, 15.0, 18.0, 21.0])
    executable = cached[("sum", compile_cuda._params_key(params), (((3, 4), "float32"),))]
    # the permuted copy a leading-axis sum needs is made per call, not kept in an arena
    assert executable.program.schedule.arena.nbytes == 0
    assert "t1_permuted = " in executable.program.source
