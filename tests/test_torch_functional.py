"""kiln.functional against torch.functional: values, gradients and PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import kiln
import kiln.functional as KF

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((5, 4)).astype(np.float32)
C = RNG.standard_normal((2, 3, 4)).astype(np.float32)
D = RNG.standard_normal((4, 3, 5)).astype(np.float32)

# (name, make arguments from a module, differentiable)
CASES = [
    ("atleast_1d", lambda m: (m.tensor(1.5),), False),
    ("atleast_2d", lambda m: (m.tensor([1.0, 2.0]),), False),
    ("atleast_3d", lambda m: (m.tensor(A),), True),
    ("atleast_3d", lambda m: (m.tensor([1.0, 2.0]), m.tensor(2.0)), False),
    ("block_diag", lambda m: (m.tensor(A), m.tensor([1.0, 2.0]), m.tensor(3.0)), True),
    ("block_diag", lambda m: (m.tensor([[1, 2]]), m.tensor([[0.5]], dtype=m.float64)), False),
    ("cartesian_prod", lambda m: (m.tensor([1, 2]), m.tensor([3, 4, 5]), m.tensor([6])), False),
    ("cartesian_prod", lambda m: (m.tensor([1.0, 2.0]), m.tensor([3.0, 4.0])), True),
    ("cdist", lambda m: (m.tensor(A), m.tensor(B)), True),
    ("cdist", lambda m: (m.tensor(A), m.tensor(B), 1.0), True),
    ("cdist", lambda m: (m.tensor(A), m.tensor(B), 3.0), True),
    ("cdist", lambda m: (m.tensor(A), m.tensor(B), float("inf")), False),
    ("cdist", lambda m: (m.tensor(C), m.tensor(C), 0.0), False),
    ("chain_matmul", lambda m: (m.tensor(A), m.tensor(B.T), m.tensor(B)), True),
    ("tensordot", lambda m: (m.tensor(C), m.tensor(D), ([1, 2], [1, 0])), True),
    ("tensordot", lambda m: (m.tensor(A), m.tensor(B.T), 1), True),
    ("tensordot", lambda m: (m.tensor(A), m.tensor([1.0, 2.0]), 0), True),
    ("unique_consecutive", lambda m: (m.tensor([1, 1, 2, 2, 3, 1, 1]),), False),
    ("unravel_index", lambda m: (m.tensor([4, 1, -1, 7]), (2, 3)), False),
    ("unravel_index", lambda m: (m.tensor(5), (2, 3)), False),
    ("broadcast_shapes", lambda m: ((2, 1), (3,), 1), False),
    ("einsum", lambda m: ("ij,kj->ik", m.tensor(A), m.tensor(B)), True),
    ("split", lambda m: (m.tensor(A), [1, 2]), True),
    ("broadcast_tensors", lambda m: (m.tensor(A), m.tensor([1.0, 2.0, 3.0, 4.0])), True),
]
IDS = [f"{name}-{k}" for k, (name, _, _) in enumerate(CASES)]


def _flat(result):
    if isinstance(result, (tuple, list)) and not isinstance(result, (torch.Size, kiln.Size)):
        return [r for item in result for r in _flat(item)]
    return [result]


def _array(value):
    if isinstance(value, (torch.Size, kiln.Size, tuple)):
        return np.array(tuple(value))
    return value.detach().numpy()


@pytest.mark.parametrize("name, make, differentiable", CASES, ids=IDS)
def test_matches_torch_functional(name, make, differentiable):
    expected = getattr(torch.functional, name)(*make(torch))
    got = getattr(KF, name)(*make(kiln))
    assert getattr(kiln, name) is getattr(KF, name) or name in kiln.ops.__all__
    for e, g in zip(_flat(expected), _flat(got), strict=True):
        if hasattr(e, "dtype"):
            assert str(g.dtype).split(".")[-1] == str(e.dtype).split(".")[-1]
        np.testing.assert_allclose(_array(g), _array(e), rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize(
    "name, make, differentiable",
    [c for c in CASES if c[2]],
    ids=[i for i, c in zip(IDS, CASES) if c[2]],
)
def test_gradients_match_torch(name, make, differentiable):
    def leaves(m):
        args = make(m)
        return [a.requires_grad_() if hasattr(a, "requires_grad_") else a for a in args]

    results = []
    for module, lib in ((torch.functional, torch), (KF, kiln)):
        args = leaves(lib)
        outputs = _flat(getattr(module, name)(*args))
        weights = [
            lib.tensor(np.linspace(-1, 1, o.numel(), dtype=np.float32).reshape(tuple(o.shape)))
            for o in outputs
        ]
        sum(((o * w).sum() for o, w in zip(outputs, weights)), lib.tensor(0.0)).backward()
        results.append([a.grad.numpy() for a in args if hasattr(a, "grad") and a.grad is not None])
    assert len(results[0]) == len(results[1]) > 0
    for e, g in zip(*results):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


def test_cdist_gradient_at_zero_distance_is_zero_like_torch():
    x = kiln.zeros(2, 3, requires_grad=True)
    KF.cdist(x, x).sum().backward()
    assert x.grad.tolist() == [[0.0] * 3] * 2


def test_unique_consecutive_inverse_counts_and_dim():
    values = [[1, 1], [1, 1], [2, 3], [2, 3], [1, 1]]
    for kw in (dict(return_inverse=True, return_counts=True), dict(dim=0, return_counts=True)):
        expected = torch.unique_consecutive(torch.tensor(values), **kw)
        got = KF.unique_consecutive(kiln.tensor(values), **kw)
        for e, g in zip(expected, got):
            assert g.tolist() == e.tolist()


def test_compiled_tensordot_and_block_diag_match_eager():
    @kiln.jit
    def f(a, b):
        return KF.block_diag(KF.tensordot(a, b, dims=1), a).sum(0)

    a, b = kiln.tensor(A), kiln.tensor(B.T)
    np.testing.assert_allclose(f(a, b).numpy(), f.fn(a, b).numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda m: m.functional.block_diag(m.ones(1, 1, 1)), RuntimeError),
        (lambda m: m.functional.cdist(m.ones(3), m.ones(3)), RuntimeError),
        (lambda m: m.functional.cdist(m.ones(2, 3), m.ones(2, 4)), RuntimeError),
        (lambda m: m.functional.tensordot(m.ones(2, 3), m.ones(4, 5), dims=1), RuntimeError),
        (lambda m: m.functional.broadcast_shapes((2,), (3,)), RuntimeError),
        (lambda m: m.functional.cartesian_prod(m.ones(2, 2)), RuntimeError),
        (lambda m: m.functional.chain_matmul(m.ones(2)), RuntimeError),
    ],
)
def test_errors_match_torch(call, error):
    with pytest.raises(error):
        call(torch)
    with pytest.raises(error):
        call(kiln)
