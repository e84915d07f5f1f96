"""The jit's switches, ``kiln.jit.config``; environment variables set their defaults.

``KILN_DISABLE_JIT=1`` runs every jitted function eagerly; ``KILN_DUMP=<folder>`` writes
each compiled function's graph after every pass and its kernels into
``<folder>/<function name>/``; ``KILN_LOG=recompiles`` logs why a function was traced (and
when a dimension was made dynamic); ``KILN_AUTOMATIC_DYNAMIC=0`` sets
``automatic_dynamic_shapes`` off; ``KILN_TIERED=0`` sets ``tiered`` off (a call then waits
for every new kernel instead of running through the reference interpreter meanwhile).

>>> import kiln
>>> kiln.jit.config.log_recompiles = True    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os

from kiln.compiler import stance

log = logging.getLogger("kiln.jit")


class JitConfig:
    """Python switches (the environment variables set their defaults)."""

    def __init__(self):
        logs = os.environ.get("KILN_LOG", "")
        self.log_recompiles = "recompiles" in logs.split(",")
        self._disable = os.environ.get("KILN_DISABLE_JIT", "") not in ("", "0")
        self.dump_dir = os.environ.get("KILN_DUMP") or None
        self.cache_size_limit = 8
        # a dimension seen at a second size (2 or more) becomes dynamic (jit/auto_dynamic.py);
        # KILN_AUTOMATIC_DYNAMIC=0 turns it off
        self.automatic_dynamic_shapes = os.environ.get("KILN_AUTOMATIC_DYNAMIC", "1") not in (
            "0",
            "",
        )
        # a first call runs through the reference interpreter while LLVM compiles new
        # kernels, when that is sooner (compiler/compile.py, ``Executable``)
        self.tiered = os.environ.get("KILN_TIERED", "1") not in ("0", "")

    @property
    def disable(self) -> bool:
        """True to run jitted functions eagerly: set here or by ``KILN_DISABLE_JIT``, or,
        for a while, by ``kiln.compiler.disable`` / ``set_stance("force_eager")``."""
        return self._disable or stance.compile_disabled()

    @disable.setter
    def disable(self, value: bool) -> None:
        self._disable = bool(value)


config = JitConfig()
if config.log_recompiles and not log.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("kiln.jit: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)


def log_decision(message: str) -> None:
    """Log a trace or retrace decision when ``config.log_recompiles`` is on."""
    if config.log_recompiles:
        log.info(message)
