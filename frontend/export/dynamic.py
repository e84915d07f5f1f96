"""Dynamic dimensions of an exported program: ``Dim``, and sizes that follow them.

kiln's IR holds concrete sizes, so an exported program keeps its graph *symbolic* in the
saved JSON instead: every integer of the graph (a node's shape, a ``reshape``'s target, a
``slice``'s bounds) that depends on a dynamic dimension is stored as a polynomial in the
dimensions, and a graph for concrete sizes is made from it when a call needs one
(``instantiate``), then compiled and kept in a small cache.

How the polynomials are found: the function is traced at two values of every dynamic
dimension (the example's and another one in its range), and the traces are compared leaf
by leaf (``fit``). An integer that changes is fitted as a multilinear polynomial
(``2 * batch``, ``batch * seq``, ``batch + 1``), then checked against one more trace at
third sizes. Traces of different structure (a Python branch on a size), a float constant
that follows a size (``1 / batch``), or a non-polynomial integer (``batch // 2``) raise
``ConstraintViolationError`` naming what differed: never a graph that is right for the
example and wrong for other sizes.

>>> batch = Dim("batch", min=1, max=64)
>>> batch
Dim('batch', min=1, max=64)
"""

from __future__ import annotations

import itertools
import math

import numpy as np

# an unbounded ``max``; sizes are sampled just above the example's
INT_INFINITY = 2**62


class ConstraintViolationError(RuntimeError):
    """A dynamic dimension cannot be kept dynamic (the traces at other sizes disagree)."""


class _Marker:
    """``Dim.AUTO``, ``Dim.DYNAMIC``, ``Dim.STATIC``; ``Dim.DYNAMIC(min=2, max=64)`` bounds one."""

    def __init__(self, name: str, min: int | None = None, max: int | None = None, bound=False):  # noqa: A002
        self.name = name
        self.min = min
        self.max = max
        self._bound = bound

    def __call__(self, min: int | None = None, max: int | None = None) -> _Marker:  # noqa: A002
        if self._bound:
            raise TypeError(f"{self!r} is already bounded: it cannot be called")
        if (min is not None and min < 0) or (max is not None and max < 0):
            raise ValueError(f"{self.name}: min and max must be non-negative, got {min}, {max}")
        if min is not None and max is not None and min > max:
            raise ValueError(f"{self.name}: min must be <= max, got min={min}, max={max}")
        return _Marker(self.name, min, max, bound=True)

    def __repr__(self) -> str:
        bounds = [f"{k}={v}" for k, v in (("min", self.min), ("max", self.max)) if v is not None]
        return f"{self.name}({', '.join(bounds)})" if self._bound else self.name


class Dim:
    """A named dynamic dimension with an inclusive range, as in ``torch.export.Dim``.

    One ``Dim`` used for several inputs says that their sizes are equal; ``2 * dim``,
    ``dim + 1``, ``dim - 1`` (and ``3 * dim + 4``: increasing, linear, integer) say that a
    size follows another (a ``_DerivedDim``, as torch's). ``Dim.AUTO`` and ``Dim.DYNAMIC``
    in ``dynamic_shapes`` make a fresh unnamed dimension, ``Dim.STATIC`` keeps the example's
    size.

    >>> dx = Dim("dx", max=32)
    >>> 2 * dx + 1
    2*dx + 1
    """

    AUTO = _Marker("Dim.AUTO")
    DYNAMIC = _Marker("Dim.DYNAMIC")
    STATIC = _Marker("Dim.STATIC")
    # size = scale * root + offset (a plain Dim is its own root)
    scale = 1
    offset = 0
    automatic = False  # made for Dim.AUTO: kiln.export may keep it static

    def __init__(self, name: str, *, min: int | None = None, max: int | None = None):  # noqa: A002
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"kiln.export.Dim: the name must be an identifier, got {name!r}")
        lower = 0 if min is None else int(min)
        upper = INT_INFINITY if max is None else int(max)
        if lower < 0 or upper < lower:
            raise ValueError(f"kiln.export.Dim({name!r}): bad range min={min}, max={max}")
        self.__name__ = name
        self.min = lower
        self.max = upper

    @property
    def name(self) -> str:
        return self.__name__

    @property
    def root(self) -> Dim:
        return self

    def size_at(self, point: dict) -> int:
        """This dimension's size when the root dimensions have the sizes of ``point``."""
        return self.scale * point[self.root.name] + self.offset

    def __repr__(self) -> str:
        upper = "inf" if self.max >= INT_INFINITY else self.max
        return f"Dim({self.__name__!r}, min={self.min}, max={upper})"

    # ---------------------------------------------------------------- derived dimensions
    def _derive(self, scale: int, offset: int) -> _DerivedDim:
        return _DerivedDim(self.root, self.scale * scale, self.offset * scale + offset)

    def __add__(self, other) -> _DerivedDim:
        if type(other) is not int:
            raise NotImplementedError(
                f"Attempted to add {other} to {self.__name__}, where an integer was expected. "
                "(Only increasing linear operations with integer coefficients are supported.)"
            )
        return self._derive(1, other)

    def __radd__(self, other) -> _DerivedDim:
        return self + other

    def __sub__(self, other) -> _DerivedDim:
        if type(other) is not int:
            raise NotImplementedError(
                f"Attempted to subtract {other} from {self.__name__}, where an integer was "
                "expected. (Only increasing linear operations with integer coefficients are "
                "supported.)"
            )
        return self._derive(1, -other)

    def __rsub__(self, other):
        raise NotImplementedError(
            f"Attempted to negate {self.__name__}. "
            "(Only increasing linear operations with integer coefficients are supported.)"
        )

    def __mul__(self, other) -> _DerivedDim:
        if type(other) is not int or other <= 0:
            raise NotImplementedError(
                f"Attempted to multiply {other} with {self.__name__}, where a positive integer "
                "was expected. (Only increasing linear operations with integer coefficients "
                "are supported.)"
            )
        return self._derive(other, 0)

    def __rmul__(self, other) -> _DerivedDim:
        return self * other


