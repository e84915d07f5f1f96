"""bfloat16 and float16 under kiln.jit, float16 arithmetic as PyTorch's, and autocast's op
lists (issue 14).

1. kiln.jit / kiln.compile trace a bfloat16 (float16) op as eager mode runs it: inputs cast
   to float32, the op in float32, the result cast back (dispatch._traced_in_float32), so a
   compiled function, its gradients and an optimizer step on a bfloat16 model equal eager
   mode bit for bit.
2. float16 ops compute in float32 and round once (PyTorch's CPU kernels); compared with
   torch per op, and the differential table of tests/test_torch_differential.py run on
   float16 and bfloat16.
3. Under ``kiln.autocast("cpu", dtype=...)`` every op's result dtype is torch's (its
   lower-precision list, its float32 list, the promote list and ops on neither list).
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

import kiln
import kiln.nn as nn
import kiln.nn.functional as F

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")

LOW = ("bfloat16", "float16")
ULP = {"bfloat16": 2.0**-7, "float16": 2.0**-10}


def _np(t):
    """A tensor's values as float32 (bfloat16, float16) or as they are."""
    t = t.detach()
    if t.dtype in (kiln.bfloat16, kiln.float16) or t.dtype in (torch.bfloat16, torch.float16):
        return t.float().numpy()
    return t.numpy()


def _low(lib, array, dtype):
    return lib.tensor(np.asarray(array, np.float32)).to(getattr(lib, dtype))


def _ordered_bits(values: np.ndarray, dtype: str) -> np.ndarray:
    """The 16-bit patterns of ``values`` (exact in ``dtype``) as ordered integers: adjacent
    representable numbers differ by 1 (both zeros are 0)."""
    npd = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    bits = np.asarray(values, np.float32).astype(npd).view(np.uint16).astype(np.int64)
    return np.where(bits & 0x8000, -(bits & 0x7FFF), bits)


def _ulps_apart(got: np.ndarray, want: np.ndarray, dtype: str) -> np.ndarray:
    """How many ``dtype`` steps each element of ``got`` is from ``want`` (NaN where NaN
    must be matched: checked by the caller)."""
    nan = np.isnan(want)
    g, w = np.where(nan, 0, got), np.where(nan, 0, want)
    return np.abs(_ordered_bits(g, dtype) - _ordered_bits(w, dtype))


# ------------------------------------------------------------------ 1. kiln.jit on 16 bits


def _forward_cases():
    rng = np.random.default_rng(1)
    a = rng.uniform(-3, 3, (6, 8)).astype(np.float32)
    b = rng.uniform(-3, 3, (6, 8)).astype(np.float32)
    m = rng.uniform(-1, 1, (8, 5)).astype(np.float32)
    return [
        ("chain", lambda x, y, w: (x * 3 / 7).exp() - y.sigmoid() * 1.3 + 0.5, (a, b, m)),
        ("reduce", lambda x, y, w: x.sum(1) + y.mean() - x.amax(0).sum(), (a, b, m)),
        ("matmul", lambda x, y, w: (x @ w).tanh() + (y @ w), (a, b, m)),
        ("softmax", lambda x, y, w: x.softmax(1) * y.log_softmax(0), (a, b, m)),
        ("gelu_norm", lambda x, y, w: F.layer_norm(F.gelu(x), (8,)) + F.silu(y), (a, b, m)),
        ("views", lambda x, y, w: x.t()[1:4].reshape(-1) * y.t()[2:5].flatten(), (a, b, m)),
        ("compare", lambda x, y, w: kiln.where(x > y, x, y * 2) + (x < 0).float(), (a, b, m)),
        (
            "casts",
            lambda x, y, w: x.double().sum() + y.float().sum() + x.half().float().sum(),
            (a, b, m),
        ),  # noqa: E501
    ]


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("case", _forward_cases(), ids=lambda c: c[0])
def test_jit_forward_equals_eager_bit_for_bit(case, dtype):
    _, fn, arrays = case
    args = [_low(kiln, a, dtype) for a in arrays]
    want = fn(*args)
    for compiled in (kiln.jit(fn), kiln.compile(fn)):
        got = compiled(*args)
        assert got.dtype is want.dtype
        np.testing.assert_array_equal(_np(got), _np(want))


