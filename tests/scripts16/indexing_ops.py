# The "sparse-ish" selection and counting ops users reach for in data processing and
# metrics code: nonzero (as_tuple too), where (one and three arguments), masked_select,
# masked_fill, index_select, gather, scatter / scatter_add_ / scatter_reduce, index_add_,
# unique (sorted, return_inverse, return_counts, dim),
# unique_consecutive, topk, sort (stable), argsort, searchsorted / bucketize,
# a confusion matrix and per-class accuracy (bincount and histc: known_gaps.py).
import torch

x = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]])
print("nonzero:", torch.nonzero(x).tolist(), x.nonzero().shape)
print("nonzero as_tuple:", [t.tolist() for t in torch.nonzero(x, as_tuple=True)])
print("nonzero empty:", torch.nonzero(torch.zeros(2, 3)).shape)
print("where 1-arg:", [t.tolist() for t in torch.where(x > 0)])
print(
    "where 3-arg:",
    torch.where(x > 0, x, torch.zeros_like(x)).tolist(),
    torch.where(x < 0, -1.0, x).tolist(),
)
print("masked_select:", torch.masked_select(x, x != 0).tolist(), x[x > 0].tolist())
print("masked_fill:", x.masked_fill(x == 0, -1).tolist())
idx = torch.tensor([2, 0])
print(
    "index_select:",
    torch.index_select(x, 1, idx).tolist(),
    x.index_select(0, torch.tensor([1])).tolist(),
)
print("gather:", torch.gather(x, 1, torch.tensor([[2, 1], [0, 0]])).tolist())
src = torch.arange(1.0, 7.0).view(2, 3)
index = torch.tensor([[0, 1, 2], [0, 1, 4]])
print(
    "scatter:",
    torch.zeros(3, 5).scatter_(1, torch.tensor([[0, 1, 2], [0, 1, 4]]).clamp(max=4), src).tolist(),
)
counts = torch.zeros(5).scatter_add_(0, torch.tensor([0, 1, 0, 3, 3, 3]), torch.ones(6))
print("scatter_add_:", counts.tolist())
print("scatter_add:", torch.zeros(2, 5).scatter_add(1, index, src).tolist())
print(
    "scatter_reduce amax:",
    torch.full((3,), -100.0)
    .scatter_reduce(
        0, torch.tensor([0, 0, 2, 2]), torch.tensor([1.0, 5.0, 2.0, 3.0]), reduce="amax"
    )
    .tolist(),
)
print(
    "scatter_reduce mean:",
    torch.zeros(3)
    .scatter_reduce(
        0, torch.tensor([0, 0, 2]), torch.tensor([1.0, 5.0, 2.0]), reduce="mean", include_self=False
    )
    .tolist(),
)
print(
    "index_add_:",
    torch.zeros(3, 2).index_add_(0, torch.tensor([0, 2, 0]), torch.ones(3, 2)).tolist(),
)
vals = torch.tensor([3, 1, 2, 3, 1, 3])
u, inv, cnt = torch.unique(vals, return_inverse=True, return_counts=True)
print("unique:", u.tolist(), inv.tolist(), cnt.tolist())
print("unique dim:", torch.unique(torch.tensor([[1, 2], [1, 2], [0, 5]]), dim=0).tolist())
print(
    "unique_consecutive:",
    [
        t.tolist()
        for t in torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 3, 1, 1]), return_counts=True)
    ],
)
scores = torch.tensor([0.1, 0.7, 0.3, 0.7, 0.05])
v, i = torch.topk(scores, 3)
print("topk:", v.tolist(), i.tolist())
print("topk smallest:", torch.topk(scores, 2, largest=False).indices.tolist())
sv, si = torch.sort(torch.tensor([2, 1, 2, 0, 1]), stable=True)
print("sort stable:", sv.tolist(), si.tolist())
print("sort descending:", torch.sort(scores, descending=True).values.tolist())
print(
    "argsort:",
    torch.argsort(torch.tensor([3.0, 1.0, 2.0])).tolist(),
    torch.argsort(torch.tensor([[3, 1], [0, 2]]), dim=1).tolist(),
)
bounds = torch.tensor([1.0, 3.0, 5.0])
q = torch.tensor([0.5, 1.0, 4.0, 6.0])
print(
    "searchsorted:",
    torch.searchsorted(bounds, q).tolist(),
    torch.searchsorted(bounds, q, right=True).tolist(),
)
print(
    "bucketize:",
    torch.bucketize(q, bounds).tolist(),
    torch.bucketize(q, bounds, right=True).tolist(),
)
print("any/all:", bool((x > 1).any()), bool((x > -5).all()), (x != 0).any(dim=1).tolist())
print(
    "argmax ties:",
    torch.tensor([1, 3, 3, 2]).argmax().item(),
    torch.tensor([[1, 5], [5, 1]]).argmax(dim=1).tolist(),
)
print(
    "kthvalue / median:",
    torch.kthvalue(torch.tensor([3.0, 1.0, 2.0, 5.0]), 2).values.item(),
    torch.tensor([1.0, 4.0, 2.0, 3.0]).median().item(),
)

num_classes = 4
preds = torch.tensor([0, 1, 1, 3, 2, 2, 3, 0])
targets = torch.tensor([0, 1, 2, 3, 2, 1, 3, 3])
confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
for t, p in zip(targets.view(-1), preds.view(-1)):
    confusion[t.long(), p.long()] += 1
print("confusion:", confusion.tolist())
print("per-class acc:", (confusion.diag() / confusion.sum(1)).tolist())
correct = (preds == targets).sum().item()
print(f"Accuracy: {100 * correct / len(targets):>0.1f}%")
