"""The linear-algebra surface PyTorch programs use (``torch.linalg`` factorizations and
solvers, ``torch.add*`` products, ``kron``/``cross``/``vdot``/``inner``, distances, the
trapezoid rules, ``vander``) against PyTorch: forward in float32 and float64 (batched,
broadcast, empty batches, 1x1), gradients in float64, ``kiln.jit`` against eager, the
methods and in-place forms, and PyTorch's error classes for bad input.

Each case is a function ``fn(lib, *tensors)`` run once with ``lib = torch`` and once with
``lib = kiln`` on the same data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import kiln

RNG = np.random.default_rng(16)


def rand(*shape):
    return RNG.standard_normal(shape)


def well(*shape):
    """Well-conditioned square matrices (random plus a multiple of the identity)."""
    n = shape[-1]
    return rand(*shape) + 3.0 * np.eye(n)


def spd(*shape):
    a = rand(*shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def lower(*shape):
    return np.tril(rand(*shape)) + 3.0 * np.eye(shape[-1])


def upper(*shape):
    return np.triu(rand(*shape)) + 3.0 * np.eye(shape[-1])


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def _to_lib(lib, arrays, dtype, grad):
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(lib.tensor(a.astype(dtype), requires_grad=grad))
        elif isinstance(a, np.ndarray):
            out.append(lib.tensor(a))
        else:
            out.append(a)
    return out


def _np(t):
    t = t.detach()
    if t.dtype in (kiln.complex64, kiln.complex128, torch.complex64, torch.complex128):
        return t.numpy()
    return t.numpy()


def _dtype_name(t):
    return str(t.dtype).split(".")[-1]


def run(fn, arrays, dtype="float64", grad=False, rtol=None, atol=None):
    """Compare ``fn`` in torch and kiln: values, dtypes and shapes of every output, and
    with ``grad`` the gradients of a weighted sum of the floating outputs."""
    rtol = rtol if rtol is not None else (1e-9 if dtype == "float64" else 2e-4)
    atol = atol if atol is not None else (1e-9 if dtype == "float64" else 2e-4)
    got = {}
    for lib in (torch, kiln):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inputs = _to_lib(lib, arrays, dtype, grad)
            outs = _flat(fn(lib, *inputs))
        grads = None
        if grad:
            seed = np.random.default_rng(0)
            loss = None
            for o in outs:
                if not (o.dtype.is_floating_point or o.dtype.is_complex) or not o.requires_grad:
                    continue
                w = seed.standard_normal(tuple(o.shape))
                if o.dtype.is_complex:
                    term = (o.real * lib.tensor(w)).sum() + (o.imag * lib.tensor(w)).sum()
                else:
                    term = (o * lib.tensor(w)).sum()
                loss = term if loss is None else loss + term
            loss.backward()
            grads = [
                None if (not hasattr(t, "grad") or t.grad is None) else t.grad.numpy()
                for t in inputs
                if isinstance(t, (torch.Tensor, kiln.Tensor)) and t.requires_grad
            ]
        got[lib.__name__] = (outs, grads)
    (t_outs, t_grads), (k_outs, k_grads) = got["torch"], got["kiln"]
    assert len(t_outs) == len(k_outs)
    for t, k in zip(t_outs, k_outs):
        assert tuple(k.shape) == tuple(t.shape), (tuple(k.shape), tuple(t.shape))
        assert _dtype_name(k) == _dtype_name(t), (k.dtype, t.dtype)
        np.testing.assert_allclose(_np(k), _np(t), rtol=rtol, atol=atol)
    if grad:
        for tg, kg in zip(t_grads, k_grads):
            if tg is None:
                assert kg is None or not np.any(kg)
            else:
                assert kg is not None
                np.testing.assert_allclose(kg, tg, rtol=1e-7, atol=1e-8)


# ------------------------------------------------------------------------------ products

PRODUCT_CASES = {
    "addmm": (
        lambda lib, c, a, b: lib.addmm(c, a, b, beta=0.5, alpha=2.0),
        [rand(3, 4), rand(3, 2), rand(2, 4)],
    ),
    "addmm_bcast": (lambda lib, c, a, b: lib.addmm(c, a, b), [rand(4), rand(3, 2), rand(2, 4)]),
    "addbmm": (
        lambda lib, c, a, b: lib.addbmm(c, a, b, beta=2, alpha=0.5),
        [rand(3, 4), rand(5, 3, 2), rand(5, 2, 4)],
    ),
    "addbmm_empty_batch": (
        lambda lib, c, a, b: lib.addbmm(c, a, b),
        [rand(3, 4), rand(0, 3, 2), rand(0, 2, 4)],
    ),
    "baddbmm": (
        lambda lib, c, a, b: lib.baddbmm(c, a, b, beta=-1.0, alpha=3),
        [rand(1, 3, 4), rand(2, 3, 2), rand(2, 2, 4)],
    ),
    "addmv": (lambda lib, c, a, v: lib.addmv(c, a, v, beta=0.25), [rand(3), rand(3, 2), rand(2)]),
    "addmv_bcast": (lambda lib, c, a, v: lib.addmv(c, a, v), [rand(1), rand(3, 2), rand(2)]),
    "addr": (lambda lib, c, a, b: lib.addr(c, a, b, alpha=-2), [rand(3, 4), rand(3), rand(4)]),
    "ger": (lambda lib, a, b: lib.ger(a, b), [rand(3), rand(4)]),
    "inner": (lambda lib, a, b: lib.inner(a, b), [rand(2, 3, 4), rand(5, 4)]),
    "inner_0d": (lambda lib, a, b: lib.inner(a, b), [rand(), rand(2, 3)]),
    "vdot": (lambda lib, a, b: lib.vdot(a, b), [rand(5), rand(5)]),
    "kron": (lambda lib, a, b: lib.kron(a, b), [rand(2, 3), rand(4, 1, 2)]),
    "kron_1x1": (lambda lib, a, b: lib.kron(a, b), [rand(1, 1), rand(1, 1)]),
    "cross": (lambda lib, a, b: lib.cross(a, b, dim=1), [rand(2, 3, 4), rand(1, 3, 4)]),
    "cross_default_dim": (lambda lib, a, b: lib.cross(a, b), [rand(4, 3), rand(4, 3)]),
    "linalg_cross": (lambda lib, a, b: lib.linalg.cross(a, b), [rand(2, 1, 3), rand(5, 3)[None]]),
    "dist": (lambda lib, a, b: lib.dist(a, b), [rand(3, 4), rand(4)]),
    "dist_p1": (lambda lib, a, b: lib.dist(a, b, p=1), [rand(3, 4), rand(3, 4)]),
    "dist_p3": (lambda lib, a, b: lib.dist(a, b, 3), [rand(3, 4), rand(3, 4)]),
    "dist_inf": (lambda lib, a, b: lib.dist(a, b, float("inf")), [rand(3, 4), rand(3, 4)]),
    "vecdot": (lambda lib, a, b: lib.linalg.vecdot(a, b, dim=-2), [rand(2, 3, 4), rand(3, 4)]),
    "multi_dot": (
        lambda lib, a, b, c, d: lib.linalg.multi_dot([a, b, c, d]),
        [rand(4), rand(4, 9), rand(9, 2), rand(2, 7)],
    ),
    "multi_dot_vec_end": (
        lambda lib, a, b, c: lib.linalg.multi_dot([a, b, c]),
        [rand(3, 4), rand(4, 5), rand(5)],
    ),
    "multi_dot_two": (lambda lib, a, b: lib.linalg.multi_dot((a, b)), [rand(3, 4), rand(4, 2)]),
    "matrix_power3": (lambda lib, a: lib.matrix_power(a, 3), [rand(2, 3, 3) * 0.5]),
    "matrix_power6": (lambda lib, a: lib.linalg.matrix_power(a, 6), [rand(3, 3) * 0.5]),
    "matrix_power_neg": (lambda lib, a: lib.linalg.matrix_power(a, -2), [well(2, 3, 3)]),
    "matrix_power_1x1": (lambda lib, a: lib.linalg.matrix_power(a, 5), [rand(1, 1)]),
    "vander": (lambda lib, x: lib.linalg.vander(x), [rand(2, 4)]),
    "vander_N": (lambda lib, x: lib.linalg.vander(x, N=6), [rand(3)]),
    "torch_vander": (lambda lib, x: lib.vander(x), [rand(4)]),
    "torch_vander_inc": (lambda lib, x: lib.vander(x, N=3, increasing=True), [rand(4)]),
    "trapezoid": (lambda lib, y: lib.trapezoid(y), [rand(3, 5)]),
    "trapezoid_dx": (lambda lib, y: lib.trapezoid(y, dx=0.5, dim=0), [rand(3, 5)]),
    "trapezoid_x": (lambda lib, y, x: lib.trapezoid(y, x), [rand(3, 5), np.sort(rand(5))]),
    "trapezoid_x_nd": (lambda lib, y, x: lib.trapezoid(y, x, dim=0), [rand(4, 5), rand(4, 5)]),
    "trapz": (lambda lib, y, x: lib.trapz(y, x), [rand(2, 6), rand(6)]),
    "trapz_dx": (lambda lib, y: lib.trapz(y, dx=2.0), [rand(2, 6)]),
    "cumulative_trapezoid": (lambda lib, y: lib.cumulative_trapezoid(y, dim=0), [rand(4, 3)]),
    "cumulative_trapezoid_x": (
        lambda lib, y, x: lib.cumulative_trapezoid(y, x),
        [rand(2, 5), rand(5)],
    ),
    "cumulative_trapezoid_dx": (lambda lib, y: lib.cumulative_trapezoid(y, dx=3.0), [rand(2, 5)]),
    "pdist": (lambda lib, x: lib.pdist(x), [rand(5, 3)]),
    "pairwise_distance": (lambda lib, a, b: lib.pairwise_distance(a, b), [rand(4, 3), rand(4, 3)]),
    "cosine_similarity": (lambda lib, a, b: lib.cosine_similarity(a, b), [rand(4, 3), rand(4, 3)]),
    "diagonal": (lambda lib, a: lib.linalg.diagonal(a, offset=1), [rand(2, 3, 4)]),
    "linalg_matmul": (lambda lib, a, b: lib.linalg.matmul(a, b), [rand(2, 3, 4), rand(4, 2)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(PRODUCT_CASES))
def test_products_forward(name, dtype):
    fn, arrays = PRODUCT_CASES[name]
    run(fn, arrays, dtype)


# torch's own backward of torch.vander fails (an in-place cumprod): checked below
@pytest.mark.parametrize("name", sorted(set(PRODUCT_CASES) - {"torch_vander", "torch_vander_inc"}))
def test_products_grad(name):
    fn, arrays = PRODUCT_CASES[name]
    run(fn, arrays, "float64", grad=True)


def test_torch_vander_grad():
    """Against torch.linalg.vander, flipped (torch.vander's own backward fails in torch)."""
    x = rand(4)
    xt = torch.tensor(x, requires_grad=True)
    xk = kiln.tensor(x, requires_grad=True)
    w = rand(4, 5)
    (torch.linalg.vander(xt, N=5).flip(-1) * torch.tensor(w)).sum().backward()
    out = kiln.vander(xk, N=5)
    np.testing.assert_allclose(out.detach().numpy(), np.vander(x, 5))
    (out * kiln.tensor(w)).sum().backward()
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
    xk = kiln.tensor(x, requires_grad=True)
    (kiln.vander(xk, N=3, increasing=True) * kiln.tensor(w[:, :3])).sum().backward()
    xt.grad = None
    (torch.linalg.vander(xt, N=3) * torch.tensor(w[:, :3])).sum().backward()
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), rtol=1e-10)


