"""How Numba's parallel kernels share the CPU with BLAS: the threading layer choice.

kiln runs a schedule that alternates Numba ``prange`` kernels with NumPy's BLAS
(``np.matmul``). Numba's OpenMP layer (GNU libgomp here; TBB is not installed) keeps its
worker threads spinning for a while after each parallel region; on a 2-core machine they
then compete with OpenBLAS's own threads in the matmul that follows. Numba's
``workqueue`` layer parks its workers on a condition variable instead.

Measured on the 2-core AMD EPYC development machine (Numba 0.68.1, NumPy 2.4 with
OpenBLAS; ``python bench/threading_layers.py`` reproduces it): see ``bench/RESULTS.md``.
The short version: with ``omp`` a 4096x1024 row-max kernel took ~8 ms (its threads
fighting each other and the BLAS threads) against ~1.3 ms with ``workqueue``, and a loop
of (kernel, matmul) pairs ran several times slower with ``omp`` than with ``workqueue``.

So kiln picks ``workqueue`` unless the user chose a layer with ``NUMBA_THREADING_LAYER``.
The choice must happen before the first parallel kernel runs (Numba fixes its layer then);
``configure_threading`` is called when ``kiln.runtime`` is imported.
"""

from __future__ import annotations

import os
import sys

DEFAULT_LAYER = "workqueue"


def configure_threading() -> str:
    """Select Numba's threading layer (unless the user already did); return its name."""
    layer = os.environ.setdefault("NUMBA_THREADING_LAYER", DEFAULT_LAYER)
    # libgomp reads these when it loads; they only matter if someone picks the omp layer.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")
    numba = sys.modules.get("numba")
    if numba is not None and "NUMBA_THREADING_LAYER" not in _user_environment:
        numba.config.THREADING_LAYER = layer
    return layer


# What the user had set before kiln touched the environment.
_user_environment = {k for k in ("NUMBA_THREADING_LAYER",) if k in os.environ}
