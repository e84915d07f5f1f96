import gc
import os
import shutil
import sys

# CUDA tests run in Numba's simulator where there is no GPU; this must be decided before
# anything imports numba.cuda. On a GPU machine the real device is used.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
# every pass's result is verified, so a broken pass is caught by name (a user's compile
# verifies only the pipeline's result: compiler/passes/pipeline.py)
os.environ.setdefault("KILN_VERIFY_PASSES", "1")
# a jitted call runs its kernels, never the interpreted tier (which would make a test of
# compiled code compare the interpreter with eager): tests/test_tiered.py turns it on
os.environ.setdefault("KILN_TIERED", "0")
# no shared-library bundles of the kernels (runtime/native.py): each compile would build
# its kernels a second time in the background, for processes after this one; the tests
# of bundles (tests/test_native_shared.py) turn them on
os.environ.setdefault("KILN_NATIVE_SHARED", "0")

import numpy as np
import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

# Property tests draw the same examples on every run (derived from each test's source): a
# run that passed on one machine passes on the next, and a failure is reproduced by rerunning
# the test. A random draw found a real flake this way (test_random_graphs: floor(4 tanh x) at
# tanh's saturation, where a 1-ulp difference in tanh flips the floor) and would have turned
# a later CI run red by chance. Long exploring runs stay random:
# KILN_FUZZ_EXAMPLES=N (tests/test_random_graphs.py) or HYPOTHESIS_PROFILE=explore.
settings.register_profile("kiln", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(
    os.environ.get(
        "HYPOTHESIS_PROFILE", "explore" if os.environ.get("KILN_FUZZ_EXAMPLES") else "kiln"
    )
)


@pytest.fixture(autouse=True)
def _seed():
    import kiln

    kiln.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(autouse=True)
def _simulator_switch_interval(request):
    """Numba's CUDA simulator runs a block's threads as Python threads and a manager that
    polls them in a loop holding the GIL: with CPython's 5 ms switch interval each handoff
    waits out that loop (tests/test_cuda.py and test_cuda_executor.py took 76 s alone,
    21 s with 0.5 ms). Only for the simulator's tests: kiln's own threads keep the default."""
    simulated = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    if not simulated or "cuda" not in request.node.nodeid.lower():
        yield
        return
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def pytest_collection_finish(session):
    """The cyclic collector's share of a worker (measured with gc.callbacks on four
    compile-heavy test files: 2.9 s of 33 s CPU, two thirds in full collections of ~170 ms
    each, which scan the ~500,000 objects importing torch, NumPy and kiln made): move
    those to the permanent generation (they live as long as the worker anyway) and collect
    less often (1.2 s of 29 s). Every object a test makes is still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(5000, 20, 100)
