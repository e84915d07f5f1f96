"""The shape/index/creation surface and the ``torch.*`` aliases of issue 14 (surface16),
against PyTorch: values, shapes, dtypes, view semantics (a write through the view shows in
the base where PyTorch's result is a view), gradients in float64, errors, and a few calls
under ``kiln.jit`` equal to eager.

Each row of a table is ``(name, call, inputs)``: ``call(m, *tensors)`` runs with ``m`` the
module (``kiln`` or ``torch``); ``inputs`` are NumPy arrays given to both.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(16)


def _arr(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


A23 = _arr(2, 3)
A234 = _arr(2, 3, 4)
A345 = _arr(3, 4, 5)
A6 = _arr(6)
A44 = _arr(4, 4)
I6 = np.arange(6)

# (name, call, inputs); every call's inputs are float64 unless the row says otherwise
FORWARD = [
    ("ravel", lambda m, x: m.ravel(x), [A234]),
    ("ravel_t", lambda m, x: m.ravel(x.t()), [A23]),
    ("ravel_0d", lambda m, x: m.ravel(x), [np.array(2.5)]),
    ("select", lambda m, x: m.select(x, 1, -1), [A234]),
    ("select_method", lambda m, x: x.select(-1, 2), [A234]),
    ("swapdims", lambda m, x: m.swapdims(x, 0, -1), [A234]),
    ("swapaxes_method", lambda m, x: x.swapaxes(0, 2), [A234]),
    ("moveaxis_method", lambda m, x: x.moveaxis(0, -1), [A234]),
    ("narrow_copy", lambda m, x: m.narrow_copy(x, 1, 1, 2), [A234]),
    ("narrow_copy_neg", lambda m, x: x.narrow_copy(-1, -3, 2), [A234]),
    ("tensor_split_int", lambda m, x: m.tensor_split(x, 3, 2), [A345]),
    ("tensor_split_idx", lambda m, x: x.tensor_split([1, 4], 1), [A345]),
    ("tensor_split_past_end", lambda m, x: m.tensor_split(x, [1, 10], 1), [A345]),
    ("tensor_split_backwards", lambda m, x: m.tensor_split(x, [3, 1], -1), [A345]),
    ("tensor_split_negative", lambda m, x: m.tensor_split(x, [-2], 0), [A345]),
    ("tensor_split_tensor", lambda m, x: m.tensor_split(x, m.tensor([1, 3]), 2), [A345]),
    ("tensor_split_0d_tensor", lambda m, x: m.tensor_split(x, m.tensor(2), 2), [A345]),
    ("hsplit", lambda m, x: m.hsplit(x, 2), [A345]),
    ("hsplit_1d", lambda m, x: m.hsplit(x, [2, 5]), [A6]),
    ("vsplit", lambda m, x: x.vsplit([1]), [A345]),
    ("dsplit", lambda m, x: m.dsplit(x, 5), [A345]),
    ("column_stack", lambda m, x, y: m.column_stack([x, y, x]), [A6, _arr(6)]),
    ("column_stack_2d", lambda m, x, y: m.column_stack([x, y]), [A23, _arr(2, 3)]),
    ("row_stack", lambda m, x, y: m.row_stack([x, y]), [A6, _arr(6)]),
    ("dstack", lambda m, x, y: m.dstack([x, y]), [A23, _arr(2, 3)]),
    ("dstack_1d", lambda m, x, y: m.dstack((x, y)), [A6, _arr(6)]),
    ("split_with_sizes", lambda m, x: m.split_with_sizes(x, [1, 3, 1], 2), [A345]),
    ("unsafe_split", lambda m, x: m.unsafe_split(x, 2, 1), [A345]),
    ("unsafe_chunk", lambda m, x: x.unsafe_chunk(3, -1), [A345]),
    ("diag_embed", lambda m, x: m.diag_embed(x), [A23]),
    ("diag_embed_off", lambda m, x: m.diag_embed(x, 1, 0, 2), [A23]),
    ("diag_embed_neg", lambda m, x: m.diag_embed(x, -2, -1, 0), [A23]),
    ("diagflat", lambda m, x: m.diagflat(x), [A23]),
    ("diagflat_off", lambda m, x: x.diagflat(-1), [A6]),
    ("diagonal_scatter", lambda m, x, s: m.diagonal_scatter(x, s), [A44, _arr(4)]),
    ("diagonal_scatter_off", lambda m, x, s: m.diagonal_scatter(x, s, 1), [A44, _arr(3)]),
    (
        "diagonal_scatter_rect",
        lambda m, x, s: m.diagonal_scatter(x, s, -1, 2, 0),
        [A345, _arr(4, 3)],
    ),  # noqa: E501
    ("select_scatter", lambda m, x, s: m.select_scatter(x, s, 1, -1), [A345, _arr(3, 5)]),
    ("slice_scatter", lambda m, x, s: m.slice_scatter(x, s, 1, 1, 3), [A345, _arr(3, 2, 5)]),
    (
        "slice_scatter_step",
        lambda m, x, s: m.slice_scatter(x, s, 2, 0, None, 2),
        [A345, _arr(3, 4, 3)],
    ),  # noqa: E501
    ("slice_scatter_step3", lambda m, x, s: x.slice_scatter(s, -1, 1, 5, 3), [A345, _arr(3, 4, 2)]),  # noqa: E501
    ("rot90", lambda m, x: m.rot90(x), [A234]),
    ("rot90_k2", lambda m, x: m.rot90(x, 2, [1, 2]), [A234]),
    ("rot90_k3", lambda m, x: x.rot90(-1, [2, 0]), [A234]),
    ("rot90_k0", lambda m, x: m.rot90(x, 4), [A234]),
    ("fliplr", lambda m, x: m.fliplr(x), [A234]),
    ("flipud", lambda m, x: x.flipud(), [A6]),
    ("combinations", lambda m, x: m.combinations(x), [A6[:4]]),
    ("combinations_r3", lambda m, x: m.combinations(x, 3), [A6[:5]]),
    ("combinations_repl", lambda m, x: m.combinations(x, 2, with_replacement=True), [A6[:3]]),
    ("combinations_too_few", lambda m, x: m.combinations(x, 3), [A6[:2]]),
    ("combinations_r0", lambda m, x: m.combinations(x, 0), [A6[:2]]),
    ("cartesian_prod", lambda m, x, y: m.cartesian_prod(x, y), [A6[:2], A6[:3]]),
    ("take", lambda m, x: m.take(x, m.tensor([0, -1, 5])), [A23]),
    (
        "put",
        lambda m, x: m.put(x, m.tensor([0, -1, 2]), m.tensor([1.0, 2.0, 3.0], dtype=m.float64)),
        [A23],
    ),  # noqa: E501
    (
        "put_acc",
        lambda m, x: x.put(m.tensor([1, 1, -5]), m.tensor([1.0, 2.0, 3.0], dtype=m.float64), True),
        [A23],
    ),  # noqa: E501
    (
        "index_reduce_prod",
        lambda m, x, s: m.index_reduce(x, 0, m.tensor([0, 2, 0]), s, "prod"),
        [A23[:, :2].repeat(2, 0)[:3], _arr(3, 2)],
    ),  # noqa: E501
    (
        "index_reduce_mean",
        lambda m, x, s: x.index_reduce(1, m.tensor([0, 1, 1, 0]), s, "mean"),
        [A23, _arr(2, 4)],
    ),  # noqa: E501
    (
        "index_reduce_amax_excl",
        lambda m, x, s: x.index_reduce(1, m.tensor([2, 2, 0, 2]), s, "amax", include_self=False),
        [A23, _arr(2, 4)],
    ),  # noqa: E501
    (
        "index_reduce_amin",
        lambda m, x, s: x.index_reduce(0, m.tensor([1, 1]), s, "amin"),
        [A23, _arr(2, 3)],
    ),  # noqa: E501
    ("masked_scatter_", lambda m, x, s: x.clone().masked_scatter_(x > 0, s), [A23, _arr(6)]),
    ("where_method", lambda m, x, y: x.where(x > 0, y), [A23, _arr(2, 3)]),
    ("where_method_scalar", lambda m, x: x.where(x > 0, 0.5), [A23]),
    ("sum_to_size", lambda m, x: x.sum_to_size(4, 1), [A345]),
    ("sum_to_size_lead", lambda m, x: x.sum_to_size((1, 5)), [A345]),
    ("sum_to_size_same", lambda m, x: x.sum_to_size(3, 4, 5), [A345]),
    ("as_strided", lambda m, x: m.as_strided(x, (3, 2), (1, 2)), [A23]),
    ("as_strided_offset", lambda m, x: x.as_strided((2, 2), (3, 1), 1), [A23]),
    ("as_strided_overlap", lambda m, x: m.as_strided(x, (4, 3), (1, 1)), [A6]),
    ("rsub", lambda m, x, y: m.rsub(x, y, alpha=2), [A23, _arr(2, 3)]),
    ("rsub_scalar", lambda m, x: m.rsub(x, 5.0), [A23]),
    ("fill", lambda m, x: m.fill(x, 3.5), [A23]),
    ("fill_tensor", lambda m, x, v: m.fill(x, v), [A23, np.array(-0.0)]),
    ("detach", lambda m, x: m.detach(x), [A23]),
    ("channel_shuffle", lambda m, x: m.channel_shuffle(x, 2), [_arr(2, 4, 3)]),
    ("constant_pad_nd", lambda m, x: m.constant_pad_nd(x, [1, 2, 0, 1], 0.5), [A23]),
    ("pixel_shuffle", lambda m, x: m.pixel_shuffle(x, 2), [_arr(1, 8, 2, 3)]),
]

INT_FORWARD = [
    ("select_int", lambda m, x: m.select(x, 0, 1), [I6.reshape(2, 3)]),
    ("diag_embed_int", lambda m, x: m.diag_embed(x, 1), [I6.reshape(2, 3)]),
    ("rot90_int", lambda m, x: m.rot90(x, 1, [1, 0]), [I6.reshape(2, 3)]),
    ("slice_scatter_int", lambda m, x, s: m.slice_scatter(x, s, 0, 0, 6, 2), [I6, I6[:3]]),
    ("combinations_int", lambda m, x: m.combinations(x), [I6[:3]]),
    ("sum_to_size_int", lambda m, x: x.sum_to_size(1, 3), [I6.reshape(2, 3)]),
    ("empty_select", lambda m, x: m.select(x, 1, 0), [np.zeros((0, 2))]),
    ("empty_diag_embed", lambda m, x: m.diag_embed(x), [np.zeros((2, 0))]),
    ("empty_rot90", lambda m, x: m.rot90(x), [np.zeros((0, 3))]),
    ("empty_split", lambda m, x: m.hsplit(x, 2), [np.zeros((0, 4))]),
]


def _to(m, a):
    return m.tensor(a) if m is kiln else torch.tensor(a)


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(k_out, t_out, rtol=1e-12, atol=1e-12):
    k_out, t_out = _flat(k_out), _flat(t_out)
    assert len(k_out) == len(t_out)
    for k, t in zip(k_out, t_out):
        assert tuple(k.shape) == tuple(t.shape), (k.shape, t.shape)
        assert k.dtype.name == str(t.dtype).replace("torch.", ""), (k.dtype, t.dtype)
        np.testing.assert_allclose(k.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "name, call, inputs", FORWARD + INT_FORWARD, ids=[r[0] for r in FORWARD + INT_FORWARD]
)
def test_forward_matches_torch(name, call, inputs):
    k = call(kiln, *[_to(kiln, a) for a in inputs])
    t = call(torch, *[_to(torch, a) for a in inputs])
    _compare(k, t)


_NOT_DIFFERENTIABLE = {"detach", "combinations_r0"}


DIFFERENTIABLE = [row for row in FORWARD if row[0] not in _NOT_DIFFERENTIABLE]


@pytest.mark.parametrize("name, call, inputs", DIFFERENTIABLE, ids=[r[0] for r in DIFFERENTIABLE])
def test_gradients_match_torch(name, call, inputs):
    """float64 gradients of every input, for a random weighting of the outputs."""
    grads = {}
    for m in (kiln, torch):
        xs = [_to(m, a).requires_grad_(True) for a in inputs]
        outs = [o for o in _flat(call(m, *xs)) if o.requires_grad]
        weights = [np.random.default_rng(1).standard_normal(tuple(o.shape)) for o in outs]
        sum((o * _to(m, w)).sum() for o, w in zip(outs, weights)).backward()
        grads[m] = [None if x.grad is None else x.grad.numpy() for x in xs]
    for gk, gt in zip(grads[kiln], grads[torch]):
        if gt is None:
            assert gk is None or not np.any(gk)
        else:
            np.testing.assert_allclose(gk, gt, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ views
VIEWS = [
    ("select", lambda m, x: m.select(x, 1, 1)),
    ("ravel", lambda m, x: m.ravel(x)),
    ("split_with_sizes", lambda m, x: m.split_with_sizes(x, [1, 2], 1)[1]),
    ("hsplit", lambda m, x: m.hsplit(x, [1])[1]),
    ("vsplit", lambda m, x: m.vsplit(x, 2)[1]),
    ("swapdims", lambda m, x: m.swapdims(x, 0, 1)),
    ("as_strided", lambda m, x: m.as_strided(x, (2, 2), (1, 3), 1)),
    ("unsafe_chunk", lambda m, x: m.unsafe_chunk(x, 3, 1)[2]),
]


@pytest.mark.parametrize("name, call", VIEWS, ids=[v[0] for v in VIEWS])
def test_writes_through_views_reach_the_base(name, call):
    results = {}
    for m in (kiln, torch):
        base = _to(m, np.arange(6.0).reshape(2, 3))
        view = call(m, base)
        before = base._version
        view.mul_(-1)
        if not name.startswith("unsafe"):  # (PyTorch's unsafe_* skip the version counter)
            assert base._version > before  # one version counter per storage
        results[m] = base.numpy().copy()
    np.testing.assert_array_equal(results[kiln], results[torch])


@pytest.mark.parametrize("name", ["narrow_copy", "rot90", "diag_embed", "fill", "ravel_t"])
def test_copies_do_not_share_storage(name):
    calls = {
        "ravel_t": lambda m, x: m.ravel(x.t()),  # not contiguous: a copy
        "narrow_copy": lambda m, x: m.narrow_copy(x, 0, 0, 1),
        "rot90": lambda m, x: m.rot90(x, 4),
        "diag_embed": lambda m, x: m.diag_embed(x),
        "fill": lambda m, x: m.fill(x, 2.0),
    }
    for m in (kiln, torch):
        base = _to(m, np.arange(6.0).reshape(2, 3))
        out = calls[name](m, base)
        out.add_(100)
        np.testing.assert_array_equal(base.numpy(), np.arange(6.0).reshape(2, 3))


def test_view_gradient_after_write_through_select():
    """An in-place update of a select view rewrites the base's history (CopySlices)."""
    grads = {}
    for m in (kiln, torch):
        x = _to(m, A23).requires_grad_(True)
        y = x * 1.0
        m.select(y, 0, 1).mul_(3.0)
        (y * y).sum().backward()
        grads[m] = x.grad.numpy()
    np.testing.assert_allclose(grads[kiln], grads[torch], rtol=1e-12)


