"""``kiln.device``: where a tensor's data lives (``cpu`` or ``cuda[:n]``)."""

from __future__ import annotations

import re
from contextvars import ContextVar

import numpy as _np

# The device factories use when given none (``with kiln.device("meta"):``,
# ``set_default_device``); ``None`` is the CPU. Per thread, like the rest of kiln's state.
_default: ContextVar = ContextVar("kiln_default_device", default=None)


def default_device():
    """The device of ``with kiln.device(...)`` / ``set_default_device``, or ``None``."""
    return _default.get()


def set_default_device(dev) -> None:
    """Make factory functions (``kiln.zeros``, a layer's parameters) create tensors on ``dev``
    when given no device (``None``: back to the CPU)."""
    _default.set(None if dev is None else device(dev))


def get_default_device() -> device:
    return _default.get() or CPU


class device:  # noqa: N801 - PyTorch's name
    """A device: ``kiln.device("cpu")``, ``kiln.device("cuda:0")``, ``kiln.device("cuda", 0)``."""

    __slots__ = ("type", "index", "_tokens")

    def __init__(self, spec=None, index=None, *, type=None):  # noqa: A002 - PyTorch's name
        if type is not None:  # ``kiln.device(type="cpu", index=0)``, as repr prints it
            if spec is not None:
                raise TypeError("device() received both a device string and type=")
            spec = type
        if spec is None:
            raise TypeError("device() missing required argument 'type' (pos 1)")
        if index is not None:
            index = _checked_index(index, "index")
        if isinstance(spec, device):
            if index is not None:
                raise TypeError(
                    "device(): argument 'type' (position 1) must be str, not torch.device"
                )
            spec, index = spec.type, spec.index
        elif isinstance(spec, bool) or not isinstance(spec, (str, int, _np.integer)):
            raise TypeError(
                f"device(): argument 'type' (position 1) must be str, not {_typename(spec)}"
            )
        elif not isinstance(spec, str):  # (PyTorch: a bare ordinal names the accelerator)
            spec, index = "cuda", _checked_index(spec, "type")
        else:
            spec, index = _parse(spec, index)
        if spec not in ("cpu", "cuda", "meta"):
            raise RuntimeError(
                f"Expected one of cpu, cuda, meta device type at start of device string: {spec}"
            )
        self.type = spec
        self.index = index
        self._tokens = []

    def __enter__(self):
        """Inside the block, factories create tensors on this device (PyTorch 2's way to build
        a model on ``meta``)."""
        self._tokens.append(_default.set(None if self.type == "cpu" else self))
        return self

    def __exit__(self, *exc):
        _default.reset(self._tokens.pop())
        return False

    # As PyTorch's: ``device("cuda") != device("cuda:0")`` (no index is not index 0) and a
    # device never equals a string (``t.device == "cpu"`` is False: compare ``.type``)
    def __eq__(self, other) -> bool:
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"


_DEVICE_STRING = re.compile(r"([a-zA-Z_]+)(?::([1-9][0-9]*|0))?")


def _typename(value) -> str:
    return "torch.device" if isinstance(value, device) else type(value).__name__


def _checked_index(index, argument: str) -> int:
    """A device ordinal as PyTorch takes it: an int (not a bool), never negative."""
    if isinstance(index, bool) or not isinstance(index, (int, _np.integer)):
        position = 2 if argument == "index" else 1
        raise TypeError(
            f"device(): argument '{argument}' (position {position}) must be int, "
            f"not {_typename(index)}"
        )
    if index < 0:
        raise RuntimeError("Device index must not be negative")
    return int(index)


def _parse(spec: str, index):
    """``"cuda:1"`` -> ``("cuda", 1)``, with PyTorch's errors for a malformed string."""
    if not spec:
        raise RuntimeError("Device string must not be empty")
    match = _DEVICE_STRING.fullmatch(spec)
    if match is None:
        raise RuntimeError(f"Invalid device string: '{spec}'")
    kind, ordinal = match.groups()
    if ordinal is not None:
        if index is not None:
            raise RuntimeError(
                "type (string) must not include an index because index was passed "
                f"explicitly: {spec}"
            )
        index = int(ordinal)
    return kind, index


CPU = device("cpu")
