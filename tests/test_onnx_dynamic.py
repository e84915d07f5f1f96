"""ONNX export with dynamic axes where the graph holds the batch size.

A ``Reshape`` to ``(batch, -1)`` (a CNN's flatten), a mean over the batch (its divisor)
and a flatten of batch and sequence hold sizes that follow the dynamic axes: the exporter
computes them from the inputs' shapes (``Shape -> Gather -> Mul/Add -> Concat``). Every
model runs in onnxruntime at several sizes, 1 included, against eager kiln.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

import kiln
import kiln.nn as nn
from kiln.export import Dim

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        kiln.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        h = kiln.relu(self.conv(x))
        flat = self.fc(h.view(h.shape[0], -1))  # the batch read from the shape
        return flat - flat.mean(0, keepdim=True) + self.fc(kiln.flatten(h, 1))


def _session(proto_bytes):
    return ort.InferenceSession(proto_bytes, providers=["CPUExecutionProvider"])


def _eager(fn, *arrays):
    with kiln.no_grad():
        return fn(*[kiln.from_numpy(a) for a in arrays]).numpy()


@pytest.mark.parametrize("example_batch", [4, 1])
def test_a_cnn_with_a_flatten_runs_at_any_batch(example_batch):
    model = CNN().eval()
    buffer = io.BytesIO()
    proto = kiln.onnx.export(
        model,
        (kiln.randn(example_batch, 1, 8, 8),),
        buffer,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
    )
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert "Shape" in {n.op_type for n in proto.graph.node}
    session = _session(buffer.getvalue())
    rng = np.random.default_rng(0)
    for batch in (1, 2, 3, 7, 16):
        x = rng.standard_normal((batch, 1, 8, 8)).astype(np.float32)
        (got,) = session.run(None, {"x": x})
        np.testing.assert_allclose(got, _eager(model, x), rtol=1e-4, atol=1e-5)


def test_an_mlp_with_dynamic_shapes_and_an_unnamed_output_axis():
    kiln.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    buffer = io.BytesIO()
    proto = kiln.onnx.export(
        model, (kiln.randn(5, 3, 4),), buffer, input_names=["x"], dynamic_shapes=({0: Dim("n")},)
    )
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "n"
    session = _session(buffer.getvalue())
    for batch in (1, 4, 9):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 4)).astype(np.float32)
        (got,) = session.run(None, {"x": x})
        np.testing.assert_allclose(got, _eager(model, x), rtol=1e-4, atol=1e-5)


def test_two_inputs_share_the_batch_and_the_reshape_reads_a_static_size():
    def fn(x, y):
        return (x.reshape(x.shape[0], y.shape[1], -1) * y[:, :, None]).sum(2)

    buffer = io.BytesIO()
    kiln.onnx.export(
        fn,
        (kiln.randn(4, 6), kiln.randn(4, 3)),
        buffer,
        input_names=["x", "y"],
        dynamic_shapes=({0: Dim("n")}, {0: Dim("n")}),
    )
    session = _session(buffer.getvalue())
    for batch in (1, 2, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 6)).astype(np.float32)
        y = np.random.default_rng(batch + 9).standard_normal((batch, 3)).astype(np.float32)
        (got,) = session.run(None, {"x": x, "y": y})
        np.testing.assert_allclose(got, _eager(fn, x, y), rtol=1e-4, atol=1e-5)


def test_two_dynamic_axes_flattened_together():
    def fn(x):
        return x.reshape(x.shape[0] * x.shape[1], -1).sum(1)

    buffer = io.BytesIO()
    proto = kiln.onnx.export(
        fn, (kiln.randn(3, 5, 4),), buffer, input_names=["x"], dynamic_axes={"x": {0: "b", 1: "t"}}
    )
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param  # b * t: named
    session = _session(buffer.getvalue())
    for b, t in ((1, 2), (4, 7), (2, 1)):
        x = np.random.default_rng(b * 10 + t).standard_normal((b, t, 4)).astype(np.float32)
        (got,) = session.run(None, {"x": x})
        np.testing.assert_allclose(got, _eager(fn, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda x: x + kiln.arange(x.shape[0]).float()[:, None], id="arange"),
        pytest.param(lambda x: x * (x.shape[0] // 2), id="floordiv"),
        pytest.param(lambda x: x.reshape(-1)[: x.shape[0] * x.shape[0]], id="square"),
    ],
)
def test_sizes_that_onnx_shapes_cannot_follow_raise(fn):
    with pytest.raises(ValueError, match="changes with the size of the dynamic axes"):
        kiln.onnx.export(fn, (kiln.randn(4, 16),), io.BytesIO(), dynamic_axes={"x": {0: "n"}})