@pytest.mark.parametrize("dtype", LOW)
def test_traced_graph_rounds_where_eager_rounds(dtype):
    """Every float32 op on 16-bit values is followed by a cast back; only cast, input and
    view nodes have a 16-bit type (the kernels compute float32)."""

    def f(x, y):
        return ((x * 3) / y).exp().sum(1)

    x = _low(kiln, np.ones((2, 3)), dtype)
    graph = kiln.trace(f, x, x)
    nodes = list(graph.nodes)
    short = {"float32": "f32"}
    for node in nodes:
        if node.dtype == dtype:
            assert node.op in ("cast", "input", "const", "reshape", "permute", "slice", "expand")
        if node.op in ("mul", "div", "exp", "sum"):
            assert node.dtype == "float32", short
            users = [n for n in nodes if node in n.inputs]
            assert [(u.op, u.params.get("dtype")) for u in users] == [("cast", dtype)]
    assert sum(n.op in ("mul", "div", "exp", "sum") for n in nodes) == 4


@pytest.mark.parametrize("dtype", LOW)
def test_jit_gradients_equal_eager(dtype):
    rng = np.random.default_rng(2)
    a = rng.uniform(-2, 2, (4, 6)).astype(np.float32)
    w = rng.uniform(-1, 1, (6, 3)).astype(np.float32)

    def loss(x, w):
        return (F.gelu(x @ w) * x.sum(1, keepdim=True)).pow(2).mean()

    grads = []
    for mode in ("eager", "jit"):
        x = _low(kiln, a, dtype).requires_grad_()
        wt = _low(kiln, w, dtype).requires_grad_()
        out = (kiln.jit(loss) if mode == "jit" else loss)(x, wt)
        out.backward()
        grads.append((_np(out), _np(x.grad), _np(wt.grad), x.grad.dtype, wt.grad.dtype))
    for e, j in zip(grads[0], grads[1]):
        if isinstance(e, np.ndarray):
            np.testing.assert_array_equal(j, e)
        else:
            assert e is j and e is getattr(kiln, dtype)


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize(
    "opt", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 1e-2}), ("AdamW", {"lr": 1e-2})]
)
def test_compiled_training_step_on_a_16_bit_model_equals_eager(opt, dtype):
    """``model.to(kiln.bfloat16)``: a jitted step (forward, backward, optimizer update)
    leaves the same parameters and losses as the eager step, bit for bit."""
    low = getattr(kiln, dtype)
    x = kiln.randn(5, 6).to(low)
    y = kiln.randn(5, 3).to(low)
    runs = []
    for mode in ("eager", "jit"):
        kiln.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3)).to(low)
        optimizer = getattr(kiln.optim, opt[0])(model.parameters(), **opt[1])

        def step(x, y, model=model, optimizer=optimizer):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        run = kiln.jit(step) if mode == "jit" else step
        losses = [_np(run(x, y)) for _ in range(3)]
        params = [(p.dtype, _np(p)) for p in model.parameters()]
        runs.append((losses, params))
    (el, ep), (jl, jp) = runs
    np.testing.assert_array_equal(np.array(jl), np.array(el))
    assert len(ep) == len(jp) == 4
    for (ed, ev), (jd, jv) in zip(ep, jp):
        assert ed is jd is low
        np.testing.assert_array_equal(jv, ev)
    if dtype == "float16" and opt[0] != "SGD":
        # as torch's: Adam's eps=1e-8 is 0 in float16, and 0/0 makes the parameters NaN
        assert np.isnan(el[-1])
    else:
        assert el[-1] < el[0]  # it trained


def test_eager_bfloat16_training_step_is_torchs():
    """The eager step that the jitted one equals is PyTorch's bfloat16 step (to a few ulps:
    the matmuls' float32 accumulation order differs)."""
    rng = np.random.default_rng(3)
    w1, b1 = rng.standard_normal((8, 6)) * 0.3, rng.standard_normal(8) * 0.1
    w2, b2 = rng.standard_normal((3, 8)) * 0.3, rng.standard_normal(3) * 0.1
    x, y = rng.standard_normal((5, 6)), rng.standard_normal((5, 3))
    results = []
    for lib in (kiln, torch):
        params = [_low(lib, v, "bfloat16").requires_grad_() for v in (w1, b1, w2, b2)]
        optimizer = lib.optim.SGD(params, lr=0.1)
        xb, yb = _low(lib, x, "bfloat16"), _low(lib, y, "bfloat16")
        for _ in range(3):
            optimizer.zero_grad()
            h = lib.nn.functional.gelu(lib.nn.functional.linear(xb, params[0], params[1]))
            loss = lib.nn.functional.mse_loss(lib.nn.functional.linear(h, params[2], params[3]), yb)
            loss.backward()
            optimizer.step()
        results.append([_np(p) for p in params])
    for k, t in zip(*results):
        np.testing.assert_allclose(k, t, rtol=2**-6, atol=2**-8)


