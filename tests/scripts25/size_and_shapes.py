# torch.Size as the docs describe it (a tuple subclass): indexing, slicing, unpacking,
# len, numel, comparisons with tuples, concatenation, hashing, repr; size(dim) /
# shape[-1]; shape arithmetic idioms (view(-1, ...), x.new_zeros(x.shape[:-1]),
# torch.Size in expand / reshape / zeros) and dim / ndim / numel / nelement.
import torch

x = torch.zeros(2, 3, 4)
s = x.size()
print("size:", s, type(s).__name__, isinstance(s, tuple))
print("shape == size:", x.shape == s, s == (2, 3, 4), s == torch.Size([2, 3, 4]))
print("index:", s[0], s[-1], x.size(1), x.size(-1), x.shape[1:])
print("slice type:", type(s[1:]).__name__, s[1:])
b, c, d = x.shape
print("unpack:", b, c, d)
print("len/numel:", len(s), s.numel(), x.numel(), x.nelement(), x.dim(), x.ndim)
print("concat:", s + (5,), torch.Size([1]) + s, type(s + (5,)).__name__)
print("list/tuple:", list(s), tuple(s))
print("hash equal:", hash(s) == hash((2, 3, 4)))
print("in dict:", {s: "ok"}[(2, 3, 4)])
print("empty size:", torch.Size([]), torch.tensor(1.0).shape, torch.Size([]).numel())
print("zero size:", torch.zeros(0, 5).shape, torch.Size([0, 5]).numel())
print("repr:", repr(torch.Size([3])), str(torch.Size([2, 1])))
print("zeros(size):", torch.zeros(s[:2]).shape, torch.ones(torch.Size([2, 2])).sum().item())
print("new_zeros:", x.new_zeros(x.shape[:-1]).shape, x.new_ones((1,) + x.shape[1:]).shape)
print("view -1:", x.view(-1, 4).shape, x.view(x.size(0), -1).shape, x.reshape(*s[:1], -1).shape)
print(
    "expand:",
    torch.ones(1, 4).expand(torch.Size([3, 4])).shape,
    torch.ones(1, 4).expand(3, -1).shape,
)
print("count/index:", torch.Size([2, 3, 2]).count(2), torch.Size([2, 3, 2]).index(3))
print("max:", max(s), min(s), sum(s))
print("compare:", torch.Size([2, 3]) < (2, 4), s != (1,))
print("from tensor dims:", torch.Size([torch.tensor(3).item(), 4]))
print("int() of dims:", [int(v) for v in s], all(type(v) is int for v in s))
y = torch.randn(5, 1, 3)
print(
    "squeeze shapes:", y.squeeze().shape, y.squeeze(1).shape, y.unsqueeze(0).shape, y[:, None].shape
)
print("broadcast_shapes:", torch.broadcast_shapes((5, 1, 3), (4, 1), (1,)))
print("permute shape:", y.permute(2, 0, 1).shape, y.transpose(0, 2).shape, y.mT.shape)
print("flatten:", x.flatten(1).shape, x.flatten().shape, x.unflatten(2, (2, 2)).shape)