class _DerivedDim(Dim):
    """``scale * root + offset`` (``torch.export.dynamic_shapes._DerivedDim``): its range is
    the root's, mapped."""

    def __init__(self, root: Dim, scale: int, offset: int):
        self._root = root
        self.scale = scale
        self.offset = offset
        self.__name__ = format_linear(root.name, scale, offset)

    @property
    def root(self) -> Dim:
        return self._root

    @property
    def min(self) -> int:  # type: ignore[override]
        return self.scale * self._root.min + self.offset

    @property
    def max(self) -> int:  # type: ignore[override]
        if self._root.max >= INT_INFINITY:
            return INT_INFINITY
        return self.scale * self._root.max + self.offset

    def __repr__(self) -> str:
        return self.__name__


def format_linear(name: str, scale: int, offset: int) -> str:
    """``scale * name + offset`` as torch (sympy) prints it: ``2*dx + 1``, ``dx - 1``."""
    text = name if scale == 1 else f"{scale}*{name}"
    if offset:
        text += f" + {offset}" if offset > 0 else f" - {-offset}"
    return text


class ShapesCollection:
    """Dynamic shapes keyed by the input tensors themselves (``torch.export.ShapesCollection``).

    >>> import kiln
    >>> x = kiln.ones(4, 3)
    >>> shapes = ShapesCollection()
    >>> shapes[x] = {0: Dim("batch")}
    >>> len(shapes)
    1
    """

    def __init__(self):
        self._shapes: dict[int, tuple] = {}  # id(tensor) -> (tensor, shape)

    def __setitem__(self, tensor, shape) -> None:
        entry = self._shapes.get(id(tensor))
        if entry is not None and entry[1] != shape:
            raise ValueError(
                f"Shapes assigned to input do not match: expected {entry[1]}, got {shape}"
            )
        self._shapes[id(tensor)] = (tensor, shape)

    def __getitem__(self, tensor):
        """The tensor's shape (a new empty dict to fill: ``shapes[x][0] = batch``)."""
        return self._shapes.setdefault(id(tensor), (tensor, {}))[1]

    def __len__(self) -> int:
        return len(self._shapes)

    def get(self, tensor, default=None):
        entry = self._shapes.get(id(tensor))
        return default if entry is None else entry[1]

    def dynamic_shapes(self, m, args, kwargs=None) -> dict:
        """The shapes as ``dynamic_shapes`` takes them: a dict keyed by argument name."""
        import inspect

        found = set()

        def tree(value):
            if isinstance(value, (list, tuple)):  # (a named tuple's as a list)
                shapes = [tree(v) for v in value]
                return shapes if hasattr(value, "_fields") else type(value)(shapes)
            if isinstance(value, dict):
                return {k: tree(v) for k, v in value.items()}
            if id(value) in self._shapes:
                found.add(id(value))
            return self.get(value)

        names = list(inspect.signature(getattr(m, "forward", m)).parameters)
        combined = {**dict(zip(names, args)), **(kwargs or {})}
        shapes = {name: tree(value) for name, value in combined.items()}
        if found != set(self._shapes):
            raise ValueError(
                "Some tensors that were assigned shapes were not found in args. Maybe such "
                "tensors were copied when passing them as args?"
            )
        return shapes


def dims(*names: str, min: int | None = None, max: int | None = None) -> tuple:  # noqa: A002
    """Several ``Dim`` with one range: ``batch, seq = dims("batch", "seq", max=512)``."""
    return tuple(Dim(n, min=min, max=max) for n in names)


def sample_sizes(dim: Dim, example: int, lowest: int = 2) -> list[int]:
    """Three sizes of ``dim`` to trace at: the example's and two others in its range.

    Sizes 0 and 1 are avoided (a size-1 dimension broadcasts, so a trace at 1 may differ in
    structure): ``lowest`` is the smallest size whose derived sizes are all 2 or more. With
    a range too narrow for three sizes, fewer are returned.
    """
    sizes = [example]
    low = max(dim.min, lowest)
    for candidate in itertools.chain(range(example + 1, example + 8), range(example - 1, 0, -1)):
        if low <= candidate <= dim.max:
            sizes.append(candidate)
        if len(sizes) == 3:
            break
    return sizes


