"""Native CPU kernels: LLVM IR -> machine code (llvmlite), cached on disk, called from Python.

``compiler/codegen/native.py`` writes each CPU kernel as LLVM IR; this module optimizes it
(LLVM's ``O3`` pipeline, loop and SLP vectorizers on, for this machine's CPU), emits an
object file, links it into one in-process MCJIT engine and returns a callable:

- **Disk cache.** The object file is stored under ``native/`` in the kernel cache folder
  (``kernel_cache.cache_dir()``), named by a hash of the kernel's symbol (itself a hash of
  the kernel's source, signature and the compiler's version) and of what the machine code
  depends on (llvmlite's LLVM, the CPU's name and features). An entry is a header line
  with the payload's SHA-256 and whether the kernel runs in chunks, followed by the object
  code; one that does not match (truncated, damaged) is deleted and rebuilt with a
  ``KernelCacheWarning``, never loaded. Writes are atomic (``kernel_cache.atomic_write``).
- **Calls.** A kernel is a C function taking the NumPy arrays themselves (it reads their
  data pointers), the sizes, and a chunk number and count; the executor calls small work
  through the kernel's ``METH_FASTCALL`` entry, wrapped as a builtin function
  (``NativeKernel.entry``), and large work through ``ctypes``, which releases the GIL.
- **Threads.** ``NativeKernel.parallel`` calls run the chunks of the kernel's ``prange``
  loop on a small pool of persistent threads (this thread runs chunk 0), each chunk a
  ``ctypes`` call without the GIL; ``set_threads`` sets their number (``torch.set_num_threads``).

Compiling a small kernel takes a few milliseconds (Numba: 0.1-0.5 s), and the engine starts
in about 50 ms (Numba's first compile in a process: 0.5 s or more).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import threading
import warnings

from .kernel_cache import KernelCacheWarning, _writable, atomic_write, cache_dir

__all__ = [
    "NativeKernel",
    "build",
    "compile_later",
    "find",
    "get_threads",
    "link_compiled",
    "load_native",
    "native_stats",
    "object_path",
    "set_threads",
]

_lock = threading.RLock()
_loaded: dict[str, NativeKernel] = {}
_payloads: list[bytes] = []  # the object files linked into the engine (see ``_link``)
# what this process did, for tests and ``inspect``: compiled / read from disk / reused
native_stats = {"compiled": 0, "disk": 0, "memory": 0, "seconds": 0.0}
_MAGIC = b"kiln-native-1 "


def _machine(llvm):
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=3,
        reloc="default",
        codemodel="jitdefault",
        jit=True,
    )


_made: list = []  # [(llvmlite.binding, the engine)], once made
# cells holding the addresses of the Python objects kernels' entries use (the symbols
# kiln_ndarray_type, kiln_py_none, kiln_py_type_error)
_ndarray_cell, _none_cell, _type_error_cell = (ctypes.c_void_p(0) for _ in range(3))
_engine_lock = threading.Lock()


def _engine():
    """llvmlite's binding and the MCJIT engine every kernel is linked into.

    Made once, under a lock: the compile thread and the lowering thread may ask for it
    at the same moment, and a second engine would be freed with the code of every kernel
    linked into it (a later call then jumps into whatever took its memory: this happened,
    as a segfault, when a graph had both cached and new kernels).
    """
    if _made:
        return _made[0]
    with _engine_lock:
        if not _made:
            import llvmlite.binding as llvm

            llvm.ffi.register_lock_callback(_gate.exclusive, _gate.release)
            import numpy as np

            for name, cell, value in (
                ("kiln_ndarray_type", _ndarray_cell, np.ndarray),
                ("kiln_py_none", _none_cell, None),
                ("kiln_py_type_error", _type_error_cell, TypeError),
            ):
                cell.value = id(value)  # (objects that live as long as the process)
                llvm.add_symbol(name, ctypes.addressof(cell))
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _machine(llvm))
            _made.append((llvm, engine))
    return _made[0]


_local = threading.local()


def _compile_object(ir_text: str, interleave: bool = True) -> bytes:
    """Optimize and emit ``ir_text`` (on a compile thread, with its own LLVM context and
    target machine; LLVM releases the GIL while it works). ``interleave``: let the loop
    vectorizer run several vector iterations at once (several accumulators: reductions
    that stay in cache gain ~15%; elementwise loops nothing, and their code is ~30%
    quicker to compile without it)."""
    llvm, _ = _engine()
    if not hasattr(_local, "machine"):
        _local.context, _local.machine = llvm.create_context(), _machine(llvm)
        _local.compiler = True  # (a compile thread: see ``_Gate``)
    machine = _local.machine
    module = llvm.parse_assembly(ir_text, context=_local.context)
    module.triple = machine.triple
    module.data_layout = str(machine.target_data)
    module.verify()
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    # (unrolling the vectorized loops again roughly doubles the code LLVM then has to
    # emit, for little: measured on the MLP step's kernels, compile time -30%)
    options.loop_unrolling = False
    options.loop_interleaving = interleave
    builder = llvm.create_pass_builder(machine, options)
    passes = builder.getModulePassManager()
    # The two calls that take the time run outside llvmlite's process-wide lock, so that
    # two kernels compile at once: this thread has its own context, module, target machine
    # and pass builder, and LLVM compiles separate contexts concurrently (as its ORC JIT
    # does). ``_gate`` keeps them apart from every locked llvmlite call of other threads
    # (linking into the engine, Numba), which then waits for them, and they for it.
    from llvmlite.binding import ffi

    run = _unlocked(ffi, "LLVMPY_RunNewModulePassManager")
    emit = _unlocked(ffi, "LLVMPY_TargetMachineEmitToMemory")
    with ffi.OutputString() as error:  # (its disposal is a locked call: outside the gate)
        with _gate.shared():  # (nothing in here may take llvmlite's lock: it would wait)
            run(passes, module, builder)
            buffer = emit(machine, module, 1, error)
        if not buffer:
            raise RuntimeError(f"kiln: LLVM could not emit a kernel: {error}")
    try:
        return ctypes.string_at(
            ffi.lib.LLVMPY_GetBufferStart(buffer), ffi.lib.LLVMPY_GetBufferSize(buffer)
        )
    finally:
        ffi.lib.LLVMPY_DisposeMemoryBuffer(buffer)


def _unlocked(ffi, name: str):
    """llvmlite's C function ``name`` without its lock (``_gate`` stands in for it)."""
    wrapper = getattr(ffi.lib, name)
    return getattr(wrapper, "_cfn", wrapper)


