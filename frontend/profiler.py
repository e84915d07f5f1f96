"""``kiln.profiler``: where the time goes, eagerly and in compiled code (``torch.profiler``).

Inside ``with kiln.profiler.profile() as prof:`` four kinds of events are recorded, each
with its wall-clock start and end on its thread:

* ``op``: every eager primitive ``bind`` runs (forward and backward), named ``kiln::<prim>``;
* ``user``: ``record_function("name")`` ranges;
* ``compile``: ``kiln.jit`` tracing and compiling a variant;
* ``kernel``: every call of a compiled program's schedule (kernels, matmuls, NumPy
  fallbacks), inside one ``kiln.jit <graph>`` event per run.

``prof.key_averages().table(sort_by="self_cpu_time_total")`` sums them by name;
``prof.export_chrome_trace(path)`` writes the Chrome trace-event JSON that Perfetto and
``chrome://tracing`` open. With no profiler active the hooks cost one test of a list in
``bind`` and in each compiled run.

>>> import kiln
>>> with kiln.profiler.profile(record_shapes=True) as prof:
...     with kiln.profiler.record_function("forward"):
...         y = kiln.ones(2, 3) * 2
>>> [(e.key, e.count) for e in prof.key_averages() if e.key != "forward"]
[('kiln::mul', 1)]
>>> [e.input_shapes for e in prof.events() if e.kind == "op"]
[[[2, 3], []]]
"""

from __future__ import annotations

import enum
import functools
import json
import os
import threading
from dataclasses import dataclass, field
from time import perf_counter

from kiln.runtime import executor

from . import dispatch

__all__ = [
    "tensorboard_trace_handler",
    "ProfilerAction",
    "ProfilerActivity",
    "profile",
    "record_function",
    "schedule",
    "FunctionEvent",
    "FunctionEventAvg",
    "EventList",
]


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0):
    """The action for each ``prof.step()``: skip, then cycles of wait / warmup / active.

    >>> s = schedule(wait=1, warmup=1, active=2)
    >>> [s(k).name for k in range(5)]
    ['NONE', 'WARMUP', 'RECORD', 'RECORD_AND_SAVE', 'NONE']
    """
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ValueError("schedule: wait, warmup, repeat, skip_first >= 0 and active > 0")
    cycle = wait + warmup + active

    def action(step: int) -> ProfilerAction:
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if repeat > 0 and step // cycle >= repeat:
            return ProfilerAction.NONE
        position = step % cycle
        if position < wait:
            return ProfilerAction.NONE
        if position < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if position < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return action


# ------------------------------------------------------------------------------ events


@dataclass
class FunctionEvent:
    """One timed range; times are microseconds since the profile started."""

    name: str
    start_us: float
    end_us: float
    thread: int
    kind: str = "op"
    input_shapes: list = field(default_factory=list)
    children: list = field(default_factory=list, repr=False)

    @property
    def cpu_time_total(self) -> float:
        return self.end_us - self.start_us

    @property
    def self_cpu_time_total(self) -> float:
        return self.cpu_time_total - sum(child.cpu_time_total for child in self.children)

    @property
    def key(self) -> str:
        return self.name


@dataclass
class FunctionEventAvg:
    """The events of one name (and input shapes, if grouped by them), summed."""

    key: str
    count: int = 0
    cpu_time_total: float = 0.0
    self_cpu_time_total: float = 0.0
    input_shapes: list | None = None
    kind: str = "op"

    @property
    def cpu_time(self) -> float:
        """The mean time of one call."""
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def self_cpu_time(self) -> float:
        return self.self_cpu_time_total / self.count if self.count else 0.0

    # device time: kiln times compiled CUDA calls with a synchronizing clock, as CPU time
    device_time_total = cuda_time_total = 0.0
    self_device_time_total = self_cuda_time_total = 0.0

    def add(self, event: FunctionEvent) -> None:
        self.count += 1
        self.cpu_time_total += event.cpu_time_total
        self.self_cpu_time_total += event.self_cpu_time_total


