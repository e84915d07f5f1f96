"""Loading batches in worker processes (``DataLoader(num_workers=n)``).

The main process hands out batches of indices round-robin to ``n`` workers, each through
its own index queue, keeping ``prefetch_factor * n`` batches in flight. Workers fetch and
collate, and send ``(batch number, batch)`` back on one shared result queue; the main
process yields batches in batch-number order, holding early arrivals aside, so the order
is the same as with ``num_workers=0``.

Tensors cross the process boundary as plain NumPy arrays (no autograd state is pickled).
An exception in a worker comes back as its traceback text and is raised again in the main
process with the same type; a worker that dies is reported with its pid.

A worker pickles each batch itself before queueing it (``_serialize``), because
``multiprocessing.Queue.put`` pickles in a background thread that can only print a failure:
a sample that cannot be pickled (a lambda, an open file) would never arrive and the main
process would wait forever (PyTorch's DataLoader does). Here the pickling error goes back
as the worker's error and is raised in the main process. Workers stop when
the iterator is exhausted, garbage-collected or fails.

>>> import kiln
>>> from kiln.utils.data import DataLoader, TensorDataset
>>> loader = DataLoader(TensorDataset(kiln.arange(8)), batch_size=3, num_workers=2)
>>> [b[0].tolist() for b in loader]
[[0, 1, 2], [3, 4, 5], [6, 7]]
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import random
import time
import traceback
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler

import numpy as np

import kiln

from ...tensor import Tensor

_POLL_SECONDS = 1.0


@dataclass
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The current worker's id, count, seed and dataset copy; ``None`` in the main process."""
    return _worker_info


# ------------------------------------------------------------------------------ transport


