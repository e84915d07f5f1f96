"""The executor: runs a schedule of calls on arrays, through one generated Python function.

The compiler hands over a ``Schedule``: which names are the inputs, a list of ``Call``s
(a kernel, ``np.matmul``, a NumPy op, a CUDA launch) over named values, the names
returned, and the values fixed at compile time (intermediate buffers, constants, output
pools). ``Program`` turns it into the source of one plain Python function, so a call costs
little more than the kernel calls themselves (no per-step dispatch, no dictionary of
values)::

    def run(args):
        (in0, in1) = args
        if type(in0) is not ndarray or in0.shape != (64, 32) or ...: in0 = _check(0, in0)
        with _lock:
            out2 = pool0.take()
            np_matmul(in0, in1, out=out2)
            kernel1(out2, bias, out2, 64, 16)
            return [out2]

Both back ends run here. A schedule with ``device="cuda"`` takes device arrays (a host
array, a learning rate or a CPU scalar, is copied over), its statics are views of a device
arena, its calls launch CUDA kernels with the launch configuration fixed at compile time,
and an output that depends on no device input (``output_inputs``) is copied back to the
host, so a CPU value stays on the CPU.

The lock makes concurrent calls of one executable safe (they share the arena); the source
is kept in ``Program.source`` for debugging.

>>> import numpy as np
>>> schedule = Schedule(inputs=[InputSpec("x", (2,), "float32")],
...                     calls=[Call(np.negative, ["x"], result="y")], outputs=["y"])
>>> Program(schedule)([np.ones(2, np.float32)])
[array([-1., -1.], dtype=float32)]
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .buffers import memory_owner


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
    device: str = "cpu"  # or "cuda": device arrays in and out
    # cuda: for each output, the inputs it depends on; one with none on the device goes
    # back to the host
    output_inputs: list | None = None
    arena: object = None  # what the statics are views of (kept alive with the program)
    # pooled output -> input: the output is written into that input's array when it may be
    # (``_donatable``), else into a pool array holding a copy of it (the memory plan's
    # ``donated``: an in-place update of an argument or captured tensor)
    donated: dict = field(default_factory=dict)


def _render(argument) -> str:
    if isinstance(argument, Literal):
        return repr(argument.value)
    return argument


def _owner_counts(arrays) -> dict:
    """How many of ``arrays`` share each memory owner (by ``id``)."""
    counts: dict = {}
    for a in arrays:
        if type(a) is np.ndarray:
            key = id(memory_owner(a))
            counts[key] = counts.get(key, 0) + 1
    return counts


def _donatable(array, owners) -> bool:
    """Whether a kernel may write over ``array`` (a donated input): writable, and no other
    input shares its memory (else a later read of that input would see the new values)."""
    return array.flags.writeable and owners.get(id(memory_owner(array))) == 1


def _copy_of(array, out):
    np.copyto(out, array)
    return out


class InputError(TypeError):
    """A compiled function was called with arrays of the wrong number, shape or dtype."""


# The active ``kiln.profiler`` profilers. While there is one, a program runs its timed
# copy and reports the clock read around each call (``kernel_events(schedule, clock)``);
# otherwise the generated ``run`` pays one test of this list.
PROFILERS: list = []


# The generated run functions. A forked child (a DataLoader worker) gets a new lock in
# each one's namespace: a call that another thread of the parent was making at ``fork``
# left the child's copy of its lock held by a thread the child does not have (the child's
# first call of that function waited forever).
_runs: weakref.WeakSet = weakref.WeakSet()


def _new_locks_in_child() -> None:
    for run in list(_runs):
        run.__globals__["_lock"] = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_in_child)


class Program:
    """A ``Schedule`` made callable: ``program(list_of_arrays) -> list_of_arrays``."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self._profiled = None
        self.source, self.run = self._build(timed=False)

    def _run_for_profilers(self, arrays):
        """``run`` with a clock read around every call, reported to the profilers."""
        if self._profiled is None:
            self._profiled = self._build(timed=True)[1]
        clock: list[float] = []
        results = self._profiled(arrays, clock)
        for profiler in PROFILERS:
            profiler.kernel_events(self.schedule, clock)
        return results

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
            # (kiln's module: its filter silences NumPy's floating-point warnings from the
            # run function's calls, ``invalid value encountered in matmul``, as eagerly)
            "__name__": __name__,
            "ndarray": np.ndarray,
            "_lock": threading.Lock(),
            "_check": self._check_input,
            "_clock": time.perf_counter,
            "_profilers": PROFILERS,
            "_run_for_profilers": self._run_for_profilers,
        }
        cuda = schedule.device == "cuda"
        if cuda:
            from . import cuda as device

            namespace["_device_array"] = device.device_array_type()
            namespace["_to_host"] = device.to_host
            namespace["_is_device"] = device.is_device_array
            namespace["_clock"] = device.synchronized_clock  # kernels run asynchronously
        namespace.update(schedule.statics)
        namespace.update(schedule.pools)
        lines = ["def run(args, _times=None):" if timed else "def run(args):"]
        if not timed:
            lines.append("    if _profilers: return _run_for_profilers(args)")
        count = len(schedule.inputs)
        lines.append(f"    if len(args) != {count}: _check(-1, args)")
        if count:
            names = ", ".join(spec.name for spec in schedule.inputs)
            lines.append(f"    ({names},) = args")
        returned = list(schedule.outputs)
        if cuda:
            returned = self._cuda_outputs(lines)
        for k, spec in enumerate(schedule.inputs):
            namespace[f"_dtype{k}"] = np.dtype(spec.dtype)
            if cuda:  # (kiln's device arrays are contiguous; ``_check`` sees to others)
                lines.append(
                    f"    if (type({spec.name}) is not _device_array or {spec.name}.shape != "
                    f"{tuple(spec.shape)!r} or {spec.name}.dtype != _dtype{k}): "
                    f"{spec.name} = _check({k}, {spec.name})"
                )
                continue
            lines.append(
                f"    if (type({spec.name}) is not ndarray or {spec.name}.shape != "
                f"{tuple(spec.shape)!r} or {spec.name}.dtype != _dtype{k} or not "
                f"{spec.name}.flags.c_contiguous): {spec.name} = _check({k}, {spec.name})"
            )
        lines.append("    with _lock:")
        if schedule.donated:
            names = ", ".join(spec.name for spec in schedule.inputs)
            lines.append(f"        _owners = _owner_counts(({names},))")
            namespace["_owner_counts"] = _owner_counts
            namespace["_donatable"] = _donatable
            namespace["_copy_of"] = _copy_of
        for name in schedule.pools:
            donor = schedule.donated.get(name)
            if donor is None:
                lines.append(f"        {name} = {name}_pool.take()")
            else:
                lines.append(
                    f"        {name} = {donor} if _donatable({donor}, _owners) else "
                    f"_copy_of({donor}, {name}_pool.take())"
                )
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
        lines.append(f"        return [{', '.join(returned)}]")
        source = "\n".join(lines) + "\n"
        # pools are referenced as ``<name>_pool`` so the taken array can use ``<name>``
        for name, pool in schedule.pools.items():
            namespace[f"{name}_pool"] = pool
            namespace.pop(name, None)
        exec(compile(source, f"<kiln executor {schedule.name}>", "exec"), namespace)
        _runs.add(namespace["run"])
        return source, namespace["run"]

    def _cuda_outputs(self, lines: list[str]) -> list[str]:
        """The returned expressions of a CUDA schedule: an output that depends on no device
        input comes back as a host array (``_to_host``); emits the input tests it needs."""
        schedule = self.schedule
        needs = schedule.output_inputs or [None] * len(schedule.outputs)
        tested = sorted({k for inputs in needs if inputs for k in inputs})
        for k in tested:  # before ``_check`` copies host inputs over
            name = schedule.inputs[k].name
            lines.append(f"    {name}_on_device = _is_device({name})")
        returned = []
        for name, inputs in zip(schedule.outputs, needs):
            if inputs is None:  # always on the device
                returned.append(name)
            elif not inputs:  # computed from constants alone
                returned.append(f"_to_host({name})")
            else:
                test = " or ".join(f"{schedule.inputs[k].name}_on_device" for k in inputs)
                returned.append(f"({name} if {test} else _to_host({name}))")
        return returned

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
        if self.schedule.device == "cuda":
            return self._check_device_input(index, value)
        array = np.asarray(value)
        label = spec.label or f"input {index}"
        if array.shape != tuple(spec.shape) or array.dtype != np.dtype(spec.dtype):
            raise InputError(
                f"{self.schedule.name}: {label} expects {spec.dtype}{list(spec.shape)}, got "
                f"{array.dtype}{list(array.shape)}"
            )
        return np.asarray(array, order="C")  # keeps 0-d inputs 0-d

    def _check_device_input(self, index: int, value):
        """A CUDA schedule's input: a device array as it is (made contiguous if it is
        not), a host value converted to the input's dtype and copied over."""
        from . import cuda as device

        spec = self.schedule.inputs[index]
        label = spec.label or f"input {index}"
        if device.is_device_array(value):
            shape, dtype = tuple(value.shape), np.dtype(value.dtype)
        else:
            value = np.asarray(value, dtype=spec.dtype)  # a Python or NumPy scalar, an lr
            shape, dtype = value.shape, value.dtype
        if shape != tuple(spec.shape) or dtype != np.dtype(spec.dtype):
            raise InputError(
                f"{self.schedule.name}: {label} expects {spec.dtype}{list(spec.shape)}, got "
                f"{dtype}{list(shape)}"
            )
        if not device.is_device_array(value):
            return device.to_device(value)
        if not value.is_c_contiguous():  # kernels index flat memory
            return device.to_device(device.to_host(value))
        return value