# ------------------------------------------------------------------ in-place metadata
INPLACE_META = [
    ("t_", lambda x: x.t_(), (2, 3)),
    ("transpose_", lambda x: x.transpose_(0, -1), (2, 3, 4)),
    ("swapdims_", lambda x: x.swapdims_(1, 2), (2, 3, 4)),
    ("swapaxes_", lambda x: x.swapaxes_(0, 1), (2, 3)),
    ("unsqueeze_", lambda x: x.unsqueeze_(-1), (2, 3)),
    ("squeeze_", lambda x: x.squeeze_(), (2, 1, 3, 1)),
    ("squeeze_dim", lambda x: x.squeeze_(1), (2, 1, 3)),
]


@pytest.mark.parametrize("name, call, shape", INPLACE_META, ids=[v[0] for v in INPLACE_META])
def test_inplace_metadata_same_object_and_gradient(name, call, shape):
    a = RNG.standard_normal(shape)
    out = {}
    for m in (kiln, torch):
        x = _to(m, a).requires_grad_(True)
        y = x * 2.0
        version = y._version
        same = call(y)
        assert same is y
        assert y._version == version + 1
        w = _to(m, np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        out[m] = (tuple(y.shape), y.detach().numpy().copy(), x.grad.numpy())
    assert out[kiln][0] == out[torch][0]
    np.testing.assert_allclose(out[kiln][1], out[torch][1])
    np.testing.assert_allclose(out[kiln][2], out[torch][2])


def test_inplace_metadata_on_a_leaf_and_views():
    for m in (kiln, torch):
        leaf = _to(m, A23).requires_grad_(True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            leaf.t_()
        with m.no_grad():
            leaf.t_()
        assert tuple(leaf.shape) == (3, 2) and leaf.requires_grad and leaf.grad_fn is None
        # a view keeps writing into its base after its shape changed in place
        base = m.zeros(2, 3, dtype=m.float64)
        row = base[0]
        row.unsqueeze_(0)
        row.fill_(1.0)
        np.testing.assert_array_equal(base.numpy(), [[1, 1, 1], [0, 0, 0]])


def test_inplace_metadata_of_a_view_keeps_the_base_history():
    """A view whose shape changed in place still rewrites its base's history when written."""
    grads = {}
    for m in (kiln, torch):
        x = _to(m, A23).requires_grad_(True)
        y = x * 1.0
        row = y[1]
        row.unsqueeze_(0)
        row.mul_(_to(m, np.array([[2.0, 3.0, 4.0]])))
        (y * y).sum().backward()
        grads[m] = (y.detach().numpy().copy(), x.grad.numpy())
    np.testing.assert_allclose(grads[kiln][0], grads[torch][0])
    np.testing.assert_allclose(grads[kiln][1], grads[torch][1])


def test_inplace_metadata_refuses_saved_tensor():
    """The version counter moves, so a backward that saved the old tensor refuses."""
    for m in (kiln, torch):
        x = _to(m, A23).requires_grad_(True)
        y = x * 2.0
        z = y * y  # saves y
        y.t_()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()


def test_inplace_metadata_under_jit_equals_eager():
    def f(x):
        y = x * 2.0
        y.unsqueeze_(0)
        y.transpose_(0, 2)
        return y.sum(1) + y.squeeze_().t_()[0]

    x = kiln.tensor(A23)
    np.testing.assert_allclose(kiln.jit(f)(x).numpy(), f(x).numpy())


# ------------------------------------------------------------------ resize_ and storage facts
def test_resize_matches_torch():
    for shrink, grow in [((2, 2), (6,)), ((3,), (2, 5)), ((6,), (6,))]:
        out = {}
        for m in (kiln, torch):
            x = m.arange(6, dtype=m.float64)
            a = x.resize_(*shrink).clone()
            b = x.resize_(grow)
            out[m] = (a.numpy(), tuple(b.shape), b.numpy().reshape(-1)[:6].copy())
        np.testing.assert_array_equal(out[kiln][0], out[torch][0])
        assert out[kiln][1] == out[torch][1]
        np.testing.assert_array_equal(out[kiln][2], out[torch][2])
    x = kiln.zeros(2, 3)
    assert x.resize_as_(kiln.zeros(3, 2)).shape == (3, 2)
    with pytest.raises(RuntimeError, match="cannot resize variables that require grad"):
        kiln.zeros(2, requires_grad=True).resize_(3)


def test_storage_facts_match_torch():
    for m in (kiln, torch):
        x = m.zeros(3, 4, dtype=m.float32)
        assert x.data_ptr() == x[0:].data_ptr() == x.view(12).data_ptr()
        assert x[1:].data_ptr() - x.data_ptr() == 16
        assert x.data_ptr() != m.zeros(3, 4).data_ptr()
        assert x.storage_offset() == 0 and x[1, 2:].storage_offset() == 6
        assert x.t().storage_offset() == 0
        assert x.nbytes == 48 and x.itemsize == 4 and x.element_size() == 4
        assert x.dim_order() == (0, 1) and x.t().dim_order() == (1, 0)
        assert m.zeros(2, 3, 4).permute(2, 0, 1).dim_order() == (1, 2, 0)
        assert x.is_cpu and x.get_device() == -1 and not x.is_inference()
        assert x.is_same_size(m.ones(3, 4)) and not x.is_same_size(m.ones(4, 3))
        assert m.tensor([2.0]).is_nonzero() and not m.tensor([[0]]).is_nonzero()
        signed = [
            d
            for d in ("float32", "int64", "int8", "uint8", "bool")
            if m.tensor([1], dtype=getattr(m, d)).is_signed()
        ]
        assert signed == ["float32", "int64", "int8"]


def test_as_strided_gradient_and_write_refusal():
    grads = {}
    for m in (kiln, torch):
        x = _to(m, A6).requires_grad_(True)
        y = x * 1.0
        out = m.as_strided(y, (3, 3), (1, 1), 1)  # overlapping windows
        (out * out).sum().backward()
        grads[m] = x.grad.numpy()
    np.testing.assert_allclose(grads[kiln], grads[torch])
    # eagerly without autograd it is a true view; as_strided_ re-points the tensor
    x = kiln.arange(6.0)
    x.as_strided_((2, 2), (2, 1), 1)
    np.testing.assert_array_equal(x.numpy(), [[1, 2], [3, 4]])
    # under autograd the result is a copy: writing into it must not be lost silently
    y = kiln.tensor(A6, requires_grad=True) * 1.0
    view = y.as_strided((2,), (1,))
    with pytest.raises(RuntimeError, match="as_strided"):
        view.add_(1.0)
    # reading storage outside a view: those elements are constants, as in PyTorch
    for m in (kiln, torch):
        x = _to(m, A6).requires_grad_(True)
        out = m.as_strided(x[1:3], (2,), (1,), 0)
        out.backward(_to(m, np.array([10.0, 20.0], dtype=A6.dtype)))
        grads[m] = (out.detach().numpy(), x.grad.numpy())
    for got, want in zip(grads[kiln], grads[torch]):
        np.testing.assert_array_equal(got, want)


def test_new_and_new_empty_strided():
    for m in (kiln, torch):
        x = m.zeros(2, dtype=m.float64)
        assert x.new().shape == (0,) and x.new().dtype == m.float64
        assert x.new(2, 3).shape == (2, 3) and x.new(m.Size([4])).shape == (4,)
        np.testing.assert_array_equal(x.new([1, 2]).numpy(), [1.0, 2.0])
        y = x.new_empty_strided((2, 3), (1, 2))
        assert y.stride() == (1, 2) and y.dtype == m.float64
        z = m.empty_strided((2, 3), (4, 1), dtype=m.int32)
        assert z.stride() == (4, 1) and z.dtype == m.int32
        p = m.empty_permuted((2, 3, 4), (0, 2, 1))
        assert p.shape == (2, 3, 4) and p.stride() == (12, 1, 3)


# ------------------------------------------------------------------ jit
JIT_ROWS = [
    ("select_scatter", lambda m, x: m.select_scatter(x, x[:, 0] * 2, 1, 2)),
    ("slice_scatter", lambda m, x: m.slice_scatter(x, x[:, ::2] + 1, 1, 0, None, 2)),
    ("diag_embed", lambda m, x: m.diag_embed(x, 1).sum(0)),
    ("diagonal_scatter", lambda m, x: m.diagonal_scatter(x[:, :2], x[0, :2])),
    ("rot90", lambda m, x: m.rot90(x, 3) * 2),
    ("hsplit", lambda m, x: m.hsplit(x, [1])[1] + 1),
    ("as_strided", lambda m, x: m.as_strided(x, (2, 2), (1, 1)) * 2),
    ("sum_to_size", lambda m, x: x.sum_to_size(1, 3)),
]


@pytest.mark.parametrize("name, call", JIT_ROWS, ids=[v[0] for v in JIT_ROWS])
def test_jit_equals_eager(name, call):
    x = kiln.tensor(A23)
    eager = call(kiln, x)
    compiled = kiln.jit(lambda t: call(kiln, t))(x)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-12)
    np.testing.assert_allclose(eager.numpy(), call(torch, torch.tensor(A23)).numpy())


def test_jit_gradient_equals_eager():
    def loss(x):
        return (kiln.diag_embed(x).sum_to_size(2, 1, 3) ** 2).sum() + kiln.select(x, 1, 0).sum()

    x = kiln.tensor(A23)
    eager = kiln.grad(loss)(x)
    compiled = kiln.jit(kiln.grad(loss))(x)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-12)


