"""CUDA backend: eager ops, compiled graphs and a training step on the GPU equal the CPU.

Without a GPU these run in Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set here
before ``numba.cuda`` is first imported; run with ``NUMBA_ENABLE_CUDASIM=0`` on a GPU).
Sizes are small: every simulated thread is a Python thread. The op table
(``tests/op_table.py``) runs here too: under the simulator its rows with ``cuda_sim=True``,
on a GPU all of them.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install numba-cuda)")

from numba.core import config as numba_config  # noqa: E402

if numba_config.ENABLE_CUDASIM != (os.environ["NUMBA_ENABLE_CUDASIM"] not in ("", "0")):
    numba_config.reload_config()  # Numba was imported (by kiln) before the variable was set

import kiln  # noqa: E402
import kiln.nn as nn  # noqa: E402
import kiln.nn.functional as F  # noqa: E402
from kiln.runtime import cuda as runtime_cuda  # noqa: E402
from op_table import OPS, make_inputs, primitives_of, rows  # noqa: E402

if not kiln.cuda.is_available():
    pytest.skip("no CUDA GPU and the CUDA simulator is off", allow_module_level=True)


def _host(t):
    return t.detach().cpu().numpy()


# (name, function, input shapes, differentiable): run on both devices, compare values and
# gradients. Shapes exercise broadcasting, trailing and leading reductions, batches.
EAGER = [
    ("add_broadcast", lambda a, b: a + b, [(3, 4), (4,)], True),
    ("sub_mul_div", lambda a, b: (a - b) * a / (b * b + 1), [(2, 3), (2, 3)], True),
    ("scalar_mix", lambda a: a * 2.5 - 1 + a**2, [(5,)], True),
    ("exp_log_tanh", lambda a: (a.exp() + 1).log() + a.tanh(), [(2, 5)], True),
    ("sigmoid_relu_gelu", lambda a: a.sigmoid() + F.relu(a) + F.gelu(a), [(7,)], True),
    (
        "maximum_where",
        lambda a, b: kiln.where(a > b, kiln.maximum(a, b), a * b),
        [(3, 1), (1, 4)],
        True,
    ),
    ("sum_last", lambda a: a.sum(-1), [(3, 6)], True),
    ("sum_first", lambda a: a.sum(0), [(4, 3)], True),
    ("mean_all", lambda a: a.mean(), [(3, 5)], True),
    (
        "max_dim",
        lambda a: a.max(dim=1).values if hasattr(a.max(dim=1), "values") else a.max(dim=1)[0],
        [(4, 5)],
        True,
    ),
    ("softmax", lambda a: kiln.softmax(a, -1), [(3, 7)], True),
    ("log_softmax_dim0", lambda a: F.log_softmax(a, dim=0), [(4, 3)], True),
    ("matmul", lambda a, b: a @ b, [(5, 6), (6, 3)], True),
    ("matmul_batched", lambda a, b: a @ b, [(2, 3, 4), (4, 5)], True),
    ("permute_reshape", lambda a: a.permute(2, 0, 1).reshape(4, 6) * 1.0, [(2, 3, 4)], True),
    ("slice_expand", lambda a: a[1:3, ::2] + a[:1, ::2].expand(2, 2), [(4, 4)], True),
    ("cat_pad", lambda a, b: F.pad(kiln.cat([a, b], 1), (1, 2)), [(2, 3), (2, 1)], True),
    (
        "cast_compare",
        lambda a, b: (a > b).float() + a.to(kiln.float64).sum().float(),
        [(3,), (3,)],
        False,
    ),
]


@pytest.mark.parametrize("name,fn,shapes,differentiable", EAGER, ids=[e[0] for e in EAGER])
def test_eager_op_on_cuda_equals_cpu(name, fn, shapes, differentiable):
    _assert_eager_cuda_equals_cpu(name, fn, shapes, differentiable)


def _index(values, like):
    """An int64 index tensor on ``like``'s device."""
    return kiln.tensor(values, device=like.device)


def _setitem(x, index, value):
    x = x * 1.0  # in the autograd graph, so the update is differentiable
    x[index] = value
    return x


