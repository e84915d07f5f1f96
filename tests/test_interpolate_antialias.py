"""``F.interpolate(..., antialias=True)`` against PyTorch: ``bilinear``, ``bicubic`` and
``lanczos`` (the modes PyTorch 2.13 antialiases), up- and downsampling, odd sizes,
``size`` and ``scale_factor`` (recomputed or not), ``align_corners``, float32 and float64,
gradients, ``kiln.jit``, and the errors PyTorch raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import kiln
import kiln.nn.functional as KF

RNG = np.random.default_rng(0)

CASES = [
    ((17, 13), dict(size=(5, 4))),
    ((8, 8), dict(scale_factor=0.5)),
    ((9, 7), dict(size=(20, 15))),
    ((10, 11), dict(scale_factor=(0.3, 1.7))),
    ((33, 20), dict(scale_factor=0.37, recompute_scale_factor=True)),
    ((31, 29), dict(scale_factor=(0.23, 0.61))),
    ((6, 9), dict(size=(6, 3))),
    ((1, 1), dict(size=(3, 2))),
    ((5, 5), dict(size=(1, 1))),
    ((7, 1), dict(size=(2, 4))),
]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _modes():
    for mode in ("bilinear", "bicubic"):
        for align_corners in (False, True):
            yield mode, align_corners
    yield "lanczos", False


@pytest.mark.parametrize("mode, align_corners", list(_modes()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_antialias_forward_and_grad_match_torch(mode, align_corners, dtype, case):
    (h, w), kw = CASES[case]
    x = RNG.standard_normal((2, 3, h, w)).astype(dtype)
    kx = kiln.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    args = dict(mode=mode, align_corners=align_corners, antialias=True, **kw)
    out, expected = KF.interpolate(kx, **args), TF.interpolate(tx, **args)
    assert out.dtype is kx.dtype
    assert tuple(out.shape) == tuple(expected.shape)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), **TOL[dtype])
    g = RNG.standard_normal(tuple(expected.shape)).astype(dtype)
    (out * kiln.tensor(g)).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(kx.grad.numpy(), tx.grad.numpy(), **TOL[dtype])


def test_antialias_differs_from_plain_when_downsampling_only_where_torch_does():
    x = RNG.standard_normal((1, 1, 16, 16))
    for mode in ("bilinear", "bicubic"):
        aa = KF.interpolate(kiln.tensor(x), size=(5, 5), mode=mode, antialias=True).numpy()
        plain = KF.interpolate(kiln.tensor(x), size=(5, 5), mode=mode).numpy()
        assert not np.allclose(aa, plain)
        expected = TF.interpolate(torch.tensor(x), size=(5, 5), mode=mode).numpy()
        np.testing.assert_allclose(plain, expected, atol=1e-12)


@pytest.mark.parametrize("antialias", [True, False])
def test_antialias_under_jit_matches_eager_with_grad(antialias):
    # antialias=False too: a resize of both axes with its backward once hit a layout pass
    # bug when the height axis went through transposes around its matmul
    def step(x):
        x.grad = None
        y = KF.interpolate(x, scale_factor=0.4, mode="bicubic", antialias=antialias)
        loss = (y**2).sum()
        loss.backward()
        return y

    fn = kiln.jit(step)
    x = RNG.standard_normal((2, 3, 19, 23)).astype(np.float32)
    ex, jx = kiln.tensor(x, requires_grad=True), kiln.tensor(x, requires_grad=True)
    e, j = step(ex), fn(jx)
    np.testing.assert_allclose(j.detach().numpy(), e.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jx.grad.numpy(), ex.grad.numpy(), rtol=1e-6, atol=1e-6)
    expected = TF.interpolate(
        torch.tensor(x), scale_factor=0.4, mode="bicubic", antialias=antialias
    )
    np.testing.assert_allclose(j.detach().numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_antialias_empty_batch():
    out = KF.interpolate(kiln.ones(0, 2, 6, 6), size=(3, 2), mode="bilinear", antialias=True)
    assert tuple(out.shape) == (0, 2, 3, 2)


def _raises_like_torch(call, cls, match):
    with pytest.raises(cls, match=match):
        call(KF, kiln.ones)
    with pytest.raises(cls, match=match):
        call(TF, torch.ones)


@pytest.mark.parametrize(
    "call, cls, match",
    [
        (
            lambda F, ones: F.interpolate(ones(1, 1, 4, 4), size=2, antialias=True),
            ValueError,
            "Anti-alias option is restricted",
        ),
        (
            lambda F, ones: F.interpolate(ones(1, 1, 4), size=2, mode="bilinear", antialias=True),
            ValueError,
            "Anti-alias option is restricted",
        ),
        (
            lambda F, ones: F.interpolate(
                ones(1, 1, 4, 4, 4), size=2, mode="trilinear", antialias=True
            ),
            ValueError,
            "Anti-alias option is restricted",
        ),
        (
            lambda F, ones: F.interpolate(ones(1, 1, 4, 4), size=2, mode="area", antialias=True),
            ValueError,
            "Anti-alias option is restricted",
        ),
        (
            lambda F, ones: F.interpolate(ones(1, 1, 4, 4), size=2, mode="lanczos"),
            ValueError,
            "Lanczos mode requires antialias=True",
        ),
        (
            lambda F, ones: F.interpolate(
                ones(1, 1, 4, 4), size=2, mode="lanczos", antialias=True, align_corners=True
            ),
            ValueError,
            "Lanczos mode does not support align_corners=True",
        ),
        (
            lambda F, ones: F.interpolate(
                ones(1, 1, 4, 4), size=0, mode="bilinear", antialias=True
            ),
            RuntimeError,
            r"Input and output sizes should be greater than 0, but got input "
            r"\(H: 4, W: 4\) output \(H: 0, W: 0\)",
        ),
        (
            lambda F, ones: F.interpolate(ones(1, 1, 0, 4), size=2, mode="bicubic", antialias=True),
            RuntimeError,
            r"input \(H: 0, W: 4\) output \(H: 2, W: 2\)",
        ),
    ],
)
def test_antialias_errors_match_torch(call, cls, match):
    _raises_like_torch(call, cls, match)


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "area"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_integer_input_raises_instead_of_truncating(antialias, mode, dtype):
    # PyTorch raises NotImplementedError for every integer dtype here except uint8
    # (bi)linear/bicubic, which it computes in fixed point; kiln's float interpolation
    # matrix cast to an integer dtype used to return zeros
    if antialias and mode == "area":
        return
    kx = kiln.ones(1, 3, 4, 4, dtype=getattr(kiln, dtype))
    if dtype == "uint8" and mode != "area":  # kiln computes it in PyTorch's fixed point too
        tx = torch.full((1, 3, 4, 4), 7, dtype=torch.uint8)
        want = TF.interpolate(tx, size=2, mode=mode, antialias=antialias)
        got = KF.interpolate(kiln.tensor(tx.numpy()), size=2, mode=mode, antialias=antialias)
        assert got.dtype == kiln.uint8
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        return
    with pytest.raises(NotImplementedError, match=f"interpolate: mode {mode}.* of {dtype}"):
        KF.interpolate(kx, size=2, mode=mode, antialias=antialias)
    if dtype != "uint8" or mode == "area":
        tx = torch.ones(1, 3, 4, 4, dtype=getattr(torch, dtype))
        with pytest.raises(NotImplementedError):
            TF.interpolate(tx, size=2, mode=mode, antialias=antialias)


def test_integer_nearest_still_gathers():
    x = np.arange(2 * 3 * 5 * 6).reshape(2, 3, 5, 6).astype(np.uint8)
    out = KF.interpolate(kiln.tensor(x), size=(3, 4), mode="nearest")
    expected = TF.interpolate(torch.tensor(x), size=(3, 4), mode="nearest")
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_antialias_output_width_one_is_the_separable_resize():
    # PyTorch 2.13's one-call kernel gives every output row the same (wrong) value when
    # the output width is 1 and the height changes: a ramp of 13 rows resized to 8 comes
    # out constant. kiln keeps the separable definition: torch's own result resizing one
    # axis at a time (an axis whose size is kept is left alone), and what it computes for
    # every other width
    for width in (5, 1):
        x = RNG.standard_normal((1, 2, 7, width))
        for mode in ("bilinear", "bicubic", "lanczos"):
            out = KF.interpolate(kiln.tensor(x), size=(3, 1), mode=mode, antialias=True)
            if width == 1:  # resize the transposed image: its width is the one kept
                expected = TF.interpolate(
                    torch.tensor(x).mT, size=(1, 3), mode=mode, antialias=True
                ).mT
            else:
                rows = TF.interpolate(torch.tensor(x), size=(3, width), mode=mode, antialias=True)
                expected = TF.interpolate(rows, size=(3, 1), mode=mode, antialias=True)
            np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
            assert not np.allclose(out.numpy()[0, 0, 0], out.numpy()[0, 0, 1])


@pytest.mark.parametrize(
    "mode, nd",
    [
        ("nearest", 1),
        ("nearest", 2),
        ("nearest", 3),
        ("nearest-exact", 2),
        ("linear", 1),
        ("bilinear", 2),
        ("bicubic", 2),
        ("trilinear", 3),
    ],
)
def test_an_axis_whose_size_is_kept_follows_torch(mode, nd):
    # a scale_factor that keeps an axis's size (9 * 1.07 -> 9): PyTorch leaves the axis
    # as it is in the linear modes, 2-D nearest and every antialiased mode, and
    # interpolates with the given scale in the others
    x = RNG.standard_normal((2, 3) + (9,) * nd)
    for factors in [(1.07,) * nd, (1.07,) + (2.0,) * (nd - 1), (2.0,) * (nd - 1) + (1.07,)]:
        for align_corners in [None] if "nearest" in mode else [False, True]:
            args = dict(scale_factor=factors, mode=mode, align_corners=align_corners)
            out = KF.interpolate(kiln.tensor(x), **args).numpy()
            expected = TF.interpolate(torch.tensor(x), **args).numpy()
            np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    if nd == 2 and mode in ("bilinear", "bicubic"):
        args = dict(scale_factor=(1.07, 0.4), mode=mode, antialias=True)
        out = KF.interpolate(kiln.tensor(x), **args).numpy()
        expected = TF.interpolate(torch.tensor(x), **args).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_random_resizes_match_torch():
    """Drawn modes, ranks, sizes, scale factors (recomputed or not), align_corners and
    antialias, in float64; skips only torch's width-1 antialias case above."""
    rng = np.random.default_rng(5)
    modes = ["bilinear", "bicubic", "lanczos", "linear", "trilinear", "nearest"]
    modes += ["nearest-exact", "area"]
    checked = 0
    for _ in range(300):
        mode = str(rng.choice(modes))
        nd = {"linear": 1, "trilinear": 3, "bilinear": 2, "bicubic": 2, "lanczos": 2}.get(
            mode, int(rng.integers(1, 4))
        )
        aa = mode == "lanczos" or (mode in ("bilinear", "bicubic") and bool(rng.integers(0, 2)))
        interpolating = mode in ("bilinear", "bicubic", "linear", "trilinear")
        ac = bool(rng.integers(0, 2)) if interpolating else None
        spatial = tuple(int(v) for v in rng.integers(1, 14, nd))
        if rng.integers(0, 2):
            kw = dict(size=tuple(int(v) for v in rng.integers(1, 20, nd)))
        else:
            factors = tuple(float(np.round(v, 3)) for v in rng.uniform(0.15, 3.0, nd))
            if any(int(n * f) < 1 for n, f in zip(spatial, factors)):
                continue
            kw = dict(scale_factor=factors, recompute_scale_factor=bool(rng.integers(0, 2)))
        x = rng.standard_normal((2, 2) + spatial)
        args = dict(mode=mode, align_corners=ac, antialias=aa, **kw)
        expected = TF.interpolate(torch.tensor(x), **args).numpy()
        if aa and expected.shape[-1] == 1 and expected.shape[-2] != spatial[-2]:
            continue
        out = KF.interpolate(kiln.tensor(x), **args).numpy()
        assert out.shape == expected.shape, args
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10, err_msg=str(args))
        checked += 1
    assert checked > 200


