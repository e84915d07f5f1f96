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
        "diagonal": lambda L, x, w, b, i: x.diagonal(),
        "unfold": lambda L, x, w, b, i: x.unfold(1, 2, 1),
        "float_of_float": lambda L, x, w, b, i: x.float(),
        "sigmoid_module": lambda L, x, w, b, i: L.nn.Sigmoid()(x),
    }


# Where kiln's graph still differs: the composite lives in a file another helper owns
# (elementwise.py, linalg.py, sorting.py), or torch's own graph has inner nodes (matmul's
# folding, linear of a 3-D input) that kiln's one node does not reproduce.
_KNOWN = {
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
        "torch_diagonal": lambda L, x, w, b, i: L.diagonal(x),
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
# (exp2 is left out: kiln computes it as pow(2, x), exact as PyTorch's, and pow's node keeps
# its input x where PyTorch's Exp2Backward0 keeps the result; so an in-place change of x
# after exp2 makes kiln's backward raise and a change of the result does not, the other way
# round from PyTorch; the gradients that do come out are right. exp2's saved tensors are
# checked against pow's below.)
_UNARY += ["erf", "atan", "square", "sigmoid", "expm1"]
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

_VERSION_KNOWN = {}


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


# ------------------------------------------------------------------ views and strides

_VIEWS = {
    "unfold": lambda x: x.reshape(-1).unfold(0, 3, 3),
    "unfold_2d": lambda x: x.unfold(1, 2, 2),
    "diagonal": lambda x: x.diagonal(),
    "diagonal_offset": lambda x: x.diagonal(1),
    "diagonal_negative_offset": lambda x: x.diagonal(-1),
    "diagonal_3d": lambda x: x.reshape(2, 3, 3).diagonal(0, 1, 2),
    "narrow": lambda x: x.narrow(1, 1, 2),
    "select": lambda x: x.select(1, 2),
    "getitem": lambda x: x[1],
    "getitem_step": lambda x: x[:, ::2],
    "as_strided": lambda x: x.as_strided((3, 2), (1, 3), 1),
    "t": lambda x: x.t(),
    "T": lambda x: x.T,
    "transpose": lambda x: x.transpose(0, 1),
    "permute": lambda x: x.reshape(2, 3, 3).permute(2, 0, 1),
    "movedim": lambda x: x.reshape(2, 3, 3).movedim(0, -1),
    "unbind": lambda x: x.unbind(1)[2],
    "split": lambda x: x.split(2, 1)[1],
    "chunk": lambda x: x.chunk(3, 0)[1],
    "view": lambda x: x.view(2, 9),
    "view_of_transpose": lambda x: x.t().view(6, 3),
    "view_as": lambda x: x.view_as(x.new_zeros(9, 2)),
    "reshape": lambda x: x.reshape(9, 2),
    "unsqueeze": lambda x: x.unsqueeze(1),
    "squeeze": lambda x: x.unsqueeze(0).squeeze(0),
    "unfold_of_diagonal": lambda x: x.reshape(2, 9).t().diagonal().unfold(0, 1, 1),
    "detach": lambda x: x.detach(),
    "contiguous": lambda x: x.contiguous(),
}


def _view_facts(lib, view):
    x = lib.arange(18.0).reshape(3, 6).clone()
    y = view(x)
    facts = {
        "shape": tuple(y.shape),
        "stride": tuple(y.stride()),
        "storage_offset": y.storage_offset(),
        "contiguous": y.is_contiguous(),
        "ptr_offset": (y.data_ptr() - x.data_ptr()) // 4,
        "same_storage": y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr(),
        "values": y.tolist(),
    }
    y.mul_(-1)  # a write through the view shows in the base (no element is seen twice)
    facts["base_after_write"] = x.tolist()
    x.add_(100)  # and a write into the base shows in the view
    facts["view_after_base_write"] = y.tolist()
    return facts


@pytest.mark.parametrize("name", sorted(_VIEWS))
def test_views_share_memory_and_strides_as_torch(name):
    assert _view_facts(kiln, _VIEWS[name]) == _view_facts(torch, _VIEWS[name])


_NOT_VIEWABLE = {
    "transpose_flat": lambda x: x.t().view(18),
    "transpose_merge": lambda x: x.t().view(3, 6),
    "narrowed_columns": lambda x: x[:, 1:5].view(12),
    "step_rows": lambda x: x[::2, ::2].view(6),
    "permuted_3d": lambda x: x.reshape(2, 3, 3).permute(1, 0, 2).view(2, 9),
    "expanded": lambda x: x[:1].expand(3, 6).view(18),
    "view_as_of_transpose": lambda x: x.t().view_as(x),
}


@pytest.mark.parametrize("name", sorted(_NOT_VIEWABLE))
def test_view_that_needs_a_copy_raises_as_torch(name):
    with pytest.raises(RuntimeError, match="view size is not compatible") as t:
        _NOT_VIEWABLE[name](torch.arange(18.0).reshape(3, 6))
    assert "Use .reshape(...) instead" in str(t.value)
    with pytest.raises(RuntimeError, match=r"view size is not compatible.*\.reshape\(\.\.\.\)"):
        _NOT_VIEWABLE[name](kiln.arange(18.0).reshape(3, 6))


def test_view_strides_agree_with_torch_over_many_layouts():
    bad = []
    for perm in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]:
        for sl in [slice(None), slice(0, 1), slice(None, None, 2)]:
            for new in [(24,), (6, 4), (2, 12), (4, 6), (2, 3, 4), (4, 3, 2), (2, 1, 3, 4), (-1,)]:
                res = []
                for lib in (torch, kiln):
                    x = lib.arange(24.0).reshape(2, 3, 4).clone().permute(*perm)[sl]
                    shape = new if x.numel() == 24 or new == (-1,) else (x.numel(),)
                    try:
                        y = x.view(*shape)
                        res.append((tuple(y.stride()), y.data_ptr() == x.data_ptr()))
                    except RuntimeError:
                        res.append("error")
                    r = x.reshape(*shape)
                    res.append((tuple(r.stride()), r.data_ptr() == x.data_ptr()))
                if res[:2] != res[2:]:
                    bad.append((perm, sl, new, res))
    assert not bad


