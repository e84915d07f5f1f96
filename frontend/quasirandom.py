"""``kiln.quasirandom.SobolEngine``: PyTorch's Sobol low-discrepancy sequence.

Unscrambled, the points are PyTorch's exactly (the same direction numbers, Joe and Kuo's,
and the same Gray-code order, 30 bits). Scrambled (``scramble=True``), kiln applies
PyTorch's scrambling (a random linear matrix scramble and a digital shift) with random bits
from kiln's generator, so a seeded engine repeats itself but its points are not PyTorch's
(PyTorch's come from its own random number stream). Dimensions 1 to 1111 (PyTorch: 21201).

>>> engine = SobolEngine(2)
>>> engine.draw(4).tolist()
[[0.0, 0.0], [0.5, 0.5], [0.75, 0.25], [0.25, 0.75]]
"""

from __future__ import annotations

import numpy as np

import kiln

__all__ = ["SobolEngine"]

_MAXBIT = 30


def _direction_table():
    from .sobol_directions import DIRECTIONS

    rows = [[int(v) for v in line.split()] for line in DIRECTIONS.strip().splitlines()]
    return rows


_TABLE: list = []


def _initial_state(dimension: int) -> np.ndarray:
    """The direction numbers v[d, j] (PyTorch's ``_sobol_engine_initialize_state_``)."""
    if not _TABLE:
        _TABLE.extend(_direction_table())
    state = np.zeros((dimension, _MAXBIT), dtype=np.int64)
    state[0, :] = 1
    for d in range(1, dimension):
        poly, *initial = _TABLE[d - 1]
        degree = poly.bit_length() - 1
        state[d, :degree] = initial
        for j in range(degree, _MAXBIT):
            new = state[d, j - degree]
            pow2 = 1
            for k in range(degree):
                pow2 <<= 1
                if (poly >> (degree - 1 - k)) & 1:
                    new ^= pow2 * state[d, j - k - 1]
            state[d, j] = new
    return state * (2 ** np.arange(_MAXBIT - 1, -1, -1, dtype=np.int64))


def _scrambled(state: np.ndarray, ltm: np.ndarray) -> np.ndarray:
    """PyTorch's ``_sobol_engine_scramble_``: each direction number multiplied (over GF(2))
    by a lower-triangular matrix with a unit diagonal."""
    ltm = ltm.copy()
    ltm[:, np.arange(_MAXBIT), np.arange(_MAXBIT)] = 1
    rows = (ltm * (2 ** np.arange(_MAXBIT - 1, -1, -1, dtype=np.int64))).sum(-1)
    bits = (state[:, :, None] >> np.arange(_MAXBIT)) & 1  # [d, j, k]: bit k of v[d, j]
    row_bits = (rows[:, :, None] >> np.arange(_MAXBIT)) & 1  # [d, p, k]
    dots = np.einsum("djk,dpk->djp", bits, row_bits) % 2  # [d, j, p]
    weights = 2 ** np.arange(_MAXBIT - 1, -1, -1, dtype=np.int64)  # p = MAXBIT-1 -> 1
    return (dots * weights).sum(-1)


def _lowest_zero_bit(n: int) -> int:
    return ((~n) & (n + 1)).bit_length() - 1


class SobolEngine:
    """PyTorch's ``torch.quasirandom.SobolEngine(dimension, scramble=False, seed=None)``:
    ``draw(n)`` gives the next ``n`` points of the sequence, shape ``(n, dimension)``."""

    MAXBIT = _MAXBIT
    MAXDIM = 1111

    def __init__(self, dimension: int, scramble: bool = False, seed=None):
        if dimension > self.MAXDIM or dimension < 1:
            raise ValueError(
                f"Supported range of dimensionality for SobolEngine is [1, {self.MAXDIM}]"
            )
        self.seed = seed
        self.scramble = scramble
        self.dimension = dimension
        self._state = _initial_state(dimension)
        if scramble:
            generator = kiln.Generator()
            if seed is not None:
                generator.manual_seed(seed)
            else:
                generator.seed()
            rng = generator.numpy_generator()
            shift_bits = rng.integers(0, 2, (dimension, _MAXBIT))
            ltm = np.tril(rng.integers(0, 2, (dimension, _MAXBIT, _MAXBIT)))
            self._set_scramble(shift_bits, ltm)
        else:
            self._shift = np.zeros(dimension, dtype=np.int64)
        self._quasi = self._shift.copy()
        self.num_generated = 0

    def _set_scramble(self, shift_bits, ltm) -> None:
        """Scramble with these random bits (``shift_bits``: (dimension, 30), ``ltm``:
        (dimension, 30, 30) lower triangular), as PyTorch's ``_scramble`` does with its."""
        shift_bits = np.asarray(shift_bits, dtype=np.int64)
        self._shift = shift_bits @ (2 ** np.arange(_MAXBIT, dtype=np.int64))
        self._state = _scrambled(self._state, np.asarray(ltm, dtype=np.int64))
        self._quasi = self._shift.copy()

    @property
    def sobolstate(self):
        return kiln.tensor(self._state)

    @property
    def shift(self):
        return kiln.tensor(self._shift)

    @property
    def quasi(self):
        return kiln.tensor(self._quasi)

    def _advance(self, n: int, index: int) -> np.ndarray:
        """``n`` points after Gray-code step ``index`` (PyTorch's ``_sobol_engine_draw``)."""
        out = np.empty((n, self.dimension), dtype=np.int64)
        quasi = self._quasi
        for i in range(n):
            quasi = quasi ^ self._state[:, _lowest_zero_bit(index + i)]
            out[i] = quasi
        self._quasi = quasi
        return out

    def draw(self, n: int = 1, out=None, dtype=None):
        """The next ``n`` points, shape ``(n, dimension)``, in ``dtype`` (default: the
        default float dtype)."""
        dtype = kiln.get_default_dtype() if dtype is None else dtype
        if self.num_generated == 0:
            points = np.concatenate([self._shift[None, :], self._advance(n - 1, 0)])
        else:
            points = self._advance(n, self.num_generated - 1)
        self.num_generated += n
        result = kiln.tensor(points / 2.0**_MAXBIT, dtype=dtype)
        if out is not None:
            out.resize_as_(result).copy_(result)
            return out
        return result

    def draw_base2(self, m: int, out=None, dtype=None):
        """The next ``2 ** m`` points (the total drawn must stay a power of 2)."""
        n = 2**m
        total_n = self.num_generated + n
        if total_n & (total_n - 1) != 0:
            raise ValueError(
                "The balance properties of Sobol' points require "
                f"n to be a power of 2. {self.num_generated} points have been "
                f"previously generated, then: n={self.num_generated}+2**{m}={total_n}. "
                "If you still want to do this, please use "
                "'SobolEngine.draw()' instead."
            )
        return self.draw(n=n, out=out, dtype=dtype)

    def reset(self):
        """Back to the first point."""
        self._quasi = self._shift.copy()
        self.num_generated = 0
        return self

    def fast_forward(self, n: int):
        """Skip ``n`` points (as drawing them)."""
        if self.num_generated == 0:
            self._advance(n - 1, 0)
        else:
            self._advance(n, self.num_generated - 1)
        self.num_generated += n
        return self

    def __repr__(self):
        parts = [f"dimension={self.dimension}"]
        if self.scramble:
            parts.append("scramble=True")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return f"{type(self).__name__}({', '.join(parts)})"
