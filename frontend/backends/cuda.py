"""``kiln.backends.cuda``: cuBLAS's and attention's switches.

``matmul.allow_tf32`` is ``kiln.get_float32_matmul_precision() != "highest"`` and setting it
sets that precision, as in PyTorch (kiln's float32 matmuls are always full precision). The
``*_sdp_enabled`` flags are recorded; ``sdp_kernel(...)`` (deprecated, as in PyTorch) runs
its block inside ``kiln.nn.attention.sdpa_kernel`` with the backends it enables, so that
disabling the math backend makes ``scaled_dot_product_attention`` raise as PyTorch does when
no backend is left.

>>> import kiln
>>> kiln.backends.cuda.matmul.allow_tf32 = True
>>> kiln.get_float32_matmul_precision()
'high'
>>> kiln.backends.cuda.matmul.allow_tf32 = False
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import os
import warnings

from . import _PRECISIONS


def is_built() -> bool:
    """Whether kiln can run CUDA kernels on a machine with a GPU: Numba's CUDA target is
    installed (``kiln.cuda.is_available()`` says whether a GPU, or the simulator, is there).
    Found without importing Numba (a second of CPU)."""
    if importlib.util.find_spec("numba_cuda") is not None:  # (the numba-cuda package)
        return True
    numba = importlib.util.find_spec("numba")
    return numba is not None and any(
        os.path.isdir(os.path.join(folder, "cuda"))
        for folder in numba.submodule_search_locations or ()
    )


def _bool_or_pair(value, name: str) -> tuple[bool, bool]:
    """PyTorch's parsing of ``allow_*_reduced_precision_reduction``: a bool, or
    ``(allow_reduced_precision, allow_splitk)``."""
    if isinstance(value, bool):
        return value, True
    if isinstance(value, (list, tuple)) and 1 <= len(value) <= 2:
        for v in value:
            if not isinstance(v, bool):
                raise TypeError(f"{name} expects a bool, but got {type(v)!r}")
        return value[0], value[1] if len(value) == 2 else True
    raise TypeError(f"{name} expects a bool or a tuple/list of bools, but got {type(value)!r}")


class _CuBLAS:
    """``kiln.backends.cuda.matmul``: an unknown name raises AttributeError, as PyTorch's."""

    __slots__ = ("_fp16", "_bf16", "_fp16_accumulation", "_fp32_precision")

    def __init__(self):
        object.__setattr__(self, "_fp16", (True, True))
        object.__setattr__(self, "_bf16", (True, True))
        object.__setattr__(self, "_fp16_accumulation", False)
        object.__setattr__(self, "_fp32_precision", "none")

    @property
    def allow_tf32(self) -> bool:
        from ..compat import get_float32_matmul_precision

        return get_float32_matmul_precision() != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value):
        from ..compat import set_float32_matmul_precision

        if not isinstance(value, bool):
            raise RuntimeError(
                f"set_allow_tf32_cublas expects a bool, but got {type(value).__name__}"
            )
        set_float32_matmul_precision("high" if value else "highest")

    @property
    def allow_fp16_reduced_precision_reduction(self) -> bool:
        return self._fp16[0]

    @allow_fp16_reduced_precision_reduction.setter
    def allow_fp16_reduced_precision_reduction(self, value):
        pair = _bool_or_pair(value, "allow_fp16_reduced_precision_reduction")
        object.__setattr__(self, "_fp16", pair)

    @property
    def allow_fp16_reduced_precision_reduction_split_k(self) -> bool:
        return self._fp16[1]

    @property
    def allow_bf16_reduced_precision_reduction(self) -> bool:
        return self._bf16[0]

    @allow_bf16_reduced_precision_reduction.setter
    def allow_bf16_reduced_precision_reduction(self, value):
        pair = _bool_or_pair(value, "allow_bf16_reduced_precision_reduction")
        object.__setattr__(self, "_bf16", pair)

    @property
    def allow_bf16_reduced_precision_reduction_split_k(self) -> bool:
        return self._bf16[1]

    @property
    def allow_fp16_accumulation(self) -> bool:
        return self._fp16_accumulation

    @allow_fp16_accumulation.setter
    def allow_fp16_accumulation(self, value):
        if not isinstance(value, bool):
            raise RuntimeError(
                f"set_allow_fp16_accumulation expects a bool, but got {type(value).__name__}"
            )
        object.__setattr__(self, "_fp16_accumulation", value)

    @property
    def fp32_precision(self) -> str:
        return self._fp32_precision

    @fp32_precision.setter
    def fp32_precision(self, value):
        if value not in _PRECISIONS:
            raise RuntimeError(f"Unknown precision: {value}")
        object.__setattr__(self, "_fp32_precision", value)

    def __getattr__(self, name):
        raise AttributeError("Unknown attribute " + name)

    def __setattr__(self, name, value):
        if not isinstance(getattr(type(self), name, None), property):
            raise AttributeError("Unknown attribute " + name)
        object.__setattr__(self, name, value)


matmul = _CuBLAS()


# --------------------------------------------------- preferred libraries (recorded only)


class _LinalgBackend(enum.IntEnum):
    Default = 0
    Cusolver = 1
    Magma = 2


class _BlasBackend(enum.IntEnum):
    Default = 0
    Cublas = 1
    Cublaslt = 2
    Ck = 3


