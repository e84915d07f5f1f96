# The "Tensors" beginner tutorial: creation, attributes, indexing, joining, arithmetic,
# in-place operations and the NumPy bridge.
import numpy as np
import torch

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
print("x_data:", x_data.tolist(), x_data.dtype)

np_array = np.array(data)
x_np = torch.from_numpy(np_array)
print("x_np:", x_np.tolist(), x_np.dtype)

x_ones = torch.ones_like(x_data)
print("ones_like:", x_ones.tolist())
torch.manual_seed(0)
x_rand = torch.rand_like(x_data, dtype=torch.float)
print("rng rand_like:", x_rand.tolist())
print("rand_like range:", bool(((x_rand >= 0) & (x_rand < 1)).all()))

shape = (2, 3)
rand_tensor = torch.rand(shape)
ones_tensor = torch.ones(shape)
zeros_tensor = torch.zeros(shape)
print("shapes:", list(rand_tensor.shape), ones_tensor.tolist(), zeros_tensor.tolist())

tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}")

if torch.cuda.is_available():
    tensor = tensor.to("cuda")

tensor = torch.arange(16, dtype=torch.float32).reshape(4, 4)
print(f"First row: {tensor[0].tolist()}")
print(f"First column: {tensor[:, 0].tolist()}")
print(f"Last column: {tensor[..., -1].tolist()}")
tensor[:, 1] = 0
print("after setitem:", tensor.tolist())
print("fancy:", tensor[[0, 2], [1, 3]].tolist(), tensor[tensor > 10].tolist())
print("step slice:", tensor[::2, 1::2].tolist())
print("bool mask row:", tensor[torch.tensor([True, False, True, False])].tolist())

t1 = torch.cat([tensor, tensor, tensor], dim=1)
print("cat:", list(t1.shape), t1[1].tolist())
t2 = torch.stack([tensor, tensor], dim=0)
print("stack:", list(t2.shape), t2.sum().item())
print(
    "hstack vstack:",
    list(torch.hstack([tensor, tensor]).shape),
    list(torch.vstack([tensor, tensor]).shape),
)

tensor = torch.ones(4, 4)
tensor[:, 1] = 0
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
print("matmul:", y1.tolist(), torch.equal(y1, y2), torch.equal(y1, y3))

z1 = tensor * tensor
z2 = tensor.mul(tensor)
z3 = torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
print("mul:", z1.tolist(), torch.equal(z1, z2), torch.equal(z1, z3))

agg = tensor.sum()
agg_item = agg.item()
print("agg:", agg_item, type(agg_item).__name__)

print("before add_:", tensor.tolist())
tensor.add_(5)
print("after add_:", tensor.tolist())
m = torch.arange(6.0).reshape(2, 3).t()
print("t_:", m.tolist(), list(m.shape))
m.mul_(2).sub_(1).clamp_(min=0, max=6)
print("chained in-place:", m.tolist())
m.copy_(torch.full((3, 2), 7.0))
m.zero_()
print("zero_:", m.tolist())

t = torch.ones(5)
print(f"t: {t.tolist()}")
n = t.numpy()
print(f"n: {n.tolist()}")
t.add_(1)
print(f"t: {t.tolist()}")
print(f"n: {n.tolist()}")

n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print(f"t: {t.tolist()} {t.dtype}")
print(f"n: {n.tolist()}")

# a few more things tutorial readers do right after
a = torch.linspace(0, 1, steps=5)
b = torch.arange(0, 10, 3)
c = torch.eye(3)
d = torch.full((2, 2), 3.5)
e = torch.empty(2, 3).fill_(1.25)
print("creation:", a.tolist(), b.tolist(), c.tolist(), d.tolist(), e.tolist())
f = torch.arange(24).view(2, 3, 4)
print(
    "views:", list(f.permute(2, 0, 1).shape), f.transpose(0, 2).contiguous().view(-1)[:5].tolist()
)
print("squeeze:", list(f.unsqueeze(1).shape), list(torch.zeros(1, 3, 1).squeeze().shape))
print(
    "reductions:",
    f.sum(dim=1).tolist(),
    f.float().mean().item(),
    f.max().item(),
    f.argmax(dim=2).tolist(),
)
print("int div:", (f // 5)[0].tolist(), (f % 5)[1, 0].tolist(), (f / 4)[0, 0].tolist())
print("type conv:", f.double().dtype, f.to(torch.float16).dtype, f.bool().dtype, f.long().dtype)
g = torch.tensor([[1.0, -2.0], [3.0, -4.0]])
print("math:", g.abs().tolist(), g.exp().tolist(), torch.sqrt(g.abs()).tolist(), g.pow(2).tolist())
print("where:", torch.where(g > 0, g, torch.zeros_like(g)).tolist())
print(
    "chunk split:",
    [list(p.shape) for p in torch.chunk(torch.arange(10), 3)],
    [p.tolist() for p in torch.split(torch.arange(5), 2)],
)
print("numel dim:", f.numel(), f.dim(), f.size(1), f.size())
