"""``KILN_DUMP``: each compiled variant's stages and kernels, written as it is compiled.

The writer is the compiler's (``kiln.compiler.compile.dump``); this file only says where
a jitted function's dumps go: ``<config.dump_dir>/<function name>/``, and the backward
half of a function called from eager autograd into ``<function name>_backward/``.
"""

from __future__ import annotations

import os

from kiln.compiler.compile import dump

from .config import config


def dump_variant(function_name: str, executable, backward=None) -> None:
    """Dump a new variant's executable (and its compiled backward) when dumps are on."""
    if not config.dump_dir:
        return
    folder = os.path.join(config.dump_dir, function_name)
    dump(executable, folder)
    if backward is not None:
        dump(backward.executable, folder + "_backward")