_LINALG_NAMES = {
    "default": _LinalgBackend.Default,
    "cusolver": _LinalgBackend.Cusolver,
    "magma": _LinalgBackend.Magma,
}
_BLAS_NAMES = {
    "default": _BlasBackend.Default,
    "cublas": _BlasBackend.Cublas,
    "hipblas": _BlasBackend.Cublas,
    "cublaslt": _BlasBackend.Cublaslt,
    "hipblaslt": _BlasBackend.Cublaslt,
    "ck": _BlasBackend.Ck,
}
_PREFERRED = {"linalg": _LinalgBackend.Default, "blas": _BlasBackend.Cublas}


def _prefer(kind: str, backend, names: dict, enum_type):
    if backend is None:
        return _PREFERRED[kind]
    if isinstance(backend, str):
        if backend not in names:
            raise RuntimeError(f"Unknown input value. Choose from: {', '.join(names)}.")
        _PREFERRED[kind] = names[backend]
    elif isinstance(backend, enum_type):
        _PREFERRED[kind] = backend
    else:
        raise RuntimeError("Unknown input value type.")
    return _PREFERRED[kind]


def preferred_linalg_library(backend=None):
    """The linear-algebra library CUDA operations should prefer (recorded: kiln's linear
    algebra runs on NumPy's LAPACK whatever this says)."""
    return _prefer("linalg", backend, _LINALG_NAMES, _LinalgBackend)


def preferred_blas_library(backend=None):
    """The BLAS library CUDA matmuls should prefer (recorded: kiln generates its kernels)."""
    return _prefer("blas", backend, _BLAS_NAMES, _BlasBackend)


# -------------------------------------------------------------- scaled dot-product attention

_SDP = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}
_FP16_BF16_REDUCTION_MATH = [False]


def _enabled(name: str, backend: str) -> bool:
    """The flag ``name``; inside ``kiln.nn.attention.sdpa_kernel(...)``, whether it allows
    ``backend`` (PyTorch's sdpa_kernel sets these flags for its block)."""
    from ..nn import attention

    allowed = attention._ALLOWED.get()
    if allowed is not None:
        return attention.SDPBackend[backend] in allowed
    return _SDP[name]


def flash_sdp_enabled() -> bool:
    return _enabled("flash", "FLASH_ATTENTION")


def enable_flash_sdp(enabled: bool) -> None:
    _SDP["flash"] = bool(enabled)


def mem_efficient_sdp_enabled() -> bool:
    return _enabled("mem_efficient", "EFFICIENT_ATTENTION")


def enable_mem_efficient_sdp(enabled: bool) -> None:
    _SDP["mem_efficient"] = bool(enabled)


def math_sdp_enabled() -> bool:
    return _enabled("math", "MATH")


def enable_math_sdp(enabled: bool) -> None:
    _SDP["math"] = bool(enabled)


def cudnn_sdp_enabled() -> bool:
    return _enabled("cudnn", "CUDNN_ATTENTION")


def enable_cudnn_sdp(enabled: bool) -> None:
    _SDP["cudnn"] = bool(enabled)


def fp16_bf16_reduction_math_sdp_allowed() -> bool:
    return _FP16_BF16_REDUCTION_MATH[0]


def allow_fp16_bf16_reduction_math_sdp(enabled: bool) -> None:
    _FP16_BF16_REDUCTION_MATH[0] = bool(enabled)


def is_flash_attention_available() -> bool:
    """False: no fused CUDA attention kernels (PyTorch's CPU build says the same)."""
    return False


def can_use_flash_attention(params=None, debug: bool = False) -> bool:
    return False


def can_use_efficient_attention(params=None, debug: bool = False) -> bool:
    return False


def can_use_cudnn_attention(params=None, debug: bool = False) -> bool:
    return False


@contextlib.contextmanager
def sdp_kernel(
    enable_flash: bool = True,
    enable_math: bool = True,
    enable_mem_efficient: bool = True,
    enable_cudnn: bool = True,
):
    """Deprecated (a FutureWarning, as PyTorch): ``kiln.nn.attention.sdpa_kernel`` with the
    backends enabled here, the ``*_sdp_enabled()`` flags set for the block."""
    warnings.warn(
        "`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context "
        "manager will be removed. Please see `torch.nn.attention.sdpa_kernel()` for the new "
        "context manager, with updated signature.",
        FutureWarning,
        stacklevel=3,
    )
    from ..nn.attention import SDPBackend, sdpa_kernel

    chosen = {
        "flash": (enable_flash, SDPBackend.FLASH_ATTENTION),
        "mem_efficient": (enable_mem_efficient, SDPBackend.EFFICIENT_ATTENTION),
        "math": (enable_math, SDPBackend.MATH),
        "cudnn": (enable_cudnn, SDPBackend.CUDNN_ATTENTION),
    }
    old = dict(_SDP)
    _SDP.update({name: bool(on) for name, (on, _) in chosen.items()})
    try:
        with sdpa_kernel([backend for on, backend in chosen.values() if on]):
            yield
    finally:
        _SDP.update(old)


def __getattr__(name):
    if name == "SDPBackend":  # (kiln.nn is not imported while kiln.backends is)
        from ..nn.attention import SDPBackend

        return SDPBackend
    raise AttributeError(f"module 'kiln.backends.cuda' has no attribute {name!r}")
