"""``kiln.cuda``: tensors on an NVIDIA GPU, run by kernels that kiln generates for Numba.

A CUDA tensor is a ``CudaTensor`` (a ``Tensor`` subclass; ``CudaParameter`` etc. for
subclasses) whose ``_data`` is a Numba device array. Once one exists, every eager op goes
through ``device_bind`` (registered with ``kiln.dispatch.register_device``): the primitive
runs as a generated single-op CUDA kernel
(``kiln.compiler.compile_cuda.run_primitive``), through the same code generator as the
fused groups of a compiled graph, and autograd records it as usual, so ``backward()``
runs on the GPU too. A 0-d CPU tensor mixes with CUDA tensors as a scalar (as in PyTorch:
the scalar constants of composites and VJP rules are such tensors); any other mix of
devices is an error. A composite's index or mask array for a CUDA input is made on the
GPU (``dispatch.constant(..., like=x)``, through the move registered by ``enable``).

Without a GPU, Numba's CUDA simulator runs the same kernels: set
``NUMBA_ENABLE_CUDASIM=1`` before kiln (and Numba) are imported.

>>> import kiln
>>> if kiln.cuda.is_available():
...     x = kiln.tensor([1.0, 2.0], device="cuda")
...     assert (x * 2).cpu().tolist() == [2.0, 4.0]
"""

from __future__ import annotations

import numpy as np

from kiln.compiler.compile_cuda import run_primitive
from kiln.runtime import cuda as _runtime

from . import dispatch, dtypes
from . import memory_errors as _memory_errors
from .cuda_streams import (  # noqa: F401 (torch.cuda's names)
    Event,
    Stream,
    StreamContext,
    current_stream,
    default_stream,
    set_stream,
    stream,
)
from .device import device as _device
from .tensor import Tensor, _wrap

CUDA0 = _device("cuda", 0)
_NUMPY_MESSAGE = (
    "can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy "
    "the tensor to host memory first."
)


# ------------------------------------------------------------------------- the device


def is_available() -> bool:
    """True when a GPU (or the CUDA simulator) can run kiln's kernels."""
    return _runtime.is_available()


def device_count() -> int:
    return _runtime.device_count()


_NOT_AVAILABLE = (
    "Torch not compiled with CUDA enabled: kiln found no CUDA GPU or driver and the CUDA "
    "simulator is off (set NUMBA_ENABLE_CUDASIM=1 before importing kiln to run CUDA kernels "
    "on the CPU)"
)
_INITIALIZED = [False]


def _lazy_init() -> None:
    """Raise PyTorch's AssertionError of a build without CUDA when no device is there."""
    if not is_available():
        raise AssertionError(_NOT_AVAILABLE)
    _INITIALIZED[0] = True


def init() -> None:
    """Initialise CUDA now (PyTorch does it on first use; so does kiln)."""
    _lazy_init()


def is_initialized() -> bool:
    """Whether CUDA was initialised (``init()``, a CUDA tensor, a device query)."""
    return _INITIALIZED[0]


def _index(device) -> int:
    """The device index of ``device`` (an int, "cuda:0", a ``kiln.device``; None: current)."""
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    parsed = _device(device)
    if parsed.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {parsed}")
    return 0 if parsed.index is None else parsed.index


def _checked_index(device) -> int:
    _lazy_init()
    index = _index(device)
    if index < 0 or index >= device_count():
        raise AssertionError("Invalid device id")
    return index


def current_device() -> int:
    _lazy_init()
    return 0


def set_device(device) -> None:
    """Select the device (kiln drives one GPU: index 0; a negative index is a no-op)."""
    index = _index(device)
    if index < 0:
        return
    _lazy_init()
    if index >= device_count():
        raise RuntimeError("CUDA error: invalid device ordinal")


def get_device_name(device=None) -> str:
    _checked_index(device)
    return _runtime.device_name(0)


def get_device_capability(device=None) -> tuple[int, int]:
    """``(major, minor)`` compute capability (the simulator reports Numba's, 5.2)."""
    _checked_index(device)
    major, minor = _runtime.numba_cuda().get_current_device().compute_capability
    return int(major), int(minor)


def _host_memory() -> tuple[int, int]:
    """``(free, total)`` bytes of host memory (the simulator's device memory)."""
    import os

    page = os.sysconf("SC_PAGE_SIZE")
    return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page


