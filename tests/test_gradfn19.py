"""The autograd graph as PyTorch shows it (issue 14 item 4): the nodes of sigmoid, rsqrt,
expm1, square and clamp, what nodes keep (``_saved_*``), node hooks and metadata,
``register_multi_grad_hook``, ``increment_version`` and the ``requires_grad`` / ``detach_``
rules, each against torch (the oracle).
"""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")


def _describe(fn, depth=2):
    if fn is None:
        return None
    if depth == 0:
        return type(fn).__name__
    return (type(fn).__name__, tuple((_describe(f, depth - 1), k) for f, k in fn.next_functions))


# ------------------------------------------------------------ node names and edges

_GRAPHS = {
    "sigmoid": lambda L, x, b: x.sigmoid(),
    "torch_sigmoid": lambda L, x, b: L.sigmoid(x),
    "sigmoid_of_intermediate": lambda L, x, b: (x * 2).sigmoid(),
    "rsqrt": lambda L, x, b: (x * x + 1).rsqrt(),
    "expm1": lambda L, x, b: x.expm1(),
    "square": lambda L, x, b: x.square(),
    "clamp": lambda L, x, b: x.clamp(-0.5, 0.5),
    "clamp_min_only": lambda L, x, b: x.clamp(min=0.5),
    "clamp_max_only": lambda L, x, b: x.clamp(max=0.5),
    "clip": lambda L, x, b: x.clip(-1, 1),
    "torch_clamp": lambda L, x, b: L.clamp(x, -1),
    "clamp_min": lambda L, x, b: x.clamp_min(0.5),
    "clamp_max": lambda L, x, b: x.clamp_max(0.5),
    "clamp_tensors": lambda L, x, b: x.clamp(b, b + 1),
    "clamp_tensor_min": lambda L, x, b: x.clamp(min=b),
    "clamp_tensor_max": lambda L, x, b: L.clamp(x, max=b),
    "clamp_min_tensor": lambda L, x, b: x.clamp_min(b),
    "clamp_max_tensor": lambda L, x, b: x.clamp_max(b),
    "clamp_detached_bound": lambda L, x, b: x.clamp(b.detach(), b.detach() + 1),
    "sigmoid_float64": lambda L, x, b: x.double().sigmoid(),
    "rsqrt_bfloat16": lambda L, x, b: x.abs().to(L.bfloat16).rsqrt(),
    "sigmoid_bfloat16": lambda L, x, b: x.to(L.bfloat16).sigmoid(),
    "square_chain": lambda L, x, b: (x.square() + x.expm1()).sum(),
}


def _graph(lib, expr):
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    b = lib.tensor(rng.standard_normal((4,)).astype(np.float32), requires_grad=True)
    return _describe(expr(lib, x, b).grad_fn, 3)


@pytest.mark.parametrize("name", sorted(_GRAPHS))
def test_node_names_and_edges_match_torch(name):
    expr = _GRAPHS[name]
    assert _graph(kiln, expr) == _graph(torch, expr)


# ---------------------------------------------------- values and gradients at the edges

_EDGES = [-1e4, -100.0, -88.8, -20.0, -1.0, -0.5, -0.0, 0.0, 1e-8, 0.5, 1.0, 20.0, 89.0, 100.0]
_EDGES += [1e4, INF, -INF, NAN]
_CLAMP_X = [-1.0, -0.5, -0.5000001, -0.0, 0.0, 0.4999, 0.5, 1.0, NAN, INF, -INF]

