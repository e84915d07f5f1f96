"""``kiln.backends.openmp``: kiln's parallel kernels run on its own thread pool (and
Numba's), not OpenMP: ``is_available()`` is False (PyTorch's CPU build says True)."""


def is_available() -> bool:
    return False
