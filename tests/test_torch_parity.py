"""The ops of issue 14 against PyTorch: values, dtypes, shapes and input gradients.

Each case is one call, run on kiln and on torch with the same inputs; the gradients are
those of ``sum(out * w)`` for a fixed ``w``. A few cases also run under ``kiln.jit``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(14)


def r(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _functional(lib):
    return lib.nn.functional


def _run(lib, fn, arrays, grad):
    tensors = [lib.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    out = fn(lib, *tensors)
    if isinstance(out, tuple):
        out = out[0]
    grads = None
    if grad and out.dtype.is_floating_point:
        w = np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape))
        (out * lib.tensor(w, dtype=out.dtype)).sum().backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in tensors]
    return out.detach().numpy(), grads


def check(fn, *arrays, grad=True, atol=1e-5):
    got, got_grads = _run(kiln, fn, arrays, grad)
    want, want_grads = _run(torch, fn, arrays, grad)
    assert got.shape == want.shape and got.dtype == want.dtype, (got, want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)
    for k, (g, w) in enumerate(zip(got_grads or [], want_grads or [])):
        if w is not None:
            assert g is not None, f"no gradient for input {k}"
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=atol, err_msg=f"input {k}")


X = r(3, 5)
I = np.array([[0, 0, 2, 4], [1, 3, 3, 3], [4, 4, 4, 4]])
S = r(3, 4)


def _unpool(lib, x):
    values, indices = _functional(lib).max_pool2d(x, 2, return_indices=True)
    return _functional(lib).max_unpool2d(values, indices, 2, output_size=(5, 7))


CASES = {
    **{
        f"scatter_reduce_{how}_{inc}": (
            lambda t, x, i, s, how=how, inc=inc: x.scatter_reduce(1, i, s, how, include_self=inc),
            (X, I, S),
        )
        for how in ("sum", "prod", "mean", "amax", "amin")
        for inc in (True, False)
    },
    "scatter_reduce_amax_ties": (
        lambda t, x, i, s: x.scatter_reduce(1, i, s, "amax"),
        (
            np.array([[1.0, 2.0, 2.0], [3.0, 3.0, 1.0]], np.float32),
            np.array([[1, 1], [0, 0]]),
            np.array([[2.0, 2.0], [3.0, 1.0]], np.float32),
        ),
    ),
    "scatter_reduce_int_mean": (
        lambda t, x, i, s: x.scatter_reduce(1, i, s, "mean"),
        (np.array([[1, 2, 3, 4]]), np.array([[0, 0]]), np.array([[2, 3]])),
    ),
    "scatter_last_writer": (
        lambda t, x, i, s: x.scatter(1, i, s),
        (np.zeros((3, 4), np.float32), np.array([[1, 1], [0, 3], [2, 2]]), r(3, 2)),
    ),
    "take_along_dim_broadcast": (
        lambda t, x, i: t.take_along_dim(x, i, 1),
        (X, np.array([[0, 4]])),
    ),
    "index_copy_repeated": (lambda t, x, s: x.index_copy(1, t.tensor([4, 0, 4]), s), (X, r(3, 3))),
    "index_put_accumulate": (
        lambda t, x, v: x.index_put((t.tensor([0, 2, 0]), t.tensor([1, 1, 1])), v, accumulate=True),
        (X, r(3)),
    ),
    "masked_scatter": (lambda t, x, s: x.masked_scatter(x > 0, s), (X, r(20))),
    "tensor_unfold": (lambda t, x: x.unfold(1, 2, 2), (X,)),
    "meshgrid_xy": (lambda t, a, b: t.meshgrid(a, b, indexing="xy")[1] * 2, (r(3), r(4))),
    "view_dtype": (lambda t, x: x.view(t.int32), (X,)),
    "cummax": (lambda t, x: t.cummax(x, 1), (np.array([[1.0, 3.0, 3.0, 2.0, 5.0]], np.float32),)),
    "cummin_indices": (
        lambda t, x: t.cummin(x, 0)[1],
        (np.array([[1.0], [1.0], [0.0], [0.0]], np.float32),),
    ),
    "logcumsumexp": (lambda t, x: t.logcumsumexp(x * 100, 1), (X,)),
    "prod_zero_gradient": (
        lambda t, x: t.prod(x, 1),
        (np.array([[2.0, 0, 3], [0, 0, 1], [1, 2, 3]], np.float32),),
    ),
    "cumprod_zero_gradient": (
        lambda t, x: t.cumprod(x, 1),
        (np.array([[2.0, 0, 3], [0, 0, 1]], np.float32),),
    ),
    "clamp_gradient_at_bounds": (
        lambda t, x: t.clamp(x, -0.5, 0.5),
        (np.array([-0.5, 0.5, 0.0, 1, -1], np.float32),),
    ),
    "diagonal_3d": (lambda t, x: t.diagonal(x, -1, 0, 2), (r(3, 2, 4),)),
    "einsum_trace_ellipsis": (
        lambda t, a, b: t.einsum("...ii,...j->...j", a, b),
        (r(2, 3, 3), r(2, 4)),
    ),
    "lgamma_digamma": (
        lambda t, x: t.lgamma(x) + t.digamma(x),
        (np.array([0.3, 2.5, -1.5, 7.0], np.float32),),
    ),
    "sdpa_gqa": (
        lambda t, q, k, v: _functional(t).scaled_dot_product_attention(q, k, v, enable_gqa=True),
        (r(2, 4, 3, 8), r(2, 2, 5, 8), r(2, 2, 5, 8)),
    ),
    "pixel_shuffle_unshuffle": (
        lambda t, x: _functional(t).pixel_unshuffle(_functional(t).pixel_shuffle(x, 2), 1) * 1,
        (r(2, 8, 3, 2),),
    ),
    "conv3d": (
        lambda t, x, w, b: _functional(t).conv3d(
            x, w, b, stride=(1, 2, 1), padding=1, dilation=(1, 1, 2)
        ),
        (r(2, 2, 4, 5, 6), r(3, 2, 2, 3, 2), r(3)),
    ),
    "conv_transpose1d": (
        lambda t, x, w, b: _functional(t).conv_transpose1d(
            x, w, b, stride=2, padding=1, output_padding=1
        ),
        (r(2, 3, 5), r(3, 4, 3), r(4)),
    ),
    "conv_transpose2d_groups": (
        lambda t, x, w: _functional(t).conv_transpose2d(
            x, w, stride=(2, 1), padding=(0, 1), groups=2
        ),
        (r(2, 4, 3, 4), r(4, 3, 2, 3)),
    ),
    "conv_transpose3d_dilation": (
        lambda t, x, w: _functional(t).conv_transpose3d(x, w, stride=2, dilation=2),
        (r(1, 2, 2, 3, 2), r(2, 3, 2, 2, 2)),
    ),
    "max_pool3d": (
        lambda t, x: _functional(t).max_pool3d(x, 3, stride=2, ceil_mode=True),
        (r(1, 2, 5, 6, 6),),
    ),
    "avg_pool3d": (
        lambda t, x: _functional(t).avg_pool3d(x, 3, 2, 1, count_include_pad=False),
        (r(2, 2, 5, 6, 6),),
    ),
    "max_unpool2d": (_unpool, (r(2, 3, 5, 7),)),
    "fold": (
        lambda t, x: _functional(t).fold(x, (5, 6), (2, 3), padding=1, stride=(2, 1)),
        (r(2, 18, 18),),
    ),
    "adaptive_avg_pool3d": (
        lambda t, x: _functional(t).adaptive_avg_pool3d(x, (2, None, 3)),
        (r(2, 3, 5, 4, 7),),
    ),
    "adaptive_max_pool2d_indices": (
        lambda t, x: _functional(t).adaptive_max_pool2d(x, (3, 2), return_indices=True)[1],
        (r(2, 3, 7, 5),),
    ),
    "adaptive_max_pool1d": (lambda t, x: _functional(t).adaptive_max_pool1d(x, 3), (r(2, 3, 7),)),
    "interpolate_nearest_scale": (
        lambda t, x: _functional(t).interpolate(x, scale_factor=0.6),
        (r(2, 3, 5),),
    ),
    "interpolate_nearest_exact": (
        lambda t, x: _functional(t).interpolate(x, size=7, mode="nearest-exact"),
        (r(2, 3, 5),),
    ),
    "interpolate_linear": (
        lambda t, x: _functional(t).interpolate(x, scale_factor=2.5, mode="linear"),
        (r(2, 3, 5),),
    ),
    "interpolate_bilinear_corners": (
        lambda t, x: _functional(t).interpolate(
            x, scale_factor=(2, 1.5), mode="bilinear", align_corners=True
        ),
        (r(2, 3, 5, 4),),
    ),
    "interpolate_trilinear": (
        lambda t, x: _functional(t).interpolate(x, size=(3, 4, 5), mode="trilinear"),
        (r(1, 2, 2, 3, 4),),
    ),
    "interpolate_area": (
        lambda t, x: _functional(t).interpolate(x, size=(3, 2), mode="area"),
        (r(1, 2, 7, 5),),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    fn, arrays = CASES[name]
    check(fn, *arrays)


@pytest.mark.parametrize(
    "name",
    [
        "scatter_reduce_amax_True",
        "conv_transpose2d_groups",
        "interpolate_bilinear_corners",
        "masked_scatter",
    ],
)
def test_jit_matches_eager(name):
    fn, arrays = CASES[name]
    tensors = [kiln.tensor(a) for a in arrays]

    def f(*ts):
        out = fn(kiln, *ts)
        return out[0] if isinstance(out, tuple) else out

    np.testing.assert_allclose(
        kiln.jit(f)(*tensors).numpy(), f(*tensors).numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "layer,args,kwargs,shape",
    [
        (
            "ConvTranspose2d",
            (4, 6, 3),
            {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
            (2, 4, 5, 5),
        ),
        ("Conv3d", (2, 3, 2), {}, (1, 2, 4, 4, 4)),
        ("ConvTranspose1d", (3, 2, 4), {"stride": 3}, (2, 3, 5)),
    ],
)
def test_layers_load_torch_state_dicts(layer, args, kwargs, shape):
    theirs = getattr(torch.nn, layer)(*args, **kwargs)
    ours = getattr(kiln.nn, layer)(*args, **kwargs)
    ours.load_state_dict(
        {k: kiln.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )
    x = r(*shape)
    np.testing.assert_allclose(
        ours(kiln.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(), atol=1e-5
    )


def test_conv_transpose_output_size_picks_the_output_padding():
    layer = kiln.nn.ConvTranspose2d(2, 2, 3, stride=2)
    assert layer(kiln.randn(1, 2, 4, 4), output_size=(10, 10)).shape == (1, 2, 10, 10)
    with pytest.raises(ValueError, match="valid sizes"):
        layer(kiln.randn(1, 2, 4, 4), output_size=(12, 12))


SPD = (lambda a: a @ a.T + 3 * np.eye(3))(RNG.standard_normal((3, 3)))

LINALG = {
    "inv": (lambda t, a: t.linalg.inv(a), (r(3, 3).astype(np.float64),)),
    "det_batched": (lambda t, a: t.linalg.det(a), (r(2, 3, 3).astype(np.float64),)),
    "slogdet": (lambda t, a: t.linalg.slogdet(a)[1], (r(3, 3).astype(np.float64),)),
    "solve": (
        lambda t, a, b: t.linalg.solve(a, b),
        (r(3, 3).astype(np.float64), r(3, 2).astype(np.float64)),
    ),
    "solve_vector": (
        lambda t, a, b: t.linalg.solve(a, b),
        (r(3, 3).astype(np.float64), r(3).astype(np.float64)),
    ),
    "cholesky": (lambda t, a: t.linalg.cholesky(a), (SPD,)),
    "eigh": (lambda t, a: t.linalg.eigh(a)[0] + (t.linalg.eigh(a)[1] ** 2).sum(0), (SPD,)),
    "vector_norm_3": (lambda t, a: t.linalg.vector_norm(a, 3, dim=1), (r(3, 4),)),
    "matrix_norm_inf": (lambda t, a: t.linalg.matrix_norm(a, float("inf")), (r(3, 4),)),
    "special": (
        lambda t, a: (
            t.special.logit(t.sigmoid(a)) + t.special.erfc(a) + t.special.gammaln(a.abs() + 1)
        ),
        (r(5),),
    ),
}


@pytest.mark.parametrize("name", sorted(LINALG))
def test_linalg_and_special_match_torch(name):
    fn, arrays = LINALG[name]
    check(fn, *arrays)


def test_linalg_refuses_what_it_cannot_do():
    with pytest.raises(kiln.TraceError, match="linalg.inv"):
        kiln.jit(lambda a: kiln.linalg.inv(a))(kiln.eye(2))
    with pytest.raises(RuntimeError, match="mode='r'"):  # R alone: no gradient (PyTorch)
        kiln.linalg.qr(kiln.eye(2, requires_grad=True), mode="r")
    with pytest.raises(RuntimeError, match="singular"):
        kiln.linalg.inv(kiln.zeros(2, 2))


GRID = (RNG.random((2, 3, 4, 2)) * 2.6 - 1.3).astype(np.float32)
THETA = np.array([[[0.9, 0.2, 0.1], [-0.3, 1.1, -0.2]], [[1.2, 0, 0.3], [0.1, 0.8, 0]]], np.float32)


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_matches_torch(mode, padding_mode, align_corners):
    def fn(t, x, g):
        return _functional(t).grid_sample(x, g, mode, padding_mode, align_corners)

    # nearest: no gradient reaches the grid (PyTorch's is zeros), so only values there
    check(fn, r(2, 3, 4, 5), GRID, grad=mode == "bilinear")


@pytest.mark.parametrize("align_corners", [True, False])
def test_affine_grid_matches_torch(align_corners):
    check(lambda t, th: _functional(t).affine_grid(th, (2, 3, 4, 5), align_corners), THETA)