@pytest.mark.parametrize("dtype", LOW)
def test_views_of_16_bit_tensors_write_through(dtype):
    """An in-place update of a view reaches its base (a bfloat16 view was a float32 round
    trip copy, so the update was lost)."""
    for lib in (kiln, torch):
        x = lib.zeros(2, 3, dtype=getattr(lib, dtype))
        x[0].add_(1)
        x.view(6)[4:5].fill_(5)
        x.t()[2].mul_(3)
        if lib is kiln:
            got = _np(x)
        else:
            want = _np(x)
    np.testing.assert_array_equal(got, want)
    assert got[1, 1] == 5


# ------------------------------------------------------------------ 2. float16 as torch


def _per_op_cases():
    rng = np.random.default_rng(0)

    def arr(*shape, lo=-3.0, hi=3.0):
        return rng.uniform(lo, hi, shape).astype(np.float32)

    a, b, p = arr(16, 33), arr(16, 33), arr(16, 33, lo=0.1, hi=5)
    m, v = arr(33, 7), arr(33)
    b3, c3, d3 = arr(4, 5, 6), arr(4, 6, 3), arr(4, 5, 3)
    w3 = arr(3, 5, 2)

    def t(lib, x, dtype):
        return _low(lib, x, dtype)

    cases = []
    unary = "exp log sqrt sin cos tanh atan expm1 log1p log2 log10 exp2 sigmoid reciprocal"
    for name in (unary + " tan asinh cosh square floor ceil trunc round relu").split():
        src = p if name.startswith("log") or name in ("sqrt", "reciprocal") else a
        cases.append((name, lambda lib, d, n=name, s=src: getattr(lib, n)(t(lib, s, d))))
    for name in "add sub mul div atan2 hypot fmod remainder maximum minimum pow logaddexp".split():
        first = p if name == "pow" else a
        cases.append(
            (name, lambda lib, d, n=name, f=first: getattr(lib, n)(t(lib, f, d), t(lib, b, d)))
        )
    fn = lambda lib: lib.nn.functional  # noqa: E731
    cases += [
        ("sum", lambda lib, d: t(lib, a, d).sum()),
        ("sum_dim", lambda lib, d: t(lib, a, d).sum(1)),
        ("mean", lambda lib, d: t(lib, a, d).mean(0)),
        ("var", lambda lib, d: t(lib, a, d).var(1)),
        ("std", lambda lib, d: t(lib, a, d).std(0)),
        ("norm", lambda lib, d: t(lib, a, d).norm()),
        ("softmax", lambda lib, d: lib.softmax(t(lib, a, d), 1)),
        ("logsumexp", lambda lib, d: lib.logsumexp(t(lib, a, d), 1)),
        ("cumsum", lambda lib, d: t(lib, a, d).cumsum(1)),
        ("matmul", lambda lib, d: t(lib, a, d) @ t(lib, m, d)),
        ("mv", lambda lib, d: t(lib, a, d) @ t(lib, v, d)),
        ("bmm", lambda lib, d: lib.bmm(t(lib, b3, d), t(lib, c3, d))),
        ("einsum", lambda lib, d: lib.einsum("ij,jk->ik", t(lib, a, d), t(lib, m, d))),
        ("linear", lambda lib, d: fn(lib).linear(t(lib, a, d), t(lib, m.T, d), t(lib, m[0], d))),
        ("addmm", lambda lib, d: lib.addmm(t(lib, a[:, :7], d), t(lib, a, d), t(lib, m, d))),
        ("baddbmm", lambda lib, d: lib.baddbmm(t(lib, d3, d), t(lib, b3, d), t(lib, c3, d))),
        ("addmv", lambda lib, d: lib.addmv(t(lib, a[:, 0], d), t(lib, a, d), t(lib, v, d))),
        ("addbmm", lambda lib, d: lib.addbmm(t(lib, d3[0], d), t(lib, b3, d), t(lib, c3, d))),
        (
            "addbmm_scaled",
            lambda lib, d: lib.addbmm(
                t(lib, c3[0, 0], d), t(lib, b3, d), t(lib, c3, d), beta=0.5, alpha=2
            ),
        ),  # noqa: E501
        ("xlogy", lambda lib, d: lib.xlogy(t(lib, p, d), t(lib, b, d))),
        ("xlogy_scalar", lambda lib, d: lib.xlogy(t(lib, a, d), 2.7)),
        ("gelu", lambda lib, d: fn(lib).gelu(t(lib, a, d))),
        ("silu", lambda lib, d: fn(lib).silu(t(lib, a, d))),
        ("mish", lambda lib, d: fn(lib).mish(t(lib, a, d))),
        ("hardswish", lambda lib, d: fn(lib).hardswish(t(lib, a, d))),
        ("layer_norm", lambda lib, d: fn(lib).layer_norm(t(lib, a, d), (33,))),
        ("group_norm", lambda lib, d: fn(lib).group_norm(t(lib, b3, d), 1)),
        ("rms_norm", lambda lib, d: fn(lib).rms_norm(t(lib, a, d), (33,))),
        ("sdpa", lambda lib, d: fn(lib).scaled_dot_product_attention(*[t(lib, b3, d)] * 3)),
        ("conv1d", lambda lib, d: fn(lib).conv1d(t(lib, b3, d), t(lib, w3, d))),
        ("sinc", lambda lib, d: lib.sinc(t(lib, a, d))),
        ("mul_scalar", lambda lib, d: t(lib, a, d) * 1.3),
        ("div_scalar", lambda lib, d: t(lib, a, d) / 7),
        ("lerp", lambda lib, d: lib.lerp(t(lib, a, d), t(lib, b, d), 0.3)),
        (
            "addcmul",
            lambda lib, d: lib.addcmul(t(lib, a, d), t(lib, b, d), t(lib, p, d), value=0.7),
        ),  # noqa: E501
        (
            "addcdiv",
            lambda lib, d: lib.addcdiv(t(lib, a, d), t(lib, b, d), t(lib, p, d), value=0.7),
        ),  # noqa: E501
        ("mse_loss", lambda lib, d: fn(lib).mse_loss(t(lib, a, d), t(lib, b, d))),
    ]
    return cases


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("case", _per_op_cases(), ids=lambda c: c[0])
def test_16_bit_ops_round_once_like_torch(case, dtype):
    """Per op: torch's dtype, and its values computed in float32 and rounded once. Where
    float32 libraries differ in the last bit (libm, BLAS order) an element may land one
    16-bit step away; rounding at each step of a composite put 20-45% of the elements of
    sigmoid, atan2, hypot, gelu, layer_norm, linear, ... one or more steps away."""
    _, call, *_ = case
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want, got = call(torch, dtype), call(kiln, dtype)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1] == dtype
    g, w = _np(got), _np(want)
    assert g.shape == w.shape
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
    apart = _ulps_apart(g, w, dtype)
    assert apart.max(initial=0) <= 1, f"{case[0]}: {apart.max()} steps apart"
    assert (apart > 0).mean() <= 0.02, f"{case[0]}: {(apart > 0).mean():.1%} of elements differ"


