# "Extending torch with a Tensor-like type" and "Subclassing torch.Tensor" from the
# Extending PyTorch notes: a ScalarTensor duck type with __torch_function__ and a
# HANDLED_FUNCTIONS table filled by an @implements decorator (torch.mean, torch.add), an
# unhandled function returning NotImplemented -> TypeError, and a torch.Tensor subclass
# that logs the functions it sees and keeps its type through operations.
import functools

import torch

HANDLED_FUNCTIONS = {}


class ScalarTensor:
    def __init__(self, N, value):
        self._N = N
        self._value = value

    def __repr__(self):
        return f"ScalarTensor(N={self._N}, value={self._value})"

    def tensor(self):
        return self._value * torch.eye(self._N)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = {}
        if func not in HANDLED_FUNCTIONS or not all(
            issubclass(t, (torch.Tensor, ScalarTensor)) for t in types
        ):
            return NotImplemented
        return HANDLED_FUNCTIONS[func](*args, **kwargs)


def implements(torch_function):
    """Register a torch function override for ScalarTensor"""

    def decorator(func):
        functools.update_wrapper(func, torch_function)
        HANDLED_FUNCTIONS[torch_function] = func
        return func

    return decorator


@implements(torch.mean)
def mean(input):
    return float(input._value) / input._N


def ensure_tensor(data):
    if isinstance(data, ScalarTensor):
        return data.tensor()
    return torch.as_tensor(data)


@implements(torch.add)
def add(input, other):
    try:
        if input._N == other._N:
            return ScalarTensor(input._N, input._value + other._value)
        else:
            raise ValueError("Shape mismatch!")
    except AttributeError:
        return torch.add(ensure_tensor(input), ensure_tensor(other))


d = ScalarTensor(5, 2)
print("repr:", d)
print("tensor:", d.tensor())
print("mean:", torch.mean(d))
s = ScalarTensor(2, 2)
print("add scalar:", torch.add(s, s))
t = torch.tensor([[1, 1], [1, 1]])
print("add mixed:", torch.add(s, t))
try:
    torch.exp(d)
except TypeError as e:
    print("exp error:", type(e).__name__, "ScalarTensor" in str(e))


class LoggingTensor(torch.Tensor):
    seen = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = {}
        LoggingTensor.seen.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs)


base = torch.tensor([1.0, 2.0, 3.0])
lt = base.as_subclass(LoggingTensor)
print("subclass type:", type(lt).__name__, isinstance(lt, torch.Tensor))
y = torch.add(lt, 1.0)
print("add result type:", type(y).__name__, y.tolist())
z = torch.mul(lt, lt).sum()
print("sum type:", type(z).__name__, z.item())
print(
    "seen add:",
    "add" in LoggingTensor.seen,
    "mul" in LoggingTensor.seen,
    "sum" in LoggingTensor.seen,
)
