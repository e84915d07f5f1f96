"""The autograd graph as PyTorch shows it, saved results, and views (issue 14).

Each graph test builds the same expression in kiln and in torch (the oracle) and compares
``type(grad_fn).__name__`` and the ``next_functions`` structure two levels deep: node
names, output numbers, ``AccumulateGrad`` for leaves, ``None`` for inputs needing no grad.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln


def _exprs():
    def lin_b(b):
        return b[:3]

    return {
        "mean": lambda L, x, w, b, i: x.mean(),
        "mean_dim": lambda L, x, w, b, i: x.mean(1),
        "sum": lambda L, x, w, b, i: x.sum(),
        "sum_dim": lambda L, x, w, b, i: x.sum(0),
        "linear_2d": lambda L, x, w, b, i: L.nn.functional.linear(x, w, lin_b(b)),
        "linear_2d_input_no_grad": lambda L, x, w, b, i: L.nn.functional.linear(
            x.detach(), w, lin_b(b)
        ),
        "linear_no_bias": lambda L, x, w, b, i: L.nn.functional.linear(x, w),
        "nn_linear_module": lambda L, x, w, b, i: L.nn.Linear(4, 2)(x),
        "T": lambda L, x, w, b, i: x.T,
        "t": lambda L, x, w, b, i: x.t(),
        "mT": lambda L, x, w, b, i: x.mT,
        "transpose": lambda L, x, w, b, i: x.transpose(0, 1),
        "permute": lambda L, x, w, b, i: x.permute(1, 0),
        "unsqueeze": lambda L, x, w, b, i: x.unsqueeze(0),
        "squeeze": lambda L, x, w, b, i: x.unsqueeze(0).squeeze(),
        "squeeze_dim": lambda L, x, w, b, i: x.unsqueeze(0).squeeze(0),
        "squeeze_dim_not_one": lambda L, x, w, b, i: x.squeeze(0),
        "stack": lambda L, x, w, b, i: L.stack([x, x.detach()]),
        "select": lambda L, x, w, b, i: x[0],
        "select_column": lambda L, x, w, b, i: x[:, 1],
        "select_twice": lambda L, x, w, b, i: x[1, 2],
        "slice": lambda L, x, w, b, i: x[1:3],
        "slice_columns": lambda L, x, w, b, i: x[:, 1:3],
        "index_tensor": lambda L, x, w, b, i: x[i],
        "cat": lambda L, x, w, b, i: L.cat([x, x]),
        "expand": lambda L, x, w, b, i: x[0:1].expand(3, 4),
        "view": lambda L, x, w, b, i: x.view(2, 8),
        "reshape": lambda L, x, w, b, i: x.reshape(16),
        "flatten": lambda L, x, w, b, i: x.flatten(),
        "unflatten": lambda L, x, w, b, i: x.flatten().unflatten(0, (2, 8)),
        "movedim": lambda L, x, w, b, i: x.movedim(0, 1),
        "softmax": lambda L, x, w, b, i: L.nn.functional.softmax(x, 1),
        "tensor_softmax": lambda L, x, w, b, i: x.softmax(1),
        "log_softmax": lambda L, x, w, b, i: L.nn.functional.log_softmax(x, 1),
        "cross_entropy": lambda L, x, w, b, i: L.nn.functional.cross_entropy(
            x, L.tensor([0, 1, 2, 3])
        ),
        "nll_loss": lambda L, x, w, b, i: L.nn.functional.nll_loss(
            L.nn.functional.log_softmax(x, 1), L.tensor([0, 1, 2, 3])
        ),
        "mse_loss": lambda L, x, w, b, i: L.nn.functional.mse_loss(x, x.detach() * 2),
        "mse_loss_none": lambda L, x, w, b, i: L.nn.functional.mse_loss(
            x, x.detach() * 2, reduction="none"
        ),
        "l1_loss": lambda L, x, w, b, i: L.nn.functional.l1_loss(x, x.detach() * 2),
        "bce_with_logits": lambda L, x, w, b, i: L.nn.functional.binary_cross_entropy_with_logits(
            x, L.ones(4, 4)
        ),
        "relu": lambda L, x, w, b, i: L.nn.functional.relu(x),
        "torch_relu": lambda L, x, w, b, i: L.relu(x),
        "gelu": lambda L, x, w, b, i: L.nn.functional.gelu(x),
        "silu": lambda L, x, w, b, i: L.nn.functional.silu(x),
        "softplus": lambda L, x, w, b, i: L.nn.functional.softplus(x),
        "tanh": lambda L, x, w, b, i: L.tanh(x),
        "pow_number": lambda L, x, w, b, i: x**2,
        "pow_tensor": lambda L, x, w, b, i: x**b,
        "sqrt": lambda L, x, w, b, i: (x * x).sqrt(),
        "exp": lambda L, x, w, b, i: x.exp(),
        "mm": lambda L, x, w, b, i: x @ w.T,
        "max_dim": lambda L, x, w, b, i: x.max(1)[0],
        "max_all": lambda L, x, w, b, i: x.max(),
        "min_dim": lambda L, x, w, b, i: x.min(1).values,
        "min_all": lambda L, x, w, b, i: x.min(),
        "amax": lambda L, x, w, b, i: x.amax(1),
        "clone": lambda L, x, w, b, i: x.clone(),
        "contiguous_of_transpose": lambda L, x, w, b, i: x.T.contiguous(),
        "to_float64": lambda L, x, w, b, i: x.to(L.float64),
        "double": lambda L, x, w, b, i: x.double(),
        "norm": lambda L, x, w, b, i: x.norm(),
        "norm_dim": lambda L, x, w, b, i: x.norm(dim=1),
        "layer_norm": lambda L, x, w, b, i: L.nn.functional.layer_norm(x, (4,), b, b),
        "layer_norm_no_affine": lambda L, x, w, b, i: L.nn.functional.layer_norm(x, (4,)),
        "dropout_eval": lambda L, x, w, b, i: L.nn.functional.dropout(x, 0.5, training=False),
        "dropout": lambda L, x, w, b, i: L.nn.functional.dropout(x, 0.5, training=True),
        "embedding": lambda L, x, w, b, i: L.nn.functional.embedding(i, x),
        "conv2d": lambda L, x, w, b, i: L.nn.functional.conv2d(
            x.reshape(1, 1, 4, 4), w[:2].reshape(2, 1, 2, 2)
        ),
        "conv2d_bias": lambda L, x, w, b, i: L.nn.functional.conv2d(
            x.reshape(1, 1, 4, 4), w[:2].reshape(2, 1, 2, 2), b[:2]
        ),
        "max_pool2d": lambda L, x, w, b, i: L.nn.functional.max_pool2d(x.reshape(1, 1, 4, 4), 2),
        "avg_pool2d": lambda L, x, w, b, i: L.nn.functional.avg_pool2d(x.reshape(1, 1, 4, 4), 2),
        "batch_norm": lambda L, x, w, b, i: L.nn.functional.batch_norm(
            x, None, None, b, b, training=True
        ),
        "add": lambda L, x, w, b, i: x + b,
        "sub_number": lambda L, x, w, b, i: x - 1,
        "rsub_number": lambda L, x, w, b, i: 1 - x,
        "mul_number": lambda L, x, w, b, i: x * 2,
        "mul_no_grad_tensor": lambda L, x, w, b, i: x * b.detach(),
        "div": lambda L, x, w, b, i: x / 2,
        "neg": lambda L, x, w, b, i: -x,
        "abs": lambda L, x, w, b, i: x.abs(),
        "log": lambda L, x, w, b, i: (x * x).log(),
        "var": lambda L, x, w, b, i: x.var(),
        "std_dim": lambda L, x, w, b, i: x.std(1),
        "logsumexp": lambda L, x, w, b, i: x.logsumexp(1),
        "prod": lambda L, x, w, b, i: x.prod(),
        "prod_dim": lambda L, x, w, b, i: x.prod(1),
        "where": lambda L, x, w, b, i: L.where(x > 0, x, b),
        "chunk": lambda L, x, w, b, i: x.chunk(2)[0],
        "split": lambda L, x, w, b, i: x.split(2)[0],
        "unbind": lambda L, x, w, b, i: x.unbind(0)[0],
        "narrow": lambda L, x, w, b, i: x.narrow(0, 1, 2),
        "flip": lambda L, x, w, b, i: x.flip(0),
        "repeat": lambda L, x, w, b, i: x.repeat(2, 1),
        "mlp": lambda L, x, w, b, i: L.nn.functional.relu(
            L.nn.functional.linear(x, w, lin_b(b))
        ).sum(),
        "chain": lambda L, x, w, b, i: ((x * b).relu() + 1).sum(),
        "reciprocal": lambda L, x, w, b, i: x.reciprocal(),
        "float_of_float": lambda L, x, w, b, i: x.float(),
        "sigmoid_module": lambda L, x, w, b, i: L.nn.Sigmoid()(x),
    }


# Where kiln's graph still differs: the composite lives in a file another helper owns
# (elementwise.py, linalg.py, sorting.py), or torch's own graph has inner nodes (matmul's
# folding, linear of a 3-D input) that kiln's one node does not reproduce.
_KNOWN = {
    "sigmoid": "elementwise.py: sigmoid is a where/exp composite, not renamed",
    "rsqrt": "elementwise.py: rsqrt is reciprocal(sqrt(x)), not renamed RsqrtBackward0",
    "square": "elementwise.py: square is mul(x, x), torch shows PowBackward0",
    "clamp": "elementwise.py: clamp is where(where(...)), torch shows ClampBackward1",
    "cumsum": "sorting.py: cumsum ends in an add, torch shows CumsumBackward0",
    "diagonal": "sorting.py: diagonal is a take, torch shows DiagonalBackward0",
    "mv": "linalg.py: mv is view(mm), torch shows MvBackward0",
    "dot": "linalg.py: dot is view(mm), torch shows DotBackward0",
    "bmm_by_matmul": "torch's matmul folds 3-D @ 3-D through views (UnsafeViewBackward0)",
    "linear_3d": "torch's linear of 3-D input is view(addmm(view)); kiln's is add(matmul)",
}


def _known_exprs():
    return {
        "sigmoid": lambda L, x, w, b, i: L.sigmoid(x),
        "rsqrt": lambda L, x, w, b, i: (x * x + 1).rsqrt(),
        "square": lambda L, x, w, b, i: x.square(),
        "clamp": lambda L, x, w, b, i: x.clamp(-0.5, 0.5),
        "cumsum": lambda L, x, w, b, i: x.cumsum(0),
        "diagonal": lambda L, x, w, b, i: x.diagonal(),
        "mv": lambda L, x, w, b, i: x @ b,
        "dot": lambda L, x, w, b, i: b @ b,
        "bmm_by_matmul": lambda L, x, w, b, i: x.reshape(2, 2, 4) @ x.reshape(2, 4, 2),
        "linear_3d": lambda L, x, w, b, i: L.nn.functional.linear(x.reshape(2, 2, 4), w, b[:3]),
    }


def describe(fn, depth: int = 2):
    """A node as (name, ((child, output number), ...)), ``depth`` levels down."""
    if fn is None:
        return None
    name = type(fn).__name__
    if depth == 0:
        return name
    return (name, tuple((describe(f, depth - 1), k) for f, k in fn.next_functions))


def _graph(lib, expr):
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4, 4)).astype(np.float32)
    wv = rng.standard_normal((3, 4)).astype(np.float32)
    bv = rng.standard_normal((4,)).astype(np.float32)
    lib.manual_seed(0)
    x = lib.tensor(xv, requires_grad=True)
    w = lib.tensor(wv, requires_grad=True)
    b = lib.tensor(bv, requires_grad=True)
    i = lib.tensor([0, 2, 1])
    y = expr(lib, x, w, b, i)
    return describe(y.grad_fn), y.grad_fn


@pytest.mark.parametrize("name", sorted(_exprs()))
def test_grad_fn_graph_matches_torch(name):
    expr = _exprs()[name]
    expected, tfn = _graph(torch, expr)
    got, kfn = _graph(kiln, expr)
    assert got == expected
    if tfn is not None:
        assert kfn.name() == tfn.name()


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=r)) for n, r in _KNOWN.items()],
)
def test_grad_fn_graph_known_gaps(name):
    expr = _known_exprs()[name]
    assert _graph(kiln, expr)[0] == _graph(torch, expr)[0]


def test_renamed_composites_still_compute_torch_gradients():
    """The shown edges are display only: the gradients are the composites' own."""
    names = ["mean_dim", "var", "std_dim", "logsumexp", "softmax", "log_softmax", "prod_dim"]
    names += ["linear_2d", "layer_norm", "conv2d_bias", "max_pool2d", "avg_pool2d", "mse_loss"]
    names += ["batch_norm", "stack", "select_twice", "unbind", "flip", "repeat", "embedding"]
    for name in names:
        expr = _exprs()[name]
        grads = []
        for lib in (torch, kiln):
            rng = np.random.default_rng(1)
            xv = rng.standard_normal((4, 4)).astype(np.float32)
            wv = rng.standard_normal((3, 4)).astype(np.float32)
            bv = rng.standard_normal((4,)).astype(np.float32)
            x = lib.tensor(xv, requires_grad=True)
            w = lib.tensor(wv, requires_grad=True)
            b = lib.tensor(bv, requires_grad=True)
            y = expr(lib, x, w, b, lib.tensor([0, 2, 1]))
            (y * lib.arange(y.numel()).reshape(y.shape).to(y.dtype)).sum().backward()
            grads.append([None if t.grad is None else t.grad.numpy() for t in (x, w, b)])
        for t, k in zip(*grads):
            assert (t is None) == (k is None), name
            if t is not None:
                np.testing.assert_allclose(k, t, rtol=1e-4, atol=1e-5, err_msg=name)