_EDGE_CASES = {
    # name: (function, x values, bounds (tensors) or (), gradient tolerance (rtol, atol))
    "sigmoid": (lambda L, x: x.sigmoid(), _EDGES, (), (1e-5, 1e-8)),
    "rsqrt": (lambda L, x: x.rsqrt(), [0.0, -0.0, INF, -1.0, 1e-30, 4.0, NAN, 1e38], (), None),
    "expm1": (lambda L, x: x.expm1(), _EDGES, (), (1e-5, 1e-8)),
    "square": (lambda L, x: x.square(), [0.0, -0.0, INF, -INF, NAN, 3.0, 1e20], (), None),
    "clamp": (lambda L, x: x.clamp(-0.5, 0.5), _CLAMP_X, (), None),
    "clamp_min": (lambda L, x: x.clamp(min=-0.5), _CLAMP_X, (), None),
    "clamp_max": (lambda L, x: x.clamp(max=0.5), _CLAMP_X, (), None),
    "clamp_min_method": (lambda L, x: x.clamp_min(-0.5), _CLAMP_X, (), None),
    "clamp_max_method": (lambda L, x: x.clamp_max(0.5), _CLAMP_X, (), None),
    "clamp_min_above_max": (lambda L, x: x.clamp(0.5, -0.5), _CLAMP_X, (), None),
    "clamp_nan_bound": (lambda L, x: x.clamp(NAN, 0.5), _CLAMP_X, (), None),
    "clamp_tensors": (
        lambda L, x, lo, hi: x.clamp(lo, hi),
        [-1.0, -0.5, 0.0, 0.5, 1.0, NAN, 2.0],
        ([-0.5] * 5 + [0.0, 3.0], [0.5] * 5 + [1.0, 1.0]),
        None,
    ),
    "clamp_tensor_min_nan": (
        lambda L, x, lo: x.clamp(min=lo),
        [-1.0, -0.5, 0.0, 0.5, NAN],
        ([-0.5, -0.5, NAN, 0.5, 0.0],),
        None,
    ),
    "clamp_min_tensor_nan": (
        lambda L, x, lo: x.clamp_min(lo),
        [-1.0, -0.5, 0.0, 0.5, NAN],
        ([-0.5, -0.5, NAN, 0.5, 0.0],),
        None,
    ),
    "clamp_max_tensor_nan": (
        lambda L, x, hi: x.clamp_max(hi),
        [-1.0, -0.5, 0.0, 0.5, NAN],
        ([-0.5, -0.5, NAN, 0.5, 0.0],),
        None,
    ),
}


def _values_and_grads(lib, name, dtype):
    fn, xs, bounds, _ = _EDGE_CASES[name]
    x = lib.tensor(np.array(xs, dtype=dtype), requires_grad=True)
    extra = [lib.tensor(np.array(b, dtype=dtype), requires_grad=True) for b in bounds]
    y = fn(lib, x, *extra)
    y.backward(lib.ones_like(y))
    return [y.detach().numpy()] + [t.grad.numpy() for t in (x, *extra)]


def _nan_inf_pattern(a):
    return np.isnan(a), np.isposinf(a), np.isneginf(a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(_EDGE_CASES))
def test_values_and_gradients_at_edges_match_torch(name, dtype):
    want = _values_and_grads(torch, name, dtype)
    got = _values_and_grads(kiln, name, dtype)
    tolerance = _EDGE_CASES[name][3]
    for k, (g, w) in enumerate(zip(got, want)):
        for gp, wp in zip(_nan_inf_pattern(g), _nan_inf_pattern(w)):
            np.testing.assert_array_equal(gp, wp, err_msg=f"{name}: output {k}, NaN/inf")
        finite = np.isfinite(w)
        if k == 0 or tolerance is None:
            # the forward, and every gradient of a selection: exactly torch's (zeros' signs
            # too, except under a saturated sigmoid/expm1 where torch flushes to zero)
            atol = 0 if k > 0 or name not in ("sigmoid", "expm1") else 1e-37
            np.testing.assert_allclose(g[finite], w[finite], rtol=2e-7, atol=atol, err_msg=name)
            if k > 0:
                np.testing.assert_array_equal(
                    np.signbit(g[finite]), np.signbit(w[finite]), err_msg=f"{name}: signs"
                )
        else:
            rtol, atol = tolerance
            np.testing.assert_allclose(g[finite], w[finite], rtol=rtol, atol=atol, err_msg=name)


def test_clamp_sends_no_gradient_through_nan():
    """The fixed silent difference: x's gradient at a NaN of x was 1 (PyTorch: 0)."""
    x = kiln.tensor([NAN, 0.2, NAN], requires_grad=True)
    (x.clamp(-1.0, 1.0) * kiln.tensor([1.0, 2.0, 3.0])).nan_to_num().sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 0.0]


