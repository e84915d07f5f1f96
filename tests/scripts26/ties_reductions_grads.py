# What reductions do with ties, which real code meets with ReLU outputs, one-hot scores and
# quantised values: max / min / argmax / argmin indices (first occurrence), max(dim) values
# and indices, median (the lower of the two middle values) and its index, mode, sort with
# stable=True, unique_consecutive, and the gradients of x.max(), amax, max(dim), median,
# norm(inf) and clamp at the boundary when several elements tie.
import torch

x = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 0.0, -1.0]])
print("argmax:", x.argmax(dim=1).tolist(), "argmin:", x.argmin(dim=1).tolist())
print("argmax flat:", x.argmax().item(), "argmin flat:", x.argmin().item())
v, i = x.max(dim=1)
print("max dim:", v.tolist(), i.tolist())
v, i = x.min(dim=0)
print("min dim0:", v.tolist(), i.tolist())
m = torch.tensor([3.0, 1.0, 2.0, 2.0, 5.0, 1.0])
print("median:", m.median().item())
val, idx = torch.tensor([[1.0, 2.0, 2.0, 3.0], [4.0, 4.0, 1.0, 1.0]]).median(dim=1)
print("median dim:", val.tolist(), idx.tolist())
val, idx = torch.tensor([[1, 2, 2, 3, 3], [4, 4, 1, 1, 7]]).mode(dim=1)
print("mode:", val.tolist(), idx.tolist())
s = torch.tensor([2, 1, 2, 1, 3, 1])
sv, si = s.sort(stable=True)
print("stable sort:", sv.tolist(), si.tolist())
sv, si = s.sort(descending=True, stable=True)
print("stable sort desc:", sv.tolist(), si.tolist())
print(
    "unique_consecutive:",
    [
        t.tolist()
        for t in torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 3, 1, 1]), return_counts=True)
    ],
)


def grad_of(fn, values):
    t = torch.tensor(values, requires_grad=True)
    fn(t).backward()
    return t.grad.tolist()


vals = [1.0, 3.0, 3.0, 0.0]
print("grad max():", grad_of(lambda t: t.max(), vals))
print("grad amax:", grad_of(lambda t: t.amax(), vals))
print("grad max(dim):", grad_of(lambda t: t.max(dim=0).values, vals))
print("grad min():", grad_of(lambda t: t.min(), [2.0, 0.0, 0.0, 0.0]))
print("grad median:", grad_of(lambda t: t.median(), [2.0, 1.0, 2.0, 3.0]))
print(
    "grad norm inf:", grad_of(lambda t: torch.linalg.vector_norm(t, float("inf")), [-3.0, 3.0, 1.0])
)
print("grad clamp edge:", grad_of(lambda t: t.clamp(0.0, 1.0).sum(), [0.0, 1.0, 0.5, 2.0]))
print("grad relu at 0:", grad_of(lambda t: torch.relu(t).sum(), [0.0, -1.0, 1.0]))
print("grad abs at 0:", grad_of(lambda t: t.abs().sum(), [0.0, -1.0, 1.0]))
print(
    "grad maximum tie:",
    grad_of(lambda t: torch.maximum(t, torch.tensor([1.0, 0.0, 2.0])).sum(), [1.0, 1.0, 1.0]),
)
print("grad topk tie:", grad_of(lambda t: t.topk(2).values.sum(), [1.0, 2.0, 2.0, 2.0]))
print("grad logsumexp:", grad_of(lambda t: t.logsumexp(0), [1.0, 1.0]))
