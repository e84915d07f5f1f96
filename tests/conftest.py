import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _seed():
    import kiln

    kiln.manual_seed(0)
    np.random.seed(0)
    yield
