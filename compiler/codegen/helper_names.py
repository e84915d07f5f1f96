"""The names of the functions generated CPU kernels may call, without importing them.

``fastmath.py`` and ``kernel_helpers.py`` define these as Numba functions (importing them
imports Numba); code generation only needs their names, and the native back end reads
their source (``native.py``), so neither needs Numba loaded.
"""

# Each op's vectorizable float32 function in ``fastmath.py`` (the op table's
# "cpu:float32" expressions call them).
FAST_FUNCTIONS = {"exp": "fast_exp", "log": "fast_log", "tanh": "fast_tanh", "erf": "fast_erf"}
# ... and float64 ones ("cpu:float64"; erf keeps libm in float64).
FAST_FUNCTIONS_64 = {"exp": "fast_exp64", "log": "fast_log64", "tanh": "fast_tanh64"}

# The helpers in ``kernel_helpers.py``.
HELPERS = ("row_max_float32", "row_max_float64")