def test_beta_zero_ignores_nan_and_inf_in_input():
    c = np.full((3, 4), np.nan)
    c[0, 0] = np.inf
    a, b = rand(3, 2), rand(2, 4)
    run(lambda lib, c, a, b: lib.addmm(c, a, b, beta=0), [c, a, b])
    run(lambda lib, c, a, b: lib.addmm(c, a, b, beta=0), [c, a, b], grad=True)
    run(lambda lib, c, a, b: lib.addr(c, a, b, beta=0), [c[:, :2], rand(3), rand(2)], grad=True)
    run(lambda lib, c, a, b: lib.addmv(c, a, b, beta=0), [c[:, 0], a, rand(2)], grad=True)
    run(lambda lib, c, a, b: lib.baddbmm(c, a, b, beta=0), [c, rand(2, 3, 2), rand(2, 2, 4)])
    run(lambda lib, c, a, b: lib.addbmm(c, a, b, beta=0), [c, rand(2, 3, 2), rand(2, 2, 4)])


def test_integer_products():
    a = RNG.integers(-5, 5, (3, 4))
    b = RNG.integers(-5, 5, (4, 2))
    c = RNG.integers(-5, 5, (3, 2))
    run(lambda lib, c, a, b: lib.addmm(c, a, b, beta=2, alpha=3), [c, a, b])
    run(lambda lib, c, a, b: lib.addmm(c, a, b, alpha=0.5), [c, a, b])  # truncated, as torch
    run(lambda lib, a, b: lib.kron(a, b), [a, b])
    run(lambda lib, x: lib.vander(x), [RNG.integers(-3, 3, (4,)).astype(np.int32)])
    run(lambda lib, x: lib.linalg.vander(x), [RNG.integers(-3, 3, (2, 4))])
    run(lambda lib, y: lib.trapezoid(y), [RNG.integers(-3, 3, (2, 4))])
    run(
        lambda lib, a, b: lib.linalg.cross(a, b),
        [RNG.integers(-3, 3, (2, 3)), RNG.integers(-3, 3, (2, 3))],
    )
    with pytest.raises(RuntimeError, match="integral"):
        kiln.addr(kiln.tensor(c), kiln.tensor(a[:, 0]), kiln.tensor(b[0]), beta=0.5)


