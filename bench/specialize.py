"""What a new batch size costs once a dimension is dynamic: a full compile or a fitted one.

    python bench/specialize.py              # 20 new sizes of bench/training.py's MLP step
    python bench/specialize.py --sizes 40   # more

Two copies of ``kiln_mlp_step`` (the 180-node joint graph of forward, backward and SGD
with momentum) are jitted and called at batch 16 and 17, which makes the batch dynamic.
Each copy then specializes the same new sizes, alternately (so both see the same load):

* ``full``: every size compiles in full (passes, fusion, memory plan, lowering, run
  function), as before the fit of fused graphs (``Family.shared_refused`` set);
* ``fitted``: the first two sizes compile in full and are fitted with the template's
  compile; later sizes instantiate the fitted fused graph and only plan memory, lower
  (kernels found by their code) and build the run function.

Printed: the median, minimum and maximum milliseconds of ``Family.specialize`` per new
size (after the first two, which both copies compile in full).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from training import SIZES, kiln_mlp_step  # noqa: E402

import kiln  # noqa: E402


def family():
    step = kiln.jit(kiln_mlp_step())
    rng = np.random.default_rng(0)
    for n in (16, 17):
        x = kiln.tensor(rng.standard_normal((n, SIZES[0])).astype(np.float32))
        step(x, kiln.tensor(rng.integers(0, SIZES[-1], n)))
    (dynamic,) = step._families
    return dynamic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, default=20, help="new sizes to specialize")
    count = parser.parse_args().sizes
    full, fitted = family(), family()
    full.shared_refused = "measuring full compiles"
    for n in (18, 19):  # both compile in full; the second fits ``fitted``
        full.specialize(n)
        fitted.specialize(n)
    times: dict = {"full": [], "fitted": []}
    for n in range(20, 20 + count):
        for name, dynamic in (("full", full), ("fitted", fitted)):
            start = time.perf_counter()
            dynamic.specialize(n)
            times[name].append(time.perf_counter() - start)
    assert fitted.compiles == {"shared": count, "full": 2}, fitted.compiles
    for name, seconds in times.items():
        print(
            f"{name:>6}: median {statistics.median(seconds) * 1e3:6.1f} ms, "
            f"min {min(seconds) * 1e3:6.1f}, max {max(seconds) * 1e3:6.1f} "
            f"({count} sizes)"
        )


if __name__ == "__main__":
    main()
