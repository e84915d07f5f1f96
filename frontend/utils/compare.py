"""``Compare``: a table of many ``Measurement`` results, as ``torch.utils.benchmark.Compare``.

Results are grouped into one table per ``label``; a table has a row per ``sub_label`` (or
statement) and thread count, a column per ``description``, and shows medians in one unit.
Replicates of the same task are merged first. ``trim_significant_figures``, ``colorize``
and ``highlight_warnings`` change the rendering as in PyTorch, whose layout this follows
line for line so a printed table reads the same.

>>> from kiln.utils.benchmark import Measurement, TaskSpec
>>> m = [
...     Measurement(1, [2e-6, 2e-6], TaskSpec("x + y", "", label="add", description="eager")),
...     Measurement(1, [1e-6, 1e-6], TaskSpec("x + y", "", label="add", description="jit")),
... ]
>>> print(Compare(m))
[----------- add -----------]
             |  eager  |  jit
1 threads: ------------------
      x + y  |   2.0   |  1.0
<BLANKLINE>
Times are in microseconds (us).
<BLANKLINE>
"""

from __future__ import annotations

import collections
import enum
import itertools
import math

__all__ = ["Colorize", "Compare"]

BEST = "\033[92m"
GOOD = "\033[34m"
BAD = "\033[2m\033[91m"
VERY_BAD = "\033[31m"
BOLD = "\033[1m"
TERMINATE = "\033[0m"

_UNIT_NAMES = {"ns": "nanosecond", "us": "microsecond", "ms": "millisecond", "s": "second"}


class Colorize(enum.Enum):
    NONE = "none"
    COLUMNWISE = "columnwise"
    ROWWISE = "rowwise"


def trim_sigfig(x: float, n: int) -> float:
    """``x`` rounded to ``n`` significant figures (3.14159, 2 -> 3.1)."""
    magnitude = math.ceil(math.log10(abs(x)))
    scale = 10.0 ** (magnitude - n)
    return float(round(x / scale) * scale)


def _ordered_unique(items) -> list:
    return list(dict.fromkeys(items))


class _Column:
    """One description's results: the number format all its cells share."""

    def __init__(self, grouped_results, time_scale, trim_significant_figures, highlight_warnings):
        self._grouped_results = grouped_results
        flat = list(itertools.chain.from_iterable(grouped_results))
        self._trim = trim_significant_figures
        self._highlight = highlight_warnings and any(r.has_warnings for r in flat if r)
        leading = [math.ceil(math.log10(r.median / time_scale)) if r else None for r in flat]
        unit_digits = max(d for d in leading if d is not None)
        if self._trim:
            decimal_digits = min(
                max(m.significant_figures - d, 0)
                for d, m in zip(leading, flat)
                if m is not None and d is not None
            )
        else:
            decimal_digits = 1
        length = unit_digits + decimal_digits + (1 if decimal_digits else 0)
        width = 7 if self._highlight else 0
        self._template = f"{{:>{length}.{decimal_digits}f}}{{:>{width}}}"

    def results_for(self, group):
        return self._grouped_results[group]

    def num_to_str(self, value, significant_figures, spread):
        if value is None:
            return " " * len(self.num_to_str(1, significant_figures, None))
        if self._trim:
            value = trim_sigfig(value, significant_figures)
        note = f" (! {spread * 100:.0f}%)" if self._highlight and spread is not None else ""
        return self._template.format(value, note)


class _Row:
    """One (threads, env, sub_label) row of a table."""

    def __init__(self, results, group, render_env, env_width, time_scale, colorize, threads):
        self._results = results
        self._group = group
        self._render_env = render_env
        self._env_width = env_width
        self._time_scale = time_scale
        self._colorize = colorize
        self._threads = threads
        self.columns: tuple = ()

    def as_column_strings(self) -> list[str]:
        first = next(r for r in self._results if r is not None)
        env = f"({first.env})" if self._render_env else ""
        out = ["  " + env.ljust(self._env_width + 4) + first.as_row_name]
        for m, column in zip(self._results, self.columns):
            if m is None:
                out.append(column.num_to_str(None, 1, None))
            else:
                spread = m.iqr / m.median if m.has_warnings else None
                out.append(
                    column.num_to_str(m.median / self._time_scale, m.significant_figures, spread)
                )
        return out

    @staticmethod
    def color_segment(segment, value, best):
        if value <= best * 1.01 or value <= best + 100e-9:
            return BEST + BOLD + segment + TERMINATE * 2
        if value <= best * 1.1:
            return GOOD + BOLD + segment + TERMINATE * 2
        if value >= best * 5:
            return VERY_BAD + BOLD + segment + TERMINATE * 2
        if value >= best * 2:
            return BAD + segment + TERMINATE * 2
        return segment

    def row_separator(self, width) -> list[str]:
        return [f"{self._threads} threads: ".ljust(width, "-")] if self._threads else []

    def finalize(self, strings, widths) -> list[str]:
        best = [-1 for _ in strings]
        if self._colorize == Colorize.ROWWISE:
            row_min = min(r.median for r in self._results if r is not None)
            best = [row_min for _ in strings]
        elif self._colorize == Colorize.COLUMNWISE:
            best = []
            for column in self.columns:
                medians = [r.median for r in column.results_for(self._group) if r is not None]
                best.append(min(medians) if medians else None)
        out = [strings[0].ljust(widths[0])]
        for text, width, result, b in zip(strings[1:], widths[1:], self._results, best):
            text = text.center(width)
            if self._colorize != Colorize.NONE and result is not None and b is not None:
                text = self.color_segment(text, result.median, b)
            out.append(text)
        return out