def test_trapezoid_empty():
    run(lambda lib, y: lib.trapezoid(y), [np.zeros((3, 0))])
    run(lambda lib, y: lib.cumulative_trapezoid(y), [np.zeros((3, 0))])
    run(lambda lib, y: lib.cumulative_trapezoid(y), [np.zeros((3, 1))])
    run(lambda lib, x: lib.vander(x, N=0), [rand(3)])


def test_matrix_power_zero():
    run(lambda lib, a: lib.linalg.matrix_power(a, 0), [rand(2, 3, 3)], grad=True)
    a = kiln.tensor(np.full((2, 2), np.nan))
    assert kiln.linalg.matrix_power(a, 0).tolist() == [[1.0, 0.0], [0.0, 1.0]]


# -------------------------------------------------------------- factorizations and solvers

SOLVER_CASES = {
    "inv_ex": (lambda lib, a: lib.linalg.inv_ex(a), [well(2, 3, 3)]),
    "inv_ex_1x1": (lambda lib, a: lib.linalg.inv_ex(a), [well(1, 1)]),
    "cholesky_ex": (lambda lib, a: lib.linalg.cholesky_ex(a), [spd(2, 4, 4)]),
    "cholesky_ex_upper": (lambda lib, a: lib.linalg.cholesky_ex(a, upper=True), [spd(3, 3)]),
    "solve_ex": (lambda lib, a, b: lib.linalg.solve_ex(a, b), [well(2, 3, 3), rand(3, 2)]),
    "solve_ex_vec": (lambda lib, a, b: lib.linalg.solve_ex(a, b), [well(3, 3), rand(3)]),
    "solve_ex_right": (
        lambda lib, a, b: lib.linalg.solve_ex(a, b, left=False),
        [well(3, 3), rand(2, 3)],
    ),
    "lu_factor": (lambda lib, a: lib.linalg.lu_factor(a), [rand(2, 4, 4)]),
    "lu_factor_tall": (lambda lib, a: lib.linalg.lu_factor_ex(a), [rand(5, 3)]),
    "lu_factor_wide": (lambda lib, a: lib.linalg.lu_factor_ex(a), [rand(2, 3, 5)]),
    "lu": (lambda lib, a: lib.linalg.lu(a), [rand(2, 4, 4)]),
    "lu_tall": (lambda lib, a: lib.linalg.lu(a), [rand(5, 3)]),
    "lu_wide": (lambda lib, a: lib.linalg.lu(a), [rand(3, 5)]),
    "lu_1x1": (lambda lib, a: lib.linalg.lu(a), [rand(1, 1)]),
    "torch_lu": (lambda lib, a: lib.lu(a, get_infos=True), [rand(3, 3)]),
    "lu_unpack": (lambda lib, a: lib.lu_unpack(*lib.linalg.lu_factor(a)), [rand(2, 4, 3)]),
    "lu_solve": (
        lambda lib, a, b: lib.linalg.lu_solve(*lib.linalg.lu_factor(a), b),
        [well(2, 3, 3), rand(3, 2)],
    ),
    "lu_solve_adjoint": (
        lambda lib, a, b: lib.linalg.lu_solve(*lib.linalg.lu_factor(a), b, adjoint=True),
        [well(3, 3), rand(2, 3, 2)],
    ),
    "lu_solve_right": (
        lambda lib, a, b: lib.linalg.lu_solve(*lib.linalg.lu_factor(a), b, left=False),
        [well(3, 3), rand(2, 3)],
    ),
    "lu_solve_right_adjoint": (
        lambda lib, a, b: lib.linalg.lu_solve(
            *lib.linalg.lu_factor(a), b, left=False, adjoint=True
        ),
        [well(3, 3), rand(2, 3)],
    ),
    "torch_lu_solve": (
        lambda lib, a, b: lib.lu_solve(b, *lib.linalg.lu_factor(a)),
        [well(3, 3), rand(3, 1)],
    ),
    "solve_triangular_upper": (
        lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True),
        [rand(2, 3, 3) + 3 * np.eye(3), rand(3, 2)],
    ),
    "solve_triangular_lower": (
        lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=False),
        [rand(3, 3) + 3 * np.eye(3), rand(2, 3, 4)],
    ),
    "solve_triangular_right": (
        lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True, left=False),
        [upper(3, 3), rand(4, 3)],
    ),
    "solve_triangular_unit": (
        lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=False, unitriangular=True),
        [rand(3, 3), rand(3, 2)],
    ),
    "solve_triangular_unit_right": (
        lambda lib, a, b: lib.linalg.solve_triangular(
            a, b, upper=True, left=False, unitriangular=True
        ),
        [rand(3, 3), rand(2, 3)],
    ),
    "triangular_solve": (
        lambda lib, b, a: lib.triangular_solve(b, a),
        [rand(2, 3, 2), upper(3, 3)],
    ),
    "triangular_solve_t": (
        lambda lib, b, a: lib.triangular_solve(b, a, upper=False, transpose=True),
        [rand(3, 2), lower(2, 3, 3)],
    ),
    "triangular_solve_unit": (
        lambda lib, b, a: lib.triangular_solve(b, a, unitriangular=True),
        [rand(3, 2), rand(3, 3)],
    ),
    "cholesky_solve": (lambda lib, b, a: lib.cholesky_solve(b, a), [rand(2, 3, 2), lower(3, 3)]),
    "cholesky_solve_upper": (
        lambda lib, b, a: lib.cholesky_solve(b, a, upper=True),
        [rand(3, 2), upper(2, 3, 3)],
    ),
    "cholesky_inverse": (lambda lib, a: lib.cholesky_inverse(a), [lower(2, 3, 3)]),
    "cholesky_inverse_upper": (lambda lib, a: lib.cholesky_inverse(a, upper=True), [upper(3, 3)]),
    "pinv": (lambda lib, a: lib.linalg.pinv(a), [rand(2, 4, 3)]),
    "pinv_wide": (lambda lib, a: lib.linalg.pinv(a), [rand(3, 5)]),
    "pinv_hermitian": (lambda lib, a: lib.linalg.pinv(a, hermitian=True), [spd(3, 3)]),
    "pinverse": (lambda lib, a: lib.pinverse(a), [rand(4, 2)]),
    "lstsq": (lambda lib, a, b: lib.linalg.lstsq(a, b), [rand(5, 3), rand(5, 2)]),
    "lstsq_gelsd": (
        lambda lib, a, b: lib.linalg.lstsq(a, b, driver="gelsd"),
        [rand(2, 5, 3), rand(1, 5, 2)],
    ),
    "lstsq_gelss_wide": (
        lambda lib, a, b: lib.linalg.lstsq(a, b, driver="gelss"),
        [rand(3, 5), rand(3, 2)],
    ),
    "lstsq_gels": (
        lambda lib, a, b: lib.linalg.lstsq(a, b, driver="gels"),
        [rand(5, 3), rand(5, 2)],
    ),
    "lstsq_vec": (
        lambda lib, a, b: lib.linalg.lstsq(a, b, driver="gelsd"),
        [rand(2, 5, 3), rand(2, 5)],
    ),
    "cond": (lambda lib, a: lib.linalg.cond(a), [rand(2, 3, 3)]),
    "cond_rect": (lambda lib, a: lib.linalg.cond(a, -2), [rand(3, 5)]),
    "cond_fro": (lambda lib, a: lib.linalg.cond(a, "fro"), [well(2, 3, 3)]),
    "cond_nuc": (lambda lib, a: lib.linalg.cond(a, "nuc"), [well(3, 3)]),
    "cond_1": (lambda lib, a: lib.linalg.cond(a, 1), [well(3, 3)]),
    "cond_inf": (lambda lib, a: lib.linalg.cond(a, float("inf")), [well(3, 3)]),
    "tensorinv": (lambda lib, a: lib.linalg.tensorinv(a, ind=1), [well(6, 6).reshape(6, 2, 3)]),
    "tensorinv2": (lambda lib, a: lib.linalg.tensorinv(a), [well(6, 6).reshape(2, 3, 6)]),
    "tensorsolve": (
        lambda lib, a, b: lib.linalg.tensorsolve(a, b),
        [well(6, 6).reshape(2, 3, 6), rand(2, 3)],
    ),
    "tensorsolve_dims": (
        lambda lib, a, b: lib.linalg.tensorsolve(a, b, dims=(0,)),
        [well(6, 6).reshape(6, 2, 3).transpose(2, 0, 1), rand(6)],
    ),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SOLVER_CASES))