def test_strided_views_keep_autograd_and_their_node_names():
    got = []
    for lib in (torch, kiln):
        x = lib.arange(6.0).reshape(2, 3).clone().requires_grad_(True)
        y = x + 0
        u = y.unfold(1, 2, 1)
        d = y.diagonal()
        ((u * lib.arange(8.0).reshape(2, 2, 2)).sum() + (d * 3).sum()).backward()
        got.append((x.grad.tolist(), u.stride(), d.stride(), u.grad_fn.name(), d.grad_fn.name()))
    assert got[0] == got[1]


def test_inplace_write_into_a_recorded_strided_view_raises_before_writing():
    x = kiln.arange(6.0).reshape(2, 3).clone().requires_grad_(True)
    y = x + 0
    d = y.diagonal()
    with pytest.raises(RuntimeError, match="strided view"):
        d.mul_(2)
    assert y.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    with kiln.no_grad():
        d.mul_(2)  # untracked: through to y's memory, as PyTorch
    assert y.tolist() == [[0.0, 1.0, 2.0], [3.0, 8.0, 5.0]]


def test_write_into_an_expanded_tensor_raises_as_torch():
    for lib in (torch, kiln):
        with pytest.raises(RuntimeError, match="single memory location"):
            lib.zeros(3).expand(2, 3).add_(1)
    f = kiln.jit(lambda x: x[0:1].expand(3, 3).add_(1))
    with pytest.raises(RuntimeError, match="single memory location"):
        f(kiln.zeros(3, 3))


_JIT_VIEWS = {
    "slice": lambda x: x[1:3],
    "slice_columns": lambda x: x[:, 1:4],
    "select": lambda x: x[1],
    "select_column": lambda x: x[:, 2],
    "narrow": lambda x: x.narrow(1, 2, 3),
    "view": lambda x: x.view(36),
    "t": lambda x: x.t(),
    "permute": lambda x: x.permute(1, 0),
    "unsqueeze": lambda x: x.unsqueeze(0),
    "split": lambda x: x.split(2)[1],
    "chunk": lambda x: x.chunk(3, 1)[2],
    "unbind": lambda x: x.unbind(0)[3],
    "select_then_slice": lambda x: x[2][1:4],
}


def _write_through(lib, view):
    def f(x):
        x = x * 1
        v = view(x)
        v.mul_(3)
        v.add_(1)
        return x * 2

    return f


@pytest.mark.parametrize("name", sorted(_JIT_VIEWS))
def test_inplace_writes_through_views_under_jit_match_eager_and_torch(name):
    xv = np.arange(36.0, dtype=np.float32).reshape(6, 6)
    want = _write_through(torch, _JIT_VIEWS[name])(torch.tensor(xv)).numpy()
    eager = _write_through(kiln, _JIT_VIEWS[name])(kiln.tensor(xv)).numpy()
    jitted = kiln.jit(_write_through(kiln, _JIT_VIEWS[name]))(kiln.tensor(xv)).numpy()
    np.testing.assert_array_equal(eager, want)
    np.testing.assert_array_equal(jitted, want)


@pytest.mark.parametrize("view", ["diagonal", "unfold"])
def test_inplace_write_through_strided_view_under_jit_raises_not_differs(view):
    def f(x):
        x = x * 1
        v = x.diagonal() if view == "diagonal" else x.unfold(0, 2, 2)
        v.add_(1)
        return x

    xv = np.arange(36.0, dtype=np.float32).reshape(6, 6)
    np.testing.assert_array_equal(f(kiln.tensor(xv)).numpy(), f(torch.tensor(xv)).numpy())
    with pytest.raises(RuntimeError, match="strided view"):
        kiln.jit(f)(kiln.tensor(xv))