class _Gate:
    """A readers-writer gate between the compile threads' unlocked LLVM calls (shared)
    and the calls other threads make through llvmlite's lock (exclusive: llvmlite calls
    ``exclusive`` and ``release`` when a thread takes and drops its lock, re-entrantly).
    A compile thread's own locked calls only touch its own context, module and target
    machine, like its unlocked ones, so they do not wait for the others."""

    def __init__(self):
        self.condition = threading.Condition()
        self.readers = 0
        self.writers = 0  # (llvmlite's lock is re-entrant: a depth)

    def exclusive(self) -> None:
        if getattr(_local, "compiler", False):
            return
        with self.condition:
            while self.readers:
                self.condition.wait()
            self.writers += 1

    def release(self) -> None:
        if getattr(_local, "compiler", False):
            return
        with self.condition:
            self.writers -= 1
            self.condition.notify_all()

    @contextlib.contextmanager
    def shared(self):
        with self.condition:
            while self.writers:
                self.condition.wait()
            self.readers += 1
        try:
            yield
        finally:
            with self.condition:
                self.readers -= 1
                self.condition.notify_all()


_gate = _Gate()


@functools.cache
def _versions() -> str:
    """What a kernel's machine code depends on besides its symbol (which already hashes
    its source and the compiler's version): LLVM's version and this CPU."""
    import llvmlite
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    return f"{_MAGIC.decode()}llvmlite {llvmlite.__version__} {llvm.get_host_cpu_name()} {features}"