def mem_get_info(device=None) -> tuple[int, int]:
    """``(free, total)`` bytes of device memory (under the simulator: the host's)."""
    _checked_index(device)
    if _runtime.simulated():
        return _host_memory()
    info = _runtime.numba_cuda().current_context().get_memory_info()
    return int(info.free), int(info.total)


class _CudaDeviceProperties:
    """What ``get_device_properties`` reports (the names scripts read)."""

    def __init__(self, name, major, minor, total_memory, multi_processor_count):
        self.name = name
        self.major = major
        self.minor = minor
        self.total_memory = total_memory
        self.multi_processor_count = multi_processor_count
        self.is_integrated = False
        self.is_multi_gpu_board = False

    def __repr__(self):
        return (
            f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
            f"total_memory={self.total_memory // (1024 * 1024)}MB, "
            f"multi_processor_count={self.multi_processor_count})"
        )


def get_device_properties(device=None) -> _CudaDeviceProperties:
    index = _checked_index(device)
    major, minor = get_device_capability(index)
    if _runtime.simulated():
        processors = 1
    else:
        processors = int(_runtime.numba_cuda().get_current_device().MULTIPROCESSOR_COUNT)
    return _CudaDeviceProperties(
        get_device_name(index), major, minor, mem_get_info(index)[1], processors
    )


def get_arch_list() -> list[str]:
    """The architectures kiln's kernels are built for: the device's own (Numba compiles
    for it at run time); ``[]`` without one, as PyTorch's CPU build."""
    if not is_available():
        return []
    major, minor = get_device_capability()
    return [f"sm_{major}{minor}"]


def get_gencode_flags() -> str:
    return ""


def synchronize(device=None) -> None:
    """Wait for every kernel launched so far to finish."""
    _lazy_init()
    _runtime.synchronize()


def ipc_collect() -> None:
    """Nothing to collect: kiln shares no CUDA memory between processes."""
    _lazy_init()


class device:  # noqa: N801 - PyTorch's name
    """``with kiln.cuda.device(0):``: run the block on that device (kiln drives one GPU;
    None or a negative index is a no-op)."""

    def __init__(self, device):
        self.idx = _index(device)

    def __enter__(self):
        if self.idx >= 0 and not is_available():  # (PyTorch's error entering it on the CPU)
            raise RuntimeError(_NOT_AVAILABLE)
        set_device(self.idx)
        return self

    def __exit__(self, *exc):
        return False


class device_of(device):  # noqa: N801 - PyTorch's name
    """``with kiln.cuda.device_of(t):``: the device of tensor ``t`` (a CPU tensor: no-op)."""

    def __init__(self, obj):
        super().__init__(0 if getattr(obj, "is_cuda", False) else -1)


# random numbers on a CUDA device are drawn on the CPU and copied, so CUDA's generator is
# kiln's default generator: these act on it (without a device: PyTorch's CPU-build answers)


def manual_seed(seed: int) -> None:
    """Random numbers are drawn on the CPU and copied: ``kiln.manual_seed`` covers them."""
    import kiln

    kiln.manual_seed(seed)


manual_seed_all = manual_seed


def seed() -> None:
    """A random seed for the generator CUDA draws from (without a device: a no-op)."""
    if is_available():
        import kiln

        kiln.seed()


seed_all = seed


def initial_seed() -> int:
    import kiln

    _lazy_init()
    return kiln.initial_seed()


def get_rng_state(device="cuda"):
    import kiln

    _lazy_init()
    return kiln.get_rng_state()


def set_rng_state(new_state, device="cuda") -> None:
    """Set the generator's state (without a device: ignored, as PyTorch's CPU build)."""
    if is_available():
        import kiln

        kiln.set_rng_state(new_state)


def get_rng_state_all() -> list:
    return [get_rng_state()] if is_available() else []


def set_rng_state_all(new_states) -> None:
    for state in new_states:
        set_rng_state(state)


# memory questions that scripts ask unconditionally (``torch.cuda.empty_cache()``): without a
# GPU, PyTorch's answers (nothing cached, 0 bytes); with one, kiln keeps no count to report
def empty_cache() -> None:
    """Nothing to release: kiln keeps no cache of device memory (Numba frees on release)."""


def _no_memory_count(name: str) -> int:
    if is_available():
        raise NotImplementedError(f"torch.cuda.{name}: kiln does not count CUDA memory")
    return 0


