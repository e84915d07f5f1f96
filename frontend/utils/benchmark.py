"""``kiln.utils.benchmark``: ``Timer`` and ``Measurement``, as ``torch.utils.benchmark``.

``Timer(stmt, setup, globals=...)`` times a statement with :mod:`timeit`;
``blocked_autorange`` picks a block size that makes the clock's overhead negligible and
runs blocks until ``min_run_time`` has passed. A ``Measurement`` keeps the per-run times
and prints their median and interquartile range, with PyTorch's warning when the spread
suggests a noisy machine.

>>> import kiln
>>> from kiln.utils.benchmark import Timer
>>> m = Timer("x + 1", globals={"x": kiln.ones(4)}).timeit(10)
>>> m.number_per_run, len(m.times), m.median > 0
(10, 1, True)
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import textwrap
import timeit

import kiln

__all__ = ["Compare", "Colorize", "Timer", "Measurement", "TaskSpec", "select_unit"]

# the interquartile range, as a fraction of the median, above which a measurement warns
_IQR_WARN_THRESHOLD = 0.1
_IQR_GROSS_WARN_THRESHOLD = 0.25
_MIN_CONFIDENCE_INTERVAL = 25e-9  # the clock's resolution, roughly


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What was timed: the statement, its setup and the labels a report groups by."""

    stmt: str
    setup: str
    global_setup: str = ""
    label: str | None = None
    sub_label: str | None = None
    description: str | None = None
    env: str | None = None
    num_threads: int = 1

    @property
    def title(self) -> str:
        if self.label is not None:
            return self.label + (f": {self.sub_label}" if self.sub_label else "")
        if "\n" not in self.stmt:
            return self.stmt + (f": {self.sub_label}" if self.sub_label else "")
        sub = f" ({self.sub_label})" if self.sub_label else ""
        return f"stmt:{sub}\n{textwrap.indent(self.stmt, '  ')}"

    def setup_str(self) -> str:
        if not self.setup or self.setup == "pass":
            return ""
        if "\n" in self.setup:
            return "setup:\n" + textwrap.indent(self.setup, "  ")
        return f"setup: {self.setup}"

    def summarize(self) -> str:
        sections = [self.title, self.description or "", self.setup_str()]
        return "\n".join(f"{s}\n" if "\n" in s else s for s in sections if s)


