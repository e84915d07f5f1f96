"""The IR-writing half of the native CPU back end (``native.py`` is the other): a
kernel's Python source, parsed with ``ast``, written as LLVM IR with ``llvmlite.ir``.

Loaded only when a kernel must be built (not found in the disk cache). See
``native.py``'s docstring for the language and the typing rules.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import math
import os
from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from ...runtime.native import QUICK_MARK
from .native import (
    _DATA_OFFSET,
    _STRIDES_OFFSET,
    NativeKernelSource,
    NativeSource,
    Unsupported,
    _python_entry,
)

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
F32, F64 = ir.FloatType(), ir.DoubleType()
OBJECT = ir.IntType(8).as_pointer()

_SCALAR = {
    "bool": I1,
    "int8": I8,
    "uint8": I8,
    "int16": I16,
    "uint16": I16,
    "int32": I32,
    "uint32": I32,
    "int64": I64,
    "uint64": I64,
    "float32": F32,
    "float64": F64,
}
_MEMORY = {**_SCALAR, "bool": I8}  # NumPy stores a bool in a byte
_FLOATS = ("float32", "float64")
_NUMPY_TYPES = {
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool_",
}
# PyArrayObject: PyObject_HEAD (16 bytes), then data, nd, dimensions, strides, base,
# descr, flags


@dataclass
class Scalar:
    value: ir.Value
    dtype: str


@dataclass
class Array:
    pointer: ir.Value  # to the first element
    dtype: str
    shape: list  # ir.Value (int64) per dimension
    strides: list  # in elements


@dataclass
class Variable:
    slot: ir.Value  # an alloca
    dtype: str


class InlineFunction:
    """A Python function (a ``fastmath`` function) pasted into the kernel at each call:
    its ``definition`` given, or parsed from ``source`` on first use."""

    def __init__(self, definition: ast.FunctionDef | None, module, source: str = ""):
        self._definition, self.module, self._source = definition, module, source

    @property
    def definition(self) -> ast.FunctionDef:
        if self._definition is None:
            [self._definition] = ast.parse(self._source).body
        return self._definition


# ------------------------------------------------------------------------------- types


def _kind(dtype: str) -> str:
    if dtype == "bool":
        return "b"
    return np.dtype(dtype).kind


def _widen(dtype: str) -> str:
    kind = _kind(dtype)
    if kind == "b":
        return "int64"
    if kind == "i":
        return "int64"
    if kind == "u":
        return "uint64"
    return dtype


def _promote(a: str, b: str) -> str:
    """Numba's result type of arithmetic between scalars of ``a`` and ``b``."""
    if a == b and a in _FLOATS:
        return a
    return np.promote_types(_widen(a), _widen(b)).name


class _SourceModule:
    """A Python module's source read without running it: constants and functions."""

    def __init__(self, tree: ast.Module, base_names: dict):
        self.functions: dict[str, ast.FunctionDef] = {}
        self.names: dict[str, object] = dict(base_names)
        self.read(tree.body)

    @classmethod
    def lazily(cls, source: str) -> _SourceModule:
        """The module of ``source`` with each function parsed on its first call: a
        kernel calls a few of ``fastmath.py``'s functions, and parsing all of it was a
        sixth of a cold compile's time. Falls back to parsing the whole source when its
        top-level statements cannot be told apart line by line (``_top_level``)."""
        chunks = _top_level(source)
        if chunks is None:
            return cls(ast.parse(source), {})
        module = cls(ast.Module(body=[], type_ignores=[]), {})
        for chunk in chunks:
            lines = [line.strip() for line in chunk.splitlines()]
            decorators = [line for line in lines if line.startswith("@")]
            head = next((line for line in lines if not line.startswith(("@", "#"))), "")
            if head.startswith("def "):
                name = head[4:].partition("(")[0].strip()
                if "@intrinsic" in decorators:
                    module.names[name] = ("builtin", name)
                else:
                    module.names[name] = InlineFunction(None, module, chunk)
                continue
            try:
                module.read(ast.parse(chunk).body)
            except SyntaxError:  # (a split inside a statement: read all of it)
                return cls(ast.parse(source), {})
        return module

    def read(self, statements: list) -> None:
        for statement in statements:
            if isinstance(statement, ast.FunctionDef) and any(
                getattr(d, "id", None) == "intrinsic" for d in statement.decorator_list
            ):
                self.names[statement.name] = ("builtin", statement.name)  # (bit casts)
            elif isinstance(statement, ast.FunctionDef):
                self.functions[statement.name] = statement
                self.names[statement.name] = InlineFunction(statement, self)
            elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                if isinstance(target, ast.Name):
                    try:
                        self.names[target.id] = _evaluate_constant(statement.value, self.names)
                    except Unsupported:
                        pass
            elif isinstance(statement, ast.ImportFrom):
                for alias in statement.names:
                    name = alias.asname or alias.name
                    self.names[name] = _imported(statement.module, alias.name)


def _evaluate_constant(node: ast.expr, names: dict):
    """A module-level constant (``np.float32(0.5)``, ``np.float32('inf')``): its value."""
    allowed = (
        ast.Expression,
        ast.Call,
        ast.Attribute,
        ast.Name,
        ast.Constant,
        ast.UnaryOp,
        ast.USub,
        ast.UAdd,
        ast.Load,
        ast.BinOp,
        ast.Mult,
        ast.Add,
        ast.Sub,
        ast.Div,
    )
    expression = ast.Expression(node)
    for part in ast.walk(expression):
        if not isinstance(part, allowed):
            raise Unsupported(f"module constant {ast.unparse(node)}")
        if isinstance(part, ast.Name) and part.id not in ("np", "math") and part.id not in names:
            raise Unsupported(f"module constant {ast.unparse(node)}")
    scope = {k: v for k, v in names.items() if isinstance(v, (np.generic, int, float, bool))}
    value = eval(compile(expression, "<kernel>", "eval"), {"np": np, "math": math}, scope)
    if not isinstance(value, (np.generic, int, float, bool)):
        raise Unsupported(f"module constant {ast.unparse(node)}")
    return value


