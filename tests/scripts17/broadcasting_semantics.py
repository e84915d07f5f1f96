# "Broadcasting semantics" (docs notes): which shapes broadcast, the resulting size, the
# in-place restriction, and the backwards-compatibility example; plus torch.broadcast_shapes,
# broadcast_tensors and expand.
import torch

x = torch.empty(5, 7, 3)
y = torch.empty(5, 7, 3)
print("same shapes:", (x + y).size())
x = torch.empty((0,))
y = torch.empty(2, 2)
try:
    x + y
    print("empty vs 2x2: ran")
except RuntimeError:
    print("empty vs 2x2: RuntimeError")
x = torch.empty(5, 3, 4, 1)
y = torch.empty(3, 1, 1)
print("trailing dims:", (x + y).size())
x = torch.empty(5, 2, 4, 1)
y = torch.empty(3, 1, 1)
try:
    x + y
except RuntimeError:
    print("not broadcastable: RuntimeError")
x = torch.empty(5, 1, 4, 1)
y = torch.empty(3, 1, 1)
print("result size:", (x + y).size())
x = torch.empty(1)
y = torch.empty(3, 1, 7)
print("1 vs 3x1x7:", (x + y).size())

# in-place semantics: the in-place tensor may not change shape
x = torch.empty(5, 3, 4, 1)
y = torch.empty(3, 1, 1)
print("in-place ok:", x.add_(y).size())
x = torch.empty(1, 3, 1)
y = torch.empty(3, 1, 7)
try:
    x.add_(y)
except RuntimeError as e:
    print("in-place grows: RuntimeError", "doesn't match the broadcast shape" in str(e))

# backwards compatibility: same number of elements, different shapes
r = torch.add(torch.ones(4, 1), torch.randn(4))
print("4x1 + 4:", r.size())

print("broadcast_shapes:", torch.broadcast_shapes((2,), (3, 1), (1, 1, 1)))
a, b = torch.broadcast_tensors(torch.arange(3).view(1, 3), torch.arange(2).view(2, 1))
print("broadcast_tensors:", a.tolist(), b.tolist())
print("expand:", torch.tensor([[1], [2], [3]]).expand(3, 4).tolist())
print("expand -1:", torch.tensor([[1], [2], [3]]).expand(-1, 2).tolist())
print("expand_as:", torch.tensor([1, 2]).expand_as(torch.empty(2, 2)).tolist())
w = torch.arange(6.0).reshape(2, 3)
print("row scale:", (w * torch.tensor([1.0, 10.0, 100.0])).tolist())
print("col scale:", (w * torch.tensor([[2.0], [-1.0]])).tolist())
print("outer via broadcast:", (torch.arange(3)[:, None] * torch.arange(4)[None, :]).tolist())
g = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
(torch.ones(4, 3) * g).sum().backward()
print("grad reduced over broadcast dim:", g.grad.tolist())
try:
    torch.broadcast_shapes((2, 3), (3, 2))
except RuntimeError:
    print("broadcast_shapes mismatch: RuntimeError")
print(
    "where broadcast:",
    torch.where(torch.tensor([[True], [False]]), torch.tensor([1, 2]), 0).tolist(),
)