# Composites that build an index or mask array for their input (dispatch.constant with
# like=input): eager on CUDA must make it on the GPU. (name, function, input shapes,
# differentiable, traceable: also compared under kiln.jit on CUDA; a string says why that
# fails today, a strict xfail.)
COMPOSITES = [
    ("tril", lambda a: a.tril(), [(4, 5)], True, True),
    ("triu_offset", lambda a: kiln.triu(a, 1), [(4, 4)], True, True),
    ("diag_of_vector", lambda a: kiln.diag(a, 1), [(3,)], True, True),
    ("diagonal", lambda a: kiln.diagonal(a, -1), [(4, 3)], True, True),
    (
        "scatter_value",
        lambda a: a.scatter(1, _index([[0], [3], [1]], a), value=2.0),
        [(3, 4)],
        True,
        True,
    ),
    ("index_fill", lambda a: a.index_fill(1, _index([0, 2], a), -1.0), [(3, 4)], True, False),
    ("index_add", lambda a: a.index_add(0, _index([0, 2, 0], a), a[:3] * 2), [(4, 2)], True, True),
    ("repeat_interleave", lambda a: kiln.repeat_interleave(a, 2, dim=1), [(2, 3)], True, True),
    (
        "where_list_condition",
        lambda a: kiln.where([[True, False, True]], a, 0.0),
        [(2, 3)],
        True,
        True,
    ),
    (
        "multi_index_negative",
        lambda a: a[_index([-1, 0], a), _index([1, -1], a)],
        [(3, 4)],
        True,
        True,
    ),
    ("multi_index_cpu_list", lambda a: a[[0, 2], _index([1, 3], a)], [(3, 4)], True, False),
    ("mask_index", lambda a: a[a > 0], [(3, 4)], True, False),
    ("mask_index_rows", lambda a: a[a[:, 0] > 0], [(5, 3)], True, False),
    ("masked_select", lambda a: kiln.masked_select(a, a[0] > 0), [(3, 4)], True, False),
    ("masked_fill_mask", lambda a: a.masked_fill(a > 0.5, -2.0), [(3, 4)], True, True),
    ("setitem_mask", lambda a: _setitem(a, a > 0, 0.0), [(3, 4)], True, False),
    ("index_put_rows", lambda a: _setitem(a, _index([0, 2], a), 1.5), [(3, 4)], True, False),
    ("index_put_list_value", lambda a: _setitem(a, 1, [1.0, 2.0, 3.0]), [(2, 3)], True, False),
    (
        "index_put_cpu_tensor_value",  # copied onto the GPU, as PyTorch's copy_ does
        lambda a: _setitem(a, 1, kiln.tensor([1.0, 2.0, 3.0])),
        [(2, 3)],
        True,
        False,
    ),
    ("nonzero", lambda a: kiln.nonzero(a > 0), [(3, 4)], False, False),
    ("nonzero_as_tuple", lambda a: kiln.nonzero(a > 0, as_tuple=True)[1], [(3, 4)], False, False),
    ("where_one_argument", lambda a: kiln.where(a > 0)[0], [(3, 4)], False, False),
    ("argsort_0d", lambda a: kiln.argsort(a.sum()), [(3,)], False, False),
    (
        "unique_counts",
        lambda a: kiln.unique(kiln.round(a), return_counts=True)[1],
        [(8,)],
        False,
        False,
    ),
    (
        "searchsorted",
        lambda a: kiln.searchsorted(kiln.sort(a[0]).values, a[1]),
        [(2, 5)],
        False,
        False,
    ),
    ("max_pool2d", lambda a: F.max_pool2d(a, 3, 2, 1), [(1, 2, 5, 5)], True, True),
    (
        "max_pool2d_indices",
        lambda a: F.max_pool2d(a, 2, return_indices=True)[1],
        [(1, 2, 5, 5)],
        False,
        True,
    ),
    ("avg_pool2d", lambda a: F.avg_pool2d(a, 2), [(1, 2, 4, 6)], True, True),
    (
        "avg_pool2d_padding_excluded",
        lambda a: F.avg_pool2d(a, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        [(2, 1, 5, 5)],
        True,
        True,
    ),
    ("adaptive_avg_pool2d", lambda a: F.adaptive_avg_pool2d(a, (2, 3)), [(1, 2, 5, 7)], True, True),
    ("pad_value", lambda a: F.pad(a, (1, 2, 0, 1), value=3.0), [(2, 3)], True, True),
    ("pad_reflect", lambda a: F.pad(a, (1, 1, 2, 0), mode="reflect"), [(1, 2, 3, 4)], True, True),
    ("one_hot", lambda a: F.one_hot(a.argmax(1), 5), [(3, 4)], False, True),
    (
        "causal_attention",
        lambda q, k: F.scaled_dot_product_attention(q, k, k, is_causal=True),
        [(2, 3, 4), (2, 5, 4)],
        True,
        True,
    ),
]


@pytest.mark.parametrize(
    "name,fn,shapes,differentiable,traceable", COMPOSITES, ids=[c[0] for c in COMPOSITES]
)
def test_composite_constants_live_on_the_inputs_device(name, fn, shapes, differentiable, traceable):
    _assert_eager_cuda_equals_cpu(name, fn, shapes, differentiable)


def _traceable(rows):
    params = []
    for name, fn, shapes, _, traceable in rows:
        if traceable:
            reason = traceable if isinstance(traceable, str) else None
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(name, fn, shapes, id=name, marks=marks))
    return params


