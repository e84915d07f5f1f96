"""Regression tests for what tests/scripts26 found, each checked against PyTorch:
dropout2d's masks on 2-D / 3-D inputs, pruning a pruned tensor again, composites on the
meta device, 5-D affine_grid, state-dict metadata / extra state / _load_from_state_dict,
export's InputKind, ``torch._foreach_*``, ``axis=`` for the cumulative ops and
autograd.grad's message for an unused input."""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _pair(shape, seed=0, dtype=np.float32):
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return kiln.tensor(data), torch.tensor(data)


# ------------------------------------------------------------------------------ dropout2d
@pytest.mark.parametrize("shape", [(6, 40), (3, 5, 40)])
def test_dropout2d_on_other_ranks_warns_and_masks_like_torch(shape):
    x = kiln.ones(shape)
    with pytest.warns(UserWarning, match="dropout2d"):
        out = kiln.nn.functional.dropout2d(x, 0.5, training=True)
    values = np.unique(out.numpy())
    assert set(values.tolist()) <= {0.0, 2.0}
    # PyTorch's feature dropout: one draw per (N, C), the rest of the axes share it
    with pytest.warns(UserWarning, match="dropout2d"):
        ref = torch.nn.functional.dropout2d(torch.ones(shape), 0.5, training=True)
    for result in (out.numpy(), ref.numpy()):
        rows = result.reshape(shape[0] * shape[1], -1)
        assert (rows == rows[:, :1]).all()
    assert 0 < (out.numpy() == 0).mean() < 1  # 240 independent draws: some of each
    with pytest.warns(UserWarning):
        assert kiln.nn.functional.dropout2d(x, 0.5, training=False) is x


def test_dropout2d_layer_after_linear_as_the_recipe():
    layer = kiln.nn.Dropout2d(0.5).eval()
    x = kiln.ones(2, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert layer(x) is x
    with pytest.raises(RuntimeError, match="at least 2 dimensions"), pytest.warns(UserWarning):
        kiln.nn.functional.dropout2d(kiln.ones(4), 0.5)


# ------------------------------------------------------------------------------ pruning
def test_structured_pruning_after_unstructured_ranks_the_pruned_weight():
    kw, tw = _pair((6, 1, 3, 3), seed=3)
    kconv, tconv = kiln.nn.Conv2d(1, 6, 3), torch.nn.Conv2d(1, 6, 3)
    with kiln.no_grad():
        kconv.weight.copy_(kw)
    with torch.no_grad():
        tconv.weight.copy_(tw)
    import torch.nn.utils.prune as torch_prune

    import kiln.nn.utils.prune as kiln_prune

    for prune, conv in ((kiln_prune, kconv), (torch_prune, tconv)):
        prune.l1_unstructured(conv, name="weight", amount=0.45)
        prune.ln_structured(conv, name="weight", amount=0.5, n=2, dim=0)
    np.testing.assert_array_equal(kconv.weight_mask.numpy(), tconv.weight_mask.numpy())
    np.testing.assert_array_equal(kconv.weight.detach().numpy(), tconv.weight.detach().numpy())


# ------------------------------------------------------------------------------ meta device
def test_composites_with_constants_stay_on_meta():
    for lib in (kiln, torch):
        x = lib.empty(2, 3, 9, 9, device="meta")
        out = lib.nn.functional.avg_pool2d(x, 3, stride=2, ceil_mode=True)
        assert out.is_meta and tuple(out.shape) == (2, 3, 4, 4)
        logits = lib.empty(4, 5, device="meta")
        target = lib.empty(4, dtype=lib.long, device="meta")
        loss = lib.nn.functional.cross_entropy(logits, target)
        assert loss.is_meta and tuple(loss.shape) == ()


# ------------------------------------------------------------------------------ affine_grid
@pytest.mark.parametrize("align_corners", [True, False])
def test_affine_grid_and_grid_sample_for_volumes(align_corners):
    theta = np.array(
        [[[0.9, 0.1, 0.0, 0.1], [0.0, 1.1, -0.2, 0.0], [0.05, 0.0, 1.0, -0.2]]], np.float64
    )
    kg = kiln.nn.functional.affine_grid(kiln.tensor(theta), (1, 2, 3, 4, 5), align_corners)
    tg = torch.nn.functional.affine_grid(torch.tensor(theta), (1, 2, 3, 4, 5), align_corners)
    assert tuple(kg.shape) == tuple(tg.shape) == (1, 3, 4, 5, 3)
    np.testing.assert_allclose(kg.numpy(), tg.numpy(), rtol=1e-12, atol=1e-12)
    kv, tv = _pair((1, 2, 3, 4, 5), seed=1, dtype=np.float64)
    np.testing.assert_allclose(
        kiln.nn.functional.grid_sample(kv, kg, align_corners=align_corners).numpy(),
        torch.nn.functional.grid_sample(tv, tg, align_corners=align_corners).numpy(),
        rtol=1e-10,
        atol=1e-12,
    )
    with pytest.raises(ValueError, match="affine_grid"):
        kiln.nn.functional.affine_grid(kiln.zeros(1, 2, 3), (1, 1, 2, 2, 2))


# ------------------------------------------------------------------------------ state dicts
def _versioned(lib):
    class Scaler(lib.nn.Module):
        _version = 2

        def __init__(self):
            super().__init__()
            self.scale = lib.nn.Parameter(lib.tensor([1.5, -0.5]))
            self.calls = 0

        def get_extra_state(self):
            return {"calls": self.calls}

        def set_extra_state(self, state):
            self.calls = state["calls"]

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args):
            if local_metadata.get("version", 1) < 2 and prefix + "weight" in state_dict:
                state_dict[prefix + "scale"] = state_dict.pop(prefix + "weight")
            super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)

    return lib.nn.Sequential(lib.nn.Linear(2, 2), Scaler())


