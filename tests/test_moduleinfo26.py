"""kiln.nn against PyTorch's ModuleInfo database (torch.testing._internal.common_modules):
focused tests of what running the database found, each comparing kiln with torch
(forward values, float64 gradients, running statistics, reprs and error classes)."""

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")
F = torch.nn.functional
KF = kiln.nn.functional


def to_kiln(t, grad=False):
    out = kiln.tensor(t.detach().numpy().copy())
    return out.requires_grad_(True) if grad else out


def copy_module(kiln_module, torch_module):
    """Load torch's state into kiln's module (same names and shapes, in the same order)."""
    state = torch_module.state_dict()
    assert list(state) == list(kiln_module.state_dict())
    kiln_module.load_state_dict({k: to_kiln(v) for k, v in state.items()})
    return kiln_module


def assert_close(kiln_value, torch_value, rtol=1e-6, atol=1e-8):
    expected = torch_value.detach().numpy()
    got = kiln_value.detach().numpy()
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


def assert_same_error(kiln_call, torch_call):
    with pytest.raises(Exception) as torch_error:
        torch_call()
    with pytest.raises(type(torch_error.value)) as kiln_error:
        kiln_call()
    assert str(kiln_error.value) == str(torch_error.value)


# ------------------------------------------------------------------ silent wrong results


def test_kl_div_negative_target_is_nan_as_torch():
    # xlogy(target, target): NaN for a negative target (kiln gave 0), 0 for a zero target
    input = torch.tensor([0.5, -0.3, float("nan"), 0.2, 1.0], dtype=torch.float64)
    target = torch.tensor([-0.5, 0.4, 0.3, float("nan"), 0.0], dtype=torch.float64)
    for reduction in ("none", "sum"):
        expected = F.kl_div(input, target, reduction=reduction)
        got = KF.kl_div(to_kiln(input), to_kiln(target), reduction=reduction)
        assert_close(got, expected)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (3,)])
def test_cross_entropy_every_target_ignored_has_zero_gradient(shape, weighted, label_smoothing):
    # 'mean' of no targets: the loss is 0/0 = NaN, its gradient zero (kiln's was NaN)
    input = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = torch.ones(target_shape, dtype=torch.long)
    weight = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) if weighted else None
    kiln_weight = to_kiln(weight) if weighted else None
    x = to_kiln(input, grad=True)
    expected = F.cross_entropy(
        input, target, weight=weight, ignore_index=1, label_smoothing=label_smoothing
    )
    got = KF.cross_entropy(
        x, to_kiln(target), weight=kiln_weight, ignore_index=1, label_smoothing=label_smoothing
    )
    expected.backward()
    got.backward()
    assert_close(got, expected)
    assert_close(x.grad, input.grad)
    input.grad, x.grad = None, None
    F.nll_loss(input, target, weight=weight, ignore_index=1).backward()
    KF.nll_loss(x, to_kiln(target), weight=kiln_weight, ignore_index=1).backward()
    assert_close(x.grad, input.grad)


@pytest.mark.parametrize("create_graph", [False, True])
def test_cross_entropy_every_target_ignored_with_a_nan_upstream_gradient(create_graph):
    # d(loss * loss) = 2 * NaN upstream: PyTorch's nll backward still gives zeros
    input = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    target = torch.ones(2, dtype=torch.long)
    x = to_kiln(input, grad=True)
    loss = F.cross_entropy(input, target, ignore_index=1)
    (expected,) = torch.autograd.grad(loss * loss, [input], create_graph=create_graph)
    loss = KF.cross_entropy(x, to_kiln(target), ignore_index=1)
    (got,) = kiln.autograd.grad(loss * loss, [x], create_graph=create_graph)
    assert_close(got, expected)


def test_cross_entropy_every_target_ignored_under_jit():
    module = kiln.nn.CrossEntropyLoss(ignore_index=1)
    x = kiln.randn(4, 3, dtype=kiln.float64, requires_grad=True)
    target = kiln.ones(4, dtype=kiln.int64)

    def step(x, target):
        loss = module(x, target)
        loss.backward()
        return loss

    loss = kiln.jit(step)(x, target)
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 3)))


def test_gaussian_nll_loss_homoscedastic_var_broadcast_over_batch():
    # var (1, 3) for input (4, 3): PyTorch broadcasts it (kiln raised "incorrect size")
    input = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(4, 3, dtype=torch.float64)
    var = torch.rand(1, 3, dtype=torch.float64).add(0.1).requires_grad_(True)
    x, v = to_kiln(input, grad=True), to_kiln(var, grad=True)
    expected = F.gaussian_nll_loss(input, target, var)
    got = KF.gaussian_nll_loss(x, to_kiln(target), v)
    expected.backward()
    got.backward()
    assert_close(got, expected)
    assert_close(x.grad, input.grad)
    assert_close(v.grad, var.grad)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        KF.gaussian_nll_loss(x, to_kiln(target), kiln.ones(2, 3, dtype=kiln.float64))


