"""Native CPU kernels: LLVM IR -> machine code (llvmlite), cached on disk, called from Python.

``compiler/codegen/native.py`` writes each CPU kernel as LLVM IR; this module optimizes it
(LLVM's ``O3`` pipeline, loop and SLP vectorizers on, for this machine's CPU; a kernel over
at most ``QUICK_WORK`` elements gets a quick pipeline instead, a tenth of the CPU time),
emits an object file, links it into one in-process MCJIT engine and returns a callable:

- **Disk cache.** The object file is stored under ``native/`` in the kernel cache folder
  (``kernel_cache.cache_dir()``), named by a hash of the kernel's symbol (itself a hash of
  the kernel's source, signature and the compiler's version) and of what the machine code
  depends on (llvmlite's LLVM, the CPU's name and features). An entry is a header line
  with the payload's SHA-256 and whether the kernel runs in chunks, followed by the object
  code; one that does not match (truncated, damaged) is deleted and rebuilt with a
  ``KernelCacheWarning``, never loaded. Writes are atomic (``kernel_cache.atomic_write``).
- **Calls.** A kernel is a C function taking the NumPy arrays themselves (it reads their
  data pointers), the sizes, and a chunk number and count; the executor calls small work
  through a ``METH_FASTCALL`` entry, wrapped as a builtin function (``NativeKernel.entry``:
  the kernel's own, or the one shared by every kernel of its argument layouts,
  ``_shared_entry``), and large work through ``ctypes``, which releases the GIL.
- **Threads.** ``NativeKernel.parallel`` calls run the chunks of the kernel's ``prange``
  loop on a small pool of persistent threads (this thread runs chunk 0), each chunk a
  ``ctypes`` call without the GIL; ``set_threads`` sets their number (``torch.set_num_threads``).

Compiling a small kernel takes a few milliseconds (Numba: 0.1-0.5 s), and the engine starts
in about 50 ms (Numba's first compile in a process: 0.5 s or more).
"""

from __future__ import annotations

import _thread
import contextlib
import ctypes
import functools
import hashlib
import logging
import os
import re
import shutil
import sys
import threading
import warnings
from typing import NamedTuple

from .kernel_cache import KernelCacheWarning, _writable, atomic_write, cache_dir

__all__ = [
    "NativeKernel",
    "build",
    "compile_later",
    "find",
    "get_threads",
    "kernel_seconds",
    "link_compiled",
    "load_native",
    "native_stats",
    "object_path",
    "set_threads",
    "wait_for_bundles",
]

_log = logging.getLogger(__name__)
_lock = threading.RLock()
_loaded: dict[str, NativeKernel] = {}
_payloads: list[bytes] = []  # the object files linked into the engine (see ``_link``)
# what this process did, for tests and ``inspect``: compiled / read from disk / reused
native_stats = {"compiled": 0, "disk": 0, "shared": 0, "memory": 0, "seconds": 0.0}
_MAGIC = b"kiln-native-2 "
# A kernel over at most this many elements (its loop's, or its largest array's) is
# compiled by the quick pipeline (``_compile_object``; its IR starts with ``QUICK_MARK``):
# at this size the loop is a small part of a call, vectorized or not. ``KILN_QUICK_WORK``
# sets it (0: every kernel gets the full pipeline).
QUICK_WORK = int(os.environ.get("KILN_QUICK_WORK", "128"))
# (the first line of such a kernel's IR, and part of its name: ``describe``; a change to
# the quick pipeline bumps its number, so that no kernel compiled by the old one is reused)
QUICK_MARK = "; kiln: quick pipeline 1\n"


def _machine(llvm, shared: bool = False, opt: int = 3):
    """The target machine for this CPU: for MCJIT (absolute addresses in the large code
    model, as JITs use: MCJIT may place a kernel's sections far apart), or for a shared
    library (``shared``: position-independent code, the small code model; ``_bundle``).
    ``opt``: its code generation level (0: fast instruction selection, for quick kernels)."""
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=opt,
        reloc="pic" if shared else "default",
        codemodel="small" if shared else "jitdefault",
        jit=not shared,
    )


_made: list = []  # [(llvmlite.binding, the engine)], once made
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
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _machine(llvm))
            _made.append((llvm, engine))
    return _made[0]


_local = threading.local()


