"""Sparse COO tensors (``torch.sparse_coo_tensor``, ``Tensor.to_sparse``, ``torch.sparse``).

A ``SparseTensor`` keeps PyTorch's COO representation: ``indices`` (int64, ``[sparse_dim,
nnz]``) and ``values`` (``[nnz, *dense_shape]``), a shape and an ``is_coalesced`` flag. Every
operation on it is a composite of dense kiln ops on ``values`` (gathers with
``index_select``, scatter-adds with ``index_add``), so autograd reaches ``values`` and the
dense operands, and under ``kiln.jit`` a sparse constant lowers to a gather/scatter-add.
The indices are data (NumPy) the operations read eagerly.

What PyTorch has no sparse kernel for raises ``NotImplementedError`` (a ``RuntimeError``)
naming the op and the layout: a sparse tensor is never densified behind the user's back.
Its ``_data`` is a placeholder (shape and dtype, no values) whose NumPy ufuncs and
functions raise, and while any sparse tensor is alive a device handler of ``kiln.dispatch``
refuses every primitive that gets a sparse input. ``kiln.jit`` takes a sparse tensor used
through ``kiln.sparse.mm`` / ``to_dense`` as a constant (its indices and values) and
refuses one as an argument. ``nn.Embedding(sparse=True)`` gives a COO gradient, which
``optim.SGD`` and ``optim.SparseAdam`` take.

Files: ``coo.py`` (the tensor, layouts, refusals, repr), ``ops.py`` (construction and the
operations), ``embedding.py`` (the sparse embedding gradient).

>>> import kiln
>>> s = kiln.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3.0, 4.0, 5.0], (2, 3))
>>> kiln.sparse.mm(s, kiln.ones(3, 1)).tolist()
[[3.0], [9.0]]
"""

from .coo import (
    _ENABLED,
    _LIVE,
    SPARSE_SEEN,
    SparseTensor,
    _refuse_primitives,
    _wrap,
    layout,
    sparse_bsc,
    sparse_bsr,
    sparse_coo,
    sparse_csc,
    sparse_csr,
    strided,
)
from .embedding import sparse_embedding
from .ops import (
    _linear,
    add,
    addmm,
    coalesce,
    div,
    empty_sparse,
    index_select,
    log_softmax,
    matmul,
    mm,
    mul,
    softmax,
    sparse_coo_tensor,
    spmm,
    sum,  # noqa: A004
    to_dense,
    to_sparse,
    transpose,
)

__all__ = [
    "SparseTensor",
    "addmm",
    "layout",
    "log_softmax",
    "mm",
    "softmax",
    "sparse_bsc",
    "sparse_bsr",
    "sparse_coo",
    "sparse_coo_tensor",
    "sparse_csc",
    "sparse_csr",
    "spmm",
    "strided",
    "sum",
]
