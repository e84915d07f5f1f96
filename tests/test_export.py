"""kiln.export: a model exported in one process runs compiled, with the same numbers, in a
fresh process without its code, for any batch size in its declared range."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
from kiln.export import ConstraintViolationError, Dim, ExportFormatError

ROOT = Path(__file__).resolve().parents[1]


class Net(nn.Module):
    """A model whose class the loading process never sees."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.GELU())
        self.head = nn.Linear(16, 3)
        self.register_buffer("scale", kiln.tensor([1.0, 2.0, 3.0]))

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(6, 16), torch.nn.LayerNorm(16), torch.nn.GELU()
        )
        self.head = torch.nn.Linear(16, 3)
        self.register_buffer("scale", torch.tensor([1.0, 2.0, 3.0]))

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


def _eager(model, x):
    with kiln.no_grad():
        return model(x).numpy()


def test_exported_module_matches_torch_at_batch_sizes_of_its_range():
    model = Net().eval()
    reference = TorchNet().eval()
    reference.load_state_dict(
        {k: torch.from_numpy(v.numpy()) for k, v in model.state_dict().items()}
    )
    batch = Dim("batch", min=1, max=32)
    program = kiln.export.export(model, (kiln.randn(4, 6),), dynamic_shapes={"x": {0: batch}})
    served = program.module()
    for n in (1, 4, 13, 32):
        x = np.random.randn(n, 6).astype(np.float32)
        got = served(kiln.from_numpy(x)).numpy()
        with torch.no_grad():
            expected = reference(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # weights are named and ordered as torch.export has them: parameters, buffers, inputs
    parameters = tuple(n for n, _ in reference.named_parameters())
    buffers = tuple(n for n, _ in reference.named_buffers())
    assert program.graph_signature.parameters == parameters
    assert program.graph_signature.buffers == buffers
    assert list(program.state_dict) == [*parameters, *buffers]
    kinds = [spec.kind for spec in program.graph_signature.input_specs]
    assert kinds == ["parameter"] * 6 + ["buffer", "user_input"]
    assert program.range_constraints == {"batch": (1, 32)}
    assert program.run_decompositions() is program


def test_out_of_range_wrong_dtype_and_wrong_static_size_raise():
    program = kiln.export.export(
        Net().eval(), (kiln.randn(4, 6),), dynamic_shapes=({0: Dim("b", max=8)},)
    )
    served = program.module()
    with pytest.raises(RuntimeError, match=r"'b' to be <= 8, but got 9"):
        served(kiln.randn(9, 6))
    with pytest.raises(RuntimeError, match=r"x.shape\[1\] to be equal to 6, but got 5"):
        served(kiln.randn(2, 5))
    with pytest.raises(RuntimeError, match="dtype float32, got float64"):
        served(kiln.randn(2, 6, dtype=kiln.float64))
    with pytest.raises(NotImplementedError, match="inference only"):
        served(kiln.randn(2, 6, requires_grad=True))


def test_saved_program_runs_in_a_process_that_never_imported_the_model(tmp_path):
    model = Net().eval()
    path = tmp_path / "net.kiln"
    program = kiln.export.export(
        model, (kiln.randn(4, 6),), dynamic_shapes=({0: Dim("batch", max=64)},)
    )
    kiln.export.save(program, path)
    with zipfile.ZipFile(path) as archive:  # JSON and .npy only: nothing to unpickle
        names = archive.namelist()
        assert not [n for n in names if not n.endswith((".json", ".npy", "version"))]
    inputs = {n: np.random.randn(n, 6).astype(np.float32) for n in (1, 64)}
    np.savez(tmp_path / "inputs.npz", **{str(n): x for n, x in inputs.items()})
    code = (
        "import sys, numpy as np, kiln\n"
        f"m = kiln.export.load({str(path)!r}).module()\n"
        f"inputs = np.load({str(tmp_path / 'inputs.npz')!r})\n"
        "out = {k: m(kiln.from_numpy(inputs[k])).numpy() for k in inputs.files}\n"
        f"np.savez({str(tmp_path / 'out.npz')!r}, **out)\n"
        "print(sorted(n for n in sys.modules if n.startswith(('test_', 'tests', 'torch'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=""),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"  # neither this file nor torch was imported
    out = np.load(tmp_path / "out.npz")
    for n, x in inputs.items():
        np.testing.assert_allclose(
            out[str(n)], _eager(model, kiln.from_numpy(x)), rtol=1e-5, atol=1e-6
        )


def test_sizes_computed_from_the_batch_follow_it_and_the_cache_is_bounded():
    def f(x, y):
        b = x.shape[0]
        rows = x.reshape(b * 2, 3) + y.reshape(b * 2, 1)  # b * 2: a polynomial in the batch
        return {"mean": rows.sum(0) / b, "rows": rows}

    batch = Dim("batch", min=2, max=40)
    program = kiln.export.export(
        f, (kiln.randn(5, 6), kiln.randn(5, 2)), dynamic_shapes=({0: batch}, {0: batch})
    )
    buffer = io.BytesIO()
    kiln.export.save(program, buffer)
    served = kiln.export.load(buffer).module(cache_size=2)
    for n in (2, 9, 40, 9):
        x, y = kiln.randn(n, 6), kiln.randn(n, 2)
        got, expected = served(x, y), f(x, y)
        assert set(got) == {"mean", "rows"}
        for key in got:
            np.testing.assert_allclose(
                got[key].numpy(), expected[key].numpy(), rtol=1e-5, atol=1e-6
            )
    assert len(served._variants) == 2  # at most cache_size sizes kept compiled
    with pytest.raises(RuntimeError, match=r"y.shape\[0\] to be equal to 3 .*'batch'"):
        served(kiln.randn(3, 6), kiln.randn(4, 2))


def test_two_dynamic_dimensions_and_their_product():
    def f(x):
        b, t, c = x.shape
        return x.reshape(b * t, c).softmax(-1).reshape(b, t, c).sum(1)

    program = kiln.export.export(
        f, (kiln.randn(3, 4, 5),), dynamic_shapes=({0: Dim("b", max=9), 1: Dim("t", max=9)},)
    )
    reshape = [n for n in program.graph_json["nodes"] if n["op"] == "reshape"][0]
    assert reshape["params"]["shape"]["__tuple__"][0] == {"__sym__": [[1, ["b", "t"]]]}
    x = kiln.randn(7, 2, 5)
    np.testing.assert_allclose(program.module()(x).numpy(), f(x).numpy(), rtol=1e-5, atol=1e-6)


def test_dim_auto_and_static_markers():
    def f(x):
        return x.sum(1)

    program = kiln.export.export(
        f, (kiln.randn(3, 4),), dynamic_shapes=({0: Dim.AUTO, 1: Dim.STATIC},)
    )
    assert program.range_constraints == {"s0": (0, None)}
    x = kiln.randn(6, 4)
    np.testing.assert_allclose(program.module()(x).numpy(), f(x).numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"x.shape\[1\] to be equal to 4"):
        program.module()(kiln.randn(6, 5))


def test_what_cannot_stay_dynamic_is_refused():
    def halves(x):
        return x[: x.shape[0] // 2]  # not a polynomial in the batch

    with pytest.raises(ConstraintViolationError, match="not polynomial|third size"):
        kiln.export.export(halves, (kiln.randn(6, 2),), dynamic_shapes=({0: Dim("b")},))

    def branches(x):
        return x * 2 if x.shape[0] < 7 else x.exp()  # a Python decision on the size

    with pytest.raises(ConstraintViolationError, match="differ"):
        kiln.export.export(branches, (kiln.randn(6, 2),), dynamic_shapes=({0: Dim("b")},))

    training = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    with pytest.raises(NotImplementedError, match="random numbers.*eval"):
        kiln.export.export(training, (kiln.randn(3, 2),))


def test_weights_live_in_the_module_and_load_state_dict_changes_them():
    model = Net().eval()
    served = kiln.export.export(model, (kiln.randn(2, 6),)).module()
    assert list(served.state_dict()) == list(model.state_dict())
    other = Net().eval()
    served.load_state_dict(other.state_dict())
    x = kiln.randn(2, 6)
    np.testing.assert_allclose(served(x).numpy(), _eager(other, x), rtol=1e-5, atol=1e-6)


def test_a_newer_format_and_a_foreign_file_are_refused(tmp_path):
    buffer = io.BytesIO()
    kiln.export.save(kiln.export.export(lambda x: x + 1, (kiln.ones(2),)), buffer)
    newer = io.BytesIO()
    with zipfile.ZipFile(buffer) as old, zipfile.ZipFile(newer, "w") as new:
        for name in old.namelist():
            data = old.read(name)
            new.writestr(name, b"99" if name.endswith("version") else data)
    with pytest.raises(ExportFormatError, match="format 99 by a newer kiln"):
        kiln.export.load(newer)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ExportFormatError, match="not an exported kiln program"):
        kiln.export.load(tmp_path / "x.txt")
    program = json.loads(zipfile.ZipFile(buffer).read("kiln_export/program.json"))
    assert program["graph"]["nodes"][-1]["op"] == "add"


def test_onnx_export_with_a_dynamic_batch_runs_at_other_sizes():
    ort = pytest.importorskip("onnxruntime")
    model = Net().eval()
    buffer = io.BytesIO()
    proto = kiln.onnx.export(
        model,
        (kiln.randn(4, 6),),
        buffer,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        dynamo=False,
    )
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(buffer.getvalue())
    x = np.random.randn(11, 6).astype(np.float32)
    (got,) = session.run(None, {"x": x})
    np.testing.assert_allclose(got, _eager(model, kiln.from_numpy(x)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="changes with the size"):
        kiln.onnx.export(  # a constant as long as the batch: ONNX shapes cannot follow it
            lambda x: x + kiln.arange(x.shape[0]).float()[:, None],
            (kiln.randn(4, 6),),
            None,
            dynamic_shapes=({0: Dim("n")},),
        )
