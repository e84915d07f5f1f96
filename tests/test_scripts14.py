"""PyTorch tutorial-style scripts (tests/scripts14/*.py), run unmodified twice: with real
torch and with kiln standing in for ``torch`` (tests/scripts14/_kiln_as_torch.py). Their
printed numbers must agree.

What a script prints, line by line:

- ``name: tokens...``: the tokens must agree; numbers to the script's tolerance
  (``TOLERANCE`` below), other tokens exactly;
- ``rng name: tokens...``: the value depends on the random stream (weight init, dropout
  masks, shuffling), which differs between kiln and PyTorch by design: only the words and
  how many numbers there are must agree;
- ``# ...``: commentary, not compared.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts14"
ROOT = HERE.parent
NAMES = sorted(p.stem for p in SCRIPTS.glob("*.py") if not p.name.startswith("_"))

# (rtol, atol) per script; default below. Training runs of many float32 steps drift apart
# by accumulated rounding, so they get a looser bound than a single forward pass.
DEFAULT_TOLERANCE = (1e-4, 1e-5)
TOLERANCE = {
    "optim_schedulers": (1e-3, 1e-4),
    "quickstart_training": (1e-3, 1e-4),
    "cnn_training": (1e-3, 1e-4),
    "rnn_name_classification": (1e-3, 1e-4),
    "embeddingbag_text": (1e-3, 1e-4),
    "transformer_encoder": (1e-3, 1e-4),
    "dcgan_step": (1e-3, 1e-4),
    "checkpoint_resume": (1e-3, 1e-4),
    "seq2seq_attention": (1e-3, 1e-4),
}

_RUN_KILN = (
    "import runpy, sys; sys.path.insert(0, {shim!r}); import _kiln_as_torch; "
    "sys.argv = [{script!r}]; runpy.run_path({script!r}, run_name='__main__')"
)
_RUN_TORCH = (
    "import runpy, sys; sys.argv = [{script!r}]; runpy.run_path({script!r}, run_name='__main__')"
)
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|nan)$")


def _run(name: str, kiln: bool, tmp_path) -> str:
    script = str(SCRIPTS / f"{name}.py")
    code = (_RUN_KILN if kiln else _RUN_TORCH).format(shim=str(SCRIPTS), script=script)
    env = dict(os.environ, PYTHONWARNINGS="ignore", KILN_TIERED="0")
    # tests/conftest.py turns on Numba's CUDA simulator for the CUDA tests; the scripts
    # pick ``"cuda" if torch.cuda.is_available()``, and must run where PyTorch (CPU) does
    if env.get("NUMBA_ENABLE_CUDASIM") == "1" and shutil.which("nvidia-smi") is None:
        del env["NUMBA_ENABLE_CUDASIM"]
    env.setdefault("KILN_CACHE_DIR", str(tmp_path / "kernels"))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    which = "kiln" if kiln else "torch"
    assert done.returncode == 0, (
        f"{name}.py under {which} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    )
    return done.stdout


def _lines(text: str) -> list[tuple[bool, str, list[str]]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        rng = line.startswith("rng ")
        if rng:
            line = line[4:]
        key, _, rest = line.partition(":")
        # kiln names its dtypes and Size ``kiln.float32``, ``kiln.Size``: the same words
        rest = re.sub(r"\bkiln\.", "torch.", rest)
        tokens = re.findall(r"[^\s\[\](),=]+", rest)
        out.append((rng, key, tokens))
    return out


def _close(a: str, b: str, rtol: float, atol: float) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= atol + rtol * abs(y)


def compare(name: str, kiln_out: str, torch_out: str) -> list[str]:
    rtol, atol = TOLERANCE.get(name, DEFAULT_TOLERANCE)
    got, want = _lines(kiln_out), _lines(torch_out)
    problems = []
    if [k for _, k, _ in got] != [k for _, k, _ in want]:
        problems.append(
            f"printed keys differ:\n kiln:  {[k for _, k, _ in got]}\n torch: {[k for _, k, _ in want]}"
        )
        return problems
    for (rng, key, a), (_, _, b) in zip(got, want, strict=True):
        if len(a) != len(b):
            problems.append(f"{key}: kiln {a} vs torch {b}")
            continue
        for ta, tb in zip(a, b, strict=True):
            na, nb = bool(_NUMBER.match(ta)), bool(_NUMBER.match(tb))
            if na != nb or (not na and ta != tb):
                problems.append(f"{key}: kiln {a} vs torch {b}")
                break
            if na and not rng and not _close(ta, tb, rtol, atol):
                problems.append(f"{key}: kiln {' '.join(a)} vs torch {' '.join(b)}")
                break
    return problems


def test_compare_catches_a_difference():
    assert compare("x", "loss: 1.0\nrng w: 3.0\n", "loss: 1.00001\nrng w: 5.0\n") == []
    assert compare("x", "loss: 1.1\n", "loss: 1.0\n")
    assert compare("x", "shape: 2 3\n", "shape: 2 4\n")
    assert compare("x", "dtype: torch.float32\n", "dtype: torch.float64\n")
    assert compare("x", "rng w: 1 2\n", "rng w: 1\n")
    assert compare("x", "a: 1\n", "b: 1\n")
    assert compare("x", "d: kiln.float32\n", "d: torch.float32\n") == []


def test_the_shim_gives_kiln(tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); import _kiln_as_torch; "
        "import torch, torch.nn.functional as F; from torch.utils.data import DataLoader; "
        "import torch.optim.lr_scheduler as S; "
        "print(torch.__name__, F.__name__, DataLoader.__module__, S.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "kiln",
        "kiln.nn.functional",
        "kiln.utils.data.dataloader",
        "kiln.optim.lr_scheduler",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_script_agrees_with_torch(name, tmp_path):
    torch_out = _run(name, kiln=False, tmp_path=tmp_path)
    kiln_out = _run(name, kiln=True, tmp_path=tmp_path)
    assert _lines(torch_out), f"{name}.py printed nothing to compare"
    problems = compare(name, kiln_out, torch_out)
    assert not problems, f"{name}.py: kiln and torch disagree:\n" + "\n".join(problems)
