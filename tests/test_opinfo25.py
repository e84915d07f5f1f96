"""PyTorch's OpInfo leftovers (issue 14, round 25): kiln against torch on the cases that
differed."""

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


# ----------------------------------------------------------------------------- tie order
# PyTorch's CPU kernels pick among equal values by a deterministic algorithm; kiln reruns
# it eagerly, so indices agree (values always did).


def _tied(shape, seed, dtype=np.int64, high=3):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, high, shape).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[rng.random(shape) < 0.15] = np.nan
    return x


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float32])
@pytest.mark.parametrize("dim", [-1, 1])
def test_kthvalue_ties_pick_pytorchs_index(dtype, dim):
    x = _tied((5, 9, 7), 0, dtype)
    for k in (1, 2, 5):
        for keepdim in (False, True):
            want = torch.kthvalue(torch.from_numpy(x), k, dim, keepdim)
            got = kiln.kthvalue(kiln.tensor(x), k, dim, keepdim)
            np.testing.assert_array_equal(_np(got.indices), _np(want.indices))
            np.testing.assert_array_equal(_np(got.values), _np(want.values))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float64])
@pytest.mark.parametrize(
    "shape,k", [((5, 10, 5), 3), ((4, 200), 2), ((4, 200), 150), ((3, 33), 33), ((6,), 1)]
)
def test_topk_ties_pick_pytorchs_indices(dtype, shape, k):
    x = _tied(shape, 1, dtype, high=4)
    for largest in (True, False):
        for in_order in (True, False):
            want = torch.topk(torch.from_numpy(x), k, -1, largest, in_order)
            got = kiln.topk(kiln.tensor(x), k, -1, largest, in_order)
            np.testing.assert_array_equal(_np(got.indices), _np(want.indices))
            np.testing.assert_array_equal(_np(got.values), _np(want.values))


def test_topk_ties_along_a_middle_dim_and_gradient():
    x = _tied((5, 10, 5), 2, np.float64, high=3)
    x = np.nan_to_num(x, nan=7.0)
    tx = torch.tensor(x, requires_grad=True)
    kx = kiln.tensor(x, requires_grad=True)
    want = torch.topk(tx, 3, 1)
    got = kiln.topk(kx, 3, 1)
    np.testing.assert_array_equal(_np(got.indices), _np(want.indices))
    ct = np.random.default_rng(0).standard_normal(tuple(want.values.shape))
    (tg,) = torch.autograd.grad(want.values, tx, torch.tensor(ct))
    (kg,) = kiln.autograd.grad(got.values, kx, kiln.tensor(ct))
    np.testing.assert_allclose(_np(kg), _np(tg))


@pytest.mark.parametrize(
    "dtype,n", [(np.uint8, 8000), (np.bool_, 8000), (np.int64, 40), (np.float32, 300)]
)
def test_unstable_sort_and_argsort_order_ties_as_pytorch(dtype, n):
    x = _tied((n,), 3, dtype, high=2 if dtype is np.bool_ else 50)
    for descending in (False, True):
        want = torch.sort(torch.from_numpy(x), descending=descending)
        got = kiln.sort(kiln.tensor(x), descending=descending)
        np.testing.assert_array_equal(_np(got.indices), _np(want.indices))
        np.testing.assert_array_equal(_np(got.values), _np(want.values))
        want_order = torch.argsort(torch.from_numpy(x), descending=descending)
        np.testing.assert_array_equal(
            _np(kiln.argsort(kiln.tensor(x), descending=descending)), _np(want_order)
        )


def test_sort_2d_ties_and_stable_sort_unchanged():
    x = _tied((6, 70), 4, np.int64, high=5)
    for dim in (0, 1):
        want = torch.sort(torch.from_numpy(x), dim)
        np.testing.assert_array_equal(_np(kiln.sort(kiln.tensor(x), dim).indices), _np(want[1]))
        stable = torch.sort(torch.from_numpy(x), dim=dim, stable=True)
        got = kiln.sort(kiln.tensor(x), dim=dim, stable=True)
        np.testing.assert_array_equal(_np(got.indices), _np(stable.indices))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_mode_index_matches_pytorch(dtype):
    for shape, high in (((3000,), 10), ((4, 40), 3), ((3, 17), 2)):
        x = _tied(shape, 5, dtype, high=high)
        want = torch.mode(torch.from_numpy(x))
        got = kiln.mode(kiln.tensor(x))
        np.testing.assert_array_equal(_np(got.indices), _np(want.indices))
        np.testing.assert_array_equal(_np(got.values), _np(want.values))