# ------------------------------------------------------------------ errors
ERRORS = [
    (lambda m: m.select(m.zeros(2, 3), 0, 5), IndexError, "out of range"),
    (lambda m: m.select(m.tensor(1.0), 0, 0), IndexError, "0-dim"),
    (lambda m: m.select(m.zeros(2), 3, 0), IndexError, "Dimension out of range"),
    (lambda m: m.narrow_copy(m.zeros(3), 0, 2, 5), RuntimeError, "exceeds dimension size"),
    (lambda m: m.hsplit(m.zeros(2, 4), 3), RuntimeError, "not divisible"),
    (lambda m: m.vsplit(m.zeros(4), 2), RuntimeError, "at least 2 dimension"),
    (lambda m: m.dsplit(m.zeros(2, 2), 2), RuntimeError, "at least 3 dimension"),
    (lambda m: m.rot90(m.zeros(2, 2), 1, [0]), RuntimeError, "rotation dims == 2"),
    (lambda m: m.rot90(m.zeros(2, 2), 1, [0, 0]), RuntimeError, "to be different"),
    (lambda m: m.rot90(m.zeros(2), 1, [0, 1]), RuntimeError, "total dims >= 2"),
    (lambda m: m.fliplr(m.zeros(2)), RuntimeError, ">= 2-d"),
    (lambda m: m.flipud(m.tensor(1.0)), RuntimeError, ">= 1-d"),
    (lambda m: m.combinations(m.zeros(2, 2)), RuntimeError, "1D vector"),
    (lambda m: m.zeros(2, 4).sum_to_size(3), RuntimeError, "not expandable"),
    (lambda m: m.zeros(3).is_nonzero(), RuntimeError, "more than one value"),
    (lambda m: m.zeros(0).is_nonzero(), RuntimeError, "no values"),
    (lambda m: m.select_scatter(m.zeros(2, 3), m.zeros(2), 0, 0), RuntimeError, "src size"),
    (lambda m: m.diagonal_scatter(m.zeros(3, 3), m.zeros(2)), RuntimeError, "src size"),
    (lambda m: m.slice_scatter(m.zeros(4, 3), m.zeros(1, 3), 0, 0, 4, 2), RuntimeError, "src size"),  # noqa: E501
    (lambda m: m.diag_embed(m.zeros(3), 0, 0, -2), RuntimeError, "cannot be identical"),
    (lambda m: m.diag_embed(m.tensor(3.0)), IndexError, "Dimension out of range"),
    (lambda m: m.channel_shuffle(m.zeros(1, 5, 2), 2), RuntimeError, "divisible by groups"),
    (lambda m: m.put(m.zeros(2, 3), m.tensor([10]), m.tensor([1.0])), IndexError, "out of range"),  # noqa: E501
    (
        lambda m: m.index_reduce(m.zeros(3), 0, m.tensor([0]), m.ones(1), "sum"),
        RuntimeError,
        "prod, mean, amax or amin",
    ),  # noqa: E501
    (lambda m: m.frombuffer(b"", dtype=m.float32), ValueError, "must not be 0"),
    (lambda m: m.frombuffer(b"abcd", dtype=m.float32, offset=5), ValueError, "offset"),
    (lambda m: m.set_num_interop_threads(0), RuntimeError, "positive"),
    (lambda m: m.hann_window(4, dtype=m.int64), RuntimeError, "floating point"),
    (lambda m: m.zeros(3).random_(5, 2), RuntimeError, "from=5 >= to=2"),
    (lambda m: m.zeros(3).geometric_(0), RuntimeError, r"p to be in \(0, 1\)"),
    (lambda m: m.zeros(2, 3).squeeze_(5), IndexError, "Dimension out of range"),
    (lambda m: m.zeros(4).as_strided((2, 2), (2, 1), 3), RuntimeError, "out of bounds"),
    (lambda m: m.split_with_sizes(m.zeros(4), [1, 2]), RuntimeError, "sum exactly to 4"),
    (lambda m: m.tensor_split(m.zeros(4), 0), RuntimeError, "larger than 0"),
    (lambda m: m.tensor_split(m.zeros(4), m.tensor([1.0])), RuntimeError, "dtype of long"),
    (lambda m: m.empty_permuted((2, 3), (0, 0)), RuntimeError, "Duplicate dim"),
    (lambda m: m.range(3), TypeError, "end"),
]


