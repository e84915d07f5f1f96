"""Regressions found by running PyTorch's OpInfo samples against kiln (compared with torch)."""

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
    """Forward values and input gradients of sum(out * cotangent), kiln against torch."""
    tin = [t.detach().clone().requires_grad_(True) for t in tensors]
    tout = tfn(*tin)
    ct = torch.randn(tout.shape, dtype=tout.dtype, generator=torch.Generator().manual_seed(0))
    tg = torch.autograd.grad((tout * ct).sum(), tin, allow_unused=True)
    tg = [torch.zeros_like(t) if g is None else g for t, g in zip(tin, tg)]
    kin = [k(t, True) for t in tensors]
    kout = kfn(*kin)
    close(kout, tout)
    kg = kiln.autograd.grad((kout * k(ct)).sum(), kin, allow_unused=True)
    for a, g, b in zip(kin, kg, tg):
        close(kiln.zeros_like(a) if g is None else g, b)


def rand(*shape, dtype=torch.float64, seed=0):
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def rand_mask(*shape, seed=1):
    m = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) > 0.4
    m[0] = False  # one fully masked-out slice along the first dim
    return m


# ----------------------------------------------------------------------------- torch.masked

MASKED_REDUCTIONS = [
    ("sum", {}),
    ("prod", {}),
    ("amax", {}),
    ("amin", {}),
    ("mean", {}),
    ("logsumexp", {}),
    ("var", {}),
    ("std", {"unbiased": False}),
    ("norm", {"ord": 3.0}),
]


@pytest.mark.parametrize("name,kw", MASKED_REDUCTIONS)
@pytest.mark.parametrize("dim", [1, (0, 2), None])
def test_masked_reductions_match_torch(name, kw, dim):
    x = rand(3, 4, 5)
    mask = rand_mask(3, 4, 5)
    tfn = getattr(torch.masked, name)
    kfn = getattr(kiln.masked, name)
    tout = tfn(x, dim=dim, keepdim=True, mask=mask, **kw)
    kout = kfn(k(x), dim=dim, keepdim=True, mask=k(mask), **kw)
    close(kout, tout)
    if name in ("amax", "amin"):
        return  # ties at the identity: torch's subgradient split is its own
    grads(
        lambda t: kfn(t, dim=dim, mask=k(mask), **kw),
        lambda t: tfn(t, dim=dim, mask=mask, **kw),
        x,
    )


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin", "cumsum", "cumprod"])
def test_masked_normalizations_match_torch(name):
    x = rand(4, 6)
    mask = rand_mask(4, 6)
    mask[1] = True
    tfn = getattr(torch.masked, name)
    kfn = getattr(kiln.masked, name)
    close(kfn(k(x), 1, mask=k(mask)), tfn(x, 1, mask=mask))
    if name != "log_softmax":  # -inf rows: torch's gradient there is nan
        grads(lambda t: kfn(t, 1, mask=k(mask)), lambda t: tfn(t, 1, mask=mask), x)


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.float32])
def test_masked_integer_dtypes_and_broadcast_mask(dtype):
    x = (torch.arange(24).reshape(2, 3, 4) % 7).to(dtype)
    mask = torch.tensor([True, False, True, True])  # broadcast over the last dim
    for name in ("sum", "prod", "amax", "amin", "argmax", "argmin"):
        if dtype == torch.bool and name in ("amax", "amin", "argmax", "argmin"):
            continue
        tfn, kfn = getattr(torch.masked, name), getattr(kiln.masked, name)
        close(kfn(k(x), 2, mask=k(mask)), tfn(x, 2, mask=mask))
    if dtype != torch.bool:
        close(kiln.masked.median(k(x), 2, mask=k(mask)), torch.masked.median(x, 2, mask=mask))
    close(kiln.masked.sum(k(x), mask=None), torch.masked.sum(x, mask=None))


