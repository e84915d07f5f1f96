"""Gaps found by running another framework's op-test calls with kiln in place of torch:
non-constant ``F.pad`` with negative pads, ``scaled_dot_product_attention`` with both
``is_causal`` and a mask, ``scatter(reduce="multiply")`` and its dtype/reduce checks,
``cummax``/``cummin`` of 0-d tensors with a bad ``dim``.

Each case runs once with ``lib = torch`` and once with ``lib = kiln`` on the same data and
compares values, gradients (where PyTorch has them) and exception classes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(1616)


def _both(fn, *arrays, grad=False):
    """``fn(lib, *tensors)`` for torch and kiln; returns outputs and input gradients."""
    out = {}
    for lib in (torch, kiln):
        ts = [lib.tensor(a.copy(), requires_grad=grad) for a in arrays]
        y = fn(lib, *ts)
        grads = None
        if grad:
            y.sum().backward()
            # PyTorch leaves .grad None where its backward gives an undefined (zero) grad
            grads = [
                np.zeros(t.shape, a.dtype) if t.grad is None else t.grad.detach().numpy()
                for t, a in zip(ts, arrays)
            ]
        out[lib.__name__] = (y.detach().numpy(), grads)
    return out["torch"], out["kiln"]


def _raises_same(fn, *arrays):
    errs = []
    for lib in (torch, kiln):
        ts = [lib.tensor(a.copy()) for a in arrays]
        with pytest.raises(Exception) as info:
            fn(lib, *ts)
        errs.append(info.type)
    assert errs[1] is errs[0] or issubclass(errs[1], errs[0]), errs
    return errs


# ------------------------------------------------------------------------- F.pad modes

PAD_CASES = [
    ((1, 1, 5, 5), (0, 2, 3, 2)),
    ((3, 3, 3, 3), (-1, 2, 2, -1)),
    ((1, 1, 5, 5), (3, -3, 0, -3)),
    ((1, 1, 5, 5), (3, -5, 1, -5)),
    ((1, 1, 5, 5), (0, 0, 0, -5)),
    ((1, 1, 5, 5), (-2, -2, 1, 0)),
    ((2, 6), (-3, 4)),
    ((1, 1, 5, 5, 5), (1, -2, -3, 4, 1, -1)),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("shape,pad", PAD_CASES)
def test_pad_negative_reflect_replicate(mode, shape, pad):
    if mode == "reflect" and any(p >= s for p, s in zip(pad[::2], shape[::-1])):
        pytest.skip("reflect needs pads smaller than the input")  # invalid for torch too
    x = RNG.standard_normal(shape).astype(np.float32)
    (ty, tg), (ky, kg) = _both(
        lambda lib, t: lib.nn.functional.pad(t, pad, mode=mode), x, grad=True
    )
    assert ky.shape == ty.shape
    np.testing.assert_allclose(ky, ty, rtol=1e-6)
    np.testing.assert_allclose(kg[0], tg[0], rtol=1e-6)


def test_pad_negative_sweep_matches_torch():
    """Every pair of (left, right) in [-5, 5] on a 5x6 input, both modes, two axes."""
    x = RNG.standard_normal((2, 5, 6)).astype(np.float32)
    for mode in ("reflect", "replicate"):
        for pad in itertools.product(range(-5, 6), range(-5, 6), (-2, 0, 3), (-1, 1)):
            try:
                want = torch.nn.functional.pad(torch.tensor(x), pad, mode=mode).numpy()
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    kiln.nn.functional.pad(kiln.tensor(x), pad, mode=mode)
                continue
            got = kiln.nn.functional.pad(kiln.tensor(x), pad, mode=mode).numpy()
            assert got.shape == want.shape, (mode, pad)
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "pad", [(-2, 1, 0, 0), (2, -1, 1, 1), (-1, -1, 0, 0), (1, -3, 0, 0), (0, -2, 1, 1)]
)
def test_pad_negative_circular(pad):
    # PyTorch crops the negative sides first, then wraps what is left
    x = RNG.standard_normal((1, 2, 5, 5)).astype(np.float32)
    (ty, tg), (ky, kg) = _both(
        lambda lib, t: lib.nn.functional.pad(t, pad, mode="circular"), x, grad=True
    )
    assert ky.shape == ty.shape
    np.testing.assert_array_equal(ky, ty)
    np.testing.assert_array_equal(kg[0], tg[0])


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 6), (-6, 0)), ((2, 3, 6, 5), (0, -5, -6, 0))])
def test_pad_all_sizes_empty_raises(mode, shape, pad):
    x = np.zeros(shape, np.float32)
    _raises_same(lambda lib, t: lib.nn.functional.pad(t, pad, mode=mode), x)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "shape,pad",
    [
        ((2, 3, 4, 5), (1, 1)),
        ((4, 5), (1, 1, 1, 1)),
        ((5,), (1, 1)),
        ((2, 3, 4, 5, 6, 7), (1, 1, 1, 1, 1, 1)),
    ],
)
def test_pad_unsupported_rank_raises(mode, shape, pad):
    _raises_same(
        lambda lib, t: lib.nn.functional.pad(t, pad, mode=mode), np.zeros(shape, np.float32)
    )


def test_pad_one_empty_size_is_fine():
    x = RNG.standard_normal((1, 1, 5, 5)).astype(np.float32)
    for mode in ("reflect", "replicate"):
        (ty, _), (ky, _) = _both(
            lambda lib, t, mode=mode: lib.nn.functional.pad(t, (0, 0, 0, -5), mode=mode), x
        )
        assert ky.shape == ty.shape == (1, 1, 0, 5)


# -------------------------------------------------------------------------- attention


def test_sdpa_causal_with_mask_requiring_grad_raises_runtime_error():
    q = RNG.standard_normal((2, 3, 4, 8)).astype(np.float32)
    m = np.zeros((2, 3, 4, 4), np.float32)
    errs = []
    for lib in (torch, kiln):
        a = lib.tensor(q, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            lib.nn.functional.scaled_dot_product_attention(
                a, a, a, attn_mask=lib.tensor(m, requires_grad=True), is_causal=True
            )
        errs.append(info.type)
    assert errs[0] is errs[1]


def test_sdpa_causal_with_mask_without_grad_applies_both():
    q, k, v = (RNG.standard_normal((2, 3, 5, 8)).astype(np.float32) for _ in range(3))
    m = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)
    outs, grads = [], []
    for lib in (torch, kiln):
        a, b, c = (lib.tensor(t, requires_grad=True) for t in (q, k, v))
        y = lib.nn.functional.scaled_dot_product_attention(
            a, b, c, attn_mask=lib.tensor(m), is_causal=True
        )
        y.sum().backward()
        outs.append(y.detach().numpy())
        grads.append([t.grad.numpy() for t in (a, b, c)])
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    for g_k, g_t in zip(grads[1], grads[0]):
        np.testing.assert_allclose(g_k, g_t, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- scatter

INDEX = np.array([[0, 1, 0], [2, 2, 1]], np.int64)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_multiply_tensor_src(dim):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    src = RNG.standard_normal((2, 3)).astype(np.float32)
    idx = INDEX if dim == 0 else np.minimum(INDEX, 3)
    outs = []
    for lib in (torch, kiln):
        outs.append(
            lib.tensor(x).scatter(dim, lib.tensor(idx), lib.tensor(src), reduce="multiply").numpy()
        )
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-6)


@pytest.mark.parametrize("value", [2.5, float("inf"), float("nan")])
def test_scatter_multiply_scalar_value(value):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    outs = [
        lib.tensor(x).scatter(1, lib.tensor(INDEX), value, reduce="multiply").numpy()
        for lib in (torch, kiln)
    ]
    np.testing.assert_array_equal(outs[1], outs[0])


def test_scatter_multiply_int():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    outs = [
        lib.tensor(x).scatter(1, lib.tensor(INDEX), 3, reduce="multiply").numpy()
        for lib in (torch, kiln)
    ]
    assert outs[1].dtype == outs[0].dtype
    np.testing.assert_array_equal(outs[1], outs[0])


def test_scatter_src_dtype_mismatch_raises():
    x = np.ones((3, 4), np.float32)
    _raises_same(
        lambda lib, t: t.half().scatter(1, lib.tensor(INDEX), lib.ones(2, 3)),
        x,
    )


def test_scatter_bad_reduce_raises():
    x = np.ones((3, 4), np.float32)
    _raises_same(
        lambda lib, t: t.scatter(1, lib.tensor(INDEX), lib.ones(2, 3), reduce="max"),
        x,
    )


def test_scatter_plain_and_add_unchanged():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    src = RNG.standard_normal((2, 3)).astype(np.float32)
    for reduce in (None, "add"):
        outs = []
        for lib in (torch, kiln):
            kw = {} if reduce is None else {"reduce": reduce}
            outs.append(lib.tensor(x).scatter(1, lib.tensor(INDEX), lib.tensor(src), **kw).numpy())
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-6)


# -------------------------------------------------------------------- cummax / cummin


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dim", [1, -2, 5])
def test_cumulative_extreme_scalar_bad_dim(name, dim):
    _raises_same(lambda lib, t: getattr(lib, name)(t, dim), np.array(3.0, np.float32))


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dim", [0, -1])
def test_cumulative_extreme_scalar(name, dim):
    x = np.array(-1.5, np.float32)
    (ty, tg), (ky, kg) = _both(lambda lib, t: getattr(lib, name)(t, dim).values, x, grad=True)
    assert ky.shape == ty.shape == ()
    np.testing.assert_array_equal(ky, ty)
    np.testing.assert_array_equal(kg[0], tg[0])
    idx = [getattr(lib, name)(lib.tensor(x), dim).indices for lib in (torch, kiln)]
    assert int(idx[1]) == int(idx[0]) == 0


# ------------------------------------------------- float16 reductions accumulate in float32

HALF_REDUCTIONS = {
    "sum_axes": lambda lib, t: t.sum((1, 3)),
    "sum_all": lambda lib, t: t.sum(),
    "mean": lambda lib, t: t.mean((1, 3)),
    "var": lambda lib, t: t.var(3),
    "std": lambda lib, t: t.std(3),
    "var_mean": lambda lib, t: lib.var_mean(t, 2)[0],
    "softmax": lambda lib, t: t.softmax(3),
    "logsumexp": lambda lib, t: t.logsumexp(3),
    "norm": lambda lib, t: t.norm(dim=3),
    "cumsum": lambda lib, t: t.cumsum(3),
    "cumprod": lambda lib, t: t.cumprod(3),
}


@pytest.mark.parametrize("name", sorted(HALF_REDUCTIONS))
def test_float16_reductions_round_once(name):
    """PyTorch accumulates float16 reductions in float32 and rounds the result once; a
    float16 accumulator drifts by several ulps (a 24-term sum was 2% off)."""
    x = np.random.default_rng(0).uniform(-2, 2, (3, 4, 5, 6)).astype(np.float16)
    fn = HALF_REDUCTIONS[name]
    outs = []
    for lib in (torch, kiln):
        y = fn(lib, lib.tensor(x))
        assert str(y.dtype).endswith("float16")
        outs.append(y.numpy())
    assert outs[1].shape == outs[0].shape
    np.testing.assert_array_equal(outs[1], outs[0])


@pytest.mark.parametrize("name", ["sum_axes", "mean", "softmax", "cumsum", "var"])
def test_float16_reductions_gradient(name):
    x = np.random.default_rng(1).uniform(-2, 2, (3, 4, 5, 6)).astype(np.float16)
    (ty, tg), (ky, kg) = _both(HALF_REDUCTIONS[name], x, grad=True)
    assert kg[0].dtype == tg[0].dtype == np.float16
    np.testing.assert_allclose(
        kg[0].astype(np.float32), tg[0].astype(np.float32), rtol=4e-3, atol=2e-3
    )


HALF_WINDOWED = {
    "avg_pool2d": lambda lib, t: lib.nn.functional.avg_pool2d(t, 3, padding=1),
    "avg_pool2d_ceil": lambda lib, t: lib.nn.functional.avg_pool2d(
        t, (3, 2), stride=2, padding=1, ceil_mode=True, count_include_pad=False
    ),
    "avg_pool1d": lambda lib, t: lib.nn.functional.avg_pool1d(t[0], 3),
    "adaptive_avg_pool2d": lambda lib, t: lib.nn.functional.adaptive_avg_pool2d(t, (4, 5)),
    "adaptive_avg_pool1d": lambda lib, t: lib.nn.functional.adaptive_avg_pool1d(t[0], 7),
    "einsum_matmul": lambda lib, t: lib.einsum("ncij,ncjk->ncik", t[..., :7], t[..., :7, :]),
    "einsum_sum": lambda lib, t: lib.einsum("ncij->nj", t),
    "einsum_outer": lambda lib, t: lib.einsum("i,j->ij", t[0, 0, 0], t[1, 1, 1]),
}


@pytest.mark.parametrize("name", sorted(HALF_WINDOWED))
def test_float16_pools_and_einsum_round_once(name):
    x = np.random.default_rng(2).uniform(-2, 2, (2, 3, 11, 28)).astype(np.float16)
    fn = HALF_WINDOWED[name]
    outs = []
    for lib in (torch, kiln):
        y = fn(lib, lib.tensor(x))
        assert str(y.dtype).endswith("float16")
        outs.append(y.numpy())
    assert outs[1].shape == outs[0].shape
    if name == "einsum_matmul":  # the order of float32 accumulation may differ by 1 ulp
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-3, atol=0)
        assert (outs[1] != outs[0]).mean() < 0.01
    else:
        np.testing.assert_array_equal(outs[1], outs[0])


def test_float16_avg_pool2d_gradient():
    x = np.random.default_rng(3).uniform(-2, 2, (2, 3, 7, 9)).astype(np.float16)
    (ty, tg), (ky, kg) = _both(
        lambda lib, t: lib.nn.functional.avg_pool2d(t, 3, stride=2, padding=1), x, grad=True
    )
    np.testing.assert_array_equal(ky, ty)
    assert kg[0].dtype == np.float16
    np.testing.assert_allclose(kg[0].astype(np.float32), tg[0].astype(np.float32), rtol=2e-3)


# ------------------------------------------------------- bad input: PyTorch's exceptions

INDEX_OPS = {
    "gather": lambda lib, x, i: x.gather(0, i),
    "scatter_value": lambda lib, x, i: x.scatter(0, i, 1.0),
    "scatter_src": lambda lib, x, i: x.scatter(0, i, lib.ones(1, 2)),
    "scatter_add": lambda lib, x, i: x.scatter_add(0, i, lib.ones(1, 2)),
    "scatter_reduce": lambda lib, x, i: x.scatter_reduce(0, i, lib.ones(1, 2), "sum"),
    "index_select": lambda lib, x, i: x.index_select(0, i[0]),
    "index_add": lambda lib, x, i: x.index_add(0, i[0, :1], lib.ones(1, 2)),
    "index_copy": lambda lib, x, i: x.index_copy(0, i[0, :1], lib.ones(1, 2)),
}


@pytest.mark.parametrize("name", sorted(INDEX_OPS))
@pytest.mark.parametrize("bad", [-1, 3, -4])
def test_out_of_range_index_raises_like_torch(name, bad):
    """NumPy would wrap -1 to the last row: a silently wrong result."""
    errs = []
    for lib in (torch, kiln):
        x, i = lib.zeros(3, 2), lib.tensor([[bad, 0]])
        with pytest.raises(Exception) as info:
            INDEX_OPS[name](lib, x, i)
        errs.append(info.type)
    assert errs[1] is errs[0], errs


@pytest.mark.parametrize("name", sorted(INDEX_OPS))
def test_in_range_index_still_matches(name):
    outs = []
    for lib in (torch, kiln):
        x, i = lib.arange(6.0).reshape(3, 2), lib.tensor([[2, 0]])
        outs.append(INDEX_OPS[name](lib, x, i).numpy())
    np.testing.assert_array_equal(outs[1], outs[0])


def test_index_fill_negative_index_wraps_like_torch():
    outs = [lib.zeros(3, 2).index_fill(0, lib.tensor([-1]), 2.0).numpy() for lib in (torch, kiln)]
    np.testing.assert_array_equal(outs[1], outs[0])


@pytest.mark.parametrize("sizes", [(-1, 2), (2, -1), (1, -3, 1)])
def test_repeat_negative_raises(sizes):
    _raises_same(lambda lib, t: t.repeat(*sizes), np.arange(3))


def test_repeat_zero_is_empty():
    outs = [lib.tensor([[1, 2]]).repeat(0, 3).numpy() for lib in (torch, kiln)]
    assert outs[1].shape == outs[0].shape == (0, 6)


@pytest.mark.parametrize(
    "a,b",
    [("float32", "int64"), ("float32", "float64"), ("int32", "int64"), ("float16", "float32")],
)
@pytest.mark.parametrize("op", ["matmul", "mm", "bmm", "dot", "mv"])
def test_matmul_mixed_dtypes_raise(op, a, b):
    shapes = {"mm": ((2, 3), (3, 2)), "bmm": ((1, 2, 3), (1, 3, 2)), "dot": ((3,), (3,))}
    sa, sb = shapes.get(op, ((2, 3), (3,)) if op == "mv" else ((2, 3), (3, 2)))
    errs = []
    for lib in (torch, kiln):
        x = lib.ones(*sa, dtype=getattr(lib, a))
        y = lib.ones(*sb, dtype=getattr(lib, b))
        with pytest.raises(RuntimeError) as info:
            getattr(lib, op)(x, y)
        errs.append(info.type)
    assert errs[0] is errs[1]


def test_matmul_bool_raises_and_int_works():
    _raises_same(lambda lib, a: a @ a, np.ones((2, 2), bool))
    outs = [(lib.tensor([[1, 2]]) @ lib.tensor([[3], [4]])).numpy() for lib in (torch, kiln)]
    assert outs[1].dtype == outs[0].dtype
    np.testing.assert_array_equal(outs[1], outs[0])


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_norm_of_integer_raises(dtype):
    _raises_same(lambda lib, t: t.norm(), np.array([3, 4]).astype(dtype))


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin_bool_raise(op):
    _raises_same(lambda lib, t: getattr(t, op)(), np.array([False, True]))
    _raises_same(lambda lib, t: getattr(t, op)(0), np.array([False, True]))


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_of_bool_with_dim_still_work(op):
    x = np.array([[False, True, True], [False, False, True]])
    outs = [getattr(lib.tensor(x), op)(1) for lib in (torch, kiln)]
    np.testing.assert_array_equal(outs[1].values.numpy(), outs[0].values.numpy())
    np.testing.assert_array_equal(outs[1].indices.numpy(), outs[0].indices.numpy())


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmin"])
def test_softmax_of_integers_raises_not_implemented(op):
    _raises_same(lambda lib, t: getattr(lib.nn.functional, op)(t, 0), np.array([1, 2]))
    outs = [
        getattr(lib.nn.functional, op)(lib.tensor([1, 2]), 0, dtype=lib.float32).numpy()
        for lib in (torch, kiln)
    ]
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-6)


def test_pad_value_with_non_constant_mode_raises_runtime_error():
    x = np.ones((1, 2, 3), np.float32)
    _raises_same(lambda lib, t: lib.nn.functional.pad(t, (1, 1), mode="reflect", value=1.0), x)
    outs = [
        lib.nn.functional.pad(lib.tensor(x), (1, 1), mode="reflect", value=0.0).numpy()
        for lib in (torch, kiln)
    ]
    np.testing.assert_array_equal(outs[1], outs[0])


ERROR_CASES = {
    "narrow_past_end": lambda lib, t: t.narrow(1, 2, 5),
    "narrow_start_out_of_range": lambda lib, t: t.narrow(1, -5, 1),
    "cat_empty_list": lambda lib, t: lib.cat([]),
    "flip_repeated_dims_varargs": lambda lib, t: t.flip(0, 0),
    "tril_1d": lambda lib, t: t[0].tril(),
    "triu_1d": lambda lib, t: t[0].triu(),
    "diag_0d": lambda lib, t: t[0, 0].diag(),
    "diag_3d": lambda lib, t: t[None].diag(),
    "isclose_negative_rtol": lambda lib, t: lib.isclose(t, t, rtol=-1.0),
    "isclose_negative_atol": lambda lib, t: lib.isclose(t, t, atol=-1.0),
    "logcumsumexp_int": lambda lib, t: t.long().logcumsumexp(0),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_bad_input_raises_like_torch(name):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    _raises_same(ERROR_CASES[name], x)


VALUE_CASES = {
    "flip_varargs": lambda lib, t: t.flip(0, 1),
    "flip_dims_kw": lambda lib, t: lib.flip(t, dims=(1,)),
    "narrow_negative_start": lambda lib, t: t.narrow(1, -3, 2),
    "norm_p0": lambda lib, t: t.norm(p=0),
    "norm_p0_dim": lambda lib, t: t.norm(p=0, dim=1),
    "norm_neg_inf": lambda lib, t: t.norm(p=-float("inf"), dim=0),
    "norm_nuc": lambda lib, t: t.norm(p="nuc"),
    "norm_p3": lambda lib, t: t.norm(p=3, dim=1, keepdim=True),
}


@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_values_and_gradients_match_torch(name):
    x = np.random.default_rng(5).standard_normal((3, 4))
    x[0, 1] = 0.0
    (ty, tg), (ky, kg) = _both(VALUE_CASES[name], x, grad=True)
    assert ky.shape == ty.shape
    np.testing.assert_allclose(ky, ty, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(kg[0], tg[0], rtol=1e-6, atol=1e-9)


def test_unique_with_dim_and_nans():
    rows = np.array([[1, 2], [1, 2], [0, 1]])
    nans = np.array([3.0, np.nan, 1.0, np.nan, 3.0], np.float32)
    for data, kw in ((rows, {"dim": 0}), (rows.T.copy(), {"dim": 1}), (nans, {})):
        outs = []
        for lib in (torch, kiln):
            res = lib.unique(lib.tensor(data), return_inverse=True, return_counts=True, **kw)
            outs.append([r.numpy() for r in res])
        for k, t in zip(outs[1], outs[0]):
            assert k.shape == t.shape and k.dtype == t.dtype
            np.testing.assert_array_equal(k, t)


@pytest.mark.parametrize("mode,align", [("bilinear", False), ("bilinear", True), ("area", None)])
def test_float16_interpolate_rounds_once(mode, align):
    """PyTorch interpolates float16 bilinear/area in float32 and rounds once; what is left
    is float32 rounding that sometimes lands on the other side of a float16 tie."""
    x = np.random.default_rng(6).uniform(-2, 2, (2, 3, 12, 20)).astype(np.float16)
    kw = {} if align is None else {"align_corners": align}
    size = (5, 7) if mode == "area" else (9, 31)
    outs = []
    for lib in (torch, kiln):
        y = lib.nn.functional.interpolate(lib.tensor(x), size=size, mode=mode, **kw)
        assert str(y.dtype).endswith("float16")
        outs.append(y.numpy().astype(np.float32))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-3, atol=1e-3)
    assert (outs[1] != outs[0]).mean() < 0.02


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_bicubic(dtype, padding_mode, align_corners):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5, 6)).astype(dtype)
    g = rng.uniform(-1.3, 1.3, (2, 3, 4, 2)).astype(dtype)  # some points outside
    outs = []
    for lib in (torch, kiln):
        xt = lib.tensor(x, requires_grad=True)
        gt = lib.tensor(g, requires_grad=True)
        y = lib.nn.functional.grid_sample(
            xt, gt, mode="bicubic", padding_mode=padding_mode, align_corners=align_corners
        )
        w = lib.tensor(np.cos(np.arange(y.numel())).reshape(y.shape).astype(dtype))
        (y * w).sum().backward()
        outs.append((y.detach().numpy(), xt.grad.numpy(), gt.grad.numpy()))
    tol = 1e-12 if dtype == "float64" else 2e-5
    for k, t in zip(outs[1], outs[0]):
        assert k.shape == t.shape
        np.testing.assert_allclose(k, t, rtol=tol, atol=tol)


def test_grid_sample_bicubic_jit_matches_eager():
    rng = np.random.default_rng(8)
    x = kiln.tensor(rng.standard_normal((1, 2, 4, 5)).astype(np.float32))
    g = kiln.tensor(rng.uniform(-1.1, 1.1, (1, 3, 3, 2)).astype(np.float32))

    def f(a, b):
        return kiln.nn.functional.grid_sample(
            a, b, mode="bicubic", padding_mode="border", align_corners=False
        )

    np.testing.assert_allclose(kiln.jit(f)(x, g).numpy(), f(x, g).numpy(), rtol=1e-6, atol=1e-6)