def test_multi_margin_loss_refuses_a_target_of_another_batch_size():
    # a (1,) target for 5 samples broadcast silently through the gather
    input, target = torch.randn(5, 10), torch.zeros(1, dtype=torch.long)
    assert_same_error(
        lambda: KF.multi_margin_loss(to_kiln(input), to_kiln(target)),
        lambda: F.multi_margin_loss(input, target),
    )


# ------------------------------------------------------------------ LinearCrossEntropyLoss

LINEAR_CE_CASES = [
    dict(),
    dict(reduction="sum", label_smoothing=0.1),
    dict(reduction="none", ignore_index=1),
    dict(out_features=(3, 2), bias=True),
    dict(out_features=(2,), reduction="none", ignore_index=9),
    dict(weight=True, ignore_index=-100, label_smoothing=0.1),
    dict(options=dict(batch_chunk_size=2)),
    dict(probabilities=True, weight=True),
]


@pytest.mark.parametrize("case", LINEAR_CE_CASES, ids=str)
def test_linear_cross_entropy_loss_matches_torch(case):
    case = dict(case)
    probabilities = case.pop("probabilities", False)
    options = case.pop("options", None)
    torch_kwargs, kiln_kwargs = dict(case), dict(case)
    if case.pop("weight", False):
        weight = torch.rand(4, dtype=torch.float64) + 0.5
        torch_kwargs["weight"], kiln_kwargs["weight"] = weight, to_kiln(weight)
    if options is not None:
        torch_kwargs["options"] = torch.nn.LinearCrossEntropyOptions(**options)
        kiln_kwargs["options"] = kiln.nn.LinearCrossEntropyOptions(**options)
    reference = torch.nn.LinearCrossEntropyLoss(5, 4, dtype=torch.float64, **torch_kwargs)
    module = kiln.nn.LinearCrossEntropyLoss(5, 4, dtype=kiln.float64, **kiln_kwargs)
    copy_module(module, reference)
    assert repr(module) == repr(reference)
    out_features = case.get("out_features", ())
    input = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    if probabilities:
        target = torch.rand(6, 4, *out_features, dtype=torch.float64).softmax(1)
    else:
        target = torch.randint(0, 4, (6, *out_features))
        target[0] = case.get("ignore_index", 0)
    x = to_kiln(input, grad=True)
    expected = reference(input, target)
    got = module(x, to_kiln(target))
    assert_close(got, expected, rtol=1e-10)
    expected.sum().backward()
    got.sum().backward()
    assert_close(x.grad, input.grad)
    for name, parameter in module.named_parameters():
        assert_close(parameter.grad, reference.get_parameter(name).grad)
    if not probabilities:
        jitted = kiln.jit(lambda x, t: module(x, t))
        assert_close(jitted(x.detach(), to_kiln(target)), got)


def test_linear_cross_entropy_functional_unbatched():
    weight = torch.randn(4, 3, dtype=torch.float64)
    input = torch.randn(3, dtype=torch.float64)
    target = torch.tensor(2)
    assert_close(
        KF.linear_cross_entropy(to_kiln(input), to_kiln(weight), to_kiln(target)),
        F.linear_cross_entropy(input, weight, target),
    )


@pytest.mark.parametrize(
    "input_shape, weight_shape, target, kwargs",
    [
        ((4, 5), (4, 3), torch.zeros(4, dtype=torch.long), {}),
        ((2, 3), (4, 3), torch.rand(2, 4), dict(ignore_index=1)),
        ((3,), (4, 2, 3), torch.tensor(1), {}),
        ((2, 3), (4, 3), torch.zeros(2, 4, dtype=torch.long), {}),
    ],
)
def test_linear_cross_entropy_functional_errors(input_shape, weight_shape, target, kwargs):
    input, weight = torch.randn(*input_shape), torch.randn(*weight_shape)
    assert_same_error(
        lambda: KF.linear_cross_entropy(to_kiln(input), to_kiln(weight), to_kiln(target), **kwargs),
        lambda: F.linear_cross_entropy(input, weight, target, **kwargs),
    )


@pytest.mark.parametrize("kwargs", [dict(weight=torch.ones(3)), dict(label_smoothing=2.0)])
def test_linear_cross_entropy_loss_constructor_errors(kwargs):
    kiln_kwargs = {k: to_kiln(v) if hasattr(v, "numpy") else v for k, v in kwargs.items()}
    assert_same_error(
        lambda: kiln.nn.LinearCrossEntropyLoss(3, 2, **kiln_kwargs),
        lambda: torch.nn.LinearCrossEntropyLoss(3, 2, **kwargs),
    )
    with pytest.raises(ValueError, match="chunking_method"):
        kiln.nn.LinearCrossEntropyOptions(chunking_method="rows")


