"""Kernel source modules: scalar expressions from the op table, and the module text.

Shared by the CPU and CUDA code generators: ``scalar_expression`` turns one IR node into a
Numba expression over its operands' variable names, from the op table's expression for the
backend and the result dtype (``Primitive.expression``: the CPU's float32 ``fast_exp``,
CUDA's ``sign``, ...), converted to the node's dtype; one strength reduction stays here, as
it depends on an operand's value: ``x ** 2`` as ``x * x``. ``combine_expression`` and
``row_reduction`` give a reduction's accumulator update and whole-row form.
``KernelModule`` collects a kernel's lines, inlined scalar constants and imports and
renders the module file:

>>> from kiln.compiler.ir import Graph
>>> g = Graph(); x = g.add_input((2,), "float32")
>>> two = g.add_const(np.float32(2.0))
>>> scalar_expression(g.add_node("pow", [x, two]), ["x0", "K0"], {two: "K0"})
'np.float32((x0 * x0))'
"""

from __future__ import annotations

import functools
import hashlib
import math
import os

import numpy as np

from ..ir import Node
from ..primitives import PRIMITIVES, has_property
from .helper_names import FAST_FUNCTIONS, FAST_FUNCTIONS_64, HELPERS


def is_scalar_const(node: Node) -> bool:
    return node.op == "const" and node.params["value"].size == 1


def literal(value, dtype: str) -> str:
    """Source text for a scalar of ``dtype`` (``np.float32(0.5)``, ``np.float32('inf')``)."""
    value = np.asarray(value).reshape(()).astype(dtype).item()
    if dtype == "bool":
        return repr(bool(value))
    if isinstance(value, float) and not math.isfinite(value):
        return f"np.{dtype}({str(value)!r})"
    return f"np.{dtype}({value!r})"


# Largest |n| of the integer and half-integer (n + 0.5) powers written out by hand.
MAX_POWER = 8


