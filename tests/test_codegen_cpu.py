"""CPU code generation and the runtime: compiled graphs agree with the interpreter.

Every test builds a graph with the Graph API, compiles it (``compile_graph``: fusion,
memory plan, Numba kernels, generated executor) and compares with the reference
interpreter, on inputs that include nan, inf and signed zeros. Then: the returned arrays
are never overwritten by a later call while held, the dump folder, the kernel cache.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from kiln.compiler.codegen.cpu import PARALLEL_THRESHOLD
from kiln.compiler.compile import compile_graph
from kiln.compiler.interpret import interpret
from kiln.compiler.ir import Graph
from kiln.runtime.executor import InputError
from kiln.runtime.kernel_cache import cache_dir, kernel_path
from kiln.runtime.native import object_path

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

F32 = "float32"
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.5, 2.0, 0.5, 1e-30, 3e38, -7.0, 0.25]


def special_array(shape, dtype=F32, seed=0):
    """Random values with nan, +-inf and +-0 mixed in (small ints for integer dtypes)."""
    rng = np.random.default_rng(seed)
    size = math.prod(shape)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-3, 4, size).astype(dtype).reshape(shape)
    if dtype == "bool":
        return (rng.integers(0, 2, size) == 1).reshape(shape)
    values = rng.standard_normal(size) * 3
    specials = np.resize(np.array(SPECIAL), size)
    mask = rng.random(size) < 0.3
    values[mask] = specials[mask]
    return values.astype(dtype).reshape(shape)


def build(make, *types, name="g") -> Graph:
    """``make(g, *inputs)`` returns the output node(s) of a fresh graph."""
    g = Graph(name)
    inputs = [g.add_input(shape, dtype, name=f"x{k}") for k, (shape, dtype) in enumerate(types)]
    out = make(g, *inputs)
    g.outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    return g.verify()


def const(g: Graph, value, dtype=F32):
    return g.add_const(np.asarray(value, dtype=dtype))


def check_against_interpreter(graph: Graph, arrays=None, rtol=2e-6, atol=1e-6, seed=0):
    """Compile ``graph``, run it and the interpreter on the same inputs; compare."""
    if arrays is None:
        arrays = [special_array(n.shape, n.dtype, seed + k) for k, n in enumerate(graph.inputs)]
    executable = compile_graph(graph)
    got = executable.run([a.copy() for a in arrays])
    want = interpret(graph, arrays)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    return executable


# ------------------------------------------------------------------- elementwise table

UNARY = [
    "neg",
    "exp",
    "log",
    "sqrt",
    "sin",
    "cos",
    "tanh",
    "erf",
    "abs",
    "sign",
    "reciprocal",
    "floor",
]
BINARY = [
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "maximum",
    "minimum",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
]


@pytest.mark.parametrize("op", UNARY)
def test_unary_op_matches_interpreter(op):
    # the fast float32 exp/log/tanh/erf are within 2 ulp of the correctly rounded result
    check_against_interpreter(
        build(lambda g, x: g.add_node(op, [x]), ((7, 9), F32)),
        rtol=1e-6 if op in ("exp", "log", "tanh", "erf") else 1e-7,
    )


@pytest.mark.parametrize("op", BINARY)
def test_binary_op_with_broadcasting_matches_interpreter(op):
    graph = build(lambda g, a, b: g.add_node(op, [a, b]), ((3, 4, 5), F32), ((4, 1), F32))
    check_against_interpreter(graph, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float64"])
def test_other_dtypes(dtype):
    def make(g, a, b):
        total = g.add_node("add", [g.add_node("mul", [a, b]), b])
        return g.add_node("maximum", [total, g.add_node("neg", [a])])

    check_against_interpreter(build(make, ((6, 5), dtype), ((5,), dtype)))


def test_where_cast_and_comparisons_in_one_kernel():
    def make(g, x, y):
        positive = g.add_node("gt", [x, const(g, 0.0)])
        chosen = g.add_node("where", [positive, x, y])
        as_int = g.add_node("cast", [chosen], {"dtype": "int32"})
        back = g.add_node("cast", [as_int], {"dtype": F32})
        return g.add_node("add", [back, g.add_node("cast", [positive], {"dtype": F32})])

    arrays = [
        np.linspace(-5, 5, 30, dtype=np.float32).reshape(5, 6),
        np.linspace(3, -3, 30, dtype=np.float32).reshape(5, 6),
    ]
    executable = check_against_interpreter(build(make, ((5, 6), F32), ((5, 6), F32)), arrays)
    assert len(executable.kernels) == 1


@pytest.mark.parametrize(
    "shapes",
    [
        [(4, 5, 6), (6,)],
        [(4, 1, 6), (5, 1)],
        [(2, 3, 4), ()],
        [(1,), (3, 1)],
        [(5, 1, 1), (1, 3, 1), (1, 1, 2)],
        [(), ()],
    ],
)
def test_broadcast_patterns(shapes):
    def make(g, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = g.add_node("mul", [g.add_node("add", [out, x]), x])
        return out

    check_against_interpreter(build(make, *[(s, F32) for s in shapes]))


def test_transposed_views_are_read_through_strides_without_a_copy():
    def make(g, x, y):
        t = g.add_node("permute", [x], {"axes": (1, 0)})
        return g.add_node("add", [g.add_node("mul", [t, y]), const(g, 1.0)])

    executable = check_against_interpreter(build(make, ((5, 7), F32), ((7, 5), F32)))
    assert "kernels read contiguous memory" not in executable.program.source  # no copy
    assert "a0 = in0\n" in executable.kernels[0]


def test_power_by_constants_uses_multiplications_and_sqrt():
    def make(g, x):
        square = g.add_node("pow", [x, const(g, 2.0)])
        root = g.add_node("pow", [g.add_node("abs", [x]), const(g, 0.5)])
        return g.add_node("add", [square, root])

    executable = check_against_interpreter(build(make, ((64,), F32)))
    assert "**" not in executable.kernels[0] and "math.sqrt" in executable.kernels[0]


def test_maximum_propagates_nan_like_numpy():
    graph = build(lambda g, x: g.add_node("maximum", [x, const(g, 0.0)]), ((4,), F32))
    x = np.array([np.nan, -1.0, 2.0, -np.inf], np.float32)
    (got,) = compile_graph(graph).run([x])
    np.testing.assert_array_equal(got, np.maximum(x, 0))


def test_large_array_uses_the_parallel_kernel():
    graph = build(
        lambda g, a, b: g.add_node(
            "sqrt", [g.add_node("add", [g.add_node("mul", [a, a]), g.add_node("mul", [b, b])])]
        ),
        ((2 * PARALLEL_THRESHOLD,), F32),
        ((2 * PARALLEL_THRESHOLD,), F32),
    )
    executable = check_against_interpreter(graph)
    assert "_f0(in0, in1, o" in executable.program.source
    assert executable.program.schedule.calls[0].function.__name__ == "kernel"


# -------------------------------------------------------------------------- row kernels


def softmax(g, x, axes=(1,)):
    m = g.add_node("max", [x], {"axes": axes, "keepdims": True})
    e = g.add_node("exp", [g.add_node("sub", [x, m])])
    s = g.add_node("sum", [e], {"axes": axes, "keepdims": True})
    return g.add_node("div", [e, s])


def layernorm(g, x, gamma, beta):
    n = const(g, 1.0 / x.shape[-1])
    mean = g.add_node("mul", [g.add_node("sum", [x], {"axes": (1,), "keepdims": True}), n])
    centered = g.add_node("sub", [x, mean])
    var = g.add_node(
        "mul",
        [
            g.add_node(
                "sum", [g.add_node("mul", [centered, centered])], {"axes": (1,), "keepdims": True}
            ),
            n,
        ],
    )
    rstd = g.add_node(
        "reciprocal", [g.add_node("sqrt", [g.add_node("add", [var, const(g, 1e-5)])])]
    )
    return g.add_node(
        "add", [g.add_node("mul", [g.add_node("mul", [centered, rstd]), gamma]), beta]
    )


def normal(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_softmax_is_one_row_kernel_and_correct():
    executable = check_against_interpreter(
        build(softmax, ((33, 70), F32)), normal((33, 70)), rtol=1e-5
    )
    assert len(executable.kernels) == 1


def test_softmax_row_with_nan_and_inf():
    x = normal((4, 8))[0]
    x[1, 3] = np.nan
    x[2, 0] = np.inf
    x[3, :] = -np.inf
    check_against_interpreter(build(softmax, ((4, 8), F32)), [x])


def test_layernorm_is_one_row_kernel_and_correct():
    graph = build(layernorm, ((40, 96), F32), ((96,), F32), ((96,), F32))
    executable = check_against_interpreter(
        graph, normal((40, 96), (96,), (96,)), rtol=1e-4, atol=1e-5
    )
    assert len(executable.kernels) == 1


def test_log_softmax_and_multiple_outputs():
    def make(g, x):
        m = g.add_node("max", [x], {"axes": (1,), "keepdims": True})
        shifted = g.add_node("sub", [x, m])
        total = g.add_node("sum", [g.add_node("exp", [shifted])], {"axes": (1,), "keepdims": True})
        return g.add_node("sub", [shifted, g.add_node("log", [total])]), m, total

    executable = check_against_interpreter(
        build(make, ((16, 50), F32)), normal((16, 50)), rtol=1e-5, atol=1e-5
    )
    assert len(executable.kernels) == 1


def test_kept_row_is_not_overwritten_by_an_output_that_does_not_read_it():
    # e = exp(x - max) is needed after the sum; `other` is written in the same stage
    # as `e / s` but does not depend on e, so it must not share e's row
    def make(g, x):
        m = g.add_node("max", [x], {"axes": (1,), "keepdims": True})
        e = g.add_node("exp", [g.add_node("sub", [x, m])])
        s = g.add_node("sum", [e], {"axes": (1,), "keepdims": True})
        other = g.add_node("mul", [x, s])
        return other, g.add_node("div", [e, s])

    executable = check_against_interpreter(build(make, ((6, 9), F32)), normal((6, 9)), rtol=1e-5)
    assert len(executable.kernels) == 1


def test_reduction_over_two_trailing_axes_and_full_reduction():
    def make(g, x, y):
        product = g.add_node("mul", [x, y])
        per_row = g.add_node("sum", [product], {"axes": (1, 2), "keepdims": False})
        total = g.add_node("sum", [product], {"axes": (0, 1, 2), "keepdims": False})
        return per_row, total

    check_against_interpreter(
        build(make, ((6, 5, 7), F32), ((6, 5, 7), F32)),
        normal((6, 5, 7), (6, 5, 7)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_reduction_without_keepdims_then_reshape_stays_in_the_row_kernel():
    def make(g, x):
        m = g.add_node("max", [x], {"axes": (1,), "keepdims": False})
        back = g.add_node("reshape", [m], {"shape": (12, 1)})
        return g.add_node("sub", [x, back])

    executable = check_against_interpreter(build(make, ((12, 20), F32)), normal((12, 20)))
    assert len(executable.kernels) == 1


def test_long_rows_sum_in_float64():
    graph = build(
        lambda g, x: g.add_node("sum", [x], {"axes": (0,), "keepdims": False}), ((1 << 15,), F32)
    )
    x = np.full(1 << 15, 0.1, np.float32)
    (got,) = compile_graph(graph).run([x])
    assert abs(float(got) - float(np.sum(x, dtype=np.float64))) < 1e-3


@pytest.mark.parametrize("shape", [(2 * PARALLEL_THRESHOLD,), (2, PARALLEL_THRESHOLD)])
def test_few_long_rows_are_split_across_threads(shape):
    axis = len(shape) - 1

    def make(g, x, y):
        product = g.add_node("mul", [x, y])
        total = g.add_node("sum", [product], {"axes": (axis,), "keepdims": True})
        biggest = g.add_node("max", [x], {"axes": (axis,), "keepdims": False})
        return g.add_node("mul", [total, const(g, 0.5)]), biggest, product

    x, y = normal(shape, shape)
    x.reshape(-1)[7] = np.nan  # the first row's max must be nan
    executable = check_against_interpreter(
        build(make, (shape, F32), (shape, F32)), [x, y], rtol=1e-5, atol=1e-3
    )
    assert all("for task in prange(rows * 64)" in k for k in executable.kernels)


def test_middle_axis_reduction_runs_in_numpy():
    def make(g, x):
        return g.add_node("sum", [g.add_node("exp", [x])], {"axes": (1,), "keepdims": False})

    executable = check_against_interpreter(build(make, ((3, 9, 4), F32)), normal((3, 9, 4)))
    assert len(executable.kernels) == 1  # exp; the sum is NumPy's
    assert "group 1: sum" in executable.program.source


# ------------------------------------------------------------------------ column kernels


def bias_and_weight_gradients(g, grad, xhat, bias):
    dgamma = g.add_node("sum", [g.add_node("mul", [grad, xhat])], {"axes": (0,), "keepdims": False})
    dbias = g.add_node("sum", [grad], {"axes": (0,), "keepdims": True})
    new_bias = g.add_node("sub", [bias, g.add_node("mul", [dbias, const(g, 0.1)])])
    biggest = g.add_node("max", [xhat], {"axes": (0,), "keepdims": False})
    return dgamma, new_bias, biggest


@pytest.mark.parametrize("shape", [(6, 5), (300, 200)])
def test_leading_axis_reductions_are_one_column_kernel(shape):
    graph = build(bias_and_weight_gradients, (shape, F32), (shape, F32), ((1, shape[1]), F32))
    grad, xhat, bias = normal(shape, shape, (1, shape[1]))
    xhat[3, 2] = np.nan  # column 2's max is nan
    executable = check_against_interpreter(graph, [grad, xhat, bias], rtol=1e-5, atol=1e-4)
    assert len(executable.kernels) == 1 and "for block in prange(" in executable.kernels[0]


def test_column_kernel_with_row_values_and_a_full_output():
    def make(g, x, scale, per_row):
        scaled = g.add_node("mul", [g.add_node("sub", [x, per_row]), scale])  # full, returned
        total = g.add_node("sum", [scaled], {"axes": (0, 1), "keepdims": False})
        return scaled, g.add_node("sqrt", [g.add_node("abs", [total])])

    graph = build(make, ((3, 4, 6), F32), ((6,), F32), ((3, 4, 1), F32))
    executable = check_against_interpreter(
        graph, normal((3, 4, 6), (6,), (3, 4, 1)), rtol=1e-5, atol=1e-5
    )
    assert len(executable.kernels) == 1


def test_broadcasting_a_column_result_back_is_a_second_kernel():
    def make(g, x):  # x - mean(x, 0): needs the sums before any element
        mean = g.add_node(
            "mul", [g.add_node("sum", [x], {"axes": (0,), "keepdims": True}), const(g, 0.25)]
        )
        return g.add_node("sub", [x, mean])

    executable = check_against_interpreter(build(make, ((4, 7), F32)), normal((4, 7)))
    assert len(executable.kernels) == 2


# ---------------------------------------------------------------------- matmul epilogue


def test_matmul_bias_relu_is_blas_plus_one_epilogue():
    def make(g, x, w, b):
        return g.add_node(
            "maximum", [g.add_node("add", [g.add_node("matmul", [x, w]), b]), const(g, 0.0)]
        )

    graph = build(make, ((8, 5), F32), ((5, 3), F32), ((3,), F32))
    executable = check_against_interpreter(graph, normal((8, 5), (5, 3), (3,)), rtol=1e-5)
    assert len(executable.kernels) == 1
    assert "np.matmul" not in executable.program.source  # it is a bound function
    assert sum("matmul (BLAS)" in c.comment for c in executable.program.schedule.calls) == 1


def test_matmul_result_used_twice_and_batched():
    def make(g, x, w):
        h = g.add_node("matmul", [x, w])
        return g.add_node("tanh", [h]), g.add_node("mul", [h, h])

    check_against_interpreter(
        build(make, ((2, 4, 5), F32), ((5, 6), F32)), normal((2, 4, 5), (5, 6)), rtol=1e-5
    )


# ---------------------------------------------------------------- memory and aliasing


def test_results_held_by_the_caller_are_never_overwritten():
    graph = build(lambda g, x: g.add_node("exp", [x]), ((1000,), F32))
    executable = compile_graph(graph)
    x1, x2, x3 = (np.full(1000, v, np.float32) for v in (0.0, 1.0, 2.0))
    (first,) = executable.run([x1])
    view = first[::2]
    del first
    (second,) = executable.run([x2])  # the pool must not reuse the array `view` keeps alive
    (third,) = executable.run([x3])
    np.testing.assert_allclose(view, 1.0)
    np.testing.assert_allclose(second, np.e, rtol=1e-6)
    np.testing.assert_allclose(third, np.e**2, rtol=1e-6)


def test_output_buffers_are_reused_once_released():
    graph = build(lambda g, x: g.add_node("neg", [x]), ((64,), F32))
    executable = compile_graph(graph)
    x = np.ones(64, np.float32)
    seen = set()
    for _ in range(6):
        (result,) = executable.run([x])
        seen.add(id(result))
    assert len(seen) <= 3  # a small pool, not a fresh allocation per call


def test_outputs_that_alias_constants_are_copies_and_views_of_inputs_are_views():
    def make(g, x):
        return g.add_node("reshape", [x], {"shape": (2, 3)}), const(g, [1.0, 2.0])

    graph = build(make, ((6,), F32))
    x = np.arange(6, dtype=np.float32)
    executable = compile_graph(graph)
    shaped, constant = executable.run([x])
    constant[...] = -1
    assert executable.run([x])[1].tolist() == [1.0, 2.0]  # (the constant is intact)
    shaped[...] = -1  # a view of the input, as the eager reshape would be
    assert x[0] == -1


def test_intermediates_share_arena_blocks_and_epilogues_run_in_place():
    def make(g, x):
        a = g.add_node("exp", [x])
        b = g.add_node("permute", [a], {"axes": (1, 0)})  # forces `a` into memory
        c = g.add_node("mul", [b, b])
        d = g.add_node("permute", [c], {"axes": (1, 0)})
        e = g.add_node("neg", [d])
        return g.add_node("permute", [e], {"axes": (1, 0)})

    executable = check_against_interpreter(build(make, ((6, 6), F32)), normal((6, 6)))
    memory = dict(executable.stages)["memory"]
    blocks = {note for note in memory.notes.values() if note.startswith("arena block")}
    assert len(blocks) < 3  # three arena values, fewer blocks


def test_wrong_inputs_give_clear_errors():
    executable = compile_graph(build(lambda g, x: g.add_node("neg", [x]), ((3,), F32)))
    with pytest.raises(InputError, match=r"x0 expects float32\[3\], got float64\[3\]"):
        executable.run([np.zeros(3)])
    with pytest.raises(InputError, match="expected 1 inputs, got 2"):
        executable.run([np.zeros(3, np.float32)] * 2)
    # non-contiguous input: accepted, copied
    (out,) = executable.run([np.arange(6, dtype=np.float32)[::2]])
    assert out.tolist() == [-0.0, -2.0, -4.0]


def test_a_kernel_numba_cannot_compile_falls_back_to_numpy(monkeypatch):
    import kiln.compiler.codegen.kernel_module as kernel_module

    original = kernel_module.scalar_expression

    def broken(node, args, constants, backend="cpu"):  # a code generation gap
        text = original(node, args, constants, backend)
        return f"no_such_function({text})" if node.op == "sin" else text

    monkeypatch.setattr(kernel_module, "scalar_expression", broken)
    graph = build(lambda g, x: g.add_node("mul", [g.add_node("sin", [x]), x]), ((3, 4), F32))
    with pytest.warns(RuntimeWarning, match="runs with NumPy"):
        executable = check_against_interpreter(graph)
    assert executable.kernels == []
    assert "NumPy fallback" in executable.program.source


# ------------------------------------------------------------------- dump and the cache


def test_dump_dir_gets_stages_kernels_and_run_function(tmp_path):
    graph = build(softmax, ((4, 8), F32), name="softmax")
    executable = compile_graph(graph, dump_dir=tmp_path / "softmax")
    files = sorted(p.name for p in (tmp_path / "softmax").iterdir())
    stage_names = [name for name, _ in executable.stages]
    for k, name in enumerate(stage_names):
        assert f"{k:02d}_{name}.txt" in files and f"{k:02d}_{name}.dot" in files
    assert "kernel_0.py" in files and "run.py" in files
    assert "prange" in (tmp_path / "softmax" / "kernel_0.py").read_text()
    assert (
        "row kernel"
        in (tmp_path / "softmax" / f"{stage_names.index('fuse'):02d}_fuse.txt").read_text()
    )


def test_identical_kernels_are_shared_through_the_cache_folder():
    first = compile_graph(build(lambda g, x: g.add_node("sin", [x]), ((5,), F32)))
    second = compile_graph(build(lambda g, x: g.add_node("sin", [x]), ((11, 3), F32)))
    assert first.kernels == second.kernels  # sizes are arguments, not part of the source
    if first.kernel_ir[0] is None:  # Numba compiled it (KILN_CPU_BACKEND=numba)
        assert kernel_path(first.kernels[0]).exists()
        assert kernel_path(first.kernels[0]).parent == cache_dir()
    else:  # the native back end's object code
        symbol = first.native_kernels[0].symbol
        assert second.native_kernels[0].symbol == symbol
        assert object_path(symbol).exists()
        assert object_path(symbol).parent == cache_dir() / "native"
    f1 = first.program.schedule.calls[0].function
    f2 = second.program.schedule.calls[0].function
    assert f1 is f2


def test_profile_lists_every_call():
    graph = build(
        lambda g, x, w: g.add_node("exp", [g.add_node("matmul", [x, w])]),
        ((4, 4), F32),
        ((4, 4), F32),
    )
    executable = compile_graph(graph)
    text = executable.profile(normal((4, 4), (4, 4)), repeats=3)
    assert len(text.splitlines()) == len(executable.program.schedule.calls) == 2
    assert "matmul (BLAS)" in text and "epilogue" in text


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int32", "int64"])
def test_max_reductions_of_integers_and_bools_compile(dtype):
    """max/amax/any/all of integer and bool rows accumulate in the kernel (the CPU's
    ``row_max`` helper is for floating-point rows only: a kernel naming ``row_max_bool``
    was left to Numba, which could not type it, and ran with NumPy, with a warning)."""
    import warnings

    import kiln

    x = kiln.from_numpy((np.arange(-16, 16).reshape(4, 8) * 7 % 11).astype(dtype))
    functions = [
        lambda a: a.amax(1),
        lambda a: a.max(),
        lambda a: a.amin(0),
        lambda a: a.any(1),
        lambda a: a.all(),
        lambda a: (a > 3).any(),
    ]
    for function in functions:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compiled = kiln.jit(function)(x)
        expected = function(x)
        assert compiled.dtype == expected.dtype
        np.testing.assert_array_equal(compiled.numpy(), expected.numpy())


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
def test_compiled_integer_power_is_pytorchs(dtype):
    """Integer ``**`` in a kernel: by squaring with wraparound; a negative exponent gives
    1 for base 1, +-1 for base -1 by parity, 0 otherwise (a kernel gave INT_MIN for
    0 ** -1: Numba's power divided by zero)."""
    import kiln

    rng = np.random.default_rng(1)
    low = 0 if dtype == "uint8" else -6
    base = rng.integers(low, 7, 300).astype(dtype)
    exponent = rng.integers(low, 9, 300).astype(dtype)
    if dtype != "uint8":
        base[:7] = [-1, -1, 1, 0, 0, 2, 5]
        exponent[:7] = [-3, -2, -5, -1, 0, 62, -1]
        wrapped = int(np.array(2, dtype) ** np.array(62, dtype))  # 2**62, wrapped
        expected_head = [-1, 1, 1, 0, 1, wrapped, 0]
    compiled = kiln.jit(lambda a, b: a**b)(kiln.from_numpy(base), kiln.from_numpy(exponent))
    eager = kiln.from_numpy(base) ** kiln.from_numpy(exponent)
    assert compiled.dtype == eager.dtype
    np.testing.assert_array_equal(compiled.numpy(), eager.numpy())
    if dtype != "uint8":
        np.testing.assert_array_equal(compiled.numpy()[:7], expected_head)
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(
        compiled.numpy(), (torch.from_numpy(base) ** torch.from_numpy(exponent)).numpy()
    )


def test_an_epilogue_in_place_reads_its_input_through_the_output():
    """The memory plan writes the epilogue's output over the matmul's result; the kernel
    reads that input through the output's array (one pointer: LLVM vectorizes the loop
    instead of checking for overlap and running it scalar) and computes the same values."""

    def make(g, x, w, m):
        product = g.add_node("matmul", [x, w])
        return g.add_node("where", [m, const(g, 0.0), product])

    x, w = normal((64, 32), (32, 128))
    mask = np.random.default_rng(3).random((64, 128)) > 0.5
    graph = build(make, ((64, 32), F32), ((32, 128), F32), ((64, 128), "bool"))
    executable = check_against_interpreter(graph, [x, w, mask])
    memory = dict(executable.stages)["memory"]
    assert any("in place of" in note for note in memory.notes.values())
    [epilogue] = [k for k in executable.kernels if "where" in k]
    setup = epilogue.split("def kernel_serial")[1].split("for ")[0]
    assert re.search(r"\ba\d+ = out0\.reshape", setup), setup
    expected = np.where(mask, np.float32(0), x @ w)
    np.testing.assert_allclose(executable.run([x, w, mask])[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "dtype,helper", [("float32", True), ("float64", True), ("int32", False), ("bool", False)]
)
def test_a_float_row_max_reads_the_row_with_the_vectorized_helper(dtype, helper):
    """A NaN-propagating max written as a select loop does not vectorize (a row softmax
    ran 2x slower); float rows call ``row_max_<dtype>``, integer and bool rows, which
    have no helper, accumulate. (The helper name was compared before its ``{dtype}``
    was filled in, so float rows accumulated too.)"""
    g = Graph()
    x = g.add_input((8, 16), dtype)
    m = g.add_node("max", [x], {"axes": (1,), "keepdims": True})
    g.outputs = [m]
    source = "\n".join(compile_graph(g).kernels)
    assert (f"row_max_{dtype}(" in source) == helper
    data = np.random.default_rng(0).standard_normal((8, 16))
    data = (data > 0) if dtype == "bool" else (data * 10).astype(dtype)
    if dtype.startswith("float"):
        data[3, 5] = np.nan
    np.testing.assert_array_equal(compile_graph(g).run([data])[0], interpret(g, [data])[0])