def memory_allocated(device=None) -> int:
    return _no_memory_count("memory_allocated")


def max_memory_allocated(device=None) -> int:
    return _no_memory_count("max_memory_allocated")


def memory_reserved(device=None) -> int:
    return _no_memory_count("memory_reserved")


def max_memory_reserved(device=None) -> int:
    return _no_memory_count("max_memory_reserved")


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False  # (PyTorch's answer without a GPU; a script then keeps float16 or float32)


def is_tf32_supported() -> bool:
    return False  # (kiln's float32 matmuls are full precision; PyTorch's CPU-build answer)


max_memory_cached = max_memory_reserved
memory_cached = memory_reserved


def memory_stats(device=None) -> dict:
    """``{}`` without a GPU (PyTorch's answer); with one, kiln keeps no counts to report."""
    import collections

    _no_memory_count("memory_stats")
    return collections.OrderedDict()


def _reset_counts(device=None) -> None:
    """Nothing to reset: kiln keeps no counts of CUDA memory."""


reset_peak_memory_stats = _reset_counts
reset_max_memory_allocated = _reset_counts
reset_max_memory_cached = _reset_counts
reset_accumulated_memory_stats = _reset_counts


def memory_summary(device=None, abbreviated: bool = False) -> str:
    """A line saying that kiln keeps no counts of CUDA memory (PyTorch prints a table)."""
    return "kiln keeps no counts of CUDA memory (torch.cuda.memory_summary has nothing to show)\n"


def set_per_process_memory_fraction(fraction: float, device=None) -> None:
    """Accepted, not enforced (kiln does not cap Numba's allocations)."""
    _lazy_init()
    if not 0 <= fraction <= 1:
        raise ValueError(f"Invalid fraction value: {fraction}. Allowed range: 0~1")


def utilization(device=None) -> int:
    """The GPU's percent of time busy over the last sample (through ``pynvml``, as PyTorch)."""
    try:
        import pynvml
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "nvidia-ml-py does not seem to be installed or it can't be imported."
        ) from None
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(_checked_index(device))
    return int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)


OutOfMemoryError = _memory_errors.OutOfMemoryError  # (also kiln.OutOfMemoryError)


class _Nvtx:
    """``torch.cuda.nvtx``: range markers for NVIDIA's profilers. kiln emits none (Numba has
    no NVTX); with a device the calls keep PyTorch's return values (the nesting depth),
    without one they raise PyTorch's RuntimeError of a build without CUDA."""

    def __init__(self):
        self._depth = 0

    @staticmethod
    def _require():
        if not is_available():
            raise RuntimeError("NVTX functions not installed. Are you sure you have a CUDA build?")

    def range_push(self, msg: str) -> int:
        self._require()
        self._depth += 1
        return self._depth - 1

    def range_pop(self) -> int:
        self._require()
        if self._depth == 0:
            return -1
        self._depth -= 1
        return self._depth

    def range_start(self, msg: str) -> int:
        self._require()
        return 0

    def range_end(self, range_id: int) -> None:
        self._require()

    def mark(self, msg: str) -> None:
        self._require()

    def range(self, msg: str, *args, **kwargs):
        return _NvtxRange(self, msg.format(*args, **kwargs))


class _NvtxRange:
    def __init__(self, nvtx, msg):
        self.nvtx, self.msg = nvtx, msg

    def __enter__(self):
        self.nvtx.range_push(self.msg)
        return self

    def __exit__(self, *exc):
        self.nvtx.range_pop()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapped


nvtx = _Nvtx()
has_half = True
has_magma = False


def is_current_stream_capturing() -> bool:
    """False: kiln captures no CUDA graphs."""
    return False


def list_gpu_processes(device=None) -> str:
    """The processes using the GPU (through ``pynvml``, as PyTorch; its message without)."""
    try:
        import pynvml
    except ModuleNotFoundError:
        return "pynvml module not found, please install nvidia-ml-py"
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(_checked_index(device))
    processes = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    lines = [f"GPU:{_index(device)}"]
    if not processes:
        lines.append("no processes are running")
    for process in processes:
        megabytes = process.usedGpuMemory / (1024 * 1024)
        lines.append(f"process {process.pid:>10d} uses {megabytes:>12.3f} MB GPU memory")
    return "\n".join(lines)


