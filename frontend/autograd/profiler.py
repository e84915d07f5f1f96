"""``kiln.autograd.profiler``: PyTorch's older profiler interface over ``kiln.profiler``.

>>> import kiln
>>> with kiln.autograd.profiler.profile() as prof:
...     _ = kiln.ones(3).exp()
>>> [e.key for e in prof.key_averages()]
['kiln::exp']
"""

from __future__ import annotations

from .. import profiler as _profiler
from ..profiler import EventList, FunctionEvent, FunctionEventAvg, record_function

__all__ = ["EventList", "FunctionEvent", "FunctionEventAvg", "profile", "record_function"]


class profile(_profiler.profile):  # noqa: N801 - PyTorch's name
    """``torch.autograd.profiler.profile(enabled=True, *, use_cuda=False, record_shapes=...)``."""

    def __init__(self, enabled: bool = True, *, use_cuda: bool = False, **options):
        super().__init__(enabled=enabled, use_cuda=use_cuda, **options)

    @property
    def function_events(self) -> EventList:
        return self.events()
