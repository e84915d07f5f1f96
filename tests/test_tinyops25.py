"""Gaps found by running other frameworks' PyTorch-side op tests with ``import kiln as torch``
(tinygrad's test/backend/test_ops.py, test_nn.py, test_edgecases.py and the pure-PyTorch
tests of its torch backend, extra/torch_backend/test.py and test_inplace.py), each checked
against torch here."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _both(fn):
    """``fn(lib)`` run with torch and with kiln; their results as NumPy arrays."""
    out = []
    for lib in (torch, kiln):
        r = fn(lib)
        out.append(np.asarray(r.detach().numpy()) if hasattr(r, "numpy") else r)
    return out


# ----------------------------------------------------------------------------- //=, &=, ...
# Without __ifloordiv__, __iand__, __ior__, __ixor__, __ilshift__ and __irshift__ Python
# rebound the name to a new tensor: a view updated with them left its base unchanged
# (silently wrong), and ``x.__ilshift__(2)`` raised AttributeError.


@pytest.mark.parametrize(
    "statement, dtype",
    [
        ("v //= 2", "int64"),
        ("v //= w", "int64"),
        ("v //= 2", "float32"),
        ("v &= 6", "int32"),
        ("v |= w", "int64"),
        ("v ^= w", "int16"),
        ("v <<= 2", "int32"),
        ("v >>= 1", "int64"),
        ("v |= w", "bool"),
        ("v ^= w", "bool"),
        ("v &= w", "bool"),
    ],
)
def test_augmented_assignment_updates_a_view_in_place(statement, dtype):
    def run(lib):
        base = lib.tensor([7, 12, 5, 9, 3], dtype=getattr(lib, dtype))
        v = base[1::2]  # a strided view: its base must change
        w = lib.tensor([3, 2], dtype=getattr(lib, dtype))
        before = v
        exec(statement, {}, {"v": v, "w": w})
        assert v is before
        return base

    want, got = _both(run)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "dunder, arg", [("__ifloordiv__", 4), ("__ilshift__", 2), ("__irshift__", 1), ("__iand__", 3)]
)
def test_inplace_dunder_returns_self(dunder, arg):
    def run(lib):
        x = lib.tensor([16, 33, 48, 64], dtype=lib.int32)
        ret = getattr(x, dunder)(arg)
        assert ret is x
        return x

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


def test_floordiv_assignment_to_an_integer_tensor_refuses_a_float_result():
    for lib in (torch, kiln):
        x = lib.tensor([5, 7])
        with pytest.raises(RuntimeError):
            x //= 2.5


# ----------------------------------------------------------------------------- in-place methods
# tril_, triu_, cumprod_, index_copy_, scatter_reduce_ and fill_diagonal_ were missing.


_INPLACE_CASES = {
    "tril_": lambda lib, y: y.tril_(-1),
    "triu_": lambda lib, y: y.triu_(1),
    "cumprod_": lambda lib, y: y.cumprod_(1),
    "index_copy_": lambda lib, y: y.index_copy_(
        0, lib.tensor([2, 0]), lib.full((2, 4), 0.5, dtype=lib.float64)
    ),
    "scatter_reduce_": lambda lib, y: y.scatter_reduce_(
        1,
        lib.tensor([[0, 0, 3], [1, 2, 1], [3, 3, 3]]),
        lib.tensor([[1.5, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], dtype=lib.float64),
        "sum",
    ),
    "fill_diagonal_": lambda lib, y: y.fill_diagonal_(-2.0),
}


@pytest.mark.parametrize("name", sorted(_INPLACE_CASES))
def test_inplace_method_value_and_float64_gradient(name):
    data = np.random.default_rng(1).standard_normal((3, 4)) + 2.0

    def run(lib):
        x = lib.tensor(data, dtype=lib.float64, requires_grad=True)
        y = x * 1.5
        ret = _INPLACE_CASES[name](lib, y)
        assert ret is y
        (y * lib.arange(12, dtype=lib.float64).reshape(3, 4)).sum().backward()
        return y.detach(), x.grad

    (want_y, want_g), (got_y, got_g) = run(torch), run(kiln)
    np.testing.assert_allclose(got_y.numpy(), want_y.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got_g.numpy(), want_g.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["tril_", "triu_", "fill_diagonal_"])
def test_inplace_method_updates_the_base_of_a_view(name):
    def run(lib):
        base = lib.arange(20.0).reshape(4, 5)
        _INPLACE_CASES[name](lib, base[:, 1:])
        return base

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "shape, wrap", [((7, 3), False), ((7, 3), True), ((3, 5), True), ((3, 3, 3), False)]
)
def test_fill_diagonal_shapes_and_wrap(shape, wrap):
    def run(lib):
        x = lib.zeros(shape, dtype=lib.int32)
        x.fill_diagonal_(5, wrap=wrap)
        return x

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


def test_fill_diagonal_refuses_unequal_dimensions():
    for lib in (torch, kiln):
        with pytest.raises(RuntimeError, match="equal length"):
            lib.zeros(3, 4, 5).fill_diagonal_(1)


def test_inplace_tril_under_jit_equals_eager():
    def f(x):
        y = x * 2
        y.tril_()
        y //= 3
        return y

    x = kiln.tensor(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(kiln.jit(f)(x).numpy(), f(x).numpy())
    np.testing.assert_array_equal(f(x).numpy(), f(torch.tensor(x.numpy())).numpy())


# ----------------------------------------------------------------------------- indexing errors


@pytest.mark.parametrize("shapes", [[(3, 1, 1, 1), (1, 4, 1, 1), (2, 4, 4, 1)], [(3,), (2,)]])
def test_index_tensors_that_do_not_broadcast_raise_index_error(shapes):
    for lib in (torch, kiln):
        x = lib.ones(10, 11, 12)
        idx = tuple(lib.zeros(s, dtype=lib.int64) for s in shapes)
        with pytest.raises(IndexError, match="shape mismatch"):
            x[idx]
        with pytest.raises(IndexError, match="shape mismatch"):
            x[idx] = 1.0


# ----------------------------------------------------------------------------- out=


@pytest.mark.parametrize(
    "call",
    [
        lambda lib, x: lib.sort(x, out=(lib.empty(0), lib.empty(0, dtype=lib.int64))),
        lambda lib, x: lib.sort(
            x, out=(lib.empty(0, dtype=lib.int64), lib.empty(0, dtype=lib.int32))
        ),
        lambda lib, x: lib.topk(x, 2, out=(lib.empty(0), lib.empty(0, dtype=lib.int64))),
        lambda lib, x: lib.argmax(x, out=lib.empty(0, dtype=lib.int32)),
        lambda lib, x: lib.isin(x, x, out=lib.empty(0)),
        lambda lib, x: lib.cummax(x, 0, out=(lib.empty(0), lib.empty(0, dtype=lib.int64))),
    ],
)
def test_out_of_another_dtype_is_refused(call):
    for lib in (torch, kiln):
        with pytest.raises(
            RuntimeError, match="(?i)expected (out tensor to have dtype|scalar_type)"
        ):
            call(lib, lib.tensor([3, 1, 2]))


def test_isin_and_sort_write_into_out():
    def run(lib):
        x = lib.tensor([3, 1, 2, 1])
        o = lib.empty(4, dtype=lib.bool)
        assert lib.isin(x, lib.tensor([1, 5]), out=o) is o
        values, indices = lib.empty(4, dtype=lib.int64), lib.empty(4, dtype=lib.int64)
        ret = lib.sort(x, stable=True, out=(values, indices))
        assert ret[0] is values and ret[1] is indices
        return lib.cat([o.long(), values, indices])

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib, y: lib.add(y[:-1], 10, out=y[1:]),
        lambda lib, y: lib.mul(y[1:], 2, out=y[:-1]),
        lambda lib, y: lib.cat([y[:3], y[3:]], out=y),
    ],
)
def test_out_overlapping_an_input_is_refused(call):
    for lib in (torch, kiln):
        with pytest.raises(RuntimeError, match="unsupported operation"):
            call(lib, lib.arange(6.0))


def test_out_that_is_the_input_or_disjoint_from_it_is_allowed():
    def run(lib):
        y = lib.arange(6.0)
        lib.mul(y, 2, out=y)
        lib.add(y[::2], 1, out=y[1::2])
        return y

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------------- missing names


def test_tensor_methods_that_were_only_functions():
    data = np.array([[-1.0, 0.2, 3.0], [0.7, -0.3, 1.0]])

    def run(lib):
        x = lib.tensor(data, dtype=lib.float64, requires_grad=True)
        w = lib.tensor([0.25], dtype=lib.float64, requires_grad=True)
        y = x.prelu(w) * 2 + x.hardshrink(0.5) + x.hardshrink() + x.resolve_neg()
        assert x.is_neg() is False
        y.sum().backward()
        return y.detach(), x.grad, w.grad

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_unique_consecutive_method():
    def run(lib):
        values, inverse, counts = lib.tensor([1, 1, 2, 2, 3, 1, 1]).unique_consecutive(
            return_inverse=True, return_counts=True
        )
        return lib.cat([values, inverse, counts])

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


def test_igamma_methods_and_inplace():
    def run(lib):
        a = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)
        b = lib.tensor([2.0, 1.0, 0.5], dtype=lib.float64)
        lower, upper = a.igamma(b), a.igammac(b)
        assert a.igamma_(b) is a
        return lib.cat([lower, upper, a])

    want, got = _both(run)
    # (kiln.special.gammaincc(1, 2) is exp(-2) to 2e-12 only)
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib, y: lib.select_copy(y, 1, 2),
        lambda lib, y: lib.slice_copy(y, 2, 1, None, 2),
        lambda lib, y: lib.slice_copy(y, 0, -1),
        lambda lib, y: lib.split_copy(y, 2, 2)[1],
        lambda lib, y: lib.detach_copy(y),
        lambda lib, y: lib.adjoint(y),
    ],
)
def test_copy_variants_are_values_not_views(call):
    def run(lib):
        y = lib.arange(24.0).reshape(2, 3, 4)
        out = call(lib, y)
        snapshot = out.clone()
        y.add_(100)  # a copy must not see this (adjoint is a view and must)
        return lib.cat([snapshot.flatten(), out.flatten()])

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


def test_torch_ops_aten_forwards_to_the_namespace():
    def run(lib):
        a = lib.tensor([1, 2, 3])
        b = lib.tensor([2, 4])
        out = lib.empty_like(a, dtype=lib.bool)
        lib.ops.aten.isin.Tensor_Tensor_out(a, b, invert=True, assume_unique=False, out=out)
        x = lib.arange(6.0).reshape(2, 3)
        alias = lib.ops.aten.alias(x)
        alias += 1  # an alias shares memory
        summed = lib.ops.aten.add.Tensor(x, lib.ops.aten.relu.default(x - 3))
        return lib.cat([out.double(), x.flatten().double(), summed.flatten().double()])

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(NotImplementedError, match="aten.no_such_op"):
        kiln.ops.aten.no_such_op(kiln.ones(1))


# ----------------------------------------------------------------------------- torch.optim.Muon
# (tinygrad's test_optim.py checks its Muon against torch.optim.Muon; kiln had none)


def _muon_run(lib, shape, steps, compiled=False, **kwargs):
    rs = np.random.RandomState(0)
    w0 = rs.randn(*shape).astype(np.float32)
    x = lib.tensor(rs.randn(3, shape[0]).astype(np.float32))
    w = lib.tensor(w0, requires_grad=True)
    opt = lib.optim.Muon([w], **kwargs)

    def step(x):
        opt.zero_grad()
        loss = (x @ w).relu().sum() + (w * w).sum()
        loss.backward()
        opt.step()
        return loss

    fn = kiln.jit(step) if compiled else step
    for _ in range(steps):
        fn(x)
    return w.detach().numpy()


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((6, 4), dict(lr=0.1)),
        ((4, 6), dict(lr=0.02, weight_decay=0.01, nesterov=False)),
        ((5, 5), dict(lr=1.1, momentum=0.9, ns_steps=3, ns_coefficients=(2.0, -1.5, 0.5))),
        ((6, 4), dict(lr=0.05, adjust_lr_fn="match_rms_adamw")),
        ((4, 6), dict(lr=0.05, adjust_lr_fn="original", eps=1e-3)),
    ],
)
def test_muon_matches_torch(shape, kwargs):
    want = _muon_run(torch, shape, 4, **kwargs)
    got = _muon_run(kiln, shape, 4, **kwargs)
    # (the Newton-Schulz iteration runs in bfloat16 in both)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_muon_step_under_jit_equals_eager():
    eager = _muon_run(kiln, (6, 4), 3, lr=0.1)
    np.testing.assert_allclose(_muon_run(kiln, (6, 4), 3, compiled=True, lr=0.1), eager, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.optim.Muon([lib.ones(3, requires_grad=True)]),
        lambda lib: lib.optim.Muon([lib.ones(2, 2, requires_grad=True)], adjust_lr_fn="typo"),
        lambda lib: lib.optim.Muon([lib.ones(2, 2, requires_grad=True)], lr=-1.0),
    ],
)
def test_muon_refuses_what_torch_refuses(make):
    for lib in (torch, kiln):
        with pytest.raises(ValueError):
            make(lib)


# ----------------------------------------------------------------------------- setitem
# (tinygrad's test_setitem.py) ``t[a:b:-1] = v`` wrote through NumPy's negative step where
# PyTorch raises ValueError, and a source sharing memory with what it overwrites was copied
# where PyTorch refuses it.


@pytest.mark.parametrize(
    "index", [slice(None, None, -1), (slice(5, 1, -2), slice(None)), (0, slice(None, None, -2))]
)
def test_setitem_with_a_negative_step_raises_value_error(index):
    for lib in (torch, kiln):
        with pytest.raises(ValueError, match="step must be greater than zero"):
            lib.zeros(6, 6)[index] = 1.0


@pytest.mark.parametrize(
    "write",
    [
        lambda t: t.__setitem__(slice(1, None), t[:-1]),
        lambda t: t.__setitem__(slice(None, -1), t[1:]),
        lambda t: t.__setitem__([0, 1], t[4:6]),
        lambda t: t.__setitem__([0, 1], t[5]),
    ],
)
def test_setitem_from_overlapping_memory_is_refused(write):
    for lib in (torch, kiln):
        with pytest.raises(RuntimeError, match="unsupported operation"):
            write(lib.arange(6.0))


def test_setitem_from_disjoint_or_identical_memory_is_allowed():
    def run(lib):
        t = lib.arange(6.0)
        t[:] = t
        t[::2] = t[1::2]
        t[1:] = t[0]
        t[[0, 1]] = t[4:6].clone()
        u = lib.arange(6.0).reshape(2, 3)
        u[0] = u[1]
        return lib.cat([t, u.flatten()])

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["+= 2", "-= 1", "*= 2", "**= 2", "^= 5", "//= 2", "%= 2", "<<= 1"])
def test_augmented_setitem_on_a_row(op):
    def run(lib):
        t = lib.arange(4).reshape(2, 2)
        exec(f"t[1] {op}", {}, {"t": t})
        return t

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


def test_setitem_with_a_negative_step_raises_also_on_the_autograd_path():
    for lib in (torch, kiln):
        y = lib.zeros(6, requires_grad=True) * 1
        with pytest.raises(ValueError, match="step must be greater than zero"):
            y[::-1] = 1.0


# ----------------------------------------------------------------------------- .grad accumulation
# (tinygrad's test_gradient.py asserts the accumulated .grad is the same tensor) kiln built a
# new .grad on each backward: ``g = w.grad`` taken after the first backward kept the first
# gradient only (silently stale).


def test_second_backward_accumulates_into_the_same_grad_tensor():
    def run(lib):
        w = lib.ones(3, requires_grad=True)
        first = None
        for i in range(3):
            (w * (i + 1.0) * lib.arange(3.0)).sum().backward()
            if first is None:
                first = w.grad
        assert w.grad is first
        return first

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore:Using backward:UserWarning")
def test_accumulation_with_create_graph_builds_a_new_grad():
    def run(lib):
        x = lib.tensor([2.0], dtype=lib.float64, requires_grad=True)
        (x**3).sum().backward(create_graph=True)
        first = x.grad
        (x**2).sum().backward(create_graph=True)
        assert x.grad is not first  # (PyTorch: grad + new_grad, out of place)
        (h,) = lib.autograd.grad(x.grad.sum(), x)
        return lib.cat([first.detach(), x.grad.detach(), h])

    want, got = _both(run)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ----------------------------------------------------------------------------- mixed dtypes
# (the tinygrad op suite with float16 inputs) A float16/bfloat16 input with float32 norm
# parameters gave a float32 result where PyTorch's CPU kernels keep the input's dtype, and
# huber_loss / binary_cross_entropy(_with_logits) followed promotion where PyTorch's
# kernels write into the input's (target's) dtype.


def _mixed(lib, fn, low, high):
    rs = np.random.RandomState(3)
    x = lib.tensor(rs.randn(4, 3, 5).astype(np.float32)).to(getattr(lib, low))
    y = lib.tensor(rs.rand(4, 3, 5).astype(np.float32))
    w = lib.tensor(rs.rand(3).astype(np.float32) + 0.5)
    return fn(lib, x, y, w, getattr(lib, low), getattr(lib, high))


_MIXED = {
    "layer_norm": lambda lib, x, y, w, lo, hi: lib.nn.functional.layer_norm(
        x, (5,), w.new_ones(5), w.new_zeros(5) + 0.1
    ),
    "group_norm": lambda lib, x, y, w, lo, hi: lib.nn.functional.group_norm(x, 3, w, w),
    "batch_norm": lambda lib, x, y, w, lo, hi: lib.nn.functional.batch_norm(
        x, w.clone(), w.clone(), w, w, training=True
    ),
    "batch_norm_eval": lambda lib, x, y, w, lo, hi: lib.nn.functional.batch_norm(x, w, w, w, w),
    "LayerNorm_module": lambda lib, x, y, w, lo, hi: lib.nn.LayerNorm(5)(x),
    "huber": lambda lib, x, y, w, lo, hi: lib.nn.functional.huber_loss(x, y.to(hi)),
    "huber_none": lambda lib, x, y, w, lo, hi: lib.nn.functional.huber_loss(
        x.to(hi), y.to(lo), reduction="none"
    ),
    "bce_logits_target": lambda lib, x, y, w, lo, hi: (
        lib.nn.functional.binary_cross_entropy_with_logits(x.to(hi), y.to(lo))
    ),
    "bce_logits_pos_weight": lambda lib, x, y, w, lo, hi: (
        lib.nn.functional.binary_cross_entropy_with_logits(
            x, y.to(lo), pos_weight=w.reshape(3, 1).to(hi), reduction="none"
        )
    ),
    "bce_weight": lambda lib, x, y, w, lo, hi: lib.nn.functional.binary_cross_entropy(
        x.sigmoid(), y.to(lo), weight=w.reshape(3, 1).to(hi)
    ),
}


@pytest.mark.parametrize("name", sorted(_MIXED))
@pytest.mark.parametrize("low, high", [("float16", "float32"), ("bfloat16", "float32")])
def test_mixed_precision_result_dtype_and_value(name, low, high):
    if low == "bfloat16" and name.startswith(("huber", "bce")):
        high = "float64"  # (float32 vs float64 follows the same rule)
        low = "float32"
    want = _mixed(torch, _MIXED[name], low, high)
    got = _mixed(kiln, _MIXED[name], low, high)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    tol = 2e-2 if "16" in str(want.dtype) else 1e-5
    np.testing.assert_allclose(
        got.detach().double().numpy(), want.detach().double().numpy(), rtol=tol, atol=tol
    )


@pytest.mark.parametrize("name", ["layer_norm", "group_norm", "batch_norm", "huber", "bce_weight"])
def test_mixed_precision_float64_gradient(name):
    def run(lib):
        rs = np.random.RandomState(4)
        x = lib.tensor(rs.randn(4, 3, 5), requires_grad=True)
        y = lib.tensor(rs.rand(4, 3, 5))
        w = lib.tensor(rs.rand(3) + 0.5)
        out = _MIXED[name](lib, x, y, w, lib.float64, lib.float64)
        (out * lib.arange(out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
        return x.grad

    want, got = _both(run)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- lerp
# PyTorch's lerp is two-sided (``end + (w - 1)(end - start)`` for ``|w| >= 1/2``) and each
# side one fused multiply-add: kiln's ``start + w * (end - start)`` differed in the last bit
# on 25-50% of float32 elements (0 now). Mixed dtypes raise, as PyTorch's kernel.


@pytest.mark.parametrize("weight", [0.7, 0.3, -0.2, 1.5, "tensor"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_lerp_is_bit_identical_to_pytorch(weight, dtype):
    rs = np.random.RandomState(0)
    a, b = rs.randn(2, 5000).astype(np.float32)
    w = (rs.rand(5000) * 3 - 1).astype(np.float32)

    def run(lib):
        cast = getattr(lib, dtype)
        wt = lib.tensor(w).to(cast) if weight == "tensor" else weight
        return lib.lerp(lib.tensor(a).to(cast), lib.tensor(b).to(cast), wt).float()

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("weight", [0.7, 0.2, "tensor"])
def test_lerp_float64_values_and_gradients(weight):
    rs = np.random.RandomState(1)
    a, b, w = rs.randn(3, 7)

    def run(lib):
        x = lib.tensor(a, requires_grad=True)
        y = lib.tensor(b, requires_grad=True)
        wt = lib.tensor(w, requires_grad=True) if weight == "tensor" else weight
        out = x.lerp(y, wt)
        (out * lib.arange(7.0, dtype=lib.float64)).sum().backward()
        grads = [x.grad, y.grad] + ([wt.grad] if weight == "tensor" else [])
        return [out.detach()] + grads

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-14, atol=1e-15)


def test_lerp_under_jit_equals_eager():
    a = kiln.tensor(np.random.RandomState(2).randn(50).astype(np.float32))
    b = a * -3 + 1
    w = kiln.tensor(np.linspace(-1, 2, 50).astype(np.float32))

    def f(a, b, w):
        return kiln.lerp(a, b, w) + kiln.lerp(a, b, 0.75)

    np.testing.assert_array_equal(kiln.jit(f)(a, b, w).numpy(), f(a, b, w).numpy())


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda lib: lib.lerp(lib.ones(2).half(), lib.ones(2), 0.5), RuntimeError),
        (lambda lib: lib.ones(2).lerp(lib.ones(2).double(), 0.5), RuntimeError),
        (lambda lib: lib.lerp(lib.ones(2), lib.ones(2), lib.ones(2).double()), RuntimeError),
        (
            lambda lib: lib.lerp(lib.ones(2, dtype=lib.int64), lib.ones(2, dtype=lib.int64), 0.5),
            NotImplementedError,
        ),
    ],
)
def test_lerp_refuses_mixed_dtypes(call, error):
    for lib in (torch, kiln):
        with pytest.raises(error):
            call(lib)
    np.testing.assert_array_equal(  # a 0-d weight of another dtype is fine
        kiln.lerp(kiln.ones(2), kiln.zeros(2), kiln.tensor(0.25).double()).numpy(),
        torch.lerp(torch.ones(2), torch.zeros(2), torch.tensor(0.25).double()).numpy(),
    )


# ----------------------------------------------------------------------------- addcmul, addcdiv
# PyTorch computes addcmul as fma(value * t1, t2, x) and addcdiv as x + (value * t1) / t2:
# kiln's x + (t1 * t2) * value and x + (t1 / t2) * value differed in the last bit on
# 23% and 14% of float32 elements (0 now).


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("value", [0.3, 1, -2.5])
@pytest.mark.parametrize("name", ["addcmul", "addcdiv"])
def test_addcmul_addcdiv_are_bit_identical_to_pytorch(name, value, dtype):
    rs = np.random.RandomState(0)
    a, b = (rs.randn(2, 4000) * 2).astype(np.float32)
    c = (rs.rand(4000) + 0.5).astype(np.float32)

    def run(lib):
        x, t1, t2 = (lib.tensor(v).to(getattr(lib, dtype)) for v in (a, b, c))
        return getattr(lib, name)(x, t1, t2, value=value).float()

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["addcmul", "addcdiv"])
def test_addcmul_addcdiv_float64_gradients_and_jit(name):
    rs = np.random.RandomState(5)
    a, b, c = rs.randn(3, 4, 5)
    c = np.abs(c) + 0.5

    def run(lib):
        x, t1, t2 = (lib.tensor(v, requires_grad=True) for v in (a, b, c))
        out = getattr(lib, name)(x, t1, t2[0], value=0.7)  # (t2 broadcast)
        (out * out).sum().backward()
        return [out.detach(), x.grad, t1.grad, t2.grad]

    for want, got in zip(run(torch), run(kiln)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-13, atol=1e-14)
    f = getattr(kiln, name)
    x, t1, t2 = (kiln.tensor(v.astype(np.float32)) for v in (a, b, c))
    np.testing.assert_array_equal(
        kiln.jit(lambda x, y, z: f(x, y, z, value=0.7))(x, t1, t2).numpy(),
        f(x, t1, t2, value=0.7).numpy(),
    )


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_hardswish_is_bit_identical_to_pytorch(dtype):
    x = (np.random.RandomState(0).randn(20000) * 3).astype(np.float32)

    def run(lib):
        return lib.nn.functional.hardswish(lib.tensor(x).to(getattr(lib, dtype))).double()

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)

    def grad(lib):
        t = lib.tensor(x.astype(np.float64), requires_grad=True)
        lib.nn.functional.hardswish(t).sum().backward()
        return t.grad

    np.testing.assert_allclose(grad(kiln).numpy(), grad(torch).numpy(), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_cube_is_bit_identical_to_pytorch(dtype):
    x = (np.random.RandomState(0).randn(20000) * 2).astype(np.float32)

    def run(lib):
        return (lib.tensor(x).to(getattr(lib, dtype)) ** 3).double()

    want, got = _both(run)
    np.testing.assert_array_equal(got, want)

    def grad(lib):
        t = lib.tensor([1.5, -2.0, 0.0, np.inf], dtype=lib.float64, requires_grad=True)
        y = t**3
        assert "PowBackward0" in (type(y.grad_fn).__name__ if lib is torch else y.grad_fn.name())
        (y * lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=lib.float64)).sum().backward()
        return t.grad

    np.testing.assert_array_equal(grad(kiln).numpy(), grad(torch).numpy())
    a = kiln.tensor(x)
    np.testing.assert_array_equal(kiln.jit(lambda v: v**3)(a).numpy(), (a**3).numpy())


@pytest.mark.parametrize(
    "make", [lambda lib: lib.rand(5, generator="foo"), lambda lib: lib.randn(2, generator=3)]
)
def test_random_factory_refuses_a_generator_of_another_type(make):
    for lib in (torch, kiln):
        with pytest.raises(TypeError):
            make(lib)


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_factory_without_a_size_raises_type_error(name):
    for lib in (torch, kiln):
        with pytest.raises(TypeError):
            getattr(lib, name)()
        assert tuple(getattr(lib, name)(()).shape) == ()  # an empty size is a 0-d tensor


# ----------------------------------------------------------------------------- attention
# A query row that the mask hides from every key: PyTorch's CPU kernel gives zeros (and zero
# gradients); kiln's softmax over -inf alone gave NaN.


@pytest.mark.parametrize("kind", ["bool", "float", "causal"])
def test_sdpa_fully_masked_rows_are_zero(kind):
    rs = np.random.RandomState(0)
    qn, kn, vn = rs.randn(2, 1, 3, 4), rs.randn(2, 1, 5, 4), rs.randn(2, 1, 5, 4)

    def run(lib):
        q, k, v = (lib.tensor(a, requires_grad=True) for a in (qn, kn, vn))
        if kind == "bool":
            mask = lib.ones(3, 5, dtype=lib.bool)
            mask[1] = False
            kwargs = dict(attn_mask=mask)
        elif kind == "float":
            mask = lib.zeros(3, 5, dtype=lib.float64)
            mask[1] = float("-inf")
            mask[0, 2] = float("-inf")
            kwargs = dict(attn_mask=mask)
        else:  # a causal mask plus a boolean one that hides the only key row 0 may see
            mask = lib.ones(3, 5, dtype=lib.bool)
            mask[0, 0] = False
            kwargs = dict(attn_mask=mask, is_causal=False)
            kwargs["attn_mask"] = lib.logical_and(mask, lib.ones(3, 5, dtype=lib.bool).tril())
        out = lib.nn.functional.scaled_dot_product_attention(q, k, v, **kwargs)
        (out * lib.arange(out.numel(), dtype=lib.float64).reshape(out.shape)).sum().backward()
        return [out.detach(), q.grad, k.grad, v.grad]

    for want, got in zip(run(torch), run(kiln)):
        assert not np.isnan(got.numpy()).any()
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


def test_sdpa_fully_masked_rows_under_jit_equal_eager():
    q = kiln.tensor(np.random.RandomState(1).randn(1, 2, 3, 4).astype(np.float32))
    mask = kiln.tensor(np.array([[True] * 5, [False] * 5, [True, False] * 2 + [True]]))
    k = kiln.ones(1, 2, 5, 4)

    def f(q, k):
        return kiln.nn.functional.scaled_dot_product_attention(q, k, k, attn_mask=mask)

    np.testing.assert_array_equal(kiln.jit(f)(q, k).numpy(), f(q, k).numpy())


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_with_a_fully_padded_sequence(need_weights):
    x = np.random.RandomState(0).randn(2, 4, 8).astype(np.float32)

    def run(lib):
        m = lib.nn.MultiheadAttention(8, 2, batch_first=True)
        rs = np.random.RandomState(1)
        m.load_state_dict(
            {
                k: lib.tensor(rs.randn(*v.shape).astype(np.float32) * 0.3)
                for k, v in m.state_dict().items()
            }
        )
        m.eval()
        padding = lib.tensor(np.array([[False] * 3 + [True], [True] * 4]))
        with lib.no_grad():
            out, _ = m(
                lib.tensor(x),
                lib.tensor(x),
                lib.tensor(x),
                key_padding_mask=padding,
                need_weights=need_weights,
            )
        return out

    want, got = _both(run)
    # (PyTorch: NaN where the weights are computed, its SDPA's zeros without them)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.isnan(got).any() == need_weights
