"""How Numba's parallel kernels share the CPU with BLAS: choosing the threading layer.

kiln runs schedules that alternate Numba ``prange`` kernels with NumPy's BLAS
(``np.matmul``, OpenBLAS's own pthreads). Numba's default here is its OpenMP layer (GNU
libgomp; TBB is not installed), and libgomp's default wait policy keeps idle worker
threads *spinning* after every parallel region. On a 2-core machine the spinning threads
then fight the BLAS threads of the next matmul.

Measured with ``python bench/threading_layers.py`` (2-core AMD EPYC, Numba 0.68.1, NumPy
2.4 / OpenBLAS; medians of 300 calls, three runs, the machine shared with other jobs):

=================================  ============  ============  =========================
configuration                      kernel        matmul        matmul+kernel x2 (step)
=================================  ============  ============  =========================
omp (default wait policy: spin)    3 us          470-485 us    16,000 us  (62 steps/s)
omp + OMP_WAIT_POLICY=PASSIVE      49-66 us      465-548 us    838-962 us  (~1,100/s)
workqueue                          106-131 us    477-561 us    967-1,166 us  (~950/s)
=================================  ============  ============  =========================

(kernel: bias + relu over 128x512 float32; matmul: 128x784 @ 784x512.) With spinning
OpenMP threads a kernel followed by a matmul is ~17x slower than either alone: the
spinning threads and OpenBLAS's threads fight over the two cores. A passive wait policy
or Numba's ``workqueue`` layer both fix it; passive OpenMP wakes its threads about twice
as fast as ``workqueue``, so kiln prefers it, but only when that is safe: libgomp reads
``OMP_WAIT_POLICY`` once, when it is loaded, so if something (PyTorch, scikit-learn) loaded
it before kiln with another policy, kiln uses ``workqueue`` instead. A user's own
``NUMBA_THREADING_LAYER`` always wins. (The policy is an environment variable, so OpenMP
runtimes loaded later in the process, PyTorch's for one, also wait passively.) Waking
threads costs tens of microseconds either way, so small kernels skip threads altogether
(``PARALLEL_THRESHOLD`` in ``kiln.compiler.codegen.cpu``).

``configure_threading`` runs when ``kiln.runtime`` is imported, before any kernel runs
(Numba fixes its layer at the first parallel launch).
"""

from __future__ import annotations

import os
import sys

_USER_CHOSE_LAYER = "NUMBA_THREADING_LAYER" in os.environ


def _libgomp_loaded() -> bool:
    try:
        with open("/proc/self/maps") as f:
            return "libgomp" in f.read()
    except OSError:  # not Linux: no libgomp worries we can check; be conservative
        return True


def choose_layer() -> str:
    """``"omp"`` with passive waiting when libgomp can still be told so, else workqueue."""
    if _USER_CHOSE_LAYER:
        return os.environ["NUMBA_THREADING_LAYER"]
    policy = os.environ.get("OMP_WAIT_POLICY", "").upper()
    if policy == "PASSIVE" or (policy == "" and not _libgomp_loaded()):
        return "omp"
    return "workqueue"


def configure_threading() -> str:
    """Select Numba's threading layer (unless the user already did); return its name."""
    layer = choose_layer()
    if _USER_CHOSE_LAYER:
        return layer
    if layer == "omp":
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        os.environ.setdefault("KMP_BLOCKTIME", "0")
        # "default" with this priority falls back to workqueue where OpenMP is missing
        settings = {
            "THREADING_LAYER": "default",
            "THREADING_LAYER_PRIORITY": ["omp", "workqueue", "tbb"],
        }
    else:
        settings = {"THREADING_LAYER": "workqueue"}
    os.environ["NUMBA_THREADING_LAYER"] = settings["THREADING_LAYER"]
    if "THREADING_LAYER_PRIORITY" in settings:
        os.environ["NUMBA_THREADING_LAYER_PRIORITY"] = " ".join(
            settings["THREADING_LAYER_PRIORITY"]
        )
    numba = sys.modules.get("numba")
    if numba is not None:  # already imported: its config was read; set it directly
        for key, value in settings.items():
            setattr(numba.config, key, value)
    return layer