def test_masked_logaddexp_normalize_and_errors():
    a, b = rand(3, 4), rand(3, 4, seed=2)
    ma, mb = rand_mask(3, 4), rand_mask(3, 4, seed=3)
    close(
        kiln.masked.logaddexp(k(a), k(b), input_mask=k(ma), other_mask=k(mb)),
        torch.masked.logaddexp(a, b, input_mask=ma, other_mask=mb),
    )
    close(
        kiln.masked.normalize(k(a), 2.0, 1, mask=k(ma)),
        torch.masked.normalize(a, 2.0, 1, mask=ma),
    )
    with pytest.raises(ValueError, match="mean"):
        kiln.masked.mean(kiln.tensor([1, 2]))
    with pytest.raises(IndexError):
        kiln.masked.sum(k(a), 2)
    with pytest.raises(ValueError, match="median"):
        kiln.masked.median(kiln.tensor([[1, 2]]), 1, mask=kiln.tensor([[False, False]]))


# ----------------------------------------------------------------------------- signal.windows

WINDOWS = [
    ("bartlett", {}),
    ("blackman", {}),
    ("cosine", {}),
    ("exponential", {"tau": 0.7}),
    ("gaussian", {"std": 1.5}),
    ("general_cosine", {"a": [0.46, 0.23, 0.31]}),
    ("general_hamming", {"alpha": 0.6}),
    ("hamming", {}),
    ("hann", {}),
    ("kaiser", {"beta": 5.0}),
    ("nuttall", {}),
]


@pytest.mark.parametrize("name,kw", WINDOWS)
@pytest.mark.parametrize("M", [0, 1, 2, 7, 12])
@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("dtype", [None, torch.float64])
def test_signal_windows_match_torch(name, kw, M, sym, dtype):
    tfn = getattr(torch.signal.windows, name)
    kfn = getattr(kiln.signal.windows, name)
    kd = None if dtype is None else kiln.float64
    close(kfn(M, sym=sym, dtype=kd, **kw), tfn(M, sym=sym, dtype=dtype, **kw))


def test_signal_windows_errors_and_requires_grad():
    w = kiln.signal.windows.hann(4, requires_grad=True)
    assert w.requires_grad and w.is_leaf
    with pytest.raises(ValueError, match="non-negative"):
        kiln.signal.windows.hann(-1)
    with pytest.raises(ValueError, match="float32 or float64"):
        kiln.signal.windows.cosine(3, dtype=kiln.int64)
    with pytest.raises(ValueError, match="strided"):
        kiln.signal.windows.hann(3, layout=torch.sparse_coo)
    with pytest.raises(ValueError, match="Center"):
        kiln.signal.windows.exponential(3, center=1.0)