def test_composite_returning_its_input_is_not_renamed():
    x = kiln.ones(2, 3, requires_grad=True)
    y = x * 2
    assert y.float() is y and type(y.grad_fn).__name__ == "MulBackward0"
    assert kiln.nn.functional.dropout(y, 0.5, training=False) is y
    assert type(y.grad_fn).__name__ == "MulBackward0"


# ------------------------------------------------------------------ saved results, versions


def _outcome(lib, fn):
    try:
        fn(lib)
        return "ok"
    except RuntimeError as e:
        if "modified by an inplace operation" in str(e):
            return "inplace"
        if "backward through the graph a second time" in str(e):
            return "freed"
        return f"RuntimeError: {e}"


def _input_changed(op):
    def fn(L):
        b = L.rand(3, requires_grad=True) + 0.5
        y = getattr(b, op)()
        b.mul_(2)
        y.sum().backward()

    return fn


def _output_changed(op):
    def fn(L):
        y = getattr(L.rand(3, requires_grad=True) + 0.5, op)()
        y.mul_(2)
        y.sum().backward()

    return fn


_UNARY = ["exp", "tanh", "sqrt", "rsqrt", "reciprocal", "relu", "log", "sin", "abs", "neg"]
_UNARY += ["exp2", "erf", "atan", "square", "sigmoid", "expm1"]
_VERSION_CASES = {f"{op}_input_changed": _input_changed(op) for op in _UNARY}
_VERSION_CASES.update({f"{op}_output_changed": _output_changed(op) for op in _UNARY})