def _key(symbol: str) -> str:
    return hashlib.sha256((_versions() + "\n" + symbol).encode()).hexdigest()[:32]


def _read_entry(path, key: str) -> tuple[bytes, bool] | None:
    """A cache entry's object code and whether the kernel is chunked, or None (missing;
    a damaged one is deleted)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    header, _, payload = data.partition(b"\n")
    expected = _MAGIC + key.encode() + b" "
    digest, _, chunked = header[len(expected) :].decode(errors="replace").partition(" ")
    if (
        header.startswith(expected)
        and digest == hashlib.sha256(payload).hexdigest()
        and chunked in ("0", "1")
    ):
        return payload, chunked == "1"
    warnings.warn(
        f"kiln: native kernel cache entry {path.name} in {path.parent} was damaged or "
        "truncated; deleted and rebuilt",
        KernelCacheWarning,
        stacklevel=4,
    )
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    return None


def object_path(symbol: str):
    """Where the object code of kernel ``symbol`` is cached."""
    return cache_dir() / "native" / f"{_key(symbol)}.o"


def _store(symbol: str, payload: bytes, chunked: bool) -> None:
    key = _key(symbol)
    digest = hashlib.sha256(payload).hexdigest()
    header = _MAGIC + key.encode() + f" {digest} {int(chunked)}".encode()
    try:
        folder = _writable(cache_dir() / "native")
        atomic_write(folder / f"{key}.o", header + b"\n" + payload)
    except OSError:  # a read-only cache: the kernel still runs
        pass


def _link(symbol: str, payload: bytes, arrays: int, sizes: int, chunked: bool):
    """Add an object file to the engine (under ``_lock``); its kernel."""
    kernel = _loaded.get(symbol)
    if kernel is not None:
        return kernel
    llvm, engine = _engine()
    # (MCJIT keeps the object file; whether llvmlite's refers to ``payload``'s bytes
    # without copying them is not documented: keep them as long as the engine, a few
    # kilobytes a kernel)
    _payloads.append(payload)
    engine.add_object_file(llvm.ObjectFileRef.from_data(payload))
    address = engine.get_function_address(symbol)
    if not address:
        raise RuntimeError(f"kiln: native kernel {symbol} did not link")
    argument_types = [ctypes.py_object] * arrays + [ctypes.c_int64] * (sizes + 2)
    function = ctypes.CFUNCTYPE(None, *argument_types)(address)
    entry = engine.get_function_address(symbol + "_py")
    kernel = NativeKernel(function, symbol, chunked, _builtin(entry, "kernel_serial"))
    _loaded[symbol] = kernel
    return kernel


def find(symbol: str, arrays: int, sizes: int):
    """The kernel ``symbol`` if this process has it or the disk cache holds it (then it
    is linked now), else None: ``build`` it."""
    with _lock:
        kernel = _loaded.get(symbol)
        if kernel is not None:
            native_stats["memory"] += 1
            return kernel
        key = _key(symbol)
        entry = _read_entry(cache_dir() / "native" / f"{key}.o", key)
        if entry is None:
            return None
        native_stats["disk"] += 1
        payload, chunked = entry
        return _link(symbol, payload, arrays, sizes, chunked)


_compilers = None  # the threads that run LLVM (created on first use)


class _Job:
    """A kernel compiling on LLVM's threads: ``done()``, ``result()`` (its object code).

    The compile thread stores the object file in the disk cache as soon as it has it, so
    a process that exits before it links the kernel (its first calls interpreted, see
    ``compiler/compile.py``) still leaves it for the next. A job inherited by a forked
    child (whose compile threads do not exist) is compiled again there."""

    def __init__(self, ir_text: str, interleave: bool, symbol: str | None, chunked: bool):
        self.ir_text, self.interleave = ir_text, interleave
        self.symbol, self.chunked = symbol, chunked
        self._start()

    def _start(self) -> None:
        global _compilers
        if _compilers is None:
            from concurrent.futures import ThreadPoolExecutor

            _compilers = ThreadPoolExecutor(max(1, _POOL.size), thread_name_prefix="kiln-llvm")
        self.pid = os.getpid()
        self.future = _compilers.submit(self._compile)

    def _compile(self) -> bytes:
        _lower_priority()
        payload = _compile_object(self.ir_text, self.interleave)
        if self.symbol is not None:
            _store(self.symbol, payload, self.chunked)
        return payload

    def _orphaned(self) -> bool:
        return self.pid != os.getpid() and not self.future.done()

    def done(self) -> bool:
        if self._orphaned():
            self._start()
        return self.future.done()

    def result(self) -> bytes:
        if self._orphaned():
            self._start()
        return self.future.result()


def _lower_priority() -> None:
    """Give this compile thread a lower scheduling priority (once), when
    ``KILN_COMPILE_NICE`` asks for one. Off by default: niced by 10, LLVM took the CPU time
    the rest of the process left, which helped a single interpreted first call (the MLP
    step's: 0.86 -> 0.50 s) but starved the compile under a loop of small interpreted
    steps (their OpenBLAS threads spin between calls): 9 kernels took 10 s instead of
    1.5 s (0.9 s with the process idle)."""
    if getattr(_local, "niced", False):
        return
    _local.niced = True
    nice = int(os.environ.get("KILN_COMPILE_NICE", "0"))
    if nice and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:  # (Linux: a thread's id names it to setpriority)
            tid = threading.get_native_id()
            os.setpriority(
                os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice)
            )
        except OSError:
            pass


def compile_later(
    ir_text: str, interleave: bool = True, symbol: str | None = None, chunked: bool = False
) -> _Job:
    """Start compiling ``ir_text`` to an object file on LLVM's threads (stored in the disk
    cache under ``symbol`` by the compile thread; ``None``: not stored); a ``_Job`` for its
    bytes. (The caller goes on
    generating the next kernel's IR meanwhile.)"""
    return _Job(ir_text, interleave, symbol, chunked)


def link_compiled(kernels) -> list:
    """Wait for ``kernels`` (``(symbol, job, arrays, sizes, chunked)`` each, the job from
    ``compile_later``, whose thread stored it), and link them; the ``NativeKernel``s, in order
    (or, for one LLVM refused, the exception)."""
    import time

    started = time.perf_counter()
    kernels = list(kernels)
    payloads = []
    for _, job, _, _, _ in kernels:
        try:
            payloads.append(job.result())
        except Exception as error:  # (a bug in the IR: the caller falls back to Numba)
            payloads.append(error)
    result = []
    with _lock:
        for (symbol, _, arrays, sizes, chunked), payload in zip(kernels, payloads):
            if isinstance(payload, Exception):
                result.append(payload)
                continue
            result.append(_link(symbol, payload, arrays, sizes, chunked))
    native_stats["compiled"] += len(kernels)
    native_stats["seconds"] += time.perf_counter() - started
    return result


def build(kernels) -> list:
    """Compile ``kernels`` (``(symbol, ir_text, arrays, sizes, chunked, interleave)``
    each), several at once, store and link them; the ``NativeKernel``s, in order."""
    built = link_compiled(
        (symbol, compile_later(text, interleave, symbol, chunked), arrays, sizes, chunked)
        for symbol, text, arrays, sizes, chunked, interleave in kernels
    )
    for kernel in built:
        if isinstance(kernel, Exception):
            raise kernel
    return built


def load_native(ir_text: str, symbol: str, arrays: int, sizes: int, chunked: bool):
    """The kernel ``symbol`` defined by ``ir_text`` (found, or built now)."""
    kernel = find(symbol, arrays, sizes)
    if kernel is None:
        [kernel] = build([(symbol, ir_text, arrays, sizes, chunked, True)])
    return kernel


class _MethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_METH_FASTCALL = 0x0080
_new_builtin = ctypes.pythonapi.PyCFunction_NewEx
_new_builtin.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]
_new_builtin.restype = ctypes.py_object
_method_defs: list = []  # (CPython keeps a pointer to each for the function's lifetime)