def _integer_power(base: str, n: int) -> str:
    """``base ** n`` (``n >= 1``) by repeated squaring: ``x**5`` is ``(x*x)*(x*x)*x``."""
    if n == 1:
        return base
    half = _integer_power(base, n // 2)
    square = f"({half} * {half})"
    return f"({square} * {base})" if n % 2 else square


def _power_expression(base: str, exponent: float) -> str | None:
    """``x ** c`` for a constant integer or half-integer ``c`` (``|c| <= MAX_POWER``) as
    multiplications and a sqrt, with ``np.power``'s special values; None for other ``c``
    (a ``powf`` call, which does not vectorize).

    Kernels are compiled without ``afn``, under which LLVM did this itself but lost the
    special values: half-integer powers of -inf must be ``inf`` (or 0 for ``c < 0``), and
    of -0.0 ``+0`` (or ``inf``), where ``sqrt`` gives NaN and -0.0.

    >>> _power_expression("x", 3.0), _power_expression("x", 1.7)
    ('((x * x) * x)', None)
    """
    if exponent == 0 or abs(exponent) > MAX_POWER:
        return None
    magnitude = abs(exponent)
    if magnitude == int(magnitude):
        power = _integer_power(base, int(magnitude))
        return power if exponent > 0 else f"(1.0 / {power})"
    if magnitude * 2 != int(magnitude * 2):
        return None
    root = f"math.sqrt({base})"
    whole = int(magnitude)
    # (adding +0.0 turns a -0.0 result into +0.0: a half-integer power is never negative)
    power = f"({root} + 0.0)" if whole == 0 else f"({_integer_power(base, whole)} * {root} + 0.0)"
    if exponent > 0:
        return f"(math.inf if {base} == -math.inf else {power})"
    return f"(0.0 if {base} == -math.inf else 1.0 / {power})"


def scalar_expression(
    node: Node, args: list[str], constants: dict[Node, str], backend: str = "cpu"
) -> str:
    """The expression that computes ``node`` from its operands' variable names."""
    op, dtype = node.op, node.dtype
    if has_property(node, "loop_alias"):
        return args[0]
    floating = dtype in ("float32", "float64")
    if op == "pow" and floating and node.inputs[1] in constants:  # a pattern: x ** constant
        exponent = float(node.inputs[1].params["value"].reshape(()))
        text = _power_expression(args[0], exponent)
        if text is not None:
            return f"np.{dtype}({text})"
    template = PRIMITIVES[op].expression(backend, dtype)
    if template is None:
        raise NotImplementedError(f"{op} has no scalar expression for {backend} ({dtype})")
    text = template.format(*args, dtype=dtype)
    return text if dtype == "bool" else f"np.{dtype}({text})"


def combine_expression(node: Node, item: str, accumulator: str, backend: str = "cpu") -> str:
    """An accumulating reduction's update: its ``combine`` of ``item`` and ``accumulator``
    (``(x + acc)`` for a sum), the value the accumulator takes."""
    combine = PRIMITIVES[PRIMITIVES[node.op].combine]
    return combine.expression(backend, node.dtype).format(item, accumulator)


def identity_literal(node: Node, dtype: str) -> str:
    """Kernel source for the start value of ``node``'s accumulator of ``dtype``
    (``np.float32(0.0)``, ``np.float32(-np.inf)``: no string to parse inside a kernel).

    >>> from kiln.compiler.ir import Graph
    >>> g = Graph(); x = g.add_input((2, 3), "float32")
    >>> identity_literal(g.add_node("max", [x], {"axes": (1,), "keepdims": False}), "float32")
    'np.float32(-np.inf)'
    """
    value = PRIMITIVES[node.op].identity_for(dtype)
    if dtype == "bool":
        return repr(bool(value))
    if math.isinf(value):
        return f"np.{dtype}({'-' if value < 0 else ''}np.inf)"
    return f"np.{dtype}({value.item()!r})"


def row_reduction_template(node: Node, backend: str = "cpu") -> str | None:
    """The backend's expression that reduces a whole row for ``node`` (``{0}`` the row), or
    None: then kernels accumulate it with ``combine_expression``. (The CPU's row helpers
    exist for floating-point rows, whose NaN a plain loop cannot keep without giving up
    vectorization: an integer or bool max, ``any``, accumulates.)"""
    template = PRIMITIVES[node.op].expression(backend, node.dtype)
    helper = (template or "").partition("(")[0].replace("{dtype}", node.dtype)
    if backend == "cpu" and helper.startswith("row_") and helper not in HELPERS:
        return None
    return template


@functools.cache
def _file_version(module_name: str) -> str:
    """A hash of a helper module's source (kernels that use it embed it)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), module_name + ".py")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


class KernelModule:
    """Collects a kernel module's lines, constants and imports."""

    backend = "cpu"  # whose expressions ``Primitive.expression`` picks

    def __init__(self, group_text: str):
        self.group_text = group_text
        self.constants: dict[Node, str] = {}
        self.constant_lines: list[str] = []
        self.body: list[str] = []
        self.fast_imports: set[str] = set()
        self.helper_imports: set[str] = set()

    def constant(self, node: Node) -> str:
        if node not in self.constants:
            name = f"K{len(self.constants)}"
            self.constants[node] = name
            self.constant_lines.append(f"{name} = {literal(node.params['value'], node.dtype)}")
        return self.constants[node]

    def expression(self, node: Node, args: list[str]) -> str:
        text = scalar_expression(node, args, self.constants, self.backend)
        self._note_imports(text)
        return text

    def combine(self, node: Node, item: str, accumulator: str) -> str:
        """``accumulator``'s next value after folding ``item`` into it."""
        return combine_expression(node, item, accumulator, self.backend)

    def row_reduction(self, node: Node, row: str) -> str:
        """``node`` (a reduction with a whole-row expression) over the 1-D array ``row``."""
        text = row_reduction_template(node, self.backend).format(row, dtype=node.dtype)
        self._note_imports(text)
        return text

    def _note_imports(self, text: str) -> None:
        """Import the helper functions that ``text`` calls."""
        for fast in (*FAST_FUNCTIONS.values(), *FAST_FUNCTIONS_64.values()):
            if fast + "(" in text:
                self.fast_imports.add(fast)
        for helper in HELPERS:
            if helper + "(" in text:
                self.helper_imports.add(helper)

    def emit(self, indent: int, line: str) -> None:
        self.body.append("    " * indent + line)

    def render(self, kind: str, flags, parameters: list[str]) -> str:
        quoted = ", ".join(f'"{f}"' for f in sorted(flags))
        lines = ['"""Generated by kiln (do not edit): a ' + kind + " kernel computing", ""]
        lines += ["    " + line for line in self.group_text.splitlines()]
        lines += [
            "",
            "(e0, e1, ... are values from outside the kernel)",
            '"""',
            "",
            "import math",
            "",
            "import numpy as np",
            "from numba import njit, prange",
            "",
        ]
        if self.helper_imports:
            names = ", ".join(sorted(self.helper_imports))
            lines += [
                f"from kiln.compiler.codegen.kernel_helpers import {names}",
                f"# kernel_helpers.py {_file_version('kernel_helpers')}",
                "",
            ]
        if self.fast_imports:
            names = ", ".join(sorted(self.fast_imports))
            # Numba's disk cache does not notice changes in functions a kernel inlines, so
            # the helpers' version is part of the source (and so of the kernel's file name)
            lines += [
                f"from kiln.compiler.codegen.fastmath import {names}",
                f"# fastmath.py {_file_version('fastmath')}",
                "",
            ]
        lines += self.constant_lines
        if self.constant_lines:
            lines.append("")
        signature = ", ".join(parameters)
        # error_model="numpy": x / 0 gives inf or nan, as in NumPy, instead of raising
        options = f'fastmath={{{quoted}}}, error_model="numpy", cache=True'
        lines += ["", f"@njit(parallel=True, {options})", f"def kernel({signature}):"]
        lines += self.body
        # the same loop without threads, for work too small to pay for waking them
        lines += ["", "", f"@njit({options})", f"def kernel_serial({signature}):"]
        lines += [line.replace("prange(", "range(") for line in self.body]
        return "\n".join(lines) + "\n"


def array_inputs(module: KernelModule, sources: list[Node]) -> list[Node]:
    """Split a group's inputs into inlined scalar constants and arrays passed in."""
    arrays = []
    for source in sources:
        if is_scalar_const(source):
            module.constant(source)
        else:
            arrays.append(source)
    return arrays


def describe_nodes(nodes: list[Node]) -> str:
    """The nodes as IR lines named like the kernel's variables (``v3 = exp v2``), without
    types or graph numbers, so identical kernels from different graphs are one file.

    >>> from kiln.compiler.ir import Graph
    >>> g = Graph(); x = g.add_input((2,), "float32"); y = g.add_node("exp", [x])
    >>> print(describe_nodes([y, g.add_node("mul", [y, x])]))
    v0 = exp e0
    v1 = mul v0, e0
    """
    names: dict[Node, str] = {n: f"v{k}" for k, n in enumerate(nodes)}
    lines = []
    for node in nodes:
        for source in node.inputs:
            if source not in names:
                names[source] = f"e{sum(1 for v in names.values() if v[0] == 'e')}"
        args = ", ".join(names[i] for i in node.inputs)
        params = ", ".join(f"{k}={v}" for k, v in node.params.items() if k != "value")
        if node.op == "const":
            params = f"value={node.params['value'].tolist()}"
        lines.append(f"{names[node]} = {node.op} {args}" + (f" {{{params}}}" if params else ""))
    return "\n".join(lines)