def test_traced_topk_and_sort_stay_sorted_and_values_agree_with_eager():
    x = kiln.tensor(_tied((4, 12), 6, np.float32, high=4).clip(0, 3))
    x = kiln.nan_to_num(x)

    def f(t):
        return kiln.topk(t, 3).values, kiln.sort(t, descending=True).values

    jitted = kiln.jit(f)(x)
    eager = f(x)
    for a, b in zip(jitted, eager):
        np.testing.assert_array_equal(_np(a), _np(b))


# ----------------------------------------------------------------------------- hash_tensor


@pytest.mark.parametrize(
    "dtype", [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_]
)
@pytest.mark.parametrize(
    "dim,keepdim", [(None, False), (1, False), (1, True), ((0, 2), False), ((0, 2), True)]
)
def test_hash_tensor_matches_pytorch(dtype, dim, keepdim):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x.flat[:3] = [np.nan, -0.0, np.inf]
    kwargs = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    want = torch.hash_tensor(torch.from_numpy(x), **kwargs)
    got = kiln.hash_tensor(kiln.tensor(x), **kwargs)
    assert got.dtype == kiln.uint64 and str(want.dtype) == "torch.uint64"
    np.testing.assert_array_equal(_np(got), want.numpy())
    np.testing.assert_array_equal(_np(kiln.tensor(x).hash_tensor(**kwargs)), want.numpy())


def test_hash_tensor_errors_as_pytorch():
    for args, kwargs in (((), {}), ((1,), {})):
        with pytest.raises((RuntimeError, IndexError)) as got:
            kiln.hash_tensor(kiln.zeros(2, 0), *args, **kwargs)
        with pytest.raises(got.type):
            torch.hash_tensor(torch.zeros(2, 0), *args, **kwargs)
    with pytest.raises(RuntimeError, match="mode"):
        kiln.hash_tensor(kiln.ones(2), mode=1)
    empty_rows = kiln.hash_tensor(kiln.zeros(2, 0), 0)
    assert tuple(empty_rows.shape) == tuple(torch.hash_tensor(torch.zeros(2, 0), 0).shape)


def test_chalf_raises_a_clear_error():
    with pytest.raises(TypeError, match="complex32"):
        kiln.ones(2).chalf()


# ----------------------------------------------------------------------------- as_strided


@pytest.mark.parametrize("offset", [None, 0, 3, 10])
def test_as_strided_of_a_partial_view_reads_the_storage_with_gradient(offset):
    base = np.random.default_rng(8).standard_normal(20)
    tx = torch.tensor(base)[5:15].requires_grad_(True)
    kx = kiln.tensor(base)[5:15].requires_grad_(True)
    kwargs = {} if offset is None else {"storage_offset": offset}
    want = torch.as_strided(tx, (2, 2), (1, 2), **kwargs)
    got = kiln.as_strided(kx, (2, 2), (1, 2), **kwargs)
    np.testing.assert_array_equal(_np(got), _np(want))
    ct = np.arange(4.0).reshape(2, 2) + 1
    (tg,) = torch.autograd.grad(want, tx, torch.tensor(ct))
    (kg,) = kiln.autograd.grad(got, kx, kiln.tensor(ct))
    np.testing.assert_array_equal(_np(kg), _np(tg))


# ----------------------------------------------------------------------------- error classes


def _same_error(call_kiln, call_torch):
    """Both raise, and kiln's exception is of PyTorch's class."""
    with pytest.raises(Exception) as want:
        call_torch()
    with pytest.raises(Exception) as got:
        call_kiln()
    assert isinstance(got.value, want.type), (got.value, want.value)


def _both(fn, *arrays, **kwargs):
    def k():
        return fn(kiln, kiln.nn.functional, *[kiln.tensor(a) for a in arrays], **kwargs)

    def t():
        return fn(torch, torch.nn.functional, *[torch.tensor(a) for a in arrays], **kwargs)

    return k, t


