"""Layers depend downwards only: frontend -> compiler -> runtime (docs/design.md).

Checked on the source: every import in ``compiler/`` and ``runtime/`` is resolved to an
absolute module name and must stay inside the layers below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"compiler": "kiln.compiler", "runtime": "kiln.runtime"}
ALLOWED = {"compiler": ("kiln.compiler", "kiln.runtime"), "runtime": ("kiln.runtime",)}


def _module_name(folder: str, path: Path) -> str:
    parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([LAYERS[folder], *parts])


def _imports(folder: str, path: Path):
    """Absolute names of the kiln modules ``path`` imports (relative imports resolved)."""
    module = _module_name(folder, path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "kiln")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "kiln":
                yield name


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_lower_layers_never_import_upper_ones(folder):
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in _imports(folder, path):
            if not name.startswith(ALLOWED[folder]):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_check_sees_relative_imports():
    """The resolver itself: ``from ...runtime.executor`` in compiler/codegen is runtime."""
    path = ROOT / "compiler" / "codegen" / "schedule.py"
    assert "kiln.runtime.executor" in set(_imports("compiler", path))