@pytest.mark.parametrize("call, error, message", ERRORS)
def test_errors_match_torch(call, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in (kiln, torch):
            with pytest.raises(error, match=message):
                call(m)


# ------------------------------------------------------------------ creation
@pytest.mark.parametrize(
    "name", ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]
)
@pytest.mark.parametrize("n", [0, 1, 2, 7, 16])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows_match_torch(name, n, periodic):
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-6)):
        k = getattr(kiln, name)(n, periodic, dtype=getattr(kiln, dtype))
        t = getattr(torch, name)(n, periodic, dtype=getattr(torch, dtype))
        _compare(k, t, rtol=tol, atol=tol)
    _compare(getattr(kiln, name)(5), getattr(torch, name)(5), rtol=1e-6, atol=1e-6)


def test_window_options_match_torch():
    k = kiln.hamming_window(9, False, 0.5, 0.4)
    _compare(k, torch.hamming_window(9, False, 0.5, 0.4), 1e-6, 1e-6)
    k = kiln.kaiser_window(9, True, 5.0, dtype=kiln.float64)
    _compare(k, torch.kaiser_window(9, True, 5.0, dtype=torch.float64), 1e-10, 1e-12)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((0, 3), {}),
        ((-3, 3), {}),
        ((0, 1, 0.3), {}),
        ((0, 3), {"dtype": "int64"}),
        ((5, 1, -2), {}),
        ((1.5, 4.0, 0.5), {"dtype": "float64"}),
    ],
)
def test_range_matches_torch_and_warns(args, kwargs):
    outs = {}
    for m in (kiln, torch):
        kw = {k: getattr(m, v) for k, v in kwargs.items()}
        with pytest.warns(UserWarning, match="torch.range is deprecated"):
            outs[m] = m.range(*args, **kw)
    _compare(outs[kiln], outs[torch], rtol=1e-6, atol=1e-7)