def _compile_object(ir_text: str, interleave: bool = True, shared: bool = False) -> bytes:
    """Optimize and emit ``ir_text`` (on a compile thread, with its own LLVM context and
    target machines; LLVM releases the GIL while it works). ``interleave``: let the loop
    vectorizer run several vector iterations at once (several accumulators: reductions
    that stay in cache gain ~15%; elementwise loops nothing, and their code is ~30%
    quicker to compile without it). ``shared``: position-independent code for a shared
    library (``_bundle``), else for MCJIT. IR that starts with ``QUICK_MARK`` (a kernel
    whose work is small: ``QUICK_WORK``) gets the quick pipeline: a few cleanup passes
    (``_quick_passes``: no loop or SLP vectorizer) and code emitted by the target machine
    at ``opt=0`` (LLVM's fast instruction selection and register allocator), a tenth of
    the full pipeline's CPU time (on ``bench/compile_profile.py``'s 34 kernels: 0.11 s
    against 1.1 s). The IR says it, so that every path that compiles it (a new kernel, a
    bundle's copy) compiles it alike."""
    quick = ir_text.startswith(QUICK_MARK)
    llvm, _ = _engine()
    if not hasattr(_local, "machines"):
        _local.context, _local.machines = llvm.create_context(), {}
        _local.compiler = True  # (a compile thread: see ``_Gate``)
    machine = _local.machines.get((shared, quick))
    if machine is None:
        machine = _local.machines[shared, quick] = _machine(llvm, shared, 0 if quick else 3)
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
    passes = _quick_passes(llvm) if quick else builder.getModulePassManager()
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


def _quick_passes(llvm):
    """The quick pipeline's passes: what turns the generated code (every local an
    ``alloca``, as Numba's lowering writes it) into plain SSA and cleans it, and no more:
    SROA, InstCombine, SimplifyCFG, InstCombine and SimplifyCFG again, aggressive DCE
    (after inlining the ``alwaysinline`` helpers). On ``bench/compile_profile.py``'s 34
    kernels, optimizing and emitting (at ``opt=0``) takes 0.11 s of CPU against 0.33 s
    with ``O3``'s pipeline less the vectorizers and 1.1 s with the full pipeline; a
    kernel's run time over 128 elements against ``O3`` less the vectorizers: tanh GELU
    1.65 / 1.65 us, softmax rows 1.42 / 1.24 us, layernorm rows 0.35 / 0.31 us."""
    passes = llvm.create_new_module_pass_manager()
    passes.add_always_inliner_pass()
    passes.add_sroa_pass()
    passes.add_instruction_combine_pass()
    passes.add_simplify_cfg_pass()
    passes.add_instruction_combine_pass()
    passes.add_simplify_cfg_pass()
    passes.add_aggressive_dce_pass()
    return passes


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


def _host_identity() -> str | None:
    """What names this machine's CPU and this llvmlite without loading LLVM: the CPU's
    model and feature flags (``/proc/cpuinfo``) and llvmlite's library (version, size,
    time). None where there is no ``/proc/cpuinfo``."""
    import llvmlite

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            lines = sorted({line.strip() for line in file if line.startswith(_CPU_FIELDS)})
        library = os.stat(os.path.join(os.path.dirname(llvmlite.__file__), "binding"))
    except OSError:
        return None
    if not lines:
        return None
    return "\n".join([llvmlite.__version__, str(library.st_mtime_ns), *lines])


_CPU_FIELDS = ("model name", "flags", "Features", "CPU part", "CPU implementer", "isa")


@functools.cache
def _versions() -> str:
    """What a kernel's machine code depends on besides its symbol (which already hashes
    its source and the compiler's version): LLVM's version and this CPU's name and
    features as LLVM sees them.

    Asking LLVM means loading llvmlite's binding (about 40 ms): the answer is kept in the
    cache folder under a hash of ``_host_identity()``, so a process whose kernels are all
    on disk (as shared libraries, ``_bundle``) never loads LLVM."""
    identity = _host_identity()
    memo = None
    if identity is not None:
        name = hashlib.sha256((_MAGIC.decode() + identity).encode()).hexdigest()[:32]
        memo = cache_dir() / "native" / f"host-{name}.txt"
        try:
            text, _, digest = memo.read_text(encoding="utf-8").rpartition("\n")
            if text.startswith(_MAGIC.decode()) and digest == _digest(text.encode()):
                return text
        except (OSError, ValueError):
            pass
    import llvmlite
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    text = f"{_MAGIC.decode()}llvmlite {llvmlite.__version__} {llvm.get_host_cpu_name()} {features}"
    if memo is not None:
        try:
            folder = _writable(memo.parent)
            atomic_write(folder / memo.name, f"{text}\n{_digest(text.encode())}".encode())
        except OSError:  # (a read-only cache)
            pass
    return text


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _key(symbol: str) -> str:
    return hashlib.sha256((_versions() + "\n" + symbol).encode()).hexdigest()[:32]


class _Entry(NamedTuple):
    payload: bytes  # the object file
    chunked: bool
    shared: tuple[str, str] | None  # (file name, SHA-256) of a shared library with it


def _read_entry(path, key: str) -> _Entry | None:
    """A cache entry, or None (missing; a damaged one is deleted)."""
    try:
        data = path.read_bytes()
    except OSError:  # missing, or not a file (a folder, a loop of links): built again
        return None
    header, _, payload = data.partition(b"\n")
    expected = _MAGIC + key.encode() + b" "
    fields = header[len(expected) :].decode(errors="replace").split(" ")
    shared = None
    if len(fields) == 3 and fields[2].count(":") == 1:
        name, digest = fields.pop().split(":")
        if _BUNDLE_NAME.fullmatch(name) and len(digest) == 64:
            shared = (name, digest)
    if (
        header.startswith(expected)
        and len(fields) == 2
        and fields[0] == _digest(payload)
        and fields[1] in ("0", "1")
    ):
        return _Entry(payload, fields[1] == "1", shared)
    _damaged(path)
    return None


