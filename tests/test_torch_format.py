"""``kiln.load`` of files written by PyTorch's ``torch.save`` (frontend/torch_format.py):
values, dtypes, shapes, strides, shared storages, parameters, state dicts that load into
kiln models and compute what torch's do; and the refusals of weights_only loading."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _same(t, k, path="obj"):
    if isinstance(t, torch.Tensor):
        assert isinstance(k, kiln.Tensor), (path, type(k))
        assert tuple(t.shape) == tuple(k.shape) and t.stride() == k.stride(), path
        assert str(t.dtype) == str(k.dtype).replace("kiln.", "torch."), (path, t.dtype, k.dtype)
        np.testing.assert_array_equal(t.detach().numpy(), k.detach().numpy(), err_msg=path)
        assert t.requires_grad == k.requires_grad, path
        assert isinstance(t, torch.nn.Parameter) == isinstance(k, kiln.nn.Parameter), path
    elif isinstance(t, dict):
        assert type(t) is type(k) and list(t) == list(k), path
        for key in t:
            _same(t[key], k[key], f"{path}[{key!r}]")
    elif isinstance(t, (list, tuple)):
        assert type(t) is type(k) and len(t) == len(k), path
        for n, (a, b) in enumerate(zip(t, k)):
            _same(a, b, f"{path}[{n}]")
    elif isinstance(t, torch.dtype):
        assert k is getattr(kiln, str(t).removeprefix("torch.")), path
    else:
        assert t == k and type(t) is type(k), (path, t, k)


def test_tensors_of_every_dtype_and_layout(tmp_path):
    base = torch.arange(12.0).reshape(3, 4)
    saved = {
        "base": base,
        "transposed": base.t(),
        "slice": base[1:, 2:],
        "float64": torch.linspace(-1, 1, 5, dtype=torch.float64),
        "float16": torch.tensor([1.5, -0.0, float("inf")], dtype=torch.float16),
        "int64": torch.tensor([1, -(2**40)]),
        "int32": torch.tensor([7], dtype=torch.int32),
        "int8": torch.tensor([-128, 127], dtype=torch.int8),
        "uint8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False]),
        "complex": torch.tensor([1 + 2j, -3j]),
        "empty": torch.empty(0, 3),
        "scalar": torch.tensor(3.5),
        "parameter": torch.nn.Parameter(torch.ones(2)),
        "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
        "leaf": torch.ones(2, requires_grad=True),
        "plain": [torch.zeros(1), 3, "x", (1.5, None, True)],
        "dtype": torch.float64,
    }
    torch.save(saved, tmp_path / "t.pt")
    loaded = kiln.load(tmp_path / "t.pt")
    _same(saved, loaded)
    # views of one storage share memory again, as in the saving process
    assert np.shares_memory(loaded["base"].numpy(), loaded["transposed"].numpy())
    loaded["base"][2, 3] = -1.0
    assert loaded["slice"][1, 1].item() == -1.0


def test_a_torch_state_dict_loads_into_a_kiln_model(tmp_path):
    torch.manual_seed(0)
    layers = lambda nn: nn.Sequential(  # noqa: E731
        nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4)
    )
    model = layers(torch.nn)
    model(torch.randn(4, 2, 4, 4))  # (running statistics move)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    ours = layers(kiln.nn)
    assert ours.load_state_dict(kiln.load(tmp_path / "m.pt")) is not None
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4)).astype(np.float32)
    model.eval(), ours.eval()
    np.testing.assert_allclose(
        ours(kiln.from_numpy(x)).detach().numpy(),
        model(torch.from_numpy(x)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    assert ours[1].num_batches_tracked.item() == 1


def test_a_torch_optimizer_state_resumes_in_kiln(tmp_path):
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(3))
    optimizer = torch.optim.Adam([weight], lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        (weight**2).sum().backward()
        optimizer.step()
    torch.save({"weight": weight, "optimizer": optimizer.state_dict()}, tmp_path / "o.pt")
    loaded = kiln.load(tmp_path / "o.pt")
    ours = kiln.nn.Parameter(loaded["weight"].detach().clone())
    resumed = kiln.optim.Adam([ours], lr=0.1)
    resumed.load_state_dict(loaded["optimizer"])
    for _ in range(2):
        optimizer.zero_grad()
        (weight**2).sum().backward()
        optimizer.step()
        resumed.zero_grad()
        (ours**2).sum().backward()
        resumed.step()
    np.testing.assert_allclose(ours.detach().numpy(), weight.detach().numpy(), rtol=1e-6)


def test_weights_only_refuses_other_globals(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a whole module
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.linear.Linear"):
        kiln.load(tmp_path / "module.pt")
    with pytest.raises(pickle.UnpicklingError, match="cannot rebuild"):
        kiln.load(tmp_path / "module.pt", weights_only=False)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt", _use_new_zipfile_serialization=True)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        kiln.load(tmp_path / "evil.pt")


def test_damaged_torch_files_raise(tmp_path):
    torch.save({"w": torch.ones(4)}, tmp_path / "t.pt")
    with zipfile.ZipFile(tmp_path / "t.pt") as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    storage = next(n for n in members if "/data/" in n)
    members[storage] = members[storage][:8]  # two floats of four
    with zipfile.ZipFile(tmp_path / "short.pt", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(kiln.serialization.SerializationError, match="holds 2 elements"):
        kiln.load(tmp_path / "short.pt")
    del members[storage]
    with zipfile.ZipFile(tmp_path / "missing.pt", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(kiln.serialization.SerializationError, match="lacks the storage"):
        kiln.load(tmp_path / "missing.pt")
