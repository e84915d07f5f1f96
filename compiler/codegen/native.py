"""The CPU back end's compiler: a generated kernel's Python source -> LLVM IR (llvmlite).

The CPU code generators (``cpu.py``, ``cpu_column.py``) write each fused group as a small
Python function in a restricted language: assignments, ``for`` loops over ``range`` /
``prange``, array views (``x.reshape(...)``, ``a[row, start:stop]``), element loads and
stores, scalar arithmetic with NumPy's scalar types, ``math.*`` and the vectorizable
``fastmath`` functions. That source is what a reader sees (``inspect().kernels``,
``KILN_DUMP``). Numba compiled it before; this module compiles the same source straight to
LLVM IR with ``llvmlite.ir``, typed with Numba's rules, so the results are the same, and
``runtime/native.py`` turns the IR into machine code with LLVM's optimizer (loop
vectorizer included). What it skips is Numba's pipeline (bytecode analysis, type
inference, parfors, lowering): compiling a kernel takes milliseconds instead of a tenth of
a second or more.

The typing follows Numba's for scalars:

- a Python ``int`` literal is int64, a ``float`` literal float64;
- integer arithmetic widens to 64 bits (int64, or uint64 for unsigned operands); the
  generated code converts results back with ``np.float32(...)``, ``np.int32(...)``;
- mixed operands take NumPy's promotion of the widened types (float32 with int64 gives
  float64), ``/`` of integers gives float64;
- integer ``//`` and ``%`` follow Python (floor) and give 0 for a zero divisor (Numba's
  ``error_model="numpy"``);
- comparisons are IEEE ordered (``!=`` unordered: true for NaN).

Calling convention of a compiled kernel ``kiln_<hash>``::

    void kiln_<hash>(PyObject *in0, ..., PyObject *out0, ..., int64 n0, ..., int64 chunk,
                     int64 chunks)

Array arguments are NumPy array objects: the kernel reads their data pointer (and, for an
argument declared strided, its strides) from the ``PyArrayObject`` struct, so a call from
Python passes the arrays themselves (``ctypes.py_object``), with no conversion. A kernel
whose body is views followed by one ``prange`` loop runs iterations
``[n * chunk // chunks, n * (chunk + 1) // chunks)`` of it: threads run the chunks
(``runtime/native.py``); ``(0, 1)`` runs it whole. Other kernels (a row split into pieces,
whose partial results are combined after the loop) ignore the chunk arguments.

Anything outside the language raises ``Unsupported``; the caller then compiles the kernel
with Numba instead, so a gap here costs compile time, never a wrong result.

>>> source = '''
... def kernel(in0, out0, n0):
...     a0 = in0.reshape((n0,))
...     r0 = out0.reshape((n0,))
...     for i0 in prange(n0):
...         r0[i0] = np.float32(a0[i0] * np.float32(2.0))
... '''
>>> compiled = compile_source(source, "kernel", [("float32", 1, "C"), ("float32", 1, "C")], 1)
>>> compiled.parallel, "fmul" in compiled.ir
(True, True)
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass

from ...runtime.native import _TUPLE_ITEMS, QUICK_MARK, entry_arguments_ir

# Bump when the IR this module writes for the same source changes (part of the cache key).
VERSION = "2"

_DATA_OFFSET, _STRIDES_OFFSET, _FLAGS_OFFSET = 16, 40, 64


class Unsupported(Exception):
    """The source uses something this compiler does not handle (Numba compiles it)."""


@dataclass
class NativeSource:
    """A kernel compiled to LLVM IR: ``ir`` (text), its function's ``symbol``, the
    argument counts, and whether its ``prange`` loop can be split across threads."""

    ir: str
    symbol: str
    arrays: int
    sizes: int
    parallel: bool
    reduces: bool = False  # compiled with ``reassoc`` (a row or column kernel's sums)
    quick: bool = False  # compiled by LLVM's cheaper pipeline (``describe``)


@functools.cache
def _compiler_version() -> str:
    """A hash of the compiler's two files (this one and ``native_llvm.py``): kernels
    compiled by another version of it get other names."""
    digest = hashlib.sha256()
    for name in ("native.py", "native_llvm.py"):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name), "rb") as f:
            digest.update(f.read())
    return VERSION + "-" + digest.hexdigest()[:12]


@dataclass
class NativeKernelSource:
    """What the runtime needs to find or build a kernel: its ``symbol`` (a hash of the
    source, the signature and this compiler's version: the disk cache's name for it) and
    its argument counts; ``compile()`` gives its IR (a kernel found in the cache is never
    compiled again), ``ir()`` the IR text."""

    source: str
    function_name: str
    signature: tuple
    sizes: int
    symbol: str
    arrays: int
    quick: bool = False
    entry: bool = True  # with its own CPython entry (``_python_entry``)

    def compile(self) -> NativeSource:
        return _compile(self)

    def ir(self) -> str:
        return _compile(self).ir


def _code(source: str) -> str:
    """``source`` without its module docstring: the docstring lists the fused IR with
    its shapes, which do not change the code (sizes are arguments), so graphs that differ
    only in sizes share one compiled kernel."""
    if source.startswith('"""'):
        end = source.find('"""', 3)
        if end != -1:
            return source[end + 3 :]
    return source