def _damaged(path) -> None:
    warnings.warn(
        f"kiln: native kernel cache entry {path.name} in {path.parent} was damaged or "
        "truncated; deleted and rebuilt",
        KernelCacheWarning,
        stacklevel=5,
    )
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def object_path(symbol: str):
    """Where the object code of kernel ``symbol`` is cached."""
    return cache_dir() / "native" / f"{_key(symbol)}.o"


def _store(symbol: str, payload: bytes, chunked: bool, shared: tuple[str, str] | None = None):
    key = _key(symbol)
    header = _MAGIC + key.encode() + f" {_digest(payload)} {int(chunked)}".encode()
    if shared is not None:
        header += f" {shared[0]}:{shared[1]}".encode()
    try:
        folder = _writable(cache_dir() / "native")
        atomic_write(folder / f"{key}.o", header + b"\n" + payload)
    except OSError:  # a read-only cache: the kernel still runs
        pass


def _link(
    symbol: str, payload: bytes, arrays: int, sizes: int, chunked: bool, layouts: str | None = None
):
    """Add an object file to the engine (under ``_lock``); its kernel (called through the
    shared entry of ``layouts``, else through its own ``<symbol>_py``)."""
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
    entry = 1 if layouts is not None else engine.get_function_address(symbol + "_py")
    if not address or not entry:
        raise RuntimeError(f"kiln: native kernel {symbol} did not link")
    if layouts is not None:
        entry = _shared_entry(layouts, sizes)
    return _kernel(symbol, address, entry, arrays, sizes, chunked, layouts is not None)


def _kernel(
    symbol: str,
    address: int,
    entry: int,
    arrays: int,
    sizes: int,
    chunked: bool,
    shared_entry: bool = False,
):
    argument_types = [ctypes.py_object] * arrays + [ctypes.c_int64] * (sizes + 2)
    function = ctypes.CFUNCTYPE(None, *argument_types)(address)
    # (a shared entry finds the kernel in its ``self``: ``_shared_entry_ir``)
    own = _entry_self() + (address, symbol) if shared_entry else _entry_self()
    kernel = NativeKernel(function, symbol, chunked, _builtin(entry, "kernel_serial", own))
    _loaded[symbol] = kernel
    return kernel


# ------------------------------------------------------------------ shared entries
#
# The executor calls a kernel through a CPython ``METH_FASTCALL`` entry. A kernel compiled
# by ``compiler/codegen/native.py`` with ``entry=False`` has none of its own: every kernel
# of the same argument layouts and size count is called through one shared entry, which
# reads the kernel's address (and its name, for errors) from its ``self`` tuple. Compiling
# an entry per kernel took about a third of a small kernel's LLVM time (1.2 ms of 3.2 ms
# with the quick pipeline). An entry is compiled once per process (on a compile thread),
# cached on disk as a kernel is, and put in every bundle whose kernels call it.

_entries: dict[tuple[str, int], int] = {}  # (layouts, sizes) -> its entry's address


def _entry_name(layouts: str, sizes: int) -> str:
    # (the number: bumped when ``_shared_entry_ir`` changes, as the disk cache keys it)
    return f"kiln_entry1_{layouts}_{sizes}"


def _shared_entry(layouts: str, sizes: int, library=None) -> int:
    """(under ``_lock``) The address of the shared entry for kernels whose array arguments
    have ``layouts`` (one letter each: ``C``, checked C-contiguous, or ``A``) followed by
    ``sizes`` integers: found in ``library`` (a bundle), linked before, read from the disk
    cache or compiled now."""
    key = (layouts, sizes)
    address = _entries.get(key)
    if address is not None:
        return address
    name = _entry_name(layouts, sizes)
    if library is not None:
        try:
            address = ctypes.cast(library[name], ctypes.c_void_p).value
        except AttributeError:
            address = None
        if address:
            _entries[key] = address
            return address
    disk_key = _key(name)
    stored = _read_entry(cache_dir() / "native" / f"{disk_key}.o", disk_key)
    if stored is not None:
        payload = stored.payload
    else:
        payload = _entry_compiler().submit(_compile_entry, layouts, sizes).result()
    llvm, engine = _engine()
    _payloads.append(payload)
    engine.add_object_file(llvm.ObjectFileRef.from_data(payload))
    address = engine.get_function_address(name)
    if not address:
        raise RuntimeError(f"kiln: native kernel entry {name} did not link")
    _entries[key] = address
    return address


_entry_compilers: list = []  # [the thread that compiles shared entries], once started