# ----------------------------------------------------------------------------- nn.functional


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_linear_cross_entropy_matches_torch(reduction):
    x, w, b = rand(6, 4), rand(5, 4, seed=1), rand(5, seed=2)
    target = torch.tensor([0, 4, 2, -100, 1, 3])
    cw = torch.rand(5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def tfn(x, w, b):
        return torch.nn.functional.linear_cross_entropy(
            x, w, target, linear_bias=b, weight=cw, reduction=reduction
        )

    def kfn(x, w, b):
        return kiln.nn.functional.linear_cross_entropy(
            x, w, k(target), linear_bias=b, weight=k(cw), reduction=reduction
        )

    grads(kfn, tfn, x, w, b)


def test_linear_cross_entropy_k_dim_probabilities_and_errors():
    F = torch.nn.functional
    x, w = rand(3, 4), rand(5, 2, 4, seed=1)  # K-dimensional: logits (3, 5, 2)
    target = torch.tensor([[0, 4], [2, 2], [1, 3]])
    grads(
        lambda x, w: kiln.nn.functional.linear_cross_entropy(x, w, k(target), label_smoothing=0.1),
        lambda x, w: F.linear_cross_entropy(x, w, target, label_smoothing=0.1),
        x,
        w,
    )
    probs = torch.softmax(rand(3, 5, seed=4), 1)
    w2 = rand(5, 4, seed=5)
    close(
        kiln.nn.functional.linear_cross_entropy(k(x), k(w2), k(probs)),
        F.linear_cross_entropy(x, w2, probs),
    )
    with pytest.raises(RuntimeError, match="in_features"):
        kiln.nn.functional.linear_cross_entropy(k(x), k(rand(5, 3)), k(target[:, 0]))
    with pytest.raises(RuntimeError, match="probabilities"):
        kiln.nn.functional.linear_cross_entropy(k(x), k(w2), k(probs), ignore_index=1)


# ----------------------------------------------------------------------------- tensor surface


@pytest.mark.parametrize("method", ["float", "double", "long", "int", "bool", "byte", "half"])
def test_conversion_methods_take_memory_format(method):
    x = rand(2, 3, 4, 5, dtype=torch.float32)
    want = getattr(x, method)(memory_format=torch.channels_last)
    got = getattr(k(x), method)(memory_format=kiln.channels_last)
    close(got, want)
    assert got.stride() == want.stride()
    close(getattr(k(x), method)(memory_format=kiln.contiguous_format), getattr(x, method)())


@pytest.mark.parametrize("size", [0, 2, 5, 9])
@pytest.mark.parametrize("fill_value", [-1, 7])
def test_nonzero_static_pads_and_truncates(size, fill_value):
    x = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0], [0.0, 0.0, 3.0]])
    for inp in (x, x[0, 1], x[0, 0], x.to(torch.bool)):
        close(
            kiln.nonzero_static(k(inp), size=size, fill_value=fill_value),
            torch.nonzero_static(inp, size=size, fill_value=fill_value),
        )
    close(k(x).nonzero_static(size=size), x.nonzero_static(size=size))


# ----------------------------------------------------------------------------- linalg.eig


def test_linalg_eig_values_vectors_and_gradient():
    a = rand(2, 4, 4)
    c = rand(2, 4, 4, seed=1)
    c2 = rand(2, 4, seed=2)
    tl, tv = torch.linalg.eig(a)
    kl, kv = kiln.linalg.eig(k(a))
    close(kl, tl)
    close(kv, tv)

    def loss(lib, mod, x):
        values, vectors = mod.linalg.eig(x)
        ck, c2k = (c, c2) if lib == "torch" else (k(c), k(c2))
        return (vectors.abs() * ck).sum() + (values.real * c2k).sum() + (values.imag * c2k).sum()

    ta = a.clone().requires_grad_(True)
    (tg,) = torch.autograd.grad(loss("torch", torch, ta), ta)
    ka = k(a, True)
    (kg,) = kiln.autograd.grad(loss("kiln", kiln, ka), [ka])
    close(kg, tg)
    empty = kiln.linalg.eig(kiln.zeros(3, 0, 0))
    assert tuple(empty.eigenvalues.shape) == (3, 0) and empty.eigenvectors.dtype == kiln.complex64
    with pytest.raises(RuntimeError, match="square"):
        kiln.linalg.eig(kiln.zeros(2, 3))


# ----------------------------------------------------------------------------- histogramdd