def test_clamp_under_jit_matches_eager_and_torch():
    def f(x):
        y = (x.sigmoid() + x.clamp(-0.5, 0.5) + (x * x + 1).rsqrt() + x.expm1()).nan_to_num()
        y = y + x.square().nan_to_num()
        y.sum().backward()
        return y

    xv = np.array([NAN, 0.5, -0.5, 2.0, -3.0, 0.1], dtype=np.float32)
    grads = []
    for lib, run in ((torch, f), (kiln, f), (kiln, kiln.jit(f))):
        x = lib.tensor(xv, requires_grad=True)
        run(x)
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)
    np.testing.assert_allclose(grads[2], grads[1], rtol=1e-6)


# --------------------------------------------- saved results: in-place changes, freeing


def _outcome(lib, fn):
    try:
        fn(lib)
    except RuntimeError as e:
        return "raises" if "modified by an inplace" in str(e) or "second time" in str(e) else e
    return "ok"


def _output_changed(op):
    def fn(L):
        x = L.tensor([0.5, 1.5], requires_grad=True)
        y = getattr(x * 1, op)()
        y.add_(1)
        y.sum().backward()

    return fn


def _input_changed(op):
    def fn(L):
        x = L.tensor([0.5, 1.5], requires_grad=True)
        h = x * 1
        y = getattr(h, op)()
        h.mul_(2)
        y.sum().backward()

    return fn


def _twice(op):
    def fn(L):
        x = L.tensor([0.5, 1.5], requires_grad=True)
        y = getattr(x, op)().sum()
        y.backward()
        y.backward()

    return fn


_INPLACE = {f"{op}_output_changed": _output_changed(op) for op in ("sigmoid", "rsqrt", "expm1")}
_INPLACE.update({f"{op}_input_changed": _input_changed(op) for op in ("sigmoid", "rsqrt")})
_INPLACE.update({f"{op}_twice": _twice(op) for op in ("sigmoid", "rsqrt", "expm1", "square")})
_INPLACE["square_input_changed"] = _input_changed("square")


@pytest.mark.parametrize("name", sorted(_INPLACE))
def test_saved_values_and_inplace_changes_match_torch(name):
    assert _outcome(kiln, _INPLACE[name]) == _outcome(torch, _INPLACE[name])


# --------------------------------------------------------------- _saved_* attributes

_SAVED_CASES = [
    ("x * x", "_saved_self"),
    ("x * x", "_saved_other"),
    ("x / x", "_saved_other"),
    ("x ** 2", "_saved_exponent"),
    ("x ** 2", "_saved_self"),
    ("x ** 2.5", "_saved_exponent"),
    ("x ** x", "_saved_exponent"),
    ("x.square()", "_saved_exponent"),
    ("x.square()", "_saved_self"),
    ("x.exp()", "_saved_result"),
    ("x.tanh()", "_saved_result"),
    ("x.sigmoid()", "_saved_result"),
    ("x.rsqrt()", "_saved_result"),
    ("x.expm1()", "_saved_result"),
    ("x.log()", "_saved_self"),
    ("x.sum()", "_saved_self_sym_sizes"),
    ("x.sum(1)", "_saved_dim"),
    ("x.sum(1)", "_saved_keepdim"),
    ("x.sum(0, keepdim=True)", "_saved_keepdim"),
    ("x.sum(0, keepdim=True)", "_saved_self_sym_sizes"),
    ("x.reshape(12)", "_saved_self_sym_sizes"),
    ("x.view(2, 6)", "_saved_self_sym_sizes"),
    ("x.expand(2, 3, 4)", "_saved_self_sym_sizes"),
    ("x.permute(1, 0)", "_saved_dims"),
    ("L.cat([x, x], 1)", "_saved_dim"),
    ("x @ w", "_saved_self"),
    ("x @ w", "_saved_mat2"),
    ("x @ w", "_saved_self_sym_sizes"),
    ("x @ w", "_saved_mat2_sym_sizes"),
    ("L.where(x > 0, x, x * 2)", "_saved_condition"),
]
# names PyTorch's node does not have: kiln's must not show its inner nodes' inputs there
_NOT_SAVED = [
    ("x.sigmoid()", "_saved_self"),
    ("x.exp()", "_saved_self"),
    ("x.rsqrt()", "_saved_self"),
    ("x.clamp(-1, 1)", "_saved_other"),
    ("L.where(x > 0, x, x * 2)", "_saved_self"),
    ("x.square()", "_saved_other"),
    ("x.mean()", "_saved_self"),
    ("x + x", "_saved_self"),
]


