"""Shared machinery of the tutorial-script tests (tests/test_scripts14.py,
tests/test_scripts16.py): run a folder of PyTorch scripts once under real torch and once
with kiln standing in for ``torch`` (tests/scripts14/_kiln_as_torch.py), then compare
what they printed.

What a script prints, line by line:

- ``name: tokens...``: the tokens must agree; numbers to the script's tolerance, other
  tokens exactly;
- ``rng name: tokens...``: the value depends on the random stream (weight init, dropout
  masks, shuffling), which differs between kiln and PyTorch by design: only the words and
  how many numbers there are must agree;
- ``# ...``: commentary, not compared.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the runner and the import shim, shared by every scripts folder
RUNNER = HERE / "scripts14" / "_run_all.py"

DEFAULT_TOLERANCE = (1e-4, 1e-5)

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|nan)$")


def script_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def run_all(
    kiln: bool, folder, scripts_dir: Path, names, timeout: float = 900, threads=None
) -> dict:
    """``{name: (ok, output)}`` of every script, run in one process per side
    (``scripts14/_run_all.py``), with ``folder`` as the working directory. ``threads``:
    the OpenMP thread count of that process (PyTorch's small ops run many times slower
    with a thread per core on a busy machine)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", KILN_TIERED="0")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    # tests/conftest.py turns on Numba's CUDA simulator for the CUDA tests; the scripts
    # pick ``"cuda" if torch.cuda.is_available()``, and must run where PyTorch (CPU) does
    if env.get("NUMBA_ENABLE_CUDASIM") == "1" and shutil.which("nvidia-smi") is None:
        del env["NUMBA_ENABLE_CUDASIM"]
    env.setdefault("KILN_CACHE_DIR", str(Path(folder) / "kernels"))
    scripts = [str(scripts_dir / f"{name}.py") for name in names]
    which = "kiln" if kiln else "torch"
    done = subprocess.run(
        [sys.executable, str(RUNNER), which, *scripts],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, f"the {which} runner failed:\n{done.stderr[-5000:]}"
    return {name: tuple(result) for name, result in json.loads(done.stdout).items()}


def lines(text: str) -> list[tuple[bool, str, list[str]]]:
    """``(rng, key, tokens)`` of every compared line of a script's output."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        rng = line.startswith("rng ")
        if rng:
            line = line[4:]
        # kiln names its dtypes and Size ``kiln.float32``, ``kiln.Size``: the same words
        line = re.sub(r"\bkiln\.", "torch.", line)
        key, colon, rest = line.partition(":")
        if not colon:  # a line of values only (``print(epoch, loss)``)
            key, rest = "", line
        tokens = re.findall(r"[^\s\[\](),=]+", rest)
        out.append((rng, key, tokens))
    return out


def close(a: str, b: str, rtol: float, atol: float) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= atol + rtol * abs(y)


def compare(kiln_out: str, torch_out: str, known=(), tolerance=DEFAULT_TOLERANCE) -> list[str]:
    """The disagreements, one line each; those of keys in ``known`` come first, as
    ``"known <key>"`` (a missing known disagreement is reported as ``"agrees <key>"``)."""
    rtol, atol = tolerance
    got, want = lines(kiln_out), lines(torch_out)
    problems = []
    if [k for _, k, _ in got] != [k for _, k, _ in want]:
        keys = [k for _, k, _ in got], [k for _, k, _ in want]
        problems.append(f"printed keys differ:\n kiln:  {keys[0]}\n torch: {keys[1]}")
        return problems
    for (rng, key, a), (_, _, b) in zip(got, want, strict=True):
        differs = len(a) != len(b)
        for ta, tb in zip(a, b) if not differs else ():
            na, nb = bool(_NUMBER.match(ta)), bool(_NUMBER.match(tb))
            if (
                na != nb
                or (not na and ta != tb)
                or (na and not rng and not close(ta, tb, rtol, atol))
            ):
                differs = True
                break
        if key in known:
            if not differs:
                problems.append(f"agrees {key}")
        elif differs:
            problems.append(f"{key}: kiln {' '.join(a)} vs torch {' '.join(b)}")
    return problems


def check_script(name: str, outputs, known, tolerance, failure=None) -> None:
    """Assert that script ``name`` ran on both sides and printed the same, apart from the
    keys in ``known`` (which must differ); or, with ``failure`` (``(text of the error,
    why)``, a KNOWN_FAILURES entry), that kiln still fails that way."""
    (torch_ok, torch_out), (kiln_ok, kiln_out) = (side[name] for side in outputs)
    assert torch_ok, f"{name}.py under torch failed:\n{torch_out[-5000:]}"
    if failure is not None:
        message, why = failure
        assert not kiln_ok, f"{name}.py now runs under kiln ({why}): remove from KNOWN_FAILURES"
        assert message in kiln_out, f"{name}.py fails differently:\n{kiln_out[-5000:]}"
        return
    assert kiln_ok, f"{name}.py under kiln failed:\n{kiln_out[-5000:]}"
    assert lines(torch_out), f"{name}.py printed nothing to compare"
    problems = compare(kiln_out, torch_out, known, tolerance)
    fixed = [p.removeprefix("agrees ") for p in problems if p.startswith("agrees ")]
    assert not fixed, f"{name}.py: now agrees with PyTorch, remove from KNOWN_DIFFERENCES: {fixed}"
    assert not problems, f"{name}.py: kiln and torch disagree:\n" + "\n".join(problems)
