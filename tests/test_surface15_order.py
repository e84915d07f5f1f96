"""NaN ordering, ties and signed zeros of sort/topk/kthvalue/median and max/min, and their
gradients, against PyTorch (issue 14's leftovers).

PyTorch treats NaN as the largest value; its sort is stable on CPU; ``max(dim)`` returns
the first extreme (or first NaN); ``max()``/``min()``/``median()`` of a whole tensor share
the gradient evenly among ties (among the NaNs when the result is NaN), ``amax``/``amin``
share it among elements equal to the result, ``max(dim)`` gives it to the chosen index.
Where PyTorch's index among equal values comes from a quickselect (``topk``, ``kthvalue``,
``median(dim)`` without NaN) its choice is unspecified: those cases check the values and
that the indices point at them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln

NAN, INF = float("nan"), float("inf")

ROWS = {
    "nan": [3.0, NAN, 1.0, -0.0, 0.0, NAN, 1.0, -INF, INF],
    "ties": [2.0, 1.0, 2.0, 0.5, 2.0, 1.0],
    "zeros": [0.0, -0.0, 1.0, -0.0, 0.0, -1.0],
    "all_nan": [NAN, NAN, NAN],
    "inf": [INF, -INF, INF, -INF, 1.0],
    "plain": [0.3, -1.2, 2.5, 0.7],
}

# (name, call); the call returns a tensor or a tuple of tensors
EXACT = [
    ("sort", lambda m, x: tuple(m.sort(x))),
    ("sort_desc", lambda m, x: tuple(m.sort(x, descending=True))),
    ("sort_stable_desc", lambda m, x: tuple(m.sort(x, descending=True, stable=True))),
    ("argsort", lambda m, x: m.argsort(x)),
    ("argsort_desc", lambda m, x: m.argsort(x, descending=True)),
    ("msort", lambda m, x: m.msort(x)),
    ("max", lambda m, x: m.max(x)),
    ("min", lambda m, x: m.min(x)),
    ("amax", lambda m, x: m.amax(x)),
    ("amin", lambda m, x: m.amin(x)),
    ("max_dim", lambda m, x: tuple(m.max(x, 0))),
    ("min_dim", lambda m, x: tuple(m.min(x, 0))),
    ("argmax", lambda m, x: m.argmax(x)),
    ("argmin", lambda m, x: m.argmin(x)),
    ("median", lambda m, x: m.median(x)),
    ("nanmedian", lambda m, x: m.nanmedian(x)),
]

# values exact, indices checked to point at the values
VALUES = [
    ("topk", lambda m, x: tuple(m.topk(x, 3))),
    ("topk_smallest", lambda m, x: tuple(m.topk(x, 3, largest=False))),
    ("kthvalue_2", lambda m, x: tuple(m.kthvalue(x, 2))),
    ("kthvalue_last", lambda m, x: tuple(m.kthvalue(x, x.shape[0]))),
    ("median_dim", lambda m, x: tuple(m.median(x, 0))),
    ("nanmedian_dim", lambda m, x: tuple(m.nanmedian(x, 0))),
]


def _same(a, b, signs=True):
    """Equal values, dtypes and, away from NaN, signs of zero."""
    a, b = a.numpy(), b.numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    if a.dtype.kind == "f" and signs:
        number = ~np.isnan(a)
        np.testing.assert_array_equal(np.signbit(a[number]), np.signbit(b[number]))


def _tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("row", sorted(ROWS))
@pytest.mark.parametrize("name,call", EXACT, ids=[n for n, _ in EXACT])
def test_exact_like_torch(name, call, row):
    expected = _tuple(call(torch, torch.tensor(ROWS[row])))
    got = _tuple(call(kiln, kiln.tensor(ROWS[row])))
    # which of 0.0 and -0.0 a median picks is a quickselect's choice in PyTorch
    signs = not (name.endswith("median") and row == "zeros")
    for e, g in zip(expected, got, strict=True):
        _same(e, g, signs)


@pytest.mark.parametrize("row", sorted(ROWS))
@pytest.mark.parametrize("name,call", VALUES, ids=[n for n, _ in VALUES])
def test_values_like_torch(name, call, row):
    data = ROWS[row]
    expected_values, expected_indices = call(torch, torch.tensor(data))
    values, indices = call(kiln, kiln.tensor(data))
    _same(expected_values, values, signs=row != "zeros")
    assert indices.dtype == kiln.int64 and tuple(indices.shape) == tuple(expected_indices.shape)
    picked = np.asarray(data, dtype=np.float32)[indices.numpy()]
    np.testing.assert_array_equal(picked, values.numpy())


def test_median_and_kthvalue_index_of_nan_is_the_first():
    x = [3.0, NAN, 1.0, NAN, 2.0]
    assert (
        kiln.median(kiln.tensor(x), 0).indices.item()
        == 1
        == torch.median(torch.tensor(x), 0).indices.item()
    )
    assert kiln.nanmedian(kiln.tensor(x), 0).indices.item() == 4


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "bool", "float64"])
def test_sort_descending_integers_and_extremes(dtype):
    info = np.iinfo(dtype) if dtype not in ("bool", "float64") else None
    data = (
        np.array([0, 1, 1, 0, 1])
        if info is None
        else np.array([info.min, 5, 0, info.min, info.max, 5])
    )
    data = data.astype(dtype)
    for descending in (False, True):
        e = torch.sort(torch.tensor(data), descending=descending)
        g = kiln.sort(kiln.tensor(data), descending=descending)
        _same(e.values, g.values)
        _same(e.indices, g.indices)


def test_median_over_rows_and_keepdim():
    data = np.array(
        [[3.0, NAN, 1.0, 2.0], [4.0, 1.0, 2.0, 3.0], [NAN, NAN, NAN, NAN], [1.0, NAN, 5.0, NAN]],
        dtype=np.float32,
    )
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            for fn in ("median", "nanmedian"):
                e = getattr(torch, fn)(torch.tensor(data), dim, keepdim)
                g = getattr(kiln, fn)(kiln.tensor(data), dim, keepdim)
                _same(e.values, g.values)
                number = ~np.isnan(e.values.numpy())
                # no ties among the numbers: one right index; nanmedian's index in an
                # all-NaN row is a quickselect's choice in PyTorch (kiln: the first)
                rows = number if fn == "nanmedian" else np.ones_like(number)
                np.testing.assert_array_equal(e.indices.numpy()[rows], g.indices.numpy()[rows])
    ints = np.array([[5, 1, 4], [2, 2, 9]], dtype=np.int32)
    _same(torch.median(torch.tensor(ints)), kiln.median(kiln.tensor(ints)))
    _same(torch.median(torch.tensor(ints), 1).values, kiln.median(kiln.tensor(ints), 1).values)
    assert kiln.tensor(data).median(1).values.shape == (4,)


GRAD_ROWS = {
    "ties": [1.0, 3.0, 3.0, 2.0],
    "nan": [1.0, NAN, 3.0, NAN],
    "zeros": [0.0, -0.0, 0.0],
    "neg_inf": [-INF, -INF, 2.0],
    "pos_inf": [INF, 1.0, INF],
    "all_neg_inf": [-INF, -INF],
    "median_ties": [1.0, 3.0, 3.0, 3.0],
    "median_even": [4.0, 1.0, 3.0, 2.0],
}

GRADS = [
    ("max", lambda m, x: m.max(x)),
    ("min", lambda m, x: m.min(x)),
    ("amax", lambda m, x: m.amax(x)),
    ("amin", lambda m, x: m.amin(x)),
    ("max_dim", lambda m, x: m.max(x, 0).values),
    ("min_dim", lambda m, x: m.min(x, 0).values),
    ("median", lambda m, x: m.median(x)),
    ("nanmedian", lambda m, x: m.nanmedian(x)),
    ("sort_desc", lambda m, x: m.sort(x, descending=True).values * m.arange(1.0, 1 + len(x))),
    ("topk", lambda m, x: m.topk(x, 2).values * m.tensor([1.0, 2.0])),
]


def _grad(lib, call, data):
    x = lib.tensor(data, requires_grad=True)
    out = call(lib, x)
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("row", sorted(GRAD_ROWS))
@pytest.mark.parametrize("name,call", GRADS, ids=[n for n, _ in GRADS])
def test_gradients_like_torch(name, call, row):
    value_t, grad_t = _grad(torch, call, GRAD_ROWS[row])
    value_k, grad_k = _grad(kiln, call, GRAD_ROWS[row])
    np.testing.assert_array_equal(value_t, value_k)
    if name == "topk" and row in ("zeros", "median_ties"):
        # which of equal values torch's topk picks is a quickselect's choice: the same
        # weights must land on elements holding the same values
        data = np.asarray(GRAD_ROWS[row], dtype=np.float32)
        np.testing.assert_array_equal(np.sort(grad_t), np.sort(grad_k))
        np.testing.assert_array_equal(np.sort(data[grad_k != 0]), np.sort(data[grad_t != 0]))
        return
    np.testing.assert_array_equal(grad_t, grad_k)


def test_whole_tensor_max_gradient_under_jit():
    @kiln.jit
    def step(x):
        return kiln.max(x) + kiln.median(x)

    for data in ([1.0, 3.0, 3.0, 2.0], [1.0, NAN, 3.0, NAN]):
        x = kiln.tensor(data, requires_grad=True)
        step(x).backward()
        t = torch.tensor(data, requires_grad=True)
        (torch.max(t) + torch.median(t)).backward()
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_sort_descending_under_jit_puts_nan_first():
    data = kiln.tensor(ROWS["nan"])
    got = kiln.jit(lambda x: kiln.sort(x, descending=True).indices)(data)
    expected = torch.sort(torch.tensor(ROWS["nan"]), descending=True).indices
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_median_of_empty_is_nan_and_empty_dim_raises():
    assert np.isnan(kiln.median(kiln.zeros(0)).item())
    assert np.isnan(torch.median(torch.zeros(0)).item())
    with pytest.raises(IndexError):
        kiln.median(kiln.zeros(2, 0), 1)
    with pytest.raises(IndexError):
        torch.median(torch.zeros(2, 0), 1)


BATCH = np.array(
    [[1.0, 3.0, 3.0], [2.0, NAN, 0.0], [5.0, 5.0, 5.0], [NAN, 1.0, NAN]], dtype=np.float32
)
TANGENTS = np.array(
    [[1.0, 2.0, 4.0], [1.0, 2.0, 3.0], [1.0, 2.0, 4.0], [1.0, 2.0, 4.0]], dtype=np.float32
)


@pytest.mark.parametrize("name", ["max", "min", "median", "nanmedian", "amax", "amin"])
def test_whole_tensor_reductions_under_vmap_of_grad(name):
    expected = torch.func.vmap(torch.func.grad(getattr(torch, name)))(torch.tensor(BATCH))
    got = kiln.func.vmap(kiln.func.grad(getattr(kiln, name)))(kiln.tensor(BATCH))
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("name", ["max", "min", "median", "nanmedian", "amax", "amin"])
@pytest.mark.parametrize("row", range(len(BATCH)))
def test_whole_tensor_reductions_forward_mode(name, row):
    """Ties share the tangent evenly (PyTorch's evenly_read_jvp). Where the result is NaN,
    PyTorch's tangent is NaN (0/0) and kiln's the mean of the NaNs' tangents for median:
    the one place the two differ, on a NaN output."""
    primal, tangent = BATCH[row], TANGENTS[row]
    _, expected = torch.func.jvp(
        getattr(torch, name), (torch.tensor(primal),), (torch.tensor(tangent),)
    )
    _, got = kiln.func.jvp(getattr(kiln, name), (kiln.tensor(primal),), (kiln.tensor(tangent),))
    if name == "median" and np.isnan(primal).any():
        assert np.isnan(expected.item())
        assert got.item() == pytest.approx(tangent[np.isnan(primal)].mean())
        return
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
