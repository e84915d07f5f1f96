"""``kiln.optim``: the optimizers of ``torch.optim`` and ``lr_scheduler``.

They mirror ``torch.optim`` and are written so that ``opt.step()`` can be traced inside a
``kiln.jit`` training step (see ``optimizer.py`` for the rules that makes that work); only
``LBFGS``, whose line search branches on loss values, runs eagerly only.

>>> import kiln
>>> w = kiln.tensor([2.0], requires_grad=True)
>>> opt = kiln.optim.Adam([w], lr=0.1)
>>> opt.zero_grad(); (w * w).sum().backward(); opt.step(); round(w.item(), 4)
1.9
"""

from . import lr_scheduler, swa_utils
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .lbfgs import LBFGS
from .muon import Muon
from .optimizer import Optimizer
from .others import ASGD, Adafactor, Rprop, SparseAdam
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "LBFGS",
    "Rprop",
    "ASGD",
    "SparseAdam",
    "Adafactor",
    "Muon",
    "lr_scheduler",
    "swa_utils",
]
