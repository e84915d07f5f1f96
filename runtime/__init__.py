"""kiln.runtime: kernel cache, buffers and the executor that runs compiled schedules.

The runtime never imports the compiler or the frontend: it runs schedules of calls on
arrays. Importing it selects Numba's threading layer (see ``threads.py``).
"""

from .threads import configure_threading

configure_threading()