# ------------------------------------------------------------------------------ polynomials
# A polynomial is a list of [coefficient, [dimension names]] terms: [[2, ["batch"]], [1, []]]
# is 2 * batch + 1. It is stored in the JSON as {"__sym__": terms}.


def evaluate(terms, sizes: dict) -> int:
    total = 0
    for coefficient, names in terms:
        value = coefficient
        for name in names:
            value *= sizes[name]
        total += value
    return total


def format_polynomial(terms) -> str:
    parts = []
    for coefficient, names in terms:
        factors = ([] if coefficient == 1 and names else [str(coefficient)]) + list(names)
        parts.append("*".join(factors))
    return " + ".join(parts) or "0"


def substitute(tree, sizes: dict):
    """``tree`` (a JSON value) with every ``{"__sym__": terms}`` evaluated at ``sizes``."""
    if isinstance(tree, dict):
        if "__sym__" in tree:
            value = evaluate(tree["__sym__"], sizes)
            return float(value) if tree.get("float") else value
        return {k: substitute(v, sizes) for k, v in tree.items()}
    if isinstance(tree, list):
        return [substitute(v, sizes) for v in tree]
    return tree


def _identical(a, b) -> bool:
    """``a`` and ``b`` are the same value of the same type; a float NaN is itself (a NaN
    constant made every size a family of its own) and -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if a != a:
            return b != b
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def fit(trees: list, points: list[dict], check: tuple | None, where=None, who="kiln.export"):
    """One JSON tree in which the leaves that differ between ``trees`` are polynomials.

    ``trees[k]`` was traced at ``points[k]`` (dimension name -> size), the corners of a
    grid with two sizes per dimension; ``check`` is ``(tree, point)`` of one more trace the
    fitted polynomials must reproduce. ``where(path)`` names a place for error messages,
    ``who`` the caller (``kiln.jit`` and ``kiln.onnx.export`` fit too).
    """
    names = sorted(points[0])
    monomials = [
        tuple(n for n, used in zip(names, mask) if used)
        for mask in itertools.product((0, 1), repeat=len(names))
    ]
    design = np.array(
        [[np.prod([p[n] for n in m]) if m else 1 for m in monomials] for p in points],
        dtype=np.float64,
    )
    describe = where or (lambda path: "/".join(map(str, path)))

    def mismatch(path, what):
        advice = (
            "; the program cannot keep these dimensions dynamic. Mark them static, or avoid "
            "Python decisions on sizes"
            if who == "kiln.export"
            else ""
        )
        raise ConstraintViolationError(
            f"{who}: the traces at sizes {points[0]} and {points[1]} differ {what} "
            f"({describe(path)}){advice}"
        )

    def walk(values, checked, path):
        first = values[0]
        if isinstance(first, dict):
            if any(not isinstance(v, dict) or v.keys() != first.keys() for v in values):
                mismatch(path, "in structure")
            return {k: walk([v[k] for v in values], _item(checked, k), (*path, k)) for k in first}
        if isinstance(first, list):
            if any(not isinstance(v, list) or len(v) != len(first) for v in values):
                mismatch(path, "in structure (a list changes length)")
            return [
                walk([v[i] for v in values], _item(checked, i), (*path, i))
                for i in range(len(first))
            ]
        if all(_identical(v, first) for v in values):
            if checked is not None and not _identical(checked, first):
                mismatch(path, f"at the third size: {checked!r} instead of {first!r}")
            return first
        numeric = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()
            for v in values
        )
        if not numeric:
            mismatch(path, f"in a value that is not an integer: {values[0]!r} vs {values[1]!r}")
        coefficients = np.linalg.solve(design, np.array(values, dtype=np.float64))
        rounded = np.round(coefficients)
        if not np.allclose(coefficients, rounded, atol=1e-6):
            mismatch(path, f"in a value that is not polynomial in the sizes: {values}")
        terms = [[int(c), list(m)] for c, m in zip(rounded, monomials) if c != 0]
        if checked is not None and evaluate(terms, check[1]) != checked:
            mismatch(path, f"at the third size (not {format_polynomial(terms)})")
        symbol = {"__sym__": terms}
        if isinstance(first, float):
            symbol["float"] = True
        return symbol

    return walk(trees, check[0] if check else None, ())


def _item(tree, key):
    if tree is None:
        return None
    try:
        return tree[key]
    except (KeyError, IndexError, TypeError):
        return _Missing()


class _Missing:
    """A place the checking trace lacks: it never equals a value."""

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    def __getitem__(self, key):
        return self

    def __repr__(self) -> str:
        return "<missing>"


def grid(dimensions: dict[str, list[int]]) -> tuple[list[dict], dict | None]:
    """The trace points: the 2^k corners of two sizes per dimension, and a check point
    at the third sizes (None when a range is too narrow for a third size)."""
    names = sorted(dimensions)
    corners = [
        dict(zip(names, choice))
        for choice in itertools.product(*[dimensions[n][:2] for n in names])
    ]
    if all(len(dimensions[n]) >= 3 for n in names):
        return corners, {n: dimensions[n][2] for n in names}
    return corners, None