@pytest.mark.parametrize(
    "name,shape,size",
    [
        ("adaptive_avg_pool2d", (2, 2), [2, 2]),
        ("adaptive_max_pool2d", (2, 2), [2, 2]),
        ("adaptive_avg_pool3d", (2, 2, 2), [2, 2, 2]),
        ("adaptive_max_pool3d", (2, 2, 2), [2, 2, 2]),
        ("adaptive_avg_pool1d", (1, 2, 3), []),
        ("adaptive_max_pool1d", (1, 2, 3), []),
        ("adaptive_avg_pool2d", (1, 2, 3, 4), []),
        ("adaptive_max_pool3d", (1, 2, 3, 4), []),
        ("adaptive_avg_pool1d", (1, 1, 1), [-1]),
        ("adaptive_max_pool1d", (1, 1, 1), [-1]),
        ("adaptive_avg_pool2d", (1, 1, 1, 1), [-1, 0]),
        ("adaptive_max_pool2d", (1, 1, 1, 1), [-1, 0]),
        ("adaptive_avg_pool3d", (1, 1, 1, 1, 1), [-1, 0, 2]),
    ],
)
def test_adaptive_pool_bad_sizes_raise_pytorchs_class(name, shape, size):
    x = np.ones(shape, dtype=np.float32)
    _same_error(*_both(lambda m, F, t: getattr(F, name)(t, size), x))


def test_adaptive_pool_good_sizes_still_agree():
    x = np.random.default_rng(9).standard_normal((2, 3, 7, 5)).astype(np.float32)
    for size in (3, [3, 2], (None, 4)):
        k, t = _both(lambda m, F, a, s=size: F.adaptive_avg_pool2d(a, s), x)
        np.testing.assert_allclose(_np(k()), _np(t()), rtol=1e-5, atol=1e-6)
        k, t = _both(lambda m, F, a, s=size: F.adaptive_max_pool2d(a, s), x)
        np.testing.assert_array_equal(_np(k()), _np(t()))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_bias_of_another_dtype_and_negative_padding_raise(nd):
    name = f"conv{nd}d"
    x = np.ones((1, 1) + (4,) * nd, dtype=np.int64)
    w = np.ones((1, 1) + (2,) * nd, dtype=np.int64)
    b = np.ones(1, dtype=np.float64)
    _same_error(*_both(lambda m, F, *a: getattr(F, name)(*a), x, w, b))
    xf, wf = x.astype(np.float32), w.astype(np.float32)
    _same_error(*_both(lambda m, F, *a: getattr(F, name)(*a), xf, wf, b))
    xd, wd = x.astype(np.float64), w.astype(np.float64)
    _same_error(*_both(lambda m, F, *a: getattr(F, name)(*a, padding=[-1]), xd, wd, b))
    k, t = _both(lambda m, F, *a: getattr(F, name)(*a, padding=1), xd, wd, b)
    np.testing.assert_array_equal(_np(k()), _np(t()))


@pytest.mark.parametrize(
    "name,shape",
    [
        ("max_pool1d", (0, 10)),
        ("max_pool1d", (1, 10, 0)),
        ("max_pool2d", (0, 2, 10)),
        ("max_pool3d", (0, 1, 2, 10)),
        ("max_pool3d", (2, 0, 1, 2, 10)),
    ],
)
def test_max_pool_empty_non_batch_dims_raise(name, shape):
    x = np.ones(shape, dtype=np.float32)
    _same_error(*_both(lambda m, F, t: getattr(F, name)(t, 1), x))


@pytest.mark.parametrize("name", ["max_pool1d", "max_pool2d", "max_pool3d"])
def test_max_pool_empty_batch_still_allowed(name):
    nd = int(name[-2])
    x = np.ones((0, 2) + (4,) * nd, dtype=np.float32)
    k, t = _both(lambda m, F, a: getattr(F, name)(a, 2), x)
    assert tuple(k().shape) == tuple(t().shape)