class _Array:
    """A tensor on its way between processes: just its NumPy data."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def pack(obj):
    """Replace every tensor in a (nested) batch by its NumPy array."""
    if isinstance(obj, Tensor):
        return _Array(np.require(obj._data, requirements="C"))
    if isinstance(obj, dict):
        return {k: pack(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(pack(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(pack(v) for v in obj)
    return obj


def unpack(obj):
    """The inverse of ``pack``."""
    if isinstance(obj, _Array):
        return kiln.from_numpy(obj.array)
    if isinstance(obj, dict):
        return {k: unpack(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(unpack(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(unpack(v) for v in obj)
    return obj


class _WorkerError:
    """An exception raised in a worker, carried back as text."""

    def __init__(self, worker_id: int, exc: BaseException, context: str = ""):
        self.exc_type = type(exc)
        self.message = (
            f"Caught {type(exc).__name__} in DataLoader worker process "
            f"{worker_id}.{' ' + context + str(exc) if context else ''}\n"
            "Original Traceback (most recent call last):\n"
            + "".join(traceback.format_exception(exc)[1:])
        )

    def reraise(self):
        try:
            error = self.exc_type(self.message)
        except Exception:  # an exception type whose constructor wants other arguments
            error = RuntimeError(self.message)
        raise error


def _serialize(worker_id: int, batch_number: int, batch) -> bytes:
    """``batch`` pickled, or, if it cannot be, the pickled ``_WorkerError`` saying why.
    An error whose exception type cannot be pickled (a local class) goes back as a
    RuntimeError with the same message."""
    try:
        return bytes(ForkingPickler.dumps(batch))
    except Exception as exc:
        if isinstance(batch, _WorkerError):
            batch.exc_type = RuntimeError
            return bytes(ForkingPickler.dumps(batch))
        context = f"Batch {batch_number} cannot be sent to the main process: "
        return _serialize(worker_id, batch_number, _WorkerError(worker_id, exc, context))


# ------------------------------------------------------------------------------ the worker


def _worker_loop(
    dataset,
    index_queue,
    result_queue,
    auto_collation,
    collate_fn,
    seed,
    worker_id,
    num_workers,
    worker_init_fn,
    parent_pid,
):
    global _worker_info
    from .dataloader import fetch

    random.seed(seed)
    kiln.manual_seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    init_error = None
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception as exc:
            init_error = _WorkerError(worker_id, exc)
    try:
        while True:
            try:
                task = index_queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if os.getppid() != parent_pid:  # the main process is gone
                    break
                continue
            if task is None:
                break
            batch_number, index = task
            if init_error is not None:
                batch = init_error
            else:
                try:
                    batch = pack(fetch(dataset, index, auto_collation, collate_fn))
                except Exception as exc:
                    batch = _WorkerError(worker_id, exc)
            result_queue.put((batch_number, _serialize(worker_id, batch_number, batch)))
    except KeyboardInterrupt:
        pass
    # Do not wait at exit for the main process to drain the result queue.
    result_queue.cancel_join_thread()


# ------------------------------------------------------------------------------ the iterator


def _context(spec):
    if spec is None:
        methods = multiprocessing.get_all_start_methods()
        return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    if isinstance(spec, str):
        return multiprocessing.get_context(spec)
    return spec


class MultiProcessIter:
    """One epoch over a ``DataLoader`` with worker processes."""

    def __init__(self, loader):
        self.loader = loader
        base_seed = loader._base_seed()
        self.indices = iter(loader._index_sampler)
        ctx = _context(loader.multiprocessing_context)
        self.result_queue = ctx.Queue()
        self.index_queues = []
        self.workers = []
        self.closed = False
        for worker_id in range(loader.num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()
            worker = ctx.Process(
                target=_worker_loop,
                daemon=True,
                args=(
                    loader.dataset,
                    index_queue,
                    self.result_queue,
                    loader._auto_collation,
                    loader.collate_fn,
                    base_seed + worker_id,
                    worker_id,
                    loader.num_workers,
                    loader.worker_init_fn,
                    os.getpid(),
                ),
            )
            worker.start()
            self.index_queues.append(index_queue)
            self.workers.append(worker)
        self.sent = 0  # batches handed out
        self.received = 0  # batches yielded
        self.early: dict = {}  # batch number -> batch that arrived ahead of its turn
        self.exhausted = False
        for _ in range(loader.prefetch_factor * loader.num_workers):
            self._send_next()

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self.loader)

    def _send_next(self) -> None:
        if self.exhausted:
            return
        try:
            index = next(self.indices)
        except StopIteration:
            self.exhausted = True
            return
        self.index_queues[self.sent % len(self.workers)].put((self.sent, index))
        self.sent += 1

    def __next__(self):
        if self.received >= self.sent:
            self._shutdown()
            raise StopIteration
        while self.received not in self.early:
            number, payload = self._get()
            self.early[number] = payload
        batch = self._deserialize(self.early.pop(self.received))
        self.received += 1
        if isinstance(batch, _WorkerError):
            self._shutdown()
            batch.reraise()
        self._send_next()
        return unpack(batch)

    def _deserialize(self, payload: bytes):
        try:
            return pickle.loads(payload)
        except Exception as exc:  # e.g. a class the main process cannot import
            self._shutdown()
            raise RuntimeError(
                f"DataLoader: batch {self.received} from a worker cannot be unpickled in "
                f"the main process: {type(exc).__name__}: {exc}"
            ) from exc

    def _get(self):
        waited = 0.0
        timeout = self.loader.timeout
        while True:
            try:
                return self.result_queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                waited += _POLL_SECONDS
            dead = [w for w in self.workers if not w.is_alive()]
            if dead:
                self._shutdown()
                pids = ", ".join(str(w.pid) for w in dead)
                codes = ", ".join(str(w.exitcode) for w in dead)
                raise RuntimeError(
                    f"DataLoader worker (pid(s) {pids}) exited unexpectedly (exit code {codes})"
                )
            if timeout and waited >= timeout:
                self._shutdown()
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds")

    def _shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        for q in self.index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 5.0
        for w in self.workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
        self.result_queue.cancel_join_thread()
        self.result_queue.close()
        for q in self.index_queues:
            q.close()

    def __del__(self):
        try:
            self._shutdown()
        except Exception:
            pass