def _saved(lib, expr, attr):
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32), requires_grad=True)
    w = lib.tensor(rng.standard_normal((4, 2)).astype(np.float32), requires_grad=True)
    y = eval(expr, {"L": lib, "x": x, "w": w})
    value = getattr(y.grad_fn, attr)
    if isinstance(value, (torch.Tensor, kiln.Tensor)):
        return value.detach().numpy()
    if isinstance(value, tuple):
        return tuple(int(v) for v in value)
    return value


@pytest.mark.parametrize("expr,attr", _SAVED_CASES)
def test_saved_attributes_match_torch(expr, attr):
    got, want = _saved(kiln, expr, attr), _saved(torch, expr, attr)
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray) and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6)
    else:
        assert got == want


@pytest.mark.parametrize("expr,attr", _NOT_SAVED)
def test_attributes_torch_lacks_raise_attribute_error(expr, attr):
    for lib in (torch, kiln):
        with pytest.raises(AttributeError):
            _saved(lib, expr, attr)


def test_saved_tensor_after_backward_raises_as_torch():
    for lib in (torch, kiln):
        x = lib.tensor([0.5, 1.0], requires_grad=True)
        y = x * x
        y.sum().backward()
        with pytest.raises(RuntimeError, match="freed"):
            _ = y.grad_fn._saved_self


# ------------------------------------------------------------------ Node and its hooks


class _Double:
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def _custom(lib):
    return type("Double", (lib.autograd.Function,), dict(vars(_Double)))


def test_every_node_is_a_graph_node():
    for lib in (torch, kiln):
        Node = lib.autograd.graph.Node
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (x * 3).sigmoid()
        nodes = [y.grad_fn, y.grad_fn.next_functions[0][0]]
        nodes.append(nodes[1].next_functions[0][0])  # AccumulateGrad
        nodes.append(_custom(lib).apply(x).grad_fn)
        assert [isinstance(n, Node) for n in nodes] == [True] * 4, lib.__name__
        assert not isinstance(x, Node)


def test_metadata_is_one_dict_per_node():
    got = []
    for lib in (torch, kiln):
        x = lib.tensor([1.0], requires_grad=True)
        y = x * 2
        y.grad_fn.metadata["tag"] = 7
        acc = y.grad_fn.next_functions[0][0]
        acc.metadata["leaf"] = True
        z = x * 3
        got.append(
            (
                dict(y.grad_fn.metadata),
                dict(z.grad_fn.metadata),
                dict(y.grad_fn.next_functions[0][0].metadata),
            )
        )
    assert got[0] == got[1]


def _hook_log(lib, use_grad=False):
    log = []

    def rows(ts):
        return [None if t is None else t.tolist() for t in ts]

    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y.exp()
    acc = y.grad_fn.next_functions[0][0]
    x.register_hook(lambda g: log.append(("x tensor hook", g.tolist())))
    acc.register_prehook(lambda go: log.append(("acc pre", rows(go))))
    acc.register_hook(lambda gi, go: log.append(("acc post", rows(gi), rows(go))))
    x.register_post_accumulate_grad_hook(lambda t: log.append(("x accumulated", t.grad.tolist())))
    y.register_hook(lambda g: log.append(("y tensor hook", g.tolist())))
    y.retain_grad()

    def pre(go):
        log.append(("mul pre", rows(go)))
        return (go[0] * 10,)

    def post(gi, go):
        log.append(("mul post", rows(gi), rows(go)))
        return (gi[0] + 1, None)

    y.grad_fn.register_prehook(pre)
    handle = y.grad_fn.register_hook(post)
    if use_grad:
        (g,) = lib.autograd.grad(z.sum(), x, retain_graph=True)
        log.append(("grad", g.tolist()))
    else:
        z.sum().backward(retain_graph=True)
        log.append(("grads", y.grad.tolist(), x.grad.tolist()))
    handle.remove()
    z.sum().backward()
    log.append(("after remove", x.grad.tolist()))
    return log


