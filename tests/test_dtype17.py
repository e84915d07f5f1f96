"""PyTorch's dtype semantics at the edges (issue 14): each case runs in kiln and in torch and
must give the same dtype and values (NaN where NaN, the sign of zero), or the same
exception class."""

import math
import warnings

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

nan, inf = math.nan, math.inf

CASES = {
    "where_nonbool": lambda m: m.where(
        m.tensor([1, 0]), m.tensor([1.0, 2.0]), m.tensor([3.0, 4.0])
    ),
    "where_u8": lambda m: m.where(
        m.tensor([1, 0], dtype=m.uint8), m.tensor([1.0, 2.0]), m.tensor([3.0, 4.0])
    ),
    "u8_plus_300": lambda m: m.tensor([1, 2], dtype=m.uint8) + 300,
    "i8_plus_300": lambda m: m.tensor([1, 2], dtype=m.int8) + 300,
    "u8_mul_-1": lambda m: m.tensor([1, 2], dtype=m.uint8) * -1,
    "u8_fill_300": lambda m: m.tensor([1, 2], dtype=m.uint8).fill_(300),
    "full_u8_300": lambda m: m.full((2,), 300, dtype=m.uint8),
    "full_u8_-1": lambda m: m.full((2,), -1, dtype=m.uint8),
    "full_i8_128": lambda m: m.full((2,), 128, dtype=m.int8),
    "linspace_bool": lambda m: m.linspace(0, 1, 5, dtype=m.bool),
    "add_i32_overflow": lambda m: m.tensor([2**31 - 1], dtype=m.int32) + 1,
    "mul_i64_overflow": lambda m: m.tensor([2**62], dtype=m.int64) * 4,
    "sum_u8": lambda m: m.tensor([200, 100], dtype=m.uint8).sum(),
    "sum_i32": lambda m: m.tensor([2**31 - 1, 5], dtype=m.int32).sum(),
    "cumsum_u8": lambda m: m.tensor([200, 100], dtype=m.uint8).cumsum(0),
    "cumsum_i32": lambda m: m.tensor([2**31 - 1, 5], dtype=m.int32).cumsum(0),
    "prod_i32": lambda m: m.tensor([2**20, 2**20], dtype=m.int32).prod(),
    "prod_u8": lambda m: m.tensor([20, 20], dtype=m.uint8).prod(),
    "div0_int_floor": lambda m: m.floor_divide(m.tensor([1, 2]), m.tensor([0, 1])),
    "div0_int_trunc": lambda m: m.div(m.tensor([1, 2]), m.tensor([0, 1]), rounding_mode="trunc"),
    "rem0_int": lambda m: m.remainder(m.tensor([1, 2]), m.tensor([0, 1])),
    "fmod0_int": lambda m: m.fmod(m.tensor([1, 2]), m.tensor([0, 1])),
    "rem0_scalar": lambda m: m.tensor([1, 2]) % 0,
    "floordiv0_scalar": lambda m: m.tensor([1, 2]) // 0,
    "truediv_int": lambda m: m.tensor([1, 2]) / m.tensor([0, 4]),
    "pow_int_neg": lambda m: m.tensor([2, 3]) ** -1,
    "pow_int_negtensor": lambda m: m.tensor([2, 3]) ** m.tensor([-1, 2]),
    "pow_scalar_int_neg": lambda m: m.pow(2, m.tensor([-1, 2])),
    "bitand_bool": lambda m: m.tensor([True, False]) & m.tensor([True, True]),
    "bitnot_bool": lambda m: ~m.tensor([True, False]),
    "bitnot_u8": lambda m: ~m.tensor([0, 5], dtype=m.uint8),
    "shl_u8": lambda m: m.tensor([200], dtype=m.uint8) << 1,
    "shl_neg": lambda m: m.tensor([8]) << -1,
    "shr_neg": lambda m: m.tensor([8]) >> -1,
    "shl_big": lambda m: m.tensor([8]) << 70,
    "shr_big": lambda m: m.tensor([-8]) >> 70,
    "shl_i8_big": lambda m: m.tensor([1], dtype=m.int8) << 9,
    "bitand_float": lambda m: m.tensor([1.0]) & m.tensor([1.0]),
    "shl_bool": lambda m: m.tensor([True]) << 1,
    "abs_u8": lambda m: m.tensor([200], dtype=m.uint8).abs(),
    "neg_u8": lambda m: -m.tensor([200], dtype=m.uint8),
    "abs_intmin": lambda m: m.tensor([-(2**63)]).abs(),
    "neg_i32min": lambda m: -m.tensor([-(2**31)], dtype=m.int32),
    "neg_bool": lambda m: -m.tensor([True]),
    "round_half_even": lambda m: m.tensor([0.5, 1.5, 2.5, -0.5, -2.5]).round(),
    "round_decimals": lambda m: m.tensor([0.125, 0.375, 2.675]).round(decimals=2),
    "round_int": lambda m: m.tensor([3]).round(),
    "sign_special": lambda m: m.tensor([-0.0, nan, 0.0, -inf]).sign(),
    "sgn_special": lambda m: m.tensor([-0.0, nan, 0.0, -inf]).sgn(),
    "signbit": lambda m: m.tensor([-0.0, nan, -nan]).signbit(),
    "clamp_minmax": lambda m: m.tensor([0.0, 5.0, 10.0]).clamp(7, 3),
    "clamp_nan": lambda m: m.tensor([nan, 1.0]).clamp(0, 0.5),
    "clamp_nanbound": lambda m: m.tensor([2.0, 1.0]).clamp(min=nan),
    "min_nan": lambda m: m.tensor([1.0, nan, 0.0]).min(),
    "max_nan": lambda m: m.tensor([1.0, nan, 0.0]).max(),
    "amax_nan": lambda m: m.tensor([[1.0, nan], [0.0, 1.0]]).amax(0),
    "maxdim_nan": lambda m: m.tensor([1.0, nan, nan, 0.0]).max(0),
    "argmax_nan": lambda m: m.tensor([1.0, nan, nan, 0.0]).argmax(),
    "argmin_nan": lambda m: m.tensor([1.0, nan, nan, 0.0]).argmin(),
    "argmax_tie": lambda m: m.tensor([1.0, 3.0, 3.0, 0.0]).argmax(),
    "argmin_tie": lambda m: m.tensor([1.0, 0.0, 3.0, 0.0]).argmin(),
    "sort_nan": lambda m: m.tensor([1.0, nan, -inf, 0.0, nan]).sort(),
    "sort_desc_nan": lambda m: m.tensor([1.0, nan, -inf, 0.0]).sort(descending=True),
    "topk_nan": lambda m: m.tensor([1.0, nan, -inf, 0.0]).topk(2),
    "maximum_nan": lambda m: m.maximum(m.tensor([1.0, nan]), m.tensor([nan, 0.0])),
    "fmax_nan": lambda m: m.fmax(m.tensor([1.0, nan]), m.tensor([nan, 0.0])),
    "to_int_nan": lambda m: m.tensor([nan, inf, -inf, 1e20, -1e20, 2.7, -2.7]).to(m.int64),
    "to_i32_nan": lambda m: m.tensor([nan, inf, -inf, 1e20, -1e20, 2.7, -2.7]).to(m.int32),
    "to_u8_float": lambda m: m.tensor([300.5, -1.5, 255.9, 256.0]).to(m.uint8),
    "to_i8_float": lambda m: m.tensor([300.5, -129.0, 127.9]).to(m.int8),
    "to_bool_nan": lambda m: m.tensor([nan, 0.0, -0.0]).to(m.bool),
    "to_u8_neg_int": lambda m: m.tensor([-1, 256, 511]).to(m.uint8),
    "i8_plus_i8_overflow": lambda m: m.tensor([100], dtype=m.int8) + m.tensor([100], dtype=m.int8),
    "u8_minus_u8": lambda m: m.tensor([1], dtype=m.uint8) - m.tensor([2], dtype=m.uint8),
    "i64_floordiv_neg": lambda m: m.tensor([-7]) // 2,
    "i64_rem_neg": lambda m: m.tensor([-7]) % 2,
    "i64_fmod_neg": lambda m: m.fmod(m.tensor([-7]), 2),
    "intmin_div_neg1": lambda m: m.div(m.tensor([-(2**63)]), -1, rounding_mode="floor"),
    "floordiv_i64_big": lambda m: m.tensor([2**62 + 1]) // 3,
}