def test_state_dict_metadata_extra_state_and_load_from_state_dict():
    seen = {}
    for lib in (kiln, torch):
        model = _versioned(lib)
        model[1].calls = 7
        sd = model.state_dict()
        fresh = _versioned(lib)
        result = fresh.load_state_dict(sd)
        old = type(sd)((k.replace("1.scale", "1.weight"), v) for k, v in sd.items())
        old._metadata = {"": {"version": 1}, "0": {"version": 1}, "1": {"version": 1}}
        older = _versioned(lib)
        with lib.no_grad():
            older[1].scale.zero_()
        converted = older.load_state_dict(old, strict=False)
        seen[lib.__name__] = (
            list(sd.keys()),
            dict(sd._metadata),
            sd["1._extra_state"],
            fresh[1].calls,
            (result.missing_keys, result.unexpected_keys),
            older[1].scale.tolist(),
            (converted.missing_keys, converted.unexpected_keys),
        )
    assert seen["kiln"] == seen["torch"]


def test_saved_state_dict_keeps_metadata():
    model = _versioned(kiln)
    buffer = io.BytesIO()
    kiln.save(model.state_dict(), buffer)
    buffer.seek(0)
    loaded = kiln.load(buffer, weights_only=False)
    assert loaded._metadata["1"] == {"version": 2}
    assert _versioned(kiln).load_state_dict(loaded).missing_keys == []


def test_load_state_dict_errors_unchanged():
    model = kiln.nn.Linear(2, 2)
    bad = {"weight": kiln.zeros(3, 2), "bias": kiln.zeros(2), "extra": kiln.zeros(1)}
    with pytest.raises(RuntimeError, match="size mismatch for weight") as info:
        model.load_state_dict(bad)
    assert 'Unexpected key(s) in state_dict: "extra"' in str(info.value)


