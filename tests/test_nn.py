"""kiln.nn modules: registration, state, reprs, forward values, gradients, kiln.jit.

Module forwards are checked against NumPy on the module's own weights; every module's
parameter and input gradients against central finite differences in float64; torch (when
installed) is a second oracle for values, reprs and state_dict keys.
"""

from __future__ import annotations

import copy
import math
import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pytest

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from kiln.nn import init


def as_numpy(t):
    return t.detach().numpy()


# ------------------------------------------------------------------------------ registration


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.second = nn.Linear(4, 2, bias=False)
        self.register_buffer("steps", kiln.zeros(1))
        self.register_buffer("scratch", kiln.zeros(2), persistent=False)
        self.scale = nn.Parameter(kiln.ones(1))

    def forward(self, x):
        return self.second(self.act(self.first(x))) * self.scale


def test_attributes_register_parameters_buffers_and_modules():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == [
        "scale",
        "first.weight",
        "first.bias",
        "second.weight",
    ]
    assert [n for n, _ in m.named_buffers()] == ["steps", "scratch"]
    assert [n for n, _ in m.named_children()] == ["first", "act", "second"]
    assert [n for n, _ in m.named_modules()] == ["", "first", "act", "second"]
    assert list(m.state_dict()) == ["scale", "steps", "first.weight", "first.bias", "second.weight"]
    assert m.second.bias is None and "bias" not in dict(m.second.named_parameters())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]