def _entry_compiler():
    """The thread that compiles shared entries: their own, so that an entry (wanted now,
    by the thread that links a kernel) never waits behind kernels queued for LLVM's
    threads (a tiered compile's, in the background)."""
    if not _entry_compilers:
        from concurrent.futures import ThreadPoolExecutor

        _entry_compilers.append(ThreadPoolExecutor(1, thread_name_prefix="kiln-llvm-entry"))
    return _entry_compilers[0]


def _compile_entry(layouts: str, sizes: int) -> bytes:
    """(on the entry thread) A shared entry's object code, stored in the disk cache."""
    payload = _compile_object(_shared_entry_ir(layouts, sizes), False)
    _store(_entry_name(layouts, sizes), payload, False)
    return payload


# where a PyTupleObject's items start, in pointers (after ob_refcnt, ob_type, ob_size)
_TUPLE_ITEMS = 3
_ARRAY_FLAGS = 64  # (where a PyArrayObject's flags are, in bytes)


def entry_arguments_ir(layouts: str, sizes: int, refusal) -> tuple[list[str], list[str]]:
    """The checks a kernel's CPython entry makes, as IR lines from its ``entry:`` block on:
    the argument count (a wrong one returns NULL: Python raises SystemError), each array's
    type (``numpy.ndarray``, from the entry's ``self`` tuple, or a subtype) and, for a
    ``"C"`` layout, its C-contiguity, then the sizes read as ``i64``. ``refusal(k)``: the
    lines that set the error for argument ``k`` before the entry returns NULL. Returns the
    lines and the kernel's arguments (arrays, sizes, then chunk 0 of 1). Shared by the
    per-argument-layout entries (``_shared_entry_ir``) and a kernel's own
    (``compiler/codegen/native.py``'s ``_python_entry``)."""
    arrays = len(layouts)
    lines = [
        "entry:",
        f"  %count = icmp eq i64 %nargs, {arrays + sizes}",
        "  br i1 %count, label %call, label %wrong",
        "wrong:",
        "  ret i8* null",
        "call:",
        "  %items = bitcast i8* %self to i8**",
        f"  %ndarray_at = getelementptr i8*, i8** %items, i64 {_TUPLE_ITEMS}",
        "  %ndarray = load i8*, i8** %ndarray_at",
    ]
    for k in range(arrays):
        lines += [
            f"  %p{k} = getelementptr i8*, i8** %args, i64 {k}",
            f"  %a{k} = load i8*, i8** %p{k}",
            f"  %tp{k} = getelementptr i8, i8* %a{k}, i64 8",
            f"  %tc{k} = bitcast i8* %tp{k} to i8**",
            f"  %t{k} = load i8*, i8** %tc{k}",
            f"  %exact{k} = icmp eq i8* %t{k}, %ndarray",
            f"  br i1 %exact{k}, label %array{k}, label %subtype{k}",
            f"subtype{k}:",
            f'  %sub{k} = call i32 @"PyType_IsSubtype"(i8* %t{k}, i8* %ndarray)',
            f"  %issub{k} = icmp ne i32 %sub{k}, 0",
            f"  br i1 %issub{k}, label %array{k}, label %refused{k}",
            f"refused{k}:",
            *refusal(k),
            "  ret i8* null",
            f"array{k}:",
        ]
        if layouts[k] == "C":  # NPY_ARRAY_C_CONTIGUOUS in PyArrayObject's flags
            lines += [
                f"  %fp{k} = getelementptr i8, i8* %a{k}, i64 {_ARRAY_FLAGS}",
                f"  %fc{k} = bitcast i8* %fp{k} to i32*",
                f"  %flags{k} = load i32, i32* %fc{k}",
                f"  %cbit{k} = and i32 %flags{k}, 1",
                f"  %contiguous{k} = icmp ne i32 %cbit{k}, 0",
                f"  br i1 %contiguous{k}, label %checked{k}, label %refused{k}",
                f"checked{k}:",
            ]
    values = [f"i8* %a{k}" for k in range(arrays)]
    for k in range(sizes):
        lines += [
            f"  %sp{k} = getelementptr i8*, i8** %args, i64 {arrays + k}",
            f"  %so{k} = load i8*, i8** %sp{k}",
            f'  %size{k} = call i64 @"PyLong_AsSsize_t"(i8* %so{k})',
        ]
        values.append(f"i64 %size{k}")
    values += ["i64 0", "i64 1"]
    return lines, values


