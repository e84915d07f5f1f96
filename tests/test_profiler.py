"""kiln.profiler: eager ops, user ranges, jit compiles and compiled calls, as PyTorch shows them."""

from __future__ import annotations

import doctest
import json
import threading

import numpy as np
import pytest

import kiln
from kiln import dispatch
from kiln.profiler import ProfilerAction, profile, record_function, schedule
from kiln.runtime import executor


def _names(prof):
    return [e.name for e in prof.events()]


def test_eager_ops_and_nested_ranges():
    a = kiln.ones(4, 5)
    outside = a + 1  # not recorded: no profiler yet
    with profile() as prof:
        with record_function("outer"):
            b = a * 2
            with record_function("inner"):
                c = (b + outside).exp()
    averages = {row.key: row for row in prof.key_averages()}
    assert {k: averages[k].count for k in ("kiln::mul", "kiln::add", "kiln::exp")} == {
        "kiln::mul": 1,
        "kiln::add": 1,
        "kiln::exp": 1,
    }
    outer = next(e for e in prof.events() if e.name == "outer")
    inner = next(e for e in prof.events() if e.name == "inner")
    assert inner in outer.children
    assert [e.name for e in inner.children] == ["kiln::add", "kiln::exp"]
    assert outer.self_cpu_time_total <= outer.cpu_time_total
    assert outer.cpu_time_total >= inner.cpu_time_total > 0
    assert not dispatch.PROFILERS and not executor.PROFILERS  # unhooked on exit
    _ = c + 1
    assert _names(prof).count("kiln::add") == 1  # nothing recorded after the block


def test_backward_ops_are_recorded():
    w = kiln.ones(3, requires_grad=True)
    with profile() as prof:
        (w * w).sum().backward()
    names = _names(prof)
    assert names.count("kiln::mul") >= 2  # the forward and the backward products
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])


def test_record_shapes_and_grouping():
    with profile(record_shapes=True) as prof:
        kiln.ones(2, 3) + kiln.ones(3)
        kiln.ones(4) + 1.0
    rows = prof.key_averages(group_by_input_shape=True)
    shapes = sorted(str(r.input_shapes) for r in rows if r.key == "kiln::add")
    assert shapes == ["[[2, 3], [3]]", "[[4], []]"]
    assert [r.count for r in prof.key_averages() if r.key == "kiln::add"] == [2]
    with profile() as plain:
        kiln.ones(2) + 1.0
    assert plain.events()[0].input_shapes == []


def test_table_sorts_and_totals():
    with profile() as prof:
        x = kiln.ones(64, 64)
        for _ in range(3):
            x = x @ x * 0.01
    table = prof.key_averages().table(sort_by="count", row_limit=10)
    lines = table.splitlines()
    assert "Name" in lines[1] and "# of Calls" in lines[1]
    assert lines[3].split()[0] in ("kiln::matmul", "kiln::mul")
    assert lines[3].split()[-1] == "3"
    assert lines[-1].startswith("Self CPU time total:")
    rows = prof.key_averages()
    by_total = sorted(rows, key=lambda r: -r.cpu_time_total)
    first = prof.key_averages().table(sort_by="cpu_time_total").splitlines()[3]
    assert first.split()[0] == by_total[0].key
    with pytest.raises(AttributeError):
        rows.table(sort_by="no_such_column")


def test_compiled_calls_and_compile_time():
    @kiln.jit
    def scaled_sum(x):
        return (x * 2 + 1).sum()

    x = kiln.ones(1000)
    with profile() as prof:
        for _ in range(3):
            result = scaled_sum(x)
    assert result.item() == 3000.0
    rows = {row.key: row for row in prof.key_averages()}
    assert rows["kiln.jit compile scaled_sum"].count == 1
    runs = [e for e in prof.events() if e.name.startswith("kiln.jit ") and e.kind == "kernel"]
    assert len(runs) == 3
    for run in runs:  # every call of the schedule, nested in its run
        assert run.children and all(child.kind == "kernel" for child in run.children)
    assert not any(e.kind == "op" for e in prof.events() if e.start_us > runs[0].start_us)
    # profiling does not change what the compiled function computes, nor retraces it
    assert scaled_sum(x).item() == 3000.0 and scaled_sum.trace_count == 1