def test_solvers_forward(name, dtype):
    fn, arrays = SOLVER_CASES[name]
    run(
        fn,
        arrays,
        dtype,
        rtol=1e-7 if dtype == "float64" else 1e-3,
        atol=1e-8 if dtype == "float64" else 1e-3,
    )


# torch's backward of linalg.cond for p in (1, inf, "fro", "nuc") fails (an in-place
# update of inv_ex's output): checked against the same norms in torch below
@pytest.mark.parametrize(
    "name", sorted(set(SOLVER_CASES) - {"cond_1", "cond_fro", "cond_inf", "cond_nuc"})
)
def test_solvers_grad(name):
    fn, arrays = SOLVER_CASES[name]
    run(fn, arrays, "float64", grad=True, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("p", [1, -1, float("inf"), -float("inf"), "fro", "nuc"])
def test_cond_grad(p):
    a = well(2, 3, 3)
    at = torch.tensor(a, requires_grad=True)
    ak = kiln.tensor(a, requires_grad=True)
    w = rand(2)
    expected = torch.linalg.matrix_norm(at, p) * torch.linalg.matrix_norm(torch.linalg.inv(at), p)
    (expected * torch.tensor(w)).sum().backward()
    out = kiln.linalg.cond(ak, p)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-10)
    (out * kiln.tensor(w)).sum().backward()
    np.testing.assert_allclose(ak.grad.numpy(), at.grad.numpy(), rtol=1e-7, atol=1e-9)