def test_frombuffer_and_dlpack_share_memory():
    buf = bytearray(np.arange(4, dtype=np.float32).tobytes())
    for m in (kiln, torch):
        x = m.frombuffer(buf, dtype=m.float32, count=2, offset=4)
        np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
    x = kiln.frombuffer(buf, dtype=kiln.float32)
    x.add_(10)
    assert np.frombuffer(buf, dtype=np.float32)[0] == 10.0
    # DLPack both ways, with NumPy and with PyTorch, sharing memory
    t = torch.arange(3.0)
    k = kiln.from_dlpack(t)
    t.add_(1)
    np.testing.assert_array_equal(k.numpy(), [1.0, 2.0, 3.0])
    back = torch.from_dlpack(k)
    k.mul_(2)
    np.testing.assert_array_equal(back.numpy(), [2.0, 4.0, 6.0])
    a = np.arange(3.0)
    assert kiln.from_dlpack(a).data_ptr() == a.ctypes.data
    shared = torch.from_dlpack(kiln.to_dlpack(k))
    assert shared.data_ptr() == k.data_ptr()
    with pytest.raises(TypeError, match="capsule"):
        kiln.from_dlpack(torch.utils.dlpack.to_dlpack(t))
    with pytest.raises(RuntimeError, match="require gradient"):
        kiln.zeros(2, requires_grad=True).__dlpack__()


