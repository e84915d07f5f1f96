"""TensorBoard logging (``pip install 'kiln[tensorboard]'``): ``SummaryWriter``.

>>> from kiln.utils.tensorboard import SummaryWriter
>>> writer = SummaryWriter("runs/exp1")  # doctest: +SKIP
"""

from .graph import to_graph_def
from .writer import SummaryWriter

__all__ = ["SummaryWriter", "to_graph_def"]
