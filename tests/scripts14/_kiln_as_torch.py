"""Make ``import torch`` (and ``import torch.nn.functional as F``, ``from torch.utils.data
import DataLoader``, ...) load kiln, so that an unmodified PyTorch script runs on kiln.

Imported (by tests/test_scripts14.py) before the script runs; a ``torch.X.Y`` import
resolves to ``kiln.X.Y`` and both names then refer to the same module object.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys


class _KilnAsTorch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        kiln_name = "kiln" + fullname[len("torch") :]
        try:
            module = importlib.import_module(kiln_name)
        except ModuleNotFoundError:
            # ``torch.X`` may be an attribute of kiln that is a module-like namespace
            parent, _, leaf = kiln_name.rpartition(".")
            module = getattr(importlib.import_module(parent), leaf, None)
            if module is None:
                return None
        spec = importlib.util.spec_from_loader(fullname, self, is_package=True)
        spec._kiln_module = module
        return spec

    def create_module(self, spec):
        return spec._kiln_module

    def exec_module(self, module):
        pass


def install() -> None:
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        del sys.modules[name]
    sys.meta_path.insert(0, _KilnAsTorch())
    import kiln

    sys.modules["torch"] = kiln


install()