@pytest.mark.parametrize("density", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_histogramdd_int_and_tensor_bins(density, weighted):
    pts = rand(4, 6, 3, dtype=torch.float32)
    w = torch.rand(4, 6, generator=torch.Generator().manual_seed(5)) if weighted else None
    kw = k(w) if weighted else None
    for bins in ([2, 3, 4], 3):
        want = torch.histogramdd(pts, bins, weight=w, density=density)
        got = kiln.histogramdd(k(pts), bins, weight=kw, density=density)
        close(got.hist, want.hist)
        for a, b in zip(got.bin_edges, want.bin_edges):
            close(a, b)
    edges = [
        torch.tensor([-2.0, 0.0, 0.5, 2.0]),
        torch.tensor([-1.0, 1.0]),
        torch.tensor([0.0, 3.0]),
    ]
    want = torch.histogramdd(pts, edges, weight=w, density=density)
    got = kiln.histogramdd(k(pts), [k(e) for e in edges], weight=kw, density=density)
    close(got.hist, want.hist)
    rng = [-1.0, 1.0, 0.0, 2.0, -3.0, 0.0]
    close(
        kiln.histogramdd(k(pts), [2, 2, 2], range=rng).hist,
        torch.histogramdd(pts, [2, 2, 2], range=rng).hist,
    )


def test_histogramdd_empty_and_errors():
    empty = torch.zeros(0, 2)
    want = torch.histogramdd(empty, [2, 3])
    got = kiln.histogramdd(k(empty), [2, 3])
    close(got.hist, want.hist)
    for a, b in zip(got.bin_edges, want.bin_edges):
        close(a, b)
    with pytest.raises(RuntimeError, match="innermost dimension"):
        kiln.histogramdd(kiln.zeros(5, 6), [1, 1, 1, 1, 1])


# ----------------------------------------------------------------------------- gradient


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_uniform_and_coordinate_spacing(edge_order):
    x = rand(4, 5, 6)
    kx = k(x)
    for kw in ({}, {"spacing": 2.0}, {"spacing": [2.0, 0.5], "dim": [0, -1]}, {"dim": 1}):
        want = torch.gradient(x, edge_order=edge_order, **kw)
        got = kiln.gradient(kx, edge_order=edge_order, **kw)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            close(a, b)
    coords = [
        torch.tensor([0.0, 0.5, 1.5, 3.0], dtype=torch.float64),
        torch.cumsum(rand(6).abs() + 0.1, 0),
    ]
    want = torch.gradient(x, spacing=coords, dim=[0, 2], edge_order=edge_order)
    got = kiln.gradient(kx, spacing=[k(c) for c in coords], dim=[0, 2], edge_order=edge_order)
    for a, b in zip(got, want):
        close(a, b)
    # differentiable: the gradient of a weighted sum of both partial derivatives
    grads(
        lambda t: (
            kiln.gradient(t, spacing=[k(c) for c in coords], dim=[0, 2], edge_order=edge_order)[0]
            + kiln.gradient(t, edge_order=edge_order, dim=2)[0]
        ),
        lambda t: (
            torch.gradient(t, spacing=coords, dim=[0, 2], edge_order=edge_order)[0]
            + torch.gradient(t, edge_order=edge_order, dim=2)[0]
        ),
        x,
    )


def test_gradient_integer_input_jit_and_errors():
    x = torch.tensor([[1, 4, 9, 16], [2, 3, 5, 7], [0, 0, 1, 1]])
    for a, b in zip(kiln.gradient(k(x)), torch.gradient(x)):
        close(a, b)
    f = kiln.jit(lambda t: kiln.gradient(t, spacing=0.5, edge_order=2)[1])
    xf = rand(3, 5)
    close(f(k(xf)), torch.gradient(xf, spacing=0.5, edge_order=2)[1])
    with pytest.raises(RuntimeError, match="edge_order"):
        kiln.gradient(k(xf), edge_order=3)
    with pytest.raises(RuntimeError, match="at least edge_order"):
        kiln.gradient(kiln.zeros(3, 1))
    with pytest.raises(RuntimeError, match="multiple times"):
        kiln.gradient(k(xf), dim=[1, 1])
    with pytest.raises(RuntimeError, match="same length"):
        kiln.gradient(k(xf), spacing=[0.1], dim=[1, 0])


# ----------------------------------------------------------------------------- grid_sample 3-D


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_volumes(mode, padding_mode, align_corners):
    vol = rand(2, 3, 4, 5, 6)
    grid = rand(2, 3, 2, 4, 3, seed=1) * 0.8  # some points outside [-1, 1]
    F = torch.nn.functional
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    grads(
        lambda v, g: kiln.nn.functional.grid_sample(v, g, **kw),
        lambda v, g: F.grid_sample(v, g, **kw),
        vol,
        grid,
    )


def test_grid_sample_volume_jit_and_errors():
    vol, grid = rand(1, 2, 3, 4, 5), rand(1, 2, 2, 2, 3, seed=1)
    f = kiln.jit(lambda v, g: kiln.nn.functional.grid_sample(v, g, align_corners=False))
    close(f(k(vol), k(grid)), torch.nn.functional.grid_sample(vol, grid, align_corners=False))
    with pytest.raises(RuntimeError, match="bicubic"):
        kiln.nn.functional.grid_sample(k(vol), k(grid), mode="bicubic")
    with pytest.raises(RuntimeError, match="grid"):
        kiln.nn.functional.grid_sample(k(vol), k(grid[..., :2]))


# ----------------------------------------------------------------------------- uint8 interpolate


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(13, 13), (40, 31), (27, 9), (5, 60)])
def test_interpolate_uint8_fixed_point_matches_torch(mode, align_corners, size):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 27, 19), dtype=torch.uint8, generator=g)
    F = torch.nn.functional
    want = F.interpolate(x, size=size, mode=mode, align_corners=align_corners)
    got = kiln.nn.functional.interpolate(k(x), size=size, mode=mode, align_corners=align_corners)
    close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_interpolate_uint8_antialias_and_scale_factor(mode):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (1, 4, 30, 24), dtype=torch.uint8, generator=g)
    F = torch.nn.functional
    for kw in (
        {"size": (11, 7), "antialias": True},
        {"size": (45, 50), "antialias": True},
        {"scale_factor": 1.7},
        {"scale_factor": (0.6, 1.3), "recompute_scale_factor": True},
    ):
        want = F.interpolate(x, mode=mode, **kw)
        got = kiln.nn.functional.interpolate(k(x), mode=mode, **kw)
        close(got, want, rtol=0, atol=0)
    with pytest.raises(NotImplementedError):
        kiln.nn.functional.interpolate(k(x).to(kiln.int64), size=(3, 3), mode=mode)


