"""One ONNX translation per kiln primitive: the table the exporter walks.

Each converter receives the export context, the kiln node, the ONNX names of its inputs and
the name its result must have, and emits one or a few ONNX nodes. Primitives whose ONNX
twin has the same meaning map one to one (``exp`` -> ``Exp``); the others are spelled out
below (``take_grad`` becomes a ``ScatterElements`` with ``reduction="add"`` into zeros).

>>> sorted(CONVERTERS)[:4]
['abs', 'acos', 'acosh', 'add']
"""

from __future__ import annotations

import numpy as np

_UNARY = {
    "neg": "Neg",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "sin": "Sin",
    "cos": "Cos",
    "tanh": "Tanh",
    "atan": "Atan",
    "asin": "Asin",
    "acos": "Acos",
    "atanh": "Atanh",
    "acosh": "Acosh",
    "erf": "Erf",
    "abs": "Abs",
    "sign": "Sign",
    "reciprocal": "Reciprocal",
    "floor": "Floor",
}
_BINARY = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "pow": "Pow",
    "maximum": "Max",
    "minimum": "Min",
    "eq": "Equal",
    "lt": "Less",
    "le": "LessOrEqual",
    "gt": "Greater",
    "ge": "GreaterOrEqual",
    "matmul": "MatMul",
}


def _same_op(op_type):
    def convert(ctx, node, inputs, out):
        ctx.add(op_type, inputs, out)

    return convert


def _ne(ctx, node, inputs, out):
    ctx.add("Not", [ctx.add("Equal", inputs)], out)


def _where(ctx, node, inputs, out):
    ctx.add("Where", inputs, out)


def _cast(ctx, node, inputs, out):
    ctx.add("Cast", inputs, out, to=ctx.onnx_dtype(node.dtype))


def _axes(ctx, axes):
    return ctx.const(np.asarray(axes, dtype=np.int64), "axes")


def _reduce(op_type):
    def convert(ctx, node, inputs, out):
        axes = tuple(node.params["axes"])
        keepdims = int(bool(node.params["keepdims"]))
        if not axes:  # kiln: no axes = no reduction; ONNX would reduce over everything
            ctx.add("Identity", inputs, out)
        elif op_type == "ReduceSum" or ctx.opset >= 18:  # axes became an input
            ctx.add(op_type, [inputs[0], _axes(ctx, axes)], out, keepdims=keepdims)
        else:
            ctx.add(op_type, inputs, out, axes=list(axes), keepdims=keepdims)

    return convert


def _argmax(ctx, node, inputs, out):
    ctx.add(
        "ArgMax",
        inputs,
        out,
        axis=node.params["axis"],
        keepdims=int(bool(node.params["keepdims"])),
        select_last_index=0,
    )


def _shape_const(ctx, shape):
    return ctx.const(np.asarray(shape, dtype=np.int64), "shape")


def _reshape(ctx, node, inputs, out):
    shape = tuple(node.params["shape"])
    attrs = {"allowzero": 1} if 0 in shape else {}  # else a 0 means "copy that dimension"
    ctx.add("Reshape", [inputs[0], _shape_const(ctx, shape)], out, **attrs)


def _permute(ctx, node, inputs, out):
    ctx.add("Transpose", inputs, out, perm=list(node.params["axes"]))


def _expand(ctx, node, inputs, out):
    ctx.add("Expand", [inputs[0], _shape_const(ctx, node.params["shape"])], out)


def _slice(ctx, node, inputs, out):
    p = node.params
    rank = len(p["starts"])
    ints = [
        ctx.const(np.asarray(v, dtype=np.int64), k)
        for k, v in (
            ("starts", p["starts"]),
            ("ends", p["stops"]),
            ("axes", range(rank)),
            ("steps", p["steps"]),
        )
    ]
    ctx.add("Slice", [inputs[0], *ints], out)


def _pad(ctx, node, inputs, out):
    pads = node.params["pads"]
    flat = [lo for lo, _ in pads] + [hi for _, hi in pads]  # ONNX: all begins, then ends
    value = np.asarray(node.params["value"], dtype=node.dtype)
    ctx.add(
        "Pad",
        [
            inputs[0],
            ctx.const(np.asarray(flat, dtype=np.int64), "pads"),
            ctx.const(value, "pad_value"),
        ],
        out,
        mode="constant",
    )


def _concat(ctx, node, inputs, out):
    ctx.add("Concat", inputs, out, axis=node.params["axis"])


def _indices(ctx, node, name):
    # ONNX index inputs are int32 or int64; kiln also allows the small integer types.
    dtype = node.inputs[1].dtype
    return (
        name if dtype in ("int32", "int64") else ctx.add("Cast", [name], to=ctx.onnx_dtype("int64"))
    )


def _take(ctx, node, inputs, out):
    ctx.add("Gather", [inputs[0], _indices(ctx, node, inputs[1])], out, axis=node.params["axis"])


def _gather(ctx, node, inputs, out):
    ctx.add(
        "GatherElements", [inputs[0], _indices(ctx, node, inputs[1])], out, axis=node.params["axis"]
    )