def _builtin(address: int, name: str):
    """A builtin function object calling the ``METH_FASTCALL`` entry at ``address``."""
    definition = _MethodDef(name.encode(), address, _METH_FASTCALL, None)
    _method_defs.append(definition)
    return _new_builtin(ctypes.byref(definition), None, None)


class NativeKernel:
    """A compiled kernel. ``function(*arrays, *sizes, chunk, chunks)`` is the C function
    (through ``ctypes``, which releases the GIL); ``entry`` the same as a builtin;
    ``serial(*arrays, *sizes)`` runs it whole on this thread; ``parallel`` splits its
    ``prange`` loop across the pool (when it is ``chunked``)."""

    def __init__(self, function, symbol: str, chunked: bool, entry):
        self.function = function
        # ``entry(*arrays, *sizes)``: the whole loop, called as a builtin (GIL held)
        self.entry = entry
        self.symbol = symbol
        self.chunked = chunked

        def serial(*arguments):
            function(*arguments, 0, 1)

        def parallel(*arguments):
            _POOL.run(function, arguments)  # (the module's pool: a forked child has its own)

        # (named as the Numba variants they replace: profiles and tests read the names)
        serial.__name__, parallel.__name__ = "kernel_serial", "kernel"
        self.serial = serial
        self.parallel = parallel if chunked else serial


