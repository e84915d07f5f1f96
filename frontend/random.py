"""``kiln.random`` (PyTorch's ``torch.random``): the default generator's seeding and state,
and ``fork_rng``, which restores that state when its block ends.

>>> import kiln
>>> _ = kiln.manual_seed(7)
>>> with kiln.random.fork_rng():
...     _ = kiln.rand(100)
>>> a = kiln.rand(2)
>>> _ = kiln.manual_seed(7)
>>> kiln.equal(a, kiln.rand(2))
True
"""

from __future__ import annotations

import contextlib

from .creation import (
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)

__all__ = [
    "default_generator",
    "fork_rng",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "seed",
    "set_rng_state",
]


@contextlib.contextmanager
def fork_rng(
    devices=None,
    enabled: bool = True,
    _caller: str = "fork_rng",
    _devices_kw: str = "devices",
    device_type: str = "cuda",
):
    """Run the block with the random state forked: on exit the default generator's state
    is what it was on entry (``enabled=False``: a no-op). kiln draws on the host for every
    device, so ``devices`` / ``device_type`` select nothing more."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
