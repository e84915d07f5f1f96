"""``torch.utils.data.distributed``: where PyTorch scripts import ``DistributedSampler``
from (kiln's lives in ``kiln.distributed.sampler``)."""

from ...distributed.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