@pytest.mark.parametrize(
    "mode, nd",
    [
        ("nearest", 2),
        ("nearest-exact", 2),
        ("linear", 1),
        ("bilinear", 2),
        ("bicubic", 2),
        ("trilinear", 3),
    ],
)
def test_empty_sizes_raise_like_torch(mode, nd):
    for spatial, size in [((4,) * nd, (0,) * nd), ((0,) + (4,) * (nd - 1), (2,) * nd)]:
        with pytest.raises(RuntimeError) as kerr:
            KF.interpolate(kiln.ones((1, 1) + spatial), size=size, mode=mode)
        with pytest.raises(RuntimeError) as terr:
            TF.interpolate(torch.ones((1, 1) + spatial), size=size, mode=mode)
        assert str(kerr.value) == str(terr.value)


def test_area_of_empty_input_and_output():
    out = KF.interpolate(kiln.ones(1, 1, 4, 4), size=0, mode="area")
    assert tuple(out.shape) == (1, 1, 0, 0)
    _raises_like_torch(
        lambda F, ones: F.interpolate(ones(1, 1, 0, 4), size=2, mode="area"),
        RuntimeError,
        r"adaptive_avg_pool2d\(\): Expected input to have non-zero size for non-batch dimensions, "
        r"but input has sizes \[1, 1, 0, 4\] with dimension 2 being empty",
    )