def test_empty_batches():
    run(lambda lib, a: lib.linalg.inv_ex(a), [np.zeros((0, 3, 3))])
    run(lambda lib, a: lib.linalg.lu_factor(a), [np.zeros((0, 3, 3))])
    run(
        lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True),
        [np.zeros((0, 3, 3)), rand(3, 2)],
    )
    run(lambda lib, a: lib.linalg.cholesky_ex(a), [np.zeros((0, 2, 2))])
    run(lambda lib, a: lib.linalg.pinv(a), [np.zeros((0, 3, 2))])
    run(lambda lib, a: lib.linalg.matrix_rank(a), [np.zeros((0, 3, 2))])
    run(lambda lib, a, b: lib.baddbmm(a, b, b.mT), [np.zeros((0, 3, 3)), np.zeros((0, 3, 2))])


def test_eigvals():
    for dtype in ("float32", "float64"):
        for a in (rand(2, 4, 4), np.array([[0.0, 1.0], [-1.0, 0.0]]), np.triu(rand(3, 3))):
            k = kiln.linalg.eigvals(kiln.tensor(a.astype(dtype)))
            t = torch.linalg.eigvals(torch.tensor(a.astype(dtype)))
            assert _dtype_name(k) == _dtype_name(t)
            np.testing.assert_allclose(
                np.sort_complex(k.numpy()), np.sort_complex(t.numpy()), rtol=1e-4, atol=1e-5
            )
    # gradient (eigenvalues in the same geev order in both)
    run(lambda lib, a: lib.linalg.eigvals(a), [rand(2, 4, 4)], grad=True, rtol=1e-8, atol=1e-8)