def _shared_entry_ir(layouts: str, sizes: int) -> str:
    """The shared entry of ``layouts`` and ``sizes`` as IR text (quick pipeline): a
    CPython ``METH_FASTCALL`` function ``PyObject *f(PyObject *self, PyObject *const
    *args, Py_ssize_t nargs)`` running the whole loop of the kernel (chunk 0 of 1) with
    the GIL held; ``self`` is ``(numpy.ndarray, None, TypeError, the kernel's address, its
    name)``, read at the items' offsets in a ``PyTupleObject``.

    It refuses what the kernel cannot read: a wrong argument count (NULL: Python raises
    SystemError), an argument that is not a NumPy array (its type is not ``ndarray`` nor a
    subtype) or a C-layout one that is not C-contiguous (TypeError, naming the kernel and
    the argument). As ``compiler/codegen/native.py``'s per-kernel ``_python_entry``, it
    needs nothing but CPython's C functions, so that a bundle (a shared library) holds it."""
    arrays = len(layouts)
    name = _entry_name(layouts, sizes)
    text = "kiln: native kernel %U: argument %d is not a C-contiguous array"
    size = len(text) + 1

    def refusal(k: int) -> list[str]:  # (TypeError naming the kernel and the argument)
        return [
            f"  %error_at{k} = getelementptr i8*, i8** %items, i64 {_TUPLE_ITEMS + 2}",
            f"  %error{k} = load i8*, i8** %error_at{k}",
            f"  %name_at{k} = getelementptr i8*, i8** %items, i64 {_TUPLE_ITEMS + 4}",
            f"  %name{k} = load i8*, i8** %name_at{k}",
            f'  %text{k} = bitcast [{size} x i8]* @"{name}_message" to i8*',
            f'  %ignored{k} = call i8* (i8*, i8*, ...) @"PyErr_Format"(i8* %error{k}, '
            f"i8* %text{k}, i8* %name{k}, i32 {k})",
        ]

    checks, values = entry_arguments_ir(layouts, sizes, refusal)
    lines = [
        QUICK_MARK.rstrip("\n"),
        f'@"{name}_message" = private constant [{size} x i8] c"{text}\\00"',
        # (``optnone``: a straight line of checks; optimized, it costs LLVM more than a
        # few nanoseconds a call are worth)
        f'define i8* @"{name}"(i8* %self, i8** %args, i64 %nargs) noinline optnone',
        "{",
        *checks,
    ]
    signature = ", ".join(["i8*"] * arrays + ["i64"] * (sizes + 2))
    lines += [
        f"  %address_at = getelementptr i8*, i8** %items, i64 {_TUPLE_ITEMS + 3}",
        "  %address = load i8*, i8** %address_at",
        '  %pointer = call i8* @"PyLong_AsVoidPtr"(i8* %address)',
        f"  %kernel = bitcast i8* %pointer to void ({signature})*",
        f"  call void %kernel({', '.join(values)})",
        f"  %none_at = getelementptr i8*, i8** %items, i64 {_TUPLE_ITEMS + 1}",
        "  %none = load i8*, i8** %none_at",
        '  call void @"Py_IncRef"(i8* %none)',
        "  ret i8* %none",
        "}",
        "",
        'declare i64 @"PyLong_AsSsize_t"(i8*)',
        'declare i8* @"PyLong_AsVoidPtr"(i8*)',
        'declare void @"Py_IncRef"(i8*)',
        'declare i32 @"PyType_IsSubtype"(i8*, i8*)',
        'declare i8* @"PyErr_Format"(i8*, i8*, ...)',
    ]
    return "\n".join(lines) + "\n"


def find(symbol: str, arrays: int, sizes: int, layouts: str | None = None):
    """The kernel ``symbol`` if this process has it or the disk cache holds it (then it
    is loaded now: from its shared library when there is a sound one, else its object
    file is linked), else None: ``build`` it. ``layouts``: its arrays' layouts, for a
    kernel called through a shared entry (``_shared_entry``; None: its own)."""
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
        if entry.shared is not None:
            library = _open_bundle(*entry.shared)
            if library is not None:
                try:
                    address = ctypes.cast(library[symbol], ctypes.c_void_p).value
                    if layouts is None:
                        entry_address = library[symbol + "_py"]
                        entry_address = ctypes.cast(entry_address, ctypes.c_void_p).value
                    else:
                        entry_address = _shared_entry(layouts, sizes, library)
                except AttributeError:  # (not in it: a bundle of other kernels)
                    pass
                else:
                    native_stats["shared"] += 1
                    return _kernel(
                        symbol,
                        address,
                        entry_address,
                        arrays,
                        sizes,
                        entry.chunked,
                        layouts is not None,
                    )
        kernel = _link(symbol, entry.payload, arrays, sizes, entry.chunked, layouts)
        if _shared_enabled():
            _unbundled[symbol] = entry
        return kernel


def bundle_found(kernels) -> None:
    """Make a bundle of the kernels among ``kernels`` (``(symbol, make_ir)`` each,
    ``make_ir()`` giving ``(ir_text, interleave)`` as for ``compile_later``; a third item,
    the ``entry`` as for ``compile_later``, if any) that ``find``
    linked from their object files for want of a bundle: the process that compiled them
    exited before it had made theirs (or it was damaged). In the background, as for new
    kernels; the IR is written on the bundle thread."""
    stored = []
    with _lock:
        for symbol, make_ir, *shared_entry in kernels:
            entry = _unbundled.pop(symbol, None)  # (a kernel may be called twice)
            if entry is not None:
                stored.append((symbol, _Stored(make_ir, entry, *shared_entry)))
    if stored:
        _bundle_later(stored)


