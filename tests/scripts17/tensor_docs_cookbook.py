# Examples from the torch.Tensor / torch docs pages: index_put_, scatter_ (with reduce),
# scatter_add, gather, masked_fill, topk, sort (stable, descending), unique_consecutive,
# bucketize, searchsorted, histc, einsum patterns, cdist, tensordot, kthvalue, cummax.
import torch

x = torch.zeros(3, 4)
x.index_put_((torch.tensor([0, 2]), torch.tensor([1, 3])), torch.tensor([5.0, 7.0]))
print("index_put_:", x.tolist())
x.index_put_(
    (torch.tensor([0, 0]), torch.tensor([1, 1])), torch.tensor([1.0, 2.0]), accumulate=True
)
print("index_put_ accumulate:", x[0].tolist())
src = torch.arange(1, 11).reshape((2, 5))
index = torch.tensor([[0, 1, 2, 0]])
print("scatter_:", torch.zeros(3, 5, dtype=src.dtype).scatter_(0, index, src).tolist())
index = torch.tensor([[0, 1, 2], [0, 1, 4]])
print("scatter_ dim1:", torch.zeros(3, 5, dtype=src.dtype).scatter_(1, index, src).tolist())
print(
    "scatter value:",
    torch.full((2, 4), 2.0).scatter_(1, torch.tensor([[2], [3]]), 1.23, reduce="multiply").tolist(),
)
print(
    "scatter add reduce:",
    torch.full((2, 4), 2.0).scatter_(1, torch.tensor([[2], [3]]), 1.23, reduce="add").tolist(),
)
src1 = torch.ones((2, 5))
index = torch.tensor([[0, 1, 2, 0, 0]])
print("scatter_add_:", torch.zeros(3, 5, dtype=src1.dtype).scatter_add_(0, index, src1).tolist())
input = torch.tensor([5.0, 1.0, 2.0, 3.0])
idx = torch.tensor([0, 1, 0, 1, 2, 1])
src2 = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
print("scatter_reduce sum:", input.scatter_reduce(0, idx, src2, reduce="sum").tolist())
print("scatter_reduce amax:", input.scatter_reduce(0, idx, src2, reduce="amax").tolist())
print(
    "scatter_reduce mean excl:",
    input.scatter_reduce(0, idx, src2, reduce="mean", include_self=False).tolist(),
)
t = torch.tensor([[1, 2], [3, 4]])
print("gather:", torch.gather(t, 1, torch.tensor([[0, 0], [1, 0]])).tolist())
a = torch.tensor([[0.3, -1.0, 2.0], [4.0, -0.5, 0.0]])
print(
    "masked_fill:",
    a.masked_fill(a < 0, 0.0).tolist(),
    a.masked_fill(torch.tensor([True, False, True]), -9).tolist(),
)
x = torch.arange(1.0, 6.0)
values, indices = torch.topk(x, 3)
print("topk:", values.tolist(), indices.tolist())
print("topk smallest:", torch.topk(x, 2, largest=False).values.tolist())
s = torch.tensor([[0.3, -0.1, 2.1], [1.5, 0.7, -2.0]])
sorted_, idx = torch.sort(s)
print("sort:", sorted_.tolist(), idx.tolist())
print("sort descending dim0:", torch.sort(s, 0, descending=True).indices.tolist())
ties = torch.tensor([0, 1] * 9)
print("stable sort:", torch.sort(ties, stable=True).indices.tolist())
print("argsort:", torch.argsort(torch.tensor([3, 1, 2]), descending=True).tolist())
x = torch.tensor([1, 1, 2, 2, 3, 1, 1, 2])
output = torch.unique_consecutive(x)
print("unique_consecutive:", output.tolist())
output, inverse_indices = torch.unique_consecutive(x, return_inverse=True)
print("inverse:", inverse_indices.tolist())
output, counts = torch.unique_consecutive(x, return_counts=True)
print("counts:", counts.tolist())
u, inv, cnt = torch.unique(
    torch.tensor([2, 3, 1, 3, 2, 2]), sorted=True, return_inverse=True, return_counts=True
)
print("unique:", u.tolist(), inv.tolist(), cnt.tolist())
boundaries = torch.tensor([1, 3, 5, 7, 9])
v = torch.tensor([[3, 6, 9], [3, 6, 9]])
print(
    "bucketize:",
    torch.bucketize(v, boundaries).tolist(),
    torch.bucketize(v, boundaries, right=True).tolist(),
)
values = torch.tensor([[3, 6, 9], [3, 6, 9]])
sorted_sequence_1d = torch.tensor([1, 3, 5, 7, 9])
print("searchsorted 1d:", torch.searchsorted(sorted_sequence_1d, values).tolist())
print("histc:", torch.histc(torch.tensor([1.0, 2, 1]), bins=4, min=0, max=3).tolist())
print("einsum trace:", torch.einsum("ii", torch.arange(9.0).reshape(3, 3)).item())
print("einsum diagonal:", torch.einsum("ii->i", torch.arange(9.0).reshape(3, 3)).tolist())
x, y = torch.arange(3.0), torch.arange(4.0)
print("einsum outer:", torch.einsum("i,j->ij", x, y).tolist())
As, Bs = torch.arange(24.0).reshape(3, 2, 4), torch.arange(60.0).reshape(3, 4, 5) / 10
print("einsum bmm:", torch.einsum("bij,bjk->bik", As, Bs).sum().item())
print("einsum ellipsis:", torch.einsum("...ij->...ji", As).shape)
A = torch.arange(6.0).reshape(2, 3)
l, r = torch.arange(15.0).reshape(3, 5), torch.arange(3.0)
print(
    "einsum bilinear:",
    torch.einsum(
        "bn,anm,bm->ba", A, torch.arange(30.0).reshape(2, 3, 5) / 10, torch.ones(2, 5)
    ).tolist(),
)
a = torch.tensor([[0.9041, 0.0196], [-0.3108, -2.4423], [-0.4821, 1.059]])
b = torch.tensor([[-2.1763, -0.4713], [-0.6986, 1.3702]])
print("cdist:", torch.cdist(a, b, p=2).numpy().round(4).tolist())
print("cdist p=1:", torch.cdist(a, b, p=1).numpy().round(4).tolist())
a = torch.arange(60.0).reshape(3, 4, 5)
b = torch.arange(24.0).reshape(4, 3, 2)
print("tensordot:", torch.tensordot(a, b, dims=([1, 0], [0, 1])).tolist())
print(
    "tensordot int:",
    torch.tensordot(
        torch.arange(6.0).reshape(2, 3), torch.arange(12.0).reshape(3, 4), dims=1
    ).tolist(),
)
x = torch.arange(1.0, 6.0)
print("kthvalue:", torch.kthvalue(x, 4).values.item(), torch.kthvalue(x, 4).indices.item())
c = torch.tensor([0.5, -1.0, 2.0, 1.0, 3.0])
print("cummax:", torch.cummax(c, 0).values.tolist(), torch.cummax(c, 0).indices.tolist())
print("take_along_dim:", torch.take_along_dim(s, torch.argsort(s, dim=1), dim=1).tolist())
print("index_select:", torch.index_select(s, 1, torch.tensor([0, 2])).tolist())
print("masked_select:", torch.masked_select(s, s > 0.5).tolist())
print("nonzero:", torch.nonzero(torch.tensor([[0.6, 0.0], [0.0, 0.4]])).tolist())
print(
    "nonzero as_tuple:", [t.tolist() for t in torch.nonzero(torch.tensor([1, 0, 3]), as_tuple=True)]
)
