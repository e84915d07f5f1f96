"""CUDA runtime: device arrays, transfers and kernel launches (through ``numba.cuda``).

``numba.cuda`` is imported on first use, so kiln imports without ``numba-cuda``. Where no GPU
is present, Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before Numba is first
imported) runs the same kernels in Python threads; launch sizes are then kept tiny
(``launch.py``), because every simulated thread is a Python thread.

>>> import numpy as np
>>> from kiln.runtime import cuda
>>> if cuda.is_available():
...     d = cuda.to_device(np.arange(3, dtype=np.float32))
...     assert cuda.to_host(d).tolist() == [0.0, 1.0, 2.0]
"""

from __future__ import annotations

import os
import time

import numpy as np

_module = None
_array_type = None


class CudaUnavailable(RuntimeError):
    """No CUDA device can be used (no ``numba-cuda``, no GPU, no simulator)."""


def numba_cuda():
    """The ``numba.cuda`` module (raises ``CudaUnavailable`` when it cannot be imported)."""
    global _module
    if _module is None:
        try:
            from numba import cuda
        except ImportError as exc:  # numba-cuda missing or broken
            raise CudaUnavailable(
                "CUDA is not available: the numba-cuda package is not installed "
                f"(pip install numba-cuda) [{exc}]"
            ) from None
        _module = cuda
    return _module


def simulated() -> bool:
    """True when kernels run in Numba's CUDA simulator: Numba's own setting once Numba is
    imported, else the environment variable it will read at import (``kiln.cuda`` imports
    without importing Numba, about 0.15 s)."""
    import sys

    config = sys.modules.get("numba.core.config")
    if config is not None:
        return bool(config.ENABLE_CUDASIM)
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


_driver_checked: list[bool] = []  # [whether a CUDA driver library opens], once known


def _driver_present() -> bool:
    """Whether the CUDA driver library opens, found where ``numba.cuda`` looks for it
    (``NUMBA_CUDA_DRIVER``, then ``libcuda.so``/``libcuda.so.1`` on the library path and in
    /usr/lib, /usr/lib64). Without one no GPU can be used, and ``is_available`` says so
    without importing ``numba.cuda``: that import costs about 0.9 s of CPU, and nearly
    every script starts with ``"cuda" if torch.cuda.is_available() else "cpu"``."""
    if not _driver_checked:
        import ctypes
        import sys

        if sys.platform == "win32":
            names = ["nvcuda.dll", "\\windows\\system32\\nvcuda.dll"]
        elif sys.platform == "darwin":
            names = ["libcuda.dylib", "/usr/local/cuda/lib/libcuda.dylib"]
        else:
            base = ["libcuda.so", "libcuda.so.1"]
            names = base + [f"{d}/{n}" for d in ("/usr/lib", "/usr/lib64") for n in base]
        if os.environ.get("NUMBA_CUDA_DRIVER"):
            names = [os.environ["NUMBA_CUDA_DRIVER"]]
        found = False
        for name in names:
            try:
                ctypes.CDLL(name)
            except OSError:
                continue
            found = True
            break
        _driver_checked.append(found)
    return _driver_checked[0]


def is_available() -> bool:
    if _module is None and not simulated() and not _driver_present():
        return False  # (no driver: numba.cuda would say the same, after importing itself)
    try:
        return bool(numba_cuda().is_available())
    except CudaUnavailable:
        return False
    except Exception:  # a driver that fails to initialise counts as no GPU
        return False


def require() -> None:
    """Raise a RuntimeError that says why CUDA cannot be used, if it cannot."""
    numba_cuda()
    if not is_available():
        raise CudaUnavailable(
            "CUDA is not available: no CUDA GPU or driver was found and the CUDA simulator is "
            "not enabled (set NUMBA_ENABLE_CUDASIM=1 before importing kiln to run CUDA "
            "kernels on the CPU)"
        )


def device_count() -> int:
    if not is_available():
        return 0
    return len(numba_cuda().gpus)


def device_name(index: int = 0) -> str:
    if simulated():
        return "CUDA simulator"
    name = numba_cuda().gpus[index].name
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize() -> None:
    if is_available():
        numba_cuda().synchronize()


def device_array_type() -> type:
    """The class of the device arrays ``empty`` and ``to_device`` make."""
    global _array_type
    if _array_type is None:
        _array_type = type(numba_cuda().device_array(1, dtype=np.uint8))
    return _array_type


def synchronized_clock() -> float:
    """``time.perf_counter()`` once the device has finished what was launched (profiling)."""
    synchronize()
    return time.perf_counter()


def is_device_array(value) -> bool:
    """A Numba device array (or the simulator's stand-in for one)."""
    if type(value) is np.ndarray or _module is None:
        return False
    return hasattr(value, "__cuda_array_interface__") or type(value).__name__ == "FakeCUDAArray"


def to_device(array) -> object:
    """Copy a host array to a new device array (contiguous)."""
    array = np.asarray(array)
    if not array.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        array = array.copy()
    return numba_cuda().to_device(array)


def to_host(array) -> np.ndarray:
    """Copy a device array to a new host array."""
    return np.asarray(array.copy_to_host())


def empty(shape, dtype) -> object:
    return numba_cuda().device_array(tuple(shape), dtype=np.dtype(dtype))


def copy(destination, source) -> None:
    """Device-to-device copy of equal-shaped contiguous arrays."""
    destination.copy_to_device(source)


def flat(array):
    """A 1-D view of a contiguous device array (kernels index flat memory)."""
    return (
        array.reshape(max(int(np.prod(array.shape, dtype=np.int64)), 1))
        if array.size
        else array.reshape(0)
    )


def as_device(value):
    """``value`` on the device: device arrays as they are, host arrays copied over."""
    return value if is_device_array(value) else to_device(np.asarray(value))