def test_matrix_rank():
    low_rank = rand(2, 5, 2) @ rand(2, 2, 4)
    for dtype in ("float32", "float64"):
        run(lambda lib, a: lib.linalg.matrix_rank(a), [low_rank], dtype)
        run(
            lambda lib, a: lib.linalg.matrix_rank(a, hermitian=True),
            [low_rank @ low_rank.swapaxes(-1, -2)],
            dtype,
        )
        run(
            lambda lib, a: lib.linalg.matrix_rank(a, atol=1.0, rtol=0.0),
            [np.diag([3.0, 2.0, 0.5])],
            dtype,
        )
        run(lambda lib, a: lib.linalg.matrix_rank(a, rtol=0.5), [np.diag([3.0, 2.0, 0.5])], dtype)
    run(lambda lib, a: lib.linalg.lstsq(a, a[..., :1], driver="gelsd").rank, [low_rank])
    # tolerances given per matrix of the batch
    a, tol = rand(3, 4, 4), np.array([0.1, 1.0, 3.0])
    run(lambda lib, a, t: lib.linalg.matrix_rank(a, atol=t), [a, tol])
    run(lambda lib, a, t: lib.linalg.pinv(a, rtol=t), [a, tol], rtol=1e-8, atol=1e-8)


def test_info_and_linalg_error():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    batch = np.stack([np.eye(2), singular])
    k = kiln.linalg.inv_ex(kiln.tensor(batch))
    assert k.info.tolist() == torch.linalg.inv_ex(torch.tensor(batch)).info.tolist() == [0, 2]
    assert k.info.dtype is kiln.int32
    np.testing.assert_allclose(k.inverse.numpy()[0], np.eye(2))
    k = kiln.linalg.solve_ex(kiln.tensor(singular), kiln.ones(2, 1, dtype=kiln.float64))
    assert k.info.item() == 2
    not_pd = np.diag([1.0, 1.0, -1.0])
    k = kiln.linalg.cholesky_ex(kiln.tensor(not_pd))
    t = torch.linalg.cholesky_ex(torch.tensor(not_pd))
    assert k.info.item() == t.info.item() == 3
    np.testing.assert_allclose(k.L.numpy(), t.L.numpy())
    zero_col = np.array([[0.0, 0.0], [0.0, 1.0]])
    k = kiln.linalg.lu_factor_ex(kiln.tensor(zero_col))
    t = torch.linalg.lu_factor_ex(torch.tensor(zero_col))
    assert k.info.item() == t.info.item() == 1
    assert k.pivots.tolist() == t.pivots.tolist()
    np.testing.assert_allclose(k.LU.numpy(), t.LU.numpy())
    assert issubclass(kiln.linalg.LinAlgError, RuntimeError)
    for call in (
        lambda lib: lib.linalg.inv(lib.tensor(singular)),
        lambda lib: lib.linalg.inv(lib.tensor(batch)),
        lambda lib: lib.linalg.inv_ex(lib.tensor(singular), check_errors=True),
        lambda lib: lib.linalg.solve(lib.tensor(singular), lib.ones(2, dtype=lib.float64)),
        lambda lib: lib.linalg.solve_ex(
            lib.tensor(singular), lib.ones(2, dtype=lib.float64), check_errors=True
        ),
        lambda lib: lib.linalg.cholesky(lib.tensor(-np.eye(3))),
        lambda lib: lib.linalg.cholesky(lib.tensor(np.stack([np.eye(3), -np.eye(3)]))),
        lambda lib: lib.linalg.cholesky_ex(lib.tensor(-np.eye(3)), check_errors=True),
    ):
        with pytest.raises(torch.linalg.LinAlgError) as t_err:
            call(torch)
        with pytest.raises(kiln.linalg.LinAlgError) as k_err:
            call(kiln)
        assert str(k_err.value) == str(t_err.value)
    with pytest.raises(RuntimeError, match="U\\[1,1\\] is zero"):
        kiln.linalg.lu_factor(kiln.tensor(zero_col))


def test_singular_triangular_gives_inf_like_torch():
    a = np.array([[0.0, 1.0], [0.0, 1.0]])
    run(lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True), [a, np.ones((2, 1))])
    run(lambda lib, a: lib.linalg.cond(a, 1), [np.array([[1.0, 2.0], [2.0, 4.0]])])


# ------------------------------------------------------------------------------- errors