def test_storages_as_torch(monkeypatch):
    from kiln import storage as storage_module

    monkeypatch.setattr(storage_module, "_WARNED", [False])  # (torch warns once a process)
    for lib in (torch, kiln):
        t = lib.arange(16.0).reshape(4, 4).clone()
        b = t.view(2, 8)
        us = t.untyped_storage()
        assert us.data_ptr() == b.untyped_storage().data_ptr() == t[1:].untyped_storage().data_ptr()
        assert (us.size(), us.nbytes(), len(us), us.element_size()) == (64, 64, 64, 1)
        with pytest.warns(UserWarning) if lib is kiln else _nothing():
            s = t.storage()
        assert (s.size(), len(s), s[5], s.dtype == lib.float32) == (16, 16, 5.0, True)
        assert s.data_ptr() == b.storage().data_ptr()
        s[3] = 99.0
        assert t[0, 3].item() == 99.0
        assert t[2:].storage().tolist()[:3] == [0.0, 1.0, 2.0]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_contiguous_returns_self_when_contiguous():
    for lib in (torch, kiln):
        x = lib.ones(2, 3, 4, 5)
        assert x.contiguous() is x
        y = x.contiguous(memory_format=lib.channels_last)
        assert y is not x and y.contiguous(memory_format=lib.channels_last) is y
        assert y.is_contiguous(memory_format=lib.channels_last) and not y.is_contiguous()
        c = x.clone(memory_format=lib.channels_last)
        assert c.stride() == (60, 1, 15, 3)


_LAYOUTS = {
    "empty channels_last": lambda L, x: L.empty(2, 3, 4, 5, memory_format=L.channels_last),
    "empty channels_last_3d": lambda L, x: L.empty(2, 3, 4, 5, 6, memory_format=L.channels_last_3d),
    "empty_like channels_last": lambda L, x: L.empty_like(x, memory_format=L.channels_last),
    "empty_like keeps channels_last": lambda L, x: L.empty_like(
        x.to(memory_format=L.channels_last)
    ),
    "zeros_like channels_last": lambda L, x: L.zeros_like(x, memory_format=L.channels_last),
    "zeros_like keeps": lambda L, x: L.zeros_like(x.contiguous(memory_format=L.channels_last)),
    "ones_like keeps": lambda L, x: L.ones_like(x.contiguous(memory_format=L.channels_last)),
    "full_like keeps": lambda L, x: L.full_like(x.contiguous(memory_format=L.channels_last), 2),
    "rand_like keeps": lambda L, x: L.rand_like(x.contiguous(memory_format=L.channels_last)),
    "zeros_like of transpose": lambda L, x: L.zeros_like(x.reshape(6, 20).t()),
    "empty_like of step slice": lambda L, x: L.empty_like(x.reshape(6, 20)[:, ::2]),
    "empty_like of transposed slice": lambda L, x: L.empty_like(x.reshape(6, 20).t()[::2]),
    "ones_like of permuted size-1 dims": lambda L, x: L.ones_like(
        x.reshape(6, 20, 1, 1).permute(0, 2, 3, 1)
    ),
    "empty_like contiguous_format": lambda L, x: L.empty_like(
        x.reshape(6, 20).t(), memory_format=L.contiguous_format
    ),
    "zeros_like other dtype": lambda L, x: L.zeros_like(x.reshape(6, 20).t(), dtype=L.float64),
    "clone channels_last": lambda L, x: x.clone(memory_format=L.channels_last),
    "clone keeps channels_last": lambda L, x: x.contiguous(memory_format=L.channels_last).clone(),
}


@pytest.mark.parametrize("name", sorted(_LAYOUTS))
def test_memory_formats_of_new_tensors_as_torch(name):
    got = []
    for lib in (torch, kiln):
        x = lib.arange(120.0).reshape(2, 3, 4, 5)
        y = _LAYOUTS[name](lib, x)
        cl = lib.channels_last
        facts = [tuple(y.stride()), y.is_contiguous()]
        if y.ndim == 4:
            facts.append(y.is_contiguous(memory_format=cl))
        if "empty" not in name and "rand" not in name:
            facts.append(y.tolist())
        got.append(facts)
    assert got[1] == got[0]


def test_channels_last_on_wrong_rank_raises_as_torch():
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
        torch.empty(2, 3, 4, memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
        kiln.empty(2, 3, 4, memory_format=kiln.channels_last)


def test_exp2_keeps_its_input_and_its_gradients_stay_right():
    """exp2's documented difference from PyTorch: an in-place change of the result is no
    error (the gradient comes from x, unchanged), one of x is."""
    x = kiln.tensor([0.5, 2.0, -3.0], dtype=kiln.float64, requires_grad=True)
    y = x.exp2()
    want = np.exp2(x.detach().numpy()) * np.log(2.0)
    with kiln.no_grad():
        y.mul_(0.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-15)
    x2 = kiln.tensor([0.5, 2.0], requires_grad=True)
    base = x2 * 1.0
    z = base.exp2()
    with kiln.no_grad():
        base.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