@pytest.mark.parametrize("name,fn,shapes", _traceable(COMPOSITES))
def test_composite_constants_under_jit_on_cuda(name, fn, shapes):
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    expected = fn(*[kiln.tensor(a) for a in arrays])
    got = kiln.jit(fn)(*[kiln.tensor(a, device="cuda") for a in arrays])
    assert got.device.type == "cuda" and got.dtype == expected.dtype
    np.testing.assert_allclose(_host(got), _host(expected), rtol=1e-5, atol=1e-6)


def _assert_eager_cuda_equals_cpu(name, fn, shapes, differentiable):
    """``fn`` on CUDA inputs equals ``fn`` on the same CPU inputs: values and gradients."""
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    cpu = [kiln.tensor(a, requires_grad=differentiable) for a in arrays]
    gpu = [kiln.tensor(a, device="cuda", requires_grad=differentiable) for a in arrays]
    out_cpu, out_gpu = fn(*cpu), fn(*gpu)
    assert out_gpu.device.type == "cuda"
    assert out_gpu.dtype == out_cpu.dtype and out_gpu.shape == out_cpu.shape
    np.testing.assert_allclose(_host(out_gpu), _host(out_cpu), rtol=1e-5, atol=1e-6)
    if differentiable:
        weights = rng.standard_normal(tuple(out_cpu.shape)).astype(np.float32)
        (out_cpu * kiln.tensor(weights)).sum().backward()
        (out_gpu * kiln.tensor(weights, device="cuda")).sum().backward()
        for x_cpu, x_gpu in zip(cpu, gpu):
            assert x_gpu.grad.device.type == "cuda"
            np.testing.assert_allclose(_host(x_gpu.grad), _host(x_cpu.grad), rtol=1e-4, atol=1e-5)


# Every row on a GPU; in the simulator the rows the table marks cheap enough (cuda_sim).
TABLE = [op for op in OPS if op.cuda_sim or not numba_config.ENABLE_CUDASIM]


def _table_inputs(op):
    arrays = make_inputs(op, np.float32, seed=3)
    expected = op.fn(*[kiln.from_numpy(a) for a in arrays]).numpy()
    return [kiln.tensor(a, device="cuda") for a in arrays], expected


def _assert_matches_cpu(op, out, expected):
    assert out.device.type == "cuda"
    got = _host(out)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=max(op.rtol, 1e-5), atol=max(op.atol, 1e-6))


@pytest.mark.parametrize("op", rows("cuda_eager", TABLE))
def test_op_table_eager_on_cuda_equals_cpu(op):
    inputs, expected = _table_inputs(op)
    _assert_matches_cpu(op, op.fn(*inputs), expected)


@pytest.mark.parametrize("op", rows("cuda_jit", TABLE))
def test_op_table_jit_on_cuda_equals_cpu(op):
    inputs, expected = _table_inputs(op)
    _assert_matches_cpu(op, kiln.jit(op.fn)(*inputs), expected)


