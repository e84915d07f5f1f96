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

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _seed():
    import kiln

    kiln.manual_seed(0)
    np.random.seed(0)
    yield