# ----------------------------------------------------------------------------- geqrf / ormqr


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)])
def test_geqrf_matches_lapack_and_rebuilds_q(shape):
    a = rand(*shape)
    want = torch.geqrf(a)
    got = kiln.geqrf(k(a))
    close(got.a, want.a)
    close(got.tau, want.tau)
    m, n = shape[-2:]
    if m >= n:
        close(
            kiln.linalg.householder_product(got.a, got.tau),
            torch.linalg.householder_product(want.a, want.tau),
        )


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
def test_ormqr_values_and_gradients(left, transpose):
    a, tau = torch.geqrf(rand(2, 5, 3))
    other = rand(2, 5, 4, seed=2) if left else rand(2, 4, 5, seed=2)
    grads(
        lambda x, t, c: kiln.ormqr(x, t, c, left=left, transpose=transpose),
        lambda x, t, c: torch.ormqr(x, t, c, left=left, transpose=transpose),
        a,
        tau,
        other,
    )
    with pytest.raises(RuntimeError, match="other"):
        kiln.ormqr(k(a), k(tau), k(rand(2, 3, 4)), left=True)


# ----------------------------------------------------------------------------- fft.hfftn family


@pytest.mark.parametrize("name", ["hfft2", "hfftn", "ihfft2", "ihfftn"])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_hermitian_fft_nd_matches_torch(name, norm):
    x = rand(3, 4, 6)
    tfn, kfn = getattr(torch.fft, name), getattr(kiln.fft, name)
    for kw in ({}, {"s": (3, 8), "dim": (0, 2)}):
        close(kfn(k(x), norm=norm, **kw), tfn(x, norm=norm, **kw))
    if name.startswith("hfft"):
        z = torch.complex(rand(3, 4, 6, seed=1), rand(3, 4, 6, seed=2))
        close(kfn(k(z), norm=norm), tfn(z, norm=norm))
        grads(lambda t: kfn(t, norm=norm), lambda t: tfn(t, norm=norm), x)