def _legacy_cuda(name: str, dtype):
    """``kiln.cuda.FloatTensor(2, 3)`` / ``(data)``: the CPU constructor's tensor on the GPU;
    without a device, PyTorch's TypeError of a build without CUDA."""

    def make(*args):
        if not is_available():
            raise TypeError(
                f"type torch.cuda.{name} not available. Torch not compiled with CUDA enabled."
            )
        from .compat import _legacy

        return _legacy(dtype)(*args).to("cuda")

    make.__name__ = name
    make.__qualname__ = name
    return make


FloatTensor = _legacy_cuda("FloatTensor", dtypes.float32)
DoubleTensor = _legacy_cuda("DoubleTensor", dtypes.float64)
HalfTensor = _legacy_cuda("HalfTensor", dtypes.float16)
BFloat16Tensor = _legacy_cuda("BFloat16Tensor", dtypes.bfloat16)
LongTensor = _legacy_cuda("LongTensor", dtypes.int64)
IntTensor = _legacy_cuda("IntTensor", dtypes.int32)
ShortTensor = _legacy_cuda("ShortTensor", dtypes.int16)
CharTensor = _legacy_cuda("CharTensor", dtypes.int8)
ByteTensor = _legacy_cuda("ByteTensor", dtypes.uint8)
BoolTensor = _legacy_cuda("BoolTensor", dtypes.bool_)


# ------------------------------------------------------------------------ CUDA tensors


class CudaTensor(Tensor):
    """A tensor whose data is a Numba device array on ``cuda:0``."""

    __slots__ = ()
    _cpu_class = Tensor

    @property
    def device(self):
        return CUDA0

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        adopt(self, value._data if isinstance(value, Tensor) else np.asarray(value))

    def numpy(self, *args, **kwargs):
        raise TypeError(_NUMPY_MESSAGE)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_NUMPY_MESSAGE)

    def _host(self) -> np.ndarray:
        return _runtime.to_host(self._data)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"item(): a Tensor with {self._data.size} elements cannot be "
                "converted to a Python scalar"
            )
        return self._host().reshape(()).item()

    def tolist(self):
        return self._host().tolist()

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} elements is ambiguous"
            )
        return bool(self._host().reshape(()))

    def detach(self):
        return wrap(self._data)

    def cpu(self):
        return self.to("cpu")

    def to(self, *args, **kwargs):
        target, dtype = _parse_to(args, kwargs)
        out = self
        if target is not None and target.type == "cpu":
            out = _wrap(self._host())
        if dtype is not None and dtype is not out.dtype:
            out = Tensor.to(out, dtype)
        return out

    def clone(self, memory_format=None):
        if dispatch.current_trace() is None and not self.requires_grad:
            copy = _runtime.empty(self._data.shape, self._data.dtype)
            if self._data.size:
                _runtime.copy(copy, self._data)
            return wrap(copy)
        return super().clone()

    def __reduce_ex__(self, protocol):
        return (_rebuild_on_cuda, (self._host(), self.requires_grad))


def _rebuild_on_cuda(array, requires_grad):
    out = wrap(_runtime.to_device(array))
    out._requires_grad = requires_grad
    return out


_CUDA_CLASSES: dict[type, type] = {Tensor: CudaTensor}


def cuda_class(cls: type) -> type:
    """The CUDA version of a tensor class (``Parameter`` -> ``CudaParameter``)."""
    if issubclass(cls, CudaTensor):
        return cls
    found = _CUDA_CLASSES.get(cls)
    if found is None:
        found = type(
            f"Cuda{cls.__name__}",
            (CudaTensor, cls),
            {"__slots__": (), "_cpu_class": cls, "__module__": cls.__module__},
        )
        _CUDA_CLASSES[cls] = found
    return found


def adopt(t: Tensor, data) -> None:
    """Give ``t`` new storage ``data``, switching its class to match the data's device
    (``param.data = param.data.to("cuda")`` keeps the Parameter object, now on the GPU)."""
    if _runtime.is_device_array(data):
        t.__class__ = cuda_class(type(t))
    elif isinstance(t, CudaTensor):
        t.__class__ = type(t)._cpu_class
    t._data = data


def wrap(data) -> Tensor:
    """Wrap an array as a fresh tensor: a ``CudaTensor`` for device arrays."""
    if type(data) is np.ndarray or not _runtime.is_device_array(data):
        return _wrap(data)
    t = CudaTensor.__new__(CudaTensor)
    t._data = data
    t._node = None
    t._requires_grad = False
    t.grad = None
    t.grad_fn = None
    t._retain = False
    t._vc = [0]
    return t


