# Masking as real model code does it: lengths -> padding mask (arange < lengths), masked
# mean / max pooling, masked_fill with -inf before softmax, a causal mask via triu / tril,
# torch.where with scalars and broadcasting, masked_select / masked_scatter, boolean
# indexing assignment, nan_to_num and nansum, and gradients through where.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal((3, 5, 2)).astype(np.float32))
lengths = torch.tensor([5, 2, 3])
mask = torch.arange(5)[None, :] < lengths[:, None]
print("mask:", mask)
masked_mean = (x * mask.unsqueeze(-1)).sum(1) / lengths.unsqueeze(-1)
print("masked mean:", masked_mean)
masked_max = x.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
print("masked max:", masked_max)
scores = torch.from_numpy(rng.standard_normal((3, 5)).astype(np.float32))
att = scores.masked_fill(~mask, float("-inf")).softmax(-1)
print("masked softmax:", att)
print("rows sum:", att.sum(-1))
causal = torch.triu(torch.ones(4, 4), diagonal=1).bool()
s4 = torch.arange(16.0).view(4, 4)
print("causal fill:", s4.masked_fill(causal, float("-inf")).softmax(-1)[1])
print("tril:", torch.tril(torch.ones(3, 3)), torch.tril(torch.ones(2, 3), diagonal=-1))
print("where scalar:", torch.where(scores > 0, scores, 0.0)[0])
print("where both scalars:", torch.where(scores[0] > 0, 1, -1))
print("where broadcast:", torch.where(mask, torch.tensor(1.0), torch.zeros(3, 1)))
print("where one arg:", torch.where(mask[1]))
print("nonzero:", mask.nonzero()[:4], mask.nonzero(as_tuple=True)[1][:4])
print("masked_select:", torch.masked_select(scores, mask))
y = torch.zeros(3, 5)
y.masked_scatter_(mask, torch.arange(10.0))
print("masked_scatter:", y)
z = scores.clone()
z[z < 0] = 0
print("bool assign:", z[2])
z[~mask] = -1.0
print("bool assign 2:", z[1])
print("bool index rows:", x[mask].shape, x[lengths > 2].shape)
w = torch.tensor([1.0, float("nan"), float("inf"), -float("inf")])
print("nan_to_num:", torch.nan_to_num(w), torch.nan_to_num(w, nan=0.0, posinf=1.0, neginf=-1.0))
print("nansum/nanmean:", torch.nansum(w[:2]), torch.nanmean(torch.tensor([1.0, float("nan"), 3.0])))
print("isnan/isinf/isfinite:", w.isnan(), w.isinf(), w.isfinite())
a = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
out = torch.where(a > 0, a**2, torch.zeros_like(a))
out.sum().backward()
print("where grad:", a.grad)
b = torch.tensor([1.0, 0.0, 4.0], requires_grad=True)
safe = torch.where(b > 0, b, torch.ones_like(b)).sqrt()
torch.where(b > 0, safe, 0.0).sum().backward()
print("double-where grad:", b.grad)
c = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
c.masked_fill(torch.tensor([True, False, True]), 0.0).mul(2).sum().backward()
print("masked_fill grad:", c.grad)
print("logical ops:", mask[0] & mask[1], mask[0] | mask[1], mask[0] ^ mask[1], ~mask[2])
print("any/all:", mask.any(1), mask.all(1), mask.sum(1), mask.float().mean())
lengths_from_mask = mask.long().sum(-1)
print("lengths back:", lengths_from_mask, torch.equal(lengths_from_mask, lengths))
print("F.pad mask:", F.pad(mask, (0, 2), value=False).shape)