def test_float16_arithmetic_is_exact():
    """add/sub/mul/div/sqrt of float16 are correctly rounded: equal to torch everywhere."""
    rng = np.random.default_rng(5)
    a = rng.uniform(-100, 100, 4096).astype(np.float16)
    b = rng.uniform(0.01, 100, 4096).astype(np.float16)
    for name in ("add", "sub", "mul", "div"):
        got = getattr(kiln, name)(kiln.tensor(a), kiln.tensor(b))
        want = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(kiln.tensor(b).sqrt().numpy(), torch.tensor(b).sqrt().numpy())


def test_float64_to_float16_rounds_through_float32_as_torch():
    """``c10::Half`` converts a double through float: 1 + 2**-11 + 2**-40 becomes 1.0 (NumPy's
    direct conversion gives 1.001)."""
    values = [1 + 2**-11 + 2**-40, -(1 + 2**-11 + 2**-40), 2049.0000001, 65519.99, 1e-8, 3.3]
    got = kiln.tensor(values, dtype=kiln.float64).half()
    want = torch.tensor(values, dtype=torch.float64).half()
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.numpy()[0] == 1.0


@pytest.mark.parametrize("dtype", LOW)
def test_rms_norm_default_eps_is_float32s(dtype):
    """PyTorch's default eps for a 16-bit input is float32's (its opmath type), not the
    16-bit type's epsilon: a row of 1e-3 normalizes to ~0.945, not to 0.032."""
    x = np.full((2, 4), 1e-3, np.float32)
    got = F.rms_norm(_low(kiln, x, dtype), (4,))
    want = torch.nn.functional.rms_norm(_low(torch, x, dtype), (4,))
    np.testing.assert_array_equal(_np(got), _np(want))
    assert _np(got)[0, 0] > 0.9


@pytest.mark.parametrize("dtype", LOW)
def test_inplace_activation_on_16_bits(dtype):
    for name in ("silu", "mish", "hardswish"):
        x = _low(kiln, np.linspace(-4, 4, 9), dtype)
        xt = _low(torch, np.linspace(-4, 4, 9), dtype)
        out = getattr(F, name)(x, inplace=True)
        getattr(torch.nn.functional, name)(xt, inplace=True)
        assert out is x
        np.testing.assert_array_equal(_np(x), _np(xt))