class _Stored:
    """A kernel ``find`` linked from its object file, as ``_bundle`` takes a ``_Job``: its
    IR is made on demand (on the bundle thread)."""

    def __init__(self, make_ir, entry: _Entry, shared_entry=None):
        self._make_ir, self._payload, self.chunked = make_ir, entry.payload, entry.chunked
        self.entry = shared_entry  # (as ``_Job.entry``)

    def result(self) -> bytes:
        return self._payload

    @functools.cached_property
    def _ir(self) -> tuple[str, bool]:
        return self._make_ir()

    @property
    def ir_text(self) -> str:
        return self._ir[0]

    @property
    def interleave(self) -> bool:
        return self._ir[1]


# ------------------------------------------------------------- shared-library bundles
#
# Linking an object file into MCJIT needs llvmlite's binding, and loading that costs a
# process about 40 ms, a third of a warm first call. So the kernels a compile produced are
# also linked, in the background, into one shared library (a "bundle", by the system's
# ``ld``), named in each kernel's entry with its SHA-256: a later process loads the bundle
# with ``dlopen`` (about 0.1 ms) once its bytes verify, and never loads LLVM. Without
# ``ld``, with ``KILN_NATIVE_SHARED=0``, or when a bundle is missing, damaged or refused
# by the loader, the object file is linked into MCJIT as before.

_BUNDLE_NAME = re.compile(r"bundle-[0-9a-f]{32}\.so")
_bundles: dict[str, object] = {}  # file name -> the loaded library, or None (unusable)
_unbundled: dict[str, _Entry] = {}  # symbol -> its entry, linked by ``find`` without a bundle
_linker = None  # (queue, thread) of the thread that makes bundles (started on first use)
_EXIT_WAIT_SECONDS = 2.0  # how long an exiting process waits for its bundles


def _shared_enabled() -> bool:
    return os.environ.get("KILN_NATIVE_SHARED", "1") != "0" and sys.platform == "linux"


def _open_bundle(name: str, digest: str):
    """The loaded bundle ``name`` if its bytes hash to ``digest``, else None (a damaged
    one is deleted, with a warning; the caller links the object file instead)."""
    if name in _bundles:
        return _bundles[name]
    library = None
    if _shared_enabled():
        path = cache_dir() / "native" / name
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            descriptor = None
        if descriptor is not None:
            try:
                with os.fdopen(os.dup(descriptor), "rb") as file:
                    data = file.read()
                if _digest(data) == digest:
                    # (the file verified is the one loaded: the same open descriptor)
                    library = ctypes.CDLL(f"/proc/self/fd/{descriptor}")
                else:
                    warnings.warn(
                        f"kiln: native kernel library {name} in {path.parent} was damaged "
                        "or truncated; deleted (its kernels link from their object files)",
                        KernelCacheWarning,
                        stacklevel=5,
                    )
                    with contextlib.suppress(OSError):
                        path.unlink()
            except OSError:  # (the loader refused it: no ``ld``-made file should be)
                library = None
            finally:
                os.close(descriptor)
    _bundles[name] = library
    return library


def _bundle_later(kernels) -> None:
    """Make a bundle of ``kernels`` (``(symbol, job)`` each, the job from
    ``compile_later``) in the background (``_bundle``)."""
    global _linker
    kernels = [k for k in kernels if k[0] is not None]
    if not kernels or not _shared_enabled() or shutil.which("ld") is None:
        return
    if _linker is None:
        import atexit
        import queue

        work = queue.Queue()
        thread = threading.Thread(target=_bundle_loop, args=(work,), name="kiln-ld", daemon=True)
        thread.start()
        _linker = (work, thread)
        atexit.register(_wait_for_bundles, work)
    _linker[0].put(kernels)


def _bundle_loop(work) -> None:
    # Bundles are for later processes: this thread (and its ``ld``) runs at the lowest
    # priority, so that it takes only CPU time this process leaves idle (at its normal
    # priority, the demo's compiled steps ran at ~350 steps/s instead of ~1,300 while the
    # bundle of its 9 kernels was made beside them on two cores).
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    while True:
        kernels = work.get()
        try:
            _bundle(kernels)
        except Exception:  # (best effort: the object files still serve)
            _log.debug("kiln: a kernel bundle failed", exc_info=True)
        finally:
            work.task_done()


def _wait_for_bundles(work, seconds: float = _EXIT_WAIT_SECONDS) -> bool:
    """(at exit) Give the bundles still being made a moment to be stored."""
    import time

    deadline = time.monotonic() + seconds
    while work.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)
    return not work.unfinished_tasks