def test_setattr_rules():
    m = nn.Linear(2, 2)
    with pytest.raises(
        TypeError,
        match=re.escape(
            "cannot assign 'kiln.FloatTensor' as "
            "parameter 'weight' (torch.nn.Parameter or "
            "None expected)"
        ),
    ):
        m.weight = kiln.zeros(2, 2)
    m.bias = None
    assert m.bias is None and list(dict(m.named_parameters())) == ["weight"]
    m.extra = nn.Parameter(kiln.zeros(1))
    assert "extra" in dict(m.named_parameters())
    del m.extra
    assert "extra" not in dict(m.named_parameters())
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'missing'"):
        m.missing  # noqa: B018

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(kiln.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_train_eval_requires_grad_zero_grad_apply():
    m = TwoLayer()
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m(kiln.ones(1, 3)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0.0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "TwoLayer"]


def test_to_double_keeps_parameter_objects():
    m = TwoLayer()
    weight = m.first.weight
    values = as_numpy(weight).copy()
    m.double()
    assert m.first.weight is weight and weight.dtype is kiln.float64
    assert m.steps.dtype is kiln.float64
    np.testing.assert_allclose(as_numpy(weight), values)
    m.to(kiln.float32)
    assert weight.dtype is kiln.float32
    with pytest.raises(TypeError, match="floating point dtypes"):
        m.to(kiln.int64)


def test_forward_hooks_and_removal():
    m = nn.Linear(2, 2)
    calls = []
    handle = m.register_forward_hook(lambda mod, args, out: out * 0)
    pre = m.register_forward_pre_hook(lambda mod, args: calls.append(len(args)))
    assert float(m(kiln.ones(1, 2)).abs().sum()) == 0.0 and calls == [1]
    handle.remove()
    pre.remove()
    assert float(m(kiln.ones(1, 2)).abs().sum()) > 0.0 and calls == [1]


# ------------------------------------------------------------------------------ state dicts


def test_state_dict_round_trip_copies_in_place():
    a, b = TwoLayer(), TwoLayer()
    with kiln.no_grad():
        a.steps.fill_(3.0)
    weight = b.first.weight
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.first.weight is weight
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(as_numpy(x), as_numpy(y), err_msg=name)
    # the state dict holds detached values, not the parameters themselves
    assert not a.state_dict()["first.weight"].requires_grad
    assert a.state_dict(keep_vars=True)["first.weight"] is a.first.weight


def test_load_state_dict_errors_as_pytorch():
    m = nn.Linear(3, 4)
    bad = {"weight": kiln.zeros(4, 2), "foo": kiln.zeros(1)}
    expected = (
        "Error(s) in loading state_dict for Linear:\n\tMissing key(s) in state_dict: "
        '"bias". \n\tUnexpected key(s) in state_dict: "foo". \n\tsize mismatch for '
        "weight: copying a param with shape kiln.Size([4, 2]) from checkpoint, the "
        "shape in current model is kiln.Size([4, 3])."
    )
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(bad)
    assert str(info.value) == expected
    result = m.load_state_dict({"weight": kiln.ones(4, 3), "foo": kiln.zeros(1)}, strict=False)
    assert result == (["bias"], ["foo"])
    assert float(m.weight.sum()) == 12.0


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")

    def build(n):
        return n.Sequential(
            n.Conv2d(1, 2, 3),
            n.BatchNorm2d(2),
            n.Flatten(),
            n.LayerNorm(8),
            n.ModuleDict({"head": n.Linear(8, 2)}),
        )

    assert list(build(nn).state_dict()) == list(build(torch.nn).state_dict())


# ------------------------------------------------------------------------------ reprs

REPRS = [
    (lambda n: n.Linear(3, 4), "Linear(in_features=3, out_features=4, bias=True)"),
    (lambda n: n.Linear(3, 4, bias=False), "Linear(in_features=3, out_features=4, bias=False)"),
    (
        lambda n: n.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)",
    ),
    (
        lambda n: n.Conv2d(
            4, 4, (3, 5), padding="same", dilation=2, groups=2, padding_mode="reflect"
        ),
        "Conv2d(4, 4, kernel_size=(3, 5), stride=(1, 1), padding=same, dilation=(2, 2), "
        "groups=2, padding_mode=reflect)",
    ),
    (
        lambda n: n.BatchNorm2d(8),
        "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)",
    ),
    (lambda n: n.LayerNorm(4), "LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)"),
    (
        lambda n: n.MaxPool2d(2),
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)",
    ),
    (lambda n: n.AvgPool2d(3, 2), "AvgPool2d(kernel_size=3, stride=2, padding=0)"),
    (lambda n: n.AdaptiveAvgPool2d((1, 1)), "AdaptiveAvgPool2d(output_size=(1, 1))"),
    (lambda n: n.Embedding(10, 3, padding_idx=0), "Embedding(10, 3, padding_idx=0)"),
    (lambda n: n.Dropout(0.2), "Dropout(p=0.2, inplace=False)"),
    (lambda n: n.LeakyReLU(0.2, True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (lambda n: n.GELU(approximate="tanh"), "GELU(approximate='tanh')"),
    (lambda n: n.Softmax(dim=1), "Softmax(dim=1)"),
    (lambda n: n.Flatten(), "Flatten(start_dim=1, end_dim=-1)"),
    (lambda n: n.Unflatten(1, (2, 3)), "Unflatten(dim=1, unflattened_size=(2, 3))"),
    (lambda n: n.CrossEntropyLoss(), "CrossEntropyLoss()"),
    (
        lambda n: n.Sequential(n.Linear(2, 3), n.Sequential(n.ReLU(), n.Dropout())),
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): Sequential("
        "\n    (0): ReLU()\n    (1): Dropout(p=0.5, inplace=False)\n  )\n)",
    ),
    (
        lambda n: n.ModuleList([n.Linear(2, 2) for _ in range(3)] + [n.Tanh()]),
        "ModuleList(\n  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)\n"
        "  (3): Tanh()\n)",
    ),
    (
        lambda n: n.ModuleDict(OrderedDict(a=n.SiLU(), b=n.Identity())),
        "ModuleDict(\n  (a): SiLU()\n  (b): Identity()\n)",
    ),
]


@pytest.mark.parametrize(
    "build, text", REPRS, ids=[t.split("(")[0] + str(i) for i, (_, t) in enumerate(REPRS)]
)
def test_repr(build, text):
    assert repr(build(nn)) == text


@pytest.mark.parametrize(
    "build, text", REPRS, ids=[t.split("(")[0] + str(i) for i, (_, t) in enumerate(REPRS)]
)
def test_repr_matches_torch(build, text):
    torch = pytest.importorskip("torch")
    assert repr(build(torch.nn)) == text


def test_parameter_repr_and_identity():
    p = nn.Parameter(kiln.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert isinstance(p, kiln.Tensor) and p.is_leaf
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q is not p and q.tolist() == [1.0, 2.0]


# ------------------------------------------------------------------------------ containers


def test_sequential_indexing_len_append_slice_delete():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    head = seq[:2]
    assert type(head) is nn.Sequential and len(head) == 2 and head[0] is seq[0]
    assert seq(kiln.ones(4, 2)).shape == (4, 1)
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    named = nn.Sequential(OrderedDict(enc=nn.Linear(2, 2), act=nn.Tanh()))
    assert named.enc is named[0]
    with pytest.raises(IndexError):
        seq[5]


def test_module_list_dict_and_parameter_list_register():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    layers.append(nn.Linear(2, 1))
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    heads = nn.ModuleDict({"a": nn.Linear(2, 2)})
    heads["b"] = nn.Linear(2, 3)
    assert list(heads.keys()) == ["a", "b"] and "b" in heads
    assert [n for n, _ in heads.named_parameters()] == ["a.weight", "a.bias", "b.weight", "b.bias"]
    params = nn.ParameterList([kiln.zeros(2), nn.Parameter(kiln.ones(3))])
    assert all(isinstance(p, nn.Parameter) for p in params)
    assert [n for n, _ in params.named_parameters()] == ["0", "1"]


# ------------------------------------------------------------------------------ forward values


def np_linear(m, x):
    out = x @ as_numpy(m.weight).T
    return out if m.bias is None else out + as_numpy(m.bias)


def np_conv(m, x):
    from test_nn_functional import np_conv2d

    return np_conv2d(
        x,
        as_numpy(m.weight),
        None if m.bias is None else as_numpy(m.bias),
        m.stride,
        m.padding,
        m.dilation,
        m.groups,
    )


def np_norm(axes, x, m, eps=1e-5):
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    shape = [1] * x.ndim
    if axes == (-1,):
        return y * as_numpy(m.weight) + as_numpy(m.bias)
    shape[1] = -1
    return y * as_numpy(m.weight).reshape(shape) + as_numpy(m.bias).reshape(shape)


@dataclass
class ModuleCase:
    id: str
    build: object  # () -> module (float64 after .double())
    shapes: tuple  # input shapes (float inputs) or callables rng -> array
    ref: object = None  # ref(module, *arrays) -> array
    grad_inputs: bool = True


def _perturb(m):
    """Non-trivial affine parameters (PyTorch initialises them to ones and zeros)."""
    with kiln.no_grad():
        for p in m.parameters():
            p.add_(kiln.randn(p.shape, dtype=p.dtype) * 0.3)
    return m


def _targets(*shape, classes=3):
    return lambda rng: rng.integers(0, classes, shape)


MODULES = [
    ModuleCase("linear", lambda: nn.Linear(4, 3), ((2, 4),), np_linear),
    ModuleCase("linear_nobias_3d", lambda: nn.Linear(4, 3, bias=False), ((2, 2, 4),), np_linear),
    ModuleCase(
        "bilinear",
        lambda: nn.Bilinear(2, 3, 2),
        ((2, 2), (2, 3)),
        lambda m, a, b: np.einsum("ni,oij,nj->no", a, as_numpy(m.weight), b) + as_numpy(m.bias),
    ),
    ModuleCase("conv2d", lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), ((2, 2, 5, 5),), np_conv),
    ModuleCase(
        "conv2d_groups",
        lambda: nn.Conv2d(4, 2, (2, 3), groups=2, dilation=(1, 2)),
        ((1, 4, 4, 6),),
        np_conv,
    ),
    ModuleCase(
        "conv2d_reflect",
        lambda: nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"),
        ((1, 1, 4, 4),),
    ),
    ModuleCase("conv1d", lambda: nn.Conv1d(2, 3, 3, padding=1), ((2, 2, 6),)),
    ModuleCase(
        "layer_norm",
        lambda: _perturb(nn.LayerNorm(4)),
        ((3, 4),),
        lambda m, x: np_norm((-1,), x, m),
    ),
    ModuleCase(
        "batch_norm1d",
        lambda: _perturb(nn.BatchNorm1d(3)),
        ((5, 3),),
        lambda m, x: np_norm((0,), x, m),
    ),
    ModuleCase(
        "batch_norm1d_3d",
        lambda: _perturb(nn.BatchNorm1d(3)),
        ((4, 3, 2),),
        lambda m, x: np_norm((0, 2), x, m),
    ),
    ModuleCase(
        "batch_norm2d",
        lambda: _perturb(nn.BatchNorm2d(2)),
        ((3, 2, 2, 2),),
        lambda m, x: np_norm((0, 2, 3), x, m),
    ),
    ModuleCase("group_norm", lambda: _perturb(nn.GroupNorm(2, 4)), ((2, 4, 3),)),
    ModuleCase(
        "embedding",
        lambda: nn.Embedding(5, 3),
        (_targets(2, 3, classes=5),),
        lambda m, i: as_numpy(m.weight)[i],
        grad_inputs=False,
    ),
    ModuleCase("max_pool", lambda: nn.MaxPool2d(2), ((1, 2, 4, 4),)),
    ModuleCase("avg_pool", lambda: nn.AvgPool2d(3, 2, 1), ((1, 2, 5, 5),)),
    ModuleCase("adaptive_avg_pool", lambda: nn.AdaptiveAvgPool2d((2, 3)), ((1, 2, 4, 6),)),
    ModuleCase("flatten", lambda: nn.Flatten(), ((2, 3, 2),), lambda m, x: x.reshape(2, 6)),
    ModuleCase(
        "unflatten", lambda: nn.Unflatten(1, (2, 3)), ((2, 6),), lambda m, x: x.reshape(2, 2, 3)
    ),
    ModuleCase("identity", lambda: nn.Identity(), ((2, 3),), lambda m, x: x),
    ModuleCase("relu", lambda: nn.ReLU(), ((3, 4),), lambda m, x: np.maximum(x, 0)),
    ModuleCase(
        "leaky_relu", lambda: nn.LeakyReLU(0.1), ((3, 4),), lambda m, x: np.where(x > 0, x, 0.1 * x)
    ),
    ModuleCase("gelu", lambda: nn.GELU(), ((3, 4),)),
    ModuleCase("silu", lambda: nn.SiLU(), ((3, 4),), lambda m, x: x / (1 + np.exp(-x))),
    ModuleCase("tanh", lambda: nn.Tanh(), ((3, 4),), lambda m, x: np.tanh(x)),
    ModuleCase("sigmoid", lambda: nn.Sigmoid(), ((3, 4),), lambda m, x: 1 / (1 + np.exp(-x))),
    ModuleCase(
        "softmax",
        lambda: nn.Softmax(dim=1),
        ((3, 4),),
        lambda m, x: np.exp(x) / np.exp(x).sum(1, keepdims=True),
    ),
    ModuleCase(
        "log_softmax",
        lambda: nn.LogSoftmax(dim=-1),
        ((3, 4),),
        lambda m, x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
    ),
    ModuleCase("dropout_eval", lambda: nn.Dropout(0.5).eval(), ((3, 4),), lambda m, x: x),
    ModuleCase(
        "mse", lambda: nn.MSELoss(), ((3, 4), (3, 4)), lambda m, a, b: ((a - b) ** 2).mean()
    ),
    ModuleCase(
        "l1",
        lambda: nn.L1Loss(reduction="sum"),
        ((3, 4), (3, 4)),
        lambda m, a, b: np.abs(a - b).sum(),
    ),
    ModuleCase("smooth_l1", lambda: nn.SmoothL1Loss(beta=0.5), ((3, 4), (3, 4))),
    ModuleCase(
        "cross_entropy", lambda: nn.CrossEntropyLoss(label_smoothing=0.1), ((4, 3), _targets(4))
    ),
    ModuleCase(
        "cross_entropy_weight",
        lambda: nn.CrossEntropyLoss(weight=kiln.tensor([1.0, 2.0, 0.5])),
        ((4, 3), _targets(4)),
    ),
    ModuleCase(
        "nll",
        lambda: nn.NLLLoss(),
        ((4, 3), _targets(4)),
        lambda m, x, t: -x[np.arange(4), t].mean(),
    ),
    ModuleCase(
        "bce",
        lambda: nn.BCELoss(),
        (lambda rng: rng.uniform(0.1, 0.9, (2, 3)), lambda rng: rng.uniform(0, 1, (2, 3))),
    ),
    ModuleCase(
        "bce_logits",
        lambda: nn.BCEWithLogitsLoss(pos_weight=kiln.tensor([2.0, 0.5])),
        ((3, 2), lambda rng: rng.uniform(0, 1, (3, 2))),
    ),
    ModuleCase(
        "mlp",
        lambda: nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Dropout(0.0), nn.Linear(5, 2)),
        ((4, 3),),
    ),
    ModuleCase(
        "cnn",
        lambda: nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1),
            nn.BatchNorm2d(2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(8, 2),
        ),
        ((2, 1, 4, 4),),
    ),
]