# How far a 16-bit result may be from torch's, in steps of the type at the result's own
# magnitude, or (for the rows in ABSOLUTE) at the magnitude max(|torch's|, 1):
# * prod: kiln multiplies pairwise, PyTorch in sequence, each product rounded to 16 bits;
# * log_softmax, normalize: PyTorch's CPU kernels round intermediate results on 16-bit
#   inputs (not once at the end, and not as one formula reproduced here), and x - logsumexp
#   cancels near 0.
STEPS_APART = {"prod": 2}
ABSOLUTE = {"log_softmax": 4, "normalize": 4}
# Results this close to 0 agree whatever their steps (PyTorch's bfloat16 erf of 1e-30 is 0,
# kiln's float32 lgamma(2) is 9.5e-7, not 0).
TINY = 2e-6


def _differential_rows():
    import test_torch_differential as diff

    return [row for row in diff.OPS if "float32" in row[2]]


def _differential_values(shape, dtype, salt=0):
    import test_torch_differential as diff

    rng = np.random.default_rng(zlib.crc32(f"{shape}{dtype}{salt}".encode()))
    pool = np.array(diff.SPECIAL_FLOATS + list(rng.uniform(-5, 5, 32)), np.float32)
    return rng.choice(pool, size=shape)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("row", _differential_rows(), ids=lambda r: r[0])
def test_differential_table_on_16_bit_dtypes(row, dtype, seed):
    """tests/test_torch_differential.py's op table on float16 and bfloat16 (special values
    included: inf, nan, -0.0, 1e30, which overflows float16): torch's dtype, shape, NaNs and
    exception class; values at most one 16-bit step away."""
    name, arity, _, call = row
    shape = (3, 4)
    arrays = [_differential_values(shape, dtype, seed)]
    if arity == 2:
        arrays.append(_differential_values((4,), dtype, seed))
    extra = [1] if "dim" in call.__code__.co_varnames[: call.__code__.co_argcount] else []
    outcomes = []
    for lib in (torch, kiln):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = call(lib, *[_low(lib, a, dtype) for a in arrays], *extra)
            parts = tuple(out) if isinstance(out, tuple) else (out,)
            outcomes.append([(str(p.dtype).split(".")[-1], _np(p)) for p in parts])
        except Exception as exc:  # noqa: BLE001 - the exception's class is the outcome
            outcomes.append(exc)
    want, got = outcomes
    if isinstance(want, Exception):
        assert isinstance(got, Exception), f"{name}: torch raised {want!r}, kiln returned"
        return
    assert not isinstance(got, Exception), f"{name}: kiln raised {got!r}"
    for (gd, gv), (wd, wv) in zip(got, want):
        assert gd == wd and gv.shape == wv.shape, f"{name}: kiln {gd}, torch {wd}"
        if wd in LOW:
            np.testing.assert_array_equal(np.isnan(gv), np.isnan(wv), err_msg=name)
            ok = (_ulps_apart(gv, wv, wd) <= STEPS_APART.get(name, 1)) | np.isnan(wv)
            ok |= (np.abs(gv) <= TINY) & (np.abs(wv) <= TINY)
            if name in ABSOLUTE:
                scale = np.maximum(np.abs(np.nan_to_num(wv, posinf=1, neginf=1)), 1)
                ok |= np.abs(gv - wv) <= ABSOLUTE[name] * ULP[wd] * scale
            assert ok.all(), f"{name}: {gv} vs {wv}"
        else:
            np.testing.assert_array_equal(gv, wv, err_msg=name)


@pytest.mark.parametrize("dtype", LOW)
def test_float16_jit_equals_eager_on_the_op_cases(dtype):
    """The same ops compiled: jit equals eager (which the test above compares with torch)."""
    for name, call in [(c[0], c[1]) for c in _per_op_cases()]:
        if name in ("conv1d",):  # conv reads its weight's shape as Python ints: same path
            continue
        want = call(kiln, dtype)
        got = kiln.jit(lambda c=call: c(kiln, dtype))()
        assert got.dtype is want.dtype, name
        np.testing.assert_array_equal(_np(got), _np(want), err_msg=name)


# ------------------------------------------------------------------ 3. autocast's lists