def test_multi_margin_loss_refusals_and_values():
    x = np.random.default_rng(10).standard_normal((5, 4)).astype(np.float64)
    y = np.array([0, 1, 2, 3, 0])
    for weight in (np.ones(()), np.ones((5, 4))):
        _same_error(*_both(lambda m, F, a, b, w: F.multi_margin_loss(a, b, weight=w), x, y, weight))
    _same_error(*_both(lambda m, F, a, b: F.multi_margin_loss(a, b), x, y.astype(np.float32)))
    _same_error(*_both(lambda m, F, a, b: F.multi_margin_loss(a, b), x, y.astype(np.int32)))
    w = np.array([1.0, 2.0, 0.5, 1.5])
    tx, kx = torch.tensor(x, requires_grad=True), kiln.tensor(x, requires_grad=True)
    want = torch.nn.functional.multi_margin_loss(tx, torch.tensor(y), p=2, weight=torch.tensor(w))
    got = kiln.nn.functional.multi_margin_loss(kx, kiln.tensor(y), p=2, weight=kiln.tensor(w))
    np.testing.assert_allclose(_np(got), _np(want))
    np.testing.assert_allclose(
        _np(kiln.autograd.grad(got, kx)[0]), _np(torch.autograd.grad(want, tx)[0])
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda m, F, t: m.narrow_copy(t, 3, 0, 0),
        lambda m, F, t: m.narrow_copy(t, -4, 0, 0),
        lambda m, F, t: m.narrow_copy(t, 1, 6, 0),
        lambda m, F, t: m.narrow_copy(t, 1, -6, 0),
        lambda m, F, t: m.narrow_copy(t, 1, 2, 9),
        lambda m, F, t: m.narrow(t, 0, m.tensor(False), 1),
        lambda m, F, t: m.narrow(t, 0, m.tensor([1]), 1),
        lambda m, F, t: m.hsplit(t, "abc"),
        lambda m, F, t: m.vsplit(t, 2.0),
        lambda m, F, t: m.dsplit(t, [1, 2.5]),
        lambda m, F, t: t.masked_fill(m.tensor(True), 1j),
        lambda m, F, t: m.aminmax(t[:, :0], dim=1),
    ],
)
def test_refusals_raise_pytorchs_class(call):
    x = np.arange(60.0, dtype=np.float32).reshape(3, 5, 4)
    _same_error(*_both(call, x))


def test_narrow_with_a_tensor_start_and_splits_still_work():
    x = np.arange(60.0, dtype=np.float32).reshape(3, 5, 4)
    for call in (
        lambda m, F, t: m.narrow(t, 1, m.tensor(2), 3),
        lambda m, F, t: m.narrow_copy(t, 1, -3, 2),
        lambda m, F, t: m.hsplit(t, [1, 3])[1],
        lambda m, F, t: m.vsplit(t, 3)[2],
    ):
        k, t = _both(call, x)
        np.testing.assert_array_equal(_np(k()), _np(t()))


# ----------------------------------------------------------------------------- out= overlap


def _out_cases(m):
    y = m.tensor(np.arange(24.0, dtype=np.float32).reshape(4, 6))
    x = m.zeros(0)
    idx = m.tensor([0, 1])
    flat = m.tensor(np.arange(6.0, dtype=np.float32))
    mask = m.tensor(np.array([True, False] * 3))
    expanded = m.zeros(1, 6).expand(2, 6)
    return [
        lambda: m.cat((x, y), dim=0, out=x),
        lambda: m.cat((x, y), dim=0, out=y),
        lambda: m.cat((y, y), out=m.zeros(1, 6).expand(8, 6)),
        lambda: m.index_select(y, 1, idx, out=expanded),
        lambda: m.masked_select(flat, mask, out=flat),
        lambda: m.masked_select(flat, mask, out=m.zeros(1).expand(3)),
        lambda: m.take(flat, idx, out=flat),
        lambda: m.gather(flat, 0, idx, out=flat),
        lambda: m.add(flat, 1, out=m.zeros(1).expand(6)),
        lambda: m.cat(y),
    ]


@pytest.mark.parametrize("case", range(10))
def test_out_overlapping_inputs_or_itself_raises_as_pytorch(case):
    _same_error(lambda: _out_cases(kiln)[case](), lambda: _out_cases(torch)[case]())


def test_out_apart_from_inputs_still_written():
    for m in (kiln, torch):
        y = m.tensor(np.arange(12.0).reshape(2, 6))
        out = m.zeros(4, 6)
        got = m.cat((y, y), out=out)
        assert got is out
        np.testing.assert_array_equal(out.numpy(), np.concatenate([y.numpy()] * 2))
        flat = m.tensor(np.arange(6.0))
        same = m.add(flat, 1, out=flat)  # elementwise ops may write into an input
        np.testing.assert_array_equal(same.numpy(), np.arange(6.0) + 1)