def _case(fn):
    return fn


@_case
def _log_softmax_output_changed(L):
    y = L.nn.functional.log_softmax(L.rand(2, 3, requires_grad=True) + 0, 1)
    y.mul_(2)
    y.sum().backward()


@_case
def _log_softmax_input_changed(L):
    a = L.rand(2, 3, requires_grad=True) + 0
    y = L.nn.functional.log_softmax(a, 1)
    a.mul_(2)
    y.sum().backward()


@_case
def _exp_of_view_then_base_changed(L):
    a = L.rand(3, requires_grad=True) + 0
    y = a[0:2].exp()
    a.mul_(2)
    y.sum().backward()


@_case
def _exp_output_view_changed(L):
    y = (L.rand(3, requires_grad=True) + 0).exp()
    y[0:1].mul_(2)
    y.sum().backward()


@_case
def _exp_output_detached_changed(L):
    y = (L.rand(3, requires_grad=True) + 0).exp()
    y.detach().mul_(2)  # detach() shares the version counter
    y.sum().backward()


@_case
def _exp_output_data_changed(L):
    y = (L.rand(3, requires_grad=True) + 0).exp()
    y.data.mul_(2)  # .data does not
    y.sum().backward()


@_case
def _mul_operand_changed(L):
    a, b = L.rand(3, requires_grad=True) + 0, L.rand(3, requires_grad=True) + 0
    y = a * b
    a.mul_(2)
    y.sum().backward()