# ----------------------------------------------------------------------------- linalg.ldl_*


def _symmetric(n, seed, dtype=torch.float64):
    a = rand(n, n, dtype=dtype, seed=seed)
    return a + a.mT


@pytest.mark.parametrize("seed", range(12))
def test_ldl_factor_matches_lapack_pivots_and_solve(seed):
    n = 1 + seed % 7
    a = _symmetric(n, seed)
    if seed % 3 == 0:
        a[0, 0] = 0.01  # forces 2x2 pivots
    want = torch.linalg.ldl_factor(a)
    got = kiln.linalg.ldl_factor(k(a))
    close(got.LD, want.LD)
    close(got.pivots, want.pivots)
    b = rand(n, 3, seed=seed + 100)
    close(
        kiln.linalg.ldl_solve(got.LD, got.pivots, k(b)),
        torch.linalg.ldl_solve(want.LD, want.pivots, b),
    )


def test_ldl_factor_batched_float32_ex_and_errors():
    a = torch.stack([_symmetric(5, s, torch.float32) for s in range(3)])
    want = torch.linalg.ldl_factor_ex(a)
    got = kiln.linalg.ldl_factor_ex(k(a))
    close(got.LD, want.LD)
    close(got.pivots, want.pivots)
    close(got.info, want.info)
    b = rand(3, 5, 2, dtype=torch.float32, seed=9)
    close(
        kiln.linalg.ldl_solve(got.LD, got.pivots, k(b)),
        torch.linalg.ldl_solve(want.LD, want.pivots, b),
    )
    zero = kiln.linalg.ldl_factor_ex(kiln.zeros(3, 3))
    assert zero.info.item() == 1
    with pytest.raises(RuntimeError):
        kiln.linalg.ldl_factor(kiln.zeros(3, 3))
    with pytest.raises(RuntimeError, match="square"):
        kiln.linalg.ldl_factor(kiln.zeros(2, 3))
    with pytest.raises(RuntimeError, match="pivots"):
        kiln.linalg.ldl_solve(got.LD, got.pivots.to(kiln.int64), k(b))


# ----------------------------------------------------------------------------- error classes


def test_trace_and_prelu_refuse_what_torch_refuses():
    # both used to return a number: trace summed a batch's diagonals into one, prelu
    # flattened a 2-D weight into per-channel slopes
    with pytest.raises(RuntimeError, match="expected a matrix"):
        kiln.trace(kiln.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="expected a matrix"):
        kiln.ones(3).trace()
    with pytest.raises(RuntimeError, match="1D"):
        kiln.nn.functional.prelu(kiln.ones(2, 8, 3), kiln.ones(2, 4))
    x, w = rand(2, 4, 3), rand(4, seed=1)
    grads(kiln.nn.functional.prelu, torch.nn.functional.prelu, x, w)
    close(kiln.trace(k(x[0, :3])), torch.trace(x[0, :3]))


# ----------------------------------------------------------------------------- as_strided_scatter