class EventList(list):
    """A list of events (or averages) that prints as a table."""

    def table(
        self,
        sort_by: str | None = None,
        row_limit: int = 100,
        max_name_column_width: int = 55,
        header: str | None = None,
        top_level_events_only: bool = False,
    ) -> str:
        """Name, self and total time (with their share), average and call count per row.

        ``sort_by`` is an attribute of the rows, largest first (``"cpu_time_total"``,
        ``"self_cpu_time_total"``, ``"cpu_time"``, ``"count"``, ...).
        """
        rows = list(self)
        if sort_by is not None:
            rows.sort(key=lambda row: getattr(row, sort_by), reverse=True)
        if row_limit > 0:
            rows = rows[:row_limit]
        shapes = any(getattr(row, "input_shapes", None) for row in rows)
        self_total = sum(row.self_cpu_time_total for row in self)
        width = min(max([len(row.key) for row in rows] + [4]), max_name_column_width)
        columns = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
        columns.append("# of Calls")
        line = "-" * width + "  " + "  ".join("-" * 12 for _ in columns)
        titles = "Name".rjust(width) + "  " + "  ".join(c.rjust(12) for c in columns)
        if shapes:
            line += "  " + "-" * 30
            titles += "  " + "Input Shapes".rjust(30)
        out = [header] if header else []
        out += [line, titles, line]
        for row in rows:
            name = row.key if len(row.key) <= width else row.key[: width - 3] + "..."
            count = getattr(row, "count", 1)
            cells = [
                _percent(row.self_cpu_time_total, self_total),
                _format_time(row.self_cpu_time_total),
                _percent(row.cpu_time_total, self_total),
                _format_time(row.cpu_time_total),
                _format_time(row.cpu_time_total / max(count, 1)),
                str(count),
            ]
            text = name.rjust(width) + "  " + "  ".join(c.rjust(12) for c in cells)
            if shapes:
                text += "  " + str(row.input_shapes or "").rjust(30)
            out.append(text)
        out.append(line)
        out.append(f"Self CPU time total: {_format_time(self_total)}")
        return "\n".join(out) + "\n"

    def total_average(self) -> FunctionEventAvg:
        total = FunctionEventAvg("Total")
        for row in self:
            total.count += getattr(row, "count", 1)
            total.cpu_time_total += row.cpu_time_total
            total.self_cpu_time_total += row.self_cpu_time_total
        return total