@_case
def _mul_unread_operand_changed(L):
    a, b = L.rand(3, requires_grad=True) + 0, L.rand(3)
    y = a * b
    a.mul_(2)  # only b is read (a's gradient is g * b; b needs none)
    y.sum().backward()


@_case
def _matmul_operand_changed(L):
    a, w = L.rand(2, 3, requires_grad=True) + 0, L.rand(3, 2, requires_grad=True)
    y = a @ w
    a.mul_(2)
    y.sum().backward()


@_case
def _backward_twice_without_saved_values(L):
    y = (L.ones(3, requires_grad=True) + 1).sum()  # add, sum: nothing saved
    y.backward()
    y.backward()


@_case
def _backward_twice_through_exp(L):
    y = (L.ones(3, requires_grad=True) * 1).exp().sum()
    y.backward()
    y.backward()


@_case
def _backward_twice_through_mul_by_number(L):
    y = (L.ones(3, requires_grad=True) * 2).sum()
    y.backward()
    y.backward()


for _fn in list(globals().values()):
    if getattr(_fn, "__name__", "").startswith("_") and _fn.__name__.endswith(
        ("_changed", "_exp", "_number", "_values")
    ):
        _VERSION_CASES[_fn.__name__[1:]] = _fn

_VERSION_KNOWN = {
    "sigmoid_output_changed": "elementwise.py: sigmoid is a composite that saves no result",
    "expm1_output_changed": "elementwise.py: expm1 is a composite that saves no result",
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=_VERSION_KNOWN[n]))
        if n in _VERSION_KNOWN
        else n
        for n in sorted(_VERSION_CASES)
    ],
)
def test_inplace_version_errors_match_torch(name):
    fn = _VERSION_CASES[name]
    assert _outcome(kiln, fn) == _outcome(torch, fn)