class _Pool:
    """Persistent worker threads running chunks of one kernel call at a time."""

    def __init__(self):
        self.size = max(1, int(os.environ.get("KILN_NUM_THREADS", os.cpu_count() or 1)))
        self.lock = threading.Lock()
        self.workers: list[_Worker] = []

    def run(self, function, arguments) -> None:
        size = self.size
        if size == 1 or not self.lock.acquire(blocking=False):
            function(*arguments, 0, 1)  # one thread (or the pool is busy: another caller)
            return
        try:
            while len(self.workers) < size - 1:
                self.workers.append(_Worker())
            workers = self.workers[: size - 1]
            for k, worker in enumerate(workers, start=1):
                worker.submit(function, arguments, k, size)
            function(*arguments, 0, size)
            for worker in workers:
                worker.wait()
        finally:
            self.lock.release()


class _Worker:
    def __init__(self):
        self.start = threading.Semaphore(0)
        self.done = threading.Semaphore(0)
        self.task = None
        self.error = None
        thread = threading.Thread(target=self.loop, name="kiln-kernel-worker", daemon=True)
        thread.start()

    def submit(self, function, arguments, chunk, chunks) -> None:
        self.task = (function, arguments, chunk, chunks)
        self.start.release()

    def wait(self) -> None:
        self.done.acquire()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def loop(self) -> None:
        while True:
            self.start.acquire()
            function, arguments, chunk, chunks = self.task
            self.task = None
            try:
                function(*arguments, chunk, chunks)
            except BaseException as error:  # (reported by ``wait``)
                self.error = error
            self.done.release()


_POOL = _Pool()


def _after_fork_in_child() -> None:
    """A forked child (a DataLoader worker) has none of the parent's threads: start a
    new pool there, or the first parallel kernel would wait for workers forever."""
    global _POOL, _lock, _compilers, _engine_lock
    size = _POOL.size
    _POOL = _Pool()
    _POOL.size = size
    _lock = threading.RLock()
    _compilers = None
    _engine_lock = threading.Lock()
    # (a compile thread of the parent may have been inside the gate: the child has none)
    _gate.condition = threading.Condition()
    _gate.readers = _gate.writers = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def set_threads(count: int) -> None:
    """Run parallel kernels on ``count`` threads (this one included)."""
    _POOL.size = max(1, int(count))


def get_threads() -> int:
    return _POOL.size