def _make_inputs(case, rng):
    arrays = []
    for shape in case.shapes:
        arrays.append(shape(rng) if callable(shape) else rng.standard_normal(shape))
    return arrays


def _module(case):
    kiln.manual_seed(0)
    return case.build().double()


@pytest.mark.parametrize(
    "case", [c for c in MODULES if c.ref], ids=[c.id for c in MODULES if c.ref]
)
def test_module_forward_matches_numpy(case):
    m = _module(case)
    arrays = _make_inputs(case, np.random.default_rng(0))
    got = m(*[kiln.tensor(a) for a in arrays])
    np.testing.assert_allclose(as_numpy(got), case.ref(m, *arrays), rtol=1e-7, atol=1e-9)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", MODULES, ids=[c.id for c in MODULES])
def test_module_matches_torch(case):
    torch = pytest.importorskip("torch")
    ours = _module(case)
    theirs = case.build.__code__  # the same constructor, with torch.nn in place of kiln.nn
    namespace = dict(case.build.__globals__, nn=torch.nn, kiln=torch, _perturb=lambda m: m)
    theirs = type(case.build)(theirs, namespace)().double()
    theirs.load_state_dict({k: torch.tensor(as_numpy(v)) for k, v in ours.state_dict().items()})
    theirs.train(ours.training)
    arrays = _make_inputs(case, np.random.default_rng(1))
    got = ours(*[kiln.tensor(a) for a in arrays])
    want = theirs(*[torch.tensor(a) for a in arrays])
    np.testing.assert_allclose(as_numpy(got), want.detach().numpy(), rtol=1e-7, atol=1e-9)
    for name, buffer in ours.named_buffers():  # running statistics updated alike
        np.testing.assert_allclose(
            as_numpy(buffer), theirs.get_buffer(name).numpy(), rtol=1e-7, err_msg=name
        )