def _parse_to(args, kwargs):
    from .dtypes import dtype as dtype_cls

    target, dtype = kwargs.get("device"), kwargs.get("dtype")
    for a in args:
        if isinstance(a, dtype_cls):
            dtype = a
        elif isinstance(a, (str, _device)):
            target = a
        elif isinstance(a, Tensor):
            dtype, target = a.dtype, a.device
    return (None if target is None else _device(target)), dtype


def to_device(x: Tensor, dev) -> Tensor:
    """``x.to("cuda")``: a copy of ``x`` on the GPU (``kiln.ops.to_device`` calls this)."""
    dev = _device(dev)
    if dev.index not in (None, 0):
        raise RuntimeError(f"CUDA error: invalid device ordinal: kiln uses one GPU, got {dev}")
    if isinstance(x, CudaTensor):
        return x
    if x._node is not None:
        raise RuntimeError(
            "to(): moving a traced tensor to another device inside kiln.jit is "
            "not supported; move the inputs before calling the function"
        )
    _runtime.require()
    enable()
    out = wrap(_runtime.to_device(x._data))
    # a leaf on the GPU (gradients do not flow back across the copy)
    out._requires_grad = x.requires_grad
    return out


# ---------------------------------------------------------------------- eager dispatch


def _mismatch(a: str, b: str) -> RuntimeError:
    return RuntimeError(
        f"Expected all tensors to be on the same device, but found at least "
        f"two devices, {a} and {b}!"
    )


def device_bind(prim, inputs, params):
    """``kiln.dispatch.bind`` for tensors on the GPU (``NotImplemented`` for CPU-only ops)."""
    on_cuda = False
    for x in inputs:
        if isinstance(x, CudaTensor):
            on_cuda = True
            break
    if not on_cuda:
        return NotImplemented
    arrays = []
    for position, x in enumerate(inputs):
        data = x._data
        # 0-d CPU tensors are scalars; CPU indices of index ops are allowed (as in PyTorch)
        if (
            type(data) is np.ndarray
            and data.ndim != 0
            and not (position == 1 and prim.kind == "index")
        ):
            raise (
                _mismatch("cuda:0", "cpu")
                if isinstance(inputs[0], CudaTensor)
                else _mismatch("cpu", "cuda:0")
            )
        arrays.append(data)
    out = wrap(run_primitive(prim.name, arrays, params))
    if "writable_view" in prim.properties:
        # A device view is a copy here: an in-place update of ``out`` is written through to
        # its base by kiln.ops.inplace.assign, as a NumPy view would be.
        out._view_of = (inputs[0], prim.name, params)
    return out


def copy_into(x: Tensor, new: Tensor) -> None:
    """Store ``new``'s values into CUDA tensor ``x``'s storage (an eager in-place op)."""
    source = new._data
    if not _runtime.is_device_array(source):
        source = _runtime.to_device(np.broadcast_to(source, x.shape).astype(x._data.dtype))
    if x._data.size:
        _runtime.copy(x._data, source)


def _move_array(array: np.ndarray) -> Tensor:
    """A NumPy array's copy on the GPU (``dispatch.constant(..., like=cuda_tensor)``)."""
    return wrap(_runtime.to_device(array))


def enable() -> None:
    """Route eager ops through ``device_bind`` (done when the first CUDA tensor is made)."""
    dispatch.register_device(device_bind)
    dispatch.register_device_move("cuda", _move_array)
    _INITIALIZED[0] = True


class _CudaAmp:
    """``torch.cuda.amp``: the deprecated spellings ``torch.cuda.amp.autocast(...)`` and
    ``torch.cuda.amp.GradScaler(...)`` of ``torch.amp``'s, still common in AMP code."""

    @staticmethod
    def autocast(enabled: bool = True, dtype=None, cache_enabled: bool = True):
        from . import amp as _amp

        kwargs = {} if dtype is None else {"dtype": dtype}
        return _amp.autocast("cuda", enabled=enabled, cache_enabled=cache_enabled, **kwargs)

    @staticmethod
    def GradScaler(*args, **kwargs):  # noqa: N802 - PyTorch's name
        from . import amp as _amp

        return _amp.GradScaler("cuda", *args, **kwargs)


amp = _CudaAmp()
