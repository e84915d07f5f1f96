"""``kiln.cuda``'s streams and events (``torch.cuda.Stream``, ``Event``, ``stream(...)``).

kiln launches every CUDA kernel on the device's default stream, so work is never overlapped
and a ``Stream`` is a handle that orders nothing by itself: ``with kiln.cuda.stream(s):``
makes ``s`` what ``current_stream()`` returns, and ``s.synchronize()`` waits for the device
(all of kiln's work is on the stream it would have to wait for).

``Event.record()`` marks a point in that stream. On a GPU it is Numba's CUDA event
(``elapsed_time`` is the device's measure in milliseconds); under Numba's CUDA simulator,
where kernels run synchronously on the host and Numba's events time nothing, ``record()``
waits for the device and reads ``time.perf_counter()``, so ``elapsed_time`` is the wall time
in milliseconds between the two records.

>>> import kiln
>>> if kiln.cuda.is_available():
...     start, end = kiln.cuda.Event(enable_timing=True), kiln.cuda.Event(enable_timing=True)
...     start.record(); y = kiln.ones(4, device="cuda") * 2; end.record()
...     end.synchronize()
...     assert start.elapsed_time(end) >= 0.0
"""

from __future__ import annotations

import time

from kiln.runtime import cuda as _runtime


def _available() -> bool:
    from . import cuda

    return cuda.is_available()


class Stream:
    """A CUDA stream handle (kiln runs all its kernels on the default stream)."""

    def __new__(cls, device=None, priority: int = 0, **kwargs):
        if not _available():
            raise RuntimeError("torch.cuda.Stream requires CUDA support")
        return super().__new__(cls)

    def __init__(self, device=None, priority: int = 0, **kwargs):
        from .device import device as _device

        self.device = _device("cuda", 0)
        self.priority = int(priority)

    def synchronize(self) -> None:
        """Wait until the device has finished the work launched so far."""
        _runtime.synchronize()

    def query(self) -> bool:
        """Whether all launched work is complete (it is, once this returns: kiln waits)."""
        _runtime.synchronize()
        return True

    def wait_event(self, event) -> None:
        """Make later work wait for ``event`` (one stream: already in order)."""

    def wait_stream(self, stream) -> None:
        """Make later work wait for ``stream``'s (one stream: already in order)."""

    def record_event(self, event=None):
        event = Event() if event is None else event
        event.record(self)
        return event

    def __repr__(self):
        return f"<torch.cuda.Stream device={self.device} cuda_stream=0x0>"


class Event:
    """A marker in the stream (see the module's docstring for what it measures)."""

    def __new__(cls, enable_timing: bool = False, blocking: bool = False, interprocess=False):
        if not _available():
            raise RuntimeError(
                "torch.cuda.Event requires CUDA support (kiln.cuda.is_available() is False)"
            )
        return super().__new__(cls)

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess=False):
        self.enable_timing = bool(enable_timing)
        self._numba = None
        self._time = None
        self._recorded = False
        if not _runtime.simulated():
            self._numba = _runtime.numba_cuda().event(timing=self.enable_timing)

    def record(self, stream=None) -> None:
        if self._numba is not None:
            self._numba.record(stream=0)
        else:
            _runtime.synchronize()
            self._time = time.perf_counter()
        self._recorded = True

    def wait(self, stream=None) -> None:
        """Make ``stream``'s later work wait for this event (one stream: already in order)."""

    def query(self) -> bool:
        if self._numba is not None:
            return bool(self._numba.query())
        return True

    def synchronize(self) -> None:
        if self._numba is not None:
            self._numba.synchronize()

    def elapsed_time(self, end_event) -> float:
        """Milliseconds from this event's ``record()`` to ``end_event``'s."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'.")
        if not (self._recorded and end_event._recorded):
            raise RuntimeError("Both events must be recorded before calculating elapsed time.")
        if self._numba is not None:
            end_event.synchronize()
            return float(self._numba.elapsed_time(end_event._numba))
        return (end_event._time - self._time) * 1000.0

    def __repr__(self):
        return f"<torch.cuda.Event enable_timing={self.enable_timing}>"


_CURRENT: list = [None]  # the stream set by ``set_stream`` / ``stream(s)``; None: default
_DEFAULT: list = [None]


def default_stream(device=None) -> Stream:
    from . import cuda

    cuda._lazy_init()
    if _DEFAULT[0] is None:
        _DEFAULT[0] = Stream()
    return _DEFAULT[0]


def current_stream(device=None) -> Stream:
    from . import cuda

    cuda._lazy_init()
    return _CURRENT[0] if _CURRENT[0] is not None else default_stream()


def set_stream(stream) -> None:
    """Make ``stream`` what ``current_stream()`` returns (None: nothing changes)."""
    if stream is not None:
        _CURRENT[0] = stream


class StreamContext:
    """``with kiln.cuda.stream(s):``: ``s`` is the current stream inside (None: a no-op)."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        self._previous = _CURRENT[0]
        if self.stream is not None:
            _CURRENT[0] = self.stream
        return self.stream

    def __exit__(self, *exc):
        _CURRENT[0] = self._previous
        return False


def stream(stream) -> StreamContext:
    return StreamContext(stream)