# ------------------------------------------------------------------ BatchNorm, pools


def test_batch_norm_empty_batch_in_training():
    # PyTorch normalizes an empty batch to an empty output; kiln raised
    reference = torch.nn.BatchNorm1d(5, dtype=torch.float64)
    module = copy_module(kiln.nn.BatchNorm1d(5, dtype=kiln.float64), reference)
    input = torch.randn(0, 5, 9, dtype=torch.float64, requires_grad=True)
    x = to_kiln(input, grad=True)
    expected, got = reference(input), module(x)
    assert_close(got, expected)
    expected.sum().backward()
    got.sum().backward()
    assert_close(module.weight.grad, reference.weight.grad)
    for name, buffer in reference.named_buffers():
        assert_close(module.get_buffer(name), buffer)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        module(kiln.randn(1, 5, dtype=kiln.float64))


@pytest.mark.parametrize("eps", [0.0, -1.0])
def test_batch_norm_eps_must_be_positive_in_training(eps):
    input = torch.randn(2, 10)
    assert_same_error(
        lambda: kiln.nn.BatchNorm1d(10, eps=eps)(to_kiln(input)),
        lambda: torch.nn.BatchNorm1d(10, eps=eps)(input),
    )


def test_max_pool3d_repr_and_attributes_as_torch():
    reference = torch.nn.MaxPool3d(2, stride=1, padding=1, dilation=2)
    module = kiln.nn.MaxPool3d(2, stride=1, padding=1, dilation=2)
    assert repr(module) == repr(reference)
    reference.ceil_mode = module.ceil_mode = True  # (read at forward, as PyTorch's)
    input = torch.randn(1, 2, 6, 5, 4)
    assert_close(module(to_kiln(input)), reference(input))


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("batch", [(), (2,)])
def test_fractional_max_pool_takes_the_first_rows_of_larger_samples(nd, batch):
    # PyTorch accepts _random_samples of more rows than the batch (uses the first ones)
    input = torch.randn(*batch, 4, *([7] * nd), dtype=torch.float64, requires_grad=True)
    samples = torch.rand(3, 4, nd, dtype=torch.float64)
    name = f"fractional_max_pool{nd}d"
    x = to_kiln(input, grad=True)
    expected = getattr(F, name)(input, 2, output_size=3, _random_samples=samples)
    got = getattr(KF, name)(x, 2, output_size=3, _random_samples=to_kiln(samples))
    assert_close(got, expected)
    expected.sum().backward()
    got.sum().backward()
    assert_close(x.grad, input.grad)
    few = torch.rand(1, 4, nd, dtype=torch.float64)
    if batch:
        with pytest.raises(RuntimeError):
            getattr(KF, name)(x, 2, output_size=3, _random_samples=to_kiln(few))


# ------------------------------------------------------------------ errors as torch's


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((10, 0, 1), {}),
        ((10, 10, 0), {}),
        ((3, 5), dict(bias=0)),
        ((3, 5), dict(bias="True")),
        ((3, 5), dict(batch_first=1)),
        ((3.0, 5), {}),
        ((-1, 5), {}),
        ((3, 5.0), {}),
    ],
)
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_recurrent_constructor_errors(name, args, kwargs):
    with pytest.raises(Exception) as expected:
        getattr(torch.nn, name)(*args, **kwargs)
    with pytest.raises(type(expected.value)) as got:
        getattr(kiln.nn, name)(*args, **kwargs)
    assert str(expected.value).split(",")[0] in str(got.value)


def test_recurrent_input_dtype_must_match_weights():
    module = kiln.nn.LSTM(3, 5)
    with pytest.raises(ValueError, match=r"RNN input dtype .* does not match weight dtype"):
        module(kiln.randn(2, 4, 3, dtype=kiln.float64))
    with kiln.autocast("cpu", dtype=kiln.bfloat16):  # (autocast casts instead)
        assert module(kiln.randn(2, 4, 3, dtype=kiln.bfloat16))[0].dtype == kiln.bfloat16


