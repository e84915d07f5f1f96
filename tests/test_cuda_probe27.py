"""``kiln.cuda.is_available()`` answers without importing ``numba.cuda`` where no CUDA driver
library opens (that import cost about 0.9 s of CPU, paid by nearly every script through
``"cuda" if torch.cuda.is_available() else "cpu"``), and answers as Numba does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
import kiln
answer = kiln.cuda.is_available()
imported = "numba.cuda" in sys.modules or "numba" in sys.modules
from kiln.runtime import cuda
driver = cuda._driver_present()
from numba import cuda as numba_cuda
print(json.dumps([answer, imported, driver, bool(numba_cuda.is_available())]))
"""


def _probe(**env):
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=environment, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_is_available_agrees_with_numba_and_skips_its_import_without_a_driver():
    answer, imported, driver, numba_answer = _probe()
    assert answer == numba_answer
    if not driver:  # (a machine with a GPU driver asks Numba, which imports it)
        assert answer is False
        assert not imported, "kiln.cuda.is_available() imported Numba with no driver present"


def test_the_simulator_is_still_found():
    answer, _imported, _driver, numba_answer = _probe(NUMBA_ENABLE_CUDASIM="1")
    assert answer is True and numba_answer is True
