"""``Parameter``: a tensor that a ``Module`` registers as learnable (``requires_grad=True``).

>>> import kiln
>>> p = Parameter(kiln.zeros(2))
>>> p.requires_grad, isinstance(p, kiln.Tensor)
(True, True)
>>> print(p)
Parameter containing:
tensor([0., 0.], requires_grad=True)
"""

from __future__ import annotations

import kiln
from kiln.tensor import Tensor
from kiln.tracing import TracerTensor


class Parameter(Tensor):
    """A ``Tensor`` subclass that shares ``data``'s storage; assigning one to a module
    attribute registers it in ``module.parameters()``."""

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = kiln.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        if isinstance(data, TracerTensor):
            raise kiln.TraceError(
                "Parameter(): cannot make a parameter from a traced tensor; "
                "create parameters outside kiln.jit"
            )
        super().__init__(data, requires_grad=False)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach(), self.requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        copy = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = copy
        return copy


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)


class Buffer(Tensor):
    """Marks a tensor as a buffer when assigned to a module (``nn.Buffer`` in PyTorch 2.5+).

    >>> b = Buffer(kiln.zeros(2), persistent=False)
    >>> b.persistent
    False
    """

    def __init__(self, data, *, persistent: bool = True):
        super().__init__(data)
        self.persistent = persistent


# ------------------------------------------------------------------------ lazy modules

_UNINITIALIZED_USE = (
    "Attempted to use an uninitialized parameter in {what}. This error happens when you "
    "are using a `LazyModule` or explicitly manipulating `kiln.nn.parameter.{cls}` "
    "objects. When using LazyModules Call `forward` with a dummy batch to initialize the "
    "parameters before calling kiln functions"
)


class UninitializedTensorMixin:
    """A tensor without a shape yet (``torch.nn.parameter.UninitializedTensorMixin``).

    It knows its dtype and ``requires_grad``; any computation with it raises
    ``ValueError``, reading its shape ``RuntimeError`` (PyTorch's errors), until
    ``materialize(shape)`` gives it storage and turns it into ``cls_to_become``.
    """

    cls_to_become: type = Tensor

    # the storage slot is shadowed: every kiln op reads ``_data``, so any use of an
    # uninitialized tensor stops here with PyTorch's error instead of computing on nothing
    @property
    def _data(self):
        raise ValueError(_UNINITIALIZED_USE.format(what="an operation", cls=type(self).__name__))

    @_data.setter
    def _data(self, value) -> None:
        self.__dict__["_lazy_dtype"] = kiln.dtypes._BY_NP[value.dtype]

    def _init_uninitialized(self, requires_grad, dtype) -> None:
        dtype = kiln.get_default_dtype() if dtype is None else dtype
        Tensor.__init__(self, kiln.empty(0, dtype=dtype))
        self._requires_grad = requires_grad

    @property
    def dtype(self):
        return self.__dict__["_lazy_dtype"]

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error "
            "usually happens in `load_state_dict` when trying to load an uninitialized "
            "parameter into an initialized one. Call `forward` to initialize the parameters "
            "before accessing their attributes."
        )

    def size(self, dim=None):
        return self.shape

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_complex(self) -> bool:
        return self.dtype.is_complex

    @property
    def data(self):
        return self

    @data.setter
    def data(self, value) -> None:
        if not is_lazy(value):
            raise ValueError(_UNINITIALIZED_USE.format(what="data=", cls=type(self).__name__))
        self.__dict__["_lazy_dtype"] = value.dtype

    def detach(self):
        # a state dict of a lazy module holds the uninitialized tensors themselves
        return self

    def to(self, *args, **kwargs):
        """A new uninitialized tensor of the dtype asked for (only ``cpu`` exists)."""
        dtype = kwargs.get("dtype")
        for arg in args:
            if isinstance(arg, kiln.dtype):
                dtype = arg
            elif isinstance(arg, Tensor):
                dtype = arg.dtype
        if dtype is None or dtype == self.dtype:
            return self
        return type(self)(requires_grad=self.requires_grad, dtype=dtype)

    def float(self):
        return self.to(kiln.float32)

    def double(self):
        return self.to(kiln.float64)

    def half(self):
        return self.to(kiln.float16)

    def cpu(self):
        return self

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the tensor ``empty(shape)`` storage (this dtype unless ``dtype``) and make
        it a ``cls_to_become`` (``Parameter`` or ``Tensor``), in place.

        >>> p = UninitializedParameter()
        >>> p.materialize((2, 3))
        >>> type(p).__name__, tuple(p.shape)
        ('Parameter', (2, 3))
        """
        dtype = self.dtype if dtype is None else dtype
        storage = kiln.empty(shape, dtype=dtype)._data
        self.__class__ = self.cls_to_become
        del self.__dict__["_lazy_dtype"]
        self._data = storage

    def share_memory_(self):
        raise RuntimeError(
            "Can't share memory on an uninitialized parameter or buffer. Call `forward` to "
            "initialize the parameters before calling `module.share_memory()`."
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __reduce_ex__(self, protocol):
        return (type(self), (self.requires_grad,))

    def __deepcopy__(self, memo):
        copy = type(self)(requires_grad=self.requires_grad, dtype=self.dtype)
        memo[id(self)] = copy
        return copy


def _refuse(name):
    def method(self, *args, **kwargs):
        raise ValueError(_UNINITIALIZED_USE.format(what=f"Tensor.{name}", cls=type(self).__name__))

    method.__name__ = name
    return method


# arithmetic refuses with PyTorch's ValueError (other ops stop at the shape, RuntimeError)
for _name in (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __matmul__ "
    "__rmatmul__ __pow__ __rpow__ __neg__ __abs__ __lt__ __le__ __gt__ __ge__ __getitem__ "
    "__setitem__ __len__ __iter__ __bool__ __float__ __int__ numpy tolist item clone"
).split():
    setattr(UninitializedTensorMixin, _name, _refuse(_name))


def is_lazy(param) -> bool:
    """Whether ``param`` is an ``UninitializedParameter`` or ``UninitializedBuffer``."""
    return isinstance(param, UninitializedTensorMixin)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter whose shape a lazy module learns at its first forward.

    >>> UninitializedParameter()
    <UninitializedParameter>
    """

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        self._init_uninitialized(requires_grad, dtype)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape a lazy module learns at its first forward.

    >>> UninitializedBuffer()
    <UninitializedBuffer>
    """

    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device=None, dtype=None):
        self._init_uninitialized(requires_grad, dtype)
