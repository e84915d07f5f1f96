"""Regression tests of the kiln fixes that the tests/scripts25 scripts needed, each
compared with PyTorch: ``torch.Size`` slices and sums, the RNN repr, the loss nodes' names
(``NllLossBackward0``, ``DivBackward1``), ``gradcheck`` of a transposed input, the
``torch.return_types`` named tuples, ``load_state_dict``'s result, ``fill_diagonal_``,
``isclose`` / ``allclose`` of complex tensors, and the dtype of ``tensor(numpy scalar)``.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import kiln
import kiln.nn.functional as KF

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _same_words(kiln_text: str, torch_text: str) -> None:
    assert kiln_text.replace("kiln.", "torch.") == torch_text


# ------------------------------------------------------------------------------ Size


@pytest.mark.parametrize(
    "expr",
    ["s[1:]", "s[::-1]", "s[:0]", "s + (5,)", "(1,) + s", "s * 2", "2 * s", "s[0]", "s[-1]"],
)
def test_size_slices_sums_and_repeats_are_sizes(expr):
    got = eval(expr, {"s": kiln.Size([2, 3, 4])})
    want = eval(expr, {"s": torch.Size([2, 3, 4])})
    assert type(got).__name__ == type(want).__name__
    _same_words(repr(got), repr(want))


def test_size_plus_list_is_refused_as_by_a_tuple():
    with pytest.raises(TypeError):
        kiln.Size([1]) + [2]
    with pytest.raises(TypeError):
        torch.Size([1]) + [2]


# ------------------------------------------------------------------------------ RNN repr


@pytest.mark.parametrize("kwargs", [{}, {"nonlinearity": "relu"}, {"num_layers": 2, "bias": False}])
def test_rnn_repr_is_pytorchs(kwargs):
    assert repr(kiln.nn.RNN(3, 5, **kwargs)) == repr(torch.nn.RNN(3, 5, **kwargs))
    cell = {"nonlinearity": kwargs["nonlinearity"]} if "nonlinearity" in kwargs else {}
    assert repr(kiln.nn.RNNCell(3, 5, **cell)) == repr(torch.nn.RNNCell(3, 5, **cell))


# ------------------------------------------------------------------------------ loss nodes


def _pair(array, requires_grad=False):
    k = kiln.tensor(array, requires_grad=requires_grad)
    t = torch.tensor(array, requires_grad=requires_grad)
    return k, t


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("targets", [[0, 3, 1, -100, 2], [0, 3, 1, 1, 2], [4, 4, 4, 4, 4]])
def test_nll_and_cross_entropy_nodes_values_and_grads(reduction, weighted, targets):
    rng = np.random.default_rng(len(targets) + weighted)
    logits = rng.standard_normal((5, 5)).astype(np.float32)
    weight = rng.random(5).astype(np.float32) + 0.5 if weighted else None
    for name in ("nll_loss", "cross_entropy"):
        xk, xt = _pair(logits, requires_grad=True)
        kw_k = {"weight": kiln.tensor(weight)} if weighted else {}
        kw_t = {"weight": torch.tensor(weight)} if weighted else {}
        inputs_k = KF.log_softmax(xk, 1) if name == "nll_loss" else xk
        inputs_t = TF.log_softmax(xt, 1) if name == "nll_loss" else xt
        lk = getattr(KF, name)(inputs_k, kiln.tensor(targets), reduction=reduction, **kw_k)
        lt = getattr(TF, name)(inputs_t, torch.tensor(targets), reduction=reduction, **kw_t)
        assert type(lk.grad_fn).__name__ == type(lt.grad_fn).__name__, (name, lt.grad_fn)
        np.testing.assert_allclose(lk.detach().numpy(), lt.detach().numpy(), rtol=1e-5)
        lk.sum().backward()
        lt.sum().backward()
        np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_unbatched_nll_node_edges_to_its_input():
    xk, xt = _pair(np.array([[-1.0, -2.0, -0.5]], dtype=np.float32), requires_grad=True)
    lk = KF.nll_loss(xk[0], kiln.tensor(2), weight=kiln.tensor([1.0, 2.0, 3.0]))
    lt = TF.nll_loss(xt[0], torch.tensor(2), weight=torch.tensor([1.0, 2.0, 3.0]))
    assert type(lk.grad_fn).__name__ == type(lt.grad_fn).__name__ == "NllLossBackward0"
    names = [type(f).__name__ for f, _ in lk.grad_fn.next_functions]
    assert names == [type(f).__name__ for f, _ in lt.grad_fn.next_functions]
    assert lk.item() == pytest.approx(lt.item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_probability_targets(reduction, smoothing):
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    probs = rng.random((4, 3)).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    xk, xt = _pair(logits, requires_grad=True)
    lk = KF.cross_entropy(xk, kiln.tensor(probs), reduction=reduction, label_smoothing=smoothing)
    lt = TF.cross_entropy(xt, torch.tensor(probs), reduction=reduction, label_smoothing=smoothing)
    assert type(lk.grad_fn).__name__ == type(lt.grad_fn).__name__
    chain_k = [type(f).__name__ for f, _ in lk.grad_fn.next_functions]
    assert chain_k == [type(f).__name__ for f, _ in lt.grad_fn.next_functions]
    np.testing.assert_allclose(lk.detach().numpy(), lt.detach().numpy(), rtol=1e-5)
    lk.sum().backward()
    lt.sum().backward()
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------ gradcheck


def test_gradcheck_of_transposed_inputs():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 2))
    b = rng.standard_normal((3, 2))
    for lib in (kiln, torch):
        x = lib.tensor(a, requires_grad=True)
        y = lib.tensor(b).t().detach().requires_grad_()
        assert not y.is_contiguous()
        assert lib.autograd.gradcheck(lib.matmul, (x, y))
        assert lib.autograd.gradgradcheck(lib.matmul, (x, y))
        assert lib.autograd.gradcheck(lib.sin, (y,))


def test_gradcheck_still_finds_a_wrong_gradient_of_a_transposed_input():
    class Wrong(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # (2 * x is right)

    y = kiln.tensor(np.arange(6.0).reshape(2, 3)).t().detach().requires_grad_()
    assert not kiln.autograd.gradcheck(Wrong.apply, (y,), raise_exception=False)


# ------------------------------------------------------------------------------ return_types


@pytest.mark.parametrize(
    "expr",
    [
        "x.max(0)",
        "x.min(1, keepdim=True)",
        "lib.sort(x[0])",
        "x.topk(2)",
        "x.kthvalue(2, 1)",
        "x.median(0)",
        "x.nanmedian(1)",
        "x.mode(1)",
        "x.cummax(1)",
        "x.cummin(0)",
        "lib.aminmax(x)",
        "lib.frexp(x)",
        "lib.histogram(x.flatten(), bins=2)",
    ],
)
def test_return_types_print_as_pytorchs(expr):
    data = [[3.0, 1.0, 2.0], [0.5, 4.0, 4.0]]
    got = eval(expr, {"lib": kiln, "x": kiln.tensor(data)})
    want = eval(expr, {"lib": torch, "x": torch.tensor(data)})
    assert type(got).__name__ == type(want).__name__
    _same_words(repr(got), repr(want))
    assert isinstance(got, tuple) and len(got) == len(want)


def test_return_types_pickle_and_namespace():
    out = kiln.tensor([1.0, 5.0]).max(0)
    back = pickle.loads(pickle.dumps(out))
    assert type(back) is type(out) is kiln.return_types.max
    assert back.indices.item() == 1
    values, indices = kiln.tensor([[2.0, 1.0]]).sort()
    assert indices.tolist() == [[1, 0]]


# ------------------------------------------------------------------------------ load_state_dict


def test_load_state_dict_result_prints_as_pytorchs():
    for lib in (kiln, torch):
        model = lib.nn.Linear(2, 2)
        matched = model.load_state_dict(model.state_dict())
        assert repr(matched) == str(matched) == "<All keys matched successfully>"
        partial = model.load_state_dict({"weight": lib.zeros(2, 2)}, strict=False)
        assert partial.missing_keys == ["bias"] and partial.unexpected_keys == []
        assert "missing_keys=['bias']" in repr(partial)


# ------------------------------------------------------------------------------ fill_diagonal_


@pytest.mark.parametrize(
    "shape,wrap",
    [((3, 3), False), ((7, 3), True), ((7, 3), False), ((3, 5), True), ((2, 2, 2), False)],
)
def test_fill_diagonal(shape, wrap):
    k, t = kiln.zeros(shape), torch.zeros(shape)
    assert k.fill_diagonal_(2.5, wrap=wrap) is k
    t.fill_diagonal_(2.5, wrap=wrap)
    np.testing.assert_array_equal(k.numpy(), t.numpy())
    ki, ti = kiln.ones(shape, dtype=kiln.int64), torch.ones(shape, dtype=torch.int64)
    np.testing.assert_array_equal(ki.fill_diagonal_(-3).numpy(), ti.fill_diagonal_(-3).numpy())


def test_fill_diagonal_errors_and_grad():
    for lib in (kiln, torch):
        with pytest.raises(RuntimeError):
            lib.zeros(3).fill_diagonal_(1.0)
        with pytest.raises(RuntimeError):
            lib.zeros(2, 3, 2).fill_diagonal_(1.0)
    xk, xt = _pair(np.arange(9.0, dtype=np.float32).reshape(3, 3), requires_grad=True)
    yk, yt = xk * 1, xt * 1
    yk.fill_diagonal_(0.0)
    yt.fill_diagonal_(0.0)
    (yk * yk).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_array_equal(xk.grad.numpy(), xt.grad.numpy())


# ------------------------------------------------------------------------------ complex close


def test_isclose_allclose_equal_of_complex():
    a = [1 + 2j, complex("inf"), complex("nan"), 3j, 1e-9j]
    b = [1 + 2.00001j, complex("inf"), complex("nan"), 3.1j, 0j]
    for equal_nan in (False, True):
        got = kiln.isclose(kiln.tensor(a), kiln.tensor(b), equal_nan=equal_nan)
        want = torch.isclose(torch.tensor(a), torch.tensor(b), equal_nan=equal_nan)
        assert got.tolist() == want.tolist()
    assert kiln.allclose(kiln.tensor(a[:1]), kiln.tensor(b[:1]))
    assert not kiln.allclose(kiln.tensor(a[3:4]), kiln.tensor(b[3:4]))
    assert kiln.equal(kiln.tensor(a[:2]), kiln.tensor(a[:2]))
    assert not kiln.tensor(a[:1]).equal(kiln.tensor(b[:1]))


# ------------------------------------------------------------------------------ numpy scalars


@pytest.mark.parametrize(
    "value",
    [
        np.float64(1.5),
        np.float32(1.5),
        np.float16(1.5),
        np.int32(3),
        np.int8(-3),
        np.uint8(3),
        np.bool_(True),
        np.complex64(1j),
        [np.float64(1.0)],
        [np.float64(1.0), 2.0],
        [np.int32(1), 5],
        [np.int32(1), 2.5],
        [np.float16(1.0), 1.0],
        [[np.int16(1)], [2]],
        [True, np.int8(3)],
        [np.array([1.0, 2.0]), np.array([3.0, 4.0])],
        [np.array([1.0, 2.0], dtype=np.float32), [3.0, 4.0]],
        [1.0, 2.0],
        [1, 2],
    ],
)
def test_tensor_of_numpy_scalars_keeps_their_dtype(value):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (PyTorch: a list of arrays is slow)
        want = torch.tensor(value)
    got = kiln.tensor(value)
    assert got.dtype.name == str(want.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert kiln.as_tensor(value).dtype is got.dtype


# ------------------------------------------------------------------------------ small ones


def test_layout_and_mean_error_name_the_dtypes_as_pytorch():
    for lib in (kiln, torch):
        assert lib.zeros(2).layout is lib.strided
        assert repr(lib.strided) == "torch.strided"
    for dt in ("int32", "int64", "uint8", "bool", "int16"):
        with pytest.raises(RuntimeError) as got:
            kiln.zeros(2, dtype=getattr(kiln, dt)).mean()
        with pytest.raises(RuntimeError) as want:
            torch.zeros(2, dtype=getattr(torch, dt)).mean()
        assert str(got.value).startswith(str(want.value))  # (kiln adds its dtype name)


# ------------------------------------------------------------------------------ node names

_NODE_EXPRESSIONS = {
    "masked_fill": "z.masked_fill(m, 0.0)",
    "masked_fill tensor": "z.masked_fill(m, lib.tensor(0.0))",
    "index_fill": "z.index_fill(0, i, 0.0)",
    "scatter src": "z.scatter(0, i, z[:2])",
    "scatter value": "z.scatter(0, i, 0.0)",
    "scatter_add": "z.scatter_add(0, i, z[:2])",
    "index_add": "z.index_add(0, i, z[:2])",
    "index_copy": "z.index_copy(0, i, z[:2])",
    "index_put": "z.index_put((i,), lib.tensor(1.0))",
    "masked_scatter": "z.masked_scatter(m, z)",
    "index_select": "z.index_select(0, i)",
    "take": "z.take(i)",
    "sort": "z.sort()[0]",
    "topk": "z.topk(2)[0]",
    "roll": "z.roll(1)",
    "roll dims": "z.view(1, 3).roll(1, 1)",
    "smooth_l1": "lib.nn.functional.smooth_l1_loss(z, z.detach() * 2)",
    "masked_fill_": "(z * 1).masked_fill_(m, 0.0)",
    "index_add_": "(z * 1).index_add_(0, i, z[:2])",
    "setitem basic": "setitem(z * 1, 0, 5.0)",
    "setitem slice": "setitem(z * 1, slice(1, None), z[:2])",
    "setitem mask": "setitem(z * 1, m, 0.0)",
    "setitem index": "setitem(z * 1, i, 0.0)",
}


def _setitem(x, index, value):
    x[index] = value
    return x


@pytest.mark.parametrize("name", list(_NODE_EXPRESSIONS))
def test_node_names_values_and_grads_as_pytorch(name):
    results = []
    for lib in (kiln, torch):
        z = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        scope = {"lib": lib, "z": z, "setitem": _setitem}
        scope["i"] = lib.tensor([0, 2])
        scope["m"] = lib.tensor([True, False, True])
        out = eval(_NODE_EXPRESSIONS[name], scope)
        (out * lib.arange(1.0, out.numel() + 1).view(out.shape)).sum().backward()
        results.append((type(out.grad_fn).__name__, out.detach().numpy(), z.grad.numpy()))
    (kn, kv, kg), (tn, tv, tg) = results
    assert kn == tn
    np.testing.assert_allclose(kv, tv, rtol=1e-6)
    np.testing.assert_allclose(kg, tg, rtol=1e-6)


def test_custom_function_nodes_are_named_per_function():
    names = []
    for lib in (kiln, torch):

        class Double(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2

        class Triple(Double):
            pass

        x = lib.ones(2, requires_grad=True)
        y, z = Double.apply(x), Triple.apply(x)
        (y + z).sum().backward()
        assert type(y.grad_fn) is Double._backward_cls
        names.append((type(y.grad_fn).__name__, type(z.grad_fn).__name__, repr(y).split("=")[-1]))
        assert x.grad.tolist() == [4.0, 4.0]
    assert names[0] == names[1] == ("DoubleBackward", "TripleBackward", "<DoubleBackward>)")


# ------------------------------------------------------------------------------ lowrank


@pytest.mark.parametrize("shape", [(30, 5), (5, 30)])
def test_svd_and_pca_lowrank_converge_to_pytorchs_values(shape):
    rng = np.random.default_rng(1)
    m, n = shape
    a = rng.standard_normal((m, 3)) @ np.diag([5.0, 3.0, 1.0]) @ rng.standard_normal((3, n))
    kiln.manual_seed(0)
    torch.manual_seed(0)
    for q in (2, 3):
        uk, sk, vk = kiln.svd_lowrank(kiln.tensor(a), q=q, niter=3)
        ut, st, vt = torch.svd_lowrank(torch.tensor(a), q=q, niter=3)
        assert tuple(uk.shape) == tuple(ut.shape) and tuple(vk.shape) == tuple(vt.shape)
        np.testing.assert_allclose(sk.numpy(), st.numpy(), rtol=1e-8)
        # the vectors agree up to sign: |U_k^T U_t| is the identity
        align = np.abs(uk.numpy().T @ ut.numpy())
        np.testing.assert_allclose(align, np.eye(q), atol=1e-6)
        pk = kiln.pca_lowrank(kiln.tensor(a), q=q)
        pt = torch.pca_lowrank(torch.tensor(a), q=q)
        np.testing.assert_allclose(pk[1].numpy(), pt[1].numpy(), rtol=1e-6)
    with pytest.raises(ValueError):
        kiln.pca_lowrank(kiln.tensor(a), q=min(m, n) + 1)


# ------------------------------------------------------------------------------ methods


def test_apply_map_triu_tril_in_place_as_pytorch():
    for lib in (kiln, torch):
        a = lib.tensor([1.0, 2.0])
        assert a.apply_(lambda v: v * 3) is a and a.tolist() == [3.0, 6.0]
        b = lib.tensor([1, 2])
        assert b.apply_(lambda v: v * 3.7).tolist() == [3, 7] and b.dtype == lib.int64
        c = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        assert c.map_(lib.tensor([10.0, 20.0]), lambda x, y: x * y).tolist() == [
            [10.0, 40.0],
            [30.0, 80.0],
        ]
        with pytest.raises(RuntimeError, match="requires grad"):
            lib.ones(2, requires_grad=True).apply_(lambda v: v)
    for name in ("triu_", "tril_"):
        for diagonal in (-1, 0, 1):
            k, t = kiln.ones(3, 4), torch.ones(3, 4)
            assert getattr(k, name)(diagonal) is k
            getattr(t, name)(diagonal)
            np.testing.assert_array_equal(k.numpy(), t.numpy())


# ------------------------------------------------------------------------------ module reprs

_REPRS = [
    "nn.ConvTranspose1d(2, 3, 4, output_padding=1, stride=2)",
    "nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=(1, 0), groups=1)",
    "nn.Conv2d(2, 2, 3, padding=1, padding_mode='reflect')",
    "nn.MaxUnpool2d(2)",
    "nn.MaxUnpool2d((2, 3), stride=1, padding=(1, 0))",
    "nn.MaxUnpool1d(2)",
    "nn.MaxUnpool3d(2, stride=1)",
    "nn.PixelShuffle(2)",
    "nn.PixelUnshuffle(3)",
    "nn.Fold((3, 3), 2)",
    "nn.Unfold(2, stride=2)",
    "nn.RNN(3, 5, nonlinearity='relu', batch_first=True)",
    "nn.RNNCell(3, 5, nonlinearity='relu')",
]


@pytest.mark.parametrize("expr", _REPRS)
def test_module_reprs_as_pytorch(expr):
    assert repr(eval(expr, {"nn": kiln.nn})) == repr(eval(expr, {"nn": torch.nn}))


# ------------------------------------------------------------------------------ scans


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_scans_accumulate_as_pytorchs_cpu_kernels(name, dtype):
    """float32 scans accumulate in float64 (half / bfloat16 in float32): a float32 cumsum
    of 1e5 times 0.1 ends at 10000.0, not 9998.56."""
    n = 20000 if name != "cumprod" else 3000
    rng = np.random.default_rng(0)
    base = {"cumsum": np.full(n, 0.1), "cumprod": 1 + rng.random(n) * 2e-3}
    base["logcumsumexp"] = rng.standard_normal(n)
    values = base[name]
    k = getattr(kiln.tensor(values, dtype=getattr(kiln, dtype)), name)(0)
    t = getattr(torch.tensor(values, dtype=getattr(torch, dtype)), name)(0)
    want = t.float().numpy() if dtype == "bfloat16" else t.numpy()
    got = k.float().numpy() if dtype == "bfloat16" else k.numpy()
    if dtype == "float32":  # (the fix: the same float64 accumulation, bit for bit)
        np.testing.assert_array_equal(got, want)
    else:  # (a log-depth scan: the last bit may differ from PyTorch's sequential loop)
        ulp = {"float64": 1e-12, "float16": 2e-3, "bfloat16": 1.6e-2}[dtype]
        np.testing.assert_allclose(got, want, rtol=ulp, atol=0)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
def test_scan_nodes_and_gradients(name):
    grads, names = [], []
    for lib in (kiln, torch):
        x = lib.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, 2.0]], requires_grad=True)
        y = getattr(x, name)(1)
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        grads.append(x.grad.numpy())
        names.append(type(y.grad_fn).__name__)
    assert names[0] == names[1]
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


# ------------------------------------------------------------------------------ more reprs

_MORE_REPRS = [
    "lib.finfo(lib.float32)",
    "lib.finfo(lib.float16)",
    "lib.finfo(lib.bfloat16)",
    "lib.finfo(lib.float64)",
    "lib.iinfo(lib.int8)",
    "lib.iinfo(lib.int64)",
    "lib.iinfo(lib.uint8)",
    "lib.linalg.slogdet(lib.eye(2) * 2)",
    "lib.linalg.qr(lib.eye(2))",
    "lib.linalg.eigh(lib.eye(2))",
    "lib.linalg.svd(lib.eye(2))",
    "lib.linalg.lstsq(lib.eye(2), lib.ones(2, 1))",
    "lib.linalg.inv_ex(lib.eye(2))",
    "lib.linalg.cholesky_ex(lib.eye(2))",
    "lib.linalg.lu_factor(lib.eye(2))",
    "lib.linalg.eig(lib.eye(2))",
    "D.Categorical(probs=lib.tensor([0.2, 0.8]))",
    "D.Categorical(logits=lib.zeros(2, 3))",
    "D.Bernoulli(probs=lib.tensor([0.3]))",
    "D.Bernoulli(logits=lib.tensor(0.5))",
    "D.Binomial(5, lib.tensor([0.3]))",
    "D.MultivariateNormal(lib.zeros(2), lib.eye(2))",
    "D.MultivariateNormal(lib.zeros(2), scale_tril=lib.eye(2))",
    "D.Beta(lib.tensor([2.0]), lib.tensor([3.0]))",
    "D.OneHotCategorical(lib.ones(3))",
    "D.Normal(lib.zeros(2), 1.0)",
]


@pytest.mark.parametrize("expr", _MORE_REPRS)
def test_info_linalg_results_and_distributions_print_as_pytorch(expr):
    got = eval(expr, {"lib": kiln, "D": kiln.distributions})
    want = eval(expr, {"lib": torch, "D": torch.distributions})
    _same_words(repr(got), repr(want))


# ------------------------------------------------------------------------------ legacy indexes

_LEGACY_INDEXES = [
    "[[0, 1], [1, 0]]",
    "[[1], slice(None), [2]]",
    "[0, None]",
    "[slice(1, None)]",
    "[[0, 1]]",
    "[0, 1]",
    "lib.tensor([1, 0], dtype=lib.uint8)",
    "(slice(None), lib.tensor([1, 0, 1], dtype=lib.uint8))",
]


@pytest.mark.parametrize("index", _LEGACY_INDEXES)
def test_legacy_indexes_read_as_pytorch(index):
    """A list holding sequences / slices / None is a tuple of indices, a uint8 tensor a
    mask (deprecated in PyTorch, still its meaning): kiln read both differently, silently."""
    import warnings

    results = []
    for lib in (kiln, torch):
        x = lib.arange(24).view(2, 3, 4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idx = eval(index, {"lib": lib})
            got = x[idx]
            y = x.clone()
            try:
                y[idx] = -1  # (a uint8 mask with one value: PyTorch's masked_fill_ refuses it)
                written = y.numpy()
            except RuntimeError as exc:
                written = str(exc)
            z = x.clone()
            z[idx] = lib.full(tuple(got.shape), -2)
        results.append((got.numpy(), written, z.numpy()))
    for k, t in zip(*results):
        np.testing.assert_array_equal(k, t)


# ------------------------------------------------------------------------------ random API


def test_bernoulli_with_p_poisson_and_multinomial_errors():
    for lib in (kiln, torch):
        x = lib.full((4,), 0.5, dtype=lib.float64)
        assert lib.bernoulli(x, 1.0).tolist() == [1.0] * 4
        assert lib.bernoulli(x, p=0.0).dtype == lib.float64
        drawn = lib.poisson(lib.tensor([0.0, 0.0, 3.0, 1e4]))
        assert drawn[:2].tolist() == [0.0, 0.0] and drawn.dtype == lib.float32
        assert 9000 < drawn[3].item() < 11000
        with pytest.raises(RuntimeError, match="without replacement"):
            lib.multinomial(lib.ones(3), 5)
        # (too few nonzero probabilities: no error; the zero ones fill up, distinct)
        drawn = lib.multinomial(lib.tensor([0.0, 1.0, 0.0, 0.0]), 3).tolist()
        assert drawn[0] == 1 and len(set(drawn)) == 3 and set(drawn) <= {0, 1, 2, 3}
    g1, g2 = kiln.Generator().manual_seed(5), kiln.Generator().manual_seed(5)
    rates = kiln.full((50,), 2.5)
    assert kiln.equal(kiln.poisson(rates, g1), kiln.poisson(rates, g2))  # (seeded: repeatable)


def test_bool_of_a_tensor_errors_as_pytorch():
    for values in ([], [1.0, 2.0], [[1, 2], [3, 4]]):
        with pytest.raises(RuntimeError) as got:
            bool(kiln.tensor(values))
        with pytest.raises(RuntimeError) as want:
            bool(torch.tensor(values))
        assert str(got.value) == str(want.value)
    assert bool(kiln.tensor([[2.0]])) and not bool(kiln.tensor(0))