def test_op_table_simulator_subset_reaches_every_primitive_of_the_table():
    """cuda_sim=False only trims rows whose primitives other rows already run on CUDA."""

    assert primitives_of([op for op in OPS if op.cuda_sim]) == primitives_of(OPS)


def _compare_jit(fn, arrays, expected_kinds):
    """jit(fn) on CUDA inputs equals jit(fn) on CPU inputs; return the CUDA inspection."""
    cpu = kiln.jit(fn)(*[kiln.tensor(a) for a in arrays])
    jitted = kiln.jit(fn)
    inputs = [kiln.tensor(a, device="cuda") for a in arrays]
    gpu = jitted(*inputs)
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(_host(gpu), _host(cpu), rtol=1e-5, atol=1e-6)
    fused = jitted.inspect(*inputs).stages[-1][1]
    assert [g.kind for g in fused.groups] == expected_kinds
    return jitted.inspect(*inputs)


def test_fused_elementwise_and_reduction_graph():
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((6, 40)).astype(np.float32) for _ in range(2))
    inspection = _compare_jit(lambda a, b: ((a**2 + b**2) ** 0.5).sum(-1), [a, b], ["row"])
    (source,) = inspection.kernels
    assert "@cuda.jit" in source and "cuda.shared.array" in source and "math.sqrt" in source


def test_matmul_softmax_graph_fuses_bias_into_the_matmul():
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(9, 5), (5, 6), (6,)])
    inspection = _compare_jit(
        lambda x, w, b: kiln.softmax(x @ w + b, -1), [x, w, b], ["matmul", "row"]
    )
    assert "tile_a" in inspection.kernels[0] and "add" in inspection.kernels[0]


def _train(device, steps=3):
    kiln.manual_seed(0)
    model = nn.Linear(4, 3).to(device)
    opt = kiln.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(3)
    x = kiln.tensor(rng.standard_normal((8, 4)).astype(np.float32), device=device)
    y = kiln.tensor(rng.standard_normal((8, 3)).astype(np.float32), device=device)

    @kiln.jit
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    losses = [step(x, y) for _ in range(steps)]
    return model, opt, losses


def test_compiled_training_step_on_cuda_equals_cpu():
    model_cpu, _, losses_cpu = _train("cpu")
    model_gpu, opt, losses_gpu = _train("cuda")
    assert all(loss.device.type == "cuda" for loss in losses_gpu)
    np.testing.assert_allclose(
        [loss.item() for loss in losses_gpu], [loss.item() for loss in losses_cpu], rtol=1e-5
    )
    assert losses_gpu[-1].item() < losses_gpu[0].item()
    for p_cpu, p_gpu in zip(model_cpu.parameters(), model_gpu.parameters()):
        assert p_gpu.device.type == "cuda" and isinstance(p_gpu, nn.Parameter)
        np.testing.assert_allclose(_host(p_gpu), _host(p_cpu), rtol=1e-5, atol=1e-6)
    # PyTorch's SGD keeps only the momentum buffer, on the parameter's device
    state = opt.state[model_gpu.weight]
    assert list(state) == ["momentum_buffer"]
    assert state["momentum_buffer"].device.type == "cuda"


def test_module_to_cuda_and_back_keeps_parameter_objects():
    model = nn.Linear(3, 2)
    weight = model.weight
    model.to("cuda")
    assert model.weight is weight and weight.is_cuda and isinstance(weight, nn.Parameter)
    assert "device='cuda:0'" in repr(weight)
    model.cpu()
    assert model.weight is weight and not weight.is_cuda and type(weight) is nn.Parameter


def test_transfers_and_scalars():
    x = kiln.arange(6.0).reshape(2, 3)
    xc = x.cuda()
    assert xc.is_cuda and str(xc.device) == "cuda:0" and xc.to("cuda") is xc
    assert xc.cpu().tolist() == x.tolist() and xc.tolist() == x.tolist()
    assert (xc.sum() * kiln.tensor(2.0)).item() == 30.0  # a 0-d CPU tensor mixes
    assert kiln.zeros(2, device="cuda").is_cuda and kiln.zeros_like(xc).is_cuda
    assert kiln.cuda.device_count() >= 1
    kiln.cuda.synchronize()