def wait_for_bundles(timeout: float | None = None) -> bool:
    """Wait until the kernel bundles this process started are stored (at most
    ``timeout`` seconds); whether none is left. A process exits waiting at most
    ``_EXIT_WAIT_SECONDS`` for them: one that exits sooner leaves the object files only,
    which the next process links as before."""
    if _linker is None:
        return True
    return _wait_for_bundles(_linker[0], float("inf") if timeout is None else timeout)


def _bundle(kernels) -> str | None:
    """(on the bundle thread) Compile ``kernels`` again as position-independent code,
    link them into one shared library with ``ld``, store it (``bundle-<hash>.so``) and
    name it with its SHA-256 in each kernel's entry; its file name, or None."""
    import subprocess
    import tempfile

    objects = []  # (symbol, its job, its position-independent object code)
    entries = set()  # the shared entries they call
    for symbol, job in kernels:
        try:
            job.result()  # (LLVM accepted its IR)
        except Exception:  # (that kernel is Numba's)
            continue
        objects.append((symbol, job, _compile_object(job.ir_text, job.interleave, shared=True)))
        if job.entry is not None:
            entries.add(job.entry)
    if not objects:
        return None
    # (not stored under their own names: they are part of the bundle, as its kernels)
    extra = [_compile_object(_shared_entry_ir(*entry), False, shared=True) for entry in entries]
    keys = sorted(_key(symbol) for symbol, _, _ in objects)
    name = f"bundle-{hashlib.sha256(' '.join(keys).encode()).hexdigest()[:32]}.so"
    folder = _writable(cache_dir() / "native")
    _sweep_scratch(folder)
    with tempfile.TemporaryDirectory(dir=folder, prefix="ld-") as scratch:
        paths = []
        for number, code in enumerate([code for _, _, code in objects] + extra):
            paths.append(os.path.join(scratch, f"{number}.o"))
            with open(paths[-1], "wb") as file:
                file.write(code)
        output = os.path.join(scratch, "bundle.so")
        done = subprocess.run(
            ["ld", "-shared", "-z", "noexecstack", "-o", output, *paths],
            capture_output=True,
            timeout=120,
        )
        if done.returncode != 0:
            _log.debug("kiln: ld refused a kernel bundle: %s", done.stderr[-2000:])
            return None
        with open(output, "rb") as file:
            data = file.read()
    atomic_write(folder / name, data)
    shared = (name, _digest(data))
    for symbol, job, _ in objects:  # (the entries again, with the bundle named)
        _store(symbol, job.result(), job.chunked, shared)
    return name


_SCRATCH_SECONDS = 600.0  # an ``ld-*`` folder older than this was left by a dead process


def _sweep_scratch(folder) -> None:
    """Delete the scratch folders of bundles that were never finished (their process
    exited meanwhile: its bundle thread is a daemon) once they are ``_SCRATCH_SECONDS``
    old; a younger one may be another process's, at work."""
    import time

    now = time.time()
    for scratch in folder.glob("ld-*"):
        with contextlib.suppress(OSError):
            if now - scratch.stat().st_mtime > _SCRATCH_SECONDS:
                shutil.rmtree(scratch, ignore_errors=True)


_compilers = None  # the threads that run LLVM (created on first use)
_kernel_seconds: list[float] = []  # [a moving average of a kernel's compile time], once known


def _measured_kernel(seconds: float) -> None:
    if _kernel_seconds:
        _kernel_seconds[0] += 0.25 * (seconds - _kernel_seconds[0])
    else:
        _kernel_seconds.append(seconds)


def kernel_seconds(default: float) -> float:
    """How long LLVM takes for a kernel in this process lately (wall time on its compile
    thread, a moving average), or ``default`` before the first."""
    return _kernel_seconds[0] if _kernel_seconds else default


class _Job:
    """A kernel compiling on LLVM's threads: ``done()``, ``result()`` (its object code).

    The compile thread stores the object file in the disk cache as soon as it has it, so
    a process that exits before it links the kernel (its first calls interpreted, see
    ``compiler/compile.py``) still leaves it for the next. A job inherited by a forked
    child (whose compile threads do not exist) is compiled again there."""

    def __init__(
        self, ir_text: str, interleave: bool, symbol: str | None, chunked: bool, entry=None
    ):
        self.ir_text, self.interleave = ir_text, interleave
        self.symbol, self.chunked = symbol, chunked
        self.entry = entry  # (layouts, sizes) of the shared entry it is called through
        self._start()

    def _start(self) -> None:
        global _compilers
        if _compilers is None:
            from concurrent.futures import ThreadPoolExecutor

            _compilers = ThreadPoolExecutor(max(1, _POOL.size), thread_name_prefix="kiln-llvm")
        self.pid = os.getpid()
        self.future = _compilers.submit(self._compile)

    def _compile(self) -> bytes:
        import time

        _lower_priority()
        started = time.perf_counter()
        payload = _compile_object(self.ir_text, self.interleave)
        _measured_kernel(time.perf_counter() - started)
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
    ir_text: str,
    interleave: bool = True,
    symbol: str | None = None,
    chunked: bool = False,
    entry: tuple[str, int] | None = None,
) -> _Job:
    """Start compiling ``ir_text`` to an object file on LLVM's threads (stored in the disk
    cache under ``symbol`` by the compile thread; ``None``: not stored); a ``_Job`` for its
    bytes. ``entry``: the ``(layouts, sizes)`` of the shared entry the kernel is called
    through (a bundle of it must hold that entry too), None: its own. (The caller goes on
    generating the next kernel's IR meanwhile.)"""
    return _Job(ir_text, interleave, symbol, chunked, entry)