class Measurement:
    """The times of ``len(raw_times)`` blocks of ``number_per_run`` runs each."""

    def __init__(self, number_per_run: int, raw_times, task_spec: TaskSpec, metadata=None):
        self.number_per_run = number_per_run
        self.raw_times = list(raw_times)
        self.task_spec = task_spec
        self.metadata = metadata

    def __getattr__(self, name):
        # the task's fields (stmt, label, num_threads, ...) read through, as in PyTorch
        if name != "task_spec" and name in TaskSpec.__dataclass_fields__:
            return getattr(self.task_spec, name)
        raise AttributeError(f"'Measurement' object has no attribute {name!r}")

    @property
    def times(self) -> list[float]:
        """Seconds per run of each block."""
        return [t / self.number_per_run for t in self.raw_times]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.times)

    def _quantile(self, q: float) -> float:
        """Linear interpolation between order statistics (PyTorch's ``quantile``)."""
        ordered = sorted(self.times)
        position = q * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    @property
    def iqr(self) -> float:
        return self._quantile(0.75) - self._quantile(0.25)

    @property
    def title(self) -> str:
        return self.task_spec.title

    @property
    def as_row_name(self) -> str:
        return self.task_spec.sub_label or self.task_spec.stmt or "[Unknown]"

    @staticmethod
    def merge(measurements) -> list[Measurement]:
        """One measurement per task: replicates' per-run times pooled (``number_per_run``
        becomes 1; metadata is dropped, since it may differ between replicates)."""
        groups: dict = {}
        for m in measurements:
            groups.setdefault(m.task_spec, []).extend(m.times)
        return [Measurement(1, times, spec) for spec, times in groups.items()]

    @property
    def env(self) -> str:
        return self.task_spec.env or "Unspecified env"

    @property
    def significant_figures(self) -> int:
        """Digits the spread of the middle half of the times supports (1 to 4), for reports."""
        ordered = sorted(self.times)
        n = len(ordered)
        middle = ordered[n // 4 : math.ceil(3 * n / 4)]
        spread = statistics.pstdev(middle) if len(middle) > 1 else 0.0
        interval = max(1.645 * spread / math.sqrt(len(middle)), _MIN_CONFIDENCE_INTERVAL)
        digits = math.floor(math.log10(self.median / interval))
        return min(max(digits, 1), 4)

    def meets_confidence(self, threshold: float = _IQR_WARN_THRESHOLD) -> bool:
        return self.iqr / self.median < threshold

    @property
    def has_warnings(self) -> bool:
        return bool(self._warnings())

    def _warnings(self) -> list[str]:
        if len(self.times) < 4 or self.meets_confidence(_IQR_WARN_THRESHOLD):
            return []
        relative = self.iqr / self.median * 100
        if not self.meets_confidence(_IQR_GROSS_WARN_THRESHOLD):
            why = "This suggests significant environmental influence."
        else:
            why = "This could indicate system fluctuation."
        return [
            f"  WARNING: Interquartile range is {relative:.1f}% of the median measurement.\n"
            f"           {why}"
        ]

    def __repr__(self) -> str:
        n = len(self.times)
        unit, scale = select_unit(self.median)
        lines = [f"<kiln.utils.benchmark.Measurement object at {id(self):#x}>"]
        lines.append(self.task_spec.summarize())
        lines.append(f"  {'Median: ' if n > 1 else ''}{self.median / scale:.2f} {unit}")
        if n >= 4:
            p25, p75 = self._quantile(0.25) / scale, self._quantile(0.75) / scale
            lines.append(f"  IQR:    {self.iqr / scale:.2f} {unit} ({p25:.2f} to {p75:.2f})")
        threads = self.task_spec.num_threads
        per = "per measurement," if n > 1 else ","
        lines.append(
            f"  {n} measurement{'s' if n > 1 else ''}, {self.number_per_run} runs {per} "
            f"{threads} thread{'s' if threads > 1 else ''}"
        )
        lines.extend(self._warnings())
        return "\n".join(lines)


def select_unit(seconds: float) -> tuple[str, float]:
    """The unit (``ns``, ``us``, ``ms`` or ``s``) that shows ``seconds`` as 1 to 999."""
    if seconds <= 0:
        return "ns", 1e-9
    exponent = math.floor(math.log10(seconds) / 3)
    unit = {-3: "ns", -2: "us", -1: "ms"}.get(exponent, "s" if exponent >= 0 else "ns")
    return unit, {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


class Timer:
    """Time ``stmt`` (a string run with ``globals``, as ``timeit``) after ``setup``.

    ``num_threads`` sets kiln's thread count while timing (restored afterwards).
    """

    def __init__(
        self,
        stmt: str = "pass",
        setup: str = "pass",
        global_setup: str = "",
        timer=timeit.default_timer,
        globals: dict | None = None,  # noqa: A002 - PyTorch's name
        label: str | None = None,
        sub_label: str | None = None,
        description: str | None = None,
        env: str | None = None,
        num_threads: int = 1,
        language="python",
    ):
        if not isinstance(stmt, str):
            raise ValueError("Timer: stmt must be a string (it is run with timeit)")
        if str(language).lower().split(".")[-1] not in ("python", "py"):
            raise ValueError(f"Timer: kiln times Python statements only, not {language}")
        self._globals = dict(globals or {})
        self._globals.setdefault("kiln", kiln)
        self._timer = timeit.Timer(stmt=stmt, setup=setup, timer=timer, globals=self._globals)
        self._task_spec = TaskSpec(
            stmt, setup, global_setup, label, sub_label, description, env, num_threads
        )

    def _timeit(self, number: int) -> float:
        return max(self._timer.timeit(number), 1e-9)

    def _with_threads(self, run):
        wanted = self._task_spec.num_threads
        previous = kiln.get_num_threads()
        if wanted != previous:
            kiln.set_num_threads(wanted)
        try:
            return run()
        finally:
            if wanted != previous:
                kiln.set_num_threads(previous)

    def timeit(self, number: int = 1000000) -> Measurement:
        """One block of ``number`` runs (after one warm-up run)."""

        def run():
            self._timeit(1)
            return Measurement(number, [self._timeit(number)], self._task_spec)

        return self._with_threads(run)

    def repeat(self, repeat: int = -1, number: int = -1):
        raise NotImplementedError("Timer.repeat: use timeit or blocked_autorange (as PyTorch)")

    def autorange(self, callback=None):
        raise NotImplementedError("Timer.autorange: use blocked_autorange (as PyTorch)")

    def _estimate_block_size(self, min_run_time: float) -> int:
        overhead = statistics.median(self._timeit(0) for _ in range(5))
        number = 1
        while True:
            taken = self._timeit(number)
            if overhead / taken <= 1e-4 and taken >= min_run_time / 1000:
                break
            if taken > min_run_time or number * 10 > 2147483647:
                break
            number *= 10
        return number

    def _measure(self, number, stop, min_run_time, max_run_time=None, callback=None):
        total, times = 0.0, []
        while True:
            spent = self._timeit(number)
            times.append(spent)
            total += spent
            if callback is not None:
                callback(number, spent)
            if total >= min_run_time and stop(times):
                break
            if max_run_time is not None and total > max_run_time:
                break
        return times

    def blocked_autorange(self, callback=None, min_run_time: float = 0.2) -> Measurement:
        """Blocks of a size that hides the clock's overhead, until ``min_run_time`` seconds.

        ``callback(number, seconds)`` is called after each block.
        """

        def run():
            number = self._estimate_block_size(min_run_time)
            times = self._measure(number, lambda _: True, min_run_time, callback=callback)
            return Measurement(number, times, self._task_spec)

        return self._with_threads(run)

    def adaptive_autorange(
        self,
        threshold: float = 0.1,
        *,
        min_run_time: float = 0.01,
        max_run_time: float = 10.0,
        callback=None,
    ) -> Measurement:
        """Blocks until the interquartile range is under ``threshold`` of the median (at
        least 4 blocks) or ``max_run_time`` has passed."""

        def run():
            number = self._estimate_block_size(min_run_time=0.05)

            def stop(times):
                m = Measurement(number, times, self._task_spec)
                return len(times) > 3 and m.meets_confidence(threshold)

            times = self._measure(number, stop, min_run_time, max_run_time, callback)
            return Measurement(number, times, self._task_spec)

        return self._with_threads(run)


from .compare import Colorize, Compare  # noqa: E402 - compare reads Measurement from here