# ------------------------------------------------------------------ random fills
def test_random_fills_ranges_and_moments():
    x = kiln.zeros(20000, dtype=kiln.float64)
    assert set(np.unique(x.random_(3).numpy())) == {0.0, 1.0, 2.0}
    v = x.random_(-2, 2).numpy()
    assert v.min() == -2 and v.max() == 1
    assert kiln.zeros(1000, dtype=kiln.float32).random_().numpy().max() <= 2**24
    assert set(np.unique(kiln.zeros(100, dtype=kiln.bool).random_().numpy())) == {False, True}
    assert np.unique(kiln.zeros(100, dtype=kiln.int64).random_(5, 7).numpy()).tolist() == [5, 6]
    assert kiln.zeros(1000, dtype=kiln.int64).random_().numpy().min() >= 0  # no overflow
    assert set(np.unique(kiln.zeros(500, dtype=kiln.uint8).random_().numpy())) <= set(range(256))
    g = x.geometric_(0.25).numpy()
    assert g.min() >= 1 and abs(g.mean() - 4.0) < 0.15 and np.all(g == np.round(g))
    c = x.cauchy_(1.0, 2.0).numpy()
    assert abs(np.median(c) - 1.0) < 0.1
    assert abs(np.median(np.abs(c - 1.0)) - 2.0) < 0.15  # the scale is the quartile distance
    ln = np.log(x.log_normal_(0.5, 0.25).numpy())
    assert abs(ln.mean() - 0.5) < 0.02 and abs(ln.std() - 0.25) < 0.02
    p = kiln.full((20000,), 0.3, dtype=kiln.float64)
    assert abs(p.bernoulli().numpy().mean() - 0.3) < 0.02
    assert abs(kiln.zeros(20000).bernoulli(0.8).numpy().mean() - 0.8) < 0.02
    probs = kiln.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    draws = probs.multinomial(4, replacement=True).numpy()
    assert draws.shape == (2, 4) and np.all(draws[0] == 1) and set(draws[1]) <= {0, 2}


def test_random_fills_are_seeded():
    kiln.manual_seed(3)
    a = kiln.zeros(5).cauchy_()
    kiln.manual_seed(3)
    b = kiln.zeros(5).cauchy_()
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------ torch.* aliases
X4 = _arr(2, 4, 6)
W_CONV = _arr(3, 4, 3)
IMG = _arr(2, 4, 5, 5)

