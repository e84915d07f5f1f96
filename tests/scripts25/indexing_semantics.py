# ruff: noqa: E501  (one probe per line: a table of short calls)
# Indexing semantics that old and new code rely on: negative steps (an error), bool and
# None / Ellipsis indexes, lists and lists of lists (PyTorch still reads a list holding
# sequences as a tuple of indices), advanced indexes separated by a slice or adjacent,
# bool masks on one dim, uint8 tensors as masks (deprecated, still masks), out-of-range
# errors, float indexes, NumPy integers, item assignment with broadcasting and repeated
# indices, views vs copies under chained indexing, gather / index_select with negative
# indices, narrow / select, strides of stepped slices, view vs reshape of non-contiguous
# tensors, and writes into expanded tensors.
import warnings

import torch

warnings.simplefilter("ignore")  # (the deprecated forms below warn in PyTorch)


def show(name, f):
    try:
        r = f()
        print(name + ":", r)
    except Exception as e:
        print(name + ":", "ERR", type(e).__name__)


x = torch.arange(24).view(2, 3, 4)
show("neg step", lambda: x[::-1])
show("bool scalar index", lambda: x[True].shape)
show("none ellipsis", lambda: x[None, ..., None].shape)
show("list index", lambda: x[[0, 1], [1, 2]])
show("list of lists", lambda: x[[[0, 1], [1, 0]]].shape)
show("tuple index", lambda: x[(0, 1)])
show("tensor and slice", lambda: x[torch.tensor([1, 0]), :, 1:3].shape)
show("adv separated", lambda: x[torch.tensor([0, 1]), :, torch.tensor([1, 2])].shape)
show("adv adjacent", lambda: x[:, torch.tensor([0, 2]), torch.tensor([1, 3])].shape)
show("bool mask dim1", lambda: x[:, torch.tensor([True, False, True])].shape)
show("int tensor 0d", lambda: x[torch.tensor(1)].shape)
show("out of range", lambda: x[5])
show("negative idx tensor", lambda: x[torch.tensor([-1])].shape)
show("slice out of range", lambda: x[:, 10:].shape)
show("index with float", lambda: x[1.0])
show("index with np int", lambda: x[__import__("numpy").int64(1)].shape)
show(
    "setitem broadcast",
    lambda: (lambda y: (y.__setitem__((slice(None), 0), torch.tensor([7, 8, 9, 10])), y[:, 0])[1])(
        x.clone()
    ),
)
show(
    "setitem list idx dup",
    lambda: (lambda y: (y.__setitem__(torch.tensor([0, 0]), torch.tensor([1, 2])), y)[1])(
        torch.zeros(3, dtype=torch.long)
    ),
)
show(
    "index_put accumulate dup",
    lambda: torch.zeros(3).index_put_(
        (torch.tensor([0, 0, 2]),), torch.tensor([1.0, 2.0, 3.0]), accumulate=True
    ),
)
show("getitem view shares", lambda: (lambda y: (y[0].fill_(9), y)[1][0, 0, 0].item())(x.clone()))
show("adv index copy", lambda: (lambda y: (y[[0]].fill_(9), y)[1][0, 0, 0].item())(x.clone()))
show("take_along_dim", lambda: torch.take_along_dim(x, torch.tensor([[[0]]]), dim=2).shape)
show("gather neg", lambda: torch.gather(torch.tensor([1, 2, 3]), 0, torch.tensor([-1])))
show("index_select neg", lambda: torch.index_select(torch.tensor([1, 2, 3]), 0, torch.tensor([-1])))
show(
    "masked_select broadcast",
    lambda: torch.masked_select(torch.tensor([[1, 2], [3, 4]]), torch.tensor([True, False])),
)
show("narrow neg", lambda: torch.arange(5).narrow(0, -2, 2))
show("select neg", lambda: x.select(2, -1).shape)
show("unbind", lambda: len(x.unbind(2)))
show("ellipsis mid", lambda: x[0, ..., 1])
show("step slice", lambda: x[:, ::2, 1::2].shape)
show("step slice stride", lambda: x[:, ::2, 1::2].stride())
show("transpose contiguous", lambda: x.transpose(0, 2).is_contiguous())
show("view on non-contig", lambda: x.transpose(0, 2).view(-1))
show("reshape non-contig", lambda: x.transpose(0, 2).reshape(-1)[:5])
show("flatten non-contig", lambda: x.transpose(0, 2).flatten()[:5])
show("expand write", lambda: torch.zeros(1, 3).expand(2, 3).add_(1))
show("empty index", lambda: x[torch.tensor([], dtype=torch.long)].shape)
show("bool empty", lambda: x[torch.zeros(2, dtype=torch.bool)].shape)
show("index long byte mask", lambda: x[torch.tensor([1, 0], dtype=torch.uint8)].shape)
show(
    "setitem with mask tensor value",
    lambda: (lambda y: (y.__setitem__(y > 20, torch.tensor([-1, -2, -3])), y.view(-1)[-4:])[1])(
        x.clone()
    ),
)
show(
    "setitem float into int", lambda: (lambda y: (y.__setitem__(0, 2.7), y[0, 0, :2])[1])(x.clone())
)
show(
    "chained index assign", lambda: (lambda y: (y[0][1].__setitem__(2, -5), y[0, 1])[1])(x.clone())
)
show(
    "adv chained assign lost",
    lambda: (lambda y: (y[[0]].__setitem__(0, -5), y[0, 0, 0].item())[1])(x.clone()),
)