class _Table:
    """The results of one label."""

    def __init__(self, results, colorize, trim_significant_figures, highlight_warnings):
        from .benchmark import select_unit

        self.results = results
        self.label = results[0].label
        self._colorize = colorize
        self._highlight = highlight_warnings
        self.time_unit, self.time_scale = select_unit(min(r.median for r in results))
        self.row_keys = _ordered_unique(self._row_key(r) for r in results)
        self.row_keys.sort(key=lambda key: key[:2])  # by threads and env; stmt order kept
        self.column_keys = _ordered_unique(r.description for r in results)
        self.rows = self._populate(trim_significant_figures)

    @staticmethod
    def _row_key(m):
        return m.num_threads, m.env, m.as_row_name

    def _populate(self, trim):
        cells = [[None] * len(self.column_keys) for _ in self.row_keys]
        row_at = {key: i for i, key in enumerate(self.row_keys)}
        column_at = {key: j for j, key in enumerate(self.column_keys)}
        for r in self.results:
            cells[row_at[self._row_key(r)]][column_at[r.description]] = r
        envs = {r.env for r in self.results}
        render_env = len(envs) > 1
        env_width = max(len(e) for e in envs) if render_env else 0
        rows, groups = [], []
        prior_threads, prior_env, group = -1, "", -1
        for (threads, env, _), row in zip(self.row_keys, cells):
            transition = threads != prior_threads
            if transition:
                prior_threads, prior_env = threads, ""
                group += 1
                groups.append([])
            rows.append(
                _Row(
                    row,
                    group,
                    render_env and env != prior_env,
                    env_width,
                    self.time_scale,
                    self._colorize,
                    threads if transition else None,
                )
            )
            groups[-1].append(row)
            prior_env = env
        columns = tuple(
            _Column(
                [tuple(row[j] for row in g) for g in groups],
                self.time_scale,
                trim,
                self._highlight,
            )
            for j in range(len(self.column_keys))
        )
        for row in rows:
            row.columns = columns
        return rows

    def render(self) -> str:
        strings = [[""] + [str(k) if k is not None else "" for k in self.column_keys]]
        strings.extend(row.as_column_strings() for row in self.rows)
        n = max(len(s) for s in strings)
        for s in strings:
            s.extend([""] * (n - len(s)))
        widths = [max(len(cell) for cell in column) for column in zip(*strings)]
        lines = ["  |  ".join(cell.center(w) for cell, w in zip(strings[0], widths))]
        width = len(lines[0])
        for s, row in zip(strings[1:], self.rows):
            lines.extend(row.row_separator(width))
            lines.append("  |  ".join(row.finalize(s, widths)))
        warned = self._highlight and any(r.has_warnings for r in self.results)
        title = f" {self.label or ''} ".center(width - 2, "-")
        note = (
            "(! XX%) Measurement has high variance, where XX is the IQR / median * 100.\n"
            if warned
            else ""
        )
        unit = self.time_unit
        return (
            f"[{title}]\n" + "\n".join(lines) + "\n\n"
            f"Times are in {_UNIT_NAMES[unit]}s ({unit}).\n{note}"
        )


class Compare:
    """Print many measurements as tables: ``Compare(results).print()``."""

    def __init__(self, results):
        self._results = []
        self.extend_results(results)
        self._trim_significant_figures = False
        self._colorize = Colorize.NONE
        self._highlight_warnings = False

    def extend_results(self, results) -> None:
        """Add more measurements (``Measurement`` instances only)."""
        from .benchmark import Measurement

        results = list(results)
        for r in results:
            if not isinstance(r, Measurement):
                raise ValueError(f"Expected an instance of `Measurement`, got {type(r)} instead.")
        self._results.extend(results)

    def trim_significant_figures(self) -> None:
        """Show each number to the digits its spread supports."""
        self._trim_significant_figures = True

    def colorize(self, rowwise: bool = False) -> None:
        """Color each cell against the best of its column (or row, ``rowwise=True``)."""
        self._colorize = Colorize.ROWWISE if rowwise else Colorize.COLUMNWISE

    def highlight_warnings(self) -> None:
        """Mark high-variance measurements with their IQR as a percent of the median."""
        self._highlight_warnings = True

    def print(self) -> None:
        print(str(self))

    def __str__(self) -> str:
        return "\n".join(self._render())

    def _render(self) -> list[str]:
        from .benchmark import Measurement

        by_label = collections.defaultdict(list)
        for r in Measurement.merge(self._results):
            by_label[r.label].append(r)
        return [
            _Table(
                group, self._colorize, self._trim_significant_figures, self._highlight_warnings
            ).render()
            for group in by_label.values()
        ]
