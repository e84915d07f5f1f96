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

from . import dispatch
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


def current_device() -> int:
    return 0


def get_device_name(device=None) -> str:
    _runtime.require()
    return _runtime.device_name(0)


def synchronize(device=None) -> None:
    """Wait for every kernel launched so far to finish."""
    _runtime.synchronize()


def manual_seed(seed: int) -> None:
    """Random numbers are drawn on the CPU and copied: ``kiln.manual_seed`` covers them."""
    import kiln

    kiln.manual_seed(seed)


manual_seed_all = manual_seed


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