@pytest.mark.parametrize("op", ["exp", "tanh", "sqrt", "reciprocal", "rsqrt"])
def test_saved_result_rules_match_torch_to_third_order(op):
    """The result-based rules (and their create_graph graphs, through the saved output)."""
    v = np.array([0.3, 0.7, 1.9])
    got = []
    for lib in (torch, kiln):
        x = lib.tensor(v, dtype=lib.float64, requires_grad=True)
        y = getattr(x, op)()
        (g1,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (g2,) = lib.autograd.grad(g1.sum(), x, create_graph=True)
        (g3,) = lib.autograd.grad(g2.sum(), x)
        got.append([t.detach().numpy() for t in (y, g1, g2, g3)])
    for k, t in zip(got[1], got[0]):
        np.testing.assert_allclose(k, t, rtol=1e-12)


def test_saved_result_is_readable_and_freed():
    x = kiln.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()
    np.testing.assert_allclose(y.grad_fn._saved_result.numpy(), np.exp([0.5, 1.0]), rtol=1e-6)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_saved_tensors_hooks_pack_exps_result_once():
    packed = []
    for lib in (torch, kiln):
        n = []

        def pack(t, n=n):
            n.append(1)
            return t * 2

        x = lib.tensor([0.5, 1.0], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y = (x + 0).exp().sum()
        y.backward()
        packed.append((len(n), x.grad.numpy().tolist()))
    assert packed[0][0] == packed[1][0]
    np.testing.assert_allclose(packed[1][1], packed[0][1], rtol=1e-6)


def test_detach_shares_the_version_counter_data_does_not():
    for lib in (torch, kiln):
        x = lib.ones(3)
        d = x.detach()
        d.add_(1)
        assert x._version == 1
        x.data.add_(1)
        assert x._version == 1


# ------------------------------------------------------------------ autograd.functional


def _functional_results(L):
    AF = L.autograd.functional

    def f(x):
        return x.exp().sum(dim=1)

    inp = L.linspace(-1, 1, 8, dtype=L.float64).view(2, 4)
    out = {}
    j = AF.jacobian(f, inp, create_graph=True)
    out["create_graph of an input needing no grad"] = (j.requires_grad, j.detach().numpy())
    x = inp.clone().requires_grad_(True)
    AF.jacobian(f, x, create_graph=True).pow(2).sum().backward()
    out["backward through the jacobian"] = x.grad.numpy()
    x = L.tensor([1.0, 2.0], dtype=L.float64, requires_grad=True)
    h = AF.hessian(lambda x: x.pow(3).sum(), x, create_graph=True)
    h.sum().backward()
    out["hessian create_graph"] = (h.detach().numpy(), x.grad.numpy())
    a = L.tensor([1.0, 2.0], dtype=L.float64, requires_grad=True)
    b = L.tensor([0.5, 0.1], dtype=L.float64)
    rows = AF.jacobian(lambda a, b: (a * b.sin(), a.sum() * 2), (a, b), create_graph=True)
    out["tuple rows"] = [[(t.requires_grad, t.detach().numpy()) for t in row] for row in rows]
    hs = AF.hessian(lambda a, b: (a * a * b).sum(), (a, b.clone()), create_graph=True)
    out["hessian tuple"] = [[t.detach().numpy() for t in row] for row in hs]
    out["vectorize"] = AF.jacobian(f, inp, vectorize=True).numpy()
    out["forward-mode"] = AF.jacobian(f, inp, vectorize=True, strategy="forward-mode").numpy()
    out["strict fine"] = AF.jacobian(f, inp, strict=True).numpy()
    for name, call in {
        "forward-mode without vectorize": lambda: AF.jacobian(f, inp, strategy="forward-mode"),
        "forward-mode create_graph": lambda: AF.jacobian(
            f, inp, vectorize=True, strategy="forward-mode", create_graph=True
        ),
        "strict independent": lambda: AF.jacobian(lambda x, y: x * 2, (inp, inp), strict=True),
        "strict no grad": lambda: AF.jacobian(lambda x: L.ones(2), inp, strict=True),
        "strict vectorize": lambda: AF.jacobian(f, inp, strict=True, vectorize=True),
        "hessian strict linear": lambda: AF.hessian(lambda x: (x * 2).sum(), inp, strict=True),
    }.items():
        try:
            call()
            out[name] = "ok"
        except Exception as e:
            out[name] = type(e).__name__
    return out


def _assert_same(k, t, where=""):
    if isinstance(t, (tuple, list)):
        assert len(k) == len(t), where
        for a, b in zip(k, t):
            _assert_same(a, b, where)
    elif isinstance(t, np.ndarray):
        np.testing.assert_allclose(k, t, rtol=1e-10, err_msg=where)
    else:
        assert k == t, where


def test_autograd_functional_matches_torch():
    t, k = _functional_results(torch), _functional_results(kiln)
    assert list(k) == list(t)
    for name in t:
        _assert_same(k[name], t[name], name)


# ------------------------------------------------------------------ RNG state


def test_rng_state_is_uint8_and_round_trips():
    state = kiln.get_rng_state()
    assert state.dtype is kiln.uint8 and state.ndim == 1
    a = kiln.randn(5)
    kiln.set_rng_state(state)
    b = kiln.randn(5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    g = kiln.Generator().manual_seed(3)
    s = g.get_state()
    x = kiln.rand(3, generator=g)
    g.set_state(s)
    np.testing.assert_array_equal(kiln.rand(3, generator=g).numpy(), x.numpy())


@pytest.mark.parametrize("kind", ["float", "list", "short"])
def test_set_rng_state_refuses_what_torch_refuses(kind):
    def bad(L):
        if kind == "float":
            return L.zeros(3)
        if kind == "list":
            return [1, 2]
        return L.get_rng_state()[:10]

    with pytest.raises(Exception) as t:
        torch.set_rng_state(bad(torch))
    with pytest.raises(type(t.value)):
        kiln.set_rng_state(bad(kiln))