# ------------------------------------------------------------------------------ export
def test_export_input_kinds_are_enums_and_user_targets_none():
    class M(kiln.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = kiln.nn.Linear(2, 2)
            self.register_buffer("offset", kiln.tensor(0.5))

        def forward(self, x):
            return self.linear(x) + self.offset

    signature = kiln.export.export(M(), (kiln.ones(1, 2),)).graph_signature
    specs = [(s.kind.name, s.target) for s in signature.input_specs]
    assert specs == [
        ("PARAMETER", "linear.weight"),
        ("PARAMETER", "linear.bias"),
        ("BUFFER", "offset"),
        ("USER_INPUT", None),
    ]
    assert signature.input_specs[0].kind == "parameter"
    assert signature.input_specs[0].kind is kiln.export.InputKind.PARAMETER
    assert signature.user_inputs == ("x",)
    assert [s.kind.name for s in signature.output_specs] == ["USER_OUTPUT"]


# ------------------------------------------------------------------------------ _foreach
def test_foreach_ops_agree_with_torch():
    shapes = [(3,), (2, 2), (4,)]
    results = {}
    for lib in (kiln, torch):
        rng = np.random.default_rng(5)
        xs = [lib.tensor(rng.standard_normal(s).astype(np.float32)) for s in shapes]
        ys = [lib.tensor(rng.standard_normal(s).astype(np.float32)) for s in shapes]
        returned = lib._foreach_mul_(xs, 0.9)
        assert returned is xs
        lib._foreach_add_(xs, ys, alpha=0.1)
        lib._foreach_add_(xs, [1.0, 2.0, 3.0])
        lib._foreach_lerp_(xs, ys, 0.25)
        lib._foreach_addcmul_(xs, ys, ys, value=0.5)
        out = lib._foreach_div(xs, 2.0)
        assert isinstance(out, tuple)
        norms = lib._foreach_norm(xs)
        sq = lib._foreach_sqrt(lib._foreach_abs(xs))
        results[lib.__name__] = [t.numpy() for t in (*xs, *out, *norms, *sq)]
    for a, b in zip(results["kiln"], results["torch"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_foreach_length_errors_as_torch():
    for lib in (kiln, torch):
        xs = [lib.ones(2)]
        with pytest.raises(RuntimeError, match="at least one tensor"):
            lib._foreach_add_([], 1.0)
        with pytest.raises(RuntimeError, match="same number of elements as scalar list"):
            lib._foreach_add_(xs, [1.0, 2.0])
        with pytest.raises(RuntimeError, match="same number of tensors, got 1 and 2"):
            lib._foreach_add_(xs, [lib.ones(2), lib.ones(2)])


def test_foreach_keeps_autograd_out_of_place():
    a = kiln.tensor([1.0, 2.0], requires_grad=True)
    (out,) = kiln._foreach_mul([a], 3.0)
    out.sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


# ------------------------------------------------------------------------------ axis=
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
def test_cumulative_ops_take_axis(name):
    kx, tx = _pair((3, 4), seed=2)
    np.testing.assert_allclose(
        getattr(kiln, name)(kx, axis=1).numpy(),
        getattr(torch, name)(tx, axis=1).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        getattr(kx, name)(axis=0).numpy(), getattr(tx, name)(axis=0).numpy(), rtol=1e-5
    )
    values = kiln.cummax(kx, axis=0).values.numpy()
    np.testing.assert_array_equal(values, torch.cummax(tx, axis=0).values.numpy())


# ------------------------------------------------------------------------------ autograd.grad
def test_unused_input_message_names_its_index():
    messages = []
    for lib in (kiln, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        unused = lib.tensor([3.0], requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            lib.autograd.grad((x * 2).sum(), [x, unused])
        messages.append(str(info.value))
    assert messages[0] == messages[1]


# ------------------------------------------------------------------------------ __future__
def test_future_flags_round_trip_and_to_keeps_parameters():
    for lib in (kiln, torch):
        future = lib.__future__
        assert future.get_swap_module_params_on_conversion() is False
        future.set_swap_module_params_on_conversion(True)
        try:
            model = lib.nn.Linear(2, 2)
            weight = model.weight
            model.to(lib.float64)
            assert model.weight is weight and weight.dtype == lib.float64
            assert future.get_swap_module_params_on_conversion() is True
        finally:
            future.set_swap_module_params_on_conversion(False)
        assert future.get_overwrite_module_params_on_conversion() is False


def test_export_lifts_unread_parameters_and_keeps_0d_state_through_save():
    def build(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.used = lib.nn.Linear(2, 2)
                self.unused = lib.nn.Linear(2, 2)
                self.register_buffer("steps", lib.tensor(3))

            def forward(self, x):
                return self.used(x) + self.steps

        return M()

    specs, keys = {}, {}
    for lib in (kiln, torch):
        program = lib.export.export(build(lib), (lib.ones(1, 2),))
        specs[lib.__name__] = [(s.kind.name, s.target) for s in program.graph_signature.input_specs]
        keys[lib.__name__] = list(program.state_dict)
    assert specs["kiln"] == specs["torch"]
    assert keys["kiln"] == keys["torch"]
    model = build(kiln)
    buffer = io.BytesIO()
    kiln.export.save(kiln.export.export(model, (kiln.ones(1, 2),)), buffer)
    loaded = kiln.export.load(buffer)
    assert tuple(loaded.state_dict["steps"].shape) == ()
    x = kiln.tensor([[0.5, -1.0]])
    np.testing.assert_allclose(loaded.module()(x).numpy(), model(x).detach().numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------ optimizers
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_optimizer_restore_drops_later_state_and_group_keys(name):
    """Loading a state_dict taken before any step (the LR finder's restore) leaves no
    momentum / moments from the steps in between, and no scheduler's initial_lr."""
    options = {"SGD": {"lr": 0.1, "momentum": 0.9}, "Adam": {"lr": 0.1}, "RMSprop": {"lr": 0.01}}
    results = []
    for lib in (kiln, torch):
        w = lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0]))
        opt = getattr(lib.optim, name)([w], **options[name])
        saved = copy.deepcopy(opt.state_dict())
        scheduler = lib.optim.lr_scheduler.StepLR(opt, 1, 0.5)
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
            scheduler.step()
        opt.load_state_dict(saved)
        keys = sorted(opt.param_groups[0])
        state = len(opt.state)
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        results.append((keys, state, w.tolist()))
    assert results[0][:2] == results[1][:2]
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-6)


def test_module_bfloat16_converts_floating_parameters_only():
    dtypes = []
    for lib in (kiln, torch):
        model = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.BatchNorm1d(2))
        assert model.bfloat16() is model
        dtypes.append([str(t.dtype).split(".")[-1] for t in model.state_dict().values()])
    assert dtypes[0] == dtypes[1]
    assert "int64" in dtypes[0] and "bfloat16" in dtypes[0]


# ------------------------------------------------------------------------------ setitem
@pytest.mark.parametrize(
    "target_shape, index, value_shape",
    [((5,), 2, (1,)), ((2, 3), 0, (1, 1, 3)), ((4, 3), slice(1, 3), (1, 2, 3)), ((3,), 1, (1, 1))],
)
def test_setitem_drops_leading_unit_axes_of_the_value(target_shape, index, value_shape):
    results = []
    for lib in (kiln, torch):
        x = lib.zeros(target_shape)
        v = lib.arange(1.0, 1.0 + int(np.prod(value_shape))).reshape(value_shape)
        x[index] = v
        results.append(x.numpy())
        w = lib.tensor([2.0], requires_grad=True)
        y = lib.zeros(3).clone()
        y[1] = w * 3  # (the GAE loop's adv[t] = delta, with autograd)
        y.sum().backward()
        results.append(w.grad.numpy())
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])


def test_float_int_complex_of_larger_tensors_raise_value_error():
    for convert in (float, int, complex):
        for lib in (kiln, torch):
            with pytest.raises(ValueError, match="only one element tensors"):
                convert(lib.tensor([1.0, 2.0]))
    assert float(kiln.tensor([[2.5]])) == 2.5 and int(kiln.tensor([7])) == 7
    with pytest.raises(RuntimeError):
        kiln.tensor([1.0, 2.0]).item()


def test_repeat_interleave_of_repeats_alone():
    for repeats, size in (([2, 0, 3], None), ([2, 1], 3)):
        got = kiln.repeat_interleave(kiln.tensor(repeats), output_size=size)
        want = torch.repeat_interleave(torch.tensor(repeats), output_size=size)
        assert got.tolist() == want.tolist() and got.dtype == kiln.int64
    with pytest.raises(RuntimeError, match="does not match"):
        kiln.repeat_interleave(kiln.tensor([2, 1]), output_size=4)
