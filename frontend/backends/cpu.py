"""``kiln.backends.cpu``: what the CPU offers kiln's kernels (LLVM compiles them for the
host CPU, so its vector extensions are what PyTorch's dispatcher would pick too).

>>> import kiln
>>> names = ("DEFAULT", "VSX", "Z VECTOR", "NO AVX", "AVX2", "AVX512", "SVE256")
>>> kiln.backends.cpu.get_cpu_capability() in names
True
"""

from __future__ import annotations

import functools
import platform

__all__ = ["get_cpu_capability"]

_AVX512 = ("avx512f", "avx512bw", "avx512vl", "avx512dq")


@functools.cache
def get_cpu_capability() -> str:
    """The CPU's capability as PyTorch names it: ``"AVX512"``, ``"AVX2"`` or ``"NO AVX"`` on
    x86-64, ``"VSX"`` on POWER, ``"Z VECTOR"`` on s390x, ``"SVE256"`` on Arm with 256-bit
    SVE, else ``"DEFAULT"``."""
    machine = platform.machine().lower()
    if machine in ("ppc64le", "ppc64"):
        return "VSX"
    if machine == "s390x":
        return "Z VECTOR"
    features = _host_features()
    if machine in ("x86_64", "amd64", "i686", "x86"):
        if all(features.get(name) for name in _AVX512):
            return "AVX512"
        if features.get("avx2") and features.get("fma"):
            return "AVX2"
        return "NO AVX"
    if machine in ("aarch64", "arm64") and features.get("sve") and _sve_bits() == 256:
        return "SVE256"
    return "DEFAULT"


def _host_features() -> dict:
    """``{feature: bool}`` of the host CPU, as LLVM (which compiles kiln's kernels) sees it."""
    try:
        from llvmlite import binding

        return dict(binding.get_host_cpu_features())
    except Exception:  # (no llvmlite, or LLVM cannot tell): read Linux's list if there is one
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith(("flags", "Features")):
                        return dict.fromkeys(line.split(":", 1)[1].split(), True)
        except OSError:
            pass
    return {}


def _sve_bits() -> int:
    """The SVE vector length in bits (Linux only; 0 when unknown)."""
    try:
        with open("/proc/sys/abi/sve_default_vector_length") as f:
            return 8 * int(f.read().strip())
    except (OSError, ValueError):
        return 0
