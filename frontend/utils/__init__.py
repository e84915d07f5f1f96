"""``kiln.utils``: helpers around the core (``kiln.utils.data`` for datasets and loaders).

Kept light: ``import kiln.utils`` imports nothing heavy; ``kiln.utils.data`` loads on first
use.

>>> import kiln
>>> kiln.utils.data.TensorDataset(kiln.arange(3))[1]
(tensor(1),)
"""

__all__ = ["swap_tensors"]

_SWAPPED = ("_data", "_node", "_requires_grad", "_grad", "grad_fn", "_retain", "_vc")


def swap_tensors(t1, t2) -> None:
    """Exchange everything two tensor objects hold (storage, grad, autograd state, class and
    attributes), so every reference to ``t1`` now sees ``t2``'s contents and the other way
    round (PyTorch's ``torch.utils.swap_tensors``, which ``Module.to`` can use in place of
    ``.data =``)."""
    from ..tensor import Tensor

    if not isinstance(t1, Tensor) or not isinstance(t2, Tensor):
        raise TypeError(f"Expected two tensors, got {type(t1).__name__} and {type(t2).__name__}")
    for name in _SWAPPED:
        a, b = getattr(t1, name), getattr(t2, name)
        object.__setattr__(t1, name, b)
        object.__setattr__(t2, name, a)
    d1, d2 = dict(t1.__dict__), dict(t2.__dict__)
    t1.__dict__.clear()
    t1.__dict__.update(d2)
    t2.__dict__.clear()
    t2.__dict__.update(d1)
    c1, c2 = type(t1), type(t2)
    t1.__class__, t2.__class__ = c2, c1


def __getattr__(name):
    if name in ("data", "benchmark", "checkpoint", "dlpack", "hooks", "tensorboard"):
        import importlib

        return importlib.import_module(f"kiln.utils.{name}")
    raise AttributeError(f"module 'kiln.utils' has no attribute {name!r}")