def test_chrome_trace_is_valid_trace_event_json(tmp_path):
    with profile(record_shapes=True) as prof:
        with record_function("step"):
            kiln.ones(3, 3).sum()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    assert len(events) == len(prof.events())
    for event in events:
        assert event["ph"] == "X" and event["dur"] >= 0 and event["ts"] >= 0
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
    step = next(e for e in events if e["name"] == "step")
    summed = next(e for e in events if e["name"] == "kiln::sum")
    assert step["ts"] <= summed["ts"] and summed["ts"] + summed["dur"] <= step["ts"] + step["dur"]
    assert summed["args"]["Input Dims"] == [[3, 3]]


def test_events_from_another_thread_have_their_own_id():
    def work():
        kiln.ones(2).exp()

    with profile() as prof:
        work()
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    threads = {e.thread for e in prof.events() if e.name == "kiln::exp"}
    assert len(threads) == 2


def test_schedule_records_only_active_steps():
    assert [schedule(wait=1, warmup=1, active=2, repeat=1)(k) for k in range(5)] == [
        ProfilerAction.NONE,
        ProfilerAction.WARMUP,
        ProfilerAction.RECORD,
        ProfilerAction.RECORD_AND_SAVE,
        ProfilerAction.NONE,
    ]
    saved = []

    def ready(prof):
        saved.append(sorted(e.name for e in prof.events()))

    with profile(schedule=schedule(wait=1, warmup=1, active=2), on_trace_ready=ready) as prof:
        for step in range(4):
            with record_function(f"step{step}"):
                kiln.ones(1) + 1
            prof.step()
    assert saved == [["kiln::add", "kiln::add", "step2", "step3"]]


def test_autograd_profiler_alias_and_decorator():
    @record_function("helper")
    def helper(x):
        return x * 3

    with kiln.autograd.profiler.profile(record_shapes=True) as prof:
        helper(kiln.ones(2))
    assert [e.name for e in prof.function_events] == ["helper", "kiln::mul"]
    assert "helper" in prof.key_averages().table()
    with kiln.autograd.profiler.profile(enabled=False) as off:
        helper(kiln.ones(2))
    assert off.events() == []


def test_docstrings():
    import kiln.autograd.profiler

    for module in (kiln.profiler, kiln.autograd.profiler):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


# ------------------------------------------------------------------------------ benchmark.Timer


def test_timer_timeit_runs_the_statement_number_times():
    from kiln.utils.benchmark import Timer

    calls = [0]
    m = Timer("calls[0] += 1", globals={"calls": calls}).timeit(50)
    assert calls[0] == 51  # one warm-up run, then the timed block
    assert m.number_per_run == 50 and len(m.times) == 1 and m.median > 0
    assert m.times[0] == pytest.approx(m.raw_times[0] / 50)


def test_timer_blocked_autorange_fills_min_run_time_with_blocks():
    from kiln.utils.benchmark import Timer

    blocks = []
    timer = Timer("x * 2", globals={"x": kiln.ones(8)}, label="mul", sub_label="8")
    m = timer.blocked_autorange(callback=lambda n, t: blocks.append((n, t)), min_run_time=0.05)
    assert sum(m.raw_times) >= 0.05
    assert len(blocks) == len(m.raw_times) and all(n == m.number_per_run for n, _ in blocks)
    assert str(m.number_per_run).strip("0") == "1"  # a power of ten
    assert m.title == "mul: 8" and m.label == "mul"
    adaptive = timer.adaptive_autorange(threshold=0.5, max_run_time=0.5)
    assert len(adaptive.times) >= 1 and adaptive.median > 0


@pytest.mark.parametrize(
    "raw", [[1.0, 1.1, 0.9, 1.0, 1.05], [1.0, 2.0, 1.0, 3.0, 1.0, 5.0], [2e-3]]
)
def test_measurement_statistics_and_repr_match_torch(raw):
    torch = pytest.importorskip("torch")
    from torch.utils.benchmark.utils.common import Measurement as TorchMeasurement
    from torch.utils.benchmark.utils.common import TaskSpec as TorchTaskSpec

    from kiln.utils.benchmark import Measurement, TaskSpec

    raw = [t * 1e-3 for t in raw]
    expected = TorchMeasurement(10, raw, TorchTaskSpec("x + y", "pass", label="add"))
    got = Measurement(10, raw, TaskSpec("x + y", "pass", label="add"))
    assert got.median == pytest.approx(expected.median)
    assert got.mean == pytest.approx(expected.mean)
    assert got.iqr == pytest.approx(expected.iqr)
    assert got.has_warnings == expected.has_warnings
    assert got.significant_figures == expected.significant_figures
    assert repr(got).splitlines()[1:] == repr(expected).splitlines()[1:]
    del torch