@pytest.mark.parametrize("case", MODULES, ids=[c.id for c in MODULES])
def test_module_gradients_match_finite_differences(case):
    m = _module(case)
    rng = np.random.default_rng(2)
    arrays = _make_inputs(case, rng)
    inputs = [
        kiln.tensor(a, requires_grad=case.grad_inputs and a.dtype.kind == "f") for a in arrays
    ]
    # a loss input must stay a probability etc.: only differentiate the first input of losses
    loss_module = "Loss" in type(m).__name__
    if loss_module:
        for t in inputs[1:]:
            t.requires_grad = False
    projection = None

    def objective(values):
        nonlocal projection
        out = m(*values)
        if projection is None:
            projection = kiln.tensor(rng.standard_normal(tuple(out.shape)))
        return (out * projection).sum()

    objective(inputs).backward()
    targets = [(f"param {n}", p) for n, p in m.named_parameters()]
    targets += [(f"input {i}", t) for i, t in enumerate(inputs) if t.requires_grad]
    assert targets
    h = 1e-6
    for label, t in targets:
        analytic = as_numpy(t.grad)
        numeric = np.zeros(t.shape)
        for index in np.ndindex(*t.shape):
            values = []
            for step in (h, -h):
                with kiln.no_grad():
                    original = float(t[index])
                    t[index] = original + step
                    values.append(objective(inputs).item())
                    t[index] = original
            numeric[index] = (values[0] - values[1]) / (2 * h)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6, err_msg=label)


