"""Regressions found by running PyTorch's OpInfo samples against kiln (compared with torch)."""

import math

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def k(t, requires_grad=False):
    out = kiln.tensor(t.detach().numpy().copy())
    if requires_grad:
        out.requires_grad_(True)
    return out


def close(kout, tout, **kw):
    assert tuple(kout.shape) == tuple(tout.shape)
    assert str(kout.dtype).replace("kiln.", "") == str(tout.dtype).replace("torch.", "")
    torch.testing.assert_close(
        torch.from_numpy(np.array(kout.detach().numpy())), tout.detach(), equal_nan=True, **kw
    )


def grads(kfn, tfn, *tensors):
    """Input gradients of sum(out * cotangent) from kiln and torch, compared."""
    tin = [t.detach().clone().requires_grad_(True) for t in tensors]
    tout = tfn(*tin)
    ct = torch.randn(tout.shape, dtype=tout.dtype, generator=torch.Generator().manual_seed(0))
    tg = torch.autograd.grad((tout * ct).sum(), tin, allow_unused=True)
    tg = [torch.zeros_like(t) if g is None else g for t, g in zip(tin, tg)]
    kin = [k(t, True) for t in tensors]
    kout = kfn(*kin)
    close(kout, tout)
    (kout * k(ct)).sum().backward()
    for a, b in zip(kin, tg):
        close(kiln.zeros_like(a) if a.grad is None else a.grad, b)


# ----------------------------------------------------------------------------- searchsorted


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("out_int32", [False, True])
def test_searchsorted_batched_sorter_side_out_int32(side, out_int32):
    g = torch.Generator().manual_seed(1)
    seq = torch.randn(3, 2, 6, generator=g)
    sorter = torch.argsort(seq, dim=-1)
    vals = torch.randn(3, 2, 4, generator=g)
    want = torch.searchsorted(seq, vals, side=side, sorter=sorter, out_int32=out_int32)
    got = kiln.searchsorted(k(seq), k(vals), side=side, sorter=k(sorter), out_int32=out_int32)
    close(got, want)
    s1 = torch.sort(seq[0, 0]).values
    close(kiln.searchsorted(k(s1), 0.25), torch.searchsorted(s1, 0.25))
    close(
        kiln.searchsorted(k(seq), k(torch.zeros(3, 2, 0))),
        torch.searchsorted(seq, torch.zeros(3, 2, 0)),
    )


def test_searchsorted_errors_and_bucketize():
    seq = torch.tensor([[1.0, 3.0], [2.0, 4.0]])
    with pytest.raises(RuntimeError, match="opposites"):
        kiln.searchsorted(k(seq), k(seq), right=True, side="left")
    with pytest.raises(RuntimeError, match="boundaries tensor"):
        kiln.searchsorted(k(seq), k(torch.ones(3)))
    b = torch.tensor([1.0, 3.0, 5.0])
    x = torch.tensor([[0.0, 3.0], [5.0, 6.0]])
    for right in (False, True):
        close(
            kiln.bucketize(k(x), k(b), right=right, out_int32=True),
            torch.bucketize(x, b, right=right, out_int32=True),
        )


# ----------------------------------------------------------------------------- diff / norms


