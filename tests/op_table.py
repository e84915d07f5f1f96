"""The one table of operations that drives the op tests.

Each row: a name, the kiln function, an independent NumPy reference, how to make inputs
(shapes and a value domain), and whether the op is differentiable in its float inputs.
A new op is tested by adding a row (and regenerating the golden graphs, see below):

- ``test_ops.py``: eager against NumPy, gradients against finite differences;
- ``test_jit.py``: jit and the reference interpreter against eager;
- ``test_cuda.py``: eager and jit on a CUDA device against eager on the CPU (under Numba's
  CUDA simulator only the rows with ``cuda_sim=True``: each simulated thread is a Python
  thread, and rows of many reductions take seconds; on a GPU every row runs);
- ``test_onnx.py``: exported with ``kiln.onnx`` and run by onnxruntime against eager
  (``onnx=False``: a primitive of the row has no ONNX converter, and export must refuse it);
- ``test_ir.py``: the traced graph's text against ``tests/golden/op_graphs.txt``; after a
  deliberate change, rewrite that file with ``KILN_UPDATE_GOLDEN=1 pytest tests/test_ir.py``
  and review the diff.

``known_bugs`` maps a test (``"cuda_eager"``, ...) to why the row fails there today: the test
is a strict xfail, so the gap shows in the table and the fix is noticed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

import kiln

try:
    from scipy.special import erf as _scipy_erf
except ImportError:  # pragma: no cover
    _scipy_erf = None


def _np_erfinv(y):
    try:
        from scipy.special import erfinv

        return erfinv(y)
    except ImportError:  # pragma: no cover - bisection on math.erf
        lo, hi = np.full_like(y, -6.0), np.full_like(y, 6.0)
        for _ in range(200):
            mid = (lo + hi) / 2
            below = np_erf(mid) < y
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return (lo + hi) / 2


def np_erf(x):
    if _scipy_erf is not None:
        return _scipy_erf(x)
    return np.vectorize(math.erf)(x)


@dataclass
class Op:
    name: str
    fn: object  # kiln callable over tensors
    ref: object  # NumPy callable over arrays
    shapes: tuple  # input shapes
    domain: str = "any"  # any | positive | unit (inside (-1, 1)) | above_one | nonzero
    grad: bool = True
    int_inputs: dict = field(default_factory=dict)  # position -> (low, high) integer input
    rtol: float = 1e-5
    atol: float = 1e-6
    onnx: bool = True  # False: no ONNX converter for a primitive of the row
    cuda_sim: bool = True  # False: too slow for the CUDA simulator (runs on a real GPU only)
    known_bugs: dict = field(default_factory=dict)  # test name -> why it fails today

    def __post_init__(self):
        unknown = set(self.known_bugs) - TESTS
        if unknown:
            raise ValueError(f"op {self.name}: known_bugs names no test: {sorted(unknown)}")


# the tests that may list a row in known_bugs
TESTS = {"cuda_eager", "cuda_jit", "onnx", "golden"}


def rows(test: str, ops=None) -> list:
    """pytest parameters for ``test``: one per row, a strict xfail where ``known_bugs`` says."""
    params = []
    for op in OPS if ops is None else ops:
        reason = op.known_bugs.get(test)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(op, id=op.name, marks=marks))
    return params


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _gelu(x):
    return 0.5 * x * (1 + np_erf(x / math.sqrt(2)))


def _np_scatter(x, i):
    out = x.copy()
    for r in range(x.shape[0]):
        out[r, i[r, 0]] = x[r, 0] * 2
    return out


def _np_index_add(x, s):
    out = x.copy()
    np.add.at(out, [0, 2, 0], s)
    return out


def _np_cummin_indices(x):
    """The last index reaching the running minimum (PyTorch's choice among ties)."""
    out = np.zeros(x.shape, np.int64)
    for j in range(x.shape[1]):
        best = 0
        for i in range(x.shape[0]):
            if x[i, j] <= x[best, j]:
                best = i
            out[i, j] = best
    return out


def _np_scatter_amax(x, i, s):
    out = x.copy()
    for r in range(i.shape[0]):
        for c in range(i.shape[1]):
            out[r, i[r, c]] = max(out[r, i[r, c]], s[r, c])
    return out


def _np_scatter_prod_excluding_self(x, i, s):
    out = x.copy()
    seen = np.zeros(x.shape, bool)
    for r in range(i.shape[0]):
        for c in range(i.shape[1]):
            out[i[r, c], c] = (out[i[r, c], c] if seen[i[r, c], c] else 1) * s[r, c]
            seen[i[r, c], c] = True
    return out


def _np_special(name):
    def ref(x):
        from scipy import special

        return getattr(special, name)(x)

    return ref


OPS = [
    # elementwise unary primitives
    Op("neg", lambda x: -x, np.negative, ((3, 4),)),
    Op("exp", kiln.exp, np.exp, ((3, 4),)),
    Op("log", kiln.log, np.log, ((3, 4),), "positive"),
    Op("sqrt", kiln.sqrt, np.sqrt, ((3, 4),), "positive"),
    Op("sin", kiln.sin, np.sin, ((3, 4),)),
    Op("cos", kiln.cos, np.cos, ((3, 4),)),
    Op("tanh", kiln.tanh, np.tanh, ((3, 4),)),
    Op("erf", kiln.erf, np_erf, ((3, 4),)),
    Op("atan", kiln.atan, np.arctan, ((3, 4),)),
    Op("asin", kiln.asin, np.arcsin, ((3, 4),), "unit"),
    Op("acos", kiln.acos, np.arccos, ((3, 4),), "unit"),
    Op("atanh", kiln.atanh, np.arctanh, ((3, 4),), "unit"),
    Op("acosh", kiln.acosh, np.arccosh, ((3, 4),), "above_one"),
    Op("abs", kiln.abs, np.abs, ((3, 4),), "nonzero"),
    Op("sign", kiln.sign, np.sign, ((3, 4),), grad=False),
    Op("reciprocal", kiln.reciprocal, np.reciprocal, ((3, 4),), "nonzero"),
    Op("floor", kiln.floor, np.floor, ((3, 4),), grad=False),
    # binary primitives with broadcasting
    Op("add", lambda a, b: a + b, np.add, ((3, 4), (4,))),
    Op("sub", lambda a, b: a - b, np.subtract, ((3, 1), (1, 4))),
    Op("mul", lambda a, b: a * b, np.multiply, ((2, 3, 4), (3, 1))),
    Op("div", lambda a, b: a / b, np.divide, ((3, 4), (3, 4)), "nonzero"),
    Op("pow", lambda a, b: a**b, np.power, ((3, 4), (3, 4)), "positive"),
    Op("pow_scalar", lambda a: a**3, lambda a: a**3, ((3, 4),)),
    Op("rpow_scalar", lambda a: 2.0**a, lambda a: 2.0**a, ((3, 4),)),
    Op("maximum", kiln.maximum, np.maximum, ((3, 4), (4,))),
    Op("minimum", kiln.minimum, np.minimum, ((3, 4), (3, 4))),
    Op("eq", lambda a, b: a == b, np.equal, ((3, 4), (4,)), grad=False),
    Op("lt", lambda a, b: a < b, np.less, ((3, 4), (3, 4)), grad=False),
    Op("ge", lambda a, b: a >= b, np.greater_equal, ((3, 4), (3, 4)), grad=False),
    Op(
        "bitwise_and_or_xor",
        lambda a, b: ((a & b) | (a ^ 5)) ^ ~b,
        lambda a, b: ((a & b) | (a ^ 5)) ^ ~b,
        ((3, 4), (4,)),
        grad=False,
        int_inputs={0: (-50, 50), 1: (-50, 50)},
        onnx=False,  # BitwiseAnd/Or/Xor need opset 18; kiln exports opset 17
    ),
    Op(
        "shifts",
        lambda a, b: (a << b) + (a >> b),
        lambda a, b: (a << b) + (a >> b),
        ((3, 4), (3, 4)),
        grad=False,
        int_inputs={0: (-1000, 1000), 1: (0, 20)},
        onnx=False,  # ONNX BitShift is for unsigned integers only
    ),
    Op(
        "where",
        lambda a, b: kiln.where(a > 0, a, b),
        lambda a, b: np.where(a > 0, a, b),
        ((3, 4), (4,)),
    ),
    Op("cast", lambda a: a.to(kiln.float64) * 2, lambda a: a.astype(np.float64) * 2, ((3, 4),)),
    # reductions
    Op("sum_all", lambda x: x.sum(), np.sum, ((3, 4),)),
    Op("sum_dim", lambda x: x.sum(1), lambda x: x.sum(1), ((3, 4),)),
    Op(
        "sum_keepdim",
        lambda x: x.sum((0, 2), keepdim=True),
        lambda x: x.sum((0, 2), keepdims=True),
        ((2, 3, 4),),
        cuda_sim=False,
    ),
    Op("mean", lambda x: x.mean(-1), lambda x: x.mean(-1), ((3, 4),), cuda_sim=False),
    Op("amax", lambda x: x.amax(1), lambda x: x.max(1), ((3, 4),)),
    Op("amin", lambda x: x.amin(0), lambda x: x.min(0), ((3, 4),), cuda_sim=False),
    Op("max_dim_values", lambda x: x.max(dim=1).values, lambda x: x.max(1), ((3, 4),)),
    Op("min_all", lambda x: x.min(), np.min, ((3, 4),)),
    Op("argmax", lambda x: x.argmax(1), lambda x: x.argmax(1), ((3, 4),), grad=False),
    Op("argmin", lambda x: x.argmin(), lambda x: x.argmin(), ((3, 4),), grad=False),
    Op("var", lambda x: x.var(1), lambda x: x.var(1, ddof=1), ((3, 4),), cuda_sim=False),
    Op("std", lambda x: x.std(), lambda x: x.std(ddof=1), ((3, 4),), cuda_sim=False),
    Op(
        "logsumexp",
        lambda x: kiln.logsumexp(x, 1),
        lambda x: np.log(np.exp(x).sum(1)),
        ((3, 4),),
        cuda_sim=False,
    ),
    Op("softmax", lambda x: kiln.softmax(x, -1), lambda x: _softmax(x, -1), ((3, 4),)),
    Op(
        "log_softmax",
        lambda x: kiln.log_softmax(x, 0),
        lambda x: _log_softmax(x, 0),
        ((3, 4),),
        cuda_sim=False,
    ),
    Op("prod", lambda x: x.prod(1), lambda x: x.prod(1), ((3, 4),), "nonzero", cuda_sim=False),
    # movement
    Op("reshape", lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1), ((2, 3, 2),)),
    Op("view", lambda x: x.view(6, 2), lambda x: x.reshape(6, 2), ((3, 4),)),
    Op("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), ((2, 3, 4),)),
    Op("transpose", lambda x: x.transpose(0, 1), lambda x: x.T, ((3, 4),)),
    Op("T", lambda x: x.T, lambda x: x.T, ((3, 4),)),
    Op("unsqueeze", lambda x: x.unsqueeze(1), lambda x: x[:, None], ((3, 4),)),
    Op("squeeze", lambda x: x.squeeze(), np.squeeze, ((3, 1, 4),)),
    Op("flatten", lambda x: x.flatten(1), lambda x: x.reshape(2, -1), ((2, 3, 4),)),
    Op("expand", lambda x: x.expand(3, 4), lambda x: np.broadcast_to(x, (3, 4)), ((1, 4),)),
    Op("slice", lambda x: x[1:, ::2], lambda x: x[1:, ::2], ((3, 5),)),
    Op("index_int", lambda x: x[1, -1], lambda x: x[1, -1], ((3, 4),)),
    Op("index_none_ellipsis", lambda x: x[None, ..., 1], lambda x: x[None, ..., 1], ((2, 3, 4),)),
    Op(
        "cat",
        lambda a, b: kiln.cat([a, b], 1),
        lambda a, b: np.concatenate([a, b], 1),
        ((2, 3), (2, 2)),
    ),
    Op(
        "stack",
        lambda a, b: kiln.stack([a, b], 0),
        lambda a, b: np.stack([a, b], 0),
        ((2, 3), (2, 3)),
    ),
    Op("split", lambda x: x.split(2, 1)[1], lambda x: x[:, 2:4], ((3, 5),)),
    Op(
        "unfold_windows",
        lambda x: x.unfold(1, 3, 2),
        lambda x: np.lib.stride_tricks.sliding_window_view(x, 3, 1)[:, ::2],
        ((2, 7),),
    ),
    Op(
        "pixel_shuffle",
        lambda x: kiln.pixel_shuffle(x, 2),
        lambda x: x.reshape(1, 2, 2, 2, 3, 2).transpose(0, 1, 4, 2, 5, 3).reshape(1, 2, 6, 4),
        ((1, 8, 3, 2),),
        cuda_sim=False,
    ),
    Op(
        "meshgrid",
        lambda a, b: kiln.meshgrid(a, b, indexing="xy")[0] * kiln.meshgrid(a, b)[1].T,
        lambda a, b: np.meshgrid(a, b)[0] * np.meshgrid(a, b, indexing="ij")[1].T,
        ((3,), (4,)),
    ),
    Op("chunk", lambda x: x.chunk(2, 0)[0], lambda x: x[:2], ((3, 4),)),
    Op("flip", lambda x: x.flip(1), lambda x: x[:, ::-1], ((3, 4),)),
    Op("repeat", lambda x: x.repeat(2, 3), lambda x: np.tile(x, (2, 3)), ((2, 2),)),
    Op("roll", lambda x: x.roll(1, 1), lambda x: np.roll(x, 1, 1), ((2, 4),)),
    Op(
        "tril",
        lambda x: x.tril(),
        np.tril,
        ((4, 4),),
    ),
    # indexing
    Op(
        "index_tensor", lambda x, i: x[i], lambda x, i: x[i], ((5, 3), (4,)), int_inputs={1: (0, 5)}
    ),
    Op(
        "index_pair",
        lambda x, i, j: x[i, j],
        lambda x, i, j: x[i, j],
        ((5, 3), (4,), (4,)),
        int_inputs={1: (0, 5), 2: (0, 3)},
    ),
    Op(
        "gather",
        lambda x, i: x.gather(1, i),
        lambda x, i: np.take_along_axis(x, i, 1),
        ((3, 4), (3, 2)),
        int_inputs={1: (0, 4)},
    ),
    Op(
        "index_select",
        lambda x, i: x.index_select(0, i),
        lambda x, i: x[i],
        ((5, 3), (6,)),
        int_inputs={1: (0, 5)},
    ),
    Op(
        "scatter",
        lambda x, i: x.scatter(1, i, x[:, :1] * 2),
        _np_scatter,
        ((3, 4), (3, 1)),
        int_inputs={1: (0, 4)},
    ),
    Op(
        "scatter_reduce_amax",
        lambda x, i, s: x.scatter_reduce(1, i, s, "amax"),
        _np_scatter_amax,
        ((3, 4), (3, 5), (3, 5)),
        int_inputs={1: (0, 4)},
        cuda_sim=False,
    ),
    Op(
        "scatter_reduce_prod",
        lambda x, i, s: x.scatter_reduce(0, i, s, "prod", include_self=False),
        _np_scatter_prod_excluding_self,
        ((3, 4), (2, 4), (2, 4)),
        int_inputs={1: (0, 3)},
        cuda_sim=False,
    ),
    Op(
        "take_along_dim",
        lambda x, i: kiln.take_along_dim(x, i, 1),
        lambda x, i: np.take_along_axis(x, i, 1),
        ((3, 4), (3, 2)),
        int_inputs={1: (0, 4)},
    ),
    Op(
        "index_copy",
        lambda x, s: x.index_copy(0, kiln.tensor([3, 1]), s),
        lambda x, s: np.concatenate([x[:1], s[1:2], x[2:3], s[:1]]),
        ((4, 2), (2, 2)),
    ),
    Op(
        "masked_scatter",
        lambda x, s: x.masked_scatter(x > 0, s),
        lambda x, s: np.where(
            x > 0, s.reshape(-1)[np.maximum(np.cumsum(x > 0) - 1, 0)].reshape(x.shape), x
        ),
        ((3, 4), (12,)),
        cuda_sim=False,
    ),
    Op(
        "index_add",
        lambda x, s: x.index_add(0, kiln.tensor([0, 2, 0]), s),
        lambda x, s: _np_index_add(x, s),
        ((4, 2), (3, 2)),
    ),
    Op(
        "repeat_interleave",
        lambda x: x.repeat_interleave(2, dim=0),
        lambda x: np.repeat(x, 2, axis=0),
        ((3, 2),),
    ),
    Op(
        "masked_fill",
        lambda x: x.masked_fill(x > 0, 0.5),
        lambda x: np.where(x > 0, 0.5, x),
        ((3, 4),),
    ),
    # sorting and scans
    Op("sort", lambda x: x.sort(1).values, lambda x: np.sort(x, 1), ((3, 4),)),
    Op(
        "sort_desc_idx",
        lambda x: x.sort(0, descending=True).indices,
        lambda x: np.argsort(-x, 0, kind="stable"),
        ((3, 4),),
        grad=False,
    ),
    Op("topk", lambda x: x.topk(2, dim=1).values, lambda x: -np.sort(-x, 1)[:, :2], ((3, 4),)),
    Op("cumsum", lambda x: x.cumsum(1), lambda x: np.cumsum(x, 1), ((3, 4),)),
    Op(
        "cumprod",
        lambda x: x.cumprod(0),
        lambda x: np.cumprod(x, 0),
        ((3, 4),),
        "nonzero",
    ),
    Op("diag", kiln.diag, np.diag, ((4,),)),
    Op(
        "cummax",
        lambda x: x.cummax(1).values,
        lambda x: np.maximum.accumulate(x, 1),
        ((3, 5),),
        cuda_sim=False,
    ),
    Op(
        "cummin_indices",
        lambda x: kiln.cummin(x, 0).indices,
        _np_cummin_indices,
        ((5, 3),),
        grad=False,
        cuda_sim=False,
    ),
    Op(
        "logcumsumexp",
        lambda x: kiln.logcumsumexp(x * 30, 1),
        lambda x: np.logaddexp.accumulate(x * 30, 1),
        ((3, 5),),
        cuda_sim=False,
    ),
    Op(
        "diagonal_3d",
        lambda x: x.diagonal(1, 2, 0),
        lambda x: np.diagonal(x, 1, 2, 0),
        ((3, 2, 4),),
    ),
    # linear algebra
    Op("matmul", lambda a, b: a @ b, np.matmul, ((3, 4), (4, 5)), rtol=1e-4),
    Op("matmul_batched", lambda a, b: a @ b, np.matmul, ((2, 3, 4), (4, 2)), rtol=1e-4),
    Op("matmul_vec", lambda a, b: a @ b, np.matmul, ((4,), (4, 3)), rtol=1e-4),
    Op(
        "einsum",
        lambda a, b: kiln.einsum("ij,jk->ik", a, b),
        np.matmul,
        ((3, 4), (4, 2)),
        rtol=1e-4,
        cuda_sim=False,
    ),
    Op(
        "einsum_trace_ellipsis",
        lambda a, b: kiln.einsum("...ii,...j->...j", a, b),
        lambda a, b: np.einsum("...ii,...j->...j", a, b),
        ((2, 3, 3), (2, 4)),
        cuda_sim=False,
    ),
    # composites
    Op("sigmoid", kiln.sigmoid, lambda x: 1 / (1 + np.exp(-x)), ((3, 4),)),
    Op("relu", kiln.relu, lambda x: np.maximum(x, 0), ((3, 4),), "nonzero"),
    Op("clamp", lambda x: x.clamp(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), ((3, 4),)),
    Op("gelu", lambda x: 0.5 * x * (1 + kiln.erf(x / math.sqrt(2))), _gelu, ((3, 4),)),
    Op(
        "square_rsqrt", lambda x: kiln.rsqrt(x * x + 1), lambda x: 1 / np.sqrt(x * x + 1), ((3, 4),)
    ),
    Op(
        "log1p_expm1",
        lambda x: kiln.log1p(kiln.expm1(x) + 1),
        lambda x: np.log1p(np.expm1(x) + 1),
        ((3, 4),),
    ),
    Op(
        "atan2",
        kiln.atan2,
        np.arctan2,
        ((3, 4), (3, 4)),
        "nonzero",
        rtol=1e-4,
        atol=1e-5,
        cuda_sim=False,
    ),
    Op("remainder", lambda a, b: a % b, np.mod, ((3, 4), (3, 4)), "nonzero", grad=False),
    Op(
        "fmod",  # quotients kept within (2, 3): finite differences never straddle a jump
        lambda a, b: kiln.fmod(5 + 0.2 * a.tanh(), 2 + 0.2 * b.tanh()),
        lambda a, b: np.fmod(5 + 0.2 * np.tanh(a), 2 + 0.2 * np.tanh(b)),
        ((3, 4), (3, 4)),
        rtol=1e-4,
    ),
    Op(
        "floor_divide",
        lambda a, b: a // b,
        np.floor_divide,
        ((3, 4), (3, 4)),
        "nonzero",
        grad=False,
    ),
    Op("norm", lambda x: x.norm(), np.linalg.norm, ((3, 4),)),
    Op(
        "norm_dim",
        lambda x: x.norm(dim=1),
        lambda x: np.linalg.norm(x, axis=1),
        ((3, 4),),
        cuda_sim=False,
    ),
    Op(
        "erfinv",
        lambda x: kiln.erfinv(kiln.tanh(x) * 0.99),
        lambda x: _np_erfinv(np.tanh(x) * 0.99),
        ((3, 4),),
        rtol=1e-5,
        cuda_sim=False,
    ),
    Op("lgamma", kiln.lgamma, _np_special("gammaln"), ((3, 4),), "nonzero", cuda_sim=False),
    Op("digamma", kiln.digamma, _np_special("psi"), ((3, 4),), "nonzero", cuda_sim=False),
    Op(
        "xlogy",
        kiln.xlogy,
        lambda a, b: a * np.log(b),
        ((3, 4), (4,)),
        "positive",
        cuda_sim=False,
    ),
    Op(
        "copysign",  # no gradient reaches b (PyTorch's is zeros): `+ 0 * b` makes it exist
        lambda a, b: kiln.copysign(a, b) + 0 * b,
        np.copysign,
        ((3, 4), (3, 4)),
        "nonzero",
    ),
    Op("lerp", lambda a, b: kiln.lerp(a, b, 0.3), lambda a, b: a + 0.3 * (b - a), ((3, 4), (3, 4))),
]


def primitives_of(ops) -> set:
    """The primitives the rows' traced graphs use (``input`` and ``const`` included)."""
    found = set()
    for op in ops:
        tensors = [kiln.from_numpy(a) for a in make_inputs(op, np.float32, seed=3)]
        found |= {node.op for node in kiln.trace(op.fn, *tensors).nodes}
    return found


def make_inputs(op: Op, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    for k, shape in enumerate(op.shapes):
        if k in op.int_inputs:
            low, high = op.int_inputs[k]
            arrays.append(rng.integers(low, high, size=shape).astype(np.int64))
            continue
        x = rng.standard_normal(shape)
        if op.domain == "positive":
            x = np.abs(x) + 0.5
        elif op.domain == "unit":
            x = np.tanh(x) * 0.9
        elif op.domain == "above_one":
            x = np.abs(x) + 1.5
        elif op.domain == "nonzero":
            x = np.where(np.abs(x) < 0.3, 0.3 * np.sign(x) + 0.3 * (x == 0), x)
        arrays.append(x.astype(dtype))
    return arrays


def float_positions(op: Op):
    return [k for k in range(len(op.shapes)) if k not in op.int_inputs]