def _autocast_cases():
    rng = np.random.default_rng(4)
    shapes = dict(
        m=(3, 4), n=(4, 5), c=(3, 5), v=(4,), sq=(4, 4), b1=(2, 3, 4), b2=(2, 4, 5),
        bc=(2, 3, 5), x1=(2, 3, 8), w1=(3, 4, 3), x2=(1, 3, 6, 6), w2=(3, 2, 3, 3),
        x3=(1, 2, 4, 4, 4), w3=(2, 2, 2, 2, 2), q=(2, 3, 4, 8), wl=(5, 4), bl=(5,), p=(3, 4),
    )  # fmt: skip
    data = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    data["p"] = np.abs(data["p"]) / np.abs(data["p"]).sum(1, keepdims=True)
    data["spd"] = data["sq"] @ data["sq"].T + 4 * np.eye(4, dtype=np.float32)

    def f(lib):
        return lib.nn.functional

    return (
        data,
        {
            # PyTorch's lower-precision list
            "addmm": lambda lib, T: lib.addmm(T("c"), T("m"), T("n")),
            "baddbmm": lambda lib, T: lib.baddbmm(T("bc"), T("b1"), T("b2")),
            "addbmm": lambda lib, T: lib.addbmm(T("c"), T("b1"), T("b2")),
            "bmm": lambda lib, T: lib.bmm(T("b1"), T("b2")),
            "mm": lambda lib, T: lib.mm(T("m"), T("n")),
            "matmul_1d": lambda lib, T: lib.matmul(T("v"), T("v")),
            "matmul_1d_2d": lambda lib, T: lib.matmul(T("v"), T("n")),
            "at_operator": lambda lib, T: T("m") @ T("n"),
            "linear_bias": lambda lib, T: f(lib).linear(T("m"), T("wl"), T("bl")),
            "conv_transpose1d": lambda lib, T: f(lib).conv_transpose1d(
                T("x1"), T("w1"), T("w1")[0, :, 0]
            ),  # noqa: E501
            "conv_transpose2d": lambda lib, T: f(lib).conv_transpose2d(T("x2"), T("w2")),
            "conv_transpose3d": lambda lib, T: f(lib).conv_transpose3d(T("x3"), T("w3")),
            "conv1d": lambda lib, T: f(lib).conv1d(T("x1"), T("w1").transpose(0, 1).contiguous()),
            "sdpa": lambda lib, T: f(lib).scaled_dot_product_attention(T("q"), T("q"), T("q")),
            "sdpa_mask": lambda lib, T: f(lib).scaled_dot_product_attention(
                T("q"), T("q"), T("q"), attn_mask=T("sq")[:3, :3]
            ),
            "prelu": lambda lib, T: f(lib).prelu(T("m"), T("v")[:1]),
            "vecdot": lambda lib, T: lib.linalg.vecdot(T("m"), T("m")),
            "einsum_contract": lambda lib, T: lib.einsum("ij,jk->ik", T("m"), T("n")),
            "tensordot": lambda lib, T: lib.tensordot(T("m"), T("n"), dims=1),
            "chain_matmul": lambda lib, T: lib.linalg.multi_dot([T("m"), T("n"), T("n").T]),
            # a float64 operand is not cast: torch's kernels refuse the mix
            "linear_bias64": lambda lib, T: f(lib).linear(T("m"), T("wl"), T("bl").double()),
            "addmm_input64": lambda lib, T: lib.addmm(T("c").double(), T("m"), T("n")),
            "conv_transpose_bias64": lambda lib, T: f(lib).conv_transpose1d(
                T("x1"), T("w1"), T("w1")[0, :, 0].double()
            ),
            "mm_both64": lambda lib, T: lib.mm(T("m").double(), T("n").double()),
            # on neither list, kernels of their own: the inputs' dtype
            "mv": lambda lib, T: lib.mv(T("m"), T("v")),
            "dot": lambda lib, T: lib.dot(T("v"), T("v")),
            "vdot": lambda lib, T: lib.vdot(T("v"), T("v")),
            "inner_1d": lambda lib, T: lib.inner(T("v"), T("v")),
            "outer": lambda lib, T: lib.outer(T("v"), T("v")),
            "addmv": lambda lib, T: lib.addmv(T("m")[:, 0], T("m"), T("v")),
            "add": lambda lib, T: T("m") + T("m"),
            "softmax": lambda lib, T: lib.softmax(T("m"), 1),
            "einsum_outer": lambda lib, T: lib.einsum("i,j->ij", T("v"), T("v")),
            # PyTorch's float32 list
            "prod": lambda lib, T: T("m").prod(),
            "prod_dim": lambda lib, T: T("m").prod(1),
            "trace": lambda lib, T: T("sq").trace(),
            "cdist": lambda lib, T: lib.cdist(T("m"), T("m")),
            "inverse": lambda lib, T: lib.inverse(T("spd")),
            "linalg_inv": lambda lib, T: lib.linalg.inv(T("spd")),
            "linalg_solve": lambda lib, T: lib.linalg.solve(T("spd"), T("n")),
            "linalg_eigvalsh": lambda lib, T: lib.linalg.eigvalsh(T("spd")),
            "linalg_cholesky": lambda lib, T: lib.linalg.cholesky(T("spd")),
            "linalg_qr": lambda lib, T: lib.linalg.qr(T("sq"))[0],
            "linalg_svdvals": lambda lib, T: lib.linalg.svdvals(T("sq")),
            "pinverse": lambda lib, T: lib.pinverse(T("m")),
            "quantile": lambda lib, T: lib.quantile(T("m"), 0.3),
            "kl_div": lambda lib, T: f(lib).kl_div(T("m"), T("p"), reduction="batchmean"),
            "poisson_nll": lambda lib, T: f(lib).poisson_nll_loss(T("m"), T("p")),
            "hinge": lambda lib, T: f(lib).hinge_embedding_loss(T("m"), lib.ones(3, 4)),
            "cosine_embedding": lambda lib, T: f(lib).cosine_embedding_loss(
                T("m"), T("m"), lib.ones(3)
            ),  # noqa: E501
            "triplet": lambda lib, T: f(lib).triplet_margin_loss(T("m"), T("m"), T("m")),
            "multi_margin": lambda lib, T: f(lib).multi_margin_loss(T("m"), lib.tensor([0, 1, 2])),
            "mse": lambda lib, T: f(lib).mse_loss(T("m"), T("p")),
            "cross_entropy": lambda lib, T: f(lib).cross_entropy(T("m"), lib.tensor([0, 1, 2])),
            "avg_pool3d": lambda lib, T: f(lib).avg_pool3d(T("x3"), 2),
            "max_pool3d": lambda lib, T: f(lib).max_pool3d(T("x3"), 2),
            "adaptive_avg_pool3d": lambda lib, T: f(lib).adaptive_avg_pool3d(T("x3"), 2),
            "grid_sample": lambda lib, T: f(lib).grid_sample(
                T("x2"), T("q")[:1, :3, :3, :2], align_corners=False
            ),
            "rfft": lambda lib, T: lib.fft.rfft(T("v")).abs(),
            "fft2": lambda lib, T: lib.fft.fft2(T("sq")).real,
            "irfft": lambda lib, T: lib.fft.irfft(T("v")),
            # the promote list
            "cat_with_float32": lambda lib, T: lib.cat([T("m"), T("m").float()]),
            "stack_with_float32": lambda lib, T: lib.stack([T("m"), T("m").float()]),
            "cat_low": lambda lib, T: lib.cat([T("m"), T("m")]),
            "index_copy": lambda lib, T: T("m").index_copy(0, lib.tensor([0]), T("m")[:1].float()),
        },
    )