@pytest.mark.parametrize("use_grad", [False, True])
def test_node_hooks_run_as_torch(use_grad):
    want = _hook_log(torch, use_grad)
    got = _hook_log(kiln, use_grad)
    assert [row[0] for row in got] == [row[0] for row in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(
            np.array([np.nan if v is None else v for v in _flat(g[1:])], dtype=float),
            np.array([np.nan if v is None else v for v in _flat(w[1:])], dtype=float),
            rtol=1e-5,
            err_msg=str(w[0]),
        )


def _flat(values):
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(_flat(v))
        else:
            out.append(v)
    return out


def test_where_node_hook_sees_the_two_value_gradients():
    got = []
    for lib in (torch, kiln):
        a = lib.tensor([1.0, -2.0], requires_grad=True)
        b = lib.tensor([5.0, 6.0], requires_grad=True)
        o = lib.where(a > 0, a, b)
        seen = []
        o.grad_fn.register_hook(lambda gi, go, seen=seen: seen.append([t.tolist() for t in gi]))
        (o * lib.tensor([2.0, 3.0])).sum().backward()
        got.append(seen)
    assert got[0] == got[1]


@pytest.mark.parametrize(
    "kind,returned",
    [("post", lambda gi, go: (gi[0], gi[0])), ("pre", lambda go: (go[0], go[0]))],
)
def test_hook_returning_a_wrong_count_raises_as_torch(kind, returned):
    messages = []
    for lib in (torch, kiln):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        v = w.exp()
        register = v.grad_fn.register_hook if kind == "post" else v.grad_fn.register_prehook
        register(returned)
        with pytest.raises(RuntimeError, match="incorrect number of values") as info:
            v.sum().backward()
        messages.append(str(info.value).split("(")[1])
    assert messages[0] == messages[1]


def test_hook_replacing_a_none_gradient_raises_as_torch():
    for lib in (torch, kiln):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        v = w * 2
        v.grad_fn.register_hook(lambda gi, go: (gi[0], gi[0]))
        with pytest.raises(RuntimeError, match="can't replace a None gradient"):
            v.sum().backward()


def test_custom_function_node_hooks_match_torch():
    got = []
    for lib in (torch, kiln):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = _custom(lib).apply(x)
        seen = []
        y.grad_fn.register_prehook(lambda go, seen=seen: seen.append(("pre", go[0].tolist())))
        y.grad_fn.register_hook(lambda gi, go, seen=seen: (gi[0] * 5,))
        (y * 3).sum().backward()
        got.append((seen, x.grad.tolist()))
    assert got[0] == got[1]


def test_renamed_composite_node_refuses_a_post_hook():
    """kiln's SoftmaxBackward0 is a composite's last node: the input gradients PyTorch's
    hook would see are made later by inner nodes, so kiln says so instead of handing the
    hook wrong values. A pre-hook (on the output gradient) works."""
    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    y = x.softmax(0)
    with pytest.raises(RuntimeError, match="SoftmaxBackward0"):
        y.grad_fn.register_hook(lambda gi, go: None)
    seen = []
    y.grad_fn.register_prehook(lambda go: seen.append(go[0].tolist()) or (go[0] * 0,))
    (y * kiln.tensor([1.0, 3.0])).sum().backward()
    assert seen == [[1.0, 3.0]] and x.grad.tolist() == [0.0, 0.0]


# ---------------------------------------------------------- register_multi_grad_hook


def _multi(lib, mode, use_c):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0], requires_grad=True)
    c = lib.tensor([5.0], requires_grad=True)
    h = a * 2
    calls = []

    def fn(grads):
        if mode == "all":
            calls.append([None if g is None else g.tolist() for g in grads])
        else:
            calls.append(grads.tolist())

    handle = lib.autograd.graph.register_multi_grad_hook((h, b, c), fn, mode=mode)
    loss = (h * b).sum() + ((c * 2).sum() if use_c else 0)
    loss.backward(retain_graph=True)
    (h * b).sum().backward(retain_graph=True)  # a second pass calls fn again
    handle.remove()
    (h * b).sum().backward()  # removed: not called
    return calls


@pytest.mark.parametrize("use_c", [True, False])
def test_multi_grad_hook_all_matches_torch(use_c):
    assert _multi(kiln, "all", use_c) == _multi(torch, "all", use_c)


