"""Index assignment and index_fill with index tensors that are graph values: under
kiln.jit the positions are computed in the graph (they raised TraceError, so kiln.compile
ran such calls eagerly), with eager's and PyTorch's results and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _assign_list(x, i):
    x = x.clone()
    x[i] = 0.0
    return x


def _assign_mask(x, i):
    x = x.clone()
    x[x > 0] = -1.0
    return x


def _assign_rows(x, i):
    x = x.clone()
    x[x[:, 0] > 0] = 0.5
    return x


def _assign_pairs(x, i):
    x = x.clone()
    x[i, 1] = x[i, 0] * 2
    return x


def _assign_columns(x, i):
    x = x.clone()
    x[:, i] = 5.0
    return x


def _add_at(x, i):
    x = x.clone()
    x[i] += 1.0  # (i names a row twice: the last write wins, as in PyTorch)
    return x


def _index_fill(x, i):
    return x.index_fill(1, i, -1.0)


FUNCTIONS = [
    _assign_list,
    _assign_mask,
    _assign_rows,
    _assign_pairs,
    _assign_columns,
    _add_at,
    _index_fill,
]


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_traced_index_assignment_matches_eager_and_torch(function):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    index = np.array([2, 0, 2, -1])
    expected = function(torch.tensor(x), torch.tensor(index)).numpy()
    eager = function(kiln.tensor(x), kiln.tensor(index)).numpy()
    compiled = kiln.jit(function)(kiln.tensor(x), kiln.tensor(index)).numpy()
    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_array_equal(compiled, expected)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_traced_index_assignment_gradients(function):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    index = np.array([2, 0, 2, -1])

    def gradient(lib, a, i):
        a = a.detach().requires_grad_()
        (out,) = lib.autograd.grad(function(a, i).pow(2).sum(), a)
        return out

    expected = gradient(torch, torch.tensor(x), torch.tensor(index)).numpy()
    compiled = kiln.jit(lambda a, i: gradient(kiln, a, i))(kiln.tensor(x), kiln.tensor(index))
    np.testing.assert_allclose(compiled.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_angle_of_a_real_tensor_compiles(dtype):
    values = [-0.0, 0.0, -1.0, 2.0, float("nan"), float("-inf"), float("inf")]
    if dtype == "int64":
        values = [-3, 0, 5]
    x = np.array(values, dtype=dtype)
    expected = torch.angle(torch.tensor(x)).numpy()
    compiled = kiln.jit(kiln.angle)(kiln.tensor(x))
    assert str(compiled.dtype).removeprefix("kiln.") == str(expected.dtype)
    np.testing.assert_array_equal(compiled.numpy(), expected)
    if dtype != "int64":
        leaf = torch.tensor(x, requires_grad=True)
        torch.angle(leaf).sum().backward()

        def gradient(a):
            a = a.detach().requires_grad_()
            return kiln.autograd.grad(kiln.angle(a).sum(), a)[0]

        np.testing.assert_array_equal(kiln.jit(gradient)(kiln.tensor(x)).numpy(), leaf.grad.numpy())