def _outcome(m, fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            r = fn(m)
        except Exception as e:  # noqa: BLE001 - the class is what is compared
            return ("error", type(e).__name__, str(e))
    rs = r if isinstance(r, tuple) else (r,)
    out = []
    for x in rs:
        if isinstance(x, m.Tensor):
            arr = x.detach().float().numpy() if x.is_floating_point() else x.detach().numpy()
            out.append((str(x.dtype).split(".")[1], arr))
        else:
            out.append(("python", np.asarray(x)))
    return ("ok", out)


def _same_values(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(a)
        np.testing.assert_array_equal(a[ok], b[ok])
        np.testing.assert_array_equal(np.signbit(a[ok]), np.signbit(b[ok]))
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(CASES))
def test_edge_matches_torch(name):
    k, t = _outcome(kiln, CASES[name]), _outcome(torch, CASES[name])
    assert k[0] == t[0], (k, t)
    if k[0] == "error":
        assert k[1] == t[1], (k, t)
        return
    assert [d for d, _ in k[1]] == [d for d, _ in t[1]]
    for (_, a), (_, b) in zip(k[1], t[1]):
        _same_values(a, b)


def test_messages_name_the_problem_like_torch():
    with pytest.raises(RuntimeError, match="boolean tensor, but got a tensor with dtype Long"):
        kiln.where(kiln.tensor([1, 0]), kiln.ones(2), kiln.zeros(2))
    with pytest.warns(UserWarning, match="uint8 condition"):
        kiln.where(kiln.tensor([1, 0], dtype=kiln.uint8), kiln.ones(2), kiln.zeros(2))
    with pytest.raises(RuntimeError, match="uint8_t without overflow"):
        kiln.full((2,), 300, dtype=kiln.uint8)
    with pytest.raises(RuntimeError, match="int8_t without overflow"):
        kiln.zeros(2, dtype=kiln.int8).fill_(128)
    with pytest.raises(NotImplementedError, match="linspace_cpu"):
        kiln.linspace(0, 1, 3, dtype=kiln.bool)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        kiln.tensor([1]) // 0
    with pytest.raises(OverflowError):
        kiln.tensor([1], dtype=kiln.uint8) + 2**64


def test_scalar_wrap_under_jit_matches_eager():
    @kiln.jit
    def f(x):
        return x + 300

    x = kiln.tensor([1, 250], dtype=kiln.uint8)
    assert f(x).tolist() == (x + 300).tolist() == [45, 38]


def test_exact_int64_division_matches_torch():
    rng = np.random.default_rng(0)
    a = rng.integers(-(2**63), 2**63 - 1, 400, dtype=np.int64)
    b = rng.integers(-(2**40), 2**40, 400, dtype=np.int64)
    b[:100] = rng.integers(-5, 5, 100)
    b[b == 0] = 3
    for fn in (
        lambda m, x, y: m.div(x, y, rounding_mode="floor"),
        lambda m, x, y: m.div(x, y, rounding_mode="trunc"),
        lambda m, x, y: m.remainder(x, y),
        lambda m, x, y: m.fmod(x, y),
        lambda m, x, y: x // y,
    ):
        k = fn(kiln, kiln.tensor(a), kiln.tensor(b)).numpy()
        t = fn(torch, torch.tensor(a), torch.tensor(b)).numpy()
        np.testing.assert_array_equal(k, t)
