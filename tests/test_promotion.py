"""PyTorch's type promotion: dimensioned tensors, zero-dim tensors and Python scalars."""

import pytest

import kiln

f32, f64, i32, i64, b = kiln.float32, kiln.float64, kiln.int32, kiln.int64, kiln.bool


def t(dtype, zero_dim=False):
    return kiln.ones((), dtype=dtype) if zero_dim else kiln.ones(2, dtype=dtype)


CASES = [
    # (left, right, expected result dtype of a + b)
    (t(f32), t(f64), f64),
    (t(f32), t(i64), f32),  # a float category wins outright, whatever the width
    (t(i64), t(f32), f32),
    (t(i32), t(i64), i64),
    (t(b), t(i32), i32),
    (t(f32), t(f64, True), f32),  # zero-dim tensors of the same category do not widen
    (t(i32), t(i64, True), i32),
    (t(i64), t(f64, True), f64),  # ... but a higher category does count, at its dtype
    (t(f32), 2.5, f32),
    (t(f64), 2, f64),
    (t(i32), 2, i32),
    (t(i32), 2.5, f32),  # Python float -> the default float dtype
    (t(b), 1, i64),
    (t(b), True, b),
    (t(f64, True), 2.5, f64),
]


@pytest.mark.parametrize("a, other, expected", CASES, ids=range(len(CASES)))
def test_add_result_dtype(a, other, expected):
    assert (a + other).dtype is expected
    assert (other + a).dtype is expected


@pytest.mark.parametrize("a, other, expected", CASES, ids=range(len(CASES)))
def test_jit_gives_the_same_dtype(a, other, expected):
    if not isinstance(other, kiln.Tensor):
        return
    assert kiln.jit(lambda x, y: x + y)(a, other).dtype is expected


def test_division_and_comparisons():
    assert (t(i64) / t(i64)).dtype is f32  # true division of integers gives floats
    assert (t(i64) // 2).dtype is i64
    assert (t(f32) < t(i64)).dtype is b
    assert kiln.tensor([1, 2]).sum().dtype is i64
    assert kiln.tensor([True, False]).sum().dtype is i64
    assert kiln.tensor([1.0]).dtype is f32
    assert kiln.tensor([1]).dtype is i64
    assert kiln.arange(3).dtype is i64 and kiln.arange(3.0).dtype is f32


def test_integer_power_follows_pytorch():
    assert kiln.tensor([2, 1, -1]).pow(kiln.tensor([-1, -2, -3])).tolist() == [0, 1, -1]
    assert (kiln.tensor([2, 3]) ** 2).dtype is i64
    assert (kiln.tensor([2, 3]) ** 0.5).dtype is f32
    with pytest.raises(RuntimeError, match="negative integer powers"):
        kiln.tensor([2]) ** -1


def test_bool_subtraction_is_an_error():
    with pytest.raises(RuntimeError, match="bool tensor is not supported"):
        kiln.tensor([True]) - kiln.tensor([False])


def test_inplace_cannot_downcast_category():
    x = kiln.ones(2, dtype=kiln.int64)
    with pytest.raises(RuntimeError, match="can't be cast"):
        x.add_(1.5)
    y = kiln.ones(2)
    y.add_(kiln.ones(2, dtype=kiln.float64))
    assert y.dtype is f32