def test_diff_n0_ignores_prepend_append():
    x = torch.arange(6.0).reshape(2, 3)
    want = torch.diff(x, n=0, dim=0, prepend=torch.ones(1, 3), append=torch.ones(2, 3))
    close(
        kiln.diff(k(x), n=0, dim=0, prepend=k(torch.ones(1, 3)), append=k(torch.ones(2, 3))), want
    )


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
@pytest.mark.parametrize("dim", [(-2, -1), (-1, 0), (2, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm_svd_orders_honour_dim_and_keepdim(ord, dim, keepdim):
    x = torch.randn(3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    want = torch.linalg.matrix_norm(x, ord, dim, keepdim)
    close(kiln.linalg.matrix_norm(k(x), ord, dim, keepdim), want)
    close(kiln.linalg.norm(k(x), ord, dim, keepdim), torch.linalg.norm(x, ord, dim, keepdim))


@pytest.mark.parametrize("ord", [math.inf, 1, 2, "nuc"])
@pytest.mark.parametrize("shape", [(0, 0), (5, 0), (0, 5)])
def test_matrix_norm_of_empty_is_zero(ord, shape):
    x = torch.zeros(shape)
    for keepdim in (False, True):
        close(
            kiln.linalg.norm(k(x), ord, keepdim=keepdim), torch.linalg.norm(x, ord, keepdim=keepdim)
        )


def test_vector_norm_ord0_requires_grad_with_zero_gradient():
    x = torch.tensor([0.0, 1.0, -2.0, math.inf], dtype=torch.float64)
    kx = k(x, True)
    out = kiln.linalg.vector_norm(kx, 0)
    close(out, torch.linalg.vector_norm(x, 0))
    assert out.requires_grad  # as torch's; its backward gives no gradient
    out.backward()
    assert kx.grad is None or not np.any(kx.grad.numpy())


@pytest.mark.parametrize("p", [0.5, 3.5, -0.5, -1, -2])
def test_vector_norm_subgradients_at_zero(p):
    for vals in ([0.0] * 5, [0.0, 1.0, -2.0, 0.0, 3.0], [1.0, -2.0, 0.5, 4.0, 3.0]):
        x = torch.tensor(vals, dtype=torch.float64)
        grads(lambda a: kiln.linalg.vector_norm(a, p), lambda a: torch.linalg.vector_norm(a, p), x)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
def test_bessel_gradient_at_zero(name):
    x = torch.tensor([0.0, 1.0, -2.0, 0.0, 9.5], dtype=torch.float64)
    grads(getattr(kiln.special, name), getattr(torch.special, name), x)


@pytest.mark.parametrize("interpolation", ["linear", "midpoint", "lower", "higher", "nearest"])
def test_quantile_gradient_wrt_q(interpolation):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 7, dtype=torch.float64, generator=g)
    q = torch.tensor([0.1, 0.5, 0.77], dtype=torch.float64)
    for fn in ("quantile", "nanquantile"):
        grads(
            lambda a, b, fn=fn: getattr(kiln, fn)(a, b, dim=1, interpolation=interpolation),
            lambda a, b, fn=fn: getattr(torch, fn)(a, b, dim=1, interpolation=interpolation),
            x,
            q,
        )


def test_nextafter_gradient_passes_through_input():
    a = torch.tensor([0.0, 1.0, -3.5], dtype=torch.float64)
    b = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64)
    grads(kiln.nextafter, torch.nextafter, a, b)


# ----------------------------------------------------------------------------- dtypes, overloads


@pytest.mark.parametrize("fn", ["var", "std", "var_mean", "std_mean"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_var_std_positional_unbiased_overload(fn, unbiased):
    x = torch.randn(5, 5, generator=torch.Generator().manual_seed(4))
    want = getattr(torch, fn)(x, unbiased)
    got = getattr(kiln, fn)(k(x), unbiased)
    if isinstance(want, tuple):
        for a, b in zip(got, want):
            close(a, b)
    else:
        close(got, want)
        close(getattr(k(x), fn)(unbiased), getattr(x, fn)(unbiased))


def test_bilinear_keeps_integer_dtype():
    g = torch.Generator().manual_seed(5)
    x1 = torch.randint(-5, 5, (3, 4), dtype=torch.int32, generator=g)
    x2 = torch.randint(-5, 5, (3, 3), dtype=torch.int32, generator=g)
    w = torch.randint(-5, 5, (2, 4, 3), dtype=torch.int32, generator=g)
    b = torch.randint(-5, 5, (2,), dtype=torch.int32, generator=g)
    close(
        kiln.nn.functional.bilinear(k(x1), k(x2), k(w), k(b)),
        torch.nn.functional.bilinear(x1, x2, w, b),
    )


# ----------------------------------------------------------------------------- 0-d / empty indexing


def test_zero_d_indexing_ops():
    x = torch.tensor(5.0)
    i1 = torch.tensor([0])
    i0 = torch.tensor(0)
    src = torch.tensor(2.0)
    kx, ki1, ki0, ks = k(x), k(i1), k(i0), k(src)
    close(kiln.index_select(kx, 0, ki1), torch.index_select(x, 0, i1))
    close(kiln.index_add(kx, 0, ki1, ks, alpha=-1), torch.index_add(x, 0, i1, src, alpha=-1))
    close(kiln.index_fill(kx, -1, ki1, 3.0), torch.index_fill(x, -1, i1, 3.0))
    close(kiln.index_copy(kx, 0, ki1, ks), torch.index_copy(x, 0, i1, src))
    close(kiln.scatter(kx, 0, ki0, ks), torch.scatter(x, 0, i0, src))
    close(kiln.scatter_add(kx, 0, ki0, ks), torch.scatter_add(x, 0, i0, src))
    for red in ("sum", "prod", "mean", "amax", "amin"):
        for inc in (False, True):
            want = torch.scatter_reduce(x, 0, i0, src, red, include_self=inc)
            close(kiln.scatter_reduce(kx, 0, ki0, ks, red, include_self=inc), want)
    for a, b in zip(kiln.topk(kx, 1), torch.topk(x, 1)):
        close(a, b)
    for a, b in zip(kiln.kthvalue(kx, 1), torch.kthvalue(x, 1)):
        close(a, b)
    with pytest.raises(IndexError):
        kiln.index_select(kx, 1, ki1)


def test_take_along_dim_negative_indices_and_empty_gather():
    x = torch.arange(10.0).reshape(2, 5)
    idx = torch.tensor([[-5, -1, 2], [4, -2, 0]])
    close(kiln.take_along_dim(k(x), k(idx), 1), torch.take_along_dim(x, idx, 1))
    with pytest.raises(RuntimeError):
        kiln.take_along_dim(k(x), k(torch.tensor([[-6], [0]])), 1)
    e = torch.zeros(2, 0, dtype=torch.int64)
    close(kiln.gather(k(torch.arange(5.0)), 0, k(e)), torch.gather(torch.arange(5.0), 0, e))


# ----------------------------------------------------------------------------- integer dtypes


@pytest.mark.parametrize(
    "eq,shapes",
    [
        ("i->", [(3,)]),
        ("ij->i", [(2, 3)]),
        ("ij->ij", [(2, 3)]),
        ("ii->", [(3, 3)]),
        ("ii->i", [(3, 3)]),
        ("ij,jk->ik", [(2, 3), (3, 4)]),
        ("ij,jk->", [(2, 3), (3, 4)]),
        ("ij,kl->ik", [(2, 3), (3, 4)]),
        ("i,i->", [(3,), (3,)]),
        ("...j,jk", [(2, 3), (3, 4)]),
    ],
)
def test_einsum_integer_result_dtype(eq, shapes):
    g = torch.Generator().manual_seed(6)
    ops_ = [torch.randint(-4, 4, s, dtype=torch.int32, generator=g) for s in shapes]
    close(kiln.einsum(eq, *[k(o) for o in ops_]), torch.einsum(eq, *ops_))


def test_sum_to_size_empty_size_is_full_sum():
    for dt in (torch.int32, torch.uint8, torch.float32):
        x = torch.tensor(3, dtype=dt)
        close(k(x).sum_to_size([]), x.sum_to_size([]))
        y = torch.ones(2, 3, dtype=dt)
        close(k(y).sum_to_size(1, 3), y.sum_to_size(1, 3))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avg_pool_int64_truncates_and_keeps_dtype(dims, count_include_pad):
    g = torch.Generator().manual_seed(7)
    x = torch.randint(-50, 50, (2, 3) + (7,) * dims, dtype=torch.int64, generator=g)
    name = f"avg_pool{dims}d"
    kw = dict(kernel_size=3, stride=2, padding=1, count_include_pad=count_include_pad)
    want = getattr(torch.nn.functional, name)(x, **kw)
    close(getattr(kiln.nn.functional, name)(k(x), **kw), want)
    if dims > 1:
        with pytest.raises(RuntimeError, match="divisor"):
            getattr(kiln.nn.functional, name)(k(x.double()), 2, divisor_override=0)
    with pytest.raises(NotImplementedError):
        getattr(kiln.nn.functional, name)(k(x.int()), 2)


# ----------------------------------------------------------------------------- empty / edge shapes


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 3, 3)])
def test_lapack_ops_on_empty_batches(shape):
    a = torch.randn(shape, dtype=torch.float64)
    b = torch.randn(shape[:-1] + (2,), dtype=torch.float64)
    r = kiln.linalg.solve_ex(k(a), k(b))
    t = torch.linalg.solve_ex(a, b)
    close(r.result, t.result)
    close(r.info, t.info)
    close(kiln.linalg.inv_ex(k(a)).inverse, torch.linalg.inv_ex(a).inverse)
    lu, piv = torch.linalg.lu_factor(a)
    close(kiln.linalg.lu_solve(k(lu), k(piv), k(b)), torch.linalg.lu_solve(lu, piv, b))
    klu, kpiv = kiln.linalg.lu_factor(k(a))
    close(klu, lu)
    close(kpiv, piv)


def test_slice_scatter_step_on_leading_dim():
    g = torch.Generator().manual_seed(8)
    x = torch.zeros(20, 4, 3)
    for dim, start, end, step in ((0, 10, 20, 2), (0, None, None, 4), (1, 0, 4, 3)):
        sl = [slice(None)] * 3
        sl[dim] = slice(start, end, step)
        src = torch.randn(x[tuple(sl)].shape, generator=g)
        want = torch.slice_scatter(x, src, dim, start, end, step)
        close(kiln.slice_scatter(k(x), k(src), dim, start, end, step), want)


def test_vander_group_norm_repeat_interleave_edges():
    x = torch.tensor(2.0)
    close(kiln.linalg.vander(k(x), N=3), torch.linalg.vander(x, N=3))
    e = torch.zeros(0, 4, 3)
    close(kiln.nn.functional.group_norm(k(e), 2), torch.nn.functional.group_norm(e, 2))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        kiln.nn.functional.group_norm(k(torch.ones(3)), 1)
    y = torch.arange(4.0).reshape(4, 1)
    r = torch.tensor([1, 2, 0, 3])
    want = torch.repeat_interleave(y, r, dim=0, output_size=6)
    close(kiln.repeat_interleave(k(y), k(r), dim=0, output_size=6), want)
    with pytest.raises(RuntimeError, match="size"):
        kiln.repeat_interleave(k(y), k(r), dim=0, output_size=5)


# ----------------------------------------------------------------------------- errors, new names


def test_movedim_rejects_mismatched_or_repeated_dims():
    x = k(torch.zeros(2, 3, 4, 5, 6))
    with pytest.raises(RuntimeError, match="same number of dims"):
        kiln.movedim(x, [3, -3], [1, 0, -1])  # was: silently truncated
    with pytest.raises(RuntimeError, match="repeated dim in `destination`"):
        kiln.movedim(x, [1, 0, 2], [0, 4, -5])
    with pytest.raises(RuntimeError, match="repeated dim in `source`"):
        kiln.movedim(x, [1, -4], [0, 2])
    t = torch.zeros(2, 3, 4, 5, 6)
    close(kiln.movedim(x, [3, -3], [1, 0]), torch.movedim(t, [3, -3], [1, 0]))


def test_huber_loss_rejects_non_positive_delta():
    a, b = k(torch.zeros(3)), k(torch.ones(3))
    for delta in (0, -1.0):
        with pytest.raises(RuntimeError, match="non-positive values for delta"):
            kiln.nn.functional.huber_loss(a, b, delta=delta)


@pytest.mark.parametrize(
    "name,args",
    [
        ("expand_copy", ((2, 3, 4),)),
        ("diagonal_copy", (0, 1, 2)),
        ("permute_copy", ((2, 0, 1),)),
        ("squeeze_copy", ()),
        ("unsqueeze_copy", (1,)),
        ("transpose_copy", (0, 2)),
        ("view_copy", ((12,),)),
        ("unbind_copy", (2,)),
        ("split_with_sizes_copy", ([1, 3], 2)),
        ("unfold_copy", (2, 2, 1)),
        ("alias_copy", ()),
    ],
)
def test_copy_variants(name, args):
    x = torch.randn(1, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    want = getattr(torch, name)(x, *args)
    got = getattr(kiln, name)(k(x), *args)
    if isinstance(want, (tuple, list)):
        for a, b in zip(got, want):
            close(a, b)
    else:
        close(got, want)
        grads(lambda a: getattr(kiln, name)(a, *args), lambda a: getattr(torch, name)(a, *args), x)


def test_igamma_igammac():
    a = torch.tensor([0.5, 1.0, 3.0, 7.5], dtype=torch.float64)
    x = torch.tensor([0.2, 1.0, 2.5, 9.0], dtype=torch.float64)
    close(kiln.igamma(k(a), k(x)), torch.igamma(a, x))
    close(kiln.igammac(k(a), k(x)), torch.igammac(a, x))


def test_local_response_norm_integer_input_truncates_mean_as_pytorch():
    x = torch.randint(-9, 9, (2, 6, 3, 2), generator=torch.Generator().manual_seed(10))
    for size in (2, 3):
        want = torch.nn.functional.local_response_norm(x, size, alpha=0.01, beta=0.5, k=1.25)
        got = kiln.nn.functional.local_response_norm(k(x), size, alpha=0.01, beta=0.5, k=1.25)
        close(got, want)


@pytest.mark.parametrize(
    "name", ["max_pool1d", "avg_pool1d", "max_pool2d", "avg_pool2d", "max_pool3d", "avg_pool3d"]
)
def test_pool_argument_errors_are_runtime_errors(name):
    nd = int(name[-2])
    x = k(torch.ones((1, 2) + (6,) * nd))
    fn = getattr(kiln.nn.functional, name)
    with pytest.raises(RuntimeError, match="pad must be non-negative"):
        fn(x, 2, 2, -1)
    with pytest.raises(RuntimeError, match="stride"):
        fn(x, 1, 0)


@pytest.mark.parametrize("reduce", ["amax", "amin"])
@pytest.mark.parametrize("include_self", [False, True])
def test_scatter_reduce_bool_amax_amin(reduce, include_self):
    g = torch.Generator().manual_seed(11)
    x = torch.randint(0, 2, (6, 4), generator=g).bool()
    src = torch.randint(0, 2, (5, 4), generator=g).bool()
    idx = torch.randint(0, 6, (5, 4), generator=g)
    want = torch.scatter_reduce(x, 0, idx, src, reduce, include_self=include_self)
    got = kiln.scatter_reduce(k(x), 0, k(idx), k(src), reduce, include_self=include_self)
    close(got, want)


def test_uint8_index_add_negative_alpha_and_cosine_embedding_target():
    x = torch.tensor([[3, 200], [0, 7]], dtype=torch.uint8)
    s = torch.tensor([[5, 9]], dtype=torch.uint8)
    i = torch.tensor([1])
    for alpha in (-1, -3, 2):
        close(
            kiln.index_add(k(x), 0, k(i), k(s), alpha=alpha),
            torch.index_add(x, 0, i, s, alpha=alpha),
        )
    g = torch.Generator().manual_seed(12)
    a = torch.randint(0, 5, (5, 5), dtype=torch.uint8, generator=g)
    b = torch.randint(0, 5, (5, 5), dtype=torch.uint8, generator=g)
    t = torch.tensor([1, 255, 1, 0, 1], dtype=torch.uint8)  # 255 is uint8's -1
    for red in ("none", "mean", "sum"):
        want = torch.nn.functional.cosine_embedding_loss(a, b, t, margin=0.1, reduction=red)
        got = kiln.nn.functional.cosine_embedding_loss(k(a), k(b), k(t), margin=0.1, reduction=red)
        close(got, want)


def test_shape_and_scatter_error_classes():
    x = k(torch.ones(3, 5, 3))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        kiln.scatter(x, 0, k(torch.zeros(2, 2, dtype=torch.int64)), k(torch.ones(2, 5)))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        kiln.scatter_add(x, 0, k(torch.zeros(2, 2, dtype=torch.int64)), k(torch.ones(2, 5)))
    with pytest.raises(RuntimeError, match="src.dtype"):
        kiln.scatter_add(
            k(torch.ones(3, 5, dtype=torch.float64)),
            0,
            k(torch.zeros(2, 2, dtype=torch.int64)),
            k(torch.ones(2, 5)),
        )
    with pytest.raises(RuntimeError, match="out of range"):
        kiln.kthvalue(k(torch.ones(2, 2)), 3, 0)
    with pytest.raises(RuntimeError, match="0-dim"):
        kiln.narrow(k(torch.tensor(1.0)), 0, 0, 1)
    with pytest.raises(TypeError, match="element 1"):
        kiln.cat([k(torch.ones(2)), None])
    for fn in (kiln.hstack, kiln.vstack):
        with pytest.raises(RuntimeError, match="non-empty TensorList"):
            fn([])
    # a 0-d index/src counts as 1-d, as in PyTorch
    t = torch.zeros(3)
    close(
        kiln.scatter(k(t), 0, k(torch.tensor(1)), k(torch.tensor(2.0))),
        torch.scatter(t, 0, torch.tensor(1), torch.tensor(2.0)),
    )