ERROR_CASES = [
    lambda lib: lib.addmm(lib.ones(3), lib.ones(2, 3), lib.ones(4, 5)),
    lambda lib: lib.addmm(lib.ones(3), lib.ones(2, 3), lib.ones(3, 5)),
    lambda lib: lib.addmm(lib.ones(2, 2), lib.ones(2), lib.ones(2, 2)),
    lambda lib: lib.addbmm(lib.ones(3, 5), lib.ones(2, 3, 3), lib.ones(3, 3, 5)),
    lambda lib: lib.addbmm(lib.ones(3, 5), lib.ones(2, 3, 3), lib.ones(2, 4, 5)),
    lambda lib: lib.baddbmm(lib.ones(3, 5), lib.ones(2, 3, 3), lib.ones(3, 3, 5)),
    lambda lib: lib.baddbmm(
        lib.ones(3, 5), lib.ones(2, 3, 3), lib.ones(2, 3, 5, dtype=lib.float64)
    ),
    lambda lib: lib.addmv(lib.ones(3), lib.ones(3, 3), lib.ones(4)),
    lambda lib: lib.addmv(lib.ones(3), lib.ones(3), lib.ones(3)),
    lambda lib: lib.addr(lib.ones(3, 2), lib.ones(3), lib.ones(4)),
    lambda lib: lib.addr(lib.ones(3, 2), lib.ones(3, 1), lib.ones(2)),
    lambda lib: lib.ger(lib.ones(3, 1), lib.ones(4)),
    lambda lib: lib.vdot(lib.ones(3), lib.ones(4)),
    lambda lib: lib.vdot(lib.ones(3), lib.ones(3, dtype=lib.float64)),
    lambda lib: lib.vdot(lib.ones(3, 1), lib.ones(3)),
    lambda lib: lib.inner(lib.ones(3, 2), lib.ones(3)),
    lambda lib: lib.cross(lib.ones(2, 2), lib.ones(2, 2)),
    lambda lib: lib.linalg.cross(lib.ones(3, 2), lib.ones(3, 2)),
    lambda lib: lib.linalg.cross(lib.ones(2, 3), lib.ones(3, 1, 3)),
    lambda lib: lib.linalg.cross(lib.ones(3), lib.ones(3, dtype=lib.float64)),
    lambda lib: lib.dist(lib.ones(2, dtype=lib.int64), lib.ones(2, dtype=lib.int64)),
    lambda lib: lib.linalg.matrix_power(lib.ones(2, 3), 2),
    lambda lib: lib.linalg.matrix_power(lib.ones(2, 2, dtype=lib.int64), -1),
    lambda lib: lib.linalg.multi_dot([lib.ones(3)]),
    lambda lib: lib.linalg.multi_dot([lib.ones(3), lib.ones(3, 4, 2)]),
    lambda lib: lib.linalg.multi_dot([lib.ones(3), lib.ones(4)]),
    lambda lib: lib.linalg.multi_dot([lib.ones(3), lib.ones(3, 3, dtype=lib.float64)]),
    lambda lib: lib.linalg.vecdot(lib.ones(3), lib.ones(3, dtype=lib.float64)),
    lambda lib: lib.linalg.vander(lib.ones(3), N=1),
    lambda lib: lib.linalg.vander(lib.tensor([True, False])),
    lambda lib: lib.vander(lib.ones(2, 2)),
    lambda lib: lib.vander(lib.ones(2), N=-1),
    lambda lib: lib.trapezoid(lib.ones(3), lib.ones(2)),
    lambda lib: lib.linalg.solve_triangular(lib.eye(3), lib.ones(3), upper=True),
    lambda lib: lib.linalg.solve_triangular(lib.eye(3), lib.ones(2, 1), upper=True),
    lambda lib: lib.linalg.solve_triangular(lib.ones(2, 3), lib.ones(2, 1), upper=True),
    lambda lib: lib.triangular_solve(lib.ones(3), lib.eye(3)),
    lambda lib: lib.triangular_solve(lib.ones(2, 1), lib.eye(3)),
    lambda lib: lib.cholesky_solve(lib.ones(3, 1), lib.ones(2, 2)),
    lambda lib: lib.cholesky_solve(lib.ones(3), lib.eye(3)),
    lambda lib: lib.cholesky_solve(lib.ones(3, 1), lib.eye(3, dtype=lib.float64)),
    lambda lib: lib.cholesky_inverse(lib.ones(3)),
    lambda lib: lib.linalg.lu_factor(lib.ones(2, 2), pivot=False),
    lambda lib: lib.linalg.lu_factor(lib.ones(3)),
    lambda lib: lib.linalg.lu_solve(lib.eye(3), lib.ones(3, dtype=lib.int32), lib.ones(2, 1)),
    lambda lib: lib.lu_unpack(lib.eye(3), lib.ones(3, dtype=lib.int64)),
    lambda lib: lib.linalg.lstsq(lib.ones(5, 3), lib.ones(5, 2), driver="bad"),
    lambda lib: lib.linalg.lstsq(lib.ones(5, 3), lib.ones(4, 2)),
    lambda lib: lib.linalg.pinv(lib.ones(2, 3, dtype=lib.int64)),
    lambda lib: lib.linalg.matrix_rank(lib.ones(3)),
    lambda lib: lib.linalg.cond(lib.ones(2, 3), "fro"),
    lambda lib: lib.linalg.cond(lib.ones(2, 2), 3),
    lambda lib: lib.linalg.eigvals(lib.ones(2, 3)),
    lambda lib: lib.linalg.inv_ex(lib.ones(2, 3)),
    lambda lib: lib.linalg.cholesky_ex(lib.ones(2, 3)),
    lambda lib: lib.linalg.tensorinv(lib.ones(2, 3, 6), ind=0),
    lambda lib: lib.linalg.tensorinv(lib.ones(2, 3, 4), ind=1),
    lambda lib: lib.linalg.tensorsolve(lib.ones(2, 3, 6), lib.ones(3, 3)),
]