@pytest.mark.parametrize(
    "shape,size,stride,offset",
    [
        ((3, 3), (2, 2), (1, 2), 1),
        ((3, 3), (2, 2), (2, 1), 0),
        ((16,), (2, 2, 2, 2), (8, 4, 2, 1), 0),
        ((1,), (), (), 0),
    ],
)
def test_as_strided_scatter_values_and_gradients(shape, size, stride, offset):
    x, src = rand(*shape), rand(*size, seed=1)
    want = torch.as_strided_scatter(x, src, size, stride, offset)
    kx, ks = k(x, True), k(src, True)
    got = kiln.as_strided_scatter(kx, ks, size, stride, offset)
    close(got, want)
    ct = rand(*shape, seed=2)
    gx, gs = kiln.autograd.grad((got * k(ct)).sum(), [kx, ks])
    # src's gradient is torch's; input's is the cotangent with the overwritten positions
    # zeroed (torch's own input gradient here is wrong: it zeroes other positions)
    tsrc = src.clone().requires_grad_(True)
    (ts,) = torch.autograd.grad(
        (torch.as_strided_scatter(x, tsrc, size, stride, offset) * ct).sum(), tsrc
    )
    close(gs, ts)
    written = torch.as_strided_scatter(torch.zeros(shape), torch.ones(size), size, stride, offset)
    close(gx, torch.where(written.bool(), 0.0, ct))
    with pytest.raises(RuntimeError, match="src"):
        kiln.as_strided_scatter(kx, kiln.zeros(5, 5, 5), size, stride, offset)


# ----------------------------------------------------------------------------- small fixes


def test_tensordot_broadcasts_contracted_size_one_dims():
    a, b = rand(1, 1, 3), rand(2, 4, 2, seed=1)
    for dims in (([0, 1], [2, 0]), ([0], [2]), ([1], [0])):
        grads(
            lambda x, y, dims=dims: kiln.tensordot(x, y, dims=dims),
            lambda x, y, dims=dims: torch.tensordot(x, y, dims=dims),
            a,
            b,
        )
    with pytest.raises(RuntimeError, match="contracted dimensions"):
        kiln.tensordot(k(rand(2, 3)), k(rand(3, 3)), dims=([0], [0]))


@pytest.mark.parametrize("beta,alpha", [(1, 1), (3, 2), (0, 1), (1, 0), (False, True)])
def test_outer_and_addr_of_bool(beta, alpha):
    v1 = torch.tensor([True, False, True])
    v2 = torch.tensor([False, True, True, False])
    inp = torch.tensor([[True, False, False, False]] * 3)
    close(kiln.outer(k(v1), k(v2)), torch.outer(v1, v2))
    for i in (inp, inp[0], torch.tensor(True)):
        close(
            kiln.addr(k(i), k(v1), k(v2), beta=beta, alpha=alpha),
            torch.addr(i, v1, v2, beta=beta, alpha=alpha),
        )


def test_zero_dim_and_empty_inputs_of_losses_and_norms():
    F = torch.nn.functional
    x = torch.tensor(0.7, dtype=torch.float64)
    for p in (1, 2):
        grads(
            lambda t, p=p: kiln.nn.functional.multi_margin_loss(t, kiln.tensor(0), p=p),
            lambda t, p=p: F.multi_margin_loss(t, torch.tensor(0), p=p),
            x,
        )
    e = torch.zeros(0)
    close(
        kiln.nn.functional.batch_norm(k(e), k(e), k(e), training=True),
        F.batch_norm(e, e, e, training=True),
    )


def test_error_classes_of_eye_embedding_hardtanh():
    with pytest.raises(RuntimeError, match="n must be greater or equal to 0"):
        kiln.eye(-1)
    with pytest.raises(RuntimeError, match="m must be greater or equal to 0"):
        kiln.eye(3, -7)
    with pytest.raises(RuntimeError, match="2-D"):
        kiln.nn.functional.embedding(kiln.tensor([[0, 1]]), kiln.tensor(1.0))
    with pytest.raises(ValueError, match="min_val"):
        kiln.nn.functional.hardtanh(kiln.ones(1), 0.5, -0.5)
    close(kiln.eye(0, 3), torch.eye(0, 3))


def test_resolve_neg_and_resize_as_functions():
    x = rand(2, 3)
    kx = k(x)
    assert kiln.resolve_neg(kx) is kx and kiln.is_neg(kx) is torch.is_neg(x)
    t = rand(3, 2, seed=1)
    got = kiln.resize_as_(kx.clone(), k(t))
    want = torch.resize_as_(x.clone(), t)
    close(got, want)