def _format_time(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "0.00%"


# ------------------------------------------------------------------------------ the profiler


class profile:  # noqa: N801 - PyTorch's name
    """Record eager ops, ``record_function`` ranges, jit compiles and compiled calls.

    ``activities``, ``profile_memory``, ``with_stack`` and ``with_flops`` are accepted for
    PyTorch compatibility; kiln records CPU wall time (CUDA calls of compiled programs are
    timed with a synchronizing clock, so they show as CPU time too).
    """

    def __init__(
        self,
        activities=None,
        *,
        schedule=None,
        on_trace_ready=None,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_flops: bool = False,
        with_modules: bool = False,
        enabled: bool = True,
        use_cuda: bool = False,
        **unused,
    ):
        self.activities = set(activities or [ProfilerActivity.CPU])
        self.schedule = schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.enabled = enabled
        self.step_num = 0
        self._events: list[FunctionEvent] = []
        self._lock = threading.Lock()
        self._origin = perf_counter()
        self._recording = False
        self._running = False

    # -------------------------------------------------------------- lifetime
    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if not self.enabled or self._running:
            return
        self._running = True
        self._origin = perf_counter()
        self._set_recording(self._action() in _RECORDING)

    def stop(self) -> None:
        if not self._running:
            return
        action = self._action()
        self._set_recording(False)
        self._running = False
        if self.on_trace_ready is not None and action in _RECORDING:
            self.on_trace_ready(self)

    def step(self) -> None:
        """Mark the end of a training step: advances the ``schedule``."""
        if not self._running:
            return
        previous = self._action()
        self.step_num += 1
        current = self._action()
        if previous is ProfilerAction.RECORD_AND_SAVE:
            self._set_recording(False)
            if self.on_trace_ready is not None:
                self.on_trace_ready(self)
        if current in _RECORDING and previous not in _RECORDING:
            with self._lock:
                self._events = []  # a new active window starts from nothing
        self._set_recording(current in _RECORDING)

    def _action(self) -> ProfilerAction:
        if self.schedule is None:
            return ProfilerAction.RECORD
        return self.schedule(self.step_num)

    def _set_recording(self, on: bool) -> None:
        if on == self._recording:
            return
        self._recording = on
        for hooks in (dispatch.PROFILERS, executor.PROFILERS, _RANGE_PROFILERS):
            if on:
                hooks.append(self)
            else:
                hooks.remove(self)

    # -------------------------------------------------------------- hooks
    def _add(self, name, start, end, kind, shapes=()) -> None:
        event = FunctionEvent(
            name,
            (start - self._origin) * 1e6,
            (end - self._origin) * 1e6,
            threading.get_ident(),
            kind,
            list(shapes),
        )
        with self._lock:
            self._events.append(event)

    def op_event(self, prim, inputs, start: float, end: float) -> None:
        """Called by ``bind`` after each eager primitive."""
        shapes = [list(x.shape) for x in inputs] if self.record_shapes else ()
        self._add("kiln::" + prim.name, start, end, "op", shapes)

    def kernel_events(self, schedule, clock: list[float]) -> None:
        """Called by a compiled program after a profiled run, with its clock reads."""
        if not clock:
            return
        self._add(f"kiln.jit {schedule.name}", clock[0], clock[-1], "kernel")
        for call, start, end in zip(schedule.calls, clock, clock[1:]):
            function = getattr(call.function, "__name__", type(call.function).__name__)
            name = f"{function} ({call.comment})" if call.comment else function
            self._add(name, start, end, "kernel")

    def range_event(self, name: str, start: float, end: float, kind: str) -> None:
        self._add(name, start, end, kind)

    # -------------------------------------------------------------- results
    def events(self) -> EventList:
        """Every recorded event in start order, with ``children`` nested per thread."""
        with self._lock:
            events = sorted(self._events, key=lambda e: (e.start_us, -e.end_us))
        open_by_thread: dict[int, list[FunctionEvent]] = {}
        for event in events:
            event.children = []
            stack = open_by_thread.setdefault(event.thread, [])
            while stack and stack[-1].end_us <= event.start_us:
                stack.pop()
            if stack and event.end_us <= stack[-1].end_us:
                stack[-1].children.append(event)
            stack.append(event)
        return EventList(events)

    def key_averages(self, group_by_input_shape: bool = False, **unused) -> EventList:
        """One row per event name (and input shapes with ``group_by_input_shape``)."""
        rows: dict = {}
        for event in self.events():
            shapes = event.input_shapes if group_by_input_shape else None
            key = (event.name, str(shapes) if shapes is not None else None)
            row = rows.get(key)
            if row is None:
                row = rows[key] = FunctionEventAvg(event.name, input_shapes=shapes, kind=event.kind)
            row.add(event)
        return EventList(rows.values())

    def export_chrome_trace(self, path) -> None:
        """Write the events as Chrome trace-event JSON (``"X"`` complete events)."""
        pid = os.getpid()
        trace = [
            {
                "ph": "X",
                "cat": event.kind,
                "name": event.name,
                "pid": pid,
                "tid": event.thread,
                "ts": round(event.start_us, 3),
                "dur": round(event.cpu_time_total, 3),
                "args": {"Input Dims": event.input_shapes} if event.input_shapes else {},
            }
            for event in self.events()
        ]
        with open(path, "w") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)

    def table(self, **kwargs) -> str:
        return self.key_averages().table(**kwargs)


_RECORDING = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)

# The profilers that record ranges (``record_function``, jit compiles).
_RANGE_PROFILERS: list = []


class record_function:  # noqa: N801 - PyTorch's name
    """A named range in the profile: ``with record_function("loss"):`` or a decorator.

    >>> @record_function("step")
    ... def step(x):
    ...     return x + 1
    >>> step(1)
    2
    """

    def __init__(self, name: str, args: str | None = None, kind: str = "user"):
        self.name = name
        self.kind = kind
        self._start = None

    def __enter__(self) -> record_function:
        self._start = perf_counter() if _RANGE_PROFILERS else None
        return self

    def __exit__(self, *exc) -> None:
        if self._start is not None:
            end = perf_counter()
            for profiler in list(_RANGE_PROFILERS):
                profiler.range_event(self.name, self._start, end, self.kind)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(self.name, kind=self.kind):
                return fn(*args, **kwargs)

        return wrapper


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip: bool = False):
    """``on_trace_ready=tensorboard_trace_handler(dir)``: each finished profiling cycle
    writes ``<dir>/<worker>.<time in ns>.pt.trace.json`` (``.gz`` with ``use_gzip``), a
    Chrome trace as ``export_chrome_trace`` writes, where TensorBoard's profiler plugin
    looks for them; ``worker_name`` defaults to ``<hostname>_<pid>``."""
    import gzip
    import shutil
    import socket
    import time

    def handler_fn(prof) -> None:
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        path = os.path.join(dir_name, f"{worker}.{time.time_ns()}.pt.trace.json")
        prof.export_chrome_trace(path)
        if use_gzip:
            with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.remove(path)

    return handler_fn