ALIASES = [
    ("conv1d", lambda m, x, w: m.conv1d(x, w, None, 1, 1), [X4, W_CONV]),
    ("conv2d", lambda m, x, w: m.conv2d(x, w, None, 2, 1, 1, 2), [IMG, _arr(6, 2, 3, 3)]),
    ("conv3d", lambda m, x, w: m.conv3d(x, w), [_arr(1, 2, 4, 4, 4), _arr(3, 2, 2, 2, 2)]),
    (
        "conv_transpose1d",
        lambda m, x, w: m.conv_transpose1d(x, w, None, 2, 1, 1),
        [X4, _arr(4, 3, 3)],
    ),  # noqa: E501
    (
        "conv_transpose2d",
        lambda m, x, w: m.conv_transpose2d(x, w, None, 2),
        [IMG, _arr(4, 2, 2, 2)],
    ),  # noqa: E501
    (
        "conv_transpose3d",
        lambda m, x, w: m.conv_transpose3d(x, w),
        [_arr(1, 2, 3, 3, 3), _arr(2, 1, 2, 2, 2)],
    ),  # noqa: E501
    ("max_pool1d", lambda m, x: m.max_pool1d(x, 2), [X4]),
    ("max_pool2d", lambda m, x: m.max_pool2d(x, 3, 2, 1), [IMG]),
    ("max_pool3d", lambda m, x: m.max_pool3d(x, 2), [_arr(1, 2, 4, 4, 4)]),
    ("avg_pool1d", lambda m, x: m.avg_pool1d(x, 3, 2, 1, False, False), [X4]),
    ("adaptive_avg_pool1d", lambda m, x: m.adaptive_avg_pool1d(x, 4), [X4]),
    ("adaptive_max_pool1d", lambda m, x: m.adaptive_max_pool1d(x, 3), [X4]),
    (
        "batch_norm",
        lambda m, x, w, b: m.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
        [IMG, _arr(4), _arr(4)],
    ),  # noqa: E501
    (
        "batch_norm_eval",
        lambda m, x, w, b: m.batch_norm(
            x, w, b, w.detach().abs(), b.detach().abs() + 1, False, 0.1, 1e-5, False
        ),
        [IMG, _arr(4), _arr(4)],
    ),  # noqa: E501
    (
        "instance_norm",
        lambda m, x, w, b: m.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
        [IMG, _arr(4), _arr(4)],
    ),  # noqa: E501
    ("layer_norm", lambda m, x, w: m.layer_norm(x, [5], w), [IMG, _arr(5)]),
    ("group_norm", lambda m, x: m.group_norm(x, 2), [IMG]),
    ("rms_norm", lambda m, x, w: m.rms_norm(x, [5, 5], w, 1e-6), [IMG, _arr(5, 5)]),
    ("embedding", lambda m, w: m.embedding(w, m.tensor([[0, 2], [2, 3]]), 2), [_arr(4, 3)]),
    ("bilinear", lambda m, a, b, w: m.bilinear(a, b, w), [_arr(3, 2), _arr(3, 4), _arr(5, 2, 4)]),  # noqa: E501
    ("dropout_eval", lambda m, x: m.dropout(x, 0.5, False), [A23]),
    ("alpha_dropout_eval", lambda m, x: m.alpha_dropout(x, 0.3, False), [A23]),
    ("feature_alpha_dropout_eval", lambda m, x: m.feature_alpha_dropout(x, 0.3, False), [A234]),
    ("celu", lambda m, x: m.celu(x, 0.5), [A23]),
    ("selu", lambda m, x: m.selu(x), [A23]),
    ("rrelu_eval", lambda m, x: m.rrelu(x, 0.1, 0.3), [A23]),
    ("threshold", lambda m, x: m.threshold(x, 0.1, -3.0), [A23]),
    ("celu_", lambda m, x: m.celu_(x * 1.0, 2.0), [A23]),
    ("selu_", lambda m, x: m.selu_(x * 1.0), [A23]),
    ("threshold_", lambda m, x: m.threshold_(x * 1.0, 0.0, 1.0), [A23]),
    ("hardshrink", lambda m, x: m.hardshrink(x, 0.7), [A23]),
    ("prelu", lambda m, x, w: m.prelu(x, w), [IMG, _arr(4)]),
    ("kl_div", lambda m, x, t: m.kl_div(x, t, 2, log_target=True), [A23, _arr(2, 3)]),
    ("kl_div_none", lambda m, x, t: m.kl_div(x, t.abs()), [A23, _arr(2, 3)]),
    ("kl_div_mean", lambda m, x, t: m.kl_div(x, t.abs(), 1), [A23, _arr(2, 3)]),
    (
        "margin_ranking_loss",
        lambda m, a, b: m.margin_ranking_loss(a, b, m.sign(a - b * 0.5), 0.2),
        [A6, _arr(6)],
    ),  # noqa: E501
    ("hinge_embedding_loss", lambda m, x: m.hinge_embedding_loss(x, m.sign(x), 0.5, 2), [A23]),
    ("hinge_embedding_default", lambda m, x: m.hinge_embedding_loss(x, m.sign(x)), [A23]),
    (
        "cosine_embedding_loss",
        lambda m, a, b: m.cosine_embedding_loss(
            a, b, m.tensor([1.0, -1.0], dtype=m.float64), 0.1, 0
        ),
        [A23, _arr(2, 3)],
    ),  # noqa: E501
    (
        "poisson_nll_loss",
        lambda m, x, t: m.poisson_nll_loss(x, t.abs(), True, True, 1e-8, 1),
        [A23, _arr(2, 3)],
    ),  # noqa: E501
    (
        "bce_with_logits",
        lambda m, x, t, w: m.binary_cross_entropy_with_logits(
            x, t.sigmoid(), None, w.detach().abs(), 2
        ),
        [A23, _arr(2, 3), _arr(3)],
    ),  # noqa: E501
    (
        "triplet_margin_loss",
        lambda m, a, p, n: m.triplet_margin_loss(a, p, n, 0.5, 1.5, 1e-6, True, 0),
        [A23, _arr(2, 3), _arr(2, 3)],
    ),  # noqa: E501
]