def _multi_any(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0], requires_grad=True)
    h = a * 2
    calls = []
    handle = lib.autograd.graph.register_multi_grad_hook(
        (h, b), lambda g: calls.append(g.tolist()), mode="any"
    )
    (h * 5).sum().backward(retain_graph=True)  # only h's gradient
    (b * 7).sum().backward()  # only b's
    (h * b).sum().backward(retain_graph=True)  # both: one call (which first is the engine's)
    handle.remove()
    (h * b).sum().backward()
    return calls


def test_multi_grad_hook_any_calls_once_per_pass_as_torch():
    got, want = _multi_any(kiln), _multi_any(torch)
    assert got[:2] == want[:2] == [[5.0, 5.0], [7.0, 7.0]]
    assert len(got) == len(want) == 3
    assert got[2] in ([3.0, 4.0], [2.0, 4.0])  # h's or b's gradient


def test_multi_grad_hook_rejects_an_unknown_mode():
    for lib in (torch, kiln):
        x = lib.ones(1, requires_grad=True)
        with pytest.raises(ValueError):
            lib.autograd.graph.register_multi_grad_hook((x,), print, mode="some")


# ----------------------------------------------- versions, requires_grad, detach_


def test_increment_version_as_torch():
    got = []
    for lib in (torch, kiln):
        x = lib.tensor([1.0, 2.0])
        lib.autograd.graph.increment_version(x)
        lib.autograd.graph.increment_version((x, x[0:1]))
        got.append((x._version, x[0:1]._version))
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        y = w.exp()
        lib.autograd.graph.increment_version(y)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
    assert got[0] == got[1] == (3, 3)


def _requires_grad_outcome(lib, case):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    try:
        if case == "nonleaf_attr_false":
            y = x * 3
            y.requires_grad = False
        elif case == "nonleaf_method_false":
            (x * 3).requires_grad_(False)
        elif case == "nonleaf_method_true":
            y = (x * 3).requires_grad_(True)
            return ("ok", y.requires_grad, y.is_leaf)
        elif case == "int_attr_true":
            lib.tensor([1, 2]).requires_grad = True
        elif case == "leaf_attr_false":
            z = lib.tensor([1.0], requires_grad=True)
            z.requires_grad = False
            return ("ok", z.requires_grad, z.is_leaf)
        elif case == "detach_nonleaf":
            y = x * 3
            y.detach_()
            return ("ok", y.is_leaf, y.grad_fn is None, y.requires_grad)
        elif case == "detach_view_of_leaf":
            x[0:1].detach_()
        elif case == "detach_view_of_nonleaf":
            (x * 3)[1:].detach_()
        elif case == "detach_then_require":
            y = (x * 3).detach()
            y.requires_grad = True
            return ("ok", y.is_leaf, y.requires_grad)
    except RuntimeError as e:
        return ("raises", str(e).split(".")[0])
    return ("ok",)


@pytest.mark.parametrize(
    "case",
    [
        "nonleaf_attr_false",
        "nonleaf_method_false",
        "nonleaf_method_true",
        "int_attr_true",
        "leaf_attr_false",
        "detach_nonleaf",
        "detach_view_of_leaf",
        "detach_view_of_nonleaf",
        "detach_then_require",
    ],
)
def test_requires_grad_and_detach_rules_match_torch(case):
    assert _requires_grad_outcome(kiln, case) == _requires_grad_outcome(torch, case)


def test_accumulate_grad_is_one_node_per_leaf():
    for lib in (torch, kiln):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2 + x.exp()
        first = (x * 3).grad_fn.next_functions[0][0]
        seen = {id(n) for n, _ in y.grad_fn.next_functions[0][0].next_functions if n is not None}
        seen |= {id(n) for n, _ in y.grad_fn.next_functions[1][0].next_functions}
        assert seen == {id(first)} and first.variable is x, lib.__name__


def test_a_walked_leaf_still_pickles_and_copies():
    import copy
    import pickle

    for lib in (torch, kiln):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        node = (x * 2).grad_fn.next_functions[0][0]
        assert pickle.loads(pickle.dumps(x)).tolist() == [1.0, 2.0]
        node.metadata["tag"] = 1
        y = copy.deepcopy(x)
        y.sum().backward()
        assert y.grad.tolist() == [1.0, 1.0] and x.grad is None, lib.__name__
