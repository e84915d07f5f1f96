"""Constants of one value (``zeros``, ``full``: a recurrent layer's initial state) are
stored as their value and shape, so their shape may follow a dynamic dimension in
``kiln.export`` and ``kiln.jit``'s automatic dynamic shapes."""

from __future__ import annotations

import numpy as np
import pytest

import kiln
import kiln.nn as nn
from kiln.compiler.ir import Graph, from_json


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, tokens):
        hidden, _ = self.lstm(self.embedding(tokens))  # (zeros(1, batch, 16) inside)
        return self.head(hidden[:, -1]).log_softmax(-1)


def test_an_lstm_exports_with_a_dynamic_batch(tmp_path):
    kiln.manual_seed(0)
    model = Tagger().eval()
    batch = kiln.export.Dim("batch", min=1, max=64)
    tokens = kiln.randint(0, 20, (4, 7))
    program = kiln.export.export(model, (tokens,), dynamic_shapes=({0: batch},))
    kiln.export.save(program, tmp_path / "tagger.kiln")
    served = kiln.export.load(tmp_path / "tagger.kiln").module()
    for size in (1, 4, 9, 64):
        tokens = kiln.randint(0, 20, (size, 7))
        np.testing.assert_allclose(
            served(tokens).numpy(), model(tokens).detach().numpy(), rtol=1e-5, atol=1e-6
        )
    with pytest.raises(RuntimeError, match="tokens.shape\\[1\\]"):
        served(kiln.randint(0, 20, (3, 11)))  # the sequence length was not made dynamic


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((2, 3), np.float32),
        np.full((4,), -0.0),
        np.full((2, 2), np.nan, np.float32),
        np.full((3,), 2**40 + 1, np.int64),
        np.ones((2, 1), bool),
        np.array([1.0, 1.0, 2.0]),
    ],
)
def test_constants_survive_json_bit_for_bit(value):
    graph = Graph("g")
    graph.outputs = [graph.add_const(value)]
    data = graph.to_json()
    [stored] = [n["params"]["value"] for n in data["nodes"] if n["op"] == "const"]
    one_value = value.tobytes() == np.full(value.shape, value.flat[0], value.dtype).tobytes()
    assert ("__fill__" in stored) == one_value
    [back] = [n.params["value"] for n in from_json(data).nodes if n.op == "const"]
    assert back.dtype == value.dtype and back.shape == value.shape
    assert back.tobytes() == value.tobytes()
