"""kiln.utils.tensorboard: write event files, read them back with TensorBoard's reader."""

import numpy as np
import pytest

import kiln

pytest.importorskip(
    "tensorboardX",
    reason="kiln[tensorboard] extra not installed (pip install tensorboardX protobuf)",
)
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the tensorboard package (its event reader) is not installed",
)

from kiln.utils.tensorboard import SummaryWriter  # noqa: E402


def read_back(log_dir):
    acc = event_accumulator.EventAccumulator(
        str(log_dir),
        size_guidance={
            event_accumulator.SCALARS: 0,
            event_accumulator.HISTOGRAMS: 0,
            event_accumulator.TENSORS: 0,
        },
    )
    acc.Reload()
    return acc


def test_scalars_histogram_text(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        for step in range(4):
            writer.add_scalar("loss", kiln.tensor(1.0 / (step + 1)), step)
        writer.add_scalar("lr", 0.5, 7)
        writer.add_histogram("weights", kiln.tensor(np.arange(100, dtype=np.float32)), 2)
        writer.add_text("note", "hello kiln", 0)
    acc = read_back(tmp_path)
    loss = acc.Scalars("loss")
    assert [e.step for e in loss] == [0, 1, 2, 3]
    np.testing.assert_allclose([e.value for e in loss], [1, 1 / 2, 1 / 3, 1 / 4], rtol=1e-6)
    assert [(e.step, e.value) for e in acc.Scalars("lr")] == [(7, 0.5)]
    hist = acc.Histograms("weights")[0].histogram_value
    assert (hist.min, hist.max, hist.num) == (0.0, 99.0, 100)
    assert "note/text_summary" in acc.Tags()["tensors"]


def test_add_scalars_writes_one_run_per_curve(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        writer.add_scalars("acc", {"train": 0.9, "val": kiln.tensor(0.8)}, 3)
    runs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert runs == ["acc_train", "acc_val"]  # PyTorch's layout: <log_dir>/<main_tag>_<curve>
    value = read_back(tmp_path / "acc_val").Scalars("acc")[0].value
    assert value == pytest.approx(0.8)


def test_add_scalar_rejects_a_vector(tmp_path):
    with (
        SummaryWriter(log_dir=str(tmp_path)) as writer,
        pytest.raises(ValueError, match=r"add_scalar\('v'\).*\[3\]"),
    ):
        writer.add_scalar("v", kiln.zeros(3))


def test_graph_shows_kiln_ir(tmp_path):
    w = kiln.randn(3, 2)

    def model(x):
        return (x @ w).relu()

    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        writer.add_graph(model, kiln.zeros(4, 3))
    graph = read_back(tmp_path).Graph()
    nodes = {n.name: n for n in graph.node}
    assert nodes["input/x"].op == "input"
    matmul = next(n for n in graph.node if n.op == "matmul")
    assert list(matmul.input) == ["input/x", "parameter/captured_0"]
    dims = [d.size for d in matmul.attr["_output_shapes"].list.shape[0].dim]
    assert dims == [4, 2]
    wheres = [n.name for n in graph.node if n.op == "where"]
    assert len(wheres) == 2  # relu is where(x <= 0, where(x < 0, 0, x), x)
    assert list(nodes["output/output_0"].input) == [wheres[-1]]


def test_graph_of_a_module_names_parameters(tmp_path):
    nn = pytest.importorskip("kiln.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("kiln.nn.Linear not available yet")
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        writer.add_graph(model, (kiln.zeros(2, 3),))
    names = {n.name for n in read_back(tmp_path).Graph().node}
    assert {f"parameter/{name}" for name, _ in model.named_parameters()} <= names