# ------------------------------------------------------------------------------ batch norm


def test_batch_norm_running_stats_momentum_and_eval():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm1d(3, momentum=0.2).double()
    batches = [rng.standard_normal((6, 3)) * 2 + 1 for _ in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    for x in batches:
        bn(kiln.tensor(x))
        mean = 0.8 * mean + 0.2 * x.mean(0)
        var = 0.8 * var + 0.2 * x.var(0, ddof=1)
    np.testing.assert_allclose(as_numpy(bn.running_mean), mean)
    np.testing.assert_allclose(as_numpy(bn.running_var), var)
    assert int(bn.num_batches_tracked) == 3
    bn.eval()
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(as_numpy(bn(kiln.tensor(x))), (x - mean) / np.sqrt(var + 1e-5))
    np.testing.assert_allclose(as_numpy(bn.running_mean), mean)  # eval leaves them alone


def test_batch_norm_cumulative_average_and_untracked():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm2d(2, momentum=None).double()
    batches = [rng.standard_normal((2, 2, 2, 2)) for _ in range(3)]
    for x in batches:
        bn(kiln.tensor(x))
    want = np.mean([x.mean(axis=(0, 2, 3)) for x in batches], axis=0)
    np.testing.assert_allclose(as_numpy(bn.running_mean), want)
    plain = nn.BatchNorm1d(2, track_running_stats=False).double().eval()
    x = rng.standard_normal((4, 2))
    np.testing.assert_allclose(
        as_numpy(plain(kiln.tensor(x))), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    )
    assert plain.running_mean is None and "running_mean" not in plain.state_dict()


# ------------------------------------------------------------------------------ dropout


def test_dropout_train_vs_eval_and_seed():
    drop = nn.Dropout(0.25)
    x = kiln.ones(4000)
    kiln.manual_seed(3)
    a = drop(x)
    kiln.manual_seed(3)
    b = drop(x)
    np.testing.assert_array_equal(as_numpy(a), as_numpy(b))
    zeros = float((a == 0).float().mean())
    assert abs(zeros - 0.25) < 0.03
    np.testing.assert_allclose(as_numpy(a)[as_numpy(a) != 0], 1 / 0.75, rtol=1e-6)
    assert drop.eval()(x) is x


# ------------------------------------------------------------------------------ init


def test_default_initialisation_bounds_as_pytorch():
    kiln.manual_seed(0)
    linear = nn.Linear(50, 400)
    bound = 1 / math.sqrt(50)
    w, b = as_numpy(linear.weight), as_numpy(linear.bias)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    conv = nn.Conv2d(4, 100, 3)
    bound = 1 / math.sqrt(4 * 9)
    assert np.abs(as_numpy(conv.weight)).max() <= bound
    emb = nn.Embedding(200, 50, padding_idx=3)
    assert abs(as_numpy(emb.weight).std() - 1) < 0.05 and not as_numpy(emb.weight)[3].any()


INIT = [
    (
        "xavier_uniform",
        lambda w: init.xavier_uniform_(w, gain=2.0),
        lambda fi, fo: 2.0 * math.sqrt(6 / (fi + fo)) / math.sqrt(3),
    ),
    ("xavier_normal", lambda w: init.xavier_normal_(w), lambda fi, fo: math.sqrt(2 / (fi + fo))),
    (
        "kaiming_uniform",
        lambda w: init.kaiming_uniform_(w, nonlinearity="relu"),
        lambda fi, fo: math.sqrt(2) / math.sqrt(fi),
    ),
    (
        "kaiming_normal_fan_out",
        lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
        lambda fi, fo: math.sqrt(2) / math.sqrt(fo),
    ),
    ("normal", lambda w: init.normal_(w, 1.0, 0.5), lambda fi, fo: 0.5),
    ("uniform", lambda w: init.uniform_(w, -3.0, 3.0), lambda fi, fo: 6 / math.sqrt(12)),
]


@pytest.mark.parametrize("fill, std", [r[1:] for r in INIT], ids=[r[0] for r in INIT])
def test_init_standard_deviations(fill, std):
    kiln.manual_seed(0)
    w = nn.Parameter(kiln.empty(300, 20, 3))
    assert fill(w) is w and w.requires_grad
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(w)
    assert (fan_in, fan_out) == (60, 900)
    assert abs(float(w.std()) - std(fan_in, fan_out)) < 0.03 * std(fan_in, fan_out)


def test_init_constants_gain_and_truncated_normal():
    w = kiln.empty(3, 3)
    assert init.ones_(w).tolist() == [[1.0] * 3] * 3
    assert init.zeros_(w).sum().item() == 0.0
    assert init.constant_(w, 2.5).sum().item() == 22.5
    assert init.eye_(w).tolist() == np.eye(3).tolist()
    gains = {
        "linear": 1,
        "conv2d": 1,
        "sigmoid": 1,
        "tanh": 5 / 3,
        "relu": math.sqrt(2),
        "selu": 0.75,
        "leaky_relu": math.sqrt(2 / (1 + 0.01**2)),
    }
    for name, gain in gains.items():
        assert init.calculate_gain(name) == pytest.approx(gain)
    kiln.manual_seed(0)
    t = init.trunc_normal_(kiln.empty(100000), mean=0.5, std=1.0, a=-1.0, b=1.5).numpy()
    assert t.min() >= -1.0 and t.max() <= 1.5
    # mean of N(0.5, 1) truncated to [-1, 1.5]: mu + (phi(alpha) - phi(beta)) / Z
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2  # noqa: E731
    expected = 0.5 + (phi(-1.5) - phi(1.0)) / (cdf(1.0) - cdf(-1.5))
    assert abs(t.mean() - expected) < 0.01


def test_init_errors():
    with pytest.raises(
        ValueError,
        match="Fan in and fan out can not be computed for tensor with fewer than 2 dimensions",
    ):
        init.xavier_uniform_(kiln.zeros(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")


# ------------------------------------------------------------------------------ grad clipping


def _with_grads(rng):
    params = [
        nn.Parameter(kiln.zeros(3)),
        nn.Parameter(kiln.zeros(2, 2)),
        nn.Parameter(kiln.zeros(1)),
    ]
    grads = [rng.standard_normal(p.shape) * 3 for p in params]
    for p, g in zip(params, grads):
        p.grad = kiln.tensor(g, dtype=kiln.float32)
    params[2].grad = None
    return params, grads[:2]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm(norm_type):
    params, grads = _with_grads(np.random.default_rng(0))
    flat = np.concatenate([g.reshape(-1) for g in grads])
    total = np.linalg.norm(flat, ord=norm_type)
    got = nn.utils.clip_grad_norm_(params, 1.0, norm_type)
    assert got.item() == pytest.approx(total, rel=1e-5)
    scale = min(1.0, 1.0 / (total + 1e-6))
    for p, g in zip(params, grads):
        np.testing.assert_allclose(as_numpy(p.grad), g * scale, rtol=1e-5)
    assert params[2].grad is None


def test_clip_grad_value_and_nonfinite_error():
    params, grads = _with_grads(np.random.default_rng(1))
    nn.utils.clip_grad_value_(params, 0.5)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(as_numpy(p.grad), np.clip(g, -0.5, 0.5), rtol=1e-6)
    p = nn.Parameter(kiln.zeros(2))
    p.grad = kiln.tensor([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_parameters_to_vector_round_trip():
    m = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert vec.shape == (8,)
    nn.utils.vector_to_parameters(kiln.arange(8.0), m.parameters())
    assert m.bias.tolist() == [6.0, 7.0]


# ------------------------------------------------------------------------------ kiln.jit


JIT_MODULES = [
    ("linear", lambda: nn.Linear(4, 3), (2, 4)),
    ("conv2d", lambda: nn.Conv2d(2, 3, 3, padding=1, stride=2), (2, 2, 5, 5)),
    ("layer_norm", lambda: nn.LayerNorm(4), (3, 4)),
    ("batch_norm_train", lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    ("dropout", lambda: nn.Dropout(0.5), (4, 6)),
    (
        "mlp",
        lambda: nn.Sequential(
            nn.Linear(4, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Dropout(0.3), nn.Linear(8, 2)
        ),
        (5, 4),
    ),
]


@pytest.mark.parametrize(
    "build, shape", [r[1:] for r in JIT_MODULES], ids=[r[0] for r in JIT_MODULES]
)
def test_jit_forward_agrees_with_eager(build, shape):
    kiln.manual_seed(0)
    eager = build()
    compiled_module = copy.deepcopy(eager)
    forward = kiln.jit(lambda x: compiled_module(x))
    for step in range(2):
        x = kiln.randn(*shape)
        kiln.manual_seed(100 + step)
        want = eager(x)
        kiln.manual_seed(100 + step)
        got = forward(x)
        np.testing.assert_allclose(as_numpy(got), as_numpy(want), rtol=1e-5, atol=1e-6)
        # buffers (BatchNorm running statistics) were written back by the compiled call
        for (name, a), (_, b) in zip(eager.named_buffers(), compiled_module.named_buffers()):
            np.testing.assert_allclose(as_numpy(b), as_numpy(a), rtol=1e-6, err_msg=name)
    assert forward.trace_count == 1


def test_jit_retraces_when_switching_to_eval():
    kiln.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    forward = kiln.jit(model)
    x = kiln.randn(6, 4)
    forward(x)
    model.eval()
    got = forward(x)
    assert forward.trace_count == 2
    np.testing.assert_allclose(as_numpy(got), as_numpy(model(x)), rtol=1e-6)
    model.train()  # and back: dropout and batch statistics are on again
    kiln.manual_seed(9)
    got = forward(x)
    kiln.manual_seed(9)
    np.testing.assert_allclose(as_numpy(got), as_numpy(model(x)), rtol=1e-6)
    assert float((got == 0).float().mean()) > 0.2


def test_jit_guard_watches_each_module_not_just_its_class():
    kiln.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.5), nn.Dropout(0.5))
    forward = kiln.jit(model)
    x = kiln.ones(100)
    forward(x)
    model[1].eval()  # only the second dropout changes
    kiln.manual_seed(5)
    got = forward(x)
    kiln.manual_seed(5)
    np.testing.assert_allclose(as_numpy(got), as_numpy(model(x)))
    assert forward.trace_count == 2


def test_jit_sees_load_state_dict():
    model = nn.Linear(3, 2)
    forward = kiln.jit(model)
    x = kiln.ones(1, 3)
    forward(x)
    model.load_state_dict({"weight": kiln.ones(2, 3), "bias": kiln.zeros(2)})
    assert as_numpy(forward(x)).tolist() == [[3.0, 3.0]]


def test_jit_training_step_matches_eager():
    def make():
        kiln.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))

    def step(model, x, y):
        loss = F.mse_loss(model(x), y)
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        with kiln.no_grad():
            for p in model.parameters():
                p.sub_(p.grad * 0.1)
        return loss

    eager, compiled_model = make(), make()
    compiled = kiln.jit(lambda x, y: step(compiled_model, x, y))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = kiln.tensor(rng.standard_normal((5, 3)), dtype=kiln.float32)
        y = kiln.tensor(rng.standard_normal((5, 1)), dtype=kiln.float32)
        np.testing.assert_allclose(compiled(x, y).item(), step(eager, x, y).item(), rtol=1e-5)
    for a, b in zip(eager.parameters(), compiled_model.parameters()):
        np.testing.assert_allclose(as_numpy(b), as_numpy(a), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ errors

MODULE_ERRORS = [
    (
        "linear_in_features",
        lambda: nn.Linear(3, 4)(kiln.zeros(2, 5)),
        RuntimeError,
        "mat1 and mat2 shapes cannot be multiplied (2x5 and 3x4)",
    ),
    (
        "conv_channels",
        lambda: nn.Conv2d(3, 4, 3)(kiln.zeros(1, 2, 5, 5)),
        RuntimeError,
        "expected input[1, 2, 5, 5] to have 3 channels, but got 2 channels instead",
    ),
    (
        "conv_groups",
        lambda: nn.Conv2d(3, 4, 3, groups=2),
        ValueError,
        "in_channels must be divisible by groups",
    ),
    (
        "bn2d_rank",
        lambda: nn.BatchNorm2d(3)(kiln.zeros(2, 3, 4)),
        ValueError,
        "expected 4D input (got 3D input)",
    ),
    (
        "bn1d_rank",
        lambda: nn.BatchNorm1d(3)(kiln.zeros(2, 3, 4, 5)),
        ValueError,
        "expected 2D or 3D input (got 4D input)",
    ),
    (
        "dropout_p",
        lambda: nn.Dropout(2.0),
        ValueError,
        "dropout probability has to be between 0 and 1, but got 2.0",
    ),
    (
        "embedding_padding",
        lambda: nn.Embedding(3, 2, padding_idx=5),
        AssertionError,
        "Padding_idx must be within num_embeddings",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", [e[1:] for e in MODULE_ERRORS], ids=[e[0] for e in MODULE_ERRORS]
)
def test_module_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