_HERE = os.path.dirname(os.path.abspath(__file__))


@functools.cache
def _helper_module(name: str) -> _SourceModule:
    """``fastmath.py`` (or another codegen module) read as source, without importing it
    (it imports Numba)."""
    with open(os.path.join(_HERE, name + ".py")) as f:
        return _SourceModule.lazily(f.read())


_QUOTES = ('"""', "'''")


def _top_level(source: str) -> list[str] | None:
    """``source``'s top-level statements (a function with its decorators and the
    comments after it), told apart by lines that start in the first column; None where
    that cannot be trusted (a string spanning lines outside a function). Each chunk is
    parsed on its own later: a wrong split would not parse."""
    lines = source.splitlines(keepends=True)
    start = 0
    if source.startswith(_QUOTES):  # the module docstring
        end = source.find(source[:3], 3)
        if end == -1:
            return None
        start = source.count("\n", 0, end) + 1
    chunks: list[list[str]] = []
    for line in lines[start:]:
        opens = line[:1] not in ("", " ", "\t", "\n", "\r", "#", ")", "]", "}")
        if opens and not (chunks and all(x.startswith("@") for x in chunks[-1])):
            chunks.append([line])
        elif chunks:
            chunks[-1].append(line)
        elif line.strip() and not line.startswith("#"):
            return None
    texts = ["".join(chunk) for chunk in chunks]
    if any(text.count(q) % 2 for text in texts for q in _QUOTES):
        return None
    return texts


def _imported(module: str | None, name: str):
    if module and module.endswith("codegen.fastmath"):
        return _helper_module("fastmath").names.get(name, ("builtin", name))
    return ("builtin", name)


# ---------------------------------------------------------------------------- compiler


