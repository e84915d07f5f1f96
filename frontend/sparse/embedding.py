"""``nn.Embedding(sparse=True)``: the rows of a weight whose gradient is a COO tensor."""

from __future__ import annotations

import numpy as np

from ..context import current_trace
from ..tensor import Tensor, _wrap
from .coo import SparseTensor, _make
from .ops import add


def sparse_embedding(weight: Tensor, flat: Tensor, padding_idx, scale_grad_by_freq) -> Tensor:
    """``weight``'s rows at ``flat`` whose gradient reaches ``weight.grad`` as a COO tensor
    (``nn.Embedding(sparse=True)``): one entry per index, ``padding_idx`` left out, added to
    an earlier gradient (uncoalesced), as PyTorch's ``embedding_sparse_backward``."""
    from ..autograd.function import Function

    if _traced(weight, flat):
        raise NotImplementedError(
            "embedding(sparse=True): kiln.jit cannot produce a sparse gradient; use "
            "sparse=False inside a compiled function (the same values, as a dense gradient)"
        )

    class EmbeddingSparse(Function):
        @staticmethod
        def forward(ctx, w):
            return w.index_select(0, flat)

        @staticmethod
        def backward(ctx, grad):
            if scale_grad_by_freq:
                raise RuntimeError(
                    "embedding_backward: scale_grad_by_freq not supported with sparse gradients"
                )
            rows = np.asarray(flat._data).astype(np.int64)
            values = grad.detach()
            if padding_idx is not None:
                keep = rows != padding_idx
                rows = rows[keep]
                values = values.index_select(0, _wrap(np.nonzero(keep)[0].astype(np.int64)))
            coo = _make(rows.reshape(1, -1), values, weight.shape, coalesced=len(rows) <= 1)
            old = weight.grad
            if isinstance(old, SparseTensor) and old.dtype is coo.dtype:  # in place, as
                total = add(old, coo)  # PyTorch's AccumulateGrad of a sparse gradient
                old._sp_indices, old._sp_values = total._sp_indices, total._sp_values
                old._sp_coalesced = total._sp_coalesced
            else:
                weight.grad = coo if old is None else old + coo
            return None

    return EmbeddingSparse.apply(weight)


def _traced(*tensors) -> bool:
    return current_trace() is not None or any(t._node is not None for t in tensors)