@pytest.mark.parametrize("name, call, inputs", ALIASES, ids=[v[0] for v in ALIASES])
def test_aliases_match_torch(name, call, inputs):
    outs, grads = {}, {}
    for m in (kiln, torch):
        xs = [_to(m, a).requires_grad_(True) for a in inputs]
        out = _flat(call(m, *xs))
        outs[m] = out
        weights = np.random.default_rng(2).standard_normal(tuple(out[0].shape))
        (out[0] * _to(m, weights)).sum().backward()
        grads[m] = [None if x.grad is None else x.grad.numpy() for x in xs]
    _compare(outs[kiln], outs[torch], rtol=1e-9, atol=1e-10)
    for gk, gt in zip(grads[kiln], grads[torch]):
        if gt is None:  # (an input the call detached)
            assert gk is None
        else:
            np.testing.assert_allclose(gk, gt, rtol=1e-8, atol=1e-10)


def test_dropout_train_is_positional_and_inplace_forms():
    x = kiln.ones(1000, dtype=kiln.float64)
    y = kiln.dropout(x, 0.25, True)
    kept = y.numpy() != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75)
    z = kiln.ones(10)
    assert kiln.dropout_(z, 0.5, False) is z
    w = kiln.tensor([-1.0, 2.0])
    assert kiln.threshold_(w, 0.0, 5.0) is w
    np.testing.assert_array_equal(w.numpy(), [5.0, 2.0])


def test_dtype_questions_match_torch():
    pairs = [
        ("int32", "bool"),
        ("bool", "int32"),
        ("float64", "int64"),
        ("complex64", "float32"),
        ("float64", "float16"),
        ("uint8", "int8"),
        ("int64", "float32"),
    ]
    for a, b in pairs:
        assert kiln.can_cast(getattr(kiln, a), getattr(kiln, b)) == torch.can_cast(
            getattr(torch, a), getattr(torch, b)
        ), (a, b)
        assert kiln.promote_types(getattr(kiln, a), getattr(kiln, b)).name == str(
            torch.promote_types(getattr(torch, a), getattr(torch, b))
        ).replace("torch.", "")
    for make in (
        lambda m: (m.tensor([1]), 1.0),
        lambda m: (2, m.tensor([1.0], dtype=m.float64)),
        lambda m: (m.tensor([1], dtype=m.int8), m.tensor(1000)),
        lambda m: (m.tensor(1.0), m.tensor([1], dtype=m.int32)),
    ):
        assert kiln.result_type(*make(kiln)).name == str(torch.result_type(*make(torch)))[6:]


def test_global_switches_round_trip():
    assert kiln.get_float32_matmul_precision() == "highest"
    kiln.set_float32_matmul_precision("high")
    assert kiln.get_float32_matmul_precision() == "high"
    with pytest.warns(UserWarning, match="not one of"):
        kiln.set_float32_matmul_precision("bad")
    assert kiln.get_float32_matmul_precision() == "high"
    kiln.set_float32_matmul_precision("highest")
    kiln.set_num_interop_threads(3)
    assert kiln.get_num_interop_threads() == 3
    kiln.set_warn_always(True)
    assert kiln.is_warn_always_enabled()
    kiln.set_warn_always(False)
    assert not kiln.are_deterministic_algorithms_enabled()
    kiln.use_deterministic_algorithms(True)
    assert kiln.are_deterministic_algorithms_enabled()
    kiln.use_deterministic_algorithms(False)
    assert not kiln.is_anomaly_enabled()
    kiln.set_anomaly_enabled(True)  # (checked: tests/test_anomaly.py)
    assert kiln.is_anomaly_enabled()
    kiln.set_anomaly_enabled(False)
    assert not kiln.is_inference_mode_enabled()
    with kiln.inference_mode():
        assert kiln.is_inference_mode_enabled() and not kiln.is_grad_enabled()
        with kiln.inference_mode(False):
            assert not kiln.is_inference_mode_enabled()
    assert not kiln.is_inference_mode_enabled()

    @kiln.inference_mode()
    def inside():
        return kiln.is_inference_mode_enabled()

    assert inside() and not kiln.is_inference_mode_enabled()


def test_tril_triu_indices_match_torch():
    for row, col, offset in [(3, 3, 0), (4, 3, 1), (3, 5, -1), (0, 3, 0), (3, 4, 10), (3, 4, -10)]:
        for name in ("tril_indices", "triu_indices"):
            _compare(getattr(kiln, name)(row, col, offset), getattr(torch, name)(row, col, offset))
    _compare(kiln.tril_indices(3, 3, dtype=kiln.int32), torch.tril_indices(3, 3, dtype=torch.int32))


OUT_ROWS = [
    ("narrow_copy", lambda m, out: m.narrow_copy(m.arange(6.0), 0, 1, 3, out=out)),
    ("column_stack", lambda m, out: m.column_stack([m.ones(2), m.zeros(2)], out=out)),
    ("dstack", lambda m, out: m.dstack([m.ones(2), m.zeros(2)], out=out)),
    ("slice_scatter", lambda m, out: m.slice_scatter(m.zeros(4), m.ones(2), 0, 0, 4, 2, out=out)),
    ("hardshrink", lambda m, out: m.hardshrink(m.arange(3.0) - 1, out=out)),
    ("threshold", lambda m, out: m.threshold(m.arange(3.0), 1.0, -1.0, out=out)),
    ("range", lambda m, out: m.range(0, 3, out=out)),
]


@pytest.mark.parametrize("name, call", OUT_ROWS, ids=[r[0] for r in OUT_ROWS])
def test_out_keyword_matches_torch(name, call):
    results = {}
    for m in (kiln, torch):
        out = m.empty(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch.range is deprecated)
            assert call(m, out) is out
        results[m] = out
    _compare(results[kiln], results[torch], rtol=1e-6, atol=1e-6)
