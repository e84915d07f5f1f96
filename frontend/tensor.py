"""``Tensor``: a NumPy array (eager) or a graph value (traced), with autograd attributes.

Methods are thin: each forwards to a function in ``kiln.ops``, which promotes dtypes and
calls the one bind point (``kiln.dispatch.bind``).

>>> x = tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])
"""

from __future__ import annotations

import builtins
import weakref

import numpy as np

from . import dtypes, ops, printing
from . import memory_format as _mf
from .context import INFERENCE_BLOCKS, INFERENCE_MODE, current, current_trace
from .device import CPU
from .device import device as _device_cls


class Size(tuple):
    """A tensor's shape: a tuple, as ``torch.Size``."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"kiln.Size({list(self)})"

    # as torch.Size: a slice, a sum with a tuple and a repeat are Sizes too
    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, count):
        return Size(tuple.__mul__(self, count))

    __rmul__ = __mul__


# Bumped whenever user code changes a tensor's metadata (``.data =``, ``requires_grad``,
# a device move): a compiled function re-checks its captured tensors only after it moved.
_META_EPOCH = [0]


def meta_epoch() -> int:
    return _META_EPOCH[0]


_NON_LEAF_REQUIRES_GRAD = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
)


# ``Tensor.type("torch.DoubleTensor")``: PyTorch's legacy tensor type names
_LEGACY_TENSOR_TYPES = {
    "Float": dtypes.float32,
    "Double": dtypes.float64,
    "Half": dtypes.float16,
    "BFloat16": dtypes.bfloat16,
    "Long": dtypes.int64,
    "Int": dtypes.int32,
    "Short": dtypes.int16,
    "Char": dtypes.int8,
    "Byte": dtypes.uint8,
    "Bool": dtypes.bool_,
    "ComplexFloat": dtypes.complex64,
    "ComplexDouble": dtypes.complex128,
}


class Tensor:
    __slots__ = (
        "_data",
        "_node",
        "_requires_grad",
        "_grad",
        "grad_fn",
        "_retain",
        "_vc",
        "__weakref__",
        "__dict__",
    )
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    is_meta = False  # kiln.meta.MetaTensor: a tensor without data

    # -------------------------------------------------------------- construction
    def __init__(self, *args, requires_grad: bool = False):
        # PyTorch's legacy constructor (prefer ``kiln.tensor``): ``Tensor()`` is empty,
        # ``Tensor(2, 3)`` and ``Tensor(kiln.Size([2, 3]))`` are of those sizes (zeros where
        # PyTorch leaves memory uninitialized), ``Tensor(sequence or array)`` holds the
        # data in the default float dtype, and ``Tensor(tensor)`` shares the tensor's data.
        data = args[0] if len(args) == 1 else None
        if len(args) > 1 or _is_size(data):
            sizes = tuple(data) if isinstance(data, Size) else args
            if not all(_is_size(n) for n in sizes) or any(int(n) < 0 for n in sizes):
                raise TypeError(
                    f"new(): argument 'size' must be a tuple of non-negative ints, got "
                    f"{tuple(type(n).__name__ for n in sizes)}"
                )
            data = np.zeros(tuple(int(n) for n in sizes), dtypes.get_default_dtype().np)
        elif data is None:
            data = np.zeros((0,), dtype=dtypes.get_default_dtype().np)
        elif isinstance(data, Tensor):
            if data.is_meta:  # Parameter(meta_tensor) is a meta Parameter
                from .meta import meta_class

                self.__class__ = meta_class(type(self))
            data = data._data
        else:
            if isinstance(data, (builtins.float, builtins.complex, builtins.bool, np.generic)):
                raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
            data = np.asarray(data)
            if data.dtype.kind in "biuf" and data.dtype != dtypes.get_default_dtype().np:
                data = data.astype(dtypes.get_default_dtype().np)
        self._data = data
        self._node = None
        self._requires_grad = requires_grad
        self._grad = None
        self.grad_fn = None
        self._retain = False
        self._vc = [0]

    # -------------------------------------------------------------- attributes
    @property
    def grad(self):
        """The accumulated gradient (``None`` until a backward pass reaches this leaf)."""
        trace = current_trace()
        if trace is not None and self._node is None:
            return trace.traced_grad(self)  # what the traced program has stored so far
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:  # (PyTorch's checks: a misfit would accumulate wrongly later)
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if tuple(value.shape) != tuple(self.shape):
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor "
                    f"of size '{list(self.shape)}'. Please ensure that the gradient and the "
                    "tensor are the same size"
                )
            if value.dtype is not self.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{value.dtype}' to a tensor "
                    f"with dtype '{self.dtype}'. The gradient must match the tensor's dtype"
                )
        trace = current_trace()
        if trace is not None and self._node is None:
            trace.set_grad(self, value)  # zero_grad() inside a traced step: a write-back
        else:
            self._grad = value

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        shape = self.shape
        return shape if dim is None else shape[dim]

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes._BY_NP[self._data.dtype]

    @property
    def ndim(self) -> int:
        # (the hot case without building a Size: an array whose shape ``shape`` reports)
        if type(self).shape is _ARRAY_SHAPE:
            data = self._data
            if type(data) is np.ndarray:
                return data.ndim
        return len(self.shape)

    def dim(self) -> int:
        return self.ndim

    def ndimension(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self.shape.numel()

    def nelement(self) -> int:
        return self.numel()

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def device(self) -> _device_cls:
        return CPU

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def _version(self) -> int:
        """The in-place version counter, shared by a tensor and the views of its storage,
        so autograd sees a change made through either (as PyTorch's ``_version``)."""
        return self._vc[0]

    @_version.setter
    def _version(self, value: int) -> None:
        self._vc[0] = value

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None and not value:  # PyTorch's error (kiln kept the graph)
            raise RuntimeError(_NON_LEAF_REQUIRES_GRAD)
        if value and not (self.dtype.is_floating_point or self.dtype.is_complex):
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients"
            )
        if value and "_inference" in self.__dict__ and not INFERENCE_MODE.get():
            raise RuntimeError(
                "Setting requires_grad=True on inference tensor outside InferenceMode is not "
                "allowed."
            )
        # a compiled function checks its captured tensors' requires_grad only after this
        # epoch moved (kiln.jit's guards): every change by user code bumps it
        self._requires_grad = value
        _META_EPOCH[0] += 1

    @property
    def data(self) -> Tensor:
        """The same storage without autograd history (``p.data`` in PyTorch), with a
        version counter of its own: an in-place change through it is hidden from autograd
        (``detach()`` shares the counter)."""
        out = self.detach()
        out._vc = [0]
        return out

    @data.setter
    def data(self, value: Tensor) -> None:
        new = value._data if isinstance(value, Tensor) else np.asarray(value)
        if self.is_meta or getattr(value, "is_meta", False):
            from .meta import adopt  # Module.to("meta"), Module.to_empty()

            adopt(self, value)
        elif type(new) is not np.ndarray or type(self._data) is not np.ndarray:
            from . import cuda  # moving between devices (Module.to("cuda"))

            cuda.adopt(self, new)
        else:
            self._data = new
        _META_EPOCH[0] += 1

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __hash__(self) -> int:
        return id(self)

    # -------------------------------------------------------------- conversion
    def numpy(self, *, force: bool = False) -> np.ndarray:
        if force:  # PyTorch: detached, on the CPU, conjugation resolved
            t = self.detach()
            if t.device.type != "cpu":
                t = t.to("cpu")
            if getattr(t, "is_conj", None) is not None and t.is_conj():
                t = t.resolve_conj()
            return t.numpy()
        read = getattr(current_trace(), "read_value", None)
        if read is not None:  # a traced function reads a captured tensor's value: guarded
            read(self, "numpy()")
        if self.requires_grad and current().grad_enabled:  # (PyTorch's: no_grad allows it)
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        if self._data.dtype.kind == "V":
            raise TypeError("Got unsupported ScalarType BFloat16")  # PyTorch's
        return self._data

    def __array__(self, dtype=None, copy=None):
        read = getattr(current_trace(), "read_value", None)
        if read is not None:  # a traced function reads a captured tensor's value: guarded
            read(self, "a NumPy conversion")
        arr = self._data
        if arr.dtype.kind == "V":
            raise TypeError("Got unsupported ScalarType BFloat16")  # PyTorch's
        return arr if dtype is None else arr.astype(dtype)

    def item(self):
        read = getattr(current_trace(), "read_value", None)
        if read is not None:  # a traced function reads a captured tensor's value: guarded
            read(self, "item()")
        if self._data.size != 1:
            raise RuntimeError(
                f"item(): a Tensor with {self._data.size} elements cannot be "
                "converted to a Python scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        read = getattr(current_trace(), "read_value", None)
        if read is not None:  # a traced function reads a captured tensor's value: guarded
            read(self, "tolist()")
        return self._data.tolist()

    def __bool__(self) -> bool:
        read = getattr(current_trace(), "read_value", None)
        if read is not None:  # a traced function reads a captured tensor's value: guarded
            read(self, "bool()")
        if self._data.size != 1:  # (PyTorch's words)
            how = "no values" if self._data.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {how} is ambiguous")
        return builtins.bool(self._data.reshape(()))

    def _one_element(self) -> None:
        """PyTorch's ValueError of float() / int() / complex() on a larger tensor (.item()
        raises RuntimeError)."""
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")

    def __float__(self) -> float:
        self._one_element()
        return builtins.float(self.item())

    def __int__(self) -> int:
        self._one_element()
        return builtins.int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __complex__(self):
        self._one_element()
        return complex(self.item())

    def __format__(self, spec):
        # PyTorch's: a plain 0-d tensor formats as its number; any other tensor accepts only
        # the empty spec (its str), as ``object.__format__``
        cls = type(self)
        if self.ndim == 0 and not self.is_meta and cls.__dict__.get("_cpu_class", cls) is Tensor:
            return format(self.detach().item(), spec)
        return object.__format__(self, spec)

    def __repr__(self) -> str:
        return _repr(self)

    # -------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd.tape import backward

        backward(
            [self], None if gradient is None else [gradient], retain_graph, create_graph, inputs
        )

    def detach(self) -> Tensor:
        out = _wrap(self._data)
        out._vc = self._vc  # one storage, one version counter (PyTorch's detach)
        if "_inference" in self.__dict__:  # (a view of an inference tensor is one)
            out._inference = True
        return out

    def detach_(self) -> Tensor:
        if "_view_of" in self.__dict__:  # PyTorch's error: the base's history holds the view
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf:
            if requires_grad:
                return self  # it requires grad already (PyTorch's no-op)
            raise RuntimeError(_NON_LEAF_REQUIRES_GRAD)
        if requires_grad and not (self.dtype.is_floating_point or self.dtype.is_complex):
            raise RuntimeError(
                f"requires_grad_(): only Tensors of floating point and complex dtype can "
                f"require gradients, got {self.dtype}"
            )
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` of this non-leaf tensor after ``backward`` (a no-op on a leaf)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self._retain = True
            self.grad_fn.retained = weakref.ref(self)  # the engine stores the grad here

    @property
    def retains_grad(self) -> bool:
        return self._retain

    def register_hook(self, hook):
        """``hook(grad)`` runs on this tensor's gradient; a non-None result replaces it.

        Returns a handle whose ``remove()`` unregisters the hook."""
        from .autograd.tape import register_tensor_hook

        return register_tensor_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor)`` runs after a backward pass has accumulated into ``self.grad``."""
        if not self.is_leaf:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        self.__dict__.setdefault("_post_accumulate_hooks", []).append(hook)
        return hook

    # -------------------------------------------------------------- dtype / device
    def to(self, *args, **kwargs) -> Tensor:
        dtype = kwargs.get("dtype")
        dev = kwargs.get("device")
        for a in args:
            if isinstance(a, dtypes.dtype):
                dtype = a
            elif isinstance(a, (str, _device_cls)):
                dev = a
            elif isinstance(a, Tensor):
                dtype, dev = a.dtype, a.device
        out = self
        fmt = kwargs.get("memory_format")
        if fmt is not None and fmt is not _mf.preserve_format and not out.is_contiguous(fmt):
            out = _relaid(_ops().clone(out), fmt)
        if dev is not None:
            out = _ops().to_device(out, dev)
        if dtype is not None and dtype is not out.dtype:
            if out.dtype.is_complex and not dtypes.as_dtype(dtype).is_complex:
                from .complex_tensors import to_real_dtype  # keeps the real part, warns

                return to_real_dtype(out, dtypes.as_dtype(dtype))
            out = _ops().cast(out, dtype)
        return out

    def type(self, dtype=None):
        if dtype is None:
            return f"kiln.{ {'float32': 'Float', 'float64': 'Double', 'int64': 'Long', 'int32': 'Int', 'bool': 'Bool', 'complex64': 'ComplexFloat', 'complex128': 'ComplexDouble', 'bfloat16': 'BFloat16'}.get(self.dtype.name, self.dtype.name) }Tensor"  # noqa: E501
        if getattr(dtype, "_legacy_dtype", None) is not None:  # x.type(torch.DoubleTensor)
            return self.to(dtype._legacy_dtype)
        if isinstance(dtype, str) and dtype.endswith("Tensor"):  # x.type("torch.IntTensor")
            prefix, _, name = dtype.rpartition(".")
            if prefix not in ("torch", "kiln", "torch.cuda", "kiln.cuda") or (
                name[:-6] not in _LEGACY_TENSOR_TYPES
            ):
                raise ValueError(f"invalid type: '{dtype}'")
            out = self.to(_LEGACY_TENSOR_TYPES[name[:-6]])
            return out.to("cuda") if prefix.endswith("cuda") else out
        return self.to(dtypes.as_dtype(dtype))

    def float(self, memory_format=None):
        return self.to(dtypes.float32, memory_format=memory_format)

    def double(self, memory_format=None):
        return self.to(dtypes.float64, memory_format=memory_format)

    def half(self, memory_format=None):
        return self.to(dtypes.float16, memory_format=memory_format)

    def bfloat16(self, memory_format=None):
        return self.to(dtypes.bfloat16, memory_format=memory_format)

    def long(self, memory_format=None):
        return self.to(dtypes.int64, memory_format=memory_format)

    def int(self, memory_format=None):
        return self.to(dtypes.int32, memory_format=memory_format)

    def bool(self, memory_format=None):
        return self.to(dtypes.bool_, memory_format=memory_format)

    def short(self, memory_format=None):
        return self.to(dtypes.int16, memory_format=memory_format)

    def byte(self, memory_format=None):
        return self.to(dtypes.uint8, memory_format=memory_format)

    def char(self, memory_format=None):
        return self.to(dtypes.int8, memory_format=memory_format)

    def cfloat(self, memory_format=None):
        return self.to(dtypes.complex64, memory_format=memory_format)

    def cdouble(self, memory_format=None):
        return self.to(dtypes.complex128, memory_format=memory_format)

    def chalf(self, memory_format=None):
        raise TypeError(
            f"chalf: kiln has no complex32 (complex half) dtype to convert {self.dtype.name} "
            "to; cfloat() gives complex64"
        )

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def clone(self, memory_format=None):
        out = _cloned(self)
        if memory_format is None or memory_format is _mf.preserve_format:
            data = self._data
            if self._node is None and type(data) is np.ndarray and self.ndim:
                # a dense tensor's strides exactly; else PyTorch's dense order of them
                dense = _mf._is_dense(data)
                out._data = _mf.copy_strides(data) if dense else _mf.dense_like(data, data)
            return out
        return _relaid(out, memory_format)

    def contiguous(self, memory_format=None):
        if self.is_contiguous(memory_format):
            return self
        return _relaid(_cloned(self), memory_format)

    def is_contiguous(self, memory_format=None):
        """PyTorch's rule, from the NumPy array's strides (a traced value is contiguous;
        an empty tensor is, as PyTorch's is, in the default format)."""
        if (memory_format is None or memory_format is _mf.contiguous_format) and not (self.numel()):
            return True
        return _mf.is_contiguous(self.shape, self.stride(), memory_format)

    def stride(self, dim=None):
        """Elements to skip per step along each axis (PyTorch's strides, not NumPy's bytes)."""
        data = self._data
        if self._node is None and type(data) is np.ndarray:
            # NumPy's strides of an empty array are all 0; PyTorch's kernels give dense ones
            if not data.size:
                strides = _mf._dense_strides(data.shape, range(data.ndim))
            else:
                strides = _mf.element_strides(data)
            read = getattr(current_trace(), "read_layout", None)
            if read is not None:  # a traced function reads a tensor's layout
                read(self)
        else:
            strides = _mf._dense_strides(self.shape, range(self.ndim))
        return strides if dim is None else strides[dim]

    def copy_(self, src, non_blocking=False):
        return _ops().inplace(self, "copy_", src)

    # -------------------------------------------------------------- quantization (kiln.ao)
    is_quantized = False  # kiln.ao.quantized_tensor.QuantizedTensor: quint8/qint8/qint32

    def dequantize(self) -> Tensor:
        """A quantized tensor's float32 values; a dense tensor as float32 (as PyTorch)."""
        return self.to(dtypes.float32)

    def int_repr(self):
        raise _not_quantized("int_repr")

    def q_scale(self):
        raise _not_quantized("q_scale")

    def q_zero_point(self):
        raise _not_quantized("q_zero_point")

    def qscheme(self):
        raise _not_quantized("qscheme")

    def q_per_channel_scales(self):
        raise _not_quantized("q_per_channel_scales")

    def q_per_channel_zero_points(self):
        raise _not_quantized("q_per_channel_zero_points")

    def q_per_channel_axis(self):
        raise _not_quantized("q_per_channel_axis")

    # -------------------------------------------------------------- layout (kiln.sparse)
    is_sparse = False  # kiln.sparse.SparseTensor: a COO tensor

    @property
    def layout(self):
        from .sparse import strided

        return strided

    def to_sparse(self, *args, **kwargs):
        from .sparse import to_sparse

        return to_sparse(self, *args, **kwargs)

    def to_sparse_coo(self):
        return self.to_sparse()

    is_sparse_csr = False  # (kiln has no compressed layouts)

    def to_sparse_csr(self, *args, **kwargs):
        raise NotImplementedError("to_sparse_csr: kiln has no sparse_csr layout (use to_sparse)")

    def to_sparse_csc(self, *args, **kwargs):
        raise NotImplementedError("to_sparse_csc: kiln has no sparse_csc layout (use to_sparse)")

    def to_sparse_bsr(self, *args, **kwargs):
        raise NotImplementedError("to_sparse_bsr: kiln has no sparse_bsr layout (use to_sparse)")

    def to_dense(self, dtype=None, *, masked_grad=None):
        return self if dtype is None else self.to(dtype)

    # -------------------------------------------------------------- memory (kiln.multiprocessing)
    def share_memory_(self):
        """Move the values into memory shared with forked processes (PyTorch's)."""
        from .multiprocessing.shared_memory import share_memory_

        return share_memory_(self)

    def is_shared(self) -> bool:
        from .multiprocessing.shared_memory import is_shared

        return is_shared(self)

    def pin_memory(self, device=None):
        # (what PyTorch's CPU-only build says: pinned memory needs an accelerator)
        raise RuntimeError("Cannot access accelerator device when none is available.")

    def is_pinned(self, device=None) -> bool:
        return False

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        """PyTorch's default: ``func`` runs with subclasses' overrides off, and its tensor
        results are given the subclass ``cls`` (``kiln.overrides``)."""
        from .overrides import _default_torch_function

        return _default_torch_function(cls, func, types, args, kwargs)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        from .overrides_install import note_tensor_subclass  # (it may need the protocol)

        note_tensor_subclass(cls)

    @staticmethod
    def _make_subclass(cls, data, require_grad=False):
        """``data``'s storage as a new ``cls`` instance without history (PyTorch's)."""
        out = data.detach().as_subclass(cls)
        out.requires_grad_(require_grad)
        return out

    def as_subclass(self, cls):
        """The same data as an instance of ``cls``, a subclass of Tensor (PyTorch's: an
        alias that autograd sees through, ``AliasBackward0``)."""
        if not (isinstance(cls, type) and issubclass(cls, Tensor)):
            raise TypeError(f"as_subclass: cls must be a subclass of Tensor, got {cls!r}")
        out = self.unsqueeze(0).squeeze(0)  # (a new tensor: view_as(self) may give self)
        if out.grad_fn is not None:
            from .autograd.tape import rename

            rename(out, "AliasBackward0", self)
        out.__class__ = cls
        return out

    @property
    def output_nr(self) -> int:
        """Which output of its ``grad_fn`` this tensor is (0 for a leaf)."""
        node = self.grad_fn
        if node is None:
            return 0
        if getattr(node, "index", None) is None and type(node).__name__ in _SPLIT_NODES:
            # (kiln records a node per piece and does not keep which piece it is)
            raise NotImplementedError(
                f"output_nr: kiln does not know which output of {type(node).__name__} this "
                "tensor is (the pieces of unbind/split/chunk)"
            )
        return int(getattr(node, "index", 0) or 0)

    name = None  # (PyTorch's ``Tensor.name``: None for a tensor without a named dimension)

    def set_(self, source=None, storage_offset=0, size=None, stride=None):
        """PyTorch's ``set_``: share ``source``'s memory (a tensor or a storage, with
        ``storage_offset``, ``size`` and ``stride`` in elements); ``set_()`` empties."""
        from .ops.inplace import check_leaf
        from .storage import TypedStorage, UntypedStorage

        check_leaf(self, "set_")
        if self._node is not None or type(self._data) is not np.ndarray:
            raise RuntimeError("set_: only an eager CPU tensor's memory can be replaced")
        dtype = self._data.dtype
        if source is None:
            self._data = np.zeros((0,), dtype=dtype)
        elif isinstance(source, Tensor):
            if source.dtype is not self.dtype:
                raise RuntimeError(
                    f"Could not set tensor of type {source.dtype.name} to a tensor of type "
                    f"{self.dtype.name}"
                )
            if size is not None or storage_offset:
                return self.set_(source.untyped_storage(), storage_offset, size, stride)
            self._data = source._data
        elif isinstance(source, (UntypedStorage, TypedStorage)):
            raw = source._bytes if isinstance(source, UntypedStorage) else source._elements
            raw = raw.view(np.uint8)
            size = (raw.size // dtype.itemsize,) if size is None else tuple(size)
            if stride is None:
                stride = _mf._dense_strides(size, range(len(size)))
            span = 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
            if span and (storage_offset + span) * dtype.itemsize > raw.size:
                raise RuntimeError(
                    f"set_: a tensor of size {list(size)}, stride {list(stride)} and offset "
                    f"{storage_offset} needs {storage_offset + span} elements; the storage "
                    f"holds {raw.size // dtype.itemsize}"
                )
            self._data = np.ndarray(
                size,
                dtype=dtype,
                buffer=raw,
                offset=int(storage_offset) * dtype.itemsize,
                strides=tuple(int(s) * dtype.itemsize for s in stride),
            )
        else:
            raise TypeError(f"set_: source must be a Tensor or a storage, got {type(source)}")
        self.__dict__.pop("_view_of", None)  # (no longer a view of its old base)
        self._version += 1
        _META_EPOCH[0] += 1
        return self

    # the many math/shape methods are attached by kiln.ops.methods


# the multi-output nodes whose outputs kiln records one node each (Tensor.output_nr)
_SPLIT_NODES = ("UnbindBackward0", "SplitBackward0", "SplitWithSizesBackward0")

# Non-empty once kiln.sparse made its first sparse tensor: until then no operand is sparse,
# and the hottest ops skip their test of it
SPARSE_SEEN: list = []

_ARRAY_SHAPE = Tensor.shape  # (``ndim`` reads the array where a subclass keeps ``shape``)


def _not_quantized(op: str) -> NotImplementedError:
    return NotImplementedError(
        f"Could not run 'aten::{op}' with arguments from the 'CPU' backend: it takes a "
        "quantized tensor (kiln.quantize_per_tensor, kiln.quantize_per_channel)"
    )


def graph_node(x):
    """``x``'s node in the graph a kiln.jit trace is building; None for an eager tensor and
    for a ``kiln.func`` level's wrapper (vmap, grad: its ``_node`` is not a graph node and
    its values are not read by the caller)."""
    node = getattr(x, "_node", None)
    return node if node is not None and hasattr(node, "op") else None


def _wrap(data) -> Tensor:
    """Wrap a NumPy result as a fresh tensor (no copy, no checks: the hot path)."""
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    t = Tensor.__new__(Tensor)
    t._data = data
    t._node = None
    t._requires_grad = False
    t._grad = None
    t.grad_fn = None
    t._retain = False
    t._vc = [0]
    if INFERENCE_BLOCKS[0] and INFERENCE_MODE.get():  # (made inside inference_mode)
        t._inference = True
    return t


def _relaid(t: Tensor, fmt) -> Tensor:
    """``t`` (a fresh tensor) with its eager data laid out as memory format ``fmt``."""
    if t._node is None and type(t._data) is np.ndarray:
        t._data = _mf.relayout(t._data, fmt)
    elif t._node is not None and fmt is not _mf.preserve_format:
        from .tracing import set_layout  # a traced copy reports the layout asked for

        order = getattr(fmt, "_order", None) or range(t.ndim)
        if len(order) == t.ndim:
            set_layout(t, _mf._dense_strides(t._node.shape, order))
    return t


def _cloned(t: Tensor) -> Tensor:
    """``clone`` with PyTorch's node (``CloneBackward0``, one edge to ``t``)."""
    out = _ops().clone(t)
    if out.grad_fn is not None:
        from .autograd.tape import rename

        rename(out, "CloneBackward0", t)
    return out


def _ops():

    return ops


def _is_size(value) -> bool:
    """A size in ``Tensor(2, 3)`` or a ``Size`` (not a bool, which is data)."""
    return isinstance(value, Size) or (
        isinstance(value, (builtins.int, np.integer)) and not isinstance(value, builtins.bool)
    )


def _repr(t: Tensor) -> str:
    if t._node is not None:
        return f"Tracer({t._node.type_str})"
    return printing.tensor_repr(t)


class PlaceholderAttributeError(NotImplementedError, AttributeError):
    """A read of a ``NoValues`` placeholder's attribute: PyTorch's NotImplementedError, and
    an AttributeError too, so that ``getattr(x._data, "base", None)`` and ``hasattr``
    probes see no such attribute."""


class NoValues:
    """The ``_data`` of a Tensor subclass that holds no dense values (sparse, quantized):
    its shape and NumPy dtype, nothing readable. NumPy's conversion (``np.asarray(x._data)``,
    which a dense code path uses to read a tensor's values), a ufunc, an array function, an
    index or any other attribute raises ``unsupported(op)`` (PyTorch's "not implemented for
    'SparseCPU'/'QuantizedCPU'" error) instead of computing with made-up values (an
    ``ndarray`` subclass let ``np.asarray`` through: ``unique_consecutive`` of a sparse
    tensor returned NaN). ``array_op``: the op named when converted to an array."""

    __slots__ = ("shape", "dtype", "_unsupported", "_array_op")

    def __init__(self, shape, dtype, unsupported, array_op: str = "reading the values"):
        self.shape = tuple(shape)
        self.dtype = dtype
        self._unsupported = unsupported
        self._array_op = array_op

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        raise self._unsupported(self._array_op)

    def __getattr__(self, name):  # (strides, flags, any array method: no values to give)
        error = self._unsupported(f"reading the values ({name})")
        raise PlaceholderAttributeError(*error.args)

    def _refused(self, *args, **kwargs):
        raise self._unsupported("reading the values")

    __getitem__ = __iter__ = __float__ = __int__ = __bool__ = __index__ = _refused

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise self._unsupported(getattr(ufunc, "__name__", "ufunc"))

    def __array_function__(self, func, types, args, kwargs):
        raise self._unsupported(getattr(func, "__name__", "function"))


def refuse_methods(cls: type, keep: set, unsupported) -> None:
    """Give ``cls`` (a Tensor subclass whose data is a placeholder: sparse, quantized) a
    method for each of Tensor's own callables not in ``keep`` that raises
    ``unsupported(name)`` (the name without its underscores), so that no inherited method
    computes on the placeholder."""
    for name, value in list(vars(Tensor).items()):
        if name in keep or not callable(value) or isinstance(value, (type, staticmethod)):
            continue
        if isinstance(value, classmethod):
            continue
        setattr(cls, name, _refusal(name, unsupported))


def _refusal(name: str, unsupported):
    def refused(self, *args, **kwargs):
        raise unsupported(name.strip("_"))

    refused.__name__ = name
    return refused
