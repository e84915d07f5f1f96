"""The demo and the example scripts, run as a user would (subprocesses), with few epochs.

The full demo (10 epochs, >= 95 % test accuracy) takes tens of seconds; it runs when
``KILN_SLOW_TESTS=1``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kiln

ROOT = Path(__file__).resolve().parents[1]
# (the examples import them, in their own processes: found, not imported here, which cost
# each test worker a second of collection)
for _needed in ("sklearn", "tqdm"):
    if importlib.util.find_spec(_needed) is None:
        pytest.skip(f"the examples need {_needed}", allow_module_level=True)


def _run(*args, timeout=240):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def _accuracy(text: str, label: str) -> float:
    match = re.search(rf"{label}:\s+test accuracy ([\d.]+)%", text)
    assert match, f"no {label} accuracy in:\n{text}"
    return float(match.group(1)) / 100


def test_demo_trains_both_ways_and_dumps_the_step(tmp_path):
    out = _run(
        "-m", "kiln", "demo", "--epochs", "2", "--no-progress", "--dump", str(tmp_path / "dump")
    )
    eager, jit = _accuracy(out, "eager"), _accuracy(out, "jit")
    assert eager > 0.85 and jit > 0.85
    assert abs(eager - jit) <= 0.01  # same init, batches and dropout masks
    assert re.search(r"speedup of the compiled step \(median step time\): [\d.]+x", out)
    assert re.search(r"jit: .* ([\d.]+) steps/s", out)
    dump = tmp_path / "dump"
    assert str(dump) in out
    traced = (dump / "00_traced.txt").read_text()
    assert "matmul" in traced and "log" in traced  # forward, loss and backward are in it
    assert any(p.name.endswith("fuse.txt") for p in dump.iterdir())
    assert list(dump.glob("*.dot"))


def test_demo_command_line_errors():
    done = subprocess.run(
        [sys.executable, "-m", "kiln", "demo", "--epochs", "many"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "invalid int value" in done.stderr


def test_train_digits_script_with_jit_and_checkpoint(tmp_path):
    checkpoint = tmp_path / "digits.kiln"
    out = _run("examples/train_digits.py", "--epochs", "2", "--jit", "--save", str(checkpoint))
    match = re.search(r"test accuracy: ([\d.]+)%", out)
    assert match and float(match.group(1)) > 85
    assert re.search(r"jit: 44 steps in", out)
    saved = kiln.load(checkpoint)
    assert set(saved) == {"model", "optimizer", "scheduler"}
    assert saved["model"]["0.weight"].shape == (128, 64)
    assert saved["optimizer"]["state"][0]["step"].item() == 44.0
    assert saved["scheduler"]["last_epoch"] == 2


def test_inspect_graph_script(tmp_path):
    out = _run("examples/inspect_graph.py", "--out", str(tmp_path))
    traced, optimized = out.split("=== optimized graph ===")
    assert "graph gelu_layer(%0: f32[4, 8], %1: f32[8, 16], %2: f32[16])" in traced
    assert "tanh" in traced and "inspect_graph.py:" in traced  # source lines are kept
    assert "=== stages ===" in optimized and "fuse:" in optimized
    assert "compiled == eager: True" in out
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")
    assert (tmp_path / "00_traced.txt").exists()


def test_deploy_script_serves_the_exported_model_from_a_second_process(tmp_path):
    out = _run("examples/deploy.py", "--epochs", "1", "--out", str(tmp_path / "digits.kiln"))
    match = re.search(r"agree with the trained model: (\d+)/(\d+)", out)
    assert match and match.group(1) == match.group(2), out  # the same numbers, served
    assert float(re.search(r"served test accuracy: ([\d.]+)%", out).group(1)) > 80
    assert "server imported training code: none" in out
    assert kiln.export.load(tmp_path / "digits.kiln").range_constraints == {"batch": (1, 512)}


def test_full_demo_reaches_95_percent():
    out = _run("-m", "kiln", "demo", "--no-progress", timeout=600)
    assert _accuracy(out, "eager") >= 0.95 and _accuracy(out, "jit") >= 0.95