def describe(
    source: str, function_name: str, signature, sizes: int, quick: bool = False, entry: bool = True
) -> NativeKernelSource:
    """The kernel's name and calling facts, without compiling or even parsing it.

    ``quick``: LLVM compiles it with its cheaper pipeline (``runtime/native.py``: no
    vectorizers, fast instruction selection), for a kernel whose work is too small for
    the difference to show; the choice is part of its name (and so of its cache key), so
    a quick kernel and the full one of the same source are two kernels. ``entry``: with
    its own CPython entry (``_python_entry``); without, the runtime calls it through the
    entry it shares with every kernel of its argument layouts (``runtime/native.py``'s
    ``_shared_entry``), which the lowering's kernels do. Also part of the name."""
    text = _compiler_version() + repr(tuple(signature)) + str(sizes) + function_name + _code(source)
    if quick:
        text = QUICK_MARK + text
    if not entry:
        text = "no entry\n" + text
    key = hashlib.sha256(text.encode()).hexdigest()[:24]
    return NativeKernelSource(
        source,
        function_name,
        tuple(signature),
        sizes,
        f"kiln_{key}",
        len(signature),
        quick,
        entry,
    )


def _python_entry(symbol: str, signature, sizes: int) -> str:
    """``<symbol>_py``, as IR text: the kernel as a CPython ``METH_FASTCALL`` function,
    ``PyObject *f(PyObject *self, PyObject *const *args, Py_ssize_t nargs)``, running the
    whole loop (chunk 0 of 1) with the GIL held. ``runtime/native.py`` wraps it in a
    builtin function object, so the executor calls a kernel as cheaply as ``len`` (a
    ``ctypes`` call costs about 1.5 microseconds more).

    It refuses what the kernel cannot read: a wrong argument count (NULL: Python raises
    SystemError), an argument that is not a NumPy array (its type is not ``ndarray`` nor a
    subtype) or a C-layout one that is not C-contiguous (TypeError, naming the argument).

    The Python objects it needs come in its ``self``, the tuple ``(numpy.ndarray, None,
    TypeError)`` (``runtime/native.py``'s ``_ENTRY_SELF``, read at the items' offsets in a
    ``PyTupleObject``), not through symbols: Numba registers CPython names such as
    ``PyExc_TypeError`` for its JIT with another meaning (the object, not the variable
    holding it), and a kernel loaded as a shared library (``runtime/native.py``) must
    need nothing but CPython's C functions. The text is
    written directly (the same for every kernel of a signature but for the names):
    building it with ``llvmlite.ir`` and printing it took about as long as the kernel.
    """
    messages = []

    def refusal(k: int) -> list[str]:  # (TypeError naming the kernel's argument)
        text = f"kiln: native kernel {symbol}: argument {k} is not a C-contiguous array"
        size = len(text) + 1
        messages.append(f'@"kiln_message{k}" = private constant [{size} x i8] c"{text}\\00"')
        return [
            f"  %error_at{k} = getelementptr i8*, i8** %items, i64 {_TUPLE_ITEMS + 2}",
            f"  %error{k} = load i8*, i8** %error_at{k}",
            f'  %text{k} = bitcast [{size} x i8]* @"kiln_message{k}" to i8*',
            f'  call void @"PyErr_SetString"(i8* %error{k}, i8* %text{k})',
        ]

    layouts = "".join(layout for _, _, layout in signature)
    checks, values = entry_arguments_ir(layouts, sizes, refusal)
    lines = [
        # (``optnone``: LLVM's O3 pipeline and instruction selection cost this straight
        # line of checks as much as a small kernel's loop, a fifth of a cold compile's
        # LLVM time; unoptimized it takes a third of that and a few nanoseconds more a
        # call. The kernel itself, ``noinline``, compiles to the same code either way)
        f'define i8* @"{symbol}_py"(i8* %self, i8** %args, i64 %nargs) noinline optnone',
        "{",
        *checks,
    ]
    lines += [
        f'  call void @"{symbol}"({", ".join(values)})',
        f"  %none_at = getelementptr i8*, i8** %items, i64 {_TUPLE_ITEMS + 1}",
        "  %none = load i8*, i8** %none_at",
        '  call void @"Py_IncRef"(i8* %none)',
        "  ret i8* %none",
        "}",
        "",
        'declare i64 @"PyLong_AsSsize_t"(i8*)',
        'declare void @"Py_IncRef"(i8*)',
        'declare i32 @"PyType_IsSubtype"(i8*, i8*)',
        'declare void @"PyErr_SetString"(i8*, i8*)',
        *messages,
    ]
    return "\n".join(lines) + "\n"


def compile_source(source: str, function_name: str, signature, sizes: int) -> NativeSource:
    """LLVM IR for ``function_name`` of a generated kernel module's ``source``.

    ``signature`` gives each array parameter's ``(dtype, ndim, layout)`` (``"C"``: C
    contiguous, used only through ``reshape``, its ``ndim`` ignored; ``"A"``: read
    through its strides), in order; ``sizes`` integer parameters follow. Raises
    ``Unsupported`` for source outside the kernel language.
    """
    return _compile(describe(source, function_name, signature, sizes))


def _compile(facts: NativeKernelSource) -> NativeSource:
    # (the IR compiler and llvmlite.ir load on the first kernel this process must build:
    # a process that finds every kernel in the disk cache never imports them)
    from .native_llvm import compile_kernel

    return compile_kernel(facts)
