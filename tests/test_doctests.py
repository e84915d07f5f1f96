"""The ``>>>`` examples in the docstrings of kiln's modules run, and show what they say.

Every module of the three folders (frontend -> ``kiln``, compiler -> ``kiln.compiler``,
runtime -> ``kiln.runtime``) is imported by its ``kiln.*`` name and its docstrings are run
with ``doctest``: one test per module, so a wrong example names its module. A module that
needs an optional extra which is not installed is skipped with the extra's name.

An example runs as if typed after ``import kiln; from kiln import *; import numpy as np``
inside its module: the module's own names come first (``sum`` in ``kiln.ops.reduce`` is
that module's ``sum``), then kiln's public names (``tensor``, ``zeros``) except those that
would hide a builtin (``kiln.bool``, ``kiln.round``), ``kiln`` and ``np``.

The same module list checks that importing kiln never imports torch: torch is in the test
extra as the oracle of the PyTorch-comparison tests, and must stay out of kiln itself.
"""

import builtins
import doctest
import importlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import kiln

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDERS = {"frontend": "kiln", "compiler": "kiln.compiler", "runtime": "kiln.runtime"}
OPTIONS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

# modules whose import needs an extra: the module name's prefix -> the extra's top package
EXTRAS = {
    "kiln.onnx": "onnx",
    "kiln.utils.tensorboard": "tensorboardX",
    "kiln.distributed": "mpi4py",
    "kiln.runtime.cuda": "numba.cuda",
    "kiln.compiler.compile_cuda": "numba.cuda",
}


def module_names():
    names = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts == ["__main__"]:
                continue
            names.append(".".join([package, *parts]))
    return names


MODULES = module_names()


def test_every_folder_contributes_modules():
    for package in FOLDERS.values():
        assert sum(name.startswith(package + ".") for name in MODULES) >= 5, package


def example_namespace(module):
    names = {
        n: getattr(kiln, n)
        for n in dir(kiln)
        if not n.startswith("_") and not hasattr(builtins, n)  # kiln.bool, kiln.round
    }
    names.update(vars(module))
    names.update(kiln=kiln, np=np)
    return names


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    for prefix, extra in EXTRAS.items():
        if name == prefix or name.startswith(prefix + "."):
            pytest.importorskip(extra, reason=f"{name} needs {extra}")
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    for test in finder.find(module, name, globs=example_namespace(module)):
        kiln.manual_seed(0)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_importing_every_module_does_not_import_torch():
    script = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