def link_compiled(kernels) -> list:
    """Wait for ``kernels`` (``(symbol, job, arrays, sizes, chunked)`` each, the job from
    ``compile_later``, whose thread stored it, and optionally the arrays' ``layouts`` of a
    kernel called through a shared entry, as for ``find``), and link them; the
    ``NativeKernel``s, in order (or, for one LLVM refused, the exception)."""
    import time

    started = time.perf_counter()
    kernels = list(kernels)
    payloads = []
    for _, job, *_ in kernels:
        try:
            payloads.append(job.result())
        except Exception as error:  # (a bug in the IR: the caller falls back to Numba)
            payloads.append(error)
    result = []
    with _lock:
        for (symbol, _, arrays, sizes, chunked, *layouts), payload in zip(kernels, payloads):
            if isinstance(payload, Exception):
                result.append(payload)
                continue
            try:
                result.append(_link(symbol, payload, arrays, sizes, chunked, *layouts))
            except Exception as error:  # (its shared entry failed: the caller uses Numba)
                result.append(error)
    native_stats["compiled"] += len(kernels)
    native_stats["seconds"] += time.perf_counter() - started
    _bundle_later(
        (symbol, job)
        for (symbol, job, *_), kernel in zip(kernels, result)
        if not isinstance(kernel, Exception)
    )
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


def _builtin(address: int, name: str, own: tuple | None = None):
    """A builtin function object calling the ``METH_FASTCALL`` entry at ``address`` with
    ``own`` as its ``self`` (default ``_entry_self()``)."""
    definition = _MethodDef(name.encode(), address, _METH_FASTCALL, None)
    _method_defs.append(definition)
    return _new_builtin(ctypes.byref(definition), own or _entry_self(), None)


@functools.cache
def _entry_self() -> tuple:
    """The ``self`` of every kernel's entry: the Python objects its code needs
    (``compiler/codegen/native.py``, ``_python_entry``), read by position."""
    import numpy as np

    return (np.ndarray, None, TypeError)


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
    """One pool thread. It waits on raw locks (``_thread`` locks, released by the other
    thread): a ``threading.Semaphore`` is Python code around a ``Condition`` that makes a
    new lock per wait, ~5 us more per handoff (a 2^17-element kernel on two threads:
    28 us against 34)."""

    def __init__(self):
        self.start = _thread.allocate_lock()
        self.start.acquire()
        self.done = _thread.allocate_lock()
        self.done.acquire()
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


def _llvm_lock():
    """llvmlite's lock (its ``_LLVMLock``), if llvmlite's binding is loaded."""
    ffi = sys.modules.get("llvmlite.binding.ffi")
    return getattr(getattr(ffi, "lib", None), "_lock", None)


_held_at_fork = []  # llvmlite's lock, taken by ``_before_fork``


def _before_fork() -> None:
    """Take llvmlite's lock (which waits for the compile threads to leave the gate) and the
    gate's own lock across ``fork``: the child's copies of them are then held by its only
    thread, not by a thread it does not have. Without this, a child that disposes of an
    llvmlite object (a collection right after ``fork``) waited forever."""
    lock = _llvm_lock()
    if lock is not None:
        lock.__enter__()
    _held_at_fork.append(lock)
    _gate.condition.acquire()


def _after_fork_in_parent() -> None:
    _gate.condition.release()
    lock = _held_at_fork.pop()
    if lock is not None:
        lock.__exit__(None, None, None)


def _after_fork_in_child() -> None:
    """A forked child (a DataLoader worker) has none of the parent's threads: start a
    new pool there, or the first parallel kernel would wait for workers forever."""
    global _POOL, _lock, _compilers, _engine_lock, _linker
    # (no compile thread is inside the gate, and its locks are this thread's: ``_before_fork``)
    _gate.condition.release()
    _gate.condition = threading.Condition()
    _gate.readers = 0
    lock = _held_at_fork.pop() if _held_at_fork else None
    if lock is not None:
        lock.__exit__(None, None, None)
    _gate.writers = 0
    size = _POOL.size
    _POOL = _Pool()
    _POOL.size = size
    _lock = threading.RLock()
    _compilers = _linker = None  # (a bundle being made in the parent is the parent's)
    _entry_compilers.clear()
    _engine_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def set_threads(count: int) -> None:
    """Run parallel kernels on ``count`` threads (this one included)."""
    _POOL.size = max(1, int(count))


def get_threads() -> int:
    return _POOL.size
