"""``kiln.special``: PyTorch's ``torch.special`` names over kiln's ops.

>>> import kiln
>>> kiln.special.expit(kiln.tensor([0.0])).tolist()
[0.5]
"""

from __future__ import annotations

from . import ops

__all__ = [
    "digamma",
    "psi",
    "gammaln",
    "erf",
    "erfc",
    "erfinv",
    "expit",
    "logit",
    "exp2",
    "expm1",
    "log1p",
    "xlogy",
    "logsumexp",
    "softmax",
    "log_softmax",
]

digamma = psi = ops.digamma
gammaln = ops.lgamma
erf = ops.erf
erfinv = ops.erfinv
expit = ops.sigmoid
exp2 = ops.exp2
expm1 = ops.expm1
log1p = ops.log1p
xlogy = ops.xlogy
logsumexp = ops.logsumexp
softmax = ops.softmax
log_softmax = ops.log_softmax


def erfc(x):
    return ops.sub(1.0, ops.erf(x))


def logit(x, eps=None):
    if eps is not None:
        x = ops.clamp(x, eps, 1.0 - eps)
    return ops.log(ops.div(x, ops.sub(1.0, x)))
