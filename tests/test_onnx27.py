"""kiln.onnx.export with dynamic axes of a forward that changes Python state: every
translation starts from the same module state (a counter the forward bumps was read as
1, 2, 3 in three translations and fitted as a size: at batch 10 the graph computed with
``b - 3``), the module is left as one forward leaves it, and state kiln cannot put back (a
global) is refused instead of fitted."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


class Counting(kiln.nn.Module):
    def __init__(self):
        super().__init__()
        self.steps = 0
        self.lin = kiln.nn.Linear(3, 3)

    def forward(self, x):
        self.steps += 1
        return self.lin(x) * self.steps


def test_a_counter_in_the_forward_is_not_fitted_as_a_size(tmp_path):
    model = Counting()
    path = tmp_path / "m.onnx"
    kiln.onnx.export(
        model, (kiln.randn(4, 3),), str(path), input_names=["x"], dynamic_axes={"x": {0: "b"}}
    )
    assert model.steps == 1  # as one forward leaves it
    session = ort.InferenceSession(str(path))
    for n in (1, 4, 10):
        x = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)
        with kiln.no_grad():
            want = model.lin(kiln.tensor(x)).numpy()  # (times the first count, 1)
        np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-6, atol=1e-6)


def test_a_global_counter_is_refused(tmp_path):
    seen = [0]

    class Global(kiln.nn.Module):
        def forward(self, x):
            seen[0] += 1
            return x * seen[0]

    with pytest.raises(ValueError, match="two translations at the example's sizes differ"):
        kiln.onnx.export(
            Global(),
            (kiln.randn(4, 3),),
            str(tmp_path / "g.onnx"),
            input_names=["x"],
            dynamic_axes={"x": {0: "b"}},
        )