@pytest.mark.parametrize("case", range(len(ERROR_CASES)))
def test_errors_match_torch_class(case):
    call = ERROR_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as t_err:
            call(torch)
        with pytest.raises(Exception) as k_err:
            call(kiln)
    t_cls = t_err.type
    if t_cls.__name__ == "_LinAlgError":
        t_cls = RuntimeError
    assert issubclass(k_err.type, t_cls), (k_err.type, t_err.type, str(k_err.value))


def test_torch_cross_warns_without_dim():
    with pytest.warns(UserWarning, match="without specifying the dim"):
        kiln.cross(kiln.ones(3, 3), kiln.ones(3, 3))


# ---------------------------------------------------------------- methods and in place


def test_methods_and_inplace():
    c, a, b = rand(3, 4), rand(3, 2), rand(2, 4)
    run(lambda lib, c, a, b: c.addmm(a, b, alpha=2), [c, a, b], grad=True)
    run(lambda lib, c, a, b: c.clone().addmm_(a, b, beta=0.5), [c, a, b], grad=True)
    run(lambda lib, c, a, b: c.clone().addbmm_(a, b), [c, rand(2, 3, 2), rand(2, 2, 4)], grad=True)
    run(
        lambda lib, c, a, b: c.clone().baddbmm_(a, b, alpha=-1),
        [rand(2, 3, 4), rand(2, 3, 2), rand(2, 2, 4)],
        grad=True,
    )
    run(lambda lib, c, a, b: c.clone().addmv_(a, b), [rand(3), a, rand(2)], grad=True)
    run(lambda lib, c, a, b: lib.addmv_(c.clone(), a, b), [rand(3), a, rand(2)], grad=True)
    run(lambda lib, c, a, b: c.clone().addr_(a, b), [c, rand(3), rand(4)], grad=True)
    run(
        lambda lib, c, a, b: (c.addbmm(a, b), c.addr(a[0, :, 0], b[0, 0])),
        [c, rand(2, 3, 2), rand(2, 2, 4)],
    )
    run(
        lambda lib, a, b: (a.ger(b), a.inner(b), a.vdot(b), a.kron(b), a.dist(b)),
        [rand(3), rand(3)],
        grad=True,
    )
    run(lambda lib, a, b: a.cross(b, dim=0), [rand(3, 2), rand(3, 2)], grad=True)
    run(lambda lib, a: (a.matrix_power(2), a.pinverse()), [well(3, 3)], grad=True)
    run(
        lambda lib, b, a: (
            b.cholesky_solve(a),
            a.cholesky_inverse(),
            b.triangular_solve(a, upper=False),
        ),
        [rand(3, 2), lower(3, 3)],
        grad=True,
    )
    run(lambda lib, a, b: b.lu_solve(*a.lu()), [well(3, 3), rand(3, 2)], grad=True)
    run(lambda lib, a: a.lu(get_infos=True), [well(3, 3)])
    x = kiln.tensor(c)
    before = x
    x.addmm_(kiln.tensor(a), kiln.tensor(b))
    assert x is before
    np.testing.assert_allclose(x.numpy(), c + a @ b)


def test_out_keyword():
    a, b = kiln.tensor(rand(3)), kiln.tensor(rand(4))
    out = kiln.empty(3, 4, dtype=kiln.float64)
    assert kiln.ger(a, b, out=out) is out
    np.testing.assert_allclose(out.numpy(), np.outer(a.numpy(), b.numpy()))


# ------------------------------------------------------------------------------------ jit


def test_composites_under_jit_equal_eager():
    def fn(c, a, b, x, y):
        p = kiln.addbmm(c, a, b, beta=0.5) + kiln.baddbmm(c, a, b).sum(0)
        k = kiln.kron(p, c[:1, :2])
        v = kiln.linalg.vander(x, N=3).sum() + kiln.trapezoid(y).sum()
        return (
            k.sum()
            + kiln.linalg.cross(y, x, dim=-1).sum()
            + v
            + kiln.linalg.matrix_power(c[:, :3], 3).sum()
        )

    args = [
        kiln.tensor(v.astype("float32"))
        for v in (rand(3, 4), rand(2, 3, 2), rand(2, 2, 4), rand(2, 3), rand(2, 3))
    ]
    eager = fn(*args)
    compiled = kiln.jit(fn)(*args)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-5, atol=1e-5)


def test_grad_under_jit_equals_eager():
    def loss(a, b, c):
        return (kiln.addmm(c, a, b, alpha=2.0) ** 2).sum() + kiln.linalg.vecdot(a, a).sum()

    a, b, c = (
        kiln.tensor(v.astype("float32"), requires_grad=True)
        for v in (rand(3, 2), rand(2, 4), rand(3, 4))
    )
    eager = kiln.grad(loss, argnums=(0, 1, 2))(a, b, c)
    compiled = kiln.jit(kiln.grad(loss, argnums=(0, 1, 2)))(a, b, c)
    for e, g in zip(eager, compiled):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-5)


def test_lapack_ops_refuse_tracing():
    with pytest.raises(kiln.TraceError):
        kiln.jit(lambda a: kiln.linalg.inv_ex(a).inverse)(kiln.tensor(well(3, 3)))
