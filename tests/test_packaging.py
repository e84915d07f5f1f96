"""Packaging: every subpackage is listed, and a built wheel imports every module."""

import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"frontend": "kiln", "compiler": "kiln.compiler", "runtime": "kiln.runtime"}


def _package_names_on_disk():
    names = set()
    for folder, prefix in FOLDERS.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            names.add(".".join([prefix, *rel.parts]) if rel.parts else prefix)
    return names


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _package_names_on_disk() == listed


def _all_module_names():
    import kiln

    names = ["kiln"]
    for info in pkgutil.walk_packages(kiln.__path__, "kiln."):
        names.append(info.name)
    return names


def test_every_module_imports():
    optional = (
        "kiln.onnx",
        "kiln.utils.tensorboard",
        "kiln.distributed",
        "kiln.cuda",
        "kiln.runtime.cuda",
        "kiln.compiler.codegen.cuda",
        "kiln.compiler.compile_cuda",
    )
    failures = []
    for name in _all_module_names():
        if name.endswith("__main__"):
            continue
        try:
            __import__(name)
        except ImportError as exc:
            if not name.startswith(optional):
                failures.append(f"{name}: {exc}")
    assert not failures, failures


@pytest.mark.skipif(os.environ.get("KILN_SKIP_WHEEL") == "1", reason="KILN_SKIP_WHEEL=1")
def test_built_wheel_installs_and_imports(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("kiln-*.whl"))
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    code = (
        "import importlib, pkgutil, kiln\n"
        f"assert kiln.__file__.startswith({str(target)!r}), kiln.__file__\n"
        "bad = []\n"
        "for info in pkgutil.walk_packages(kiln.__path__, 'kiln.'):\n"
        "    if info.name.endswith('__main__'): continue\n"
        "    try: importlib.import_module(info.name)\n"
        "    except ImportError as e:\n"
        "        if 'No module named' in str(e) and 'kiln' not in str(e): continue\n"
        "        bad.append((info.name, str(e)))\n"
        "assert not bad, bad\n"
        "x = kiln.tensor([3.0]); print(kiln.jit(lambda a: a * 2)(x).item())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "6.0"