_DATA, _AMP_OPS = _autocast_cases()


def _dtype_name(x):
    return str(x.dtype).split(".")[-1]


@pytest.mark.parametrize("inputs", ["float32", "low"])
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("name", sorted(_AMP_OPS))
def test_autocast_result_dtypes_are_torchs(name, dtype, inputs):
    """Inside ``autocast("cpu", dtype)``, on float32 inputs and on inputs already in the
    region's dtype: torch's result dtype, or an exception of torch's class."""
    call = _AMP_OPS[name]
    outcomes = []
    for lib in (torch, kiln):
        in_dtype = getattr(lib, dtype if inputs == "low" else "float32")

        def tensor(key, lib=lib, in_dtype=in_dtype):
            return lib.tensor(_DATA[key]).to(in_dtype)

        try:
            with warnings.catch_warnings(), lib.autocast("cpu", dtype=getattr(lib, dtype)):
                warnings.simplefilter("ignore")
                out = call(lib, tensor)
            outcomes.append(_dtype_name(out))
        except Exception as exc:  # noqa: BLE001
            outcomes.append(type(exc))
    want, got = outcomes
    if isinstance(want, type):
        assert isinstance(got, type) and issubclass(got, next(
            c for c in want.__mro__ if c.__module__ == "builtins"
        )), f"{name}: torch raised {want.__name__}, kiln gave {got}"  # fmt: skip
    else:
        assert got == want, (
            f"{name} in a {dtype} region on {inputs} inputs: kiln {got}, torch {want}"
        )  # noqa: E501


@pytest.mark.parametrize("dtype", LOW)
def test_autocast_values_follow_torch(dtype):
    """Not only the dtype: the lower-precision ops compute what torch computes (operands
    rounded to the region's dtype, one rounding of the float32 result)."""
    for name in ("addmm", "baddbmm", "linear_bias", "conv_transpose2d", "sdpa", "bmm"):
        results = []
        for lib in (torch, kiln):
            with lib.autocast("cpu", dtype=getattr(lib, dtype)):
                results.append(_np(_AMP_OPS[name](lib, lambda k, lib=lib: lib.tensor(_DATA[k]))))
        want, got = results
        np.testing.assert_allclose(got, want, rtol=ULP[dtype] * 2, atol=ULP[dtype] * 4)


def test_autocast_promote_rejects_the_other_16_bit_type():
    for lib in (torch, kiln):
        with lib.autocast("cpu", dtype=lib.bfloat16):
            with pytest.raises(RuntimeError, match="prioritize"):
                lib.cat([lib.ones(2, dtype=lib.float16), lib.ones(2, dtype=lib.bfloat16)])


