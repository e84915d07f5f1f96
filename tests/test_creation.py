"""Creation ops take PyTorch's exact signatures, and ``out=`` follows PyTorch's rules.

One table of call strings runs through both ``torch`` and ``kiln`` (``X`` names the
library): deterministic calls must agree in dtype, shape and values, random ones in dtype
and shape (their values come from different generators), and calls PyTorch refuses must be
refused with the same exception class.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

CALLS = [
    # randint: both overloads, keywords, dtype, generator
    "randint(10, (5,))",
    "randint(3, 10, (2, 3))",
    "randint(10, size=(5,))",
    "randint(low=2, high=5, size=(3,))",
    "randint(high=5, size=(3,))",
    "randint(5, [2, 2], dtype=X.int32)",
    "randint(10, (5,), generator=X.Generator().manual_seed(1))",
    "randint(0, 5, (2,), device='cpu')",
    "randint(0, 5, (2,), dtype=X.float32, requires_grad=True)",
    # sizes as varargs, a sequence, or size=
    "rand(2, 3)",
    "rand((2, 3))",
    "rand([2, 3])",
    "rand(size=(2, 3))",
    "rand(())",
    "rand(0, 2)",
    "rand(2, dtype=X.float64, requires_grad=True)",
    "randn(size=[2])",
    "randn(2, 3, generator=X.Generator().manual_seed(0))",
    "zeros(2, 3)",
    "zeros((2, 3))",
    "zeros(size=(2, 3))",
    "zeros([])",
    "zeros(2, dtype=X.int32)",
    "ones(size=(2,))",
    "ones(X.Size([2, 1]))",
    "empty(2, 3)",
    "empty(size=(2,))",
    "full((2, 3), 7)",
    "full([2], 1.5)",
    "full((2,), True)",
    "full(size=(2,), fill_value=3)",
    "full((2,), 3, dtype=X.float32)",
    # ranges
    "arange(5)",
    "arange(1, 5)",
    "arange(1, 5, 2)",
    "arange(0, 1, 0.25)",
    "arange(start=0, end=3)",
    "arange(end=3)",
    "arange(5, dtype=X.float32)",
    "arange(3.0, requires_grad=True)",
    "arange(5, 0, -2)",
    "linspace(0, 1, 5)",
    "linspace(start=0, end=1, steps=3)",
    "linspace(0, 10, 5, dtype=X.int64)",
    "linspace(2, 3, 1)",
    "linspace(2, 3, 0)",
    "logspace(0, 2, 3)",
    "logspace(0, 2, steps=3, base=2.0)",
    "eye(3)",
    "eye(2, 3)",
    "eye(n=2, m=3)",
    "eye(3, dtype=X.int64)",
    "scalar_tensor(3)",
    "scalar_tensor(3, dtype=X.int32)",
    # *_like
    "zeros_like(X.ones(2, dtype=X.int32))",
    "ones_like(X.ones(2), dtype=X.int32)",
    "full_like(X.ones(2), 4)",
    "empty_like(X.ones(2))",
    "rand_like(X.ones(2, dtype=X.float64))",
    "randn_like(X.ones(2))",
    "randint_like(X.ones(2), 5)",
    "randint_like(X.ones(2), 2, 5)",
    "randint_like(X.ones(2), high=5)",
    "randperm(5)",
    # refused by PyTorch
    "randint(5)",
    "randint(5, 2, (3,))",
    "randint(1, 2, 3, (3,))",
    "rand(2.5)",
    "zeros(-1)",
    "zeros(2, size=(2,))",
    "arange(0, 5, -1)",
    "arange(0, 5, 0)",
    "linspace(0, 1, -1)",
    "ones(2, dtype=X.int64, requires_grad=True)",
]


def _evaluate(lib, call):
    try:
        return eval("lib." + call.replace("X.", "lib."), {"lib": lib})  # noqa: S307
    except Exception as exc:  # the class is compared, not the message
        return exc


@pytest.mark.parametrize("call", CALLS)
def test_signature_matches_torch(call):
    expected, got = _evaluate(torch, call), _evaluate(kiln, call)
    if isinstance(expected, Exception):
        assert isinstance(got, Exception), f"kiln accepted {call}: {got!r}"
        assert isinstance(got, type(expected)), (type(got), type(expected))
        return
    assert not isinstance(got, Exception), f"{call}: {got!r}"
    assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
    assert tuple(got.shape) == tuple(expected.shape)
    assert got.requires_grad == expected.requires_grad
    if "rand" in call:
        values = got.detach().numpy()
        if "randint" in call:  # in the requested range
            low, high = (2, 5) if "2, 5" in call or "low=2" in call else (0, 5)
            high = 10 if "10" in call else high
            low = 3 if call.startswith("randint(3") else low
            assert ((values >= low) & (values < high)).all()
    elif "empty" not in call:
        np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-6)


def test_generator_reproduces_and_is_independent_of_the_default():
    g = kiln.Generator().manual_seed(7)
    a = kiln.randint(0, 100, (50,), generator=g)
    b = kiln.randn(4, generator=g)
    kiln.manual_seed(0)
    g.manual_seed(7)
    assert (kiln.randint(0, 100, (50,), generator=g) == a).all()
    assert (kiln.randn(4, generator=g) == b).all()
    assert not (kiln.randint(0, 100, (50,)) == a).all()  # the default generator differs
    assert g.initial_seed() == 7


def test_randint_covers_the_range_uniformly():
    values = kiln.randint(-3, 4, (7000,), generator=kiln.Generator().manual_seed(1)).numpy()
    counts = np.bincount(values + 3, minlength=7)
    assert values.min() == -3 and values.max() == 3
    assert counts.min() > 850  # 1000 expected in each of the 7 bins


# ------------------------------------------------------------------------------ out=

OUT_CASES = [
    ("matmul", lambda X: (X.ones(2, 3), X.ones(3, 2)), {}),
    ("add", lambda X: (X.ones(2), X.tensor([1.0, 2.0])), {"alpha": 2}),
    ("mul", lambda X: (X.ones(2, 2), 3), {}),
    ("cat", lambda X: ([X.ones(2), X.zeros(1)],), {}),
    ("stack", lambda X: ([X.ones(2), X.zeros(2)],), {"dim": 1}),
    ("sum", lambda X: (X.ones(2, 3), 1), {}),
    ("exp", lambda X: (X.tensor([0.0, 1.0]),), {}),
    ("where", lambda X: (X.tensor([True, False]), X.ones(2), X.zeros(2)), {}),
    ("zeros", lambda X: (2, 2), {}),
    ("arange", lambda X: (4,), {}),
    ("clamp", lambda X: (X.tensor([-2.0, 0.5, 3.0]),), {"min": 0.0, "max": 1.0}),
]


@pytest.mark.parametrize("name, make, kw", OUT_CASES, ids=[c[0] for c in OUT_CASES])
def test_out_writes_into_the_given_tensor_like_torch(name, make, kw):
    expected = getattr(torch, name)(*make(torch), **kw)
    out = kiln.empty(0, dtype=getattr(kiln, str(expected.dtype).split(".")[-1]))
    result = getattr(kiln, name)(*make(kiln), out=out, **kw)
    assert result is out
    np.testing.assert_allclose(out.numpy(), expected.numpy())


def test_out_keeps_identity_and_views_see_the_values():
    base = kiln.zeros(2, 3)
    row = base[1]
    kiln.add(kiln.ones(3), 1, out=row)
    assert base.tolist() == [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]


def test_out_with_a_tuple_for_values_and_indices():
    x = [[1.0, 5.0], [4.0, 2.0]]
    values, indices = kiln.empty(2), kiln.empty(2, dtype=kiln.int64)
    result = kiln.max(kiln.tensor(x), 1, out=(values, indices))
    expected = torch.max(torch.tensor(x), 1)
    assert result.values is values and result.indices is indices
    assert values.tolist() == expected.values.tolist()
    assert indices.tolist() == expected.indices.tolist()


def test_out_casting_and_resizing_follow_torch():
    # same-kind casts are allowed (int result into a float out), narrowing kinds are not
    out = kiln.empty(2)
    kiln.add(kiln.tensor([1, 2]), 1, out=out)
    assert out.dtype is kiln.float32 and out.tolist() == [2.0, 3.0]
    with pytest.raises(RuntimeError, match="add.*float32 can't be cast.*int64"):
        kiln.add(kiln.ones(2), 1, out=kiln.empty(2, dtype=kiln.int64))
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.add(torch.ones(2), 1, out=torch.empty(2, dtype=torch.int64))
    # an empty out is resized silently, a non-empty one with PyTorch's warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kiln.mul(kiln.ones(3), 2, out=kiln.empty(0)).shape == (3,)
    with pytest.warns(UserWarning, match="was resized since it had shape \\[2\\]"):
        resized = kiln.mul(kiln.ones(3), 2, out=kiln.empty(2))
    assert resized.tolist() == [2.0, 2.0, 2.0]


def test_out_refuses_autograd():
    w = kiln.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="mul.*don't support automatic differentiation"):
        kiln.mul(w, 2, out=kiln.empty(2))
    with kiln.no_grad():
        assert kiln.mul(w, 2, out=kiln.empty(2)).tolist() == [2.0, 2.0]
    with pytest.raises(TypeError, match="'out' must be Tensor"):
        kiln.add(kiln.ones(1), 1, out=[1.0])


def test_out_under_jit_writes_back():
    out = kiln.zeros(3)

    @kiln.jit
    def step(a, b):
        kiln.mul(a, b, out=out)
        return out + 1

    result = step(kiln.tensor([1.0, 2.0, 3.0]), kiln.tensor([2.0, 2.0, 2.0]))
    assert out.tolist() == [2.0, 4.0, 6.0]
    assert result.tolist() == [3.0, 5.0, 7.0]


def test_the_legacy_tensor_constructor_is_pytorchs():
    """``torch.Tensor(...)``: sizes, or data in the default float dtype (a tutorial's
    ``loss = torch.Tensor([0]); loss += l`` needs a float tensor)."""
    torch = pytest.importorskip("torch")
    data_cases = [
        lambda m: m.Tensor(),
        lambda m: m.Tensor([0]),
        lambda m: m.Tensor([[1, 2], [3, 4]]),
        lambda m: m.Tensor([True, False]),
        lambda m: m.Tensor(np.array([1, 2], dtype=np.int64)),
        lambda m: m.Tensor(np.array([1.5], dtype=np.float64)),
        lambda m: m.Tensor(()),
        lambda m: m.Tensor((2, 3)),  # a tuple is data; a Size is sizes
        lambda m: m.Tensor(m.tensor([1, 2])),  # a tensor is shared as it is
    ]
    size_cases = [
        lambda m: m.Tensor(2, 3),
        lambda m: m.Tensor(4),
        lambda m: m.Tensor(m.Size([2, 1])),
    ]
    for case in data_cases + size_cases:
        k, t = case(kiln), case(torch)
        assert tuple(k.shape) == tuple(t.shape)
        assert k.dtype.name == str(t.dtype).removeprefix("torch.")
        if case in data_cases:
            np.testing.assert_array_equal(k.numpy(), t.numpy())
    for bad in (2.5, True):
        with pytest.raises(TypeError):
            torch.Tensor(bad)
        with pytest.raises(TypeError, match="data must be a sequence"):
            kiln.Tensor(bad)
