# Small tensor idioms from real code bases, each checked by value: new_zeros / new_ones /
# new_full / new_tensor keeping dtype, type_as, one-hot via scatter_(1, idx, 1.0),
# masked_scatter, torch.where(cond) as indices, nan_to_num with posinf / neginf,
# clamp with tensor bounds, repeat_interleave with tensor repeats and output_size,
# bucketize with right=True, x.mT / unflatten / flatten(start_dim), narrow, and
# einsum with ellipsis.
import torch

x = torch.tensor([[1.5, -2.0], [0.0, 4.0]], dtype=torch.float64)
print(
    "new_zeros:", x.new_zeros(2, 3).dtype, x.new_ones((1,)).tolist(), x.new_full((2,), 7).tolist()
)
print("new_tensor:", x.new_tensor([1, 2]).dtype, torch.tensor([1, 2]).new_tensor([0.5]).dtype)
print("type_as:", torch.tensor([1, 2]).type_as(x).dtype)
labels = torch.tensor([2, 0, 1])
one_hot = torch.zeros(3, 4).scatter_(1, labels.unsqueeze(1), 1.0)
print("one-hot:", one_hot.tolist())
m = torch.tensor([[True, False], [False, True]])
print(
    "masked_scatter:", torch.zeros(2, 2).masked_scatter(m, torch.tensor([9.0, 8.0, 7.0])).tolist()
)
rows, cols = torch.where(x > 0)
print("where indices:", rows.tolist(), cols.tolist())
bad = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0])
print(
    "nan_to_num:",
    torch.nan_to_num(bad).tolist()[:1],
    torch.nan_to_num(bad, nan=0.0, posinf=1e4, neginf=-1e4).tolist(),
)
lo, hi = torch.tensor([0.0, -1.0, 2.0]), torch.tensor([1.0, 1.0, 3.0])
print("clamp tensors:", torch.clamp(torch.tensor([2.0, -3.0, 2.5]), lo, hi).tolist())
print(
    "repeat_interleave:",
    torch.repeat_interleave(torch.tensor([1, 2, 3]), torch.tensor([2, 0, 3])).tolist(),
)
print(
    "repeat_interleave size:", torch.repeat_interleave(torch.tensor([2, 1]), output_size=3).tolist()
)
bounds = torch.tensor([1.0, 3.0, 5.0])
vals = torch.tensor([1.0, 2.0, 3.0, 6.0])
print(
    "bucketize:",
    torch.bucketize(vals, bounds).tolist(),
    torch.bucketize(vals, bounds, right=True).tolist(),
)
b = torch.arange(24.0).view(2, 3, 4)
print("mT:", b.mT.shape, b.mT[1, 0].tolist())
print("unflatten:", b.flatten(start_dim=1).unflatten(1, (4, 3)).shape)
print("narrow:", b.narrow(2, 1, 2)[0].tolist())
print(
    "einsum ellipsis:",
    torch.einsum("...ij,...jk->...ik", b, b.mT).shape,
    torch.einsum("bij->b", b).tolist(),
)
print("diff:", torch.diff(torch.tensor([1, 4, 9, 16]), n=2).tolist())
print("cummax:", torch.tensor([1, 3, 2, 5, 4]).cummax(0).values.tolist())
print("tril_indices:", torch.tril_indices(3, 3, offset=-1).tolist())
print(
    "flip / roll:",
    torch.tensor([1, 2, 3, 4]).flip(0).tolist(),
    torch.tensor([1, 2, 3, 4]).roll(-1).tolist(),
)
print("count_nonzero:", torch.count_nonzero(x).item(), torch.count_nonzero(x, dim=0).tolist())