def _zeros(ctx, shape, dtype):
    zero = ctx.tensor(np.zeros((1,), dtype=dtype))
    return ctx.add("ConstantOfShape", [_shape_const(ctx, shape)], value=zero)


def _scatter_add(ctx, node, inputs, out):
    axis = node.params["axis"]
    g_shape, idx_shape = node.inputs[0].shape, node.inputs[1].shape
    updates = inputs[0]
    if tuple(g_shape) != tuple(idx_shape):  # ScatterElements wants equal shapes
        updates = ctx.add("Expand", [updates, _shape_const(ctx, idx_shape)])
    ctx.add(
        "ScatterElements",
        [_zeros(ctx, node.shape, node.dtype), _indices(ctx, node, inputs[1]), updates],
        out,
        axis=axis,
        reduction="add",
    )


def _take_grad(ctx, node, inputs, out):
    # take_grad(g, idx) adds g's slices into a zero tensor at positions idx along ``axis``:
    # flatten idx's dimensions of g into one, broadcast idx to that shape, then
    # ScatterElements(reduction="add") along ``axis``.
    axis = node.params["axis"]
    g_shape, idx_shape = node.inputs[0].shape, node.inputs[1].shape
    count = int(np.prod(idx_shape, dtype=np.int64))
    rest = tuple(g_shape[axis + len(idx_shape) :])
    flat_shape = tuple(g_shape[:axis]) + (count,) + rest
    g_flat = ctx.add(
        "Reshape",
        [inputs[0], _shape_const(ctx, flat_shape)],
        **({"allowzero": 1} if 0 in flat_shape else {}),
    )
    idx_view = (1,) * axis + (count,) + (1,) * len(rest)
    idx = ctx.add(
        "Reshape",
        [_indices(ctx, node, inputs[1]), _shape_const(ctx, idx_view)],
        **({"allowzero": 1} if count == 0 else {}),
    )
    idx = ctx.add("Expand", [idx, _shape_const(ctx, flat_shape)])
    ctx.add(
        "ScatterElements",
        [_zeros(ctx, node.shape, node.dtype), idx, g_flat],
        out,
        axis=axis,
        reduction="add",
    )


def _cumsum(ctx, node, inputs, out):
    if not node.shape:  # a 0-d "cumulative sum" is the value itself
        ctx.add("Identity", inputs, out)
        return
    axis = ctx.const(np.asarray(node.params["axis"], dtype=np.int64), "axis")
    ctx.add("CumSum", [inputs[0], axis], out)


def _argsort(ctx, node, inputs, out):
    # TopK over the whole axis; on ties it puts the lower index first, like a stable sort.
    if not node.shape:
        ctx.initializer(np.zeros((), dtype=np.int64), out)
        return
    axis = node.params["axis"]
    x = inputs[0]
    if node.inputs[0].dtype == "bool":  # TopK has no bool kernel
        x = ctx.add("Cast", [x], to=ctx.onnx_dtype("int32"))
    k = ctx.const(np.asarray([node.shape[axis]], dtype=np.int64), "k")
    ctx.add_multi(
        "TopK",
        [x, k],
        [ctx.fresh("sorted"), out],
        axis=axis,
        largest=int(bool(node.params["descending"])),
        sorted=1,
    )


def _const(ctx, node, inputs, out):
    ctx.initializer(np.asarray(node.params["value"]), out)


def _fmod(ctx, node, inputs, out):
    ctx.add("Mod", inputs, out, fmod=1)


def _logical(op_type, bool_op_type):
    """``mul``/``maximum``/``minimum`` of bools are kiln's and/or: ONNX's Mul and Max take
    no bools, so those become And/Or."""

    def convert(ctx, node, inputs, out):
        ctx.add(bool_op_type if node.dtype == "bool" else op_type, inputs, out)

    return convert


CONVERTERS = {name: _same_op(op) for name, op in {**_UNARY, **_BINARY}.items()}
CONVERTERS.update(
    {
        "mul": _logical("Mul", "And"),
        "fmod": _fmod,
        "maximum": _logical("Max", "Or"),
        "minimum": _logical("Min", "And"),
        "ne": _ne,
        "where": _where,
        "cast": _cast,
        "sum": _reduce("ReduceSum"),
        "max": _reduce("ReduceMax"),
        "argmax": _argmax,
        "reshape": _reshape,
        "permute": _permute,
        "expand": _expand,
        "slice": _slice,
        "pad": _pad,
        "concat": _concat,
        "take": _take,
        "take_grad": _take_grad,
        "gather": _gather,
        "scatter_add": _scatter_add,
        "cumsum": _cumsum,
        "argsort": _argsort,
        "const": _const,
    }
)

# Primitives with no ONNX translation, and why (the error message says it).
UNSUPPORTED = {
    "uniform": "ONNX's RandomUniform cannot reproduce kiln's counter-based generator; pass "
    "random tensors in as inputs, or export the model in eval mode",
    **{
        name: "ONNX has no bitwise operators at opset 17 (kiln's export opset)"
        for name in ("bitwise_and", "bitwise_or", "bitwise_xor")
    },
    "lshift": "ONNX's BitShift takes unsigned integers only, and no count beyond the width",
    "rshift": "ONNX's BitShift takes unsigned integers only: no arithmetic right shift",
}