@pytest.mark.parametrize(
    "name, input_shape, hidden_shape",
    [
        ("RNNCell", (3, 10), (3, 21)),
        ("GRUCell", (3, 10), (5, 20)),
        ("RNNCell", (3, 10), (3, 1, 1, 20)),
        ("LSTMCell", (3, 10), (3, 21)),
        ("LSTMCell", (3, 10), (5, 20)),
        ("LSTMCell", (3, 10), (3, 1, 1, 20)),
    ],
)
def test_recurrent_cell_hidden_state_errors(name, input_shape, hidden_shape):
    reference, module = getattr(torch.nn, name)(10, 20), getattr(kiln.nn, name)(10, 20)
    input, hidden = torch.randn(*input_shape), torch.randn(*hidden_shape)
    if name == "LSTMCell":
        assert_same_error(
            lambda: module(to_kiln(input), (to_kiln(hidden), to_kiln(hidden))),
            lambda: reference(input, (hidden, hidden)),
        )
    else:
        assert_same_error(
            lambda: module(to_kiln(input), to_kiln(hidden)), lambda: reference(input, hidden)
        )


@pytest.mark.parametrize("nd, shape", [(1, (2, 3, 4, 5)), (2, (2, 3)), (3, (2, 3))])
def test_circular_pad_input_rank_error(nd, shape):
    input = torch.randn(*shape)
    assert_same_error(
        lambda: getattr(kiln.nn, f"CircularPad{nd}d")(1)(to_kiln(input)),
        lambda: getattr(torch.nn, f"CircularPad{nd}d")(1)(input),
    )


def test_loss_and_layer_construction_errors():
    assert_same_error(lambda: kiln.nn.HuberLoss(delta=1j), lambda: torch.nn.HuberLoss(delta=1j))
    assert_same_error(lambda: kiln.nn.GroupNorm(3, 10), lambda: torch.nn.GroupNorm(3, 10))
    input = torch.randn(3, 4)
    assert_same_error(
        lambda: kiln.nn.MaxPool2d(2)(to_kiln(input)), lambda: torch.nn.MaxPool2d(2)(input)
    )


@pytest.mark.parametrize(
    "input_shape, target, kwargs",
    [
        ((2, 3), torch.zeros(2, 3, dtype=torch.long), {}),
        ((2, 3), torch.rand(2), {}),
        ((4, 2), torch.rand(5, 2), {}),
        ((2, 3), torch.tensor([0, 1]), dict(weight=torch.ones(2))),
        ((2, 3), torch.rand(2, 3), dict(weight=torch.ones(2))),
        ((2, 3), torch.rand(2, 3), dict(ignore_index=1)),
        ((2, 3), torch.tensor([0, 1]), dict(weight=torch.ones(3, dtype=torch.float64))),
    ],
)
def test_cross_entropy_errors(input_shape, target, kwargs):
    input = torch.randn(*input_shape)
    kiln_kwargs = {k: to_kiln(v) if hasattr(v, "numpy") else v for k, v in kwargs.items()}
    assert_same_error(
        lambda: KF.cross_entropy(to_kiln(input), to_kiln(target), **kiln_kwargs),
        lambda: F.cross_entropy(input, target, **kwargs),
    )


@pytest.mark.parametrize("weight", [torch.ones(3, dtype=torch.float64), torch.ones(4)])
def test_nll_loss_weight_dtype_and_length_must_match_input(weight):
    input, target = torch.randn(2, 3), torch.tensor([0, 2])
    assert_same_error(
        lambda: KF.nll_loss(to_kiln(input), to_kiln(target), weight=to_kiln(weight)),
        lambda: F.nll_loss(input, target, weight=weight),
    )


@pytest.mark.parametrize("input_shape, target_shape", [((), ()), ((5,), ()), ((5,), (1,))])
def test_multi_margin_loss_unbatched_none_has_the_target_shape(input_shape, target_shape):
    # PyTorch: a 1-D input with a (1,) target gives a (1,) loss ('none'); kiln gave ()
    input = torch.randn(input_shape, dtype=torch.float64, requires_grad=True)
    target = torch.zeros(target_shape, dtype=torch.long)
    x = to_kiln(input, grad=True)
    expected = F.multi_margin_loss(input, target, reduction="none")
    got = KF.multi_margin_loss(x, to_kiln(target), reduction="none")
    assert_close(got, expected)
    expected.sum().backward()
    got.sum().backward()
    assert_close(x.grad, input.grad)


@pytest.mark.parametrize("shape", [(), (5,), (2, 5)])
def test_multilabel_margin_loss_none_shape(shape):
    # PyTorch: a 0-d input gives a 0-d loss ('none'); kiln gave (1,)
    input = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    target = torch.zeros(shape, dtype=torch.long)
    x = to_kiln(input, grad=True)
    expected = F.multilabel_margin_loss(input, target, reduction="none")
    got = KF.multilabel_margin_loss(x, to_kiln(target), reduction="none")
    assert_close(got, expected)
    expected.sum().backward()
    got.sum().backward()
    assert_close(x.grad, input.grad)
