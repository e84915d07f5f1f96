"""kiln's public namespace: PyTorch's names, none of kiln's internals, no silent stand-ins."""

from __future__ import annotations

import numpy as np
import pytest

import kiln


@pytest.mark.parametrize(
    "name",
    [
        "P",
        "bind",
        "np",
        "math",
        "numbers",
        "annotations",
        "cast",
        "constant",
        "pad_axes",
        "promote_pair",
        "current_trace",
        "uniform_bits",
        "add_",
        "sub_",
        "mul_",
        "assign",
        "getitem",
    ],
)
def test_internal_names_do_not_leak(name):
    assert not hasattr(kiln, name), f"kiln.{name} leaks an internal name"


@pytest.mark.parametrize("name", ["relu_", "exp_", "sigmoid_", "tanh_", "zero_"])
def test_namespace_inplace_functions_change_their_argument(name):
    x = kiln.tensor([-1.0, 0.5])
    expected = getattr(x.clone(), name)().numpy()
    out = getattr(kiln, name)(x)
    assert out is x
    np.testing.assert_allclose(x.numpy(), expected)


def test_namespace_fill_and_clamp_take_arguments():
    x = kiln.tensor([-3.0, 0.5, 4.0])
    kiln.clamp_(x, -1.0, 1.0)
    np.testing.assert_allclose(x.numpy(), [-1.0, 0.5, 1.0])
    kiln.fill_(x, 2.0)
    np.testing.assert_allclose(x.numpy(), [2.0, 2.0, 2.0])


def test_every_public_ops_name_exists():
    for name in kiln.ops.__all__:
        if name != "trace":  # kiln.trace also traces functions: tested below
            public = getattr(kiln, name)  # (or its strict wrapper: kiln.strict_args)
            assert getattr(public, "__kiln_lenient__", public) is getattr(kiln.ops, name), name


def test_trace_is_the_matrix_trace_on_a_tensor_and_the_graph_tracer_on_a_function():
    m = kiln.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert kiln.trace(m).item() == 5.0
    graph = kiln.trace(lambda x: x * 2, m)
    assert [n.op for n in graph.nodes if n.op not in ("input", "const")] == ["mul"]


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [6.0, 12.0])


def test_retain_grad_on_a_leaf_is_a_no_op_and_without_grad_an_error():
    x = kiln.tensor([1.0], requires_grad=True)
    x.retain_grad()
    assert not x.retains_grad  # as PyTorch: a leaf keeps its .grad anyway
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        kiln.tensor([1.0]).retain_grad()


def test_tensors_hash_by_identity():
    a, b = kiln.tensor([1.0]), kiln.tensor([1.0])
    assert len({a, b, a}) == 2
    assert hash(a) == hash(id(a))
