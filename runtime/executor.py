"""The executor: runs a schedule of calls on arrays, through one generated Python function.

The compiler hands over a ``Schedule``: which names are the inputs, a list of ``Call``s
(a kernel, ``np.matmul``, a NumPy op) over named values, the names returned, and the
values fixed at compile time (intermediate buffers, constants, output pools). ``Program``
turns it into the source of one plain Python function, so a call costs little more than
the kernel calls themselves (no per-step dispatch, no dictionary of values)::

    def run(args):
        (in0, in1) = args
        if type(in0) is not ndarray or in0.shape != (64, 32) or ...: in0 = _check(0, in0)
        with _lock:
            out2 = pool0.take()
            np_matmul(in0, in1, out=out2)
            kernel1(out2, bias, out2, 64, 16)
            return [out2]

The lock makes concurrent calls of one executable safe (they share the arena); the source
is kept in ``Program.source`` for debugging.

>>> import numpy as np
>>> schedule = Schedule(inputs=[InputSpec("x", (2,), "float32")],
...                     calls=[Call(np.negative, ["x"], result="y")], outputs=["y"])
>>> Program(schedule)([np.ones(2, np.float32)])
[array([-1., -1.], dtype=float32)]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class InputSpec:
    name: str
    shape: tuple
    dtype: str
    label: str = ""  # how errors call it (the argument's name)


@dataclass
class Call:
    """``result = function(*arguments, **keywords)``.

    Each argument is a value name (``str``) or a ``Literal``; keyword values likewise.
    """

    function: Callable
    arguments: list
    result: str | None = None
    keywords: dict = field(default_factory=dict)
    comment: str = ""


@dataclass(frozen=True)
class Literal:
    """A constant argument pasted into the source (an int size, a tuple of axes)."""

    value: object


@dataclass
class Schedule:
    inputs: list[InputSpec]
    calls: list[Call]
    outputs: list[str]
    statics: dict = field(default_factory=dict)  # name -> array fixed at compile time
    pools: dict = field(default_factory=dict)  # name -> OutputPool, taken at each call
    name: str = "graph"


def _render(argument) -> str:
    if isinstance(argument, Literal):
        return repr(argument.value)
    return argument


class InputError(TypeError):
    """A compiled function was called with arrays of the wrong number, shape or dtype."""


class Program:
    """A ``Schedule`` made callable: ``program(list_of_arrays) -> list_of_arrays``."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.source, self.run = self._build(timed=False)
        self._profiled = None

    def profile(self, arrays, repeats: int = 10) -> list[tuple[float, str]]:
        """Median seconds of each call over ``repeats`` runs, with the call's comment.

        Runs a copy of the run function with a clock read around every call, to find the
        call that dominates.
        """
        if self._profiled is None:
            self._profiled = self._build(timed=True)[1]
        runs = []
        for _ in range(repeats):
            clock: list[float] = []
            self._profiled(arrays, clock)
            runs.append([b - a for a, b in zip(clock, clock[1:])])
        medians = [sorted(column)[len(column) // 2] for column in zip(*runs)]
        return [
            (
                t,
                f"{call.function.__name__ if hasattr(call.function, '__name__') else ''}"
                f"  {call.comment}",
            )
            for t, call in zip(medians, self.schedule.calls)
        ]

    def _build(self, timed: bool):
        schedule = self.schedule
        namespace: dict = {
            "ndarray": np.ndarray,
            "_lock": threading.Lock(),
            "_check": self._check_input,
            "_clock": time.perf_counter,
        }
        namespace.update(schedule.statics)
        namespace.update(schedule.pools)
        lines = ["def run(args, _times=None):" if timed else "def run(args):"]
        count = len(schedule.inputs)
        lines.append(f"    if len(args) != {count}: _check(-1, args)")
        if count:
            names = ", ".join(spec.name for spec in schedule.inputs)
            lines.append(f"    ({names},) = args")
        for k, spec in enumerate(schedule.inputs):
            namespace[f"_dtype{k}"] = np.dtype(spec.dtype)
            lines.append(
                f"    if (type({spec.name}) is not ndarray or {spec.name}.shape != "
                f"{tuple(spec.shape)!r} or {spec.name}.dtype != _dtype{k} or not "
                f"{spec.name}.flags.c_contiguous): {spec.name} = _check({k}, {spec.name})"
            )
        lines.append("    with _lock:")
        for name in schedule.pools:
            lines.append(f"        {name} = {name}_pool.take()")
        if timed:
            lines.append("        _times.append(_clock())")
        for k, call in enumerate(schedule.calls):
            function = f"_f{k}"
            namespace[function] = call.function
            parts = [_render(a) for a in call.arguments]
            parts += [f"{key}={_render(v)}" for key, v in call.keywords.items()]
            text = f"{function}({', '.join(parts)})"
            if call.result:
                text = f"{call.result} = {text}"
            if call.comment:
                text += f"  # {call.comment}"
            lines.append("        " + text)
            if timed:
                lines.append("        _times.append(_clock())")
        lines.append(f"        return [{', '.join(schedule.outputs)}]")
        source = "\n".join(lines) + "\n"
        # pools are referenced as ``<name>_pool`` so the taken array can use ``<name>``
        for name, pool in schedule.pools.items():
            namespace[f"{name}_pool"] = pool
            namespace.pop(name, None)
        exec(compile(source, f"<kiln executor {schedule.name}>", "exec"), namespace)
        return source, namespace["run"]

    def __call__(self, arrays):
        return self.run(arrays)

    def _check_input(self, index: int, value):
        """The slow path for an input that failed the fast check: convert or explain."""
        inputs = self.schedule.inputs
        if index < 0:
            raise InputError(
                f"{self.schedule.name}: expected {len(inputs)} inputs, got {len(value)}"
            )
        spec = inputs[index]
        array = np.asarray(value)
        label = spec.label or f"input {index}"
        if array.shape != tuple(spec.shape) or array.dtype != np.dtype(spec.dtype):
            raise InputError(
                f"{self.schedule.name}: {label} expects {spec.dtype}{list(spec.shape)}, got "
                f"{array.dtype}{list(array.shape)}"
            )
        return np.asarray(array, order="C")  # keeps 0-d inputs 0-d