def test_device_mismatch_is_a_clear_error():
    a, b = kiln.ones(3, device="cuda"), kiln.ones(3)
    message = "Expected all tensors to be on the same device, but found at least two devices"
    with pytest.raises(RuntimeError, match=message + ", cuda:0 and cpu!"):
        a + b
    with pytest.raises(RuntimeError, match=message + ", cpu and cuda:0!"):
        b * a
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        a.numpy()
    # composites make their own masks on the GPU, but a user's CPU mask is still refused
    mask = kiln.tensor([True, False, True])
    with pytest.raises(RuntimeError, match=message + ", cpu and cuda:0!"):
        kiln.where(mask, a, 0.0)
    with pytest.raises(RuntimeError, match=message):
        a.masked_fill(mask, 2.0)
    lower = kiln.ones(2, 3, device="cuda").tril()  # tril's own mask is no CPU tensor
    with pytest.raises(RuntimeError, match=message + ", cuda:0 and cpu!"):
        lower * kiln.ones(2, 3)


def test_constant_like_a_tensor_lives_on_its_device():
    on_gpu = kiln.dispatch.constant([[1, 0], [0, 1]], kiln.int64, like=kiln.ones(1, device="cuda"))
    assert on_gpu.device.type == "cuda" and on_gpu.dtype == kiln.int64
    assert on_gpu.tolist() == [[1, 0], [0, 1]]
    scalar = kiln.dispatch.constant(2.5, kiln.float32, like=kiln.ones(1, device="cuda"))
    assert scalar.device.type == "cuda" and scalar.shape == () and scalar.item() == 2.5
    on_cpu = kiln.dispatch.constant([1, 2], kiln.int64, like=kiln.ones(1))
    assert type(on_cpu._data) is np.ndarray and on_cpu.tolist() == [1, 2]
    # under tracing a constant is a graph node, with no device of its own
    graph = kiln.trace(
        lambda x: x + kiln.dispatch.constant([1.0, 2.0], kiln.float32, like=x),
        kiln.ones(2, device="cuda"),
    )
    assert [node.op for node in graph.nodes] == ["input", "const", "add"]


def test_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runtime_cuda, "is_available", lambda: False)
    assert not kiln.cuda.is_available()
    with pytest.raises(RuntimeError, match="CUDA is not available.*NUMBA_ENABLE_CUDASIM=1"):
        kiln.ones(2).to("cuda")


def test_shape_errors_name_the_op_on_cuda():
    with pytest.raises(kiln.ShapeError, match="matmul: inner dimensions differ"):
        kiln.ones(2, 3, device="cuda") @ kiln.ones(2, 3, device="cuda")


# In-place updates through views: on CUDA a view is a copy, so the update must be written
# through to its base (on the CPU NumPy's views do it). Each case runs on both devices.
VIEW_UPDATES = {
    "slice add_": lambda t: t[1:2].add_(1.0),
    "row zero_": lambda t: t[0].zero_(),
    "view then slice fill_": lambda t: t.view(6)[0:2].fill_(5.0),
    "transpose row mul_": lambda t: t.t()[1].mul_(-2.0),
    "column copy_": lambda t: t[:, 2].copy_(kiln.tensor([7.0, 8.0])),
    "slice of a slice": lambda t: t[1][1:].sub_(10.0),
}


@pytest.mark.parametrize("name", sorted(VIEW_UPDATES))
def test_inplace_update_of_a_view_reaches_its_base_on_cuda(name):
    update = VIEW_UPDATES[name]
    cpu = kiln.arange(6.0).reshape(2, 3)
    gpu = cpu.clone().to("cuda")
    update(cpu)
    update(gpu)
    np.testing.assert_array_equal(_host(gpu), cpu.numpy())


def test_inplace_update_of_a_strided_cuda_slice_equals_cpu():
    cpu = kiln.arange(6.0)
    gpu = cpu.clone().to("cuda")
    cpu[::2].add_(1.0)
    gpu[::2].add_(1.0)
    gpu.view(2, 3)[:, 1::2].mul_(3.0)
    cpu.view(2, 3)[:, 1::2].mul_(3.0)
    np.testing.assert_array_equal(_host(gpu), cpu.numpy())
