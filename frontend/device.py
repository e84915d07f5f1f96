"""``kiln.device``: where a tensor's data lives (``cpu`` or ``cuda[:n]``)."""

from __future__ import annotations

from contextvars import ContextVar

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
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec, index = "cuda", spec  # (PyTorch: a bare ordinal names an accelerator)
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        spec = str(spec)
        if ":" in spec:
            spec, idx = spec.split(":", 1)
            index = int(idx)
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

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"


CPU = device("cpu")