class _FunctionCompiler:
    def __init__(self, module: _SourceModule, llvm_module: ir.Module, flags, definition):
        self.module = module
        self.llvm = llvm_module
        self.flags = tuple(flags)
        self.element_flags = tuple(f for f in self.flags if f != "reassoc")
        self.op_flags = self.element_flags  # (``statement`` picks per assignment)
        self.definition = definition
        self.frees: list[list[ir.Value]] = []  # per open scope: buffers to free at its end
        # a variable's slot -> (the block, the value it holds there): the value last
        # stored or loaded in the block being written, read again without a load (fewer
        # instructions to build, print, parse and clean up; the same code once optimized)
        self.known: dict = {}

    # ----------------------------------------------------------------- function setup

    def build(self, symbol: str, signature, sizes: int, chunked: bool) -> ir.Function:
        parameters = [a.arg for a in self.definition.args.args]
        if len(parameters) != len(signature) + sizes:
            raise Unsupported("kernel parameters do not match the signature")
        argument_types = [OBJECT] * len(signature) + [I64] * sizes + [I64, I64]
        function = ir.Function(self.llvm, ir.FunctionType(ir.VoidType(), argument_types), symbol)
        self.function = function
        self.alloca_block = function.append_basic_block("locals")
        setup = function.append_basic_block("setup")
        body = function.append_basic_block("body")
        self.allocas = ir.IRBuilder(self.alloca_block)
        # arguments are stored, and buffers sized by them allocated, in ``setup``
        self.setup = ir.IRBuilder(setup)
        self.builder = self.setup
        self.scope: dict[str, object] = {}
        self.chunk, self.chunks = function.args[-2], function.args[-1]
        # the loop that runs in chunks: the last statement (``_chunkable``)
        self.chunk_loop = self.definition.body[-1] if chunked else None
        for k, (name, (dtype, ndim, layout)) in enumerate(zip(parameters, signature)):
            self.scope[name] = self.argument_array(function.args[k], dtype, ndim, layout)
        for k, name in enumerate(parameters[len(signature) :]):
            self.assign_scalar(name, Scalar(function.args[len(signature) + k], "int64"))
        self.builder = ir.IRBuilder(body)
        self.frees.append([])
        self.statements(self.definition.body)
        self.free_scope()
        self.builder.ret_void()
        self.setup.branch(body)
        self.allocas.branch(setup)
        return function

    def argument_array(self, obj, dtype: str, ndim: int, layout: str) -> Array:
        b = self.builder
        element = _MEMORY[dtype].as_pointer()
        data = b.load(b.bitcast(b.gep(obj, [ir.Constant(I64, _DATA_OFFSET)]), element.as_pointer()))
        if layout == "C":
            # (shape unknown: a C-contiguous argument is only used through ``reshape``)
            return Array(data, dtype, [None], [None])
        itemsize = ir.Constant(I64, np.dtype(dtype if dtype != "bool" else "uint8").itemsize)
        base = b.bitcast(
            b.gep(obj, [ir.Constant(I64, _STRIDES_OFFSET)]), I64.as_pointer().as_pointer()
        )
        strides_pointer = b.load(base)
        dims = b.load(b.bitcast(b.gep(obj, [ir.Constant(I64, 32)]), I64.as_pointer().as_pointer()))
        shape, strides = [], []
        for axis in range(ndim):
            index = ir.Constant(I64, axis)
            shape.append(b.load(b.gep(dims, [index])))
            strides.append(b.sdiv(b.load(b.gep(strides_pointer, [index])), itemsize))
        return Array(data, dtype, shape, strides)

    # --------------------------------------------------------------------- variables

    def slot(self, dtype: str) -> ir.Value:
        return self.allocas.alloca(_SCALAR[dtype])

    def assign_scalar(self, name: str, value: Scalar) -> None:
        current = self.scope.get(name)
        if isinstance(current, Variable):
            if current.dtype != value.dtype:
                raise Unsupported(f"{name} changes type {current.dtype} -> {value.dtype}")
            self.builder.store(value.value, current.slot)
            self.known[current.slot] = (self.builder.block, value.value)
            return
        variable = Variable(self.slot(value.dtype), value.dtype)
        self.builder.store(value.value, variable.slot)
        self.known[variable.slot] = (self.builder.block, value.value)
        self.scope[name] = variable

    def lookup(self, name: str):
        if name in self.scope:
            found = self.scope[name]
            if isinstance(found, Variable):
                known = self.known.get(found.slot)
                block = self.builder.block
                if known is None or known[0] is not block:
                    known = self.known[found.slot] = (block, self.builder.load(found.slot))
                return Scalar(known[1], found.dtype)
            return found
        if name in self.module.names:
            found = self.module.names[name]
            if isinstance(found, (np.generic, int, float, bool)):
                return self.constant(found)
            return found
        if name in ("np", "math"):
            return ("module", name)
        if name in ("range", "prange", "abs", "min", "max", "int", "float"):
            return ("builtin", name)
        raise Unsupported(f"unknown name {name}")

    def constant(self, value) -> Scalar:
        if isinstance(value, (bool, np.bool_)):
            return Scalar(ir.Constant(I1, int(bool(value))), "bool")
        if isinstance(value, int):
            return Scalar(ir.Constant(I64, value), "int64")
        if isinstance(value, float):
            return Scalar(ir.Constant(F64, value), "float64")
        if isinstance(value, np.generic):
            dtype = np.dtype(value.dtype).name
            if dtype not in _SCALAR:
                raise Unsupported(f"constant of {dtype}")
            if _kind(dtype) == "f":
                return Scalar(ir.Constant(_SCALAR[dtype], float(value)), dtype)
            return Scalar(ir.Constant(_SCALAR[dtype], int(value) & ((1 << 64) - 1)), dtype)
        raise Unsupported(f"constant {value!r}")

    # -------------------------------------------------------------------- statements

    def statements(self, body) -> None:
        for statement in body:
            self.statement(statement)

    def statement(self, node) -> None:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return  # a docstring
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                raise Unsupported("chained assignment")
            target = node.targets[0]
            # ``reassoc`` only where a reduction accumulates (``acc3 = (x + acc3)``,
            # ``acc2[c] = ...``, ``total4 = ...``), which is what lets LLVM vectorize it:
            # on the elementwise math around it LLVM would also factor ``0.5*v - v`` into
            # ``-0.5*v``, which is +inf, not NaN, at v = -inf
            name = target.value if isinstance(target, ast.Subscript) else target
            accumulates = isinstance(name, ast.Name) and name.id.startswith(("acc", "total"))
            saved = self.op_flags
            self.op_flags = self.flags if accumulates else self.element_flags
            try:
                self.assign(node, target)
            finally:
                self.op_flags = saved
            return
        if isinstance(node, ast.For):
            self.loop(node)
            return
        if isinstance(node, ast.Pass):
            return
        raise Unsupported(f"statement {type(node).__name__}")

    def assign(self, node: ast.Assign, target) -> None:
        if isinstance(target, ast.Name):
            value = self.expression(node.value, allocation=target.id)
            if isinstance(value, Scalar):
                self.assign_scalar(target.id, value)
            elif isinstance(value, Array):
                self.scope[target.id] = value
            else:
                raise Unsupported(f"assignment of {ast.unparse(node.value)}")
            return
        if isinstance(target, ast.Subscript):
            array = self.expression(target.value)
            if not isinstance(array, Array):
                raise Unsupported("store into a non-array")
            value = self.scalar(node.value)
            address = self.element(array, target.slice)
            self.builder.store(self.to_memory(value, array.dtype), address)
            return
        raise Unsupported(f"assignment to {ast.unparse(target)}")

    def loop(self, node: ast.For) -> None:
        if node.orelse or not isinstance(node.target, ast.Name):
            raise Unsupported("for loop form")
        call = node.iter
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id in ("range", "prange")
            and len(call.args) == 1
            and not call.keywords
        ):
            raise Unsupported(f"loop over {ast.unparse(call)}")
        b = self.builder
        count = self.cast(self.scalar(call.args[0]), "int64").value
        start, stop = ir.Constant(I64, 0), count
        if call.func.id == "prange" and node is self.chunk_loop:
            start = b.sdiv(b.mul(count, self.chunk), self.chunks)
            stop = b.sdiv(b.mul(count, b.add(self.chunk, ir.Constant(I64, 1))), self.chunks)
        name = node.target.id
        if name in self.scope and not isinstance(self.scope[name], Variable):
            raise Unsupported(f"loop variable {name} shadows an array")
        self.assign_scalar(name, Scalar(start, "int64"))
        counter = self.scope[name].slot
        test = self.function.append_basic_block("loop.test")
        body = self.function.append_basic_block("loop.body")
        done = self.function.append_basic_block("loop.done")
        b.branch(test)
        b.position_at_end(test)
        b.cbranch(b.icmp_signed("<", b.load(counter), stop), body, done)
        b.position_at_end(body)
        self.frees.append([])
        self.statements(node.body)
        self.free_scope()
        b.store(b.add(b.load(counter), ir.Constant(I64, 1), flags=["nsw"]), counter)
        self.known.pop(counter, None)
        b.branch(test)
        b.position_at_end(done)

    def free_scope(self) -> None:
        for pointer in self.frees.pop():
            self.builder.call(self.runtime_function("free", ir.VoidType(), [OBJECT]), [pointer])

    def runtime_function(self, name: str, result, arguments) -> ir.Function:
        existing = self.llvm.globals.get(name)
        if existing is not None:
            return existing
        return ir.Function(self.llvm, ir.FunctionType(result, arguments), name)

    # ------------------------------------------------------------------- expressions

    def scalar(self, node) -> Scalar:
        value = self.expression(node)
        if not isinstance(value, Scalar):
            raise Unsupported(f"{ast.unparse(node)} is not a scalar")
        return value

    def expression(self, node, allocation: str | None = None):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                raise Unsupported("string")
            return self.constant(node.value)
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.BinOp):
            return self.binary(node.op, self.scalar(node.left), self.scalar(node.right))
        if isinstance(node, ast.UnaryOp):
            return self.unary(node.op, self.scalar(node.operand))
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise Unsupported("chained comparison")
            return self.compare(
                node.ops[0], self.scalar(node.left), self.scalar(node.comparators[0])
            )
        if isinstance(node, ast.IfExp):
            condition = self.truth(self.scalar(node.test))
            yes, no = self.scalar(node.body), self.scalar(node.orelse)
            dtype = yes.dtype if yes.dtype == no.dtype else _promote(yes.dtype, no.dtype)
            yes, no = self.cast(yes, dtype), self.cast(no, dtype)
            return Scalar(self.builder.select(condition, yes.value, no.value), dtype)
        if isinstance(node, ast.BoolOp):
            values = [self.truth(self.scalar(v)) for v in node.values]
            combine = self.builder.and_ if isinstance(node.op, ast.And) else self.builder.or_
            result = values[0]
            for value in values[1:]:
                result = combine(result, value)
            return Scalar(result, "bool")
        if isinstance(node, ast.Subscript):
            array = self.expression(node.value)
            if not isinstance(array, Array):
                raise Unsupported(f"subscript of {ast.unparse(node.value)}")
            return self.subscript(array, node.slice)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Call):
            return self.call(node, allocation)
        raise Unsupported(f"expression {type(node).__name__}")

    def attribute(self, node: ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id in ("np", "math"):
            if node.attr == "inf":
                return Scalar(ir.Constant(F64, math.inf), "float64")
            if node.attr == "nan":
                return Scalar(ir.Constant(F64, math.nan), "float64")
            if node.attr == "pi":
                return Scalar(ir.Constant(F64, math.pi), "float64")
            return ("function", node.value.id, node.attr)
        base = self.expression(node.value)
        if isinstance(base, Array):
            return ("method", base, node.attr)
        raise Unsupported(f"attribute {ast.unparse(node)}")

    # --- arithmetic

    def cast(self, value: Scalar, dtype: str) -> Scalar:
        source = value.dtype
        if source == dtype:
            return value
        b, v, target = self.builder, value.value, _SCALAR[dtype]
        sk, tk = _kind(source), _kind(dtype)
        if tk == "b":
            if sk == "f":
                return Scalar(b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0)), "bool")
            return Scalar(b.icmp_unsigned("!=", v, ir.Constant(v.type, 0)), "bool")
        if sk == "b":
            return Scalar(b.uitofp(v, target) if tk == "f" else b.zext(v, target), dtype)
        if sk in "iu" and tk in "iu":
            if target.width < v.type.width:
                return Scalar(b.trunc(v, target), dtype)
            if target.width == v.type.width:
                return Scalar(v, dtype)
            return Scalar(b.sext(v, target) if sk == "i" else b.zext(v, target), dtype)
        if sk in "iu":
            return Scalar(b.sitofp(v, target) if sk == "i" else b.uitofp(v, target), dtype)
        if tk in "iu":
            return Scalar(b.fptosi(v, target) if tk == "i" else b.fptoui(v, target), dtype)
        if target == F64:
            return Scalar(b.fpext(v, target), dtype)
        return Scalar(b.fptrunc(v, target), dtype)

    def truth(self, value: Scalar) -> ir.Value:
        return self.cast(value, "bool").value

    def binary(self, op, left: Scalar, right: Scalar) -> Scalar:
        b = self.builder
        if isinstance(op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
            if left.dtype == right.dtype == "bool":
                dtype = "bool"
            else:
                dtype = _promote(left.dtype, right.dtype)
                if _kind(dtype) == "f":
                    raise Unsupported("bitwise operation on floats")
            lv, rv = self.cast(left, dtype).value, self.cast(right, dtype).value
            method = {ast.BitAnd: b.and_, ast.BitOr: b.or_, ast.BitXor: b.xor}[type(op)]
            return Scalar(method(lv, rv), dtype)
        if isinstance(op, ast.Div):
            dtype = _promote(left.dtype, right.dtype)
            if _kind(dtype) != "f":
                dtype = "float64"
            lv, rv = self.cast(left, dtype).value, self.cast(right, dtype).value
            return Scalar(b.fdiv(lv, rv, flags=self.op_flags), dtype)
        dtype = _promote(left.dtype, right.dtype)
        lv, rv = self.cast(left, dtype).value, self.cast(right, dtype).value
        floating = _kind(dtype) == "f"
        signed = _kind(dtype) == "i"
        if isinstance(op, (ast.Add, ast.Sub, ast.Mult)):
            if floating:
                method = {ast.Add: b.fadd, ast.Sub: b.fsub, ast.Mult: b.fmul}[type(op)]
                return Scalar(method(lv, rv, flags=self.op_flags), dtype)
            method = {ast.Add: b.add, ast.Sub: b.sub, ast.Mult: b.mul}[type(op)]
            return Scalar(method(lv, rv), dtype)
        if isinstance(op, (ast.FloorDiv, ast.Mod)):
            if floating:
                return self.float_floor_mod(op, lv, rv, dtype)
            return self.integer_floor_mod(op, lv, rv, dtype, signed)
        if isinstance(op, ast.Pow):
            if not floating:
                return self.integer_power(lv, rv, dtype, signed)
            return Scalar(self.intrinsic("llvm.pow", dtype, [lv, rv]), dtype)
        if isinstance(op, (ast.LShift, ast.RShift)):
            if floating:
                raise Unsupported("shift of floats")
            if isinstance(op, ast.LShift):
                return Scalar(b.shl(lv, rv), dtype)
            return Scalar(b.ashr(lv, rv) if signed else b.lshr(lv, rv), dtype)
        raise Unsupported(f"operator {type(op).__name__}")

    def integer_power(self, lv, rv, dtype: str, signed: bool) -> Scalar:
        """``lv ** rv`` of integers as PyTorch computes it: by squaring, wrapping around
        the type's width; a negative exponent gives 1 for base 1, +-1 for base -1 (by the
        exponent's parity) and 0 for any other base (NumPy raises; Numba's ``**``
        divided by zero)."""
        b = self.builder
        kind = lv.type
        one, zero = ir.Constant(kind, 1), ir.Constant(kind, 0)
        result, base, exponent = (self.allocas.alloca(kind) for _ in range(3))
        b.store(one, result)
        b.store(lv, base)
        b.store(rv, exponent)
        with self.counted_loop(ir.Constant(I64, kind.width), "ipow"):
            e, x, r = b.load(exponent), b.load(base), b.load(result)
            odd = b.trunc(e, ir.IntType(1))
            b.store(b.select(odd, b.mul(r, x), r), result)
            b.store(b.mul(x, x), base)
            b.store(b.lshr(e, one), exponent)
        power = b.load(result)
        if not signed:
            return Scalar(power, dtype)
        minus_one = ir.Constant(kind, -1)
        odd = b.trunc(rv, ir.IntType(1))
        negative = b.select(
            b.icmp_signed("==", lv, one),
            one,
            b.select(b.icmp_signed("==", lv, minus_one), b.select(odd, minus_one, one), zero),
        )
        return Scalar(b.select(b.icmp_signed("<", rv, zero), negative, power), dtype)

    def integer_floor_mod(self, op, lv, rv, dtype: str, signed: bool) -> Scalar:
        b = self.builder
        zero = ir.Constant(lv.type, 0)
        is_zero = b.icmp_unsigned("==", rv, zero)
        safe = b.select(is_zero, ir.Constant(lv.type, 1), rv)
        if not signed:
            result = b.udiv(lv, safe) if isinstance(op, ast.FloorDiv) else b.urem(lv, safe)
            return Scalar(b.select(is_zero, zero, result), dtype)
        # (INT_MIN // -1 overflows in LLVM: divide by 1 and negate instead, which wraps)
        minus_one = b.icmp_signed("==", safe, ir.Constant(lv.type, -1))
        safe = b.select(minus_one, ir.Constant(lv.type, 1), safe)
        quotient = b.sdiv(lv, safe)
        remainder = b.srem(lv, safe)
        quotient = b.select(minus_one, b.neg(lv), quotient)
        remainder = b.select(minus_one, zero, remainder)
        # floor: when the remainder's sign differs from the divisor's, step down
        adjust = b.and_(
            b.icmp_signed("!=", remainder, zero),
            b.icmp_signed("!=", b.icmp_signed("<", remainder, zero), b.icmp_signed("<", rv, zero)),
        )
        if isinstance(op, ast.FloorDiv):
            result = b.select(adjust, b.sub(quotient, ir.Constant(lv.type, 1)), quotient)
        else:
            result = b.select(adjust, b.add(remainder, rv), remainder)
        return Scalar(b.select(is_zero, zero, result), dtype)

    def float_floor_mod(self, op, lv, rv, dtype: str) -> Scalar:
        b = self.builder
        # Python's float % and //: fmod, then moved to the divisor's sign
        remainder = b.frem(lv, rv)
        zero = ir.Constant(lv.type, 0.0)
        adjust = b.and_(
            b.fcmp_ordered("!=", remainder, zero),
            b.icmp_unsigned(
                "!=", b.fcmp_ordered("<", remainder, zero), b.fcmp_ordered("<", rv, zero)
            ),
        )
        if isinstance(op, ast.Mod):
            moved = b.select(adjust, b.fadd(remainder, rv), remainder)
            return Scalar(moved, dtype)
        quotient = b.fdiv(b.fsub(lv, remainder), rv)
        quotient = b.select(adjust, b.fsub(quotient, ir.Constant(lv.type, 1.0)), quotient)
        return Scalar(quotient, dtype)

    def unary(self, op, operand: Scalar) -> Scalar:
        b = self.builder
        if isinstance(op, ast.UAdd):
            return operand
        if isinstance(op, ast.Not):
            return Scalar(b.not_(self.truth(operand)), "bool")
        if isinstance(op, ast.USub):
            dtype = _widen(operand.dtype) if _kind(operand.dtype) != "f" else operand.dtype
            value = self.cast(operand, dtype).value
            if _kind(dtype) == "f":
                return Scalar(b.fneg(value, flags=self.op_flags), dtype)
            return Scalar(b.neg(value), dtype)
        if isinstance(op, ast.Invert):
            if operand.dtype == "bool":
                return Scalar(b.not_(operand.value), "bool")
            if _kind(operand.dtype) == "f":
                raise Unsupported("~ of a float")
            dtype = _widen(operand.dtype)
            return Scalar(b.not_(self.cast(operand, dtype).value), dtype)
        raise Unsupported(f"unary {type(op).__name__}")

    def compare(self, op, left: Scalar, right: Scalar) -> Scalar:
        symbol = {
            ast.Eq: "==",
            ast.NotEq: "!=",
            ast.Lt: "<",
            ast.LtE: "<=",
            ast.Gt: ">",
            ast.GtE: ">=",
        }.get(type(op))
        if symbol is None:
            raise Unsupported(f"comparison {type(op).__name__}")
        dtype = "bool" if left.dtype == right.dtype == "bool" else _promote(left.dtype, right.dtype)
        lv, rv = self.cast(left, dtype).value, self.cast(right, dtype).value
        b, kind = self.builder, _kind(dtype)
        if kind == "f":
            if symbol == "!=":
                return Scalar(b.fcmp_unordered("!=", lv, rv), "bool")
            return Scalar(b.fcmp_ordered(symbol, lv, rv), "bool")
        if kind == "i":
            return Scalar(b.icmp_signed(symbol, lv, rv), "bool")
        return Scalar(b.icmp_unsigned(symbol, lv, rv), "bool")

    # --- calls

    def intrinsic(self, name: str, dtype: str, arguments) -> ir.Value:
        function = self.llvm.declare_intrinsic(name, [_SCALAR[dtype]])
        return self.builder.call(function, arguments)

    def libm(self, name: str, dtype: str, arguments) -> ir.Value:
        symbol = name + ("f" if dtype == "float32" else "")
        scalar = _SCALAR[dtype]
        function = self.runtime_function(symbol, scalar, [scalar] * len(arguments))
        return self.builder.call(function, arguments)

    def call(self, node: ast.Call, allocation: str | None):
        if node.keywords:
            raise Unsupported("keyword arguments")
        function = self.expression(node.func)
        if isinstance(function, InlineFunction):
            return self.inline(function, [self.scalar(a) for a in node.args])
        if isinstance(function, tuple) and function[0] == "method":
            _, array, method = function
            if method != "reshape" or len(node.args) != 1:
                raise Unsupported(f"array method {method}")
            return self.reshape(array, node.args[0])
        if isinstance(function, tuple) and function[0] == "function":
            _, module, name = function
            return self.library_call(module, name, node.args, allocation)
        if isinstance(function, tuple) and function[0] == "builtin":
            return self.builtin_call(function[1], node.args)
        raise Unsupported(f"call of {ast.unparse(node.func)}")

    def library_call(self, module: str, name: str, arguments, allocation):
        if module == "np" and name in _NUMPY_TYPES:
            dtype = "bool" if name == "bool_" else name
            if len(arguments) != 1:
                raise Unsupported(f"np.{name} with {len(arguments)} arguments")
            argument = arguments[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                return self.constant(np.dtype(dtype).type(argument.value))
            return self.cast(self.scalar(argument), dtype)
        if module == "np" and name in ("empty", "full"):
            return self.allocate(name, arguments, allocation)
        values = [self.scalar(a) for a in arguments]
        if module == "np" and name == "fmod" and len(values) == 2:
            dtype = _promote(values[0].dtype, values[1].dtype)
            lv, rv = (self.cast(v, dtype).value for v in values)
            if _kind(dtype) == "f":
                return Scalar(self.builder.frem(lv, rv), dtype)
            raise Unsupported("integer fmod")
        if module == "np" and name == "floor" and len(values) == 1:
            value = self.float_argument(values[0])
            return Scalar(self.intrinsic("llvm.floor", value.dtype, [value.value]), value.dtype)
        if module == "math" and name in _MATH_INTRINSICS and len(values) == 1:
            value = self.float_argument(values[0])
            function = _MATH_INTRINSICS[name]
            return Scalar(self.intrinsic(function, value.dtype, [value.value]), value.dtype)
        if module == "math" and name in _LIBM and len(values) == _LIBM[name]:
            dtype = "float64"
            if all(v.dtype == "float32" for v in values):
                dtype = "float32"
            casted = [self.cast(v, dtype).value for v in values]
            return Scalar(self.libm(name, dtype, casted), dtype)
        raise Unsupported(f"{module}.{name}")

    def float_argument(self, value: Scalar) -> Scalar:
        return value if value.dtype in _FLOATS else self.cast(value, "float64")

    def builtin_call(self, name: str, arguments):
        if name == "abs" and len(arguments) == 1:
            value = self.scalar(arguments[0])
            if value.dtype in _FLOATS:
                return Scalar(self.intrinsic("llvm.fabs", value.dtype, [value.value]), value.dtype)
            dtype = _widen(value.dtype)
            v = self.cast(value, dtype).value
            if _kind(dtype) == "u":
                return Scalar(v, dtype)
            negative = self.builder.icmp_signed("<", v, ir.Constant(v.type, 0))
            return Scalar(self.builder.select(negative, self.builder.neg(v), v), dtype)
        if name in ("min", "max") and len(arguments) == 2:
            left, right = (self.scalar(a) for a in arguments)
            dtype = _promote(left.dtype, right.dtype)
            left, right = self.cast(left, dtype), self.cast(right, dtype)
            # Python's max(a, b): b if b > a else a (min: b if b < a else a)
            op = ast.Gt() if name == "max" else ast.Lt()
            better = self.compare(op, right, left).value
            return Scalar(self.builder.select(better, right.value, left.value), dtype)
        if name in _BIT_CASTS and len(arguments) == 1:
            # float32_from_bits, bits_from_float32 and the float64 pair (``fastmath``)
            value = self.scalar(arguments[0])
            floating, integer, to_float = _BIT_CASTS[name]
            if not to_float:
                if value.dtype != floating:
                    raise Unsupported(f"{name} of a {value.dtype}")
                return Scalar(self.builder.bitcast(value.value, _SCALAR[integer]), integer)
            if _kind(value.dtype) not in "iu":
                raise Unsupported(f"{name} of a non-integer")
            unsigned = integer.replace("int", "uint")
            bits = self.cast(value, integer if _kind(value.dtype) == "i" else unsigned).value
            return Scalar(self.builder.bitcast(bits, _SCALAR[floating]), floating)
        if name in ("row_max_float32", "row_max_float64") and len(arguments) == 1:
            row = self.expression(arguments[0])
            if not isinstance(row, Array) or len(row.shape) != 1:
                raise Unsupported("row_max of a non-row")
            return self.row_max(row, name[len("row_max_") :])
        raise Unsupported(f"builtin {name}")

    def inline(self, function: InlineFunction, arguments: list[Scalar]) -> Scalar:
        definition = function.definition
        parameters = [a.arg for a in definition.args.args]
        if len(parameters) != len(arguments) or definition.args.vararg:
            raise Unsupported(f"call of {definition.name}")
        body = [s for s in definition.body if not _is_docstring(s)]
        if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
            raise Unsupported(f"{definition.name} does not end in a return")
        saved = (self.scope, self.module)
        self.scope, self.module = {}, function.module
        try:
            for name, value in zip(parameters, arguments):
                self.assign_scalar(name, value)
            self.statements(body[:-1])
            return self.scalar(body[-1].value)
        finally:
            self.scope, self.module = saved

    def row_max(self, row: Array, dtype: str) -> Scalar:
        """NaN-propagating max of a row through integer order keys (vectorizes; see
        ``kernel_helpers.row_max``)."""
        if row.dtype != dtype:
            raise Unsupported("row_max of another dtype")
        b = self.builder
        integer = I32 if dtype == "float32" else I64
        width = integer.width
        magnitude = ir.Constant(integer, (1 << (width - 1)) - 1)

        def key(value):
            bits = b.bitcast(value, integer)
            return b.xor(bits, b.and_(b.ashr(bits, ir.Constant(integer, width - 1)), magnitude))

        floating = _SCALAR[dtype]
        nan_key = key(ir.Constant(floating, math.nan))
        best = self.allocas.alloca(integer)
        b.store(key(ir.Constant(floating, -math.inf)), best)
        with self.counted_loop(row.shape[0], "rowmax") as k:
            offset = b.mul(k, row.strides[0], flags=["nsw"])
            value = b.load(b.gep(row.pointer, [offset], inbounds=True))
            is_nan = b.fcmp_unordered("uno", value, value)
            item = b.select(is_nan, nan_key, key(value))
            current = b.load(best)
            b.store(b.select(b.icmp_signed(">", item, current), item, current), best)
        result = b.load(best)
        unkeyed = b.bitcast(
            b.xor(result, b.and_(b.ashr(result, ir.Constant(integer, width - 1)), magnitude)),
            floating,
        )
        is_nan = b.icmp_signed("==", result, nan_key)
        return Scalar(b.select(is_nan, ir.Constant(floating, math.nan), unkeyed), dtype)

    # --- arrays

    def shape_values(self, node) -> list:
        parts = node.elts if isinstance(node, ast.Tuple) else [node]
        return [self.cast(self.scalar(p), "int64").value for p in parts]

    def reshape(self, array: Array, shape_node) -> Array:
        if array.strides != [None]:
            raise Unsupported("reshape of a view or a strided array")
        shape = self.shape_values(shape_node)
        return Array(array.pointer, array.dtype, shape, self.contiguous_strides(shape))

    def contiguous_strides(self, shape) -> list:
        strides = [ir.Constant(I64, 1)] * len(shape)
        for axis in range(len(shape) - 2, -1, -1):
            strides[axis] = self.builder.mul(strides[axis + 1], shape[axis + 1], flags=["nsw"])
        return strides

    def allocate(self, name: str, arguments, allocation: str | None) -> Array:
        if name == "empty" and len(arguments) == 2:
            shape_node, fill, dtype_node = arguments[0], None, arguments[1]
        elif name == "full" and len(arguments) == 3:
            shape_node, fill, dtype_node = arguments
        else:
            raise Unsupported(f"np.{name} form")
        if not (
            isinstance(dtype_node, ast.Attribute)
            and isinstance(dtype_node.value, ast.Name)
            and dtype_node.value.id == "np"
            and dtype_node.attr in _NUMPY_TYPES
        ):
            raise Unsupported("allocation dtype")
        dtype = "bool" if dtype_node.attr == "bool_" else dtype_node.attr
        # np.empty sized by arguments only: once per call (Numba hoists it the same way)
        hoist = fill is None and all(
            isinstance(n, ast.Constant)
            or (isinstance(n, ast.Name) and self.is_argument(n.id))
            or isinstance(n, (ast.Tuple, ast.Load))
            for n in ast.walk(shape_node)
        )
        if hoist:
            saved, self.builder = self.builder, self.setup
            try:
                return self.allocate_here(dtype, shape_node, None, self.frees[0])
            finally:
                self.builder = saved
        return self.allocate_here(dtype, shape_node, fill, self.frees[-1])

    def allocate_here(self, dtype: str, shape_node, fill, frees: list) -> Array:
        b = self.builder
        shape = self.shape_values(shape_node)
        count = ir.Constant(I64, 1)
        for size in shape:
            count = b.mul(count, size)
        itemsize = np.dtype(dtype if dtype != "bool" else "uint8").itemsize
        nbytes = b.mul(count, ir.Constant(I64, itemsize))
        # (at least one byte: malloc(0) may return NULL)
        nbytes = b.select(
            b.icmp_signed(">", nbytes, ir.Constant(I64, 0)), nbytes, ir.Constant(I64, 1)
        )
        malloc = self.runtime_function("malloc", OBJECT, [I64])
        raw = b.call(malloc, [nbytes])
        frees.append(raw)
        pointer = b.bitcast(raw, _MEMORY[dtype].as_pointer())
        array = Array(pointer, dtype, shape, self.contiguous_strides(shape))
        if fill is not None:
            value = self.to_memory(self.scalar(fill), dtype)
            self.fill(pointer, count, value)
        return array

    def is_argument(self, name: str) -> bool:
        return name in [a.arg for a in self.definition.args.args]

    def fill(self, pointer, count, value) -> None:
        with self.counted_loop(count, "fill") as k:
            self.builder.store(value, self.builder.gep(pointer, [k], inbounds=True))

    @contextlib.contextmanager
    def counted_loop(self, count, name: str):
        """``for k in range(count)``: the body is what the ``with`` block emits."""
        b = self.builder
        counter = self.allocas.alloca(I64)
        b.store(ir.Constant(I64, 0), counter)
        test = self.function.append_basic_block(f"{name}.test")
        body = self.function.append_basic_block(f"{name}.body")
        done = self.function.append_basic_block(f"{name}.done")
        b.branch(test)
        b.position_at_end(test)
        b.cbranch(b.icmp_signed("<", b.load(counter), count), body, done)
        b.position_at_end(body)
        k = b.load(counter)
        yield k
        b.store(b.add(k, ir.Constant(I64, 1), flags=["nsw"]), counter)
        b.branch(test)
        b.position_at_end(done)

    def index_parts(self, node) -> list:
        parts = node.elts if isinstance(node, ast.Tuple) else [node]
        return parts

    def subscript(self, array: Array, index_node):
        parts = self.index_parts(index_node)
        if any(isinstance(p, ast.Slice) for p in parts) or len(parts) < len(array.shape):
            return self.view(array, parts)
        return Scalar(
            self.from_memory(self.builder.load(self.element(array, index_node)), array.dtype),
            array.dtype,
        )

    def offset(self, array: Array, axis: int, index_node) -> ir.Value:
        index = self.cast(self.scalar(index_node), "int64").value
        if isinstance(index, ir.Constant) and index.constant == 0:
            return None
        return self.builder.mul(index, array.strides[axis], flags=["nsw"])

    def element(self, array: Array, index_node) -> ir.Value:
        parts = self.index_parts(index_node)
        if len(parts) != len(array.shape) or any(isinstance(p, ast.Slice) for p in parts):
            raise Unsupported("element index form")
        if array.shape and array.strides[0] is None:
            raise Unsupported("index of an array of unknown shape")
        total = None
        for axis, part in enumerate(parts):
            term = self.offset(array, axis, part)
            if term is None:
                continue
            total = term if total is None else self.builder.add(total, term, flags=["nsw"])
        if total is None:
            return array.pointer
        return self.builder.gep(array.pointer, [total], inbounds=True)

    def view(self, array: Array, parts) -> Array:
        if array.shape and array.strides[0] is None:
            raise Unsupported("view of an array of unknown shape")
        b = self.builder
        pointer, shape, strides = array.pointer, [], []
        for axis in range(len(array.shape)):
            part = parts[axis] if axis < len(parts) else ast.Slice()
            if isinstance(part, ast.Slice):
                if part.step is not None:
                    raise Unsupported("slice with a step")
                lower = (
                    self.cast(self.scalar(part.lower), "int64").value
                    if part.lower is not None
                    else ir.Constant(I64, 0)
                )
                upper = (
                    self.cast(self.scalar(part.upper), "int64").value
                    if part.upper is not None
                    else array.shape[axis]
                )
                pointer = b.gep(pointer, [b.mul(lower, array.strides[axis])], inbounds=True)
                shape.append(b.sub(upper, lower))
                strides.append(array.strides[axis])
            else:
                term = self.offset(array, axis, part)
                if term is not None:
                    pointer = b.gep(pointer, [term], inbounds=True)
        return Array(pointer, array.dtype, shape, strides)

    def to_memory(self, value: Scalar, dtype: str) -> ir.Value:
        value = self.cast(value, dtype)
        if dtype == "bool":
            return self.builder.zext(value.value, I8)
        return value.value

    def from_memory(self, value: ir.Value, dtype: str) -> ir.Value:
        if dtype == "bool":
            return self.builder.icmp_unsigned("!=", value, ir.Constant(I8, 0))
        return value


# fastmath's bit casts: name -> (float dtype, integer dtype, integer to float?)
_BIT_CASTS = {
    "float32_from_bits": ("float32", "int32", True),
    "bits_from_float32": ("float32", "int32", False),
    "float64_from_bits": ("float64", "int64", True),
    "bits_from_float64": ("float64", "int64", False),
}


def _is_docstring(statement) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


_MATH_INTRINSICS = {
    "exp": "llvm.exp",
    "log": "llvm.log",
    "sqrt": "llvm.sqrt",
    "sin": "llvm.sin",
    "cos": "llvm.cos",
    "fabs": "llvm.fabs",
    "ceil": "llvm.ceil",
    "trunc": "llvm.trunc",
    "exp2": "llvm.exp2",
    "log2": "llvm.log2",
    "log10": "llvm.log10",
}
# libm functions by arity (float32 variants are the ``f``-suffixed symbols)
_LIBM = {
    "tanh": 1,
    "tan": 1,
    "atan": 1,
    "asin": 1,
    "acos": 1,
    "atanh": 1,
    "acosh": 1,
    "asinh": 1,
    "sinh": 1,
    "cosh": 1,
    "erf": 1,
    "erfc": 1,
    "expm1": 1,
    "log1p": 1,
    "lgamma": 1,
    "atan2": 2,
    "hypot": 2,
}


def _flags_of(decorator_list) -> tuple:
    """The fastmath flags of a kernel's ``@njit(..., fastmath={...})`` decorator."""
    for decorator in decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "fastmath" and isinstance(keyword.value, ast.Set):
                    return tuple(sorted(e.value for e in keyword.value.elts))
    return ()


def _chunkable(definition: ast.FunctionDef) -> bool:
    """Views (assignments) then one ``prange`` loop that ends the function: each thread
    can run its own range of the loop."""
    body = [s for s in definition.body if not _is_docstring(s)]
    if not body or not isinstance(body[-1], ast.For):
        return False
    loop = body[-1].iter
    if not (isinstance(loop, ast.Call) and getattr(loop.func, "id", None) == "prange"):
        return False
    for statement in body[:-1]:
        if not isinstance(statement, ast.Assign):
            return False
        for part in ast.walk(statement.value):
            if isinstance(part, ast.Attribute) and part.attr in ("empty", "full"):
                return False  # a buffer shared by the iterations
    return True  # (only this loop runs in chunks: a ``prange`` inside it is a ``range``)


def compile_kernel(facts: NativeKernelSource) -> NativeSource:
    """The IR of the kernel ``facts`` describes (raises ``Unsupported``)."""
    # (the module's other function, ``kernel_serial`` beside ``kernel``, and its
    # docstring are never parsed: parsing was a third of a kernel's IR time)
    module = _SourceModule.lazily(facts.source)
    definition = module.functions.get(facts.function_name)
    function = module.names.get(facts.function_name)
    if definition is None and isinstance(function, InlineFunction):
        definition = function.definition
    if definition is None:
        raise Unsupported(f"no function {facts.function_name}")
    chunked = _chunkable(definition)
    llvm_module = ir.Module(name=facts.symbol)
    flags = _flags_of(definition.decorator_list)
    compiler = _FunctionCompiler(module, llvm_module, flags, definition)
    kernel = compiler.build(facts.symbol, facts.signature, facts.sizes, chunked)
    # (inlined into the entry, the whole loop would be optimized and emitted twice: about
    # half of every kernel's compile time)
    kernel.attributes.add("noinline")
    text = (
        (QUICK_MARK if facts.quick else "")
        + f"; kiln kernel {facts.function_name}\n"
        + str(llvm_module)
        + "\n"
        + (_python_entry(facts.symbol, facts.signature, facts.sizes) if facts.entry else "")
    )
    reduces = "reassoc" in flags
    _release(module, llvm_module, compiler)
    return NativeSource(
        text, facts.symbol, facts.arrays, facts.sizes, chunked, reduces, facts.quick
    )


def _release(module: _SourceModule, llvm_module: ir.Module, compiler: _FunctionCompiler) -> None:
    """Break the reference cycles among a compiled kernel's objects (its parsed module and
    functions point at each other, as llvmlite's module, blocks and instructions do), so
    that reference counting frees most of them at once: a kernel left about 3,000 objects
    (its whole syntax tree and IR) to Python's cyclic collector, about 400 now."""
    module.names.clear()
    module.functions.clear()
    for function in llvm_module.functions:
        for block in function.blocks:
            block.instructions.clear()
        function.blocks.clear()
    llvm_module.globals.clear()
    compiler.__dict__.clear()
