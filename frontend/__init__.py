"""kiln: eager tensors on NumPy and a JIT graph compiler lowered through Numba."""