def test_autocast_as_decorator_nested_and_disabled():
    a = kiln.ones(2, 3)

    @kiln.autocast("cpu", dtype=kiln.float16)
    def half_product(x):
        return x @ x.T

    assert half_product(a).dtype is kiln.float16
    assert (a @ a.T).dtype is kiln.float32  # the decorator's region ends with the call
    with kiln.autocast("cpu", dtype=kiln.bfloat16):
        assert (a @ a.T).dtype is kiln.bfloat16
        assert half_product(a).dtype is kiln.float16  # the innermost region wins
        with kiln.autocast("cpu", enabled=False):
            assert (a @ a.T).dtype is kiln.float32
            assert not kiln.is_autocast_enabled("cpu")
        assert kiln.is_autocast_enabled("cpu")
        assert kiln.get_autocast_dtype("cpu") is kiln.bfloat16
        assert (a @ a.T).dtype is kiln.bfloat16
    assert not kiln.is_autocast_enabled("cpu")
    # torch agrees on each of these
    ta = torch.ones(2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.autocast("cpu", enabled=False):
            assert (ta @ ta.T).dtype is torch.float32
        assert (ta @ ta.T).dtype is torch.bfloat16


@pytest.mark.parametrize("cache_enabled", [True, False, None])
def test_autocast_cache_enabled_changes_no_result(cache_enabled):
    """PyTorch caches the casts of leaf weights inside a region (``cache_enabled``): a
    speed-up with no effect on results; kiln casts anew, with the same values."""
    lin = nn.Linear(4, 3)
    x = kiln.randn(5, 4)
    with kiln.autocast("cpu", dtype=kiln.bfloat16, cache_enabled=cache_enabled):
        first = lin(x)
        second = lin(x)
    with kiln.autocast("cpu", dtype=kiln.bfloat16):
        reference = lin(x)
    assert first.dtype is kiln.bfloat16
    np.testing.assert_array_equal(_np(first), _np(second))
    np.testing.assert_array_equal(_np(first), _np(reference))
    first.float().sum().backward()
    assert lin.weight.grad.dtype is kiln.float32  # the float32 leaf gets its gradient


@pytest.mark.parametrize("dtype", LOW)
def test_jitted_function_with_autocast_inside_has_eager_dtypes_and_values(dtype):
    low = getattr(kiln, dtype)

    def f(x, w, b):
        with kiln.autocast("cpu", dtype=low):
            y = F.linear(x, w, b)
            z = kiln.addmm(b.expand(4, 3), x, w.T)
            attention = F.scaled_dot_product_attention(x[None], x[None], x[None])
            loss = F.mse_loss(y, z)
            return y, z, attention, loss, y.sum(), kiln.mv(x, w[0])

    x, w, b = kiln.randn(4, 8), kiln.randn(3, 8), kiln.randn(3)
    eager = f(x, w, b)
    compiled = kiln.jit(f)(x, w, b)
    assert [t.dtype for t in compiled] == [t.dtype for t in eager]
    assert [t.dtype for t in eager] == [low, low, low, kiln.float32, low, kiln.float32]
    for c, e in zip(compiled, eager):
        np.testing.assert_array_equal(_np(c), _np(e))
    # and torch gives the same dtypes
    tx, tw, tb = (torch.tensor(t.numpy()) for t in (x, w, b))
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        ty = torch.nn.functional.linear(tx, tw, tb)
        tz = torch.addmm(tb.expand(4, 3), tx, tw.T)
        tatt = torch.nn.functional.scaled_dot_product_attention(tx[None], tx[None], tx[None])
        expected = [ty, tz, tatt, torch.nn.functional.mse_loss(ty, tz), ty.sum(), tx.mv(tw[0])]
    assert [_dtype_name(t) for t in eager] == [_dtype_name(t) for t in expected]


def test_jitted_function_called_inside_a_region_retraces():
    @kiln.jit
    def f(a, b):
        return kiln.baddbmm(b, a, a.transpose(1, 2)), kiln.dot(a[0, 0], a[0, 0])

    a, b = kiln.randn(2, 3, 4), kiln.randn(2, 3, 3)
    assert [t.dtype for t in f(a, b)] == [kiln.float32, kiln.float32]
    for low in (kiln.bfloat16, kiln.float16):
        with kiln.autocast("cpu", dtype=low):
            got = f(a, b)
            want = f.__wrapped__(a, b) if hasattr(f, "__wrapped__") else None
        assert [t.dtype for t in got] == [low, kiln.float32]
        if want is not None:
            np.testing.assert_array_equal(_np(got[0]), _np(want[0]))
    assert [t.dtype for t in f(a, b)] == [kiln.float32, kiln.float32]
