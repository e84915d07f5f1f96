"""kiln.utils.benchmark.Compare prints the same tables as torch.utils.benchmark.Compare
for the same measurements (built by hand, so the numbers are fixed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch.utils.benchmark as tb
from torch.utils.benchmark.utils.common import TaskSpec as TorchTaskSpec

import kiln.utils.benchmark as kb

RNG = np.random.default_rng(6)


def _times(median, spread, n=8):
    return list(median * (1 + spread * RNG.uniform(-1, 1, n)))


def _spec(lib, stmt, **kw):
    task_spec = TorchTaskSpec if lib is tb else kb.TaskSpec
    return task_spec(stmt, "pass", **kw)


def _measurements(lib, rows):
    return [
        lib.Measurement(number, times, _spec(lib, stmt, **kw)) for number, times, stmt, kw in rows
    ]


def _grid():
    rows = []
    for label in ("add", "matmul"):
        for threads in (1, 4):
            for size in ("16", "1024"):
                for description, scale in (("eager", 3.0), ("jit", 1.0), ("torch", 1.2)):
                    if label == "matmul" and description == "torch" and size == "16":
                        continue  # a missing cell
                    median = scale * (2e-6 if size == "16" else 7.5e-5) / threads
                    rows.append(
                        (
                            10,
                            _times(median * 10, 0.02 if description != "jit" else 0.4),
                            "x + y" if label == "add" else "x @ y",
                            {
                                "label": label,
                                "sub_label": f"n={size}",
                                "description": description,
                                "num_threads": threads,
                            },
                        )
                    )
    return rows


@pytest.mark.parametrize(
    "options", [(), ("trim",), ("colorize",), ("rowwise",), ("warn",), ("trim", "warn", "colorize")]
)
def test_compare_prints_torchs_table(options):
    rows = _grid()
    tables = []
    for lib in (tb, kb):
        compare = lib.Compare(_measurements(lib, rows))
        if "trim" in options:
            compare.trim_significant_figures()
        if "colorize" in options:
            compare.colorize()
        if "rowwise" in options:
            compare.colorize(rowwise=True)
        if "warn" in options:
            compare.highlight_warnings()
        tables.append(str(compare))
    assert tables[1] == tables[0]
    assert "Times are in nanoseconds (ns)." in tables[1]  # the fastest cell is 500 ns


def test_compare_merges_replicates_and_shows_envs():
    rows = [
        (1, [1e-3, 1.1e-3], "f()", {"label": "L", "env": "A", "description": "x"}),
        (1, [1.05e-3, 0.98e-3], "f()", {"label": "L", "env": "A", "description": "x"}),
        (2, [4e-3, 4.2e-3], "f()", {"label": "L", "env": "B", "description": "x"}),
        (1, [3e-3], "g()", {"label": "L", "env": "B", "description": "y"}),
    ]
    expected = str(tb.Compare(_measurements(tb, rows)))
    got = kb.Compare(_measurements(kb, rows))
    assert str(got) == expected
    assert "(A)" in expected and "(B)" in expected
    merged = kb.Measurement.merge(_measurements(kb, rows))
    assert len(merged) == 3 and merged[0].number_per_run == 1 and len(merged[0].times) == 4


def test_compare_with_real_timers_and_bad_input():
    results = [
        kb.Timer("x * 2", globals={"x": 3}, label="mul", description=d).timeit(100)
        for d in ("a", "b")
    ]
    compare = kb.Compare(results)
    compare.extend_results(
        [kb.Timer("x * 3", globals={"x": 3}, label="mul", description="a").timeit(100)]
    )
    text = str(compare)
    assert (
        text.startswith("[")
        and "mul" in text
        and "x * 3" in text
        and "|  a  " in text.replace("   ", "  ")
    )
    with pytest.raises(ValueError, match="Measurement"):
        kb.Compare([1.0])
